// SPDX-License-Identifier: GPL-2.0
/*
 * Block allocator: one bit per block, kept whole in memory and persisted as
 * bitmap items in the alloc tree (one item per group of blocks).
 *
 * A block freed by the running transaction is still referenced by the last
 * commit, so it is "pinned": free in the bitmap that the next commit writes,
 * but not handed out again until that commit is on disk.
 */
#include "vx_internal.h"

static inline bool bit_test(const u8 *bm, u64 b)
{
	return bm[b >> 3] & (1U << (b & 7));
}

static inline void bit_set(u8 *bm, u64 b)
{
	bm[b >> 3] |= (u8)(1U << (b & 7));
}

static inline void bit_clear(u8 *bm, u64 b)
{
	bm[b >> 3] &= (u8)~(1U << (b & 7));
}

static void group_mark_dirty(struct vx_fs *fs, u64 block)
{
	u64 g = block / fs->group_blocks;

	if (!fs->group_dirty[g]) {
		fs->group_dirty[g] = 1;
		fs->ndirty_groups++;
	}
	fs->dirty = true;
}

/* Allocate the in-memory bitmaps for fs->total_blocks, all blocks free. */
int vx_fs_alloc_init(struct vx_fs *fs)
{
	u64 bits, b;

	fs->group_blocks = fs->bs / 4 * 8;
	fs->ngroups = (fs->total_blocks + fs->group_blocks - 1) / fs->group_blocks;
	bits = fs->ngroups * fs->group_blocks;
	fs->used = vx_zalloc(bits / 8);
	fs->pinned = vx_zalloc(bits / 8);
	fs->group_dirty = vx_zalloc(fs->ngroups);
	fs->group_pinned = vx_zalloc(fs->ngroups);
	if (!fs->used || !fs->pinned || !fs->group_dirty || !fs->group_pinned)
		return -ENOMEM;
	/* bits past the end of the volume read as used and are never counted */
	for (b = fs->total_blocks; b < bits; b++)
		bit_set(fs->used, b);
	fs->first_data_block = (VX_RESERVED_BYTES + fs->bs - 1) / fs->bs;
	fs->alloc_cursor = fs->first_data_block;
	fs->data_cursor = fs->first_data_block + (fs->total_blocks - fs->first_data_block) / 8;
	return 0;
}

void vx_mark_used(struct vx_fs *fs, u64 start, u64 len)
{
	u64 b;

	for (b = start; b < start + len && b < fs->total_blocks; b++) {
		if (!bit_test(fs->used, b)) {
			bit_set(fs->used, b);
			fs->used_count++;
			group_mark_dirty(fs, b);
		}
	}
}

/*
 * Blocks kept back from data so that metadata can still grow (creates,
 * xattrs) on a volume full of data, and deletes and commits always proceed.
 */
static u64 meta_reserve(const struct vx_fs *fs)
{
	u64 r = fs->total_blocks / 64;

	if (r < 64)
		r = 64;
	if (r > 8192)
		r = 8192;
	return r + vx_grow_reserve(fs);
}

static inline bool block_busy(const struct vx_fs *fs, u64 b)
{
	return bit_test(fs->used, b) || bit_test(fs->pinned, b);
}

/* First allocatable block in [from, to), or `to`. */
static u64 find_free(const struct vx_fs *fs, u64 from, u64 to)
{
	u64 b = from;

	while (b < to) {
		if (!(b & 7) && b + 8 <= to &&
		    (fs->used[b >> 3] | fs->pinned[b >> 3]) == 0xff) {
			b += 8;
			continue;
		}
		if (!block_busy(fs, b))
			return b;
		b++;
	}
	return to;
}

int vx_alloc_blocks(struct vx_fs *fs, u64 hint, u64 want, bool for_data,
		    u64 *start, u64 *got)
{
	u64 avail, reserve, b, n, lo = fs->first_data_block, hi = fs->total_blocks;

	if (fs->failed)
		return -EROFS;
	if (fs->flags & VX_OPEN_RDONLY)
		return -EROFS;
	if (!want)
		return -EINVAL;
	avail = fs->total_blocks - fs->used_count - fs->pinned_count;
	reserve = for_data ? meta_reserve(fs) : 0;
	if (avail <= reserve)
		return -ENOSPC;
	if (want > avail - reserve)
		want = avail - reserve;
	if (hint < lo || hint >= hi)
		hint = lo;
	b = find_free(fs, hint, hi);
	if (b >= hi)
		b = find_free(fs, lo, hint);
	if (b >= hi || block_busy(fs, b)) {
		vx_log_err("allocator: free count says %llu blocks but none found",
			   (unsigned long long)avail);
		return -EUCLEAN;
	}
	for (n = 1; n < want && b + n < hi && !block_busy(fs, b + n); n++)
		;
	vx_mark_used(fs, b, n);
	if (!for_data)
		fs->meta_allocated += n;
	*start = b;
	*got = n;
	return 0;
}

