/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-memory vector index of one space: its vectors, an HNSW graph over
 * them, and the set of vectors stored but not yet linked into the graph
 * ("pending"), which every search scans exactly so that it never misses a
 * stored vector.  Pure memory; vx_vector.c persists it.
 *
 * Vector ids (vids) are slot numbers 0..capacity-1 chosen by the caller; a
 * removed vid's memory is released and the slot may be reused.
 *
 * Locking: none inside.  Searches may run concurrently with each other
 * (each with its own scratch); every other call needs exclusive access.
 *
 * Floating point: the kernel builds the distance and graph code (vx_hnsw.c,
 * vx_distance*.c) with SSE enabled, so every function marked [FPU] must be
 * called between vx_fpu_begin() and vx_fpu_end(), and those functions never
 * allocate or sleep.  Functions marked [MEM] may allocate or free and must be
 * called outside an FPU section; they live in a translation unit built
 * without SSE and bracket any float work they need themselves.  Unmarked
 * functions do no float arithmetic and may be called anywhere.  Long [FPU]
 * work calls vx_fpu_yield() now and then so the FPU section stays short.
 */
#ifndef VX_INDEX_H
#define VX_INDEX_H

#include "vx_platform.h"

struct vx_index;
struct vx_index_scratch;

struct vx_index_params {
	u32 dim;		/* 1..VX_MAX_DIM */
	u32 metric;		/* VX_METRIC_* */
	u32 m;			/* HNSW M (2..100); level 0 keeps 2*M links */
	u32 ef_construction;	/* >= 1 */
	u64 seed;		/* level generator seed */
};

struct vx_index_hit {
	u64 vid;
	float dist;		/* smaller is nearer for every metric */
	u32 pad;
};

struct vx_index_stats {
	u64 live;		/* vectors stored */
	u64 indexed;		/* of which linked into the graph */
	u64 pending;		/* stored, not yet linked */
	u64 capacity;		/* slots allocated */
	u64 memory_bytes;	/* everything this index holds */
	u32 max_level;
	u32 pad;
	u64 entry_vid;		/* VX_VID_NONE when the graph is empty */
};

/* [MEM] -EINVAL for bad parameters, -ENOMEM. */
int vx_index_create(struct vx_index **out, const struct vx_index_params *p);
void vx_index_destroy(struct vx_index *idx);			/* [MEM] */
const struct vx_index_params *vx_index_params(const struct vx_index *idx);

/*
 * [MEM] Store (or replace) the vector of vid and make it pending; a replaced
 * vector that was linked is unlinked first (which needs [FPU] work: this
 * function brackets it itself).  Draws the node's HNSW level and allocates
 * its link lists, so linking later needs no memory.  For cosine the stored
 * copy is normalised.  -EINVAL (vid > VX_VID_MAX), -ENOMEM.
 */
int vx_index_set(struct vx_index *idx, u64 vid, const float *vec);
/*
 * [MEM] Remove vid: unlinks it from the graph, repairing its neighbours'
 * lists so the graph stays navigable, and frees its memory.  -ENOENT.
 */
int vx_index_remove(struct vx_index *idx, u64 vid);
/* [MEM] Drop the whole graph; every live vector becomes pending (rebuild). */
void vx_index_unlink_all(struct vx_index *idx);

/*
 * [FPU] Link up to max pending vectors into the graph (lowest vids first).
 * *linked gets how many were linked.  Returns 0, or -ENOMEM if the scratch
 * is too small for the index (allocate a new one).
 */
int vx_index_link_pending(struct vx_index *idx, struct vx_index_scratch *s,
			  u32 max, u32 *linked);

bool vx_index_live(const struct vx_index *idx, u64 vid);
bool vx_index_linked(const struct vx_index *idx, u64 vid);
/* The stored (for cosine: normalised) vector, or NULL. */
const float *vx_index_vector(const struct vx_index *idx, u64 vid);
void vx_index_get_stats(const struct vx_index *idx, struct vx_index_stats *st);
/* Bytes one more vector of this index costs, for documentation and limits. */
u64 vx_index_bytes_per_vector(const struct vx_index_params *p);

/*
 * [MEM] Scratch for one search or one linking thread at a time: visited
 * set sized for the index's current capacity, heaps for ef entries.  After
 * the index grows past the scratch's size, calls return -ENOMEM: allocate a
 * new scratch.
 */
struct vx_index_scratch *vx_index_scratch_alloc(const struct vx_index *idx,
						u32 max_ef);
void vx_index_scratch_free(struct vx_index_scratch *s);
bool vx_index_scratch_fits(const struct vx_index *idx,
			   const struct vx_index_scratch *s, u32 ef);

/*
 * [FPU] Approximate k-NN: HNSW over the linked vectors (ef = max(ef, k))
 * merged with an exact scan of the pending ones.  hits[] gets up to k hits
 * sorted nearest first; *nhits how many.  -ENOMEM: scratch too small.
 */
int vx_index_search(const struct vx_index *idx, struct vx_index_scratch *s,
		    const float *query, u32 k, u32 ef,
		    struct vx_index_hit *hits, u32 *nhits);
/* [FPU] Exact k-NN over every live vector (SIMD distance kernels). */
int vx_index_search_exact(const struct vx_index *idx,
			  struct vx_index_scratch *s, const float *query,
			  u32 k, struct vx_index_hit *hits, u32 *nhits);

/* ---- Persistence: vx_vector.c saves and reloads the graph ---- */

/* Level of a linked node (0..), or -1 if not linked. */
int vx_index_node_level(const struct vx_index *idx, u64 vid);
/*
 * Links of a linked node at a level; returns the count (<= 2M at level 0,
 * <= M above) and copies them into links (room for 2M entries).
 */
int vx_index_node_links(const struct vx_index *idx, u64 vid, u32 level,
			u32 *links);
/*
 * [MEM] Reload a node saved earlier: vid (whose vector was set with
 * vx_index_set) becomes linked at level with the given link lists
 * (links[l] has counts[l] entries, for l = 0..level), without any search.
 * Load every node, then vx_index_set_entry().
 */
int vx_index_load_node(struct vx_index *idx, u64 vid, u32 level,
		       const u32 *const *links, const u32 *counts);
void vx_index_set_entry(struct vx_index *idx, u64 vid, u32 max_level);
/*
 * Nodes whose level, links or linked state changed since the last
 * vx_index_clear_dirty(): the caller persists them.  Returns the next dirty
 * vid >= from, or VX_VID_NONE.
 */
u64 vx_index_next_dirty(const struct vx_index *idx, u64 from);
void vx_index_clear_dirty(struct vx_index *idx);

/* ---- Distance kernels (vx_distance.c; SIMD in vx_distance_simd.c) ---- */

/* [FPU] Distance between two vectors under a metric (cosine: inputs are normalised). */
float vx_distance(u32 metric, const float *a, const float *b, u32 dim);
/* Which kernel set the CPU gets: "avx512", "avx2" or "scalar". */
const char *vx_distance_impl(void);
/* Force the scalar kernels (tests compare them against SIMD). */
void vx_distance_force_scalar(bool on);

#endif /* VX_INDEX_H */
