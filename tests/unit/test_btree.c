// SPDX-License-Identifier: GPL-2.0
/*
 * Randomized tests of the copy-on-write B-tree against a reference model:
 * inserts, updates (with size changes), deletes, lookups and ordered walks,
 * with commits, reopens, simulated crashes (reopen without commit) and
 * failed writes in the middle of a commit.
 */
#include "vx_test.h"
#include "vx_internal.h"	/* meta_allocated: what operations really allocate */

struct ref_item {
	struct vx_ckey key;
	u32 size;
	u64 seed;		/* data is fill(size, seed) */
};

struct ref_model {
	struct ref_item *items;
	size_t n, cap;
};

static size_t ref_find(const struct ref_model *m, const struct vx_ckey *k, bool *found)
{
	size_t lo = 0, hi = m->n;

	*found = false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = vx_key_cmp(&m->items[mid].key, k);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void ref_copy(struct ref_model *dst, const struct ref_model *src)
{
	if (dst->cap < src->n || !dst->items) {
		dst->cap = src->cap > 16 ? src->cap : 16;
		dst->items = realloc(dst->items, dst->cap * sizeof(*dst->items));
	}
	if (src->n)
		memcpy(dst->items, src->items, src->n * sizeof(*src->items));
	dst->n = src->n;
}

static u64 rng_state = 88172645463325252ULL;
static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void random_key(struct vx_ckey *k, u64 keyspace)
{
	k->objectid = rnd() % keyspace;
	k->type = 1 + rnd() % 4;
	k->offset = rnd() % 8;
}

static u32 random_size(u32 max)
{
	switch (rnd() % 8) {
	case 0: return 0;
	case 1: return rnd() % max;		/* big */
	default: return rnd() % 64;
	}
}

static void fill(u8 *p, u32 n, u64 seed)
{
	for (u32 i = 0; i < n; i++)
		p[i] = (u8)(seed + i * 31);
}

/* Compare the whole tree with the model through ordered walks and lookups. */
static int verify(struct vx_fs *fs, const struct ref_model *m)
{
	struct vx_ckey k = { 0, 0, 0 }, found;
	static u8 buf[4096], expect[4096];
	size_t i = 0;
	u32 size;
	int err;

	for (;;) {
		err = vx_item_next(fs, VX_TREE_FS, &k, &found, buf, sizeof(buf), &size);
		if (err == -ENOENT)
			break;
		CHECK_EQ(err, 0);
		if (found.objectid == 1 && found.type == VX_ITEM_INODE) {
			/* mkfs's root inode is not in the model */
		} else {
			CHECK(i < m->n);
			CHECK_EQ(vx_key_cmp(&found, &m->items[i].key), 0);
			CHECK_EQ(size, m->items[i].size);
			fill(expect, size, m->items[i].seed);
			CHECK(!memcmp(buf, expect, size));
			i++;
		}
		k = found;
		k.offset++;
	}
	CHECK_EQ(i, m->n);
	return 0;
}

static int run_random(u32 bs, u64 keyspace, long ops, long commit_every)
{
	char *img = vt_make_image(16384, bs);
	struct ref_model live = { 0 }, committed = { 0 };
	struct vx_devfile *d;
	struct vx_fs *fs;
	static u8 buf[4096], data[4096];
	u32 max;
	long op;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	max = vx_max_item_size(fs);
	live.cap = 1024;
	live.items = malloc(live.cap * sizeof(*live.items));
	for (op = 0; op < ops; op++) {
		struct vx_ckey k;
		bool found;
		size_t pos;
		u32 size, r = rnd() % 100;
		u64 seed;
		int err;

		random_key(&k, keyspace);
		if (k.objectid == 1 && k.type == VX_ITEM_INODE)
			k.objectid = 2;
		pos = ref_find(&live, &k, &found);
		if (r < 45) {
			size = random_size(max);
			seed = rnd();
			fill(data, size, seed);
			err = vx_item_insert(fs, VX_TREE_FS, &k, data, size);
			if (found) {
				CHECK_EQ(err, -EEXIST);
				continue;
			}
			CHECK_EQ(err, 0);
			if (live.n == live.cap) {
				live.cap *= 2;
				live.items = realloc(live.items, live.cap * sizeof(*live.items));
			}
			memmove(&live.items[pos + 1], &live.items[pos],
				(live.n - pos) * sizeof(*live.items));
			live.items[pos].key = k;
			live.items[pos].size = size;
			live.items[pos].seed = seed;
			live.n++;
		} else if (r < 60) {
			size = random_size(max);
			seed = rnd();
			fill(data, size, seed);
			err = vx_item_update(fs, VX_TREE_FS, &k, data, size);
			if (!found) {
				CHECK_EQ(err, -ENOENT);
				continue;
			}
			CHECK_EQ(err, 0);
			live.items[pos].size = size;
			live.items[pos].seed = seed;
		} else if (r < 85) {
			err = vx_item_delete(fs, VX_TREE_FS, &k);
			if (!found) {
				CHECK_EQ(err, -ENOENT);
				continue;
			}
			CHECK_EQ(err, 0);
			memmove(&live.items[pos], &live.items[pos + 1],
				(live.n - pos - 1) * sizeof(*live.items));
			live.n--;
		} else if (r < 95) {
			err = vx_item_lookup(fs, VX_TREE_FS, &k, buf, sizeof(buf), &size);
			if (!found) {
				CHECK_EQ(err, -ENOENT);
				continue;
			}
			CHECK_EQ(err, 0);
			CHECK_EQ(size, live.items[pos].size);
			fill(data, size, live.items[pos].seed);
			CHECK(!memcmp(buf, data, size));
		} else {
			struct vx_ckey got;

			err = vx_item_next(fs, VX_TREE_FS, &k, &got, NULL, 0, NULL);
			/* skip the root inode item, absent from the model */
			if (!err && got.objectid == 1 && got.type == VX_ITEM_INODE) {
				struct vx_ckey k2 = got;

				k2.offset++;
				err = vx_item_next(fs, VX_TREE_FS, &k2, &got, NULL, 0, NULL);
			}
			if (pos == live.n) {
				CHECK_EQ(err, -ENOENT);
			} else {
				CHECK_EQ(err, 0);
				CHECK_EQ(vx_key_cmp(&got, &live.items[pos].key), 0);
			}
		}
		if (commit_every && op % commit_every == commit_every - 1) {
			switch (rnd() % 4) {
			case 0:	/* crash: drop the running transaction */
				vt_close(d, fs);
				CHECK_EQ(vt_open(img, &d, &fs), 0);
				ref_copy(&live, &committed);
				break;
			case 1: /* a commit whose writes fail part-way */
				vx_devfile_fail_writes_after(d, rnd() % 8);
				err = vx_fs_commit(fs);
				vx_devfile_fail_writes_after(d, -1);
				vt_close(d, fs);
				CHECK_EQ(vt_open(img, &d, &fs), 0);
				if (err == 0)
					ref_copy(&committed, &live);
				else
					ref_copy(&live, &committed);
				break;
			default:
				CHECK_EQ(vx_fs_commit(fs), 0);
				ref_copy(&committed, &live);
				if (rnd() % 2) {
					vt_close(d, fs);
					CHECK_EQ(vt_open(img, &d, &fs), 0);
				}
			}
			if (verify(fs, &live))
				return -1;
		}
	}
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	if (verify(fs, &live))
		return -1;
	/* the large runs must have grown trees of several levels */
	if (live.n > 20000)
		CHECK(vx_fs_super(fs)->fs_root_level >= 2);
	vt_close(d, fs);
	unlink(img);
	free(img);
	free(live.items);
	free(committed.items);
	return 0;
}

static int t_random_small_keyspace(void) { return run_random(4096, 200, scale(200000), 500); }
static int t_random_large_keyspace(void) { return run_random(4096, 2000, scale(300000), 5000); }
static int t_random_1k_blocks(void) { return run_random(1024, 5000, scale(200000), 2000); }
static int t_random_no_commit(void) { return run_random(4096, 3000, scale(100000), 0); }

static int t_empty_and_refill(void)
{
	char *img = vt_make_image(8192, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u8 data[100] = { 1 };
	int round, i;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 20000; i++) {
			struct vx_ckey k = { 100 + i, 1, 0 };

			CHECK_EQ(vx_item_insert(fs, VX_TREE_FS, &k, data, sizeof(data)), 0);
		}
		CHECK_EQ(vx_fs_commit(fs), 0);
		for (i = 0; i < 20000; i++) {
			struct vx_ckey k = { 100 + i, 1, 0 };

			CHECK_EQ(vx_item_delete(fs, VX_TREE_FS, &k), 0);
		}
		CHECK_EQ(vx_fs_commit(fs), 0);
	}
	/* everything freed again: only the trees' small roots remain */
	CHECK(vx_fs_free_blocks(fs) > 8192 - 200 - 64 - 128);
	vt_close(d, fs);
	unlink(img);
	free(img);
	return 0;
}

