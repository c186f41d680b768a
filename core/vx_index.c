/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The index's memory side: node storage, growth, removal, persistence
 * hooks.  The kernel builds this file without SSE, so it does no float
 * arithmetic; float work (normalising, repairing the graph) is done by
 * vx_hnsw.c between vx_fpu_begin() and vx_fpu_end(), and nothing is
 * allocated inside those brackets.
 *
 * Memory per vector (vx_index_bytes_per_vector), for dim d and M:
 *
 *   stride = round_up(4d, 16) + round_up(16 + 8M + 4H, 64)
 *            the vector, then the level-0 record: header (link count,
 *            level, in-degree, upper-level pointer), 2M links and H
 *            "extra" in-links (vx_index_impl.h; at least max(8, 3M/2), as
 *            many as fill the cache-aligned record)
 *   + 1      live/linked/dirty bits (3 bits per slot)
 *   + ((3 + M + H) * 4 + 16) / (M - 1)
 *            upper levels: a node has level >= l with probability M^-l, so
 *            1/(M-1) upper lists on average, each [count, in-degree, M
 *            links, H extra] plus the allocator's overhead
 *
 * e.g. d = 128, M = 16 (H = 28): 768 + 1 + 14 = 783 bytes; d = 384: 1807.
 * Chunks hold 2^chunk_shift records (about 2 MiB each); a chunk whose
 * nodes are all removed is freed, so memory follows the live count.
 * Memory scales with the highest vid, not the number of vids: the caller
 * allocates vids densely (they are slots), and they must stay below 2^31
 * (VX_INDEX_MAX_SLOTS; -EINVAL beyond, like vid > VX_VID_MAX).
 *
 * Removal is real: the node leaves every list that held it (found exactly
 * through its own mutual links and its "extra" in-links, cross-checked by
 * the in-degree counters), each of those nodes re-picks its neighbours
 * from its remaining ones and the removed node's neighbours with the
 * selection heuristic, the entry point moves to the highest remaining
 * node, and the node's memory is freed (its chunk too when it empties).
 */
#include "vx_index_impl.h"

#define VX_CHUNK_BYTES		(2U << 20)
#define VX_CHUNK_SHIFT_MIN	6	/* >= 6: vx_scan() walks a bitmap word in one chunk */
#define VX_CHUNK_SHIFT_MAX	16

static inline size_t vx_round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

/*
 * Extra in-links recorded per node and level: at least 3M/2, and as many
 * more as fit in the 64-byte multiple the level-0 record takes anyway.
 * In-links beyond that (hubs) are found by a scan when the node is removed.
 */
static u32 vx_hx(u32 m)
{
	u32 hx = 3 * m / 2 > 8 ? 3 * m / 2 : 8;
	size_t rec = vx_round_up(sizeof(struct vx_node_hdr) + 8 * (size_t)m +
				 4 * (size_t)hx, 64);

	return (u32)((rec - sizeof(struct vx_node_hdr) - 8 * (size_t)m) / 4);
}

static u32 vx_vec_bytes(u32 dim)
{
	return (u32)vx_round_up((size_t)dim * 4, 16);
}

static u32 vx_link_stride(u32 m)
{
	return (u32)vx_round_up(sizeof(struct vx_node_hdr) + 8 * (size_t)m +
				4 * (size_t)vx_hx(m), 64);
}

/* Level-0 bytes per node: its vector and its link record. */
static u32 vx_stride(u32 dim, u32 m)
{
	return vx_vec_bytes(dim) + vx_link_stride(m);
}

u64 vx_index_bytes_per_vector(const struct vx_index_params *p)
{
	u64 m = p->m < 2 ? 2 : p->m;

	return vx_stride(p->dim, (u32)m) + 1 +
	       ((3 + m + vx_hx((u32)m)) * 4 + 16 + m - 2) / (m - 1);
}

