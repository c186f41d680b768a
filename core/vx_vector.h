/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Vector spaces and embeddings stored in the volume (docs/FORMAT.md,
 * "Vector spaces").  Part of the core: same rules as vx_core.h (callers
 * serialise every call on one vx_fs; errors are negative errno; a failure
 * in the middle of a change fails the volume).
 *
 * Each space keeps a columnar vector store (VECTORS, META, GRAPH columns:
 * logical arrays of fixed-stride records indexed by vid, each block mapped
 * by a VBLOCK item carrying its crc32c and birth transaction, rewritten
 * copy-on-write) and, once opened, an in-memory struct vx_index.  Every
 * call that changes embeddings updates the items, the columns and the index
 * in the running transaction, and persists the graph nodes the change
 * touched, so what is on disk at any commit is consistent.
 *
 * Index locking: the core hands out the space's vx_index so the caller can
 * search it without the fs lock.  Calls marked [IDX-W] change the index:
 * the caller also holds its exclusive lock on that space's index; calls
 * marked [IDX-R] read it (shared lock is enough).
 */
#ifndef VX_VECTOR_H
#define VX_VECTOR_H

#include "vx_core.h"
#include "vx_index.h"

/* CPU-order view of struct vx_space_item. */
struct vx_space_desc {
	u32 id;				/* assigned by vx_space_create */
	char name[VX_SPACE_NAME_LEN];	/* NUL terminated */
	char model[VX_MODEL_NAME_LEN];
	char model_version[VX_MODEL_VERSION_LEN];
	u32 dim;
	u32 elem_type;			/* VX_ELEM_F32 */
	u32 metric;			/* VX_METRIC_* */
	u32 hnsw_m;			/* 0 at create: default 16 */
	u32 hnsw_ef_construction;	/* 0 at create: default 200 */
	u32 hnsw_ef_search;		/* 0 at create: default 64 */
	u32 flags;
	u64 vid_limit;
	u64 live_count;
	u64 create_time;
};

/*
 * Space names: 1..63 bytes of [A-Za-z0-9._-], not starting with '.'.
 * Returns true if valid.
 */
bool vx_space_name_valid(const char *name);

/*
 * Create a space; d->id is assigned.  -EEXIST (name taken), -EINVAL (name,
 * dim outside 1..VX_MAX_DIM, elem type, metric, M outside 2..100, ef
 * outside 1..10000), -ENOSPC (no free space id or no room).
 */
int vx_space_create(struct vx_fs *fs, struct vx_space_desc *d);
int vx_space_lookup(struct vx_fs *fs, const char *name, u32 *id); /* -ENOENT */
int vx_space_get(struct vx_fs *fs, u32 id, struct vx_space_desc *d);
/* The visible space with the smallest id > after; -ENOENT when none. */
int vx_space_next(struct vx_fs *fs, u32 after, struct vx_space_desc *d);
/* Change the default search ef (the only mutable parameter). */
int vx_space_set_ef(struct vx_fs *fs, u32 id, u32 ef_search);

/*
 * [IDX-W] Drop a space: at once it disappears from lookup and listing (its
 * name can be reused) and its in-memory index is freed; its embeddings,
 * columns and graph are then deleted by vx_space_reap() in bounded steps,
 * each of which the caller may commit, and which resume after a remount.
 */
int vx_space_drop(struct vx_fs *fs, u32 id);
/* Delete up to max_items items of a dropped space; *done when none remain. */
int vx_space_reap(struct vx_fs *fs, u32 id, u32 max_items, bool *done);
/* The dropped, not yet reaped space with the smallest id > after; -ENOENT. */
int vx_space_next_dropped(struct vx_fs *fs, u32 after, u32 *id);

/*
 * The space's in-memory index, loaded from the volume on first use (vectors
 * and saved graph; nodes saved unlinked, or links to vids no longer linked,
 * come back pending or are dropped from lists).  The pointer stays valid
 * until vx_space_drop or vx_fs_close.  -ENOENT, -ENOMEM, -EUCLEAN.
 */
int vx_space_index(struct vx_fs *fs, u32 id, struct vx_index **out);
/* Release every loaded index (vx_fs_close does this too). */
void vx_space_unload_all(struct vx_fs *fs);

/*
 * [IDX-R] Persist the graph nodes changed since the last save (after the
 * caller linked pending vectors with vx_index_link_pending): GRAPH column
 * records, VLINKS items, META flags and the space's entry point.
 */
int vx_space_save_graph(struct vx_fs *fs, u32 id);

/* Owner of a vid (from memory once the index is loaded), 0 if free. */
u64 vx_space_vid_owner(struct vx_fs *fs, u32 id, u64 vid);

