// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the stale set of automatic embeddings (core/vx_auto.c): marking,
 * reading, iterating per space, clearing, failures and their reset, live
 * spaces only, removal with the inode and with a reaped space, persistence
 * across commit and remount.  Then fsck.vexfs (built into this test) on
 * crafted STALE items and auto_space fields: what it reports, what -y and
 * -p repair, and that a policy naming a dropped space is only a note.
 */
#include <signal.h>

/* fsck.vexfs's checker, in-process: fsck_run() */
#include "vx_fsck_inproc.h"

#include "vx_test.h"
#include "vx_vector.h"

#define S_REG	0100644
#define S_DIRM	0040755
#define S_LNK	0120777

#define CHECK_FSCK(img) CHECK_EQ(fsck_run(img, "-n", NULL, 0, true), 0)

static int reopen(const char *img, struct vx_devfile **d, struct vx_fs **fs)
{
	vt_close(*d, *fs);
	*d = NULL;
	*fs = NULL;
	return vt_open(img, d, fs);
}

/* Commit, unmount, check with fsck.vexfs, mount again. */
static int commit_fsck_reopen(const char *img, struct vx_devfile **d,
			      struct vx_fs **fs)
{
	CHECK_EQ(vx_fs_commit(*fs), 0);
	vt_close(*d, *fs);
	*d = NULL;
	*fs = NULL;
	CHECK_FSCK(img);
	return vt_open(img, d, fs);
}

/* An inode named "f<ino>" in the root directory, as fsck expects. */
static int new_file(struct vx_fs *fs, u32 mode, u64 *ino)
{
	struct vx_inode_data in, root;
	char name[32];
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
	if (err)
		return err;
	*ino = in.ino;
	snprintf(name, sizeof(name), "f%llu", (unsigned long long)in.ino);
	err = vx_inode_read(fs, VX_ROOT_INO, &root);
	if (!err)
		err = vx_dir_add(fs, &root, name, strlen(name), in.ino,
				 vx_mode_to_ftype(mode));
	if (!err && (mode & 0170000) == 0040000)
		root.nlink++;
	return err ? err : vx_inode_write(fs, &root);
}

/* Unlink from the root directory and remove the inode. */
static int remove_file(struct vx_fs *fs, u64 ino)
{
	struct vx_inode_data root;
	char name[32];
	int err;

	snprintf(name, sizeof(name), "f%llu", (unsigned long long)ino);
	err = vx_dir_remove(fs, VX_ROOT_INO, name, strlen(name));
	if (!err)
		err = vx_inode_read(fs, VX_ROOT_INO, &root);
	if (!err)
		err = vx_inode_write(fs, &root);
	return err ? err : vx_inode_remove(fs, ino);
}

static int make_space(struct vx_fs *fs, const char *name, u32 *id)
{
	struct vx_space_desc d;
	int err;

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "%s", name);
	snprintf(d.model, sizeof(d.model), "test-model");
	d.dim = 4;
	d.elem_type = VX_ELEM_F32;
	d.metric = VX_METRIC_L2;
	err = vx_space_create(fs, &d);
	if (!err)
		*id = d.id;
	return err;
}

static int reap_all(struct vx_fs *fs, u32 id)
{
	bool done = false;
	int steps = 0, err;

	while (!done) {
		err = vx_space_reap(fs, id, 3, &done);
		if (err)
			return err;
		if (++steps > 10000)
			return -ELOOP;
	}
	return 0;
}

static int set_auto_space(struct vx_fs *fs, u64 ino, u32 v)
{
	struct vx_inode_data in;
	int err = vx_inode_read(fs, ino, &in);

	if (err)
		return err;
	in.auto_space = v;
	return vx_inode_write(fs, &in);
}

static u32 get_auto_space(struct vx_fs *fs, u64 ino)
{
	struct vx_inode_data in;

	if (vx_inode_read(fs, ino, &in))
		return 0xdeadbeef;
	return in.auto_space;
}

