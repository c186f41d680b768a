/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HNSW graph's float side: linking, searching, repairing after a
 * removal.  [FPU]: the kernel builds this file with SSE and every entry
 * point runs between vx_fpu_begin() and vx_fpu_end(); nothing here
 * allocates or sleeps (memory comes from the scratch or from vx_index.c),
 * and long loops call vx_fpu_yield().
 *
 * The algorithm is the one of Malkov & Yashunin (HNSW, 2016): greedy
 * descent through the upper levels, a best-first search of width ef at the
 * bottom, neighbours chosen by the diversity heuristic, links made both
 * ways and a full list shrunk by the same heuristic.
 */
#include "vx_index_impl.h"

/* Distance computations between two vx_fpu_yield() calls. */
#define VX_YIELD_EVERY		512

/* ---- Fixed-capacity binary heaps over (distance, id) ---- */

/*
 * One implementation for both orders: max selects a max-heap.  The min/max
 * wrappers below pass a constant, so once inlined each is the plain
 * single-order code (the search loops compile exactly as before).
 * vx_heap_first(max, a, b): a goes strictly above b;
 * vx_heap_ok(max, a, b): a may stay above b.
 */
static inline bool vx_heap_first(bool max, float a, float b)
{
	return max ? a > b : a < b;
}

static inline bool vx_heap_ok(bool max, float a, float b)
{
	return max ? a >= b : a <= b;
}

static inline void vx_heap_push(struct vx_hnsw_heap *h, float d,
					 u32 id, bool max)
{
	u32 i = h->n++, p;

	while (i) {
		p = (i - 1) / 2;
		if (vx_heap_ok(max, h->e[p].d, d))
			break;
		h->e[i] = h->e[p];
		i = p;
	}
	h->e[i].d = d;
	h->e[i].id = id;
}

static inline void vx_heap_sift(struct vx_hnsw_heap *h, u32 i,
					 struct vx_hent x, bool max)
{
	u32 n = h->n, c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && vx_heap_first(max, h->e[c + 1].d, h->e[c].d))
			c++;
		if (vx_heap_ok(max, x.d, h->e[c].d))
			break;
		h->e[i] = h->e[c];
		i = c;
	}
	h->e[i] = x;
}

static inline void vx_heap_pop(struct vx_hnsw_heap *h, bool max)
{
	struct vx_hent x = h->e[--h->n];

	if (h->n)
		vx_heap_sift(h, 0, x, max);
}

static inline void vx_minheap_push(struct vx_hnsw_heap *h, float d, u32 id)
{
	vx_heap_push(h, d, id, false);
}

static inline void vx_minheap_sift(struct vx_hnsw_heap *h, u32 i,
				   struct vx_hent x)
{
	vx_heap_sift(h, i, x, false);
}

static inline void vx_minheap_pop(struct vx_hnsw_heap *h)
{
	vx_heap_pop(h, false);
}

static inline void vx_maxheap_push(struct vx_hnsw_heap *h, float d, u32 id)
{
	vx_heap_push(h, d, id, true);
}

static inline void vx_maxheap_sift(struct vx_hnsw_heap *h, u32 i,
				   struct vx_hent x)
{
	vx_heap_sift(h, i, x, true);
}

static inline void vx_maxheap_pop(struct vx_hnsw_heap *h)
{
	vx_heap_pop(h, true);
}

static inline void vx_maxheap_replace(struct vx_hnsw_heap *h, float d, u32 id)
{
	struct vx_hent x = { .d = d, .id = id };

	vx_maxheap_sift(h, 0, x);
}

/* Keep the best cap entries seen in a max-heap. */
static inline void vx_keep_best(struct vx_hnsw_heap *h, u32 cap, float d,
				u32 id)
{
	if (h->n < cap)
		vx_maxheap_push(h, d, id);
	else if (d < h->e[0].d)
		vx_maxheap_replace(h, d, id);
}

/*
 * The candidate heap is full: candidates farther than the worst result
 * can never be expanded (the search stops before reaching them), so drop
 * them and rebuild the heap.  At most ef remain, leaving room for a list.
 */
static void vx_cand_compact(struct vx_hnsw_heap *c, float worst)
{
	u32 i, n = 0;

	for (i = 0; i < c->n; i++)
		if (c->e[i].d <= worst)
			c->e[n++] = c->e[i];
	c->n = n;
	for (i = n / 2; i-- > 0;)
		vx_minheap_sift(c, i, c->e[i]);
}

