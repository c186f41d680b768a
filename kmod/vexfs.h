/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VexFS kernel glue: private definitions shared by the VFS object files.
 *
 * Locking, outermost first:
 *   i_rwsem (VFS) -> mapping->invalidate_lock -> sbi->txn_sem (read: a
 *   data block may be allocated; write: commit) -> folio lock -> sbi->lock
 *   (every core call) -> sbi->ordered_lock.
 * The core is not thread safe: every vx_* call on sbi->fs happens under
 * sbi->lock, taken with vexfs_lock()/vexfs_lock_op().  Nothing that can wait
 * for a page lock, a user copy or another vexfs lock runs under sbi->lock,
 * and memory allocations under it are implicitly GFP_NOFS.
 */
#ifndef VEXFS_H
#define VEXFS_H

#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/sched/mm.h>
#include <linux/buffer_head.h>
#include "compat.h"
#include "vx_core.h"

/* statfs f_type: "VXFS" */
#define VEXFS_SUPER_MAGIC	0x56584653

/* st_size of a directory grows by this much per entry (as tmpfs does). */
#define VEXFS_BOGO_DIRENT_SIZE	20

/* Commit early once a transaction holds this much dirty metadata. */
#define VEXFS_TXN_MAX_BYTES	(8U << 20)
#define VEXFS_DEFAULT_COMMIT	5		/* seconds */
#define VEXFS_MAX_COMMIT	3600

enum vexfs_errors {
	VEXFS_ERRORS_CONTINUE,
	VEXFS_ERRORS_RO,
	VEXFS_ERRORS_PANIC,
};

/* sbi->flags bits */
enum {
	VEXFS_SHUTDOWN,		/* FS_IOC_SHUTDOWN: every op fails with EIO */
	VEXFS_ERROR_SEEN,	/* the core failed; errors= action taken */
	VEXFS_UNMOUNTING,	/* periodic commit must not rearm */
	VEXFS_COMMIT_KICKED,	/* early commit queued */
};

struct vexfs_mount_opts {
	unsigned int commit_interval;	/* seconds */
	int errors;			/* enum vexfs_errors */
};

struct vexfs_sb_info {
	struct super_block *sb;
	struct vx_fs *fs;		/* under lock */
	struct mutex lock;		/* serialises every core call */
	unsigned int nofs_flags;	/* memalloc_nofs_save() cookie */
	struct rw_semaphore txn_sem;	/* data allocation (read) vs commit */

	/* ordered data: inodes given blocks in the running transaction */
	spinlock_t ordered_lock;
	struct list_head ordered;
	struct task_struct *committer;	/* in vexfs_commit(), under txn_sem */

	struct vexfs_mount_opts opts;
	unsigned long flags;
	struct delayed_work commit_work;
	u64 device_bytes;

	/* vector indexes (vector.c): index_sem is taken before lock */
	struct rw_semaphore index_sem;	/* search (read) vs index change */
	struct delayed_work link_work;	/* links pending vectors */
	unsigned long link_last_add;	/* jiffies of the last addition */
	spinlock_t scratch_lock;
#define VEXFS_SCRATCH_POOL	4
	struct vx_index_scratch *scratch[VEXFS_SCRATCH_POOL];

	/* block I/O state of the core's dev ops (under lock) */
	/*
	 * Blocks written since the last flush: [0, nr_wsub) submitted, not
	 * yet waited; [nr_wsub, nr_wbh) still waiting to be submitted.
	 */
	struct buffer_head **wbh;
	unsigned int nr_wbh, nr_wsub, max_wbh;
	int wb_err;			/* write error seen outside flush */

	struct vexfs_auto_state *auto_state;	/* auto.c; NULL read-only */
};

struct vexfs_inode_info {
	/*
	 * The core's view of the inode, under sbi->lock.  Fields the VFS
	 * inode also has are copied from it whenever the item is written;
	 * the rest (blocks, generation, data_version, next_dir_index,
	 * parent, crtime, flags) are owned here.
	 */
	struct vx_inode_data d;
	struct list_head ordered;	/* on sbi->ordered, ordered_lock */
	loff_t ordered_start;		/* bytes to write before the commit, */
	loff_t ordered_end;		/* inclusive; under ordered_lock */
	u64 change_gen;			/* txn that last bumped data_version */
	/*
	 * Data overwritten in place must not reach the disk before the bump
	 * of its data version commits, when that matters (the file has
	 * embeddings or an automatic policy): see vexfs_writepages().
	 */
	u64 guard_gen;			/* txn of a bump that matters */
	u64 guard_checked;		/* txn in which that was looked up */
	u64 inplace_gen;		/* txn of such an in-place change */
	/* automatic embeddings (auto.c) */
	u32 auto_queued;		/* space known queued, 0 unknown; sbi->lock */
	bool auto_writing;		/* changed, not yet closed or fsync'd */
	bool auto_debounce;		/* auto_ready_at is set */
	unsigned long auto_ready_at;	/* jiffies: quiet long enough to send */
	struct inode vfs_inode;
};

static inline struct vexfs_sb_info *VEXFS_SB(struct super_block *sb)
{
	return sb->s_fs_info;
}