/* Write a STALE item as is, bypassing vx_stale_*: crafted damage. */
static int put_stale(struct vx_fs *fs, u32 space, u64 ino, u32 flags, u32 err_no,
		     u64 version, u32 size)
{
	struct vx_ckey k = { .objectid = VX_SPACE_OBJID(space), .type = VX_ITEM_STALE,
			     .offset = ino };
	u8 buf[sizeof(struct vx_stale_item) + 8];
	struct vx_stale_item it;

	it.flags = cpu_to_le32(flags);
	it.failed_errno = cpu_to_le32(err_no);
	it.failed_version = cpu_to_le64(version);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &it, sizeof(it));
	if (size > sizeof(buf))
		return -EINVAL;
	if (vx_item_lookup(fs, VX_TREE_FS, &k, NULL, 0, NULL) == 0)
		return vx_item_update(fs, VX_TREE_FS, &k, buf, size);
	return vx_item_insert(fs, VX_TREE_FS, &k, buf, size);
}

static bool has_stale(struct vx_fs *fs, u32 space, u64 ino)
{
	struct vx_stale st;

	return vx_stale_get(fs, space, ino, &st) == 0;
}

/* ---------------------------------------------------------------- api */

static int t_mark_get_clear(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_stale st;
	u64 f;
	u32 sp;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(make_space(fs, "a", &sp), 0);
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), -ENOENT);
	CHECK_EQ(vx_stale_mark(fs, sp, f), 1);
	CHECK_EQ(vx_stale_mark(fs, sp, f), 0);	/* already queued */
	memset(&st, 0xff, sizeof(st));
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), 0);
	CHECK_EQ(st.flags, 0);
	CHECK_EQ(st.failed_errno, 0);
	CHECK_EQ(st.failed_version, 0);
	CHECK_EQ(vx_stale_clear(fs, sp, f), 0);
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), -ENOENT);
	CHECK_EQ(vx_stale_clear(fs, sp, f), 0);	/* absent is fine */
	CHECK_EQ(vx_stale_clear(fs, sp, 123456), 0);
	CHECK_EQ(vx_stale_mark(fs, sp, f), 1);	/* queued again */
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);
	CHECK(has_stale(fs, sp, f));
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_next_order(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_stale st;
	u64 f[6], ino, from;
	u32 a, b, c, last;
	int i, n;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	for (i = 0; i < 6; i++)
		CHECK_EQ(new_file(fs, S_REG, &f[i]), 0);
	CHECK_EQ(make_space(fs, "a", &a), 0);
	CHECK_EQ(make_space(fs, "b", &b), 0);
	CHECK_EQ(make_space(fs, "c", &c), 0);
	CHECK_EQ(make_space(fs, "last", &last), 0);
	/* a: f4 f1 f3 (out of order); b: f0 f5; c: nothing; last: f2 */
	CHECK_EQ(vx_stale_mark(fs, a, f[4]), 1);
	CHECK_EQ(vx_stale_mark(fs, a, f[1]), 1);
	CHECK_EQ(vx_stale_mark(fs, a, f[3]), 1);
	CHECK_EQ(vx_stale_mark(fs, b, f[5]), 1);
	CHECK_EQ(vx_stale_mark(fs, b, f[0]), 1);
	CHECK_EQ(vx_stale_mark(fs, last, f[2]), 1);
	CHECK_EQ(vx_stale_fail(fs, a, f[3], 1, EIO), 0);
	/* an orphan record sorts right after the last space's items */
	CHECK_EQ(vx_orphan_add(fs, f[5]), 0);

	for (int round = 0; round < 2; round++) {
		static const int want_a[] = { 1, 3, 4 };

		for (from = 0, n = 0; vx_stale_next(fs, a, from, &ino, &st) == 0; n++) {
			CHECK(n < 3);
			CHECK_EQ(ino, f[want_a[n]]);
			CHECK_EQ(st.flags, n == 1 ? VX_STALE_FAILED : 0);
			from = ino + 1;
		}
		CHECK_EQ(n, 3);
		CHECK_EQ(vx_stale_next(fs, a, from, &ino, &st), -ENOENT);
		/* from an ino itself: that one */
		CHECK_EQ(vx_stale_next(fs, a, f[3], &ino, &st), 0);
		CHECK_EQ(ino, f[3]);
		CHECK_EQ(vx_stale_next(fs, a, f[1] + 1, &ino, &st), 0);
		CHECK_EQ(ino, f[3]);

		CHECK_EQ(vx_stale_next(fs, b, 0, &ino, &st), 0);
		CHECK_EQ(ino, f[0]);
		CHECK_EQ(vx_stale_next(fs, b, f[0] + 1, &ino, &st), 0);
		CHECK_EQ(ino, f[5]);
		CHECK_EQ(vx_stale_next(fs, b, f[5] + 1, &ino, &st), -ENOENT);
		/* an empty space between full ones, and the last space */
		CHECK_EQ(vx_stale_next(fs, c, 0, &ino, &st), -ENOENT);
		CHECK_EQ(vx_stale_next(fs, last, 0, &ino, &st), 0);
		CHECK_EQ(ino, f[2]);
		CHECK_EQ(vx_stale_next(fs, last, f[2] + 1, &ino, &st), -ENOENT);
		CHECK_EQ(vx_stale_next(fs, last + 1, 0, &ino, &st), -ENOENT);
		CHECK_EQ(vx_stale_next(fs, a, ~0ULL, &ino, &st), -ENOENT);
		if (!round) {
			CHECK_EQ(vx_orphan_del(fs, f[5]), 0);
			CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);
			CHECK_EQ(vx_orphan_add(fs, f[5]), 0);
		}
	}
	CHECK_EQ(vx_orphan_del(fs, f[5]), 0);
	CHECK_EQ(vx_fs_failed(fs), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_fail(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_inode_data in;
	struct vx_stale st;
	u64 f, g;
	u32 sp;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(new_file(fs, S_REG, &g), 0);
	CHECK_EQ(make_space(fs, "a", &sp), 0);
	CHECK_EQ(vx_inode_read(fs, f, &in), 0);
	in.data_version = 7;
	CHECK_EQ(vx_inode_write(fs, &in), 0);

	/* not queued: nothing to fail */
	CHECK_EQ(vx_stale_fail(fs, sp, f, 7, EIO), -ENOENT);
	CHECK_EQ(vx_stale_mark(fs, sp, f), 1);
	/* a failure of an older version is refused and changes nothing */
	CHECK_EQ(vx_stale_fail(fs, sp, f, 6, EIO), -ESTALE);
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), 0);
	CHECK_EQ(st.flags, 0);
	CHECK_EQ(vx_stale_fail(fs, sp, f, 7, EIO), 0);
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), 0);
	CHECK_EQ(st.flags, VX_STALE_FAILED);
	CHECK_EQ(st.failed_errno, EIO);
	CHECK_EQ(st.failed_version, 7);
	/* failing again overwrites the errno */
	CHECK_EQ(vx_stale_fail(fs, sp, f, 7, EMSGSIZE), 0);
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), 0);
	CHECK_EQ(st.failed_errno, EMSGSIZE);
	/* persists, and fsck accepts a failed item */
	CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), 0);
	CHECK_EQ(st.flags, VX_STALE_FAILED);
	CHECK_EQ(st.failed_errno, EMSGSIZE);
	CHECK_EQ(st.failed_version, 7);
	/* the data changed: mark resets the failure and reports a write */
	CHECK_EQ(vx_stale_mark(fs, sp, f), 1);
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), 0);
	CHECK_EQ(st.flags, 0);
	CHECK_EQ(st.failed_errno, 0);
	CHECK_EQ(st.failed_version, 0);
	CHECK_EQ(vx_stale_mark(fs, sp, f), 0);
	/* a failed item is cleared like any other */
	CHECK_EQ(vx_stale_mark(fs, sp, g), 1);
	CHECK_EQ(vx_stale_fail(fs, sp, g, 1, EIO), 0);
	CHECK_EQ(vx_stale_clear(fs, sp, g), 0);
	CHECK(!has_stale(fs, sp, g));
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_live_spaces_only(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 f;
	u32 sp, other;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(vx_stale_mark(fs, 1, f), -ENOENT);	/* no space yet */
	CHECK_EQ(make_space(fs, "a", &sp), 0);
	CHECK_EQ(make_space(fs, "b", &other), 0);
	CHECK_EQ(vx_stale_mark(fs, 0, f), -ENOENT);
	CHECK_EQ(vx_stale_mark(fs, other + 1, f), -ENOENT);
	CHECK_EQ(vx_stale_mark(fs, VX_SPACE_ID_MAX, f), -ENOENT);
	CHECK_EQ(vx_stale_mark(fs, VX_SPACE_ID_MAX + 1, f), -ENOENT);
	CHECK_EQ(vx_stale_mark(fs, VX_AUTO_OFF, f), -ENOENT);
	CHECK_EQ(vx_stale_mark(fs, sp, f), 1);
	CHECK_EQ(vx_space_drop(fs, sp), 0);
	/* dropped, not reaped: no new entries, the old one waits for the reap */
	CHECK_EQ(vx_stale_mark(fs, sp, f), -ENOENT);
	CHECK(has_stale(fs, sp, f));
	CHECK_EQ(vx_stale_mark(fs, other, f), 1);
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);
	CHECK_EQ(vx_stale_mark(fs, sp, f), -ENOENT);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- removal */

