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
#define VEXFS_EMB_AFTER		0x4	/* GET: only chunks ordered after (after_offset, after_length) */

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
	__u64 after_offset;		/* GET with VEXFS_EMB_AFTER: the last chunk of the */
	__u64 after_length;		/* previous page; otherwise 0 */
	__u64 reserved[2];
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

/*
 * Automatic embeddings (docs/AUTO.md).  A directory's policy names the
 * space the content of regular files beneath it is embedded into; the
 * nearest ancestor with a policy decides, so subdirectories inherit it and
 * an "off" policy excludes a subtree.  A file changed under a policy is
 * marked stale in the volume in the same transaction as the change, and the
 * kernel asks a registered sidecar (generic netlink, below) to embed it.
 */
enum vexfs_auto_op {
	VEXFS_AUTO_SET = 1,		/* on a directory: name = space ("" + OFF = exclude,
					 * "" alone = remove the policy); owner or CAP_FOWNER */
	VEXFS_AUTO_GET = 2,		/* on a directory: -> name, flags (OFF / INHERITED) */
	VEXFS_AUTO_STATUS = 3,		/* any descriptor on the volume: name -> counters */
	VEXFS_AUTO_PENDING = 4,		/* on a directory: stale files beneath it (name ""
					 * = every space) -> stale, failed */
	VEXFS_AUTO_MARK = 5,		/* on a regular file: queue it now (as if changed);
					 * name "" = its directory's policy; write permission */
};

/* vexfs_auto.flags */
#define VEXFS_AUTO_OFF		0x1	/* SET: exclude the subtree; GET: the directory is excluded */
#define VEXFS_AUTO_INHERITED	0x2	/* GET out: the policy comes from an ancestor */

#define VEXFS_AUTO_ERROR_MAX	128

struct vexfs_auto {
	__u32 size;			/* sizeof(struct vexfs_auto) */
	__u32 op;			/* enum vexfs_auto_op */
	__u32 flags;			/* VEXFS_AUTO_* */
	__u32 reserved0;
	char  name[VEXFS_NAME_MAX];	/* space */
	/* out: STATUS (space-wide) and PENDING (beneath the directory) */
	__u64 stale;			/* files waiting to be embedded (in flight included) */
	__u64 failed;			/* files a sidecar reported it cannot embed */
	__u64 in_flight;		/* STATUS: requests sent, not yet answered */
	__u64 embedded;			/* STATUS: chunks embedded in the space */
	__u32 sidecars;			/* STATUS: sidecars registered for the space */
	__s32 last_errno;		/* STATUS: last error a sidecar reported, 0 none */
	__u64 last_error_ino;		/* STATUS: the file it was about */
	char  last_error[VEXFS_AUTO_ERROR_MAX];	/* STATUS: its message, NUL terminated */
	__u64 reserved[4];
};

#define VEXFS_IOC_AUTO		_IOWR(VEXFS_IOC_MAGIC, 7, struct vexfs_auto)

/*
 * Generic netlink family VEXFS_GENL_NAME, the sidecar protocol.  Every
 * command needs CAP_SYS_ADMIN.  A sidecar REGISTERs for one space of one
 * mounted volume; the kernel then sends it REQUESTs (unicast, at most
 * `window` unanswered at once) for files to embed.  The sidecar opens the
 * file with open_by_handle_at(mount fd, handle), reads it, and answers by
 * VEXFS_IOC_EMB_ADD with VEXFS_EMB_REPLACE_ALL and expect_version = the
 * request's data version (that alone completes the request), or by DONE
 * with an errno: transient ones (ESTALE: the file changed or went away,
 * EAGAIN, EBUSY, ENOMEM, ETIMEDOUT, EINTR) leave the file queued, any other
 * marks it failed until it changes again.  A request unanswered after the
 * registration's timeout is sent again.  Closing the socket unregisters.
 */
#define VEXFS_GENL_NAME		"vexfs"
#define VEXFS_GENL_VERSION	1

enum vexfs_genl_cmd {
	VEXFS_CMD_UNSPEC,
	VEXFS_CMD_REGISTER,		/* DEV, SPACE, MODEL, [MODEL_VERSION, WINDOW, TIMEOUT_MS]
					 * -> reply: SPACE_ID, DIM, METRIC */
	VEXFS_CMD_UNREGISTER,		/* DEV, SPACE */
	VEXFS_CMD_REQUEST,		/* kernel -> sidecar: DEV, SPACE, SPACE_ID, INO, GENERATION,
					 * DATA_VERSION, SIZE, HANDLE_TYPE, HANDLE */
	VEXFS_CMD_DONE,			/* DEV, SPACE_ID, INO, DATA_VERSION, ERRNO, [MESSAGE] */
	__VEXFS_CMD_MAX,
};
#define VEXFS_CMD_MAX		(__VEXFS_CMD_MAX - 1)

enum vexfs_genl_attr {
	VEXFS_ATTR_UNSPEC,
	VEXFS_ATTR_DEV,			/* u32: st_dev of the mounted volume */
	VEXFS_ATTR_SPACE,		/* string: space name */
	VEXFS_ATTR_SPACE_ID,		/* u32 */
	VEXFS_ATTR_MODEL,		/* string: must equal the space's model when it has one */
	VEXFS_ATTR_MODEL_VERSION,	/* string */
	VEXFS_ATTR_WINDOW,		/* u32: requests in flight, 1..1024, default 16 */
	VEXFS_ATTR_TIMEOUT_MS,		/* u32: resend after, 100..3600000, default 120000 */
	VEXFS_ATTR_INO,			/* u64 */
	VEXFS_ATTR_GENERATION,		/* u32 */
	VEXFS_ATTR_DATA_VERSION,	/* u64 */
	VEXFS_ATTR_SIZE,		/* u64: file size when the request was sent */
	VEXFS_ATTR_HANDLE_TYPE,		/* u32: struct file_handle.handle_type */
	VEXFS_ATTR_HANDLE,		/* binary: struct file_handle.f_handle */
	VEXFS_ATTR_ERRNO,		/* u32: positive errno, 0 = done */
	VEXFS_ATTR_MESSAGE,		/* string: why, for status and logs */
	VEXFS_ATTR_DIM,			/* u32 */
	VEXFS_ATTR_METRIC,		/* u32: enum vexfs_metric */
	VEXFS_ATTR_PAD,			/* alignment padding of u64 attributes; ignore */
	__VEXFS_ATTR_MAX,
};
#define VEXFS_ATTR_MAX		(__VEXFS_ATTR_MAX - 1)

#endif /* _UAPI_LINUX_VEXFS_H */
