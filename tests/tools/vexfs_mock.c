// SPDX-License-Identifier: GPL-2.0
/*
 * A userspace stand-in for the VexFS vector ioctls, for native tests of
 * vexctl and libvexfs without a kernel (tests/tools/test-vexctl.sh):
 *
 *   VEXFS_MOCK_ROOT=/tmp/x VEXFS_MOCK_STATE=/tmp/x.state \
 *       LD_PRELOAD=build/vexfs_mock.so vexctl ...
 *
 * Files under VEXFS_MOCK_ROOT report the VexFS f_type; VEXFS_IOC_* on them
 * are answered from a state file (spaces, directory defaults, embeddings,
 * automatic-embedding policies and queued files) with the argument checks
 * of docs/IOCTL.md that matter to the tools.  It is a test double, not a
 * model of the kernel: exact search only, data version = the file's mtime
 * in ns, no permission checks, no sidecars (nothing queued ever gets
 * embedded).  For VEXFS_IOC_AUTO, the environment can stand in for what a
 * test cannot produce:
 *
 *   VEXFS_MOCK_NO_AUTO=25|22     AUTO fails with ENOTTY or EINVAL (an older module)
 *   VEXFS_MOCK_PENDING="3 0;1 0;0 0"   the stale and failed counts the
 *                                successive PENDING calls of one process
 *                                return (the last one repeats); without it,
 *                                the files queued by MARK beneath the directory
 *   VEXFS_MOCK_STATUS="stale failed in_flight sidecars errno ino message"
 *                                what STATUS returns for every space
 *   VEXFS_MOCK_MARK_FAIL=text    MARK of a path containing text fails with EIO
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/vexfs.h>

#define MAGIC 0x56584653

struct emb {
	uint64_t ino, off, len, dv;
	uint32_t space, dim;
	char path[PATH_MAX];
	float v[];
};

static struct vexfs_space_info spaces[64];
static uint32_t nspaces, next_id = 1;
static struct { uint64_t ino; uint32_t space; } defs[256];
static uint32_t ndefs;
static struct emb **embs;
static size_t nembs;

/* automatic embeddings: directory policies by inode, queued files */
#define POLICY_OFF	UINT32_MAX	/* the directory excludes its subtree */
struct policy {
	uint64_t ino;
	uint32_t space;		/* space id or POLICY_OFF */
	uint32_t pad;
};
static struct policy pols[256];
static uint32_t npols;

struct mark {
	uint64_t ino;
	uint32_t space;
	uint32_t pad;
	char path[PATH_MAX];
};
static struct mark *marks;
static uint32_t nmarks;

static const char *root(void)
{
	return getenv("VEXFS_MOCK_ROOT");
}

static int under_root(const char *p)
{
	const char *r = root();
	size_t n;

	if (!r || !p)
		return 0;
	n = strlen(r);
	return !strncmp(p, r, n) && (p[n] == '/' || !p[n]);
}

