// SPDX-License-Identifier: GPL-2.0
/*
 * The stale set of automatic embeddings (vx_vector.h, docs/AUTO.md): one
 * item (VX_SPACE_OBJID(space), STALE, ino) per file changed beneath a
 * directory with an automatic embedding policy and not embedded since.
 * Keyed under the space, so a sidecar's queue is one key range, dropping a
 * space reaps it with the rest, and inode removal finds it per space.
 */
#include "vx_internal.h"
#include "vx_vector.h"

/* Space ids outside 1..VX_SPACE_ID_MAX would key into other objects. */
static bool stale_space_ok(u32 space)
{
	return space && space <= VX_SPACE_ID_MAX;
}

static void stale_key(struct vx_ckey *k, u32 space, u64 ino)
{
	k->objectid = VX_SPACE_OBJID(space);
	k->type = VX_ITEM_STALE;
	k->offset = ino;
}

static int stale_decode(const struct vx_stale_item *it, u32 size,
			struct vx_stale *out)
{
	if (size != sizeof(*it) ||
	    (le32_to_cpu(it->flags) & ~(u32)VX_STALE_FAILED))
		return -EUCLEAN;
	out->flags = le32_to_cpu(it->flags);
	out->failed_errno = le32_to_cpu(it->failed_errno);
	out->failed_version = le64_to_cpu(it->failed_version);
	return 0;
}

int vx_stale_get(struct vx_fs *fs, u32 space, u64 ino, struct vx_stale *out)
{
	struct vx_stale_item it;
	struct vx_ckey k;
	u32 size;
	int err;

	if (!stale_space_ok(space))
		return -ENOENT;
	stale_key(&k, space, ino);
	err = vx_item_lookup(fs, VX_TREE_FS, &k, &it, sizeof(it), &size);
	if (err)
		return err;
	return stale_decode(&it, size, out);
}

int vx_stale_mark(struct vx_fs *fs, u32 space, u64 ino)
{
	struct vx_stale_item it = { 0 };
	struct vx_space_desc d;
	struct vx_stale cur;
	struct vx_ckey k;
	bool failed;
	int err;

	err = vx_space_get(fs, space, &d);
	if (err)
		return err;
	err = vx_stale_get(fs, space, ino, &cur);
	if (err && err != -ENOENT)
		return err;
	if (!err && !(cur.flags & VX_STALE_FAILED))
		return 0;
	failed = !err;
	/* tiny, and it records a change already made: may use the reserve */
	err = vx_op_begin(fs, 1, true);
	if (err)
		return err;
	stale_key(&k, space, ino);
	if (failed)
		err = vx_item_update(fs, VX_TREE_FS, &k, &it, sizeof(it));
	else
		err = vx_item_insert(fs, VX_TREE_FS, &k, &it, sizeof(it));
	vx_op_end(fs);
	return err ? vx_op_fail(fs, err) : 1;
}

int vx_stale_clear(struct vx_fs *fs, u32 space, u64 ino)
{
	struct vx_ckey k;
	int err;

	if (!stale_space_ok(space))
		return -ENOENT;
	stale_key(&k, space, ino);
	err = vx_item_lookup(fs, VX_TREE_FS, &k, NULL, 0, NULL);
	if (err)
		return err == -ENOENT ? 0 : err;
	err = vx_op_begin(fs, 1, true);
	if (err)
		return err;
	err = vx_item_delete(fs, VX_TREE_FS, &k);
	vx_op_end(fs);
	return err ? vx_op_fail(fs, err) : 0;
}

int vx_stale_fail(struct vx_fs *fs, u32 space, u64 ino, u64 data_version,
		  int error)
{
	struct vx_stale_item it;
	struct vx_inode_data in;
	struct vx_stale cur;
	struct vx_ckey k;
	int err;

	err = vx_stale_get(fs, space, ino, &cur);
	if (err)
		return err;
	err = vx_inode_read(fs, ino, &in);
	if (err)
		return err;
	/* a failure of older content says nothing about the current one */
	if (in.data_version != data_version)
		return -ESTALE;
	it.flags = cpu_to_le32(VX_STALE_FAILED);
	it.failed_errno = cpu_to_le32((u32)error);
	it.failed_version = cpu_to_le64(data_version);
	err = vx_op_begin(fs, 1, false);
	if (err)
		return err;
	stale_key(&k, space, ino);
	err = vx_item_update(fs, VX_TREE_FS, &k, &it, sizeof(it));
	vx_op_end(fs);
	return err ? vx_op_fail(fs, err) : 0;
}

int vx_stale_next(struct vx_fs *fs, u32 space, u64 from, u64 *ino,
		  struct vx_stale *out)
{
	struct vx_stale_item it;
	struct vx_ckey k, found;
	u32 size;
	int err;

	if (!stale_space_ok(space))
		return -ENOENT;
	stale_key(&k, space, from);
	err = vx_item_next(fs, VX_TREE_FS, &k, &found, &it, sizeof(it), &size);
	if (err)
		return err;
	if (found.objectid != k.objectid || found.type != VX_ITEM_STALE)
		return -ENOENT;
	*ino = found.offset;
	return stale_decode(&it, size, out);
}

/* Every space's item for ino, dropped spaces included (reap may lag). */
int vx_stale_remove_inode(struct vx_fs *fs, u64 ino)
{
	struct vx_ckey k, found;
	u64 objid = VX_SPACE_OBJID(1);
	int err;

	while (objid <= VX_SPACE_OBJID(VX_SPACE_ID_MAX)) {
		k.objectid = objid;
		k.type = VX_ITEM_STALE;
		k.offset = ino;
		err = vx_item_next(fs, VX_TREE_FS, &k, &found, NULL, 0, NULL);
		if (err == -ENOENT)
			return 0;
		if (err)
			return err;
		if (found.objectid > VX_SPACE_OBJID(VX_SPACE_ID_MAX))
			return 0;
		if (found.objectid == objid && found.type == VX_ITEM_STALE &&
		    found.offset == ino) {
			err = vx_op_begin(fs, 1, true);
			if (err)
				return err;
			err = vx_item_delete(fs, VX_TREE_FS, &found);
			vx_op_end(fs);
			if (err)
				return vx_op_fail(fs, err);
		}
		/* the next space with any item at all */
		objid = found.objectid == objid ? objid + 1 : found.objectid;
	}
	return 0;
}
