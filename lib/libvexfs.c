// SPDX-License-Identifier: GPL-2.0
/*
 * libvexfs: the VexFS vector ioctls as plain C functions
 * (include/vexfs/libvexfs.h, docs/LIBVEXFS.md, docs/IOCTL.md).
 *
 * Each call fills one uapi argument struct (zeroed, size set, reserved
 * fields left zero), issues the ioctl and returns 0 or -errno.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* open_by_handle_at, struct file_handle */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include "vexfs/libvexfs.h"

#define FILEID_INO64_GEN	0x81	/* include/linux/exportfs.h */
#define VEXFS_FH_BYTES		12	/* ino (2 words) + generation */
#define VEXFS_PATHS_MAX		(16U << 20)	/* kernel limit on paths_size */

#define STRINGIFY2(x)	#x
#define STRINGIFY(x)	STRINGIFY2(x)

const char *vexfs_version(void)
{
	return STRINGIFY(LIBVEXFS_VERSION_MAJOR) "." STRINGIFY(LIBVEXFS_VERSION_MINOR);
}

static int xioctl(int fd, unsigned long cmd, void *arg)
{
	int r;

	do {
		r = ioctl(fd, cmd, arg);
	} while (r < 0 && errno == EINTR && cmd == VEXFS_IOC_SEARCH);
	return r < 0 ? -errno : 0;
}

/* Copy a space name into a uapi name field; -EINVAL if too long. */
static int set_name(char dst[VEXFS_NAME_MAX], const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (len >= VEXFS_NAME_MAX)
		return -EINVAL;
	memset(dst, 0, VEXFS_NAME_MAX);
	if (len)
		memcpy(dst, name, len);
	return 0;
}

static uint64_t uptr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

int vexfs_fd_is_vexfs(int fd)
{
	struct statfs st;

	if (fstatfs(fd, &st) < 0)
		return -errno;
	return (unsigned long)st.f_type == VEXFS_SUPER_MAGIC;
}

int vexfs_path_is_vexfs(const char *path)
{
	struct statfs st;

	if (statfs(path, &st) < 0)
		return -errno;
	return (unsigned long)st.f_type == VEXFS_SUPER_MAGIC;
}

const char *vexfs_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case ENOTTY:
		return "not a VexFS file or directory (or the module lacks the vector ioctls)";
	case ENOENT:
		return "no such space, file or embedding";
	case EEXIST:
		return "already exists";
	case EPERM:
		return "operation not permitted (needs CAP_SYS_ADMIN, or ownership)";
	case EACCES:
		return "permission denied";
	case ESTALE:
		return "the file changed since the expected data version";
	case E2BIG:
		return "too many chunks or vector bytes for one call";
	case EINVAL:
		return "invalid argument (dimension, limits, flags or name)";
	case ENOTDIR:
		return "not a directory";
	case EROFS:
		return "read-only file system";
	case ENOSPC:
		return "no space left on the volume";
	default:
		return strerror(err);
	}
}

