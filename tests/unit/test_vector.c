// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of vector spaces and embeddings (core/vx_vector.c): spaces, adding,
 * reading back bit for bit, updating, deleting, vid reuse, persistence of
 * vectors and graph across commit and reopen, a crash returning the last
 * commit, inode removal, drop + reap giving back every block, ENOSPC and a
 * corrupted column block.  After every scenario the volume is checked by
 * fsck.vexfs itself (built into this test, tools/lib/vx_check_vec.c).
 */
#include <signal.h>
#include <math.h>

/* fsck.vexfs's checker, in-process: fsck_run() */
#include "vx_fsck_inproc.h"

#include "vx_test.h"
#include "vx_vector.h"

#define S_REG	0100644
#define S_DIRM	0040755

static u64 rs = 0x243F6A8885A308D3ULL;
static u64 rnd64(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

/* A finite float in [-1, 1) with random low mantissa bits. */
static float rnd_float(void)
{
	return (float)((double)(rnd64() >> 11) / (double)(1ULL << 53) * 2.0 - 1.0);
}

static void fill_vecs(float *v, u64 n)
{
	for (u64 i = 0; i < n; i++)
		v[i] = rnd_float();
}

#define fsck_image_show(img, show) fsck_run(img, "-n", NULL, 0, show)
#define fsck_image(img) fsck_image_show(img, true)
#define CHECK_FSCK(img) CHECK_EQ(fsck_image(img), 0)

static int reopen(const char *img, struct vx_devfile **d, struct vx_fs **fs)
{
	vt_close(*d, *fs);
	*d = NULL;
	*fs = NULL;
	return vt_open(img, d, fs);
}

/* Unmount, check with fsck.vexfs, mount again. */
static int fsck_reopen(const char *img, struct vx_devfile **d, struct vx_fs **fs)
{
	vt_close(*d, *fs);
	*d = NULL;
	*fs = NULL;
	CHECK_FSCK(img);
	return vt_open(img, d, fs);
}

static int new_file(struct vx_fs *fs, u32 mode, u64 *ino)
{
	struct vx_inode_data in;
	int err;

	memset(&in, 0, sizeof(in));
	in.mode = mode;
	in.nlink = 1;
	in.data_version = 1;
	if ((mode & 0170000) == 0040000) {
		in.nlink = 2;
		in.next_dir_index = 2;
		in.parent = VX_ROOT_INO;
	}
	err = vx_inode_create(fs, &in);
	*ino = in.ino;
	if (!err) {
		/* named in the root directory, as fsck expects */
		struct vx_inode_data root;
		char name[32];

		snprintf(name, sizeof(name), "f%llu", (unsigned long long)in.ino);
		err = vx_inode_read(fs, VX_ROOT_INO, &root);
		if (!err)
			err = vx_dir_add(fs, &root, name, strlen(name), in.ino,
					 vx_mode_to_ftype(mode));
		if (!err && (mode & 0170000) == 0040000)
			root.nlink++;
		if (!err)
			err = vx_inode_write(fs, &root);
	}
	return err;
}

/* Unlink from the root directory and remove the inode. */
static int remove_file(struct vx_fs *fs, u64 ino)
{
	char name[32];
	int err;

	snprintf(name, sizeof(name), "f%llu", (unsigned long long)ino);
	err = vx_dir_remove(fs, VX_ROOT_INO, name, strlen(name));
	return err ? err : vx_inode_remove(fs, ino);
}

static int make_space(struct vx_fs *fs, const char *name, u32 dim, u32 metric, u32 *id)
{
	struct vx_space_desc d;
	int err;

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "%s", name);
	snprintf(d.model, sizeof(d.model), "test-model");
	d.dim = dim;
	d.elem_type = VX_ELEM_F32;
	d.metric = metric;
	err = vx_space_create(fs, &d);
	if (!err)
		*id = d.id;
	return err;
}

static void chunk(struct vx_embed *e, u64 off, u64 len, u64 dv)
{
	memset(e, 0, sizeof(*e));
	e->chunk_offset = off;
	e->chunk_length = len;
	e->data_version = dv;
}

/* n adjacent chunks of len bytes, numbered from first, data version 1. */
static void chunk_run(struct vx_embed *e, u64 n, u64 first, u64 len)
{
	for (u64 i = 0; i < n; i++)
		chunk(&e[i], (first + i) * len, len, 1);
}

/* A fresh volume on img with one regular file and one space. */
static int open_file_space(const char *img, struct vx_devfile **d, struct vx_fs **fs,
			   u64 *f, const char *name, u32 dim, u32 metric, u32 *sp)
{
	CHECK_EQ(vt_open(img, d, fs), 0);
	CHECK_EQ(new_file(*fs, S_REG, f), 0);
	return make_space(*fs, name, dim, metric, sp);
}

/* The stored vector of vid equals want bit for bit. */
static int vec_equal(struct vx_fs *fs, u32 space, u64 vid, const float *want, u32 dim)
{
	float *got = malloc((size_t)dim * 4);
	int err = vx_embed_read_vector(fs, space, vid, got);
	int same = !err && !memcmp(got, want, (size_t)dim * 4);

	if (err)
		fprintf(stderr, "read_vector(space %u, vid %llu) = %d\n", space,
			(unsigned long long)vid, err);
	free(got);
	return same;
}

static u64 live_count(struct vx_fs *fs, u32 space)
{
	struct vx_space_desc d;

	if (vx_space_get(fs, space, &d))
		return ~0ULL;
	return d.live_count;
}

/* ---------------------------------------------------------------- spaces */

