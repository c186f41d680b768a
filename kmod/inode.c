// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS inodes: reading them from the core, writing them back whenever the
 * VFS dirties them, eviction, attributes, and the buffer-head address space
 * operations that map file blocks through the core's extents.
 */
#include <linux/fs.h>
#include <linux/mpage.h>
#include <linux/writeback.h>
#include <linux/pagemap.h>
#include <linux/kdev_t.h>
#include <linux/uio.h>
#include "vexfs.h"
#include "vx_vector.h"

/* ------------------------------------------------------------ ordered data */

/*
 * Bytes [start, start + len) of the inode got blocks, or zeros in place, in
 * the running transaction: the commit writes them back before it.
 */
void vexfs_add_ordered(struct inode *inode, loff_t start, loff_t len)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode_info *vi = VEXFS_I(inode);

	spin_lock(&sbi->ordered_lock);
	if (list_empty(&vi->ordered))
		list_add_tail(&vi->ordered, &sbi->ordered);
	vi->ordered_start = min(vi->ordered_start, start);
	vi->ordered_end = max(vi->ordered_end, start + len - 1);
	spin_unlock(&sbi->ordered_lock);
}

void vexfs_del_ordered(struct inode *inode)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode_info *vi = VEXFS_I(inode);

	spin_lock(&sbi->ordered_lock);
	list_del_init(&vi->ordered);
	spin_unlock(&sbi->ordered_lock);
}

/* ------------------------------------------------------------ core <-> VFS */

static struct timespec64 vexfs_ts(s64 sec, u32 nsec)
{
	struct timespec64 ts = {
		.tv_sec = sec,
		.tv_nsec = nsec < NSEC_PER_SEC ? nsec : 0,
	};

	return ts;
}

static void vexfs_data_to_inode(struct inode *inode)
{
	struct vx_inode_data *d = &VEXFS_I(inode)->d;

	inode->i_mode = d->mode;
	i_uid_write(inode, d->uid);
	i_gid_write(inode, d->gid);
	set_nlink(inode, d->nlink);
	inode->i_size = d->size;
	inode->i_blocks = d->blocks << (inode->i_blkbits - 9);
	inode->i_generation = (u32)d->generation;
	inode_set_atime_to_ts(inode, vexfs_ts(d->atime_sec, d->atime_nsec));
	inode_set_mtime_to_ts(inode, vexfs_ts(d->mtime_sec, d->mtime_nsec));
	inode_set_ctime_to_ts(inode, vexfs_ts(d->ctime_sec, d->ctime_nsec));
	if (S_ISCHR(d->mode) || S_ISBLK(d->mode))
		inode->i_rdev = new_decode_dev(d->rdev);
}

/* Copy what the VFS owns into the core's view; caller holds sbi->lock. */
void vexfs_inode_to_data(struct inode *inode)
{
	struct vx_inode_data *d = &VEXFS_I(inode)->d;
	struct timespec64 ts;

	d->mode = inode->i_mode;
	d->uid = i_uid_read(inode);
	d->gid = i_gid_read(inode);
	d->nlink = inode->i_nlink;
	d->size = i_size_read(inode);
	ts = inode_get_atime(inode);
	d->atime_sec = ts.tv_sec;
	d->atime_nsec = ts.tv_nsec;
	ts = inode_get_mtime(inode);
	d->mtime_sec = ts.tv_sec;
	d->mtime_nsec = ts.tv_nsec;
	ts = inode_get_ctime(inode);
	d->ctime_sec = ts.tv_sec;
	d->ctime_nsec = ts.tv_nsec;
	if (S_ISCHR(inode->i_mode) || S_ISBLK(inode->i_mode))
		d->rdev = new_encode_dev(inode->i_rdev);
}

/* Write the inode item now; caller holds sbi->lock. */
int vexfs_write_inode_locked(struct inode *inode)
{
	vexfs_inode_to_data(inode);
	return vx_inode_write(VEXFS_SB(inode->i_sb)->fs, &VEXFS_I(inode)->d);
}

/*
 * The VFS dirtied the inode (times, size, mode...): write the item at once,
 * so the tree always matches the in-memory inode and a commit never has to
 * chase dirty inodes.  Never called with sbi->lock held: nothing in vexfs
 * marks an inode dirty under it.
 */
