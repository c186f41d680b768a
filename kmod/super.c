// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS superblock: mount (fs_context), mount options, statfs, the
 * transaction commit (periodic, early, sync, fsync), remount, orphans,
 * shutdown and error handling.
 */
#include <linux/module.h>
#include <linux/init.h>
#include <linux/slab.h>
#include <linux/blkdev.h>
#include <linux/statfs.h>
#include <linux/seq_file.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/ratelimit.h>
#include <linux/writeback.h>
#include <linux/pagemap.h>
#include <linux/time64.h>
#include "vexfs.h"

static struct kmem_cache *vexfs_inode_cachep;
static struct workqueue_struct *vexfs_wq;

void __vexfs_msg(struct super_block *sb, const char *level, const char *fmt, ...)
{
	static DEFINE_RATELIMIT_STATE(rs, DEFAULT_RATELIMIT_INTERVAL,
				      DEFAULT_RATELIMIT_BURST);
	struct va_format vaf;
	va_list args;

	if (!__ratelimit(&rs))
		return;
	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	printk("%svexfs (%s): %pV\n", level, sb->s_id, &vaf);
	va_end(args);
}

/* ------------------------------------------------------------ locking */

void vexfs_lock(struct vexfs_sb_info *sbi)
{
	mutex_lock(&sbi->lock);
	/* reclaim must never re-enter the file system while we hold the lock */
	sbi->nofs_flags = memalloc_nofs_save();
}

/* Lock for an operation: fails with EIO once the volume is shut down. */
int vexfs_lock_op(struct vexfs_sb_info *sbi)
{
	if (vexfs_is_shutdown(sbi))
		return -EIO;
	vexfs_lock(sbi);
	if (vexfs_is_shutdown(sbi)) {
		memalloc_nofs_restore(sbi->nofs_flags);
		mutex_unlock(&sbi->lock);
		return -EIO;
	}
	return 0;
}

static void vexfs_handle_error(struct vexfs_sb_info *sbi, int err)
{
	struct super_block *sb = sbi->sb;

	if (vexfs_is_shutdown(sbi))
		return;
	switch (sbi->opts.errors) {
	case VEXFS_ERRORS_PANIC:
		panic("vexfs (%s): metadata error %d (errors=panic)\n",
		      sb->s_id, err);
		break;
	case VEXFS_ERRORS_RO:
		vexfs_err(sb, "metadata error %d: remounting read-only; the last commit on disk is intact, unmount and run fsck.vexfs",
			  err);
		sb->s_flags |= SB_RDONLY;
		break;
	default:
		vexfs_err(sb, "metadata error %d (errors=continue): reads go on, every modification now fails with EROFS",
			  err);
		break;
	}
}

void vexfs_unlock(struct vexfs_sb_info *sbi)
{
	int failed = vx_fs_failed(sbi->fs);
	/* big transaction, or one eating into the metadata reserve */
	bool kick = !failed && vx_fs_dirty(sbi->fs) &&
		    (vx_fs_dirty_bytes(sbi->fs) > VEXFS_TXN_MAX_BYTES ||
		     !vx_fs_free_blocks(sbi->fs));

	memalloc_nofs_restore(sbi->nofs_flags);
	mutex_unlock(&sbi->lock);
	if (failed && !test_and_set_bit(VEXFS_ERROR_SEEN, &sbi->flags))
		vexfs_handle_error(sbi, failed);
	if (kick && !test_and_set_bit(VEXFS_COMMIT_KICKED, &sbi->flags))
		mod_delayed_work(vexfs_wq, &sbi->commit_work, 0);
}

/*
 * Space check before an operation that consumes metadata space (create,
 * link, rename, setxattr), made of several core calls: room for the worst
 * case of all of them is checked once, up front, while the lock is held, so
 * the steps cannot run out midway; the core keeps the reserve that
 * operations freeing space (unlink, truncate) rely on.  Called under the
 * lock.
 */
int vexfs_space_check(struct vexfs_sb_info *sbi)
{
	int err = vx_op_begin(sbi->fs, VEXFS_MAX_OP_ITEMS, false);

	if (!err)
		vx_op_end(sbi->fs);
	return err;
}

