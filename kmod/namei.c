// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS names: lookup, create, mknod, mkdir, rmdir, unlink, link, symlink,
 * tmpfile and rename.
 *
 * Every name operation changes the tree in one hold of the volume lock, so
 * a commit sees it whole.  Once an operation has changed the tree, a later
 * failure in it fails the volume (the last commit stays intact) rather than
 * letting a half-done change commit.  Directory link counts are 2 plus the
 * number of subdirectories.
 */
#include <linux/fs.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include "vexfs.h"

/* The operation already changed the tree: an error now fails the volume. */
static int vexfs_op_fail(struct vexfs_sb_info *sbi, int err)
{
	if (err)
		vx_fs_set_failed(sbi->fs, err);
	return err;
}

static const char *vexfs_name(const struct dentry *dentry)
{
	return (const char *)dentry->d_name.name;
}

static u8 vexfs_ftype(const struct inode *inode)
{
	return vx_mode_to_ftype(inode->i_mode);
}

static void vexfs_dir_touch(struct inode *dir)
{
	inode_set_mtime_to_ts(dir, inode_set_ctime_current(dir));
}

static void vexfs_dir_grow(struct inode *dir)
{
	i_size_write(dir, dir->i_size + VEXFS_BOGO_DIRENT_SIZE);
	vexfs_dir_touch(dir);
}

static void vexfs_dir_shrink(struct inode *dir)
{
	if (dir->i_size >= VEXFS_BOGO_DIRENT_SIZE)
		i_size_write(dir, dir->i_size - VEXFS_BOGO_DIRENT_SIZE);
	vexfs_dir_touch(dir);
}

static struct dentry *vexfs_lookup(struct inode *dir, struct dentry *dentry,
				   unsigned int flags)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct inode *inode = NULL;
	u64 ino;
	int err;

	if (dentry->d_name.len > VX_NAME_MAX)
		return ERR_PTR(-ENAMETOOLONG);
	err = vexfs_lock_op(sbi);
	if (err)
		return ERR_PTR(err);
	err = vx_dir_lookup(sbi->fs, dir->i_ino, vexfs_name(dentry),
			    dentry->d_name.len, &ino, NULL);
	vexfs_unlock(sbi);
	if (err && err != -ENOENT)
		return ERR_PTR(err);
	if (!err) {
		inode = vexfs_iget(dir->i_sb, ino);
		if (IS_ERR(inode)) {
			if (PTR_ERR(inode) != -ENOENT)
				return ERR_CAST(inode);
			vexfs_err(dir->i_sb, "directory %lu: entry '%.*s' points to missing inode %llu; run fsck.vexfs",
				  dir->i_ino, dentry->d_name.len,
				  dentry->d_name.name, (unsigned long long)ino);
			return ERR_PTR(-EUCLEAN);
		}
	}
	return d_splice_alias(inode, dentry);
}

/* A VFS inode for a new file; its item is created by vexfs_create_item(). */
static struct inode *vexfs_new_inode(vexfs_idmap_t *idmap, struct inode *dir,
				     umode_t mode, dev_t rdev)
{
	struct inode *inode = new_inode(dir->i_sb);
	struct vexfs_inode_info *vi;
	struct timespec64 now;

	if (!inode)
		return ERR_PTR(-ENOMEM);
	vi = VEXFS_I(inode);
	inode_init_owner(idmap, inode, dir, mode);
	inode->i_rdev = rdev;
	now = inode_set_ctime_current(inode);
	inode_set_mtime_to_ts(inode, now);
	inode_set_atime_to_ts(inode, now);
	vi->d.crtime_sec = now.tv_sec;
	vi->d.crtime_nsec = now.tv_nsec;
	if (S_ISDIR(inode->i_mode)) {
		set_nlink(inode, 2);
		vi->d.next_dir_index = 2;
		vi->d.parent = dir->i_ino;
		/* a directory's default vector space is inherited */
		vi->d.default_space = VEXFS_I(dir)->d.default_space;
	}
	vexfs_set_inode_ops(inode);
	return inode;
}