/*
 * vx_run_blocks() bounds what a run of changes really allocates.  A run
 * (objectid 200, type 8) sits between foreign items of random sizes up to
 * the largest item; holes punched in it and around it leave underfull
 * leaves; after a commit every node must be copied again.  Then ndel
 * deletes and nins inserts in ascending key order, as vx_embed_add() makes
 * them, must allocate no more metadata than the bound, which must also be
 * far below the per-item bound.
 */
static int run_bound_case(u32 bs, u64 nfore, u64 nexist, u64 nholes, u64 ndel, u64 nins)
{
	char *img = vt_make_image(bs == 1024 ? 262144 : 65536, bs);
	u64 *offs = malloc((nexist + nins + 1) * sizeof(u64)), n = 0, i, before, used, bound;
	u64 span[VX_MAX_LEVELS];
	u32 max = 0;
	struct vx_ckey k, lo = { .objectid = 200, .type = 8 }, hi = lo;
	struct vx_devfile *d;
	struct vx_fs *fs;
	static u8 data[4096];

	hi.offset = ~0ULL;
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	max = vx_max_item_size(fs);
	for (i = 0; i < nfore; i++) {
		struct vx_ckey f = { .objectid = i % 2 ? 100 : 300, .type = 1, .offset = i };

		CHECK_EQ(vx_item_insert(fs, VX_TREE_FS, &f, data, random_size(max)), 0);
	}
	/* existing run items at random distinct offsets (sorted later) */
	for (i = 0; i < nexist; i++) {
		k = (struct vx_ckey){ .objectid = 200, .type = 8, .offset = (rnd() % (1ULL << 40)) * 2 };
		if (vx_item_insert(fs, VX_TREE_FS, &k, data, 32) == 0)
			offs[n++] = k.offset;
	}
	CHECK_EQ(vx_fs_commit(fs), 0);
	/* holes: underfull leaves inside and around the run */
	for (i = 0; i < nholes && n; i++) {
		u64 j = rnd() % n;

		k = (struct vx_ckey){ .objectid = 200, .type = 8, .offset = offs[j] };
		CHECK_EQ(vx_item_delete(fs, VX_TREE_FS, &k), 0);
		offs[j] = offs[--n];
	}
	for (i = 0; i < nfore / 2; i++) {
		struct vx_ckey f = { .objectid = i % 2 ? 100 : 300, .type = 1,
				  .offset = rnd() % nfore };

		vx_item_delete(fs, VX_TREE_FS, &f);
	}
	CHECK_EQ(vx_fs_commit(fs), 0);

	if (ndel > n)
		ndel = n;
	CHECK_EQ(vx_range_span(fs, VX_TREE_FS, &lo, &hi, span), 0);
	bound = vx_run_blocks(fs, span, n, ndel, 0, nins, 32);
	before = fs->meta_allocated;
	for (i = 0; i < ndel; i++) {
		k = (struct vx_ckey){ .objectid = 200, .type = 8, .offset = offs[i] };
		CHECK_EQ(vx_item_delete(fs, VX_TREE_FS, &k), 0);
	}
	/* odd offsets never collide with the existing even ones */
	for (i = 0; i < nins; i++) {
		k = (struct vx_ckey){ .objectid = 200, .type = 8, .offset = (i * ((1ULL << 41) / (nins + 1))) | 1 };
		CHECK_EQ(vx_item_insert(fs, VX_TREE_FS, &k, data, 32), 0);
	}
	used = fs->meta_allocated - before;
	if (getenv("VT_VERBOSE") || used > bound)
		fprintf(stderr, "bs %u fore %llu exist %llu del %llu ins %llu: used %llu, bound %llu\n",
			bs, (unsigned long long)nfore, (unsigned long long)n,
			(unsigned long long)ndel, (unsigned long long)nins,
			(unsigned long long)used, (unsigned long long)bound);
	CHECK(used <= bound);
	/* and much tighter than a whole path per item once runs are long */
	if (ndel + nins >= 1000)
		CHECK(bound * 4 < (ndel + nins) * (2 * (fs->roots[VX_TREE_FS].level + 2ULL) + 2));
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	unlink(img);
	free(img);
	free(offs);
	return 0;
}

