// SPDX-License-Identifier: GPL-2.0
/*
 * The block allocator against a reference model (a plain bitmap): millions
 * of random allocations and frees with commits, reopens, simulated crashes
 * (reopen without commit) and commits whose writes fail part-way.
 *
 * Between two commits nothing but this test changes the allocator (no tree
 * is modified), so the model knows exactly which blocks are in use; across a
 * commit it absorbs what the commit did to the metadata.  Checked: no block
 * is handed out twice, freed blocks are not reused before the commit, the
 * state after a reopen is exactly the last commit's, ENOSPC is clean, and
 * bad frees are refused with -EUCLEAN without changing anything.
 */
#include <signal.h>
#include "vx_test.h"

static u64 rng_state = 0x2545F4914F6CDD1DULL;
static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}


struct ext {
	u64 start, len;
};

struct model {
	u64 total, first;
	u8 *used;		/* in use in the running transaction */
	u8 *pinned;		/* freed by us since the last commit */
	u64 nused, npinned;
	struct ext *owned;	/* what we allocated and still hold */
	size_t nowned, cap;
	/* as of the last commit */
	u8 *c_used;
	struct ext *c_owned;
	size_t c_nowned, c_cap;
};

static void model_init(struct model *m, u64 total, u64 first)
{
	memset(m, 0, sizeof(*m));
	m->total = total;
	m->first = first;
	m->used = calloc(total, 1);
	m->pinned = calloc(total, 1);
	m->c_used = calloc(total, 1);
	m->cap = m->c_cap = 1024;
	m->owned = malloc(m->cap * sizeof(*m->owned));
	m->c_owned = malloc(m->c_cap * sizeof(*m->c_owned));
}

static void model_free(struct model *m)
{
	free(m->used);
	free(m->pinned);
	free(m->c_used);
	free(m->owned);
	free(m->c_owned);
}

static void add_owned(struct model *m, u64 start, u64 len)
{
	if (m->nowned == m->cap) {
		m->cap *= 2;
		m->owned = realloc(m->owned, m->cap * sizeof(*m->owned));
	}
	m->owned[m->nowned].start = start;
	m->owned[m->nowned].len = len;
	m->nowned++;
}

/* Exact comparison of the allocator's view with the model's. */
static int check_all(struct vx_fs *fs, const struct model *m)
{
	u64 b, bad = 0;

	for (b = 0; b < m->total; b++)
		if (vx_block_in_use(fs, b) != (bool)m->used[b]) {
			if (bad++ < 5)
				fprintf(stderr, "block %llu: in use %d, model %d (pinned %d)\n",
					(unsigned long long)b, vx_block_in_use(fs, b),
					m->used[b], m->pinned[b]);
		}
	CHECK_EQ(bad, 0);
	CHECK(!vx_block_in_use(fs, m->total));
	CHECK(!vx_block_in_use(fs, m->total + 12345));
	CHECK(!vx_block_in_use(fs, ~0ULL));
	for (b = 0; b < m->first; b++)
		CHECK(m->used[b]);
	return 0;
}

/* The allocatable count agrees with the model within the documented reserve. */
static int check_free(struct vx_fs *fs, const struct model *m)
{
	u64 avail = m->total - m->nused - m->npinned;
	u64 free = vx_fs_free_blocks(fs);
	u64 ngroups = (m->total + (vx_fs_block_size(fs) * 2) - 1) / (vx_fs_block_size(fs) * 2);

	CHECK(free <= avail);
	if (free) {
		CHECK(avail - free >= 64);		/* at least 64 blocks kept back */
		CHECK(avail - free <= 8192 + 2 * ngroups);
	} else {
		CHECK(avail <= 8192 + 2 * ngroups);
	}
	return 0;
}