/*
 * Under the lock: create the inode's item (and, for files filled in before
 * they get a name, an orphan record), then hash the inode.  On failure
 * nothing is left in the tree.
 */
static int vexfs_create_item(struct vexfs_sb_info *sbi, struct inode *inode,
			     bool orphan)
{
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	int err;

	err = vexfs_space_check(sbi);
	if (err)
		return err;
	vexfs_inode_to_data(inode);
	err = vx_inode_create(sbi->fs, &vi->d);
	if (err)
		return err;
	inode->i_ino = vi->d.ino;
	inode->i_generation = (u32)vi->d.generation;
	if (orphan) {
		err = vx_orphan_add(sbi->fs, inode->i_ino);
		if (err) {
			if (vx_inode_remove(sbi->fs, inode->i_ino))
				vexfs_op_fail(sbi, err);
			return err;
		}
	}
	/* inode numbers are never reused, so this cannot find a twin */
	if (insert_inode_locked(inode) < 0) {
		vexfs_err(inode->i_sb, "inode %lu already in use", inode->i_ino);
		return vexfs_op_fail(sbi, -EUCLEAN);
	}
	return 0;
}

/* Forget a new inode whose item was never created or was removed again. */
static void vexfs_drop_new_inode(struct inode *inode, bool hashed)
{
	clear_nlink(inode);
	make_bad_inode(inode);
	if (hashed)
		discard_new_inode(inode);
	else
		iput(inode);
}

/* Under the lock: name -> inode in dir, and dir's size and times. */
static int vexfs_add_link(struct inode *dir, struct dentry *dentry,
			  struct inode *inode)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	int err;

	err = vx_dir_add(sbi->fs, &VEXFS_I(dir)->d, vexfs_name(dentry),
			 dentry->d_name.len, inode->i_ino, vexfs_ftype(inode));
	if (err)
		return err;
	vexfs_dir_grow(dir);
	return 0;
}

/* Under the lock: remove name from dir and update dir; inode untouched. */
static int vexfs_remove_link(struct inode *dir, struct dentry *dentry)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	int err;

	err = vx_dir_remove(sbi->fs, dir->i_ino, vexfs_name(dentry),
			    dentry->d_name.len);
	if (err)
		return err;
	vexfs_dir_shrink(dir);
	return 0;
}

/* Security labels need the inode's item but must not run under the lock. */
static int vexfs_new_security(struct inode *dir, struct dentry *dentry,
			      struct inode *inode)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	int err;

	err = vexfs_init_security(inode, dir, &dentry->d_name);
	if (!err)
		return 0;
	/* undo the link; the inode's eviction removes it */
	if (!vexfs_lock_op(sbi)) {
		if (vexfs_remove_link(dir, dentry) == 0) {
			if (S_ISDIR(inode->i_mode))
				drop_nlink(dir);
			vexfs_op_fail(sbi, vexfs_write_inode_locked(dir));
		} else {
			vexfs_op_fail(sbi, -EIO);
		}
		vexfs_unlock(sbi);
	}
	clear_nlink(inode);
	discard_new_inode(inode);
	return err;
}

