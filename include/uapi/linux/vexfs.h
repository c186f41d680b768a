/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * VexFS ioctl ABI: vector spaces, embeddings and search.
 *
 * Usable from C and from any FFI: fixed-width fields, natural alignment,
 * explicit padding, user pointers as __u64.  Every argument struct starts
 * with a size field the caller sets to sizeof(struct); reserved fields and
 * unknown flag bits must be zero (EINVAL otherwise).  docs/IOCTL.md is the
 * reference, with every error each command returns.
 *
 * Distances travel as IEEE-754 binary32 bit patterns in __u32 fields (the
 * kernel copies but never computes floats outside its FPU sections); vectors
 * are arrays of binary32 in the CPU's byte order.
 */
#ifndef _UAPI_LINUX_VEXFS_H
#define _UAPI_LINUX_VEXFS_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Not listed in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define VEXFS_IOC_MAGIC		0xE7

#define VEXFS_NAME_MAX		64	/* space name buffer, NUL terminated */
#define VEXFS_MODEL_MAX		64
#define VEXFS_MODEL_VERSION_MAX	32
#define VEXFS_DIM_MAX		8192
#define VEXFS_BATCH_MAX		65536	/* chunks per call */
#define VEXFS_BATCH_BYTES_MAX	(64U << 20)	/* vector bytes per call */
#define VEXFS_K_MAX		4096
#define VEXFS_EF_MAX		10000

enum vexfs_metric {
	VEXFS_METRIC_L2 = 1,		/* squared euclidean */
	VEXFS_METRIC_COSINE = 2,	/* 1 - cosine similarity */
	VEXFS_METRIC_IP = 3,		/* negative inner product */
};

enum vexfs_elem_type {
	VEXFS_ELEM_F32 = 1,		/* float16 (2) and int8 (3) reserved */
};

/* A space as created, listed and described. */
struct vexfs_space_info {
	__u32 space_id;			/* out */
	__u32 dim;			/* 1..VEXFS_DIM_MAX */
	__u32 elem_type;		/* VEXFS_ELEM_F32 */
	__u32 metric;			/* VEXFS_METRIC_* */
	__u32 hnsw_m;			/* 0 = default (16); 2..100 */
	__u32 hnsw_ef_construction;	/* 0 = default (200); 1..VEXFS_EF_MAX */
	__u32 hnsw_ef_search;		/* 0 = default (64); 1..VEXFS_EF_MAX */
	__u32 flags;			/* none defined: 0 */
	char  name[VEXFS_NAME_MAX];	/* [A-Za-z0-9._-], 1..63 bytes, no leading '.' */
	char  model[VEXFS_MODEL_MAX];	/* free text, NUL terminated */
	char  model_version[VEXFS_MODEL_VERSION_MAX];
	/* Filled by SPACE_INFO and INDEX_BUILD (SPACE_LIST: vector_count,
	 * bytes_per_vector and create_time_ns only): */
	__u64 vector_count;		/* embeddings stored */
	__u64 indexed_count;		/* of which linked into the HNSW graph */
	__u64 pending_count;		/* stored, not yet linked (found by exact scan) */
	__u64 index_bytes;		/* memory the loaded index uses, 0 if not loaded */
	__u64 bytes_per_vector;		/* index memory one more vector costs */
	__u64 create_time_ns;
	__u32 max_level;		/* HNSW levels above 0 */
	__u32 loaded;			/* 1 if the index is in memory */
	__u64 reserved[6];
};

/* VEXFS_IOC_MANAGE operations */
enum vexfs_manage_op {
	VEXFS_OP_SPACE_CREATE = 1,	/* space: in (name, dim, ...), out space_id; CAP_SYS_ADMIN */
	VEXFS_OP_SPACE_DROP = 2,	/* name; CAP_SYS_ADMIN */
	VEXFS_OP_SPACE_INFO = 3,	/* name -> space */
	VEXFS_OP_SPACE_LIST = 4,	/* list_ptr/list_count -> list_filled/list_total */
	VEXFS_OP_INDEX_BUILD = 5,	/* name: link every pending vector now; CAP_SYS_ADMIN */
	VEXFS_OP_INDEX_REBUILD = 6,	/* name: drop the graph and relink all; CAP_SYS_ADMIN */
	VEXFS_OP_SET_EF = 7,		/* name, space.hnsw_ef_search; CAP_SYS_ADMIN */
	VEXFS_OP_DIR_SET_SPACE = 8,	/* on a directory: name ("" clears); owner or CAP_FOWNER */
	VEXFS_OP_DIR_GET_SPACE = 9,	/* on a directory: -> name ("" none) */
};

struct vexfs_manage {
	__u32 size;			/* sizeof(struct vexfs_manage) */
	__u32 op;			/* enum vexfs_manage_op */
	__u32 flags;			/* none defined: 0 */
	__u32 list_count;		/* SPACE_LIST: entries at list_ptr */
	char  name[VEXFS_NAME_MAX];	/* the space operated on */
	__u64 list_ptr;			/* SPACE_LIST: struct vexfs_space_info[] */
	__u32 list_filled;		/* out */
	__u32 list_total;		/* out: spaces that exist */
	struct vexfs_space_info space;
	__u64 reserved[4];
};