static int t_inode_remove(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 f, g;
	u32 sp[6];
	int i;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(new_file(fs, S_REG, &g), 0);
	for (i = 0; i < 6; i++) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", i);
		CHECK_EQ(make_space(fs, name, &sp[i]), 0);
	}
	/* f in spaces 0, 2, 3 and 5 (3 then dropped); g in 1, 2 and 5 */
	CHECK_EQ(vx_stale_mark(fs, sp[0], f), 1);
	CHECK_EQ(vx_stale_mark(fs, sp[2], f), 1);
	CHECK_EQ(vx_stale_mark(fs, sp[3], f), 1);
	CHECK_EQ(vx_stale_mark(fs, sp[5], f), 1);
	CHECK_EQ(vx_stale_fail(fs, sp[5], f, 1, EIO), 0);
	CHECK_EQ(vx_stale_mark(fs, sp[1], g), 1);
	CHECK_EQ(vx_stale_mark(fs, sp[2], g), 1);
	CHECK_EQ(vx_stale_mark(fs, sp[5], g), 1);
	CHECK_EQ(vx_space_drop(fs, sp[3]), 0);
	CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);

	CHECK_EQ(remove_file(fs, f), 0);
	for (i = 0; i < 6; i++)
		CHECK(!has_stale(fs, sp[i], f));
	CHECK(has_stale(fs, sp[1], g));
	CHECK(has_stale(fs, sp[2], g));
	CHECK(has_stale(fs, sp[5], g));
	/* the dropped space reaps whole afterwards */
	CHECK_EQ(reap_all(fs, sp[3]), 0);
	CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);
	CHECK(!has_stale(fs, sp[2], f));
	CHECK_EQ(remove_file(fs, g), 0);
	for (i = 0; i < 6; i++)
		CHECK(!has_stale(fs, sp[i], g));
	/* an inode queued nowhere is removed as before */
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(remove_file(fs, f), 0);
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_drop_reap(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_stale st;
	u64 f[20], ino;
	u32 a, b, id;
	int i, n;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(make_space(fs, "a", &a), 0);
	CHECK_EQ(make_space(fs, "b", &b), 0);
	for (i = 0; i < 20; i++) {
		CHECK_EQ(new_file(fs, S_REG, &f[i]), 0);
		CHECK_EQ(vx_stale_mark(fs, a, f[i]), 1);
		if (i % 2)
			CHECK_EQ(vx_stale_mark(fs, b, f[i]), 1);
	}
	CHECK_EQ(vx_space_drop(fs, a), 0);
	/* dropped with its queue: consistent, nothing reaped yet */
	CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);
	CHECK_EQ(vx_space_next_dropped(fs, 0, &id), 0);
	CHECK_EQ(id, a);
	CHECK(has_stale(fs, a, f[0]));
	CHECK_EQ(reap_all(fs, a), 0);
	CHECK_EQ(vx_space_next_dropped(fs, 0, &id), -ENOENT);
	CHECK_EQ(vx_stale_next(fs, a, 0, &ino, &st), -ENOENT);
	for (n = 0, ino = 0; vx_stale_next(fs, b, ino, &ino, &st) == 0; ino++)
		n++;
	CHECK_EQ(n, 10);
	CHECK_EQ(vx_fs_failed(fs), 0);
	CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);
	CHECK_EQ(vx_stale_next(fs, a, 0, &ino, &st), -ENOENT);
	CHECK(has_stale(fs, b, f[1]));
	vt_close(d, fs);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- persistence */

