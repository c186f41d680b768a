// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of inode back references (INODE_REF items): kept in step with the
 * directory entries by vx_dir_add / vx_dir_remove / vx_dir_set, removed with
 * the inode, crash consistent, and the queries built on them
 * (vx_inode_ref_first, vx_inode_is_beneath, vx_inode_path).  The image is
 * checked with the independent reader (vk_check_refs of tools/lib).
 */
#include <signal.h>
#include "vx_test.h"
#include "vx_check.h"

#define S_DIR	0040755
#define S_REG	0100644

static u64 rng_state = 0x2545F4914F6CDD1DULL;
static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* ---------------------------------------------------------------- helpers */

static bool is_dir_mode(u32 mode)
{
	return (mode & 0170000) == 0040000;
}

/* Create a file or directory named name in dir, as the kernel does. */
static int mk(struct vx_fs *fs, u64 dir, const char *name, u32 mode, u64 *ino)
{
	struct vx_inode_data in, d;
	int err;

	memset(&in, 0, sizeof(in));
	in.mode = mode;
	in.nlink = is_dir_mode(mode) ? 2 : 1;
	if (is_dir_mode(mode)) {
		in.next_dir_index = 2;
		in.parent = dir;
	}
	err = vx_inode_create(fs, &in);
	if (err)
		return err;
	err = vx_inode_read(fs, dir, &d);
	if (!err)
		err = vx_dir_add(fs, &d, name, strlen(name), in.ino,
				 vx_mode_to_ftype(mode));
	if (err)
		return err;
	if (is_dir_mode(mode))
		d.nlink++;
	*ino = in.ino;
	return vx_inode_write(fs, &d);
}

static int hardlink(struct vx_fs *fs, u64 ino, u64 dir, const char *name)
{
	struct vx_inode_data in, d;
	int err = vx_inode_read(fs, ino, &in);

	if (!err)
		err = vx_inode_read(fs, dir, &d);
	if (!err)
		err = vx_dir_add(fs, &d, name, strlen(name), ino, VX_FT_REG);
	if (!err)
		err = vx_inode_write(fs, &d);
	in.nlink++;
	if (!err)
		err = vx_inode_write(fs, &in);
	return err;
}

/* An inode lost a name: remove it with its last one. */
static int drop_link(struct vx_fs *fs, u64 ino)
{
	struct vx_inode_data in;
	int err = vx_inode_read(fs, ino, &in);

	if (err)
		return err;
	if (is_dir_mode(in.mode) || in.nlink <= 1)
		return vx_inode_remove(fs, ino);
	in.nlink--;
	return vx_inode_write(fs, &in);
}

/* unlink or rmdir */
static int unlink_name(struct vx_fs *fs, u64 dir, const char *name)
{
	struct vx_inode_data d, in;
	u64 ino;
	int err = vx_dir_lookup(fs, dir, name, strlen(name), &ino, NULL);

	if (err)
		return err;
	err = vx_inode_read(fs, ino, &in);
	if (err)
		return err;
	if (is_dir_mode(in.mode) && vx_dir_is_empty(fs, ino) != 1)
		return -ENOTEMPTY;
	err = vx_dir_remove(fs, dir, name, strlen(name));
	if (err)
		return err;
	if (is_dir_mode(in.mode)) {
		err = vx_inode_read(fs, dir, &d);
		d.nlink--;
		if (!err)
			err = vx_inode_write(fs, &d);
		if (err)
			return err;
	}
	return drop_link(fs, ino);
}

/* rename(2) as kmod/namei.c does it (no directory over directory). */
static int rename_name(struct vx_fs *fs, u64 odir, const char *oname, u64 ndir,
		       const char *nname)
{
	struct vx_inode_data src, d;
	u64 ino, target;
	u8 ft;
	int err = vx_dir_lookup(fs, odir, oname, strlen(oname), &ino, &ft);

	if (err)
		return err;
	err = vx_inode_read(fs, ino, &src);
	if (err)
		return err;
	err = vx_dir_lookup(fs, ndir, nname, strlen(nname), &target, NULL);
	if (!err) {
		if (target == ino)
			return 0;
		err = vx_dir_set(fs, ndir, nname, strlen(nname), ino, ft);
		if (!err)
			err = drop_link(fs, target);
	} else if (err == -ENOENT) {
		err = vx_inode_read(fs, ndir, &d);
		if (!err)
			err = vx_dir_add(fs, &d, nname, strlen(nname), ino, ft);
		if (!err)
			err = vx_inode_write(fs, &d);
	}
	if (!err)
		err = vx_dir_remove(fs, odir, oname, strlen(oname));
	if (!err && is_dir_mode(src.mode) && odir != ndir) {
		src.parent = ndir;
		err = vx_inode_write(fs, &src);
		if (!err)
			err = vx_inode_read(fs, odir, &d);
		d.nlink--;
		if (!err)
			err = vx_inode_write(fs, &d);
		if (!err)
			err = vx_inode_read(fs, ndir, &d);
		d.nlink++;
		if (!err)
			err = vx_inode_write(fs, &d);
	}
	return err;
}

