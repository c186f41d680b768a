/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libvexfs: a thin C library over the VexFS vector ioctls
 * (<linux/vexfs.h>, docs/IOCTL.md).  docs/LIBVEXFS.md is the guide.
 *
 * Conventions, for C and for any FFI:
 *   - plain functions, no macros needed to call them, no opaque types: the
 *     structs are the uapi ones (struct vexfs_space_info, vexfs_chunk,
 *     vexfs_search_result, vexfs_auto) plus struct vexfs_emb_set below;
 *   - every int-returning function returns 0 (or a count where stated) on
 *     success and a negative errno on failure; errno is not used;
 *   - a space name of NULL or "" means "the default space of the directory"
 *     where the kernel allows it (embeddings and search), what each says for
 *     the vexfs_auto_*() calls, and is invalid (-EINVAL) where a space must
 *     be named;
 *   - descriptors are the caller's: nothing here opens, closes or keeps one
 *     except vexfs_open_result(), which returns a new descriptor;
 *   - memory that a function allocates is freed by the matching *_free();
 *   - thread-safe: no global state.
 *
 * Link with -lvexfs (pkg-config --cflags --libs libvexfs).
 */
#ifndef LIBVEXFS_H
#define LIBVEXFS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/vexfs.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIBVEXFS_VERSION_MAJOR	1
#define LIBVEXFS_VERSION_MINOR	2

/* f_type of a VexFS volume in struct statfs. */
#define VEXFS_SUPER_MAGIC	0x56584653

/* ---------------------------------------------------------------- helpers */

/* The library's version as "MAJOR.MINOR". */
const char *vexfs_version(void);

/*
 * Is fd on a VexFS volume?  1 yes, 0 no (another file system), -errno if
 * fstatfs fails.  This looks at the file system type only; an old module
 * without the vector ioctls still answers 1, and the ioctls then fail with
 * -ENOTTY.
 */
int vexfs_fd_is_vexfs(int fd);
/* The same for a path (not following a final symlink is not supported). */
int vexfs_path_is_vexfs(const char *path);

/*
 * A short description of a negative (or positive) errno value as the vector
 * ioctls use it, e.g. -ENOTTY -> "not a VexFS file or directory (or the
 * module lacks the vector ioctls)".  Never NULL; static storage.
 */
const char *vexfs_strerror(int err);

/* A distance as the kernel sends it (binary32 bits) as a float. */
float vexfs_distance(uint32_t bits);

/* "l2", "cosine", "ip" for VEXFS_METRIC_*, "?" otherwise. */
const char *vexfs_metric_name(uint32_t metric);
/* Parse "l2" (or "euclidean"), "cosine" (or "cos"), "ip" (or "dot"). 0 or -EINVAL. */
int vexfs_metric_parse(const char *s, uint32_t *metric);

/* Is name a valid space name ([A-Za-z0-9._-], 1..63 bytes, no leading '.')? 1 or 0. */
int vexfs_space_name_valid(const char *name);

/*
 * Largest number of chunks one ADD/UPDATE call may carry for vectors of
 * dimension dim (VEXFS_BATCH_MAX and VEXFS_BATCH_BYTES_MAX), 0 if dim is
 * 0 or above VEXFS_DIM_MAX.  Larger sets must be split by the caller
 * (each call is atomic on its own).
 */
uint32_t vexfs_emb_batch_max(uint32_t dim);

/* ---------------------------------------------------------------- spaces */

/*
 * Create a space on the volume fd is on (any file or directory of it).
 * in: name, dim (required), metric (0 = L2), elem_type (0 = float32),
 * hnsw_m, hnsw_ef_construction, hnsw_ef_search (0 = defaults), model,
 * model_version; the output fields of in are ignored.  out (may be NULL,
 * may equal in) receives the space as created, with its space_id and the
 * defaults filled in.  Needs CAP_SYS_ADMIN.  -EEXIST, -EINVAL, -EPERM,
 * -ENOSPC, -EROFS, -ENOTTY (not VexFS).
 */
int vexfs_space_create(int fd, const struct vexfs_space_info *in,
		       struct vexfs_space_info *out);

/* Drop a space and all its embeddings.  CAP_SYS_ADMIN.  -ENOENT, -EPERM. */
int vexfs_space_drop(int fd, const char *name);

/*
 * Describe a space, with its index statistics (loads the index if it was
 * not loaded).  -ENOENT.
 */
int vexfs_space_info(int fd, const char *name, struct vexfs_space_info *out);

/*
 * Every space of the volume, in space id order: *out gets a malloc'ed array
 * of *n entries (NULL and 0 if there are none), to be freed with
 * vexfs_space_list_free().  The listing carries the stored counts only
 * (vector_count); index statistics need vexfs_space_info().
 */
int vexfs_space_list(int fd, struct vexfs_space_info **out, size_t *n);
void vexfs_space_list_free(struct vexfs_space_info *list);

