// SPDX-License-Identifier: GPL-2.0
/*
 * Superblock handling and on-disk corruption: both slots, torn or corrupt
 * slots, feature words, corrupt, misdirected and stale tree nodes, truncated
 * devices, failing superblock writes, generation numbering; and a fuzz test
 * that damages a populated image in many ways (some of them with every
 * checksum made valid again) and requires errors, never a crash or a hang.
 */
#include <signal.h>
#include <sanitizer/common_interface_defs.h>
#include "vx_test.h"

#define S_DIR	0040755
#define S_REG	0100644
#define VX_HDR_SIZE_T	((u32)sizeof(struct vx_node_header))

static const u64 slot_off[2] = { VX_SB_OFFSET_0, VX_SB_OFFSET_1 };

static u64 rng_state = 0xD1B54A32D192ED03ULL;
static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}


/* ---------------------------------------------------------------- raw image access */

static void raw_read(const char *path, u64 off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0 || pread(fd, buf, len, (off_t)off) != (ssize_t)len) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static void raw_write(const char *path, u64 off, const void *buf, size_t len)
{
	int fd = open(path, O_RDWR);

	if (fd < 0 || pwrite(fd, buf, len, (off_t)off) != (ssize_t)len) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static void raw_flip(const char *path, u64 off, u8 x)
{
	u8 b;

	raw_read(path, off, &b, 1);
	b ^= x;
	raw_write(path, off, &b, 1);
}

static u64 file_size(const char *path)
{
	int fd = open(path, O_RDONLY);
	off_t n;

	if (fd < 0) {
		perror(path);
		exit(2);
	}
	n = lseek(fd, 0, SEEK_END);
	close(fd);
	return (u64)n;
}

static u8 *img_load(const char *path, u64 *size)
{
	u8 *buf;

	*size = file_size(path);
	buf = malloc(*size);
	raw_read(path, 0, buf, *size);
	return buf;
}

static void sb_reseal(struct vx_superblock *sb)
{
	sb->csum = cpu_to_le32(vx_crc32c(~0U, (const u8 *)sb + 4, VX_SB_SIZE - 4));
}

static void node_reseal(u8 *blk, u32 bs)
{
	((struct vx_node_header *)blk)->csum = cpu_to_le32(vx_crc32c(~0U, blk + 4, bs - 4));
}

static void key_from_disk(struct vx_ckey *c, const struct vx_key *d)
{
	c->objectid = le64_to_cpu(d->objectid);
	c->offset = le64_to_cpu(d->offset);
	c->type = d->type;
}

static void read_slot(const char *path, int i, struct vx_superblock *sb)
{
	raw_read(path, slot_off[i], sb, sizeof(*sb));
}

static void write_slot(const char *path, int i, struct vx_superblock *sb, bool reseal)
{
	if (reseal)
		sb_reseal(sb);
	raw_write(path, slot_off[i], sb, sizeof(*sb));
}

/* The slot that open should pick: valid with the highest generation. */
static int newest_slot_of(const struct vx_superblock *s0, const struct vx_superblock *s1)
{
	const char *msg;
	int ok0 = vx_super_check(s0, 0, &msg), ok1 = vx_super_check(s1, 0, &msg);

	ok0 = ok0 == 0 || ok0 == 1;
	ok1 = ok1 == 0 || ok1 == 1;
	if (ok0 && ok1)
		return le64_to_cpu(s1->generation) > le64_to_cpu(s0->generation);
	return ok1 ? 1 : ok0 ? 0 : -1;
}

static int newest_slot(const char *path)
{
	struct vx_superblock s0, s1;

	read_slot(path, 0, &s0);
	read_slot(path, 1, &s1);
	return newest_slot_of(&s0, &s1);
}

static int open_flags(const char *path, unsigned int flags, struct vx_devfile **d,
		      struct vx_fs **fs)
{
	int err = vx_devfile_open(path, 1, d);

	if (err)
		return err;
	err = vx_fs_open(fs, &vx_devfile_ops, *d, vx_devfile_size(*d), flags);
	if (err) {
		vx_devfile_close(*d);
		*d = NULL;
		*fs = NULL;
	}
	return err;
}

/* Open and close; the error, if any. */
static int try_open(const char *path, unsigned int flags)
{
	struct vx_devfile *d;
	struct vx_fs *fs;
	int err = open_flags(path, flags, &d, &fs);

	if (!err)
		vt_close(d, fs);
	return err;
}

/* ---------------------------------------------------------------- tree nodes in an image */

struct nref {
	u64 blocknr, parent;	/* parent 0: the root, referenced by the superblock */
	int slot, level, tree;
};

struct nodemap {
	struct nref *n;
	int count, cap;
};

/* Every node reachable from sb, found by reading the image (trusted input). */
static void map_nodes(const u8 *img, u64 size, const struct vx_superblock *sb,
		      struct nodemap *m)
{
	struct nref stack[4096];
	u32 bs = le32_to_cpu(sb->block_size);
	int sp = 0;

	m->count = 0;
	if (!m->n) {
		m->cap = 4096;
		m->n = malloc(m->cap * sizeof(*m->n));
	}
	stack[sp++] = (struct nref){ le64_to_cpu(sb->fs_root.blocknr), 0, 0, sb->fs_root_level, VX_TREE_FS };
	stack[sp++] = (struct nref){ le64_to_cpu(sb->alloc_root.blocknr), 0, 0, sb->alloc_root_level, VX_TREE_ALLOC };
	while (sp) {
		struct nref r = stack[--sp];
		const u8 *blk;
		const struct vx_node_header *h;
		const struct vx_node_entry *e;
		u32 nr;

		if ((r.blocknr + 1) * bs > size || m->count == m->cap)
			continue;
		blk = img + r.blocknr * bs;
		h = (const void *)blk;
		if (le32_to_cpu(h->magic) != VX_NODE_MAGIC)
			continue;
		m->n[m->count++] = r;
		if (!h->level)
			continue;
		nr = le16_to_cpu(h->nritems);
		e = (const void *)(blk + VX_HDR_SIZE_T);
		for (u32 i = 0; i < nr && i < (bs - 64) / 48 && sp < 4096; i++)
			stack[sp++] = (struct nref){ le64_to_cpu(e[i].ptr.blocknr), r.blocknr,
						     (int)i, r.level - 1, r.tree };
	}
}

static const struct nref *find_node(const struct nodemap *m, u64 blocknr)
{
	for (int i = 0; i < m->count; i++)
		if (m->n[i].blocknr == blocknr)
			return &m->n[i];
	return NULL;
}

/* After changing a node: make its checksum and every record of it valid. */
static void reseal_chain(u8 *img, u32 bs, struct vx_superblock *sb,
			 const struct nodemap *m, u64 blocknr)
{
	for (;;) {
		const struct nref *r = find_node(m, blocknr);
		u8 *blk = img + blocknr * bs;
		__le32 csum;

		node_reseal(blk, bs);
		csum = ((struct vx_node_header *)blk)->csum;
		if (!r || !r->parent) {
			if (r && r->tree == VX_TREE_FS)
				sb->fs_root.csum = csum;
			else if (r)
				sb->alloc_root.csum = csum;
			break;
		}
		((struct vx_node_entry *)(img + r->parent * bs + VX_HDR_SIZE_T))[r->slot].ptr.csum = csum;
		blocknr = r->parent;
	}
	sb_reseal(sb);
}

/* ---------------------------------------------------------------- a populated volume */

static int populate(struct vx_fs *fs, int n, int commits, const char *tag)
{
	struct vx_inode_data root, sub, in;
	struct vx_mapping m;
	char name[64], val[600];
	int i;

	CHECK_EQ(vx_inode_read(fs, VX_ROOT_INO, &root), 0);
	memset(&sub, 0, sizeof(sub));
	sub.mode = S_DIR;
	sub.nlink = 2;
	sub.next_dir_index = 2;
	sub.parent = VX_ROOT_INO;
	CHECK_EQ(vx_inode_create(fs, &sub), 0);
	snprintf(name, sizeof(name), "sub%s", tag);
	CHECK_EQ(vx_dir_add(fs, &root, name, strlen(name), sub.ino, VX_FT_DIR), 0);
	memset(val, 'v', sizeof(val));
	for (i = 0; i < n; i++) {
		struct vx_inode_data *dir = i % 3 ? &root : &sub;

		memset(&in, 0, sizeof(in));
		in.mode = i % 7 ? S_REG : S_DIR;
		in.nlink = 1;
		in.size = i * 1000;
		if (i % 7 == 0) {
			in.next_dir_index = 2;
			in.parent = dir->ino;
		}
		CHECK_EQ(vx_inode_create(fs, &in), 0);
		snprintf(name, sizeof(name), "file%s-%d-%s", tag, i, i % 2 ? "odd" : "even");
		CHECK_EQ(vx_dir_add(fs, dir, name, strlen(name), in.ino, vx_mode_to_ftype(in.mode)), 0);
		if (i % 2 == 0)
			CHECK_EQ(vx_xattr_set(fs, in.ino, 1 + i % 3, "user.attr", val, i % 5 * 100, 0), 0);
		if (i % 5 == 0)
			CHECK_EQ(vx_xattr_set(fs, in.ino, VX_XATTR_INDEX_SECURITY, "selinux", "ctx", 3, 0), 0);
		if (i % 3 == 0) {
			CHECK_EQ(vx_extent_alloc(fs, &in, 0, 2 + i % 4, 0, &m), 0);
			CHECK_EQ(vx_extent_alloc(fs, &in, 10, 1 + i % 3, i % 2 ? VX_EXTENT_UNWRITTEN : 0, &m), 0);
			CHECK_EQ(vx_inode_write(fs, &in), 0);
		}
		if (i % 11 == 0)
			CHECK_EQ(vx_orphan_add(fs, in.ino), 0);
		if (commits && i % (n / commits + 1) == n / commits)
			CHECK_EQ(vx_fs_commit(fs), 0);
	}
	CHECK_EQ(vx_inode_write(fs, &root), 0);
	CHECK_EQ(vx_inode_write(fs, &sub), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	return 0;
}

static char *populated_image(u64 blocks, u32 bs, int n)
{
	char *img = new_image(blocks, bs);
	struct vx_devfile *d;
	struct vx_fs *fs;

	if (vt_open(img, &d, &fs) || populate(fs, n, 3, "")) {
		fprintf(stderr, "cannot populate %s\n", img);
		exit(2);
	}
	vt_close(d, fs);
	return img;
}

/* ---------------------------------------------------------------- walking everything */

struct walk_stats {
	long items, inodes, dirents, xattrs, extents, orphans;
	long errors;		/* operations that returned an error */
	long disorder;		/* vx_item_next returned a key below its start */
	long runaway;		/* an iteration emitted far more than the volume holds */
	int first_err;
};

static void note_err(struct walk_stats *w, int err)
{
	if (!w->errors++)
		w->first_err = err;
}

struct dir_ctx {
	struct vx_fs *fs;
	u64 dir;
	long n;
	struct walk_stats *w;
	u64 last_index;
};

static int walk_emit(void *ctx, const char *name, u32 len, u64 ino, u8 ftype, u64 index)
{
	struct dir_ctx *c = ctx;
	u64 got;
	u8 ft;
	int err;

	if (++c->n > 20000) {
		c->w->runaway++;
		return 1;
	}
	c->w->dirents++;
	if (index < c->last_index)
		c->w->disorder++;
	c->last_index = index;
	if (c->n <= 64) {
		err = vx_dir_lookup(c->fs, c->dir, name, len, &got, &ft);
		if (err)
			note_err(c->w, err);
	}
	return 0;
}

struct xattr_ctx {
	struct vx_fs *fs;
	u64 ino;
	long n;
	struct walk_stats *w;
};

static int walk_xattr_emit(void *ctx, u8 index, const char *name, u32 name_len, u32 value_len)
{
	struct xattr_ctx *c = ctx;
	static u8 val[65536];
	char nm[256];
	int err;

	if (++c->n > 5000) {
		c->w->runaway++;
		return 1;
	}
	c->w->xattrs++;
	if (name_len > 255)
		return 0;
	memcpy(nm, name, name_len);
	nm[name_len] = 0;
	if (strlen(nm) == name_len) {
		/* the core drops into the tree again from inside the emit */
		err = vx_xattr_get(c->fs, c->ino, index, nm, val, sizeof(val));
		if (err < 0 && err != -ENODATA)
			note_err(c->w, err);
		err = vx_xattr_get(c->fs, c->ino, index, nm, NULL, 0);
		if (err < 0 && err != -ENODATA)
			note_err(c->w, err);
	}
	return 0;
}

static void walk_inode(struct vx_fs *fs, u64 ino, struct walk_stats *w)
{
	struct vx_inode_data in;
	struct vx_mapping m;
	u64 fb = 0;
	int err = vx_inode_read(fs, ino, &in);

	if (err) {
		if (err != -ENOENT)
			note_err(w, err);
		return;
	}
	w->inodes++;
	if ((in.mode & 0170000) == 0040000) {
		struct dir_ctx c = { fs, ino, 0, w, 0 };
		u64 pos = 0;

		err = vx_dir_iterate(fs, ino, &pos, walk_emit, &c);
		if (err)
			note_err(w, err);
		err = vx_dir_is_empty(fs, ino);
		if (err < 0)
			note_err(w, err);
	}
	{
		struct xattr_ctx c = { fs, ino, 0, w };

		err = vx_xattr_list(fs, ino, walk_xattr_emit, &c);
		if (err)
			note_err(w, err);
	}
	for (int i = 0; i < 64; i++) {
		err = vx_extent_map(fs, ino, fb, &m);
		if (err) {
			note_err(w, err);
			break;
		}
		w->extents++;
		if (m.len == VX_HOLE_TO_EOF || !m.len || fb + m.len < fb)
			break;
		fb += m.len;
	}
}

/* Walk one tree with vx_item_next; with fs, read every object found. */
static void walk_tree(struct vx_fs *fs, int tree, struct walk_stats *w, bool objects)
{
	static u8 buf[4096];
	struct vx_ckey k = { 0, 0, 0 }, found;
	u32 size;

	for (long n = 0; n < 200000; n++) {
		int err = vx_item_next(fs, tree, &k, &found, buf, sizeof(buf), &size);

		if (err == -ENOENT)
			break;
		if (err) {
			note_err(w, err);
			break;
		}
		if (vx_key_cmp(&found, &k) < 0) {
			w->disorder++;
			break;
		}
		w->items++;
		if (objects && found.type == VX_ITEM_INODE)
			walk_inode(fs, found.objectid, w);
		k = found;
		if (++k.offset == 0 && ++k.type == 0 && ++k.objectid == 0)
			break;
	}
	if (objects) {
		u64 ino = 0;

		for (int n = 0; n < 10000; n++) {
			int err = vx_orphan_next(fs, ino, &ino);

			if (err) {
				if (err != -ENOENT)
					note_err(w, err);
				break;
			}
			w->orphans++;
		}
	}
}

static void walk_all(struct vx_fs *fs, struct walk_stats *w)
{
	walk_tree(fs, VX_TREE_FS, w, true);
	walk_tree(fs, VX_TREE_ALLOC, w, false);
	walk_inode(fs, VX_ROOT_INO, w);
}

/* ---------------------------------------------------------------- mkfs and slots */

static int check_mkfs_slots(u32 bs, u64 blocks)
{
	char *img = new_image(blocks, bs);
	struct vx_superblock s[2];
	struct vx_devfile *d;
	struct vx_fs *fs;
	const char *msg;
	int i;

	for (i = 0; i < 2; i++) {
		read_slot(img, i, &s[i]);
		CHECK_EQ(vx_super_check(&s[i], blocks * bs, &msg), 0);
		CHECK(!memcmp(s[i].magic, VX_MAGIC, VX_MAGIC_LEN));
		CHECK_EQ(le32_to_cpu(s[i].version), VX_FORMAT_VERSION);
		CHECK_EQ(le64_to_cpu(s[i].slot), i);
		CHECK_EQ(le32_to_cpu(s[i].block_size), bs);
		CHECK_EQ(le64_to_cpu(s[i].total_blocks), blocks);
		CHECK_EQ(le32_to_cpu(s[i].alloc_group_blocks), bs / 4 * 8);
		CHECK_EQ(le64_to_cpu(s[i].next_ino), VX_FIRST_INO);
		CHECK_EQ(le64_to_cpu(s[i].inode_count), 1);
		CHECK_EQ(le64_to_cpu(s[i].feature_incompat), 0);
		CHECK_EQ(le64_to_cpu(s[i].feature_ro_compat), 0);
		CHECK_EQ(le64_to_cpu(s[i].feature_compat), 0);
		CHECK_EQ(le32_to_cpu(s[i].state), 0);
		CHECK(!strcmp((const char *)s[i].label, "test"));
		CHECK(le64_to_cpu(s[i].free_blocks) < blocks);
		CHECK(le64_to_cpu(s[i].free_blocks) > blocks - VX_RESERVED_BYTES / bs - 16);
	}
	/* transaction 1 went to slot 1, transaction 2 to slot 0 */
	CHECK_EQ(le64_to_cpu(s[1].generation), 1);
	CHECK_EQ(le64_to_cpu(s[0].generation), 2);
	CHECK(!memcmp(s[0].uuid, s[1].uuid, VX_UUID_LEN));
	CHECK_EQ(le64_to_cpu(s[0].free_blocks), le64_to_cpu(s[1].free_blocks));
	CHECK_EQ(le64_to_cpu(s[0].mkfs_time), 1700000000);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), 2);
	CHECK_EQ(vx_fs_generation(fs), 3);
	CHECK_EQ(vx_fs_block_size(fs), bs);
	CHECK_EQ(vx_fs_total_blocks(fs), blocks);
	CHECK_EQ(vx_fs_inode_count(fs), 1);
	CHECK_EQ(vx_fs_dirty(fs), false);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_mkfs_slots(void)
{
	if (check_mkfs_slots(4096, 4096) || check_mkfs_slots(2048, 3000) ||
	    check_mkfs_slots(1024, 20000) || check_mkfs_slots(4096, 100000))
		return -1;
	return 0;
}

static int t_mkfs_bad_params(void)
{
	char *img = new_image(4096, 4096);
	struct vx_mkfs_params p = { 0 };
	struct vx_devfile *d;
	static const u32 bad_bs[] = { 0, 512, 3000, 4095, 8192, 65536 };

	CHECK_EQ(vx_devfile_open(img, 1, &d), 0);
	p.total_blocks = 4096;
	for (unsigned i = 0; i < sizeof(bad_bs) / sizeof(bad_bs[0]); i++) {
		p.block_size = bad_bs[i];
		CHECK_EQ(vx_mkfs(&vx_devfile_ops, d, &p), -EINVAL);
	}
	p.block_size = 4096;
	p.total_blocks = 100;		/* smaller than the reserved area plus room */
	CHECK_EQ(vx_mkfs(&vx_devfile_ops, d, &p), -EINVAL);
	p.total_blocks = (1ULL << 48) + 1;
	CHECK_EQ(vx_mkfs(&vx_devfile_ops, d, &p), -EINVAL);
	/* a label of 64 bytes without NUL is cut to 63 */
	p.total_blocks = 4096;
	memset(p.label, 'L', sizeof(p.label));
	CHECK_EQ(vx_mkfs(&vx_devfile_ops, d, &p), 0);
	vx_devfile_close(d);
	{
		struct vx_superblock sb;

		read_slot(img, 0, &sb);
		CHECK_EQ(strlen((const char *)sb.label), VX_LABEL_LEN - 1);
	}
	CHECK_EQ(try_open(img, 0), 0);
	done_image(img);
	return 0;
}

/* Each commit bumps the generation by one and writes slot generation % 2. */
static int t_generation_alternates(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_superblock s[2], prev;
	struct vx_inode_data in;
	u64 gen;
	int i;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	gen = le64_to_cpu(vx_fs_super(fs)->generation);
	CHECK_EQ(gen, 2);
	for (i = 0; i < 12; i++) {
		int slot = (gen + 1) % 2;

		read_slot(img, 1 - slot, &prev);
		memset(&in, 0, sizeof(in));
		in.mode = S_REG;
		CHECK_EQ(vx_inode_create(fs, &in), 0);
		CHECK_EQ(in.generation, gen + 1);
		CHECK_EQ(vx_fs_dirty(fs), true);
		CHECK_EQ(vx_fs_commit(fs), 0);
		CHECK_EQ(vx_fs_dirty(fs), false);
		gen++;
		CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen);
		CHECK_EQ(vx_fs_generation(fs), gen + 1);
		read_slot(img, 0, &s[0]);
		read_slot(img, 1, &s[1]);
		CHECK_EQ(le64_to_cpu(s[slot].generation), gen);
		CHECK_EQ(le64_to_cpu(s[slot].slot), slot);
		CHECK_EQ(le64_to_cpu(s[1 - slot].generation), gen - 1);
		CHECK(!memcmp(&s[1 - slot], &prev, sizeof(prev)));	/* untouched */
		CHECK(!memcmp(&s[slot], vx_fs_super(fs), sizeof(s[slot])));
		CHECK_EQ(le64_to_cpu(s[slot].inode_count), 2 + i);
		CHECK_EQ(le64_to_cpu(s[slot].next_ino), in.ino + 1);
		CHECK(le64_to_cpu(s[slot].commit_time) > 1700000000ULL);
		/* nothing changed: no commit, no new generation */
		CHECK_EQ(vx_fs_commit(fs), 0);
		CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen);
		read_slot(img, 0, &prev);
		CHECK(!memcmp(&prev, &s[0], sizeof(prev)));
		if (i % 3 == 2) {
			vt_close(d, fs);
			CHECK_EQ(vt_open(img, &d, &fs), 0);
			CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen);
			CHECK_EQ(vx_fs_generation(fs), gen + 1);
		}
	}
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/*
 * Every single corrupt byte of one slot: open falls back to the other slot
 * (the previous commit when the newest is hit); the next commit rewrites it.
 */