static int t_spaces(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_space_desc sd;
	u32 a, b, c, id;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK(vx_space_name_valid("docs.v1_x-y"));
	CHECK(!vx_space_name_valid(""));
	CHECK(!vx_space_name_valid(".hidden"));
	CHECK(!vx_space_name_valid("a/b"));
	CHECK(!vx_space_name_valid("sp ace"));
	CHECK(!vx_space_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
	CHECK(vx_space_name_valid("012345678901234567890123456789012345678901234567890123456789012"));

	CHECK_EQ(make_space(fs, "alpha", 8, VX_METRIC_L2, &a), 0);
	CHECK_EQ(make_space(fs, "beta", 384, VX_METRIC_COSINE, &b), 0);
	CHECK_EQ(make_space(fs, "alpha", 8, VX_METRIC_L2, &c), -EEXIST);
	CHECK_EQ(make_space(fs, "bad/name", 8, VX_METRIC_L2, &c), -EINVAL);
	CHECK_EQ(make_space(fs, "d0", 0, VX_METRIC_L2, &c), -EINVAL);
	CHECK_EQ(make_space(fs, "dbig", VX_MAX_DIM + 1, VX_METRIC_L2, &c), -EINVAL);
	CHECK_EQ(make_space(fs, "m0", 8, 0, &c), -EINVAL);
	CHECK_EQ(make_space(fs, "m9", 8, 9, &c), -EINVAL);
	memset(&sd, 0, sizeof(sd));
	snprintf(sd.name, sizeof(sd.name), "mm");
	sd.dim = 4;
	sd.metric = VX_METRIC_IP;
	sd.hnsw_m = 1;
	CHECK_EQ(vx_space_create(fs, &sd), -EINVAL);
	sd.hnsw_m = 101;
	CHECK_EQ(vx_space_create(fs, &sd), -EINVAL);
	sd.hnsw_m = 0;
	sd.hnsw_ef_search = 10001;
	CHECK_EQ(vx_space_create(fs, &sd), -EINVAL);
	sd.hnsw_ef_search = 0;
	sd.elem_type = 2;
	CHECK_EQ(vx_space_create(fs, &sd), -EINVAL);
	sd.elem_type = 0;
	CHECK_EQ(vx_space_create(fs, &sd), -EINVAL);
	sd.elem_type = VX_ELEM_F32;
	CHECK_EQ(vx_space_create(fs, &sd), 0);
	c = sd.id;
	CHECK(a != b && b != c && a != c);
	CHECK_EQ(sd.hnsw_m, 16);
	CHECK_EQ(sd.hnsw_ef_construction, 200);
	CHECK_EQ(sd.hnsw_ef_search, 64);

	CHECK_EQ(vx_space_lookup(fs, "beta", &id), 0);
	CHECK_EQ(id, b);
	CHECK_EQ(vx_space_lookup(fs, "gamma", &id), -ENOENT);
	CHECK_EQ(vx_space_get(fs, b, &sd), 0);
	CHECK(!strcmp(sd.name, "beta") && !strcmp(sd.model, "test-model"));
	CHECK_EQ(sd.dim, 384);
	CHECK_EQ(sd.metric, VX_METRIC_COSINE);
	CHECK_EQ(sd.live_count, 0);
	CHECK_EQ(vx_space_get(fs, 999, &sd), -ENOENT);
	CHECK_EQ(vx_space_set_ef(fs, b, 0), -EINVAL);
	CHECK_EQ(vx_space_set_ef(fs, b, 123), 0);

	/* listing in id order */
	{
		u32 after = 0, n = 0, ids[4];

		while (!vx_space_next(fs, after, &sd)) {
			CHECK(n < 4);
			ids[n++] = sd.id;
			after = sd.id;
		}
		CHECK_EQ(n, 3);
		CHECK(ids[0] < ids[1] && ids[1] < ids[2]);
	}
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(reopen(img, &d, &fs), 0);
	CHECK_EQ(vx_space_lookup(fs, "alpha", &id), 0);
	CHECK_EQ(id, a);
	CHECK_EQ(vx_space_get(fs, b, &sd), 0);
	CHECK_EQ(sd.hnsw_ef_search, 123);
	/* a dropped space frees its name at once */
	CHECK_EQ(vx_space_drop(fs, a), 0);
	CHECK_EQ(vx_space_lookup(fs, "alpha", &id), -ENOENT);
	CHECK_EQ(vx_space_get(fs, a, &sd), -ENOENT);
	CHECK_EQ(vx_space_next_dropped(fs, 0, &id), 0);
	CHECK_EQ(id, a);
	CHECK_EQ(make_space(fs, "alpha", 16, VX_METRIC_L2, &id), 0);
	CHECK(id != a);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_FSCK(img);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- add/read */

static int add_read_dims(u32 bs)
{
	static const u32 dims[] = { 1, 384, 1536, 4096 };
	char *img = new_image(bs == 1024 ? 65536 : 16384, bs);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 f1, f2;
	u32 sp[4];

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f1), 0);
	CHECK_EQ(new_file(fs, S_REG, &f2), 0);
	for (int di = 0; di < 4; di++) {
		u32 dim = dims[di], n = 7;
		char name[16];
		float *v = malloc((size_t)n * dim * 4);
		struct vx_embed e[7], out[8];
		u32 total;

		snprintf(name, sizeof(name), "dim%u", dim);
		CHECK_EQ(make_space(fs, name, dim, VX_METRIC_L2, &sp[di]), 0);
		fill_vecs(v, (u64)n * dim);
		/* negative zero and a denormal must come back bit for bit too */
		v[0] = -0.0f;
		if (dim > 1)
			v[1] = 1e-40f;
		for (u32 i = 0; i < n; i++)
			chunk(&e[i], (u64)(n - i) * 100, 100, 1);
		CHECK_EQ(vx_embed_add(fs, f1, sp[di], e, v, 4, 0), 0);
		CHECK_EQ(vx_embed_add(fs, f2, sp[di], e + 4, v + (size_t)4 * dim, 3, 0), 0);
		for (u32 i = 0; i < n; i++) {
			CHECK_EQ(e[i].vid, i);	/* lowest free vids, in order */
			CHECK(vec_equal(fs, sp[di], e[i].vid, v + (size_t)i * dim, dim));
		}
		CHECK_EQ(vx_embed_list(fs, f1, sp[di], out, 8, &total), 0);
		CHECK_EQ(total, 4);
		/* ordered by chunk offset */
		for (u32 i = 0; i < 4; i++) {
			CHECK_EQ(out[i].chunk_offset, e[3 - i].chunk_offset);
			CHECK_EQ(out[i].vid, e[3 - i].vid);
			CHECK_EQ(out[i].flags, 0);
		}
		CHECK_EQ(vx_embed_lookup(fs, f2, sp[di], e[5].vid, &out[0]), 0);
		CHECK_EQ(out[0].chunk_offset, e[5].chunk_offset);
		CHECK_EQ(vx_embed_lookup(fs, f1, sp[di], e[5].vid, &out[0]), -ENOENT);
		CHECK_EQ(vx_space_vid_owner(fs, sp[di], e[5].vid), f2);
		CHECK_EQ(live_count(fs, sp[di]), 7);
		CHECK_EQ(vx_fs_commit(fs), 0);
		CHECK_EQ(reopen(img, &d, &fs), 0);
		for (u32 i = 0; i < n; i++)
			CHECK(vec_equal(fs, sp[di], e[i].vid, v + (size_t)i * dim, dim));
		CHECK_EQ(vx_space_vid_owner(fs, sp[di], e[1].vid), f1);
		free(v);
	}
	/* every space of a file: space 0 */
	{
		struct vx_embed out[40];
		u32 total;

		CHECK_EQ(vx_embed_list(fs, f1, 0, out, 40, &total), 0);
		CHECK_EQ(total, 16);
		CHECK_EQ(vx_embed_list(fs, f1, 0, NULL, 0, &total), 0);
		CHECK_EQ(total, 16);
	}
	vt_close(d, fs);
	CHECK_FSCK(img);
	done_image(img);
	return 0;
}