/* After a commit or an open: take the allocator's view, check it is sane. */
static int resync(struct vx_fs *fs, struct model *m, bool after_commit)
{
	u64 b;
	size_t i;

	for (i = 0; i < m->nowned; i++)
		for (b = m->owned[i].start; b < m->owned[i].start + m->owned[i].len; b++)
			CHECK(vx_block_in_use(fs, b));
	m->nused = 0;
	for (b = 0; b < m->total; b++) {
		bool u = vx_block_in_use(fs, b);

		/* the commit's own metadata never lands on a block we freed */
		if (after_commit && m->pinned[b])
			CHECK(!u);
		m->used[b] = u;
		m->nused += u;
	}
	memset(m->pinned, 0, m->total);
	m->npinned = 0;
	if (!after_commit)
		CHECK_EQ(m->total - m->nused, le64_to_cpu(vx_fs_super(fs)->free_blocks));
	return 0;
}

static void save_committed(struct model *m)
{
	memcpy(m->c_used, m->used, m->total);
	if (m->c_cap < m->nowned) {
		m->c_cap = m->cap;
		m->c_owned = realloc(m->c_owned, m->c_cap * sizeof(*m->c_owned));
	}
	memcpy(m->c_owned, m->owned, m->nowned * sizeof(*m->owned));
	m->c_nowned = m->nowned;
}

static int restore_committed(struct vx_fs *fs, struct model *m)
{
	u64 b;

	if (m->cap < m->c_nowned) {
		m->cap = m->c_cap;
		m->owned = realloc(m->owned, m->cap * sizeof(*m->owned));
	}
	memcpy(m->owned, m->c_owned, m->c_nowned * sizeof(*m->owned));
	m->nowned = m->c_nowned;
	/* the reopened volume must be exactly the last commit */
	for (b = 0; b < m->total; b++)
		if (vx_block_in_use(fs, b) != (bool)m->c_used[b]) {
			fprintf(stderr, "after reopen block %llu: in use %d, last commit %d\n",
				(unsigned long long)b, vx_block_in_use(fs, b), m->c_used[b]);
			CHECK(vx_block_in_use(fs, b) == (bool)m->c_used[b]);
		}
	return resync(fs, m, false);
}

static u64 random_want(void)
{
	switch (rnd() % 10) {
	case 0: return 1 + rnd() % 2000;
	case 1: return 1 + rnd() % 300;
	case 2: return ~0ULL >> (rnd() % 2);	/* absurd: clipped to what is there */
	default: return 1 + rnd() % 16;
	}
}

static u64 random_hint(const struct model *m)
{
	switch (rnd() % 8) {
	case 0: return 0;
	case 1: return m->total + rnd() % 1000;	/* outside: ignored */
	case 2: return rnd();
	default: return m->first + rnd() % (m->total - m->first);
	}
}

static int do_alloc(struct vx_fs *fs, struct model *m, bool for_data, u64 hint, u64 want)
{
	u64 avail = m->total - m->nused - m->npinned, free = vx_fs_free_blocks(fs);
	u64 start = ~0ULL, got = ~0ULL, b;
	bool hint_free = hint >= m->first && hint < m->total && !m->used[hint] && !m->pinned[hint];
	int err = vx_alloc_blocks(fs, hint, want, for_data, &start, &got);

	if (for_data ? free == 0 : avail == 0) {
		CHECK_EQ(err, -ENOSPC);
		CHECK_EQ(vx_fs_free_blocks(fs), free);
		return 0;
	}
	CHECK_EQ(err, 0);
	CHECK(got >= 1);
	CHECK(got <= want);
	if (for_data)
		CHECK(got <= free);
	CHECK(start >= m->first);
	CHECK(start < m->total);
	CHECK(got <= m->total - start);
	for (b = start; b < start + got; b++) {
		if (m->used[b] || m->pinned[b])
			fprintf(stderr, "block %llu handed out while %s\n", (unsigned long long)b,
				m->used[b] ? "in use" : "freed in this transaction");
		CHECK(!m->used[b]);		/* never twice */
		CHECK(!m->pinned[b]);		/* not before the commit */
		CHECK(vx_block_in_use(fs, b));
		m->used[b] = 1;
	}
	/* "near hint": when the hint block itself is free, that is where it starts */
	if (hint_free)
		CHECK_EQ(start, hint);
	m->nused += got;
	add_owned(m, start, got);
	return 0;
}