static int t_persist_crash(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_stale st;
	u64 f, g, dir;
	u32 sp;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(new_file(fs, S_REG, &g), 0);
	CHECK_EQ(new_file(fs, S_DIRM, &dir), 0);
	CHECK_EQ(make_space(fs, "a", &sp), 0);
	CHECK_EQ(vx_stale_mark(fs, sp, f), 1);
	CHECK_EQ(vx_stale_mark(fs, sp, g), 1);
	CHECK_EQ(vx_stale_fail(fs, sp, g, 1, ENOEXEC), 0);
	CHECK_EQ(set_auto_space(fs, dir, sp), 0);
	CHECK_EQ(set_auto_space(fs, VX_ROOT_INO, VX_AUTO_OFF), 0);
	CHECK_EQ(commit_fsck_reopen(img, &d, &fs), 0);
	CHECK(has_stale(fs, sp, f));
	CHECK_EQ(vx_stale_get(fs, sp, g, &st), 0);
	CHECK_EQ(st.flags, VX_STALE_FAILED);
	CHECK_EQ(st.failed_errno, ENOEXEC);
	CHECK_EQ(st.failed_version, 1);
	CHECK_EQ(get_auto_space(fs, dir), sp);
	CHECK_EQ(get_auto_space(fs, VX_ROOT_INO), VX_AUTO_OFF);

	/* uncommitted changes are gone after a crash (close without commit) */
	CHECK_EQ(vx_stale_clear(fs, sp, f), 0);
	CHECK_EQ(vx_stale_mark(fs, sp, g), 1);
	CHECK_EQ(set_auto_space(fs, dir, VX_AUTO_INHERIT), 0);
	CHECK_EQ(reopen(img, &d, &fs), 0);
	CHECK(has_stale(fs, sp, f));
	CHECK_EQ(vx_stale_get(fs, sp, g, &st), 0);
	CHECK_EQ(st.flags, VX_STALE_FAILED);
	CHECK_EQ(get_auto_space(fs, dir), sp);
	vt_close(d, fs);
	CHECK_FSCK(img);
	done_image(img);
	return 0;
}