void vexfs_dirty_inode(struct inode *inode, int flags)
{
	struct super_block *sb = inode->i_sb;
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	int err;

	if (is_bad_inode(inode) || sb_rdonly(sb))
		return;
	if (vexfs_lock_op(sbi))
		return;
	err = vexfs_write_inode_locked(inode);
	vexfs_unlock(sbi);
	if (err && err != -EROFS)
		vexfs_err(sb, "cannot write inode %lu (%d)", inode->i_ino, err);
}

/*
 * Bump the data version the embeddings are tied to and, under an automatic
 * embedding policy (space), queue the file, in the running transaction.
 */
static void vexfs_bump_data_version(struct inode *inode, u32 space)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	u64 gen;

	if (vexfs_lock_op(sbi))
		return;
	vi->d.data_version++;
	vexfs_write_inode_locked(inode);
	vexfs_auto_changed_locked(inode, space);
	gen = vx_fs_generation(sbi->fs);
	WRITE_ONCE(vi->change_gen, gen);
	/* once per transaction: does the bump matter to anyone? */
	if (vi->guard_checked != gen || (space && vi->guard_gen != gen)) {
		vi->guard_checked = gen;
		if (space || vx_embed_exists(sbi->fs, inode->i_ino) != 0)
			WRITE_ONCE(vi->guard_gen, gen);
	}
	vexfs_unlock(sbi);
}

/*
 * Data of the inode is being changed in place (over blocks an earlier
 * commit may reference), after vexfs_data_changing().  If its data version
 * matters, writeback must commit the bump first (vexfs_writepages()).
 */
void vexfs_inplace_change(struct inode *inode)
{
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	u64 gen = READ_ONCE(vi->guard_gen);

	if (gen == data_race(vx_fs_generation(VEXFS_SB(inode->i_sb)->fs)))
		WRITE_ONCE(vi->inplace_gen, gen);
}

/*
 * Data is about to change (through dentry).  The change itself may commit
 * as soon as it is made (another thread's fsync, the commit timer), so the
 * bump and the queue item must be in a transaction no later than its: a
 * power cut never leaves changed data with embeddings that look current or
 * with no queue item.  Once per inode and transaction.
 */
void vexfs_data_changing(struct inode *inode, struct dentry *dentry)
{
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	u32 space = vexfs_auto_policy(dentry);

	/* racy hints: a stale answer only costs a needless bump */
	if (READ_ONCE(vi->change_gen) ==
	    data_race(vx_fs_generation(VEXFS_SB(inode->i_sb)->fs)) &&
	    (!space || READ_ONCE(vi->auto_queued) == space))
		return;
	vexfs_bump_data_version(inode, space);
}

/*
 * Data changed (through dentry): bump again, so that embeddings a sidecar
 * computed from a read racing with the change are not taken as current.
 */
void vexfs_data_changed(struct inode *inode, struct dentry *dentry)
{
	vexfs_bump_data_version(inode, vexfs_auto_policy(dentry));
}

void vexfs_set_inode_ops(struct inode *inode)
{
	switch (inode->i_mode & S_IFMT) {
	case S_IFREG:
		inode->i_op = &vexfs_file_inode_operations;
		inode->i_fop = &vexfs_file_operations;
		inode->i_mapping->a_ops = &vexfs_aops;
		break;
	case S_IFDIR:
		inode->i_op = &vexfs_dir_inode_operations;
		inode->i_fop = &vexfs_dir_operations;
		break;
	case S_IFLNK:
		inode->i_op = &vexfs_symlink_inode_operations;
		inode_nohighmem(inode);
		inode->i_mapping->a_ops = &vexfs_aops;
		break;
	default:
		inode->i_op = &vexfs_special_inode_operations;
		init_special_inode(inode, inode->i_mode, inode->i_rdev);
		break;
	}
}

struct inode *vexfs_iget(struct super_block *sb, u64 ino)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	struct inode *inode;
	int err;

	inode = iget_locked(sb, ino);
	if (!inode)
		return ERR_PTR(-ENOMEM);
	if (!(inode->i_state & I_NEW))
		return inode;

	err = vexfs_lock_op(sbi);
	if (!err) {
		err = vx_inode_read(sbi->fs, ino, &VEXFS_I(inode)->d);
		vexfs_unlock(sbi);
	}
	if (err) {
		iget_failed(inode);
		return ERR_PTR(err);
	}
	vexfs_data_to_inode(inode);
	vexfs_set_inode_ops(inode);
	unlock_new_inode(inode);
	return inode;
}