/* Entries of a max-heap into ids/dists, nearest first; empties the heap. */
static u32 vx_heap_drain(struct vx_hnsw_heap *h, u32 *ids, float *dists)
{
	u32 n = h->n, i;

	for (i = n; i > 0; i--) {
		ids[i - 1] = h->e[0].id;
		dists[i - 1] = h->e[0].d;
		vx_maxheap_pop(h);
	}
	return n;
}

static void vx_sort_pairs(u32 *ids, float *dists, u32 n)
{
	u32 i, j, id;
	float d;

	for (i = 1; i < n; i++) {
		d = dists[i];
		id = ids[i];
		for (j = i; j > 0 && dists[j - 1] > d; j--) {
			dists[j] = dists[j - 1];
			ids[j] = ids[j - 1];
		}
		dists[j] = d;
		ids[j] = id;
	}
}

/* ---- Search primitives ---- */

struct vx_ctx {
	const struct vx_index *idx;
	u32 kind;		/* VX_DK_* + metric */
	u32 dim;
	u32 lines;		/* cache lines of a vector */
	u32 ndist;		/* distances since the last yield */
};

static inline void vx_count(struct vx_ctx *c, u32 n)
{
	c->ndist += n;
	if (c->ndist >= VX_YIELD_EVERY) {
		c->ndist = 0;
		vx_fpu_yield();
	}
}

static inline float vx_dist_vec(struct vx_ctx *c, const float *q,
				const float *v)
{
	/* compares, not a jump table: an indirect jump is a retpoline too */
	if (c->kind == VX_DK_AVX512)
		return vx_l2_avx512(q, v, c->dim);
	if (c->kind == VX_DK_AVX512 + 1)
		return vx_ip_avx512(q, v, c->dim);
	if (c->kind == VX_DK_AVX512 + 2)
		return vx_cos_avx512(q, v, c->dim);
	if (c->kind == VX_DK_AVX2)
		return vx_l2_avx2(q, v, c->dim);
	if (c->kind == VX_DK_AVX2 + 1)
		return vx_ip_avx2(q, v, c->dim);
	if (c->kind == VX_DK_AVX2 + 2)
		return vx_cos_avx2(q, v, c->dim);
	if (c->kind == VX_DK_SCALAR + 1)
		return vx_ip_scalar(q, v, c->dim);
	if (c->kind == VX_DK_SCALAR + 2)
		return vx_cos_scalar(q, v, c->dim);
	return vx_l2_scalar(q, v, c->dim);
}

static inline float vx_dist(struct vx_ctx *c, const float *q, u32 id)
{
	return vx_dist_vec(c, q, vx_rec_vec(c->idx, id));
}

static inline void vx_prefetch_vec(struct vx_ctx *c, u32 id)
{
	const char *p = (const char *)vx_rec_vec(c->idx, id);
	u32 i;

	for (i = 0; i < c->lines; i++)
		__builtin_prefetch(p + 64 * i, 0, 3);
}

static u16 vx_new_epoch(struct vx_index_scratch *s)
{
	if (!++s->epoch) {
		memset(s->visited, 0, s->span * sizeof(u16));
		s->epoch = 1;
	}
	return s->epoch;
}

/* Greedy walk at one level: the nearest node reachable downhill from cur. */
static u32 vx_greedy(struct vx_ctx *c, const float *q, u32 cur, float *curd,
		     u32 level)
{
	const u32 *links;
	bool moved = true;
	u32 n, i;
	float d;

	while (moved) {
		moved = false;
		links = vx_links_ro(c->idx, cur, level, &n);
		for (i = 0; i < n; i++)
			vx_prefetch_vec(c, links[i]);
		for (i = 0; i < n; i++) {
			d = vx_dist(c, q, links[i]);
			if (d < *curd) {
				*curd = d;
				cur = links[i];
				moved = true;
			}
		}
		vx_count(c, n);
	}
	return cur;
}

/*
 * Best-first search of width ef at one level from one entry; the results
 * are left in s->res (a max-heap of at most ef entries).
 */