/*
 * Space freed in a transaction (pinned) is reusable only once that
 * transaction commits.  When an operation fails with ENOSPC while the
 * running transaction holds changes, a commit may give it room: callers that
 * hold no vexfs lock (and no txn_sem) commit and retry once.
 */
bool vexfs_enospc_retry(struct vexfs_sb_info *sbi, int err)
{
	bool dirty;

	if (err != -ENOSPC || vexfs_is_shutdown(sbi))
		return false;
	vexfs_lock(sbi);
	dirty = vx_fs_dirty(sbi->fs);
	memalloc_nofs_restore(sbi->nofs_flags);
	mutex_unlock(&sbi->lock);
	return dirty && vexfs_commit(sbi, false) == 0;
}

/*
 * Operations that free space (unlink, rmdir, rename, truncate, punch) run
 * even when data space is exhausted, on the core's metadata reserve.  Copy
 * on write makes each of them consume a few blocks that only the next
 * commit releases, so commit first whenever the reserve is in use: at most
 * one operation's worth of the reserve is ever spent between commits.
 * Called without any vexfs lock.
 */
void vexfs_refill_reserve(struct vexfs_sb_info *sbi)
{
	bool low;

	if (vexfs_is_shutdown(sbi) || sb_rdonly(sbi->sb))
		return;
	vexfs_lock(sbi);
	low = !vx_fs_free_blocks(sbi->fs) && vx_fs_dirty(sbi->fs);
	memalloc_nofs_restore(sbi->nofs_flags);
	mutex_unlock(&sbi->lock);
	if (low)
		vexfs_commit(sbi, false);
}

/* ------------------------------------------------------------ commit */

/*
 * Make everything done so far durable.  Ordered data: the data of every
 * inode that got blocks in this transaction is written back before the
 * metadata that points at it commits.  txn_sem (write) keeps new
 * allocations out meanwhile; writeback itself may still call get_block,
 * which takes sbi->lock, so the lock is taken only for vx_fs_commit.
 * flush_always: flush the device cache even if no metadata changed (fsync
 * of data overwritten in place).
 */
int vexfs_commit(struct vexfs_sb_info *sbi, bool flush_always)
{
	struct vexfs_inode_info *vi;
	struct blk_plug plug;
	LIST_HEAD(list);
	int err, werr = 0;
	bool dirty;

	if (vexfs_is_shutdown(sbi))
		return -EIO;
	if (test_bit(VEXFS_ERROR_SEEN, &sbi->flags))
		return -EIO;

	down_write(&sbi->txn_sem);
	WRITE_ONCE(sbi->committer, current);
	spin_lock(&sbi->ordered_lock);
	list_splice_init(&sbi->ordered, &list);
	while (!list_empty(&list)) {
		struct inode *inode;
		loff_t start, end;

		vi = list_first_entry(&list, struct vexfs_inode_info, ordered);
		list_del_init(&vi->ordered);
		/*
		 * Only the blocks this transaction allocated or zeroed: data
		 * overwritten in place elsewhere waits for this commit.
		 */
		start = vi->ordered_start;
		end = vi->ordered_end;
		vi->ordered_start = LLONG_MAX;
		vi->ordered_end = -1;
		inode = igrab(&vi->vfs_inode);
		spin_unlock(&sbi->ordered_lock);
		if (inode) {
			err = start <= end ?
			      filemap_write_and_wait_range(inode->i_mapping, start, end) : 0;
			if (err && !werr)
				werr = err;
			iput(inode);
		}
		spin_lock(&sbi->ordered_lock);
	}
	spin_unlock(&sbi->ordered_lock);
	if (werr)
		vexfs_err(sbi->sb, "data write-back before commit failed (%d)", werr);

	err = vexfs_lock_op(sbi);
	if (err) {
		WRITE_ONCE(sbi->committer, NULL);
		up_write(&sbi->txn_sem);
		return err;
	}
	dirty = vx_fs_dirty(sbi->fs);
	blk_start_plug(&plug);
	err = vx_fs_commit(sbi->fs);
	blk_finish_plug(&plug);
	clear_bit(VEXFS_COMMIT_KICKED, &sbi->flags);
	vexfs_unlock(sbi);
	if (!err && !dirty && flush_always && !sb_rdonly(sbi->sb))
		err = blkdev_issue_flush(sbi->sb->s_bdev);
	WRITE_ONCE(sbi->committer, NULL);
	up_write(&sbi->txn_sem);
	if (err) {
		vexfs_err(sbi->sb, "commit failed (%d)", err);
		return err;
	}
	return werr;
}

