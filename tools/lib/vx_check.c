// SPDX-License-Identifier: GPL-2.0
/*
 * Independent reader of the VexFS on-disk format for fsck.vexfs and
 * vexfs-dump.  See vx_check.h.  Only vx_super_check(), vx_name_hash() and
 * vx_crc32c() are taken from the core: the B-tree code under test is not.
 */
#include <ctype.h>
#include "vx_check.h"

const u64 vk_sb_offsets[VX_SB_SLOTS] = { VX_SB_OFFSET_0, VX_SB_OFFSET_1 };

#define HDR_SIZE	((u32)sizeof(struct vx_node_header))
#define ITEM_SIZE	((u32)sizeof(struct vx_item))
#define ENTRY_SIZE	((u32)sizeof(struct vx_node_entry))

u32 vk_csum(const void *p, u32 len)
{
	return vx_crc32c(~0U, p, len);
}

u32 vk_node_csum(const u8 *blk, u32 bs)
{
	return vk_csum(blk + 4, bs - 4);
}

u32 vk_sb_csum(const struct vx_superblock *sb)
{
	return vk_csum((const u8 *)sb + 4, VX_SB_SIZE - 4);
}

static bool sane_block_size(u32 bs)
{
	return bs >= VX_MIN_BLOCK_SIZE && bs <= VX_MAX_BLOCK_SIZE && !(bs & (bs - 1));
}

int vk_use_slot(struct vk_vol *v, int i)
{
	const struct vx_superblock *sb;
	u32 bs;
	u64 total;

	if (i < 0 || i >= VX_SB_SLOTS)
		return -EINVAL;
	sb = &v->slot[i].sb;
	bs = le32_to_cpu(sb->block_size);
	total = le64_to_cpu(sb->total_blocks);
	if (!sane_block_size(bs) || total == 0 || total > (1ULL << 48) ||
	    (v->dev_bytes && total > v->dev_bytes / bs))
		return -EINVAL;
	v->sb = sb;
	v->bs = bs;
	v->total_blocks = total;
	v->first_block = VK_FIRST_BLOCK(bs);
	v->generation = le64_to_cpu(sb->generation);
	v->group_blocks = bs / 4 * 8;
	v->ngroups = (total + v->group_blocks - 1) / v->group_blocks;
	vx_devfile_set_block_size(v->dev, bs);
	return 0;
}

int vk_open(struct vk_vol *v, const char *path, int writable)
{
	int i, err;

	memset(v, 0, sizeof(*v));
	v->active = -1;
	v->path = path;
	err = vx_devfile_open(path, writable, &v->dev);
	if (err)
		return err;
	v->dev_bytes = vx_devfile_size(v->dev);
	for (i = 0; i < VX_SB_SLOTS; i++) {
		struct vk_slot *s = &v->slot[i];

		memset(&s->sb, 0, sizeof(s->sb));
		if (vk_sb_offsets[i] + VX_SB_SIZE > v->dev_bytes) {
			s->read_err = -EIO;
			s->ret = -EIO;
			s->msg = "device too small to hold this superblock slot";
			continue;
		}
		s->read_err = vx_devfile_ops.read_super(v->dev, vk_sb_offsets[i],
							 &s->sb, sizeof(s->sb));
		if (s->read_err) {
			s->ret = s->read_err;
			s->msg = "read error";
			continue;
		}
		s->has_magic = !memcmp(s->sb.magic, VX_MAGIC, VX_MAGIC_LEN);
		s->ret = vx_super_check(&s->sb, v->dev_bytes, &s->msg);
		s->usable = s->ret == 0 || s->ret == 1;
		if (s->usable && (le64_to_cpu(s->sb.slot) != (u64)i)) {
			s->usable = false;
			s->ret = -EUCLEAN;
			s->msg = "superblock records another slot number (misplaced copy)";
		}
		if (s->usable && v->active >= 0 &&
		    le64_to_cpu(s->sb.generation) == le64_to_cpu(v->slot[v->active].sb.generation)) {
			/* two slots with one generation: keep the first, flag later */
		}
		if (s->usable && (v->active < 0 ||
				  le64_to_cpu(s->sb.generation) >
				  le64_to_cpu(v->slot[v->active].sb.generation)))
			v->active = i;
	}
	if (v->active >= 0 && vk_use_slot(v, v->active)) {
		/* vx_super_check accepted it, so this cannot happen; be safe */
		v->active = -1;
	}
	return 0;
}

void vk_close(struct vk_vol *v)
{
	if (v->dev)
		vx_devfile_close(v->dev);
	v->dev = NULL;
}

