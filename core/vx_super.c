// SPDX-License-Identifier: GPL-2.0
/*
 * Superblocks, opening a volume, and the transaction commit.
 *
 * Commit order: (1) fold allocator changes into the alloc tree, (2) write
 * every node born in this transaction, children first, (3) flush the
 * device, (4) write the superblock slot (generation % 2) with preflush+FUA.
 * Until (4) completes the previous superblock still describes a complete,
 * untouched tree, because nothing it references was overwritten or reused.
 */
#include "vx_internal.h"
#include "vx_vector.h"

static const u64 sb_offsets[VX_SB_SLOTS] = { VX_SB_OFFSET_0, VX_SB_OFFSET_1 };

static u32 sb_csum(const struct vx_superblock *sb)
{
	return vx_csum((const u8 *)sb + 4, VX_SB_SIZE - 4);
}

static bool valid_block_size(u32 bs)
{
	return bs >= VX_MIN_BLOCK_SIZE && bs <= VX_MAX_BLOCK_SIZE && !(bs & (bs - 1));
}

static u64 min_blocks(u32 bs)
{
	/* reserved area plus room for trees and a little data */
	return (VX_RESERVED_BYTES + bs - 1) / bs + 256;
}

int vx_super_check(const struct vx_superblock *sb, u64 device_bytes,
		   const char **msg)
{
	u32 bs = le32_to_cpu(sb->block_size);
	u64 total = le64_to_cpu(sb->total_blocks);
	u64 first;

	if (memcmp(sb->magic, VX_MAGIC, VX_MAGIC_LEN)) {
		*msg = "no VexFS superblock (bad magic)";
		return -EINVAL;
	}
	if (le32_to_cpu(sb->csum) != sb_csum(sb)) {
		*msg = "superblock checksum mismatch";
		return -EUCLEAN;
	}
	if (le32_to_cpu(sb->version) != VX_FORMAT_VERSION) {
		*msg = "unsupported format version";
		return -EOPNOTSUPP;
	}
	if (le64_to_cpu(sb->feature_incompat) & ~VX_FEATURE_INCOMPAT_SUPP) {
		*msg = "unknown incompatible features";
		return -EOPNOTSUPP;
	}
	if (!valid_block_size(bs)) {
		*msg = "invalid block size";
		return -EUCLEAN;
	}
	if (le32_to_cpu(sb->alloc_group_blocks) != bs / 4 * 8) {
		*msg = "invalid allocation group size";
		return -EUCLEAN;
	}
	first = (VX_RESERVED_BYTES + bs - 1) / bs;
	if (total < min_blocks(bs) || total > (1ULL << 48)) {
		*msg = "invalid volume size";
		return -EUCLEAN;
	}
	if (device_bytes && total > device_bytes / bs) {
		*msg = "volume is larger than the device";
		return -EINVAL;
	}
	if (le64_to_cpu(sb->free_blocks) > total) {
		*msg = "free block count larger than the volume";
		return -EUCLEAN;
	}
	if (le64_to_cpu(sb->slot) >= VX_SB_SLOTS) {
		*msg = "invalid superblock slot";
		return -EUCLEAN;
	}
	if (le64_to_cpu(sb->fs_root.blocknr) < first ||
	    le64_to_cpu(sb->fs_root.blocknr) >= total ||
	    le64_to_cpu(sb->alloc_root.blocknr) < first ||
	    le64_to_cpu(sb->alloc_root.blocknr) >= total) {
		*msg = "tree root outside the volume";
		return -EUCLEAN;
	}
	if (sb->fs_root_level >= VX_MAX_LEVELS || sb->alloc_root_level >= VX_MAX_LEVELS) {
		*msg = "invalid tree height";
		return -EUCLEAN;
	}
	if (le64_to_cpu(sb->fs_root.birth) > le64_to_cpu(sb->generation) ||
	    le64_to_cpu(sb->alloc_root.birth) > le64_to_cpu(sb->generation)) {
		*msg = "tree root born after the superblock";
		return -EUCLEAN;
	}
	if (le64_to_cpu(sb->feature_ro_compat) & ~VX_FEATURE_RO_COMPAT_SUPP) {
		*msg = "unknown read-only-compatible features";
		return 1;
	}
	*msg = NULL;
	return 0;
}

