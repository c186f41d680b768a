/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VexFS on-disk format, version 1.
 *
 * Every multi-byte field is little-endian and every struct has a fixed size
 * pinned by the static asserts at the end of this file.  docs/FORMAT.md
 * describes the layout in prose; keep the two in step.
 */
#ifndef VX_FORMAT_H
#define VX_FORMAT_H

#include "vx_platform.h"

/* Superblock slots live at fixed byte offsets, independent of block size. */
#define VX_SB_OFFSET_0		4096ULL
#define VX_SB_OFFSET_1		8192ULL
#define VX_SB_SLOTS		2
#define VX_SB_SIZE		512	/* bytes covered by the superblock CRC */
/* Bytes at the start of the device that are never allocated. */
#define VX_RESERVED_BYTES	65536ULL

#define VX_MAGIC		"VEXFS-SB"	/* 8 bytes, no NUL on disk */
#define VX_MAGIC_LEN		8
#define VX_FORMAT_VERSION	1

#define VX_MIN_BLOCK_SIZE	1024
#define VX_MAX_BLOCK_SIZE	4096	/* <= PAGE_SIZE for the page cache */
#define VX_DEFAULT_BLOCK_SIZE	4096

#define VX_LABEL_LEN		64
#define VX_UUID_LEN		16

/* Feature words: none defined yet in v1. */
#define VX_FEATURE_COMPAT_SUPP		0ULL
#define VX_FEATURE_RO_COMPAT_SUPP	0ULL
#define VX_FEATURE_INCOMPAT_SUPP	0ULL

/* Superblock state flags */
#define VX_SB_STATE_ERROR	0x1	/* corruption was seen; run fsck */

/* Tree identifiers, recorded as the owner of every node. */
#define VX_TREE_FS		1	/* inodes, dirents, extents, xattrs */
#define VX_TREE_ALLOC		2	/* free-space bitmaps */

#define VX_NODE_MAGIC		0x45444f4eU	/* "NODE" */
#define VX_MAX_LEVELS		8	/* depth bound: no recursion anywhere */

/* Inode numbers. 0 is invalid; the root directory is 1. */
#define VX_ROOT_INO		1ULL
#define VX_FIRST_INO		16ULL	/* first number handed out by create */
#define VX_ORPHAN_OBJECTID	0xffffffffffffff00ULL

/* Item types: the middle component of a key.  Order matters for iteration. */
enum {
	VX_ITEM_INODE		= 1,	/* (ino, INODE, 0) -> vx_inode_item */
	VX_ITEM_XATTR		= 2,	/* (ino, XATTR, hash) -> vx_xattr_entry list */
	VX_ITEM_DIRENT		= 3,	/* (dir, DIRENT, name hash) -> vx_dirent list */
	VX_ITEM_DIRINDEX	= 4,	/* (dir, DIRINDEX, index) -> vx_dirent */
	VX_ITEM_EXTENT		= 5,	/* (ino, EXTENT, file block) -> vx_extent_item */
	VX_ITEM_ORPHAN		= 6,	/* (ORPHAN_OBJECTID, ORPHAN, ino) -> empty */
	VX_ITEM_INODE_REF	= 7,	/* (ino, INODE_REF, parent dir) -> vx_inode_ref list */
	VX_ITEM_EMBED		= 8,	/* (ino, EMBED, VX_EMBED_OFFSET(space, vid)) -> vx_embed_item */
	VX_ITEM_ALLOC_BITMAP	= 16,	/* (0, ALLOC_BITMAP, group) -> bitmap */
	VX_ITEM_SPACE		= 32,	/* (VX_SPACE_OBJID(id), SPACE, 0) -> vx_space_item */
	VX_ITEM_VBLOCK		= 33,	/* (VX_SPACE_OBJID(id), VBLOCK, VX_VBLOCK_OFFSET(col, blk)) -> vx_blockptr */
	VX_ITEM_VLINKS		= 34,	/* (VX_SPACE_OBJID(id), VLINKS, vid) -> HNSW links of levels >= 1 */
	VX_ITEM_STALE		= 35,	/* (VX_SPACE_OBJID(id), STALE, ino) -> vx_stale_item */
};

