/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The portable core of VexFS: copy-on-write B-trees, the block allocator,
 * transactions, and the file system objects built on them (inodes,
 * directories, extents, xattrs, orphans).  The same code runs in vexfs.ko
 * and in the userspace tools and tests.
 *
 * Concurrency: the core is not thread safe.  Callers serialise every call on
 * one vx_fs (the kernel glue holds a per-volume mutex).
 *
 * Errors are negative errno values.  -EUCLEAN means on-disk corruption was
 * detected (checksum, magic, misdirected or stale block).  After any error in
 * the middle of a modifying operation the volume is marked failed: further
 * modifications and commits return -EROFS, and the last commit on disk stays
 * intact.
 */
#ifndef VX_CORE_H
#define VX_CORE_H

#include "vx_platform.h"
#include "vx_format.h"

/* Block device access supplied by the platform glue. */
struct vx_dev_ops {
	/*
	 * Called by vx_fs_open / vx_mkfs once the block size is known, before
	 * any block I/O (the kernel glue calls sb_set_blocksize here).
	 */
	int (*set_block_size)(void *dev, u32 block_size);
	/* Read one block of fs block size into buf. */
	int (*read_block)(void *dev, u64 blocknr, void *buf);
	/* Start writing one block; it must be durable after flush(). */
	int (*write_block)(void *dev, u64 blocknr, const void *buf);
	/* Wait for every write started so far, then flush the device cache. */
	int (*flush)(void *dev);
	/* Read / durably write (preflush + FUA) a superblock slot. */
	int (*read_super)(void *dev, u64 byte_offset, void *buf, u32 len);
	int (*write_super)(void *dev, u64 byte_offset, const void *buf, u32 len);
	/*
	 * Optional: a block was freed or reallocated; drop any cached copy of
	 * it the platform keeps (the kernel's buffer cache).
	 */
	void (*forget_block)(void *dev, u64 blocknr);
	/*
	 * Optional: start reading a block that read_block will probably ask
	 * for soon; never waits, errors are ignored.
	 */
	void (*readahead)(void *dev, u64 blocknr);
};

/* Key in CPU byte order. */
struct vx_ckey {
	u64 objectid;
	u64 offset;
	u8  type;
};

struct vx_fs;

/* vx_fs_open flags */
#define VX_OPEN_RDONLY		0x1	/* refuse modification; never write */
#define VX_OPEN_NOVERIFY	0x2	/* fsck: tolerate a bad fs root */

struct vx_mkfs_params {
	u64 total_blocks;
	u32 block_size;
	u8  uuid[VX_UUID_LEN];
	char label[VX_LABEL_LEN];
	u64 now_ns;
	u32 root_uid, root_gid;
};

/*
 * Format a device.  The caller has already zeroed or wiped the start of the
 * device as it sees fit; mkfs writes both superblock slots.
 */
int vx_mkfs(const struct vx_dev_ops *ops, void *dev,
	    const struct vx_mkfs_params *p);

/*
 * Validate a raw superblock: magic, CRC, version, geometry, features.
 * Returns 0, -EINVAL (not vexfs / bad geometry), -EUCLEAN (bad CRC),
 * -EOPNOTSUPP (unknown incompat feature) or 1 if only unknown ro-compat
 * features are present (mount read-only).  msg gets a human reason.
 */
int vx_super_check(const struct vx_superblock *sb, u64 device_bytes,
		   const char **msg);

int vx_fs_open(struct vx_fs **out, const struct vx_dev_ops *ops, void *dev,
	       u64 device_bytes, unsigned int flags);
void vx_fs_close(struct vx_fs *fs);	/* drops uncommitted changes */
/* Make everything done so far durable.  No-op if nothing changed. */
int vx_fs_commit(struct vx_fs *fs);
bool vx_fs_dirty(const struct vx_fs *fs);
/* Bytes of metadata waiting for commit, to bound a transaction's size. */
u64 vx_fs_dirty_bytes(const struct vx_fs *fs);
/* The error that failed the volume, or 0. */
int vx_fs_failed(const struct vx_fs *fs);
void vx_fs_set_failed(struct vx_fs *fs, int err);
const struct vx_superblock *vx_fs_super(const struct vx_fs *fs); /* last committed */
u32 vx_fs_block_size(const struct vx_fs *fs);
u64 vx_fs_total_blocks(const struct vx_fs *fs);
u64 vx_fs_free_blocks(const struct vx_fs *fs);	/* allocatable now */
u64 vx_fs_inode_count(const struct vx_fs *fs);
u64 vx_fs_generation(const struct vx_fs *fs);	/* running transaction */
/* Limit the core's clean node cache (in nodes). */
void vx_fs_set_cache_limit(struct vx_fs *fs, u32 nodes);

/*
 * Space reservation for a caller's operation made of several core calls
 * (a create is an inode, a directory entry and a parent update).  Between
 * vx_op_begin() and vx_op_end() the worst-case space for nops tree
 * operations was checked once: the calls inside do not fail half way with
 * -ENOSPC.  Brackets nest; only the outermost checks.  shrink: the
 * operation frees space (unlink, truncate) and may use the reserve that
 * growing operations leave free.  Errors: -ENOSPC, -EROFS.
 */