static int fd_path(int fd, char *buf)
{
	char l[64];
	ssize_t n;

	snprintf(l, sizeof(l), "/proc/self/fd/%d", fd);
	n = readlink(l, buf, PATH_MAX - 1);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static void load(void)
{
	const char *sf = getenv("VEXFS_MOCK_STATE");
	FILE *f = sf ? fopen(sf, "rb") : NULL;
	uint32_t n;

	if (!f)
		return;
	if (fread(&nspaces, 4, 1, f) != 1 || fread(&next_id, 4, 1, f) != 1 ||
	    fread(spaces, sizeof(spaces[0]), nspaces, f) != nspaces ||
	    fread(&ndefs, 4, 1, f) != 1 || fread(defs, sizeof(defs[0]), ndefs, f) != ndefs ||
	    fread(&n, 4, 1, f) != 1) {
		fclose(f);
		return;
	}
	embs = calloc(n + 1, sizeof(*embs));
	for (nembs = 0; nembs < n; nembs++) {
		struct emb h;

		if (fread(&h, sizeof(h), 1, f) != 1)
			break;
		embs[nembs] = malloc(sizeof(h) + h.dim * 4);
		*embs[nembs] = h;
		if (fread(embs[nembs]->v, 4, h.dim, f) != h.dim)
			break;
	}
	if (fread(&npols, 4, 1, f) != 1 || fread(pols, sizeof(pols[0]), npols, f) != npols ||
	    fread(&nmarks, 4, 1, f) != 1)
		npols = nmarks = 0;
	marks = calloc(nmarks + 1, sizeof(*marks));
	if (fread(marks, sizeof(*marks), nmarks, f) != nmarks)
		nmarks = 0;
	fclose(f);
}

static void save(void)
{
	const char *sf = getenv("VEXFS_MOCK_STATE");
	FILE *f = sf ? fopen(sf, "wb") : NULL;
	uint32_t n = (uint32_t)nembs;
	size_t i;

	if (!f)
		return;
	fwrite(&nspaces, 4, 1, f);
	fwrite(&next_id, 4, 1, f);
	fwrite(spaces, sizeof(spaces[0]), nspaces, f);
	fwrite(&ndefs, 4, 1, f);
	fwrite(defs, sizeof(defs[0]), ndefs, f);
	fwrite(&n, 4, 1, f);
	for (i = 0; i < nembs; i++)
		fwrite(embs[i], sizeof(struct emb) + embs[i]->dim * 4, 1, f);
	fwrite(&npols, 4, 1, f);
	fwrite(pols, sizeof(pols[0]), npols, f);
	fwrite(&nmarks, 4, 1, f);
	fwrite(marks, sizeof(*marks), nmarks, f);
	fclose(f);
}

static struct vexfs_space_info *find_space(const char *name)
{
	uint32_t i;

	for (i = 0; i < nspaces; i++)
		if (!strcmp(spaces[i].name, name))
			return &spaces[i];
	return NULL;
}

static struct vexfs_space_info *space_by_id(uint32_t id)
{
	uint32_t i;

	for (i = 0; i < nspaces; i++)
		if (spaces[i].space_id == id)
			return &spaces[i];
	return NULL;
}

static uint32_t dir_default(uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < ndefs; i++)
		if (defs[i].ino == ino)
			return defs[i].space;
	return 0;
}

static int zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		if (*c++)
			return 0;
	return 1;
}

static uint64_t count_in(uint32_t id)
{
	uint64_t c = 0;
	size_t i;

	for (i = 0; i < nembs; i++)
		c += embs[i]->space == id;
	return c;
}

static void drop_emb(size_t i)
{
	free(embs[i]);
	embs[i] = embs[--nembs];
}

