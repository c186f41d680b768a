// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper for tests/tools/test-tools.sh: populate a VexFS image through
 * the core's API, or damage it in specific, known ways (also through the
 * API, so the damage is a consistent commit that only fsck objects to).
 *
 *   vx_populate IMG populate [NFILES]   dirs, files, xattrs, extents, links
 *   vx_populate IMG ino PATH            print the inode number of PATH
 *   vx_populate IMG nlink INO N         set inode's link count
 *   vx_populate IMG iblocks INO N       set inode's block count
 *   vx_populate IMG leak N              allocate N blocks nobody uses
 *   vx_populate IMG unmark INO          mark the first data block of INO free
 *   vx_populate IMG unname DIR NAME     remove a name, leave the link count
 *   vx_populate IMG dangle DIR NAME INO add a name for a missing inode
 *   vx_populate IMG orphan              create an open-unlinked (orphan) file
 *   vx_populate IMG lost                create an inode in no directory
 *   vx_populate IMG badorphan INO       put a linked inode on the orphan list
 *   vx_populate IMG parent INO P        set a directory's parent field
 *   vx_populate IMG misfile DIR NAME    move NAME's entry to the wrong hash
 *   vx_populate IMG cycle               two directories naming each other only
 *   vx_populate IMG halforphan          an orphan whose removal stopped half way
 *   vx_populate IMG countup             superblock inode count one too high
 *   vx_populate IMG countdown           ... one too low
 *
 * Exit status 0 on success; errors are printed.
 */
#include <unistd.h>
#include "vx_core.h"
#include "vx_devfile.h"

static struct vx_devfile *dev;
static struct vx_fs *fs;

#define TRY(expr) do { \
	int _e = (expr); \
	if (_e) { \
		fprintf(stderr, "vx_populate: %s:%d: %s: %s\n", __FILE__, __LINE__, \
			#expr, strerror(-_e)); \
		exit(1); \
	} } while (0)

static const u64 now = 1700000000ULL;

static void init_inode(struct vx_inode_data *d, u32 mode)
{
	memset(d, 0, sizeof(*d));
	d->mode = mode;
	d->uid = 1000;
	d->gid = 1000;
	d->atime_sec = d->mtime_sec = d->ctime_sec = d->crtime_sec = (s64)now;
	if ((mode & 0170000) == 0040000) {
		d->nlink = 2;
		d->next_dir_index = 2;
	} else {
		d->nlink = 1;
	}
}

static u64 mk(u64 dir_ino, const char *name, u32 mode)
{
	struct vx_inode_data dir, d;

	TRY(vx_inode_read(fs, dir_ino, &dir));
	init_inode(&d, mode);
	if ((mode & 0170000) == 0040000)
		d.parent = dir_ino;
	TRY(vx_inode_create(fs, &d));
	TRY(vx_dir_add(fs, &dir, name, strlen(name), d.ino, vx_mode_to_ftype(mode)));
	if ((mode & 0170000) == 0040000)
		dir.nlink++;
	TRY(vx_inode_write(fs, &dir));
	return d.ino;
}

static void write_data(u64 ino, const void *data, u64 len)
{
	struct vx_inode_data d;
	u32 bs = vx_fs_block_size(fs);
	u8 *buf = calloc(1, bs);
	u64 fb = 0, done = 0;

	TRY(vx_inode_read(fs, ino, &d));
	while (done < len) {
		struct vx_mapping m;
		u64 i;

		TRY(vx_extent_alloc(fs, &d, fb, (len - done + bs - 1) / bs, 0, &m));
		for (i = 0; i < m.len && done < len; i++) {
			u64 n = len - done < bs ? len - done : bs;

			memset(buf, 0, bs);
			memcpy(buf, (const u8 *)data + done, n);
			TRY(vx_devfile_ops.write_block(dev, m.disk_block + i, buf));
			done += n;
			fb++;
		}
	}
	d.size = len;
	d.data_version++;
	TRY(vx_inode_write(fs, &d));
	free(buf);
}

static void link_name(u64 dir_ino, const char *name, u64 ino)
{
	struct vx_inode_data dir, d;

	TRY(vx_inode_read(fs, dir_ino, &dir));
	TRY(vx_inode_read(fs, ino, &d));
	TRY(vx_dir_add(fs, &dir, name, strlen(name), ino, vx_mode_to_ftype(d.mode)));
	TRY(vx_inode_write(fs, &dir));
	d.nlink++;
	TRY(vx_inode_write(fs, &d));
}

static u64 lookup_path(const char *path)
{
	u64 ino = VX_ROOT_INO;
	char *copy = strdup(path), *tok, *save = NULL;

	for (tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save))
		TRY(vx_dir_lookup(fs, ino, tok, strlen(tok), &ino, NULL));
	free(copy);
	return ino;
}