/*
 * Vector spaces.  Space ids are 1..VX_SPACE_ID_MAX; a space's own items live
 * under an objectid of a range no inode number reaches.
 */
#define VX_SPACE_ID_MAX		0xffffU
#define VX_SPACE_OBJID_BASE	0xfffffffffff00000ULL
#define VX_SPACE_OBJID(id)	(VX_SPACE_OBJID_BASE + (u64)(id))
#define VX_SPACE_NAME_LEN	64	/* NUL padded; at most 63 bytes used */
#define VX_MODEL_NAME_LEN	64
#define VX_MODEL_VERSION_LEN	32
#define VX_MAX_DIM		8192

/* An embedding's key offset: space id in the top 16 bits, vector id below. */
#define VX_VID_BITS		48
#define VX_VID_MAX		((1ULL << VX_VID_BITS) - 1)
#define VX_EMBED_OFFSET(space, vid)	(((u64)(space) << VX_VID_BITS) | (vid))
#define VX_EMBED_SPACE(off)	((u32)((off) >> VX_VID_BITS))
#define VX_EMBED_VID(off)	((off) & VX_VID_MAX)

/* Columns of a space's vector store; each is an array of fixed-stride records. */
enum {
	VX_VCOL_VECTORS = 0,	/* dim * element size bytes per vid */
	VX_VCOL_META = 1,	/* struct vx_vmeta per vid */
	VX_VCOL_GRAPH = 2,	/* HNSW level-0 links per vid: __le32 count, __le32 link[2M] */
	VX_VCOL_COUNT
};
#define VX_VBLOCK_OFFSET(col, blk)	(((u64)(col) << 56) | (blk))
#define VX_VBLOCK_COL(off)	((u32)((off) >> 56))
#define VX_VBLOCK_BLK(off)	((off) & ((1ULL << 56) - 1))

enum {
	VX_METRIC_L2 = 1,	/* squared euclidean distance */
	VX_METRIC_COSINE = 2,	/* 1 - cos(a, b) */
	VX_METRIC_IP = 3,	/* -dot(a, b) */
};
enum {
	VX_ELEM_F32 = 1,	/* float16 = 2 and int8 = 3 are reserved */
};

/* A pointer to a child block: carries the child's CRC and birth txn. */
struct vx_blockptr {
	__le64 blocknr;
	__le64 birth;		/* transaction that wrote the child */
	__le32 csum;		/* crc32c of the whole child block */
	__le32 pad;
};

struct vx_superblock {
	__le32 csum;		/* crc32c of bytes [4, VX_SB_SIZE) */
	__le32 version;		/* VX_FORMAT_VERSION */
	__u8   magic[VX_MAGIC_LEN];
	__le64 generation;	/* transaction id of the commit that wrote this */
	__le64 slot;		/* which slot this copy was written to */
	__u8   uuid[VX_UUID_LEN];
	__u8   label[VX_LABEL_LEN];	/* NUL padded */
	__le32 block_size;
	__le32 alloc_group_blocks;	/* blocks covered by one bitmap item */
	__le64 total_blocks;
	__le64 free_blocks;
	__le64 next_ino;
	__le64 inode_count;
	__le64 feature_compat;
	__le64 feature_ro_compat;
	__le64 feature_incompat;
	struct vx_blockptr fs_root;
	struct vx_blockptr alloc_root;
	__u8   fs_root_level;
	__u8   alloc_root_level;
	__le16 pad0;
	__le32 state;
	__le64 mkfs_time;
	__le64 commit_time;
	__le64 reserved[33];
};

/* Key order: objectid, then type, then offset. */
struct vx_key {
	__le64 objectid;
	__le64 offset;
	__u8   type;
	__u8   pad[7];
};

/* Header of every tree node (one block). */
struct vx_node_header {
	__le32 csum;		/* crc32c of bytes [4, block_size) */
	__le32 magic;		/* VX_NODE_MAGIC */
	__le64 blocknr;		/* where this node lives: detects misdirection */
	__le64 birth;		/* transaction that wrote it */
	__le64 owner;		/* VX_TREE_* */
	__u8   fsid[VX_UUID_LEN];
	__le16 nritems;
	__u8   level;		/* 0 = leaf */
	__u8   pad0;
	__le32 pad1;
	__le64 reserved;
};