static int t_one_slot_corrupt(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_inode_data a, b, r;
	struct vx_superblock saved[2];
	u64 gen;
	int newest, slot, x;

	/* two commits: inode a exists in both slots' states, b only in the newest */
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	memset(&a, 0, sizeof(a));
	a.mode = S_REG;
	CHECK_EQ(vx_inode_create(fs, &a), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	b = a;
	CHECK_EQ(vx_inode_create(fs, &b), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	gen = le64_to_cpu(vx_fs_super(fs)->generation);
	vt_close(d, fs);
	newest = newest_slot(img);
	CHECK_EQ(newest, gen % 2);
	read_slot(img, 0, &saved[0]);
	read_slot(img, 1, &saved[1]);

	for (slot = 0; slot < 2; slot++) {
		for (x = 0; x < VX_SB_SIZE; x++) {
			u8 flip = (u8)(1 + rnd() % 255);

			raw_flip(img, slot_off[slot] + x, flip);
			CHECK_EQ(open_flags(img, 0, &d, &fs), 0);
			if (slot == newest) {
				CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen - 1);
				CHECK_EQ(vx_inode_read(fs, b.ino, &r), -ENOENT);
			} else {
				CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen);
				CHECK_EQ(vx_inode_read(fs, b.ino, &r), 0);
			}
			CHECK_EQ(vx_inode_read(fs, a.ino, &r), 0);
			vt_close(d, fs);
			raw_flip(img, slot_off[slot] + x, flip);
		}
	}
	/* bytes after the 512 covered by the CRC do not matter */
	raw_flip(img, slot_off[newest] + VX_SB_SIZE + 7, 0x55);
	CHECK_EQ(open_flags(img, 0, &d, &fs), 0);
	CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen);
	vt_close(d, fs);

	/* a fallback to the older slot, then a commit that overwrites the bad one */
	raw_flip(img, slot_off[newest] + 40, 0x01);
	CHECK_EQ(open_flags(img, 0, &d, &fs), 0);
	CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen - 1);
	CHECK_EQ(vx_inode_read(fs, b.ino, &r), -ENOENT);
	memset(&r, 0, sizeof(r));
	r.mode = S_REG;
	CHECK_EQ(vx_inode_create(fs, &r), 0);
	CHECK_EQ(r.ino, b.ino);		/* b was never durable */
	CHECK_EQ(vx_fs_commit(fs), 0);
	CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen);
	vt_close(d, fs);
	CHECK_EQ(newest_slot(img), newest);
	CHECK_EQ(open_flags(img, 0, &d, &fs), 0);
	CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen);
	CHECK_EQ(vx_inode_read(fs, r.ino, &r), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_both_slots_corrupt(void)
{
	char *img = new_image(4096, 4096);
	int i;

	for (i = 0; i < 300; i++) {
		int x0 = i < 60 ? i : (int)(rnd() % VX_SB_SIZE);
		int x1 = i < 60 ? i : (int)(rnd() % VX_SB_SIZE);
		u8 f0 = (u8)(1 + rnd() % 255), f1 = (u8)(1 + rnd() % 255);
		bool magic0 = x0 >= 8 && x0 < 16, magic1 = x1 >= 8 && x1 < 16;
		int err;

		raw_flip(img, slot_off[0] + x0, f0);
		raw_flip(img, slot_off[1] + x1, f1);
		err = try_open(img, 0);
		CHECK_EQ(err, magic0 && magic1 ? -EINVAL : -EUCLEAN);
		CHECK_EQ(try_open(img, VX_OPEN_RDONLY | VX_OPEN_NOVERIFY), err);
		raw_flip(img, slot_off[0] + x0, f0);
		raw_flip(img, slot_off[1] + x1, f1);
	}
	CHECK_EQ(try_open(img, 0), 0);
	done_image(img);
	return 0;
}

static int t_not_vexfs(void)
{
	char *img = new_image(4096, 4096);
	static u8 junk[65536];
	struct vx_superblock sb;
	int fd;

	/* zeroed device */
	memset(junk, 0, sizeof(junk));
	raw_write(img, 0, junk, sizeof(junk));
	CHECK_EQ(try_open(img, 0), -EINVAL);
	CHECK_EQ(try_open(img, VX_OPEN_RDONLY), -EINVAL);
	/* random bytes */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (u8)rnd();
	raw_write(img, 0, junk, sizeof(junk));
	CHECK_EQ(try_open(img, 0), -EINVAL);
	/* the magic alone is not a superblock */
	memcpy(junk + VX_SB_OFFSET_0 + 8, VX_MAGIC, VX_MAGIC_LEN);
	memcpy(junk + VX_SB_OFFSET_1 + 8, VX_MAGIC, VX_MAGIC_LEN);
	raw_write(img, 0, junk, sizeof(junk));
	CHECK_EQ(try_open(img, 0), -EUCLEAN);
	/* tiny and empty devices */
	fd = open(img, O_RDWR | O_TRUNC);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "hello", 5), 5);
	close(fd);
	CHECK_EQ(try_open(img, 0), -EINVAL);
	fd = open(img, O_RDWR | O_TRUNC);
	close(fd);
	CHECK_EQ(try_open(img, 0), -EINVAL);
	/* vx_super_check on a zeroed superblock */
	{
		const char *msg = NULL;

		memset(&sb, 0, sizeof(sb));
		CHECK_EQ(vx_super_check(&sb, 0, &msg), -EINVAL);
		CHECK(msg != NULL);
	}
	done_image(img);
	return 0;
}

