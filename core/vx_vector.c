// SPDX-License-Identifier: GPL-2.0
/*
 * Vector spaces and embeddings (vx_vector.h, docs/FORMAT.md "Vector spaces
 * and embeddings").
 *
 * On disk, per space id:
 *   (VX_SPACE_OBJID(id), SPACE, 0)          struct vx_space_item
 *   (VX_SPACE_OBJID(id), VBLOCK, col|blk)   struct vx_blockptr of one block
 *                                           of a column (VECTORS, META, GRAPH)
 *   (VX_SPACE_OBJID(id), VLINKS, vid)       HNSW links of levels >= 1
 * and per file: (ino, EMBED, VX_EMBED_OFFSET(id, vid)) struct vx_embed_item.
 *
 * A column is a logical byte array: record r at byte r * stride; records
 * may straddle blocks.  Column blocks are not tree nodes: they carry no
 * header, their crc32c and birth live in the VBLOCK item.  They are written
 * copy-on-write: a block born in the running transaction is rewritten in
 * place (no commit references it), any other is written to a new block and
 * the old one freed (pinned until the commit).  They are written with the
 * device's write_block during the transaction; vx_fs_commit() calls
 * ops->flush (which waits for every write started before it) before it
 * writes the superblock, so they are durable before any superblock that
 * references them.  A crash before the commit leaves the previous commit
 * untouched, because nothing it references was overwritten.
 *
 * Every change of embeddings is one composite operation:
 *   1. validate and look up (no change);
 *   2. plan: the records it writes, the column blocks they touch, which are
 *      read (and checksummed) into a batch; a first space check;
 *   3. change the in-memory index (vx_index_set / _remove), add the graph
 *      nodes that became dirty to the batch, apply all record writes to the
 *      batch in memory, then reserve the exact worst case with vx_op_begin;
 *   4. write: items, column blocks (each touched block once), space item.
 * A failure in 1-3 changes nothing on disk; if the in-memory index was
 * already changed it is simply unloaded (it is rebuilt from the disk on next
 * use).  A failure in 4 fails the volume, like the rest of the core.
 *
 * Space accounting: column blocks are allocated with for_data=false, inside
 * the vx_op_begin() reservation, so the writes of step 4 cannot run out of
 * space half way.  Growing operations (add, update) first check that the
 * new blocks fit in vx_fs_free_blocks(), i.e. outside the metadata reserve
 * that file data leaves free: embeddings are bulk data and may not eat the
 * room kept for metadata.  Deletes only need vx_op_begin(shrink=true).
 *
 * No floating point here: vectors are opaque bytes; only vx_index_* touch
 * floats.
 */
#include "vx_internal.h"
#include "vx_vector.h"

#define VX_DIV_UP(a, b)		(((a) + (b) - 1) / (b))
#define VX_DEFAULT_M		16
#define VX_DEFAULT_EFC		200
#define VX_DEFAULT_EFS		64
#define VX_MAX_M		100
#define VX_MAX_EF		10000
/* vids stay below the index's slot limit (vx_index_impl.h) */
#define VX_VID_LIMIT_MAX	(1ULL << 31)
/* as VX_HNSW_MAX_LEVEL of vx_index_impl.h */
#define VX_VLEVEL_MAX		15
/*
 * Embeddings deleted per operation by a delete of many: each batch is
 * atomic; a batch that does not fit the free space is halved and retried,
 * so deletes proceed on a full volume.
 */
#define VX_DELETE_BATCH		64

/* A loaded space: its index, the owner of every vid, the free vids. */
struct vx_vspace {
	struct vx_vspace *next;
	u32 id;
	u32 dim;
	u32 m;
	struct vx_index *idx;
	u64 *owner;		/* vid -> ino, 0 when free; [0, vid_limit) */
	u64 owner_cap;
	u64 vid_limit;
	u64 live;
	u64 free_hint;		/* no free vid below this */
};

static inline void put_le32(void *p, u32 v)
{
	__le32 x = cpu_to_le32(v);

	memcpy(p, &x, sizeof(x));
}

static inline u32 get_le32(const void *p)
{
	__le32 x;

	memcpy(&x, p, sizeof(x));
	return le32_to_cpu(x);
}

/* ---------------------------------------------------------------- helpers */

typedef int (*vx_cmp_fn)(const void *a, const void *b);

static void swap_bytes(u8 *a, u8 *b, size_t size)
{
	while (size--) {
		u8 t = *a;

		*a++ = *b;
		*b++ = t;
	}
}

/* Heapsort: no recursion, no allocation. */
static void vx_sort(void *base, size_t n, size_t size, vx_cmp_fn cmp)
{
	u8 *a = base;
	size_t start, end, root, child;

	if (n < 2)
		return;
	for (start = n / 2; start-- > 0;) {
		for (root = start; (child = 2 * root + 1) < n; root = child) {
			if (child + 1 < n && cmp(a + child * size, a + (child + 1) * size) < 0)
				child++;
			if (cmp(a + root * size, a + child * size) >= 0)
				break;
			swap_bytes(a + root * size, a + child * size, size);
		}
	}
	for (end = n - 1; end > 0; end--) {
		swap_bytes(a, a + end * size, size);
		for (root = 0; (child = 2 * root + 1) < end; root = child) {
			if (child + 1 < end && cmp(a + child * size, a + (child + 1) * size) < 0)
				child++;
			if (cmp(a + root * size, a + child * size) >= 0)
				break;
			swap_bytes(a + root * size, a + child * size, size);
		}
	}
}

/* Make room for need elements in *p (capacity *cap). */
static int grow(void **p, u64 *cap, u64 need, size_t elem)
{
	u64 n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = vx_malloc(n * elem);
	if (!q)
		return -ENOMEM;
	if (*p && *cap)
		memcpy(q, *p, *cap * elem);
	memset((u8 *)q + *cap * elem, 0, (n - *cap) * elem);
	vx_free(*p);
	*p = q;
	*cap = n;
	return 0;
}

static u64 per_op_blocks(const struct vx_fs *fs)
{
	u32 h = fs->roots[VX_TREE_FS].level;

	if (fs->roots[VX_TREE_ALLOC].level > h)
		h = fs->roots[VX_TREE_ALLOC].level;
	/* the same bound as per_op_blocks() in vx_btree.c */
	return 2 * ((u64)h + 2) + 2;
}

/* ---------------------------------------------------------------- spaces */

static void space_key(struct vx_ckey *k, u32 id, u8 type, u64 offset)
{
	k->objectid = VX_SPACE_OBJID(id);
	k->type = type;
	k->offset = offset;
}

