// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS ioctls.  The vector ioctls (VEXFS_IOC_*) live in vector.c.
 * FS_IOC_SHUTDOWN simulates a crash from inside a running
 * system (fstests, crash-consistency tests): afterwards every operation
 * fails with EIO and nothing more is written.
 */
#include <linux/fs.h>
#include <linux/uaccess.h>
#include <linux/capability.h>
#include "vexfs.h"
#include "vexfs_uapi.h"

static int vexfs_ioc_shutdown(struct super_block *sb, u32 __user *arg)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	u32 flags;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (get_user(flags, arg))
		return -EFAULT;
	if (flags > FS_SHUTDOWN_FLAGS_NOLOGFLUSH)
		return -EINVAL;
	if (vexfs_is_shutdown(sbi))
		return 0;

	switch (flags) {
	case FS_SHUTDOWN_FLAGS_DEFAULT:
		/* data and metadata: everything written so far survives */
		down_read(&sb->s_umount);
		if (!sb_rdonly(sb))
			sync_filesystem(sb);
		up_read(&sb->s_umount);
		vexfs_shutdown(sb, "FS_IOC_SHUTDOWN, after sync");
		break;
	case FS_SHUTDOWN_FLAGS_LOGFLUSH:
		/* commit the transaction, but do not write back more data */
		if (!sb_rdonly(sb))
			vexfs_commit(sbi, true);
		vexfs_shutdown(sb, "FS_IOC_SHUTDOWN, after commit");
		break;
	case FS_SHUTDOWN_FLAGS_NOLOGFLUSH:
		vexfs_shutdown(sb, "FS_IOC_SHUTDOWN, immediate");
		break;
	}
	return 0;
}

long vexfs_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct super_block *sb = file_inode(file)->i_sb;

	switch (cmd) {
	case FS_IOC_SHUTDOWN:
		return vexfs_ioc_shutdown(sb, (u32 __user *)arg);
	default:
		if (_IOC_TYPE(cmd) == VEXFS_IOC_MAGIC)
			return vexfs_vector_ioctl(file, cmd, arg);
		return -ENOTTY;
	}
}