/* Rewrite a superblock field in one or both slots, with a valid CRC. */
typedef void (*sb_edit_t)(struct vx_superblock *sb, u64 arg);

static void edit_slots(const char *img, int which, sb_edit_t fn, u64 arg)
{
	for (int i = 0; i < 2; i++) {
		struct vx_superblock sb;

		if (which != 2 && which != i)
			continue;
		read_slot(img, i, &sb);
		fn(&sb, arg);
		write_slot(img, i, &sb, true);
	}
}

static void set_incompat(struct vx_superblock *sb, u64 bits) { sb->feature_incompat = cpu_to_le64(bits); }
static void set_ro_compat(struct vx_superblock *sb, u64 bits) { sb->feature_ro_compat = cpu_to_le64(bits); }
static void set_compat(struct vx_superblock *sb, u64 bits) { sb->feature_compat = cpu_to_le64(bits); }
static void set_version(struct vx_superblock *sb, u64 v) { sb->version = cpu_to_le32((u32)v); }

static int t_incompat_features(void)
{
	char *img = new_image(4096, 4096);
	struct vx_superblock sb;
	const char *msg;
	int i;

	for (i = 0; i < 64; i += 7) {
		edit_slots(img, 2, set_incompat, 1ULL << i);
		read_slot(img, 0, &sb);
		CHECK_EQ(vx_super_check(&sb, 0, &msg), -EOPNOTSUPP);
		CHECK_EQ(try_open(img, 0), -EOPNOTSUPP);
		CHECK_EQ(try_open(img, VX_OPEN_RDONLY), -EOPNOTSUPP);
		CHECK_EQ(try_open(img, VX_OPEN_RDONLY | VX_OPEN_NOVERIFY), -EOPNOTSUPP);
	}
	edit_slots(img, 2, set_incompat, 0);
	CHECK_EQ(try_open(img, 0), 0);
	/* an unknown format version is refused the same way */
	edit_slots(img, 2, set_version, 2);
	CHECK_EQ(try_open(img, 0), -EOPNOTSUPP);
	edit_slots(img, 2, set_version, 0);
	CHECK_EQ(try_open(img, 0), -EOPNOTSUPP);
	edit_slots(img, 2, set_version, VX_FORMAT_VERSION);
	/* unknown compat features are fine */
	edit_slots(img, 2, set_compat, ~0ULL);
	CHECK_EQ(try_open(img, 0), 0);
	done_image(img);
	return 0;
}

/*
 * The newest superblock (valid CRC, highest generation) asks for a feature
 * this code does not know: the volume must be refused, not silently rolled
 * back to the previous commit (whose slot the next commit would then
 * overwrite, destroying the newer superblock).
 */