static void vx_search_layer(struct vx_ctx *c, struct vx_index_scratch *s,
			    const float *q, u32 ep, float epd, u32 ef,
			    u32 level)
{
	struct vx_hnsw_heap *cand = &s->cand, *res = &s->res;
	const struct vx_index *idx = c->idx;
	u16 *vis = s->visited;
	u16 tag = vx_new_epoch(s);
	u32 *batch = s->batch;
	const u32 *links;
	u32 n, i, nb, t;
	float d;

	cand->n = 0;
	res->n = 0;
	vis[ep] = tag;
	vx_minheap_push(cand, epd, ep);
	vx_maxheap_push(res, epd, ep);
	while (cand->n) {
		struct vx_hent cur = cand->e[0];

		if (res->n >= ef && cur.d > res->e[0].d)
			break;
		vx_minheap_pop(cand);
		links = vx_links_ro(idx, cur.id, level, &n);
		/* Gather the unvisited first so their loads overlap. */
		nb = 0;
		for (i = 0; i < n; i++) {
			t = links[i];
			if (vis[t] == tag)
				continue;
			vis[t] = tag;
			batch[nb++] = t;
			__builtin_prefetch(vx_rec_vec(idx, t), 0, 3);
		}
		for (i = 0; i < nb; i++) {
			t = batch[i];
			if (i + 1 < nb)
				vx_prefetch_vec(c, batch[i + 1]);
			d = vx_dist(c, q, t);
			if (res->n < ef || d < res->e[0].d) {
				if (cand->n == cand->cap)
					vx_cand_compact(cand, res->e[0].d);
				if (cand->n < cand->cap)
					vx_minheap_push(cand, d, t);
				vx_keep_best(res, ef, d, t);
			}
		}
		vx_count(c, nb);
	}
}

/*
 * The diversity heuristic: walking the candidates nearest first, keep one
 * only if it is nearer to the base than to every one kept so far.  A copy
 * of a vector already kept (distance 0) adds no direction: it is passed
 * over first and only fills the slots left at the end.  Otherwise a list
 * full of copies at distance 0 would keep every later, farther node out,
 * walling a cluster of copies off from the rest of the graph.
 */
static u32 vx_select(struct vx_ctx *c, const u32 *ids, const float *dists,
		     u32 n, u32 cap, u32 *keep)
{
	u32 i, j, nk = 0;
	bool good, copies = false;
	const float *cv;
	float d;

	for (i = 0; i < n && nk < cap; i++) {
		cv = vx_rec_vec(c->idx, ids[i]);
		good = true;
		for (j = 0; j < nk; j++) {
			d = vx_dist(c, cv, keep[j]);
			if (d < dists[i] || d == 0.0f) {
				copies |= d == 0.0f;
				good = false;
				break;
			}
		}
		vx_count(c, j);
		if (good)
			keep[nk++] = ids[i];
	}
	/* rare (exact copies): fill with the copies passed over, nearest first */
	for (i = 0; copies && i < n && nk < cap; i++) {
		if (vx_list_has(keep, nk, ids[i]))
			continue;
		cv = vx_rec_vec(c->idx, ids[i]);
		for (j = 0; j < nk && vx_dist(c, cv, keep[j]) != 0.0f; j++)
			;
		vx_count(c, j);
		if (j < nk)
			keep[nk++] = ids[i];
	}
	return nk;
}

/*
 * Every change to a list goes through the edge functions below, which keep
 * the extra in-links true (vx_index_impl.h): a is in t's extra list at level
 * l only if a links t and t does not link a, and every such a is there
 * unless the list is full.
 */
static bool vx_list_del(u32 *a, u32 *n, u32 v)
{
	u32 i;

	for (i = 0; i < *n; i++) {
		if (a[i] == v) {
			a[i] = a[--*n];
			return true;
		}
	}
	return false;
}

static bool vx_links_to(const struct vx_index *idx, u32 y, u32 l, u32 vid)
{
	const u32 *links;
	u32 n;

	links = vx_links_ro(idx, y, l, &n);
	return vx_list_has(links, n, vid);
}

static void vx_extra_del(struct vx_index *idx, u32 t, u32 l, u32 a)
{
	u32 n, *ex = vx_extra(idx, t, l, &n);

	if (vx_list_del(ex, &n, a))
		vx_set_nextra(idx, t, l, n);
}

/* Record a as an in-link of t not linked back, if there is room. */
static void vx_extra_add(struct vx_index *idx, u32 t, u32 l, u32 a)
{
	u32 n, *ex = vx_extra(idx, t, l, &n);

	if (n >= idx->hx)
		return;
	ex[n] = a;
	vx_set_nextra(idx, t, l, n + 1);
}

/* Remove v from a's list at level l (raw: no extra bookkeeping). */
static void vx_list_drop(struct vx_index *idx, u32 a, u32 l, u32 v)
{
	u32 *cnt, *indeg, *links, n;
	u16 *cnt0;

	links = vx_links(idx, a, l, &cnt, &indeg, &cnt0);
	n = vx_links_count(idx, a, l);
	if (vx_list_del(links, &n, v)) {
		vx_set_count(idx, a, l, n);
		(*vx_indeg(idx, v, l))--;
		vx_bit_set(idx->dirty_map, a);
	}
}

/*
 * Link a -> t (a's list has room, t not in it).  A one-way link t cannot
 * record (its extra list is full: t is a hub) is made all the same; removing
 * t then finds it by a scan (vx_find_in_links).  Refusing it instead cost
 * about two points of recall@10 on 1M x 128 clustered data.
 */
