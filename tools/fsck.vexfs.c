// SPDX-License-Identifier: GPL-2.0
/*
 * fsck.vexfs: check (and with -y / -p, repair) a VexFS volume.
 *
 * The checker reads the volume itself (tools/lib/vx_check.c) rather than
 * through the core's B-tree code, so that a bug in the code under test
 * cannot hide the damage it caused.  Repairs go through the core's API on a
 * volume opened read-write, so they are copy-on-write and atomic like any
 * other change: a crash during fsck leaves the volume as it was.
 *
 * Exit codes follow fsck(8) and add up: 0 clean, 1 errors corrected, 4 errors
 * left uncorrected (5: some corrected, some not), 8 operational error,
 * 16 usage error.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/stat.h>
#include "vx_check.h"
#include "vx_check_vec.h"

#define VERSION "1.0"

#define FSCK_OK			0
#define FSCK_NONDESTRUCT	1
#define FSCK_UNCORRECTED	4
#define FSCK_ERROR		8
#define FSCK_USAGE		16

#define MAX_PASSES		6	/* repair passes before giving up */

enum mode { M_ASK, M_NO, M_YES, M_PREEN };

static struct {
	enum mode mode;
	bool force, verbose;
	const char *dev;
} opt;

/* ---------------------------------------------------------------- fixes */

enum fix_kind {
	F_COMMIT,		/* rewrite the superblocks */
	F_MARK_USED,		/* a, b: blocks [a, a+b) in use but marked free */
	F_FREE,			/* a, b: blocks [a, a+b) leaked */
	F_NLINK,		/* ino, a: set link count */
	F_PARENT,		/* ino, a: set directory's parent */
	F_IBLOCKS,		/* ino, a: set inode's block count */
	F_NEXTINDEX,		/* ino, a: set directory's next readdir index */
	F_ORPHAN_DEL,		/* ino */
	F_RECLAIM,		/* ino: remove the inode and all it owns */
	F_INODE_COUNT,		/* a: correct superblock inode count */
	F_NAME_REMOVE,		/* ino = dir, name */
	F_NAME_SETFT,		/* ino = dir, name, a = target, b = ftype */
	F_DIRINDEX_DEL,		/* ino = dir, a = index */
	F_DIRINDEX_SET,		/* ino = dir, a = index, b = target, c = ftype, name */
	F_ITEM_DEL,		/* key */
	F_LOSTFOUND,		/* ino: reconnect under /lost+found */
	F_REFILE,		/* ino = dir, a = item hash, name, b = target, c = ftype,
				 * key.offset = old index: re-add a misfiled/invalid name */
	F_REF_ADD,		/* ino, a = dir, name: add a missing back reference */
	F_REF_DEL,		/* ino, a = dir, name: drop a stray back reference */
	F_AUTO_SPACE,		/* ino: clear a non-directory's embedding policy */
	F_STALE_RESET,		/* key: rewrite a malformed STALE item as plainly queued */
};

struct fix {
	enum fix_kind kind;
	bool preen_safe;
	u64 ino, a, b, c;
	struct vx_ckey key;
	char *name;
	u32 name_len;
	bool drop;		/* F_REFILE: only take the entry out */
};

static struct fix *fixes;
static size_t nfixes, capfixes;

/* Problems found in this pass. */
static long n_problems;		/* everything */
static long n_unfixable;	/* no repair known */
static long n_unsafe;		/* repair needs -y */
static long n_struct;		/* damaged tree nodes */
static long n_info;
static long n_printed;
#define MAX_PRINTED 2000


static void vmsg(const char *tag, const char *fmt, va_list ap)
{
	if (n_printed++ >= MAX_PRINTED && !opt.verbose) {
		if (n_printed == MAX_PRINTED + 1)
			printf("%s: (further messages suppressed; use -v to see them all)\n",
			       opt.dev);
		return;
	}
	printf("%s: %s", opt.dev, tag);
	vprintf(fmt, ap);
	putchar('\n');
}

static struct fix *add_fix(enum fix_kind kind, bool preen_safe)
{
	struct fix *f;