int vk_read_block(struct vk_vol *v, u64 blocknr, void *buf)
{
	if (!v->bs || blocknr >= v->dev_bytes / v->bs)
		return -EIO;
	return vx_devfile_ops.read_block(v->dev, blocknr, buf);
}

/* ---------------------------------------------------------------- names */

const char *vk_item_type_name(u8 type)
{
	switch (type) {
	case VX_ITEM_INODE: return "INODE";
	case VX_ITEM_XATTR: return "XATTR";
	case VX_ITEM_DIRENT: return "DIRENT";
	case VX_ITEM_DIRINDEX: return "DIRINDEX";
	case VX_ITEM_EXTENT: return "EXTENT";
	case VX_ITEM_ORPHAN: return "ORPHAN";
	case VX_ITEM_INODE_REF: return "INODE_REF";
	case VX_ITEM_ALLOC_BITMAP: return "ALLOC_BITMAP";
	case VX_ITEM_EMBED: return "EMBED";
	case VX_ITEM_SPACE: return "SPACE";
	case VX_ITEM_VBLOCK: return "VBLOCK";
	case VX_ITEM_VLINKS: return "VLINKS";
	case VX_ITEM_STALE: return "STALE";
	}
	return NULL;
}

const char *vk_tree_name(int tree)
{
	return tree == VX_TREE_FS ? "fs" : tree == VX_TREE_ALLOC ? "alloc" : "?";
}

const char *vk_ftype_name(u8 ftype)
{
	static const char *const names[] = {
		"unknown", "file", "dir", "chrdev", "blkdev", "fifo", "socket", "symlink"
	};

	return ftype < sizeof(names) / sizeof(names[0]) ? names[ftype] : "invalid";
}

const char *vk_xattr_prefix(u8 index)
{
	switch (index) {
	case VX_XATTR_INDEX_USER: return "user.";
	case VX_XATTR_INDEX_TRUSTED: return "trusted.";
	case VX_XATTR_INDEX_SECURITY: return "security.";
	case VX_XATTR_INDEX_POSIX_ACL_ACCESS: return "system.posix_acl_access";
	case VX_XATTR_INDEX_POSIX_ACL_DEFAULT: return "system.posix_acl_default";
	}
	return NULL;
}

void vk_key_from_disk(struct vx_ckey *c, const struct vx_key *d)
{
	c->objectid = le64_to_cpu(d->objectid);
	c->offset = le64_to_cpu(d->offset);
	c->type = d->type;
}

int vk_key_cmp(const struct vx_ckey *a, const struct vx_ckey *b)
{
	if (a->objectid != b->objectid)
		return a->objectid < b->objectid ? -1 : 1;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return 0;
}

char *vk_key_str(const struct vx_ckey *k, char *buf)
{
	char obj[32], type[16];
	const char *tn = vk_item_type_name(k->type);

	if (k->objectid == VX_ORPHAN_OBJECTID)
		snprintf(obj, sizeof(obj), "ORPHAN_OBJECTID");
	else if (k->objectid >= VX_SPACE_OBJID(1) &&
		 k->objectid <= VX_SPACE_OBJID(VX_SPACE_ID_MAX))
		snprintf(obj, sizeof(obj), "SPACE_%u",
			 (u32)(k->objectid - VX_SPACE_OBJID_BASE));
	else
		snprintf(obj, sizeof(obj), "%llu", (unsigned long long)k->objectid);
	if (!tn) {
		snprintf(type, sizeof(type), "TYPE_%u", k->type);
		tn = type;
	}
	if (k->type == VX_ITEM_EMBED)
		snprintf(buf, VK_KEY_STR, "(%s %s space %u vid %llu)", obj, tn,
			 VX_EMBED_SPACE(k->offset),
			 (unsigned long long)VX_EMBED_VID(k->offset));
	else if (k->type == VX_ITEM_VBLOCK)
		snprintf(buf, VK_KEY_STR, "(%s %s col %u blk %llu)", obj, tn,
			 VX_VBLOCK_COL(k->offset),
			 (unsigned long long)VX_VBLOCK_BLK(k->offset));
	else if (k->type == VX_ITEM_DIRENT || k->type == VX_ITEM_XATTR)
		snprintf(buf, VK_KEY_STR, "(%s %s 0x%016llx)", obj, tn,
			 (unsigned long long)k->offset);
	else
		snprintf(buf, VK_KEY_STR, "(%s %s %llu)", obj, tn,
			 (unsigned long long)k->offset);
	return buf;
}

char *vk_dkey_str(const struct vx_key *k, char *buf)
{
	struct vx_ckey c;

	vk_key_from_disk(&c, k);
	return vk_key_str(&c, buf);
}