void vexfs_evict_inode(struct inode *inode)
{
	struct super_block *sb = inode->i_sb;
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	bool remove = !inode->i_nlink && !is_bad_inode(inode);
	int err;

	truncate_inode_pages_final(&inode->i_data);
	vexfs_del_ordered(inode);
	/*
	 * On a read-only or shut down volume the orphan record stays and the
	 * next read-write mount reclaims the inode.
	 */
	if (remove && !sb_rdonly(sb) && !vexfs_is_shutdown(sbi)) {
		sb_start_intwrite(sb);
		/* removing the inode removes its embeddings from the indexes */
		down_write(&sbi->index_sem);
		if (!vexfs_lock_op(sbi)) {
			err = vx_inode_remove(sbi->fs, inode->i_ino);
			vexfs_unlock(sbi);
			if (err && err != -EROFS)
				vexfs_err(sb, "cannot remove inode %lu (%d); the next mount reclaims it",
					  inode->i_ino, err);
		}
		up_write(&sbi->index_sem);
		sb_end_intwrite(sb);
	}
	invalidate_inode_buffers(inode);
	clear_inode(inode);
}

/* ------------------------------------------------------------ block mapping */

/*
 * Map file block iblock.  Reads leave holes and unwritten extents unmapped
 * (they read as zeros).  Writes (create) allocate a hole, or convert an
 * unwritten extent, and flag the buffer new so the parts not being written
 * are zeroed; the inode then joins the ordered list so its data reaches the
 * disk before the commit that records the blocks.
 */
int vexfs_get_block(struct inode *inode, sector_t iblock,
		    struct buffer_head *bh, int create)
{
	struct super_block *sb = inode->i_sb;
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	unsigned int bits = inode->i_blkbits;
	u64 max = bh->b_size >> bits;
	struct vx_mapping m;
	bool fresh = false;
	int err;

	if (!max)
		max = 1;
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	err = vx_extent_map(sbi->fs, inode->i_ino, iblock, &m);
	if (err)
		goto out;
	if (m.disk_block && !(m.flags & VX_EXTENT_UNWRITTEN))
		goto map;
	if (!create)
		goto out;

	if (m.disk_block) {
		/* unwritten: the caller is about to write these blocks */
		m.len = min(m.len, max);
		err = vx_extent_mark_written(sbi->fs, inode->i_ino, iblock, m.len);
		if (err)
			goto out;
	} else {
		err = vx_extent_alloc(sbi->fs, &vi->d, iblock, min(m.len, max),
				      0, &m);
		if (err)
			goto out;
		inode->i_blocks = vi->d.blocks << (bits - 9);
		err = vexfs_write_inode_locked(inode);
		if (err)
			goto out;
	}
	fresh = true;
	vexfs_add_ordered(inode, (loff_t)iblock << bits,
			  (loff_t)min(m.len, max) << bits);
map:
	map_bh(bh, sb, m.disk_block);
	bh->b_size = (size_t)min(m.len, max) << bits;
	if (fresh)
		set_buffer_new(bh);
out:
	vexfs_unlock(sbi);
	if (err && err != -ENOSPC && err != -EIO && err != -EROFS)
		vexfs_err(sb, "inode %lu: cannot map block %llu (%d)", inode->i_ino,
			  (unsigned long long)iblock, err);
	return err;
}

/* Free every block from the first one wholly past byte `from`. */
int vexfs_truncate_blocks(struct inode *inode, loff_t from)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	unsigned int bits = inode->i_blkbits;
	u64 start = ((u64)from + (1ULL << bits) - 1) >> bits;
	int err;

	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	err = vx_extent_punch(sbi->fs, &vi->d, start, VX_HOLE_TO_EOF);
	inode->i_blocks = vi->d.blocks << (bits - 9);
	if (!err)
		err = vexfs_write_inode_locked(inode);
	vexfs_unlock(sbi);
	return err;
}