static int t_incompat_newest_slot_only(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	int newest = newest_slot(img);

	CHECK_EQ(newest, 0);
	edit_slots(img, newest, set_incompat, 1ULL << 9);
	/* the other slot alone is fine: the older generation carries no feature */
	CHECK_EQ(try_open(img, 0), -EOPNOTSUPP);
	CHECK_EQ(try_open(img, VX_OPEN_RDONLY), -EOPNOTSUPP);
	edit_slots(img, newest, set_incompat, 0);
	edit_slots(img, newest, set_version, 7);
	CHECK_EQ(try_open(img, 0), -EOPNOTSUPP);
	edit_slots(img, newest, set_version, VX_FORMAT_VERSION);
	/* the feature only in the older slot: the newest is used */
	edit_slots(img, 1 - newest, set_incompat, 1ULL << 9);
	CHECK_EQ(open_flags(img, 0, &d, &fs), 0);
	CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), 2);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_ro_compat_features(void)
{
	char *img = populated_image(4096, 4096, 30);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_inode_data r, in;
	struct vx_mapping m;
	struct vx_superblock before[2], after[2];
	const char *msg;
	u64 ino;
	int i;

	for (i = 0; i < 3; i++) {
		/* both slots, the newest only, and both again with other bits */
		int which = i == 1 ? newest_slot(img) : 2;

		edit_slots(img, 2, set_ro_compat, 0);
		edit_slots(img, which, set_ro_compat, i == 2 ? ~0ULL : 1ULL << 3);
		read_slot(img, 0, &before[0]);
		read_slot(img, 1, &before[1]);
		if (which == 2)
			CHECK_EQ(vx_super_check(&before[0], 0, &msg), 1);
		CHECK_EQ(try_open(img, 0), -EROFS);
		CHECK_EQ(open_flags(img, VX_OPEN_RDONLY, &d, &fs), 0);
		/* reads work */
		CHECK_EQ(vx_inode_read(fs, VX_ROOT_INO, &r), 0);
		CHECK_EQ(vx_dir_lookup(fs, VX_ROOT_INO, "sub", 3, &ino, NULL), 0);
		CHECK_EQ(vx_inode_read(fs, ino, &r), 0);
		/* modifications do not */
		memset(&in, 0, sizeof(in));
		in.mode = S_REG;
		CHECK_EQ(vx_inode_create(fs, &in), -EROFS);
		CHECK_EQ(vx_inode_write(fs, &r), -EROFS);
		CHECK_EQ(vx_dir_add(fs, &r, "x", 1, 5, VX_FT_REG), -EROFS);
		CHECK_EQ(vx_dir_remove(fs, VX_ROOT_INO, "sub", 3), -EROFS);
		CHECK_EQ(vx_xattr_set(fs, ino, VX_XATTR_INDEX_USER, "a", "b", 1, 0), -EROFS);
		CHECK_EQ(vx_extent_alloc(fs, &r, 100, 1, 0, &m), -EROFS);
		CHECK_EQ(vx_orphan_add(fs, ino), -EROFS);
		CHECK_EQ(vx_inode_remove(fs, ino), -EROFS);
		CHECK_EQ(vx_fs_dirty(fs), false);
		CHECK_EQ(vx_fs_commit(fs), 0);
		CHECK_EQ(vx_devfile_write_count(d), 0);
		CHECK_EQ(vx_dir_lookup(fs, VX_ROOT_INO, "sub", 3, &ino, NULL), 0);
		vt_close(d, fs);
		read_slot(img, 0, &after[0]);
		read_slot(img, 1, &after[1]);
		CHECK(!memcmp(before, after, sizeof(before)));
	}
	edit_slots(img, 2, set_ro_compat, 0);
	CHECK_EQ(try_open(img, 0), 0);
	done_image(img);
	return 0;
}

/* Geometry fields out of range in both slots: refused, never used. */
static void set_block_size(struct vx_superblock *sb, u64 v) { sb->block_size = cpu_to_le32((u32)v); }
static void set_group(struct vx_superblock *sb, u64 v) { sb->alloc_group_blocks = cpu_to_le32((u32)v); }
static void set_total(struct vx_superblock *sb, u64 v) { sb->total_blocks = cpu_to_le64(v); }
static void set_free(struct vx_superblock *sb, u64 v) { sb->free_blocks = cpu_to_le64(v); }
static void set_slot(struct vx_superblock *sb, u64 v) { sb->slot = cpu_to_le64(v); }
static void set_fs_root(struct vx_superblock *sb, u64 v) { sb->fs_root.blocknr = cpu_to_le64(v); }
static void set_alloc_root(struct vx_superblock *sb, u64 v) { sb->alloc_root.blocknr = cpu_to_le64(v); }
static void set_fs_level(struct vx_superblock *sb, u64 v) { sb->fs_root_level = (u8)v; }
static void set_alloc_level(struct vx_superblock *sb, u64 v) { sb->alloc_root_level = (u8)v; }
static void set_root_birth(struct vx_superblock *sb, u64 v) { sb->fs_root.birth = cpu_to_le64(le64_to_cpu(sb->generation) + v); }
static void set_root_csum(struct vx_superblock *sb, u64 v) { sb->fs_root.csum ^= cpu_to_le32((u32)v); }
static void set_alloc_csum(struct vx_superblock *sb, u64 v) { sb->alloc_root.csum ^= cpu_to_le32((u32)v); }

static int t_bad_geometry(void)
{
	char *img = new_image(4096, 4096);
	static u8 saved[2][VX_SB_SIZE];
	static const struct { sb_edit_t fn; u64 arg; } cases[] = {
		{ set_block_size, 512 }, { set_block_size, 8192 }, { set_block_size, 3072 },
		{ set_block_size, 0 }, { set_block_size, 1024 }, { set_group, 0 },
		{ set_group, 4096 }, { set_total, 0 }, { set_total, 100 },
		{ set_total, (1ULL << 48) + 1 }, { set_total, 1ULL << 40 }, { set_total, 4095 },
		{ set_free, 4097 }, { set_free, 4000 }, { set_free, 0 }, { set_slot, 2 },
		{ set_slot, ~0ULL }, { set_fs_root, 0 }, { set_fs_root, 15 },
		{ set_fs_root, 4096 }, { set_fs_root, ~0ULL }, { set_fs_root, 4000 },
		{ set_alloc_root, 1 }, { set_alloc_root, 4096 }, { set_alloc_root, 3000 },
		{ set_fs_level, 8 }, { set_fs_level, 255 }, { set_fs_level, 1 },
		{ set_fs_level, 7 }, { set_alloc_level, 3 }, { set_alloc_level, 200 },
		{ set_root_birth, 1 }, { set_root_birth, 1000 }, { set_root_csum, 1 },
		{ set_alloc_csum, 0x80000000 },
	};

	raw_read(img, slot_off[0], saved[0], VX_SB_SIZE);
	raw_read(img, slot_off[1], saved[1], VX_SB_SIZE);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err;

		edit_slots(img, 2, cases[i].fn, cases[i].arg);
		for (unsigned fl = 0; fl < 4; fl++) {
			err = try_open(img, fl);
			/* NOVERIFY may open a volume whose fs root is bad, nothing else */
			if (fl & VX_OPEN_NOVERIFY && !err &&
			    (cases[i].fn == set_fs_root || cases[i].fn == set_fs_level ||
			     cases[i].fn == set_root_birth || cases[i].fn == set_root_csum ||
			     /* see t_noverify_bad_alloc_tree */
			     cases[i].fn == set_alloc_root || cases[i].fn == set_alloc_level ||
			     cases[i].fn == set_alloc_csum ||
			     /* fsck repairs a free count that disagrees with the bitmaps */
			     cases[i].fn == set_free || (cases[i].fn == set_total && cases[i].arg == 4095)))
				continue;
			if (err != -EUCLEAN && err != -EINVAL && err != -EIO)
				fprintf(stderr, "geometry case %u flags %u: open gave %d\n", i, fl, err);
			CHECK(err == -EUCLEAN || err == -EINVAL || err == -EIO);
		}
		raw_write(img, slot_off[0], saved[0], VX_SB_SIZE);
		raw_write(img, slot_off[1], saved[1], VX_SB_SIZE);
	}
	CHECK_EQ(try_open(img, 0), 0);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- tree nodes */

static int newest_sb(const u8 *buf, struct vx_superblock **sb)
{
	struct vx_superblock *s0 = (void *)(buf + VX_SB_OFFSET_0);
	struct vx_superblock *s1 = (void *)(buf + VX_SB_OFFSET_1);
	int i = newest_slot_of(s0, s1);

	*sb = i == 1 ? s1 : s0;
	return i;
}

/* Any byte of the fs tree's root: open refuses the volume. */
static int check_root_corrupt(u32 bs, int step)
{
	char *img = populated_image(bs == 1024 ? 8192 : 2048, bs, 6);
	struct vx_superblock sb;
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_inode_data r;
	u64 root;
	u32 x;

	read_slot(img, newest_slot(img), &sb);
	root = le64_to_cpu(sb.fs_root.blocknr);
	for (x = 0; x < bs; x += x < 256 ? 1 : step) {
		u8 f = (u8)(1 + rnd() % 255);

		raw_flip(img, root * bs + x, f);
		CHECK_EQ(try_open(img, 0), -EUCLEAN);
		CHECK_EQ(try_open(img, VX_OPEN_RDONLY), -EUCLEAN);
		raw_flip(img, root * bs + x, f);
	}
	/* fsck's open tolerates it; every access to the tree then fails */
	raw_flip(img, root * bs + bs / 2, 0x10);
	CHECK_EQ(open_flags(img, VX_OPEN_NOVERIFY, &d, &fs), 0);
	CHECK_EQ(vx_inode_read(fs, VX_ROOT_INO, &r), -EUCLEAN);
	CHECK_EQ(vx_dir_lookup(fs, VX_ROOT_INO, "sub", 3, &root, NULL), -EUCLEAN);
	memset(&r, 0, sizeof(r));
	r.mode = S_REG;
	CHECK_EQ(vx_inode_create(fs, &r), -EUCLEAN);
	CHECK(vx_fs_failed(fs) != 0);
	CHECK_EQ(vx_fs_commit(fs), -EROFS);
	vt_close(d, fs);
	raw_flip(img, root * bs + bs / 2, 0x10);
	CHECK_EQ(try_open(img, 0), 0);
	done_image(img);
	return 0;
}

static int t_root_node_corrupt(void)
{
	if (check_root_corrupt(4096, 5) || check_root_corrupt(1024, 1))
		return -1;
	return 0;
}

