// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS regular files: page-cache read/write, mmap, fsync, SEEK_HOLE /
 * SEEK_DATA and fallocate.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/falloc.h>
#include <linux/uio.h>
#include <linux/writeback.h>
#include <linux/fiemap.h>
#include "vexfs.h"

/*
 * O_DIRECT goes through the page cache: the data is written back (or read)
 * before the call returns, which is what applications rely on, without a
 * second I/O path that would bypass the ordered-data rules.
 */
static ssize_t vexfs_file_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct inode *inode = file_inode(iocb->ki_filp);

	if (vexfs_is_shutdown(VEXFS_SB(inode->i_sb)))
		return -EIO;
	iocb->ki_flags &= ~IOCB_DIRECT;
	return generic_file_read_iter(iocb, to);
}

static ssize_t vexfs_file_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	bool direct = iocb->ki_flags & IOCB_DIRECT;
	loff_t pos;
	ssize_t ret;
	int err;

	if (vexfs_is_shutdown(VEXFS_SB(inode->i_sb)))
		return -EIO;
	iocb->ki_flags &= ~IOCB_DIRECT;
	if (iov_iter_count(from)) {
		vexfs_data_changing(inode, iocb->ki_filp->f_path.dentry);
		/* appends go to new blocks; anything else may overwrite */
		if (!(iocb->ki_flags & IOCB_APPEND) && iocb->ki_pos < i_size_read(inode))
			vexfs_inplace_change(inode);
	}
	ret = generic_file_write_iter(iocb, from);
	if (vexfs_enospc_retry(VEXFS_SB(inode->i_sb), ret))
		ret = generic_file_write_iter(iocb, from);
	if (ret <= 0)
		return ret;
	vexfs_data_changed(inode, iocb->ki_filp->f_path.dentry);
	if (direct) {
		pos = iocb->ki_pos - ret;
		err = filemap_write_and_wait_range(inode->i_mapping, pos,
						   iocb->ki_pos - 1);
		if (err)
			return err;
		invalidate_mapping_pages(inode->i_mapping, pos >> PAGE_SHIFT,
					 (iocb->ki_pos - 1) >> PAGE_SHIFT);
	}
	return ret;
}

static vm_fault_t vexfs_page_mkwrite(struct vm_fault *vmf)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	struct super_block *sb = inode->i_sb;
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	vm_fault_t ret;
	int err;

	sb_start_pagefault(sb);
	file_update_time(vmf->vma->vm_file);
	if (vexfs_is_shutdown(sbi)) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	vexfs_data_changed(inode, vmf->vma->vm_file->f_path.dentry);
	vexfs_inplace_change(inode);
	/* invalidate_lock before txn_sem, as punch hole takes them */
	filemap_invalidate_lock_shared(inode->i_mapping);
	down_read(&sbi->txn_sem);
	err = block_page_mkwrite(vmf->vma, vmf, vexfs_get_block);
	up_read(&sbi->txn_sem);
	filemap_invalidate_unlock_shared(inode->i_mapping);
	if (vexfs_enospc_retry(sbi, err)) {
		filemap_invalidate_lock_shared(inode->i_mapping);
		down_read(&sbi->txn_sem);
		err = block_page_mkwrite(vmf->vma, vmf, vexfs_get_block);
		up_read(&sbi->txn_sem);
		filemap_invalidate_unlock_shared(inode->i_mapping);
	}
	ret = vexfs_mkwrite_return(err);
out:
	sb_end_pagefault(sb);
	return ret;
}

static const struct vm_operations_struct vexfs_file_vm_ops = {
	.fault		= filemap_fault,
	.map_pages	= filemap_map_pages,
	.page_mkwrite	= vexfs_page_mkwrite,
};

static int vexfs_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vexfs_is_shutdown(VEXFS_SB(file_inode(file)->i_sb)))
		return -EIO;
	file_accessed(file);
	vma->vm_ops = &vexfs_file_vm_ops;
	return 0;
}

/*
 * Data first, then the transaction that describes it.  The inode item was
 * written when the inode was dirtied, so a commit covers it; a commit with
 * nothing new still flushes the device cache for data overwritten in place.
 */
int vexfs_fsync(struct file *file, loff_t start, loff_t end, int datasync)
{
	struct inode *inode = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	int err;

	if (vexfs_is_shutdown(sbi))
		return -EIO;
	err = file_write_and_wait_range(file, start, end);
	if (err)
		return err;
	if (sb_rdonly(inode->i_sb))
		return 0;
	err = vexfs_commit(sbi, true);
	/* the writer says the content is complete: embed it (debounced) */
	if (!err)
		vexfs_auto_file_settled(inode);
	return err;
}

/* A writer closed the file: its content may be embedded. */
static int vexfs_file_release(struct inode *inode, struct file *file)
{
	if (file->f_mode & FMODE_WRITE)
		vexfs_auto_file_settled(inode);
	return 0;
}