/* Commit soon, from the commit worker. */
void vexfs_kick_commit(struct vexfs_sb_info *sbi)
{
	mod_delayed_work(vexfs_wq, &sbi->commit_work, 0);
}

static void vexfs_arm_commit(struct vexfs_sb_info *sbi)
{
	if (test_bit(VEXFS_UNMOUNTING, &sbi->flags) || sb_rdonly(sbi->sb) ||
	    vexfs_is_shutdown(sbi))
		return;
	queue_delayed_work(vexfs_wq, &sbi->commit_work,
			   (unsigned long)sbi->opts.commit_interval * HZ);
}

static void vexfs_commit_workfn(struct work_struct *work)
{
	struct vexfs_sb_info *sbi = container_of(to_delayed_work(work),
						 struct vexfs_sb_info, commit_work);

	if (!sb_rdonly(sbi->sb) && !vexfs_is_shutdown(sbi) &&
	    !test_bit(VEXFS_ERROR_SEEN, &sbi->flags))
		vexfs_commit(sbi, false);
	clear_bit(VEXFS_COMMIT_KICKED, &sbi->flags);
	vexfs_arm_commit(sbi);
}

void vexfs_shutdown(struct super_block *sb, const char *why)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);

	/* first: from here on the dev ops refuse every write */
	if (test_and_set_bit(VEXFS_SHUTDOWN, &sbi->flags))
		return;
	set_bit(VEXFS_ERROR_SEEN, &sbi->flags);
	vexfs_lock(sbi);
	vx_fs_set_failed(sbi->fs, -EIO);
	memalloc_nofs_restore(sbi->nofs_flags);
	mutex_unlock(&sbi->lock);
	pr_warn("vexfs (%s): shut down (%s): every operation now fails with EIO, nothing more is written\n",
		sb->s_id, why);
}

/* ------------------------------------------------------------ orphans */

/* Remove every inode left unlinked-but-open by a crash or a read-only time. */
static int vexfs_reclaim_orphans(struct super_block *sb)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	u64 after = 0, ino;
	unsigned int n = 0;
	int err;

	for (;;) {
		struct inode *cached;

		err = vexfs_lock_op(sbi);
		if (err)
			break;
		err = vx_orphan_next(sbi->fs, after, &ino);
		vexfs_unlock(sbi);
		if (err)
			break;
		after = ino;
		/* still in use (remount rw): its eviction reclaims it */
		cached = ilookup(sb, ino);
		if (cached) {
			iput(cached);
			continue;
		}
		down_write(&sbi->index_sem);	/* its embeddings go too */
		err = vexfs_lock_op(sbi);
		if (err) {
			up_write(&sbi->index_sem);
			break;
		}
		err = vx_inode_remove(sbi->fs, ino);
		if (err == -ENOENT)	/* inode already gone: drop the record */
			err = vx_orphan_del(sbi->fs, ino);
		vexfs_unlock(sbi);
		up_write(&sbi->index_sem);
		if (err) {
			vexfs_err(sb, "cannot reclaim orphan inode %llu (%d)",
				  (unsigned long long)ino, err);
			break;
		}
		n++;
		cond_resched();
	}
	if (err == -ENOENT)
		err = 0;
	if (n)
		vexfs_info(sb, "reclaimed %u orphan inode%s", n, n == 1 ? "" : "s");
	return err;
}

/* ------------------------------------------------------------ super ops */

static struct inode *vexfs_alloc_inode(struct super_block *sb)
{
	struct vexfs_inode_info *vi;

	vi = alloc_inode_sb(sb, vexfs_inode_cachep, GFP_KERNEL);
	if (!vi)
		return NULL;
	memset(&vi->d, 0, sizeof(vi->d));
	vi->change_gen = 0;
	vi->guard_gen = 0;
	vi->guard_checked = 0;
	vi->inplace_gen = 0;
	vi->auto_queued = 0;
	vi->auto_writing = false;
	vi->auto_debounce = false;
	return &vi->vfs_inode;
}