static void vx_edge_add(struct vx_index *idx, u32 a, u32 t, u32 l)
{
	u32 *cnt, *indeg, *links, n;
	u16 *cnt0;

	if (vx_links_to(idx, t, l, a))
		vx_extra_del(idx, a, l, t);	/* now mutual */
	else
		vx_extra_add(idx, t, l, a);
	links = vx_links(idx, a, l, &cnt, &indeg, &cnt0);
	n = vx_links_count(idx, a, l);
	links[n] = t;
	vx_set_count(idx, a, l, n + 1);
	(*vx_indeg(idx, t, l))++;
	vx_bit_set(idx->dirty_map, a);
}

/* Unlink a -> t. */
static void vx_edge_del(struct vx_index *idx, u32 a, u32 t, u32 l)
{
	vx_list_drop(idx, a, l, t);
	if (!vx_links_to(idx, t, l, a)) {
		vx_extra_del(idx, t, l, a);
		return;
	}
	/* t -> a is no longer linked back: record it if there is room */
	vx_extra_add(idx, a, l, t);
}

/* Make keep[0..nk) the list of t at level l (keep fits the level). */
static void vx_set_list(struct vx_index *idx, u32 t, u32 l, const u32 *keep,
			u32 nk)
{
	const u32 *links;
	u32 i, n;

	links = vx_links_ro(idx, t, l, &n);
	for (i = 0; i < n;) {
		if (vx_list_has(keep, nk, links[i])) {
			i++;
			continue;
		}
		vx_edge_del(idx, t, links[i], l);	/* swaps the last in */
		links = vx_links_ro(idx, t, l, &n);
	}
	for (i = 0; i < nk; i++) {
		if (vx_list_has(links, n, keep[i]))
			continue;
		vx_edge_add(idx, t, keep[i], l);
		links = vx_links_ro(idx, t, l, &n);
	}
}

/*
 * Link a -> q at level l (q not in a's list): at once when the list has
 * room, else in place of a's farthest link to a node other lists also hold
 * (in-degree >= 2, so that one stays reachable).  false: no such link.
 */
static bool vx_link_into(struct vx_ctx *c, u32 a, u32 q, u32 l)
{
	struct vx_index *idx = (struct vx_index *)c->idx;
	const float *av = vx_rec_vec(idx, a);
	u32 j, n, far = a;
	const u32 *links;
	float d, fard = -1.0f;

	links = vx_links_ro(idx, a, l, &n);
	if (n < vx_level_cap(idx, l)) {
		vx_edge_add(idx, a, q, l);
		return true;
	}
	for (j = 0; j < n; j++) {
		if (*vx_indeg(idx, links[j], l) < 2)
			continue;
		d = vx_dist(c, av, links[j]);
		if (d > fard) {
			fard = d;
			far = links[j];
		}
	}
	vx_count(c, n);
	if (far == a)
		return false;
	vx_edge_del(idx, a, far, l);
	vx_edge_add(idx, a, q, l);
	return true;
}

/*
 * Nothing links q at level l any more (its neighbours' lists were full of
 * nodes nearer to them, as copies of one vector are, or a shrink or a
 * removal dropped its last in-link), so no search could reach it.  The
 * first of ids (neighbours of q, nearest first) that can links q
 * (vx_link_into).  busy: the node being inserted, whose list is still
 * being filled.
 */
static void vx_adopt(struct vx_ctx *c, u32 q, const u32 *ids, u32 nids, u32 l,
		     u32 busy)
{
	u32 i;

	for (i = 0; i < nids; i++)
		if (ids[i] != busy && ids[i] != q && vx_link_into(c, ids[i], q, l))
			return;
}

/*
 * Link q (being inserted) and t at level l both ways when t's list has
 * room or keeps q once shrunk by the heuristic; else q -> t alone.
 */