bool vx_space_name_valid(const char *name)
{
	u32 i;

	if (!name || !name[0] || name[0] == '.')
		return false;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (i >= VX_SPACE_NAME_LEN - 1)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool str_terminated(const u8 *s, u32 len)
{
	return memchr(s, 0, len) != NULL;
}

/* A space item's fields within the ranges create allows: else corrupt. */
static bool space_item_sane(const struct vx_space_item *it)
{
	u32 dim = le32_to_cpu(it->dim), m = le32_to_cpu(it->hnsw_m);
	u32 metric = le32_to_cpu(it->metric);

	return dim >= 1 && dim <= VX_MAX_DIM &&
	       le32_to_cpu(it->elem_type) == VX_ELEM_F32 &&
	       metric >= VX_METRIC_L2 && metric <= VX_METRIC_IP &&
	       m >= 2 && m <= VX_MAX_M &&
	       le32_to_cpu(it->hnsw_ef_construction) >= 1 &&
	       le64_to_cpu(it->vid_limit) <= VX_VID_LIMIT_MAX &&
	       le32_to_cpu(it->max_level) <= VX_VLEVEL_MAX &&
	       !(le32_to_cpu(it->flags) & ~VX_SPACE_FLAG_DROPPED) &&
	       str_terminated(it->name, VX_SPACE_NAME_LEN) &&
	       str_terminated(it->model, VX_MODEL_NAME_LEN) &&
	       str_terminated(it->model_version, VX_MODEL_VERSION_LEN);
}

static int space_decode(u32 id, const struct vx_space_item *it, u32 size)
{
	if (size != sizeof(*it) || !space_item_sane(it)) {
		vx_log_err("vector space %u: invalid space item", id);
		return -EUCLEAN;
	}
	return 0;
}

/* The space item of id, dropped or not.  -ENOENT, -EUCLEAN. */
static int space_read(struct vx_fs *fs, u32 id, struct vx_space_item *it)
{
	struct vx_ckey k;
	u32 size;
	int err;

	if (id == 0 || id > VX_SPACE_ID_MAX)
		return -ENOENT;
	space_key(&k, id, VX_ITEM_SPACE, 0);
	err = vx_item_lookup(fs, VX_TREE_FS, &k, it, sizeof(*it), &size);
	if (err)
		return err;
	return space_decode(id, it, size);
}

static bool space_dropped(const struct vx_space_item *it)
{
	return le32_to_cpu(it->flags) & VX_SPACE_FLAG_DROPPED;
}

/* A visible (not dropped) space.  -ENOENT. */
static int space_read_live(struct vx_fs *fs, u32 id, struct vx_space_item *it)
{
	int err = space_read(fs, id, it);

	if (!err && space_dropped(it))
		return -ENOENT;
	return err;
}

static int space_write(struct vx_fs *fs, u32 id, const struct vx_space_item *it)
{
	struct vx_ckey k;

	space_key(&k, id, VX_ITEM_SPACE, 0);
	return vx_item_update(fs, VX_TREE_FS, &k, it, sizeof(*it));
}

/* The space item with the smallest id > after, dropped or not.  -ENOENT. */
static int space_next_item(struct vx_fs *fs, u32 after, u32 *id,
			   struct vx_space_item *it)
{
	struct vx_ckey k, found;
	u32 size;
	int err;

	if (after >= VX_SPACE_ID_MAX)
		return -ENOENT;
	space_key(&k, after + 1, VX_ITEM_SPACE, 0);
	for (;;) {
		err = vx_item_next(fs, VX_TREE_FS, &k, &found, it, sizeof(*it), &size);
		if (err)
			return err;
		if (found.objectid < VX_SPACE_OBJID(1) ||
		    found.objectid > VX_SPACE_OBJID(VX_SPACE_ID_MAX))
			return -ENOENT;
		if (found.type == VX_ITEM_SPACE) {
			*id = (u32)(found.objectid - VX_SPACE_OBJID_BASE);
			return space_decode(*id, it, size);
		}
		/* items of a space whose space item is gone: skip them */
		if (found.objectid == VX_SPACE_OBJID(VX_SPACE_ID_MAX))
			return -ENOENT;
		k.objectid = found.objectid + 1;
		k.type = VX_ITEM_SPACE;
		k.offset = 0;
	}
}

static void space_to_desc(u32 id, const struct vx_space_item *it,
			  struct vx_space_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->id = id;
	memcpy(d->name, it->name, VX_SPACE_NAME_LEN);
	memcpy(d->model, it->model, VX_MODEL_NAME_LEN);
	memcpy(d->model_version, it->model_version, VX_MODEL_VERSION_LEN);
	d->dim = le32_to_cpu(it->dim);
	d->elem_type = le32_to_cpu(it->elem_type);
	d->metric = le32_to_cpu(it->metric);
	d->hnsw_m = le32_to_cpu(it->hnsw_m);
	d->hnsw_ef_construction = le32_to_cpu(it->hnsw_ef_construction);
	d->hnsw_ef_search = le32_to_cpu(it->hnsw_ef_search);
	d->flags = le32_to_cpu(it->flags);
	d->vid_limit = le64_to_cpu(it->vid_limit);
	d->live_count = le64_to_cpu(it->live_count);
	d->create_time = le64_to_cpu(it->create_time);
}

int vx_space_create(struct vx_fs *fs, struct vx_space_desc *d)
{
	struct vx_space_item *it;
	struct vx_ckey k;
	u32 id = 0, next_id = 1, found_id;
	int err;

	if (!d || !vx_space_name_valid(d->name))
		return -EINVAL;
	if (!memchr(d->model, 0, sizeof(d->model)) ||
	    !memchr(d->model_version, 0, sizeof(d->model_version)))
		return -EINVAL;
	if (!d->hnsw_m)
		d->hnsw_m = VX_DEFAULT_M;
	if (!d->hnsw_ef_construction)
		d->hnsw_ef_construction = VX_DEFAULT_EFC;
	if (!d->hnsw_ef_search)
		d->hnsw_ef_search = VX_DEFAULT_EFS;
	if (d->dim < 1 || d->dim > VX_MAX_DIM || d->elem_type != VX_ELEM_F32 ||
	    d->metric < VX_METRIC_L2 || d->metric > VX_METRIC_IP ||
	    d->hnsw_m < 2 || d->hnsw_m > VX_MAX_M ||
	    d->hnsw_ef_construction > VX_MAX_EF || d->hnsw_ef_search > VX_MAX_EF)
		return -EINVAL;
	it = vx_zalloc(sizeof(*it));
	if (!it)
		return -ENOMEM;
	/* the lowest unused id (dropped spaces keep theirs until reaped) */
	for (;;) {
		err = space_next_item(fs, next_id - 1, &found_id, it);
		if (err == -ENOENT)
			break;
		if (err)
			goto out;
		if (!space_dropped(it) && !strcmp((const char *)it->name, d->name)) {
			err = -EEXIST;
			goto out;
		}
		if (!id && found_id > next_id)
			id = next_id;
		next_id = found_id + 1;
		if (found_id == VX_SPACE_ID_MAX)
			break;
	}
	if (!id && next_id <= VX_SPACE_ID_MAX)
		id = next_id;
	if (!id) {
		err = -ENOSPC;
		goto out;
	}
	memset(it, 0, sizeof(*it));
	memcpy(it->name, d->name, strlen(d->name));
	memcpy(it->model, d->model, strlen(d->model));
	memcpy(it->model_version, d->model_version, strlen(d->model_version));
	it->dim = cpu_to_le32(d->dim);
	it->elem_type = cpu_to_le32(d->elem_type);
	it->metric = cpu_to_le32(d->metric);
	it->hnsw_m = cpu_to_le32(d->hnsw_m);
	it->hnsw_ef_construction = cpu_to_le32(d->hnsw_ef_construction);
	it->hnsw_ef_search = cpu_to_le32(d->hnsw_ef_search);
	it->entry_vid = cpu_to_le64(VX_VID_NONE);
	it->create_time = cpu_to_le64(vx_now_ns());
	space_key(&k, id, VX_ITEM_SPACE, 0);
	err = vx_item_insert(fs, VX_TREE_FS, &k, it, sizeof(*it));
	if (!err)
		space_to_desc(id, it, d);
out:
	vx_free(it);
	return err;
}

int vx_space_lookup(struct vx_fs *fs, const char *name, u32 *id)
{
	struct vx_space_item *it;
	u32 cur = 0;
	int err;

	if (!vx_space_name_valid(name))
		return -ENOENT;
	it = vx_malloc(sizeof(*it));
	if (!it)
		return -ENOMEM;
	for (;;) {
		err = space_next_item(fs, cur, &cur, it);
		if (err)
			break;
		if (!space_dropped(it) && !strcmp((const char *)it->name, name)) {
			*id = cur;
			break;
		}
	}
	vx_free(it);
	return err;
}

int vx_space_get(struct vx_fs *fs, u32 id, struct vx_space_desc *d)
{
	struct vx_space_item it;
	int err = space_read_live(fs, id, &it);

	if (!err)
		space_to_desc(id, &it, d);
	return err;
}

/* The space with the smallest id > after that is dropped, or live.  -ENOENT. */
static int space_next_in(struct vx_fs *fs, u32 after, bool dropped, u32 *id,
			 struct vx_space_item *it)
{
	u32 cur = after;
	int err;

	for (;;) {
		err = space_next_item(fs, cur, &cur, it);
		if (err)
			return err;
		if (space_dropped(it) == dropped) {
			*id = cur;
			return 0;
		}
	}
}

int vx_space_next(struct vx_fs *fs, u32 after, struct vx_space_desc *d)
{
	struct vx_space_item it;
	u32 id;
	int err = space_next_in(fs, after, false, &id, &it);

	if (!err)
		space_to_desc(id, &it, d);
	return err;
}

int vx_space_next_dropped(struct vx_fs *fs, u32 after, u32 *id)
{
	struct vx_space_item it;

	return space_next_in(fs, after, true, id, &it);
}

int vx_space_set_ef(struct vx_fs *fs, u32 id, u32 ef_search)
{
	struct vx_space_item it;
	int err;

	if (ef_search < 1 || ef_search > VX_MAX_EF)
		return -EINVAL;
	err = space_read_live(fs, id, &it);
	if (err)
		return err;
	it.hnsw_ef_search = cpu_to_le32(ef_search);
	return space_write(fs, id, &it);
}

/* ---------------------------------------------------------------- columns */

static u64 col_stride(const struct vx_space_item *it, u32 col)
{
	switch (col) {
	case VX_VCOL_VECTORS:
		return (u64)le32_to_cpu(it->dim) * 4;
	case VX_VCOL_META:
		return sizeof(struct vx_vmeta);
	default:
		return 4 + 8 * (u64)le32_to_cpu(it->hnsw_m);
	}
}

/*
 * Read block blk of a column into buf, verifying its checksum.  *present is
 * false (and buf untouched) when the block was never written: it reads as
 * zeros.  ptr gets the VBLOCK item.
 */
static int col_block_read(struct vx_fs *fs, u32 space, u32 col, u64 blk,
			  void *buf, bool *present, struct vx_blockptr *ptr)
{
	struct vx_ckey k;
	u64 blocknr;
	u32 size, csum;
	int err;

	space_key(&k, space, VX_ITEM_VBLOCK, VX_VBLOCK_OFFSET(col, blk));
	err = vx_item_lookup(fs, VX_TREE_FS, &k, ptr, sizeof(*ptr), &size);
	if (err == -ENOENT) {
		*present = false;
		memset(ptr, 0, sizeof(*ptr));
		return 0;
	}
	if (err)
		return err;
	blocknr = le64_to_cpu(ptr->blocknr);
	if (size != sizeof(*ptr) || blocknr < fs->first_data_block ||
	    blocknr >= fs->total_blocks || le64_to_cpu(ptr->birth) > fs->txn) {
		vx_log_err("vector space %u column %u block %llu: invalid block pointer",
			   space, col, (unsigned long long)blk);
		return -EUCLEAN;
	}
	err = fs->ops->read_block(fs->dev, blocknr, buf);
	if (err)
		return err;
	csum = vx_csum(buf, fs->bs);
	if (csum != le32_to_cpu(ptr->csum)) {
		vx_log_err("vector space %u column %u block %llu (disk block %llu): checksum mismatch (0x%08x, expected 0x%08x)",
			   space, col, (unsigned long long)blk,
			   (unsigned long long)blocknr, csum, le32_to_cpu(ptr->csum));
		return -EUCLEAN;
	}
	*present = true;
	return 0;
}

/* Sequential reader of one column's records with a one-block cache. */
struct col_reader {
	struct vx_fs *fs;
	u32 space;
	u32 col;
	u64 stride;
	u64 cached;		/* column block in data, or ~0 */
	bool present;
	u8 *data;
};

static int cr_init(struct col_reader *r, struct vx_fs *fs, u32 space,
		   const struct vx_space_item *it, u32 col)
{
	r->fs = fs;
	r->space = space;
	r->col = col;
	r->stride = col_stride(it, col);
	r->cached = ~0ULL;
	r->present = false;
	r->data = vx_malloc(fs->bs);
	return r->data ? 0 : -ENOMEM;
}

static void cr_done(struct col_reader *r)
{
	vx_free(r->data);
	r->data = NULL;
}

static int cr_read(struct col_reader *r, u64 rec, void *out)
{
	u32 bs = r->fs->bs;
	u64 pos = rec * r->stride, end = pos + r->stride;
	u8 *dst = out;

	while (pos < end) {
		u64 blk = pos / bs;
		u32 in = (u32)(pos % bs);
		u32 len = end - pos < bs - in ? (u32)(end - pos) : bs - in;

		if (r->cached != blk) {
			struct vx_blockptr ptr;
			int err;

			r->cached = ~0ULL;
			err = col_block_read(r->fs, r->space, r->col, blk, r->data,
					     &r->present, &ptr);
			if (err)
				return err;
			r->cached = blk;
		}
		if (r->present)
			memcpy(dst, r->data + in, len);
		else
			memset(dst, 0, len);
		dst += len;
		pos += len;
	}
	return 0;
}

static int read_meta(struct vx_fs *fs, u32 space, const struct vx_space_item *it,
		     u64 vid, struct vx_vmeta *m)
{
	struct col_reader r;
	int err = cr_init(&r, fs, space, it, VX_VCOL_META);

	if (!err)
		err = cr_read(&r, vid, m);
	cr_done(&r);
	return err;
}

/*
 * A batch of column blocks one operation changes: each is read (and
 * checksummed) once, changed in memory by any number of record writes,
 * and written once.
 */
struct vblk {
	u64 off;		/* VX_VBLOCK_OFFSET(col, blk) */
	u8 *data;		/* NULL until loaded */
	struct vx_blockptr ptr;	/* the VBLOCK item, as on disk */
	bool present;		/* VBLOCK item exists */
	bool changed;
};

struct vbatch {
	struct vx_fs *fs;
	u32 space;
	u64 stride[VX_VCOL_COUNT];
	struct vblk *b;
	u64 n, cap;
	u64 nloaded;		/* b[0..nloaded) sorted, unique, loaded */
};

static void vb_init(struct vbatch *vb, struct vx_fs *fs, u32 space,
		    const struct vx_space_item *it)
{
	u32 c;

	memset(vb, 0, sizeof(*vb));
	vb->fs = fs;
	vb->space = space;
	for (c = 0; c < VX_VCOL_COUNT; c++)
		vb->stride[c] = col_stride(it, c);
}

static void vb_free(struct vbatch *vb)
{
	u64 i;

	for (i = 0; i < vb->n; i++)
		vx_free(vb->b[i].data);
	vx_free(vb->b);
	vb->b = NULL;
	vb->n = vb->cap = vb->nloaded = 0;
}

/* Ask for the blocks record rec of column col touches. */
static int vb_want(struct vbatch *vb, u32 col, u64 rec)
{
	u32 bs = vb->fs->bs;
	u64 first = rec * vb->stride[col] / bs;
	u64 last = (rec * vb->stride[col] + vb->stride[col] - 1) / bs;
	u64 b;
	int err;

	for (b = first; b <= last; b++) {
		u64 off = VX_VBLOCK_OFFSET(col, b);

		/* consecutive records mostly share blocks: skip the repeat */
		if (vb->n > vb->nloaded && vb->b[vb->n - 1].off == off)
			continue;
		err = grow((void **)&vb->b, &vb->cap, vb->n + 1, sizeof(*vb->b));
		if (err)
			return err;
		memset(&vb->b[vb->n], 0, sizeof(vb->b[0]));
		vb->b[vb->n++].off = off;
	}
	return 0;
}

static int vblk_cmp(const void *a, const void *b)
{
	const struct vblk *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	/* loaded entries first, so deduplication keeps them */
	return (x->data == NULL) - (y->data == NULL);
}

/* Sort, deduplicate and read every block asked for.  No change on disk. */
static int vb_load(struct vbatch *vb)
{
	u64 i, o;
	int err;

	vx_sort(vb->b, vb->n, sizeof(*vb->b), vblk_cmp);
	for (i = 0, o = 0; i < vb->n; i++) {
		if (o && vb->b[o - 1].off == vb->b[i].off) {
			vx_free(vb->b[i].data);
			continue;
		}
		vb->b[o++] = vb->b[i];
	}
	vb->n = o;
	vb->nloaded = 0;
	for (i = 0; i < vb->n; i++) {
		struct vblk *e = &vb->b[i];

		if (!e->data) {
			e->data = vx_malloc(vb->fs->bs);
			if (!e->data)
				return -ENOMEM;
			err = col_block_read(vb->fs, vb->space, VX_VBLOCK_COL(e->off),
					     VX_VBLOCK_BLK(e->off), e->data,
					     &e->present, &e->ptr);
			if (err) {
				vx_free(e->data);
				e->data = NULL;
				return err;
			}
			if (!e->present)
				memset(e->data, 0, vb->fs->bs);
		}
	}
	vb->nloaded = vb->n;
	return 0;
}

static struct vblk *vb_find(struct vbatch *vb, u64 off)
{
	u64 lo = 0, hi = vb->nloaded;

	while (lo < hi) {
		u64 mid = lo + (hi - lo) / 2;

		if (vb->b[mid].off == off)
			return &vb->b[mid];
		if (vb->b[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Copy a record between the batch and buf (write: into the batch). */
static int vb_rec(struct vbatch *vb, u32 col, u64 rec, void *buf, bool write)
{
	u32 bs = vb->fs->bs;
	u64 pos = rec * vb->stride[col], end = pos + vb->stride[col];
	u8 *p = buf;

	while (pos < end) {
		struct vblk *e = vb_find(vb, VX_VBLOCK_OFFSET(col, pos / bs));
		u32 in = (u32)(pos % bs);
		u32 len = end - pos < bs - in ? (u32)(end - pos) : bs - in;

		if (!e) {
			vx_log_err("vector space %u: column %u record %llu not planned",
				   vb->space, col, (unsigned long long)rec);
			return -EINVAL;
		}
		if (write) {
			memcpy(e->data + in, p, len);
			e->changed = true;
		} else {
			memcpy(p, e->data + in, len);
		}
		p += len;
		pos += len;
	}
	return 0;
}

static int vb_put(struct vbatch *vb, u32 col, u64 rec, const void *buf)
{
	return vb_rec(vb, col, rec, (void *)buf, true);
}

static int vb_get(struct vbatch *vb, u32 col, u64 rec, void *buf)
{
	return vb_rec(vb, col, rec, buf, false);
}

/*
 * Blocks the batch writes (every planned block is written), how many of
 * them need a newly allocated block, and how many get a new VBLOCK item.
 */
static void vb_count(const struct vbatch *vb, struct vx_fs *fs, u64 *changed,
		     u64 *fresh, u64 *inserts)
{
	u64 i;

	*changed = *fresh = *inserts = 0;
	for (i = 0; i < vb->n; i++) {
		const struct vblk *e = &vb->b[i];

		(*changed)++;
		if (!e->present)
			(*inserts)++;
		if (!e->present || le64_to_cpu(e->ptr.birth) != fs->txn)
			(*fresh)++;
	}
}

/*
 * Write every changed block copy-on-write and point its VBLOCK item at it.
 * Runs inside the operation's vx_op_begin() bracket.
 */
static int vb_write(struct vbatch *vb)
{
	struct vx_fs *fs = vb->fs;
	u64 hint = fs->data_cursor, i;
	int err;

	for (i = 0; i < vb->n; i++) {
		struct vblk *e = &vb->b[i];
		struct vx_blockptr ptr;
		struct vx_ckey k;
		u64 newblk, got;

		if (!e->changed)
			continue;
		space_key(&k, vb->space, VX_ITEM_VBLOCK, e->off);
		memset(&ptr, 0, sizeof(ptr));
		ptr.csum = cpu_to_le32(vx_csum(e->data, fs->bs));
		if (e->present && le64_to_cpu(e->ptr.birth) == fs->txn) {
			/* born in this transaction: no commit references it */
			ptr.blocknr = e->ptr.blocknr;
			ptr.birth = e->ptr.birth;
			err = fs->ops->write_block(fs->dev, le64_to_cpu(ptr.blocknr),
						   e->data);
			if (!err)
				err = vx_item_update(fs, VX_TREE_FS, &k, &ptr, sizeof(ptr));
			if (err)
				return err;
			e->ptr = ptr;
			e->changed = false;
			continue;
		}
		err = vx_alloc_blocks(fs, hint, 1, false, &newblk, &got);
		if (err)
			return err;
		hint = newblk + 1;
		if (fs->ops->forget_block)
			fs->ops->forget_block(fs->dev, newblk);
		ptr.blocknr = cpu_to_le64(newblk);
		ptr.birth = cpu_to_le64(fs->txn);
		err = fs->ops->write_block(fs->dev, newblk, e->data);
		if (err)
			return err;
		if (e->present) {
			err = vx_item_update(fs, VX_TREE_FS, &k, &ptr, sizeof(ptr));
			if (!err)
				err = vx_free_blocks(fs, le64_to_cpu(e->ptr.blocknr), 1);
		} else {
			err = vx_item_insert(fs, VX_TREE_FS, &k, &ptr, sizeof(ptr));
		}
		if (err)
			return err;
		e->ptr = ptr;
		e->present = true;
		e->changed = false;
	}
	fs->data_cursor = hint;
	return 0;
}

/*
 * Tree operations to reserve with vx_op_begin() for item_ops scattered item
 * changes, run_blocks blocks of a run of EMBED items (vx_run_blocks()), plus
 * the column blocks of the batch.  A tree operation stands for
 * per_op_blocks() blocks (copy of a path, a split on every level, a new
 * root).  The batch needs: a new block per block not born in this
 * transaction, a leaf copy per VBLOCK item (sound even when the items are
 * scattered over many leaves), leaves split off by inserted VBLOCK items,
 * the interior nodes above those leaves, and the bitmap items of the
 * allocation groups the new blocks dirty.
 */
static u32 op_nops(struct vx_fs *fs, u64 item_ops, u64 run_blocks,
		  const struct vbatch *vb)
{
	u64 per_op = per_op_blocks(fs), h = (per_op - 6) / 2;
	u64 changed, fresh, inserts, nodes, blocks, nops;

	vb_count(vb, fs, &changed, &fresh, &inserts);
	nodes = changed +
		2 * VX_DIV_UP(inserts * 2 * (VX_ITEM_SIZE + sizeof(struct vx_blockptr)),
			      fs->bs - VX_HDR_SIZE) +
		(h + 2) * (VX_DIV_UP(changed, 8) + 2);
	blocks = fresh + nodes + run_blocks;
	blocks += 2 * (blocks / fs->group_blocks + 2);
	nops = item_ops + VX_DIV_UP(blocks, per_op);
	return nops > 0x7fffffffULL ? 0x7fffffff : (u32)nops;
}

/* Growing operations keep their new blocks out of the metadata reserve. */
static int check_data_space(struct vx_fs *fs, const struct vbatch *vb)
{
	u64 changed, fresh, inserts;

	vb_count(vb, fs, &changed, &fresh, &inserts);
	return fresh > vx_fs_free_blocks(fs) ? -ENOSPC : 0;
}

/* Would the operation fit now?  Changes nothing. */
static int precheck_space(struct vx_fs *fs, u64 item_ops, u64 run_blocks,
			  const struct vbatch *vb, bool shrink)
{
	int err;

	if (!shrink) {
		err = check_data_space(fs, vb);
		if (err)
			return err;
	}
	err = vx_op_begin(fs, op_nops(fs, item_ops, run_blocks, vb), shrink);
	if (!err)
		vx_op_end(fs);
	return err;
}

/* ---------------------------------------------------------------- loading */

static struct vx_vspace *vspace_find(struct vx_fs *fs, u32 id)
{
	struct vx_vspace *vs;

	for (vs = fs->vspaces; vs; vs = vs->next)
		if (vs->id == id)
			return vs;
	return NULL;
}

static void vspace_destroy(struct vx_vspace *vs)
{
	if (vs->idx)
		vx_index_destroy(vs->idx);
	vx_free(vs->owner);
	vx_free(vs);
}

/* Forget a loaded space; it is rebuilt from the volume on next use. */
static void vspace_unload(struct vx_fs *fs, u32 id)
{
	struct vx_vspace **pp = &fs->vspaces;

	while (*pp) {
		struct vx_vspace *vs = *pp;

		if (vs->id == id) {
			*pp = vs->next;
			vspace_destroy(vs);
			return;
		}
		pp = &vs->next;
	}
}

void vx_space_unload_all(struct vx_fs *fs)
{
	while (fs->vspaces) {
		struct vx_vspace *vs = fs->vspaces;

		fs->vspaces = vs->next;
		vspace_destroy(vs);
	}
}

/* Parse a VLINKS item into upper (M entries per level, from level 1). */
static int parse_vlinks(const u8 *buf, u32 size, u32 level, u32 m, u32 *upper,
			u32 *counts)
{
	u32 words = size / 4, pos = 0, l, i;

	if (size % 4)
		return -EUCLEAN;
	for (l = 1; l <= level; l++) {
		u32 n;

		if (pos >= words)
			return -EUCLEAN;
		n = get_le32(buf + 4 * pos++);
		if (n > m || n > words - pos)
			return -EUCLEAN;
		for (i = 0; i < n; i++)
			upper[(l - 1) * m + i] = get_le32(buf + 4 * (pos + i));
		counts[l] = n;
		pos += n;
	}
	return pos == words ? 0 : -EUCLEAN;
}

/* Link the saved graph into a freshly filled index (load pass 2). */
static int load_graph(struct vx_fs *fs, struct vx_vspace *vs,
		      const struct vx_space_item *it)
{
	struct col_reader meta, graph;
	u32 m = vs->m, maxitem = vx_max_item_size(fs);
	u32 *links0 = NULL, *upper = NULL;
	u32 counts[VX_VLEVEL_MAX + 1];
	const u32 *lists[VX_VLEVEL_MAX + 1];
	u8 *grec = NULL, *vbuf = NULL;
	u64 vid;
	int err;

	err = cr_init(&meta, fs, vs->id, it, VX_VCOL_META);
	if (!err)
		err = cr_init(&graph, fs, vs->id, it, VX_VCOL_GRAPH);
	else
		graph.data = NULL;
	if (err)
		goto out;
	links0 = vx_malloc(2 * m * sizeof(u32));
	upper = vx_malloc((size_t)VX_VLEVEL_MAX * m * sizeof(u32));
	grec = vx_malloc(4 + 8 * m);
	vbuf = vx_malloc(maxitem);
	err = -ENOMEM;
	if (!links0 || !upper || !grec || !vbuf)
		goto out;
	for (vid = 0; vid < vs->vid_limit; vid++) {
		struct vx_vmeta md;
		u32 flags, level, n, i, l, size;

		err = cr_read(&meta, vid, &md);
		if (err)
			goto out;
		flags = le32_to_cpu(md.flags);
		if ((flags & (VX_VMETA_LIVE | VX_VMETA_INDEXED)) !=
		    (VX_VMETA_LIVE | VX_VMETA_INDEXED))
			continue;
		level = md.level;
		err = -EUCLEAN;
		if (level > VX_VLEVEL_MAX) {
			vx_log_err("vector space %u vid %llu: invalid level %u",
				   vs->id, (unsigned long long)vid, level);
			goto out;
		}
		err = cr_read(&graph, vid, grec);
		if (err)
			goto out;
		n = get_le32(grec);
		if (n > 2 * m) {
			vx_log_err("vector space %u vid %llu: %u level-0 links",
				   vs->id, (unsigned long long)vid, n);
			err = -EUCLEAN;
			goto out;
		}
		for (i = 0; i < n; i++)
			links0[i] = get_le32(grec + 4 + 4 * i);
		counts[0] = n;
		lists[0] = links0;
		if (level) {
			struct vx_ckey k;

			space_key(&k, vs->id, VX_ITEM_VLINKS, vid);
			err = vx_item_lookup(fs, VX_TREE_FS, &k, vbuf, maxitem, &size);
			if (!err && size > maxitem)
				err = -EUCLEAN;
			if (!err)
				err = parse_vlinks(vbuf, size, level, m, upper, counts);
			if (err == -ENOENT)
				err = -EUCLEAN;
			if (err) {
				vx_log_err("vector space %u vid %llu: invalid upper links (%d)",
					   vs->id, (unsigned long long)vid, err);
				goto out;
			}
			for (l = 1; l <= level; l++)
				lists[l] = upper + (size_t)(l - 1) * m;
		}
		err = vx_index_load_node(vs->idx, vid, level, lists, counts);
		if (err) {
			if (err != -ENOMEM)
				err = -EUCLEAN;
			goto out;
		}
		if (!(vid & 1023))
			vx_cond_resched();
	}
	vx_index_set_entry(vs->idx, le64_to_cpu(it->entry_vid),
			   le32_to_cpu(it->max_level));
	err = 0;
out:
	cr_done(&meta);
	if (graph.data)
		cr_done(&graph);
	vx_free(links0);
	vx_free(upper);
	vx_free(grec);
	vx_free(vbuf);
	return err;
}

/*
 * Build a space's memory from the volume: owners and vectors of the LIVE
 * slots (pass 1), then the saved graph of the INDEXED ones (pass 2).  The
 * index's dirty marks are cleared: what differs from the disk (links the
 * index dropped on load) is simply not saved, and is dropped again on the
 * next load.
 */
static int space_load(struct vx_fs *fs, u32 id, struct vx_vspace **out)
{
	struct vx_index_params p;
	struct vx_space_item it;
	struct col_reader meta, vec;
	struct vx_vspace *vs;
	u8 *vbuf = NULL;
	u64 vid;
	int err;

	err = space_read_live(fs, id, &it);
	if (err)
		return err;
	vs = vx_zalloc(sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	vs->id = id;
	vs->dim = le32_to_cpu(it.dim);
	vs->m = le32_to_cpu(it.hnsw_m);
	vs->vid_limit = le64_to_cpu(it.vid_limit);
	memset(&p, 0, sizeof(p));
	p.dim = vs->dim;
	p.metric = le32_to_cpu(it.metric);
	p.m = vs->m;
	p.ef_construction = le32_to_cpu(it.hnsw_ef_construction);
	p.seed = le64_to_cpu(it.create_time) ^ id;
	err = vx_index_create(&vs->idx, &p);
	if (err) {
		vs->idx = NULL;
		vspace_destroy(vs);
		return err;
	}
	err = grow((void **)&vs->owner, &vs->owner_cap,
		   vs->vid_limit ? vs->vid_limit : 1, sizeof(u64));
	if (err) {
		vspace_destroy(vs);
		return err;
	}
	memset(vs->owner, 0, vs->owner_cap * sizeof(u64));
	meta.data = vec.data = NULL;
	err = cr_init(&meta, fs, id, &it, VX_VCOL_META);
	if (!err)
		err = cr_init(&vec, fs, id, &it, VX_VCOL_VECTORS);
	if (!err) {
		vbuf = vx_malloc((size_t)vs->dim * 4);
		if (!vbuf)
			err = -ENOMEM;
	}
	for (vid = 0; !err && vid < vs->vid_limit; vid++) {
		struct vx_vmeta md;

		err = cr_read(&meta, vid, &md);
		if (err || !(le32_to_cpu(md.flags) & VX_VMETA_LIVE))
			continue;
		if (!le64_to_cpu(md.ino)) {
			vx_log_err("vector space %u vid %llu: live without an owner",
				   id, (unsigned long long)vid);
			err = -EUCLEAN;
			break;
		}
		vs->owner[vid] = le64_to_cpu(md.ino);
		vs->live++;
		err = cr_read(&vec, vid, vbuf);
		if (!err)
			err = vx_index_set(vs->idx, vid, (const float *)vbuf);
		if (!(vid & 1023))
			vx_cond_resched();
	}
	if (meta.data)
		cr_done(&meta);
	if (vec.data)
		cr_done(&vec);
	vx_free(vbuf);
	if (!err && vs->live != le64_to_cpu(it.live_count))
		vx_log_warn("vector space %u: %llu live vectors, space item says %llu; the next change corrects it",
			    id, (unsigned long long)vs->live,
			    (unsigned long long)le64_to_cpu(it.live_count));
	if (!err)
		err = load_graph(fs, vs, &it);
	if (err) {
		vspace_destroy(vs);
		return err;
	}
	vx_index_clear_dirty(vs->idx);
	vs->next = fs->vspaces;
	fs->vspaces = vs;
	*out = vs;
	return 0;
}

static int vspace_get(struct vx_fs *fs, u32 id, struct vx_vspace **out)
{
	struct vx_vspace *vs = vspace_find(fs, id);

	if (vs) {
		*out = vs;
		return 0;
	}
	return space_load(fs, id, out);
}

int vx_space_index(struct vx_fs *fs, u32 id, struct vx_index **out)
{
	struct vx_vspace *vs;
	int err = vspace_get(fs, id, &vs);

	if (!err)
		*out = vs->idx;
	return err;
}

u64 vx_space_vid_owner(struct vx_fs *fs, u32 id, u64 vid)
{
	struct vx_vspace *vs = vspace_find(fs, id);
	struct vx_space_item it;
	struct vx_vmeta m;

	if (vs)
		return vid < vs->vid_limit ? vs->owner[vid] : 0;
	if (space_read_live(fs, id, &it) || vid >= le64_to_cpu(it.vid_limit))
		return 0;
	if (read_meta(fs, id, &it, vid, &m) || !(le32_to_cpu(m.flags) & VX_VMETA_LIVE))
		return 0;
	return le64_to_cpu(m.ino);
}

/* ---------------------------------------------------------------- graph */

/* Ask for the records the dirty graph nodes rewrite; *ndirty counts them. */
static int graph_plan(struct vx_vspace *vs, struct vbatch *vb, u64 vid_limit,
		      u64 *ndirty)
{
	u64 vid = vx_index_next_dirty(vs->idx, 0);
	int err;

	*ndirty = 0;
	for (; vid != VX_VID_NONE; vid = vx_index_next_dirty(vs->idx, vid + 1)) {
		if (vid >= vid_limit)
			continue;
		(*ndirty)++;
		err = vb_want(vb, VX_VCOL_META, vid);
		if (!err && vx_index_linked(vs->idx, vid))
			err = vb_want(vb, VX_VCOL_GRAPH, vid);
		if (err)
			return err;
	}
	return 0;
}

/* GRAPH records and META flags of the dirty nodes, into the batch. */
static int graph_apply(struct vx_vspace *vs, struct vbatch *vb, u64 vid_limit,
		       u8 *grec, u32 *links)
{
	u64 vid = vx_index_next_dirty(vs->idx, 0);
	int err;

	for (; vid != VX_VID_NONE; vid = vx_index_next_dirty(vs->idx, vid + 1)) {
		int level = vid < vid_limit ? vx_index_node_level(vs->idx, vid) : -1;
		struct vx_vmeta m;
		u32 flags;

		if (vid >= vid_limit)
			continue;
		err = vb_get(vb, VX_VCOL_META, vid, &m);
		if (err)
			return err;
		flags = le32_to_cpu(m.flags);
		if (level >= 0 && (flags & VX_VMETA_LIVE)) {
			int n = vx_index_node_links(vs->idx, vid, 0, links);
			u32 i;

			if (n < 0)
				return n;
			memset(grec, 0, 4 + 8 * (size_t)vs->m);
			put_le32(grec, (u32)n);
			for (i = 0; i < (u32)n; i++)
				put_le32(grec + 4 + 4 * i, links[i]);
			err = vb_put(vb, VX_VCOL_GRAPH, vid, grec);
			if (err)
				return err;
			flags |= VX_VMETA_INDEXED;
			m.level = (u8)level;
		} else {
			flags &= ~VX_VMETA_INDEXED;
			m.level = 0;
		}
		m.flags = cpu_to_le32(flags);
		err = vb_put(vb, VX_VCOL_META, vid, &m);
		if (err)
			return err;
	}
	return 0;
}

/*
 * VLINKS items of the dirty nodes: written for linked nodes above level 0,
 * deleted otherwise.  A node whose lists do not fit one item (only with a
 * large M on small blocks) keeps the first links of each level that fit:
 * a sparser node after a reload, never an invalid graph.
 */
static int graph_vlinks(struct vx_fs *fs, struct vx_vspace *vs, u64 vid_limit,
			u8 *buf, u32 *links)
{
	u32 maxwords = vx_max_item_size(fs) / 4;
	u64 vid = vx_index_next_dirty(vs->idx, 0);
	struct vx_ckey k;
	int err;

	for (; vid != VX_VID_NONE; vid = vx_index_next_dirty(vs->idx, vid + 1)) {
		int level = vid < vid_limit ? vx_index_node_level(vs->idx, vid) : -1;
		u32 counts[VX_VLEVEL_MAX + 1], total, l, i, pos;

		if (vid >= vid_limit)
			continue;
		space_key(&k, vs->id, VX_ITEM_VLINKS, vid);
		if (level < 1) {
			err = vx_item_lookup(fs, VX_TREE_FS, &k, NULL, 0, NULL);
			if (!err)
				err = vx_item_delete(fs, VX_TREE_FS, &k);
			if (err && err != -ENOENT)
				return err;
			continue;
		}
		total = (u32)level;
		for (l = 1; l <= (u32)level; l++) {
			int n = vx_index_node_links(vs->idx, vid, l, links);

			if (n < 0)
				return n;
			counts[l] = (u32)n;
			total += (u32)n;
		}
		while (total > maxwords) {
			u32 big = 1;

			for (l = 2; l <= (u32)level; l++)
				if (counts[l] > counts[big])
					big = l;
			if (!counts[big])
				return -E2BIG;
			counts[big]--;
			total--;
		}
		pos = 0;
		for (l = 1; l <= (u32)level; l++) {
			vx_index_node_links(vs->idx, vid, l, links);
			put_le32(buf + 4 * pos++, counts[l]);
			for (i = 0; i < counts[l]; i++)
				put_le32(buf + 4 * pos++, links[i]);
		}
		err = vx_item_update(fs, VX_TREE_FS, &k, buf, 4 * pos);
		if (err == -ENOENT)
			err = vx_item_insert(fs, VX_TREE_FS, &k, buf, 4 * pos);
		if (err)
			return err;
	}
	return 0;
}

/* ---------------------------------------------------------------- changes */

/*
 * One composite change of a space.  The caller fills the plan (records to
 * write), then op_prepare() adds the dirty graph, op_reserve() checks the
 * space, and op_write() applies everything.
 */
struct vop {
	struct vx_fs *fs;
	struct vx_vspace *vs;
	struct vx_space_item it;
	struct vbatch vb;
	u64 item_ops;		/* the space item */
	/* one file's EMBED items in the space, as for vx_run_blocks() */
	u64 run_exist;		/* there now (~0ULL: unknown) */
	u64 run_del;		/* deleted */
	u64 run_upd;		/* rewritten */
	u64 run_ins;		/* inserted, in ascending vid order */
	u64 run_span[VX_MAX_LEVELS];	/* nodes their key range spans */
	bool run_spanned;
	u64 ndirty;
	u64 vlinks_ops;		/* VLINKS items written or deleted */
	u64 new_vid_limit;
	u64 new_live;
	u8 *grec;		/* one GRAPH record */
	u8 *ibuf;		/* one VLINKS item */
	u32 *links;		/* 2M links */
	bool shrink;
	bool index_changed;	/* memory differs from the disk until written */
	bool in_op;		/* inside vx_op_begin() */
};

static int vop_init(struct vop *op, struct vx_fs *fs, u32 space, bool shrink)
{
	int err;

	memset(op, 0, sizeof(*op));
	op->fs = fs;
	op->shrink = shrink;
	err = vspace_get(fs, space, &op->vs);
	if (err)
		return err;
	err = space_read_live(fs, space, &op->it);
	if (err)
		return err;
	vb_init(&op->vb, fs, space, &op->it);
	op->new_vid_limit = op->vs->vid_limit;
	op->new_live = op->vs->live;
	op->item_ops = 1;	/* the space item */
	op->run_exist = ~0ULL;
	op->grec = vx_malloc(4 + 8 * (size_t)op->vs->m);
	op->ibuf = vx_malloc(vx_max_item_size(fs));
	op->links = vx_malloc(2 * (size_t)op->vs->m * sizeof(u32));
	if (!op->grec || !op->ibuf || !op->links)
		return -ENOMEM;
	return 0;
}

/*
 * Finish an operation.  err from a stage before the writes: nothing changed
 * on disk; a changed index is unloaded so it is rebuilt from the disk.
 */
static int vop_end(struct vop *op, int err)
{
	if (op->in_op)
		vx_op_end(op->fs);
	if (err && op->index_changed && op->vs)
		vspace_unload(op->fs, op->vs->id);
	vb_free(&op->vb);
	vx_free(op->grec);
	vx_free(op->ibuf);
	vx_free(op->links);
	return err;
}

static u64 vop_run_blocks(const struct vop *op)
{
	return vx_run_blocks(op->fs, op->run_spanned ? op->run_span : NULL,
			     op->run_exist, op->run_del, op->run_upd, op->run_ins,
			     sizeof(struct vx_embed_item));
}

static void embed_key(struct vx_ckey *k, u64 ino, u32 space, u64 vid);

/* The run of ino's EMBED items in op's space: how many nodes it spans. */
static int vop_span_run(struct vop *op, u64 ino)
{
	struct vx_ckey lo, hi;
	int err;

	embed_key(&lo, ino, op->vs->id, 0);
	embed_key(&hi, ino, op->vs->id, VX_VID_MAX);
	err = vx_range_span(op->fs, VX_TREE_FS, &lo, &hi, op->run_span);
	op->run_spanned = !err;
	return err;
}

/* Read the planned column blocks; would the operation fit so far? */
static int vop_load(struct vop *op)
{
	int err = vb_load(&op->vb);

	if (!err)
		err = precheck_space(op->fs, op->item_ops, vop_run_blocks(op),
				     &op->vb, op->shrink);
	return err;
}

/* VLINKS items the save of the dirty nodes writes or deletes. */
static int count_vlinks_ops(struct vx_fs *fs, struct vx_vspace *vs, u64 vid_limit,
			    u64 *nops)
{
	u64 vid = vx_index_next_dirty(vs->idx, 0);
	struct vx_ckey k;
	int err;

	*nops = 0;
	for (; vid != VX_VID_NONE; vid = vx_index_next_dirty(vs->idx, vid + 1)) {
		if (vid >= vid_limit)
			continue;
		if (vx_index_node_level(vs->idx, vid) >= 1) {
			(*nops)++;
			continue;
		}
		space_key(&k, vs->id, VX_ITEM_VLINKS, vid);
		err = vx_item_lookup(fs, VX_TREE_FS, &k, NULL, 0, NULL);
		if (!err)
			(*nops)++;
		else if (err != -ENOENT)
			return err;
	}
	return 0;
}

/* Plan is loaded and applied to the batch: add the graph, reserve. */
static int vop_prepare(struct vop *op)
{
	int err;

	op->index_changed = true;
	err = graph_plan(op->vs, &op->vb, op->new_vid_limit, &op->ndirty);
	if (!err)
		err = vb_load(&op->vb);
	if (!err)
		err = graph_apply(op->vs, &op->vb, op->new_vid_limit, op->grec,
				  op->links);
	if (!err)
		err = count_vlinks_ops(op->fs, op->vs, op->new_vid_limit,
				       &op->vlinks_ops);
	if (err)
		return err;
	if (!op->shrink) {
		err = check_data_space(op->fs, &op->vb);
		if (err)
			return err;
	}
	err = vx_op_begin(op->fs, op_nops(op->fs, op->item_ops + op->vlinks_ops,
					  vop_run_blocks(op), &op->vb),
			  op->shrink);
	if (err)
		return err;
	op->in_op = true;
	return 0;
}

/* After the caller's item changes: graph items, blocks, space item. */
static int vop_write(struct vop *op)
{
	struct vx_vspace *vs = op->vs;
	struct vx_index_stats st;
	int err;

	err = graph_vlinks(op->fs, vs, op->new_vid_limit, op->ibuf, op->links);
	if (!err)
		err = vb_write(&op->vb);
	if (err)
		return err;
	vx_index_get_stats(vs->idx, &st);
	op->it.entry_vid = cpu_to_le64(st.entry_vid);
	op->it.max_level = cpu_to_le32(st.entry_vid == VX_VID_NONE ? 0 : st.max_level);
	op->it.vid_limit = cpu_to_le64(op->new_vid_limit);
	op->it.live_count = cpu_to_le64(op->new_live);
	return space_write(op->fs, vs->id, &op->it);
}

/* The written state becomes the memory's. */
static void vop_done(struct vop *op)
{
	op->vs->vid_limit = op->new_vid_limit;
	op->vs->live = op->new_live;
	vx_index_clear_dirty(op->vs->idx);
	op->index_changed = false;
}

int vx_space_save_graph(struct vx_fs *fs, u32 id)
{
	struct vx_vspace *vs = vspace_find(fs, id);
	struct vop op;
	int err;

	if (!vs || vx_index_next_dirty(vs->idx, 0) == VX_VID_NONE)
		return 0;
	err = vop_init(&op, fs, id, false);
	if (!err)
		err = vop_prepare(&op);
	/* [IDX-R]: never unload here, searches may hold the index */
	op.index_changed = false;
	if (err)
		return vop_end(&op, err);
	err = vop_write(&op);
	if (err)
		return vop_end(&op, vx_op_fail(fs, err));
	vop_done(&op);
	return vop_end(&op, 0);
}

/* ---------------------------------------------------------------- embeds */

struct emb_rec {
	u64 off, len, dv;
	u64 vid;
	u32 space;
	u32 flags;
	u32 idx;		/* position in the caller's array */
	u32 pad;
};

static int emb_cmp(const void *a, const void *b)
{
	const struct emb_rec *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->space != y->space)
		return x->space < y->space ? -1 : 1;
	return x->vid < y->vid ? -1 : x->vid > y->vid;
}

static void embed_key(struct vx_ckey *k, u64 ino, u32 space, u64 vid)
{
	k->objectid = ino;
	k->type = VX_ITEM_EMBED;
	k->offset = VX_EMBED_OFFSET(space, vid);
}

static void embed_from_disk(struct emb_rec *r, const struct vx_embed_item *d)
{
	r->off = le64_to_cpu(d->chunk_offset);
	r->len = le64_to_cpu(d->chunk_length);
	r->dv = le64_to_cpu(d->data_version);
	r->flags = le32_to_cpu(d->flags);
}

static void embed_to_disk(struct vx_embed_item *d, const struct vx_embed *e)
{
	memset(d, 0, sizeof(*d));
	d->chunk_offset = cpu_to_le64(e->chunk_offset);
	d->chunk_length = cpu_to_le64(e->chunk_length);
	d->data_version = cpu_to_le64(e->data_version);
}

/*
 * The embeddings of ino in space (0: every space), up to max of them, in key
 * order.  visible: skip spaces that are dropped.
 */
static int embed_collect(struct vx_fs *fs, u64 ino, u32 space, u64 max,
			 bool visible, struct emb_rec **out, u64 *count)
{
	struct vx_ckey k, found;
	struct vx_embed_item item;
	struct emb_rec *recs = NULL;
	u64 n = 0, cap = 0;
	u32 checked = 0;
	bool checked_ok = false;
	u32 size;
	int err;

	embed_key(&k, ino, space, 0);
	while (n < max) {
		struct emb_rec *r;
		u32 s;

		err = vx_item_next(fs, VX_TREE_FS, &k, &found, &item, sizeof(item), &size);
		if (err == -ENOENT)
			break;
		if (err)
			goto fail;
		if (found.objectid != ino || found.type != VX_ITEM_EMBED)
			break;
		s = VX_EMBED_SPACE(found.offset);
		if (space && s != space)
			break;
		k = found;
		k.offset++;
		if (size != sizeof(item)) {
			vx_log_err("inode %llu: invalid embedding item", (unsigned long long)ino);
			err = -EUCLEAN;
			goto fail;
		}
		if (visible) {
			if (s != checked) {
				struct vx_space_item it;

				checked = s;
				err = space_read_live(fs, s, &it);
				if (err && err != -ENOENT)
					goto fail;
				checked_ok = !err;
			}
			if (!checked_ok)
				continue;
		}
		err = grow((void **)&recs, &cap, n + 1, sizeof(*recs));
		if (err)
			goto fail;
		r = &recs[n++];
		memset(r, 0, sizeof(*r));
		embed_from_disk(r, &item);
		r->vid = VX_EMBED_VID(found.offset);
		r->space = s;
	}
	*out = recs;
	*count = n;
	return 0;
fail:
	vx_free(recs);
	return err;
}

/* Embeddings belong to regular files. */
static int check_file(struct vx_fs *fs, u64 ino, u64 *data_version)
{
	struct vx_inode_data in;
	int err = vx_inode_read(fs, ino, &in);

	if (err)
		return err;
	if (vx_mode_to_ftype(in.mode) == VX_FT_DIR)
		return -EISDIR;
	if (vx_mode_to_ftype(in.mode) != VX_FT_REG)
		return -EINVAL;
	if (data_version)
		*data_version = in.data_version;
	return 0;
}

static bool chunk_valid(const struct vx_embed *e)
{
	return e->chunk_offset + e->chunk_length >= e->chunk_offset;
}

/*
 * The caller's chunks sorted by (offset, length); -EEXIST (add) or -EINVAL
 * (others) when one appears twice.
 */
static int sort_chunks(const struct vx_embed *e, u32 n, int dup_err,
		       struct emb_rec **out)
{
	struct emb_rec *r = vx_zalloc((size_t)n * sizeof(*r));
	u32 i;

	if (!r)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (!chunk_valid(&e[i])) {
			vx_free(r);
			return -EINVAL;
		}
		r[i].off = e[i].chunk_offset;
		r[i].len = e[i].chunk_length;
		r[i].idx = i;
	}
	vx_sort(r, n, sizeof(*r), emb_cmp);
	for (i = 1; i < n; i++) {
		if (r[i].off == r[i - 1].off && r[i].len == r[i - 1].len) {
			vx_free(r);
			return dup_err;
		}
	}
	*out = r;
	return 0;
}

static struct emb_rec *find_chunk(struct emb_rec *sorted, u64 n, u64 off, u64 len)
{
	u64 lo = 0, hi = n;

	while (lo < hi) {
		u64 mid = lo + (hi - lo) / 2;
		struct emb_rec *r = &sorted[mid];

		if (r->off == off && r->len == len)
			return r;
		if (r->off < off || (r->off == off && r->len < len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The n lowest vids free once the vids in del are freed: free slots below
 * vid_limit first, then new slots.  *scan_end: every vid below it is taken
 * afterwards (the next free-vid hint).  Changes nothing.
 */
static int pick_vids(struct vx_vspace *vs, const struct emb_rec *del, u64 ndel,
		     u64 *vids, u32 n, u64 *new_limit, u64 *scan_end)
{
	u64 start = vs->free_hint, vid, i;
	u32 got = 0;

	for (i = 0; i < ndel; i++) {
		vs->owner[del[i].vid] = 0;
		if (del[i].vid < start)
			start = del[i].vid;
	}
	for (vid = start; vid < vs->vid_limit && got < n; vid++)
		if (!vs->owner[vid])
			vids[got++] = vid;
	*scan_end = vid;
	*new_limit = vs->vid_limit;
	while (got < n) {
		if (*new_limit >= VX_VID_LIMIT_MAX)
			return -ENOSPC;
		vids[got++] = (*new_limit)++;
		*scan_end = *new_limit;
	}
	return 0;
}

/* Give the owners back after pick_vids (it cleared the deleted vids). */
static void restore_owners(struct vx_vspace *vs, const struct emb_rec *del,
			   u64 ndel, u64 ino)
{
	u64 i;

	for (i = 0; i < ndel; i++)
		vs->owner[del[i].vid] = ino;
}

static const struct vx_vmeta zero_meta;

/*
 * Delete embeddings (vids of ino in op's space) as part of op: index,
 * META, EMBED items.  Stage 1 plans; stage 2 writes the items.
 */
static int del_plan(struct vop *op, u64 ino, const struct emb_rec *del, u64 ndel)
{
	u64 i;
	int err;

	for (i = 0; i < ndel; i++) {
		if (del[i].vid >= op->vs->vid_limit || op->vs->owner[del[i].vid] != ino) {
			vx_log_err("inode %llu: embedding of vector space %u vid %llu, which it does not own",
				   (unsigned long long)ino, op->vs->id,
				   (unsigned long long)del[i].vid);
			return -EUCLEAN;
		}
		err = vb_want(&op->vb, VX_VCOL_META, del[i].vid);
		if (err)
			return err;
	}
	op->run_del += ndel;
	op->new_live -= ndel;
	return 0;
}

static int del_apply(struct vop *op, const struct emb_rec *del, u64 ndel)
{
	u64 i;
	int err;

	for (i = 0; i < ndel; i++) {
		op->index_changed = true;
		err = vx_index_remove(op->vs->idx, del[i].vid);
		if (err == -ENOENT) {
			vx_log_err("vector space %u vid %llu: embedding without a vector",
				   op->vs->id, (unsigned long long)del[i].vid);
			err = -EUCLEAN;
		}
		if (!err)
			err = vb_put(&op->vb, VX_VCOL_META, del[i].vid, &zero_meta);
		if (err)
			return err;
	}
	return 0;
}

static int del_items(struct vop *op, u64 ino, const struct emb_rec *del, u64 ndel)
{
	struct vx_ckey k;
	u64 i;
	int err;

	for (i = 0; i < ndel; i++) {
		embed_key(&k, ino, op->vs->id, del[i].vid);
		err = vx_item_delete(op->fs, VX_TREE_FS, &k);
		if (err)
			return err == -ENOENT ? -EUCLEAN : err;
	}
	return 0;
}

static void del_done(struct vop *op, const struct emb_rec *del, u64 ndel)
{
	u64 i;

	for (i = 0; i < ndel; i++) {
		op->vs->owner[del[i].vid] = 0;
		if (del[i].vid < op->vs->free_hint)
			op->vs->free_hint = del[i].vid;
	}
}

/* Delete the given embeddings of ino in space as one operation. */
static int delete_vids(struct vx_fs *fs, u64 ino, u32 space,
		       const struct emb_rec *del, u64 ndel)
{
	struct vop op;
	int err;

	err = vop_init(&op, fs, space, true);
	if (!err)
		err = del_plan(&op, ino, del, ndel);
	if (!err)
		err = vop_span_run(&op, ino);
	if (!err)
		err = vop_load(&op);
	if (!err)
		err = del_apply(&op, del, ndel);
	if (!err)
		err = vop_prepare(&op);
	if (err)
		return vop_end(&op, err);
	err = del_items(&op, ino, del, ndel);
	if (!err)
		err = vop_write(&op);
	if (err)
		return vop_end(&op, vx_op_fail(fs, err));
	del_done(&op, del, ndel);
	vop_done(&op);
	return vop_end(&op, 0);
}

/* Delete del[0..ndel) in atomic batches (VX_DELETE_BATCH). */
static int delete_batched(struct vx_fs *fs, u64 ino, u32 space,
			  const struct emb_rec *del, u64 ndel)
{
	u64 done = 0, batch = VX_DELETE_BATCH;
	int err;

	while (done < ndel) {
		u64 n = ndel - done < batch ? ndel - done : batch;

		err = delete_vids(fs, ino, space, del + done, n);
		if (err == -ENOSPC && n > 1) {
			batch = n / 2;
			continue;
		}
		if (err)
			return err;
		done += n;
		vx_cond_resched();
	}
	return 0;
}

/*
 * Stage 1 of an add or update of e[0..n) for ino in space: ino must be a
 * regular file, op is begun, the caller's chunks are sorted into *chunks
 * (dup_err for one given twice) and ino's embeddings in the space are
 * collected into *existing.  On failure too, the caller ends op with
 * vop_end() and frees the arrays.
 */
static int embed_op_start(struct vop *op, struct vx_fs *fs, u64 ino, u32 space,
			  const struct vx_embed *e, u32 n, int dup_err,
			  struct emb_rec **chunks, struct emb_rec **existing,
			  u64 *nexist)
{
	int err;

	memset(op, 0, sizeof(*op));	/* vop_end() is safe from here on */
	err = check_file(fs, ino, NULL);
	if (!err)
		err = vop_init(op, fs, space, false);
	if (!err)
		err = sort_chunks(e, n, dup_err, chunks);
	if (!err)
		err = embed_collect(fs, ino, space, ~0ULL, false, existing, nexist);
	if (!err) {
		op->run_exist = *nexist;
		err = vop_span_run(op, ino);
	}
	return err;
}

/* Stage 3: vec becomes the vector of vid, in the index and in the batch. */
static int embed_set_vector(struct vop *op, u64 vid, const u8 *vec)
{
	int err;

	op->index_changed = true;
	err = vx_index_set(op->vs->idx, vid, (const float *)vec);
	if (!err)
		err = vb_put(&op->vb, VX_VCOL_VECTORS, vid, vec);
	return err;
}

/*
 * Stage 4 of an add (vids: the new vids) or update (vids NULL: e[i].vid)
 * of e[0..n) for ino: the EMBED items, inserted or updated, then the
 * column blocks and space item.  An add finding an item, or an update
 * missing one: -EUCLEAN.
 */
static int embed_write(struct vop *op, u64 ino, const struct vx_embed *e,
		       const u64 *vids, u32 n)
{
	struct vx_embed_item item;
	struct vx_ckey k;
	int err = 0;
	u32 i;

	for (i = 0; !err && i < n; i++) {
		embed_key(&k, ino, op->vs->id, vids ? vids[i] : e[i].vid);
		embed_to_disk(&item, &e[i]);
		if (vids) {
			err = vx_item_insert(op->fs, VX_TREE_FS, &k, &item, sizeof(item));
			if (err == -EEXIST)
				err = -EUCLEAN;
		} else {
			err = vx_item_update(op->fs, VX_TREE_FS, &k, &item, sizeof(item));
			if (err == -ENOENT)
				err = -EUCLEAN;
		}
	}
	if (!err)
		err = vop_write(op);
	return err;
}

int vx_embed_add(struct vx_fs *fs, u64 ino, u32 space, struct vx_embed *e,
		 const float *vectors, u32 n, u32 flags)
{
	struct emb_rec *existing = NULL, *chunks = NULL, *del = NULL;
	u64 nexist = 0, ndel = 0, i, *vids = NULL, new_limit = 0, scan_end = 0;
	const u8 *vecs = (const u8 *)vectors;
	struct vx_vmeta meta;
	struct vop op;
	u64 vbytes;
	int err;

	if (!n || !e || !vectors || (flags & ~VX_EMBED_REPLACE_ALL))
		return -EINVAL;
	err = embed_op_start(&op, fs, ino, space, e, n, -EEXIST, &chunks,
			     &existing, &nexist);
	if (err)
		goto out;
	vbytes = (u64)op.vs->dim * 4;
	if (flags & VX_EMBED_REPLACE_ALL) {
		del = existing;
		ndel = nexist;
	} else {
		for (i = 0; i < nexist; i++) {
			if (find_chunk(chunks, n, existing[i].off, existing[i].len)) {
				err = -EEXIST;
				goto out;
			}
		}
	}
	vids = vx_malloc((size_t)n * sizeof(u64));
	err = vids ? 0 : -ENOMEM;
	if (!err)
		err = grow((void **)&op.vs->owner, &op.vs->owner_cap,
			   op.vs->vid_limit + n, sizeof(u64));
	if (!err)
		err = pick_vids(op.vs, del, ndel, vids, n, &new_limit, &scan_end);
	restore_owners(op.vs, del, ndel, ino);
	if (err)
		goto out;
	/* plan: deletes, then VECTORS and META of the new vids */
	err = del_plan(&op, ino, del, ndel);
	for (i = 0; !err && i < n; i++) {
		err = vb_want(&op.vb, VX_VCOL_VECTORS, vids[i]);
		if (!err)
			err = vb_want(&op.vb, VX_VCOL_META, vids[i]);
	}
	/* pick_vids() gives ascending vids: the inserts go in key order */
	op.run_ins += n;
	op.new_live += n;
	op.new_vid_limit = new_limit;
	if (!err)
		err = vop_load(&op);
	if (!err)
		err = del_apply(&op, del, ndel);
	memset(&meta, 0, sizeof(meta));
	meta.flags = cpu_to_le32(VX_VMETA_LIVE);
	meta.ino = cpu_to_le64(ino);
	for (i = 0; !err && i < n; i++) {
		err = embed_set_vector(&op, vids[i], vecs + i * vbytes);
		if (!err)
			err = vb_put(&op.vb, VX_VCOL_META, vids[i], &meta);
	}
	if (!err)
		err = vop_prepare(&op);
	if (err)
		goto out;

	/* writes: a failure from here on fails the volume */
	err = del_items(&op, ino, del, ndel);
	if (!err)
		err = embed_write(&op, ino, e, vids, n);
	if (err) {
		err = vx_op_fail(fs, err);
		goto out;
	}
	del_done(&op, del, ndel);
	for (i = 0; i < n; i++) {
		op.vs->owner[vids[i]] = ino;
		e[i].vid = vids[i];
		e[i].flags = 0;
	}
	op.vs->free_hint = scan_end;
	for (i = 0; i < ndel; i++)
		if (del[i].vid < op.vs->free_hint && !op.vs->owner[del[i].vid])
			op.vs->free_hint = del[i].vid;
	vop_done(&op);
out:
	vx_free(vids);
	vx_free(existing);
	vx_free(chunks);
	return vop_end(&op, err);
}

int vx_embed_update(struct vx_fs *fs, u64 ino, u32 space,
		    struct vx_embed *e, const float *vectors, u32 n)
{
	struct emb_rec *existing = NULL, *chunks = NULL;
	const u8 *vecs = (const u8 *)vectors;
	u64 nexist = 0, i, vbytes;
	struct vop op;
	int err;

	if (!n || !e || !vectors)
		return -EINVAL;
	err = embed_op_start(&op, fs, ino, space, e, n, -EINVAL, &chunks,
			     &existing, &nexist);
	if (err)
		goto out;
	vbytes = (u64)op.vs->dim * 4;
	/* existing sorted by chunk: find each of the caller's chunks */
	vx_sort(existing, nexist, sizeof(*existing), emb_cmp);
	for (i = 0; i < n; i++) {
		struct emb_rec *r = find_chunk(existing, nexist, e[i].chunk_offset,
					       e[i].chunk_length);

		if (!r) {
			err = -ENOENT;
			goto out;
		}
		e[i].vid = r->vid;
		e[i].flags = 0;
		err = vb_want(&op.vb, VX_VCOL_VECTORS, r->vid);
		if (err)
			goto out;
	}
	op.run_upd += n;
	err = vop_load(&op);
	for (i = 0; !err && i < n; i++)
		err = embed_set_vector(&op, e[i].vid, vecs + i * vbytes);
	if (!err)
		err = vop_prepare(&op);
	if (err)
		goto out;
	err = embed_write(&op, ino, e, NULL, n);
	if (err) {
		err = vx_op_fail(fs, err);
		goto out;
	}
	vop_done(&op);
out:
	vx_free(existing);
	vx_free(chunks);
	return vop_end(&op, err);
}

/* Delete EMBED items of a space that is dropped or gone: items only. */
static int delete_orphan_embeds(struct vx_fs *fs, u64 ino, u32 space)
{
	struct vx_ckey k, found;
	int err;

	embed_key(&k, ino, space, 0);
	for (;;) {
		err = vx_item_next(fs, VX_TREE_FS, &k, &found, NULL, 0, NULL);
		if (err == -ENOENT)
			return 0;
		if (err)
			return err;
		if (found.objectid != ino || found.type != VX_ITEM_EMBED ||
		    VX_EMBED_SPACE(found.offset) != space)
			return 0;
		err = vx_op_begin(fs, 1, true);
		if (err)
			return err;
		err = vx_item_delete(fs, VX_TREE_FS, &found);
		vx_op_end(fs);
		if (err)
			return vx_op_fail(fs, err);
		k = found;
	}
}

/* Delete every embedding of ino in one space, in bounded operations. */
static int delete_all_in_space(struct vx_fs *fs, u64 ino, u32 space)
{
	struct vx_space_item it;
	struct emb_rec *del = NULL;
	u64 ndel = 0;
	int err = space_read(fs, space, &it);

	if (err == -ENOENT || (!err && space_dropped(&it)))
		return delete_orphan_embeds(fs, ino, space);
	if (err)
		return err;
	err = embed_collect(fs, ino, space, ~0ULL, false, &del, &ndel);
	if (!err)
		err = delete_batched(fs, ino, space, del, ndel);
	vx_free(del);
	return err;
}

/* Every space ino has embeddings in, one after the other. */
static int delete_all_spaces(struct vx_fs *fs, u64 ino)
{
	struct vx_ckey k, found;
	u32 space = 0;
	int err;

	for (;;) {
		embed_key(&k, ino, space, 0);
		err = vx_item_next(fs, VX_TREE_FS, &k, &found, NULL, 0, NULL);
		if (err == -ENOENT)
			return 0;
		if (err)
			return err;
		if (found.objectid != ino || found.type != VX_ITEM_EMBED)
			return 0;
		space = VX_EMBED_SPACE(found.offset);
		err = delete_all_in_space(fs, ino, space);
		if (err)
			return err;
		if (space >= VX_SPACE_ID_MAX)
			return 0;
		space++;
	}
}

int vx_embed_delete(struct vx_fs *fs, u64 ino, u32 space,
		    const struct vx_embed *e, u32 n)
{
	struct emb_rec *existing = NULL, *chunks = NULL, *del = NULL;
	struct vx_space_item it;
	struct vx_inode_data in;
	u64 nexist = 0, i;
	int err;

	if (n && !e)
		return -EINVAL;
	if (!space && n)
		return -EINVAL;
	err = vx_inode_read(fs, ino, &in);
	if (err)
		return err;
	if (!space)
		return delete_all_spaces(fs, ino);
	err = space_read_live(fs, space, &it);
	if (err)
		return err;
	err = embed_collect(fs, ino, space, ~0ULL, false, &existing, &nexist);
	if (err)
		return err;
	if (!n) {
		err = delete_batched(fs, ino, space, existing, nexist);
		vx_free(existing);
		return err;
	}
	err = sort_chunks(e, n, -EINVAL, &chunks);
	if (err)
		goto out;
	vx_sort(existing, nexist, sizeof(*existing), emb_cmp);
	del = vx_malloc((size_t)n * sizeof(*del));
	if (!del) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct emb_rec *r = find_chunk(existing, nexist, chunks[i].off,
					       chunks[i].len);

		if (!r) {
			err = -ENOENT;
			goto out;
		}
		del[i] = *r;
	}
	err = delete_batched(fs, ino, space, del, n);
out:
	vx_free(del);
	vx_free(chunks);
	vx_free(existing);
	return err;
}

int vx_embed_remove_inode(struct vx_fs *fs, u64 ino)
{
	return delete_all_spaces(fs, ino);
}

int vx_embed_exists(struct vx_fs *fs, u64 ino)
{
	struct vx_ckey k, found;
	int err;

	embed_key(&k, ino, 0, 0);
	err = vx_item_next(fs, VX_TREE_FS, &k, &found, NULL, 0, NULL);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	return found.objectid == ino && found.type == VX_ITEM_EMBED;
}

int vx_embed_list(struct vx_fs *fs, u64 ino, u32 space, struct vx_embed *out,
		  u32 max, u32 *total)
{
	int ret = vx_embed_list_after(fs, ino, space, NULL, out, max, total);

	return ret < 0 ? ret : 0;
}

int vx_embed_list_after(struct vx_fs *fs, u64 ino, u32 space,
			const struct vx_embed *after, struct vx_embed *out,
			u32 max, u32 *total)
{
	struct vx_inode_data in;
	struct vx_space_item it;
	struct emb_rec *recs = NULL;
	u64 n = 0, i, first = 0;
	int err;

	if ((max && !out) || (after && !space))
		return -EINVAL;
	err = vx_inode_read(fs, ino, &in);
	if (err)
		return err;
	if (space) {
		err = space_read_live(fs, space, &it);
		if (err)
			return err;
	}
	err = embed_collect(fs, ino, space, ~0ULL, true, &recs, &n);
	if (err)
		return err;
	vx_sort(recs, n, sizeof(*recs), emb_cmp);
	/* one space: (offset, length) is unique, so it is a cursor */
	while (after && first < n &&
	       (recs[first].off < after->chunk_offset ||
		(recs[first].off == after->chunk_offset &&
		 recs[first].len <= after->chunk_length)))
		first++;
	for (i = 0; first + i < n && i < max; i++) {
		const struct emb_rec *r = &recs[first + i];

		memset(&out[i], 0, sizeof(out[i]));
		out[i].chunk_offset = r->off;
		out[i].chunk_length = r->len;
		out[i].data_version = r->dv;
		out[i].vid = r->vid;
		out[i].flags = r->dv != in.data_version ? VX_EMBED_STALE : 0;
	}
	if (total)
		*total = n > 0xffffffffULL ? 0xffffffffU : (u32)n;
	vx_free(recs);
	return (int)i;
}

int vx_embed_lookup(struct vx_fs *fs, u64 ino, u32 space, u64 vid,
		    struct vx_embed *out)
{
	struct vx_embed_item item;
	struct emb_rec r;
	struct vx_ckey k;
	u32 size;
	int err;

	if (vid > VX_VID_MAX || !space || space > VX_SPACE_ID_MAX)
		return -ENOENT;
	embed_key(&k, ino, space, vid);
	err = vx_item_lookup(fs, VX_TREE_FS, &k, &item, sizeof(item), &size);
	if (err)
		return err;
	if (size != sizeof(item))
		return -EUCLEAN;
	embed_from_disk(&r, &item);
	memset(out, 0, sizeof(*out));
	out->chunk_offset = r.off;
	out->chunk_length = r.len;
	out->data_version = r.dv;
	out->vid = vid;
	return 0;
}

int vx_embed_read_vector(struct vx_fs *fs, u32 space, u64 vid, float *out)
{
	struct vx_space_item it;
	struct col_reader r;
	struct vx_vmeta m;
	int err;

	err = space_read_live(fs, space, &it);
	if (err)
		return err;
	if (vid >= le64_to_cpu(it.vid_limit))
		return -ENOENT;
	err = read_meta(fs, space, &it, vid, &m);
	if (err)
		return err;
	if (!(le32_to_cpu(m.flags) & VX_VMETA_LIVE))
		return -ENOENT;
	err = cr_init(&r, fs, space, &it, VX_VCOL_VECTORS);
	if (!err)
		err = cr_read(&r, vid, out);
	cr_done(&r);
	return err;
}

/* ---------------------------------------------------------------- drop */

int vx_space_drop(struct vx_fs *fs, u32 id)
{
	struct vx_space_item it;
	int err = space_read_live(fs, id, &it);

	if (err)
		return err;
	vspace_unload(fs, id);
	it.flags = cpu_to_le32(le32_to_cpu(it.flags) | VX_SPACE_FLAG_DROPPED);
	memset(it.name, 0, sizeof(it.name));
	return space_write(fs, id, &it);
}

/* Delete the first item of type under the space; -ENOENT when none. */
static int reap_one(struct vx_fs *fs, u32 id, u8 type)
{
	struct vx_ckey k, found;
	struct vx_blockptr ptr;
	u32 size;
	int err;

	space_key(&k, id, type, 0);
	err = vx_item_next(fs, VX_TREE_FS, &k, &found, &ptr, sizeof(ptr), &size);
	if (err)
		return err;
	if (found.objectid != k.objectid || found.type != type)
		return -ENOENT;
	err = vx_op_begin(fs, 1, true);
	if (err)
		return err;
	err = vx_item_delete(fs, VX_TREE_FS, &found);
	if (!err && type == VX_ITEM_VBLOCK) {
		if (size != sizeof(ptr))
			err = -EUCLEAN;
		else
			err = vx_free_blocks(fs, le64_to_cpu(ptr.blocknr), 1);
	}
	vx_op_end(fs);
	return err ? vx_op_fail(fs, err) : 0;
}

/*
 * Steps, each a small operation of its own, consistent on its own: the
 * EMBED items (found through META owners, vid_limit counting down), the
 * VBLOCK items and their blocks, the VLINKS items, the space item.
 */
int vx_space_reap(struct vx_fs *fs, u32 id, u32 max_items, bool *done)
{
	struct vx_space_item it;
	struct col_reader meta;
	struct vx_ckey k;
	u32 work = 0;
	int err;

	*done = false;
	err = space_read(fs, id, &it);
	if (err)
		return err;
	if (!space_dropped(&it))
		return -EINVAL;
	if (!max_items)
		max_items = 1;
	err = cr_init(&meta, fs, id, &it, VX_VCOL_META);
	while (!err && le64_to_cpu(it.vid_limit) && work < max_items) {
		u64 vid = le64_to_cpu(it.vid_limit) - 1;
		struct vx_vmeta m;

		err = cr_read(&meta, vid, &m);
		if (err)
			break;
		err = vx_op_begin(fs, 2, true);
		if (err)
			break;
		if (le32_to_cpu(m.flags) & VX_VMETA_LIVE) {
			embed_key(&k, le64_to_cpu(m.ino), id, vid);
			err = vx_item_delete(fs, VX_TREE_FS, &k);
			if (err == -ENOENT)	/* its file removed it */
				err = 0;
		}
		it.vid_limit = cpu_to_le64(vid);
		if (!err)
			err = space_write(fs, id, &it);
		vx_op_end(fs);
		if (err) {
			vx_op_fail(fs, err);
			break;
		}
		work++;
	}
	cr_done(&meta);
	if (err)
		return err;
	while (work < max_items) {
		err = reap_one(fs, id, VX_ITEM_VBLOCK);
		if (err == -ENOENT)
			err = reap_one(fs, id, VX_ITEM_VLINKS);
		if (err == -ENOENT)
			err = reap_one(fs, id, VX_ITEM_STALE);
		if (err == -ENOENT)
			break;
		if (err)
			return err;
		work++;
	}
	if (work >= max_items)
		return 0;
	err = vx_op_begin(fs, 1, true);
	if (err)
		return err;
	space_key(&k, id, VX_ITEM_SPACE, 0);
	err = vx_item_delete(fs, VX_TREE_FS, &k);
	vx_op_end(fs);
	if (err)
		return vx_op_fail(fs, err);
	*done = true;
	return 0;
}