static inline struct vexfs_inode_info *VEXFS_I(struct inode *inode)
{
	return container_of(inode, struct vexfs_inode_info, vfs_inode);
}

static inline bool vexfs_is_shutdown(struct vexfs_sb_info *sbi)
{
	return unlikely(test_bit(VEXFS_SHUTDOWN, &sbi->flags));
}

/* super.c */
__printf(3, 4)
void __vexfs_msg(struct super_block *sb, const char *level, const char *fmt, ...);
#define vexfs_err(sb, fmt, ...)	__vexfs_msg(sb, KERN_ERR, fmt, ##__VA_ARGS__)
#define vexfs_warn(sb, fmt, ...) __vexfs_msg(sb, KERN_WARNING, fmt, ##__VA_ARGS__)
#define vexfs_info(sb, fmt, ...) __vexfs_msg(sb, KERN_INFO, fmt, ##__VA_ARGS__)

void vexfs_lock(struct vexfs_sb_info *sbi);
int vexfs_lock_op(struct vexfs_sb_info *sbi);
void vexfs_unlock(struct vexfs_sb_info *sbi);
/*
 * Core tree operations in the largest VFS operation: rename over a target
 * or exchange, 12 (vx_dir_set 4 each: DIRENT, DIRINDEX, two INODE_REFs;
 * vx_dir_remove 3; orphan record; inode items).
 */
#define VEXFS_MAX_OP_ITEMS	12
int vexfs_space_check(struct vexfs_sb_info *sbi);
int vexfs_commit(struct vexfs_sb_info *sbi, bool flush_always);
void vexfs_kick_commit(struct vexfs_sb_info *sbi);
bool vexfs_enospc_retry(struct vexfs_sb_info *sbi, int err);
void vexfs_refill_reserve(struct vexfs_sb_info *sbi);
void vexfs_shutdown(struct super_block *sb, const char *why);

/* blockdev.c */
extern const struct vx_dev_ops vexfs_dev_ops;
void vexfs_dev_drain(struct vexfs_sb_info *sbi);

/* inode.c */
extern const struct address_space_operations vexfs_aops;
struct inode *vexfs_iget(struct super_block *sb, u64 ino);
void vexfs_set_inode_ops(struct inode *inode);
void vexfs_inode_to_data(struct inode *inode);
int vexfs_write_inode_locked(struct inode *inode);
void vexfs_dirty_inode(struct inode *inode, int flags);
void vexfs_evict_inode(struct inode *inode);
int vexfs_get_block(struct inode *inode, sector_t iblock,
		    struct buffer_head *bh, int create);
void vexfs_add_ordered(struct inode *inode, loff_t start, loff_t len);
void vexfs_inplace_change(struct inode *inode);
void vexfs_del_ordered(struct inode *inode);
int vexfs_setattr(vexfs_idmap_t *idmap, struct dentry *dentry,
		  struct iattr *attr);
int vexfs_getattr(vexfs_idmap_t *idmap, const struct path *path,
		  struct kstat *stat, u32 request_mask, unsigned int flags);
int vexfs_truncate_blocks(struct inode *inode, loff_t from);
int vexfs_zero_partial(struct inode *inode, loff_t pos, loff_t len);
void vexfs_data_changing(struct inode *inode, struct dentry *dentry);
void vexfs_data_changed(struct inode *inode, struct dentry *dentry);

/* file.c */
extern const struct inode_operations vexfs_file_inode_operations;
extern const struct file_operations vexfs_file_operations;
int vexfs_fsync(struct file *file, loff_t start, loff_t end, int datasync);

/* dir.c */
extern const struct file_operations vexfs_dir_operations;

/* namei.c */
extern const struct inode_operations vexfs_dir_inode_operations;
extern const struct inode_operations vexfs_special_inode_operations;
extern const struct inode_operations vexfs_symlink_inode_operations;

/* xattr.c */
extern const struct xattr_handler *vexfs_xattr_handlers[];
ssize_t vexfs_listxattr(struct dentry *dentry, char *buffer, size_t size);
int vexfs_init_security(struct inode *inode, struct inode *dir,
			const struct qstr *qstr);

/* ioctl.c */
long vexfs_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* auto.c */
struct vexfs_auto;
u32 vexfs_auto_policy(struct dentry *dentry);
void vexfs_auto_changed_locked(struct inode *inode, u32 space);
void vexfs_auto_file_settled(struct inode *inode);
void vexfs_auto_embedded(struct inode *inode, u32 space);
int vexfs_auto_start(struct vexfs_sb_info *sbi);
void vexfs_auto_stop(struct vexfs_sb_info *sbi);
int vexfs_auto_init(void);
void vexfs_auto_exit(void);
long vexfs_ioc_auto(struct file *file, struct vexfs_auto __user *argp);

/* vector.c */
bool vexfs_all_zero(const void *p, size_t n);
int vexfs_check_name(const char *name);
long vexfs_vector_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
void vexfs_vector_init(struct vexfs_sb_info *sbi);
int vexfs_vector_mount(struct vexfs_sb_info *sbi);
void vexfs_vector_quiesce(struct vexfs_sb_info *sbi);
void vexfs_vector_free(struct vexfs_sb_info *sbi);

/* export.c */
extern const struct export_operations vexfs_export_ops;

#endif /* VEXFS_H */