/* ---------------------------------------------------------------- fsck */

/*
 * Damage applied to a committed volume: fsck -n reports it (4) with a
 * message containing want, without writing; fsck with fix_mode repairs it
 * (1); then it is clean (0).
 */
static int expect_repair(const char *img, const char *want, const char *fix_mode)
{
	static char out[65536];

	CHECK_EQ(fsck_run(img, "-n", out, sizeof(out), false), 4);
	if (!strstr(out, want)) {
		fprintf(stderr, "fsck -n output lacks \"%s\":\n%s", want, out);
		CHECK(0);
	}
	CHECK_EQ(fsck_run(img, fix_mode, out, sizeof(out), false), 1);
	CHECK(strstr(out, "FILE SYSTEM WAS MODIFIED"));
	CHECK_FSCK(img);
	return 0;
}

static int t_fsck_stale(void)
{
	char *img = new_image(4096, 4096);
	struct vx_devfile *d;
	struct vx_fs *fs;
	struct vx_stale st;
	u64 f, g, dir, lnk;
	u32 sp, gone;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(new_file(fs, S_REG, &g), 0);
	CHECK_EQ(new_file(fs, S_DIRM, &dir), 0);
	CHECK_EQ(new_file(fs, S_LNK, &lnk), 0);
	CHECK_EQ(make_space(fs, "a", &sp), 0);
	CHECK_EQ(make_space(fs, "gone", &gone), 0);
	CHECK_EQ(vx_stale_mark(fs, sp, g), 1);
	CHECK_EQ(vx_space_drop(fs, gone), 0);
	CHECK_EQ(reap_all(fs, gone), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_FSCK(img);

	/* unknown flags: reported, rewritten as plainly queued */
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(put_stale(fs, sp, f, 0x6, 0, 0, sizeof(struct vx_stale_item)), 0);
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), -EUCLEAN);	/* the core refuses it too */
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(expect_repair(img, "the stale item of inode", "-y"), 0);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), 0);
	CHECK_EQ(st.flags, 0);

	/* a failure recorded without the flag; -p repairs it too */
	CHECK_EQ(put_stale(fs, sp, f, 0, EIO, 3, sizeof(struct vx_stale_item)), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(expect_repair(img, "records a failure without the FAILED flag", "-p"), 0);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(vx_stale_get(fs, sp, f, &st), 0);
	CHECK_EQ(st.failed_errno, 0);
	CHECK_EQ(st.failed_version, 0);

	/* the wrong size */
	CHECK_EQ(put_stale(fs, sp, f, 0, 0, 0, sizeof(struct vx_stale_item) + 4), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(expect_repair(img, "has the wrong size (size 20", "-y"), 0);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK(has_stale(fs, sp, f));

	/* an inode that does not exist: deleted */
	CHECK_EQ(put_stale(fs, sp, 99999, 0, 0, 0, sizeof(struct vx_stale_item)), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(expect_repair(img, "inode 99999 is queued for embedding but does not exist",
			       "-y"), 0);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK(!has_stale(fs, sp, 99999));
	CHECK(has_stale(fs, sp, f));
	CHECK(has_stale(fs, sp, g));

	/* a directory and a symlink: deleted (-p: the repair is safe) */
	CHECK_EQ(put_stale(fs, sp, dir, 0, 0, 0, sizeof(struct vx_stale_item)), 0);
	CHECK_EQ(put_stale(fs, sp, lnk, VX_STALE_FAILED, EIO, 1,
			   sizeof(struct vx_stale_item)), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(expect_repair(img, "is a dir, not a regular file", "-p"), 0);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK(!has_stale(fs, sp, dir));
	CHECK(!has_stale(fs, sp, lnk));

	/* a space without a space item (reaped, and one never made): deleted */
	CHECK_EQ(put_stale(fs, gone, f, 0, 0, 0, sizeof(struct vx_stale_item)), 0);
	CHECK_EQ(put_stale(fs, 777, g, 0, 0, 0, sizeof(struct vx_stale_item)), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(expect_repair(img, "queued for embedding in a space that does not exist",
			       "-y"), 0);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK(!has_stale(fs, gone, f));
	CHECK(!has_stale(fs, 777, g));
	CHECK(has_stale(fs, sp, f));
	vt_close(d, fs);
	done_image(img);
	return 0;
}

static int t_fsck_auto_space(void)
{
	static char out[65536];
	char *img = new_image(4096, 4096), want[96];
	struct vx_devfile *d;
	struct vx_fs *fs;
	u64 f, dir, dir2, dir3;
	u32 sp, dropped;

	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(new_file(fs, S_REG, &f), 0);
	CHECK_EQ(new_file(fs, S_DIRM, &dir), 0);
	CHECK_EQ(new_file(fs, S_DIRM, &dir2), 0);
	CHECK_EQ(new_file(fs, S_DIRM, &dir3), 0);
	CHECK_EQ(make_space(fs, "a", &sp), 0);
	CHECK_EQ(make_space(fs, "dropped", &dropped), 0);
	CHECK_EQ(set_auto_space(fs, dir, sp), 0);
	CHECK_EQ(set_auto_space(fs, dir2, VX_AUTO_OFF), 0);
	CHECK_EQ(set_auto_space(fs, VX_ROOT_INO, sp), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(fsck_run(img, "-n", out, sizeof(out), true), 0);
	CHECK(!strstr(out, "automatic embedding policy"));

	/* naming a dropped or a missing space: only a note */
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(set_auto_space(fs, dir2, dropped), 0);
	CHECK_EQ(set_auto_space(fs, dir3, 4242), 0);
	CHECK_EQ(vx_space_drop(fs, dropped), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(fsck_run(img, "-n", out, sizeof(out), true), 0);
	CHECK(strstr(out, "names vector space 4242, which does not exist"));
	CHECK(strstr(out, "which was dropped"));
	CHECK(strstr(out, "clean"));
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(reap_all(fs, dropped), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(fsck_run(img, "-n", out, sizeof(out), true), 0);
	snprintf(want, sizeof(want), "names vector space %u, which does not exist", dropped);
	CHECK(strstr(out, want));	/* reaped: now missing */

	/* on a regular file: a problem, zeroed by -y */
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(set_auto_space(fs, f, sp), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(expect_repair(img, "a file with an automatic embedding policy", "-y"), 0);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(get_auto_space(fs, f), 0);
	CHECK_EQ(get_auto_space(fs, dir), sp);	/* the directories keep theirs */
	CHECK_EQ(get_auto_space(fs, dir3), 4242);
	/* VX_AUTO_OFF on a file is no better */
	CHECK_EQ(set_auto_space(fs, f, VX_AUTO_OFF), 0);
	CHECK_EQ(vx_fs_commit(fs), 0);
	vt_close(d, fs);
	CHECK_EQ(expect_repair(img, "(0xffffffff)", "-p"), 0);
	CHECK_EQ(vt_open(img, &d, &fs), 0);
	CHECK_EQ(get_auto_space(fs, f), 0);
	vt_close(d, fs);
	done_image(img);
	return 0;
}

int main(void)
{
	vx_user_quiet = 1;
	signal(SIGABRT, on_abort);
	vt_run("stale: mark twice, get, clear, clear an absent item", t_mark_get_clear);
	vt_run("stale: next in ino order, per space, stops at the space's end", t_next_order);
	vt_run("stale: fail records errno/version, -ESTALE, mark resets", t_fail);
	vt_run("stale: mark needs a live space", t_live_spaces_only);
	vt_run("stale: inode removal unqueues it from every space", t_inode_remove);
	vt_run("stale: drop + reap removes the space's queue", t_drop_reap);
	vt_run("stale: commit + remount keeps them, a crash the last commit", t_persist_crash);
	vt_run("fsck: malformed or dangling STALE items reported and repaired", t_fsck_stale);
	vt_run("fsck: auto_space of directories and of other inodes", t_fsck_auto_space);
	remove_images();
	return vt_finish();
}
