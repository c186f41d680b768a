/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private to the index: the layout shared by vx_index.c (memory, built
 * without SSE in the kernel) and vx_hnsw.c / vx_distance*.c (float work,
 * built with SSE).  Nothing outside those files includes this.
 *
 * Node storage, in chunks of 1 << chunk_shift nodes that are freed when
 * empty.  A chunk holds first the vectors, packed, then the level-0 link
 * records:
 *
 *   chunks[vid >> chunk_shift] + (vid & chunk_mask) * vec_bytes
 *	the vector (dim floats, zero padded to 16 bytes)
 *   chunks[vid >> chunk_shift] + links_off + (vid & chunk_mask) * link_stride
 *	struct vx_node_hdr    16 bytes: link count, level, in-degree, upper
 *	u32 links0[m0]        level-0 links (m0 = 2M)
 *	u32 extra0[hx]        level-0 in-links not linked back (see below)
 *
 * Packed vectors let an exact scan read nothing but vectors, at memory
 * speed; link records are multiples of 64 bytes on 64-byte aligned chunks,
 * so a search expanding a node touches the fewest lines.  Levels 1..level
 * live in one allocation per node (only for level > 0), each level as
 * [count, in-degree, M links, extra count, hx extra].
 *
 * Every link points to a linked node whose level is at least the list's
 * level, so searches need no validity checks on the hot path.  Removal
 * must therefore find every list that holds a node, exactly and cheaply:
 * most links are mutual (found through the node's own list) and for the
 * others, a -> t with no t -> a, a is kept in t's "extra" list.  That list
 * is bounded (hx entries); the in-degree counter says when a node has more
 * in-links than its lists account for (a hub: under 1% of nodes
 * on clustered data), and removing such a node scans every link record of
 * the level for them.
 */
#ifndef VX_INDEX_IMPL_H
#define VX_INDEX_IMPL_H

#include "vx_index.h"
#include "vx_format.h"

#define VX_HNSW_MAX_LEVEL	15	/* levels 0..15; M^-16 is never drawn */
#define VX_INDEX_MAX_SLOTS	(1U << 31)	/* vids must be below this */

struct vx_node_hdr {
	u16 count;		/* level-0 links in use */
	u8 level;		/* drawn HNSW level */
	u8 nextra;		/* level-0 extra in-links */
	u32 indeg;		/* level-0 lists that hold this node */
	u32 *upper;		/* levels 1..level: [count, indeg, links[M]] */
};

struct vx_index {
	struct vx_index_params p;
	u32 m;			/* max links above level 0 */
	u32 m0;			/* max links at level 0 */
	u32 vec_bytes;		/* bytes per vector in a chunk */
	u32 link_stride;	/* bytes per level-0 link record */
	u32 links_off;		/* offset of the link records in a chunk */
	u32 stride;		/* vec_bytes + link_stride */
	u32 hx;			/* extra in-links kept per level */
	u32 upper_words;	/* u32s per upper level: 3 + m + hx */
	u32 chunk_shift;	/* nodes per chunk = 1 << chunk_shift */
	u32 chunk_mask;
	u32 max_level;		/* of the entry point */
	u64 entry;		/* VX_VID_NONE when the graph is empty */

	u32 nchunks;		/* directory entries */
	u32 chunks_alloc;	/* chunks with memory */
	u8 **chunks;		/* aligned record arrays, NULL when empty */
	void **chunk_raw;	/* what vx_malloc returned, for vx_free */
	u32 *chunk_live;	/* live nodes per chunk */

	/* Bitmaps of nchunks << chunk_shift bits. */
	u64 *live_map;
	u64 *linked_map;
	u64 *dirty_map;

	u64 live;
	u64 linked;
	u64 pend_lo;		/* no pending vid below this */
	u64 level_count[VX_HNSW_MAX_LEVEL + 1];	/* linked nodes per level */
	u64 upper_bytes;	/* memory in upper link lists */
	u64 full_scans;		/* removals that scanned every node (hubs) */
	u64 rng;
};

/* Heap entry: 8 bytes so a heap of ef entries stays in a few lines. */
struct vx_hent {
	float d;
	u32 id;
};

struct vx_hnsw_heap {
	u32 n;
	u32 cap;
	struct vx_hent *e;
};

struct vx_index_scratch {
	u64 bytes;		/* memory it holds */
	u64 span;		/* visited tags cover vids below this */
	u32 max_ef;		/* largest ef (and k) the heaps hold */
	u32 m0;			/* of the index it was sized for */
	u32 dim;
	u16 epoch;
	u16 pad;
	u16 *visited;
	float *query;		/* normalised copy of a cosine query */
	struct vx_hnsw_heap cand;	/* min-heap of candidates */
	struct vx_hnsw_heap res;	/* max-heap of results */
	/* Neighbour selection: candidate ids/distances and chosen ones. */
	u32 sel_cap;
	u32 *sel_id;
	float *sel_dist;
	u32 *keep;
	u32 *batch;		/* unvisited neighbours of one expansion */
};

/* Unlink work, allocated by vx_index.c before it enters the FPU section. */
struct vx_unlink_work {
	u64 hint;			/* successor entry: highest neighbour */
	u32 vid;
	u32 nlevels;			/* levels 0..nlevels-1 */
	u32 *in[VX_HNSW_MAX_LEVEL + 1];	/* nodes linking to vid per level */
	u32 nin[VX_HNSW_MAX_LEVEL + 1];
	u32 npool;
	u32 *pool;			/* repair candidates of one level */
	u32 cand_cap;
	u32 *cand_id;
	float *cand_dist;
	u32 *keep;
};

static inline const float *vx_rec_vec(const struct vx_index *idx, u64 vid)
{
	return (const float *)(idx->chunks[vid >> idx->chunk_shift] +
			       (size_t)(vid & idx->chunk_mask) * idx->vec_bytes);
}

static inline struct vx_node_hdr *vx_rec_hdr(const struct vx_index *idx,
					     u64 vid)
{
	return (struct vx_node_hdr *)(idx->chunks[vid >> idx->chunk_shift] +
				      idx->links_off +
				      (size_t)(vid & idx->chunk_mask) * idx->link_stride);
}

/*
 * Level l >= 1 of a node's upper allocation (h = its header):
 * [count, indeg, links[M], nextra, extra[hx]].
 */
static inline u32 *vx_upper(const struct vx_index *idx,
			    const struct vx_node_hdr *h, u32 l)
{
	return h->upper + (size_t)(l - 1) * idx->upper_words;
}

/* The link list of vid at level l; *count and *indeg point into it. */
static inline u32 *vx_links(const struct vx_index *idx, u64 vid, u32 l,
			    u32 **count, u32 **indeg, u16 **count0)
{
	struct vx_node_hdr *h = vx_rec_hdr(idx, vid);
	u32 *up;

	if (l == 0) {
		*count0 = &h->count;
		*count = NULL;
		*indeg = &h->indeg;
		return (u32 *)(h + 1);
	}
	up = vx_upper(idx, h, l);
	*count0 = NULL;
	*count = &up[0];
	*indeg = &up[1];
	return up + 2;
}

static inline u32 vx_links_count(const struct vx_index *idx, u64 vid, u32 l)
{
	struct vx_node_hdr *h = vx_rec_hdr(idx, vid);

	if (l == 0)
		return h->count;
	return vx_upper(idx, h, l)[0];
}

static inline const u32 *vx_links_ro(const struct vx_index *idx, u64 vid,
				     u32 l, u32 *count)
{
	struct vx_node_hdr *h = vx_rec_hdr(idx, vid);
	const u32 *up;

	if (l == 0) {
		*count = h->count;
		return (const u32 *)(h + 1);
	}
	up = vx_upper(idx, h, l);
	*count = up[0];
	return up + 2;
}

static inline void vx_set_count(const struct vx_index *idx, u64 vid, u32 l,
				u32 n)
{
	struct vx_node_hdr *h = vx_rec_hdr(idx, vid);

	if (l == 0)
		h->count = (u16)n;
	else
		vx_upper(idx, h, l)[0] = n;
}

static inline u32 *vx_indeg(const struct vx_index *idx, u64 vid, u32 l)
{
	struct vx_node_hdr *h = vx_rec_hdr(idx, vid);

	if (l == 0)
		return &h->indeg;
	return &vx_upper(idx, h, l)[1];
}

/* The extra in-links of vid at level l and where their count lives. */
static inline u32 *vx_extra(const struct vx_index *idx, u64 vid, u32 l,
			    u32 *n)
{
	struct vx_node_hdr *h = vx_rec_hdr(idx, vid);
	u32 *up;

	if (l == 0) {
		*n = h->nextra;
		return (u32 *)(h + 1) + idx->m0;
	}
	up = vx_upper(idx, h, l);
	*n = up[2 + idx->m];
	return up + 3 + idx->m;
}

static inline void vx_set_nextra(const struct vx_index *idx, u64 vid, u32 l,
				 u32 n)
{
	struct vx_node_hdr *h = vx_rec_hdr(idx, vid);

	if (l == 0)
		h->nextra = (u8)n;
	else
		vx_upper(idx, h, l)[2 + idx->m] = n;
}

static inline u32 vx_level_cap(const struct vx_index *idx, u32 l)
{
	return l ? idx->m : idx->m0;
}

static inline bool vx_bit(const u64 *map, u64 i)
{
	return (map[i >> 6] >> (i & 63)) & 1;
}

static inline void vx_bit_set(u64 *map, u64 i)
{
	map[i >> 6] |= 1ULL << (i & 63);
}

static inline void vx_bit_clear(u64 *map, u64 i)
{
	map[i >> 6] &= ~(1ULL << (i & 63));
}

static inline u64 vx_span(const struct vx_index *idx)
{
	return (u64)idx->nchunks << idx->chunk_shift;
}

static inline bool vx_is_linked(const struct vx_index *idx, u64 vid)
{
	return vid < vx_span(idx) && vx_bit(idx->linked_map, vid);
}

/* Does links[0..n) hold v? */
static inline bool vx_list_has(const u32 *links, u32 n, u32 v)
{
	u32 i;

	for (i = 0; i < n; i++)
		if (links[i] == v)
			return true;
	return false;
}

/* Selection buffers a scratch needs for this index's M. */
static inline u32 vx_sel_cap(const struct vx_index *idx, u32 max_ef)
{
	return max_ef + idx->m0 + 2;
}

/* ---- vx_distance.c ([FPU]) ---- */
typedef float (*vx_dist_fn)(const float *a, const float *b, u32 dim);
vx_dist_fn vx_distance_fn(u32 metric);
float vx_l2_scalar(const float *a, const float *b, u32 dim);
float vx_ip_scalar(const float *a, const float *b, u32 dim);
float vx_cos_scalar(const float *a, const float *b, u32 dim);

/*
 * Kernel ids (L2, IP, cosine per set): the search calls the kernels
 * directly through a predictable branch rather than a function pointer,
 * which costs a retpoline in the kernel.
 */
enum {
	VX_DK_SCALAR = 0,
	VX_DK_AVX2 = 3,
	VX_DK_AVX512 = 6,
};
u32 vx_distance_kind(u32 metric);

/* ---- vx_distance_simd.c ---- */
vx_dist_fn vx_distance_simd_fn(u32 metric, bool avx512);
float vx_l2_avx2(const float *a, const float *b, u32 dim);
float vx_ip_avx2(const float *a, const float *b, u32 dim);
float vx_cos_avx2(const float *a, const float *b, u32 dim);
float vx_l2_avx512(const float *a, const float *b, u32 dim);
float vx_ip_avx512(const float *a, const float *b, u32 dim);
float vx_cos_avx512(const float *a, const float *b, u32 dim);
void vx_word_avx2(u32 metric, const float *q, const u8 *base, size_t stride,
		  u64 bits, u32 dim, float *out);
void vx_word_avx512(u32 metric, const float *q, const u8 *base, size_t stride,
		    u64 bits, u32 dim, float *out);

/* ---- vx_hnsw.c ([FPU]) ---- */
void vx_hnsw_normalize(float *v, u32 dim);
/*
 * Take w->vid out of the graph: find and repair the lists that hold it,
 * drop its own links, set w->hint.  Entry point and counters are left to
 * the caller.
 */
void vx_hnsw_unlink(struct vx_index *idx, struct vx_unlink_work *w);

#endif /* VX_INDEX_IMPL_H */