static int manage(int fd, struct vexfs_manage *m)
{
	struct vexfs_space_info *s;
	struct stat st;
	uint32_t i;

	if (m->size != sizeof(*m) || m->flags || !zero(m->reserved, sizeof(m->reserved)) ||
	    strnlen(m->name, 64) == 64)
		return -EINVAL;
	fstat(fd, &st);
	switch (m->op) {
	case VEXFS_OP_SPACE_CREATE:
		s = &m->space;
		if (!zero(s->reserved, sizeof(s->reserved)) || !s->dim || s->dim > VEXFS_DIM_MAX ||
		    s->metric < 1 || s->metric > 3 || s->elem_type != 1 ||
		    (s->hnsw_m && (s->hnsw_m < 2 || s->hnsw_m > 100)))
			return -EINVAL;
		if (!s->name[0])
			memcpy(s->name, m->name, sizeof(s->name));
		if (!s->name[0])
			return -EINVAL;
		if (find_space(s->name))
			return -EEXIST;
		s->space_id = next_id++;
		if (!s->hnsw_m)
			s->hnsw_m = 16;
		if (!s->hnsw_ef_construction)
			s->hnsw_ef_construction = 200;
		if (!s->hnsw_ef_search)
			s->hnsw_ef_search = 64;
		s->create_time_ns = 1700000000000000000ULL;
		s->bytes_per_vector = s->dim * 4 + s->hnsw_m * 8;
		spaces[nspaces++] = *s;
		return 1;
	case VEXFS_OP_SPACE_DROP:
		s = find_space(m->name);
		if (!s)
			return -ENOENT;
		for (size_t k = 0; k < nembs;)
			if (embs[k]->space == s->space_id)
				drop_emb(k);
			else
				k++;
		*s = spaces[--nspaces];
		return 1;
	case VEXFS_OP_SPACE_INFO:
	case VEXFS_OP_INDEX_BUILD:
	case VEXFS_OP_INDEX_REBUILD:
		s = find_space(m->name);
		if (!s)
			return -ENOENT;
		m->space = *s;
		m->space.vector_count = m->space.indexed_count = count_in(s->space_id);
		m->space.loaded = 1;
		m->space.index_bytes = m->space.vector_count * s->bytes_per_vector;
		return 0;
	case VEXFS_OP_SPACE_LIST:
		for (i = 0; i < nspaces && i < m->list_count; i++) {
			struct vexfs_space_info c = spaces[i];

			c.vector_count = count_in(c.space_id);
			memcpy((char *)(uintptr_t)m->list_ptr + i * sizeof(c), &c, sizeof(c));
		}
		m->list_filled = i;
		m->list_total = nspaces;
		return 0;
	case VEXFS_OP_SET_EF:
		s = find_space(m->name);
		if (!s)
			return -ENOENT;
		s->hnsw_ef_search = m->space.hnsw_ef_search;
		return 1;
	case VEXFS_OP_DIR_SET_SPACE:
	case VEXFS_OP_DIR_GET_SPACE:
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		if (m->op == VEXFS_OP_DIR_GET_SPACE) {
			s = space_by_id(dir_default(st.st_ino));
			memset(m->name, 0, 64);
			if (s)
				strcpy(m->name, s->name);
			return 0;
		}
		s = m->name[0] ? find_space(m->name) : NULL;
		if (m->name[0] && !s)
			return -ENOENT;
		for (i = 0; i < ndefs; i++)
			if (defs[i].ino == st.st_ino)
				break;
		if (i == ndefs)
			ndefs++;
		defs[i].ino = st.st_ino;
		defs[i].space = s ? s->space_id : 0;
		return 1;
	}
	return -EINVAL;
}

static uint64_t dv_of(struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + st->st_mtim.tv_nsec + 1;
}

