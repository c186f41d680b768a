// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS file handles (NFS export, open_by_handle_at): 64-bit inode number
 * plus the low 32 bits of the inode's generation.  Inode numbers are never
 * reused, so the generation is a second guard against stale handles.
 */
#include <linux/fs.h>
#include <linux/exportfs.h>
#include "vexfs.h"

/* fid->raw layout: ino (2 words), generation, parent ino (2 words), parent gen */
#define VEXFS_FH_LEN		3
#define VEXFS_FH_LEN_PARENT	6

static void vexfs_fh_put(__u32 *fh, u64 ino, u32 gen)
{
	fh[0] = (u32)ino;
	fh[1] = (u32)(ino >> 32);
	fh[2] = gen;
}

static int vexfs_encode_fh(struct inode *inode, __u32 *fh, int *max_len,
			   struct inode *parent)
{
	if (parent && *max_len < VEXFS_FH_LEN_PARENT) {
		*max_len = VEXFS_FH_LEN_PARENT;
		return FILEID_INVALID;
	}
	if (*max_len < VEXFS_FH_LEN) {
		*max_len = VEXFS_FH_LEN;
		return FILEID_INVALID;
	}
	vexfs_fh_put(fh, inode->i_ino, inode->i_generation);
	if (parent) {
		vexfs_fh_put(fh + 3, parent->i_ino, parent->i_generation);
		*max_len = VEXFS_FH_LEN_PARENT;
		return FILEID_INO64_GEN_PARENT;
	}
	*max_len = VEXFS_FH_LEN;
	return FILEID_INO64_GEN;
}

static struct dentry *vexfs_fh_dentry(struct super_block *sb, const __u32 *fh)
{
	u64 ino = fh[0] | ((u64)fh[1] << 32);
	struct inode *inode;

	if (ino < VX_ROOT_INO)
		return ERR_PTR(-ESTALE);
	inode = vexfs_iget(sb, ino);
	if (IS_ERR(inode))
		return ERR_PTR(PTR_ERR(inode) == -ENOENT ? -ESTALE : PTR_ERR(inode));
	if (inode->i_generation != fh[2] || !inode->i_nlink) {
		iput(inode);
		return ERR_PTR(-ESTALE);
	}
	return d_obtain_alias(inode);
}

static struct dentry *vexfs_fh_to_dentry(struct super_block *sb,
					 struct fid *fid, int fh_len,
					 int fh_type)
{
	if ((fh_type != FILEID_INO64_GEN && fh_type != FILEID_INO64_GEN_PARENT) ||
	    fh_len < VEXFS_FH_LEN)
		return NULL;
	return vexfs_fh_dentry(sb, fid->raw);
}

static struct dentry *vexfs_fh_to_parent(struct super_block *sb,
					 struct fid *fid, int fh_len,
					 int fh_type)
{
	if (fh_type != FILEID_INO64_GEN_PARENT || fh_len < VEXFS_FH_LEN_PARENT)
		return NULL;
	return vexfs_fh_dentry(sb, fid->raw + 3);
}

static struct dentry *vexfs_get_parent(struct dentry *child)
{
	struct inode *dir = d_inode(child);
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct inode *inode;
	u64 parent;
	int err;

	/* d.parent changes under the lock (rename) */
	err = vexfs_lock_op(sbi);
	if (err)
		return ERR_PTR(err);
	parent = VEXFS_I(dir)->d.parent;
	vexfs_unlock(sbi);
	if (!parent)
		return ERR_PTR(-ENOENT);
	inode = vexfs_iget(dir->i_sb, parent);
	if (IS_ERR(inode))
		return ERR_CAST(inode);
	return d_obtain_alias(inode);
}

static int vexfs_commit_metadata(struct inode *inode)
{
	return vexfs_commit(VEXFS_SB(inode->i_sb), true);
}

const struct export_operations vexfs_export_ops = {
	.encode_fh	= vexfs_encode_fh,
	.fh_to_dentry	= vexfs_fh_to_dentry,
	.fh_to_parent	= vexfs_fh_to_parent,
	.get_parent	= vexfs_get_parent,
	.commit_metadata = vexfs_commit_metadata,
};
