/* SPDX-License-Identifier: GPL-2.0 */
/* Shared between the core's own files; not part of the core's API. */
#ifndef VX_INTERNAL_H
#define VX_INTERNAL_H

#include "vx_core.h"

#define VX_NR_TREES		3	/* index by VX_TREE_FS / VX_TREE_ALLOC */
#define VX_HDR_SIZE		((u32)sizeof(struct vx_node_header))
#define VX_ITEM_SIZE		((u32)sizeof(struct vx_item))
#define VX_ENTRY_SIZE		((u32)sizeof(struct vx_node_entry))

struct vx_vspace;

struct vx_node {
	u64 blocknr;
	u8 *data;
	u32 refs;
	bool dirty;		/* written by the running transaction */
	bool freed;		/* block freed: drop when the last ref goes */
	struct vx_node *hash_next;
	struct vx_node *lru_prev, *lru_next;	/* clean, unreferenced */
	struct vx_node *dirty_next, *dirty_prev;	/* born this txn */
};

struct vx_root {
	u64 blocknr;		/* 0: empty tree, no root node yet */
	u64 birth;
	u32 csum;
	u8 level;
};

struct vx_fs {
	const struct vx_dev_ops *ops;
	void *dev;
	unsigned int flags;
	u32 bs;
	u64 total_blocks;
	u64 device_bytes;
	struct vx_superblock sb;	/* last committed, as on disk */
	u64 txn;			/* running transaction */
	struct vx_root roots[VX_NR_TREES];
	u64 next_ino;
	u64 inode_count;
	bool dirty;
	bool force_commit;
	bool in_commit;		/* commit may use the reserve */
	u32 op_depth;		/* nested vx_op_begin: space checked once */
	u64 op_budget;		/* metadata blocks the outermost op reserved */
	u64 op_meta_start;	/* meta_allocated when it began */
	u64 meta_allocated;	/* metadata blocks allocated, ever (for the check) */
	u64 reserve_overruns;	/* ops that allocated more than they reserved */
	int failed;

	/* allocator: 1 bit per block */
	u8 *used;		/* in use in the running transaction's view */
	u8 *pinned;		/* freed this transaction: not reusable yet */
	u8 *group_dirty;	/* bitmap item must be rewritten */
	u8 *group_pinned;	/* group has pinned bits to clear at commit */
	u64 ngroups;
	u32 group_blocks;
	u64 used_count;
	u64 pinned_count;
	u64 ndirty_groups;
	u64 alloc_cursor;
	u64 data_cursor;
	u64 first_data_block;	/* after the reserved area */

	/* node cache */
	struct vx_node **hash;
	u32 hash_mask;
	u32 nr_nodes;
	u32 nr_dirty;
	u32 cache_limit;
	u64 ra_parent;		/* leaf read-ahead: parent node it last ran in */
	int ra_end;		/* and the last slot it covered there */
	struct vx_node lru;	/* list head */
	struct vx_node *dirty_list;

	u8 *scratch;		/* one block, for node rebuilds */
	u8 *scratch2;

	struct vx_vspace *vspaces;	/* loaded vector spaces (vx_vector.c) */
};

static inline struct vx_node_header *vx_hdr(const struct vx_node *n)
{
	return (struct vx_node_header *)n->data;
}

static inline u32 vx_nritems(const struct vx_node *n)
{
	return le16_to_cpu(vx_hdr(n)->nritems);
}

static inline u8 vx_level(const struct vx_node *n)
{
	return vx_hdr(n)->level;
}

static inline struct vx_item *vx_items(const struct vx_node *n)
{
	return (struct vx_item *)(n->data + VX_HDR_SIZE);
}

static inline struct vx_node_entry *vx_entries(const struct vx_node *n)
{
	return (struct vx_node_entry *)(n->data + VX_HDR_SIZE);
}

void vx_key_to_disk(struct vx_key *d, const struct vx_ckey *c);
void vx_key_from_disk(struct vx_ckey *c, const struct vx_key *d);
u32 vx_csum(const void *p, u32 len);

int vx_alloc_load(struct vx_fs *fs);
int vx_alloc_flush(struct vx_fs *fs);
void vx_alloc_commit_done(struct vx_fs *fs);

/*
 * Bracket a modification of up to nops tree operations.  The space needed in
 * the worst case is checked once, up front, so that a composite operation
 * either starts with room to finish or fails with -ENOSPC having changed
 * nothing.  Shrinking operations (deletes) may use a reserve that growing
 * ones may not, so a full volume can always be cleaned up.
 */
u64 vx_grow_reserve(const struct vx_fs *fs);
/* A failure after a composite operation changed something fails the volume. */
int vx_op_fail(struct vx_fs *fs, int err);
int vx_item_insert_shrink(struct vx_fs *fs, int tree, const struct vx_ckey *key,
			  const void *data, u32 size);
/* Block device / allocator internals shared with mkfs. */
int vx_fs_alloc_init(struct vx_fs *fs);
void vx_fs_free_mem(struct vx_fs *fs);
void vx_mark_used(struct vx_fs *fs, u64 start, u64 len);

int vx_inode_write_new(struct vx_fs *fs, const struct vx_inode_data *in);
/* Last item with key <= *at.  -ENOENT if none. */
int vx_item_prev(struct vx_fs *fs, int tree, const struct vx_ckey *at,
		 struct vx_ckey *found, void *buf, u32 bufsize, u32 *size);
int vx_btree_cache_init(struct vx_fs *fs);
void vx_btree_cache_destroy(struct vx_fs *fs);
int vx_btree_write_dirty(struct vx_fs *fs);
void vx_btree_commit_done(struct vx_fs *fs);

#endif