/* Leaf item header: data grows down from the end of the block. */
struct vx_item {
	struct vx_key key;
	__le32 offset;		/* byte offset of the data within the block */
	__le32 size;
};

/*
 * Internal node entry: every key beneath ptr[i] is < key[i + 1], and >= key[i]
 * except beneath ptr[0], whose lower bound is the parent's (the code keeps
 * key[0] equal to the subtree's smallest key, but readers may not rely on it).
 */
struct vx_node_entry {
	struct vx_key key;
	struct vx_blockptr ptr;
};

struct vx_timespec {
	__le64 sec;
	__le32 nsec;
	__le32 pad;
};

struct vx_inode_item {
	__le32 mode;
	__le32 uid;
	__le32 gid;
	__le32 nlink;
	__le64 size;
	__le64 blocks;		/* file system blocks allocated to data */
	struct vx_timespec atime;
	struct vx_timespec mtime;
	struct vx_timespec ctime;
	struct vx_timespec crtime;
	__le64 generation;	/* for file handles; ino numbers are never reused */
	__le64 data_version;	/* bumped on every data change */
	__le64 next_dir_index;	/* directories: next readdir position */
	__le32 rdev;
	__le32 flags;
	__le64 parent;		/* directories: the parent directory's ino */
	__le32 default_space;	/* directories: space id new embeddings use, 0 none */
	__le32 auto_space;	/* directories: automatic embedding policy, VX_AUTO_* */
	__le64 reserved[2];
};

/*
 * Back reference from an inode to a directory naming it, one item per
 * (inode, directory) pair, names packed back to back (hard links in one
 * directory share the item).  Lets the kernel build a path and test "is
 * this file beneath that directory" without scanning directories.
 */
struct vx_inode_ref {
	__le16 name_len;
	/* name follows, not NUL terminated */
};

/*
 * Automatic embedding policy of a directory (vx_inode_item.auto_space):
 * inherit from the parent, a space id to embed into, or off for the subtree.
 */
#define VX_AUTO_INHERIT		0
#define VX_AUTO_OFF		0xffffffffU

/*
 * A file changed beneath a directory with an automatic embedding policy and
 * not embedded since: the persistent queue of the sidecar protocol.  Written
 * in the transaction of the data change, deleted in the transaction that
 * stores the file's new embeddings.  FAILED: a sidecar could not embed the
 * file at failed_version; it is not retried until the data changes.
 */
#define VX_STALE_FAILED		0x1
struct vx_stale_item {
	__le32 flags;		/* VX_STALE_* */
	__le32 failed_errno;	/* positive errno the sidecar reported */
	__le64 failed_version;	/* the data_version that failed */
};

/* One embedding of a file: the chunk it describes and the vector's slot. */
#define VX_EMBED_FLAG_NONE	0
struct vx_embed_item {
	__le64 chunk_offset;	/* bytes into the file */
	__le64 chunk_length;	/* bytes; the whole file is 0 + size */
	__le64 data_version;	/* the file's data_version it was computed from */
	__le32 flags;
	__le32 pad;
};

struct vx_space_item {
	__u8   name[VX_SPACE_NAME_LEN];
	__u8   model[VX_MODEL_NAME_LEN];
	__u8   model_version[VX_MODEL_VERSION_LEN];
	__le32 dim;
	__le32 elem_type;	/* VX_ELEM_* */
	__le32 metric;		/* VX_METRIC_* */
	__le32 hnsw_m;		/* links per node above level 0; 2M at level 0 */
	__le32 hnsw_ef_construction;
	__le32 hnsw_ef_search;	/* default ef of a search */
	__le32 flags;
	__le32 pad;
	__le64 vid_limit;	/* vids [0, vid_limit) have records in the columns */
	__le64 live_count;	/* embeddings stored */
	__le64 entry_vid;	/* HNSW entry point; VX_VID_NONE when the graph is empty */
	__le32 max_level;	/* level of the entry point */
	__le32 pad1;
	__le64 create_time;	/* ns since the epoch */
	__le64 reserved[3];
};
#define VX_VID_NONE		(~0ULL)
/*
 * vx_space_item.flags: the space was dropped; its name is cleared and its
 * items are being deleted by vx_space_reap() (vid_limit then counts down:
 * the EMBED items of vids >= vid_limit are already gone).
 */