/*
 * Link every pending vector of a space into its HNSW graph now
 * (INDEX_BUILD), or drop the graph and relink everything (INDEX_REBUILD).
 * Blocks until done; a fatal signal interrupts it (-EINTR; the rest is
 * linked in the background).  out (may be NULL) gets the space's state
 * afterwards.  CAP_SYS_ADMIN.
 */
int vexfs_index_build(int fd, const char *name, struct vexfs_space_info *out);
int vexfs_index_rebuild(int fd, const char *name, struct vexfs_space_info *out);

/* Set a space's default search ef (1..VEXFS_EF_MAX).  CAP_SYS_ADMIN. */
int vexfs_set_ef(int fd, const char *name, uint32_t ef);

/*
 * A directory's default space: the space "" names in embedding calls on
 * files opened through the directory and in searches of it; directories
 * created in it later inherit it (existing ones keep theirs).  set: name NULL or "" clears it; the owner of the
 * directory or CAP_FOWNER.  get: name (room for size bytes, at least
 * VEXFS_NAME_MAX is always enough) gets the name, or "" if there is none.
 * -ENOTDIR if dirfd is not a directory.
 */
int vexfs_dir_set_space(int dirfd, const char *name);
int vexfs_dir_get_space(int dirfd, char *name, size_t size);

/* ---------------------------------------------------------------- automatic embeddings */

/*
 * A directory's automatic-embedding policy (VEXFS_IOC_AUTO, docs/IOCTL.md):
 * the content of regular files beneath it is embedded into a space by a
 * registered sidecar whenever it changes; the nearest ancestor with a
 * policy decides.  set: space names the space (which must exist, -ENOENT),
 * off != 0 (with space NULL or "") excludes the subtree, and neither
 * removes the directory's own policy so it inherits again; giving both is
 * -EINVAL.  The owner of the directory or CAP_FOWNER (-EPERM).  -ENOTDIR
 * if dirfd is not a directory; -ENOTTY from a module without automatic
 * embeddings.
 */
int vexfs_auto_set(int dirfd, const char *space, int off);

/*
 * The policy in effect for a directory: out->name is the space ("" if
 * none), out->flags has VEXFS_AUTO_OFF if the directory itself excludes its
 * subtree and VEXFS_AUTO_INHERITED if the space comes from an ancestor.
 */
int vexfs_auto_get(int dirfd, struct vexfs_auto *out);

/*
 * A space's automatic-embedding counters (fd: anything on the volume):
 * out->stale, failed, in_flight, embedded (chunks), sidecars, and the last
 * error a sidecar reported (last_errno, last_error_ino, last_error).  The
 * space must be named (-EINVAL), -ENOENT if it does not exist.
 */
int vexfs_auto_status(int fd, const char *space, struct vexfs_auto *out);

/*
 * Files beneath a directory still waiting to be embedded (out->stale) and,
 * among them, those a sidecar could not embed (out->failed), in one space
 * or, with space NULL or "", summed over every space.  Nothing is left
 * to wait for when stale == failed.
 */
int vexfs_auto_pending(int dirfd, const char *space, struct vexfs_auto *out);

/*
 * Queue a regular file for embedding now, as if it had changed (for files
 * that were written before the policy was set).  space NULL or "": the
 * policy in effect for the directory it was opened through (-ENOENT if
 * there is none).  Needs write permission on the file (-EACCES); the
 * descriptor may be O_RDONLY.
 */
int vexfs_auto_mark(int fd, const char *space);

/* ---------------------------------------------------------------- embeddings */

/*
 * Add n embeddings to the regular file fd (opened for reading is enough;
 * write permission on the file is checked).  chunks[i] (offset, length;
 * 0 + 0 = the whole file) goes with vectors[i * dim .. i * dim + dim - 1].
 * flags: VEXFS_EMB_REPLACE_ALL replaces the file's embeddings in the space
 * atomically.  expect_version: if non-zero, the file's data version must
 * still be this (-ESTALE otherwise): read it with vexfs_emb_get/count
 * before reading the data you embed.  data_version (may be NULL) gets the
 * version the embeddings were recorded at.  Atomic: all or nothing.
 * -EEXIST (chunk already present), -EINVAL (dim differs from the space's,
 * n == 0, non-finite values), -E2BIG (more than vexfs_emb_batch_max(dim)),
 * -ENOENT (space), -EACCES, -ESTALE.
 */
int vexfs_emb_add(int fd, const char *space, const struct vexfs_chunk *chunks,
		  uint32_t n, const float *vectors, uint32_t dim,
		  uint32_t flags, uint64_t expect_version,
		  uint64_t *data_version);

/*
 * Replace the vectors of existing chunks (matched by offset and length) and
 * record them at the file's current version.  Same rules as add; -ENOENT
 * if a chunk does not exist.
 */
int vexfs_emb_update(int fd, const char *space,
		     const struct vexfs_chunk *chunks, uint32_t n,
		     const float *vectors, uint32_t dim,
		     uint64_t expect_version, uint64_t *data_version);

/*
 * Delete chunks (matched by offset and length; -ENOENT if one is missing),
 * or with n == 0 every embedding of the file in the space.  flags
 * VEXFS_EMB_ALL_SPACES with n == 0 and space NULL/"": in every space.
 */