/*
 * A damaged leaf deep in a multi-level tree: open works (it only reads the
 * leftmost path), lookups that reach the leaf fail with -EUCLEAN, others
 * work, a walk stops at the leaf with -EUCLEAN.
 */
static int t_deep_leaf_corrupt(void)
{
	char *img = populated_image(8192, 1024, 300);
	struct vx_superblock *sb;
	struct nodemap map = { 0 };
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_inode_data r;
	struct walk_stats w;
	u64 size, leaf = 0, first_ino = 0;
	u8 *buf = img_load(img, &size);
	int i, tried = 0;

	newest_sb(buf, &sb);
	CHECK(sb->fs_root_level >= 2);
	map_nodes(buf, size, sb, &map);
	for (i = 0; i < map.count && tried < 8; i++) {
		const struct nref *n = &map.n[i];
		const u8 *blk = buf + n->blocknr * 1024;
		const struct vx_item *it = (const void *)(blk + 64);
		struct vx_ckey k;
		u32 nr = le16_to_cpu(((const struct vx_node_header *)blk)->nritems);
		u32 j;

		if (n->tree != VX_TREE_FS || n->level || n->slot == 0)
			continue;
		/* a leaf holding an inode item, not on the leftmost path */
		for (j = 0; j < nr; j++) {
			key_from_disk(&k, &it[j].key);
			if (k.type == VX_ITEM_INODE && k.objectid > VX_FIRST_INO)
				break;
		}
		if (j == nr)
			continue;
		leaf = n->blocknr;
		first_ino = k.objectid;
		tried++;
		raw_flip(img, leaf * 1024 + 1000, 0x20);
		CHECK_EQ(open_flags(img, 0, &d, &fs), 0);
		CHECK_EQ(vx_inode_read(fs, first_ino, &r), -EUCLEAN);
		CHECK_EQ(vx_inode_read(fs, first_ino, &r), -EUCLEAN);	/* not cached */
		CHECK_EQ(vx_inode_read(fs, VX_ROOT_INO, &r), 0);
		CHECK_EQ(vx_fs_failed(fs), 0);	/* reads do not fail the volume */
		memset(&w, 0, sizeof(w));
		walk_tree(fs, VX_TREE_FS, &w, false);
		CHECK(w.errors > 0);
		CHECK_EQ(w.first_err, -EUCLEAN);
		CHECK_EQ(w.disorder, 0);
		/* a change that must go through the leaf fails and fails the volume */
		memset(&r, 0, sizeof(r));
		r.ino = first_ino;
		r.mode = S_REG;
		CHECK_EQ(vx_inode_write(fs, &r), -EUCLEAN);
		CHECK(vx_fs_failed(fs) != 0);
		CHECK_EQ(vx_fs_commit(fs), -EROFS);
		vt_close(d, fs);
		raw_flip(img, leaf * 1024 + 1000, 0x20);
	}
	CHECK(tried > 0);
	CHECK_EQ(open_flags(img, 0, &d, &fs), 0);
	memset(&w, 0, sizeof(w));
	walk_all(fs, &w);
	CHECK_EQ(w.errors, 0);
	CHECK(w.inodes > 300);
	vt_close(d, fs);
	free(map.n);
	free(buf);
	done_image(img);
	return 0;
}

/* The alloc tree is loaded whole at open: any damage refuses the volume. */
static int t_alloc_tree_corrupt(void)
{
	char *img = populated_image(40000, 1024, 50);	/* 5 groups */
	struct vx_superblock *sb;
	struct nodemap map = { 0 };
	u64 size;
	u8 *buf = img_load(img, &size);
	int i, n = 0;

	newest_sb(buf, &sb);
	map_nodes(buf, size, sb, &map);
	for (i = 0; i < map.count; i++) {
		u64 b = map.n[i].blocknr;

		if (map.n[i].tree != VX_TREE_ALLOC)
			continue;
		n++;
		for (int k = 0; k < 20; k++) {
			u32 x = rnd() % 1024;
			u8 f = (u8)(1 + rnd() % 255);

			raw_flip(img, b * 1024 + x, f);
			CHECK_EQ(try_open(img, 0), -EUCLEAN);
			CHECK_EQ(try_open(img, VX_OPEN_RDONLY), -EUCLEAN);
			raw_flip(img, b * 1024 + x, f);
		}
	}
	CHECK(n >= 2);
	CHECK_EQ(try_open(img, 0), 0);
	free(map.n);
	free(buf);
	done_image(img);
	return 0;
}

/*
 * VX_OPEN_NOVERIFY is documented to tolerate a bad fs root.  Whatever it
 * tolerates, the allocator it hands back must not give away blocks in use.
 */
static int t_noverify_bad_alloc_tree(void)
{
	char *img = populated_image(4096, 4096, 20);
	struct vx_superblock sb;
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 ar, fr, s, g;
	int err;

	read_slot(img, newest_slot(img), &sb);
	ar = le64_to_cpu(sb.alloc_root.blocknr);
	fr = le64_to_cpu(sb.fs_root.blocknr);
	raw_flip(img, ar * 4096 + 200, 0x04);
	CHECK_EQ(try_open(img, 0), -EUCLEAN);
	err = open_flags(img, VX_OPEN_NOVERIFY, &d, &fs);
	if (err) {
		CHECK_EQ(err, -EUCLEAN);
	} else {
		CHECK(vx_block_in_use(fs, fr));
		CHECK(vx_block_in_use(fs, ar));
		err = vx_alloc_blocks(fs, fr, 1, false, &s, &g);
		CHECK(err != 0 || (s != fr && s != ar));
		vt_close(d, fs);
	}
	done_image(img);
	return 0;
}

/* Another node's block where a node should be: always caught. */
static int t_misdirected_writes(void)
{
	char *img = populated_image(8192, 1024, 300);
	struct vx_superblock *sb;
	struct nodemap map = { 0 };
	struct walk_stats w;
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 size, root;
	u8 *buf = img_load(img, &size), blk[1024];
	int i, cases = 0;

	newest_sb(buf, &sb);
	map_nodes(buf, size, sb, &map);
	root = le64_to_cpu(sb->fs_root.blocknr);
	CHECK(map.count > 20);
	for (i = 0; i < map.count && cases < 60; i++) {
		u64 src = map.n[i].blocknr, dst;
		int how = cases % 3, err;

		/* copy node i over: the fs root, a random other node, or either with
		 * its header made to look like it belongs there */
		dst = how == 0 ? root : map.n[rnd() % map.count].blocknr;
		if (dst == src)
			continue;
		memcpy(blk, buf + src * 1024, 1024);
		if (how == 2) {
			((struct vx_node_header *)blk)->blocknr = cpu_to_le64(dst);
			node_reseal(blk, 1024);
		}
		raw_write(img, dst * 1024, blk, 1024);
		err = open_flags(img, 0, &d, &fs);
		if (err) {
			CHECK_EQ(err, -EUCLEAN);
		} else {
			memset(&w, 0, sizeof(w));
			walk_all(fs, &w);
			CHECK(w.errors > 0);
			CHECK_EQ(w.first_err, -EUCLEAN);
			vt_close(d, fs);
		}
		raw_write(img, dst * 1024, buf + dst * 1024, 1024);
		cases++;
	}
	CHECK_EQ(try_open(img, 0), 0);
	free(map.n);
	free(buf);
	done_image(img);
	return 0;
}

/*
 * A lost write: a block keeps the content of an older node that lived there.
 * The parent's record (birth, checksum) exposes it.
 */
static int t_stale_block(void)
{
	char *img = populated_image(8192, 1024, 200);
	struct vx_superblock *sb_old, *sb_new;
	struct nodemap map = { 0 };
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct walk_stats w;
	u64 size, size2;
	u8 *old = img_load(img, &size), *cur;
	int i, found = 0;

	/* churn: delete half, commit a few times, add more: blocks get reused */
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	for (i = 0; i < 200; i += 2) {
		char name[64];

		snprintf(name, sizeof(name), "file-%d-%s", i, i % 2 ? "odd" : "even");
		vx_dir_remove(fs, i % 3 ? VX_ROOT_INO : VX_FIRST_INO, name, strlen(name));
		CHECK_EQ(vx_inode_remove(fs, VX_FIRST_INO + 1 + i), 0);
		if (i % 40 == 0)
			CHECK_EQ(vx_fs_commit(fs), 0);
	}
	CHECK_EQ(vx_fs_commit(fs), 0);
	if (populate(fs, 150, 4, "b"))
		return -1;
	vt_close(d, fs);
	cur = img_load(img, &size2);
	CHECK_EQ(size, size2);
	newest_sb(old, &sb_old);
	newest_sb(cur, &sb_new);
	CHECK(le64_to_cpu(sb_new->generation) > le64_to_cpu(sb_old->generation) + 4);
	map_nodes(cur, size, sb_new, &map);
	for (i = 0; i < map.count; i++) {
		u64 b = map.n[i].blocknr;
		const struct vx_node_header *ho = (const void *)(old + b * 1024);
		const struct vx_node_header *hn = (const void *)(cur + b * 1024);
		int err;

		if (le32_to_cpu(ho->magic) != VX_NODE_MAGIC || ho->birth == hn->birth)
			continue;
		found++;
		raw_write(img, b * 1024, old + b * 1024, 1024);
		err = open_flags(img, 0, &d, &fs);
		if (err) {
			CHECK_EQ(err, -EUCLEAN);
		} else {
			memset(&w, 0, sizeof(w));
			walk_all(fs, &w);
			CHECK(w.errors > 0);
			CHECK_EQ(w.first_err, -EUCLEAN);
			vt_close(d, fs);
		}
		raw_write(img, b * 1024, cur + b * 1024, 1024);
	}
	CHECK(found > 0);
	CHECK_EQ(try_open(img, 0), 0);
	free(map.n);
	free(old);
	free(cur);
	done_image(img);
	return 0;
}