static int do_free(struct vx_fs *fs, struct model *m)
{
	size_t i;
	struct ext e;
	u64 s, l, b;

	if (!m->nowned)
		return 0;
	i = rnd() % m->nowned;
	e = m->owned[i];
	switch (rnd() % 4) {
	case 0:	/* a prefix */
		s = e.start;
		l = 1 + rnd() % e.len;
		break;
	case 1:	/* a suffix */
		l = 1 + rnd() % e.len;
		s = e.start + e.len - l;
		break;
	case 2:	/* the middle */
		s = e.start + rnd() % e.len;
		l = 1 + rnd() % (e.start + e.len - s);
		break;
	default:
		s = e.start;
		l = e.len;
	}
	CHECK_EQ(vx_free_blocks(fs, s, l), 0);
	for (b = s; b < s + l; b++) {
		CHECK(m->used[b]);
		CHECK(!vx_block_in_use(fs, b));
		m->used[b] = 0;
		m->pinned[b] = 1;
	}
	m->nused -= l;
	m->npinned += l;
	m->owned[i] = m->owned[--m->nowned];
	if (s > e.start)
		add_owned(m, e.start, s - e.start);
	if (s + l < e.start + e.len)
		add_owned(m, s + l, e.start + e.len - s - l);
	return 0;
}

/* A bad free is refused and changes nothing. */
static int bad_free(struct vx_fs *fs, struct model *m, u64 s, u64 l)
{
	u64 free = vx_fs_free_blocks(fs), b, lim;

	CHECK_EQ(vx_free_blocks(fs, s, l), -EUCLEAN);
	CHECK_EQ(vx_fs_free_blocks(fs), free);
	lim = s < m->total ? (l < m->total - s ? s + l : m->total) : s;
	for (b = s; b < lim && b < s + 64; b++)
		CHECK_EQ(vx_block_in_use(fs, b), m->used[b]);
	return 0;
}

static int do_bad_free(struct vx_fs *fs, struct model *m)
{
	u64 b;

	switch (rnd() % 8) {
	case 0:	/* the reserved area */
		return bad_free(fs, m, rnd() % m->first, 1 + rnd() % 4);
	case 1:	/* past the end */
		return bad_free(fs, m, m->total + rnd() % 100, 1);
	case 2:	/* running past the end */
		return bad_free(fs, m, m->total - 1 - rnd() % 4, 5 + rnd() % 100);
	case 3:	/* wrapping around */
		return bad_free(fs, m, m->first + rnd() % 100, ~0ULL - rnd() % 10);
	case 4:
		return bad_free(fs, m, ~0ULL - rnd() % 3, 1);
	default:
		/* a block that is not in use: free, or freed already (double free) */
		for (int tries = 0; tries < 50; tries++) {
			b = m->first + rnd() % (m->total - m->first);
			if (m->used[b])
				continue;
			if (bad_free(fs, m, b, 1))
				return -1;
			/* an in-use run that ends in it: nothing of the run is freed */
			if (b > m->first && m->used[b - 1] && bad_free(fs, m, b - 1, 2))
				return -1;
			return 0;
		}
	}
	return 0;
}

/*
 * Random ops in phases that fill and drain the volume; cycles of commit,
 * commit + reopen, crash and failed commit.
 */