static void vexfs_free_inode(struct inode *inode)
{
	kmem_cache_free(vexfs_inode_cachep, VEXFS_I(inode));
}

static void vexfs_inode_init_once(void *p)
{
	struct vexfs_inode_info *vi = p;

	INIT_LIST_HEAD(&vi->ordered);
	vi->ordered_start = LLONG_MAX;
	vi->ordered_end = -1;
	inode_init_once(&vi->vfs_inode);
}

static void vexfs_put_super(struct super_block *sb)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);

	set_bit(VEXFS_UNMOUNTING, &sbi->flags);
	cancel_delayed_work_sync(&sbi->commit_work);
	vexfs_vector_quiesce(sbi);
	/* evict_inodes() may have reclaimed unlinked inodes since sync_fs */
	if (!sb_rdonly(sb))
		vexfs_commit(sbi, true);
	mutex_lock(&sbi->lock);
	vx_fs_close(sbi->fs);
	sbi->fs = NULL;
	vexfs_dev_drain(sbi);
	mutex_unlock(&sbi->lock);
	vexfs_vector_free(sbi);
	kvfree(sbi->wbh);
	sb->s_fs_info = NULL;
	kfree(sbi);
}

static int vexfs_sync_fs(struct super_block *sb, int wait)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);

	if (vexfs_is_shutdown(sbi))
		return -EIO;
	if (sb_rdonly(sb))
		return 0;
	if (!wait) {
		mod_delayed_work(vexfs_wq, &sbi->commit_work, 0);
		return 0;
	}
	return vexfs_commit(sbi, true);
}

static int vexfs_freeze_fs(struct super_block *sb)
{
	/* sync_fs already committed; catch anything since (nothing, normally) */
	return vexfs_commit(VEXFS_SB(sb), true);
}

static int vexfs_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct super_block *sb = dentry->d_sb;
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	const struct vx_superblock *vsb;
	int err;

	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	vsb = vx_fs_super(sbi->fs);
	buf->f_type = VEXFS_SUPER_MAGIC;
	buf->f_bsize = sb->s_blocksize;
	buf->f_frsize = sb->s_blocksize;
	buf->f_blocks = vx_fs_total_blocks(sbi->fs);
	buf->f_bfree = vx_fs_free_blocks(sbi->fs);
	buf->f_bavail = buf->f_bfree;
	/* inodes are B-tree items: each new one costs well under a block */
	buf->f_ffree = buf->f_bfree;
	buf->f_files = vx_fs_inode_count(sbi->fs) + buf->f_ffree;
	buf->f_namelen = VX_NAME_MAX;
	buf->f_fsid = uuid_to_fsid((u8 *)vsb->uuid);
	vexfs_unlock(sbi);
	return 0;
}

static int vexfs_show_options(struct seq_file *seq, struct dentry *root)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(root->d_sb);

	if (sbi->opts.errors == VEXFS_ERRORS_CONTINUE)
		seq_puts(seq, ",errors=continue");
	else if (sbi->opts.errors == VEXFS_ERRORS_PANIC)
		seq_puts(seq, ",errors=panic");
	if (sbi->opts.commit_interval != VEXFS_DEFAULT_COMMIT)
		seq_printf(seq, ",commit=%u", sbi->opts.commit_interval);
	return 0;
}

#ifdef VEXFS_HAVE_SOP_SHUTDOWN
/* The block device went away under us. */
static void vexfs_sop_shutdown(struct super_block *sb)
{
	vexfs_shutdown(sb, "device removed");
}
#endif

static const struct super_operations vexfs_sops = {
	.alloc_inode	= vexfs_alloc_inode,
	.free_inode	= vexfs_free_inode,
	.dirty_inode	= vexfs_dirty_inode,
	.evict_inode	= vexfs_evict_inode,
	.put_super	= vexfs_put_super,
	.sync_fs	= vexfs_sync_fs,
	.freeze_fs	= vexfs_freeze_fs,
	.statfs		= vexfs_statfs,
	.show_options	= vexfs_show_options,
#ifdef VEXFS_HAVE_SOP_SHUTDOWN
	.shutdown	= vexfs_sop_shutdown,
#endif
};

