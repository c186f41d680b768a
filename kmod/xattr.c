// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS extended attributes: user.*, trusted.* and security.*.
 *
 * Values are stored in the inode's XATTR items; the largest value is
 * vx_xattr_max_value() (a bit under one block).  A larger value fails with
 * E2BIG, which is what setxattr(2) documents for "value too large"; when a
 * value fits on its own but not beside the inode's other attributes that
 * share its hash bucket, the core answers ENOSPC.
 */
#include <linux/fs.h>
#include <linux/xattr.h>
#include <linux/security.h>
#include <linux/capability.h>
#include "vexfs.h"

static int vexfs_xattr_get(const struct xattr_handler *handler,
			   struct dentry *unused, struct inode *inode,
			   const char *name, void *buffer, size_t size)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	int ret;

	if (!*name)
		return -EINVAL;
	ret = vexfs_lock_op(sbi);
	if (ret)
		return ret;
	ret = vx_xattr_get(sbi->fs, inode->i_ino, handler->flags, name, buffer,
			   buffer ? min_t(size_t, size, XATTR_SIZE_MAX) : 0);
	vexfs_unlock(sbi);
	return ret;
}

/* Under the lock: set or (value == NULL) remove, and touch ctime. */
static int vexfs_xattr_set_locked(struct inode *inode, u8 index,
				  const char *name, const void *value,
				  size_t size, int flags)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	int vflags = 0, err;

	if (flags & XATTR_CREATE)
		vflags |= VX_XATTR_CREATE;
	if (flags & XATTR_REPLACE)
		vflags |= VX_XATTR_REPLACE;
	if (value && size > vx_xattr_max_value(sbi->fs, strlen(name)))
		return -E2BIG;
	if (value) {
		err = vexfs_space_check(sbi);
		if (err)
			return err;
	}
	err = vx_xattr_set(sbi->fs, inode->i_ino, index, name, value, size,
			   vflags);
	if (err)
		return err;
	inode_set_ctime_current(inode);
	err = vexfs_write_inode_locked(inode);
	if (err)
		vx_fs_set_failed(sbi->fs, err);
	return err;
}

static int vexfs_xattr_set(const struct xattr_handler *handler,
			   vexfs_idmap_t *idmap, struct dentry *unused,
			   struct inode *inode, const char *name,
			   const void *value, size_t size, int flags)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	int err;

	if (!*name)
		return -EINVAL;
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	err = vexfs_xattr_set_locked(inode, handler->flags, name, value, size,
				     flags);
	vexfs_unlock(sbi);
	if (vexfs_enospc_retry(sbi, err) && !vexfs_lock_op(sbi)) {
		err = vexfs_xattr_set_locked(inode, handler->flags, name, value,
					     size, flags);
		vexfs_unlock(sbi);
	}
	return err;
}

static bool vexfs_xattr_trusted_list(struct dentry *dentry)
{
	return capable(CAP_SYS_ADMIN);
}

static const struct xattr_handler vexfs_xattr_user_handler = {
	.prefix	= XATTR_USER_PREFIX,
	.flags	= VX_XATTR_INDEX_USER,
	.get	= vexfs_xattr_get,
	.set	= vexfs_xattr_set,
};

static const struct xattr_handler vexfs_xattr_trusted_handler = {
	.prefix	= XATTR_TRUSTED_PREFIX,
	.flags	= VX_XATTR_INDEX_TRUSTED,
	.list	= vexfs_xattr_trusted_list,
	.get	= vexfs_xattr_get,
	.set	= vexfs_xattr_set,
};

static const struct xattr_handler vexfs_xattr_security_handler = {
	.prefix	= XATTR_SECURITY_PREFIX,
	.flags	= VX_XATTR_INDEX_SECURITY,
	.get	= vexfs_xattr_get,
	.set	= vexfs_xattr_set,
};

const struct xattr_handler *vexfs_xattr_handlers[] = {
	&vexfs_xattr_user_handler,
	&vexfs_xattr_trusted_handler,
	&vexfs_xattr_security_handler,
	NULL
};

struct vexfs_list_ctx {
	char *buf;
	size_t size, used;
	bool trusted;
};

static int vexfs_list_emit(void *ctx, u8 index, const char *name,
			   u32 name_len, u32 value_len)
{
	struct vexfs_list_ctx *c = ctx;
	const char *prefix;
	size_t plen, need;

	switch (index) {
	case VX_XATTR_INDEX_USER:
		prefix = XATTR_USER_PREFIX;
		break;
	case VX_XATTR_INDEX_TRUSTED:
		if (!c->trusted)
			return 0;
		prefix = XATTR_TRUSTED_PREFIX;
		break;
	case VX_XATTR_INDEX_SECURITY:
		prefix = XATTR_SECURITY_PREFIX;
		break;
	default:
		return 0;	/* namespaces this kernel does not expose */
	}
	plen = strlen(prefix);
	need = plen + name_len + 1;
	if (c->buf) {
		if (c->used + need > c->size)
			return -ERANGE;
		memcpy(c->buf + c->used, prefix, plen);
		memcpy(c->buf + c->used + plen, name, name_len);
		c->buf[c->used + need - 1] = '\0';
	}
	c->used += need;
	return 0;
}

/* buffer is a kernel buffer (vfs_listxattr): no user copy under the lock */
ssize_t vexfs_listxattr(struct dentry *dentry, char *buffer, size_t size)
{
	struct inode *inode = d_inode(dentry);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_list_ctx c = {
		.buf = size ? buffer : NULL,
		.size = size,
		.trusted = capable(CAP_SYS_ADMIN),
	};
	int err;

	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	err = vx_xattr_list(sbi->fs, inode->i_ino, vexfs_list_emit, &c);
	vexfs_unlock(sbi);
	if (err)
		return err;
	if (c.used > XATTR_LIST_MAX && !c.buf)
		return -E2BIG;
	return c.used;
}

static int vexfs_initxattrs(struct inode *inode, const struct xattr *xattrs,
			    void *fs_info)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	const struct xattr *x;
	int err;

	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	for (x = xattrs; x->name; x++) {
		err = vexfs_xattr_set_locked(inode, VX_XATTR_INDEX_SECURITY,
					     x->name, x->value, x->value_len, 0);
		if (err)
			break;
	}
	vexfs_unlock(sbi);
	return err;
}

/* Labels from the LSMs for a new inode (nothing without one that labels). */
int vexfs_init_security(struct inode *inode, struct inode *dir,
			const struct qstr *qstr)
{
	return security_inode_init_security(inode, dir, qstr,
					    vexfs_initxattrs, NULL);
}