int vx_op_begin(struct vx_fs *fs, u32 nops, bool shrink);
void vx_op_end(struct vx_fs *fs);
/*
 * Nodes per level (span[VX_MAX_LEVELS]) that the key range [lo, hi] of a
 * tree touches now.
 */
int vx_range_span(struct vx_fs *fs, int tree, const struct vx_ckey *lo,
		  const struct vx_ckey *hi, u64 *span);
/*
 * Worst-case new metadata blocks for changing a run of items with
 * contiguous keys (one file's embeddings in one space) whose range spans
 * span[] nodes now: nexist exist (~0ULL: unknown), ndel are deleted and
 * nupd rewritten at the same size, then nins are inserted in ascending key
 * order; every item of the run has item_size bytes.
 */
u64 vx_run_blocks(const struct vx_fs *fs, const u64 *span, u64 nexist,
		  u64 ndel, u64 nupd, u64 nins, u32 item_size);
/* Operations that allocated more metadata than they reserved (a bug). */
u64 vx_fs_reserve_overruns(const struct vx_fs *fs);

/* ---- Generic items in a tree (tree = VX_TREE_FS or VX_TREE_ALLOC) ---- */

/* Largest item data that fits any leaf of this volume. */
u32 vx_max_item_size(const struct vx_fs *fs);
/*
 * Copy the item's data into buf (up to bufsize bytes); *size gets its real
 * size.  -ENOENT if absent.
 */
int vx_item_lookup(struct vx_fs *fs, int tree, const struct vx_ckey *key,
		   void *buf, u32 bufsize, u32 *size);
int vx_item_insert(struct vx_fs *fs, int tree, const struct vx_ckey *key,
		   const void *data, u32 size);		/* -EEXIST */
int vx_item_update(struct vx_fs *fs, int tree, const struct vx_ckey *key,
		   const void *data, u32 size);		/* -ENOENT */
int vx_item_delete(struct vx_fs *fs, int tree, const struct vx_ckey *key);
/* First item with key >= *from.  -ENOENT past the end. */
int vx_item_next(struct vx_fs *fs, int tree, const struct vx_ckey *from,
		 struct vx_ckey *found, void *buf, u32 bufsize, u32 *size);
int vx_key_cmp(const struct vx_ckey *a, const struct vx_ckey *b);

/* ---- Block allocator ---- */

/*
 * Allocate up to want contiguous blocks near hint (at least one).  Data
 * allocations keep a reserve back so metadata can always be written.
 */
int vx_alloc_blocks(struct vx_fs *fs, u64 hint, u64 want, bool for_data,
		    u64 *start, u64 *got);
/* Free blocks; they become reusable after the running transaction commits. */
int vx_free_blocks(struct vx_fs *fs, u64 start, u64 len);
/* Is this block in use in the running transaction's view? (fsck, tests) */
bool vx_block_in_use(struct vx_fs *fs, u64 blocknr);

/* ---- Inodes ---- */

struct vx_inode_data {
	u64 ino;
	u32 mode, uid, gid, nlink;
	u64 size;
	u64 blocks;			/* fs blocks allocated */
	s64 atime_sec, mtime_sec, ctime_sec, crtime_sec;
	u32 atime_nsec, mtime_nsec, ctime_nsec, crtime_nsec;
	u64 generation;
	u64 data_version;
	u64 next_dir_index;
	u64 parent;			/* directories only */
	u32 rdev;
	u32 flags;
	u32 default_space;		/* directories: default vector space id */
	u32 auto_space;			/* directories: VX_AUTO_* or a space id */
};

int vx_inode_read(struct vx_fs *fs, u64 ino, struct vx_inode_data *out);
int vx_inode_write(struct vx_fs *fs, const struct vx_inode_data *in);
/* Assigns in->ino and in->generation, inserts the inode item. */
int vx_inode_create(struct vx_fs *fs, struct vx_inode_data *in);
/*
 * Remove an inode and everything it owns: extents (blocks freed), xattrs,
 * back references, directory entries if it is a directory, orphan record.
 */
int vx_inode_remove(struct vx_fs *fs, u64 ino);

/* ---- Directories ---- */

u64 vx_name_hash(const char *name, u32 len);
u8 vx_mode_to_ftype(u32 mode);
int vx_dir_lookup(struct vx_fs *fs, u64 dir, const char *name, u32 len,
		  u64 *ino, u8 *ftype);
/*
 * Add name -> ino.  Takes the next readdir index from dir->next_dir_index
 * and advances it; the caller writes the dir inode afterwards.  -EEXIST.
 */
int vx_dir_add(struct vx_fs *fs, struct vx_inode_data *dir, const char *name,
	       u32 len, u64 ino, u8 ftype);
int vx_dir_remove(struct vx_fs *fs, u64 dir, const char *name, u32 len);
/* Point an existing name at another inode (rename over a target). */
int vx_dir_set(struct vx_fs *fs, u64 dir, const char *name, u32 len,
	       u64 ino, u8 ftype);