float vexfs_distance(uint32_t bits)
{
	float f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

const char *vexfs_metric_name(uint32_t metric)
{
	switch (metric) {
	case VEXFS_METRIC_L2:
		return "l2";
	case VEXFS_METRIC_COSINE:
		return "cosine";
	case VEXFS_METRIC_IP:
		return "ip";
	default:
		return "?";
	}
}

int vexfs_metric_parse(const char *s, uint32_t *metric)
{
	if (!s)
		return -EINVAL;
	if (!strcasecmp(s, "l2") || !strcasecmp(s, "euclidean"))
		*metric = VEXFS_METRIC_L2;
	else if (!strcasecmp(s, "cosine") || !strcasecmp(s, "cos"))
		*metric = VEXFS_METRIC_COSINE;
	else if (!strcasecmp(s, "ip") || !strcasecmp(s, "dot") ||
		 !strcasecmp(s, "inner-product"))
		*metric = VEXFS_METRIC_IP;
	else
		return -EINVAL;
	return 0;
}

int vexfs_space_name_valid(const char *name)
{
	size_t i, len;

	if (!name)
		return 0;
	len = strlen(name);
	if (!len || len >= VEXFS_NAME_MAX || name[0] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

uint32_t vexfs_emb_batch_max(uint32_t dim)
{
	uint64_t n;

	if (!dim || dim > VEXFS_DIM_MAX)
		return 0;
	n = VEXFS_BATCH_BYTES_MAX / ((uint64_t)dim * sizeof(float));
	return n > VEXFS_BATCH_MAX ? VEXFS_BATCH_MAX : (uint32_t)n;
}

/* ---------------------------------------------------------------- spaces */

static int manage(uint32_t op, const char *name,
		  struct vexfs_manage *m)
{
	memset(m, 0, sizeof(*m));
	m->size = sizeof(*m);
	m->op = op;
	return set_name(m->name, name);
}

int vexfs_space_create(int fd, const struct vexfs_space_info *in,
		       struct vexfs_space_info *out)
{
	struct vexfs_manage m;
	int err;

	if (!in)
		return -EINVAL;
	err = manage(VEXFS_OP_SPACE_CREATE, NULL, &m);
	if (err)
		return err;
	/* inputs only: output fields and reserved stay zero */
	m.space.dim = in->dim;
	m.space.elem_type = in->elem_type ? in->elem_type : VEXFS_ELEM_F32;
	m.space.metric = in->metric ? in->metric : VEXFS_METRIC_L2;
	m.space.hnsw_m = in->hnsw_m;
	m.space.hnsw_ef_construction = in->hnsw_ef_construction;
	m.space.hnsw_ef_search = in->hnsw_ef_search;
	m.space.flags = in->flags;
	if (strnlen(in->name, VEXFS_NAME_MAX) >= VEXFS_NAME_MAX ||
	    strnlen(in->model, VEXFS_MODEL_MAX) >= VEXFS_MODEL_MAX ||
	    strnlen(in->model_version, VEXFS_MODEL_VERSION_MAX) >=
	    VEXFS_MODEL_VERSION_MAX || !in->name[0])
		return -EINVAL;
	memcpy(m.space.name, in->name, VEXFS_NAME_MAX);
	memcpy(m.space.model, in->model, VEXFS_MODEL_MAX);
	memcpy(m.space.model_version, in->model_version,
	       VEXFS_MODEL_VERSION_MAX);
	memcpy(m.name, in->name, VEXFS_NAME_MAX);
	err = xioctl(fd, VEXFS_IOC_MANAGE, &m);
	if (!err && out)
		*out = m.space;
	return err;
}

/* One VEXFS_IOC_MANAGE call: op on name (NULL: none); m gets the answer. */
static int manage_call(int fd, uint32_t op, const char *name,
		       struct vexfs_manage *m)
{
	int err;

	err = manage(op, name, m);
	if (err)
		return err;
	return xioctl(fd, VEXFS_IOC_MANAGE, m);
}

/* manage_call on a space that must be named. */
static int manage_named(int fd, uint32_t op, const char *name,
			struct vexfs_manage *m)
{
	if (!name || !name[0])
		return -EINVAL;
	return manage_call(fd, op, name, m);
}

/* manage_named for the ops that answer with the space's description. */
static int manage_space(int fd, uint32_t op, const char *name,
			struct vexfs_space_info *out)
{
	struct vexfs_manage m;
	int err;

	err = manage_named(fd, op, name, &m);
	if (!err && out)
		*out = m.space;
	return err;
}

int vexfs_space_drop(int fd, const char *name)
{
	struct vexfs_manage m;

	return manage_named(fd, VEXFS_OP_SPACE_DROP, name, &m);
}

int vexfs_space_info(int fd, const char *name, struct vexfs_space_info *out)
{
	return manage_space(fd, VEXFS_OP_SPACE_INFO, name, out);
}

int vexfs_space_list(int fd, struct vexfs_space_info **out, size_t *n)
{
	struct vexfs_space_info *list = NULL, *tmp;
	struct vexfs_manage m;
	uint32_t room = 0;
	int err, tries;

	*out = NULL;
	*n = 0;
	/* the number of spaces can change between calls: retry a few times */
	for (tries = 0; tries < 8; tries++) {
		err = manage(VEXFS_OP_SPACE_LIST, NULL, &m);
		if (err)
			break;
		m.list_count = room;
		m.list_ptr = uptr(list);
		err = xioctl(fd, VEXFS_IOC_MANAGE, &m);
		if (err)
			break;
		if (m.list_total <= room) {
			if (!m.list_filled) {
				free(list);
				list = NULL;
			}
			*out = list;
			*n = m.list_filled;
			return 0;
		}
		room = m.list_total + 4;
		tmp = realloc(list, (size_t)room * sizeof(*list));
		if (!tmp) {
			err = -ENOMEM;
			break;
		}
		list = tmp;
		memset(list, 0, (size_t)room * sizeof(*list));
	}
	if (!err)
		err = -EAGAIN;
	free(list);
	return err;
}

void vexfs_space_list_free(struct vexfs_space_info *list)
{
	free(list);
}

int vexfs_index_build(int fd, const char *name, struct vexfs_space_info *out)
{
	return manage_space(fd, VEXFS_OP_INDEX_BUILD, name, out);
}

int vexfs_index_rebuild(int fd, const char *name, struct vexfs_space_info *out)
{
	return manage_space(fd, VEXFS_OP_INDEX_REBUILD, name, out);
}

int vexfs_set_ef(int fd, const char *name, uint32_t ef)
{
	struct vexfs_manage m;
	int err;

	if (!name || !name[0])
		return -EINVAL;
	err = manage(VEXFS_OP_SET_EF, name, &m);
	if (err)
		return err;
	m.space.hnsw_ef_search = ef;
	return xioctl(fd, VEXFS_IOC_MANAGE, &m);
}

int vexfs_dir_set_space(int dirfd, const char *name)
{
	struct vexfs_manage m;

	return manage_call(dirfd, VEXFS_OP_DIR_SET_SPACE, name, &m);
}

int vexfs_dir_get_space(int dirfd, char *name, size_t size)
{
	struct vexfs_manage m;
	size_t len;
	int err;

	if (!name || !size)
		return -EINVAL;
	err = manage_call(dirfd, VEXFS_OP_DIR_GET_SPACE, NULL, &m);
	if (err)
		return err;
	len = strnlen(m.name, VEXFS_NAME_MAX - 1);
	if (len >= size)
		return -ERANGE;
	memcpy(name, m.name, len);
	name[len] = '\0';
	return 0;
}

/* ---------------------------------------------------------------- automatic embeddings */

/* One VEXFS_IOC_AUTO call: op with space (NULL: none) and flags; a gets the answer. */
static int auto_call(int fd, uint32_t op, const char *space, uint32_t flags,
		     struct vexfs_auto *a)
{
	int err;

	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->op = op;
	a->flags = flags;
	err = set_name(a->name, space);
	if (err)
		return err;
	return xioctl(fd, VEXFS_IOC_AUTO, a);
}

/* auto_call that copies the answer to out (may be NULL). */
static int auto_query(int fd, uint32_t op, const char *space,
		      struct vexfs_auto *out)
{
	struct vexfs_auto a;
	int err;

	err = auto_call(fd, op, space, 0, &a);
	if (!err && out)
		*out = a;
	return err;
}

int vexfs_auto_set(int dirfd, const char *space, int off)
{
	struct vexfs_auto a;

	/* the kernel refuses it too; say so without a round trip */
	if (off && space && space[0])
		return -EINVAL;
	return auto_call(dirfd, VEXFS_AUTO_SET, space, off ? VEXFS_AUTO_OFF : 0,
			 &a);
}

int vexfs_auto_get(int dirfd, struct vexfs_auto *out)
{
	return auto_query(dirfd, VEXFS_AUTO_GET, NULL, out);
}

int vexfs_auto_status(int fd, const char *space, struct vexfs_auto *out)
{
	if (!space || !space[0])
		return -EINVAL;
	return auto_query(fd, VEXFS_AUTO_STATUS, space, out);
}

int vexfs_auto_pending(int dirfd, const char *space, struct vexfs_auto *out)
{
	return auto_query(dirfd, VEXFS_AUTO_PENDING, space, out);
}

int vexfs_auto_mark(int fd, const char *space)
{
	return auto_query(fd, VEXFS_AUTO_MARK, space, NULL);
}

/* ---------------------------------------------------------------- embeddings */

/* The argument of an embeddings ioctl on n chunks and their vectors. */
static int emb_args(struct vexfs_embeddings *e, const char *space,
		    const struct vexfs_chunk *chunks, uint32_t n,
		    const float *vectors, uint32_t dim, uint32_t flags,
		    uint64_t expect_version)
{
	memset(e, 0, sizeof(*e));
	e->size = sizeof(*e);
	e->flags = flags;
	e->dim = dim;
	e->count = n;
	e->chunks_ptr = uptr(chunks);
	e->vectors_ptr = uptr(vectors);
	e->expect_version = expect_version;
	return set_name(e->name, space);
}

/* One embeddings ioctl (cmd); e gets the answer. */
static int emb_call(int fd, unsigned long cmd, const char *space,
		    const struct vexfs_chunk *chunks, uint32_t n,
		    const float *vectors, uint32_t dim, uint32_t flags,
		    uint64_t expect_version, struct vexfs_embeddings *e)
{
	int err = emb_args(e, space, chunks, n, vectors, dim, flags,
			   expect_version);

	return err ? err : xioctl(fd, cmd, e);
}

static int emb_change(int fd, unsigned long cmd, const char *space,
		      const struct vexfs_chunk *chunks, uint32_t n,
		      const float *vectors, uint32_t dim, uint32_t flags,
		      uint64_t expect_version, uint64_t *data_version)
{
	struct vexfs_embeddings e;
	int err;

	err = emb_call(fd, cmd, space, chunks, n, vectors, dim, flags,
		       expect_version, &e);
	if (!err && data_version)
		*data_version = e.data_version;
	return err;
}

int vexfs_emb_add(int fd, const char *space, const struct vexfs_chunk *chunks,
		  uint32_t n, const float *vectors, uint32_t dim,
		  uint32_t flags, uint64_t expect_version,
		  uint64_t *data_version)
{
	return emb_change(fd, VEXFS_IOC_EMB_ADD, space, chunks, n, vectors,
			  dim, flags, expect_version, data_version);
}

int vexfs_emb_update(int fd, const char *space,
		     const struct vexfs_chunk *chunks, uint32_t n,
		     const float *vectors, uint32_t dim,
		     uint64_t expect_version, uint64_t *data_version)
{
	return emb_change(fd, VEXFS_IOC_EMB_UPDATE, space, chunks, n, vectors,
			  dim, 0, expect_version, data_version);
}

int vexfs_emb_delete(int fd, const char *space,
		     const struct vexfs_chunk *chunks, uint32_t n,
		     uint32_t flags)
{
	return emb_change(fd, VEXFS_IOC_EMB_DELETE, space, chunks, n, NULL, 0,
			  flags, 0, NULL);
}

int vexfs_emb_get_after(int fd, const char *space,
			const struct vexfs_chunk *after,
			struct vexfs_chunk *chunks, uint32_t room,
			float *vectors, uint32_t dim, uint32_t *filled,
			uint32_t *total, uint32_t *dim_out,
			uint64_t *data_version)
{
	struct vexfs_embeddings e;
	int err;

	if (room && !chunks)
		return -EINVAL;
	err = emb_args(&e, space, chunks, room, vectors, dim,
		       after ? VEXFS_EMB_AFTER : 0, 0);
	if (err)
		return err;
	if (after) {
		e.after_offset = after->offset;
		e.after_length = after->length;
	}
	err = xioctl(fd, VEXFS_IOC_EMB_GET, &e);
	if (err)
		return err;
	if (filled)
		*filled = e.filled;
	if (total)
		*total = e.total;
	if (dim_out)
		*dim_out = e.dim;
	if (data_version)
		*data_version = e.data_version;
	return 0;
}

int vexfs_emb_get_into(int fd, const char *space, struct vexfs_chunk *chunks,
		       uint32_t room, float *vectors, uint32_t dim,
		       uint32_t *filled, uint32_t *total, uint32_t *dim_out,
		       uint64_t *data_version)
{
	return vexfs_emb_get_after(fd, space, NULL, chunks, room, vectors, dim,
				   filled, total, dim_out, data_version);
}

int vexfs_emb_count(int fd, const char *space, uint32_t *total,
		    uint32_t *dim, uint64_t *data_version)
{
	return vexfs_emb_get_into(fd, space, NULL, 0, NULL, 0, NULL, total,
				  dim, data_version);
}

void vexfs_emb_set_free(struct vexfs_emb_set *set)
{
	if (!set)
		return;
	free(set->chunks);
	free(set->vectors);
	memset(set, 0, sizeof(*set));
}

/*
 * Pages of at most one call's worth into out's buffers (room entries),
 * each after the last chunk of the one before.  1 if the file's count or
 * the space's dimension changed meanwhile (the caller starts again).
 */
static int emb_get_pages(int fd, const char *space, int with_vectors,
			 uint32_t room, struct vexfs_emb_set *out)
{
	uint32_t got = 0, per, filled, total, dim;
	uint64_t dv;
	int err;

	while (got < room) {
		per = room - got;
		if (per > VEXFS_BATCH_MAX)
			per = VEXFS_BATCH_MAX;
		if (with_vectors && per > vexfs_emb_batch_max(out->dim))
			per = vexfs_emb_batch_max(out->dim);
		err = vexfs_emb_get_after(fd, space,
					  got ? &out->chunks[got - 1] : NULL,
					  out->chunks + got, per,
					  with_vectors ? out->vectors +
					  (size_t)got * out->dim : NULL,
					  out->dim, &filled, &total, &dim, &dv);
		if (err)
			return err;
		if (dim != out->dim || total != room)
			return 1;
		if (!got)
			out->data_version = dv;
		got += filled;
		if (filled < per)
			break;
	}
	out->count = got;
	return 0;
}

int vexfs_emb_get(int fd, const char *space, int with_vectors,
		  struct vexfs_emb_set *out)
{
	uint32_t total, dim;
	uint64_t dv;
	int err, tries;

	memset(out, 0, sizeof(*out));
	err = vexfs_emb_count(fd, space, &total, &dim, &dv);
	if (err)
		return err;
	for (tries = 0; tries < 8; tries++) {
		vexfs_emb_set_free(out);
		out->dim = dim;
		out->data_version = dv;
		if (!total)
			return 0;
		out->chunks = calloc(total, sizeof(*out->chunks));
		if (with_vectors)
			out->vectors = calloc((size_t)total * dim, sizeof(float));
		if (!out->chunks || (with_vectors && !out->vectors)) {
			vexfs_emb_set_free(out);
			return -ENOMEM;
		}
		err = emb_get_pages(fd, space, with_vectors, total, out);
		if (err <= 0) {
			if (err)
				vexfs_emb_set_free(out);
			return err;
		}
		/* added or deleted meanwhile, or a dropped and recreated
		 * space of another dimension: start again */
		err = vexfs_emb_count(fd, space, &total, &dim, &dv);
		if (err) {
			vexfs_emb_set_free(out);
			return err;
		}
	}
	vexfs_emb_set_free(out);
	return -EAGAIN;
}

/* ---------------------------------------------------------------- search */

int vexfs_search(int dirfd, const char *space, const float *query,
		 uint32_t dim, uint32_t k, uint32_t ef, uint32_t flags,
		 struct vexfs_search_result *results, char *paths,
		 size_t paths_size, uint32_t *count)
{
	struct vexfs_search s;
	int err;

	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.flags = flags;
	err = set_name(s.name, space);
	if (err)
		return err;
	if (paths_size > VEXFS_PATHS_MAX)
		paths_size = VEXFS_PATHS_MAX;
	s.dim = dim;
	s.k = k;
	s.ef = ef;
	s.query_ptr = uptr(query);
	s.results_ptr = uptr(results);
	s.paths_ptr = uptr(paths);
	s.paths_size = (uint32_t)paths_size;
	err = xioctl(dirfd, VEXFS_IOC_SEARCH, &s);
	if (!err && count)
		*count = s.count;
	return err;
}

const char *vexfs_result_path(const struct vexfs_search_result *r,
			      const char *paths, size_t paths_size)
{
	if (!paths || !r->path_length ||
	    (uint64_t)r->path_offset + r->path_length >= paths_size ||
	    paths[r->path_offset + r->path_length] != '\0')
		return NULL;
	return paths + r->path_offset;
}

int vexfs_result_handle(const struct vexfs_search_result *r, void *buf,
			size_t size)
{
	struct {
		unsigned int handle_bytes;
		int handle_type;
		uint32_t f[3];
	} h;

	if (size < sizeof(h))
		return -ENOSPC;
	h.handle_bytes = VEXFS_FH_BYTES;
	h.handle_type = FILEID_INO64_GEN;
	h.f[0] = (uint32_t)r->ino;
	h.f[1] = (uint32_t)(r->ino >> 32);
	h.f[2] = (uint32_t)r->generation;
	memcpy(buf, &h, sizeof(h));
	return (int)sizeof(h);
}

int vexfs_open_result(int dirfd, const struct vexfs_search_result *r,
		      const char *paths, size_t paths_size, int flags)
{
	const char *path = vexfs_result_path(r, paths, paths_size);
	/* struct file_handle has a flexible array: build it in a buffer */
	uint64_t buf[(sizeof(struct file_handle) + 16) / sizeof(uint64_t) + 1];
	struct stat st;
	int fd, err;

	if (path) {
		fd = openat(dirfd, path, flags | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			if (!fstat(fd, &st) && (uint64_t)st.st_ino == r->ino)
				return fd;
			close(fd);	/* renamed over since the search */
		}
	}
	err = vexfs_result_handle(r, buf, sizeof(buf));
	if (err < 0)
		return err;
	fd = open_by_handle_at(dirfd, (struct file_handle *)buf,
			       flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}
