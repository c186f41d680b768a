// SPDX-License-Identifier: GPL-2.0
/*
 * Independent check of vector spaces and embeddings: see vx_check_vec.h.
 * Everything read from the volume is bounds-checked; a corrupt image must
 * never crash the checker.
 */
#include <stdarg.h>
#include "vx_check_vec.h"

#define VK_MAX_M		100
#define VK_MAX_LEVEL		15
#define VK_VID_LIMIT_MAX	(1ULL << 31)
/* META kept in memory per space; beyond this META checks are skipped */
#define VK_META_MAX_BYTES	(1ULL << 30)

struct vk_vspace {
	u32 id;
	bool ok;		/* item well formed: its fields may be used */
	bool dropped;
	struct vx_space_item it;
	u64 vid_limit;
	u32 m;
	u64 stride[VX_VCOL_COUNT];
	u8 *meta;		/* vid_limit records of the META column, or NULL */
	u8 *embedded;		/* bit per vid: an EMBED item names it */
	u8 *has_vlinks;		/* bit per vid: a VLINKS item exists */
};

struct vk_vblock {
	u32 space, size;
	struct vx_ckey key;
	struct vx_blockptr ptr;
};

struct vk_vlinks {
	u32 space, size;
	u64 vid;
	u8 *data;
};

struct vk_embed {
	u64 ino, vid;
	u32 space, size;
	bool owner_regular;
};

struct vk_vec {
	struct vk_vol *v;
	vk_vec_report_fn report;
	void *ctx;
	long problems;
	struct vk_vspace **spaces;	/* by id, VX_SPACE_ID_MAX + 1 entries */
	u32 nspaces;
	struct vk_vblock *vb;
	size_t nvb, capvb;
	struct vk_vlinks *vl;
	size_t nvl, capvl;
	struct vk_embed *em;
	size_t nem, capem;
	u64 nblocks;
};

