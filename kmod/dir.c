// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS directories: readdir.
 *
 * Each entry's readdir position is its stable index in the directory (the
 * core's DIRINDEX key), so an offset stays valid while entries come and go.
 * Positions 0 and 1 are "." and "..".  Entries are gathered into a buffer
 * under the volume lock and handed to dir_emit() after it is dropped:
 * dir_emit() copies to user memory and may fault, and the fault may need
 * this file system.
 */
#include <linux/fs.h>
#include <linux/slab.h>
#include "vexfs.h"

struct vexfs_dent {
	u64 ino;
	u64 index;
	u16 len;
	u8 ftype;
	char name[];
};

struct vexfs_readdir_batch {
	char *buf;
	size_t used, cap;
	bool full;
};

static size_t vexfs_dent_size(u32 len)
{
	return ALIGN(sizeof(struct vexfs_dent) + len, 8);
}

static int vexfs_readdir_collect(void *ctx, const char *name, u32 len, u64 ino,
				 u8 ftype, u64 index)
{
	struct vexfs_readdir_batch *b = ctx;
	struct vexfs_dent *de;

	if (b->used + vexfs_dent_size(len) > b->cap) {
		b->full = true;
		return 1;	/* the core leaves *pos at this entry */
	}
	de = (struct vexfs_dent *)(b->buf + b->used);
	de->ino = ino;
	de->index = index;
	de->len = len;
	de->ftype = ftype;
	memcpy(de->name, name, len);
	b->used += vexfs_dent_size(len);
	return 0;
}

static int vexfs_readdir(struct file *file, struct dir_context *ctx)
{
	struct inode *inode = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_readdir_batch b;
	int err = 0;

	if (vexfs_is_shutdown(sbi))
		return -EIO;
	if (!dir_emit_dots(file, ctx))
		return 0;
	b.cap = PAGE_SIZE;
	b.buf = kmalloc(b.cap, GFP_KERNEL);
	if (!b.buf)
		return -ENOMEM;
	for (;;) {
		u64 pos = ctx->pos;
		size_t off;

		b.used = 0;
		b.full = false;
		err = vexfs_lock_op(sbi);
		if (err)
			break;
		err = vx_dir_iterate(sbi->fs, inode->i_ino, &pos,
				     vexfs_readdir_collect, &b);
		vexfs_unlock(sbi);
		if (err)
			break;
		off = 0;
		while (off < b.used) {
			struct vexfs_dent *de = (struct vexfs_dent *)(b.buf + off);

			ctx->pos = de->index;
			if (!dir_emit(ctx, de->name, de->len, de->ino,
				      fs_ftype_to_dtype(de->ftype)))
				goto out;
			off += vexfs_dent_size(de->len);
		}
		ctx->pos = pos;
		if (!b.full)
			break;
	}
out:
	kfree(b.buf);
	if (err == -EUCLEAN)
		vexfs_err(inode->i_sb, "directory %lu is corrupt; run fsck.vexfs",
			  inode->i_ino);
	return err;
}

const struct file_operations vexfs_dir_operations = {
	.llseek		= generic_file_llseek,
	.read		= generic_read_dir,
	.iterate_shared	= vexfs_readdir,
	.fsync		= vexfs_fsync,
	.unlocked_ioctl	= vexfs_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};