	if (nfixes == capfixes) {
		size_t nc = capfixes ? capfixes * 2 : 64;
		struct fix *nf = realloc(fixes, nc * sizeof(*nf));

		if (!nf) {
			fprintf(stderr, "fsck.vexfs: out of memory\n");
			exit(FSCK_ERROR);
		}
		fixes = nf;
		capfixes = nc;
	}
	f = &fixes[nfixes++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->preen_safe = preen_safe;
	return f;
}

static void clear_fixes(void)
{
	size_t i;

	for (i = 0; i < nfixes; i++)
		free(fixes[i].name);
	nfixes = 0;
}

/*
 * Report a problem.  fix is the repair for it (already added with add_fix)
 * or NULL if fsck cannot repair it.
 */
static void problem(const struct fix *fix, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(const struct fix *fix, const char *fmt, ...)
{
	va_list ap;

	n_problems++;
	if (!fix)
		n_unfixable++;
	else if (!fix->preen_safe)
		n_unsafe++;
	va_start(ap, fmt);
	vmsg("ERROR: ", fmt, ap);
	va_end(ap);
}

/* Informational: not an inconsistency. */
static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void info(const char *fmt, ...)
{
	va_list ap;

	n_info++;
	if (opt.mode == M_PREEN && !opt.verbose)
		return;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

static void verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void verbose(const char *fmt, ...)
{
	va_list ap;

	if (!opt.verbose)
		return;
	va_start(ap, fmt);
	printf("%s: ", opt.dev);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
}

static struct fix *fix_ino(enum fix_kind kind, bool safe, u64 ino, u64 a)
{
	struct fix *f = add_fix(kind, safe);

	f->ino = ino;
	f->a = a;
	return f;
}

static struct fix *fix_name(enum fix_kind kind, u64 dir, const char *name, u32 len)
{
	struct fix *f = add_fix(kind, false);

	f->ino = dir;
	f->name = malloc(len + 1);
	if (!f->name) {
		fprintf(stderr, "fsck.vexfs: out of memory\n");
		exit(FSCK_ERROR);
	}
	memcpy(f->name, name, len);
	f->name[len] = 0;
	f->name_len = len;
	return f;
}

static struct fix *fix_item_del(const struct vx_ckey *k)
{
	struct fix *f = add_fix(F_ITEM_DEL, false);

	f->key = *k;
	return f;
}

/* ---------------------------------------------------------------- bitmaps */

static inline bool bm_test(const u8 *bm, u64 b)
{
	return bm[b >> 3] & (1U << (b & 7));
}

static inline void bm_set(u8 *bm, u64 b)
{
	bm[b >> 3] |= (u8)(1U << (b & 7));
}

/* ---------------------------------------------------------------- state */

struct ino_rec {
	u64 ino;
	u32 mode, nlink;
	u64 size, blocks, parent, next_dir_index;
	u64 ext_blocks;		/* sum of extent lengths */
	u64 max_index;		/* directories: largest entry index + 1 */
	u32 names;		/* DIRENT entries naming it */
	u32 subdirs;		/* directories: entries naming directories */
	u64 first_namer;	/* a directory that names it */
	u32 auto_space;		/* automatic embedding policy (VX_AUTO_*) */
	u8 ftype;
	bool bad;		/* inode item malformed: skip semantic checks */
	bool orphan;
	bool reachable;
	bool rescued;		/* reconnected along with an unnamed ancestor */
	bool cycle;		/* breaks a cycle of unreachable directories */
	bool parent_named;	/* named by the dir its parent field says */
};

struct ref {			/* a DIRENT entry */
	u64 dir, ino, index, hash;
	long refile_fix;	/* index in fixes[] of its F_REFILE, or -1 */
	u8 ftype;
	u32 name_len;
	char *name;
};

struct dent {			/* per-directory pairing of DIRENT/DIRINDEX */
	u64 index, ino, hash;
	u8 ftype;
	u32 name_len;
	size_t name_off;	/* in S.pool, which may move while filling */
	const char *name;	/* set by finish_object */
	bool from_index;
	bool refile;		/* a F_REFILE fix replaces this entry */
	long refile_fix;	/* its index in fixes[] */
};

struct extent_rec {
	u64 ino, fblock, disk, len;
	bool deleted;		/* already scheduled for removal */
};

struct stale_rec {		/* a STALE item: checked once the inodes are known */
	u32 space, size;
	u64 ino;
	const char *why;	/* vk_stale_decode's verdict */
	struct vk_stale st;
};

static struct {
	struct vk_vol v;
	u8 *meta_bm;		/* blocks of tree nodes */
	u8 *disk_bm;		/* the alloc tree's bitmaps, as on disk */
	u8 *have_group;
	u64 nodes[3];
	int max_level[3];

	struct ino_rec *inodes;
	size_t ninodes, capinodes;
	struct ref *refs;
	size_t nrefs, caprefs;
	struct extent_rec *exts;
	size_t nexts, capexts;
	u64 *orphans;
	size_t norphans, caporphans;
	u64 *pre_orphans;	/* orphan list read ahead of the main walk */
	size_t npre_orphans, cappre_orphans;
	struct stale_rec *stales;
	size_t nstales, capstales;

	/* the object whose items are being read */
	u64 cur_obj;
	bool cur_valid;
	struct ino_rec *cur;	/* NULL if the inode item is missing */
	bool cur_missing_reported;
	u64 ext_end;
	bool have_ext;
	struct dent *dA, *dB;	/* DIRENT entries, DIRINDEX entries */
	size_t nA, nB, capA, capB;
	char *pool;		/* names of the current directory */
	size_t npool, cappool;
} S;

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t nc;
	void *np;

	if (need <= *cap)
		return p;
	nc = *cap ? *cap * 2 : 256;
	while (nc < need)
		nc *= 2;
	np = realloc(p, nc * elem);
	if (!np) {
		fprintf(stderr, "fsck.vexfs: out of memory\n");
		exit(FSCK_ERROR);
	}
	*cap = nc;
	return np;
}

static struct ino_rec *find_inode(u64 ino)
{
	size_t lo = 0, hi = S.ninodes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (S.inodes[mid].ino == ino)
			return &S.inodes[mid];
		if (S.inodes[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void back_refs_reset(void);

static void reset_state(void)
{
	size_t i;

	free(S.meta_bm);
	free(S.disk_bm);
	free(S.have_group);
	free(S.inodes);
	for (i = 0; i < S.nrefs; i++)
		free(S.refs[i].name);
	free(S.refs);
	free(S.exts);
	free(S.orphans);
	free(S.pre_orphans);
	free(S.stales);
	free(S.dA);
	free(S.dB);
	free(S.pool);
	back_refs_reset();
	vk_close(&S.v);
	memset(&S, 0, sizeof(S));
}

/* ---------------------------------------------------------------- tree walk */

static void node_problem(void *ctx, const struct vk_ptr *p, const char *msg)
{
	n_struct++;
	if (!p) {
		problem(NULL, "%s", msg);
		return;
	}
	if (p->parent)
		problem(NULL, "%s tree block %llu (level %d, entry %u of block %llu): %s",
			vk_tree_name(p->tree), (unsigned long long)p->blocknr, p->level,
			p->slot, (unsigned long long)p->parent, msg);
	else
		problem(NULL, "%s tree root block %llu (level %d): %s",
			vk_tree_name(p->tree), (unsigned long long)p->blocknr, p->level, msg);
}

static bool claim(void *ctx, const struct vk_ptr *p)
{
	if (bm_test(S.meta_bm, p->blocknr)) {
		char m[128];

		snprintf(m, sizeof(m), "block %llu is referenced twice",
			 (unsigned long long)p->blocknr);
		node_problem(ctx, p, m);
		return true;
	}
	bm_set(S.meta_bm, p->blocknr);
	return false;
}

/* ---- alloc tree items ---- */

static void alloc_node(void *ctx, const struct vk_ptr *p, const u8 *blk, bool ok)
{
	const struct vx_item *it = vk_items(blk);
	u32 n, i, bytes = S.v.group_blocks / 8;
	char ks[VK_KEY_STR];

	S.nodes[VX_TREE_ALLOC]++;
	if (vk_hdr(blk)->level > S.max_level[VX_TREE_ALLOC])
		S.max_level[VX_TREE_ALLOC] = vk_hdr(blk)->level;
	if (!ok || vk_hdr(blk)->level)
		return;
	n = vk_nritems(blk);
	for (i = 0; i < n; i++) {
		struct vx_ckey k;
		u32 off = le32_to_cpu(it[i].offset), size = le32_to_cpu(it[i].size);

		vk_key_from_disk(&k, &it[i].key);
		if (k.objectid != 0 || k.type != VX_ITEM_ALLOC_BITMAP) {
			problem(NULL, "alloc tree block %llu: unexpected item %s",
				(unsigned long long)p->blocknr, vk_key_str(&k, ks));
			continue;
		}
		if (k.offset >= S.v.ngroups) {
			problem(NULL, "alloc tree block %llu: bitmap item %s for a group past the end of the volume (%llu groups)",
				(unsigned long long)p->blocknr, vk_key_str(&k, ks),
				(unsigned long long)S.v.ngroups);
			continue;
		}
		if (size != bytes) {
			problem(NULL, "alloc tree block %llu: bitmap item %s has size %u, expected %u",
				(unsigned long long)p->blocknr, vk_key_str(&k, ks), size, bytes);
			continue;
		}
		memcpy(S.disk_bm + k.offset * bytes, blk + off, bytes);
		S.have_group[k.offset] = 1;
	}
}

/* ---- fs tree items ---- */

static const char *obj_str(u64 obj, char *buf)
{
	if (obj == VX_ORPHAN_OBJECTID)
		return "orphan list";
	snprintf(buf, 32, "inode %llu", (unsigned long long)obj);
	return buf;
}

static int dent_cmp(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;

	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return 0;
}

static void add_ref(u64 dir, const struct dent *d)
{
	struct ref *r;

	S.refs = grow(S.refs, &S.caprefs, S.nrefs + 1, sizeof(*S.refs));
	r = &S.refs[S.nrefs++];
	r->dir = dir;
	r->ino = d->ino;
	r->index = d->index;
	r->hash = d->hash;
	r->refile_fix = d->refile ? d->refile_fix : -1;
	r->ftype = d->ftype;
	r->name_len = d->name_len;
	r->name = malloc(d->name_len + 1);
	if (!r->name) {
		fprintf(stderr, "fsck.vexfs: out of memory\n");
		exit(FSCK_ERROR);
	}
	memcpy(r->name, d->name, d->name_len);
	r->name[d->name_len] = 0;
}

static bool same_dent(const struct dent *a, const struct dent *b)
{
	return a->ino == b->ino && a->ftype == b->ftype && a->name_len == b->name_len &&
	       !memcmp(a->name, b->name, a->name_len);
}

static void resolve_pool_names(void);

/*
 * Removal of an orphan may stop half way (the core removes its items first
 * and the inode item last), so an orphan's block count and directory items
 * need not agree.  The orphan list is read before the main walk for this.
 */
static bool pre_orphan(u64 ino)
{
	size_t lo = 0, hi = S.npre_orphans;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (S.pre_orphans[mid] == ino)
			return true;
		if (S.pre_orphans[mid] < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}
static struct fix *fix_refile(const struct vx_ckey *k, const struct vk_dirent *d);

/* All items of the current object have been seen. */
static void finish_object(void)
{
	struct ino_rec *r = S.cur;
	char nm[4 * VX_NAME_MAX + 8];
	size_t i, j;

	if (!S.cur_valid)
		return;
	S.cur_valid = false;
	if (!r)
		goto out;
	if (pre_orphan(r->ino)) {
		/* possibly half removed: only its names still count */
		resolve_pool_names();
		for (i = 0; i < S.nA; i++)
			add_ref(r->ino, &S.dA[i]);
		goto out;
	}
	if (!r->bad && r->ext_blocks != r->blocks)
		problem(fix_ino(F_IBLOCKS, true, r->ino, r->ext_blocks),
			"inode %llu: block count %llu, but its extents hold %llu blocks",
			(unsigned long long)r->ino, (unsigned long long)r->blocks,
			(unsigned long long)r->ext_blocks);
	if (r->bad || r->ftype != VX_FT_DIR)
		goto out;

	/* pair DIRENT entries (A) with DIRINDEX items (B) by index */
	resolve_pool_names();
	if (S.nA)
		qsort(S.dA, S.nA, sizeof(*S.dA), dent_cmp);
	if (S.nB)
		qsort(S.dB, S.nB, sizeof(*S.dB), dent_cmp);
	for (i = 1; i < S.nA; i++) {
		struct dent *a = &S.dA[i];

		if (a->index != S.dA[i - 1].index || a->refile || S.dA[i - 1].refile)
			continue;
		{
			struct vx_ckey k = { .objectid = r->ino, .type = VX_ITEM_DIRENT,
					     .offset = a->hash };
			struct vk_dirent d = { .ino = a->ino, .index = a->index,
					       .name_len = a->name_len, .ftype = a->ftype,
					       .name = a->name };

			a->refile = true;
			a->refile_fix = (long)nfixes;
			problem(fix_refile(&k, &d),
				"directory %llu: names \"%s\" and another share readdir index %llu",
				(unsigned long long)r->ino,
				vk_name_str(a->name, a->name_len, nm, sizeof(nm)),
				(unsigned long long)a->index);
		}
	}
	i = j = 0;
	while (i < S.nA || j < S.nB) {
		struct dent *a = i < S.nA ? &S.dA[i] : NULL;
		struct dent *b = j < S.nB ? &S.dB[j] : NULL;

		if (a && b && a->index == b->index) {
			if (!same_dent(a, b) && !a->refile) {
				struct fix *f = fix_name(F_DIRINDEX_SET, r->ino, a->name, a->name_len);

				f->a = a->index;
				f->b = a->ino;
				f->c = a->ftype;
				problem(f, "directory %llu: index entry %llu does not match the name \"%s\" (inode %llu)",
					(unsigned long long)r->ino, (unsigned long long)a->index,
					vk_name_str(a->name, a->name_len, nm, sizeof(nm)),
					(unsigned long long)a->ino);
			}
			add_ref(r->ino, a);
			i++;
			j++;
		} else if (a && (!b || a->index < b->index)) {
			struct fix *f;

			if (a->refile) {
				add_ref(r->ino, a);
				i++;
				continue;
			}
			f = fix_name(F_DIRINDEX_SET, r->ino, a->name, a->name_len);
			f->a = a->index;
			f->b = a->ino;
			f->c = a->ftype;
			problem(f, "directory %llu: name \"%s\" (inode %llu) has no index entry %llu",
				(unsigned long long)r->ino,
				vk_name_str(a->name, a->name_len, nm, sizeof(nm)),
				(unsigned long long)a->ino, (unsigned long long)a->index);
			add_ref(r->ino, a);
			i++;
		} else {
			struct fix *f = add_fix(F_DIRINDEX_DEL, false);

			f->ino = r->ino;
			f->a = b->index;
			problem(f, "directory %llu: index entry %llu (\"%s\", inode %llu) has no matching name",
				(unsigned long long)r->ino, (unsigned long long)b->index,
				vk_name_str(b->name, b->name_len, nm, sizeof(nm)),
				(unsigned long long)b->ino);
			j++;
		}
	}
	if (r->max_index > r->next_dir_index)
		problem(fix_ino(F_NEXTINDEX, true, r->ino, r->max_index),
			"directory %llu: next readdir index %llu is not above its entries (largest %llu)",
			(unsigned long long)r->ino, (unsigned long long)r->next_dir_index,
			(unsigned long long)(r->max_index - 1));
out:
	S.nA = S.nB = 0;
	S.npool = 0;
}

static void start_object(u64 obj)
{
	finish_object();
	S.cur_obj = obj;
	S.cur_valid = true;
	S.cur = NULL;
	S.cur_missing_reported = false;
	S.have_ext = false;
	S.ext_end = 0;
}

static size_t pool_name(const char *name, u32 len)
{
	size_t at = S.npool;

	S.pool = grow(S.pool, &S.cappool, S.npool + len + 1, 1);
	memcpy(S.pool + at, name, len);
	S.npool += len;
	return at;
}

static void resolve_pool_names(void)
{
	size_t i;

	for (i = 0; i < S.nA; i++)
		S.dA[i].name = S.pool + S.dA[i].name_off;
	for (i = 0; i < S.nB; i++)
		S.dB[i].name = S.pool + S.dB[i].name_off;
}

static bool bad_name(const char *n, u32 len)
{
	if ((len == 1 && n[0] == '.') || (len == 2 && n[0] == '.' && n[1] == '.'))
		return true;
	return memchr(n, '/', len) || memchr(n, 0, len);
}

static void item_inode(const struct vx_ckey *k, const u8 *data, u32 size)
{
	struct vx_inode_data d;
	struct ino_rec *r;
	const char *why;
	struct vx_inode_item raw;

	S.inodes = grow(S.inodes, &S.capinodes, S.ninodes + 1, sizeof(*S.inodes));
	r = &S.inodes[S.ninodes++];
	memset(r, 0, sizeof(*r));
	r->ino = k->objectid;
	S.cur = r;
	if (k->offset != 0) {
		problem(fix_item_del(k), "inode %llu: inode item with offset %llu (must be 0)",
			(unsigned long long)k->objectid, (unsigned long long)k->offset);
		r->bad = true;
		return;
	}
	if (size != sizeof(raw)) {
		problem(fix_item_del(k), "inode %llu: inode item has size %u, expected %zu",
			(unsigned long long)k->objectid, size, sizeof(raw));
		r->bad = true;
		return;
	}
	memcpy(&raw, data, sizeof(raw));
	vk_inode_decode(&raw, &d, k->objectid);
	r->mode = d.mode;
	r->nlink = d.nlink;
	r->size = d.size;
	r->blocks = d.blocks;
	r->parent = d.parent;
	r->next_dir_index = d.next_dir_index;
	r->auto_space = d.auto_space;
	r->ftype = vx_mode_to_ftype(d.mode);
	why = vk_inode_problem(&d);
	if (why) {
		/* only a bad type makes the inode unusable */
		if (r->ftype == VX_FT_UNKNOWN) {
			problem(fix_item_del(k), "inode %llu: %s (mode 0%o)",
				(unsigned long long)k->objectid, why, d.mode);
			r->bad = true;
		} else {
			problem(NULL, "inode %llu: %s (mode 0%o)",
				(unsigned long long)k->objectid, why, d.mode);
		}
	}
	if (k->objectid == VX_ROOT_INO && r->ftype != VX_FT_DIR && !r->bad)
		problem(NULL, "inode 1 (the root) is not a directory (mode 0%o)", d.mode);
	if (k->objectid >= le64_to_cpu(S.v.sb->next_ino))
		problem(NULL, "inode %llu: number not below the superblock's next inode number %llu",
			(unsigned long long)k->objectid,
			(unsigned long long)le64_to_cpu(S.v.sb->next_ino));
}

static void item_xattr(const struct vx_ckey *k, const u8 *data, u32 size)
{
	char nm[4 * 256 + 8];
	struct vk_xattr x;
	u32 off = 0;
	int ret, count = 0;

	if (size == 0) {
		problem(fix_item_del(k), "inode %llu: empty xattr item", (unsigned long long)k->objectid);
		return;
	}
	while ((ret = vk_xattr_next(data, size, &off, &x)) == 1) {
		u32 o2 = 0;
		struct vk_xattr y;
		int n = 0;

		count++;
		if (!vk_xattr_prefix(x.index))
			problem(NULL, "inode %llu: xattr \"%s\" has unknown namespace index %u",
				(unsigned long long)k->objectid,
				vk_name_str(x.name, x.name_len, nm, sizeof(nm)), x.index);
		if (vk_xattr_hash(x.index, x.name, x.name_len) != k->offset)
			problem(NULL, "inode %llu: xattr \"%s%s\" is stored under the wrong hash 0x%016llx",
				(unsigned long long)k->objectid,
				vk_xattr_prefix(x.index) ? vk_xattr_prefix(x.index) : "?",
				vk_name_str(x.name, x.name_len, nm, sizeof(nm)),
				(unsigned long long)k->offset);
		/* duplicates within the item */
		while (vk_xattr_next(data, size, &o2, &y) == 1 && o2 <= off)
			if (y.index == x.index && y.name_len == x.name_len &&
			    !memcmp(y.name, x.name, x.name_len))
				n++;
		if (n > 1)
			problem(NULL, "inode %llu: xattr \"%s\" stored twice",
				(unsigned long long)k->objectid,
				vk_name_str(x.name, x.name_len, nm, sizeof(nm)));
	}
	if (ret < 0)
		problem(fix_item_del(k), "inode %llu: xattr item %s is malformed at byte %u of %u",
			(unsigned long long)k->objectid, vk_key_str(k, nm), off, size);
}

static struct dent *add_dent(struct dent **arr, size_t *n, size_t *cap,
			     const struct vk_dirent *d, u64 hash, bool from_index)
{
	struct dent *e;

	*arr = grow(*arr, cap, *n + 1, sizeof(**arr));
	e = &(*arr)[(*n)++];
	e->index = d->index;
	e->ino = d->ino;
	e->ftype = d->ftype;
	e->name_len = d->name_len;
	e->name_off = pool_name(d->name, d->name_len);
	e->name = NULL;
	e->hash = hash;
	e->from_index = from_index;
	e->refile = false;
	e->refile_fix = -1;
	return e;
}

static struct fix *fix_refile(const struct vx_ckey *k, const struct vk_dirent *d)
{
	struct fix *f = fix_name(F_REFILE, k->objectid, d->name, d->name_len);

	f->a = k->offset;
	f->b = d->ino;
	f->c = d->ftype;
	f->key.offset = d->index;
	return f;
}

/* Checks common to both kinds of entry; false if a DIRENT entry needs refiling. */
static bool check_dent_fields(struct ino_rec *dir, const struct vk_dirent *d, const char *what,
			      const struct vx_ckey *k)
{
	char nm[4 * VX_NAME_MAX + 8];
	bool ok = true;

	if (bad_name(d->name, d->name_len)) {
		problem(k->type == VX_ITEM_DIRENT ? fix_refile(k, d) : NULL,
			"directory %llu: %s has an invalid name \"%s\"",
			(unsigned long long)dir->ino, what,
			vk_name_str(d->name, d->name_len, nm, sizeof(nm)));
		ok = false;
	}
	if (d->index < 2 && ok) {
		problem(k->type == VX_ITEM_DIRENT ? fix_refile(k, d) : fix_item_del(k),
			"directory %llu: %s \"%s\" has reserved index %llu",
			(unsigned long long)dir->ino, what,
			vk_name_str(d->name, d->name_len, nm, sizeof(nm)),
			(unsigned long long)d->index);
		ok = false;
	}
	if (d->index + 1 > dir->max_index)
		dir->max_index = d->index + 1;
	return ok;
}

static void item_dirent(const struct vx_ckey *k, const u8 *data, u32 size)
{
	char nm[4 * VX_NAME_MAX + 8], ks[VK_KEY_STR];
	struct ino_rec *dir = S.cur;
	struct vk_dirent d;
	u32 off = 0;
	int ret;

	if (dir->ftype != VX_FT_DIR) {
		problem(fix_item_del(k), "inode %llu: directory entry item %s, but the inode is not a directory",
			(unsigned long long)k->objectid, vk_key_str(k, ks));
		return;
	}
	if (size == 0) {
		problem(fix_item_del(k), "directory %llu: empty entry item %s",
			(unsigned long long)k->objectid, vk_key_str(k, ks));
		return;
	}
	/* validate the whole item before taking any entry from it */
	while ((ret = vk_dirent_next(data, size, &off, &d)) == 1)
		;
	if (ret < 0) {
		problem(fix_item_del(k), "directory %llu: entry item %s is malformed at byte %u of %u",
			(unsigned long long)k->objectid, vk_key_str(k, ks), off, size);
		return;
	}
	off = 0;
	while (vk_dirent_next(data, size, &off, &d) == 1) {
		u64 h = vx_name_hash(d.name, d.name_len);
		struct vk_dirent e;
		u32 o2 = 0;
		int dup = 0;

		bool refile;

		while (vk_dirent_next(data, size, &o2, &e) == 1 && o2 <= off)
			if (e.name_len == d.name_len && !memcmp(e.name, d.name, d.name_len))
				dup++;
		size_t nf = nfixes;

		refile = !check_dent_fields(dir, &d, "name", k);
		if (dup > 1 && !refile) {
			problem(fix_refile(k, &d), "directory %llu: name \"%s\" appears twice in item %s",
				(unsigned long long)k->objectid,
				vk_name_str(d.name, d.name_len, nm, sizeof(nm)), vk_key_str(k, ks));
			refile = true;
		}
		if (h != k->offset && !refile) {
			problem(fix_refile(k, &d),
				"directory %llu: name \"%s\" is stored under hash 0x%016llx, but hashes to 0x%016llx",
				(unsigned long long)k->objectid,
				vk_name_str(d.name, d.name_len, nm, sizeof(nm)),
				(unsigned long long)k->offset, (unsigned long long)h);
			refile = true;
		}
		{
			struct dent *de = add_dent(&S.dA, &S.nA, &S.capA, &d, h, false);

			de->refile = refile;
			/* the F_REFILE is the first fix added for this entry */
			for (; refile && nf < nfixes; nf++)
				if (fixes[nf].kind == F_REFILE) {
					de->refile_fix = (long)nf;
					break;
				}
		}
	}
}

static void item_dirindex(const struct vx_ckey *k, const u8 *data, u32 size)
{
	char ks[VK_KEY_STR];
	struct ino_rec *dir = S.cur;
	struct vk_dirent d;
	u32 off = 0;

	if (dir->ftype != VX_FT_DIR) {
		problem(fix_item_del(k), "inode %llu: directory index item %s, but the inode is not a directory",
			(unsigned long long)k->objectid, vk_key_str(k, ks));
		return;
	}
	if (vk_dirent_next(data, size, &off, &d) != 1 || off != size) {
		problem(fix_item_del(k), "directory %llu: index item %s is malformed",
			(unsigned long long)k->objectid, vk_key_str(k, ks));
		return;
	}
	if (d.index != k->offset) {
		problem(fix_item_del(k), "directory %llu: index item %s records index %llu",
			(unsigned long long)k->objectid, vk_key_str(k, ks),
			(unsigned long long)d.index);
		return;
	}
	if (!check_dent_fields(dir, &d, "index entry", k))
		return;
	add_dent(&S.dB, &S.nB, &S.capB, &d, vx_name_hash(d.name, d.name_len), true);
}

static void item_extent(const struct vx_ckey *k, const u8 *data, u32 size)
{
	char ks[VK_KEY_STR];
	struct ino_rec *r = S.cur;
	struct vx_extent_item e;
	struct extent_rec *x;
	u64 disk, len;
	u32 flags;

	if (size != sizeof(e)) {
		problem(fix_item_del(k), "inode %llu: extent item %s has size %u, expected %zu",
			(unsigned long long)k->objectid, vk_key_str(k, ks), size, sizeof(e));
		return;
	}
	memcpy(&e, data, sizeof(e));
	disk = le64_to_cpu(e.disk_block);
	len = le64_to_cpu(e.len);
	flags = le32_to_cpu(e.flags);
	if (r->ftype != VX_FT_REG && r->ftype != VX_FT_LNK && !r->bad) {
		problem(fix_item_del(k), "inode %llu: extent %s on a %s",
			(unsigned long long)k->objectid, vk_key_str(k, ks), vk_ftype_name(r->ftype));
		return;
	}
	if (len == 0 || k->offset + len < k->offset) {
		problem(fix_item_del(k), "inode %llu: extent %s has invalid length %llu",
			(unsigned long long)k->objectid, vk_key_str(k, ks), (unsigned long long)len);
		return;
	}
	if (disk < S.v.first_block || disk >= S.v.total_blocks ||
	    len > S.v.total_blocks - disk) {
		problem(fix_item_del(k), "inode %llu: extent %s maps to blocks %llu-%llu, outside the data area [%llu, %llu)",
			(unsigned long long)k->objectid, vk_key_str(k, ks),
			(unsigned long long)disk, (unsigned long long)(disk + len - 1),
			(unsigned long long)S.v.first_block, (unsigned long long)S.v.total_blocks);
		return;
	}
	if (flags & ~VX_EXTENT_UNWRITTEN)
		problem(NULL, "inode %llu: extent %s has unknown flags 0x%x",
			(unsigned long long)k->objectid, vk_key_str(k, ks), flags);
	if (S.have_ext && k->offset < S.ext_end) {
		problem(fix_item_del(k), "inode %llu: extent %s overlaps the previous extent (which ends at file block %llu)",
			(unsigned long long)k->objectid, vk_key_str(k, ks),
			(unsigned long long)S.ext_end);
		return;
	}
	S.have_ext = true;
	S.ext_end = k->offset + len;
	r->ext_blocks += len;
	S.exts = grow(S.exts, &S.capexts, S.nexts + 1, sizeof(*S.exts));
	x = &S.exts[S.nexts++];
	x->ino = k->objectid;
	x->fblock = k->offset;
	x->disk = disk;
	x->len = len;
	x->deleted = false;
}

static void item_orphan(const struct vx_ckey *k, u32 size)
{
	char ks[VK_KEY_STR];

	if (k->type != VX_ITEM_ORPHAN || size != 0) {
		problem(fix_item_del(k), "orphan list: unexpected item %s (size %u)",
			vk_key_str(k, ks), size);
		return;
	}
	S.orphans = grow(S.orphans, &S.caporphans, S.norphans + 1, sizeof(*S.orphans));
	S.orphans[S.norphans++] = k->offset;
}

/*
 * Back references: every name in a directory is recorded in the named
 * inode's INODE_REF item for that directory.  The references are collected
 * during the walk and matched against the directory entries afterwards by
 * vk_match_refs (tools/lib/vx_check.c).  They are derived data: a missing
 * one is added and a stray one dropped through the core.
 */
static struct {
	struct vk_name_link *links;
	size_t n, cap;
	char *pool;		/* names; links hold offsets until matched */
	size_t npool, cappool;
} BR;

static void back_refs_reset(void)
{
	free(BR.links);
	free(BR.pool);
	memset(&BR, 0, sizeof(BR));
}

static void item_inode_ref(const struct vx_ckey *k, const u8 *data, u32 size)
{
	char ks[VK_KEY_STR];
	const char *name;
	u32 off = 0, len;
	int ret;

	while ((ret = vk_inode_ref_next(data, size, &off, &name, &len)) == 1)
		;
	if (ret < 0 || !size) {
		problem(fix_item_del(k), "inode %llu: back reference item %s is malformed at byte %u of %u",
			(unsigned long long)k->objectid, vk_key_str(k, ks), off, size);
		return;
	}
	/* an orphan's removal may have stopped half way; reclaim ends it */
	if (pre_orphan(k->objectid))
		return;
	off = 0;
	while (vk_inode_ref_next(data, size, &off, &name, &len) == 1) {
		struct vk_name_link *l;

		BR.links = grow(BR.links, &BR.cap, BR.n + 1, sizeof(*BR.links));
		BR.pool = grow(BR.pool, &BR.cappool, BR.npool + len, 1);
		memcpy(BR.pool + BR.npool, name, len);
		l = &BR.links[BR.n++];
		l->ino = k->objectid;
		l->dir = k->offset;
		l->name = (const char *)(uintptr_t)BR.npool;
		l->name_len = len;
		BR.npool += len;
	}
}

static void back_ref_problem(void *ctx, const struct vk_ref_problem *p)
{
	struct fix *f = NULL;

	if (p->kind == VK_REF_MISSING || p->kind == VK_REF_STRAY ||
	    p->kind == VK_REF_DUP) {
		f = fix_name(p->kind == VK_REF_MISSING ? F_REF_ADD : F_REF_DEL,
			     p->ino, p->name, p->name_len);
		f->a = p->dir;
		f->preen_safe = true;
	}
	problem(f, "%s", p->msg);
}

/* Every directory entry has its back reference and the other way round. */
static void check_back_refs(void)
{
	struct vk_name_link *names;
	size_t i, n = 0;

	names = calloc(S.nrefs + 1, sizeof(*names));
	if (!names) {
		fprintf(stderr, "fsck.vexfs: out of memory\n");
		exit(FSCK_ERROR);
	}
	for (i = 0; i < S.nrefs; i++) {
		/* entries naming missing inodes are reported and fixed elsewhere */
		if (!find_inode(S.refs[i].ino))
			continue;
		names[n].ino = S.refs[i].ino;
		names[n].dir = S.refs[i].dir;
		names[n].name = S.refs[i].name;
		names[n].name_len = S.refs[i].name_len;
		n++;
	}
	for (i = 0; i < BR.n; i++)
		BR.links[i].name = BR.pool + (uintptr_t)BR.links[i].name;
	vk_match_refs(names, n, BR.links, BR.n, back_ref_problem, NULL);
	free(names);
	back_refs_reset();
}

/*
 * Vector spaces and embeddings: collected during the walk, checked by
 * tools/lib/vx_check_vec.c afterwards.  Problems there have no repair.
 */
static struct vk_vec *VEC;

static void vec_problem(void *ctx, const char *msg)
{
	problem(NULL, "%s", msg);
}

static void vec_start(void)
{
	vk_vec_free(VEC);
	VEC = vk_vec_new(&S.v, vec_problem, NULL);
	if (!VEC) {
		fprintf(stderr, "fsck.vexfs: out of memory\n");
		exit(FSCK_ERROR);
	}
}

/* Column blocks count as in use (S.meta_bm) before the free-space check. */
static void check_vectors(void)
{
	vk_vec_check(VEC, S.meta_bm);
	verbose("%u vector spaces, %llu column blocks", vk_vec_nspaces(VEC),
		(unsigned long long)vk_vec_nblocks(VEC));
}

/*
 * Automatic embeddings: the stale set (STALE items, one per queued file and
 * space) and the directories' policies.  Queue entries are derived data:
 * one for a file or space that is gone is deleted, a malformed one is
 * rewritten as plainly queued (the file is embedded again, nothing lost).
 */
static void item_stale(const struct vx_ckey *k, const u8 *data, u32 size)
{
	struct stale_rec *r;

	S.stales = grow(S.stales, &S.capstales, S.nstales + 1, sizeof(*S.stales));
	r = &S.stales[S.nstales++];
	r->space = (u32)(k->objectid - VX_SPACE_OBJID_BASE);
	r->ino = k->offset;
	r->size = size;
	r->why = vk_stale_decode(data, size, &r->st);
}

static struct fix *fix_stale(enum fix_kind kind, const struct stale_rec *r)
{
	struct fix *f = add_fix(kind, true);

	f->key.objectid = VX_SPACE_OBJID(r->space);
	f->key.type = VX_ITEM_STALE;
	f->key.offset = r->ino;
	f->ino = r->ino;
	return f;
}

static void check_auto(void)
{
	size_t i;

	for (i = 0; i < S.nstales; i++) {
		const struct stale_rec *r = &S.stales[i];
		struct ino_rec *t = find_inode(r->ino);

		if (!t) {
			problem(fix_stale(F_ITEM_DEL, r),
				"vector space %u: inode %llu is queued for embedding but does not exist",
				r->space, (unsigned long long)r->ino);
			continue;
		}
		if (!t->bad && t->ftype != VX_FT_REG) {
			problem(fix_stale(F_ITEM_DEL, r),
				"vector space %u: inode %llu is queued for embedding but is a %s, not a regular file",
				r->space, (unsigned long long)r->ino, vk_ftype_name(t->ftype));
			continue;
		}
		if (vk_vec_space_state(VEC, r->space) == VK_SPACE_NONE) {
			problem(fix_stale(F_ITEM_DEL, r),
				"vector space %u: inode %llu is queued for embedding in a space that does not exist",
				r->space, (unsigned long long)r->ino);
			continue;
		}
		if (r->why)
			problem(fix_stale(F_STALE_RESET, r),
				"vector space %u: the stale item of inode %llu %s (size %u, flags 0x%x, errno %u, data version %llu)",
				r->space, (unsigned long long)r->ino, r->why, r->size,
				r->st.flags, r->st.failed_errno,
				(unsigned long long)r->st.failed_version);
	}
	for (i = 0; i < S.ninodes; i++) {
		struct ino_rec *t = &S.inodes[i];
		u32 id = t->auto_space;
		enum vk_space_state st;

		if (t->bad || id == VX_AUTO_INHERIT)
			continue;
		if (t->ftype != VX_FT_DIR) {
			problem(fix_ino(F_AUTO_SPACE, true, t->ino, 0),
				"inode %llu: a %s with an automatic embedding policy (0x%x); only directories have one",
				(unsigned long long)t->ino, vk_ftype_name(t->ftype), id);
			continue;
		}
		if (id == VX_AUTO_OFF)
			continue;
		/* the kernel ignores a policy naming no live space: a note */
		st = vk_vec_space_state(VEC, id);
		if (st != VK_SPACE_LIVE)
			info("directory %llu: automatic embedding policy names vector space %u, which %s; it has no effect",
			     (unsigned long long)t->ino, id,
			     st == VK_SPACE_DROPPED ? "was dropped" : "does not exist");
	}
	verbose("%zu stale items (files queued for automatic embedding)", S.nstales);
}

static void fs_item(const struct vx_ckey *k, const u8 *data, u32 size)
{
	char ks[VK_KEY_STR], os[32];

	if (vk_vec_is_space_obj(k->objectid)) {
		if (k->type == VX_ITEM_STALE)
			item_stale(k, data, size);
		else
			vk_vec_item(VEC, k, data, size);
		return;
	}
	if (!S.cur_valid || k->objectid != S.cur_obj) {
		start_object(k->objectid);
		if (k->objectid == 0 || (k->objectid > VX_ORPHAN_OBJECTID)) {
			problem(fix_item_del(k), "fs tree: item %s has an invalid object id",
				vk_key_str(k, ks));
			S.cur_valid = false;
			return;
		}
	}
	if (k->objectid == VX_ORPHAN_OBJECTID) {
		item_orphan(k, size);
		return;
	}
	if (k->type == VX_ITEM_INODE) {
		if (S.cur) {
			/* cannot happen with ordered keys, but be safe */
			problem(NULL, "inode %llu: second inode item", (unsigned long long)k->objectid);
			return;
		}
		item_inode(k, data, size);
		return;
	}
	if (!S.cur) {
		problem(fix_item_del(k), "%s: item %s belongs to an inode that does not exist",
			obj_str(k->objectid, os), vk_key_str(k, ks));
		return;
	}
	switch (k->type) {
	case VX_ITEM_XATTR:
		item_xattr(k, data, size);
		break;
	case VX_ITEM_DIRENT:
		item_dirent(k, data, size);
		break;
	case VX_ITEM_DIRINDEX:
		item_dirindex(k, data, size);
		break;
	case VX_ITEM_EXTENT:
		item_extent(k, data, size);
		break;
	case VX_ITEM_INODE_REF:
		item_inode_ref(k, data, size);
		break;
	case VX_ITEM_EMBED:
		vk_vec_embed(VEC, k, data, size, S.cur->ftype == VX_FT_REG);
		break;
	default:
		problem(fix_item_del(k), "inode %llu: item %s has an unknown type",
			(unsigned long long)k->objectid, vk_key_str(k, ks));
	}
}

static void fs_node(void *ctx, const struct vk_ptr *p, const u8 *blk, bool ok)
{
	const struct vx_item *it = vk_items(blk);
	u32 n, i;

	S.nodes[VX_TREE_FS]++;
	if (vk_hdr(blk)->level > S.max_level[VX_TREE_FS])
		S.max_level[VX_TREE_FS] = vk_hdr(blk)->level;
	if (!ok || vk_hdr(blk)->level)
		return;
	n = vk_nritems(blk);
	for (i = 0; i < n; i++) {
		struct vx_ckey k;

		vk_key_from_disk(&k, &it[i].key);
		/* pool offsets must be turned into pointers before finish_object */
		fs_item(&k, blk + le32_to_cpu(it[i].offset), le32_to_cpu(it[i].size));
	}
}

static void prescan_node(void *ctx, const struct vk_ptr *p, const u8 *blk, bool ok)
{
	const struct vx_item *it = vk_items(blk);
	u32 n, i;

	if (!ok || vk_hdr(blk)->level)
		return;
	n = vk_nritems(blk);
	for (i = 0; i < n; i++) {
		struct vx_ckey k;

		vk_key_from_disk(&k, &it[i].key);
		if (k.objectid != VX_ORPHAN_OBJECTID || k.type != VX_ITEM_ORPHAN)
			continue;
		if (S.npre_orphans && S.pre_orphans[S.npre_orphans - 1] >= k.offset)
			continue;	/* keep it sorted; the main walk reports disorder */
		S.pre_orphans = grow(S.pre_orphans, &S.cappre_orphans, S.npre_orphans + 1,
				     sizeof(*S.pre_orphans));
		S.pre_orphans[S.npre_orphans++] = k.offset;
	}
}

/* ---------------------------------------------------------------- passes */

static int ref_cmp_dir(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return 0;
}

static int ext_cmp_disk(const void *a, const void *b)
{
	const struct extent_rec *x = a, *y = b;

	if (x->disk != y->disk)
		return x->disk < y->disk ? -1 : 1;
	return 0;
}

static void check_names(void)
{
	char nm[4 * VX_NAME_MAX + 8];
	size_t i;

	/* does the directory named by each directory's parent field name it? */
	for (i = 0; i < S.nrefs; i++) {
		struct ino_rec *t = find_inode(S.refs[i].ino);

		if (t && !t->bad && t->ftype == VX_FT_DIR && S.refs[i].dir == t->parent)
			t->parent_named = true;
	}
	for (i = 0; i < S.nrefs; i++) {
		struct ref *r = &S.refs[i];
		struct ino_rec *t = find_inode(r->ino);
		struct ino_rec *d = find_inode(r->dir);

		vk_name_str(r->name, r->name_len, nm, sizeof(nm));
		if (!t) {
			struct fix *f;

			if (r->refile_fix >= 0) {
				/* the entry is being re-filed anyway: just take it out */
				f = &fixes[r->refile_fix];
				f->drop = true;
			} else {
				f = fix_name(F_NAME_REMOVE, r->dir, r->name, r->name_len);
			}
			problem(f, "directory %llu: name \"%s\" refers to inode %llu, which does not exist",
				(unsigned long long)r->dir, nm, (unsigned long long)r->ino);
			continue;
		}
		if (t->bad)
			continue;
		if (r->ino == VX_ROOT_INO) {
			struct fix *f;

			if (r->refile_fix >= 0) {
				f = &fixes[r->refile_fix];
				f->drop = true;
			} else {
				f = fix_name(F_NAME_REMOVE, r->dir, r->name, r->name_len);
			}
			problem(f,
				"directory %llu: name \"%s\" refers to the root directory",
				(unsigned long long)r->dir, nm);
			continue;
		}
		if (r->ftype != t->ftype) {
			struct fix *f;

			if (r->refile_fix >= 0) {
				f = &fixes[r->refile_fix];
				f->c = t->ftype;	/* re-filed with the right type */
			} else {
				f = fix_name(F_NAME_SETFT, r->dir, r->name, r->name_len);
				f->a = r->ino;
				f->b = t->ftype;
			}
			problem(f, "directory %llu: name \"%s\" says inode %llu is a %s, but it is a %s",
				(unsigned long long)r->dir, nm, (unsigned long long)r->ino,
				vk_ftype_name(r->ftype), vk_ftype_name(t->ftype));
		}
		if (t->ftype == VX_FT_DIR) {
			bool extra = t->parent_named ? (r->dir != t->parent || t->names) : t->names;

			if (extra) {
				struct fix *f;

				if (r->refile_fix >= 0) {
					f = &fixes[r->refile_fix];
					f->drop = true;
				} else {
					f = fix_name(F_NAME_REMOVE, r->dir, r->name, r->name_len);
				}
				/* keep the name its parent field confirms (else the first) */
				problem(f,
					"directory %llu has a second name \"%s\" in directory %llu",
					(unsigned long long)r->ino, nm, (unsigned long long)r->dir);
				continue;
			}
			if (d)
				d->subdirs++;
		}
		if (!t->names)
			t->first_namer = r->dir;
		t->names++;
	}
}

static bool *mark_of(struct ino_rec *t, bool rescue)
{
	return rescue ? &t->rescued : &t->reachable;
}

/* Mark everything reachable through names from the queued directories. */
static void mark_from(u64 *queue, size_t qt, bool rescue)
{
	size_t qh = 0, i;

	while (qh < qt) {
		u64 dir = queue[qh++];
		size_t lo = 0, hi = S.nrefs;

		/* first ref with r->dir >= dir */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (S.refs[mid].dir < dir)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (i = lo; i < S.nrefs && S.refs[i].dir == dir; i++) {
			struct ino_rec *t = find_inode(S.refs[i].ino);

			if (!t || t->reachable || *mark_of(t, rescue))
				continue;
			*mark_of(t, rescue) = true;
			if (t->ftype == VX_FT_DIR && !t->bad)
				queue[qt++] = t->ino;
		}
	}
}

static void check_reachability(void)
{
	struct ino_rec *root = find_inode(VX_ROOT_INO);
	u64 *queue;
	size_t i, qt = 0;

	if (!root) {
		problem(NULL, "the root directory (inode 1) does not exist");
		return;
	}
	queue = malloc((S.ninodes + 1) * sizeof(*queue));
	if (!queue) {
		fprintf(stderr, "fsck.vexfs: out of memory\n");
		exit(FSCK_ERROR);
	}
	if (S.nrefs)
		qsort(S.refs, S.nrefs, sizeof(*S.refs), ref_cmp_dir);
	root->reachable = true;
	queue[0] = VX_ROOT_INO;
	mark_from(queue, 1, false);
	/*
	 * Unreachable inodes that no name refers to get reconnected under
	 * /lost+found; what hangs below them comes back with them.  Whatever
	 * is left hangs in a cycle of directories.
	 */
	for (i = 0; i < S.ninodes; i++) {
		struct ino_rec *t = &S.inodes[i];

		if (!t->reachable && !t->names && !t->bad) {
			t->rescued = true;
			if (t->ftype == VX_FT_DIR)
				queue[qt++] = t->ino;
		}
	}
	mark_from(queue, qt, true);
	/* break each cycle at its lowest-numbered directory */
	for (i = 0; i < S.ninodes; i++) {
		struct ino_rec *t = &S.inodes[i];

		if (t->reachable || t->rescued || t->bad || t->ftype != VX_FT_DIR)
			continue;
		t->rescued = true;
		t->cycle = true;
		queue[0] = t->ino;
		mark_from(queue, 1, true);
	}
	free(queue);
}

static bool is_orphan(u64 ino)
{
	size_t lo = 0, hi = S.norphans;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (S.orphans[mid] == ino)
			return true;
		if (S.orphans[mid] < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static void check_inodes(void)
{
	size_t i;

	for (i = 0; i < S.norphans; i++) {
		u64 ino = S.orphans[i];
		struct ino_rec *t = find_inode(ino);

		if (!t || ino == VX_ROOT_INO) {
			problem(fix_ino(F_ORPHAN_DEL, true, ino, 0),
				"orphan list: inode %llu %s", (unsigned long long)ino,
				t ? "is the root directory" : "does not exist");
			continue;
		}
		t->orphan = true;
		if (t->bad)
			continue;
		if (t->names) {
			u32 want = t->ftype == VX_FT_DIR ? 2 + t->subdirs : t->names;

			if (t->nlink != want)
				problem(fix_ino(F_NLINK, true, ino, want),
					"inode %llu: link count %u, expected %u (it has %u name%s)",
					(unsigned long long)ino, t->nlink, want, t->names,
					t->names == 1 ? "" : "s");
			problem(fix_ino(F_ORPHAN_DEL, true, ino, 0),
				"inode %llu is on the orphan list but still has %u name%s",
				(unsigned long long)ino, t->names, t->names == 1 ? "" : "s");
			t->orphan = false;
			continue;
		}
		/*
		 * A valid orphan: unlinked while open, or a symlink / O_TMPFILE
		 * inode caught by a commit before its name was added (its item
		 * still says one link).  Either way the orphan list decides:
		 * the next mount reclaims it.
		 */
		if (opt.mode == M_YES || opt.mode == M_PREEN)
			add_fix(F_RECLAIM, true)->ino = ino;	/* reclaim quietly */
		else
			info("inode %llu is an orphan (unlinked while open); it is reclaimed at the next mount",
			     (unsigned long long)ino);
	}

	for (i = 0; i < S.ninodes; i++) {
		struct ino_rec *t = &S.inodes[i];
		u32 want;

		if (t->bad || t->orphan)
			continue;
		if (t->ino == VX_ROOT_INO) {
			if (t->ftype == VX_FT_DIR && t->nlink != 2 + t->subdirs)
				problem(fix_ino(F_NLINK, true, t->ino, 2 + t->subdirs),
					"inode 1 (root): link count %u, expected %u",
					t->nlink, 2 + t->subdirs);
			if (t->ftype == VX_FT_DIR && t->parent != VX_ROOT_INO)
				problem(fix_ino(F_PARENT, true, t->ino, VX_ROOT_INO),
					"inode 1 (root): parent is %llu, expected 1",
					(unsigned long long)t->parent);
			continue;
		}
		if (!t->reachable && t->cycle) {
			size_t j;

			/* drop its names inside the cycle, then reconnect it */
			for (j = 0; j < S.nrefs; j++)
				if (S.refs[j].ino == t->ino)
					fix_name(F_NAME_REMOVE, S.refs[j].dir, S.refs[j].name,
						 S.refs[j].name_len);
			problem(fix_ino(F_LOSTFOUND, false, t->ino, 0),
				"directory %llu is only reachable from a cycle of disconnected directories",
				(unsigned long long)t->ino);
			continue;
		}
		if (!t->reachable) {
			if (t->names)
				continue;	/* named from an unreachable directory: handled with it */
			if (t->ftype != VX_FT_DIR && t->size == 0 && t->blocks == 0 &&
			    t->ext_blocks == 0)
				problem(fix_ino(F_RECLAIM, false, t->ino, 0),
					"inode %llu (empty %s, link count %u) is not in any directory",
					(unsigned long long)t->ino, vk_ftype_name(t->ftype), t->nlink);
			else
				problem(fix_ino(F_LOSTFOUND, false, t->ino, 0),
					"inode %llu (%s, %llu bytes, link count %u) is not in any directory",
					(unsigned long long)t->ino, vk_ftype_name(t->ftype),
					(unsigned long long)t->size, t->nlink);
			continue;
		}
		if (t->ftype == VX_FT_DIR) {
			want = 2 + t->subdirs;
			if (!t->parent_named && t->names)
				problem(fix_ino(F_PARENT, true, t->ino, t->first_namer),
					"directory %llu: parent field is %llu, but it is named in directory %llu",
					(unsigned long long)t->ino, (unsigned long long)t->parent,
					(unsigned long long)t->first_namer);
		} else {
			want = t->names;
		}
		if (t->nlink != want)
			problem(fix_ino(F_NLINK, true, t->ino, want),
				"inode %llu: link count %u, expected %u (%s)",
				(unsigned long long)t->ino, t->nlink, want,
				t->ftype == VX_FT_DIR ? "2 + subdirectories" : "number of names");
	}
	/* inodes hanging only from a cycle of unreachable directories */
	for (i = 0; i < S.ninodes; i++) {
		struct ino_rec *t = &S.inodes[i];

		if (!t->bad && !t->reachable && !t->rescued && t->ino != VX_ROOT_INO &&
		    !is_orphan(t->ino))
			problem(NULL, "inode %llu is only reachable from a cycle of disconnected directories",
				(unsigned long long)t->ino);
	}
}

static void check_extents_space(void)
{
	u64 max_end = 0;
	size_t i, maxi = 0;

	if (S.nexts)
		qsort(S.exts, S.nexts, sizeof(*S.exts), ext_cmp_disk);
	for (i = 0; i < S.nexts; i++) {
		struct extent_rec *x = &S.exts[i];
		struct vx_ckey k = { .objectid = x->ino, .type = VX_ITEM_EXTENT, .offset = x->fblock };
		u64 b, meta = 0;

		if (i && x->disk < max_end) {
			struct extent_rec *o = &S.exts[maxi];

			problem(fix_item_del(&k),
				"inode %llu: extent at file block %llu (disk blocks %llu-%llu) overlaps the extent of inode %llu at file block %llu (disk blocks %llu-%llu)",
				(unsigned long long)x->ino, (unsigned long long)x->fblock,
				(unsigned long long)x->disk, (unsigned long long)(x->disk + x->len - 1),
				(unsigned long long)o->ino, (unsigned long long)o->fblock,
				(unsigned long long)o->disk, (unsigned long long)(o->disk + o->len - 1));
			x->deleted = true;
			continue;
		}
		for (b = x->disk; b < x->disk + x->len; b++)
			if (bm_test(S.meta_bm, b))
				meta++;
		if (meta) {
			problem(fix_item_del(&k),
				"inode %llu: extent at file block %llu (disk blocks %llu-%llu) overlaps %llu tree node block%s",
				(unsigned long long)x->ino, (unsigned long long)x->fblock,
				(unsigned long long)x->disk, (unsigned long long)(x->disk + x->len - 1),
				(unsigned long long)meta, meta == 1 ? "" : "s");
			x->deleted = true;
			continue;
		}
		if (x->disk + x->len > max_end) {
			max_end = x->disk + x->len;
			maxi = i;
		}
	}
}

static const char *range_str(u64 start, u64 end, char *buf)
{
	if (end - start == 1)
		snprintf(buf, 64, "block %llu", (unsigned long long)start);
	else
		snprintf(buf, 64, "blocks %llu-%llu", (unsigned long long)start,
			 (unsigned long long)(end - 1));
	return buf;
}

static void report_ranges(const u8 *expected, const u8 *disk)
{
	u64 b = 0, total = S.v.total_blocks;
	long shown = 0, more = 0;
	char rs[64];

	while (b < total) {
		struct fix *f;
		bool e, d;
		u64 start;

		/* skip agreeing 64-block words quickly */
		if (!(b & 63) && b + 64 <= total &&
		    !memcmp(expected + b / 8, disk + b / 8, 8)) {
			b += 64;
			continue;
		}
		e = bm_test(expected, b);
		d = bm_test(disk, b);
		if (e == d) {
			b++;
			continue;
		}
		start = b;
		/* ranges never straddle the end of the reserved area */
		while (b < total && bm_test(expected, b) == e && bm_test(disk, b) == d &&
		       (start >= S.v.first_block || b < S.v.first_block))
			b++;
		if (e && start < S.v.first_block) {
			/* the core's allocator never touches reserved blocks */
			problem(NULL, "free-space bitmap: reserved %s marked free",
				range_str(start, b, rs));
			continue;
		}
		f = add_fix(e ? F_MARK_USED : F_FREE, true);
		f->a = start;
		f->b = b - start;
		if (shown >= 50 && !opt.verbose) {
			more++;
			n_problems++;
			continue;
		}
		shown++;
		if (e)
			problem(f, "free-space bitmap: %s in use but marked free",
				range_str(start, b, rs));
		else
			problem(f, "free-space bitmap: %s marked in use but not used (leaked)",
				range_str(start, b, rs));
	}
	if (more)
		printf("%s: ERROR: ... and %ld more free-space bitmap ranges\n", opt.dev, more);
}

static u64 count_bits(const u8 *bm, u64 nbits)
{
	u64 n = 0, b;

	for (b = 0; b + 8 <= nbits; b += 8)
		n += (u64)__builtin_popcount(bm[b / 8]);
	for (; b < nbits; b++)
		n += bm_test(bm, b);
	return n;
}

static void check_space(void)
{
	u64 total = S.v.total_blocks, bytes = (S.v.ngroups * S.v.group_blocks + 7) / 8;
	u64 used, g, b, sb_free = le64_to_cpu(S.v.sb->free_blocks);
	bool groups_ok = true;
	u8 *exp;
	size_t i;

	for (g = 0; g < S.v.ngroups; g++)
		if (!S.have_group[g]) {
			problem(NULL, "free-space bitmap for group %llu (blocks %llu-%llu) is missing",
				(unsigned long long)g, (unsigned long long)(g * S.v.group_blocks),
				(unsigned long long)((g + 1) * S.v.group_blocks - 1));
			groups_ok = false;
		}
	exp = calloc(1, bytes);
	if (!exp) {
		fprintf(stderr, "fsck.vexfs: out of memory\n");
		exit(FSCK_ERROR);
	}
	for (b = 0; b < S.v.first_block && b < total; b++)
		bm_set(exp, b);
	for (b = 0; b < bytes; b++)
		exp[b] |= S.meta_bm[b];
	for (i = 0; i < S.nexts; i++) {
		struct extent_rec *x = &S.exts[i];

		if (x->deleted)
			continue;
		for (b = x->disk; b < x->disk + x->len; b++)
			bm_set(exp, b);
	}
	/* bits past the end of the volume are not blocks: ignore them */
	for (b = total; b < S.v.ngroups * S.v.group_blocks; b++) {
		exp[b >> 3] &= (u8)~(1U << (b & 7));
		S.disk_bm[b >> 3] &= (u8)~(1U << (b & 7));
	}
	used = count_bits(exp, total);
	if (groups_ok)
		report_ranges(exp, S.disk_bm);
	if (sb_free != total - used)
		problem(add_fix(F_COMMIT, true),
			"superblock free block count is %llu, should be %llu",
			(unsigned long long)sb_free, (unsigned long long)(total - used));
	verbose("%llu of %llu blocks in use (%llu tree nodes, %zu extents)",
		(unsigned long long)used, (unsigned long long)total,
		(unsigned long long)(S.nodes[1] + S.nodes[2]), S.nexts);
	free(exp);
}

static void check_counts(void)
{
	u64 sb_count = le64_to_cpu(S.v.sb->inode_count);

	if (sb_count != S.ninodes) {
		struct fix *f = add_fix(F_INODE_COUNT, true);

		f->a = S.ninodes;
		problem(f, "superblock inode count is %llu, but there are %zu inodes",
			(unsigned long long)sb_count, S.ninodes);
	}
}

/* Superblock slots: report problems; returns false if the volume is unusable. */
static bool check_supers(int *exit_code)
{
	struct vk_vol *v = &S.v;
	const struct vx_superblock *a;
	int i;

	if (v->active < 0) {
		bool magic = v->slot[0].has_magic || v->slot[1].has_magic;

		if (!magic) {
			fprintf(stderr, "fsck.vexfs: %s: not a VexFS volume (no superblock found)\n",
				opt.dev);
			*exit_code = FSCK_ERROR;
			return false;
		}
		for (i = 0; i < VX_SB_SLOTS; i++)
			problem(NULL, "superblock slot %d (byte %llu): %s", i,
				(unsigned long long)vk_sb_offsets[i],
				v->slot[i].msg ? v->slot[i].msg : "unusable");
		printf("%s: no usable superblock: cannot check or repair this volume\n", opt.dev);
		*exit_code = FSCK_UNCORRECTED;
		return false;
	}
	a = &v->slot[v->active].sb;
	verbose("using superblock slot %d (generation %llu)", v->active,
		(unsigned long long)v->generation);
	for (i = 0; i < VX_SB_SLOTS; i++) {
		const struct vk_slot *s = &v->slot[i];

		if (i == v->active)
			continue;
		if (!s->usable) {
			u64 g = le64_to_cpu(s->sb.generation);
			char lost[96] = "";

			if (s->has_magic && g > v->generation && g < v->generation + 16)
				snprintf(lost, sizeof(lost),
					 "; the last commit (generation %llu) is lost",
					 (unsigned long long)g);
			problem(add_fix(F_COMMIT, true),
				"superblock slot %d (byte %llu) is unusable: %s; using slot %d (generation %llu)%s",
				i, (unsigned long long)vk_sb_offsets[i],
				s->msg ? s->msg : "unknown reason", v->active,
				(unsigned long long)v->generation, lost);
			continue;
		}
		if (le64_to_cpu(s->sb.generation) == v->generation)
			problem(add_fix(F_COMMIT, true),
				"superblock slots %d and %d both claim generation %llu",
				i, v->active, (unsigned long long)v->generation);
		if (memcmp(s->sb.uuid, a->uuid, VX_UUID_LEN) ||
		    s->sb.block_size != a->block_size || s->sb.total_blocks != a->total_blocks)
			problem(add_fix(F_COMMIT, true),
				"superblock slot %d describes another volume (uuid, block size or size differ from slot %d)",
				i, v->active);
	}
	if (v->slot[v->active].ret == 1) {
		printf("%s: the volume uses read-only-compatible features this fsck does not know: checking only\n",
		       opt.dev);
		if (opt.mode != M_NO)
			opt.mode = M_NO;
	}
	if (le32_to_cpu(a->state) & VX_SB_STATE_ERROR)
		info("the file system recorded an error (state 0x%x): checking it fully",
		     le32_to_cpu(a->state));
	if (le32_to_cpu(a->state) & ~VX_SB_STATE_ERROR)
		problem(NULL, "superblock has unknown state bits 0x%x", le32_to_cpu(a->state));
	if (a->label[VX_LABEL_LEN - 1])
		problem(NULL, "superblock label is not NUL terminated");
	if (le64_to_cpu(a->next_ino) < VX_FIRST_INO || le64_to_cpu(a->next_ino) > VX_ORPHAN_OBJECTID)
		problem(NULL, "superblock next inode number %llu is out of range",
			(unsigned long long)le64_to_cpu(a->next_ino));
	return true;
}

/*
 * One complete check of the volume.  Fills fixes[] and the problem counters.
 * Returns false on an operational error (exit code set).
 */
static bool run_check(int *exit_code)
{
	struct vk_walk w;
	u64 bytes;
	int err;

	n_problems = n_unfixable = n_unsafe = n_struct = n_info = 0;
	clear_fixes();
	reset_state();
	err = vk_open(&S.v, opt.dev, 0);
	if (err) {
		fprintf(stderr, "fsck.vexfs: cannot open %s: %s\n", opt.dev, strerror(-err));
		*exit_code = FSCK_ERROR;
		return false;
	}
	if (!check_supers(exit_code))
		return false;

	bytes = (S.v.ngroups * S.v.group_blocks + 7) / 8;
	S.meta_bm = calloc(1, bytes);
	S.disk_bm = calloc(1, bytes);
	S.have_group = calloc(1, S.v.ngroups);
	if (!S.meta_bm || !S.disk_bm || !S.have_group) {
		fprintf(stderr, "fsck.vexfs: out of memory for %llu blocks\n",
			(unsigned long long)S.v.total_blocks);
		*exit_code = FSCK_ERROR;
		return false;
	}

	memset(&w, 0, sizeof(w));
	w.v = &S.v;
	w.problem = node_problem;
	w.claim = claim;

	/* the orphan list first: the rightmost part of the fs tree, read quietly */
	w.tree = VX_TREE_FS;
	w.node = prescan_node;
	w.problem = NULL;
	w.claim = NULL;
	w.has_from = true;
	w.from.objectid = VX_ORPHAN_OBJECTID;
	w.from.type = 0;
	w.from.offset = 0;
	vk_walk_tree(&w, &S.v.sb->fs_root, S.v.sb->fs_root_level);
	w.has_from = false;
	w.problem = node_problem;
	w.claim = claim;

	verbose("pass 1: tree structure");
	vec_start();
	w.tree = VX_TREE_ALLOC;
	w.node = alloc_node;
	vk_walk_tree(&w, &S.v.sb->alloc_root, S.v.sb->alloc_root_level);
	w.tree = VX_TREE_FS;
	w.node = fs_node;
	vk_walk_tree(&w, &S.v.sb->fs_root, S.v.sb->fs_root_level);
	finish_object();

	if (n_struct) {
		printf("%s: %ld problem%s in tree nodes: parts of the trees were not checked; "
		       "fsck.vexfs cannot repair damaged tree nodes\n",
		       opt.dev, n_struct, n_struct == 1 ? "" : "s");
	}
	if (n_struct) {
		/* with items missing, cross-checks would only list consequences */
		printf("%s: directory, link count, extent overlap and free-space checks skipped "
		       "because trees are damaged\n", opt.dev);
		return true;
	}
	verbose("pass 2: directories and link counts");
	check_names();
	check_back_refs();
	check_reachability();
	check_inodes();
	verbose("pass 3: extents and free space");
	check_vectors();
	check_auto();
	check_extents_space();
	check_space();
	check_counts();
	return true;
}

/* ---------------------------------------------------------------- repair */

static int do_lostfound(struct vx_fs *fs, u64 ino)
{
	static const char lf_name[] = "lost+found";
	struct vx_inode_data root, lf, child;
	char name[40];
	u64 lfino;
	u8 ft;
	int err;

	err = vx_inode_read(fs, ino, &child);
	if (err)
		return err;
	err = vx_dir_lookup(fs, VX_ROOT_INO, lf_name, sizeof(lf_name) - 1, &lfino, &ft);
	if (err == -ENOENT) {
		u64 now = vx_now_ns();

		err = vx_inode_read(fs, VX_ROOT_INO, &root);
		if (err)
			return err;
		memset(&lf, 0, sizeof(lf));
		lf.mode = 0040700;
		lf.nlink = 2;
		lf.atime_sec = lf.mtime_sec = lf.ctime_sec = lf.crtime_sec = now / 1000000000ULL;
		lf.atime_nsec = lf.mtime_nsec = lf.ctime_nsec = lf.crtime_nsec = now % 1000000000ULL;
		lf.next_dir_index = 2;
		lf.parent = VX_ROOT_INO;
		err = vx_inode_create(fs, &lf);
		if (!err)
			err = vx_dir_add(fs, &root, lf_name, sizeof(lf_name) - 1, lf.ino, VX_FT_DIR);
		if (err)
			return err;
		root.nlink++;
		err = vx_inode_write(fs, &root);
		if (err)
			return err;
		lfino = lf.ino;
		printf("%s: created /lost+found (inode %llu)\n", opt.dev, (unsigned long long)lfino);
	} else if (err) {
		return err;
	} else if (ft != VX_FT_DIR) {
		printf("%s: /lost+found is not a directory\n", opt.dev);
		return -ENOTDIR;
	}
	err = vx_inode_read(fs, lfino, &lf);
	if (err)
		return err;
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)ino);
	err = vx_dir_add(fs, &lf, name, strlen(name), ino, vx_mode_to_ftype(child.mode));
	if (err)
		return err;
	if (vx_mode_to_ftype(child.mode) == VX_FT_DIR) {
		lf.nlink++;
		child.parent = lfino;
	} else {
		child.nlink = 1;
	}
	err = vx_inode_write(fs, &lf);
	if (!err)
		err = vx_inode_write(fs, &child);
	if (!err)
		printf("%s: inode %llu reconnected as /lost+found/%s\n", opt.dev,
		       (unsigned long long)ino, name);
	return err;
}

/*
 * Take a name out of the DIRENT item it is misfiled in (wrong hash,
 * invalid or duplicate name) with its index entry, and add it again through
 * vx_dir_add (as "#INO" if the name itself is unusable or taken).
 */
static int do_refile(struct vx_fs *fs, const struct fix *f)
{
	u32 bs = vx_fs_block_size(fs), size, off = 0, at = 0, len = 0;
	struct vx_ckey k = { .objectid = f->ino, .type = VX_ITEM_DIRENT, .offset = f->a };
	struct vx_ckey ik = { .objectid = f->ino, .type = VX_ITEM_DIRINDEX, .offset = f->key.offset };
	struct vx_inode_data dir;
	struct vk_dirent d;
	char name[VX_NAME_MAX + 1], nm[4 * VX_NAME_MAX + 8], nm2[4 * VX_NAME_MAX + 8];
	bool found = false;
	u8 *buf = malloc(bs);
	int err, i;

	if (!buf)
		return -ENOMEM;
	err = vx_item_lookup(fs, VX_TREE_FS, &k, buf, bs, &size);
	if (!err && size > bs)
		err = -EUCLEAN;
	while (!err && vk_dirent_next(buf, size, &off, &d) == 1) {
		if (d.name_len == f->name_len && !memcmp(d.name, f->name, f->name_len) &&
		    d.index == f->key.offset && d.ino == f->b) {
			len = sizeof(struct vx_dirent_hdr) + d.name_len;
			at = off - len;
			found = true;
			break;
		}
	}
	if (!err && !found)
		err = -ENOENT;
	if (!err) {
		memmove(buf + at, buf + at + len, size - at - len);
		size -= len;
		err = size ? vx_item_update(fs, VX_TREE_FS, &k, buf, size) :
			     vx_item_delete(fs, VX_TREE_FS, &k);
	}
	if (!err) {
		/* the index entry of the same position, if it is this name's */
		err = vx_item_lookup(fs, VX_TREE_FS, &ik, buf, bs, &size);
		off = 0;
		if (!err && size <= bs && vk_dirent_next(buf, size, &off, &d) == 1 && d.ino == f->b)
			err = vx_item_delete(fs, VX_TREE_FS, &ik);
		else if (err == -ENOENT || !err)
			err = 0;
	}
	free(buf);
	if (err)
		return err;
	if (f->drop) {
		printf("%s: directory %llu: entry \"%s\" removed\n", opt.dev,
		       (unsigned long long)f->ino, vk_name_str(f->name, f->name_len, nm, sizeof(nm)));
		return 0;
	}
	err = vx_inode_read(fs, f->ino, &dir);
	if (err)
		return err;
	if (!bad_name(f->name, f->name_len)) {
		memcpy(name, f->name, f->name_len);
		name[f->name_len] = 0;
		err = vx_dir_add(fs, &dir, name, f->name_len, f->b, (u8)f->c);
	} else {
		err = -EEXIST;
	}
	for (i = 0; err == -EEXIST && i < 100; i++) {
		if (i)
			snprintf(name, sizeof(name), "#%llu.%d", (unsigned long long)f->b, i);
		else
			snprintf(name, sizeof(name), "#%llu", (unsigned long long)f->b);
		err = vx_dir_add(fs, &dir, name, strlen(name), f->b, (u8)f->c);
	}
	if (!err)
		err = vx_inode_write(fs, &dir);
	if (!err)
		printf("%s: directory %llu: entry \"%s\" re-filed as \"%s\"\n", opt.dev,
		       (unsigned long long)f->ino, vk_name_str(f->name, f->name_len, nm, sizeof(nm)),
		       vk_name_str(name, strlen(name), nm2, sizeof(nm2)));
	return err;
}

static int set_inode_field(struct vx_fs *fs, const struct fix *f)
{
	struct vx_inode_data d;
	int err = vx_inode_read(fs, f->ino, &d);

	if (err)
		return err;
	switch (f->kind) {
	case F_NLINK: d.nlink = (u32)f->a; break;
	case F_PARENT: d.parent = f->a; break;
	case F_IBLOCKS: d.blocks = f->a; break;
	case F_NEXTINDEX: d.next_dir_index = f->a; break;
	case F_AUTO_SPACE: d.auto_space = VX_AUTO_INHERIT; break;
	default: return -EINVAL;
	}
	return vx_inode_write(fs, &d);
}

/*
 * Correct the in-memory inode count using only the public API: a placeholder
 * inode created and its item dropped counts one up; an inode item inserted
 * directly and then removed counts one down.  Each step is verified with
 * vx_fs_inode_count(), and neither leaves anything on disk.
 */
static int fix_inode_count(struct vx_fs *fs, u64 want)
{
	struct vx_ckey k = { .type = VX_ITEM_INODE, .offset = 0 };
	struct vx_inode_data d;
	u64 guard = 0;

	while (vx_fs_inode_count(fs) != want && guard++ < (1ULL << 24)) {
		u64 before = vx_fs_inode_count(fs);
		int err;

		memset(&d, 0, sizeof(d));
		d.mode = 0100000;
		if (before < want) {
			err = vx_inode_create(fs, &d);
			if (err)
				return err;
			k.objectid = d.ino;
			err = vx_item_delete(fs, VX_TREE_FS, &k);
		} else {
			struct vx_inode_item raw;

			/* a number create never reaches, and certainly unused */
			k.objectid = VX_ORPHAN_OBJECTID - 1;
			err = vx_item_lookup(fs, VX_TREE_FS, &k, NULL, 0, NULL);
			if (err != -ENOENT)
				return err ? err : -EEXIST;
			memset(&raw, 0, sizeof(raw));
			raw.mode = cpu_to_le32(0100000);
			err = vx_item_insert(fs, VX_TREE_FS, &k, &raw, sizeof(raw));
			if (!err)
				err = vx_inode_remove(fs, k.objectid);
		}
		if (err)
			return err;
		if (vx_fs_inode_count(fs) == before)
			return -EOPNOTSUPP;	/* the core did not move: give up */
	}
	return vx_fs_inode_count(fs) == want ? 0 : -EOPNOTSUPP;
}

static int apply_fix(struct vx_fs *fs, const struct fix *f)
{
	struct vx_ckey k;
	int err = 0;

	switch (f->kind) {
	case F_COMMIT:
	case F_INODE_COUNT:
	case F_MARK_USED:
	case F_FREE:
		return 0;	/* handled separately */
	/*
	 * Fixes may overlap (an inode reclaimed, then its link count set): what
	 * is already gone is fine, and the check after the commit has the last
	 * word.
	 */
	case F_NLINK:
	case F_PARENT:
	case F_IBLOCKS:
	case F_NEXTINDEX:
	case F_AUTO_SPACE:
		err = set_inode_field(fs, f);
		return err == -ENOENT ? 0 : err;
	case F_ORPHAN_DEL:
		err = vx_orphan_del(fs, f->ino);
		return err == -ENOENT ? 0 : err;
	case F_RECLAIM:
		err = vx_inode_remove(fs, f->ino);
		if (!err)
			printf("%s: inode %llu%s reclaimed\n", opt.dev, (unsigned long long)f->ino,
			       f->preen_safe ? " (orphan)" : "");
		return err == -ENOENT ? 0 : err;
	case F_NAME_REMOVE:
		err = vx_dir_remove(fs, f->ino, f->name, f->name_len);
		return err == -ENOENT ? 0 : err;
	case F_NAME_SETFT:
		err = vx_dir_set(fs, f->ino, f->name, f->name_len, f->a, (u8)f->b);
		return err == -ENOENT ? 0 : err;
	case F_DIRINDEX_DEL:
		k.objectid = f->ino;
		k.type = VX_ITEM_DIRINDEX;
		k.offset = f->a;
		err = vx_item_delete(fs, VX_TREE_FS, &k);
		return err == -ENOENT ? 0 : err;
	case F_DIRINDEX_SET: {
		u8 buf[sizeof(struct vx_dirent_hdr) + VX_NAME_MAX];
		struct vx_dirent_hdr h;

		memset(&h, 0, sizeof(h));
		h.ino = cpu_to_le64(f->b);
		h.index = cpu_to_le64(f->a);
		h.name_len = cpu_to_le16(f->name_len);
		h.ftype = (u8)f->c;
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), f->name, f->name_len);
		k.objectid = f->ino;
		k.type = VX_ITEM_DIRINDEX;
		k.offset = f->a;
		err = vx_item_update(fs, VX_TREE_FS, &k, buf, sizeof(h) + f->name_len);
		if (err == -ENOENT)
			err = vx_item_insert(fs, VX_TREE_FS, &k, buf, sizeof(h) + f->name_len);
		return err;
	}
	case F_ITEM_DEL:
		err = vx_item_delete(fs, VX_TREE_FS, &f->key);
		return err == -ENOENT ? 0 : err;
	case F_LOSTFOUND:
		return do_lostfound(fs, f->ino);
	case F_REFILE:
		return do_refile(fs, f);
	case F_REF_ADD:
		err = vx_inode_ref_add(fs, f->ino, f->a, f->name, f->name_len);
		return err == -EEXIST ? 0 : err;
	case F_REF_DEL:
		err = vx_inode_ref_del(fs, f->ino, f->a, f->name, f->name_len);
		return err == -ENOENT ? 0 : err;
	case F_STALE_RESET: {
		struct vx_stale_item it;

		memset(&it, 0, sizeof(it));
		err = vx_item_update(fs, VX_TREE_FS, &f->key, &it, sizeof(it));
		return err == -ENOENT ? 0 : err;
	}
	}
	return -EINVAL;
}

static const char *fix_name_str(enum fix_kind k)
{
	static const char *const n[] = {
		[F_COMMIT] = "rewrite superblocks", [F_MARK_USED] = "mark blocks in use",
		[F_FREE] = "free leaked blocks", [F_NLINK] = "set link count",
		[F_PARENT] = "set parent", [F_IBLOCKS] = "set block count",
		[F_NEXTINDEX] = "set next index", [F_ORPHAN_DEL] = "remove orphan record",
		[F_RECLAIM] = "reclaim inode", [F_INODE_COUNT] = "set inode count",
		[F_NAME_REMOVE] = "remove name", [F_NAME_SETFT] = "set file type of name",
		[F_DIRINDEX_DEL] = "remove index entry", [F_DIRINDEX_SET] = "rewrite index entry",
		[F_ITEM_DEL] = "delete item", [F_LOSTFOUND] = "reconnect to lost+found",
		[F_REFILE] = "re-file directory entry",
		[F_REF_ADD] = "add back reference", [F_REF_DEL] = "remove back reference",
		[F_AUTO_SPACE] = "clear embedding policy",
		[F_STALE_RESET] = "rewrite stale item",
	};

	return n[k];
}

/* Returns 0 if every fix was applied and committed. */
static int repair(void)
{
	struct vx_devfile *dev;
	struct vx_fs *fs;
	size_t i;
	int err, failed = 0;
	bool have_count = false;
	u64 want_count = 0;

	err = vx_devfile_open(opt.dev, 1, &dev);
	if (err) {
		fprintf(stderr, "fsck.vexfs: cannot open %s for writing: %s\n", opt.dev,
			strerror(-err));
		return err;
	}
	vx_user_quiet = !opt.verbose;
	err = vx_fs_open(&fs, &vx_devfile_ops, dev, vx_devfile_size(dev), VX_OPEN_NOVERIFY);
	vx_user_quiet = 0;
	if (err) {
		fprintf(stderr, "fsck.vexfs: %s: the core cannot open the volume for repair: %s\n",
			opt.dev, strerror(-err));
		vx_devfile_close(dev);
		return err;
	}
	if (vx_fs_generation(fs) != S.v.generation + 1) {
		fprintf(stderr, "fsck.vexfs: %s: the core chose another superblock than the checker\n",
			opt.dev);
		vx_fs_close(fs);
		vx_devfile_close(dev);
		return -EUCLEAN;
	}

	/* 1. blocks in use but marked free: take them before anything allocates */
	for (i = 0; i < nfixes && !failed; i++) {
		const struct fix *f = &fixes[i];
		u64 b = f->a, left = f->b;

		if (f->kind != F_MARK_USED)
			continue;
		while (left) {
			u64 start, got;

			err = vx_alloc_blocks(fs, b, left, false, &start, &got);
			if (!err && start != b) {
				vx_free_blocks(fs, start, got);
				err = -EUCLEAN;
			}
			if (err) {
				printf("%s: cannot mark block %llu in use: %s\n", opt.dev,
				       (unsigned long long)b, strerror(-err));
				failed = err;
				break;
			}
			b += got;
			left -= got;
		}
	}
	/* 2. leaked blocks */
	for (i = 0; i < nfixes && !failed; i++) {
		const struct fix *f = &fixes[i];

		if (f->kind != F_FREE)
			continue;
		err = vx_free_blocks(fs, f->a, f->b);
		if (err) {
			printf("%s: cannot free blocks %llu+%llu: %s\n", opt.dev,
			       (unsigned long long)f->a, (unsigned long long)f->b, strerror(-err));
			failed = err;
		}
	}
	/* 3. everything else, in the order found */
	for (i = 0; i < nfixes && !failed; i++) {
		const struct fix *f = &fixes[i];

		if (f->kind == F_INODE_COUNT) {
			have_count = true;
			want_count = f->a;
			continue;
		}
		err = apply_fix(fs, f);
		if (err) {
			printf("%s: repair failed (%s, inode %llu): %s\n", opt.dev,
			       fix_name_str(f->kind), (unsigned long long)f->ino, strerror(-err));
			failed = err;
		}
	}
	/*
	 * 4. the inode count, unless repairs above added or removed inodes:
	 * then the next pass measures it again.
	 */
	for (i = 0; i < nfixes && have_count; i++)
		if (fixes[i].kind == F_RECLAIM || fixes[i].kind == F_LOSTFOUND ||
		    (fixes[i].kind == F_ITEM_DEL && fixes[i].key.type == VX_ITEM_INODE))
			have_count = false;
	if (!failed && have_count) {
		err = fix_inode_count(fs, want_count);
		if (err) {
			printf("%s: cannot correct the inode count: %s\n", opt.dev, strerror(-err));
			failed = err;
		}
	}
	/* 5. make sure something is committed, so both superblocks are rewritten */
	if (!failed && !vx_fs_dirty(fs)) {
		struct vx_inode_data root;

		err = vx_inode_read(fs, VX_ROOT_INO, &root);
		if (!err)
			err = vx_inode_write(fs, &root);
		if (err)
			failed = err;
	}
	if (!failed) {
		err = vx_fs_commit(fs);
		if (err) {
			printf("%s: commit of the repairs failed: %s\n", opt.dev, strerror(-err));
			failed = err;
		}
	} else {
		printf("%s: repairs abandoned; the volume is unchanged\n", opt.dev);
	}
	vx_fs_close(fs);
	vx_devfile_close(dev);
	return failed;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: fsck.vexfs [-n | -y | -p | -a] [-f] [-v] DEVICE\n"
		"Check a VexFS volume and optionally repair it.\n\n"
		"  -n        check only; open the device read-only and never write\n"
		"  -y        repair every problem that can be repaired\n"
		"  -p, -a    repair only what is safe without a human (boot-time use)\n"
		"  -f        check even if the volume seems clean (always done)\n"
		"  -v        verbose: show every message and the passes\n"
		"  -V        print the version and exit\n"
		"  -h        this help\n\n"
		"Exit status (a sum): 0 clean, 1 errors corrected, 4 errors left uncorrected,\n"
		"8 operational error, 16 usage error.\n");
}

static bool device_busy(const char *path)
{
	struct stat st;
	int fd;

	if (stat(path, &st) || !S_ISBLK(st.st_mode))
		return false;
	fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0)
		return errno == EBUSY;
	close(fd);
	return false;
}

static bool ask(const char *q)
{
	char line[32];

	printf("%s [y/N] ", q);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c, exit_code = FSCK_OK, round;
	bool repaired = false;

	setvbuf(stdout, NULL, _IOLBF, 0);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "nypafvVhC:rcdt:", lopts, NULL)) != -1) {
		switch (c) {
		case 'n': opt.mode = M_NO; break;
		case 'y': opt.mode = M_YES; break;
		case 'p':
		case 'a': opt.mode = M_PREEN; break;
		case 'f': opt.force = true; break;
		case 'v': opt.verbose = true; break;
		case 'V':
			printf("fsck.vexfs %s (VexFS on-disk format %d)\n", VERSION, VX_FORMAT_VERSION);
			return FSCK_OK;
		case 'h':
			usage(stdout);
			return FSCK_OK;
		case 'C':	/* progress fd from fsck(8): not supported, ignored */
		case 'r':
		case 'c':
		case 'd':
		case 't':
			break;
		default:
			fprintf(stderr, "fsck.vexfs: unknown option -%c\n", optopt ? optopt : '?');
			usage(stderr);
			return FSCK_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return FSCK_USAGE;
	}
	opt.dev = argv[optind];
	if (opt.mode == M_ASK && !isatty(STDIN_FILENO))
		opt.mode = M_NO;	/* nobody to ask: check only */

	for (round = 0;; round++) {
		if (!run_check(&exit_code)) {
			reset_state();
			clear_fixes();
			return repaired ? exit_code | FSCK_NONDESTRUCT : exit_code;
		}
		if (!nfixes || round == MAX_PASSES)
			break;
		if (!n_problems && opt.mode != M_YES && opt.mode != M_PREEN)
			break;		/* only quiet housekeeping (orphans) */
		if (n_struct || opt.mode == M_NO)
			break;
		if (opt.mode == M_PREEN && (n_unsafe || n_unfixable)) {
			printf("%s: UNEXPECTED INCONSISTENCY; RUN fsck.vexfs MANUALLY (without -a or -p).\n",
			       opt.dev);
			break;
		}
		if (opt.mode == M_ASK) {
			char q[128];

			snprintf(q, sizeof(q), "%s: repair %ld problem%s?", opt.dev, n_problems,
				 n_problems == 1 ? "" : "s");
			if (!ask(q))
				break;
			opt.mode = M_YES;
		}
		if (device_busy(opt.dev)) {
			fprintf(stderr, "fsck.vexfs: %s is in use (mounted?): not repairing\n", opt.dev);
			reset_state();
			clear_fixes();
			return repaired ? FSCK_ERROR | FSCK_NONDESTRUCT : FSCK_ERROR;
		}
		printf("%s: repairing (pass %d)\n", opt.dev, round + 1);
		if (repair()) {
			/* nothing of this pass was committed: report the state as it is */
			run_check(&exit_code);
			break;
		}
		repaired = true;
	}

	exit_code = FSCK_OK;
	if (repaired) {
		printf("%s: ***** FILE SYSTEM WAS MODIFIED *****\n", opt.dev);
		exit_code |= FSCK_NONDESTRUCT;
	}
	if (n_problems) {
		printf("%s: %ld error%s left uncorrected%s\n", opt.dev, n_problems,
		       n_problems == 1 ? "" : "s",
		       opt.mode == M_NO && !n_struct ? " (run fsck.vexfs -y to repair)" : "");
		exit_code |= FSCK_UNCORRECTED;
	}
	if (S.v.sb) {
		u64 free_b = le64_to_cpu(S.v.sb->free_blocks), total = S.v.total_blocks;
		u64 used = total - (free_b > total ? total : free_b);
		char s1[32], s2[32];

		printf("%s: %s, %llu inodes, %llu/%llu blocks used (%s of %s), generation %llu\n",
		       opt.dev, n_problems ? "errors" : repaired ? "repaired" : "clean",
		       (unsigned long long)le64_to_cpu(S.v.sb->inode_count),
		       (unsigned long long)used, (unsigned long long)total,
		       vk_size_str(used * S.v.bs, s1), vk_size_str(total * S.v.bs, s2),
		       (unsigned long long)S.v.generation);
	}
	reset_state();
	clear_fixes();
	free(fixes);
	return exit_code;
}