static void vx_connect(struct vx_ctx *c, struct vx_index_scratch *s, u32 q,
		       u32 t, u32 l)
{
	struct vx_index *idx = (struct vx_index *)c->idx;
	u32 cap = vx_level_cap(idx, l), n, i, nk;
	const float *tv = vx_rec_vec(idx, t);
	const u32 *links;

	links = vx_links_ro(idx, t, l, &n);
	if (n < cap) {
		vx_edge_add(idx, t, q, l);
		vx_edge_add(idx, q, t, l);
		return;
	}
	for (i = 0; i < n; i++) {
		s->sel_id[i] = links[i];
		s->sel_dist[i] = vx_dist(c, tv, links[i]);
	}
	s->sel_id[n] = q;
	s->sel_dist[n] = vx_dist(c, tv, q);
	vx_count(c, n + 1);
	vx_sort_pairs(s->sel_id, s->sel_dist, n + 1);
	nk = vx_select(c, s->sel_id, s->sel_dist, n + 1, cap, s->keep);
	if (vx_list_has(s->keep, nk, q)) {
		vx_set_list(idx, t, l, s->keep, nk);
		if (vx_links_to(idx, t, l, q))
			vx_edge_add(idx, q, t, l);
		/* a node t no longer links may now have no in-link at all */
		for (i = 0; i <= n; i++)
			if (s->sel_id[i] != q && !vx_list_has(s->keep, nk, s->sel_id[i]) &&
			    !*vx_indeg(idx, s->sel_id[i], l))
				vx_adopt(c, s->sel_id[i], s->keep, nk, l, q);
		return;
	}
	vx_edge_add(idx, q, t, l);
}

static void vx_mark_linked(struct vx_index *idx, u32 q, u32 level)
{
	vx_bit_set(idx->linked_map, q);
	vx_bit_set(idx->dirty_map, q);
	idx->linked++;
	idx->level_count[level]++;
	if (idx->entry == VX_VID_NONE || level > idx->max_level) {
		idx->entry = q;
		idx->max_level = level;
	}
}

static void vx_link_one(struct vx_ctx *c, struct vx_index_scratch *s, u32 q)
{
	struct vx_index *idx = (struct vx_index *)c->idx;
	u32 level = vx_rec_hdr(idx, q)->level, l, top, n, nk, i;
	const float *qv = vx_rec_vec(idx, q);
	u32 ep;
	float epd;

	if (idx->entry == VX_VID_NONE) {
		vx_mark_linked(idx, q, level);
		return;
	}
	ep = (u32)idx->entry;
	epd = vx_dist(c, qv, ep);
	for (l = idx->max_level; l > level; l--)
		ep = vx_greedy(c, qv, ep, &epd, l);
	top = level < idx->max_level ? level : idx->max_level;
	for (l = top + 1; l-- > 0;) {
		vx_search_layer(c, s, qv, ep, epd, idx->p.ef_construction, l);
		n = vx_heap_drain(&s->res, s->sel_id, s->sel_dist);
		ep = s->sel_id[0];
		epd = s->sel_dist[0];
		nk = vx_select(c, s->sel_id, s->sel_dist, n, idx->m, s->keep);
		/* vx_connect reuses sel and keep */
		memcpy(s->batch, s->keep, (size_t)nk * sizeof(u32));
		for (i = 0; i < nk; i++)
			vx_connect(c, s, q, s->batch[i], l);
		if (nk && !*vx_indeg(idx, q, l))
			vx_adopt(c, q, s->batch, nk, l, q);
	}
	vx_mark_linked(idx, q, level);
}

static void vx_ctx_init(struct vx_ctx *c, const struct vx_index *idx)
{
	c->idx = idx;
	c->kind = vx_distance_kind(idx->p.metric);
	c->dim = idx->p.dim;
	/* packed vectors start on 16-byte boundaries: maybe one line more */
	c->lines = (idx->p.dim * 4 + 63) / 64 + (idx->vec_bytes % 64 != 0);
	c->ndist = 0;
}

int vx_index_link_pending(struct vx_index *idx, struct vx_index_scratch *s,
			  u32 max, u32 *linked)
{
	u64 span = vx_span(idx), wd, last = idx->pend_lo;
	struct vx_ctx c;
	u32 done = 0;

	if (linked)
		*linked = 0;
	if (!vx_index_scratch_fits(idx, s, idx->p.ef_construction))
		return -ENOMEM;
	vx_ctx_init(&c, idx);
	for (wd = idx->pend_lo / 64; wd < span / 64 && done < max; wd++) {
		u64 bits = idx->live_map[wd] & ~idx->linked_map[wd];

		if (wd == idx->pend_lo / 64)
			bits &= ~0ULL << (idx->pend_lo & 63);
		while (bits && done < max) {
			u32 q = (u32)(wd * 64 + __builtin_ctzll(bits));

			bits &= bits - 1;
			vx_link_one(&c, s, q);
			last = q + 1ULL;
			done++;
		}
	}
	idx->pend_lo = done < max ? span : last;
	if (linked)
		*linked = done;
	return 0;
}