/* ---- Stale set of automatic embeddings (vx_auto.c) ---- */

struct vx_stale {
	u32 flags;		/* VX_STALE_FAILED */
	u32 failed_errno;
	u64 failed_version;
};

/*
 * Queue ino for the space (a live one, else -ENOENT): 1 if the item was
 * written (new, or a failed one reset), 0 if it was already queued.
 */
int vx_stale_mark(struct vx_fs *fs, u32 space, u64 ino);
/* Unqueue (the file's embeddings are current); absent is fine. */
int vx_stale_clear(struct vx_fs *fs, u32 space, u64 ino);
/*
 * A sidecar could not embed ino at data_version: keep it queued but skip
 * it until the data changes.  -ESTALE if the file changed since, -ENOENT.
 */
int vx_stale_fail(struct vx_fs *fs, u32 space, u64 ino, u64 data_version,
		  int error);
int vx_stale_get(struct vx_fs *fs, u32 space, u64 ino, struct vx_stale *out);
/* The queued file with the smallest ino >= from; -ENOENT past the end. */
int vx_stale_next(struct vx_fs *fs, u32 space, u64 from, u64 *ino,
		  struct vx_stale *out);
/* Unqueue ino from every space (inode removal). */
int vx_stale_remove_inode(struct vx_fs *fs, u64 ino);

/* ---- Embeddings ---- */

#define VX_EMBED_STALE		0x1	/* data_version differs from the file's */

/* CPU-order view of an embedding. */
struct vx_embed {
	u64 chunk_offset;
	u64 chunk_length;
	u64 data_version;
	u64 vid;		/* out */
	u32 flags;		/* out: VX_EMBED_STALE (list/lookup only) */
	u32 pad;
};

/* vx_embed_add flags */
#define VX_EMBED_REPLACE_ALL	0x1	/* first delete the file's embeddings in the space */

/*
 * [IDX-W] Add n embeddings to file ino in space; vectors holds n * dim
 * floats (copied bit for bit to the store).  Atomic: all or none.  -EEXIST
 * if a chunk with the same offset and length exists (unless REPLACE_ALL, or
 * twice within the batch), -ENOENT (no such inode or space), -EINVAL,
 * -ENOSPC.  e[i].vid gets the assigned vid.
 */
int vx_embed_add(struct vx_fs *fs, u64 ino, u32 space, struct vx_embed *e,
		 const float *vectors, u32 n, u32 flags);
/*
 * [IDX-W] Replace the vectors (and data_version) of existing chunks, found
 * by offset and length.  Atomic.  -ENOENT if one is missing.
 */
int vx_embed_update(struct vx_fs *fs, u64 ino, u32 space,
		    struct vx_embed *e, const float *vectors, u32 n);
/*
 * [IDX-W] Delete chunks found by offset and length (-ENOENT if one is
 * missing), or with n == 0 every embedding of ino in space, or with space
 * == 0 and n == 0 every embedding of ino in every space.
 */
int vx_embed_delete(struct vx_fs *fs, u64 ino, u32 space,
		    const struct vx_embed *e, u32 n);
/* 1 if the file has an embedding in any space (dropped ones too), else 0. */
int vx_embed_exists(struct vx_fs *fs, u64 ino);
/*
 * The file's embeddings in a space (space 0: all spaces; then
 * VX_EMBED_SPACE of the key is lost, so pass a space), ordered by chunk
 * offset then length.  Fills up to max; *total gets how many exist.  STALE
 * is set against the inode item's data_version.
 */
int vx_embed_list(struct vx_fs *fs, u64 ino, u32 space, struct vx_embed *out,
		  u32 max, u32 *total);
/*
 * The same from the first chunk ordered after after's (offset, length), so
 * that a long list can be read in pages (after NULL: from the first).
 * Needs a space (-EINVAL with space 0).  *total still counts them all;
 * returns how many were written to out.
 */
int vx_embed_list_after(struct vx_fs *fs, u64 ino, u32 space,
			const struct vx_embed *after, struct vx_embed *out,
			u32 max, u32 *total);
/*
 * One embedding by vid, for search results: a single item lookup on the
 * hot path of every search, so flags stay 0 (compare data_version with the
 * inode's own to tell staleness).  -ENOENT.
 */
int vx_embed_lookup(struct vx_fs *fs, u64 ino, u32 space, u64 vid,
		    struct vx_embed *out);
/* The stored vector of a vid, as given to add (not normalised); checksummed read. */
int vx_embed_read_vector(struct vx_fs *fs, u32 space, u64 vid, float *out);

/* Called by vx_inode_remove: delete every embedding the inode has. */
int vx_embed_remove_inode(struct vx_fs *fs, u64 ino);

#endif /* VX_VECTOR_H */