#define VX_SPACE_FLAG_DROPPED	0x1

/* Record of the META column: who owns a vector slot. */
#define VX_VMETA_LIVE		0x1	/* slot holds an embedding */
#define VX_VMETA_INDEXED	0x2	/* linked into the HNSW graph (GRAPH column valid) */
struct vx_vmeta {
	__le64 ino;
	__le32 flags;
	__u8   level;		/* HNSW level of the node when INDEXED */
	__u8   pad[3];
};

/* Extent: file blocks [key.offset, key.offset + len) -> disk blocks. */
#define VX_EXTENT_UNWRITTEN	0x1	/* allocated by fallocate, reads as 0 */
struct vx_extent_item {
	__le64 disk_block;
	__le64 len;		/* blocks */
	__le32 flags;
	__le32 pad;
};

/*
 * Directory entry as stored (unaligned, packed back to back) in DIRENT items,
 * several per item when names collide on the hash, and singly in DIRINDEX
 * items.  Access fields through the helpers in vx_dir.c, never by cast.
 */
struct vx_dirent_hdr {
	__le64 ino;
	__le64 index;		/* DIRINDEX position, readdir offset */
	__le16 name_len;
	__u8   ftype;		/* VX_FT_* */
	__u8   pad;
	__le32 pad1;
	/* name follows, not NUL terminated */
};

enum {
	VX_FT_UNKNOWN = 0,
	VX_FT_REG = 1,
	VX_FT_DIR = 2,
	VX_FT_CHR = 3,
	VX_FT_BLK = 4,
	VX_FT_FIFO = 5,
	VX_FT_SOCK = 6,
	VX_FT_LNK = 7,
};

/* Extended attribute as stored in XATTR items (several per item). */
struct vx_xattr_hdr {
	__u8   index;		/* VX_XATTR_INDEX_* namespace */
	__u8   name_len;
	__le16 value_len;
	/* name, then value follow */
};

enum {
	VX_XATTR_INDEX_USER = 1,
	VX_XATTR_INDEX_TRUSTED = 2,
	VX_XATTR_INDEX_SECURITY = 3,
	VX_XATTR_INDEX_POSIX_ACL_ACCESS = 4,
	VX_XATTR_INDEX_POSIX_ACL_DEFAULT = 5,
};

#define VX_NAME_MAX		255
/* File block numbers stay below this (2^52 blocks: far beyond s_maxbytes). */
#define VX_MAX_FILE_BLOCKS	(1ULL << 52)
/* Largest file size an inode may record (the kernel's s_maxbytes). */
#define VX_MAX_FILE_SIZE	(1ULL << 62)

VX_STATIC_ASSERT(sizeof(struct vx_blockptr) == 24);
VX_STATIC_ASSERT(sizeof(struct vx_superblock) == VX_SB_SIZE);
VX_STATIC_ASSERT(sizeof(struct vx_key) == 24);
VX_STATIC_ASSERT(sizeof(struct vx_node_header) == 64);
VX_STATIC_ASSERT(sizeof(struct vx_item) == 32);
VX_STATIC_ASSERT(sizeof(struct vx_node_entry) == 48);
VX_STATIC_ASSERT(sizeof(struct vx_timespec) == 16);
VX_STATIC_ASSERT(sizeof(struct vx_inode_item) == 160);
VX_STATIC_ASSERT(sizeof(struct vx_extent_item) == 24);
VX_STATIC_ASSERT(sizeof(struct vx_dirent_hdr) == 24);
VX_STATIC_ASSERT(sizeof(struct vx_xattr_hdr) == 4);
VX_STATIC_ASSERT(sizeof(struct vx_inode_ref) == 2);
VX_STATIC_ASSERT(sizeof(struct vx_stale_item) == 16);
VX_STATIC_ASSERT(sizeof(struct vx_embed_item) == 32);
VX_STATIC_ASSERT(sizeof(struct vx_space_item) == 256);
VX_STATIC_ASSERT(sizeof(struct vx_vmeta) == 16);

#endif /* VX_FORMAT_H */