static int run_random(u32 bs, u64 total, long ops)
{
	char *img = new_image(total, bs);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct model m;
	long op, next_cycle = 1000;
	u64 initial_used;
	int fill_phase = 1, enospc_data = 0, failed_commits = 0;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	model_init(&m, total, (VX_RESERVED_BYTES + bs - 1) / bs);
	if (resync(fs, &m, false))
		return -1;
	initial_used = m.nused;
	save_committed(&m);
	if (check_all(fs, &m))
		return -1;
	for (op = 0; op < ops; op++) {
		u32 r = rnd() % 100;
		u64 avail = m.total - m.nused - m.npinned;

		if (op % 20000 == 0)
			fill_phase = rnd() % 3 != 0;
		if (r < (fill_phase ? 70u : 35u)) {
			bool data = rnd() % 4 != 0;
			u64 want = random_want(), hint = random_hint(&m);
			u64 before = vx_fs_free_blocks(fs);

			/* metadata allocations take from the reserve: leave the commit room */
			if (!data && (avail < 400 || want > avail - 400))
				want = avail > 400 ? 1 + rnd() % (avail - 399) : 0;
			if (!want)
				continue;
			if (data && !before)
				enospc_data++;
			if (do_alloc(fs, &m, data, hint, want))
				return -1;
		} else if (r < 98) {
			if (do_free(fs, &m))
				return -1;
		} else {
			if (do_bad_free(fs, &m))
				return -1;
		}
		if (op % 997 == 0 && (check_all(fs, &m) || check_free(fs, &m)))
			return -1;
		if (op < next_cycle)
			continue;
		next_cycle = op + 200 + rnd() % 4000;
		if (check_all(fs, &m) || check_free(fs, &m))
			return -1;
		switch (rnd() % 8) {
		case 0:
		case 1: /* crash: back to the last commit */
			vt_close(d, fs);
			CHECK_EQ(vt_open(img, &d, &fs), 0);
			if (restore_committed(fs, &m))
				return -1;
			break;
		case 2: { /* a commit whose writes fail part-way */
			int err;

			vx_devfile_fail_writes_after(d, rnd() % 12);
			err = vx_fs_commit(fs);
			vx_devfile_fail_writes_after(d, -1);
			if (err) {
				u64 s, g;

				failed_commits++;
				CHECK(vx_fs_failed(fs) != 0);
				CHECK_EQ(vx_fs_commit(fs), -EROFS);
				CHECK_EQ(vx_alloc_blocks(fs, m.first, 1, true, &s, &g), -EROFS);
				CHECK_EQ(vx_alloc_blocks(fs, m.first, 1, false, &s, &g), -EROFS);
				vt_close(d, fs);
				CHECK_EQ(vt_open(img, &d, &fs), 0);
				if (restore_committed(fs, &m))
					return -1;
			} else {
				if (resync(fs, &m, true))
					return -1;
				save_committed(&m);
				vt_close(d, fs);
				CHECK_EQ(vt_open(img, &d, &fs), 0);
				if (restore_committed(fs, &m))
					return -1;
			}
			break;
		}
		case 3:
		case 4: /* commit and reopen */
			CHECK_EQ(vx_fs_commit(fs), 0);
			if (resync(fs, &m, true))
				return -1;
			save_committed(&m);
			vt_close(d, fs);
			CHECK_EQ(vt_open(img, &d, &fs), 0);
			if (restore_committed(fs, &m))
				return -1;
			break;
		default: /* commit and go on */
			CHECK_EQ(vx_fs_commit(fs), 0);
			CHECK_EQ(vx_fs_dirty(fs), false);
			if (resync(fs, &m, true))
				return -1;
			save_committed(&m);
		}
		if (check_all(fs, &m) || check_free(fs, &m))
			return -1;
	}
	CHECK(enospc_data > 0);		/* the volume did fill up */
	CHECK(failed_commits > 0 || ops < 100000);

	/* give everything back: the volume returns to its initial usage */
	while (m.nowned) {
		struct ext e = m.owned[--m.nowned];

		CHECK_EQ(vx_free_blocks(fs, e.start, e.len), 0);
	}
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	if (resync(fs, &m, false))
		return -1;
	CHECK(m.nused <= initial_used + 2);
	CHECK(m.nused + 2 >= initial_used);
	vt_close(d, fs);
	model_free(&m);
	done_image(img);
	return 0;
}

static int t_random_4k(void) { return run_random(4096, 40000, scale(1200000)); }
static int t_random_1k(void) { return run_random(1024, 30000, scale(800000)); }

/*
 * Full of data: data allocations stop at the reserve, metadata still gets
 * blocks, items can be inserted and deleted, commits work; then metadata
 * allocations drain the rest and stop with -ENOSPC.
 */