int vexfs_emb_delete(int fd, const char *space,
		     const struct vexfs_chunk *chunks, uint32_t n,
		     uint32_t flags);

/*
 * How many embeddings the file has in the space; dim and data_version (the
 * file's current data version) may be NULL.
 */
int vexfs_emb_count(int fd, const char *space, uint32_t *total,
		    uint32_t *dim, uint64_t *data_version);

/*
 * Low level GET into caller buffers: up to room chunks (ordered by offset,
 * then length) and, if vectors is not NULL, their vectors (room * dim
 * floats; dim must then be the space's dimension).  filled/total/dim_out/
 * data_version may be NULL.
 */
int vexfs_emb_get_into(int fd, const char *space, struct vexfs_chunk *chunks,
		       uint32_t room, float *vectors, uint32_t dim,
		       uint32_t *filled, uint32_t *total, uint32_t *dim_out,
		       uint64_t *data_version);

/*
 * The same, a page at a time: the chunks ordered after *after (the last
 * chunk of the previous page; NULL = from the first).  A page shorter than
 * room is the last.  One call returns at most VEXFS_BATCH_MAX chunks and
 * vexfs_emb_batch_max(dim) vectors (-E2BIG beyond).
 */
int vexfs_emb_get_after(int fd, const char *space,
			const struct vexfs_chunk *after,
			struct vexfs_chunk *chunks, uint32_t room,
			float *vectors, uint32_t dim, uint32_t *filled,
			uint32_t *total, uint32_t *dim_out,
			uint64_t *data_version);

/* All embeddings of one file in one space, as vexfs_emb_get() returns them. */
struct vexfs_emb_set {
	uint32_t count;			/* entries in chunks (and rows of vectors) */
	uint32_t dim;			/* the space's dimension */
	uint64_t data_version;		/* the file's current data version */
	struct vexfs_chunk *chunks;	/* count entries; flags has VEXFS_CHUNK_STALE */
	float *vectors;			/* count * dim floats, NULL if not asked for */
};

/*
 * Allocating GET: asks for the count, allocates, fetches page by page (any
 * number of embeddings), and starts again if embeddings were added or
 * deleted meanwhile (-EAGAIN after 8 tries).  with_vectors 0 fetches chunks
 * only.  Free with vexfs_emb_set_free() (also safe on a zeroed set).
 */
int vexfs_emb_get(int fd, const char *space, int with_vectors,
		  struct vexfs_emb_set *out);
void vexfs_emb_set_free(struct vexfs_emb_set *set);

/* ---------------------------------------------------------------- search */

/*
 * The k nearest embeddings (1..VEXFS_K_MAX) in a space among the files
 * beneath the directory dirfd that the caller may read, nearest first.
 * ef: 0 = the space's default, else k..VEXFS_EF_MAX.  flags:
 * VEXFS_SEARCH_EXACT, VEXFS_SEARCH_NO_STALE, VEXFS_SEARCH_PATHS (then paths
 * and paths_size, at most 16 MiB, receive NUL-terminated paths relative to
 * dirfd; see vexfs_result_path()).  results has room for k entries; *count
 * gets how many were written (fewer than k if the space or the subtree
 * holds fewer).  -ENOENT (space, or no default), -EINVAL (dim mismatch,
 * bad k/ef), -ENOTDIR.
 */
int vexfs_search(int dirfd, const char *space, const float *query,
		 uint32_t dim, uint32_t k, uint32_t ef, uint32_t flags,
		 struct vexfs_search_result *results, char *paths,
		 size_t paths_size, uint32_t *count);

/*
 * The path of a result (relative to the searched directory) inside the
 * paths buffer given to vexfs_search(), or NULL if none was returned (no
 * VEXFS_SEARCH_PATHS, or it did not fit).
 */
const char *vexfs_result_path(const struct vexfs_search_result *r,
			      const char *paths, size_t paths_size);

/*
 * Open the file of a search result: by its path relative to dirfd when
 * there is one (checking that it is still the same inode), otherwise by
 * file handle (open_by_handle_at with a FILEID_INO64_GEN handle built from
 * ino and generation, which needs CAP_DAC_READ_SEARCH).  Returns a new
 * descriptor or -errno (-ESTALE: the file is gone or was replaced).
 * paths may be NULL.  flags are open(2) flags (O_RDONLY, ...).
 */
int vexfs_open_result(int dirfd, const struct vexfs_search_result *r,
		      const char *paths, size_t paths_size, int flags);

/*
 * Build the file handle of a result for open_by_handle_at(2) into buf
 * (room for size bytes; 20 are enough: struct file_handle's header plus
 * 12 bytes): handle_type FILEID_INO64_GEN (0x81), handle_bytes 12,
 * f_handle = ino low 32 bits, ino high 32 bits, generation low 32 bits, in
 * CPU byte order.  Returns the bytes used or -ENOSPC.
 */
int vexfs_result_handle(const struct vexfs_search_result *r, void *buf,
			size_t size);

#ifdef __cplusplus
}
#endif

#endif /* LIBVEXFS_H */