static void vproblem(struct vk_vec *vc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void vproblem(struct vk_vec *vc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vc->problems++;
	if (vc->report)
		vc->report(vc->ctx, msg);
}

static bool vgrow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return true;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

static inline bool bit(const u8 *bm, u64 b)
{
	return bm[b >> 3] & (1U << (b & 7));
}

static inline void bit_set(u8 *bm, u64 b)
{
	bm[b >> 3] |= (u8)(1U << (b & 7));
}

static u32 le32_at(const u8 *p)
{
	__le32 x;

	memcpy(&x, p, 4);
	return le32_to_cpu(x);
}

struct vk_vec *vk_vec_new(struct vk_vol *v, vk_vec_report_fn report, void *ctx)
{
	struct vk_vec *vc = calloc(1, sizeof(*vc));

	if (!vc)
		return NULL;
	vc->spaces = calloc(VX_SPACE_ID_MAX + 1, sizeof(*vc->spaces));
	if (!vc->spaces) {
		free(vc);
		return NULL;
	}
	vc->v = v;
	vc->report = report;
	vc->ctx = ctx;
	return vc;
}

void vk_vec_free(struct vk_vec *vc)
{
	size_t i;

	if (!vc)
		return;
	for (i = 0; i <= VX_SPACE_ID_MAX; i++) {
		struct vk_vspace *s = vc->spaces[i];

		if (!s)
			continue;
		free(s->meta);
		free(s->embedded);
		free(s->has_vlinks);
		free(s);
	}
	for (i = 0; i < vc->nvl; i++)
		free(vc->vl[i].data);
	free(vc->spaces);
	free(vc->vb);
	free(vc->vl);
	free(vc->em);
	free(vc);
}

bool vk_vec_is_space_obj(u64 objectid)
{
	return objectid >= VX_SPACE_OBJID(1) &&
	       objectid <= VX_SPACE_OBJID(VX_SPACE_ID_MAX);
}

static bool name_ok(const u8 *name)
{
	u32 i;

	if (!name[0] || name[0] == '.')
		return false;
	for (i = 0; name[i]; i++) {
		u8 c = name[i];

		if (i >= VX_SPACE_NAME_LEN - 1)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void space_item(struct vk_vec *vc, u32 id, const u8 *data, u32 size)
{
	struct vk_vspace *s = calloc(1, sizeof(*s));
	const struct vx_space_item *it;
	u32 dim, m, metric, flags;

	if (!s) {
		vproblem(vc, "out of memory");
		return;
	}
	s->id = id;
	vc->spaces[id] = s;
	vc->nspaces++;
	if (size != sizeof(*it)) {
		vproblem(vc, "vector space %u: space item has size %u, expected %zu",
			 id, size, sizeof(*it));
		return;
	}
	memcpy(&s->it, data, sizeof(s->it));
	it = &s->it;
	dim = le32_to_cpu(it->dim);
	m = le32_to_cpu(it->hnsw_m);
	metric = le32_to_cpu(it->metric);
	flags = le32_to_cpu(it->flags);
	s->dropped = flags & VX_SPACE_FLAG_DROPPED;
	s->vid_limit = le64_to_cpu(it->vid_limit);
	s->m = m;
	if (dim < 1 || dim > VX_MAX_DIM || le32_to_cpu(it->elem_type) != VX_ELEM_F32 ||
	    metric < VX_METRIC_L2 || metric > VX_METRIC_IP || m < 2 || m > VK_MAX_M ||
	    !le32_to_cpu(it->hnsw_ef_construction) || s->vid_limit > VK_VID_LIMIT_MAX ||
	    le32_to_cpu(it->max_level) > VK_MAX_LEVEL || (flags & ~VX_SPACE_FLAG_DROPPED) ||
	    !memchr(it->name, 0, VX_SPACE_NAME_LEN) ||
	    !memchr(it->model, 0, VX_MODEL_NAME_LEN) ||
	    !memchr(it->model_version, 0, VX_MODEL_VERSION_LEN)) {
		vproblem(vc, "vector space %u: space item has invalid parameters (dim %u, metric %u, M %u, vid limit %llu, flags 0x%x)",
			 id, dim, metric, m, (unsigned long long)s->vid_limit, flags);
		return;
	}
	if (s->dropped ? it->name[0] != 0 : !name_ok(it->name)) {
		vproblem(vc, "vector space %u: %s", id,
			 s->dropped ? "dropped space still has a name" : "invalid space name");
		return;
	}
	if (!s->dropped && le64_to_cpu(it->live_count) > s->vid_limit)
		vproblem(vc, "vector space %u: live count %llu above the vid limit %llu", id,
			 (unsigned long long)le64_to_cpu(it->live_count),
			 (unsigned long long)s->vid_limit);
	s->stride[VX_VCOL_VECTORS] = (u64)dim * 4;
	s->stride[VX_VCOL_META] = sizeof(struct vx_vmeta);
	s->stride[VX_VCOL_GRAPH] = 4 + 8 * (u64)m;
	s->ok = true;
	if (s->vid_limit * sizeof(struct vx_vmeta) <= VK_META_MAX_BYTES) {
		s->meta = calloc(s->vid_limit ? s->vid_limit : 1, sizeof(struct vx_vmeta));
		s->embedded = calloc(s->vid_limit / 8 + 1, 1);
		s->has_vlinks = calloc(s->vid_limit / 8 + 1, 1);
		if (!s->meta || !s->embedded || !s->has_vlinks) {
			free(s->meta);
			free(s->embedded);
			free(s->has_vlinks);
			s->meta = s->embedded = s->has_vlinks = NULL;
		}
	}
}

void vk_vec_item(struct vk_vec *vc, const struct vx_ckey *k, const u8 *data, u32 size)
{
	u32 id = (u32)(k->objectid - VX_SPACE_OBJID_BASE);
	char ks[VK_KEY_STR];

	switch (k->type) {
	case VX_ITEM_SPACE:
		if (k->offset)
			vproblem(vc, "vector space %u: space item %s has a non-zero offset",
				 id, vk_key_str(k, ks));
		else if (vc->spaces[id])
			vproblem(vc, "vector space %u: second space item", id);
		else
			space_item(vc, id, data, size);
		return;
	case VX_ITEM_VBLOCK:
		if (!vgrow((void **)&vc->vb, &vc->capvb, vc->nvb + 1, sizeof(*vc->vb)))
			break;
		memset(&vc->vb[vc->nvb], 0, sizeof(vc->vb[0]));
		vc->vb[vc->nvb].space = id;
		vc->vb[vc->nvb].size = size;
		vc->vb[vc->nvb].key = *k;
		if (size == sizeof(struct vx_blockptr))
			memcpy(&vc->vb[vc->nvb].ptr, data, size);
		vc->nvb++;
		return;
	case VX_ITEM_STALE:
		return;		/* the caller checks it against the inodes */
	case VX_ITEM_VLINKS:
		if (!vgrow((void **)&vc->vl, &vc->capvl, vc->nvl + 1, sizeof(*vc->vl)))
			break;
		vc->vl[vc->nvl].space = id;
		vc->vl[vc->nvl].vid = k->offset;
		vc->vl[vc->nvl].size = size;
		vc->vl[vc->nvl].data = malloc(size ? size : 1);
		if (!vc->vl[vc->nvl].data)
			break;
		memcpy(vc->vl[vc->nvl].data, data, size);
		vc->nvl++;
		return;
	default:
		vproblem(vc, "vector space %u: item %s has an unknown type", id,
			 vk_key_str(k, ks));
		return;
	}
	vproblem(vc, "out of memory");
}

void vk_vec_embed(struct vk_vec *vc, const struct vx_ckey *k, const u8 *data, u32 size,
		  bool owner_regular)
{
	struct vk_embed *e;

	if (!vgrow((void **)&vc->em, &vc->capem, vc->nem + 1, sizeof(*vc->em))) {
		vproblem(vc, "out of memory");
		return;
	}
	e = &vc->em[vc->nem++];
	e->ino = k->objectid;
	e->space = VX_EMBED_SPACE(k->offset);
	e->vid = VX_EMBED_VID(k->offset);
	e->size = size;
	e->owner_regular = owner_regular;
	(void)data;
}

/* ---------------------------------------------------------------- check */

static const char *const col_names[VX_VCOL_COUNT] = { "VECTORS", "META", "GRAPH" };

static void check_vblock(struct vk_vec *vc, const struct vk_vblock *b, u8 *used, u8 *buf)
{
	struct vk_vol *v = vc->v;
	struct vk_vspace *s = vc->spaces[b->space];
	u32 col = VX_VBLOCK_COL(b->key.offset);
	u64 blk = VX_VBLOCK_BLK(b->key.offset);
	u64 blocknr = le64_to_cpu(b->ptr.blocknr), start, end, from, to;
	u32 csum;

	if (!s) {
		vproblem(vc, "vector space %u: column block item for a space that does not exist",
			 b->space);
		return;
	}
	if (b->size != sizeof(struct vx_blockptr)) {
		vproblem(vc, "vector space %u: column block item has size %u, expected %zu",
			 b->space, b->size, sizeof(struct vx_blockptr));
		return;
	}
	if (col >= VX_VCOL_COUNT) {
		vproblem(vc, "vector space %u: column block item of unknown column %u",
			 b->space, col);
		return;
	}
	if (blocknr < v->first_block || blocknr >= v->total_blocks) {
		vproblem(vc, "vector space %u column %s block %llu: disk block %llu outside the volume",
			 b->space, col_names[col], (unsigned long long)blk,
			 (unsigned long long)blocknr);
		return;
	}
	if (le64_to_cpu(b->ptr.birth) > v->generation)
		vproblem(vc, "vector space %u column %s block %llu: born in transaction %llu, after the superblock's %llu",
			 b->space, col_names[col], (unsigned long long)blk,
			 (unsigned long long)le64_to_cpu(b->ptr.birth),
			 (unsigned long long)v->generation);
	if (bit(used, blocknr)) {
		vproblem(vc, "vector space %u column %s block %llu: disk block %llu is also used by a tree node or another column block",
			 b->space, col_names[col], (unsigned long long)blk,
			 (unsigned long long)blocknr);
		return;
	}
	bit_set(used, blocknr);
	vc->nblocks++;
	if (vk_read_block(v, blocknr, buf)) {
		vproblem(vc, "vector space %u column %s block %llu: read error at disk block %llu",
			 b->space, col_names[col], (unsigned long long)blk,
			 (unsigned long long)blocknr);
		return;
	}
	csum = vk_csum(buf, v->bs);
	if (csum != le32_to_cpu(b->ptr.csum)) {
		vproblem(vc, "vector space %u column %s block %llu (disk block %llu): checksum mismatch: stored 0x%08x, computed 0x%08x",
			 b->space, col_names[col], (unsigned long long)blk,
			 (unsigned long long)blocknr, le32_to_cpu(b->ptr.csum), csum);
		return;
	}
	if (!s->ok)
		return;
	start = blk * v->bs;
	end = s->vid_limit * s->stride[col];
	if (!s->dropped && start >= end) {
		vproblem(vc, "vector space %u column %s block %llu: beyond the column's end (%llu records)",
			 b->space, col_names[col], (unsigned long long)blk,
			 (unsigned long long)s->vid_limit);
		return;
	}
	if (col != VX_VCOL_META || !s->meta || start >= end)
		return;
	from = start;
	to = start + v->bs < end ? start + v->bs : end;
	memcpy(s->meta + from, buf, to - from);
}

static int embed_cmp(const void *a, const void *b)
{
	const struct vk_embed *x = a, *y = b;

	if (x->space != y->space)
		return x->space < y->space ? -1 : 1;
	if (x->vid != y->vid)
		return x->vid < y->vid ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static void meta_at(const struct vk_vspace *s, u64 vid, struct vx_vmeta *m)
{
	memcpy(m, s->meta + vid * sizeof(*m), sizeof(*m));
}

static void check_embeds(struct vk_vec *vc)
{
	size_t i;

	if (vc->nem)
		qsort(vc->em, vc->nem, sizeof(*vc->em), embed_cmp);
	for (i = 0; i < vc->nem; i++) {
		const struct vk_embed *e = &vc->em[i];
		struct vk_vspace *s = e->space <= VX_SPACE_ID_MAX ? vc->spaces[e->space] : NULL;
		struct vx_vmeta m;

		if (e->size != sizeof(struct vx_embed_item))
			vproblem(vc, "inode %llu: embedding item of space %u vid %llu has size %u, expected %zu",
				 (unsigned long long)e->ino, e->space, (unsigned long long)e->vid,
				 e->size, sizeof(struct vx_embed_item));
		if (!e->owner_regular)
			vproblem(vc, "inode %llu: has an embedding but is not a regular file",
				 (unsigned long long)e->ino);
		if (!s) {
			vproblem(vc, "inode %llu: embedding of vector space %u, which does not exist",
				 (unsigned long long)e->ino, e->space);
			continue;
		}
		if (!s->ok)
			continue;
		if (e->vid >= s->vid_limit) {
			vproblem(vc, "inode %llu: embedding of vector space %u vid %llu beyond the vid limit %llu",
				 (unsigned long long)e->ino, e->space, (unsigned long long)e->vid,
				 (unsigned long long)s->vid_limit);
			continue;
		}
		if (i && vc->em[i - 1].space == e->space && vc->em[i - 1].vid == e->vid)
			vproblem(vc, "vector space %u vid %llu: embedded by inodes %llu and %llu",
				 e->space, (unsigned long long)e->vid,
				 (unsigned long long)vc->em[i - 1].ino, (unsigned long long)e->ino);
		if (!s->meta)
			continue;
		bit_set(s->embedded, e->vid);
		meta_at(s, e->vid, &m);
		if (!(le32_to_cpu(m.flags) & VX_VMETA_LIVE) || le64_to_cpu(m.ino) != e->ino)
			vproblem(vc, "inode %llu: embedding of vector space %u vid %llu, whose slot is %s",
				 (unsigned long long)e->ino, e->space, (unsigned long long)e->vid,
				 (le32_to_cpu(m.flags) & VX_VMETA_LIVE) ? "owned by another inode" : "free");
	}
}

/* VLINKS: for INDEXED nodes above level 0, lists of at most M links. */
static void check_vlinks(struct vk_vec *vc)
{
	size_t i;

	for (i = 0; i < vc->nvl; i++) {
		const struct vk_vlinks *l = &vc->vl[i];
		struct vk_vspace *s = vc->spaces[l->space];
		u32 words = l->size / 4, pos = 0, lv;
		struct vx_vmeta m;

		if (!s) {
			vproblem(vc, "vector space %u: links item of vid %llu for a space that does not exist",
				 l->space, (unsigned long long)l->vid);
			continue;
		}
		if (!s->ok || s->dropped)
			continue;
		if (l->vid >= s->vid_limit) {
			vproblem(vc, "vector space %u: links item of vid %llu beyond the vid limit",
				 l->space, (unsigned long long)l->vid);
			continue;
		}
		if (!s->meta)
			continue;
		bit_set(s->has_vlinks, l->vid);
		meta_at(s, l->vid, &m);
		if ((le32_to_cpu(m.flags) & (VX_VMETA_LIVE | VX_VMETA_INDEXED)) !=
		    (VX_VMETA_LIVE | VX_VMETA_INDEXED) || m.level < 1 || m.level > VK_MAX_LEVEL) {
			vproblem(vc, "vector space %u vid %llu: links item for a node that is not indexed above level 0",
				 l->space, (unsigned long long)l->vid);
			continue;
		}
		for (lv = 1; lv <= m.level && l->size % 4 == 0; lv++) {
			u32 n;

			if (pos >= words)
				break;
			n = le32_at(l->data + 4 * pos++);
			if (n > s->m || n > words - pos) {
				pos = words + 1;
				break;
			}
			pos += n;
		}
		if (l->size % 4 || lv <= m.level || pos != words)
			vproblem(vc, "vector space %u vid %llu: malformed links item (%u bytes for level %u)",
				 l->space, (unsigned long long)l->vid, l->size, m.level);
	}
}

static void check_meta(struct vk_vec *vc, struct vk_vspace *s)
{
	u64 vid, live = 0, entry = le64_to_cpu(s->it.entry_vid);
	struct vx_vmeta m;

	for (vid = 0; vid < s->vid_limit; vid++) {
		u32 flags;

		meta_at(s, vid, &m);
		flags = le32_to_cpu(m.flags);
		if (flags & ~(VX_VMETA_LIVE | VX_VMETA_INDEXED)) {
			vproblem(vc, "vector space %u vid %llu: unknown flags 0x%x",
				 s->id, (unsigned long long)vid, flags);
			continue;
		}
		if (!(flags & VX_VMETA_LIVE)) {
			if (flags & VX_VMETA_INDEXED)
				vproblem(vc, "vector space %u vid %llu: indexed but not live",
					 s->id, (unsigned long long)vid);
			continue;
		}
		live++;
		if (!bit(s->embedded, vid))
			vproblem(vc, "vector space %u vid %llu: live, but inode %llu has no embedding item for it",
				 s->id, (unsigned long long)vid, (unsigned long long)le64_to_cpu(m.ino));
		if ((flags & VX_VMETA_INDEXED) && m.level > VK_MAX_LEVEL)
			vproblem(vc, "vector space %u vid %llu: level %u out of range",
				 s->id, (unsigned long long)vid, m.level);
		else if ((flags & VX_VMETA_INDEXED) && m.level >= 1 && !bit(s->has_vlinks, vid))
			vproblem(vc, "vector space %u vid %llu: indexed at level %u without a links item",
				 s->id, (unsigned long long)vid, m.level);
	}
	if (live != le64_to_cpu(s->it.live_count))
		vproblem(vc, "vector space %u: live count is %llu, but %llu slots are live",
			 s->id, (unsigned long long)le64_to_cpu(s->it.live_count),
			 (unsigned long long)live);
	if (entry != VX_VID_NONE) {
		if (entry >= s->vid_limit) {
			vproblem(vc, "vector space %u: entry point %llu beyond the vid limit",
				 s->id, (unsigned long long)entry);
			return;
		}
		meta_at(s, entry, &m);
		if (!(le32_to_cpu(m.flags) & VX_VMETA_INDEXED) ||
		    m.level != le32_to_cpu(s->it.max_level))
			vproblem(vc, "vector space %u: entry point %llu is not an indexed node of level %u",
				 s->id, (unsigned long long)entry, le32_to_cpu(s->it.max_level));
	}
}

long vk_vec_check(struct vk_vec *vc, u8 *used)
{
	u8 *buf = malloc(vc->v->bs);
	size_t i;
	u32 a, b;

	if (!buf) {
		vproblem(vc, "out of memory");
		return vc->problems;
	}
	for (i = 0; i < vc->nvb; i++)
		check_vblock(vc, &vc->vb[i], used, buf);
	free(buf);
	check_embeds(vc);
	check_vlinks(vc);
	for (a = 1; a <= VX_SPACE_ID_MAX; a++) {
		struct vk_vspace *s = vc->spaces[a];

		if (!s || !s->ok || s->dropped)
			continue;
		if (s->meta)
			check_meta(vc, s);
		for (b = a + 1; b <= VX_SPACE_ID_MAX; b++) {
			struct vk_vspace *t = vc->spaces[b];

			if (t && t->ok && !t->dropped &&
			    !strcmp((const char *)s->it.name, (const char *)t->it.name))
				vproblem(vc, "vector spaces %u and %u have the same name \"%s\"",
					 a, b, (const char *)s->it.name);
		}
	}
	return vc->problems;
}

u64 vk_vec_nblocks(const struct vk_vec *vc)
{
	return vc->nblocks;
}

u32 vk_vec_nspaces(const struct vk_vec *vc)
{
	return vc->nspaces;
}

enum vk_space_state vk_vec_space_state(const struct vk_vec *vc, u32 id)
{
	const struct vk_vspace *s;

	if (id == 0 || id > VX_SPACE_ID_MAX)
		return VK_SPACE_NONE;
	s = vc->spaces[id];
	if (!s)
		return VK_SPACE_NONE;
	/* a malformed space item still names a space (reported already) */
	return s->dropped ? VK_SPACE_DROPPED : VK_SPACE_LIVE;
}

const char *vk_stale_decode(const u8 *data, u32 size, struct vk_stale *out)
{
	struct vx_stale_item it;

	memset(out, 0, sizeof(*out));
	if (size != sizeof(it))
		return "has the wrong size";
	memcpy(&it, data, sizeof(it));
	out->flags = le32_to_cpu(it.flags);
	out->failed_errno = le32_to_cpu(it.failed_errno);
	out->failed_version = le64_to_cpu(it.failed_version);
	if (out->flags & ~(u32)VX_STALE_FAILED)
		return "has unknown flags";
	if (!(out->flags & VX_STALE_FAILED) && (out->failed_errno || out->failed_version))
		return "records a failure without the FAILED flag";
	return NULL;
}