static int t_add_read_4k(void)
{
	return add_read_dims(4096);
}

static int t_add_read_1k(void)
{
	return add_read_dims(1024);
}

static int t_invalid(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_embed e[2];
	float v[8] = { 0 };
	u64 f, dir;
	u32 sp;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(new_file(fs, S_DIRM, &dir), 0);
	CHECK_EQ(make_space(fs, "s", 4, VX_METRIC_L2, &sp), 0);
	chunk(&e[0], 0, 10, 1);
	chunk(&e[1], 10, 10, 1);
	CHECK_EQ(vx_embed_add(fs, dir, sp, e, v, 1, 0), -EISDIR);
	CHECK_EQ(vx_embed_add(fs, 12345, sp, e, v, 1, 0), -ENOENT);
	CHECK_EQ(vx_embed_add(fs, f, 77, e, v, 1, 0), -ENOENT);
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 0, 0), -EINVAL);
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 1, 0x80), -EINVAL);
	chunk(&e[0], ~0ULL - 5, 10, 1);
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 1, 0), -EINVAL);
	chunk(&e[0], 0, 10, 1);
	e[1] = e[0];
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 2, 0), -EEXIST);	/* twice in the batch */
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 1, 0), 0);
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 1, 0), -EEXIST);
	CHECK_EQ(vx_embed_update(fs, f, sp, &e[1], v, 1), 0);
	chunk(&e[1], 5, 5, 1);
	CHECK_EQ(vx_embed_update(fs, f, sp, &e[1], v, 1), -ENOENT);
	CHECK_EQ(vx_embed_delete(fs, f, sp, &e[1], 1), -ENOENT);
	CHECK_EQ(vx_embed_read_vector(fs, sp, 5, v), -ENOENT);
	CHECK_EQ(vx_embed_delete(fs, 12345, sp, NULL, 0), -ENOENT);
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(live_count(fs, sp), 1);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_FSCK(img);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- change */

