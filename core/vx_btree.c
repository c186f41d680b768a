// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-on-write B+trees of keyed items.
 *
 * A node that was committed is never modified: the first change to it in a
 * transaction copies it to a newly allocated block ("CoW"), which requires
 * its parent to be copied too, up to the root.  Nodes written by the running
 * transaction (dirty) are changed in place and stay pinned in the node cache
 * until vx_fs_commit() writes them.  Parents carry each child's checksum and
 * birth transaction, filled in at commit.
 *
 * Leaves: item headers grow up from the node header, item data lives in the
 * rest of the block in no particular order; a leaf is compacted when its free
 * space is fragmented.  Internal nodes: (key, blockptr) entries where key[i]
 * is <= every key under ptr[i] and every key under ptr[i] is < key[i + 1].
 *
 * Every walk is iterative with an explicit path bounded by VX_MAX_LEVELS.
 */
#include "vx_internal.h"

struct vx_path {
	struct vx_node *nodes[VX_MAX_LEVELS];
	int slots[VX_MAX_LEVELS];
	int top;		/* level of the root in this path */
};

void vx_key_to_disk(struct vx_key *d, const struct vx_ckey *c)
{
	memset(d, 0, sizeof(*d));
	d->objectid = cpu_to_le64(c->objectid);
	d->offset = cpu_to_le64(c->offset);
	d->type = c->type;
}

void vx_key_from_disk(struct vx_ckey *c, const struct vx_key *d)
{
	c->objectid = le64_to_cpu(d->objectid);
	c->offset = le64_to_cpu(d->offset);
	c->type = d->type;
}

int vx_key_cmp(const struct vx_ckey *a, const struct vx_ckey *b)
{
	if (a->objectid != b->objectid)
		return a->objectid < b->objectid ? -1 : 1;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return 0;
}

static int disk_key_cmp(const struct vx_key *a, const struct vx_ckey *b)
{
	struct vx_ckey ka;

	vx_key_from_disk(&ka, a);
	return vx_key_cmp(&ka, b);
}

static int disk_keys_cmp(const struct vx_key *a, const struct vx_key *b)
{
	struct vx_ckey kb;

	vx_key_from_disk(&kb, b);
	return disk_key_cmp(a, &kb);
}

u32 vx_csum(const void *p, u32 len)
{
	return vx_crc32c(~0U, p, len);
}

static u32 node_csum(const struct vx_fs *fs, const u8 *data)
{
	return vx_csum(data + 4, fs->bs - 4);
}

/* ---------------------------------------------------------------- cache */

static u32 hash_slot(const struct vx_fs *fs, u64 blocknr)
{
	return (u32)((blocknr * 0x9E3779B97F4A7C15ULL) >> 40) & fs->hash_mask;
}

static struct vx_node *cache_find(struct vx_fs *fs, u64 blocknr)
{
	struct vx_node *n = fs->hash[hash_slot(fs, blocknr)];

	while (n && n->blocknr != blocknr)
		n = n->hash_next;
	return n;
}

static void lru_del(struct vx_node *n)
{
	if (n->lru_next) {
		n->lru_prev->lru_next = n->lru_next;
		n->lru_next->lru_prev = n->lru_prev;
		n->lru_next = n->lru_prev = NULL;
	}
}

static void lru_add(struct vx_fs *fs, struct vx_node *n)
{
	n->lru_next = &fs->lru;
	n->lru_prev = fs->lru.lru_prev;
	fs->lru.lru_prev->lru_next = n;
	fs->lru.lru_prev = n;
}

static void dirty_add(struct vx_fs *fs, struct vx_node *n)
{
	n->dirty = true;
	n->dirty_prev = NULL;
	n->dirty_next = fs->dirty_list;
	if (fs->dirty_list)
		fs->dirty_list->dirty_prev = n;
	fs->dirty_list = n;
	fs->nr_dirty++;
}

static void dirty_del(struct vx_fs *fs, struct vx_node *n)
{
	if (!n->dirty)
		return;
	if (n->dirty_prev)
		n->dirty_prev->dirty_next = n->dirty_next;
	else
		fs->dirty_list = n->dirty_next;
	if (n->dirty_next)
		n->dirty_next->dirty_prev = n->dirty_prev;
	n->dirty_next = n->dirty_prev = NULL;
	n->dirty = false;
	fs->nr_dirty--;
}

static void cache_remove(struct vx_fs *fs, struct vx_node *n)
{
	struct vx_node **pp = &fs->hash[hash_slot(fs, n->blocknr)];

	while (*pp && *pp != n)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = n->hash_next;
	lru_del(n);
	dirty_del(fs, n);
	fs->nr_nodes--;
	vx_free(n->data);
	vx_free(n);
}

static void cache_shrink(struct vx_fs *fs)
{
	while (fs->nr_nodes > fs->cache_limit && fs->lru.lru_next != &fs->lru)
		cache_remove(fs, fs->lru.lru_next);
}

static struct vx_node *cache_insert(struct vx_fs *fs, u64 blocknr)
{
	struct vx_node *n = vx_zalloc(sizeof(*n));
	u32 slot;

	if (!n)
		return NULL;
	n->data = vx_malloc(fs->bs);
	if (!n->data) {
		vx_free(n);
		return NULL;
	}
	n->blocknr = blocknr;
	n->refs = 1;
	slot = hash_slot(fs, blocknr);
	n->hash_next = fs->hash[slot];
	fs->hash[slot] = n;
	fs->nr_nodes++;
	return n;
}

static void node_put(struct vx_fs *fs, struct vx_node *n)
{
	if (!n)
		return;
	if (--n->refs)
		return;
	if (n->freed) {
		cache_remove(fs, n);
		return;
	}
	if (!n->dirty) {
		lru_add(fs, n);
		cache_shrink(fs);
	}
}

static void path_release(struct vx_fs *fs, struct vx_path *p)
{
	for (int i = 0; i < VX_MAX_LEVELS; i++) {
		node_put(fs, p->nodes[i]);
		p->nodes[i] = NULL;
	}
}