/* out[b] = distance to the vector of bit b of a bitmap word, per set bit. */
static void vx_dist_word(struct vx_ctx *c, const float *q, const u8 *base,
			 u64 bits, float *out)
{
	const struct vx_index *idx = c->idx;
	u32 b;

	if (c->kind >= VX_DK_AVX512) {
		vx_word_avx512(idx->p.metric, q, base, idx->vec_bytes, bits,
			       c->dim, out);
		return;
	}
	if (c->kind >= VX_DK_AVX2) {
		vx_word_avx2(idx->p.metric, q, base, idx->vec_bytes, bits,
			     c->dim, out);
		return;
	}
	while (bits) {
		b = (u32)__builtin_ctzll(bits);
		bits &= bits - 1;
		out[b] = vx_dist_vec(c, q, (const float *)(base +
					(size_t)b * idx->vec_bytes));
	}
}

/* Scan live (or only pending) vectors exactly into s->res, best cap kept. */
static void vx_scan(struct vx_ctx *c, struct vx_index_scratch *s,
		    const float *q, u32 cap, bool pending_only)
{
	const struct vx_index *idx = c->idx;
	u64 span = vx_span(idx), wd;
	u64 start = pending_only ? idx->pend_lo / 64 : 0;
	float dist[64];

	/*
	 * 64 vids of a bitmap word are in one chunk (at least 64 nodes), their
	 * vectors packed: a stream the CPU prefetches, measured a word at a
	 * time.
	 */
	for (wd = start; wd < span / 64; wd++) {
		u64 bits = idx->live_map[wd];

		if (pending_only)
			bits &= ~idx->linked_map[wd];
		if (!bits)
			continue;
		vx_dist_word(c, q, (const u8 *)vx_rec_vec(idx, wd * 64), bits,
			     dist);
		vx_count(c, (u32)vx_popcount64(bits));
		while (bits) {
			u32 b = (u32)__builtin_ctzll(bits);

			bits &= bits - 1;
			vx_keep_best(&s->res, cap, dist[b], (u32)(wd * 64 + b));
		}
	}
}

static const float *vx_prep_query(const struct vx_index *idx,
				  struct vx_index_scratch *s, const float *q)
{
	if (idx->p.metric != VX_METRIC_COSINE)
		return q;
	memcpy(s->query, q, (size_t)idx->p.dim * sizeof(float));
	vx_hnsw_normalize(s->query, idx->p.dim);
	return s->query;
}

static void vx_emit(struct vx_index_scratch *s, u32 k,
		    struct vx_index_hit *hits, u32 *nhits)
{
	struct vx_hnsw_heap *h = &s->res;
	u32 n, i;

	while (h->n > k)
		vx_maxheap_pop(h);
	n = h->n;
	for (i = n; i > 0; i--) {
		hits[i - 1].vid = h->e[0].id;
		hits[i - 1].dist = h->e[0].d;
		hits[i - 1].pad = 0;
		vx_maxheap_pop(h);
	}
	*nhits = n;
}

int vx_index_search(const struct vx_index *idx, struct vx_index_scratch *s,
		    const float *query, u32 k, u32 ef,
		    struct vx_index_hit *hits, u32 *nhits)
{
	struct vx_ctx c;
	const float *q;
	u32 ep, l;
	float epd;

	if (nhits)
		*nhits = 0;
	if (!idx || !query || !nhits || (k && !hits))
		return -EINVAL;
	if (!k)
		return 0;
	if (ef < k)
		ef = k;
	if (!vx_index_scratch_fits(idx, s, ef))
		return -ENOMEM;
	vx_ctx_init(&c, idx);
	q = vx_prep_query(idx, s, query);
	s->res.n = 0;
	if (idx->entry != VX_VID_NONE) {
		ep = (u32)idx->entry;
		epd = vx_dist(&c, q, ep);
		for (l = idx->max_level; l > 0; l--)
			ep = vx_greedy(&c, q, ep, &epd, l);
		vx_search_layer(&c, s, q, ep, epd, ef, 0);
	}
	if (idx->live > idx->linked)
		vx_scan(&c, s, q, ef, true);
	vx_emit(s, k, hits, nhits);
	return 0;
}

int vx_index_search_exact(const struct vx_index *idx,
			  struct vx_index_scratch *s, const float *query,
			  u32 k, struct vx_index_hit *hits, u32 *nhits)
{
	struct vx_ctx c;
	const float *q;

	if (nhits)
		*nhits = 0;
	if (!idx || !query || !nhits || (k && !hits))
		return -EINVAL;
	if (!k)
		return 0;
	if (!vx_index_scratch_fits(idx, s, k))
		return -ENOMEM;
	vx_ctx_init(&c, idx);
	q = vx_prep_query(idx, s, query);
	s->res.n = 0;
	vx_scan(&c, s, q, k, false);
	vx_emit(s, k, hits, nhits);
	return 0;
}

/* ---- Removal ---- */