static void fs_destroy(struct vx_fs *fs)
{
	if (!fs)
		return;
	vx_btree_cache_destroy(fs);
	vx_free(fs->used);
	vx_free(fs->pinned);
	vx_free(fs->group_dirty);
	vx_free(fs->group_pinned);
	vx_free(fs->scratch);
	vx_free(fs->scratch2);
	vx_free(fs);
}

static int fs_alloc(struct vx_fs **out, const struct vx_dev_ops *ops, void *dev,
		    u32 bs, u64 total_blocks)
{
	struct vx_fs *fs = vx_zalloc(sizeof(*fs));
	int err;

	if (!fs)
		return -ENOMEM;
	fs->ops = ops;
	fs->dev = dev;
	fs->bs = bs;
	fs->total_blocks = total_blocks;
	fs->scratch = vx_malloc(bs);
	fs->scratch2 = vx_malloc(bs);
	err = (fs->scratch && fs->scratch2) ? 0 : -ENOMEM;
	if (!err)
		err = vx_btree_cache_init(fs);
	if (!err)
		err = vx_fs_alloc_init(fs);
	if (!err && ops->set_block_size)
		err = ops->set_block_size(dev, bs);
	if (err) {
		fs_destroy(fs);
		return err;
	}
	*out = fs;
	return 0;
}

static void roots_from_super(struct vx_fs *fs)
{
	const struct vx_superblock *sb = &fs->sb;

	fs->roots[VX_TREE_FS].blocknr = le64_to_cpu(sb->fs_root.blocknr);
	fs->roots[VX_TREE_FS].birth = le64_to_cpu(sb->fs_root.birth);
	fs->roots[VX_TREE_FS].csum = le32_to_cpu(sb->fs_root.csum);
	fs->roots[VX_TREE_FS].level = sb->fs_root_level;
	fs->roots[VX_TREE_ALLOC].blocknr = le64_to_cpu(sb->alloc_root.blocknr);
	fs->roots[VX_TREE_ALLOC].birth = le64_to_cpu(sb->alloc_root.birth);
	fs->roots[VX_TREE_ALLOC].csum = le32_to_cpu(sb->alloc_root.csum);
	fs->roots[VX_TREE_ALLOC].level = sb->alloc_root_level;
}

static void put_root(struct vx_blockptr *p, u8 *level, const struct vx_root *r)
{
	p->blocknr = cpu_to_le64(r->blocknr);
	p->birth = cpu_to_le64(r->birth);
	p->csum = cpu_to_le32(r->csum);
	p->pad = 0;
	*level = r->level;
}