/* Structural checks that make a node safe to use, whatever its content. */
static int node_validate(struct vx_fs *fs, const u8 *data, u64 blocknr,
			 u64 birth, u32 csum, int level, int owner,
			 const char **why)
{
	const struct vx_node_header *h = (const void *)data;
	u32 n = le16_to_cpu(h->nritems);
	u32 i, used;

	if (le32_to_cpu(h->magic) != VX_NODE_MAGIC) {
		*why = "bad magic";
		return -EUCLEAN;
	}
	if (le32_to_cpu(h->csum) != node_csum(fs, data)) {
		*why = "checksum mismatch";
		return -EUCLEAN;
	}
	if (csum != le32_to_cpu(h->csum)) {
		*why = "checksum differs from the parent's record (stale or misdirected write)";
		return -EUCLEAN;
	}
	if (le64_to_cpu(h->blocknr) != blocknr) {
		*why = "misdirected write (wrong block number)";
		return -EUCLEAN;
	}
	if (le64_to_cpu(h->birth) != birth) {
		*why = "stale block (birth transaction differs from the parent's record)";
		return -EUCLEAN;
	}
	if (le64_to_cpu(h->owner) != (u64)owner) {
		*why = "wrong owner tree";
		return -EUCLEAN;
	}
	if (memcmp(h->fsid, fs->sb.uuid, VX_UUID_LEN)) {
		*why = "belongs to another file system";
		return -EUCLEAN;
	}
	if (h->level != level) {
		*why = "wrong level";
		return -EUCLEAN;
	}
	if (level == 0) {
		const struct vx_item *it = (const void *)(data + VX_HDR_SIZE);

		if (VX_HDR_SIZE + (u64)n * VX_ITEM_SIZE > fs->bs) {
			*why = "too many items";
			return -EUCLEAN;
		}
		used = VX_HDR_SIZE + n * VX_ITEM_SIZE;
		for (i = 0; i < n; i++) {
			u32 off = le32_to_cpu(it[i].offset);
			u32 sz = le32_to_cpu(it[i].size);

			if (off < VX_HDR_SIZE + n * VX_ITEM_SIZE || off > fs->bs ||
			    sz > fs->bs - off) {
				*why = "item out of bounds";
				return -EUCLEAN;
			}
			used += sz;
			if (used > fs->bs) {
				*why = "items overflow the block";
				return -EUCLEAN;
			}
			if (i && disk_keys_cmp(&it[i - 1].key, &it[i].key) >= 0) {
				*why = "keys out of order";
				return -EUCLEAN;
			}
		}
	} else {
		const struct vx_node_entry *e = (const void *)(data + VX_HDR_SIZE);

		if (n == 0 || VX_HDR_SIZE + (u64)n * VX_ENTRY_SIZE > fs->bs) {
			*why = "bad entry count";
			return -EUCLEAN;
		}
		for (i = 0; i < n; i++) {
			u64 b = le64_to_cpu(e[i].ptr.blocknr);

			if (b < fs->first_data_block || b >= fs->total_blocks) {
				*why = "child pointer out of range";
				return -EUCLEAN;
			}
			if (le64_to_cpu(e[i].ptr.birth) > le64_to_cpu(h->birth)) {
				*why = "child born after its parent";
				return -EUCLEAN;
			}
			if (i && disk_keys_cmp(&e[i - 1].key, &e[i].key) >= 0) {
				*why = "keys out of order";
				return -EUCLEAN;
			}
		}
	}
	return 0;
}

static const char *tree_name(int tree)
{
	return tree == VX_TREE_FS ? "fs" : tree == VX_TREE_ALLOC ? "alloc" : "?";
}

/* Get a referenced node, reading and verifying it on a cache miss. */
static int node_read(struct vx_fs *fs, int tree, const struct vx_blockptr *ptr,
		     int level, struct vx_node **out)
{
	u64 blocknr = le64_to_cpu(ptr->blocknr);
	u64 birth = le64_to_cpu(ptr->birth);
	struct vx_node *n = cache_find(fs, blocknr);
	const char *why = NULL;
	int err;

	if (n && !n->freed) {
		if (vx_level(n) != level) {
			vx_log_err("tree %s block %llu: cached node has level %u, expected %d",
				   tree_name(tree), (unsigned long long)blocknr,
				   vx_level(n), level);
			return -EUCLEAN;
		}
		if (!n->refs++)
			lru_del(n);
		*out = n;
		return 0;
	}
	if (n) {
		/* freed but still referenced: should never be reachable */
		return -EUCLEAN;
	}
	if (blocknr < fs->first_data_block || blocknr >= fs->total_blocks) {
		vx_log_err("tree %s: pointer to block %llu outside the volume",
			   tree_name(tree), (unsigned long long)blocknr);
		return -EUCLEAN;
	}
	n = cache_insert(fs, blocknr);
	if (!n)
		return -ENOMEM;
	err = fs->ops->read_block(fs->dev, blocknr, n->data);
	if (!err)
		err = node_validate(fs, n->data, blocknr, birth,
				    le32_to_cpu(ptr->csum), level, tree, &why);
	if (err) {
		if (why)
			vx_log_err("tree %s block %llu level %d: %s",
				   tree_name(tree), (unsigned long long)blocknr,
				   level, why);
		else
			vx_log_err("tree %s block %llu: read error %d",
				   tree_name(tree), (unsigned long long)blocknr, err);
		n->refs = 0;
		cache_remove(fs, n);
		return err;
	}
	*out = n;
	return 0;
}

/* Leaves read ahead of a sequential walk (an inode-order stat, readdir). */
#define VX_LEAF_READAHEAD	16

/*
 * About to read child slot of internal node parent, one level above the
 * leaves.  When that leaf is not cached but its left sibling is, the walk
 * looks sequential: start reading the next leaves now, as ext4 reads its
 * inode table ahead, so that they are not waited for one at a time.  A
 * random walk rarely meets the condition while the cache is cold.  The next
 * window starts when the walk passes the end of the previous one.
 */
static void leaf_readahead(struct vx_fs *fs, const struct vx_node *parent,
			   int slot)
{
	const struct vx_node_entry *e = vx_entries(parent);
	int n = (int)vx_nritems(parent), i;

	if (!fs->ops->readahead || slot < 1 ||
	    (fs->ra_parent == parent->blocknr && slot < fs->ra_end) ||
	    cache_find(fs, le64_to_cpu(e[slot].ptr.blocknr)) ||
	    !cache_find(fs, le64_to_cpu(e[slot - 1].ptr.blocknr)))
		return;
	fs->ra_parent = parent->blocknr;
	fs->ra_end = slot + VX_LEAF_READAHEAD;
	for (i = slot + 1; i < n && i <= slot + VX_LEAF_READAHEAD; i++) {
		u64 b = le64_to_cpu(e[i].ptr.blocknr);

		if (b >= fs->first_data_block && b < fs->total_blocks &&
		    !cache_find(fs, b))
			fs->ops->readahead(fs->dev, b);
	}
}

static void root_ptr(const struct vx_fs *fs, int tree, struct vx_blockptr *p)
{
	p->blocknr = cpu_to_le64(fs->roots[tree].blocknr);
	p->birth = cpu_to_le64(fs->roots[tree].birth);
	p->csum = cpu_to_le32(fs->roots[tree].csum);
	p->pad = 0;
}

static int alloc_meta_block(struct vx_fs *fs, u64 *blocknr)
{
	u64 got;
	int err = vx_alloc_blocks(fs, fs->alloc_cursor, 1, false, blocknr, &got);

	if (err)
		return err;
	fs->alloc_cursor = *blocknr + 1;
	return 0;
}