/* ------------------------------------------------------------ mount */

struct vexfs_fs_context {
	struct vexfs_mount_opts opts;
	unsigned int set;		/* VEXFS_SET_* given on this call */
};

#define VEXFS_SET_ERRORS	0x1
#define VEXFS_SET_COMMIT	0x2

enum { Opt_errors, Opt_commit };

static const struct constant_table vexfs_param_errors[] = {
	{ "continue",	VEXFS_ERRORS_CONTINUE },
	{ "panic",	VEXFS_ERRORS_PANIC },
	{ "remount-ro",	VEXFS_ERRORS_RO },
	{}
};

static const struct fs_parameter_spec vexfs_param_spec[] = {
	fsparam_enum("errors", Opt_errors, vexfs_param_errors),
	fsparam_u32("commit", Opt_commit),
	{}
};

static int vexfs_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct vexfs_fs_context *ctx = fc->fs_private;
	struct fs_parse_result result;
	int opt;

	/* unknown and malformed options fail here with a message */
	opt = fs_parse(fc, vexfs_param_spec, param, &result);
	if (opt < 0)
		return opt;
	switch (opt) {
	case Opt_errors:
		ctx->opts.errors = result.uint_32;
		ctx->set |= VEXFS_SET_ERRORS;
		break;
	case Opt_commit:
		if (result.uint_32 > VEXFS_MAX_COMMIT)
			return invalfc(fc, "commit=%u out of range (0-%u seconds)",
				       result.uint_32, VEXFS_MAX_COMMIT);
		ctx->opts.commit_interval = result.uint_32 ?: VEXFS_DEFAULT_COMMIT;
		ctx->set |= VEXFS_SET_COMMIT;
		break;
	}
	return 0;
}

static void vexfs_apply_opts(struct vexfs_sb_info *sbi, struct vexfs_fs_context *ctx)
{
	if (ctx->set & VEXFS_SET_ERRORS)
		sbi->opts.errors = ctx->opts.errors;
	if (ctx->set & VEXFS_SET_COMMIT)
		sbi->opts.commit_interval = ctx->opts.commit_interval;
}

/* Say, naming the device, why vx_fs_open refused the volume. */
static int vexfs_open_error(struct super_block *sb, int err, bool silent)
{
	switch (err) {
	case -EINVAL:
		if (!silent)
			vexfs_err(sb, "not a VexFS volume, or the volume is larger than the device");
		return -EINVAL;
	case -EUCLEAN:
		vexfs_err(sb, "superblock or metadata checksum/consistency error; run fsck.vexfs");
		return -EUCLEAN;
	case -EOPNOTSUPP:
		vexfs_err(sb, "unsupported format version or unknown incompatible features; refusing to mount");
		return -EINVAL;
	case -EROFS:
		vexfs_err(sb, "unknown read-only-compatible features: this kernel can only mount it read-only (-o ro)");
		return -EROFS;
	case -EIO:
		vexfs_err(sb, "I/O error reading the volume");
		return -EIO;
	case -ENOMEM:
		return -ENOMEM;
	default:
		vexfs_err(sb, "cannot open the volume (%d)", err);
		return err;
	}
}