int vx_fs_open(struct vx_fs **out, const struct vx_dev_ops *ops, void *dev,
	       u64 device_bytes, unsigned int flags)
{
	struct vx_superblock sbs[VX_SB_SLOTS];
	const char *msgs[VX_SB_SLOTS];
	int rets[VX_SB_SLOTS], best = -1, i, err;
	struct vx_fs *fs;

	for (i = 0; i < VX_SB_SLOTS; i++) {
		err = ops->read_super(dev, sb_offsets[i], &sbs[i], sizeof(sbs[i]));
		if (err) {
			rets[i] = err;
			msgs[i] = "read error";
			continue;
		}
		rets[i] = vx_super_check(&sbs[i], device_bytes, &msgs[i]);
		/*
		 * A slot with a valid checksum but features we do not know is
		 * still a candidate: if it is the newest, we must refuse rather
		 * than fall back to an older commit and overwrite it.
		 */
		if (rets[i] == 0 || rets[i] == 1 || rets[i] == -EOPNOTSUPP) {
			if (best < 0 || le64_to_cpu(sbs[i].generation) >
					le64_to_cpu(sbs[best].generation))
				best = i;
		}
	}
	if (best < 0) {
		/* prefer the most telling reason: not-vexfs only if both say so */
		i = rets[0] == -EINVAL && rets[1] != -EINVAL ? 1 : 0;
		vx_log_err("no valid superblock: slot 0: %s; slot 1: %s",
			   msgs[0], msgs[1]);
		return rets[i] == -EINVAL && rets[1 - i] == -EINVAL ? -EINVAL :
		       rets[i] < 0 ? rets[i] : -EUCLEAN;
	}
	for (i = 0; i < VX_SB_SLOTS; i++)
		if (i != best && rets[i] && rets[i] != 1 && rets[i] != -EINVAL)
			vx_log_warn("superblock slot %d unusable (%s); using slot %d",
				    i, msgs[i], best);
	if (rets[best] == -EOPNOTSUPP) {
		vx_log_err("%s: refusing to open", msgs[best]);
		return -EOPNOTSUPP;
	}
	if (rets[best] == 1 && !(flags & VX_OPEN_RDONLY)) {
		vx_log_err("volume has unknown read-only-compatible features: read-only access only");
		return -EROFS;
	}
	err = fs_alloc(&fs, ops, dev, le32_to_cpu(sbs[best].block_size),
		       le64_to_cpu(sbs[best].total_blocks));
	if (err)
		return err;
	fs->flags = flags;
	fs->device_bytes = device_bytes;
	fs->sb = sbs[best];
	fs->txn = le64_to_cpu(fs->sb.generation) + 1;
	fs->next_ino = le64_to_cpu(fs->sb.next_ino);
	fs->inode_count = le64_to_cpu(fs->sb.inode_count);
	roots_from_super(fs);
	err = vx_alloc_load(fs);
	if (err && (flags & VX_OPEN_NOVERIFY)) {
		/*
		 * Inspection of a volume whose bitmaps are unreadable: claim
		 * every block is in use, and allow no change at all.
		 */
		memset(fs->used, 0xff, fs->ngroups * fs->group_blocks / 8);
		fs->used_count = fs->total_blocks;
		fs->flags |= VX_OPEN_RDONLY;
	}
	if (!err && fs->total_blocks - fs->used_count != le64_to_cpu(fs->sb.free_blocks)) {
		vx_log_err("free block count %llu disagrees with the bitmaps (%llu)",
			   (unsigned long long)le64_to_cpu(fs->sb.free_blocks),
			   (unsigned long long)(fs->total_blocks - fs->used_count));
		err = -EUCLEAN;
	}
	if (!err) {
		/* the fs tree's root must be readable for the volume to be usable */
		struct vx_ckey k = { 0, 0, 0 };
		struct vx_ckey found;

		err = vx_item_next(fs, VX_TREE_FS, &k, &found, NULL, 0, NULL);
		if (err == -ENOENT)
			err = 0;
	}
	if (err && !(flags & VX_OPEN_NOVERIFY)) {
		fs_destroy(fs);
		return err;
	}

	memset(fs->group_dirty, 0, fs->ngroups);
	fs->ndirty_groups = 0;
	fs->dirty = false;
	*out = fs;
	return 0;
}

void vx_fs_close(struct vx_fs *fs)
{
	if (fs)
		vx_space_unload_all(fs);
	fs_destroy(fs);
}

bool vx_fs_dirty(const struct vx_fs *fs)
{
	return fs->dirty;
}

int vx_fs_commit(struct vx_fs *fs)
{
	struct vx_superblock sb;
	int slot, err;

	if (fs->failed)
		return -EROFS;
	if (fs->flags & VX_OPEN_RDONLY)
		return fs->dirty ? -EROFS : 0;
	if (!fs->dirty && !fs->force_commit)
		return 0;
	fs->in_commit = true;
	err = vx_alloc_flush(fs);
	fs->in_commit = false;
	if (!err)
		err = vx_btree_write_dirty(fs);
	if (!err)
		err = fs->ops->flush(fs->dev);
	if (err)
		goto failed;

	sb = fs->sb;
	slot = fs->txn % VX_SB_SLOTS;
	sb.generation = cpu_to_le64(fs->txn);
	sb.slot = cpu_to_le64(slot);
	sb.free_blocks = cpu_to_le64(fs->total_blocks - fs->used_count);
	sb.next_ino = cpu_to_le64(fs->next_ino);
	sb.inode_count = cpu_to_le64(fs->inode_count);
	sb.commit_time = cpu_to_le64(vx_now_ns() / 1000000000ULL);
	put_root(&sb.fs_root, &sb.fs_root_level, &fs->roots[VX_TREE_FS]);
	put_root(&sb.alloc_root, &sb.alloc_root_level, &fs->roots[VX_TREE_ALLOC]);
	sb.csum = cpu_to_le32(sb_csum(&sb));
	err = fs->ops->write_super(fs->dev, sb_offsets[slot], &sb, sizeof(sb));
	if (err)
		goto failed;

	fs->sb = sb;
	vx_alloc_commit_done(fs);
	vx_btree_commit_done(fs);
	fs->txn++;
	fs->dirty = false;
	fs->force_commit = false;
	return 0;
failed:
	vx_log_err("commit of transaction %llu failed (%d); the volume keeps its previous state",
		   (unsigned long long)fs->txn, err);
	if (!fs->failed)
		fs->failed = err;
	return err;
}