/* A write that allocated past EOF failed: give those blocks back. */
static void vexfs_write_failed(struct address_space *mapping, loff_t to)
{
	struct inode *inode = mapping->host;

	if (to > inode->i_size) {
		truncate_pagecache(inode, inode->i_size);
		vexfs_truncate_blocks(inode, inode->i_size);
	}
}

static int vexfs_read_folio(struct file *file, struct folio *folio)
{
	return mpage_read_folio(folio, vexfs_get_block);
}

static void vexfs_readahead(struct readahead_control *rac)
{
	mpage_readahead(rac, vexfs_get_block);
}

/*
 * Has the inode data changed in place in the running transaction, whose
 * bump of the data version would not be on disk yet?  (Not asked by the
 * commit's own writeback, which is about to commit it.)
 */
static bool vexfs_inplace_uncommitted(struct inode *inode)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);

	return READ_ONCE(VEXFS_I(inode)->inplace_gen) ==
	       data_race(vx_fs_generation(sbi->fs)) &&
	       READ_ONCE(sbi->committer) != current;
}

/*
 * Data overwritten in place replaces what the last commit references.  If
 * it reached the disk before the bump of the file's data version (and its
 * queue item) commits, a power cut would leave new content with
 * embeddings that look current: commit the bump first.
 */
static int vexfs_writepages(struct address_space *mapping,
			    struct writeback_control *wbc)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(mapping->host->i_sb);
	int err;

	if (vexfs_is_shutdown(sbi))
		return -EIO;
	if (vexfs_inplace_uncommitted(mapping->host)) {
		err = vexfs_commit(sbi, false);
		if (err)
			return err;
	}
	return mpage_writepages(mapping, wbc, vexfs_get_block);
}

#ifdef VEXFS_HAVE_BLOCK_WRITE_FULL_PAGE
/* Kernels that still have ->writepage may call it from mpage's slow path. */
static int vexfs_writepage(struct page *page, struct writeback_control *wbc)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(page->mapping->host->i_sb);

	if (vexfs_is_shutdown(sbi)) {
		unlock_page(page);
		return -EIO;
	}
	/* reclaim cannot commit here: keep the page until the commit has */
	if (vexfs_inplace_uncommitted(page->mapping->host)) {
		redirty_page_for_writepage(wbc, page);
		unlock_page(page);
		vexfs_kick_commit(sbi);
		return 0;
	}
	return block_write_full_page(page, vexfs_get_block, wbc);
}
#endif

/*
 * txn_sem is held for read from write_begin to write_end: a commit (write
 * side) thereby sees every block allocated here together with the dirty
 * page holding its data, and writes that page back before committing.
 */
static int vexfs_write_begin(struct file *file, struct address_space *mapping,
			     loff_t pos, unsigned int len,
			     vexfs_wpage_t **pagep, void **fsdata)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(mapping->host->i_sb);
	int err;

	if (vexfs_is_shutdown(sbi))
		return -EIO;
	down_read(&sbi->txn_sem);
	err = block_write_begin(mapping, pos, len, pagep, vexfs_get_block);
	if (err) {
		up_read(&sbi->txn_sem);
		vexfs_write_failed(mapping, pos + len);
	}
	return err;
}

static int vexfs_write_end(struct file *file, struct address_space *mapping,
			   loff_t pos, unsigned int len, unsigned int copied,
			   vexfs_wpage_t *page, void *fsdata)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(mapping->host->i_sb);
	int ret;

	ret = generic_write_end(file, mapping, pos, len, copied, page, fsdata);
	up_read(&sbi->txn_sem);
	if (ret < len)
		vexfs_write_failed(mapping, pos + len);
	return ret;
}

/*
 * Zero [pos, pos + len), which lies within one block, on disk through the
 * page cache (punch hole).  Holes and unwritten extents already read as
 * zeros and are left alone.
 */
int vexfs_zero_partial(struct inode *inode, loff_t pos, loff_t len)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct address_space *mapping = inode->i_mapping;
	vexfs_wpage_t *page;
	struct vx_mapping m;
	void *fsdata = NULL;
	int err;

	if (len <= 0)
		return 0;
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	err = vx_extent_map(sbi->fs, inode->i_ino, pos >> inode->i_blkbits, &m);
	vexfs_unlock(sbi);
	if (err)
		return err;
	if (!m.disk_block || (m.flags & VX_EXTENT_UNWRITTEN))
		return 0;
	err = vexfs_write_begin(NULL, mapping, pos, len, &page, &fsdata);
	if (err)
		return err;
	vexfs_wpage_zero(page, offset_in_page(pos), len);
	err = vexfs_write_end(NULL, mapping, pos, len, len, page, fsdata);
	if (err < 0)
		return err;
	/* the zeros must reach the disk before the commit that frees blocks */
	vexfs_add_ordered(inode, pos, len);
	return 0;
}