static int t_update_delete_reuse(void)
{
	char *img = new_image(8192, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_inode_data in;
	struct vx_embed e[6], out[8];
	float v[6 * 16], w[6 * 16];
	u32 sp, total;
	u64 f, g;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(new_file(fs, S_REG, &g), 0);
	CHECK_EQ(make_space(fs, "s", 16, VX_METRIC_COSINE, &sp), 0);
	fill_vecs(v, 6 * 16);
	chunk_run(e, 6, 0, 10);
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 6, 0), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);

	/* update two: new vectors, new data version; same vids */
	fill_vecs(w, 2 * 16);
	chunk(&out[0], 20, 10, 2);
	chunk(&out[1], 40, 10, 2);
	CHECK_EQ(vx_embed_update(fs, f, sp, out, w, 2), 0);
	CHECK_EQ(out[0].vid, e[2].vid);
	CHECK_EQ(out[1].vid, e[4].vid);
	CHECK(vec_equal(fs, sp, e[2].vid, w, 16));
	CHECK(vec_equal(fs, sp, e[4].vid, w + 16, 16));
	CHECK(vec_equal(fs, sp, e[3].vid, v + 3 * 16, 16));
	/* stale: the file's data version moved on */
	CHECK_EQ(vx_inode_read(fs, f, &in), 0);
	in.data_version = 2;
	CHECK_EQ(vx_inode_write(fs, &in), 0);
	CHECK_EQ(vx_embed_list(fs, f, sp, out, 8, &total), 0);
	CHECK_EQ(total, 6);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(out[i].flags, (i == 2 || i == 4) ? 0 : VX_EMBED_STALE);
	CHECK_EQ(vx_embed_lookup(fs, f, sp, e[0].vid, &out[0]), 0);
	CHECK(out[0].data_version != in.data_version);

	/* delete two chunks; their vids are reused lowest first */
	CHECK_EQ(vx_embed_delete(fs, f, sp, &e[3], 1), 0);
	CHECK_EQ(vx_embed_delete(fs, f, sp, &e[1], 1), 0);
	CHECK_EQ(live_count(fs, sp), 4);
	CHECK_EQ(vx_embed_read_vector(fs, sp, e[1].vid, w), -ENOENT);
	CHECK_EQ(vx_space_vid_owner(fs, sp, e[1].vid), 0);
	chunk(&out[0], 0, 5, 2);
	chunk(&out[1], 0, 6, 2);
	chunk(&out[2], 0, 7, 2);
	fill_vecs(w, 3 * 16);
	CHECK_EQ(vx_embed_add(fs, g, sp, out, w, 3, 0), 0);
	CHECK_EQ(out[0].vid, e[1].vid);
	CHECK_EQ(out[1].vid, e[3].vid);
	CHECK_EQ(out[2].vid, 6);
	CHECK_EQ(vx_space_vid_owner(fs, sp, e[1].vid), g);
	CHECK(vec_equal(fs, sp, 6, w + 32, 16));
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(fsck_reopen(img, &d, &fs), 0);

	/* REPLACE_ALL: the old chunks go, duplicates of them are fine */
	for (int i = 0; i < 3; i++)
		chunk(&out[i], i * 10, 10, 3);
	fill_vecs(w, 3 * 16);
	CHECK_EQ(vx_embed_add(fs, f, sp, out, w, 3, 0), -EEXIST);
	CHECK_EQ(vx_embed_add(fs, f, sp, out, w, 3, VX_EMBED_REPLACE_ALL), 0);
	CHECK_EQ(vx_embed_list(fs, f, sp, e, 6, &total), 0);
	CHECK_EQ(total, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(e[i].data_version, 3);
		CHECK(vec_equal(fs, sp, e[i].vid, w + i * 16, 16));
	}
	/* in pages: after a chunk (or a key between chunks) */
	{
		struct vx_embed pg[2], after = e[0];

		CHECK_EQ(vx_embed_list_after(fs, f, sp, &after, pg, 2, &total), 2);
		CHECK_EQ(total, 3);
		CHECK(pg[0].chunk_offset == 10 && pg[1].chunk_offset == 20);
		CHECK_EQ(pg[1].vid, e[2].vid);
		after.chunk_length = 11;	/* (0, 11): between chunks */
		CHECK_EQ(vx_embed_list_after(fs, f, sp, &after, pg, 1, &total), 1);
		CHECK_EQ(pg[0].chunk_offset, 10);
		CHECK_EQ(vx_embed_list_after(fs, f, sp, &e[2], pg, 2, &total), 0);
		CHECK_EQ(total, 3);
		CHECK_EQ(vx_embed_list_after(fs, f, 0, &e[2], pg, 2, &total), -EINVAL);
	}
	CHECK_EQ(live_count(fs, sp), 6);
	/* delete everything of f in the space, then of g in every space */
	CHECK_EQ(vx_embed_delete(fs, f, sp, NULL, 0), 0);
	CHECK_EQ(vx_embed_list(fs, f, sp, e, 6, &total), 0);
	CHECK_EQ(total, 0);
	CHECK_EQ(vx_embed_delete(fs, g, 0, NULL, 0), 0);
	CHECK_EQ(live_count(fs, sp), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_FSCK(img);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- graph */

#define PDIM	24
#define PN	600

static int link_all(struct vx_fs *fs, u32 sp)
{
	struct vx_index *idx;
	struct vx_index_scratch *s;
	u32 linked;
	int err;

	err = vx_space_index(fs, sp, &idx);
	if (err)
		return err;
	s = vx_index_scratch_alloc(idx, 200);
	if (!s)
		return -ENOMEM;
	err = vx_index_link_pending(idx, s, ~0U, &linked);
	vx_index_scratch_free(s);
	return err ? err : vx_space_save_graph(fs, sp);
}

/* k nearest neighbours of each query, through the HNSW graph. */
static int search_all(struct vx_fs *fs, u32 sp, const float *q, int nq, u64 *res, bool exact)
{
	struct vx_index *idx;
	struct vx_index_scratch *s;
	struct vx_index_hit hits[10];
	int err = vx_space_index(fs, sp, &idx);

	if (err)
		return err;
	s = vx_index_scratch_alloc(idx, 64);
	if (!s)
		return -ENOMEM;
	for (int i = 0; i < nq && !err; i++) {
		u32 nh = 0;

		if (exact)
			err = vx_index_search_exact(idx, s, q + i * PDIM, 10, hits, &nh);
		else
			err = vx_index_search(idx, s, q + i * PDIM, 10, 64, hits, &nh);
		for (u32 j = 0; j < 10; j++)
			res[i * 10 + j] = j < nh ? hits[j].vid : ~0ULL;
	}
	vx_index_scratch_free(s);
	return err;
}

static int t_graph_persists(void)
{
	char *img = new_image(16384, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_index *idx;
	struct vx_index_stats st, st2;
	struct vx_embed *e = calloc(PN, sizeof(*e));
	float *v = malloc(PN * PDIM * 4), q[8 * PDIM];
	u64 r1[80], r2[80], x1[80], x2[80];
	u64 files[4];
	u32 sp;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(make_space(fs, "g", PDIM, VX_METRIC_L2, &sp), 0);
	fill_vecs(v, PN * PDIM);
	fill_vecs(q, 8 * PDIM);
	for (int f = 0; f < 4; f++) {
		CHECK_EQ(new_file(fs, S_REG, &files[f]), 0);
		for (int i = 0; i < PN / 4; i++)
			chunk(&e[f * (PN / 4) + i], i * 4096, 4096, 1);
		CHECK_EQ(vx_embed_add(fs, files[f], sp, e + f * (PN / 4),
				      v + (size_t)f * (PN / 4) * PDIM, PN / 4, 0), 0);
	}
	CHECK_EQ(link_all(fs, sp), 0);
	CHECK_EQ(vx_space_index(fs, sp, &idx), 0);
	vx_index_get_stats(idx, &st);
	CHECK_EQ(st.indexed, PN);
	CHECK_EQ(st.pending, 0);
	/* delete some linked nodes: neighbours' lists are repaired and saved */
	CHECK_EQ(vx_embed_delete(fs, files[1], sp, e + PN / 4 + 3, 5), 0);
	CHECK_EQ(vx_embed_update(fs, files[2], sp, e + PN / 2, v, 2), 0);
	CHECK_EQ(link_all(fs, sp), 0);
	CHECK_EQ(search_all(fs, sp, q, 8, r1, false), 0);
	CHECK_EQ(search_all(fs, sp, q, 8, x1, true), 0);
	vx_index_get_stats(idx, &st);
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(fsck_reopen(img, &d, &fs), 0);

	CHECK_EQ(vx_space_index(fs, sp, &idx), 0);
	vx_index_get_stats(idx, &st2);
	CHECK_EQ(st2.live, PN - 5);
	CHECK_EQ(st2.indexed, st.indexed);
	CHECK_EQ(st2.pending, 0);
	CHECK_EQ(st2.entry_vid, st.entry_vid);
	CHECK_EQ(st2.max_level, st.max_level);
	CHECK_EQ(search_all(fs, sp, q, 8, r2, false), 0);
	CHECK_EQ(search_all(fs, sp, q, 8, x2, true), 0);
	CHECK(!memcmp(r1, r2, sizeof(r1)));
	CHECK(!memcmp(x1, x2, sizeof(x1)));
	/* loaded from disk, every node's links equal what was saved */
	CHECK_EQ(vx_index_next_dirty(idx, 0), VX_VID_NONE);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	free(e);
	free(v);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- crash */

struct snap {
	u64 vid[64];
	float vec[64][8];
	u32 n;
};

static int take_snap(struct vx_fs *fs, u64 ino, u32 sp, struct snap *s)
{
	struct vx_embed e[64];

	memset(s, 0, sizeof(*s));
	CHECK_EQ(vx_embed_list(fs, ino, sp, e, 64, &s->n), 0);
	for (u32 i = 0; i < s->n; i++) {
		s->vid[i] = e[i].vid;
		CHECK_EQ(vx_embed_read_vector(fs, sp, e[i].vid, s->vec[i]), 0);
	}
	return 0;
}

static int t_crash(void)
{
	char *img = new_image(8192, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_embed e[20];
	struct vx_index *idx;
	struct vx_index_stats st;
	struct snap a, b;
	float v[20 * 8];
	u64 f;
	u32 sp, sp2;

	CHECK_EQ(open_file_space(img, &d, &fs, &f, "c", 8, VX_METRIC_IP, &sp), 0);
	fill_vecs(v, 20 * 8);
	chunk_run(e, 20, 0, 1);
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 10, 0), 0);
	CHECK_EQ(link_all(fs, sp), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(take_snap(fs, f, sp, &a), 0);
	u64 free_before = vx_fs_free_blocks(fs);

	/* uncommitted: more adds, an update, deletes, linking, a new space */
	CHECK_EQ(vx_embed_add(fs, f, sp, e + 10, v + 80, 10, 0), 0);
	CHECK_EQ(vx_embed_update(fs, f, sp, e, v + 100, 2), 0);
	CHECK_EQ(vx_embed_delete(fs, f, sp, e + 4, 3), 0);
	CHECK_EQ(link_all(fs, sp), 0);
	CHECK_EQ(make_space(fs, "c2", 8, VX_METRIC_IP, &sp2), 0);
	CHECK_EQ(vx_embed_add(fs, f, sp2, e, v, 5, 0), 0);
	vt_close(d, fs);	/* crash */

	CHECK_FSCK(img);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(vx_fs_free_blocks(fs), free_before);
	CHECK_EQ(take_snap(fs, f, sp, &b), 0);
	CHECK_EQ(a.n, b.n);
	CHECK(!memcmp(&a, &b, sizeof(a)));
	CHECK_EQ(vx_space_lookup(fs, "c2", &sp2), -ENOENT);
	CHECK_EQ(vx_space_index(fs, sp, &idx), 0);
	vx_index_get_stats(idx, &st);
	CHECK_EQ(st.live, 10);
	CHECK_EQ(st.indexed, 10);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- model */

#define MF	6	/* files */
#define MDIM	40
#define MMAX	4000

struct mrec {
	bool live;
	u64 ino;
	u64 off;
	u64 vid;
	float v[MDIM];
};

static struct mrec model[MMAX];

static int check_model(struct vx_fs *fs, u32 sp, const u64 *files)
{
	struct vx_embed *out = malloc(MMAX * sizeof(*out));
	u64 live = 0;

	for (int f = 0; f < MF; f++) {
		u32 total, n = 0;

		CHECK_EQ(vx_embed_list(fs, files[f], sp, out, MMAX, &total), 0);
		for (int i = 0; i < MMAX; i++) {
			if (!model[i].live || model[i].ino != files[f])
				continue;
			/* list is sorted by offset; model offsets are unique per file */
			bool found = false;

			for (u32 j = 0; j < total; j++) {
				if (out[j].chunk_offset == model[i].off) {
					CHECK_EQ(out[j].vid, model[i].vid);
					found = true;
				}
			}
			CHECK(found);
			CHECK(vec_equal(fs, sp, model[i].vid, model[i].v, MDIM));
			n++;
		}
		CHECK_EQ(total, n);
		live += n;
	}
	CHECK_EQ(live_count(fs, sp), live);
	free(out);
	return 0;
}

static int t_model(void)
{
	char *img = new_image(32768, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 files[MF];
	u32 sp, next = 0;
	long rounds = scale(12);

	memset(model, 0, sizeof(model));
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(make_space(fs, "model", MDIM, VX_METRIC_L2, &sp), 0);
	for (int f = 0; f < MF; f++)
		CHECK_EQ(new_file(fs, S_REG, &files[f]), 0);
	for (long r = 0; r < rounds; r++) {
		/* a batch of adds to one file */
		int f = rnd64() % MF, n = 1 + rnd64() % 200;
		struct vx_embed e[200];
		float v[200 * MDIM];

		if (next + n > MMAX)
			n = MMAX - next;
		fill_vecs(v, (u64)n * MDIM);
		chunk_run(e, n, next, 512);
		if (n) {
			CHECK_EQ(vx_embed_add(fs, files[f], sp, e, v, n, 0), 0);
			for (int i = 0; i < n; i++) {
				struct mrec *m = &model[next + i];

				m->live = true;
				m->ino = files[f];
				m->off = e[i].chunk_offset;
				m->vid = e[i].vid;
				memcpy(m->v, v + i * MDIM, sizeof(m->v));
			}
			next += n;
		}
		/* random deletes, some batched */
		for (int k = 0; k < 40; k++) {
			int i = rnd64() % (next ? next : 1);
			struct vx_embed c;

			if (!model[i].live)
				continue;
			chunk(&c, model[i].off, 512, 1);
			CHECK_EQ(vx_embed_delete(fs, model[i].ino, sp, &c, 1), 0);
			model[i].live = false;
		}
		/* some updates */
		for (int k = 0; k < 10; k++) {
			int i = rnd64() % (next ? next : 1);
			struct vx_embed c;

			if (!model[i].live)
				continue;
			chunk(&c, model[i].off, 512, 2);
			fill_vecs(model[i].v, MDIM);
			CHECK_EQ(vx_embed_update(fs, model[i].ino, sp, &c, model[i].v, 1), 0);
			CHECK_EQ(c.vid, model[i].vid);
		}
		if (r % 3 == 1)
			CHECK_EQ(link_all(fs, sp), 0);
		CHECK_EQ(check_model(fs, sp, files), 0);
		CHECK_EQ(vx_fs_commit(fs), 0);
		if (r % 4 == 3) {
			CHECK_EQ(fsck_reopen(img, &d, &fs), 0);
			CHECK_EQ(check_model(fs, sp, files), 0);
		}
	}
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(fsck_reopen(img, &d, &fs), 0);
	CHECK_EQ(check_model(fs, sp, files), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- inode */

static int t_inode_remove(void)
{
	char *img = new_image(8192, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_embed e[700];
	float *v = malloc(700 * 8 * 4);
	u32 s1, s2, total;
	u64 f, g;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(new_file(fs, S_REG, &g), 0);
	CHECK_EQ(make_space(fs, "one", 8, VX_METRIC_L2, &s1), 0);
	CHECK_EQ(make_space(fs, "two", 8, VX_METRIC_COSINE, &s2), 0);
	fill_vecs(v, 700 * 8);
	chunk_run(e, 700, 0, 100);
	/* more than one removal batch in s1 */
	CHECK_EQ(vx_embed_add(fs, f, s1, e, v, 700, 0), 0);
	CHECK_EQ(vx_embed_add(fs, f, s2, e, v, 20, 0), 0);
	CHECK_EQ(vx_embed_add(fs, g, s2, e, v, 5, 0), 0);
	CHECK_EQ(link_all(fs, s1), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(remove_file(fs, f), 0);
	CHECK_EQ(live_count(fs, s1), 0);
	CHECK_EQ(live_count(fs, s2), 5);
	CHECK_EQ(vx_space_vid_owner(fs, s2, 0), 0);
	CHECK_EQ(vx_space_vid_owner(fs, s2, 20), g);
	CHECK_EQ(vx_embed_list(fs, g, s2, e, 5, &total), 0);
	CHECK_EQ(total, 5);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_FSCK(img);
	free(v);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- drop */

static int t_drop_reap(void)
{
	char *img = new_image(16384, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_embed *e = calloc(1000, sizeof(*e));
	float *v = malloc(1000 * 300 * 4);
	u64 f, g, free0;
	u32 sp, keep, id;
	bool done = false;
	int steps = 0;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(new_file(fs, S_REG, &g), 0);
	CHECK_EQ(make_space(fs, "keep", 4, VX_METRIC_L2, &keep), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	free0 = vx_fs_free_blocks(fs);

	CHECK_EQ(make_space(fs, "big", 300, VX_METRIC_COSINE, &sp), 0);
	fill_vecs(v, 1000 * 300);
	chunk_run(e, 1000, 0, 64);
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 600, 0), 0);
	CHECK_EQ(vx_embed_add(fs, g, sp, e, v + 600 * 300, 400, 0), 0);
	CHECK_EQ(vx_embed_add(fs, g, keep, e, v, 3, 0), 0);
	CHECK_EQ(link_all(fs, sp), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK(vx_fs_free_blocks(fs) + 300 < free0);
	CHECK_EQ(fsck_reopen(img, &d, &fs), 0);

	CHECK_EQ(vx_space_drop(fs, sp), 0);
	CHECK_EQ(vx_space_drop(fs, sp), -ENOENT);
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(fsck_reopen(img, &d, &fs), 0);	/* dropped, nothing reaped yet */
	/* the file's listing no longer shows the dropped space */
	{
		u32 total;

		CHECK_EQ(vx_embed_list(fs, g, 0, e, 1000, &total), 0);
		CHECK_EQ(total, 3);
	}
	CHECK_EQ(vx_space_next_dropped(fs, 0, &id), 0);
	CHECK_EQ(id, sp);
	while (!done) {
		CHECK_EQ(vx_space_reap(fs, sp, 97, &done), 0);
		CHECK_EQ(vx_fs_commit(fs), 0);
		if (++steps % 5 == 0) {
			/* resumes after a remount, consistent in between */
			CHECK_EQ(fsck_reopen(img, &d, &fs), 0);
		}
		CHECK(steps < 1000);
	}
	CHECK(steps > 10);
	CHECK_EQ(vx_space_next_dropped(fs, 0, &id), -ENOENT);
	CHECK_EQ(vx_space_get(fs, keep, &(struct vx_space_desc){ 0 }), 0);
	/*
	 * The other space's columns (written after free0 was taken) stay
	 * until it is dropped too, even with no embedding left.
	 */
	CHECK_EQ(vx_embed_delete(fs, g, 0, NULL, 0), 0);
	CHECK_EQ(live_count(fs, keep), 0);
	CHECK_EQ(vx_space_drop(fs, keep), 0);
	CHECK_EQ(vx_space_reap(fs, keep, 1000, &done), 0);
	CHECK(done);
	CHECK_EQ(make_space(fs, "keep", 4, VX_METRIC_L2, &keep), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	/* pinned blocks become free with the next commit */
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(vx_fs_free_blocks(fs), free0);
	vt_close(d, fs);
	CHECK_FSCK(img);
	free(e);
	free(v);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- enospc */

/* Add n random vectors of dim (v has room) for 10-byte chunks from first. */
static int add_random(struct vx_fs *fs, u64 f, u32 sp, struct vx_embed *e,
		      float *v, u32 n, u32 dim, u64 first)
{
	fill_vecs(v, (u64)n * dim);
	chunk_run(e, n, first, 10);
	return vx_embed_add(fs, f, sp, e, v, n, 0);
}

static int t_enospc(void)
{
	char *img = new_image(1200, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_embed e[64];
	float *v = malloc(64 * 2048 * 4);
	u32 sp, total;
	u64 f, added = 0;
	int err = 0, i;

	CHECK_EQ(open_file_space(img, &d, &fs, &f, "full", 2048, VX_METRIC_L2, &sp), 0);
	for (i = 0; i < 1000; i++) {
		err = add_random(fs, f, sp, e, v, 64, 2048, added);
		if (err)
			break;
		added += 64;
		if (i % 3 == 2)
			CHECK_EQ(vx_fs_commit(fs), 0);
	}
	CHECK_EQ(err, -ENOSPC);
	CHECK(added > 0);
	CHECK_EQ(vx_fs_failed(fs), 0);
	/* nothing of the failed batch is there */
	CHECK_EQ(vx_embed_list(fs, f, sp, NULL, 0, &total), 0);
	CHECK_EQ(total, added);
	CHECK_EQ(live_count(fs, sp), added);
	/* smaller batches still fit until they do not */
	for (;;) {
		chunk(&e[0], (added + 1) * 10, 10, 1);
		err = vx_embed_add(fs, f, sp, e, v, 1, 0);
		if (err)
			break;
		added++;
	}
	CHECK_EQ(err, -ENOSPC);
	CHECK_EQ(vx_fs_failed(fs), 0);
	/* deletes proceed on the full volume */
	CHECK_EQ(vx_embed_delete(fs, f, sp, e, 0), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_FSCK(img);
	free(v);
	done_image(img);
	return 0;
}

/*
 * One call with the largest batch the ABI allows fits a small volume: the
 * reservation counts one file's EMBED items as a run sharing its leaves,
 * not a whole tree path per item (which asked for gigabytes).
 */
static int t_big_batch(void)
{
	const u32 n = 65536, dim = 2;
	char *img = new_image(16384, 4096);	/* 64 MiB */
	struct vx_embed *e = calloc(n, sizeof(*e));
	float *v = malloc((size_t)n * dim * 4);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u32 sp, total, round;
	u64 f;

	CHECK_EQ(open_file_space(img, &d, &fs, &f, "big", dim, VX_METRIC_L2, &sp), 0);
	for (round = 0; round < 2; round++) {
		fill_vecs(v, (u64)n * dim);
		chunk_run(e, n, round, 10);
		CHECK_EQ(vx_embed_add(fs, f, sp, e, v, n, round ? VX_EMBED_REPLACE_ALL : 0), 0);
		CHECK_EQ(vx_fs_commit(fs), 0);
		CHECK_EQ(vx_embed_list(fs, f, sp, NULL, 0, &total), 0);
		CHECK_EQ(total, n);
		CHECK_EQ(live_count(fs, sp), n);
		CHECK(vec_equal(fs, sp, e[0].vid, v, dim));
		CHECK(vec_equal(fs, sp, e[n - 1].vid, v + (u64)(n - 1) * dim, dim));
	}
	CHECK_EQ(fsck_reopen(img, &d, &fs), 0);
	CHECK_EQ(vx_embed_delete(fs, f, sp, NULL, 0), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(live_count(fs, sp), 0);
	vt_close(d, fs);
	CHECK_FSCK(img);
	free(e);
	free(v);
	done_image(img);
	return 0;
}

/* ENOSPC in the middle of a graph save is not a failure either. */
static int t_enospc_crash_consistent(void)
{
	char *img = new_image(1200, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_embed e[32];
	float *v = malloc(32 * 1024 * 4);
	u32 sp;
	u64 f, added = 0;
	int err;

	CHECK_EQ(open_file_space(img, &d, &fs, &f, "full", 1024, VX_METRIC_L2, &sp), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	for (;;) {
		err = add_random(fs, f, sp, e, v, 32, 1024, added);
		if (err)
			break;
		added += 32;
	}
	CHECK_EQ(err, -ENOSPC);
	err = link_all(fs, sp);
	CHECK(err == 0 || err == -ENOSPC);
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(fsck_reopen(img, &d, &fs), 0);
	CHECK_EQ(live_count(fs, sp), added);
	vt_close(d, fs);
	free(v);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- corrupt */

static int t_corrupt_block(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_embed e[16];
	struct vx_index *idx;
	struct vx_blockptr ptr;
	struct vx_ckey k;
	float v[16 * 512], got[512];
	u32 sp, size;
	u64 f, blocknr;
	int fd;
	u8 byte;

	CHECK_EQ(open_file_space(img, &d, &fs, &f, "c", 512, VX_METRIC_L2, &sp), 0);
	fill_vecs(v, 16 * 512);
	chunk_run(e, 16, 0, 1);
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 16, 0), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	/* block 1 of VECTORS holds vids 2 and 3 (2 KiB each) */
	k.objectid = VX_SPACE_OBJID(sp);
	k.type = VX_ITEM_VBLOCK;
	k.offset = VX_VBLOCK_OFFSET(VX_VCOL_VECTORS, 1);
	CHECK_EQ(vx_item_lookup(fs, VX_TREE_FS, &k, &ptr, sizeof(ptr), &size), 0);
	blocknr = le64_to_cpu(ptr.blocknr);
	vt_close(d, fs);
	CHECK_FSCK(img);

	fd = open(img, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, &byte, 1, blocknr * 4096 + 100), 1);
	byte ^= 0x40;
	CHECK_EQ(pwrite(fd, &byte, 1, blocknr * 4096 + 100), 1);
	close(fd);

	CHECK(fsck_image_show(img, false) != 0);	/* fsck sees the checksum mismatch */
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	vx_user_quiet = 1;
	CHECK_EQ(vx_embed_read_vector(fs, sp, 2, got), -EUCLEAN);
	CHECK_EQ(vx_embed_read_vector(fs, sp, 3, got), -EUCLEAN);
	CHECK(vec_equal(fs, sp, 4, v + 4 * 512, 512));
	CHECK_EQ(vx_space_index(fs, sp, &idx), -EUCLEAN);
	/* a change needing the index fails cleanly, without failing the volume */
	CHECK_EQ(vx_embed_add(fs, f, sp, e, v, 1, VX_EMBED_REPLACE_ALL), -EUCLEAN);
	vx_user_quiet = 0;
	CHECK_EQ(vx_fs_failed(fs), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

int main(void)
{
	signal(SIGABRT, on_abort);
	vt_run("spaces: create, lookup, list, get, invalid, drop frees the name", t_spaces);
	vt_run("embed: add/list/lookup/read bit-exact, dims 1..4096, 4 KiB blocks", t_add_read_4k);
	vt_run("embed: add/list/lookup/read bit-exact, dims 1..4096, 1 KiB blocks", t_add_read_1k);
	vt_run("embed: invalid arguments and duplicates", t_invalid);
	vt_run("embed: update, stale, delete, vid reuse, REPLACE_ALL", t_update_delete_reuse);
	vt_run("graph: saved and reloaded, same neighbours after reopen", t_graph_persists);
	vt_run("crash: close without commit returns the last commit", t_crash);
	vt_run("model: adds, commits, random deletes and updates vs a reference", t_model);
	vt_run("inode removal drops its embeddings", t_inode_remove);
	vt_run("drop + reap in steps give back every block", t_drop_reap);
	vt_run("ENOSPC: nothing half added, deletes proceed, fsck clean", t_enospc);
	vt_run("ENOSPC while linking leaves the volume consistent", t_enospc_crash_consistent);
	vt_run("ENOSPC: a 65,536-chunk batch fits a 64 MiB volume", t_big_batch);
	vt_run("corrupt column block: -EUCLEAN, fsck reports it", t_corrupt_block);
	remove_images();
	return vt_finish();
}
