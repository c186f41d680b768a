// SPDX-License-Identifier: GPL-2.0
/*
 * The core's block device access (struct vx_dev_ops) over buffer heads.
 *
 * Every block the core writes between two commits is new (copy-on-write):
 * no committed state refers to it, and blocks freed meanwhile stay pinned
 * until the commit.  So write_block only fills the buffer and remembers it;
 * flush, from vx_fs_commit(), submits the remembered blocks (under the
 * commit's block plug, so neighbours merge), waits for all of them, checks
 * for errors and flushes the device cache.  A block rewritten before the
 * commit (an HNSW node's links change with every batch of insertions) is
 * written once, and a rewrite never waits for the write before it.  Past
 * VEXFS_MAX_UNSUBMITTED blocks they are submitted early, to spread a large
 * transaction's I/O.  Buffers are never left dirty in the block device's
 * page cache, so nothing reaches the disk behind the core's back.  Once the
 * volume is shut down nothing more is submitted: remembered blocks are
 * dropped and their cached copies invalidated.
 *
 * Every callback runs under sbi->lock.
 */
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/slab.h>
#include "vexfs.h"

static int vexfs_dev_set_block_size(void *dev, u32 block_size)
{
	struct vexfs_sb_info *sbi = dev;
	struct super_block *sb = sbi->sb;

	if (sb->s_blocksize == block_size)
		return 0;
	if (!sb_set_blocksize(sb, block_size)) {
		vexfs_err(sb, "block size %u is not supported by this device (logical block size %u)",
			  block_size, bdev_logical_block_size(sb->s_bdev));
		return -EINVAL;
	}
	return 0;
}

static int vexfs_dev_read_block(void *dev, u64 blocknr, void *buf)
{
	struct vexfs_sb_info *sbi = dev;
	struct super_block *sb = sbi->sb;
	struct buffer_head *bh;

	bh = sb_bread(sb, blocknr);
	if (!bh) {
		vexfs_err(sb, "I/O error reading block %llu",
			  (unsigned long long)blocknr);
		return -EIO;
	}
	memcpy(buf, bh->b_data, sb->s_blocksize);
	brelse(bh);
	return 0;
}

/* Filled with new content, not yet submitted (set on bdev buffers). */
enum { BH_VexfsUnsubmitted = BH_PrivateStart };
BUFFER_FNS(VexfsUnsubmitted, vexfs_unsubmitted)
TAS_BUFFER_FNS(VexfsUnsubmitted, vexfs_unsubmitted)

/* Spread larger transactions' writes: 64 MiB of 4 KiB blocks. */
#define VEXFS_MAX_UNSUBMITTED	16384

/* Wait for one submitted write; 0 or -EIO.  Drops the caller's reference. */
static int vexfs_wait_bh(struct buffer_head *bh)
{
	int err = 0;

	wait_on_buffer(bh);
	if (!buffer_uptodate(bh) || buffer_write_io_error(bh)) {
		clear_buffer_write_io_error(bh);
		err = -EIO;
	}
	brelse(bh);
	return err;
}

/* Start writing a filled buffer; end_buffer_write_sync drops our extra ref. */
static void vexfs_submit_bh(struct buffer_head *bh)
{
	lock_buffer(bh);
	clear_buffer_vexfs_unsubmitted(bh);
	clear_buffer_write_io_error(bh);
	get_bh(bh);
	bh->b_end_io = end_buffer_write_sync;
	submit_bh(REQ_OP_WRITE, bh);
}

static void vexfs_submit_all(struct vexfs_sb_info *sbi)
{
	for (; sbi->nr_wsub < sbi->nr_wbh; sbi->nr_wsub++)
		vexfs_submit_bh(sbi->wbh[sbi->nr_wsub]);
}

/*
 * Forget the remembered blocks never submitted: the disk keeps what it
 * had, so the cache must not serve the newer content either.
 */
static void vexfs_drop_unsubmitted(struct vexfs_sb_info *sbi)
{
	unsigned int i;

	for (i = sbi->nr_wsub; i < sbi->nr_wbh; i++) {
		struct buffer_head *bh = sbi->wbh[i];

		lock_buffer(bh);
		clear_buffer_vexfs_unsubmitted(bh);
		clear_buffer_uptodate(bh);
		unlock_buffer(bh);
		brelse(bh);
	}
	sbi->nr_wbh = sbi->nr_wsub;
}

/* Drop every submitted write after waiting for it; returns the first error. */
static int vexfs_wait_all(struct vexfs_sb_info *sbi)
{
	unsigned int i;
	int err = sbi->wb_err, e;

	for (i = 0; i < sbi->nr_wsub; i++) {
		sector_t blocknr = sbi->wbh[i]->b_blocknr;

		e = vexfs_wait_bh(sbi->wbh[i]);
		if (e && !err) {
			vexfs_err(sbi->sb, "I/O error writing block %llu",
				  (unsigned long long)blocknr);
			err = e;
		}
	}
	sbi->nr_wbh = sbi->nr_wsub = 0;
	sbi->wb_err = 0;
	return err;
}

/* Unmount or failed mount: whatever no commit wrote is not written now. */
void vexfs_dev_drain(struct vexfs_sb_info *sbi)
{
	vexfs_drop_unsubmitted(sbi);
	vexfs_wait_all(sbi);
}