static int vexfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct vexfs_fs_context *ctx = fc->fs_private;
	bool silent = fc->sb_flags & SB_SILENT;
	const struct vx_superblock *vsb;
	struct vexfs_sb_info *sbi;
	struct inode *root;
	int err;

	sbi = kzalloc(sizeof(*sbi), GFP_KERNEL);
	if (!sbi)
		return -ENOMEM;
	sbi->sb = sb;
	mutex_init(&sbi->lock);
	init_rwsem(&sbi->txn_sem);
	spin_lock_init(&sbi->ordered_lock);
	INIT_LIST_HEAD(&sbi->ordered);
	INIT_DELAYED_WORK(&sbi->commit_work, vexfs_commit_workfn);
	vexfs_vector_init(sbi);
	sbi->opts = ctx->opts;
	sbi->device_bytes = bdev_nr_bytes(sb->s_bdev);
	sb->s_fs_info = sbi;

	/* the core calls back into sb_set_blocksize once it knows the size */
	err = vx_fs_open(&sbi->fs, &vexfs_dev_ops, sbi, sbi->device_bytes,
			 sb_rdonly(sb) ? VX_OPEN_RDONLY : 0);
	if (err) {
		err = vexfs_open_error(sb, err, silent);
		goto out_free;
	}
	vsb = vx_fs_super(sbi->fs);

	sb->s_magic = VEXFS_SUPER_MAGIC;
	sb->s_op = &vexfs_sops;
	sb->s_xattr = vexfs_xattr_handlers;
	sb->s_export_op = &vexfs_export_ops;
	/* the core refuses inodes larger than VX_MAX_FILE_SIZE */
	sb->s_maxbytes = min_t(u64, MAX_LFS_FILESIZE, VX_MAX_FILE_SIZE);
	sb->s_time_gran = 1;
	sb->s_time_min = TIME64_MIN;
	sb->s_time_max = TIME64_MAX;
	vexfs_set_uuid(sb, vsb->uuid);

	root = vexfs_iget(sb, VX_ROOT_INO);
	if (IS_ERR(root)) {
		err = PTR_ERR(root);
		vexfs_err(sb, "cannot read the root directory (%d)", err);
		goto out_close;
	}
	if (!S_ISDIR(root->i_mode)) {
		iput(root);
		vexfs_err(sb, "root inode is not a directory; run fsck.vexfs");
		err = -EUCLEAN;
		goto out_close;
	}
	sb->s_root = d_make_root(root);
	if (!sb->s_root) {
		err = -ENOMEM;
		goto out_close;
	}

	if (!sb_rdonly(sb)) {
		err = vexfs_reclaim_orphans(sb);
		if (!err)
			err = vexfs_vector_mount(sbi);
		if (!err)
			err = vexfs_commit(sbi, false);
		if (err) {
			vexfs_err(sb, "orphan recovery failed (%d); run fsck.vexfs, or mount read-only (-o ro)",
				  err);
			goto out_root;
		}
		vexfs_arm_commit(sbi);
	}
	err = vexfs_auto_start(sbi);
	if (err)
		goto out_root;
	return 0;

out_root:
	/* generic_shutdown_super() tears the rest down via put_super */
	return err;
out_close:
	vx_fs_close(sbi->fs);
	vexfs_dev_drain(sbi);
out_free:
	kvfree(sbi->wbh);
	sb->s_fs_info = NULL;
	kfree(sbi);
	return err;
}

/* Sidecars hold no inode references, but the dispatcher takes some: stop it first. */
static void vexfs_kill_sb(struct super_block *sb)
{
	if (sb->s_fs_info)
		vexfs_auto_stop(VEXFS_SB(sb));
	kill_block_super(sb);
}

static int vexfs_get_tree(struct fs_context *fc)
{
	return get_tree_bdev(fc, vexfs_fill_super);
}

/* Swap the core's handle for one opened with other flags (ro <-> rw). */
static int vexfs_reopen(struct vexfs_sb_info *sbi, unsigned int flags)
{
	struct vx_fs *nfs, *old;
	int err;

	/* the old handle's vector indexes go with it: no search may hold one */
	down_write(&sbi->index_sem);
	vexfs_lock(sbi);
	err = vx_fs_open(&nfs, &vexfs_dev_ops, sbi, sbi->device_bytes, flags);
	if (!err) {
		old = sbi->fs;
		sbi->fs = nfs;
		vx_fs_close(old);
	}
	memalloc_nofs_restore(sbi->nofs_flags);
	mutex_unlock(&sbi->lock);
	up_write(&sbi->index_sem);
	return err;
}

