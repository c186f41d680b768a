/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels vexfs.ko builds against lives here,
 * decided by the feature probes of kmod/probes.sh (vexfs_probes.h), never by
 * LINUX_VERSION_CODE.  The rest of the module is written once, against the
 * names defined below or against the newest kernel API.
 */
#ifndef VEXFS_COMPAT_H
#define VEXFS_COMPAT_H

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/stat.h>
#include <linux/buffer_head.h>
#include <linux/exportfs.h>
#include <linux/highmem.h>
#include "vexfs_probes.h"

/* ---- idmapped mounts: one type for the idmap argument of inode ops ---- */
#ifdef VEXFS_HAVE_MNT_IDMAP
typedef struct mnt_idmap vexfs_idmap_t;
#define VEXFS_NOP_IDMAP		(&nop_mnt_idmap)
#define vexfs_file_idmap(file)	file_mnt_idmap(file)
#else
typedef struct user_namespace vexfs_idmap_t;
#define VEXFS_NOP_IDMAP		(&init_user_ns)
#define vexfs_file_idmap(file)	file_mnt_user_ns(file)
#endif

static inline void vexfs_fillattr(vexfs_idmap_t *idmap, u32 request_mask,
				  struct inode *inode, struct kstat *stat)
{
#ifdef VEXFS_HAVE_FILLATTR_REQUEST_MASK
	generic_fillattr(idmap, request_mask, inode, stat);
#else
	generic_fillattr(idmap, inode, stat);
#endif
}

/* ---- inode timestamps: provide the accessors a kernel lacks ---- */
#ifndef VEXFS_HAVE_INODE_GET_ATIME
static inline struct timespec64 inode_get_atime(const struct inode *inode)
{
	return inode->i_atime;
}

static inline struct timespec64 inode_set_atime_to_ts(struct inode *inode,
						      struct timespec64 ts)
{
	inode->i_atime = ts;
	return ts;
}
#endif

#ifndef VEXFS_HAVE_INODE_GET_MTIME
static inline struct timespec64 inode_get_mtime(const struct inode *inode)
{
	return inode->i_mtime;
}

static inline struct timespec64 inode_set_mtime_to_ts(struct inode *inode,
						      struct timespec64 ts)
{
	inode->i_mtime = ts;
	return ts;
}
#endif

#ifndef VEXFS_HAVE_INODE_GET_CTIME
static inline struct timespec64 inode_get_ctime(const struct inode *inode)
{
	return inode->i_ctime;
}

static inline struct timespec64 inode_set_ctime_to_ts(struct inode *inode,
						      struct timespec64 ts)
{
	inode->i_ctime = ts;
	return ts;
}
#endif

#ifndef VEXFS_HAVE_INODE_SET_CTIME_CURRENT
static inline struct timespec64 inode_set_ctime_current(struct inode *inode)
{
	return inode_set_ctime_to_ts(inode, current_time(inode));
}
#endif

/* ---- buffered write path: struct page before folios reached the aops ---- */
#ifdef VEXFS_HAVE_WRITE_BEGIN_FOLIO
typedef struct folio vexfs_wpage_t;
#define vexfs_wpage_zero(p, off, len)	folio_zero_range(p, off, len)
#else
typedef struct page vexfs_wpage_t;
#define vexfs_wpage_zero(p, off, len)	zero_user(p, off, len)
#endif

#ifdef VEXFS_HAVE_FILEMAP_SPLICE_READ
#define vexfs_splice_read	filemap_splice_read
#else
#define vexfs_splice_read	generic_file_splice_read
#endif

#ifdef VEXFS_HAVE_VMF_FS_ERROR
#define vexfs_mkwrite_return(err)	vmf_fs_error(err)
#else
#define vexfs_mkwrite_return(err)	block_page_mkwrite_return(err)
#endif

/* ---- superblock ---- */
static inline void vexfs_set_uuid(struct super_block *sb, const u8 *uuid)
{
#ifdef VEXFS_HAVE_SUPER_SET_UUID
	super_set_uuid(sb, uuid, 16);
#else
	memcpy(&sb->s_uuid, uuid, sizeof(sb->s_uuid));
#endif
}

/* ---- file handles ---- */
#ifndef VEXFS_HAVE_FILEID_INO64_GEN
#define FILEID_INO64_GEN	0x81
#define FILEID_INO64_GEN_PARENT	0x82
#endif

/*
 * FS_IOC_SHUTDOWN: the number XFS (XFS_IOC_GOINGDOWN) and ext4 use, which is
 * what xfs_io -c shutdown and fstests issue.  Not in the uapi of either
 * kernel we target.
 */
#ifndef FS_IOC_SHUTDOWN
#define FS_IOC_SHUTDOWN		_IOR('X', 125, __u32)
#endif
#ifndef FS_SHUTDOWN_FLAGS_DEFAULT
#define FS_SHUTDOWN_FLAGS_DEFAULT	0x0
#define FS_SHUTDOWN_FLAGS_LOGFLUSH	0x1
#define FS_SHUTDOWN_FLAGS_NOLOGFLUSH	0x2
#endif

#endif /* VEXFS_COMPAT_H */
