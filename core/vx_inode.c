// SPDX-License-Identifier: GPL-2.0
/*
 * File system objects as B-tree items: inodes, directory entries, extents,
 * extended attributes and orphan records.  See docs/FORMAT.md for the keys.
 */
#include "vx_internal.h"
#include "vx_vector.h"

#define S_IFMT_		0170000
#define S_IFDIR_	0040000
#define S_IFREG_	0100000
#define S_IFLNK_	0120000
#define S_IFCHR_	0020000
#define S_IFBLK_	0060000
#define S_IFIFO_	0010000
#define S_IFSOCK_	0140000

static void ts_to_disk(struct vx_timespec *d, s64 sec, u32 nsec)
{
	d->sec = cpu_to_le64((u64)sec);
	d->nsec = cpu_to_le32(nsec);
	d->pad = 0;
}

static void inode_to_disk(struct vx_inode_item *d, const struct vx_inode_data *c)
{
	memset(d, 0, sizeof(*d));
	d->mode = cpu_to_le32(c->mode);
	d->uid = cpu_to_le32(c->uid);
	d->gid = cpu_to_le32(c->gid);
	d->nlink = cpu_to_le32(c->nlink);
	d->size = cpu_to_le64(c->size);
	d->blocks = cpu_to_le64(c->blocks);
	ts_to_disk(&d->atime, c->atime_sec, c->atime_nsec);
	ts_to_disk(&d->mtime, c->mtime_sec, c->mtime_nsec);
	ts_to_disk(&d->ctime, c->ctime_sec, c->ctime_nsec);
	ts_to_disk(&d->crtime, c->crtime_sec, c->crtime_nsec);
	d->generation = cpu_to_le64(c->generation);
	d->data_version = cpu_to_le64(c->data_version);
	d->next_dir_index = cpu_to_le64(c->next_dir_index);
	d->parent = cpu_to_le64(c->parent);
	d->rdev = cpu_to_le32(c->rdev);
	d->flags = cpu_to_le32(c->flags);
	d->default_space = cpu_to_le32(c->default_space);
	d->auto_space = cpu_to_le32(c->auto_space);
}

static void inode_from_disk(struct vx_inode_data *c, u64 ino,
			    const struct vx_inode_item *d)
{
	c->ino = ino;
	c->mode = le32_to_cpu(d->mode);
	c->uid = le32_to_cpu(d->uid);
	c->gid = le32_to_cpu(d->gid);
	c->nlink = le32_to_cpu(d->nlink);
	c->size = le64_to_cpu(d->size);
	c->blocks = le64_to_cpu(d->blocks);
	c->atime_sec = (s64)le64_to_cpu(d->atime.sec);
	c->atime_nsec = le32_to_cpu(d->atime.nsec);
	c->mtime_sec = (s64)le64_to_cpu(d->mtime.sec);
	c->mtime_nsec = le32_to_cpu(d->mtime.nsec);
	c->ctime_sec = (s64)le64_to_cpu(d->ctime.sec);
	c->ctime_nsec = le32_to_cpu(d->ctime.nsec);
	c->crtime_sec = (s64)le64_to_cpu(d->crtime.sec);
	c->crtime_nsec = le32_to_cpu(d->crtime.nsec);
	c->generation = le64_to_cpu(d->generation);
	c->data_version = le64_to_cpu(d->data_version);
	c->next_dir_index = le64_to_cpu(d->next_dir_index);
	c->parent = le64_to_cpu(d->parent);
	c->rdev = le32_to_cpu(d->rdev);
	c->flags = le32_to_cpu(d->flags);
	c->default_space = le32_to_cpu(d->default_space);
	c->auto_space = le32_to_cpu(d->auto_space);
}

static void inode_key(struct vx_ckey *k, u64 ino)
{
	k->objectid = ino;
	k->type = VX_ITEM_INODE;
	k->offset = 0;
}

int vx_inode_read(struct vx_fs *fs, u64 ino, struct vx_inode_data *out)
{
	struct vx_inode_item item;
	struct vx_ckey k;
	u32 size;
	int err;

	if (ino == 0 || ino >= VX_SPACE_OBJID_BASE)
		return -ENOENT;
	inode_key(&k, ino);
	err = vx_item_lookup(fs, VX_TREE_FS, &k, &item, sizeof(item), &size);
	if (err)
		return err;
	if (size != sizeof(item)) {
		vx_log_err("inode %llu: item has size %u, expected %u",
			   (unsigned long long)ino, size, (u32)sizeof(item));
		return -EUCLEAN;
	}
	inode_from_disk(out, ino, &item);
	if (vx_mode_to_ftype(out->mode) == VX_FT_UNKNOWN || out->size > VX_MAX_FILE_SIZE) {
		vx_log_err("inode %llu: invalid mode 0%o or size",
			   (unsigned long long)ino, out->mode);
		return -EUCLEAN;
	}
	return 0;
}

int vx_inode_write(struct vx_fs *fs, const struct vx_inode_data *in)
{
	struct vx_inode_item item;
	struct vx_ckey k;

	inode_key(&k, in->ino);
	inode_to_disk(&item, in);
	return vx_item_update(fs, VX_TREE_FS, &k, &item, sizeof(item));
}

int vx_inode_write_new(struct vx_fs *fs, const struct vx_inode_data *in)
{
	struct vx_inode_item item;
	struct vx_ckey k;

	inode_key(&k, in->ino);
	inode_to_disk(&item, in);
	return vx_item_insert(fs, VX_TREE_FS, &k, &item, sizeof(item));
}

int vx_inode_create(struct vx_fs *fs, struct vx_inode_data *in)
{
	int err;

	/* above the inode range live spaces' and orphans' object ids */
	if (fs->next_ino >= VX_SPACE_OBJID_BASE)
		return -ENOSPC;
	in->ino = fs->next_ino;
	in->generation = fs->txn;
	err = vx_inode_write_new(fs, in);
	if (err)
		return err;
	fs->next_ino++;
	fs->inode_count++;
	return 0;
}

/*
 * Removal is not one atomic step (a file may own any number of items), so it
 * is made safe to interrupt instead: the inode is first recorded as an
 * orphan, its items go next, and the inode item and orphan record last.  If
 * it stops half way (-ENOSPC), the orphan record makes the next mount (or a
 * later retry) finish the job, and fsck knows a half-removed orphan is fine.
 */