static int t_truncated_device(void)
{
	char *img = populated_image(4096, 4096, 10);
	struct vx_devfile *d;
	struct vx_fs *fs;

	/* the caller says the device is smaller than the volume */
	CHECK_EQ(vx_devfile_open(img, 1, &d), 0);
	CHECK_EQ(vx_fs_open(&fs, &vx_devfile_ops, d, 4096ULL * 4096 - 1, 0), -EINVAL);
	CHECK_EQ(vx_fs_open(&fs, &vx_devfile_ops, d, 2048ULL * 4096, VX_OPEN_RDONLY), -EINVAL);
	CHECK_EQ(vx_fs_open(&fs, &vx_devfile_ops, d, 4096ULL * 4096 + 5000, 0), 0);
	vx_fs_close(fs);
	vx_devfile_close(d);
	/* the image file really is cut short */
	CHECK_EQ(truncate(img, 4095ULL * 4096), 0);
	CHECK_EQ(try_open(img, 0), -EINVAL);
	CHECK_EQ(try_open(img, VX_OPEN_RDONLY | VX_OPEN_NOVERIFY), -EINVAL);
	CHECK_EQ(truncate(img, 100ULL * 4096), 0);
	CHECK_EQ(try_open(img, 0), -EINVAL);
	/* a device larger than the volume is fine */
	CHECK_EQ(truncate(img, 0), 0);
	free(img);
	img = populated_image(4096, 4096, 10);
	CHECK_EQ(truncate(img, 8192ULL * 4096), 0);
	CHECK_EQ(try_open(img, 0), 0);
	done_image(img);
	return 0;
}

/*
 * A commit whose writes fail, at every possible point up to and including
 * the superblock: the previous state stays, in memory and on disk.
 */
static int t_commit_write_fails(void)
{
	char *img = populated_image(4096, 4096, 40);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_superblock s0[2], s1[2];
	struct vx_inode_data in, r;
	u64 gen;
	long n;
	int err;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	gen = le64_to_cpu(vx_fs_super(fs)->generation);
	read_slot(img, 0, &s0[0]);
	read_slot(img, 1, &s0[1]);
	for (n = 0; ; n++) {
		CHECK(n < 1000);
		memset(&in, 0, sizeof(in));
		in.mode = S_REG;
		CHECK_EQ(vx_inode_create(fs, &in), 0);
		CHECK_EQ(vx_xattr_set(fs, in.ino, VX_XATTR_INDEX_USER, "k", "v", 1, 0), 0);
		CHECK_EQ(vx_dir_add(fs, &(struct vx_inode_data){ .ino = VX_ROOT_INO, .next_dir_index = 10000 + n },
				    "new", 3, in.ino, VX_FT_REG), 0);
		vx_devfile_fail_writes_after(d, n);
		err = vx_fs_commit(fs);
		vx_devfile_fail_writes_after(d, -1);
		if (!err)
			break;
		CHECK_EQ(err, -EIO);
		CHECK_EQ(vx_fs_failed(fs), -EIO);
		CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen);
		CHECK_EQ(vx_fs_commit(fs), -EROFS);
		memset(&r, 0, sizeof(r));
		r.mode = S_REG;
		CHECK_EQ(vx_inode_create(fs, &r), -EROFS);
		read_slot(img, 0, &s1[0]);
		read_slot(img, 1, &s1[1]);
		CHECK(!memcmp(s0, s1, sizeof(s0)));
		vt_close(d, fs);
		CHECK_EQ(vt_open(img, &d, &fs), 0);
		CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen);
		CHECK_EQ(vx_inode_read(fs, in.ino, &r), -ENOENT);
		CHECK_EQ(vx_dir_lookup(fs, VX_ROOT_INO, "new", 3, &in.ino, NULL), -ENOENT);
	}
	/* at least one node write and then the superblock write failed */
	CHECK(n >= 2);
	CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen + 1);
	vt_close(d, fs);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(le64_to_cpu(vx_fs_super(fs)->generation), gen + 1);
	CHECK_EQ(vx_inode_read(fs, in.ino, &r), 0);
	CHECK_EQ(vx_xattr_get(fs, in.ino, VX_XATTR_INDEX_USER, "k", NULL, 0), 1);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/*
 * Keys out of order across two leaves, in an image whose checksums are all
 * valid (a crafted image, or a bug that wrote one): the leaf after a gap in
 * a directory's readdir indexes starts with an index below the previous
 * leaf's.  vx_item_next must not hand back a key below the one asked for,
 * and a readdir loop in getdents-sized chunks must come to an end.
 */
struct chunk_ctx {
	long budget, emitted;
};

static int chunk_emit(void *ctx, const char *name, u32 len, u64 ino, u8 ftype, u64 index)
{
	struct chunk_ctx *c = ctx;

	if (!c->budget)
		return 1;
	c->budget--;
	c->emitted++;
	return 0;
}