/* A fresh dirty node at a newly allocated block. */
static int node_new(struct vx_fs *fs, int tree, int level, struct vx_node **out)
{
	struct vx_node_header *h;
	struct vx_node *n, *old;
	u64 blocknr;
	int err = alloc_meta_block(fs, &blocknr);

	if (err)
		return err;
	old = cache_find(fs, blocknr);
	if (old) {
		/* a stale copy of a block freed earlier */
		if (old->refs) {
			vx_log_err("block %llu reallocated while in use",
				   (unsigned long long)blocknr);
			return -EUCLEAN;
		}
		cache_remove(fs, old);
	}
	if (fs->ops->forget_block)
		fs->ops->forget_block(fs->dev, blocknr);
	n = cache_insert(fs, blocknr);
	if (!n) {
		vx_free_blocks(fs, blocknr, 1);
		return -ENOMEM;
	}
	memset(n->data, 0, fs->bs);
	h = vx_hdr(n);
	h->magic = cpu_to_le32(VX_NODE_MAGIC);
	h->blocknr = cpu_to_le64(blocknr);
	h->birth = cpu_to_le64(fs->txn);
	h->owner = cpu_to_le64(tree);
	memcpy(h->fsid, fs->sb.uuid, VX_UUID_LEN);
	h->level = level;
	dirty_add(fs, n);
	fs->dirty = true;
	*out = n;
	return 0;
}

/* Release a node's block; the node object goes when its last ref does. */
static void node_free(struct vx_fs *fs, struct vx_node *n)
{
	vx_free_blocks(fs, n->blocknr, 1);
	n->freed = true;
}

static void set_ptr(struct vx_blockptr *p, const struct vx_node *n)
{
	p->blocknr = cpu_to_le64(n->blocknr);
	p->birth = vx_hdr(n)->birth;
	p->csum = 0;		/* filled in at commit */
	p->pad = 0;
}

static void set_root(struct vx_fs *fs, int tree, const struct vx_node *n)
{
	fs->roots[tree].blocknr = n->blocknr;
	fs->roots[tree].birth = le64_to_cpu(vx_hdr(n)->birth);
	fs->roots[tree].csum = 0;
	fs->roots[tree].level = vx_level(n);
	fs->dirty = true;
}

/*
 * Make path->nodes[level] writable.  Its parent (if any) is writable already,
 * since paths are made writable from the root down.
 */
static int node_cow(struct vx_fs *fs, int tree, struct vx_path *p, int level)
{
	struct vx_node *old = p->nodes[level], *n;
	int err;

	if (old->dirty)
		return 0;
	err = node_new(fs, tree, level, &n);
	if (err)
		return err;
	memcpy(n->data + VX_HDR_SIZE, old->data + VX_HDR_SIZE, fs->bs - VX_HDR_SIZE);
	vx_hdr(n)->nritems = vx_hdr(old)->nritems;
	if (level == p->top)
		set_root(fs, tree, n);
	else
		set_ptr(&vx_entries(p->nodes[level + 1])[p->slots[level + 1]].ptr, n);
	node_free(fs, old);
	node_put(fs, old);
	p->nodes[level] = n;
	return 0;
}

