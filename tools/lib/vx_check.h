/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Independent reader of the VexFS on-disk format, shared by fsck.vexfs and
 * vexfs-dump.  It deliberately does not use the core's B-tree code: the
 * checker must not trust the code it checks.  Everything read from the device
 * is bounds-checked before use; nothing here may crash on a corrupted image.
 */
#ifndef VX_CHECK_H
#define VX_CHECK_H

#include <stdarg.h>
#include "vx_core.h"
#include "vx_devfile.h"

#define VK_FIRST_BLOCK(bs)	((VX_RESERVED_BYTES + (bs) - 1) / (bs))

/* Byte offsets of the superblock slots. */
extern const u64 vk_sb_offsets[VX_SB_SLOTS];

struct vk_slot {
	struct vx_superblock sb;
	int read_err;		/* negative errno if the read failed */
	int ret;		/* vx_super_check() result (0, 1, -errno) */
	const char *msg;	/* why the slot is unusable, or NULL */
	bool has_magic;
	bool usable;		/* ret == 0 or ret == 1 */
};

struct vk_vol {
	struct vx_devfile *dev;
	const char *path;
	u64 dev_bytes;
	struct vk_slot slot[VX_SB_SLOTS];
	int active;		/* index of the newest usable slot, or -1 */
	/* geometry from the active superblock (or the --slot override) */
	const struct vx_superblock *sb;
	u32 bs;
	u64 total_blocks;
	u64 first_block;	/* first block after the reserved area */
	u64 generation;
	u32 group_blocks;
	u64 ngroups;
};

/*
 * Open the device (read-only unless writable) and read both superblock slots.
 * Returns 0 or a negative errno (open failure); a volume without any usable
 * superblock is opened successfully with v->active == -1.
 */
int vk_open(struct vk_vol *v, const char *path, int writable);
void vk_close(struct vk_vol *v);
/* Use slot i's geometry (it must have a sane block size and size). */
int vk_use_slot(struct vk_vol *v, int i);
/* Read one block of the volume's block size; -EIO past the end. */
int vk_read_block(struct vk_vol *v, u64 blocknr, void *buf);

u32 vk_csum(const void *p, u32 len);
u32 vk_node_csum(const u8 *blk, u32 bs);
u32 vk_sb_csum(const struct vx_superblock *sb);

/* Names and formatting. */
const char *vk_item_type_name(u8 type);
const char *vk_tree_name(int tree);
const char *vk_ftype_name(u8 ftype);
const char *vk_xattr_prefix(u8 index);
void vk_key_from_disk(struct vx_ckey *c, const struct vx_key *d);
int vk_key_cmp(const struct vx_ckey *a, const struct vx_ckey *b);
/* "(objectid TYPE offset)"; buf should hold at least VK_KEY_STR bytes. */
#define VK_KEY_STR 96
char *vk_key_str(const struct vx_ckey *k, char *buf);
char *vk_dkey_str(const struct vx_key *k, char *buf);
/* Printable copy of a name, escaping non-printable bytes; out >= 4*len+1. */
char *vk_name_str(const char *name, u32 len, char *out, size_t outlen);
/* UUID as text; out >= 37 bytes. */
char *vk_uuid_str(const u8 *uuid, char *out);
/* Human size "64.0 MiB"; out >= 32 bytes. */
char *vk_size_str(u64 bytes, char *out);

/* ---- tree walking ---- */

/* What the parent (or the superblock) says about a node. */
struct vk_ptr {
	int tree;
	u64 blocknr;
	u64 birth;
	u32 csum;
	int level;		/* expected level */
	u64 parent;		/* parent block, 0 for a root */
	u32 slot;		/* entry in the parent */
	u64 parent_birth;	/* birth of the parent (or sb generation) */
	bool has_lo, has_hi;	/* key bounds from the separators above */
	struct vx_ckey lo, hi;	/* lo <= every key < hi */
};

typedef void (*vk_problem_fn)(void *ctx, const struct vk_ptr *p, const char *msg);

/*
 * Check the header and layout of a node read from p->blocknr.  Every problem
 * is passed to report.  Returns the number of problems; when the count is
 * zero the node's items/entries may be used with the bounds they declare.
 * A p->parent of ~0ULL means "no expectations" (a node decoded out of
 * context, vexfs-dump --block): only self-consistency is checked.
 */
int vk_check_node(const struct vk_vol *v, const u8 *blk, const struct vk_ptr *p,
		  vk_problem_fn report, void *ctx);