/* ------------------------------------------------------------ llseek */

/*
 * SEEK_DATA / SEEK_HOLE from the extent map.  Blocks are allocated when
 * data enters the page cache, so the map already covers unwritten-back data;
 * unwritten (fallocated) extents read as zeros and count as holes.
 */
static loff_t vexfs_seek_hole_data(struct file *file, loff_t offset, int whence)
{
	struct inode *inode = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	unsigned int bits = inode->i_blkbits;
	loff_t isize, pos = -ENXIO;
	u64 blk, last;
	int err = 0;

	inode_lock_shared(inode);
	isize = i_size_read(inode);
	if (offset < 0 || offset >= isize) {
		pos = -ENXIO;
		goto out;
	}
	blk = (u64)offset >> bits;
	last = ((u64)isize - 1) >> bits;
	while (blk <= last) {
		struct vx_mapping m;
		bool data;

		err = vexfs_lock_op(sbi);
		if (err)
			break;
		err = vx_extent_map(sbi->fs, inode->i_ino, blk, &m);
		vexfs_unlock(sbi);
		if (err)
			break;
		data = m.disk_block && !(m.flags & VX_EXTENT_UNWRITTEN);
		if (data == (whence == SEEK_DATA)) {
			pos = max_t(loff_t, offset, (loff_t)(blk << bits));
			break;
		}
		if (!m.len || m.len > last - blk)
			blk = last + 1;
		else
			blk += m.len;
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		cond_resched();
	}
	if (err)
		pos = err;
	else if (blk > last)	/* ran off the end: the implicit hole at EOF */
		pos = whence == SEEK_HOLE ? isize : -ENXIO;
	if (pos > isize)
		pos = whence == SEEK_HOLE ? isize : -ENXIO;
	if (pos >= 0)
		pos = vfs_setpos(file, pos, inode->i_sb->s_maxbytes);
out:
	inode_unlock_shared(inode);
	return pos;
}

static loff_t vexfs_file_llseek(struct file *file, loff_t offset, int whence)
{
	struct inode *inode = file_inode(file);

	switch (whence) {
	case SEEK_DATA:
	case SEEK_HOLE:
		return vexfs_seek_hole_data(file, offset, whence);
	default:
		return generic_file_llseek_size(file, offset, whence,
						inode->i_sb->s_maxbytes,
						i_size_read(inode));
	}
}

/* ------------------------------------------------------------ fallocate */

/* Give [start, end] (blocks, inclusive) unwritten extents where it has holes. */
static int vexfs_alloc_range(struct inode *inode, u64 start, u64 end)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	unsigned int bits = inode->i_blkbits;
	u64 blk = start;
	int err = 0;

	while (blk <= end) {
		struct vx_mapping m;

		err = vexfs_lock_op(sbi);
		if (err)
			break;
		err = vx_extent_map(sbi->fs, inode->i_ino, blk, &m);
		if (!err && !m.disk_block) {
			err = vx_extent_alloc(sbi->fs, &vi->d, blk,
					      min(m.len, end - blk + 1),
					      VX_EXTENT_UNWRITTEN, &m);
			inode->i_blocks = vi->d.blocks << (bits - 9);
			if (!err)
				err = vexfs_write_inode_locked(inode);
		}
		vexfs_unlock(sbi);
		if (err)
			break;
		if (!m.len || m.len > end - blk)
			break;
		blk += m.len;
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		cond_resched();
	}
	return err;
}

static int vexfs_punch_hole(struct inode *inode, loff_t offset, loff_t len)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	unsigned int bits = inode->i_blkbits;
	loff_t bs = 1 << bits, end = offset + len, zend;
	loff_t first_full = round_up(offset, bs), last_full = round_down(end, bs);
	int err = 0;

	/*
	 * Partial blocks at either end are zeroed on disk, as far as they
	 * hold data (inside i_size); whole blocks are freed, also past EOF.
	 */
	zend = min_t(loff_t, end, i_size_read(inode));
	if (first_full > last_full) {
		err = vexfs_zero_partial(inode, offset, zend - offset);
	} else {
		err = vexfs_zero_partial(inode, offset,
					 min(first_full, zend) - offset);
		if (!err && zend > last_full)
			err = vexfs_zero_partial(inode, last_full, zend - last_full);
	}
	if (err)
		return err;
	truncate_pagecache_range(inode, offset, end - 1);
	if (first_full >= last_full)
		return 0;

	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	err = vx_extent_punch(sbi->fs, &vi->d, first_full >> bits,
			      last_full >> bits);
	inode->i_blocks = vi->d.blocks << (bits - 9);
	if (!err)
		err = vexfs_write_inode_locked(inode);
	vexfs_unlock(sbi);
	return err;
}