/* Index of the child to descend into: last key <= target, else 0. */
static int internal_slot(const struct vx_node *n, const struct vx_ckey *key)
{
	const struct vx_node_entry *e = vx_entries(n);
	int lo = 0, hi = vx_nritems(n) - 1;

	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;

		if (disk_key_cmp(&e[mid].key, key) <= 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* First item >= key; *exact set on a match. */
static int leaf_slot(const struct vx_node *n, const struct vx_ckey *key, bool *exact)
{
	const struct vx_item *it = vx_items(n);
	int lo = 0, hi = vx_nritems(n);

	*exact = false;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		int c = disk_key_cmp(&it[mid].key, key);

		if (c == 0) {
			*exact = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Create an empty root leaf for a tree that has none. */
static int tree_ensure_root(struct vx_fs *fs, int tree)
{
	struct vx_node *n;
	int err;

	if (fs->roots[tree].blocknr)
		return 0;
	err = node_new(fs, tree, 0, &n);
	if (err)
		return err;
	set_root(fs, tree, n);
	node_put(fs, n);
	return 0;
}

/*
 * Walk from the root to the leaf that holds (or would hold) key.  With cow,
 * every node on the path is made writable.  Returns 1 on an exact match.
 */
static int tree_search(struct vx_fs *fs, int tree, const struct vx_ckey *key,
		       struct vx_path *p, bool cow)
{
	struct vx_blockptr ptr;
	int level, err;
	bool exact;

	memset(p, 0, sizeof(*p));
	if (!fs->roots[tree].blocknr) {
		if (!cow)
			return -ENOENT;
		err = tree_ensure_root(fs, tree);
		if (err)
			return err;
	}
	level = fs->roots[tree].level;
	if (level >= VX_MAX_LEVELS)
		return -EUCLEAN;
	p->top = level;
	root_ptr(fs, tree, &ptr);
	err = node_read(fs, tree, &ptr, level, &p->nodes[level]);
	if (err)
		return err;
	for (;;) {
		struct vx_node *n;
		int slot;

		if (cow) {
			err = node_cow(fs, tree, p, level);
			if (err)
				goto fail;
		}
		n = p->nodes[level];
		if (level == 0) {
			p->slots[0] = leaf_slot(n, key, &exact);
			return exact ? 1 : 0;
		}
		slot = internal_slot(n, key);
		p->slots[level] = slot;
		if (level == 1)
			leaf_readahead(fs, n, slot);
		err = node_read(fs, tree, &vx_entries(n)[slot].ptr, level - 1,
				&p->nodes[level - 1]);
		if (err)
			goto fail;
		level--;
	}
fail:
	path_release(fs, p);
	return err;
}

static u32 leaf_used(const struct vx_fs *fs, const struct vx_node *n)
{
	const struct vx_item *it = vx_items(n);
	u32 used = VX_HDR_SIZE, i;

	for (i = 0; i < vx_nritems(n); i++)
		used += VX_ITEM_SIZE + le32_to_cpu(it[i].size);
	return used;
}

static u32 leaf_free(const struct vx_fs *fs, const struct vx_node *n)
{
	return fs->bs - leaf_used(fs, n);
}

/* Rewrite a leaf so that its free space is one contiguous gap. */
static void leaf_compact(struct vx_fs *fs, struct vx_node *n)
{
	struct vx_item *it = vx_items(n);
	u32 end = fs->bs, i;

	memcpy(fs->scratch, n->data, fs->bs);
	for (i = 0; i < vx_nritems(n); i++) {
		u32 sz = le32_to_cpu(it[i].size);

		end -= sz;
		memcpy(n->data + end, fs->scratch + le32_to_cpu(it[i].offset), sz);
		it[i].offset = cpu_to_le32(end);
	}
	memset(n->data + VX_HDR_SIZE + vx_nritems(n) * VX_ITEM_SIZE, 0,
	       end - VX_HDR_SIZE - vx_nritems(n) * VX_ITEM_SIZE);
}

/* Lowest data offset in use (the top of the free gap). */
static u32 leaf_data_start(const struct vx_fs *fs, const struct vx_node *n)
{
	const struct vx_item *it = vx_items(n);
	u32 low = fs->bs, i;

	for (i = 0; i < vx_nritems(n); i++)
		if (le32_to_cpu(it[i].offset) < low)
			low = le32_to_cpu(it[i].offset);
	return low;
}

/* Caller guarantees leaf_free() >= VX_ITEM_SIZE + size. */
static void leaf_insert_at(struct vx_fs *fs, struct vx_node *n, int slot,
			   const struct vx_ckey *key, const void *data, u32 size)
{
	struct vx_item *it = vx_items(n);
	u32 nr = vx_nritems(n);
	u32 start;

	start = leaf_data_start(fs, n);
	if (start < VX_HDR_SIZE + (nr + 1) * VX_ITEM_SIZE + size) {
		leaf_compact(fs, n);
		start = leaf_data_start(fs, n);
	}
	memmove(&it[slot + 1], &it[slot], (nr - slot) * VX_ITEM_SIZE);
	vx_key_to_disk(&it[slot].key, key);
	start -= size;
	it[slot].offset = cpu_to_le32(start);
	it[slot].size = cpu_to_le32(size);
	if (size)
		memcpy(n->data + start, data, size);
	vx_hdr(n)->nritems = cpu_to_le16(nr + 1);
}

static void leaf_delete_at(struct vx_node *n, int slot)
{
	struct vx_item *it = vx_items(n);
	u32 nr = vx_nritems(n);

	memmove(&it[slot], &it[slot + 1], (nr - slot - 1) * VX_ITEM_SIZE);
	memset(&it[nr - 1], 0, VX_ITEM_SIZE);
	vx_hdr(n)->nritems = cpu_to_le16(nr - 1);
}

static u32 internal_max(const struct vx_fs *fs)
{
	return (fs->bs - VX_HDR_SIZE) / VX_ENTRY_SIZE;
}

u32 vx_max_item_size(const struct vx_fs *fs)
{
	/* Any two items must fit one leaf, so a split always succeeds. */
	return (fs->bs - VX_HDR_SIZE) / 2 - VX_ITEM_SIZE;
}

/* After inserting at slot 0, keep parents' separator keys equal to the min. */
static void fixup_low_keys(struct vx_path *p, const struct vx_ckey *key)
{
	for (int level = 1; level <= p->top; level++) {
		int slot = p->slots[level];

		vx_key_to_disk(&vx_entries(p->nodes[level])[slot].key, key);
		if (slot)
			break;
	}
}

/*
 * Insert (key, ptr to child) into the internal node at path level `level`
 * right after slot p->slots[level], splitting upwards as needed.  The caller
 * keeps its reference on child.
 */
static int insert_ptr(struct vx_fs *fs, int tree, struct vx_path *p, int level,
		      struct vx_key key, struct vx_node *child)
{
	struct vx_node *owned = NULL;	/* split-off node we must release */
	int err = 0;

	for (;;) {
		struct vx_node *n, *right, *target;
		struct vx_node_entry *e;
		u32 nr, half, tnr;
		int slot, tslot;

		if (level > p->top) {
			/* grow a new root above the old one */
			struct vx_node *root, *old = p->nodes[p->top];

			if (level >= VX_MAX_LEVELS) {
				err = -ENOSPC;
				break;
			}
			err = node_new(fs, tree, level, &root);
			if (err)
				break;
			e = vx_entries(root);
			if (vx_level(old))
				e[0].key = vx_entries(old)[0].key;
			else if (vx_nritems(old))
				e[0].key = vx_items(old)[0].key;
			set_ptr(&e[0].ptr, old);
			e[1].key = key;
			set_ptr(&e[1].ptr, child);
			vx_hdr(root)->nritems = cpu_to_le16(2);
			set_root(fs, tree, root);
			p->nodes[level] = root;
			p->slots[level] = 0;
			p->top = level;
			break;
		}
		n = p->nodes[level];
		slot = p->slots[level] + 1;
		nr = vx_nritems(n);
		e = vx_entries(n);
		if (nr < internal_max(fs)) {
			memmove(&e[slot + 1], &e[slot], (nr - slot) * VX_ENTRY_SIZE);
			e[slot].key = key;
			set_ptr(&e[slot].ptr, child);
			vx_hdr(n)->nritems = cpu_to_le16(nr + 1);
			break;
		}
		/* split: entries [0, half) stay, [half, nr) move right */
		err = node_new(fs, tree, level, &right);
		if (err)
			break;
		/* appending: keep this node full (see leaf_insert) */
		half = (u32)slot == nr ? nr : nr / 2;
		memcpy(vx_entries(right), &e[half], (nr - half) * VX_ENTRY_SIZE);
		memset(&e[half], 0, (nr - half) * VX_ENTRY_SIZE);
		vx_hdr(right)->nritems = cpu_to_le16(nr - half);
		vx_hdr(n)->nritems = cpu_to_le16(half);
		target = n;
		tslot = slot;
		if ((u32)slot > half || half == nr) {
			target = right;
			tslot = slot - half;
		}
		e = vx_entries(target);
		tnr = vx_nritems(target);
		memmove(&e[tslot + 1], &e[tslot], (tnr - tslot) * VX_ENTRY_SIZE);
		e[tslot].key = key;
		set_ptr(&e[tslot].ptr, child);
		vx_hdr(target)->nritems = cpu_to_le16(tnr + 1);
		/* the path's slot must keep pointing at the node it descended */
		if (target == right && p->slots[level] >= (int)half) {
			/* path child moved right; the path keeps n: harmless,
			 * callers do not use the path below this level again.
			 */
		}
		key = vx_entries(right)[0].key;
		if (owned)
			node_put(fs, owned);
		owned = right;
		child = right;
		level++;
	}
	if (owned)
		node_put(fs, owned);
	return err;
}

/*
 * Insert an item into the leaf of path p at p->slots[0], splitting the leaf
 * when it is full.  Any two items fit in one leaf, so one split suffices:
 * the items (with the new one in place) are divided at the point that
 * balances the bytes on each side while both sides fit.
 */
static int leaf_insert(struct vx_fs *fs, int tree, struct vx_path *p,
		       const struct vx_ckey *key, const void *data, u32 size)
{
	struct vx_node *leaf = p->nodes[0], *right;
	int slot = p->slots[0];
	u32 nr = vx_nritems(leaf), cap = fs->bs - VX_HDR_SIZE;
	u32 total = 0, left_bytes = 0, best = 0, best_diff = ~0U, i;
	struct vx_item *it = vx_items(leaf);
	struct vx_key split_key;
	int err;

	if (leaf_free(fs, leaf) >= VX_ITEM_SIZE + size) {
		leaf_insert_at(fs, leaf, slot, key, data, size);
		if (slot == 0 && p->top > 0)
			fixup_low_keys(p, key);
		return 0;
	}

	/* virtual item j: j < slot -> it[j]; j == slot -> new; else it[j-1] */
#define VSIZE(j) (VX_ITEM_SIZE + ((j) == (u32)slot ? size : \
		  le32_to_cpu(it[(j) < (u32)slot ? (j) : (j) - 1].size)))
	for (i = 0; i <= nr; i++)
		total += VSIZE(i);
	for (i = 1; i <= nr; i++) {
		u32 diff;

		left_bytes += VSIZE(i - 1);
		if (left_bytes > cap)
			break;
		if (total - left_bytes > cap)
			continue;
		diff = left_bytes > total - left_bytes ?
			left_bytes - (total - left_bytes) :
			(total - left_bytes) - left_bytes;
		if (diff < best_diff) {
			best_diff = diff;
			best = i;
		}
	}
#undef VSIZE
	/*
	 * Appending past the last item (ascending inode numbers, readdir
	 * indexes): keep the old leaf full and start a new one, so sequential
	 * inserts fill leaves instead of leaving them half empty.
	 */
	if ((u32)slot == nr)
		best = nr;
	if (!best)
		return -EUCLEAN;	/* cannot happen with bounded item sizes */

	err = node_new(fs, tree, 0, &right);
	if (err)
		return err;
	/* move real items from index (best or best-1) on to the right leaf */
	{
		u32 first_moved = best <= (u32)slot ? best : best - 1;
		u32 k, r = 0;

		for (k = first_moved; k < nr; k++) {
			struct vx_ckey ck;

			vx_key_from_disk(&ck, &it[k].key);
			leaf_insert_at(fs, right, r++, &ck,
				       leaf->data + le32_to_cpu(it[k].offset),
				       le32_to_cpu(it[k].size));
		}
		for (k = nr; k > first_moved; k--)
			leaf_delete_at(leaf, k - 1);
		leaf_compact(fs, leaf);
		if ((u32)slot < best) {
			leaf_insert_at(fs, leaf, slot, key, data, size);
		} else {
			leaf_insert_at(fs, right, slot - first_moved, key, data, size);
		}
	}
	if (slot == 0 && p->top > 0)
		fixup_low_keys(p, key);
	split_key = vx_items(right)[0].key;
	err = insert_ptr(fs, tree, p, 1, split_key, right);
	node_put(fs, right);
	return err;
}

/*
 * Remove entry `slot` from the internal node at `level`, or the item from a
 * leaf, then repair: empty nodes go away, underfull nodes merge with a
 * sibling when the two fit in one node, and a root with one child shrinks.
 */
static u32 node_bytes(const struct vx_fs *fs, const struct vx_node *n)
{
	if (vx_level(n) == 0)
		return leaf_used(fs, n) - VX_HDR_SIZE;
	return vx_nritems(n) * VX_ENTRY_SIZE;
}

/* Append all of src's entries/items to dst (dst precedes src in key order). */
static void node_append(struct vx_fs *fs, struct vx_node *dst, struct vx_node *src)
{
	u32 i, nr = vx_nritems(src);

	if (vx_level(dst) == 0) {
		struct vx_item *it = vx_items(src);

		for (i = 0; i < nr; i++) {
			struct vx_ckey ck;

			vx_key_from_disk(&ck, &it[i].key);
			leaf_insert_at(fs, dst, vx_nritems(dst), &ck,
				       src->data + le32_to_cpu(it[i].offset),
				       le32_to_cpu(it[i].size));
		}
	} else {
		memcpy(&vx_entries(dst)[vx_nritems(dst)], vx_entries(src),
		       nr * VX_ENTRY_SIZE);
		vx_hdr(dst)->nritems = cpu_to_le16(vx_nritems(dst) + nr);
	}
}

static int rebalance(struct vx_fs *fs, int tree, struct vx_path *p)
{
	int level;

	for (level = 0; level < p->top; level++) {
		struct vx_node *n = p->nodes[level], *parent = p->nodes[level + 1];
		int pslot = p->slots[level + 1];
		u32 cap = fs->bs - VX_HDR_SIZE;
		struct vx_node_entry *pe = vx_entries(parent);
		u32 pnr = vx_nritems(parent);

		if (vx_nritems(n) == 0) {
			memmove(&pe[pslot], &pe[pslot + 1], (pnr - pslot - 1) * VX_ENTRY_SIZE);
			memset(&pe[pnr - 1], 0, VX_ENTRY_SIZE);
			vx_hdr(parent)->nritems = cpu_to_le16(pnr - 1);
			node_free(fs, n);
			continue;
		}
		if (node_bytes(fs, n) >= cap / 4)
			break;
		/* try merging with the right sibling, then the left one */
		for (int dir = 1; dir >= -1; dir -= 2) {
			int sslot = pslot + dir;
			struct vx_path sp = *p;
			struct vx_node *sib = NULL, *left, *right;
			int err;

			if (sslot < 0 || sslot >= (int)pnr)
				continue;
			err = node_read(fs, tree, &pe[sslot].ptr, level, &sib);
			if (err)
				continue;	/* merging is optional */
			if (node_bytes(fs, sib) + node_bytes(fs, n) > cap) {
				node_put(fs, sib);
				continue;
			}
			/* make the sibling writable through a path copy */
			memset(&sp, 0, sizeof(sp));
			sp.top = level + 1;
			sp.nodes[level + 1] = parent;
			sp.slots[level + 1] = sslot;
			sp.nodes[level] = sib;
			err = node_cow(fs, tree, &sp, level);
			if (err) {
				node_put(fs, sp.nodes[level]);
				return err;
			}
			sib = sp.nodes[level];
			left = dir > 0 ? n : sib;
			right = dir > 0 ? sib : n;
			node_append(fs, left, right);
			/* drop the right node's entry from the parent */
			{
				int rslot = dir > 0 ? sslot : pslot;

				memmove(&pe[rslot], &pe[rslot + 1],
					(pnr - rslot - 1) * VX_ENTRY_SIZE);
				memset(&pe[pnr - 1], 0, VX_ENTRY_SIZE);
				vx_hdr(parent)->nritems = cpu_to_le16(pnr - 1);
			}
			node_free(fs, right);
			node_put(fs, sib);
			break;
		}
		if (vx_nritems(parent) == pnr)
			break;		/* nothing changed at this level */
	}
	/* shrink the root while it is an internal node with one child */
	for (;;) {
		struct vx_node *root = p->nodes[p->top];

		if (p->top == 0)
			break;
		if (vx_nritems(root) == 0) {
			/* everything went: start again from an empty leaf */
			struct vx_node *leaf;
			int err = node_new(fs, tree, 0, &leaf);

			if (err)
				return err;
			node_free(fs, root);
			set_root(fs, tree, leaf);
			node_put(fs, leaf);
			break;
		}
		if (vx_nritems(root) > 1)
			break;
		{
			struct vx_node *child;
			int err = node_read(fs, tree, &vx_entries(root)[0].ptr,
					    p->top - 1, &child);

			if (err)
				return err;
			/* the only child is on the path, hence already writable */
			if (!child->dirty) {
				node_put(fs, child);
				return -EUCLEAN;
			}
			node_free(fs, root);
			set_root(fs, tree, child);
			node_put(fs, child);
			p->top--;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- API */

static u64 per_op_blocks(const struct vx_fs *fs)
{
	u32 h = fs->roots[VX_TREE_FS].level;

	if (fs->roots[VX_TREE_ALLOC].level > h)
		h = fs->roots[VX_TREE_ALLOC].level;
	/* copy the path, split every level, grow a root */
	return 2 * (h + 2) + 2;
}

/* Free blocks that growing metadata operations leave to deletes and commits. */
u64 vx_grow_reserve(const struct vx_fs *fs)
{
	return 2 * fs->ndirty_groups + 2 * VX_MAX_LEVELS + 18 * per_op_blocks(fs);
}

static int check_tree(int tree)
{
	return tree == VX_TREE_FS || tree == VX_TREE_ALLOC ? 0 : -EINVAL;
}

/*
 * p->slots[level] moved to another child: read the path below it down to
 * level stop, taking each node's first child (last: its last child, and at
 * the leaf one past its last item).  On error the caller releases p.
 */
static int path_down(struct vx_fs *fs, int tree, struct vx_path *p, int level,
		     int stop, bool last)
{
	struct vx_node *n;
	int ret;

	for (; level > stop; level--) {
		node_put(fs, p->nodes[level - 1]);
		p->nodes[level - 1] = NULL;
		if (level == 1 && !last)
			leaf_readahead(fs, p->nodes[1], p->slots[1]);
		ret = node_read(fs, tree, &vx_entries(p->nodes[level])[p->slots[level]].ptr,
				level - 1, &p->nodes[level - 1]);
		if (ret)
			return ret;
		n = p->nodes[level - 1];
		p->slots[level - 1] = !last ? 0 : level > 1 ? (int)vx_nritems(n) - 1 :
							      (int)vx_nritems(n);
	}
	return 0;
}

/*
 * How many nodes of each level the key range [lo, hi] of tree touches now:
 * span[l] for l < VX_MAX_LEVELS (0 above the root).  Reads the interior
 * nodes over the range, not its leaves.
 */
int vx_range_span(struct vx_fs *fs, int tree, const struct vx_ckey *lo,
		  const struct vx_ckey *hi, u64 *span)
{
	struct vx_path p;
	int ret = check_tree(tree), level;

	memset(span, 0, VX_MAX_LEVELS * sizeof(*span));
	if (ret)
		return ret;
	ret = tree_search(fs, tree, lo, &p, false);
	if (ret == -ENOENT)
		return 0;	/* no tree yet */
	if (ret < 0)
		return ret;
	for (level = 0; level <= p.top; level++)
		span[level] = 1;
	while (p.top > 0) {
		struct vx_node *n = p.nodes[1];
		u32 nr = vx_nritems(n), i = p.slots[1] + 1;

		/* children of n after the first whose keys start by hi */
		while (i < nr && disk_key_cmp(&vx_entries(n)[i].key, hi) <= 0)
			i++;
		span[0] += i - p.slots[1] - 1;
		if (i < nr)
			break;
		/* the next level-1 node, if it starts by hi */
		for (level = 2; level <= p.top; level++)
			if (p.slots[level] + 1 < (int)vx_nritems(p.nodes[level]))
				break;
		if (level > p.top ||
		    disk_key_cmp(&vx_entries(p.nodes[level])[p.slots[level] + 1].key, hi) > 0)
			break;
		p.slots[level]++;
		ret = path_down(fs, tree, &p, level, 1, false);
		if (ret) {
			path_release(fs, &p);
			return ret;
		}
		while (--level >= 0)
			span[level]++;	/* new nodes at 1..level-1, a first child */
	}
	path_release(fs, &p);
	return 0;
}

/*
 * Worst-case new metadata blocks for one run of item changes in the FS
 * tree: items whose keys are contiguous (no other item's key falls between
 * two of them), such as one file's embeddings in one space.  span: the
 * nodes per level the run's key range touches now (vx_range_span()).
 * nexist of the run's items exist (~0ULL: unknown), ndel are deleted and
 * nupd rewritten at the same size, then nins items of item_size bytes
 * (all the run's items have that size) are inserted in ascending key order.  Scattered items cost a whole path each
 * (per_op_blocks); a run shares its nodes, which is what makes a batch of
 * 64k embeddings cost megabytes instead of gigabytes.
 *
 * Per level l, with the tree's leaves at l = 0:
 *  - copies: nodes that exist now and get rewritten: those of the span,
 *    but at most two per operation (the node it lands in and a sibling
 *    merged after a delete), plus the neighbours of the span a merge may
 *    touch.
 *  - splits: inserts go left to right, so a node left behind gets no more
 *    of them.  Every node a split leaves is at least a quarter full (a
 *    balanced split of a full node whose items are at most half a node),
 *    or was full before it, or is the right half of an append split left
 *    behind when the inserts pass an existing item in a later node: one
 *    per existing item and per node of the span, plus the last.  Hence at
 *    most copies + passed + 2 + bytes / (cap / 4), and at most one per
 *    entry inserted at this level (the splits of the level below).  The
 *    bytes: those inserted, and those the copies hold; of the leaves, only
 *    the two at the ends of the span hold other items than the run's.
 *  - a new root per level the tree grows, and the empty leaf a tree that
 *    loses every item starts again from.
 */
u64 vx_run_blocks(const struct vx_fs *fs, const u64 *span, u64 nexist,
		  u64 ndel, u64 nupd, u64 nins, u32 item_size)
{
	u64 cap = fs->bs - VX_HDR_SIZE, quarter = cap / 4;
	u64 nops = ndel + nupd + nins, passed, splits, total = 1, size, held;
	u32 h = fs->roots[VX_TREE_FS].level, l;

	if (!nops)
		return 0;
	passed = nexist < nops ? nexist : nops;
	splits = nins;		/* entries inserted into level 0 */
	size = VX_ITEM_SIZE + (u64)item_size;
	for (l = 0; l < VX_MAX_LEVELS; l++) {
		u64 c = 0, p = 1, bound;

		if (l <= h) {
			c = 2 * nops;
			p = passed;
			if (span && span[l] < c)
				c = span[l];
			if (span && span[l] + 1 < p)
				p = span[l] + 1;
			c += 4;
		}
		held = c * cap;
		if (l == 0 && nexist != ~0ULL && nexist >= ndel &&
		    2 * cap + (nexist - ndel) * size < held)
			held = 2 * cap + (nexist - ndel) * size;
		bound = c + p + 2 + (held + splits * size + quarter - 1) / quarter;
		if (bound < splits)
			splits = bound;
		total += c + splits;
		if (l > h && splits)
			total++;	/* the root that grew above */
		size = VX_ENTRY_SIZE;
		if (l >= h && !splits)
			break;
	}
	return total;
}

int vx_op_begin(struct vx_fs *fs, u32 nops, bool shrink)
{
	u64 avail, need;

	if (fs->failed)
		return -EROFS;
	if (fs->flags & VX_OPEN_RDONLY)
		return -EROFS;
	if (fs->op_depth || fs->in_commit) {
		fs->op_depth++;
		return 0;
	}
	avail = fs->total_blocks - fs->used_count - fs->pinned_count;
	/* what the commit needs, then this operation, then the delete reserve */
	need = 2 * fs->ndirty_groups + 2 * VX_MAX_LEVELS +
	       (nops + 2) * per_op_blocks(fs);
	if (!shrink)
		need += 16 * per_op_blocks(fs);
	if (avail < need)
		return -ENOSPC;
	fs->op_budget = (nops + 2) * per_op_blocks(fs);
	fs->op_meta_start = fs->meta_allocated;
	fs->op_depth++;
	return 0;
}

void vx_op_end(struct vx_fs *fs)
{
	u64 used;

	if (!fs->op_depth || --fs->op_depth || fs->in_commit)
		return;
	/*
	 * An operation that allocated more metadata than it reserved ate into
	 * the room kept for commits and deletes: a bug in its reservation,
	 * counted so that tests catch it.
	 */
	used = fs->meta_allocated - fs->op_meta_start;
	if (used > fs->op_budget) {
		fs->reserve_overruns++;
		vx_log_err("operation allocated %llu metadata blocks, reserved %llu",
			   (unsigned long long)used, (unsigned long long)fs->op_budget);
	}
}

u64 vx_fs_reserve_overruns(const struct vx_fs *fs)
{
	return fs->reserve_overruns;
}

int vx_op_fail(struct vx_fs *fs, int err)
{
	if (err && !fs->failed) {
		vx_log_err("operation failed half done (%d): no further changes until unmounted and checked",
			   err);
		fs->failed = err;
	}
	return err;
}

int vx_item_lookup(struct vx_fs *fs, int tree, const struct vx_ckey *key,
		   void *buf, u32 bufsize, u32 *size)
{
	struct vx_path p;
	struct vx_item *it;
	u32 sz;
	int ret = check_tree(tree);

	if (ret)
		return ret;
	ret = tree_search(fs, tree, key, &p, false);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		path_release(fs, &p);
		return -ENOENT;
	}
	it = &vx_items(p.nodes[0])[p.slots[0]];
	sz = le32_to_cpu(it->size);
	if (size)
		*size = sz;
	if (buf)
		memcpy(buf, p.nodes[0]->data + le32_to_cpu(it->offset), min(sz, bufsize));
	path_release(fs, &p);
	return 0;
}

static int fail(struct vx_fs *fs, int err)
{
	if (err && err != -ENOENT && err != -EEXIST && !fs->failed) {
		vx_log_err("metadata update failed (%d): no further changes until unmounted and checked",
			   err);
		fs->failed = err;
	}
	return err;
}

static int item_insert(struct vx_fs *fs, int tree, const struct vx_ckey *key,
		       const void *data, u32 size, bool shrink)
{
	struct vx_path p;
	int ret = check_tree(tree);

	if (ret)
		return ret;
	if (size > vx_max_item_size(fs))
		return -E2BIG;
	ret = vx_op_begin(fs, 1, shrink);
	if (ret)
		return ret;
	ret = tree_search(fs, tree, key, &p, true);
	if (ret < 0) {
		vx_op_end(fs);
		return fail(fs, ret);
	}
	if (ret == 1) {
		path_release(fs, &p);
		vx_op_end(fs);
		return -EEXIST;
	}
	ret = leaf_insert(fs, tree, &p, key, data, size);
	path_release(fs, &p);
	fs->dirty = true;
	vx_op_end(fs);
	return fail(fs, ret);
}

int vx_item_insert(struct vx_fs *fs, int tree, const struct vx_ckey *key,
		   const void *data, u32 size)
{
	return item_insert(fs, tree, key, data, size, false);
}

int vx_item_insert_shrink(struct vx_fs *fs, int tree, const struct vx_ckey *key,
			  const void *data, u32 size)
{
	return item_insert(fs, tree, key, data, size, true);
}

int vx_item_delete(struct vx_fs *fs, int tree, const struct vx_ckey *key)
{
	struct vx_path p;
	int ret = check_tree(tree);

	if (ret)
		return ret;
	ret = vx_op_begin(fs, 1, true);
	if (ret)
		return ret;
	ret = tree_search(fs, tree, key, &p, true);
	if (ret < 0) {
		vx_op_end(fs);
		return fail(fs, ret);
	}
	if (ret == 0) {
		path_release(fs, &p);
		vx_op_end(fs);
		return -ENOENT;
	}
	leaf_delete_at(p.nodes[0], p.slots[0]);
	ret = rebalance(fs, tree, &p);
	path_release(fs, &p);
	fs->dirty = true;
	vx_op_end(fs);
	return fail(fs, ret);
}

static int item_update(struct vx_fs *fs, int tree, const struct vx_ckey *key,
		       const void *data, u32 size)
{
	struct vx_path p;
	struct vx_item *it;
	struct vx_node *leaf;
	int ret = tree_search(fs, tree, key, &p, true);

	if (ret < 0)
		return fail(fs, ret);
	if (ret == 0) {
		path_release(fs, &p);
		return -ENOENT;
	}
	leaf = p.nodes[0];
	it = &vx_items(leaf)[p.slots[0]];
	fs->dirty = true;
	if (le32_to_cpu(it->size) == size) {
		memcpy(leaf->data + le32_to_cpu(it->offset), data, size);
		path_release(fs, &p);
		return 0;
	}
	if (leaf_free(fs, leaf) + VX_ITEM_SIZE + le32_to_cpu(it->size) >= VX_ITEM_SIZE + size) {
		leaf_delete_at(leaf, p.slots[0]);
		leaf_insert_at(fs, leaf, p.slots[0], key, data, size);
		path_release(fs, &p);
		return 0;
	}
	/* does not fit here: remove, then insert through the split path */
	leaf_delete_at(leaf, p.slots[0]);
	ret = leaf_insert(fs, tree, &p, key, data, size);
	path_release(fs, &p);
	return fail(fs, ret);
}

/* Updates use the delete reserve: rewriting in place must work when full. */
int vx_item_update(struct vx_fs *fs, int tree, const struct vx_ckey *key,
		   const void *data, u32 size)
{
	int ret = check_tree(tree);

	if (ret)
		return ret;
	if (size > vx_max_item_size(fs))
		return -E2BIG;
	ret = vx_op_begin(fs, 1, true);
	if (ret)
		return ret;
	ret = item_update(fs, tree, key, data, size);
	vx_op_end(fs);
	return ret;
}

int vx_item_next(struct vx_fs *fs, int tree, const struct vx_ckey *from,
		 struct vx_ckey *found, void *buf, u32 bufsize, u32 *size)
{
	struct vx_path p;
	struct vx_node *leaf;
	struct vx_item *it;
	int ret = check_tree(tree), level;

	if (ret)
		return ret;
	ret = tree_search(fs, tree, from, &p, false);
	if (ret < 0)
		return ret;
	while (p.slots[0] >= (int)vx_nritems(p.nodes[0])) {
		/* climb to the first ancestor with a next child, then go down */
		for (level = 1; level <= p.top; level++)
			if (p.slots[level] + 1 < (int)vx_nritems(p.nodes[level]))
				break;
		if (level > p.top) {
			path_release(fs, &p);
			return -ENOENT;
		}
		p.slots[level]++;
		ret = path_down(fs, tree, &p, level, 0, false);
		if (ret) {
			path_release(fs, &p);
			return ret;
		}
	}
	leaf = p.nodes[0];
	it = &vx_items(leaf)[p.slots[0]];
	if (disk_key_cmp(&it->key, from) < 0) {
		/* only a damaged tree (keys misplaced across nodes) gets here */
		vx_log_err("tree %s: key order broken across nodes", tree_name(tree));
		path_release(fs, &p);
		return -EUCLEAN;
	}
	if (found)
		vx_key_from_disk(found, &it->key);
	if (size)
		*size = le32_to_cpu(it->size);
	if (buf)
		memcpy(buf, leaf->data + le32_to_cpu(it->offset),
		       min(le32_to_cpu(it->size), bufsize));
	path_release(fs, &p);
	return 0;
}

int vx_item_prev(struct vx_fs *fs, int tree, const struct vx_ckey *at,
		 struct vx_ckey *found, void *buf, u32 bufsize, u32 *size)
{
	struct vx_path p;
	struct vx_node *leaf;
	struct vx_item *it;
	int ret = check_tree(tree), level;

	if (ret)
		return ret;
	ret = tree_search(fs, tree, at, &p, false);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		/* slots[0] is the first item > at: step back one */
		while (p.slots[0] == 0) {
			for (level = 1; level <= p.top; level++)
				if (p.slots[level] > 0)
					break;
			if (level > p.top) {
				path_release(fs, &p);
				return -ENOENT;
			}
			p.slots[level]--;
			ret = path_down(fs, tree, &p, level, 0, true);
			if (ret) {
				path_release(fs, &p);
				return ret;
			}
		}
		p.slots[0]--;
	}
	leaf = p.nodes[0];
	it = &vx_items(leaf)[p.slots[0]];
	if (disk_key_cmp(&it->key, at) > 0) {
		vx_log_err("tree %s: key order broken across nodes", tree_name(tree));
		path_release(fs, &p);
		return -EUCLEAN;
	}
	if (found)
		vx_key_from_disk(found, &it->key);
	if (size)
		*size = le32_to_cpu(it->size);
	if (buf)
		memcpy(buf, leaf->data + le32_to_cpu(it->offset),
		       min(le32_to_cpu(it->size), bufsize));
	path_release(fs, &p);
	return 0;
}

/* ---------------------------------------------------------------- commit */

/*
 * Write every node born in the running transaction, children before
 * parents, so that each parent records its children's final checksums.
 */
static int write_tree(struct vx_fs *fs, int tree)
{
	struct vx_node *stack[VX_MAX_LEVELS];
	u32 next[VX_MAX_LEVELS];
	int depth = 0, err;
	struct vx_root *r = &fs->roots[tree];
	struct vx_node *n;

	if (!r->blocknr || r->birth != fs->txn)
		return 0;
	n = cache_find(fs, r->blocknr);
	if (!n || !n->dirty)
		return -EUCLEAN;
	stack[0] = n;
	next[0] = 0;
	while (depth >= 0) {
		struct vx_node *cur = stack[depth];

		if (vx_level(cur) > 0 && next[depth] < vx_nritems(cur)) {
			struct vx_node_entry *e = &vx_entries(cur)[next[depth]++];
			struct vx_node *child;

			if (le64_to_cpu(e->ptr.birth) != fs->txn)
				continue;
			child = cache_find(fs, le64_to_cpu(e->ptr.blocknr));
			if (!child || !child->dirty || depth + 1 >= VX_MAX_LEVELS)
				return -EUCLEAN;
			stack[++depth] = child;
			next[depth] = 0;
			continue;
		}
		/* all children written: seal this node */
		vx_hdr(cur)->csum = cpu_to_le32(node_csum(fs, cur->data));
		err = fs->ops->write_block(fs->dev, cur->blocknr, cur->data);
		if (err)
			return err;
		if (depth > 0) {
			struct vx_node *parent = stack[depth - 1];

			vx_entries(parent)[next[depth - 1] - 1].ptr.csum = vx_hdr(cur)->csum;
		} else {
			r->csum = le32_to_cpu(vx_hdr(cur)->csum);
		}
		depth--;
	}
	return 0;
}

int vx_btree_write_dirty(struct vx_fs *fs)
{
	int err = write_tree(fs, VX_TREE_ALLOC);

	if (!err)
		err = write_tree(fs, VX_TREE_FS);
	return err;
}

/* After a successful commit, dirty nodes become ordinary clean cache. */
void vx_btree_commit_done(struct vx_fs *fs)
{
	while (fs->dirty_list) {
		struct vx_node *n = fs->dirty_list;

		dirty_del(fs, n);
		if (!n->refs)
			lru_add(fs, n);
	}
	cache_shrink(fs);
}

int vx_btree_cache_init(struct vx_fs *fs)
{
	u32 buckets = 4096;

	fs->hash = vx_zalloc(buckets * sizeof(*fs->hash));
	if (!fs->hash)
		return -ENOMEM;
	fs->hash_mask = buckets - 1;
	fs->lru.lru_next = fs->lru.lru_prev = &fs->lru;
	fs->cache_limit = 4096;
	return 0;
}

void vx_btree_cache_destroy(struct vx_fs *fs)
{
	u32 i;

	if (!fs->hash)
		return;
	for (i = 0; i <= fs->hash_mask; i++) {
		struct vx_node *n = fs->hash[i], *next;

		while (n) {
			next = n->hash_next;
			vx_free(n->data);
			vx_free(n);
			n = next;
		}
	}
	vx_free(fs->hash);
	fs->hash = NULL;
}

void vx_fs_set_cache_limit(struct vx_fs *fs, u32 nodes)
{
	fs->cache_limit = nodes < 64 ? 64 : nodes;
	cache_shrink(fs);
}

u64 vx_fs_dirty_bytes(const struct vx_fs *fs)
{
	return (u64)fs->nr_dirty * fs->bs;
}