static void vx_add_in(struct vx_unlink_work *w, u32 l, u32 y, u32 max)
{
	if (w->nin[l] < max && !vx_list_has(w->in[l], w->nin[l], y))
		w->in[l][w->nin[l]++] = y;
}

/*
 * The nodes whose list at level l holds vid: the ones it links that link
 * back, and its extra in-links.  The in-degree counter tells whether that
 * is all of them; when it is not (a hub whose extra list overflowed),
 * every node of the level is looked at rather than leave a link to freed
 * memory.
 */
static void vx_find_in_links(struct vx_index *idx, struct vx_unlink_work *w,
			     u32 l)
{
	u32 vid = w->vid, want = *vx_indeg(idx, vid, l), nout, nex, i;
	const u32 *out, *ex;
	u64 span, wd;

	out = vx_links_ro(idx, vid, l, &nout);
	for (i = 0; i < nout; i++)
		if (vx_links_to(idx, out[i], l, vid))
			vx_add_in(w, l, out[i], want);
	ex = vx_extra(idx, vid, l, &nex);
	for (i = 0; i < nex; i++)
		vx_add_in(w, l, ex[i], want);
	if (w->nin[l] >= want)
		return;
	idx->full_scans++;
	span = vx_span(idx);
	for (wd = 0; wd < span / 64 && w->nin[l] < want; wd++) {
		u64 bits = idx->linked_map[wd];

		while (bits) {
			u32 y = (u32)(wd * 64 + __builtin_ctzll(bits));

			bits &= bits - 1;
			if (y != vid && vx_rec_hdr(idx, y)->level >= l &&
			    vx_links_to(idx, y, l, vid))
				vx_add_in(w, l, y, want);
		}
		if ((wd & 255) == 255)
			vx_fpu_yield();
	}
}

/* The successor entry point: vid's neighbour of the highest level. */
static void vx_hint(struct vx_index *idx, struct vx_unlink_work *w, u32 y)
{
	if (w->hint == VX_VID_NONE ||
	    vx_rec_hdr(idx, y)->level > vx_rec_hdr(idx, w->hint)->level)
		w->hint = y;
}

/*
 * ids[0..n) nearest to v first into w's cand arrays, leaving out v and,
 * with skip_linked, the nodes v links at level l; returns how many.
 */
static u32 vx_by_dist(struct vx_ctx *c, struct vx_unlink_work *w,
		      const u32 *ids, u32 n, u32 v, u32 l, bool skip_linked)
{
	const float *vv = vx_rec_vec(c->idx, v);
	u32 i, nc = 0;

	for (i = 0; i < n; i++) {
		if (ids[i] == v ||
		    (skip_linked && vx_links_to(c->idx, v, l, ids[i])))
			continue;
		w->cand_id[nc] = ids[i];
		w->cand_dist[nc++] = vx_dist(c, vv, ids[i]);
	}
	vx_count(c, nc);
	vx_sort_pairs(w->cand_id, w->cand_dist, nc);
	return nc;
}

/*
 * The first of the sorted candidates that none of y's links is nearer to
 * than y is (the selection heuristic, for one slot), else the nearest.
 */
static u32 vx_pick_diverse(struct vx_ctx *c, struct vx_unlink_work *w, u32 y,
			   u32 l, u32 nc)
{
	struct vx_index *idx = (struct vx_index *)c->idx;
	const u32 *links;
	const float *cv;
	u32 i, j, n;

	links = vx_links_ro(idx, y, l, &n);
	for (i = 0; i < nc; i++) {
		cv = vx_rec_vec(idx, w->cand_id[i]);
		for (j = 0; j < n; j++)
			if (vx_dist(c, cv, links[j]) < w->cand_dist[i])
				break;
		vx_count(c, j < n ? j + 1 : n);
		if (j == n)
			return w->cand_id[i];
	}
	return w->cand_id[0];
}

static bool vx_has_room(const struct vx_index *idx, u32 y, u32 l)
{
	return vx_links_count(idx, y, l) < vx_level_cap(idx, l);
}

/*
 * Repair level l after vid left it.  Its in-neighbours (w->in) each lost a
 * link, its out-neighbours (pool[0..nout)) an in-link; pool[nout..np) holds
 * the in-neighbours not linked back.  The in-neighbours keep the links they
 * have: reselecting their whole lists from the neighbourhood drops their
 * few far links, and clusters far apart, joined only by such links, fall
 * apart (a search then reaches one of them).  Instead every path through
 * vid gets a way around it:
 *  1. each out-neighbour stays linked from an in-neighbour, the nearest
 *     one with room (the slot vid left);
 *  2. each in-neighbour that still has room links the nearest
 *     out-neighbour if it links none, else the most diverse neighbour of
 *     vid (the heuristic's choice for one slot);
 *  3. an out-neighbour nothing links any more (vid had no in-neighbour)
 *     is adopted by its own neighbours.
 */