/* How many times dir lists name in ino's back references (-1: corrupt). */
static int ref_count(struct vx_fs *fs, u64 ino, u64 dir, const char *name)
{
	struct vx_ckey k = { .objectid = ino, .type = VX_ITEM_INODE_REF,
			     .offset = dir };
	u8 buf[4096];
	u32 size, off = 0, len;
	const char *n;
	int ret, count = 0;

	if (vx_item_lookup(fs, VX_TREE_FS, &k, buf, sizeof(buf), &size))
		return 0;
	while ((ret = vk_inode_ref_next(buf, size, &off, &n, &len)) == 1)
		if (len == strlen(name) && !memcmp(n, name, len))
			count++;
	return ret < 0 || !size ? -1 : count;
}

/* Names in all of ino's back references. */
static long ref_names(struct vx_fs *fs, u64 ino)
{
	struct vx_ckey k = { .objectid = ino, .type = VX_ITEM_INODE_REF,
			     .offset = 0 }, found;
	u8 buf[4096];
	u32 size, off, len;
	const char *n;
	long count = 0;

	while (!vx_item_next(fs, VX_TREE_FS, &k, &found, buf, sizeof(buf), &size) &&
	       found.objectid == ino && found.type == VX_ITEM_INODE_REF) {
		off = 0;
		while (vk_inode_ref_next(buf, size, &off, &n, &len) == 1)
			count++;
		if (found.offset == ~0ULL)
			break;
		k.offset = found.offset + 1;
	}
	return count;
}

static int expect_first(struct vx_fs *fs, u64 ino, u64 parent, const char *name)
{
	char got[VX_NAME_MAX + 1];
	u64 p = 0;
	u32 len = 0;

	CHECK_EQ(vx_inode_ref_first(fs, ino, &p, got, &len), 0);
	CHECK_EQ(p, parent);
	CHECK_EQ(len, strlen(name));
	CHECK(!strcmp(got, name));
	return 0;
}

static int expect_path(struct vx_fs *fs, u64 ino, u64 dir, const char *want)
{
	char buf[8192];
	u32 len = 12345;

	CHECK_EQ(vx_inode_path(fs, ino, dir, buf, sizeof(buf), &len), 0);
	if (strcmp(buf, want)) {
		fprintf(stderr, "path of %llu from %llu: \"%s\", expected \"%s\"\n",
			(unsigned long long)ino, (unsigned long long)dir, buf, want);
		CHECK(0);
	}
	CHECK_EQ(len, strlen(want));
	return 0;
}

/* Problems the independent checker finds in the committed image. */
struct found_problems {
	long n;
	int kind;
	u64 ino, dir;
	char name[VX_NAME_MAX + 1];
};

static void collect_problem(void *ctx, const struct vk_ref_problem *p)
{
	struct found_problems *fp = ctx;

	fp->n++;
	fp->kind = p->kind;
	fp->ino = p->ino;
	fp->dir = p->dir;
	memcpy(fp->name, p->name ? p->name : "", p->name ? p->name_len : 0);
	fp->name[p->name ? p->name_len : 0] = 0;
	if (getenv("VX_TEST_VERBOSE"))
		fprintf(stderr, "checker: %s\n", p->msg);
}

/* Commit, then run the checker on the image: the number of problems. */
static long check_image(struct vx_fs *fs, const char *img,
			struct found_problems *fp)
{
	struct found_problems local;
	struct vk_vol v;
	long ret;

	if (!fp)
		fp = &local;
	memset(fp, 0, sizeof(*fp));
	if (vx_fs_commit(fs))
		return -1000;
	if (vk_open(&v, img, 0) || v.active < 0)
		return -1001;
	ret = vk_check_refs(&v, collect_problem, fp);
	vk_close(&v);
	if (ret >= 0 && ret != fp->n)
		return -1002;
	return ret;
}