struct vk_walk {
	struct vk_vol *v;
	int tree;
	bool descend_bad;	/* follow pointers of damaged internal nodes (dump) */
	void *ctx;
	vk_problem_fn problem;
	/* Mark the block visited; return true if it already was (not walked again). */
	bool (*claim)(void *ctx, const struct vk_ptr *p);
	/* Called for each node read, in pre-order (keys ascending). */
	void (*node)(void *ctx, const struct vk_ptr *p, const u8 *blk, bool ok);
	/* Optional: only children whose key range reaches this key are read. */
	bool has_from;
	struct vx_ckey from;
};

/* Walk one tree from a root pointer.  Returns the number of problems found. */
long vk_walk_tree(struct vk_walk *w, const struct vx_blockptr *root, int level);

/* ---- node accessors (valid after vk_check_node or with explicit bounds) ---- */

static inline const struct vx_node_header *vk_hdr(const u8 *blk)
{
	return (const struct vx_node_header *)blk;
}

static inline u32 vk_nritems(const u8 *blk)
{
	return le16_to_cpu(vk_hdr(blk)->nritems);
}

static inline const struct vx_item *vk_items(const u8 *blk)
{
	return (const struct vx_item *)(blk + sizeof(struct vx_node_header));
}

static inline const struct vx_node_entry *vk_entries(const u8 *blk)
{
	return (const struct vx_node_entry *)(blk + sizeof(struct vx_node_header));
}

/* How many items/entries of a possibly corrupt node can be read safely. */
u32 vk_safe_nritems(const u8 *blk, u32 bs);

/* ---- item payloads ---- */

struct vk_dirent {
	u64 ino;
	u64 index;
	u32 name_len;
	u8 ftype;
	const char *name;
};

/* 1: entry decoded and *off advanced; 0: exactly at the end; -1: malformed. */
int vk_dirent_next(const u8 *buf, u32 size, u32 *off, struct vk_dirent *d);

struct vk_xattr {
	u8 index;
	u32 name_len;
	u32 value_len;
	const char *name;
	const u8 *value;
};

int vk_xattr_next(const u8 *buf, u32 size, u32 *off, struct vk_xattr *x);
/* The key offset of the XATTR item holding (index, name). */
u64 vk_xattr_hash(u8 index, const char *name, u32 len);

/*
 * ---- Back references (INODE_REF items) ----
 *
 * One entry of an INODE_REF item: 1 decoded and *off advanced, 0 exactly at
 * the end, -1 malformed.
 */
int vk_inode_ref_next(const u8 *buf, u32 size, u32 *off, const char **name,
		      u32 *len);

/* A name of an inode: from a DIRENT entry, or from an INODE_REF entry. */
struct vk_name_link {
	u64 ino, dir;
	const char *name;
	u32 name_len;
};

enum vk_ref_problem_kind {
	VK_REF_MISSING = 1,	/* a directory entry without its back reference */
	VK_REF_STRAY,		/* a back reference without its directory entry */
	VK_REF_DUP,		/* a name listed twice in one back reference */
	VK_REF_MALFORMED,	/* an INODE_REF item that cannot be decoded */
};

struct vk_ref_problem {
	enum vk_ref_problem_kind kind;
	u64 ino, dir;		/* the inode and the directory naming it */
	const char *name;	/* not for MALFORMED */
	u32 name_len;
	const char *msg;	/* readable description, for the report */
};

typedef void (*vk_ref_problem_fn)(void *ctx, const struct vk_ref_problem *p);

/*
 * Match directory entries against back references, one for one (a name
 * listed twice in one directory needs one reference).  Sorts both arrays.
 * Returns the number of problems reported.
 */
long vk_match_refs(struct vk_name_link *names, size_t nnames,
		   struct vk_name_link *refs, size_t nrefs,
		   vk_ref_problem_fn report, void *ctx);
/*
 * Standalone check of the back references of a volume: reads the whole fs
 * tree, decodes every DIRENT and INODE_REF item and matches them.  Returns
 * the number of problems, or -EUCLEAN if tree nodes are damaged (items
 * would be missing: nothing is matched), -ENOMEM.
 */
long vk_check_refs(struct vk_vol *v, vk_ref_problem_fn report, void *ctx);

/* Inode item in CPU order, plus a validity check. */
void vk_inode_decode(const struct vx_inode_item *d, struct vx_inode_data *c, u64 ino);
/* NULL if well formed, else the first problem. */
const char *vk_inode_problem(const struct vx_inode_data *c);
char vk_mode_char(u32 mode);

#endif /* VX_CHECK_H */