char *vk_name_str(const char *name, u32 len, char *out, size_t outlen)
{
	size_t o = 0;
	u32 i;

	for (i = 0; i < len && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	if (i < len && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o < outlen ? o : outlen - 1] = 0;
	return out;
}

char *vk_uuid_str(const u8 *u, char *out)
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
	return out;
}

char *vk_size_str(u64 bytes, char *out)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double d = (double)bytes;
	int u = 0;

	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, 32, "%llu B", (unsigned long long)bytes);
	else
		snprintf(out, 32, "%.1f %s", d, units[u]);
	return out;
}

/* ---------------------------------------------------------------- nodes */

u32 vk_safe_nritems(const u8 *blk, u32 bs)
{
	u32 n = vk_nritems(blk);
	u32 per = vk_hdr(blk)->level ? ENTRY_SIZE : ITEM_SIZE;
	u32 max = (bs - HDR_SIZE) / per;

	return n > max ? max : n;
}

static void problem(vk_problem_fn report, void *ctx, const struct vk_ptr *p,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void problem(vk_problem_fn report, void *ctx, const struct vk_ptr *p,
		    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (report)
		report(ctx, p, msg);
}

struct range {
	u32 off, size;
	u32 idx;
};

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

int vk_check_node(const struct vk_vol *v, const u8 *blk, const struct vk_ptr *p,
		  vk_problem_fn report, void *ctx)
{
	const struct vx_node_header *h = vk_hdr(blk);
	u32 bs = v->bs, n = le16_to_cpu(h->nritems), i;
	u32 stored = le32_to_cpu(h->csum), computed = vk_node_csum(blk, bs);
	char k1[VK_KEY_STR], k2[VK_KEY_STR];
	int bad = 0;

	if (le32_to_cpu(h->magic) != VX_NODE_MAGIC) {
		/* nothing else in the block can be trusted */
		problem(report, ctx, p, "bad node magic 0x%08x (expected 0x%08x): not a tree node",
			le32_to_cpu(h->magic), VX_NODE_MAGIC);
		return 1;
	}
	if (stored != computed) {
		problem(report, ctx, p, "checksum mismatch: stored 0x%08x, computed 0x%08x",
			stored, computed);
		bad++;
	}
	if (p->parent != ~0ULL && stored != p->csum) {
		problem(report, ctx, p, "checksum 0x%08x differs from the %s's record 0x%08x (stale or misdirected write)",
			stored, p->parent ? "parent" : "superblock", p->csum);
		bad++;
	}
	if (le64_to_cpu(h->blocknr) != p->blocknr) {
		problem(report, ctx, p, "header says block %llu (misdirected write)",
			(unsigned long long)le64_to_cpu(h->blocknr));
		bad++;
	}
	if (p->parent != ~0ULL && le64_to_cpu(h->birth) != p->birth) {
		problem(report, ctx, p, "birth transaction %llu differs from the %s's record %llu (stale block)",
			(unsigned long long)le64_to_cpu(h->birth),
			p->parent ? "parent" : "superblock", (unsigned long long)p->birth);
		bad++;
	}
	if (le64_to_cpu(h->birth) > v->generation) {
		problem(report, ctx, p, "born in transaction %llu, after the superblock's generation %llu",
			(unsigned long long)le64_to_cpu(h->birth),
			(unsigned long long)v->generation);
		bad++;
	}
	if (p->parent != ~0ULL && p->parent && le64_to_cpu(h->birth) > p->parent_birth) {
		problem(report, ctx, p, "born in transaction %llu, after its parent (%llu)",
			(unsigned long long)le64_to_cpu(h->birth),
			(unsigned long long)p->parent_birth);
		bad++;
	}
	if (p->tree && le64_to_cpu(h->owner) != (u64)p->tree) {
		problem(report, ctx, p, "owner %llu, expected %d (%s tree)",
			(unsigned long long)le64_to_cpu(h->owner), p->tree,
			vk_tree_name(p->tree));
		bad++;
	}
	if (v->sb && memcmp(h->fsid, v->sb->uuid, VX_UUID_LEN)) {
		char u[40];

		problem(report, ctx, p, "belongs to another file system (fsid %s)",
			vk_uuid_str(h->fsid, u));
		bad++;
	}
	if (p->level >= 0 && h->level != p->level) {
		problem(report, ctx, p, "level %u, expected %d", h->level, p->level);
		bad++;
	}
	if (h->level >= VX_MAX_LEVELS) {
		problem(report, ctx, p, "level %u exceeds the maximum %d", h->level,
			VX_MAX_LEVELS - 1);
		return bad + 1;
	}

	if (h->level == 0) {
		const struct vx_item *it = vk_items(blk);
		struct range *r;
		u32 nr = 0, hdr_end;

		if (HDR_SIZE + (u64)n * ITEM_SIZE > bs) {
			problem(report, ctx, p, "%u items do not fit in a block", n);
			return bad + 1;
		}
		hdr_end = HDR_SIZE + n * ITEM_SIZE;
		r = malloc((n + 1) * sizeof(*r));
		if (!r) {
			problem(report, ctx, p, "out of memory checking the node");
			return bad + 1;
		}
		for (i = 0; i < n; i++) {
			u32 off = le32_to_cpu(it[i].offset);
			u32 sz = le32_to_cpu(it[i].size);
			struct vx_ckey k;

			vk_key_from_disk(&k, &it[i].key);
			if (off < hdr_end || off > bs || sz > bs - off) {
				problem(report, ctx, p, "item %u %s: data [%u, +%u) outside the item area [%u, %u)",
					i, vk_key_str(&k, k1), off, sz, hdr_end, bs);
				bad++;
			} else if (sz) {
				r[nr].off = off;
				r[nr].size = sz;
				r[nr].idx = i;
				nr++;
			}
			if (i) {
				struct vx_ckey pk;

				vk_key_from_disk(&pk, &it[i - 1].key);
				if (vk_key_cmp(&pk, &k) >= 0) {
					problem(report, ctx, p, "items %u and %u out of order: %s then %s",
						i - 1, i, vk_key_str(&pk, k1), vk_key_str(&k, k2));
					bad++;
				}
			}
			if (p->has_lo && vk_key_cmp(&k, &p->lo) < 0) {
				problem(report, ctx, p, "item %u %s is below the parent's separator %s",
					i, vk_key_str(&k, k1), vk_key_str(&p->lo, k2));
				bad++;
			}
			if (p->has_hi && vk_key_cmp(&k, &p->hi) >= 0) {
				problem(report, ctx, p, "item %u %s is not below the next separator %s",
					i, vk_key_str(&k, k1), vk_key_str(&p->hi, k2));
				bad++;
			}
		}
		qsort(r, nr, sizeof(*r), range_cmp);
		for (i = 1; i < nr; i++) {
			if (r[i].off < r[i - 1].off + r[i - 1].size) {
				problem(report, ctx, p, "data of items %u and %u overlap ([%u, +%u) and [%u, +%u))",
					r[i - 1].idx, r[i].idx, r[i - 1].off, r[i - 1].size,
					r[i].off, r[i].size);
				bad++;
			}
		}
		free(r);
	} else {
		const struct vx_node_entry *e = vk_entries(blk);

		if (n == 0) {
			problem(report, ctx, p, "internal node with no entries");
			return bad + 1;
		}
		if (HDR_SIZE + (u64)n * ENTRY_SIZE > bs) {
			problem(report, ctx, p, "%u entries do not fit in a block", n);
			return bad + 1;
		}
		for (i = 0; i < n; i++) {
			struct vx_ckey k;

			vk_key_from_disk(&k, &e[i].key);
			if (i) {
				struct vx_ckey pk;

				vk_key_from_disk(&pk, &e[i - 1].key);
				if (vk_key_cmp(&pk, &k) >= 0) {
					problem(report, ctx, p, "entries %u and %u out of order: %s then %s",
						i - 1, i, vk_key_str(&pk, k1), vk_key_str(&k, k2));
					bad++;
				}
			}
			if (i && p->has_lo && vk_key_cmp(&k, &p->lo) < 0) {
				problem(report, ctx, p, "entry %u key %s is below the parent's separator %s",
					i, vk_key_str(&k, k1), vk_key_str(&p->lo, k2));
				bad++;
			}
			if (p->has_hi && vk_key_cmp(&k, &p->hi) >= 0) {
				problem(report, ctx, p, "entry %u key %s is not below the next separator %s",
					i, vk_key_str(&k, k1), vk_key_str(&p->hi, k2));
				bad++;
			}
		}
	}
	return bad;
}

/* ---------------------------------------------------------------- walk */

struct frame {
	u8 *blk;
	struct vk_ptr ptr;
	u32 next;		/* next child entry to visit */
	u32 n;
	bool ok;
};

static void fill_child(const struct vk_vol *v, const struct frame *f, u32 i,
		       struct vk_ptr *c)
{
	const struct vx_node_entry *e = vk_entries(f->blk);
	u32 n = f->n;

	memset(c, 0, sizeof(*c));
	c->tree = f->ptr.tree;
	c->blocknr = le64_to_cpu(e[i].ptr.blocknr);
	c->birth = le64_to_cpu(e[i].ptr.birth);
	c->csum = le32_to_cpu(e[i].ptr.csum);
	c->level = vk_hdr(f->blk)->level - 1;
	c->parent = f->ptr.blocknr;
	c->slot = i;
	c->parent_birth = le64_to_cpu(vk_hdr(f->blk)->birth);
	/*
	 * docs/FORMAT.md: keys under child i are >= key i, except under the
	 * leftmost child, which inherits only the bound from above.
	 */
	if (i > 0) {
		c->has_lo = true;
		vk_key_from_disk(&c->lo, &e[i].key);
	} else if (f->ptr.has_lo) {
		c->has_lo = true;
		c->lo = f->ptr.lo;
	}
	if (i + 1 < n) {
		c->has_hi = true;
		vk_key_from_disk(&c->hi, &e[i + 1].key);
	} else if (f->ptr.has_hi) {
		c->has_hi = true;
		c->hi = f->ptr.hi;
	}
	(void)v;
}

/* Read and check a node described by p into buf; report problems. */
static int visit(struct vk_walk *w, const struct vk_ptr *p, u8 *buf, bool *ok,
		 long *problems)
{
	struct vk_vol *v = w->v;
	int err, bad;

	*ok = false;
	if (p->blocknr < v->first_block || p->blocknr >= v->total_blocks) {
		problem(w->problem, w->ctx, p, "pointer to block %llu outside the volume's tree area [%llu, %llu)",
			(unsigned long long)p->blocknr, (unsigned long long)v->first_block,
			(unsigned long long)v->total_blocks);
		(*problems)++;
		return -1;
	}
	if (w->claim && w->claim(w->ctx, p)) {
		/* claim() reported the duplicate */
		(*problems)++;
		return -1;
	}
	err = vk_read_block(v, p->blocknr, buf);
	if (err) {
		problem(w->problem, w->ctx, p, "read error %d", err);
		(*problems)++;
		return -1;
	}
	bad = vk_check_node(v, buf, p, w->problem, w->ctx);
	*problems += bad;
	*ok = bad == 0;
	if (w->node)
		w->node(w->ctx, p, buf, *ok);
	return 0;
}

long vk_walk_tree(struct vk_walk *w, const struct vx_blockptr *root, int level)
{
	struct frame st[VX_MAX_LEVELS];
	struct vk_vol *v = w->v;
	long problems = 0;
	int depth = 0, i;
	struct vk_ptr rp;

	memset(st, 0, sizeof(st));
	for (i = 0; i < VX_MAX_LEVELS; i++) {
		st[i].blk = malloc(v->bs);
		if (!st[i].blk) {
			problem(w->problem, w->ctx, NULL, "out of memory");
			problems++;
			goto out;
		}
	}
	memset(&rp, 0, sizeof(rp));
	rp.tree = w->tree;
	rp.blocknr = le64_to_cpu(root->blocknr);
	rp.birth = le64_to_cpu(root->birth);
	rp.csum = le32_to_cpu(root->csum);
	rp.level = level;
	rp.parent = 0;
	rp.parent_birth = v->generation;
	if (level < 0 || level >= VX_MAX_LEVELS) {
		problem(w->problem, w->ctx, &rp, "tree height %d out of range", level);
		problems++;
		goto out;
	}
	st[0].ptr = rp;
	if (visit(w, &rp, st[0].blk, &st[0].ok, &problems))
		goto out;
	st[0].next = 0;
	st[0].n = vk_safe_nritems(st[0].blk, v->bs);
	while (depth >= 0) {
		struct frame *f = &st[depth];
		struct vk_ptr cp;
		u8 lvl = vk_hdr(f->blk)->level;

		if (lvl == 0 || lvl >= VX_MAX_LEVELS || (!f->ok && !w->descend_bad) ||
		    le32_to_cpu(vk_hdr(f->blk)->magic) != VX_NODE_MAGIC ||
		    f->next >= f->n || depth + 1 >= VX_MAX_LEVELS) {
			depth--;
			continue;
		}
		fill_child(v, f, f->next++, &cp);
		if (!f->ok)
			cp.has_lo = cp.has_hi = false;	/* bounds meaningless */
		else if (w->has_from && cp.has_hi && vk_key_cmp(&cp.hi, &w->from) <= 0)
			continue;			/* entirely below the range */
		if (visit(w, &cp, st[depth + 1].blk, &st[depth + 1].ok, &problems))
			continue;
		depth++;
		st[depth].ptr = cp;
		st[depth].next = 0;
		st[depth].n = vk_safe_nritems(st[depth].blk, v->bs);
		/* a damaged node may claim any level: never go deeper than its parent allows */
		if (vk_hdr(st[depth].blk)->level >= lvl)
			st[depth].n = 0;
	}
out:
	for (i = 0; i < VX_MAX_LEVELS; i++)
		free(st[i].blk);
	return problems;
}

/* ---------------------------------------------------------------- payloads */

#define DHDR ((u32)sizeof(struct vx_dirent_hdr))
#define XHDR ((u32)sizeof(struct vx_xattr_hdr))

int vk_dirent_next(const u8 *buf, u32 size, u32 *off, struct vk_dirent *d)
{
	const u8 *h;

	if (*off == size)
		return 0;
	if (*off > size || size - *off < DHDR)
		return -1;
	h = buf + *off;
	d->ino = vx_get_unaligned_le64(h + offsetof(struct vx_dirent_hdr, ino));
	d->index = vx_get_unaligned_le64(h + offsetof(struct vx_dirent_hdr, index));
	d->name_len = vx_get_unaligned_le16(h + offsetof(struct vx_dirent_hdr, name_len));
	d->ftype = h[offsetof(struct vx_dirent_hdr, ftype)];
	if (d->name_len == 0 || d->name_len > VX_NAME_MAX ||
	    size - *off - DHDR < d->name_len)
		return -1;
	d->name = (const char *)h + DHDR;
	*off += DHDR + d->name_len;
	return 1;
}

int vk_xattr_next(const u8 *buf, u32 size, u32 *off, struct vk_xattr *x)
{
	const u8 *h;

	if (*off == size)
		return 0;
	if (*off > size || size - *off < XHDR)
		return -1;
	h = buf + *off;
	x->index = h[offsetof(struct vx_xattr_hdr, index)];
	x->name_len = h[offsetof(struct vx_xattr_hdr, name_len)];
	x->value_len = vx_get_unaligned_le16(h + offsetof(struct vx_xattr_hdr, value_len));
	if (x->name_len == 0 || size - *off - XHDR < x->name_len + x->value_len)
		return -1;
	x->name = (const char *)h + XHDR;
	x->value = h + XHDR + x->name_len;
	*off += XHDR + x->name_len + x->value_len;
	return 1;
}

u64 vk_xattr_hash(u8 index, const char *name, u32 len)
{
	return vx_name_hash(name, len) ^ ((u64)index << 56);
}

void vk_inode_decode(const struct vx_inode_item *d, struct vx_inode_data *c, u64 ino)
{
	memset(c, 0, sizeof(*c));
	c->ino = ino;
	c->mode = le32_to_cpu(d->mode);
	c->uid = le32_to_cpu(d->uid);
	c->gid = le32_to_cpu(d->gid);
	c->nlink = le32_to_cpu(d->nlink);
	c->size = le64_to_cpu(d->size);
	c->blocks = le64_to_cpu(d->blocks);
	c->atime_sec = (s64)le64_to_cpu(d->atime.sec);
	c->atime_nsec = le32_to_cpu(d->atime.nsec);
	c->mtime_sec = (s64)le64_to_cpu(d->mtime.sec);
	c->mtime_nsec = le32_to_cpu(d->mtime.nsec);
	c->ctime_sec = (s64)le64_to_cpu(d->ctime.sec);
	c->ctime_nsec = le32_to_cpu(d->ctime.nsec);
	c->crtime_sec = (s64)le64_to_cpu(d->crtime.sec);
	c->crtime_nsec = le32_to_cpu(d->crtime.nsec);
	c->generation = le64_to_cpu(d->generation);
	c->data_version = le64_to_cpu(d->data_version);
	c->next_dir_index = le64_to_cpu(d->next_dir_index);
	c->parent = le64_to_cpu(d->parent);
	c->rdev = le32_to_cpu(d->rdev);
	c->flags = le32_to_cpu(d->flags);
	c->default_space = le32_to_cpu(d->default_space);
	c->auto_space = le32_to_cpu(d->auto_space);
}

const char *vk_inode_problem(const struct vx_inode_data *c)
{
	if (vx_mode_to_ftype(c->mode) == VX_FT_UNKNOWN)
		return "invalid file type in mode";
	if (c->mode & ~0177777U)
		return "unknown bits in mode";
	if (c->size > (1ULL << 62))
		return "size out of range";
	if (c->atime_nsec >= 1000000000U || c->mtime_nsec >= 1000000000U ||
	    c->ctime_nsec >= 1000000000U || c->crtime_nsec >= 1000000000U)
		return "timestamp nanoseconds out of range";
	if (vx_mode_to_ftype(c->mode) == VX_FT_DIR) {
		if (c->parent == 0 || c->parent >= VX_ORPHAN_OBJECTID)
			return "directory has an invalid parent field";
		if (c->next_dir_index < 2)
			return "directory has an invalid next index";
	}
	return NULL;
}

char vk_mode_char(u32 mode)
{
	switch (vx_mode_to_ftype(mode)) {
	case VX_FT_REG: return '-';
	case VX_FT_DIR: return 'd';
	case VX_FT_CHR: return 'c';
	case VX_FT_BLK: return 'b';
	case VX_FT_FIFO: return 'p';
	case VX_FT_SOCK: return 's';
	case VX_FT_LNK: return 'l';
	}
	return '?';
}

/* ---------------------------------------------------------------- back refs */

#define RHDR ((u32)sizeof(struct vx_inode_ref))

int vk_inode_ref_next(const u8 *buf, u32 size, u32 *off, const char **name,
		      u32 *len)
{
	u32 n;

	if (*off == size)
		return 0;
	if (*off > size || size - *off < RHDR)
		return -1;
	n = vx_get_unaligned_le16(buf + *off);
	if (n == 0 || n > VX_NAME_MAX || size - *off - RHDR < n)
		return -1;
	*name = (const char *)buf + *off + RHDR;
	*len = n;
	*off += RHDR + n;
	return 1;
}

static int name_link_cmp(const void *a, const void *b)
{
	const struct vk_name_link *x = a, *y = b;
	u32 n;
	int c;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	n = x->name_len < y->name_len ? x->name_len : y->name_len;
	c = memcmp(x->name, y->name, n);
	if (c)
		return c;
	return x->name_len == y->name_len ? 0 : x->name_len < y->name_len ? -1 : 1;
}

static void ref_report(vk_ref_problem_fn report, void *ctx,
		       enum vk_ref_problem_kind kind,
		       const struct vk_name_link *l)
{
	char nm[4 * VX_NAME_MAX + 8], msg[4 * VX_NAME_MAX + 160];
	struct vk_ref_problem p;

	vk_name_str(l->name, l->name_len, nm, sizeof(nm));
	switch (kind) {
	case VK_REF_MISSING:
		snprintf(msg, sizeof(msg),
			 "inode %llu: named \"%s\" in directory %llu, but has no back reference for that name",
			 (unsigned long long)l->ino, nm, (unsigned long long)l->dir);
		break;
	case VK_REF_STRAY:
		snprintf(msg, sizeof(msg),
			 "inode %llu: back reference to directory %llu as \"%s\", but the directory has no such entry",
			 (unsigned long long)l->ino, (unsigned long long)l->dir, nm);
		break;
	default:
		snprintf(msg, sizeof(msg),
			 "inode %llu: back reference to directory %llu lists \"%s\" more than once",
			 (unsigned long long)l->ino, (unsigned long long)l->dir, nm);
		break;
	}
	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.ino = l->ino;
	p.dir = l->dir;
	p.name = l->name;
	p.name_len = l->name_len;
	p.msg = msg;
	report(ctx, &p);
}

long vk_match_refs(struct vk_name_link *names, size_t nnames,
		   struct vk_name_link *refs, size_t nrefs,
		   vk_ref_problem_fn report, void *ctx)
{
	size_t i = 0, j = 0;
	long problems = 0;

	if (nnames)
		qsort(names, nnames, sizeof(*names), name_link_cmp);
	if (nrefs)
		qsort(refs, nrefs, sizeof(*refs), name_link_cmp);
	while (i < nnames || j < nrefs) {
		int c;

		/* the same name twice in a directory is another check's business */
		if (i < nnames && i > 0 && !name_link_cmp(&names[i - 1], &names[i])) {
			i++;
			continue;
		}
		if (j < nrefs && j > 0 && !name_link_cmp(&refs[j - 1], &refs[j])) {
			ref_report(report, ctx, VK_REF_DUP, &refs[j++]);
			problems++;
			continue;
		}
		if (i == nnames)
			c = 1;
		else if (j == nrefs)
			c = -1;
		else
			c = name_link_cmp(&names[i], &refs[j]);
		if (c < 0) {
			ref_report(report, ctx, VK_REF_MISSING, &names[i++]);
			problems++;
		} else if (c > 0) {
			ref_report(report, ctx, VK_REF_STRAY, &refs[j++]);
			problems++;
		} else {
			i++;
			j++;
		}
	}
	return problems;
}

/* State of vk_check_refs: every name copied, as links resolve at the end. */
struct ref_scan {
	vk_ref_problem_fn report;
	void *ctx;
	long problems;
	long damaged;		/* tree node problems */
	bool nomem;
	struct vk_name_link *links[2];	/* 0: DIRENT entries, 1: INODE_REFs */
	size_t n[2], cap[2];
	char *pool;
	size_t npool, cappool;
};

static void ref_scan_add(struct ref_scan *s, int which, u64 ino, u64 dir,
			 const char *name, u32 len)
{
	struct vk_name_link *l;

	if (s->nomem)
		return;
	if (s->n[which] == s->cap[which]) {
		size_t nc = s->cap[which] ? 2 * s->cap[which] : 256;
		void *np = realloc(s->links[which], nc * sizeof(*l));

		if (!np) {
			s->nomem = true;
			return;
		}
		s->links[which] = np;
		s->cap[which] = nc;
	}
	if (s->npool + len > s->cappool) {
		size_t nc = s->cappool ? 2 * s->cappool : 65536;
		char *np;

		while (nc < s->npool + len)
			nc *= 2;
		np = realloc(s->pool, nc);
		if (!np) {
			s->nomem = true;
			return;
		}
		s->pool = np;
		s->cappool = nc;
	}
	memcpy(s->pool + s->npool, name, len);
	l = &s->links[which][s->n[which]++];
	l->ino = ino;
	l->dir = dir;
	/* an offset into the pool until the pool stops moving */
	l->name = (const char *)(uintptr_t)s->npool;
	l->name_len = len;
	s->npool += len;
}

static void ref_scan_problem(void *ctx, const struct vk_ptr *p, const char *msg)
{
	((struct ref_scan *)ctx)->damaged++;
}

static void ref_scan_node(void *ctx, const struct vk_ptr *p, const u8 *blk,
			  bool ok)
{
	struct ref_scan *s = ctx;
	const struct vx_item *it = vk_items(blk);
	char msg[160];
	u32 n, i;

	if (!ok || vk_hdr(blk)->level)
		return;
	n = vk_nritems(blk);
	for (i = 0; i < n; i++) {
		const u8 *data = blk + le32_to_cpu(it[i].offset);
		u32 size = le32_to_cpu(it[i].size), off = 0, len;
		struct vk_dirent d;
		const char *name;
		struct vx_ckey k;
		int ret;

		vk_key_from_disk(&k, &it[i].key);
		if (k.type == VX_ITEM_DIRENT) {
			while (vk_dirent_next(data, size, &off, &d) == 1)
				if (!(d.name_len == 1 && d.name[0] == '.') &&
				    !(d.name_len == 2 && !memcmp(d.name, "..", 2)))
					ref_scan_add(s, 0, d.ino, k.objectid,
						     d.name, d.name_len);
		} else if (k.type == VX_ITEM_INODE_REF) {
			while ((ret = vk_inode_ref_next(data, size, &off, &name,
							&len)) == 1)
				ref_scan_add(s, 1, k.objectid, k.offset, name, len);
			if (ret < 0 || !size) {
				struct vk_ref_problem rp;

				snprintf(msg, sizeof(msg),
					 "inode %llu: back reference item from directory %llu is malformed at byte %u of %u",
					 (unsigned long long)k.objectid,
					 (unsigned long long)k.offset, off, size);
				memset(&rp, 0, sizeof(rp));
				rp.kind = VK_REF_MALFORMED;
				rp.ino = k.objectid;
				rp.dir = k.offset;
				rp.msg = msg;
				s->report(s->ctx, &rp);
				s->problems++;
			}
		}
	}
}

long vk_check_refs(struct vk_vol *v, vk_ref_problem_fn report, void *ctx)
{
	struct ref_scan s;
	struct vk_walk w;
	long ret;
	size_t i;
	int k;

	if (!v->sb)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.report = report;
	s.ctx = ctx;
	memset(&w, 0, sizeof(w));
	w.v = v;
	w.tree = VX_TREE_FS;
	w.ctx = &s;
	w.problem = ref_scan_problem;
	w.node = ref_scan_node;
	if (vk_walk_tree(&w, &v->sb->fs_root, v->sb->fs_root_level))
		s.damaged++;
	if (s.nomem) {
		ret = -ENOMEM;
	} else if (s.damaged) {
		ret = -EUCLEAN;
	} else {
		for (k = 0; k < 2; k++)
			for (i = 0; i < s.n[k]; i++)
				s.links[k][i].name = s.pool +
					(uintptr_t)s.links[k][i].name;
		ret = s.problems + vk_match_refs(s.links[0], s.n[0], s.links[1],
						 s.n[1], report, ctx);
	}
	free(s.links[0]);
	free(s.links[1]);
	free(s.pool);
	return ret;
}