static int emb(int fd, unsigned long cmd, struct vexfs_embeddings *e)
{
	struct vexfs_space_info *s;
	struct vexfs_chunk *c = (void *)(uintptr_t)e->chunks_ptr;
	float *v = (void *)(uintptr_t)e->vectors_ptr;
	char path[PATH_MAX], dpath[PATH_MAX];
	struct stat st, dst;
	uint32_t i, n = 0, total = 0;
	size_t k;

	if (e->size != sizeof(*e) || !zero(e->reserved, sizeof(e->reserved)))
		return -EINVAL;
	if ((e->flags & VEXFS_EMB_AFTER) ? cmd != VEXFS_IOC_EMB_GET :
	    e->after_offset || e->after_length)
		return -EINVAL;
	fstat(fd, &st);
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	fd_path(fd, path);
	if (!e->name[0] && !(cmd == VEXFS_IOC_EMB_DELETE && (e->flags & 2))) {
		snprintf(dpath, sizeof(dpath), "%s", path);
		*strrchr(dpath, '/') = 0;
		stat(dpath, &dst);
		s = space_by_id(dir_default(dst.st_ino));
	} else {
		s = e->name[0] ? find_space(e->name) : NULL;
	}
	if (!s && !(e->flags & 2))
		return -ENOENT;
	e->data_version = dv_of(&st);
	if (cmd == VEXFS_IOC_EMB_GET) {
		for (k = 0; k < nembs; k++) {
			if (embs[k]->ino != st.st_ino || embs[k]->space != s->space_id)
				continue;
			/* stored in insertion order: a page filters, not sorts */
			if ((e->flags & VEXFS_EMB_AFTER) &&
			    (embs[k]->off < e->after_offset ||
			     (embs[k]->off == e->after_offset &&
			      embs[k]->len <= e->after_length))) {
				total++;
				continue;
			}
			if (n < e->count) {
				c[n].offset = embs[k]->off;
				c[n].length = embs[k]->len;
				c[n].data_version = embs[k]->dv;
				c[n].flags = embs[k]->dv != e->data_version;
				c[n].reserved = 0;
				if (v)
					memcpy(v + (size_t)n * s->dim, embs[k]->v, s->dim * 4);
			}
			n++;
		}
		e->filled = n < e->count ? n : e->count;
		e->total = n + total;
		e->dim = s->dim;
		return 0;
	}
	if (cmd == VEXFS_IOC_EMB_DELETE) {
		for (k = 0; k < nembs;) {
			int hit = embs[k]->ino == st.st_ino &&
				(!s || embs[k]->space == s->space_id);

			for (i = 0; hit && e->count && i < e->count; i++)
				if (c[i].offset == embs[k]->off && c[i].length == embs[k]->len)
					break;
			if (hit && (!e->count || i < e->count)) {
				drop_emb(k);
				n++;
			} else {
				k++;
			}
		}
		if (e->count && n < e->count)
			return -ENOENT;
		return 1;
	}
	if (e->dim != s->dim || !e->count)
		return -EINVAL;
	if (e->count > VEXFS_BATCH_MAX || (uint64_t)e->count * e->dim * 4 > VEXFS_BATCH_BYTES_MAX)
		return -E2BIG;
	if (e->expect_version && e->expect_version != e->data_version)
		return -ESTALE;
	for (i = 0; i < e->count * e->dim; i++)
		if (!isfinite(v[i]))
			return -EINVAL;
	if (cmd == VEXFS_IOC_EMB_ADD && (e->flags & VEXFS_EMB_REPLACE_ALL)) {
		for (k = 0; k < nembs;) {
			if (embs[k]->ino == st.st_ino && embs[k]->space == s->space_id)
				drop_emb(k);
			else
				k++;
		}
	}
	for (i = 0; i < e->count; i++) {
		uint64_t len = !c[i].offset && !c[i].length ? (uint64_t)st.st_size : c[i].length;
		struct emb *x = NULL;

		for (k = 0; k < nembs; k++)
			if (embs[k]->ino == st.st_ino && embs[k]->space == s->space_id &&
			    embs[k]->off == c[i].offset && embs[k]->len == len)
				x = embs[k];
		if (cmd == VEXFS_IOC_EMB_ADD && x)
			return -EEXIST;
		if (cmd == VEXFS_IOC_EMB_UPDATE && !x)
			return -ENOENT;
		if (!x) {
			x = calloc(1, sizeof(*x) + s->dim * 4);
			embs = realloc(embs, (nembs + 1) * sizeof(*embs));
			embs[nembs++] = x;
		}
		x->ino = st.st_ino;
		x->space = s->space_id;
		x->dim = s->dim;
		x->off = c[i].offset;
		x->len = len;
		x->dv = e->data_version;
		snprintf(x->path, sizeof(x->path), "%s", path);
		memcpy(x->v, v + (size_t)i * s->dim, s->dim * 4);
	}
	return 1;
}