static int vexfs_create_common(vexfs_idmap_t *idmap, struct inode *dir,
			       struct dentry *dentry, umode_t mode, dev_t rdev)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct inode *inode;
	int err;

	if (dentry->d_name.len > VX_NAME_MAX)
		return -ENAMETOOLONG;
	inode = vexfs_new_inode(idmap, dir, mode, rdev);
	if (IS_ERR(inode))
		return PTR_ERR(inode);
	err = vexfs_lock_op(sbi);
	if (err) {
		vexfs_drop_new_inode(inode, false);
		return err;
	}
	err = vexfs_create_item(sbi, inode, false);
	if (err) {
		vexfs_unlock(sbi);
		vexfs_drop_new_inode(inode, inode->i_state & I_NEW);
		return err;
	}
	err = vexfs_add_link(dir, dentry, inode);
	if (err) {
		if (vx_inode_remove(sbi->fs, inode->i_ino))
			vexfs_op_fail(sbi, err);
		vexfs_unlock(sbi);
		vexfs_drop_new_inode(inode, true);
		return err;
	}
	if (S_ISDIR(mode))
		inc_nlink(dir);
	err = vexfs_op_fail(sbi, vexfs_write_inode_locked(dir));
	vexfs_unlock(sbi);
	if (err) {
		vexfs_drop_new_inode(inode, true);
		return err;
	}
	err = vexfs_new_security(dir, dentry, inode);
	if (err)
		return err;
	d_instantiate_new(dentry, inode);
	return 0;
}

/* ENOSPC may only mean that space freed lately awaits a commit */
static int vexfs_create_retry(vexfs_idmap_t *idmap, struct inode *dir,
			      struct dentry *dentry, umode_t mode, dev_t rdev)
{
	int err = vexfs_create_common(idmap, dir, dentry, mode, rdev);

	if (vexfs_enospc_retry(VEXFS_SB(dir->i_sb), err))
		err = vexfs_create_common(idmap, dir, dentry, mode, rdev);
	return err;
}

static int vexfs_create(vexfs_idmap_t *idmap, struct inode *dir,
			struct dentry *dentry, umode_t mode, bool excl)
{
	return vexfs_create_retry(idmap, dir, dentry, mode, 0);
}

static int vexfs_mknod(vexfs_idmap_t *idmap, struct inode *dir,
		       struct dentry *dentry, umode_t mode, dev_t rdev)
{
	if (!S_ISREG(mode) && !S_ISCHR(mode) && !S_ISBLK(mode) &&
	    !S_ISFIFO(mode) && !S_ISSOCK(mode))
		return -EINVAL;
	return vexfs_create_retry(idmap, dir, dentry, mode, rdev);
}

static int vexfs_mkdir(vexfs_idmap_t *idmap, struct inode *dir,
		       struct dentry *dentry, umode_t mode)
{
	return vexfs_create_retry(idmap, dir, dentry, S_IFDIR | mode, 0);
}

/*
 * The target is written into the new inode's page cache before the inode
 * gets its name; until then an orphan record covers it, so a crash in
 * between leaves nothing behind.
 */
/*
 * A new inode recorded as an orphan, for objects that get their content
 * (symlink target) or their name (O_TMPFILE) later: a crash in between
 * leaves nothing behind.
 */
static struct inode *vexfs_new_orphan_inode(vexfs_idmap_t *idmap,
					    struct inode *dir, umode_t mode)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct inode *inode = vexfs_new_inode(idmap, dir, mode, 0);
	int err;

	if (IS_ERR(inode))
		return inode;
	err = vexfs_lock_op(sbi);
	if (err) {
		vexfs_drop_new_inode(inode, false);
		return ERR_PTR(err);
	}
	err = vexfs_create_item(sbi, inode, true);
	vexfs_unlock(sbi);
	if (err) {
		vexfs_drop_new_inode(inode, inode->i_state & I_NEW);
		return ERR_PTR(err);
	}
	return inode;
}