int vx_free_blocks(struct vx_fs *fs, u64 start, u64 len)
{
	u64 b;

	if (fs->failed)
		return -EROFS;
	if (fs->flags & VX_OPEN_RDONLY)
		return -EROFS;
	if (start < fs->first_data_block || start >= fs->total_blocks ||
	    len > fs->total_blocks - start) {
		vx_log_err("freeing blocks %llu+%llu outside the volume",
			   (unsigned long long)start, (unsigned long long)len);
		return -EUCLEAN;
	}
	for (b = start; b < start + len; b++) {
		if (!bit_test(fs->used, b)) {
			vx_log_err("freeing block %llu which is not in use",
				   (unsigned long long)b);
			return -EUCLEAN;
		}
	}
	for (b = start; b < start + len; b++) {
		bit_clear(fs->used, b);
		bit_set(fs->pinned, b);
		fs->group_pinned[b / fs->group_blocks] = 1;
		group_mark_dirty(fs, b);
	}
	fs->used_count -= len;
	fs->pinned_count += len;
	return 0;
}

bool vx_block_in_use(struct vx_fs *fs, u64 blocknr)
{
	if (blocknr >= fs->total_blocks)
		return false;
	return bit_test(fs->used, blocknr);
}

u64 vx_fs_free_blocks(const struct vx_fs *fs)
{
	u64 free = fs->total_blocks - fs->used_count - fs->pinned_count;
	u64 reserve = meta_reserve(fs);

	return free > reserve ? free - reserve : 0;
}

/* Load the bitmap items of the alloc tree into memory. */
int vx_alloc_load(struct vx_fs *fs)
{
	u32 bytes = fs->group_blocks / 8;
	u64 g, b;

	for (g = 0; g < fs->ngroups; g++) {
		struct vx_ckey key = { .objectid = 0, .type = VX_ITEM_ALLOC_BITMAP, .offset = g };
		u32 size;
		int err = vx_item_lookup(fs, VX_TREE_ALLOC, &key,
					 fs->used + g * bytes, bytes, &size);

		if (err == -ENOENT) {
			vx_log_err("free-space bitmap for group %llu is missing",
				   (unsigned long long)g);
			return -EUCLEAN;
		}
		if (err)
			return err;
		if (size != bytes) {
			vx_log_err("free-space bitmap for group %llu has size %u, expected %u",
				   (unsigned long long)g, size, bytes);
			return -EUCLEAN;
		}
	}
	fs->used_count = 0;
	for (b = 0; b + 64 <= fs->total_blocks; b += 64) {
		u64 w;

		memcpy(&w, fs->used + b / 8, 8);
		fs->used_count += vx_popcount64(w);
	}
	for (; b < fs->total_blocks; b++)
		if (bit_test(fs->used, b))
			fs->used_count++;
	for (b = fs->total_blocks; b < fs->ngroups * fs->group_blocks; b++)
		bit_set(fs->used, b);
	for (b = 0; b < fs->first_data_block; b++)
		if (!bit_test(fs->used, b)) {
			vx_log_err("reserved block %llu is marked free",
				   (unsigned long long)b);
			return -EUCLEAN;
		}
	return 0;
}

/*
 * Write the bitmap of every changed group into the alloc tree.  Doing so
 * copies alloc tree nodes, which allocates and frees blocks and so changes
 * more groups: repeat until nothing changes (a node already copied in this
 * transaction is modified in place, so this converges quickly).
 */
int vx_alloc_flush(struct vx_fs *fs)
{
	u32 bytes = fs->group_blocks / 8;
	int pass;

	for (pass = 0; pass < 64; pass++) {
		bool any = false;
		u64 g;

		for (g = 0; g < fs->ngroups; g++) {
			struct vx_ckey key = { .objectid = 0, .type = VX_ITEM_ALLOC_BITMAP, .offset = g };
			int err;

			if (!fs->group_dirty[g])
				continue;
			fs->group_dirty[g] = 0;
			fs->ndirty_groups--;
			any = true;
			err = vx_item_update(fs, VX_TREE_ALLOC, &key,
					     fs->used + g * bytes, bytes);
			if (err == -ENOENT)
				err = vx_item_insert(fs, VX_TREE_ALLOC, &key,
						     fs->used + g * bytes, bytes);
			if (err)
				return err;
		}
		if (!any)
			return 0;
	}
	vx_log_err("free-space bitmaps did not converge");
	return -EUCLEAN;
}

/* The commit is on disk: pinned blocks may be reused. */
void vx_alloc_commit_done(struct vx_fs *fs)
{
	u32 bytes = fs->group_blocks / 8;
	u64 g;

	for (g = 0; g < fs->ngroups; g++) {
		if (!fs->group_pinned[g])
			continue;
		memset(fs->pinned + g * bytes, 0, bytes);
		fs->group_pinned[g] = 0;
	}
	fs->pinned_count = 0;
}