int vx_fs_failed(const struct vx_fs *fs)
{
	return fs->failed;
}

void vx_fs_set_failed(struct vx_fs *fs, int err)
{
	if (!fs->failed)
		fs->failed = err ? err : -EIO;
}

const struct vx_superblock *vx_fs_super(const struct vx_fs *fs)
{
	return &fs->sb;
}

u32 vx_fs_block_size(const struct vx_fs *fs)
{
	return fs->bs;
}

u64 vx_fs_total_blocks(const struct vx_fs *fs)
{
	return fs->total_blocks;
}

u64 vx_fs_inode_count(const struct vx_fs *fs)
{
	return fs->inode_count;
}

u64 vx_fs_generation(const struct vx_fs *fs)
{
	return fs->txn;
}

int vx_mkfs(const struct vx_dev_ops *ops, void *dev,
	    const struct vx_mkfs_params *p)
{
	struct vx_inode_data root;
	struct vx_fs *fs;
	struct vx_superblock *sb;
	int err;

	if (!valid_block_size(p->block_size))
		return -EINVAL;
	if (p->total_blocks < min_blocks(p->block_size) || p->total_blocks > (1ULL << 48))
		return -EINVAL;
	err = fs_alloc(&fs, ops, dev, p->block_size, p->total_blocks);
	if (err)
		return err;
	sb = &fs->sb;
	memcpy(sb->magic, VX_MAGIC, VX_MAGIC_LEN);
	sb->version = cpu_to_le32(VX_FORMAT_VERSION);
	memcpy(sb->uuid, p->uuid, VX_UUID_LEN);
	memcpy(sb->label, p->label, VX_LABEL_LEN);
	sb->label[VX_LABEL_LEN - 1] = 0;
	sb->block_size = cpu_to_le32(p->block_size);
	sb->alloc_group_blocks = cpu_to_le32(fs->group_blocks);
	sb->total_blocks = cpu_to_le64(p->total_blocks);
	sb->mkfs_time = cpu_to_le64(p->now_ns / 1000000000ULL);
	fs->txn = 1;
	fs->next_ino = VX_FIRST_INO;
	vx_mark_used(fs, 0, fs->first_data_block);
	/* every group's bitmap item must exist from the start */
	memset(fs->group_dirty, 1, fs->ngroups);
	fs->ndirty_groups = fs->ngroups;

	memset(&root, 0, sizeof(root));
	root.ino = VX_ROOT_INO;
	root.mode = 0040755;
	root.uid = p->root_uid;
	root.gid = p->root_gid;
	root.nlink = 2;
	root.atime_sec = root.mtime_sec = root.ctime_sec = root.crtime_sec =
		p->now_ns / 1000000000ULL;
	root.atime_nsec = root.mtime_nsec = root.ctime_nsec = root.crtime_nsec =
		p->now_ns % 1000000000ULL;
	root.generation = 1;
	root.next_dir_index = 2;
	root.parent = VX_ROOT_INO;
	err = vx_inode_write_new(fs, &root);
	if (!err) {
		fs->inode_count = 1;
		err = vx_fs_commit(fs);
	}
	if (!err) {
		/* write the other slot too, so no stale superblock survives */
		fs->force_commit = true;
		err = vx_fs_commit(fs);
	}
	fs_destroy(fs);
	return err;
}