static int __vexfs_symlink(vexfs_idmap_t *idmap, struct inode *dir,
			   struct dentry *dentry, const char *symname)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	unsigned int len = strlen(symname) + 1;
	struct inode *inode;
	int err;

	if (dentry->d_name.len > VX_NAME_MAX)
		return -ENAMETOOLONG;
	if (len > PATH_MAX)
		return -ENAMETOOLONG;
	inode = vexfs_new_orphan_inode(idmap, dir, S_IFLNK | 0777);
	if (IS_ERR(inode))
		return PTR_ERR(inode);

	err = page_symlink(inode, symname, len);
	if (!err)
		err = vexfs_init_security(inode, dir, &dentry->d_name);
	if (!err)
		err = vexfs_lock_op(sbi);
	if (err)
		goto out_orphan;
	err = vexfs_add_link(dir, dentry, inode);
	if (err) {
		vexfs_unlock(sbi);
		goto out_orphan;
	}
	err = vx_orphan_del(sbi->fs, inode->i_ino);
	if (!err)
		err = vexfs_write_inode_locked(inode);
	if (!err)
		err = vexfs_write_inode_locked(dir);
	vexfs_op_fail(sbi, err);
	vexfs_unlock(sbi);
	if (err)
		goto out_orphan;
	d_instantiate_new(dentry, inode);
	return 0;

out_orphan:
	/* nlink 0: eviction removes the inode and its orphan record */
	clear_nlink(inode);
	discard_new_inode(inode);
	return err;
}

static int vexfs_symlink(vexfs_idmap_t *idmap, struct inode *dir,
			 struct dentry *dentry, const char *symname)
{
	int err = __vexfs_symlink(idmap, dir, dentry, symname);

	if (vexfs_enospc_retry(VEXFS_SB(dir->i_sb), err))
		err = __vexfs_symlink(idmap, dir, dentry, symname);
	return err;
}

static int vexfs_tmpfile(vexfs_idmap_t *idmap, struct inode *dir,
			 struct file *file, umode_t mode)
{
	struct inode *inode;
	int err;

	inode = vexfs_new_orphan_inode(idmap, dir, mode);
	if (IS_ERR(inode))
		return PTR_ERR(inode);
	err = vexfs_init_security(inode, dir, &file->f_path.dentry->d_name);
	if (err) {
		clear_nlink(inode);
		discard_new_inode(inode);
		return err;
	}
	/* drops i_nlink to 0 and dirties the inode, which writes the item */
	d_tmpfile(file, inode);
	unlock_new_inode(inode);
	return finish_open_simple(file, 0);
}

static int __vexfs_link(struct dentry *old_dentry, struct inode *dir,
			struct dentry *dentry)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct inode *inode = d_inode(old_dentry);
	int err;

	if (dentry->d_name.len > VX_NAME_MAX)
		return -ENAMETOOLONG;
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	err = vexfs_space_check(sbi);
	if (!err)
		err = vexfs_add_link(dir, dentry, inode);
	if (err) {
		vexfs_unlock(sbi);
		return err;
	}
	/* linking an O_TMPFILE file gives it its first name */
	if (!inode->i_nlink) {
		err = vx_orphan_del(sbi->fs, inode->i_ino);
		if (err == -ENOENT)
			err = 0;
	}
	inc_nlink(inode);
	inode_set_ctime_current(inode);
	if (!err)
		err = vexfs_write_inode_locked(inode);
	if (!err)
		err = vexfs_write_inode_locked(dir);
	vexfs_op_fail(sbi, err);
	vexfs_unlock(sbi);
	if (err)
		return err;
	ihold(inode);
	d_instantiate(dentry, inode);
	return 0;
}

static int vexfs_link(struct dentry *old_dentry, struct inode *dir,
		      struct dentry *dentry)
{
	int err = __vexfs_link(old_dentry, dir, dentry);

	if (vexfs_enospc_retry(VEXFS_SB(dir->i_sb), err))
		err = __vexfs_link(old_dentry, dir, dentry);
	return err;
}

/*
 * Under the lock: a name operation that frees about as much as it uses
 * (unlink, rmdir, rename over a target, exchange) runs on the core's delete
 * reserve.  Check room for all of its steps once, so that none of them can
 * fail half way with ENOSPC; vx_op_end() closes the bracket.
 */
static int vexfs_shrink_begin(struct vexfs_sb_info *sbi)
{
	return vx_op_begin(sbi->fs, VEXFS_MAX_OP_ITEMS, true);
}