static long vexfs_fallocate(struct file *file, int mode, loff_t offset,
			    loff_t len)
{
	struct inode *inode = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	unsigned int bits = inode->i_blkbits;
	loff_t new_size = 0;
	int err;

	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if (!S_ISREG(inode->i_mode))
		return -ENODEV;
	if (vexfs_is_shutdown(sbi))
		return -EIO;
	if (offset < 0 || len <= 0)
		return -EINVAL;

	inode_lock(inode);
	err = file_modified(file);
	if (err)
		goto out;

	if (mode & FALLOC_FL_PUNCH_HOLE) {
		vexfs_refill_reserve(sbi);
		filemap_invalidate_lock(inode->i_mapping);
		vexfs_data_changing(inode, file->f_path.dentry);
		err = vexfs_punch_hole(inode, offset, len);
		filemap_invalidate_unlock(inode->i_mapping);
		if (!err)
			vexfs_data_changed(inode, file->f_path.dentry);
		goto out;
	}

	if (!(mode & FALLOC_FL_KEEP_SIZE) && offset + len > i_size_read(inode)) {
		new_size = offset + len;
		err = inode_newsize_ok(inode, new_size);
		if (err)
			goto out;
		/* the file grows by zeros: its content changes */
		vexfs_data_changing(inode, file->f_path.dentry);
	}
	err = vexfs_alloc_range(inode, (u64)offset >> bits,
				(u64)(offset + len - 1) >> bits);
	if (vexfs_enospc_retry(sbi, err))
		err = vexfs_alloc_range(inode, (u64)offset >> bits,
					(u64)(offset + len - 1) >> bits);
	if (err)
		goto out;
	if (new_size) {
		i_size_write(inode, new_size);
		err = vexfs_lock_op(sbi);
		if (!err) {
			err = vexfs_write_inode_locked(inode);
			vexfs_unlock(sbi);
		}
		if (!err)
			vexfs_data_changed(inode, file->f_path.dentry);
	}
out:
	inode_unlock(inode);
	return err;
}

/* ------------------------------------------------------------ fiemap */

static int vexfs_fiemap(struct inode *inode, struct fiemap_extent_info *fi,
			u64 start, u64 len)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	unsigned int bits = inode->i_blkbits;
	u64 blk, end, pend_log = 0, pend_phys = 0, pend_len = 0;
	u32 pend_flags = 0;
	int err;

	err = fiemap_prep(inode, fi, start, &len, 0);
	if (err)
		return err;
	if (!len)
		return 0;
	blk = start >> bits;
	end = min_t(u64, start + len - 1, inode->i_sb->s_maxbytes) >> bits;

	inode_lock_shared(inode);
	while (blk <= end) {
		struct vx_mapping m;

		err = vexfs_lock_op(sbi);
		if (err)
			break;
		err = vx_extent_map(sbi->fs, inode->i_ino, blk, &m);
		vexfs_unlock(sbi);
		if (err)
			break;
		if (m.disk_block) {
			/* report the previous extent: it is not the last */
			if (pend_len) {
				err = fiemap_fill_next_extent(fi, pend_log, pend_phys,
							      pend_len, pend_flags);
				if (err)
					break;
			}
			pend_log = blk << bits;
			pend_phys = m.disk_block << bits;
			pend_len = m.len << bits;
			pend_flags = (m.flags & VX_EXTENT_UNWRITTEN) ?
				     FIEMAP_EXTENT_UNWRITTEN : 0;
		}
		if (!m.len || m.len == VX_HOLE_TO_EOF || m.len > end - blk)
			break;
		blk += m.len;
		cond_resched();
	}
	if (!err && pend_len) {
		struct vx_mapping m = { .len = 0 };

		/* the last extent of the file, or only of the range asked for? */
		err = vexfs_lock_op(sbi);
		if (!err) {
			err = vx_extent_map(sbi->fs, inode->i_ino,
					    (pend_log + pend_len) >> bits, &m);
			vexfs_unlock(sbi);
		}
		if (!err && !m.disk_block && m.len == VX_HOLE_TO_EOF)
			pend_flags |= FIEMAP_EXTENT_LAST;
		if (!err)
			err = fiemap_fill_next_extent(fi, pend_log, pend_phys,
						      pend_len, pend_flags);
	}
	inode_unlock_shared(inode);
	return err < 0 ? err : 0;
}

const struct file_operations vexfs_file_operations = {
	.llseek		= vexfs_file_llseek,
	.read_iter	= vexfs_file_read_iter,
	.write_iter	= vexfs_file_write_iter,
	.mmap		= vexfs_file_mmap,
	.open		= generic_file_open,
	.release	= vexfs_file_release,
	.fsync		= vexfs_fsync,
	.fallocate	= vexfs_fallocate,
	.unlocked_ioctl	= vexfs_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.splice_read	= vexfs_splice_read,
	.splice_write	= iter_file_splice_write,
};

const struct inode_operations vexfs_file_inode_operations = {
	.setattr	= vexfs_setattr,
	.getattr	= vexfs_getattr,
	.listxattr	= vexfs_listxattr,
	.fiemap		= vexfs_fiemap,
};