static bool vx_params_ok(const struct vx_index_params *p)
{
	if (!p || p->dim < 1 || p->dim > VX_MAX_DIM)
		return false;
	if (p->metric != VX_METRIC_L2 && p->metric != VX_METRIC_COSINE &&
	    p->metric != VX_METRIC_IP)
		return false;
	return p->m >= 2 && p->m <= 100 && p->ef_construction >= 1;
}

int vx_index_create(struct vx_index **out, const struct vx_index_params *p)
{
	struct vx_index *idx;
	u32 shift;

	if (!out || !vx_params_ok(p))
		return -EINVAL;
	idx = vx_zalloc(sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	idx->p = *p;
	idx->m = p->m;
	idx->m0 = 2 * p->m;
	idx->vec_bytes = vx_vec_bytes(p->dim);
	idx->link_stride = vx_link_stride(p->m);
	idx->stride = vx_stride(p->dim, p->m);
	idx->hx = vx_hx(p->m);
	idx->upper_words = 3 + p->m + idx->hx;
	shift = VX_CHUNK_SHIFT_MIN;
	while (shift < VX_CHUNK_SHIFT_MAX &&
	       ((size_t)idx->stride << (shift + 1)) <= VX_CHUNK_BYTES)
		shift++;
	idx->chunk_shift = shift;
	idx->chunk_mask = (1U << shift) - 1;
	/* a multiple of 64: vec_bytes is one of 16 and shift >= 2 */
	idx->links_off = idx->vec_bytes << shift;
	idx->entry = VX_VID_NONE;
	/* xorshift must not start at zero */
	idx->rng = p->seed ^ 0x9e3779b97f4a7c15ULL;
	if (!idx->rng)
		idx->rng = 1;
	*out = idx;
	return 0;
}

static void vx_free_chunk(struct vx_index *idx, u32 c)
{
	vx_free(idx->chunk_raw[c]);
	idx->chunk_raw[c] = NULL;
	idx->chunks[c] = NULL;
	idx->chunks_alloc--;
}

/* The first vid >= from whose bit is set in map, or VX_VID_NONE. */
static u64 vx_map_next(const struct vx_index *idx, const u64 *map, u64 from)
{
	u64 span = vx_span(idx), wd;
	u64 bits;

	if (from >= span)
		return VX_VID_NONE;
	wd = from / 64;
	bits = map[wd] & (~0ULL << (from & 63));
	for (;;) {
		if (bits)
			return wd * 64 + __builtin_ctzll(bits);
		if (++wd >= span / 64)
			return VX_VID_NONE;
		bits = map[wd];
	}
}

void vx_index_destroy(struct vx_index *idx)
{
	u64 vid;
	u32 c;

	if (!idx)
		return;
	for (vid = vx_map_next(idx, idx->live_map, 0); vid != VX_VID_NONE;
	     vid = vx_map_next(idx, idx->live_map, vid + 1))
		vx_free(vx_rec_hdr(idx, vid)->upper);
	for (c = 0; c < idx->nchunks; c++)
		if (idx->chunk_raw[c])
			vx_free_chunk(idx, c);
	vx_free(idx->chunks);
	vx_free(idx->chunk_raw);
	vx_free(idx->chunk_live);
	vx_free(idx->live_map);
	vx_free(idx->linked_map);
	vx_free(idx->dirty_map);
	vx_free(idx);
}

const struct vx_index_params *vx_index_params(const struct vx_index *idx)
{
	return &idx->p;
}

/*
 * Grow the directory and bitmaps to cover vid.  They are small (a pointer
 * and 3 bits per slot), so they are reallocated, by half again each time;
 * the records themselves never move.
 */
static int vx_grow_dir(struct vx_index *idx, u64 vid)
{
	u64 need = (vid >> idx->chunk_shift) + 1;
	u64 limit = VX_INDEX_MAX_SLOTS >> idx->chunk_shift;
	u64 n = idx->nchunks + idx->nchunks / 2;
	size_t old_words, words;
	u8 **chunks;
	void **raw;
	u32 *live;
	u64 *maps[3];
	int i;

	if (need <= idx->nchunks)
		return 0;
	if (n < need)
		n = need;
	if (n < 4)
		n = 4;
	if (n > limit)
		n = limit;
	old_words = vx_span(idx) / 64;
	words = (size_t)(n << idx->chunk_shift) / 64;
	chunks = vx_zalloc(n * sizeof(*chunks));
	raw = vx_zalloc(n * sizeof(*raw));
	live = vx_zalloc(n * sizeof(*live));
	for (i = 0; i < 3; i++)
		maps[i] = vx_zalloc(words * 8);
	if (!chunks || !raw || !live || !maps[0] || !maps[1] || !maps[2]) {
		vx_free(chunks);
		vx_free(raw);
		vx_free(live);
		for (i = 0; i < 3; i++)
			vx_free(maps[i]);
		return -ENOMEM;
	}
	if (idx->nchunks) {
		memcpy(chunks, idx->chunks, idx->nchunks * sizeof(*chunks));
		memcpy(raw, idx->chunk_raw, idx->nchunks * sizeof(*raw));
		memcpy(live, idx->chunk_live, idx->nchunks * sizeof(*live));
		memcpy(maps[0], idx->live_map, old_words * 8);
		memcpy(maps[1], idx->linked_map, old_words * 8);
		memcpy(maps[2], idx->dirty_map, old_words * 8);
	}
	vx_free(idx->chunks);
	vx_free(idx->chunk_raw);
	vx_free(idx->chunk_live);
	vx_free(idx->live_map);
	vx_free(idx->linked_map);
	vx_free(idx->dirty_map);
	idx->chunks = chunks;
	idx->chunk_raw = raw;
	idx->chunk_live = live;
	idx->live_map = maps[0];
	idx->linked_map = maps[1];
	idx->dirty_map = maps[2];
	idx->nchunks = (u32)n;
	return 0;
}

static size_t vx_chunk_bytes(const struct vx_index *idx)
{
	return ((size_t)idx->stride << idx->chunk_shift) + 64;
}

static int vx_get_chunk(struct vx_index *idx, u64 vid)
{
	u32 c = (u32)(vid >> idx->chunk_shift);
	void *raw;
	int err;

	err = vx_grow_dir(idx, vid);
	if (err)
		return err;
	if (idx->chunks[c])
		return 0;
	raw = vx_malloc(vx_chunk_bytes(idx));
	if (!raw)
		return -ENOMEM;
	idx->chunk_raw[c] = raw;
	idx->chunks[c] = (u8 *)vx_round_up((uintptr_t)raw, 64);
	idx->chunks_alloc++;
	return 0;
}

static void vx_put_chunk_if_empty(struct vx_index *idx, u64 vid)
{
	u32 c = (u32)(vid >> idx->chunk_shift);

	if (c < idx->nchunks && idx->chunks[c] && !idx->chunk_live[c])
		vx_free_chunk(idx, c);
}

static u64 vx_rand(struct vx_index *idx)
{
	u64 x = idx->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	idx->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* P(level >= l) = M^-l, drawn with integers only. */
static u32 vx_draw_level(struct vx_index *idx)
{
	u32 level = 0;

	while (level < VX_HNSW_MAX_LEVEL &&
	       (u32)(vx_rand(idx) >> 32) % idx->m == 0)
		level++;
	return level;
}

static size_t vx_upper_bytes(const struct vx_index *idx, u32 level)
{
	return (size_t)level * idx->upper_words * sizeof(u32);
}

bool vx_index_live(const struct vx_index *idx, u64 vid)
{
	return vid < vx_span(idx) && vx_bit(idx->live_map, vid);
}

bool vx_index_linked(const struct vx_index *idx, u64 vid)
{
	return vx_is_linked(idx, vid);
}

const float *vx_index_vector(const struct vx_index *idx, u64 vid)
{
	return vx_index_live(idx, vid) ? vx_rec_vec(idx, vid) : NULL;
}

/* Highest level with a linked node, and a node of that level. */
static void vx_pick_entry(struct vx_index *idx, u64 hint)
{
	u64 y;
	int l;

	if (!idx->linked) {
		idx->entry = VX_VID_NONE;
		idx->max_level = 0;
		return;
	}
	for (l = VX_HNSW_MAX_LEVEL; l > 0 && !idx->level_count[l]; l--)
		;
	idx->max_level = (u32)l;
	if (hint != VX_VID_NONE && vx_is_linked(idx, hint) &&
	    vx_rec_hdr(idx, hint)->level == (u32)l) {
		idx->entry = hint;
		return;
	}
	for (y = vx_map_next(idx, idx->linked_map, 0); y != VX_VID_NONE;
	     y = vx_map_next(idx, idx->linked_map, y + 1)) {
		if (vx_rec_hdr(idx, y)->level == (u32)l) {
			idx->entry = y;
			return;
		}
	}
	idx->entry = VX_VID_NONE;	/* counters are wrong: cannot happen */
}

/*
 * Take a linked node out of the graph; it stays live, pending.  Allocates
 * the work buffers first and changes nothing when that fails.
 */
static int vx_unlink_node(struct vx_index *idx, u64 vid)
{
	struct vx_node_hdr *h = vx_rec_hdr(idx, vid);
	struct vx_unlink_work w;
	u32 l, nlev = h->level + 1, total = 0, cap = 0, nout;
	u32 *buf;

	memset(&w, 0, sizeof(w));
	w.vid = (u32)vid;
	w.nlevels = nlev;
	for (l = 0; l < nlev; l++) {
		u32 in = *vx_indeg(idx, vid, l);
		u32 c;

		nout = vx_links_count(idx, vid, l);
		total += in;
		c = vx_level_cap(idx, l) + nout + in + 1;
		if (c > cap)
			cap = c;
	}
	/* in-lists, then pool, cand ids, cand distances, keep */
	buf = vx_malloc(((size_t)total + 4 * (size_t)cap) * sizeof(u32));
	if (!buf)
		return -ENOMEM;
	for (l = 0; l < nlev; l++) {
		w.in[l] = buf;
		buf += *vx_indeg(idx, vid, l);
	}
	w.pool = buf;
	w.cand_cap = cap;
	w.cand_id = buf + cap;
	w.cand_dist = (float *)(buf + 2 * (size_t)cap);
	w.keep = buf + 3 * (size_t)cap;

	vx_fpu_begin();
	vx_hnsw_unlink(idx, &w);
	vx_fpu_end();

	vx_free(w.in[0]);
	vx_bit_clear(idx->linked_map, vid);
	vx_bit_set(idx->dirty_map, vid);
	idx->linked--;
	idx->level_count[h->level]--;
	if (vid < idx->pend_lo)
		idx->pend_lo = vid;
	if (idx->entry == vid)
		vx_pick_entry(idx, w.hint);
	return 0;
}

int vx_index_set(struct vx_index *idx, u64 vid, const float *vec)
{
	struct vx_node_hdr *h;
	u32 level = 0;
	u32 *upper = NULL;
	float *dst;
	int err;

	if (!idx || !vec || vid > VX_VID_MAX || vid >= VX_INDEX_MAX_SLOTS)
		return -EINVAL;
	if (vx_index_live(idx, vid)) {
		/* Replace in place: same level, same lists once unlinked. */
		if (vx_is_linked(idx, vid)) {
			err = vx_unlink_node(idx, vid);
			if (err)
				return err;
		}
		dst = (float *)vx_rec_vec(idx, vid);
		memcpy(dst, vec, (size_t)idx->p.dim * 4);
		goto normalise;
	}
	err = vx_get_chunk(idx, vid);
	if (err)
		return err;
	level = vx_draw_level(idx);
	if (level) {
		upper = vx_zalloc(vx_upper_bytes(idx, level));
		if (!upper) {
			vx_put_chunk_if_empty(idx, vid);
			return -ENOMEM;
		}
		idx->upper_bytes += vx_upper_bytes(idx, level);
	}
	dst = (float *)vx_rec_vec(idx, vid);
	memset(dst, 0, idx->vec_bytes);
	memcpy(dst, vec, (size_t)idx->p.dim * 4);
	h = vx_rec_hdr(idx, vid);
	memset(h, 0, idx->link_stride);
	h->level = (u8)level;
	h->upper = upper;
	vx_bit_set(idx->live_map, vid);
	idx->chunk_live[vid >> idx->chunk_shift]++;
	idx->live++;
	if (vid < idx->pend_lo)
		idx->pend_lo = vid;
normalise:
	if (idx->p.metric == VX_METRIC_COSINE) {
		vx_fpu_begin();
		vx_hnsw_normalize(dst, idx->p.dim);
		vx_fpu_end();
	}
	return 0;
}

int vx_index_remove(struct vx_index *idx, u64 vid)
{
	struct vx_node_hdr *h;
	int err;

	if (!idx || !vx_index_live(idx, vid))
		return -ENOENT;
	if (vx_is_linked(idx, vid)) {
		err = vx_unlink_node(idx, vid);
		if (err)
			return err;
	}
	h = vx_rec_hdr(idx, vid);
	if (h->upper) {
		vx_free(h->upper);
		idx->upper_bytes -= vx_upper_bytes(idx, h->level);
		h->upper = NULL;
	}
	vx_bit_clear(idx->live_map, vid);
	idx->live--;
	idx->chunk_live[vid >> idx->chunk_shift]--;
	vx_put_chunk_if_empty(idx, vid);
	return 0;
}

void vx_index_unlink_all(struct vx_index *idx)
{
	u64 span = vx_span(idx), wd;
	u32 l;

	for (wd = 0; wd < span / 64; wd++) {
		u64 bits = idx->live_map[wd];

		idx->dirty_map[wd] |= idx->linked_map[wd];
		idx->linked_map[wd] = 0;
		while (bits) {
			u64 vid = wd * 64 + __builtin_ctzll(bits);
			struct vx_node_hdr *h = vx_rec_hdr(idx, vid);

			bits &= bits - 1;
			for (l = 0; l <= h->level; l++) {
				vx_set_count(idx, vid, l, 0);
				vx_set_nextra(idx, vid, l, 0);
				*vx_indeg(idx, vid, l) = 0;
			}
		}
	}
	memset(idx->level_count, 0, sizeof(idx->level_count));
	idx->linked = 0;
	idx->entry = VX_VID_NONE;
	idx->max_level = 0;
	idx->pend_lo = 0;
}

void vx_index_get_stats(const struct vx_index *idx, struct vx_index_stats *st)
{
	u64 words = vx_span(idx) / 64;

	memset(st, 0, sizeof(*st));
	st->live = idx->live;
	st->indexed = idx->linked;
	st->pending = idx->live - idx->linked;
	st->capacity = (u64)idx->chunks_alloc << idx->chunk_shift;
	st->memory_bytes = sizeof(*idx) +
		(u64)idx->chunks_alloc * vx_chunk_bytes(idx) +
		(u64)idx->nchunks * (sizeof(u8 *) + sizeof(void *) +
				     sizeof(u32)) +
		words * 8 * 3 + idx->upper_bytes;
	st->max_level = idx->max_level;
	st->entry_vid = idx->entry;
}

struct vx_index_scratch *vx_index_scratch_alloc(const struct vx_index *idx,
						u32 max_ef)
{
	struct vx_index_scratch *s;
	u32 sel;

	if (max_ef < idx->p.ef_construction)
		max_ef = idx->p.ef_construction;
	if (max_ef < 1)
		max_ef = 1;
	s = vx_zalloc(sizeof(*s));
	if (!s)
		return NULL;
	s->span = vx_span(idx);
	s->max_ef = max_ef;
	s->m0 = idx->m0;
	s->dim = idx->p.dim;
	sel = vx_sel_cap(idx, max_ef);
	s->visited = vx_zalloc((s->span ? s->span : 1) * sizeof(u16));
	s->query = vx_malloc((size_t)idx->p.dim * sizeof(u32));
	/* Candidates beyond ef are dropped when the heap fills (vx_hnsw.c). */
	s->cand.cap = max_ef + idx->m0 + 1;
	s->cand.e = vx_malloc((size_t)s->cand.cap * sizeof(struct vx_hent));
	s->res.cap = max_ef + 1;
	s->res.e = vx_malloc((size_t)s->res.cap * sizeof(struct vx_hent));
	s->sel_cap = sel;
	s->sel_id = vx_malloc((size_t)sel * sizeof(u32));
	s->sel_dist = vx_malloc((size_t)sel * sizeof(u32));
	s->keep = vx_malloc((size_t)sel * sizeof(u32));
	s->batch = vx_malloc((size_t)idx->m0 * sizeof(u32));
	s->bytes = sizeof(*s) + (s->span ? s->span : 1) * sizeof(u16) +
		   (u64)idx->p.dim * 4 +
		   ((u64)s->cand.cap + s->res.cap) * sizeof(struct vx_hent) +
		   (u64)sel * 12 + (u64)idx->m0 * 4;
	if (!s->visited || !s->query || !s->cand.e || !s->res.e ||
	    !s->sel_id || !s->sel_dist || !s->keep || !s->batch) {
		vx_index_scratch_free(s);
		return NULL;
	}
	return s;
}

void vx_index_scratch_free(struct vx_index_scratch *s)
{
	if (!s)
		return;
	vx_free(s->visited);
	vx_free(s->query);
	vx_free(s->cand.e);
	vx_free(s->res.e);
	vx_free(s->sel_id);
	vx_free(s->sel_dist);
	vx_free(s->keep);
	vx_free(s->batch);
	vx_free(s);
}

bool vx_index_scratch_fits(const struct vx_index *idx,
			   const struct vx_index_scratch *s, u32 ef)
{
	return s && s->span >= vx_span(idx) && ef <= s->max_ef &&
	       s->m0 >= idx->m0 && s->dim >= idx->p.dim;
}

int vx_index_node_level(const struct vx_index *idx, u64 vid)
{
	return vx_is_linked(idx, vid) ? vx_rec_hdr(idx, vid)->level : -1;
}

int vx_index_node_links(const struct vx_index *idx, u64 vid, u32 level,
			u32 *links)
{
	const u32 *src;
	u32 n;

	if (!vx_is_linked(idx, vid))
		return -ENOENT;
	if (level > vx_rec_hdr(idx, vid)->level)
		return -EINVAL;
	src = vx_links_ro(idx, vid, level, &n);
	memcpy(links, src, (size_t)n * sizeof(u32));
	return (int)n;
}

/*
 * In-degree counters are not kept while loading (a target may be loaded
 * later, at another level); vx_index_set_entry() recounts them and drops
 * links that do not lead to a linked node of a high enough level.
 */
int vx_index_load_node(struct vx_index *idx, u64 vid, u32 level,
		       const u32 *const *links, const u32 *counts)
{
	struct vx_node_hdr *h;
	u32 l, i, n, t;
	u32 *dst, *upper;

	if (!vx_index_live(idx, vid))
		return -ENOENT;
	if (vx_is_linked(idx, vid))
		return -EEXIST;
	if (level > VX_HNSW_MAX_LEVEL || !links || !counts)
		return -EINVAL;
	for (l = 0; l <= level; l++)
		if (counts[l] > vx_level_cap(idx, l) || (counts[l] && !links[l]))
			return -EINVAL;
	h = vx_rec_hdr(idx, vid);
	if (level != h->level) {
		upper = NULL;
		if (level) {
			upper = vx_zalloc(vx_upper_bytes(idx, level));
			if (!upper)
				return -ENOMEM;
		}
		if (h->upper)
			vx_free(h->upper);
		idx->upper_bytes += vx_upper_bytes(idx, level);
		idx->upper_bytes -= vx_upper_bytes(idx, h->level);
		h->upper = upper;
		h->level = (u8)level;
	}
	for (l = 0; l <= level; l++) {
		u32 *cnt, *indeg;
		u16 *cnt0;

		dst = vx_links(idx, vid, l, &cnt, &indeg, &cnt0);
		n = 0;
		for (i = 0; i < counts[l]; i++) {
			t = links[l][i];
			if (t == vid || !vx_index_live(idx, t) ||
			    vx_list_has(dst, n, t))
				continue;
			dst[n++] = t;
		}
		vx_set_count(idx, vid, l, n);
		vx_set_nextra(idx, vid, l, 0);
		*indeg = 0;
	}
	vx_bit_set(idx->linked_map, vid);
	idx->linked++;
	idx->level_count[level]++;
	return 0;
}

static bool vx_links_to(const struct vx_index *idx, u32 y, u32 l, u32 t)
{
	const u32 *links;
	u32 n;

	links = vx_links_ro(idx, y, l, &n);
	return vx_list_has(links, n, t);
}

/* Drop links that do not lead to a linked node of a high enough level. */
static void vx_sanitise_node(struct vx_index *idx, u64 y)
{
	struct vx_node_hdr *h = vx_rec_hdr(idx, y);
	u32 l, i, k, n, *links, *cnt, *indeg;
	u16 *cnt0;

	for (l = 0; l <= h->level; l++) {
		links = vx_links(idx, y, l, &cnt, &indeg, &cnt0);
		n = vx_links_count(idx, y, l);
		for (i = 0, k = 0; i < n; i++) {
			u32 t = links[i];

			if (vx_is_linked(idx, t) && vx_rec_hdr(idx, t)->level >= l)
				links[k++] = t;
		}
		if (k != n) {
			vx_set_count(idx, y, l, k);
			vx_bit_set(idx->dirty_map, y);
		}
		*indeg = 0;
		vx_set_nextra(idx, y, l, 0);
	}
}

/* Count a's in-links and record the ones not linked back (see impl.h). */
static void vx_count_links(struct vx_index *idx, u64 a)
{
	struct vx_node_hdr *h = vx_rec_hdr(idx, a);
	u32 l, i, n, ne, *links, *cnt, *indeg, *ex;
	u16 *cnt0;

	for (l = 0; l <= h->level; l++) {
		links = vx_links(idx, a, l, &cnt, &indeg, &cnt0);
		n = vx_links_count(idx, a, l);
		for (i = 0; i < n; i++) {
			u32 t = links[i];

			if (!vx_links_to(idx, t, l, (u32)a)) {
				/* beyond the room: found by a scan on removal */
				ex = vx_extra(idx, t, l, &ne);
				if (ne < idx->hx) {
					ex[ne] = (u32)a;
					vx_set_nextra(idx, t, l, ne + 1);
				}
			}
			(*vx_indeg(idx, t, l))++;
		}
	}
}

void vx_index_set_entry(struct vx_index *idx, u64 vid, u32 max_level)
{
	u64 span = vx_span(idx), wd;
	int pass;

	/*
	 * Rebuild what is not saved (in-degrees, extra in-links) after
	 * dropping links that cannot stay.
	 */
	for (pass = 0; pass < 2; pass++) {
		for (wd = 0; wd < span / 64; wd++) {
			u64 bits = idx->linked_map[wd];

			while (bits) {
				u64 y = wd * 64 + __builtin_ctzll(bits);

				bits &= bits - 1;
				if (pass == 0)
					vx_sanitise_node(idx, y);
				else
					vx_count_links(idx, y);
			}
			if ((wd & 1023) == 1023)
				vx_cond_resched();
		}
	}
	/*
	 * The entry point must be a node of the highest level; a saved one
	 * that is not (or max_level that disagrees) is replaced.
	 */
	(void)max_level;
	idx->entry = VX_VID_NONE;
	vx_pick_entry(idx, vid);
	idx->pend_lo = 0;
}

u64 vx_index_next_dirty(const struct vx_index *idx, u64 from)
{
	return vx_map_next(idx, idx->dirty_map, from);
}

void vx_index_clear_dirty(struct vx_index *idx)
{
	if (idx->dirty_map)
		memset(idx->dirty_map, 0, vx_span(idx) / 8);
}