static bool vexfs_remember_bh(struct vexfs_sb_info *sbi, struct buffer_head *bh)
{
	if (sbi->nr_wbh == sbi->max_wbh) {
		unsigned int n = sbi->max_wbh ? sbi->max_wbh * 2 : 256;
		struct buffer_head **p;

		p = kvmalloc_array(n, sizeof(*p), GFP_NOFS);
		if (!p)
			return false;
		if (sbi->nr_wbh)
			memcpy(p, sbi->wbh, sbi->nr_wbh * sizeof(*p));
		kvfree(sbi->wbh);
		sbi->wbh = p;
		sbi->max_wbh = n;
	}
	sbi->wbh[sbi->nr_wbh++] = bh;
	return true;
}

static int vexfs_dev_write_block(void *dev, u64 blocknr, const void *buf)
{
	struct vexfs_sb_info *sbi = dev;
	struct super_block *sb = sbi->sb;
	struct buffer_head *bh;

	if (vexfs_is_shutdown(sbi))
		return -EIO;
	bh = sb_getblk(sb, blocknr);
	if (!bh)
		return -ENOMEM;
	/* a read, or an early submission of an older copy, may be in flight */
	lock_buffer(bh);
	memcpy(bh->b_data, buf, sb->s_blocksize);
	set_buffer_uptodate(bh);
	clear_buffer_dirty(bh);
	unlock_buffer(bh);
	if (test_set_buffer_vexfs_unsubmitted(bh)) {
		brelse(bh);	/* remembered already, still unsubmitted */
		return 0;
	}
	if (!vexfs_remember_bh(sbi, bh)) {
		/* no memory to remember it: write it now and wait */
		int err;

		vexfs_submit_bh(bh);
		err = vexfs_wait_bh(bh);
		if (err && !sbi->wb_err)
			sbi->wb_err = err;
		return 0;
	}
	if (sbi->nr_wbh - sbi->nr_wsub >= VEXFS_MAX_UNSUBMITTED)
		vexfs_submit_all(sbi);
	return 0;
}

static int vexfs_dev_flush(void *dev)
{
	struct vexfs_sb_info *sbi = dev;
	int err;

	if (vexfs_is_shutdown(sbi))
		vexfs_drop_unsubmitted(sbi);
	else
		vexfs_submit_all(sbi);
	err = vexfs_wait_all(sbi);
	if (err)
		return err;
	if (vexfs_is_shutdown(sbi))
		return -EIO;
	err = blkdev_issue_flush(sbi->sb->s_bdev);
	if (err) {
		vexfs_err(sbi->sb, "device cache flush failed (%d)", err);
		return -EIO;
	}
	return 0;
}

/* The superblock slots sit at fixed byte offsets, whatever the block size. */
static struct buffer_head *vexfs_super_bh(struct super_block *sb, u64 off,
					  u32 len, unsigned int *inblock)
{
	u64 blk = off >> sb->s_blocksize_bits;

	*inblock = off & (sb->s_blocksize - 1);
	if (*inblock + len > sb->s_blocksize)
		return ERR_PTR(-EINVAL);
	return sb_bread(sb, blk) ?: ERR_PTR(-EIO);
}

static int vexfs_dev_read_super(void *dev, u64 off, void *buf, u32 len)
{
	struct vexfs_sb_info *sbi = dev;
	struct buffer_head *bh;
	unsigned int inblock;

	if (off + len > sbi->device_bytes) {
		memset(buf, 0, len);
		return 0;
	}
	bh = vexfs_super_bh(sbi->sb, off, len, &inblock);
	if (IS_ERR(bh))
		return PTR_ERR(bh);
	memcpy(buf, bh->b_data + inblock, len);
	brelse(bh);
	return 0;
}

static int vexfs_dev_write_super(void *dev, u64 off, const void *buf, u32 len)
{
	struct vexfs_sb_info *sbi = dev;
	struct buffer_head *bh;
	unsigned int inblock;
	int err;

	if (vexfs_is_shutdown(sbi))
		return -EIO;
	bh = vexfs_super_bh(sbi->sb, off, len, &inblock);
	if (IS_ERR(bh))
		return PTR_ERR(bh);
	lock_buffer(bh);
	memcpy(bh->b_data + inblock, buf, len);
	set_buffer_uptodate(bh);
	clear_buffer_dirty(bh);
	clear_buffer_write_io_error(bh);
	get_bh(bh);
	bh->b_end_io = end_buffer_write_sync;
	/* everything before must be on stable media first, and this too */
	submit_bh(REQ_OP_WRITE | REQ_SYNC | REQ_PREFLUSH | REQ_FUA, bh);
	err = vexfs_wait_bh(bh);
	if (err)
		vexfs_err(sbi->sb, "I/O error writing the superblock at byte %llu",
			  (unsigned long long)off);
	return err;
}

static void vexfs_dev_forget_block(void *dev, u64 blocknr)
{
	struct vexfs_sb_info *sbi = dev;
	struct buffer_head *bh = sb_find_get_block(sbi->sb, blocknr);

	if (bh)
		bforget(bh);
}

static void vexfs_dev_readahead(void *dev, u64 blocknr)
{
	struct vexfs_sb_info *sbi = dev;

	sb_breadahead(sbi->sb, blocknr);
}

const struct vx_dev_ops vexfs_dev_ops = {
	.set_block_size	= vexfs_dev_set_block_size,
	.read_block	= vexfs_dev_read_block,
	.write_block	= vexfs_dev_write_block,
	.flush		= vexfs_dev_flush,
	.read_super	= vexfs_dev_read_super,
	.write_super	= vexfs_dev_write_super,
	.forget_block	= vexfs_dev_forget_block,
	.readahead	= vexfs_dev_readahead,
};