static float dist(uint32_t metric, const float *a, const float *b, uint32_t d)
{
	double s = 0, na = 0, nb = 0;
	uint32_t i;

	for (i = 0; i < d; i++) {
		if (metric == VEXFS_METRIC_L2)
			s += (double)(a[i] - b[i]) * (a[i] - b[i]);
		else
			s += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	if (metric == VEXFS_METRIC_COSINE)
		return (float)(1 - s / (sqrt(na) * sqrt(nb) + 1e-30));
	if (metric == VEXFS_METRIC_IP)
		return (float)-s;
	return (float)s;
}

static int search(int fd, struct vexfs_search *q)
{
	struct vexfs_search_result *r = (void *)(uintptr_t)q->results_ptr;
	char *paths = (void *)(uintptr_t)q->paths_ptr;
	const float *qv = (const void *)(uintptr_t)q->query_ptr;
	struct vexfs_space_info *s;
	char dir[PATH_MAX];
	struct stat st, fst;
	uint32_t n = 0, used = 0, i;
	size_t k, dl;
	float *d;
	size_t *idx;

	if (q->size != sizeof(*q) || q->reserved0 || !zero(q->reserved, sizeof(q->reserved)) ||
	    (q->flags & ~7U))
		return -EINVAL;
	fstat(fd, &st);
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (!q->k || q->k > VEXFS_K_MAX || q->ef > VEXFS_EF_MAX || (q->ef && q->ef < q->k))
		return -EINVAL;
	s = q->name[0] ? find_space(q->name) : space_by_id(dir_default(st.st_ino));
	if (!s)
		return -ENOENT;
	if (q->dim != s->dim)
		return -EINVAL;
	fd_path(fd, dir);
	dl = strlen(dir);
	d = calloc(nembs + 1, sizeof(*d));
	idx = calloc(nembs + 1, sizeof(*idx));
	for (k = 0; k < nembs; k++) {
		struct emb *e = embs[k];

		if (e->space != s->space_id || strncmp(e->path, dir, dl) || e->path[dl] != '/')
			continue;
		d[n] = dist(s->metric, qv, e->v, s->dim);
		idx[n++] = k;
	}
	/* insertion sort by distance */
	for (i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && d[j] < d[j - 1]; j--) {
			float t = d[j];
			size_t ti = idx[j];

			d[j] = d[j - 1];
			d[j - 1] = t;
			idx[j] = idx[j - 1];
			idx[j - 1] = ti;
		}
	q->count = 0;
	for (i = 0; i < n && q->count < q->k; i++) {
		struct emb *e = embs[idx[i]];
		struct vexfs_search_result *o = &r[q->count];
		int stale = stat(e->path, &fst) || dv_of(&fst) != e->dv;
		const char *rel = e->path + dl + 1;
		uint32_t len = (uint32_t)strlen(rel);

		if (stale && (q->flags & VEXFS_SEARCH_NO_STALE))
			continue;
		memset(o, 0, sizeof(*o));
		o->ino = e->ino;
		o->generation = 1;
		o->offset = e->off;
		o->length = e->len;
		memcpy(&o->distance, &d[i], 4);
		o->flags = stale;
		if ((q->flags & VEXFS_SEARCH_PATHS) && used + len + 1 <= q->paths_size) {
			memcpy(paths + used, rel, len + 1);
			o->path_offset = used;
			o->path_length = len;
			used += len + 1;
		}
		q->count++;
	}
	free(d);
	free(idx);
	return 0;
}

/* ------------------------------------------------------------ automatic embeddings */

static struct policy *own_policy(uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < npols; i++)
		if (pols[i].ino == ino)
			return &pols[i];
	return NULL;
}

/*
 * The space of the policy in effect for the directory path (0: none): its
 * own, else the nearest ancestor's up to VEXFS_MOCK_ROOT.  *own gets the
 * directory's own entry, or NULL.
 */
static uint32_t policy_of(const char *path, struct policy **own)
{
	char p[PATH_MAX], *slash;
	struct policy *pol;
	struct stat st;
	int first;

	snprintf(p, sizeof(p), "%s", path);
	*own = NULL;
	for (first = 1;; first = 0) {
		pol = stat(p, &st) ? NULL : own_policy(st.st_ino);
		if (first)
			*own = pol;
		if (pol)
			return pol->space == POLICY_OFF ? 0 : pol->space;
		if (!strcmp(p, root()) || !(slash = strrchr(p, '/')) || slash == p)
			return 0;
		*slash = 0;
	}
}

static int beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && path[n] == '/';
}