static void populate(int nfiles)
{
	static char big[300000];
	u64 docs, sub, f, empty;
	char name[64];
	int i;

	docs = mk(VX_ROOT_INO, "docs", 0040755);
	sub = mk(docs, "sub", 0040700);
	mk(sub, "deeper", 0040755);
	empty = mk(VX_ROOT_INO, "empty-dir", 0040755);
	(void)empty;

	f = mk(docs, "hello.txt", 0100644);
	write_data(f, "hello, world\n", 13);
	TRY(vx_xattr_set(fs, f, VX_XATTR_INDEX_USER, "comment", "greeting", 8, 0));
	TRY(vx_xattr_set(fs, f, VX_XATTR_INDEX_SECURITY, "selinux", "x_u:x_r:x_t", 11, 0));
	link_name(VX_ROOT_INO, "hello-link", f);

	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 4096);
	f = mk(docs, "big.bin", 0100600);
	write_data(f, big, sizeof(big));

	f = mk(VX_ROOT_INO, "symlink", 0120777);
	write_data(f, "docs/hello.txt", 14);

	mk(VX_ROOT_INO, "fifo", 0010644);
	mk(VX_ROOT_INO, "null", 0020666);

	/* a sparse file with an unwritten (fallocated) extent */
	{
		struct vx_inode_data d;
		struct vx_mapping m;

		f = mk(docs, "sparse", 0100644);
		TRY(vx_inode_read(fs, f, &d));
		TRY(vx_extent_alloc(fs, &d, 100, 3, 0, &m));
		TRY(vx_extent_alloc(fs, &d, 1000, 2, VX_EXTENT_UNWRITTEN, &m));
		d.size = 1002ULL * vx_fs_block_size(fs);
		TRY(vx_inode_write(fs, &d));
	}
	TRY(vx_fs_commit(fs));

	/* many files: multi-level trees */
	for (i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "file-%05d-with-a-longish-name", i);
		f = mk(sub, name, 0100644);
		if (i % 5 == 0)
			write_data(f, name, strlen(name));
		if (i % 7 == 0)
			TRY(vx_xattr_set(fs, f, VX_XATTR_INDEX_USER, "n", name, strlen(name), 0));
		if (i % 500 == 499)
			TRY(vx_fs_commit(fs));
	}
	/* and delete some again */
	for (i = 0; i < nfiles; i += 3) {
		snprintf(name, sizeof(name), "file-%05d-with-a-longish-name", i);
		TRY(vx_dir_lookup(fs, sub, name, strlen(name), &f, NULL));
		TRY(vx_dir_remove(fs, sub, name, strlen(name)));
		TRY(vx_inode_remove(fs, f));
	}
	TRY(vx_fs_commit(fs));
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 3) {
		fprintf(stderr, "usage: vx_populate IMG COMMAND [ARGS]\n");
		return 2;
	}
	cmd = argv[2];
	TRY(vx_devfile_open(argv[1], 1, &dev));
	TRY(vx_fs_open(&fs, &vx_devfile_ops, dev, vx_devfile_size(dev),
		       strcmp(cmd, "ino") ? 0 : VX_OPEN_RDONLY));

	if (!strcmp(cmd, "populate")) {
		populate(argc > 3 ? atoi(argv[3]) : 0);
	} else if (!strcmp(cmd, "ino") && argc == 4) {
		printf("%llu\n", (unsigned long long)lookup_path(argv[3]));
	} else if ((!strcmp(cmd, "nlink") || !strcmp(cmd, "iblocks") ||
		    !strcmp(cmd, "parent")) && argc == 5) {
		struct vx_inode_data d;

		TRY(vx_inode_read(fs, strtoull(argv[3], NULL, 0), &d));
		if (!strcmp(cmd, "nlink"))
			d.nlink = (u32)strtoul(argv[4], NULL, 0);
		else if (!strcmp(cmd, "iblocks"))
			d.blocks = strtoull(argv[4], NULL, 0);
		else
			d.parent = strtoull(argv[4], NULL, 0);
		TRY(vx_inode_write(fs, &d));
	} else if (!strcmp(cmd, "leak") && argc == 4) {
		u64 start, got;

		TRY(vx_alloc_blocks(fs, 0, strtoull(argv[3], NULL, 0), true, &start, &got));
		printf("%llu %llu\n", (unsigned long long)start, (unsigned long long)got);
	} else if (!strcmp(cmd, "unmark") && argc == 4) {
		struct vx_mapping m;
		u64 ino = strtoull(argv[3], NULL, 0);

		TRY(vx_extent_map(fs, ino, 0, &m));
		if (!m.disk_block) {
			fprintf(stderr, "vx_populate: inode %llu has no block 0\n",
				(unsigned long long)ino);
			return 1;
		}
		TRY(vx_free_blocks(fs, m.disk_block, 1));
		printf("%llu\n", (unsigned long long)m.disk_block);
	} else if (!strcmp(cmd, "unname") && argc == 5) {
		TRY(vx_dir_remove(fs, strtoull(argv[3], NULL, 0), argv[4], strlen(argv[4])));
	} else if (!strcmp(cmd, "dangle") && argc == 6) {
		struct vx_inode_data dir;

		TRY(vx_inode_read(fs, strtoull(argv[3], NULL, 0), &dir));
		TRY(vx_dir_add(fs, &dir, argv[4], strlen(argv[4]), strtoull(argv[5], NULL, 0),
			       VX_FT_REG));
		TRY(vx_inode_write(fs, &dir));
	} else if (!strcmp(cmd, "orphan")) {
		struct vx_inode_data d;

		init_inode(&d, 0100644);
		d.nlink = 0;
		TRY(vx_inode_create(fs, &d));
		write_data(d.ino, "still open", 10);
		TRY(vx_orphan_add(fs, d.ino));
		printf("%llu\n", (unsigned long long)d.ino);
	} else if (!strcmp(cmd, "lost")) {
		struct vx_inode_data d;

		init_inode(&d, 0100644);
		TRY(vx_inode_create(fs, &d));
		write_data(d.ino, "nobody knows me", 15);
		printf("%llu\n", (unsigned long long)d.ino);
	} else if (!strcmp(cmd, "badorphan") && argc == 4) {
		TRY(vx_orphan_add(fs, strtoull(argv[3], NULL, 0)));
	} else if (!strcmp(cmd, "misfile") && argc == 5) {
		u8 buf[4096];
		struct vx_ckey k = { .objectid = strtoull(argv[3], NULL, 0), .type = VX_ITEM_DIRENT };
		u32 size;

		k.offset = vx_name_hash(argv[4], strlen(argv[4]));
		TRY(vx_item_lookup(fs, VX_TREE_FS, &k, buf, sizeof(buf), &size));
		TRY(vx_item_delete(fs, VX_TREE_FS, &k));
		k.offset ^= 0x5a5a;
		TRY(vx_item_insert(fs, VX_TREE_FS, &k, buf, size));
	} else if (!strcmp(cmd, "cycle")) {
		struct vx_inode_data a, b, root;
		u64 ia = mk(VX_ROOT_INO, "cyc-a", 0040755), ib = mk(ia, "cyc-b", 0040755);

		TRY(vx_dir_remove(fs, VX_ROOT_INO, "cyc-a", 5));
		TRY(vx_inode_read(fs, VX_ROOT_INO, &root));
		root.nlink--;
		TRY(vx_inode_write(fs, &root));
		TRY(vx_inode_read(fs, ib, &b));
		TRY(vx_dir_add(fs, &b, "cyc-a", 5, ia, VX_FT_DIR));
		b.nlink++;
		TRY(vx_inode_write(fs, &b));
		TRY(vx_inode_read(fs, ia, &a));
		a.parent = ib;
		TRY(vx_inode_write(fs, &a));
	} else if (!strcmp(cmd, "halforphan")) {
		/* what vx_inode_remove leaves if it stops after the first extent */
		static char data[40000];
		struct vx_inode_data d;
		struct vx_extent_item e;
		struct vx_ckey k = { .type = VX_ITEM_EXTENT }, found;
		u32 size;

		init_inode(&d, 0100644);
		d.nlink = 0;
		TRY(vx_inode_create(fs, &d));
		write_data(d.ino, data, sizeof(data));
		TRY(vx_extent_alloc(fs, &d, 100, 2, 0, &(struct vx_mapping){ 0 }));
		TRY(vx_inode_read(fs, d.ino, &d));
		TRY(vx_orphan_add(fs, d.ino));
		TRY(vx_xattr_set(fs, d.ino, VX_XATTR_INDEX_USER, "x", "y", 1, 0));
		k.objectid = d.ino;
		TRY(vx_item_next(fs, VX_TREE_FS, &k, &found, &e, sizeof(e), &size));
		TRY(vx_item_delete(fs, VX_TREE_FS, &found));
		TRY(vx_free_blocks(fs, le64_to_cpu(e.disk_block), le64_to_cpu(e.len)));
		printf("%llu\n", (unsigned long long)d.ino);
	} else if (!strcmp(cmd, "countup")) {
		struct vx_inode_data d;
		struct vx_ckey k = { .type = VX_ITEM_INODE };

		init_inode(&d, 0100644);
		TRY(vx_inode_create(fs, &d));
		k.objectid = d.ino;
		TRY(vx_item_delete(fs, VX_TREE_FS, &k));
	} else if (!strcmp(cmd, "countdown")) {
		/* an inode item nobody counted, removed again: count - 1 */
		struct vx_inode_item raw;
		struct vx_ckey k = { .objectid = VX_ORPHAN_OBJECTID - 2, .type = VX_ITEM_INODE };

		memset(&raw, 0, sizeof(raw));
		raw.mode = cpu_to_le32(0100644);
		TRY(vx_item_insert(fs, VX_TREE_FS, &k, &raw, sizeof(raw)));
		TRY(vx_inode_remove(fs, k.objectid));
	} else {
		fprintf(stderr, "vx_populate: bad command\n");
		return 2;
	}
	TRY(vx_fs_commit(fs));
	vx_fs_close(fs);
	vx_devfile_close(dev);
	return 0;
}