static int t_crafted_key_disorder(void)
{
	char *img = new_image(4096, 1024);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_inode_data dir;
	struct vx_superblock *sb;
	struct nodemap map = { 0 };
	u64 size, a = 0, b = 0, pos;
	u8 *buf;
	char name[32];
	int i, calls, done = 0;
	bool next_ok;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	memset(&dir, 0, sizeof(dir));
	dir.mode = S_DIR;
	dir.next_dir_index = 2;
	CHECK_EQ(vx_inode_create(fs, &dir), 0);
	for (i = 0; i < 120; i++) {
		snprintf(name, sizeof(name), "entry%03d", i);
		CHECK_EQ(vx_dir_add(fs, &dir, name, strlen(name), 1000 + i, VX_FT_REG), 0);
	}
	CHECK_EQ(vx_inode_write(fs, &dir), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);

	buf = img_load(img, &size);
	newest_sb(buf, &sb);
	map_nodes(buf, size, sb, &map);
	for (i = 0; i < map.count && !done; i++) {
		const struct nref *r = &map.n[i];
		u8 *leaf = buf + r->blocknr * 1024, *pblk, *left;
		struct vx_item *it = (void *)(leaf + 64), *lit;
		struct vx_node_entry *pe;
		struct vx_ckey k0, k1, kl;
		u32 nr = le16_to_cpu(((struct vx_node_header *)leaf)->nritems), lnr;

		if (r->tree != VX_TREE_FS || r->level || !r->parent || !r->slot || nr < 2)
			continue;
		pblk = buf + r->parent * 1024;
		pe = (void *)(pblk + 64);
		left = buf + le64_to_cpu(pe[r->slot - 1].ptr.blocknr) * 1024;
		lnr = le16_to_cpu(((struct vx_node_header *)left)->nritems);
		lit = (void *)(left + 64);
		key_from_disk(&k0, &it[0].key);
		key_from_disk(&k1, &it[1].key);
		key_from_disk(&kl, &lit[lnr - 1].key);
		if (k0.objectid != dir.ino || k0.type != VX_ITEM_DIRINDEX ||
		    k1.objectid != dir.ino || k1.type != VX_ITEM_DIRINDEX ||
		    kl.objectid != dir.ino || kl.type != VX_ITEM_DIRINDEX || kl.offset < 10)
			continue;
		a = kl.offset;
		b = k0.offset;
		/* the leaf's first entry claims index a - 3 (key and entry agree) */
		it[0].key.offset = cpu_to_le64(a - 3);
		vx_put_unaligned_le64(a - 3, leaf + le32_to_cpu(it[0].offset) + 8);
		/* and its separator moves up one, opening a gap after a */
		pe[r->slot].key.offset = cpu_to_le64(b + 1);
		reseal_chain(buf, 1024, sb, &map, r->blocknr);
		done = 1;
	}
	CHECK(done);
	raw_write(img, 0, buf, size);

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	{
		/* the first item at or after index b */
		struct vx_ckey from = { dir.ino, b, VX_ITEM_DIRINDEX }, found;
		int err = vx_item_next(fs, VX_TREE_FS, &from, &found, NULL, 0, NULL);

		next_ok = err == -EUCLEAN || (err == 0 && vx_key_cmp(&found, &from) >= 0);
		if (!next_ok)
			fprintf(stderr, "vx_item_next(%llu DIRINDEX %llu) returned %d, %llu DIRINDEX %llu\n",
				(unsigned long long)from.objectid, (unsigned long long)from.offset, err,
				(unsigned long long)found.objectid, (unsigned long long)found.offset);
	}
	/* readdir as getdents does it: 16 entries per call, resuming at *pos */
	pos = 0;
	for (calls = 0; calls < 200; calls++) {
		struct chunk_ctx c = { 16, 0 };
		int err = vx_dir_iterate(fs, dir.ino, &pos, chunk_emit, &c);

		if (err) {
			CHECK_EQ(err, -EUCLEAN);
			break;
		}
		if (!c.emitted)
			break;
	}
	if (calls == 200)
		fprintf(stderr, "readdir of a damaged directory never ends (index %llu <-> %llu)\n",
			(unsigned long long)a - 3, (unsigned long long)b);
	vt_close(d, fs);
	CHECK(next_ok);
	CHECK(calls < 200);
	free(map.n);
	free(buf);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- fuzz */

/* The volume in memory: fast to damage and to restore. */
struct memdev {
	u8 *buf;
	u64 size;
	u32 bs;
	long writes;
};

static int md_set_block_size(void *dev, u32 bs)
{
	((struct memdev *)dev)->bs = bs;
	return 0;
}

static int md_read_block(void *dev, u64 b, void *out)
{
	struct memdev *m = dev;

	if (b >= m->size / m->bs)
		return -EIO;
	memcpy(out, m->buf + b * m->bs, m->bs);
	return 0;
}

static int md_write_block(void *dev, u64 b, const void *in)
{
	struct memdev *m = dev;

	if (b >= m->size / m->bs)
		return -EIO;
	memcpy(m->buf + b * m->bs, in, m->bs);
	m->writes++;
	return 0;
}

static int md_flush(void *dev)
{
	return 0;
}

static int md_read_super(void *dev, u64 off, void *buf, u32 len)
{
	struct memdev *m = dev;

	memset(buf, 0, len);
	if (off < m->size)
		memcpy(buf, m->buf + off, min((u64)len, m->size - off));
	return 0;
}

static int md_write_super(void *dev, u64 off, const void *buf, u32 len)
{
	struct memdev *m = dev;

	if (off + len > m->size)
		return -EIO;
	memcpy(m->buf + off, buf, len);
	m->writes++;
	return 0;
}

static const struct vx_dev_ops md_ops = {
	.set_block_size = md_set_block_size,
	.read_block = md_read_block,
	.write_block = md_write_block,
	.flush = md_flush,
	.read_super = md_read_super,
	.write_super = md_write_super,
};

/* For a report if the core crashes or hangs mid-iteration. */
static char fuzz_note[1024];
static char fuzz_dump_path[256];
static struct memdev *fuzz_dev;

static void fuzz_dump(void)
{
	int fd;

	if (fuzz_note[0])
		(void)!write(2, fuzz_note, strlen(fuzz_note));
	if (!fuzz_dev || !fuzz_dump_path[0])
		return;
	fd = open(fuzz_dump_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		/* the damaged image as the iteration started, for a replay */
		(void)!write(fd, fuzz_dev->buf, fuzz_dev->size);
		close(fd);
	}
}

static void fuzz_on_alarm(int sig)
{
	static const char msg[] = "\nFUZZ: the core hung (no progress for 20 s)\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	fuzz_dump();
	for (int i = 0; i < n_images; i++)
		unlink(all_images[i]);
	_exit(3);
}

static void put_le16(u8 *p, u16 v) { vx_put_unaligned_le16(v, p); }
static void put_le32(u8 *p, u32 v) { v = cpu_to_le32(v); memcpy(p, &v, 4); }
static void put_le64(u8 *p, u64 v) { vx_put_unaligned_le64(v, p); }

static u64 interesting(u64 total, u64 cur)
{
	switch (rnd() % 12) {
	case 0: return 0;
	case 1: return 1;
	case 2: return total - 1;
	case 3: return total;
	case 4: return ~0ULL;
	case 5: return 1ULL << 63;
	case 6: return cur + 1;
	case 7: return cur - 1;
	case 8: return cur ^ (1ULL << (rnd() % 64));
	case 9: return 0xffff;
	case 10: return rnd() % (total * 2);
	default: return rnd();
	}
}

/* A structural change to a node, kept plausible enough to pass some checks. */
static void smart_mutate(u8 *blk, u32 bs, u64 total, const struct nodemap *map,
			 const u8 *img, int level, char *note, size_t nsz)
{
	struct vx_node_header *h = (void *)blk;
	u32 nr = le16_to_cpu(h->nritems), i;
	int what = rnd() % 8;

	if (!nr || what == 0) {
		u16 v = (u16)(rnd() % 3 ? nr + (rnd() % 2 ? 1 : -1) : rnd());

		h->nritems = cpu_to_le16(v);
		snprintf(note, nsz, "nritems %u -> %u", nr, v);
		return;
	}
	i = rnd() % nr;
	if (level) {
		struct vx_node_entry *e = (void *)(blk + 64);
		const struct nref *t = &map->n[rnd() % map->count];

		switch (what) {
		case 1:
		case 2: {	/* point at another existing node, with its true csum and birth */
			const struct vx_node_header *th = (const void *)(img + t->blocknr * bs);

			e[i].ptr.blocknr = cpu_to_le64(t->blocknr);
			e[i].ptr.csum = th->csum;
			e[i].ptr.birth = th->birth;
			snprintf(note, nsz, "entry %u -> node %llu", i, (unsigned long long)t->blocknr);
			return;
		}
		case 3:
			e[i].ptr.birth = cpu_to_le64(interesting(1000, le64_to_cpu(e[i].ptr.birth)));
			snprintf(note, nsz, "entry %u birth", i);
			return;
		case 4:
			e[i].ptr.blocknr = cpu_to_le64(interesting(total, le64_to_cpu(e[i].ptr.blocknr)));
			snprintf(note, nsz, "entry %u blocknr", i);
			return;
		default: {	/* separator keys: swap with a neighbour or nudge */
			u32 j = rnd() % nr;
			struct vx_key k = e[i].key;

			if (rnd() % 2) {
				e[i].key = e[j].key;
				e[j].key = k;
			} else {
				e[i].key.offset = cpu_to_le64(interesting(1000, le64_to_cpu(k.offset)));
				if (rnd() % 2)
					e[i].key.objectid = cpu_to_le64(interesting(1000, le64_to_cpu(k.objectid)));
			}
			snprintf(note, nsz, "entry %u/%u keys", i, j);
			return;
		}
		}
	} else {
		struct vx_item *it = (void *)(blk + 64);
		u32 off = le32_to_cpu(it[i].offset), sz = le32_to_cpu(it[i].size);
		u8 *p = blk + off;
		struct vx_ckey k;

		key_from_disk(&k, &it[i].key);
		if (off > bs || sz > bs - off)
			return;
		switch (what) {
		case 1:
			it[i].offset = cpu_to_le32((u32)interesting(bs, off));
			snprintf(note, nsz, "item %u offset", i);
			return;
		case 2:
			it[i].size = cpu_to_le32((u32)interesting(bs, sz));
			snprintf(note, nsz, "item %u size", i);
			return;
		case 3: {
			u32 j = rnd() % nr;
			struct vx_key t = it[i].key;

			if (rnd() % 2) {
				it[i].key = it[j].key;
				it[j].key = t;
			} else {
				it[i].key.offset = cpu_to_le64(interesting(1000, k.offset));
				if (rnd() % 3 == 0)
					it[i].key.type = (u8)(1 + rnd() % 6);
				if (rnd() % 3 == 0)
					it[i].key.objectid = cpu_to_le64(interesting(300, k.objectid));
			}
			snprintf(note, nsz, "item %u/%u keys", i, j);
			return;
		}
		default:	/* the payload, by item type */
			snprintf(note, nsz, "item %u type %u payload", i, k.type);
			if (!sz)
				return;
			switch (k.type) {
			case VX_ITEM_INODE:
				if (sz >= 160) {
					u32 f = rnd() % 20 * 8;

					put_le64(p + f, interesting(1ULL << 40, 0));
				}
				return;
			case VX_ITEM_DIRENT:
			case VX_ITEM_DIRINDEX:
				if (sz >= 24) {
					switch (rnd() % 3) {
					case 0: put_le16(p + 16, (u16)interesting(256, sz - 24)); return;
					case 1: put_le64(p, interesting(1000, 0)); return;
					default: put_le64(p + 8, interesting(1000, 0)); return;
					}
				}
				return;
			case VX_ITEM_XATTR:
				if (sz >= 4) {
					if (rnd() % 2)
						p[1] = (u8)interesting(256, p[1]);
					else
						put_le16(p + 2, (u16)interesting(65536, sz));
				}
				return;
			case VX_ITEM_EXTENT:
				if (sz >= 24) {
					switch (rnd() % 3) {
					case 0: put_le64(p, interesting(total, vx_get_unaligned_le64(p))); return;
					case 1: put_le64(p + 8, interesting(total, 3)); return;
					default: put_le32(p + 16, (u32)rnd()); return;
					}
				}
				return;
			default:
				p[rnd() % sz] ^= (u8)(1 + rnd() % 255);
				return;
			}
		}
	}
}

/* Changes on a (possibly damaged) volume: errors are fine, crashes are not. */
static void fuzz_modify(struct vx_fs *fs)
{
	struct vx_inode_data root, in;
	struct vx_mapping m;
	u64 ino = VX_FIRST_INO + rnd() % 80;
	char name[32];
	int n = 1 + rnd() % 6;

	while (n-- && !vx_fs_failed(fs)) {
		switch (rnd() % 8) {
		case 0:
			memset(&in, 0, sizeof(in));
			in.mode = S_REG;
			if (vx_inode_create(fs, &in) || vx_inode_read(fs, VX_ROOT_INO, &root))
				break;
			snprintf(name, sizeof(name), "fz%llu", (unsigned long long)rnd() % 100);
			if (!vx_dir_add(fs, &root, name, strlen(name), in.ino, VX_FT_REG))
				vx_inode_write(fs, &root);
			break;
		case 1:
			vx_xattr_set(fs, ino, 1 + rnd() % 3, rnd() % 2 ? "user.attr" : "fz", "val", 3, 0);
			break;
		case 2:
			vx_xattr_set(fs, ino, 1 + rnd() % 3, "user.attr", NULL, 0, 0);
			break;
		case 3:
			if (vx_inode_read(fs, ino, &in))
				break;
			if (!vx_extent_alloc(fs, &in, rnd() % 20, 1 + rnd() % 8,
					     rnd() % 2 ? VX_EXTENT_UNWRITTEN : 0, &m))
				vx_inode_write(fs, &in);
			break;
		case 4:
			if (vx_inode_read(fs, ino, &in))
				break;
			if (!vx_extent_punch(fs, &in, rnd() % 20, rnd() % 2 ? VX_HOLE_TO_EOF : rnd() % 40))
				vx_inode_write(fs, &in);
			break;
		case 5:
			vx_extent_mark_written(fs, ino, rnd() % 20, 1 + rnd() % 20);
			break;
		case 6:
			vx_inode_remove(fs, ino);
			break;
		default:
			snprintf(name, sizeof(name), "file-%llu-%s", (unsigned long long)(ino - 17),
				 ino % 2 ? "even" : "odd");
			vx_dir_remove(fs, ino % 3 ? VX_ROOT_INO : VX_FIRST_INO, name, strlen(name));
			vx_orphan_del(fs, ino);
			break;
		}
	}
}

static bool known_open_error(int err)
{
	return err == -EUCLEAN || err == -EINVAL || err == -EIO || err == -EOPNOTSUPP ||
	       err == -EROFS;
}

struct fuzz_stats {
	long iters, open_fail, detected, walk_err, commits, disorder, runaway;
	long by_mode[6];
};

static int fuzz_one_image(u32 bs, u64 blocks, int nfiles, long iters, struct fuzz_stats *st)
{
	char *img = populated_image(blocks, bs, nfiles);
	struct nodemap map = { 0 };
	struct memdev md;
	struct vx_superblock *sbp;
	u64 size, n_first;
	u8 *pristine = img_load(img, &size);
	long it;

	md.buf = malloc(size);
	md.size = size;
	md.bs = bs;
	memcpy(md.buf, pristine, size);
	fuzz_dev = &md;
	snprintf(fuzz_dump_path, sizeof(fuzz_dump_path), "%s.crash", img);
	newest_sb(pristine, &sbp);
	map_nodes(pristine, size, sbp, &map);
	CHECK(map.count >= 10);
	n_first = blocks < 600 ? blocks : 600;
	{
		/* the nodes damaged below are blocks the allocator has in use */
		struct vx_fs *fs;
		u64 in_use = 0;

		CHECK_EQ(vx_fs_open(&fs, &md_ops, &md, md.size, VX_OPEN_RDONLY), 0);
		for (int i = 0; i < map.count; i++)
			CHECK(vx_block_in_use(fs, map.n[i].blocknr));
		for (u64 b = VX_RESERVED_BYTES / bs; b < blocks; b++)
			in_use += vx_block_in_use(fs, b);
		CHECK(in_use > (u64)map.count);		/* the rest: file data */
		vx_fs_close(fs);
	}

	for (it = 0; it < iters; it++) {
		struct vx_superblock *sb;
		struct vx_fs *fs;
		struct walk_stats w;
		int mode = rnd() % 6, nflips = 1 + rnd() % 8, err;
		unsigned int flags;
		u64 target = 0;
		char what[160] = "";

		/* the previous iteration left the image as it found it */
		newest_sb(md.buf, &sb);
		switch (mode) {
		case 0:	/* raw damage in a node in use: must be caught */
		case 1:	/* damage, then every checksum on the path made valid */
		case 2: {	/* the same, aimed at the header and item/entry array */
			const struct nref *n = &map.n[rnd() % map.count];
			u8 *blk = md.buf + n->blocknr * bs;
			u32 nr = le16_to_cpu(((struct vx_node_header *)blk)->nritems);
			u32 span = mode == 2 ? 64 + (n->level ? 48 : 32) * (nr + 1) : bs;
			u64 used = 0;

			if (span > bs)
				span = bs;
			target = n->blocknr;
			for (int f = 0; f < nflips; f++) {
				u32 x = (mode ? 4 : 0) + rnd() % (span - (mode ? 4 : 0));

				if (used & (1ULL << (x % 64)))	/* never undo a flip */
					continue;
				used |= 1ULL << (x % 64);
				blk[x] ^= (u8)(1 + rnd() % 255);
			}
			if (mode)
				reseal_chain(md.buf, bs, sb, &map, target);
			snprintf(what, sizeof(what), "mode %d: %d flips in %s node %llu level %d",
				 mode, nflips, n->tree == VX_TREE_FS ? "fs" : "alloc",
				 (unsigned long long)target, n->level);
			break;
		}
		case 3: {	/* structural change, resealed */
			const struct nref *n = &map.n[rnd() % map.count];
			char note[96] = "";

			target = n->blocknr;
			smart_mutate(md.buf + target * bs, bs, blocks, &map, pristine, n->level,
				     note, sizeof(note));
			reseal_chain(md.buf, bs, sb, &map, target);
			snprintf(what, sizeof(what), "mode 3: node %llu level %d: %s",
				 (unsigned long long)target, n->level, note);
			break;
		}
		case 4:	/* anywhere in the first blocks, superblocks included */
			for (int f = 0; f < nflips; f++) {
				u64 x = rnd() % 4 == 0 ? VX_SB_OFFSET_0 + rnd() % (VX_SB_OFFSET_1 + 512 - VX_SB_OFFSET_0)
						       : rnd() % (n_first * bs);

				md.buf[x] ^= (u8)(1 + rnd() % 255);
			}
			snprintf(what, sizeof(what), "mode 4: %d flips in the first %llu blocks",
				 nflips, (unsigned long long)n_first);
			break;
		default: {	/* superblock fields, CRC made valid */
			for (int f = 0; f < (nflips + 1) / 2; f++) {
				u32 x = 4 + rnd() % (VX_SB_SIZE - 4);

				if (rnd() % 2)
					((u8 *)sb)[x] ^= (u8)(1 + rnd() % 255);
				else
					((u8 *)sb)[x & ~7u] ^= (u8)(1 << (rnd() % 8));
			}
			sb_reseal(sb);
			snprintf(what, sizeof(what), "mode 5: superblock fields");
		}
		}
		snprintf(fuzz_note, sizeof(fuzz_note),
			 "\nFUZZ: bs %u iteration %ld: %s; image saved to %s (damaged as "
			 "found unless the iteration had committed); the run is deterministic\n",
			 bs, it, what, fuzz_dump_path);
		st->by_mode[mode]++;
		st->iters++;
		flags = rnd() % 10 < 6 ? 0 : rnd() % 2 ? VX_OPEN_RDONLY :
			rnd() % 2 ? VX_OPEN_NOVERIFY : VX_OPEN_RDONLY | VX_OPEN_NOVERIFY;
		md.writes = 0;
		alarm(20);
		err = vx_fs_open(&fs, &md_ops, &md, md.size, flags);
		memset(&w, 0, sizeof(w));
		if (err) {
			if (!known_open_error(err))
				fprintf(stderr, "%sopen returned %d\n", fuzz_note, err);
			CHECK(known_open_error(err));
			st->open_fail++;
		} else {
			vx_fs_set_cache_limit(fs, 64 + rnd() % 64);
			walk_all(fs, &w);
			if (w.errors)
				st->walk_err++;
			st->disorder += w.disorder;
			st->runaway += w.runaway;
			if (w.runaway)
				fprintf(stderr, "%sa directory or xattr listing did not end\n", fuzz_note);
			if (!(flags & VX_OPEN_RDONLY) && rnd() % 3 == 0) {
				fuzz_modify(fs);
				if (!vx_fs_commit(fs)) {
					struct walk_stats w2;

					st->commits++;
					vx_fs_close(fs);
					memset(&w2, 0, sizeof(w2));
					if (!vx_fs_open(&fs, &md_ops, &md, md.size, 0)) {
						walk_all(fs, &w2);
						st->disorder += w2.disorder;
						st->runaway += w2.runaway;
						vx_fs_close(fs);
					}
					fs = NULL;
				}
			}
			if (fs)
				vx_fs_close(fs);
		}
		alarm(0);
		if (mode == 0) {
			/* raw damage to a node in use is always detected */
			if (!err && !w.errors && !w.disorder)
				fprintf(stderr, "%sraw damage not detected\n", fuzz_note);
			CHECK(err || w.errors);
			st->detected++;
		}
		/* restore what this iteration changed */
		if (md.writes) {
			memcpy(md.buf, pristine, size);
		} else if (mode == 0) {
			memcpy(md.buf + target * bs, pristine + target * bs, bs);
		} else if (mode == 4) {
			memcpy(md.buf, pristine, n_first * bs);
		} else {
			memcpy(md.buf, pristine, VX_RESERVED_BYTES);
			for (int i = 0; i < map.count; i++) {
				u64 b = map.n[i].blocknr;

				memcpy(md.buf + b * bs, pristine + b * bs, bs);
			}
		}
	}
	fuzz_note[0] = 0;
	fuzz_dev = NULL;
	CHECK(!memcmp(md.buf, pristine, size));
	free(md.buf);
	free(pristine);
	free(map.n);
	done_image(img);
	return 0;
}

static int t_fuzz(void)
{
	struct fuzz_stats st;
	long iters = scale(2000);

	memset(&st, 0, sizeof(st));
	signal(SIGALRM, fuzz_on_alarm);
	__sanitizer_set_death_callback(fuzz_dump);	/* ASan */
	before_abort = fuzz_dump;			/* UBSan */
	if (fuzz_one_image(1024, 3000, 120, iters / 2, &st) ||
	    fuzz_one_image(4096, 1500, 150, iters - iters / 2, &st))
		return -1;
	__sanitizer_set_death_callback(NULL);
	before_abort = NULL;
	signal(SIGALRM, SIG_DFL);
	if (getenv("VX_TEST_VERBOSE"))
		fprintf(stderr, "fuzz: %ld iterations, open refused %ld, walk errors %ld, "
			"raw damage detected %ld, commits on damaged volumes %ld, "
			"out-of-order results %ld, endless listings %ld\n", st.iters, st.open_fail,
			st.walk_err, st.detected, st.commits, st.disorder, st.runaway);
	CHECK(st.open_fail > 0);
	CHECK(st.walk_err > 0);
	CHECK(st.commits > 0);
	/* see t_crafted_key_disorder */
	CHECK_EQ(st.disorder, 0);
	CHECK_EQ(st.runaway, 0);
	return 0;
}

int main(void)
{
	vx_user_quiet = 1;
	signal(SIGABRT, on_abort);
	vt_run("mkfs writes both slots (generations 1 and 2)", t_mkfs_slots);
	vt_run("mkfs rejects bad parameters", t_mkfs_bad_params);
	vt_run("each commit: generation + 1, alternate slots", t_generation_alternates);
	vt_run("any corrupt byte in one slot: the other slot is used", t_one_slot_corrupt);
	vt_run("both slots corrupt: -EUCLEAN / -EINVAL", t_both_slots_corrupt);
	vt_run("zeroed, random, tiny devices: -EINVAL", t_not_vexfs);
	vt_run("unknown incompat features / version: -EOPNOTSUPP", t_incompat_features);
	vt_run("unknown incompat feature in the newest slot only: refused", t_incompat_newest_slot_only);
	vt_run("unknown ro_compat: rw -EROFS, read-only works", t_ro_compat_features);
	vt_run("superblock geometry out of range: refused", t_bad_geometry);
	vt_run("corrupt fs root node: -EUCLEAN; NOVERIFY opens", t_root_node_corrupt);
	vt_run("corrupt deep leaf: lookups through it -EUCLEAN", t_deep_leaf_corrupt);
	vt_run("corrupt alloc tree node: -EUCLEAN", t_alloc_tree_corrupt);
	vt_run("NOVERIFY with a bad alloc tree hands out no used block", t_noverify_bad_alloc_tree);
	vt_run("misdirected writes: -EUCLEAN", t_misdirected_writes);
	vt_run("stale block (lost write): -EUCLEAN", t_stale_block);
	vt_run("truncated device: -EINVAL", t_truncated_device);
	vt_run("commit with failing writes keeps the previous state", t_commit_write_fails);
	vt_run("crafted keys out of order across leaves: readdir ends", t_crafted_key_disorder);
	vt_run("fuzz: damaged images give errors, never crashes", t_fuzz);
	if (vt_finish()) {
		/* a failed CHECK skips cleanup: spare the leak report */
		remove_images();
		fflush(stdout);
		_exit(1);
	}
	remove_images();
	return 0;
}