int vx_inode_remove(struct vx_fs *fs, u64 ino)
{
	struct vx_ckey k = { .objectid = ino, .type = VX_ITEM_INODE, .offset = 0 }, found;
	struct vx_extent_item ext;
	u32 size;
	int err;

	if (ino == VX_ROOT_INO)
		return -EPERM;
	err = vx_item_lookup(fs, VX_TREE_FS, &k, NULL, 0, NULL);
	if (err)
		return err;
	err = vx_orphan_add(fs, ino);
	if (err)
		return err;
	/* embeddings first: their vectors and graph live outside the inode */
	err = vx_embed_remove_inode(fs, ino);
	if (!err)
		err = vx_stale_remove_inode(fs, ino);
	if (err)
		return err;
	/* then every other item keyed by ino: xattrs, extents, back references */
	k.type = VX_ITEM_INODE + 1;
	for (;;) {
		err = vx_item_next(fs, VX_TREE_FS, &k, &found, &ext, sizeof(ext), &size);
		if (err == -ENOENT || (!err && found.objectid != ino))
			break;
		if (err)
			return err;
		err = vx_op_begin(fs, 1, true);
		if (err)
			return err;
		err = vx_item_delete(fs, VX_TREE_FS, &found);
		if (!err && found.type == VX_ITEM_EXTENT) {
			if (size != sizeof(ext))
				err = -EUCLEAN;
			else
				err = vx_free_blocks(fs, le64_to_cpu(ext.disk_block),
						     le64_to_cpu(ext.len));
		}
		vx_op_end(fs);
		if (err)
			return vx_op_fail(fs, err);
		k = found;
		vx_cond_resched();
	}
	err = vx_op_begin(fs, 2, true);
	if (err)
		return err;
	k.type = VX_ITEM_INODE;
	k.offset = 0;
	err = vx_item_delete(fs, VX_TREE_FS, &k);
	if (!err)
		err = vx_orphan_del(fs, ino);
	vx_op_end(fs);
	if (err)
		return vx_op_fail(fs, err);
	if (fs->inode_count)
		fs->inode_count--;
	return 0;
}

/* ---------------------------------------------------------------- dirs */

