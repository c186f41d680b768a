/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Independent check of vector spaces and embeddings (docs/FORMAT.md,
 * "Vector spaces and embeddings"), for fsck.vexfs and the unit tests.  Like
 * the rest of tools/lib it reads the volume itself and does not use the
 * core's vector code.
 *
 * Use: vk_vec_new(), hand it every fs tree item under a space object id
 * (vk_vec_is_space_obj) and every EMBED item during the tree walk, then
 * vk_vec_check() once the walk is over.  STALE items (the queue of automatic
 * embeddings) are keyed under a space too, but checking them needs the
 * inodes: the caller decodes them with vk_stale_decode and asks
 * vk_vec_space_state about their space.
 */
#ifndef VX_CHECK_VEC_H
#define VX_CHECK_VEC_H

#include "vx_check.h"

struct vk_vec;

typedef void (*vk_vec_report_fn)(void *ctx, const char *msg);

struct vk_vec *vk_vec_new(struct vk_vol *v, vk_vec_report_fn report, void *ctx);
void vk_vec_free(struct vk_vec *vc);

/* Is this object id the one of a vector space's items? */
bool vk_vec_is_space_obj(u64 objectid);
/* An item under a space object id (SPACE, VBLOCK, VLINKS; STALE is ignored). */
void vk_vec_item(struct vk_vec *vc, const struct vx_ckey *k, const u8 *data, u32 size);
/* An EMBED item of inode k->objectid; owner_regular: that inode is a regular file. */
void vk_vec_embed(struct vk_vec *vc, const struct vx_ckey *k, const u8 *data, u32 size,
		  bool owner_regular);

/*
 * Cross-check everything collected: space items, column blocks (checksums),
 * META against EMBED items, live counts, VLINKS.  Every column block is
 * marked in used; one already marked there (a tree node, another column
 * block) is reported.  Returns the number of problems, including those
 * found while collecting.
 */
long vk_vec_check(struct vk_vec *vc, u8 *used);
/* Column blocks seen, spaces seen (after vk_vec_check). */
u64 vk_vec_nblocks(const struct vk_vec *vc);
u32 vk_vec_nspaces(const struct vk_vec *vc);

enum vk_space_state {
	VK_SPACE_NONE = 0,	/* no space item */
	VK_SPACE_LIVE,
	VK_SPACE_DROPPED,	/* being reaped */
};

/* What the space items collected so far say about space id (any u32). */
enum vk_space_state vk_vec_space_state(const struct vk_vec *vc, u32 id);

/* A STALE item's data in CPU order. */
struct vk_stale {
	u32 flags;
	u32 failed_errno;
	u64 failed_version;
};

/*
 * Decode a STALE item: NULL if it is well formed (size, known flags, the
 * failure fields zero unless FAILED), else what is wrong with it.  *out is
 * filled whenever the size is right.
 */
const char *vk_stale_decode(const u8 *data, u32 size, struct vk_stale *out);

#endif /* VX_CHECK_VEC_H */