/* Under the lock: inode lost a name; orphan it when it was the last one. */
static int vexfs_drop_link(struct vexfs_sb_info *sbi, struct inode *inode)
{
	inode_set_ctime_current(inode);
	if (S_ISDIR(inode->i_mode))
		clear_nlink(inode);
	else
		drop_nlink(inode);
	if (!inode->i_nlink) {
		int err = vx_orphan_add(sbi->fs, inode->i_ino);

		if (err)
			return err;
	}
	return vexfs_write_inode_locked(inode);
}

static int vexfs_unlink(struct inode *dir, struct dentry *dentry)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct inode *inode = d_inode(dentry);
	int err;

	vexfs_refill_reserve(sbi);
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	err = vexfs_shrink_begin(sbi);
	if (err) {
		vexfs_unlock(sbi);
		return err;
	}
	err = vexfs_remove_link(dir, dentry);
	if (!err) {
		err = vexfs_drop_link(sbi, inode);
		if (!err)
			err = vexfs_write_inode_locked(dir);
		vexfs_op_fail(sbi, err);
	}
	vx_op_end(sbi->fs);
	vexfs_unlock(sbi);
	return err;
}

static int vexfs_rmdir(struct inode *dir, struct dentry *dentry)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct inode *inode = d_inode(dentry);
	int err;

	vexfs_refill_reserve(sbi);
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	err = vexfs_shrink_begin(sbi);
	if (err) {
		vexfs_unlock(sbi);
		return err;
	}
	err = vx_dir_is_empty(sbi->fs, inode->i_ino);
	if (err == 0)
		err = -ENOTEMPTY;
	else if (err == 1)
		err = vexfs_remove_link(dir, dentry);
	if (!err) {
		drop_nlink(dir);
		err = vexfs_drop_link(sbi, inode);
		if (!err)
			err = vexfs_write_inode_locked(dir);
		vexfs_op_fail(sbi, err);
	}
	vx_op_end(sbi->fs);
	vexfs_unlock(sbi);
	return err;
}

static int vexfs_rename_exchange(struct vexfs_sb_info *sbi,
				 struct inode *old_dir, struct dentry *old_dentry,
				 struct inode *new_dir, struct dentry *new_dentry)
{
	struct inode *old_inode = d_inode(old_dentry);
	struct inode *new_inode = d_inode(new_dentry);
	bool old_is_dir = S_ISDIR(old_inode->i_mode);
	bool new_is_dir = S_ISDIR(new_inode->i_mode);
	int err;

	err = vx_dir_set(sbi->fs, old_dir->i_ino, vexfs_name(old_dentry),
			 old_dentry->d_name.len, new_inode->i_ino,
			 vexfs_ftype(new_inode));
	if (err)
		return err;
	err = vx_dir_set(sbi->fs, new_dir->i_ino, vexfs_name(new_dentry),
			 new_dentry->d_name.len, old_inode->i_ino,
			 vexfs_ftype(old_inode));
	if (err)
		return vexfs_op_fail(sbi, err);
	if (old_dir != new_dir) {
		if (old_is_dir && !new_is_dir) {
			drop_nlink(old_dir);
			inc_nlink(new_dir);
		} else if (!old_is_dir && new_is_dir) {
			inc_nlink(old_dir);
			drop_nlink(new_dir);
		}
		if (old_is_dir)
			VEXFS_I(old_inode)->d.parent = new_dir->i_ino;
		if (new_is_dir)
			VEXFS_I(new_inode)->d.parent = old_dir->i_ino;
	}
	inode_set_ctime_current(old_inode);
	inode_set_ctime_current(new_inode);
	vexfs_dir_touch(old_dir);
	vexfs_dir_touch(new_dir);
	err = vexfs_write_inode_locked(old_inode);
	if (!err)
		err = vexfs_write_inode_locked(new_inode);
	if (!err)
		err = vexfs_write_inode_locked(old_dir);
	if (!err && new_dir != old_dir)
		err = vexfs_write_inode_locked(new_dir);
	return vexfs_op_fail(sbi, err);
}