u64 vx_name_hash(const char *name, u32 len)
{
	u64 h = 0xcbf29ce484222325ULL;
	u32 i;

	for (i = 0; i < len; i++) {
		h ^= (u8)name[i];
		h *= 0x100000001b3ULL;
	}
	/* final avalanche so similar names spread across leaves */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

u8 vx_mode_to_ftype(u32 mode)
{
	switch (mode & S_IFMT_) {
	case S_IFREG_: return VX_FT_REG;
	case S_IFDIR_: return VX_FT_DIR;
	case S_IFCHR_: return VX_FT_CHR;
	case S_IFBLK_: return VX_FT_BLK;
	case S_IFIFO_: return VX_FT_FIFO;
	case S_IFSOCK_: return VX_FT_SOCK;
	case S_IFLNK_: return VX_FT_LNK;
	}
	return VX_FT_UNKNOWN;
}

#define DHDR ((u32)sizeof(struct vx_dirent_hdr))

struct dent {
	u64 ino, index;
	u32 name_len;
	u8 ftype;
	const char *name;
	u32 off, len;		/* position of the whole entry in the item */
};

/* Decode entry at *off of a DIRENT/DIRINDEX item; false at end or if bad. */
static bool dent_next(const u8 *buf, u32 size, u32 *off, struct dent *d)
{
	const u8 *h;

	if (*off + DHDR > size)
		return false;
	/* entries are packed back to back: no alignment, read by offset */
	h = buf + *off;
	d->ino = vx_get_unaligned_le64(h + offsetof(struct vx_dirent_hdr, ino));
	d->index = vx_get_unaligned_le64(h + offsetof(struct vx_dirent_hdr, index));
	d->name_len = vx_get_unaligned_le16(h + offsetof(struct vx_dirent_hdr, name_len));
	d->ftype = h[offsetof(struct vx_dirent_hdr, ftype)];
	if (d->name_len == 0 || d->name_len > VX_NAME_MAX ||
	    *off + DHDR + d->name_len > size)
		return false;
	d->name = (const char *)buf + *off + DHDR;
	d->off = *off;
	d->len = DHDR + d->name_len;
	*off += d->len;
	return true;
}

static u32 dent_put(u8 *buf, u64 ino, u64 index, u8 ftype, const char *name, u32 len)
{
	struct vx_dirent_hdr h;

	memset(&h, 0, sizeof(h));
	h.ino = cpu_to_le64(ino);
	h.index = cpu_to_le64(index);
	h.name_len = cpu_to_le16(len);
	h.ftype = ftype;
	memcpy(buf, &h, DHDR);
	memcpy(buf + DHDR, name, len);
	return DHDR + len;
}

static int check_name(u32 len)
{
	if (len == 0)
		return -EINVAL;
	if (len > VX_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* Find name in the DIRENT item; buf receives the item (vx_max_item_size). */
static int dirent_find(struct vx_fs *fs, u64 dir, const char *name, u32 len,
		       u8 *buf, u32 *size, struct dent *d)
{
	struct vx_ckey k = { .objectid = dir, .type = VX_ITEM_DIRENT,
			     .offset = vx_name_hash(name, len) };
	u32 off = 0;
	int err = vx_item_lookup(fs, VX_TREE_FS, &k, buf, vx_max_item_size(fs), size);

	if (err)
		return err;
	if (*size > vx_max_item_size(fs))
		return -EUCLEAN;
	while (dent_next(buf, *size, &off, d))
		if (d->name_len == len && !memcmp(d->name, name, len))
			return 0;
	if (off != *size) {
		vx_log_err("directory %llu: corrupt entry list", (unsigned long long)dir);
		return -EUCLEAN;
	}
	return -ENOENT;
}

int vx_dir_lookup(struct vx_fs *fs, u64 dir, const char *name, u32 len,
		  u64 *ino, u8 *ftype)
{
	struct dent d;
	u32 size;
	u8 *buf;
	int err = check_name(len);

	if (err)
		return err;
	buf = vx_malloc(fs->bs);
	if (!buf)
		return -ENOMEM;
	err = dirent_find(fs, dir, name, len, buf, &size, &d);
	if (!err) {
		*ino = d.ino;
		if (ftype)
			*ftype = d.ftype;
	}
	vx_free(buf);
	return err;
}

/* ------------------------------------------------------- back references */

#define RHDR ((u32)sizeof(struct vx_inode_ref))

/* Decode the name at *off of an INODE_REF item; false at the end or if bad. */
static bool ref_next(const u8 *buf, u32 size, u32 *off, const char **name,
		     u32 *len)
{
	u32 n;

	if (*off + RHDR > size)
		return false;
	n = vx_get_unaligned_le16(buf + *off);
	if (n == 0 || n > VX_NAME_MAX || *off + RHDR + n > size)
		return false;
	*name = (const char *)buf + *off + RHDR;
	*len = n;
	*off += RHDR + n;
	return true;
}

/*
 * One INODE_REF item as it must become.  Directory operations prepare every
 * change before they touch the tree, so a corrupt or full ref item fails
 * the operation while nothing has changed yet.
 */
struct ref_change {
	struct vx_ckey key;
	u8 *buf;		/* new contents (vx_max_item_size bytes) */
	u32 size;		/* 0: delete the item */
	bool exists;		/* on disk now: update or delete, else insert */
	bool skip;		/* nothing to write */
};

/*
 * Load the ref item (ino, dir) into rc->buf and find name in it.  Returns
 * the entry's offset, -ENOENT if the item or the name is absent (rc->size
 * is then the item's size, 0 if absent), or -EUCLEAN.
 */
static int ref_load(struct vx_fs *fs, struct ref_change *rc, u64 ino, u64 dir,
		    const char *name, u32 len)
{
	const char *n;
	u32 off = 0, at, nlen;
	int err;

	rc->key.objectid = ino;
	rc->key.type = VX_ITEM_INODE_REF;
	rc->key.offset = dir;
	rc->exists = false;
	rc->skip = false;
	rc->size = 0;
	err = vx_item_lookup(fs, VX_TREE_FS, &rc->key, rc->buf,
			     vx_max_item_size(fs), &rc->size);
	if (err == -ENOENT) {
		rc->size = 0;
		return -ENOENT;
	}
	if (err)
		return err;
	rc->exists = true;
	if (rc->size > vx_max_item_size(fs))
		goto corrupt;
	for (;;) {
		at = off;
		if (!ref_next(rc->buf, rc->size, &off, &n, &nlen))
			break;
		if (nlen == len && !memcmp(n, name, len))
			return (int)at;
	}
	if (off == rc->size)
		return -ENOENT;
corrupt:
	vx_log_err("inode %llu: corrupt back reference from directory %llu",
		   (unsigned long long)ino, (unsigned long long)dir);
	return -EUCLEAN;
}

/* Prepare "dir names ino as name" in rc. */
static int ref_prepare_add(struct vx_fs *fs, struct ref_change *rc, u64 ino,
			   u64 dir, const char *name, u32 len)
{
	int ret = ref_load(fs, rc, ino, dir, name, len);

	if (ret >= 0) {
		/* only a damaged volume has it already: keep one copy */
		rc->skip = true;
		return 0;
	}
	if (ret != -ENOENT)
		return ret;
	/* btrfs answers the same way when one item cannot hold more links */
	if (rc->size + RHDR + len > vx_max_item_size(fs))
		return -EMLINK;
	vx_put_unaligned_le16((u16)len, rc->buf + rc->size);
	memcpy(rc->buf + rc->size + RHDR, name, len);
	rc->size += RHDR + len;
	return 0;
}

/* Prepare "dir no longer names ino as name" in rc. */
static int ref_prepare_del(struct vx_fs *fs, struct ref_change *rc, u64 ino,
			   u64 dir, const char *name, u32 len)
{
	int ret = ref_load(fs, rc, ino, dir, name, len);
	u32 at;

	if (ret == -ENOENT) {
		/* damaged volume: the name goes anyway; fsck reports the rest */
		vx_log_warn("inode %llu: no back reference for its name in directory %llu; run fsck.vexfs",
			    (unsigned long long)ino, (unsigned long long)dir);
		rc->skip = true;
		return 0;
	}
	if (ret < 0)
		return ret;
	at = (u32)ret;
	memmove(rc->buf + at, rc->buf + at + RHDR + len,
		rc->size - at - RHDR - len);
	rc->size -= RHDR + len;
	return 0;
}

/* Write a prepared change: one tree operation at most. */
static int ref_apply(struct vx_fs *fs, const struct ref_change *rc)
{
	if (rc->skip)
		return 0;
	if (!rc->exists)
		return vx_item_insert(fs, VX_TREE_FS, &rc->key, rc->buf, rc->size);
	if (rc->size)
		return vx_item_update(fs, VX_TREE_FS, &rc->key, rc->buf, rc->size);
	return vx_item_delete(fs, VX_TREE_FS, &rc->key);
}

/*
 * The first ref item of ino whose parent is >= from_parent: *parent gets the
 * directory; buf (bufsize bytes, may be NULL) the start of the item.
 * -ENOENT when there is none.
 */
static int ref_item_from(struct vx_fs *fs, u64 ino, u64 from_parent,
			 u64 *parent, u8 *buf, u32 bufsize, u32 *size)
{
	struct vx_ckey k = { .objectid = ino, .type = VX_ITEM_INODE_REF,
			     .offset = from_parent };
	struct vx_ckey found;
	int err;

	err = vx_item_next(fs, VX_TREE_FS, &k, &found, buf, bufsize, size);
	if (err)
		return err;
	if (found.objectid != ino || found.type != VX_ITEM_INODE_REF)
		return -ENOENT;
	*parent = found.offset;
	return 0;
}

/* Enough of a ref item for its first name. */
#define REF_FIRST_BYTES	(RHDR + VX_NAME_MAX)

/* The first name of a ref item read (possibly truncated) into buf. */
static int ref_first_name(const u8 *buf, u32 size, u64 ino, const char **name,
			  u32 *len)
{
	u32 off = 0;

	if (ref_next(buf, size < REF_FIRST_BYTES ? size : REF_FIRST_BYTES,
		     &off, name, len))
		return 0;
	vx_log_err("inode %llu: corrupt back reference",
		   (unsigned long long)ino);
	return -EUCLEAN;
}

int vx_inode_ref_first(struct vx_fs *fs, u64 ino, u64 *parent, char *name,
		       u32 *name_len)
{
	u8 first[REF_FIRST_BYTES];
	const char *n;
	u32 size, len;
	int err;

	err = ref_item_from(fs, ino, 0, parent, first, sizeof(first), &size);
	if (!err)
		err = ref_first_name(first, size, ino, &n, &len);
	if (err)
		return err;
	memcpy(name, n, len);
	name[len] = '\0';
	*name_len = len;
	return 0;
}

/*
 * Does the chain of directories from dir_ino up (each directory has exactly
 * one name) reach ancestor?  1, 0 (it ends at the root or an unlinked
 * directory), -ELOOP (a cycle, or deeper than any sane tree), -errno.
 */
static int dir_chain_reaches(struct vx_fs *fs, u64 dir_ino, u64 ancestor)
{
	u64 cur = dir_ino, parent;
	u32 depth;
	int err;

	for (depth = 0; depth < VX_REF_MAX_DEPTH; depth++) {
		if (cur == ancestor)
			return 1;
		err = ref_item_from(fs, cur, 0, &parent, NULL, 0, NULL);
		if (err == -ENOENT)
			return 0;
		if (err)
			return err;
		cur = parent;
	}
	return -ELOOP;
}

int vx_inode_is_beneath(struct vx_fs *fs, u64 ino, u64 dir)
{
	u64 parent, from = 0;
	int ret;

	if (ino == dir)
		return 1;
	/* every directory holding a hard link of ino is a way up */
	for (;;) {
		ret = ref_item_from(fs, ino, from, &parent, NULL, 0, NULL);
		if (ret == -ENOENT)
			return 0;
		if (ret)
			return ret;
		ret = dir_chain_reaches(fs, parent, dir);
		if (ret)
			return ret;
		if (parent == ~0ULL)
			return 0;
		from = parent + 1;
		vx_cond_resched();
	}
}

/* Prepend "name/" (or just name for the first) to the path in buf[*pos, size). */
static bool path_prepend(char *buf, u32 size, u32 *pos, const char *name,
			 u32 len)
{
	u32 need = len + (*pos < size ? 1 : 0);

	if (need + 1 > *pos)		/* the NUL must fit too */
		return false;
	if (*pos < size)
		buf[--*pos] = '/';
	*pos -= len;
	memcpy(buf + *pos, name, len);
	return true;
}

int vx_inode_path(struct vx_fs *fs, u64 ino, u64 dir, char *buf, u32 size,
		  u32 *len)
{
	u8 *item;
	const char *n;
	u64 link_dir, parent, cur, from = 0;
	u32 isize, nlen, pos, depth;
	bool fits, too_long = false;
	int err;

	if (!size)
		return -ENAMETOOLONG;
	if (ino == dir) {
		buf[0] = '\0';
		*len = 0;
		return 0;
	}
	item = vx_malloc(REF_FIRST_BYTES);
	if (!item)
		return -ENOMEM;
	/*
	 * Try each directory naming ino, in key order; from there up, each
	 * directory has one name.  The path is built backwards at the end of
	 * buf, then moved to its start.
	 */
	for (;;) {
		err = ref_item_from(fs, ino, from, &link_dir, item,
				    REF_FIRST_BYTES, &isize);
		if (!err)
			err = ref_first_name(item, isize, ino, &n, &nlen);
		if (err)
			break;
		pos = size;
		fits = path_prepend(buf, size, &pos, n, nlen);
		cur = link_dir;
		for (depth = 0; cur != dir && depth < VX_REF_MAX_DEPTH; depth++) {
			err = ref_item_from(fs, cur, 0, &parent, item,
					    REF_FIRST_BYTES, &isize);
			if (!err)
				err = ref_first_name(item, isize, cur, &n, &nlen);
			if (err)
				break;
			if (fits)
				fits = path_prepend(buf, size, &pos, n, nlen);
			cur = parent;
		}
		if (!err && cur != dir)
			err = -ELOOP;
		if (err && err != -ENOENT)
			break;
		if (!err && fits) {
			*len = size - pos;
			memmove(buf, buf + pos, *len);
			buf[*len] = '\0';
			break;
		}
		/* -ENOENT: this chain ends at the root; too long: try others */
		if (!err)
			too_long = true;
		if (link_dir == ~0ULL) {
			err = -ENOENT;
			break;
		}
		from = link_dir + 1;
		vx_cond_resched();
	}
	if (err == -ENOENT && too_long)
		err = -ENAMETOOLONG;
	vx_free(item);
	return err;
}

/*
 * Add (add) or delete the back reference "dir names ino as name" on its
 * own: -EEXIST when an added one is there already, -ENOENT when a deleted
 * one is not.
 */
static int ref_add_or_del(struct vx_fs *fs, u64 ino, u64 dir, const char *name,
			  u32 len, bool add)
{
	struct ref_change ref;
	int err = check_name(len);

	if (err)
		return err;
	ref.buf = vx_malloc(fs->bs);
	if (!ref.buf)
		return -ENOMEM;
	err = ref_load(fs, &ref, ino, dir, name, len);
	if (err >= 0 && add)
		err = -EEXIST;
	else if (err >= 0)
		err = ref_prepare_del(fs, &ref, ino, dir, name, len);
	else if (err == -ENOENT && add)
		err = ref_prepare_add(fs, &ref, ino, dir, name, len);
	/* err is 0 only after a prepare */
	if (!err)
		err = ref_apply(fs, &ref);
	vx_free(ref.buf);
	return err;
}

int vx_inode_ref_add(struct vx_fs *fs, u64 ino, u64 dir, const char *name,
		     u32 len)
{
	return ref_add_or_del(fs, ino, dir, name, len, true);
}

int vx_inode_ref_del(struct vx_fs *fs, u64 ino, u64 dir, const char *name,
		     u32 len)
{
	return ref_add_or_del(fs, ino, dir, name, len, false);
}

/*
 * Every directory operation changes the name's DIRENT and DIRINDEX items and
 * the named inode's INODE_REF item(s) in one vx_op_begin bracket: the space
 * for all of them is checked before the first is written.
 */
#define DIR_ADD_OPS	3	/* DIRINDEX, DIRENT, INODE_REF */
#define DIR_REMOVE_OPS	3	/* DIRINDEX, DIRENT, INODE_REF */
#define DIR_SET_OPS	4	/* DIRENT, DIRINDEX, two INODE_REFs */

int vx_dir_add(struct vx_fs *fs, struct vx_inode_data *dir, const char *name,
	       u32 len, u64 ino, u8 ftype)
{
	struct vx_ckey k = { .objectid = dir->ino, .type = VX_ITEM_DIRENT,
			     .offset = vx_name_hash(name, len) };
	struct ref_change ref;
	struct dent d;
	u32 size = 0;
	u64 index;
	u8 *buf;
	int err = check_name(len);

	if (err)
		return err;
	/* the DIRENT item, then the INODE_REF item */
	buf = vx_malloc(2 * fs->bs);
	if (!buf)
		return -ENOMEM;
	ref.buf = buf + fs->bs;
	err = dirent_find(fs, dir->ino, name, len, buf, &size, &d);
	if (!err) {
		err = -EEXIST;
		goto out;
	}
	if (err != -ENOENT)
		goto out;
	if (size + DHDR + len > vx_max_item_size(fs)) {
		err = -ENOSPC;	/* an absurd number of hash collisions */
		goto out;
	}
	err = ref_prepare_add(fs, &ref, ino, dir->ino, name, len);
	if (err)
		goto out;
	index = dir->next_dir_index < 2 ? 2 : dir->next_dir_index;
	err = vx_op_begin(fs, DIR_ADD_OPS, false);
	if (err)
		goto out;
	/* DIRINDEX first: it has a fresh key and cannot collide */
	{
		struct vx_ckey ik = { .objectid = dir->ino, .type = VX_ITEM_DIRINDEX,
				      .offset = index };
		u8 one[sizeof(struct vx_dirent_hdr) + VX_NAME_MAX];
		u32 n = dent_put(one, ino, index, ftype, name, len);

		err = vx_item_insert(fs, VX_TREE_FS, &ik, one, n);
		if (err) {
			vx_op_end(fs);
			goto out;
		}
	}
	size += dent_put(buf + size, ino, index, ftype, name, len);
	if (size == DHDR + len)
		err = vx_item_insert(fs, VX_TREE_FS, &k, buf, size);
	else
		err = vx_item_update(fs, VX_TREE_FS, &k, buf, size);
	if (!err)
		err = ref_apply(fs, &ref);
	vx_op_end(fs);
	if (err) {
		vx_op_fail(fs, err);
		goto out;
	}
	dir->next_dir_index = index + 1;
out:
	vx_free(buf);
	return err;
}

int vx_dir_remove(struct vx_fs *fs, u64 dir, const char *name, u32 len)
{
	struct vx_ckey k = { .objectid = dir, .type = VX_ITEM_DIRENT,
			     .offset = vx_name_hash(name, len) };
	struct vx_ckey ik = { .objectid = dir, .type = VX_ITEM_DIRINDEX };
	struct ref_change ref;
	struct dent d;
	u32 size;
	u8 *buf;
	int err = check_name(len);

	if (err)
		return err;
	buf = vx_malloc(2 * fs->bs);
	if (!buf)
		return -ENOMEM;
	ref.buf = buf + fs->bs;
	err = dirent_find(fs, dir, name, len, buf, &size, &d);
	if (err)
		goto out;
	err = ref_prepare_del(fs, &ref, d.ino, dir, name, len);
	if (err)
		goto out;
	ik.offset = d.index;
	err = vx_op_begin(fs, DIR_REMOVE_OPS, true);
	if (err)
		goto out;
	err = vx_item_delete(fs, VX_TREE_FS, &ik);
	if (err && err != -ENOENT) {
		vx_op_end(fs);
		goto out;
	}
	memmove(buf + d.off, buf + d.off + d.len, size - d.off - d.len);
	size -= d.len;
	if (size)
		err = vx_item_update(fs, VX_TREE_FS, &k, buf, size);
	else
		err = vx_item_delete(fs, VX_TREE_FS, &k);
	if (!err)
		err = ref_apply(fs, &ref);
	vx_op_end(fs);
	if (err)
		vx_op_fail(fs, err);
out:
	vx_free(buf);
	return err;
}

int vx_dir_set(struct vx_fs *fs, u64 dir, const char *name, u32 len,
	       u64 ino, u8 ftype)
{
	struct vx_ckey k = { .objectid = dir, .type = VX_ITEM_DIRENT,
			     .offset = vx_name_hash(name, len) };
	struct vx_ckey ik = { .objectid = dir, .type = VX_ITEM_DIRINDEX };
	struct ref_change old_ref, new_ref;
	struct dent d;
	u8 one[sizeof(struct vx_dirent_hdr) + VX_NAME_MAX];
	u32 size, n;
	u8 *buf;
	int err = check_name(len);

	if (err)
		return err;
	/* the DIRENT item, then the old and the new inode's INODE_REF items */
	buf = vx_malloc(3 * fs->bs);
	if (!buf)
		return -ENOMEM;
	old_ref.buf = buf + fs->bs;
	new_ref.buf = buf + 2 * fs->bs;
	err = dirent_find(fs, dir, name, len, buf, &size, &d);
	if (err)
		goto out;
	/* the name moves from the old target's refs to the new inode's */
	if (d.ino != ino) {
		err = ref_prepare_del(fs, &old_ref, d.ino, dir, name, len);
		if (!err)
			err = ref_prepare_add(fs, &new_ref, ino, dir, name, len);
		if (err)
			goto out;
	} else {
		old_ref.skip = true;
		new_ref.skip = true;
	}
	vx_put_unaligned_le64(ino, buf + d.off + offsetof(struct vx_dirent_hdr, ino));
	buf[d.off + offsetof(struct vx_dirent_hdr, ftype)] = ftype;
	err = vx_op_begin(fs, DIR_SET_OPS, true);
	if (err)
		goto out;
	err = vx_item_update(fs, VX_TREE_FS, &k, buf, size);
	if (!err) {
		ik.offset = d.index;
		n = dent_put(one, ino, d.index, ftype, name, len);
		err = vx_item_update(fs, VX_TREE_FS, &ik, one, n);
		if (!err)
			err = ref_apply(fs, &old_ref);
		if (!err)
			err = ref_apply(fs, &new_ref);
		if (err)
			vx_op_fail(fs, err);
	}
	vx_op_end(fs);
out:
	vx_free(buf);
	return err;
}

int vx_dir_iterate(struct vx_fs *fs, u64 dir, u64 *pos, vx_dir_emit_t emit,
		   void *ctx)
{
	u8 one[sizeof(struct vx_dirent_hdr) + VX_NAME_MAX];
	struct vx_ckey k = { .objectid = dir, .type = VX_ITEM_DIRINDEX,
			     .offset = *pos < 2 ? 2 : *pos };
	struct vx_ckey found;
	struct dent d;
	u32 size, off;
	int err;

	for (;;) {
		err = vx_item_next(fs, VX_TREE_FS, &k, &found, one, sizeof(one), &size);
		if (err == -ENOENT)
			return 0;
		if (err)
			return err;
		if (found.objectid != dir || found.type != VX_ITEM_DIRINDEX)
			return 0;
		off = 0;
		if (size > sizeof(one) || !dent_next(one, size, &off, &d) ||
		    off != size || d.index != found.offset) {
			vx_log_err("directory %llu: corrupt index entry %llu",
				   (unsigned long long)dir,
				   (unsigned long long)found.offset);
			return -EUCLEAN;
		}
		*pos = found.offset;
		if (emit(ctx, d.name, d.name_len, d.ino, d.ftype, d.index))
			return 0;
		*pos = found.offset + 1;
		if (found.offset == ~0ULL)
			return 0;
		k.offset = found.offset + 1;
	}
}

int vx_dir_is_empty(struct vx_fs *fs, u64 dir)
{
	struct vx_ckey k = { .objectid = dir, .type = VX_ITEM_DIRINDEX, .offset = 0 };
	struct vx_ckey found;
	int err = vx_item_next(fs, VX_TREE_FS, &k, &found, NULL, 0, NULL);

	if (err == -ENOENT)
		return 1;
	if (err)
		return err;
	return !(found.objectid == dir && found.type == VX_ITEM_DIRINDEX);
}

/* ---------------------------------------------------------------- extents */

struct ext {
	u64 start, len, disk;
	u32 flags;
};

static int ext_decode(const struct vx_ckey *k, const struct vx_extent_item *e,
		      u32 size, struct ext *x, const struct vx_fs *fs)
{
	if (size != sizeof(*e))
		return -EUCLEAN;
	x->start = k->offset;
	x->len = le64_to_cpu(e->len);
	x->disk = le64_to_cpu(e->disk_block);
	x->flags = le32_to_cpu(e->flags);
	if (!x->len || x->disk < fs->first_data_block || x->disk >= fs->total_blocks ||
	    x->len > fs->total_blocks - x->disk || x->start + x->len < x->start) {
		vx_log_err("inode %llu: corrupt extent at block %llu",
			   (unsigned long long)k->objectid,
			   (unsigned long long)k->offset);
		return -EUCLEAN;
	}
	return 0;
}

/* The extent containing fblock (1), else the next one after it (0), else -ENOENT. */
static int ext_find(struct vx_fs *fs, u64 ino, u64 fblock, struct ext *x)
{
	struct vx_ckey k = { .objectid = ino, .type = VX_ITEM_EXTENT, .offset = fblock };
	struct vx_ckey found;
	struct vx_extent_item e;
	u32 size;
	int err = vx_item_prev(fs, VX_TREE_FS, &k, &found, &e, sizeof(e), &size);

	if (err && err != -ENOENT)
		return err;
	if (!err && found.objectid == ino && found.type == VX_ITEM_EXTENT) {
		err = ext_decode(&found, &e, size, x, fs);
		if (err)
			return err;
		if (fblock < x->start + x->len)
			return 1;
	}
	err = vx_item_next(fs, VX_TREE_FS, &k, &found, &e, sizeof(e), &size);
	if (err)
		return err;
	if (found.objectid != ino || found.type != VX_ITEM_EXTENT)
		return -ENOENT;
	err = ext_decode(&found, &e, size, x, fs);
	return err ? err : 0;
}

static int ext_store(struct vx_fs *fs, u64 ino, const struct ext *x, bool insert)
{
	struct vx_ckey k = { .objectid = ino, .type = VX_ITEM_EXTENT, .offset = x->start };
	struct vx_extent_item e;

	memset(&e, 0, sizeof(e));
	e.disk_block = cpu_to_le64(x->disk);
	e.len = cpu_to_le64(x->len);
	e.flags = cpu_to_le32(x->flags);
	if (insert)
		return vx_item_insert(fs, VX_TREE_FS, &k, &e, sizeof(e));
	return vx_item_update(fs, VX_TREE_FS, &k, &e, sizeof(e));
}

int vx_extent_map(struct vx_fs *fs, u64 ino, u64 fblock, struct vx_mapping *out)
{
	struct ext x;
	int ret = ext_find(fs, ino, fblock, &x);

	if (ret == 1) {
		out->disk_block = x.disk + (fblock - x.start);
		out->len = x.start + x.len - fblock;
		out->flags = x.flags;
		return 0;
	}
	out->disk_block = 0;
	out->flags = 0;
	if (ret == -ENOENT) {
		out->len = VX_HOLE_TO_EOF;
		return 0;
	}
	if (ret < 0)
		return ret;
	out->len = x.start - fblock;
	return 0;
}

int vx_extent_alloc(struct vx_fs *fs, struct vx_inode_data *inode, u64 fblock,
		    u64 want, u32 flags, struct vx_mapping *out)
{
	struct vx_ckey k = { .objectid = inode->ino, .type = VX_ITEM_EXTENT, .offset = fblock };
	struct vx_ckey found;
	struct vx_extent_item e;
	struct ext prev = { 0 }, x;
	struct vx_mapping hole;
	bool have_prev = false;
	u64 hint, start, got;
	u32 size;
	int err;

	if (fblock >= VX_MAX_FILE_BLOCKS)
		return -EFBIG;
	err = vx_extent_map(fs, inode->ino, fblock, &hole);
	if (err)
		return err;
	if (hole.disk_block)
		return -EEXIST;
	if (want > hole.len)
		want = hole.len;
	if (want > 65536)
		want = 65536;
	if (want > VX_MAX_FILE_BLOCKS - fblock)
		want = VX_MAX_FILE_BLOCKS - fblock;
	if (!want)
		return -EINVAL;
	err = vx_op_begin(fs, 1, false);
	if (err)
		return err;
	if (fblock && vx_item_prev(fs, VX_TREE_FS, &k, &found, &e, sizeof(e), &size) == 0 &&
	    found.objectid == inode->ino && found.type == VX_ITEM_EXTENT &&
	    ext_decode(&found, &e, size, &prev, fs) == 0)
		have_prev = true;
	hint = have_prev ? prev.disk + prev.len + (fblock - prev.start - prev.len) :
			   fs->data_cursor;
	err = vx_alloc_blocks(fs, hint, want, true, &start, &got);
	if (err) {
		vx_op_end(fs);
		return err;
	}
	fs->data_cursor = start + got;
	if (have_prev && prev.start + prev.len == fblock &&
	    prev.disk + prev.len == start && prev.flags == flags &&
	    prev.len + got <= 65536) {
		prev.len += got;
		err = ext_store(fs, inode->ino, &prev, false);
	} else {
		x.start = fblock;
		x.len = got;
		x.disk = start;
		x.flags = flags;
		err = ext_store(fs, inode->ino, &x, true);
	}
	vx_op_end(fs);
	if (err) {
		vx_free_blocks(fs, start, got);
		return vx_op_fail(fs, err);
	}
	inode->blocks += got;
	out->disk_block = start;
	out->len = got;
	out->flags = flags;
	return 0;
}

int vx_extent_punch(struct vx_fs *fs, struct vx_inode_data *inode, u64 start,
		    u64 end)
{
	u64 pos = start;
	int err;

	while (pos < end) {
		struct vx_ckey k = { .objectid = inode->ino, .type = VX_ITEM_EXTENT };
		struct ext x, right;
		u64 lo, hi;
		int ret = ext_find(fs, inode->ino, pos, &x);

		if (ret == -ENOENT)
			return 0;
		if (ret < 0)
			return ret;
		if (x.start >= end)
			return 0;
		lo = x.start > pos ? x.start : pos;
		hi = x.start + x.len < end ? x.start + x.len : end;
		right.start = hi;
		right.len = x.start + x.len - hi;
		right.disk = x.disk + (hi - x.start);
		right.flags = x.flags;
		err = vx_op_begin(fs, 2, true);
		if (err)
			return err;	/* steps done so far are complete */
		if (x.start < lo) {
			struct ext left = x;

			left.len = lo - x.start;
			err = ext_store(fs, inode->ino, &left, false);
		} else {
			k.offset = x.start;
			err = vx_item_delete(fs, VX_TREE_FS, &k);
		}
		if (!err && right.len)
			err = ext_store(fs, inode->ino, &right, true);
		if (!err)
			err = vx_free_blocks(fs, x.disk + (lo - x.start), hi - lo);
		vx_op_end(fs);
		if (err)
			return vx_op_fail(fs, err);
		inode->blocks -= hi - lo < inode->blocks ? hi - lo : inode->blocks;
		pos = hi;
		vx_cond_resched();
	}
	return 0;
}

int vx_extent_mark_written(struct vx_fs *fs, u64 ino, u64 start, u64 len)
{
	u64 pos = start, end = start + len;
	int err;

	while (pos < end) {
		struct vx_ckey k = { .objectid = ino, .type = VX_ITEM_EXTENT };
		struct ext x, part;
		u64 lo, hi;
		int ret = ext_find(fs, ino, pos, &x);

		if (ret == -ENOENT)
			return 0;
		if (ret < 0)
			return ret;
		if (x.start >= end)
			return 0;
		lo = x.start > pos ? x.start : pos;
		hi = x.start + x.len < end ? x.start + x.len : end;
		if (!(x.flags & VX_EXTENT_UNWRITTEN)) {
			pos = hi;
			continue;
		}
		/* split into [x.start, lo) unwritten, [lo, hi) written, [hi, end) unwritten */
		err = vx_op_begin(fs, 4, false);
		if (err)
			return err;	/* steps done so far are complete */
		k.offset = x.start;
		err = vx_item_delete(fs, VX_TREE_FS, &k);
		if (!err && x.start < lo) {
			part = x;
			part.len = lo - x.start;
			err = ext_store(fs, ino, &part, true);
		}
		if (!err) {
			struct ext prev;

			part.start = lo;
			part.len = hi - lo;
			part.disk = x.disk + (lo - x.start);
			part.flags = x.flags & ~VX_EXTENT_UNWRITTEN;
			/*
			 * Join a written, disk-contiguous left neighbour, so that
			 * writing a preallocated range front to back ends as one
			 * extent instead of one item per write.
			 */
			if (lo > 0 && x.start == lo &&
			    ext_find(fs, ino, lo - 1, &prev) == 1 &&
			    prev.start + prev.len == lo &&
			    prev.disk + prev.len == part.disk &&
			    prev.flags == part.flags && prev.len + part.len <= 65536) {
				prev.len += part.len;
				err = ext_store(fs, ino, &prev, false);
			} else {
				err = ext_store(fs, ino, &part, true);
			}
		}
		if (!err && hi < x.start + x.len) {
			part.start = hi;
			part.len = x.start + x.len - hi;
			part.disk = x.disk + (hi - x.start);
			part.flags = x.flags;
			err = ext_store(fs, ino, &part, true);
		}
		vx_op_end(fs);
		if (err)
			return vx_op_fail(fs, err);
		pos = hi;
	}
	return 0;
}

/* ---------------------------------------------------------------- xattrs */

#define XHDR ((u32)sizeof(struct vx_xattr_hdr))

struct xent {
	u8 index;
	u32 name_len, value_len;
	const char *name;
	const u8 *value;
	u32 off, len;
};

static bool xent_next(const u8 *buf, u32 size, u32 *off, struct xent *x)
{
	const u8 *h;

	if (*off + XHDR > size)
		return false;
	h = buf + *off;
	x->index = h[offsetof(struct vx_xattr_hdr, index)];
	x->name_len = h[offsetof(struct vx_xattr_hdr, name_len)];
	x->value_len = vx_get_unaligned_le16(h + offsetof(struct vx_xattr_hdr, value_len));
	if (!x->name_len || *off + XHDR + x->name_len + x->value_len > size)
		return false;
	x->name = (const char *)buf + *off + XHDR;
	x->value = buf + *off + XHDR + x->name_len;
	x->off = *off;
	x->len = XHDR + x->name_len + x->value_len;
	*off += x->len;
	return true;
}

static u64 xattr_hash(u8 index, const char *name, u32 len)
{
	return vx_name_hash(name, len) ^ ((u64)index << 56);
}

u32 vx_xattr_max_value(const struct vx_fs *fs, u32 name_len)
{
	u32 max = vx_max_item_size(fs) - XHDR - name_len;

	return max > 65535 ? 65535 : max;
}

static int xattr_find(struct vx_fs *fs, u64 ino, u8 index, const char *name,
		      u32 len, u8 *buf, u32 *size, struct xent *x)
{
	struct vx_ckey k = { .objectid = ino, .type = VX_ITEM_XATTR,
			     .offset = xattr_hash(index, name, len) };
	u32 off = 0;
	int err = vx_item_lookup(fs, VX_TREE_FS, &k, buf, vx_max_item_size(fs), size);

	if (err == -ENOENT) {
		*size = 0;
		return -ENODATA;
	}
	if (err)
		return err;
	if (*size > vx_max_item_size(fs))
		return -EUCLEAN;
	while (xent_next(buf, *size, &off, x))
		if (x->index == index && x->name_len == len && !memcmp(x->name, name, len))
			return 0;
	if (off != *size)
		return -EUCLEAN;
	return -ENODATA;
}

int vx_xattr_get(struct vx_fs *fs, u64 ino, u8 index, const char *name,
		 void *out, u32 outsize)
{
	u32 len = (u32)strlen(name), size;
	struct xent x;
	u8 *buf;
	int err;

	if (!len || len > 255)
		return -ERANGE;
	buf = vx_malloc(fs->bs);
	if (!buf)
		return -ENOMEM;
	err = xattr_find(fs, ino, index, name, len, buf, &size, &x);
	if (!err) {
		err = (int)x.value_len;
		if (outsize) {
			if (outsize < x.value_len)
				err = -ERANGE;
			else
				memcpy(out, x.value, x.value_len);
		}
	}
	vx_free(buf);
	return err;
}

int vx_xattr_set(struct vx_fs *fs, u64 ino, u8 index, const char *name,
		 const void *value, u32 vsize, int flags)
{
	u32 len = (u32)strlen(name), size;
	struct vx_ckey k = { .objectid = ino, .type = VX_ITEM_XATTR };
	struct vx_xattr_hdr h;
	struct xent x;
	bool existed = false;
	u8 *buf;
	int err;

	if (!len || len > 255)
		return -ERANGE;
	if (value && vsize > vx_xattr_max_value(fs, len))
		return -E2BIG;
	k.offset = xattr_hash(index, name, len);
	buf = vx_malloc(fs->bs);
	if (!buf)
		return -ENOMEM;
	err = xattr_find(fs, ino, index, name, len, buf, &size, &x);
	if (err && err != -ENODATA)
		goto out;
	if (!err) {
		existed = true;
		if (flags & VX_XATTR_CREATE) {
			err = -EEXIST;
			goto out;
		}
		memmove(buf + x.off, buf + x.off + x.len, size - x.off - x.len);
		size -= x.len;
	} else if ((flags & VX_XATTR_REPLACE) || !value) {
		err = -ENODATA;
		goto out;
	}
	if (value) {
		if (size + XHDR + len + vsize > vx_max_item_size(fs)) {
			err = -ENOSPC;
			goto out;
		}
		memset(&h, 0, sizeof(h));
		h.index = index;
		h.name_len = (u8)len;
		h.value_len = cpu_to_le16(vsize);
		memcpy(buf + size, &h, XHDR);
		memcpy(buf + size + XHDR, name, len);
		if (vsize)
			memcpy(buf + size + XHDR + len, value, vsize);
		size += XHDR + len + vsize;
	}
	if (!size)
		err = vx_item_delete(fs, VX_TREE_FS, &k);
	else if (existed || size != XHDR + len + vsize)
		err = vx_item_update(fs, VX_TREE_FS, &k, buf, size);
	else
		err = vx_item_insert(fs, VX_TREE_FS, &k, buf, size);
out:
	vx_free(buf);
	return err;
}

int vx_xattr_list(struct vx_fs *fs, u64 ino, vx_xattr_emit_t emit, void *ctx)
{
	struct vx_ckey k = { .objectid = ino, .type = VX_ITEM_XATTR, .offset = 0 };
	struct vx_ckey found;
	u32 size, off;
	struct xent x;
	u8 *buf = vx_malloc(fs->bs);
	int err;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		err = vx_item_next(fs, VX_TREE_FS, &k, &found, buf, fs->bs, &size);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		if (err)
			break;
		if (found.objectid != ino || found.type != VX_ITEM_XATTR)
			break;
		if (size > fs->bs) {
			err = -EUCLEAN;
			break;
		}
		off = 0;
		while (xent_next(buf, size, &off, &x)) {
			err = emit(ctx, x.index, x.name, x.name_len, x.value_len);
			if (err)
				goto out;
		}
		if (off != size) {
			err = -EUCLEAN;
			break;
		}
		if (found.offset == ~0ULL)
			break;
		k.offset = found.offset + 1;
	}
out:
	vx_free(buf);
	return err;
}

/* ---------------------------------------------------------------- orphans */

int vx_orphan_add(struct vx_fs *fs, u64 ino)
{
	struct vx_ckey k = { .objectid = VX_ORPHAN_OBJECTID, .type = VX_ITEM_ORPHAN,
			     .offset = ino };
	int err = vx_item_insert_shrink(fs, VX_TREE_FS, &k, NULL, 0);

	return err == -EEXIST ? 0 : err;
}

int vx_orphan_del(struct vx_fs *fs, u64 ino)
{
	struct vx_ckey k = { .objectid = VX_ORPHAN_OBJECTID, .type = VX_ITEM_ORPHAN,
			     .offset = ino };

	return vx_item_delete(fs, VX_TREE_FS, &k);
}

int vx_orphan_next(struct vx_fs *fs, u64 after, u64 *ino)
{
	struct vx_ckey k = { .objectid = VX_ORPHAN_OBJECTID, .type = VX_ITEM_ORPHAN,
			     .offset = after + 1 };
	struct vx_ckey found;
	int err;

	if (after == ~0ULL)
		return -ENOENT;
	err = vx_item_next(fs, VX_TREE_FS, &k, &found, NULL, 0, NULL);
	if (err)
		return err;
	if (found.objectid != VX_ORPHAN_OBJECTID || found.type != VX_ITEM_ORPHAN)
		return -ENOENT;
	*ino = found.offset;
	return 0;
}