static int t_run_bound(void)
{
	static const u64 cases[][5] = {
		/* foreign, existing, holes, deleted, inserted */
		{ 0, 0, 0, 0, 1 },
		{ 200, 0, 0, 0, 20000 },
		{ 2000, 3000, 0, 0, 20000 },
		{ 2000, 3000, 2500, 0, 5000 },
		{ 4000, 6000, 0, 6000, 6000 },	/* replace all */
		{ 4000, 6000, 5000, 1000, 1 },
		{ 100, 20000, 19000, 100, 300 },
		{ 3000, 1, 0, 1, 30000 },
	};
	const char *env = getenv("VT_RUN_BOUND_RANDOM");
	long nrandom = env ? atol(env) : 8, i;
	u32 bs, c, rep;

	for (bs = 1024; bs <= 4096; bs *= 4)
		for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
			for (rep = 0; rep < 2; rep++)
				if (run_bound_case(bs, cases[c][0], cases[c][1], cases[c][2],
						   cases[c][3], cases[c][4]))
					return -1;
	/* and random mixes */
	for (i = 0; i < nrandom; i++) {
		u64 exist = rnd() % 4 ? rnd() % 8000 : rnd() % 20;

		if (run_bound_case(rnd() % 2 ? 1024 : 4096, rnd() % 5000, exist,
				   rnd() % (exist + 1), rnd() % (exist + 1),
				   rnd() % 3 ? rnd() % 20000 : rnd() % 10))
			return -1;
	}
	return 0;
}

int main(void)
{
	vx_user_quiet = 1;
	vt_run("btree random ops, small keyspace, frequent commits/crashes", t_random_small_keyspace);
	vt_run("btree random ops, large keyspace", t_random_large_keyspace);
	vt_run("btree random ops, 1 KiB blocks", t_random_1k_blocks);
	vt_run("btree random ops, one transaction", t_random_no_commit);
	vt_run("btree fill, empty, refill reuses space", t_empty_and_refill);
	vt_run("btree: a run of changes allocates within vx_run_blocks()", t_run_bound);
	return vt_finish();
}