static int vexfs_rename(vexfs_idmap_t *idmap, struct inode *old_dir,
			struct dentry *old_dentry, struct inode *new_dir,
			struct dentry *new_dentry, unsigned int flags)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(old_dir->i_sb);
	struct inode *old_inode = d_inode(old_dentry);
	struct inode *new_inode = d_inode(new_dentry);
	bool old_is_dir = S_ISDIR(old_inode->i_mode);
	int err;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (new_dentry->d_name.len > VX_NAME_MAX)
		return -ENAMETOOLONG;
	vexfs_refill_reserve(sbi);
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	/* over a target (or exchange): as much freed as used */
	if (new_inode) {
		err = vexfs_shrink_begin(sbi);
		if (err) {
			vexfs_unlock(sbi);
			return err;
		}
	}
	if (flags & RENAME_EXCHANGE) {
		err = vexfs_rename_exchange(sbi, old_dir, old_dentry, new_dir,
					    new_dentry);
		goto out;
	}

	if (new_inode) {
		if (old_is_dir) {
			err = vx_dir_is_empty(sbi->fs, new_inode->i_ino);
			if (err == 0)
				err = -ENOTEMPTY;
			if (err < 0)
				goto out;
		}
		err = vx_dir_set(sbi->fs, new_dir->i_ino, vexfs_name(new_dentry),
				 new_dentry->d_name.len, old_inode->i_ino,
				 vexfs_ftype(old_inode));
		if (err)
			goto out;
		err = vexfs_drop_link(sbi, new_inode);
		if (err) {
			vexfs_op_fail(sbi, err);
			goto out;
		}
		vexfs_dir_touch(new_dir);
	} else {
		err = vexfs_space_check(sbi);
		if (!err)
			err = vexfs_add_link(new_dir, new_dentry, old_inode);
		if (err)
			goto out;
	}

	err = vexfs_remove_link(old_dir, old_dentry);
	if (err) {
		vexfs_op_fail(sbi, err);
		goto out;
	}
	if (old_is_dir) {
		/* leaves old_dir; enters new_dir, where it may replace a dir */
		drop_nlink(old_dir);
		if (!new_inode)
			inc_nlink(new_dir);
		VEXFS_I(old_inode)->d.parent = new_dir->i_ino;
	}
	inode_set_ctime_current(old_inode);
	err = vexfs_write_inode_locked(old_inode);
	if (!err)
		err = vexfs_write_inode_locked(old_dir);
	if (!err && new_dir != old_dir)
		err = vexfs_write_inode_locked(new_dir);
	vexfs_op_fail(sbi, err);
out:
	if (new_inode)
		vx_op_end(sbi->fs);
	vexfs_unlock(sbi);
	return err;
}

const struct inode_operations vexfs_dir_inode_operations = {
	.lookup		= vexfs_lookup,
	.create		= vexfs_create,
	.link		= vexfs_link,
	.unlink		= vexfs_unlink,
	.symlink	= vexfs_symlink,
	.mkdir		= vexfs_mkdir,
	.rmdir		= vexfs_rmdir,
	.mknod		= vexfs_mknod,
	.rename		= vexfs_rename,
	.tmpfile	= vexfs_tmpfile,
	.setattr	= vexfs_setattr,
	.getattr	= vexfs_getattr,
	.listxattr	= vexfs_listxattr,
};

const struct inode_operations vexfs_special_inode_operations = {
	.setattr	= vexfs_setattr,
	.getattr	= vexfs_getattr,
	.listxattr	= vexfs_listxattr,
};

/* Symlink targets are file data, so they may be as long as PATH_MAX. */
const struct inode_operations vexfs_symlink_inode_operations = {
	.get_link	= page_get_link,
	.setattr	= vexfs_setattr,
	.getattr	= vexfs_getattr,
	.listxattr	= vexfs_listxattr,
};