static int vexfs_reconfigure(struct fs_context *fc)
{
	struct vexfs_fs_context *ctx = fc->fs_private;
	struct super_block *sb = fc->root->d_sb;
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	bool want_ro = fc->sb_flags & SB_RDONLY;
	int err;

	sync_filesystem(sb);
	if (vexfs_is_shutdown(sbi))
		return -EIO;

	if (sb_rdonly(sb) && !want_ro) {
		if (test_bit(VEXFS_ERROR_SEEN, &sbi->flags)) {
			vexfs_err(sb, "cannot remount read-write after a metadata error; unmount and run fsck.vexfs");
			return -EROFS;
		}
		err = vexfs_reopen(sbi, 0);
		if (err)
			return vexfs_open_error(sb, err, false);
		/* the VFS sets SB_RDONLY off only after we return */
		sb->s_flags &= ~SB_RDONLY;
		err = vexfs_reclaim_orphans(sb);
		if (!err)
			err = vexfs_commit(sbi, false);
		if (err) {
			sb->s_flags |= SB_RDONLY;
			return err;
		}
		vexfs_apply_opts(sbi, ctx);
		vexfs_arm_commit(sbi);
		return 0;
	}

	if (!sb_rdonly(sb) && want_ro) {
		vexfs_vector_quiesce(sbi);
		/* after a metadata error there is nothing left to commit */
		if (!test_bit(VEXFS_ERROR_SEEN, &sbi->flags)) {
			err = vexfs_commit(sbi, true);
			if (err)
				return err;
		}
		cancel_delayed_work_sync(&sbi->commit_work);
		/* from here on the core itself refuses to write */
		err = vexfs_reopen(sbi, VX_OPEN_RDONLY);
		if (err)
			vexfs_warn(sb, "read-only reopen failed (%d); staying on the read-write handle",
				   err);
		vexfs_apply_opts(sbi, ctx);
		return 0;
	}

	vexfs_apply_opts(sbi, ctx);
	if (!sb_rdonly(sb) && (ctx->set & VEXFS_SET_COMMIT))
		mod_delayed_work(vexfs_wq, &sbi->commit_work,
				 (unsigned long)sbi->opts.commit_interval * HZ);
	return 0;
}

static void vexfs_free_fc(struct fs_context *fc)
{
	kfree(fc->fs_private);
}

static const struct fs_context_operations vexfs_context_ops = {
	.parse_param	= vexfs_parse_param,
	.get_tree	= vexfs_get_tree,
	.reconfigure	= vexfs_reconfigure,
	.free		= vexfs_free_fc,
};

static int vexfs_init_fs_context(struct fs_context *fc)
{
	struct vexfs_fs_context *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->opts.errors = VEXFS_ERRORS_RO;
	ctx->opts.commit_interval = VEXFS_DEFAULT_COMMIT;
	fc->fs_private = ctx;
	fc->ops = &vexfs_context_ops;
	return 0;
}

static struct file_system_type vexfs_fs_type = {
	.owner			= THIS_MODULE,
	.name			= "vexfs",
	.init_fs_context	= vexfs_init_fs_context,
	.parameters		= vexfs_param_spec,
	.kill_sb		= vexfs_kill_sb,
	.fs_flags		= FS_REQUIRES_DEV,
};
MODULE_ALIAS_FS("vexfs");

static int __init vexfs_init(void)
{
	int err;

	vexfs_inode_cachep = kmem_cache_create("vexfs_inode_cache",
					       sizeof(struct vexfs_inode_info), 0,
					       SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT,
					       vexfs_inode_init_once);
	if (!vexfs_inode_cachep)
		return -ENOMEM;
	vexfs_wq = alloc_workqueue("vexfs-commit", WQ_MEM_RECLAIM | WQ_FREEZABLE, 0);
	if (!vexfs_wq) {
		err = -ENOMEM;
		goto out_cache;
	}
	err = vexfs_auto_init();
	if (err)
		goto out_wq;
	err = register_filesystem(&vexfs_fs_type);
	if (err)
		goto out_auto;
	return 0;

out_auto:
	vexfs_auto_exit();
out_wq:
	destroy_workqueue(vexfs_wq);
out_cache:
	kmem_cache_destroy(vexfs_inode_cachep);
	return err;
}

static void __exit vexfs_exit(void)
{
	unregister_filesystem(&vexfs_fs_type);
	vexfs_auto_exit();
	destroy_workqueue(vexfs_wq);
	/* inodes are freed by RCU */
	rcu_barrier();
	kmem_cache_destroy(vexfs_inode_cachep);
}

module_init(vexfs_init);
module_exit(vexfs_exit);

MODULE_DESCRIPTION("VexFS: a file system with vector embeddings");
MODULE_LICENSE("GPL");