static void vx_repair_level(struct vx_ctx *c, struct vx_unlink_work *w, u32 l,
			    u32 nout, u32 np)
{
	struct vx_index *idx = (struct vx_index *)c->idx;
	u32 nin = w->nin[l], i, j, n, nc, z, y;
	const u32 *links;

	for (i = 0; i < nout && nin; i++) {
		z = w->pool[i];
		for (j = 0; j < nin; j++)
			if (w->in[l][j] != z && vx_links_to(idx, w->in[l][j], l, z))
				break;
		if (j < nin)
			continue;
		/* z's nearest in-neighbour with room, else one that can make it */
		nc = vx_by_dist(c, w, w->in[l], nin, z, l, false);
		for (j = 0; j < nc; j++) {
			if (vx_has_room(idx, w->cand_id[j], l)) {
				vx_edge_add(idx, w->cand_id[j], z, l);
				break;
			}
		}
		if (j == nc) {
			memcpy(w->keep, w->cand_id, (size_t)nc * sizeof(u32));
			vx_adopt(c, z, w->keep, nc, l, z);
		}
	}
	for (i = 0; i < nin; i++) {
		y = w->in[l][i];
		if (!vx_has_room(idx, y, l))
			continue;
		links = vx_links_ro(idx, y, l, &n);
		for (j = 0; j < nout; j++)
			if (w->pool[j] != y && vx_list_has(links, n, w->pool[j]))
				break;
		if (j == nout) {
			nc = vx_by_dist(c, w, w->pool, nout, y, l, true);
			if (nc) {
				vx_edge_add(idx, y, w->cand_id[0], l);
				continue;
			}
		}
		nc = vx_by_dist(c, w, w->pool, np, y, l, true);
		if (nc)
			vx_edge_add(idx, y, vx_pick_diverse(c, w, y, l, nc), l);
	}
	for (i = 0; i < nout; i++) {
		z = w->pool[i];
		if (*vx_indeg(idx, z, l))
			continue;
		links = vx_links_ro(idx, z, l, &n);
		nc = vx_by_dist(c, w, links, n, z, l, false);
		memcpy(w->keep, w->cand_id, (size_t)nc * sizeof(u32));
		vx_adopt(c, z, w->keep, nc, l, z);
	}
}

void vx_hnsw_unlink(struct vx_index *idx, struct vx_unlink_work *w)
{
	u32 vid = w->vid, l, i, nout, np;
	const u32 *out;
	struct vx_ctx c;

	vx_ctx_init(&c, idx);
	w->hint = VX_VID_NONE;
	for (l = 0; l < w->nlevels; l++) {
		vx_find_in_links(idx, w, l);
		/* Repair candidates: vid's neighbours both ways. */
		out = vx_links_ro(idx, vid, l, &nout);
		np = 0;
		for (i = 0; i < nout; i++) {
			w->pool[np++] = out[i];
			vx_hint(idx, w, out[i]);
		}
		for (i = 0; i < w->nin[l]; i++) {
			vx_hint(idx, w, w->in[l][i]);
			if (!vx_list_has(w->pool, np, w->in[l][i]))
				w->pool[np++] = w->in[l][i];
		}
		/* vid leaves every list, its own links go */
		for (i = 0; i < w->nin[l]; i++)
			vx_list_drop(idx, w->in[l][i], l, vid);
		for (i = 0; i < nout; i++) {
			vx_extra_del(idx, out[i], l, vid);
			(*vx_indeg(idx, out[i], l))--;
		}
		vx_set_count(idx, vid, l, 0);
		vx_set_nextra(idx, vid, l, 0);
		vx_repair_level(&c, w, l, nout, np);
	}
}

/* ---- Normalisation (no libm: the kernel has none) ---- */

static double vx_sqrt(double x)
{
	union { double d; u64 u; } v = { .d = x };
	double y;
	int i;

	/* halving the exponent is within a few percent; Newton does the rest */
	v.u = (v.u >> 1) + (0x3ff0000000000000ULL >> 1);
	y = v.d;
	for (i = 0; i < 6; i++)
		y = 0.5 * (y + x / y);
	return y;
}

void vx_hnsw_normalize(float *v, u32 dim)
{
	double s = 0, inv;
	u32 i;

	for (i = 0; i < dim; i++)
		s += (double)v[i] * v[i];
	if (!(s > 0))
		return;
	inv = 1.0 / vx_sqrt(s);
	for (i = 0; i < dim; i++)
		v[i] = (float)(v[i] * inv);
}