/* Follow path from dir component by component: the inode it names. */
static int resolve(struct vx_fs *fs, u64 dir, const char *path, u64 *ino)
{
	const char *p = path, *slash;
	int err;

	*ino = dir;
	while (*p) {
		slash = strchr(p, '/');
		err = vx_dir_lookup(fs, *ino, p, slash ? (u32)(slash - p) : strlen(p),
				    ino, NULL);
		if (err)
			return err;
		if (!slash)
			break;
		p = slash + 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- tests */

static int t_refs_create(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	char name[VX_NAME_MAX + 1];
	u64 dir, file, sub, p;
	u32 len;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	/* mkfs: the root has no reference */
	CHECK_EQ(vx_inode_ref_first(fs, VX_ROOT_INO, &p, name, &len), -ENOENT);
	CHECK_EQ(ref_names(fs, VX_ROOT_INO), 0);
	CHECK_EQ(check_image(fs, img, NULL), 0);

	CHECK_EQ(mk(fs, VX_ROOT_INO, "dir", S_DIR, &dir), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "file", S_REG, &file), 0);
	CHECK_EQ(mk(fs, dir, "sub", S_DIR, &sub), 0);
	if (expect_first(fs, dir, VX_ROOT_INO, "dir") ||
	    expect_first(fs, file, VX_ROOT_INO, "file") ||
	    expect_first(fs, sub, dir, "sub"))
		return -1;
	CHECK_EQ(ref_count(fs, file, VX_ROOT_INO, "file"), 1);
	CHECK_EQ(ref_names(fs, file), 1);
	CHECK_EQ(vx_inode_ref_first(fs, 999999, &p, name, &len), -ENOENT);
	CHECK_EQ(vx_inode_ref_first(fs, VX_ROOT_INO, &p, name, &len), -ENOENT);
	CHECK_EQ(check_image(fs, img, NULL), 0);

	/* a name of the longest length */
	memset(name, 'n', VX_NAME_MAX);
	name[VX_NAME_MAX] = 0;
	CHECK_EQ(mk(fs, sub, name, S_REG, &p), 0);
	CHECK_EQ(ref_count(fs, p, sub, name), 1);
	{
		char got[VX_NAME_MAX + 1];
		u64 parent;

		CHECK_EQ(vx_inode_ref_first(fs, p, &parent, got, &len), 0);
		CHECK_EQ(len, VX_NAME_MAX);
		CHECK_EQ(got[VX_NAME_MAX], 0);
		CHECK(!memcmp(got, name, VX_NAME_MAX));
	}

	/* persistent */
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	if (expect_first(fs, sub, dir, "sub") ||
	    expect_first(fs, file, VX_ROOT_INO, "file"))
		return -1;
	CHECK_EQ(check_image(fs, img, NULL), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_refs_hard_links(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	char name[VX_NAME_MAX + 1];
	u64 sub, file, p;
	u32 len;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "sub", S_DIR, &sub), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "a", S_REG, &file), 0);
	/* same directory: one item, two names */
	CHECK_EQ(hardlink(fs, file, VX_ROOT_INO, "b"), 0);
	/* another directory: a second item */
	CHECK_EQ(hardlink(fs, file, sub, "c"), 0);
	CHECK_EQ(hardlink(fs, file, sub, "d"), 0);
	CHECK_EQ(ref_count(fs, file, VX_ROOT_INO, "a"), 1);
	CHECK_EQ(ref_count(fs, file, VX_ROOT_INO, "b"), 1);
	CHECK_EQ(ref_count(fs, file, sub, "c"), 1);
	CHECK_EQ(ref_count(fs, file, sub, "d"), 1);
	CHECK_EQ(ref_names(fs, file), 4);
	if (expect_first(fs, file, VX_ROOT_INO, "a"))
		return -1;
	CHECK_EQ(check_image(fs, img, NULL), 0);

	/* unlink one link at a time */
	CHECK_EQ(unlink_name(fs, VX_ROOT_INO, "a"), 0);
	CHECK_EQ(ref_count(fs, file, VX_ROOT_INO, "a"), 0);
	CHECK_EQ(ref_names(fs, file), 3);
	if (expect_first(fs, file, VX_ROOT_INO, "b"))
		return -1;
	CHECK_EQ(check_image(fs, img, NULL), 0);
	CHECK_EQ(unlink_name(fs, VX_ROOT_INO, "b"), 0);
	if (expect_first(fs, file, sub, "c"))
		return -1;
	CHECK_EQ(unlink_name(fs, sub, "c"), 0);
	if (expect_first(fs, file, sub, "d"))
		return -1;
	CHECK_EQ(check_image(fs, img, NULL), 0);
	CHECK_EQ(unlink_name(fs, sub, "d"), 0);
	CHECK_EQ(vx_inode_ref_first(fs, file, &p, name, &len), -ENOENT);
	CHECK_EQ(ref_names(fs, file), 0);
	CHECK_EQ(check_image(fs, img, NULL), 0);

	/* an unlinked file that is still open (orphan) has no reference */
	CHECK_EQ(mk(fs, sub, "open", S_REG, &file), 0);
	CHECK_EQ(vx_dir_remove(fs, sub, "open", 4), 0);
	CHECK_EQ(vx_orphan_add(fs, file), 0);
	CHECK_EQ(vx_inode_ref_first(fs, file, &p, name, &len), -ENOENT);
	CHECK_EQ(vx_inode_is_beneath(fs, file, VX_ROOT_INO), 0);
	CHECK_EQ(vx_inode_path(fs, file, VX_ROOT_INO, name, sizeof(name), &len), -ENOENT);
	CHECK_EQ(check_image(fs, img, NULL), 0);

	/* removing an inode that still has names takes its references */
	CHECK_EQ(mk(fs, sub, "x", S_REG, &file), 0);
	CHECK_EQ(hardlink(fs, file, VX_ROOT_INO, "y"), 0);
	CHECK_EQ(vx_inode_remove(fs, file), 0);
	CHECK_EQ(ref_names(fs, file), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_refs_rename(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 d1, d2, f, g, h, sub, inner, ino;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "d1", S_DIR, &d1), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "d2", S_DIR, &d2), 0);
	CHECK_EQ(mk(fs, d1, "f", S_REG, &f), 0);

	/* within a directory */
	CHECK_EQ(rename_name(fs, d1, "f", d1, "f2"), 0);
	CHECK_EQ(ref_count(fs, f, d1, "f"), 0);
	CHECK_EQ(ref_count(fs, f, d1, "f2"), 1);
	CHECK_EQ(ref_names(fs, f), 1);
	/* across directories */
	CHECK_EQ(rename_name(fs, d1, "f2", d2, "f3"), 0);
	CHECK_EQ(ref_names(fs, f), 1);
	if (expect_first(fs, f, d2, "f3") || expect_path(fs, f, VX_ROOT_INO, "d2/f3"))
		return -1;
	CHECK_EQ(check_image(fs, img, NULL), 0);

	/* over an existing target: the name moves from one inode to the other */
	CHECK_EQ(mk(fs, d1, "g", S_REG, &g), 0);
	CHECK_EQ(rename_name(fs, d2, "f3", d1, "g"), 0);
	CHECK_EQ(ref_names(fs, g), 0);		/* gone with its last name */
	CHECK_EQ(ref_names(fs, f), 1);
	if (expect_first(fs, f, d1, "g"))
		return -1;
	CHECK_EQ(check_image(fs, img, NULL), 0);

	/* over a target with another link: the target keeps that one */
	CHECK_EQ(mk(fs, d2, "h", S_REG, &h), 0);
	CHECK_EQ(hardlink(fs, h, d1, "h-too"), 0);
	CHECK_EQ(rename_name(fs, d1, "g", d2, "h"), 0);
	CHECK_EQ(ref_names(fs, h), 1);
	CHECK_EQ(ref_count(fs, h, d1, "h-too"), 1);
	CHECK_EQ(ref_count(fs, h, d2, "h"), 0);
	CHECK_EQ(ref_count(fs, f, d2, "h"), 1);
	CHECK_EQ(ref_names(fs, f), 1);
	CHECK_EQ(check_image(fs, img, NULL), 0);

	/* exchange: two vx_dir_set calls */
	CHECK_EQ(vx_dir_set(fs, d2, "h", 1, h, VX_FT_REG), 0);
	CHECK_EQ(vx_dir_set(fs, d1, "h-too", 5, f, VX_FT_REG), 0);
	CHECK_EQ(ref_count(fs, h, d2, "h"), 1);
	CHECK_EQ(ref_count(fs, f, d1, "h-too"), 1);
	CHECK_EQ(ref_names(fs, f), 1);
	CHECK_EQ(ref_names(fs, h), 1);
	/* setting a name to the inode it already names changes nothing */
	CHECK_EQ(vx_dir_set(fs, d2, "h", 1, h, VX_FT_REG), 0);
	CHECK_EQ(ref_count(fs, h, d2, "h"), 1);
	CHECK_EQ(check_image(fs, img, NULL), 0);

	/* a directory moves with what is in it */
	CHECK_EQ(mk(fs, d1, "sub", S_DIR, &sub), 0);
	CHECK_EQ(mk(fs, sub, "inner", S_REG, &inner), 0);
	if (expect_path(fs, inner, VX_ROOT_INO, "d1/sub/inner"))
		return -1;
	CHECK_EQ(rename_name(fs, d1, "sub", d2, "moved"), 0);
	if (expect_first(fs, sub, d2, "moved") ||
	    expect_path(fs, inner, VX_ROOT_INO, "d2/moved/inner"))
		return -1;
	CHECK_EQ(vx_inode_is_beneath(fs, inner, d2), 1);
	CHECK_EQ(vx_inode_is_beneath(fs, inner, d1), 0);
	CHECK_EQ(resolve(fs, VX_ROOT_INO, "d2/moved/inner", &ino), 0);
	CHECK_EQ(ino, inner);
	CHECK_EQ(check_image(fs, img, NULL), 0);

	/* rmdir */
	CHECK_EQ(unlink_name(fs, sub, "inner"), 0);
	CHECK_EQ(unlink_name(fs, d2, "moved"), 0);
	CHECK_EQ(ref_names(fs, sub), 0);
	CHECK_EQ(ref_names(fs, inner), 0);
	CHECK_EQ(unlink_name(fs, VX_ROOT_INO, "d1"), -ENOTEMPTY);
	CHECK_EQ(check_image(fs, img, NULL), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_is_beneath(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 a, b, c, f, x, y, p, q;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "a", S_DIR, &a), 0);
	CHECK_EQ(mk(fs, a, "b", S_DIR, &b), 0);
	CHECK_EQ(mk(fs, b, "c", S_DIR, &c), 0);
	CHECK_EQ(mk(fs, c, "f", S_REG, &f), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "x", S_DIR, &x), 0);
	CHECK_EQ(mk(fs, x, "y", S_DIR, &y), 0);

	CHECK_EQ(vx_inode_is_beneath(fs, f, c), 1);
	CHECK_EQ(vx_inode_is_beneath(fs, f, b), 1);
	CHECK_EQ(vx_inode_is_beneath(fs, f, a), 1);
	CHECK_EQ(vx_inode_is_beneath(fs, f, VX_ROOT_INO), 1);
	CHECK_EQ(vx_inode_is_beneath(fs, f, f), 1);		/* itself */
	CHECK_EQ(vx_inode_is_beneath(fs, c, c), 1);
	CHECK_EQ(vx_inode_is_beneath(fs, b, c), 0);		/* above */
	CHECK_EQ(vx_inode_is_beneath(fs, a, b), 0);
	CHECK_EQ(vx_inode_is_beneath(fs, f, x), 0);		/* beside */
	CHECK_EQ(vx_inode_is_beneath(fs, f, y), 0);
	CHECK_EQ(vx_inode_is_beneath(fs, VX_ROOT_INO, a), 0);
	CHECK_EQ(vx_inode_is_beneath(fs, VX_ROOT_INO, VX_ROOT_INO), 1);
	CHECK_EQ(vx_inode_is_beneath(fs, a, f), 0);		/* a file has nothing beneath */
	CHECK_EQ(vx_inode_is_beneath(fs, 999999, VX_ROOT_INO), 0);

	/* a hard link in another tree: beneath both */
	CHECK_EQ(hardlink(fs, f, y, "link"), 0);
	CHECK_EQ(vx_inode_is_beneath(fs, f, x), 1);
	CHECK_EQ(vx_inode_is_beneath(fs, f, y), 1);
	CHECK_EQ(vx_inode_is_beneath(fs, f, a), 1);
	CHECK_EQ(unlink_name(fs, c, "f"), 0);
	CHECK_EQ(vx_inode_is_beneath(fs, f, a), 0);
	CHECK_EQ(vx_inode_is_beneath(fs, f, x), 1);
	CHECK_EQ(vx_inode_is_beneath(fs, f, VX_ROOT_INO), 1);

	/* a subtree moved away */
	CHECK_EQ(rename_name(fs, a, "b", x, "b"), 0);
	CHECK_EQ(vx_inode_is_beneath(fs, c, a), 0);
	CHECK_EQ(vx_inode_is_beneath(fs, c, x), 1);

	/* damage: two directories naming each other loop, bounded */
	CHECK_EQ(mk(fs, VX_ROOT_INO, "p", S_DIR, &p), 0);
	CHECK_EQ(mk(fs, p, "q", S_DIR, &q), 0);
	CHECK_EQ(vx_inode_ref_add(fs, p, q, "loop", 4), 0);
	CHECK_EQ(vx_inode_ref_add(fs, p, q, "loop", 4), -EEXIST);
	CHECK_EQ(vx_inode_ref_del(fs, p, VX_ROOT_INO, "p", 1), 0);
	CHECK_EQ(vx_inode_ref_del(fs, p, VX_ROOT_INO, "p", 1), -ENOENT);
	CHECK_EQ(vx_inode_is_beneath(fs, q, VX_ROOT_INO), -ELOOP);
	CHECK_EQ(vx_inode_is_beneath(fs, q, p), 1);
	{
		char buf[64];
		u32 len;

		CHECK_EQ(vx_inode_path(fs, q, VX_ROOT_INO, buf, sizeof(buf), &len), -ELOOP);
	}
	/* the checker sees both */
	{
		struct found_problems fp;

		CHECK_EQ(check_image(fs, img, &fp), 2);
	}
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_path(void)
{
	char *img = new_image(8192, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	char buf[64], big[VX_NAME_MAX + 1], *want;
	u64 a, b, c, f, x, y, dir, deep, ino;
	u32 len;
	int i;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "a", S_DIR, &a), 0);
	CHECK_EQ(mk(fs, a, "bb", S_DIR, &b), 0);
	CHECK_EQ(mk(fs, b, "ccc", S_DIR, &c), 0);
	CHECK_EQ(mk(fs, c, "file", S_REG, &f), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "x", S_DIR, &x), 0);
	CHECK_EQ(mk(fs, x, "y", S_DIR, &y), 0);

	if (expect_path(fs, f, VX_ROOT_INO, "a/bb/ccc/file") ||
	    expect_path(fs, f, a, "bb/ccc/file") ||
	    expect_path(fs, f, c, "file") ||
	    expect_path(fs, f, f, "") ||
	    expect_path(fs, c, VX_ROOT_INO, "a/bb/ccc") ||
	    expect_path(fs, a, VX_ROOT_INO, "a") ||
	    expect_path(fs, VX_ROOT_INO, VX_ROOT_INO, ""))
		return -1;
	CHECK_EQ(vx_inode_path(fs, f, x, buf, sizeof(buf), &len), -ENOENT);
	CHECK_EQ(vx_inode_path(fs, VX_ROOT_INO, a, buf, sizeof(buf), &len), -ENOENT);
	CHECK_EQ(vx_inode_path(fs, 999999, VX_ROOT_INO, buf, sizeof(buf), &len), -ENOENT);

	/* exactly the room for the NUL, and one byte less */
	CHECK_EQ(vx_inode_path(fs, f, VX_ROOT_INO, buf, 14, &len), 0);	/* "a/bb/ccc/file" */
	CHECK_EQ(len, 13);
	CHECK(!strcmp(buf, "a/bb/ccc/file"));
	CHECK_EQ(vx_inode_path(fs, f, VX_ROOT_INO, buf, 13, &len), -ENAMETOOLONG);
	CHECK_EQ(vx_inode_path(fs, f, VX_ROOT_INO, buf, 5, &len), -ENAMETOOLONG);
	CHECK_EQ(vx_inode_path(fs, f, VX_ROOT_INO, buf, 0, &len), -ENAMETOOLONG);
	CHECK_EQ(vx_inode_path(fs, f, f, buf, 1, &len), 0);
	CHECK_EQ(len, 0);

	/* a second link: the first directory that reaches dir is used */
	CHECK_EQ(hardlink(fs, f, y, "l"), 0);
	if (expect_path(fs, f, VX_ROOT_INO, "a/bb/ccc/file") ||
	    expect_path(fs, f, x, "y/l") ||
	    expect_path(fs, f, y, "l") ||
	    expect_path(fs, f, b, "ccc/file"))
		return -1;
	/* the first chain does not fit, the other one does */
	CHECK_EQ(vx_inode_path(fs, f, VX_ROOT_INO, buf, 8, &len), 0);
	CHECK(!strcmp(buf, "x/y/l"));
	CHECK_EQ(vx_inode_path(fs, f, VX_ROOT_INO, buf, 5, &len), -ENAMETOOLONG);

	/* deeper than 4096 bytes: 20 levels of 255-byte names */
	memset(big, 'z', VX_NAME_MAX);
	big[VX_NAME_MAX] = 0;
	dir = VX_ROOT_INO;
	for (i = 0; i < 20; i++) {
		big[0] = (char)('a' + i);
		CHECK_EQ(mk(fs, dir, big, S_DIR, &deep), 0);
		dir = deep;
	}
	CHECK_EQ(mk(fs, dir, "leaf", S_REG, &deep), 0);
	want = malloc(20 * 256 + 8);
	CHECK(want != NULL);
	want[0] = 0;
	for (i = 0; i < 20; i++) {
		big[0] = (char)('a' + i);
		strcat(want, big);
		strcat(want, "/");
	}
	strcat(want, "leaf");
	CHECK_EQ(strlen(want), 20 * 256 + 4);
	{
		char *pbuf = malloc(8192);

		CHECK(pbuf != NULL);
		CHECK_EQ(vx_inode_path(fs, deep, VX_ROOT_INO, pbuf, 4096, &len), -ENAMETOOLONG);
		CHECK_EQ(vx_inode_path(fs, deep, VX_ROOT_INO, pbuf, 20 * 256 + 4, &len),
			 -ENAMETOOLONG);
		CHECK_EQ(vx_inode_path(fs, deep, VX_ROOT_INO, pbuf, 20 * 256 + 5, &len), 0);
		CHECK_EQ(len, 20 * 256 + 4);
		CHECK(!strcmp(pbuf, want));
		CHECK_EQ(resolve(fs, VX_ROOT_INO, pbuf, &ino), 0);
		CHECK_EQ(ino, deep);
		free(pbuf);
	}
	CHECK_EQ(vx_inode_is_beneath(fs, deep, VX_ROOT_INO), 1);
	free(want);
	CHECK_EQ(check_image(fs, img, NULL), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/* Many links in one directory: the ref item fills, then -EMLINK, no harm. */
static int t_refs_item_full(void)
{
	char *img = new_image(8192, 1024);
	struct vx_devfile *d;
	struct vx_fs *fs;
	char name[VX_NAME_MAX + 1];
	u64 f, ino;
	int i, err = 0;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "f", S_REG, &f), 0);
	memset(name, 'l', 200);
	name[200] = 0;
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "%03d", i);
		name[3] = 'l';
		err = hardlink(fs, f, VX_ROOT_INO, name);
		if (err)
			break;
	}
	CHECK_EQ(err, -EMLINK);
	CHECK(i >= 1);
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(vx_dir_lookup(fs, VX_ROOT_INO, name, strlen(name), &ino, NULL), -ENOENT);
	CHECK_EQ(ref_names(fs, f), i + 1);
	/* in another directory there is room again */
	CHECK_EQ(mk(fs, VX_ROOT_INO, "dir", S_DIR, &ino), 0);
	CHECK_EQ(hardlink(fs, f, ino, name), 0);
	CHECK_EQ(check_image(fs, img, NULL), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/* Uncommitted changes vanish together with their references. */
static int t_refs_crash(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 a, b, f, g, h;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "a", S_DIR, &a), 0);
	CHECK_EQ(mk(fs, VX_ROOT_INO, "b", S_DIR, &b), 0);
	CHECK_EQ(mk(fs, a, "f", S_REG, &f), 0);
	CHECK_EQ(mk(fs, a, "g", S_REG, &g), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);

	/* then, uncommitted: */
	CHECK_EQ(mk(fs, b, "h", S_REG, &h), 0);
	CHECK_EQ(hardlink(fs, f, b, "f-link"), 0);
	CHECK_EQ(rename_name(fs, a, "g", b, "g-moved"), 0);
	CHECK_EQ(rename_name(fs, b, "h", a, "f"), 0);	/* over f */
	CHECK_EQ(unlink_name(fs, VX_ROOT_INO, "a"), -ENOTEMPTY);
	CHECK_EQ(ref_count(fs, h, a, "f"), 1);
	vt_close(d, fs);	/* crash */

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(ref_names(fs, h), 0);
	CHECK_EQ(ref_names(fs, f), 1);
	CHECK_EQ(ref_count(fs, f, a, "f"), 1);
	CHECK_EQ(ref_count(fs, g, a, "g"), 1);
	CHECK_EQ(ref_names(fs, g), 1);
	if (expect_path(fs, g, VX_ROOT_INO, "a/g"))
		return -1;
	CHECK_EQ(check_image(fs, img, NULL), 0);

	/* the same changes committed this time */
	CHECK_EQ(mk(fs, b, "h", S_REG, &h), 0);
	CHECK_EQ(hardlink(fs, f, b, "f-link"), 0);
	CHECK_EQ(rename_name(fs, a, "g", b, "g-moved"), 0);
	CHECK_EQ(rename_name(fs, b, "h", a, "f"), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(ref_count(fs, h, a, "f"), 1);
	CHECK_EQ(ref_names(fs, h), 1);
	CHECK_EQ(ref_count(fs, f, b, "f-link"), 1);
	CHECK_EQ(ref_names(fs, f), 1);
	if (expect_path(fs, g, VX_ROOT_INO, "b/g-moved"))
		return -1;
	CHECK_EQ(check_image(fs, img, NULL), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/* ------------------------------------------------------- random sequences */

#define MAX_NAMES	600

struct entry {
	u64 dir, ino;
	char name[24];
	bool is_dir;
};

static struct entry ents[MAX_NAMES];
static int nents;

static void ent_add(u64 dir, u64 ino, const char *name, bool is_dir)
{
	ents[nents].dir = dir;
	ents[nents].ino = ino;
	snprintf(ents[nents].name, sizeof(ents[nents].name), "%s", name);
	ents[nents].is_dir = is_dir;
	nents++;
}

static void ent_del(int i)
{
	ents[i] = ents[--nents];
}

static int ent_find(u64 dir, const char *name)
{
	for (int i = 0; i < nents; i++)
		if (ents[i].dir == dir && !strcmp(ents[i].name, name))
			return i;
	return -1;
}

/* A random directory: the root or a named directory. */
static u64 random_dir(void)
{
	int n = 0, i;

	for (i = 0; i < nents; i++)
		n += ents[i].is_dir;
	if (!n || rnd() % (n + 1) == 0)
		return VX_ROOT_INO;
	n = (int)(rnd() % n);
	for (i = 0; i < nents; i++)
		if (ents[i].is_dir && n-- == 0)
			return ents[i].ino;
	return VX_ROOT_INO;
}

static int random_op(struct vx_fs *fs, int *seq)
{
	char name[24];
	u64 dir = random_dir(), ino;
	int i, op = (int)(rnd() % 10), err;

	snprintf(name, sizeof(name), "n%d", (*seq)++);
	if (nents + 2 >= MAX_NAMES)
		op = 5;
	switch (op) {
	case 0:
	case 1:		/* create */
		CHECK_EQ(mk(fs, dir, name, S_REG, &ino), 0);
		ent_add(dir, ino, name, false);
		break;
	case 2:		/* mkdir */
		CHECK_EQ(mk(fs, dir, name, S_DIR, &ino), 0);
		ent_add(dir, ino, name, true);
		break;
	case 3:		/* link, sometimes in the same directory */
		if (!nents)
			break;
		i = (int)(rnd() % nents);
		if (ents[i].is_dir)
			break;
		if (rnd() & 1)
			dir = ents[i].dir;
		CHECK_EQ(hardlink(fs, ents[i].ino, dir, name), 0);
		ent_add(dir, ents[i].ino, name, false);
		break;
	case 4:
	case 5:		/* unlink / rmdir */
		if (!nents)
			break;
		i = (int)(rnd() % nents);
		err = unlink_name(fs, ents[i].dir, ents[i].name);
		if (ents[i].is_dir && err == -ENOTEMPTY)
			break;
		CHECK_EQ(err, 0);
		ent_del(i);
		break;
	default:	/* rename: to a new name, or over a file */
		if (!nents)
			break;
		i = (int)(rnd() % nents);
		if (ents[i].is_dir && vx_inode_is_beneath(fs, dir, ents[i].ino) != 0)
			break;		/* into itself */
		if (!ents[i].is_dir && rnd() % 3 == 0) {
			int t = (int)(rnd() % nents);

			if (ents[t].is_dir)
				break;
			dir = ents[t].dir;
			snprintf(name, sizeof(name), "%s", ents[t].name);
		}
		{
			int t = ent_find(dir, name);
			struct entry src = ents[i];

			if (t == i)
				break;
			if (t >= 0 && ents[t].ino == src.ino)
				break;	/* two names of one inode: rename does nothing */
			CHECK_EQ(rename_name(fs, src.dir, src.name, dir, name), 0);
			if (t >= 0) {
				ent_del(t);
				if (i == nents)
					i = t;	/* ents[i] moved into slot t */
			}
			ent_del(i);
			ent_add(dir, src.ino, name, src.is_dir);
		}
		break;
	}
	return 0;
}

/* Every name's inode has a path from the root that leads back to it. */
static int verify_queries(struct vx_fs *fs)
{
	char *buf = malloc(8192);
	u64 ino;
	u32 len;

	CHECK(buf != NULL);
	for (int i = 0; i < nents; i++) {
		CHECK_EQ(vx_inode_is_beneath(fs, ents[i].ino, ents[i].dir), 1);
		CHECK_EQ(vx_inode_is_beneath(fs, ents[i].ino, VX_ROOT_INO), 1);
		CHECK_EQ(ref_count(fs, ents[i].ino, ents[i].dir, ents[i].name), 1);
		CHECK_EQ(vx_inode_path(fs, ents[i].ino, VX_ROOT_INO, buf, 8192, &len), 0);
		CHECK_EQ(resolve(fs, VX_ROOT_INO, buf, &ino), 0);
		CHECK_EQ(ino, ents[i].ino);
		CHECK_EQ(vx_inode_path(fs, ents[i].ino, ents[i].dir, buf, 8192, &len), 0);
		CHECK_EQ(resolve(fs, ents[i].dir, buf, &ino), 0);
		CHECK_EQ(ino, ents[i].ino);
	}
	free(buf);
	return 0;
}

static int t_refs_random(void)
{
	char *img = new_image(16384, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct found_problems fp;
	int round, i, seq = 0;
	long nops = scale(300);

	nents = 0;
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	for (round = 0; round < 8; round++) {
		for (i = 0; i < nops; i++)
			if (random_op(fs, &seq))
				return -1;
		CHECK_EQ(vx_fs_failed(fs), 0);
		if (verify_queries(fs))
			return -1;
		CHECK_EQ(check_image(fs, img, &fp), 0);
		if (getenv("VX_TEST_VERBOSE"))
			fprintf(stderr, "round %d: %d names\n", round, nents);
		if (round % 2) {
			/* reopen from disk */
			vt_close(d, fs);
			CHECK_EQ(vt_open(img, &d, &fs), 0);
		}
	}

	/* a deliberately deleted reference is found */
	for (i = 0; i < nents && ents[i].is_dir; i++)
		;
	CHECK(i < nents);
	CHECK_EQ(vx_inode_ref_del(fs, ents[i].ino, ents[i].dir, ents[i].name,
				  strlen(ents[i].name)), 0);
	CHECK_EQ(check_image(fs, img, &fp), 1);
	CHECK_EQ(fp.kind, VK_REF_MISSING);
	CHECK_EQ(fp.ino, ents[i].ino);
	CHECK_EQ(fp.dir, ents[i].dir);
	CHECK(!strcmp(fp.name, ents[i].name));
	/* the repair fsck makes */
	CHECK_EQ(vx_inode_ref_add(fs, ents[i].ino, ents[i].dir, ents[i].name,
				  strlen(ents[i].name)), 0);
	CHECK_EQ(check_image(fs, img, &fp), 0);

	/* and a stray one */
	CHECK_EQ(vx_inode_ref_add(fs, ents[i].ino, ents[i].dir, "stray", 5), 0);
	CHECK_EQ(check_image(fs, img, &fp), 1);
	CHECK_EQ(fp.kind, VK_REF_STRAY);
	CHECK(!strcmp(fp.name, "stray"));
	CHECK_EQ(vx_inode_ref_del(fs, ents[i].ino, ents[i].dir, "stray", 5), 0);
	CHECK_EQ(check_image(fs, img, &fp), 0);

	/* a reference item that cannot be decoded */
	{
		struct vx_ckey k = { .objectid = ents[i].ino, .type = VX_ITEM_INODE_REF,
				     .offset = ents[i].dir };
		u8 junk[3] = { 0, 1, 'x' };	/* name length 256 */

		CHECK_EQ(vx_item_update(fs, VX_TREE_FS, &k, junk, sizeof(junk)), 0);
		CHECK(check_image(fs, img, &fp) >= 1);
		CHECK_EQ(fp.kind, VK_REF_MISSING);	/* the reported consequence, last */
		/* the core refuses to use it */
		CHECK_EQ(unlink_name(fs, ents[i].dir, ents[i].name), -EUCLEAN);
		CHECK_EQ(vx_fs_failed(fs), 0);
	}
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/*
 * On a volume whose metadata space ran out, directory operations either
 * happen whole (entries and references) or not at all.
 */
static int t_refs_enospc(void)
{
	char *img = new_image(1024, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_inode_data in;
	char name[64];
	u64 files[64];
	int i, err, nf = 0, fails = 0;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	for (i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "keep-%d", i);
		CHECK_EQ(mk(fs, VX_ROOT_INO, name, S_REG, &files[nf++]), 0);
	}
	CHECK_EQ(vx_fs_commit(fs), 0);
	/* fill the metadata space */
	for (i = 0;; i++) {
		CHECK(i < 200000);
		memset(&in, 0, sizeof(in));
		in.mode = S_REG;
		in.nlink = 1;
		err = vx_inode_create(fs, &in);
		if (!err)
			err = vx_xattr_set(fs, in.ino, VX_XATTR_INDEX_USER, "pad",
					   "padding-padding", 15, 0);
		if (err)
			break;
	}
	CHECK_EQ(err, -ENOSPC);
	CHECK_EQ(vx_fs_failed(fs), 0);
	/* links (growing) are refused whole; renames and unlinks still work */
	for (i = 0; i < nf; i++) {
		snprintf(name, sizeof(name), "link-%d", i);
		err = hardlink(fs, files[i], VX_ROOT_INO, name);
		if (err) {
			CHECK_EQ(err, -ENOSPC);
			fails++;
			CHECK_EQ(ref_count(fs, files[i], VX_ROOT_INO, name), 0);
		}
		CHECK_EQ(vx_fs_failed(fs), 0);
	}
	CHECK(fails > 0);
	if (getenv("VX_TEST_VERBOSE"))
		fprintf(stderr, "%d of %d links refused\n", fails, nf);
	for (i = 0; i < nf; i += 2) {
		snprintf(name, sizeof(name), "keep-%d", i);
		CHECK_EQ(unlink_name(fs, VX_ROOT_INO, name), 0);
		CHECK_EQ(vx_fs_failed(fs), 0);
	}
	CHECK_EQ(check_image(fs, img, NULL), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

int main(void)
{
	vx_user_quiet = 1;
	signal(SIGABRT, on_abort);
	vt_run("refs: create, mkdir, persistence; the root has none", t_refs_create);
	vt_run("refs: hard links in one and in several directories, unlink", t_refs_hard_links);
	vt_run("refs: rename within/across dirs, over a target, exchange, rmdir", t_refs_rename);
	vt_run("is_beneath: nested dirs, hard links, moved subtrees, loops", t_is_beneath);
	vt_run("path: relative paths, hard links, -ENAMETOOLONG", t_path);
	vt_run("refs: a full item gives -EMLINK and changes nothing", t_refs_item_full);
	vt_run("refs: crash returns them to the last commit", t_refs_crash);
	vt_run("refs: random operations, checker clean; damage detected", t_refs_random);
	vt_run("refs: directory operations on a full volume are whole", t_refs_enospc);
	if (vt_finish()) {
		remove_images();
		fflush(stdout);
		_exit(1);
	}
	remove_images();
	return 0;
}