static int auto_set(struct vexfs_auto *a, struct stat *st)
{
	struct vexfs_space_info *s = NULL;
	struct policy *pol;

	if (!S_ISDIR(st->st_mode))
		return -ENOTDIR;
	if ((a->flags & ~VEXFS_AUTO_OFF) || (a->name[0] && a->flags))
		return -EINVAL;
	if (a->name[0] && !(s = find_space(a->name)))
		return -ENOENT;
	pol = own_policy(st->st_ino);
	if (!s && !a->flags) {
		if (pol)
			*pol = pols[--npols];
		return 1;
	}
	if (!pol) {
		if (npols == sizeof(pols) / sizeof(pols[0]))
			return -ENOSPC;
		pol = &pols[npols++];
	}
	pol->ino = st->st_ino;
	pol->space = s ? s->space_id : POLICY_OFF;
	return 1;
}

static int auto_get(struct vexfs_auto *a, struct stat *st, const char *path)
{
	struct vexfs_space_info *s;
	struct policy *own;
	uint32_t id;

	if (!S_ISDIR(st->st_mode))
		return -ENOTDIR;
	if (a->flags || a->name[0])
		return -EINVAL;
	id = policy_of(path, &own);
	if (own && own->space == POLICY_OFF)
		a->flags |= VEXFS_AUTO_OFF;
	if (!own && id)
		a->flags |= VEXFS_AUTO_INHERITED;
	s = space_by_id(id);
	if (s)
		strcpy(a->name, s->name);
	return 0;
}

static int auto_status(struct vexfs_auto *a)
{
	const char *env = getenv("VEXFS_MOCK_STATUS");
	struct vexfs_space_info *s;
	unsigned long long stale, failed, flight, ino;
	unsigned int cars;
	int err, used = 0;
	uint32_t i;

	if (a->flags || !a->name[0])
		return -EINVAL;
	s = find_space(a->name);
	if (!s)
		return -ENOENT;
	a->embedded = count_in(s->space_id);
	if (env && sscanf(env, "%llu %llu %llu %u %d %llu %n", &stale, &failed, &flight,
			  &cars, &err, &ino, &used) >= 6) {
		a->stale = stale;
		a->failed = failed;
		a->in_flight = flight;
		a->sidecars = cars;
		a->last_errno = err;
		a->last_error_ino = ino;
		snprintf(a->last_error, sizeof(a->last_error), "%s", env + used);
		return 0;
	}
	for (i = 0; i < nmarks; i++)
		a->stale += marks[i].space == s->space_id;
	return 0;
}

static int auto_pending(struct vexfs_auto *a, struct stat *st, const char *path)
{
	static unsigned int calls;	/* of this process: VEXFS_MOCK_PENDING's step */
	const char *env = getenv("VEXFS_MOCK_PENDING");
	struct vexfs_space_info *s = NULL;
	unsigned long long stale, failed;
	unsigned int step = 0;
	uint32_t i;

	if (!S_ISDIR(st->st_mode))
		return -ENOTDIR;
	if (a->flags)
		return -EINVAL;
	if (a->name[0] && !(s = find_space(a->name)))
		return -ENOENT;
	if (env) {
		/* the entry of this call, or the last one */
		for (;;) {
			if (sscanf(env, "%llu %llu", &stale, &failed) != 2)
				return -EINVAL;
			if (step++ == calls || !strchr(env, ';'))
				break;
			env = strchr(env, ';') + 1;
		}
		calls++;
		a->stale = stale;
		a->failed = failed;
		return 0;
	}
	for (i = 0; i < nmarks; i++)
		a->stale += (!s || marks[i].space == s->space_id) &&
			beneath(marks[i].path, path);
	return 0;
}

static int auto_mark(struct vexfs_auto *a, struct stat *st, const char *path)
{
	const char *fail = getenv("VEXFS_MOCK_MARK_FAIL");
	struct vexfs_space_info *s;
	char dir[PATH_MAX];
	struct policy *own;
	uint32_t id, i;

	if (!S_ISREG(st->st_mode) || a->flags)
		return -EINVAL;
	if (fail && *fail && strstr(path, fail))
		return -EIO;
	if (a->name[0]) {
		s = find_space(a->name);
		if (!s)
			return -ENOENT;
		id = s->space_id;
	} else {
		snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = 0;
		id = policy_of(dir, &own);
		if (!id)
			return -ENOENT;
	}
	for (i = 0; i < nmarks; i++)
		if (marks[i].ino == st->st_ino && marks[i].space == id)
			return 0;
	marks = realloc(marks, (nmarks + 1) * sizeof(*marks));
	memset(&marks[nmarks], 0, sizeof(*marks));
	marks[nmarks].ino = st->st_ino;
	marks[nmarks].space = id;
	snprintf(marks[nmarks].path, sizeof(marks[nmarks].path), "%s", path);
	nmarks++;
	return 1;
}