/* One embedding: the chunk of the file it describes. */
struct vexfs_chunk {
	__u64 offset;			/* bytes into the file */
	__u64 length;			/* bytes; 0 + 0 means the whole file */
	__u64 data_version;		/* out: the file's version it was computed at */
	__u32 flags;			/* out: VEXFS_CHUNK_STALE */
	__u32 reserved;
};
#define VEXFS_CHUNK_STALE	0x1	/* the file changed since */

/* vexfs_embeddings.flags */
#define VEXFS_EMB_REPLACE_ALL	0x1	/* ADD: atomically replace the file's embeddings in the space */
#define VEXFS_EMB_ALL_SPACES	0x2	/* DELETE with count 0 and name "": every space */

/*
 * ADD / UPDATE / GET / DELETE on a regular file's descriptor.  ADD, UPDATE
 * and DELETE need write permission on the file (the descriptor may be
 * O_RDONLY); GET needs read permission.  name "" means the default space of
 * the directory the descriptor was opened through.
 */
struct vexfs_embeddings {
	__u32 size;			/* sizeof(struct vexfs_embeddings) */
	__u32 flags;			/* VEXFS_EMB_* */
	char  name[VEXFS_NAME_MAX];	/* space */
	__u32 dim;			/* must equal the space's dimension (GET: out) */
	__u32 count;			/* entries at chunks_ptr (GET: room; 0 = count only) */
	__u64 chunks_ptr;		/* struct vexfs_chunk[count] */
	__u64 vectors_ptr;		/* float[count * dim]; GET: 0 = chunks only */
	__u64 expect_version;		/* ADD/UPDATE: if non-zero, the file's data version must
					 * still equal it (else ESTALE); 0 = the current one */
	__u32 filled;			/* GET: out, entries written */
	__u32 total;			/* GET: out, embeddings the file has in the space */
	__u64 data_version;		/* out: the file's current data version */
	__u64 reserved[4];
};

struct vexfs_search_result {
	__u64 ino;
	__u64 generation;		/* with ino: a handle for open_by_handle_at (docs/IOCTL.md) */
	__u64 offset;			/* chunk */
	__u64 length;
	__u32 distance;			/* binary32 bits; smaller is nearer */
	__u32 flags;			/* VEXFS_CHUNK_STALE */
	__u32 path_offset;		/* into paths_ptr, when VEXFS_SEARCH_PATHS */
	__u32 path_length;		/* bytes, excluding the NUL; 0 if it did not fit */
};

/* vexfs_search.flags */
#define VEXFS_SEARCH_EXACT	0x1	/* brute force instead of HNSW */
#define VEXFS_SEARCH_PATHS	0x2	/* fill paths, relative to the searched directory */
#define VEXFS_SEARCH_NO_STALE	0x4	/* skip chunks of files changed since embedding */

/*
 * VECTOR_SEARCH on a directory descriptor: the k nearest embeddings in the
 * space among files beneath that directory which the caller may read.
 */
struct vexfs_search {
	__u32 size;			/* sizeof(struct vexfs_search) */
	__u32 flags;			/* VEXFS_SEARCH_* */
	char  name[VEXFS_NAME_MAX];	/* space; "" = the directory's default */
	__u32 dim;			/* of the query */
	__u32 k;			/* 1..VEXFS_K_MAX */
	__u32 ef;			/* 0 = the space's default; else k..VEXFS_EF_MAX */
	__u32 count;			/* out: results written */
	__u64 query_ptr;		/* float[dim] */
	__u64 results_ptr;		/* struct vexfs_search_result[k] */
	__u64 paths_ptr;		/* VEXFS_SEARCH_PATHS: NUL-separated paths */
	__u32 paths_size;		/* bytes at paths_ptr */
	__u32 reserved0;
	__u64 reserved[4];
};

#define VEXFS_IOC_MANAGE	_IOWR(VEXFS_IOC_MAGIC, 1, struct vexfs_manage)
#define VEXFS_IOC_EMB_ADD	_IOWR(VEXFS_IOC_MAGIC, 2, struct vexfs_embeddings)
#define VEXFS_IOC_EMB_GET	_IOWR(VEXFS_IOC_MAGIC, 3, struct vexfs_embeddings)
#define VEXFS_IOC_EMB_UPDATE	_IOWR(VEXFS_IOC_MAGIC, 4, struct vexfs_embeddings)
#define VEXFS_IOC_EMB_DELETE	_IOWR(VEXFS_IOC_MAGIC, 5, struct vexfs_embeddings)
#define VEXFS_IOC_SEARCH	_IOWR(VEXFS_IOC_MAGIC, 6, struct vexfs_search)

#endif /* _UAPI_LINUX_VEXFS_H */