static sector_t vexfs_bmap(struct address_space *mapping, sector_t block)
{
	return generic_block_bmap(mapping, block, vexfs_get_block);
}

const struct address_space_operations vexfs_aops = {
	.read_folio		= vexfs_read_folio,
	.readahead		= vexfs_readahead,
	.writepages		= vexfs_writepages,
#ifdef VEXFS_HAVE_BLOCK_WRITE_FULL_PAGE
	.writepage		= vexfs_writepage,
#endif
	.write_begin		= vexfs_write_begin,
	.write_end		= vexfs_write_end,
	.bmap			= vexfs_bmap,
	.dirty_folio		= block_dirty_folio,
	.invalidate_folio	= block_invalidate_folio,
	.migrate_folio		= buffer_migrate_folio,
	.is_partially_uptodate	= block_is_partially_uptodate,
	/* O_DIRECT is emulated by file.c through the page cache */
	.direct_IO		= noop_direct_IO,
};

/* ------------------------------------------------------------ attributes */

static int vexfs_setsize(struct inode *inode, loff_t newsize)
{
	struct address_space *mapping = inode->i_mapping;
	loff_t oldsize = inode->i_size;
	int err = 0;

	if (!S_ISREG(inode->i_mode))
		return -EINVAL;
	filemap_invalidate_lock(mapping);
	if (newsize < oldsize) {
		/* zero the tail of the new last block, on disk */
		err = block_truncate_page(mapping, newsize, vexfs_get_block);
		if (err)
			goto out;
		vexfs_add_ordered(inode, newsize, i_blocksize(inode));
	}
	truncate_setsize(inode, newsize);
	/* truncate(2) passes no time attributes: a size change sets both */
	inode_set_mtime_to_ts(inode, inode_set_ctime_current(inode));
	if (newsize < oldsize)
		err = vexfs_truncate_blocks(inode, newsize);
out:
	filemap_invalidate_unlock(mapping);
	return err;
}

int vexfs_setattr(vexfs_idmap_t *idmap, struct dentry *dentry,
		  struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	bool resized = false;
	u32 space;
	int err;

	if (vexfs_is_shutdown(sbi))
		return -EIO;
	err = setattr_prepare(idmap, dentry, attr);
	if (err)
		return err;
	if ((attr->ia_valid & ATTR_SIZE) && attr->ia_size != i_size_read(inode)) {
		vexfs_refill_reserve(sbi);
		if (S_ISREG(inode->i_mode))
			vexfs_data_changing(inode, dentry);
		err = vexfs_setsize(inode, attr->ia_size);
		if (err)
			return err;
		resized = true;
	}
	setattr_copy(idmap, inode, attr);

	space = resized && S_ISREG(inode->i_mode) ? vexfs_auto_policy(dentry) : 0;
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	if (resized)
		VEXFS_I(inode)->d.data_version++;
	err = vexfs_write_inode_locked(inode);
	vexfs_auto_changed_locked(inode, space);
	vexfs_unlock(sbi);
	/* a truncate is a complete change: no close follows it necessarily */
	if (resized)
		vexfs_auto_file_settled(inode);
	return err;
}

int vexfs_getattr(vexfs_idmap_t *idmap, const struct path *path,
		  struct kstat *stat, u32 request_mask, unsigned int flags)
{
	struct inode *inode = d_inode(path->dentry);
	struct vexfs_inode_info *vi = VEXFS_I(inode);

	if (vexfs_is_shutdown(VEXFS_SB(inode->i_sb)))
		return -EIO;
	vexfs_fillattr(idmap, request_mask, inode, stat);
	/* crtime never changes after creation: no lock needed */
	stat->btime = vexfs_ts(vi->d.crtime_sec, vi->d.crtime_nsec);
	stat->result_mask |= STATX_BTIME;
	return 0;
}