/*
 * Emit entries with readdir index >= *pos in index order.  emit returns
 * non-zero to stop; *pos is then the index of the entry not consumed, else
 * one past the last.  Indexes start at 2 (0 and 1 are "." and "..").
 */
typedef int (*vx_dir_emit_t)(void *ctx, const char *name, u32 len, u64 ino,
			     u8 ftype, u64 index);
int vx_dir_iterate(struct vx_fs *fs, u64 dir, u64 *pos, vx_dir_emit_t emit,
		   void *ctx);
int vx_dir_is_empty(struct vx_fs *fs, u64 dir);	/* 1, 0, or -errno */

/*
 * ---- Back references ----
 *
 * Every name an inode has is recorded on the inode's side too, in its
 * INODE_REF item for that directory (the root has none).  vx_dir_add,
 * vx_dir_remove and vx_dir_set keep them in step with the directory
 * entries, in the same transaction.  Walks up the tree stop after
 * VX_REF_MAX_DEPTH directories with -ELOOP (only a damaged volume loops).
 */
#define VX_REF_MAX_DEPTH	4096

/*
 * One (parent, name) naming ino: the first of its lowest-numbered parent.
 * name needs VX_NAME_MAX + 1 bytes and is NUL terminated.  -ENOENT for the
 * root and for unlinked inodes.
 */
int vx_inode_ref_first(struct vx_fs *fs, u64 ino, u64 *parent, char *name,
		       u32 *name_len);
/*
 * 1 if ino lies beneath dir through any of its names (ino == dir counts),
 * 0 if not, -ELOOP, -errno.
 */
int vx_inode_is_beneath(struct vx_fs *fs, u64 ino, u64 dir);
/*
 * Path of ino relative to dir, "a/b/file", NUL terminated in buf (size
 * bytes); *len excludes the NUL; "" when ino == dir.  Uses the first name
 * in each directory, and the first directory naming ino from which dir is
 * reached.  -ENOENT if ino is not beneath dir, -ENAMETOOLONG if the path
 * does not fit, -ELOOP.
 */
int vx_inode_path(struct vx_fs *fs, u64 ino, u64 dir, char *buf, u32 size,
		  u32 *len);
/*
 * Repair (fsck): add or drop one name of ino's back reference from dir
 * without touching the directory.  -EEXIST / -ENOENT, -EMLINK.
 */
int vx_inode_ref_add(struct vx_fs *fs, u64 ino, u64 dir, const char *name,
		     u32 len);
int vx_inode_ref_del(struct vx_fs *fs, u64 ino, u64 dir, const char *name,
		     u32 len);

/* ---- Extents (file block -> disk block mapping) ---- */

struct vx_mapping {
	u64 disk_block;		/* 0 for a hole */
	u64 len;		/* blocks; for a hole, up to the next extent */
	u32 flags;		/* VX_EXTENT_UNWRITTEN */
};

#define VX_HOLE_TO_EOF	(~0ULL)

int vx_extent_map(struct vx_fs *fs, u64 ino, u64 fblock,
		  struct vx_mapping *out);
/*
 * Allocate blocks for the hole at fblock (up to want blocks, not beyond the
 * hole) and record the extent; updates inode->blocks (caller writes inode).
 */
int vx_extent_alloc(struct vx_fs *fs, struct vx_inode_data *inode, u64 fblock,
		    u64 want, u32 flags, struct vx_mapping *out);
/* Free the blocks of [start, end) (end may be VX_HOLE_TO_EOF). */
int vx_extent_punch(struct vx_fs *fs, struct vx_inode_data *inode, u64 start,
		    u64 end);
/* Clear VX_EXTENT_UNWRITTEN on [start, start + len). */
int vx_extent_mark_written(struct vx_fs *fs, u64 ino, u64 start, u64 len);

/* ---- Extended attributes (index = VX_XATTR_INDEX_*) ---- */

#define VX_XATTR_CREATE		0x1
#define VX_XATTR_REPLACE	0x2
u32 vx_xattr_max_value(const struct vx_fs *fs, u32 name_len);
/* Returns the value length, -ENODATA, or -ERANGE if size is too small. */
int vx_xattr_get(struct vx_fs *fs, u64 ino, u8 index, const char *name,
		 void *buf, u32 size);
/* value == NULL removes.  -EEXIST, -ENODATA, -E2BIG. */
int vx_xattr_set(struct vx_fs *fs, u64 ino, u8 index, const char *name,
		 const void *value, u32 size, int flags);
typedef int (*vx_xattr_emit_t)(void *ctx, u8 index, const char *name,
			       u32 name_len, u32 value_len);
int vx_xattr_list(struct vx_fs *fs, u64 ino, vx_xattr_emit_t emit, void *ctx);

/* ---- Orphans: unlinked inodes still open, reclaimed after a crash ---- */

int vx_orphan_add(struct vx_fs *fs, u64 ino);
int vx_orphan_del(struct vx_fs *fs, u64 ino);
/* Next orphan inode number > after; -ENOENT when none. */
int vx_orphan_next(struct vx_fs *fs, u64 after, u64 *ino);

#endif /* VX_CORE_H */