static int mock_auto(int fd, struct vexfs_auto *a)
{
	const char *old = getenv("VEXFS_MOCK_NO_AUTO");
	size_t out = offsetof(struct vexfs_auto, stale);
	char path[PATH_MAX];
	struct stat st;

	if (old && *old)
		return -atoi(old);
	/* the output fields must come in zeroed, like reserved ones */
	if (a->size != sizeof(*a) || a->reserved0 || !zero(a->reserved, sizeof(a->reserved)) ||
	    strnlen(a->name, 64) == 64 ||
	    !zero((char *)a + out, offsetof(struct vexfs_auto, reserved) - out))
		return -EINVAL;
	fstat(fd, &st);
	fd_path(fd, path);
	switch (a->op) {
	case VEXFS_AUTO_SET:
		return auto_set(a, &st);
	case VEXFS_AUTO_GET:
		return auto_get(a, &st, path);
	case VEXFS_AUTO_STATUS:
		return auto_status(a);
	case VEXFS_AUTO_PENDING:
		return auto_pending(a, &st, path);
	case VEXFS_AUTO_MARK:
		return auto_mark(a, &st, path);
	}
	return -EINVAL;
}

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, ...);
	char path[PATH_MAX];
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	if (_IOC_TYPE(req) != VEXFS_IOC_MAGIC)
		return real(fd, req, arg);
	if (fd_path(fd, path) || !under_root(path)) {
		errno = ENOTTY;
		return -1;
	}
	load();
	switch (req) {
	case VEXFS_IOC_MANAGE:
		r = manage(fd, arg);
		break;
	case VEXFS_IOC_EMB_ADD:
	case VEXFS_IOC_EMB_GET:
	case VEXFS_IOC_EMB_UPDATE:
	case VEXFS_IOC_EMB_DELETE:
		r = emb(fd, req, arg);
		break;
	case VEXFS_IOC_SEARCH:
		r = search(fd, arg);
		break;
	case VEXFS_IOC_AUTO:
		r = mock_auto(fd, arg);
		break;
	default:
		r = -ENOTTY;
	}
	if (r == 1) {
		save();
		r = 0;
	}
	while (nembs)
		drop_emb(nembs - 1);
	free(embs);
	embs = NULL;
	free(marks);
	marks = NULL;
	nmarks = 0;
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

static void fake(const char *p, struct statfs *st)
{
	if (under_root(p))
		st->f_type = MAGIC;
}

int fstatfs(int fd, struct statfs *st)
{
	static int (*real)(int, struct statfs *);
	char path[PATH_MAX];
	int r;

	if (!real)
		real = (int (*)(int, struct statfs *))dlsym(RTLD_NEXT, "fstatfs");
	r = real(fd, st);
	if (!r && !fd_path(fd, path))
		fake(path, st);
	return r;
}

/* x86_64: struct statfs64 is struct statfs */
int fstatfs64(int fd, struct statfs64 *st)
{
	return fstatfs(fd, (struct statfs *)st);
}

int statfs(const char *p, struct statfs *st)
{
	static int (*real)(const char *, struct statfs *);
	char rp[PATH_MAX];
	int r;

	if (!real)
		real = (int (*)(const char *, struct statfs *))dlsym(RTLD_NEXT, "statfs");
	r = real(p, st);
	if (!r && realpath(p, rp))
		fake(rp, st);
	return r;
}

int statfs64(const char *p, struct statfs64 *st)
{
	return statfs(p, (struct statfs *)st);
}