static int t_enospc(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 start, got, total_data = 0, first = VX_RESERVED_BYTES / 4096, meta = 0;
	u8 data[200] = { 7 };
	int i, err;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	while ((err = vx_alloc_blocks(fs, first, 1000, true, &start, &got)) == 0)
		total_data += got;
	CHECK_EQ(err, -ENOSPC);
	CHECK_EQ(vx_fs_free_blocks(fs), 0);
	/* the reserve (vx_alloc.c meta_reserve) stays below 10% here */
	CHECK(total_data > 4096 - 16 - 400);
	CHECK_EQ(vx_alloc_blocks(fs, 0, 1, true, &start, &got), -ENOSPC);
	CHECK_EQ(vx_fs_failed(fs), 0);
	/* metadata works on the full volume (within the reserve) */
	for (i = 0; i < 100; i++) {
		struct vx_ckey k = { 1000 + i, 0, 3 };

		CHECK_EQ(vx_item_insert(fs, VX_TREE_FS, &k, data, sizeof(data)), 0);
	}
	CHECK_EQ(vx_fs_commit(fs), 0);
	for (i = 0; i < 100; i += 2) {
		struct vx_ckey k = { 1000 + i, 0, 3 };

		CHECK_EQ(vx_item_delete(fs, VX_TREE_FS, &k), 0);
	}
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(vx_alloc_blocks(fs, 0, 1, true, &start, &got), -ENOSPC);
	/* metadata allocations drain the reserve, then stop cleanly */
	while ((err = vx_alloc_blocks(fs, 0, 1, false, &start, &got)) == 0)
		meta += got;
	CHECK_EQ(err, -ENOSPC);
	CHECK(meta > 0);
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(vx_alloc_blocks(fs, 0, 1, false, &start, &got), -ENOSPC);
	/* with nothing left the commit may fail, but the last commit survives */
	err = vx_fs_commit(fs);
	vt_close(d, fs);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	{
		struct vx_ckey k = { 1001, 0, 3 };
		u32 size;

		CHECK_EQ(vx_item_lookup(fs, VX_TREE_FS, &k, NULL, 0, &size), 0);
		CHECK_EQ(size, sizeof(data));
		k.objectid = 1000;
		CHECK_EQ(vx_item_lookup(fs, VX_TREE_FS, &k, NULL, 0, &size), -ENOENT);
	}
	CHECK_EQ(vx_fs_free_blocks(fs), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/* Deterministic bad frees: refused with -EUCLEAN and nothing changes. */
static int t_bad_frees(void)
{
	char *img = new_image(8192, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct model m;
	u64 a, ga, b, gb, free0;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	model_init(&m, 8192, VX_RESERVED_BYTES / 4096);
	if (resync(fs, &m, false))
		return -1;
	CHECK_EQ(vx_alloc_blocks(fs, 3000, 10, true, &a, &ga), 0);
	CHECK_EQ(a, 3000);
	CHECK_EQ(ga, 10);
	CHECK_EQ(vx_alloc_blocks(fs, 3020, 10, true, &b, &gb), 0);
	CHECK_EQ(b, 3020);
	CHECK_EQ(vx_alloc_blocks(fs, 0, 1, true, &a, &ga), 0);	/* hint 0: the start */
	CHECK(a >= m.first);
	CHECK_EQ(vx_free_blocks(fs, a, 1), 0);
	a = 3000;
	ga = 10;
	CHECK_EQ(vx_alloc_blocks(fs, 3000, 0, true, &a, &ga), -EINVAL);
	CHECK_EQ(vx_fs_commit(fs), 0);
	if (resync(fs, &m, true))
		return -1;
	free0 = vx_fs_free_blocks(fs);

	CHECK_EQ(vx_free_blocks(fs, 0, 1), -EUCLEAN);
	CHECK_EQ(vx_free_blocks(fs, m.first - 1, 2), -EUCLEAN);
	CHECK_EQ(vx_free_blocks(fs, 8192, 1), -EUCLEAN);
	CHECK_EQ(vx_free_blocks(fs, 8191, 2), -EUCLEAN);
	CHECK_EQ(vx_free_blocks(fs, 3000, ~0ULL), -EUCLEAN);
	CHECK_EQ(vx_free_blocks(fs, 3000, ~0ULL - 2999), -EUCLEAN);
	CHECK_EQ(vx_free_blocks(fs, ~0ULL, 2), -EUCLEAN);
	CHECK_EQ(vx_free_blocks(fs, 3010, 1), -EUCLEAN);	/* never allocated */
	CHECK_EQ(vx_free_blocks(fs, 3005, 10), -EUCLEAN);	/* runs into free blocks */
	CHECK_EQ(vx_free_blocks(fs, 3009, 12), -EUCLEAN);	/* spans a free gap */
	CHECK_EQ(vx_fs_free_blocks(fs), free0);
	for (u64 x = 3000; x < 3010; x++)
		CHECK(vx_block_in_use(fs, x));
	/* a real free, then the same again: a double free */
	CHECK_EQ(vx_free_blocks(fs, 3002, 3), 0);
	CHECK_EQ(vx_free_blocks(fs, 3002, 3), -EUCLEAN);
	CHECK_EQ(vx_free_blocks(fs, 3004, 1), -EUCLEAN);
	CHECK_EQ(vx_free_blocks(fs, 3000, 10), -EUCLEAN);
	CHECK(vx_block_in_use(fs, 3000));
	CHECK(vx_block_in_use(fs, 3001));
	CHECK(!vx_block_in_use(fs, 3002));
	CHECK(vx_block_in_use(fs, 3005));
	/* freed blocks wait for the commit, even when asked for by hint */
	CHECK_EQ(vx_alloc_blocks(fs, 3002, 3, true, &a, &ga), 0);
	CHECK(a >= 3005);
	CHECK_EQ(vx_free_blocks(fs, a, ga), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(vx_alloc_blocks(fs, 3002, 3, true, &a, &ga), 0);
	CHECK_EQ(a, 3002);
	CHECK_EQ(ga, 3);
	CHECK_EQ(vx_free_blocks(fs, 3002, 3), 0);
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	/* after all that the volume is consistent */
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK(vx_block_in_use(fs, 3000));
	CHECK(!vx_block_in_use(fs, 3002));
	CHECK(vx_block_in_use(fs, 3020));
	vt_close(d, fs);
	model_free(&m);
	done_image(img);
	return 0;
}

/*
 * A read-only or failed volume refuses every modification with -EROFS, frees
 * included (vx_core.h: "further modifications and commits return -EROFS").
 */
static int t_free_on_rdonly(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 a, ga, s, g;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(vx_alloc_blocks(fs, 2000, 8, true, &a, &ga), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);

	CHECK_EQ(vx_devfile_open(img, 1, &d), 0);
	CHECK_EQ(vx_fs_open(&fs, &vx_devfile_ops, d, vx_devfile_size(d), VX_OPEN_RDONLY), 0);
	CHECK_EQ(vx_alloc_blocks(fs, 0, 1, true, &s, &g), -EROFS);
	CHECK_EQ(vx_free_blocks(fs, a, ga), -EROFS);
	CHECK(vx_block_in_use(fs, a));
	CHECK_EQ(vx_fs_dirty(fs), false);
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(vx_devfile_write_count(d), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_free_on_failed(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 a, ga, s, g, free0;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(vx_alloc_blocks(fs, 2000, 8, true, &a, &ga), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	free0 = vx_fs_free_blocks(fs);
	vx_fs_set_failed(fs, -EIO);
	CHECK_EQ(vx_fs_failed(fs), -EIO);
	CHECK_EQ(vx_alloc_blocks(fs, 0, 1, true, &s, &g), -EROFS);
	CHECK_EQ(vx_free_blocks(fs, a, ga), -EROFS);
	CHECK(vx_block_in_use(fs, a));
	CHECK_EQ(vx_fs_free_blocks(fs), free0);
	CHECK_EQ(vx_fs_commit(fs), -EROFS);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

int main(void)
{
	vx_user_quiet = 1;
	signal(SIGABRT, on_abort);
	vt_run("alloc bad frees refused with -EUCLEAN, no change", t_bad_frees);
	vt_run("alloc ENOSPC: data reserve, metadata still works", t_enospc);
	vt_run("alloc free on a read-only volume: -EROFS", t_free_on_rdonly);
	vt_run("alloc free on a failed volume: -EROFS", t_free_on_failed);
	vt_run("alloc random vs model, 4 KiB blocks, 2 groups", t_random_4k);
	vt_run("alloc random vs model, 1 KiB blocks, 4 groups", t_random_1k);
	if (vt_finish()) {
		/* a failed CHECK skips cleanup: spare the leak report */
		remove_images();
		fflush(stdout);
		_exit(1);
	}
	remove_images();
	return 0;
}
