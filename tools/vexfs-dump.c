// SPDX-License-Identifier: GPL-2.0
/*
 * vexfs-dump: print the on-disk structures of a VexFS volume.
 *
 *   vexfs-dump DEVICE [--super] [--tree fs|alloc] [--block N] [--inode N]
 *              [--slot N]
 *
 * Reads the volume with the independent reader in tools/lib/vx_check.c and
 * never writes.  Damaged structures are printed as far as they can be
 * decoded safely, with the problems found marked "!!".
 */
#include <getopt.h>
#include <time.h>
#include "vx_check.h"
#include "vx_check_vec.h"

#define VERSION "1.0"

static struct {
	bool super, trees, fs_tree, alloc_tree, block, inode;
	u64 blocknr, ino;
	int slot;		/* -1: newest valid */
	u32 force_bs;
} opt = { .slot = -1 };

static struct vk_vol V;
static u8 *visited;
static long problems;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vexfs-dump DEVICE [options]\n"
		"Print the superblocks and trees of a VexFS volume (read-only).\n\n"
		"  --super            only the two superblock slots\n"
		"  --tree fs|alloc    only this tree (may be repeated)\n"
		"  --block N          decode block N as a tree node, reachable or not\n"
		"  --inode N          the items of inode N and the names that refer to it\n"
		"  --slot 0|1         read the trees of this superblock slot, not the newest\n"
		"  --block-size N     block size to use when no superblock is valid\n"
		"  -V, --version      print the version\n"
		"  -h, --help         this help\n\n"
		"Without options: both superblocks, then the alloc and fs trees.\n"
		"Exit status: 0 ok, 1 usage or I/O error, 2 damage was found.\n");
}

/* Seconds (and nanoseconds, unless nsec is ~0U) since the epoch as UTC text. */
static const char *time_str(u64 sec, u32 nsec, char *buf, size_t n)
{
	time_t t = (time_t)sec;
	char date[40];
	struct tm tm;

	if ((s64)sec < 0 || sec > 253402300799ULL || !gmtime_r(&t, &tm)) {
		snprintf(buf, n, "%lld s", (long long)sec);
		return buf;
	}
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	if (nsec == ~0U)
		snprintf(buf, n, "%s UTC", date);
	else
		snprintf(buf, n, "%s.%09u UTC", date, nsec);
	return buf;
}

static void print_escaped(const u8 *p, u32 len, u32 max)
{
	u32 i;

	putchar('"');
	for (i = 0; i < len && i < max; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('"');
	if (len > max)
		printf("...");
}

static void hexdump(const u8 *p, u32 len)
{
	u32 i, j;

	for (i = 0; i < len; i += 16) {
		printf("    %04x:", i);
		for (j = i; j < i + 16 && j < len; j++)
			printf(" %02x", p[j]);
		printf("\n");
	}
}

/* ---------------------------------------------------------------- super */

static void print_super(int i)
{
	const struct vk_slot *s = &V.slot[i];
	const struct vx_superblock *sb = &s->sb;
	char u[40], t1[64], label[VX_LABEL_LEN + 1];
	u32 csum = le32_to_cpu(sb->csum), want = vk_sb_csum(sb);

	printf("superblock slot %d (byte %llu)%s\n", i, (unsigned long long)vk_sb_offsets[i],
	       V.active == i ? " [ACTIVE]" : "");
	if (s->read_err) {
		printf("  !! %s\n", s->msg ? s->msg : "read error");
		problems++;
		return;
	}
	if (!s->has_magic) {
		printf("  !! no VexFS superblock here (magic ");
		print_escaped(sb->magic, VX_MAGIC_LEN, VX_MAGIC_LEN);
		printf(")\n");
		problems++;
		return;
	}
	if (!s->usable) {
		printf("  !! unusable: %s\n", s->msg ? s->msg : "?");
		problems++;
	} else if (s->ret == 1) {
		printf("  note: %s\n", s->msg);
	}
	memcpy(label, sb->label, VX_LABEL_LEN);
	label[VX_LABEL_LEN] = 0;
	printf("  generation %llu  slot %llu  version %u  csum 0x%08x (%s)\n",
	       (unsigned long long)le64_to_cpu(sb->generation),
	       (unsigned long long)le64_to_cpu(sb->slot), le32_to_cpu(sb->version), csum,
	       csum == want ? "ok" : "BAD");
	printf("  uuid %s  label ", vk_uuid_str(sb->uuid, u));
	print_escaped((const u8 *)label, (u32)strnlen(label, VX_LABEL_LEN), VX_LABEL_LEN);
	printf("\n");
	printf("  block size %u  group %u blocks  total %llu blocks  free %llu\n",
	       le32_to_cpu(sb->block_size), le32_to_cpu(sb->alloc_group_blocks),
	       (unsigned long long)le64_to_cpu(sb->total_blocks),
	       (unsigned long long)le64_to_cpu(sb->free_blocks));
	printf("  next ino %llu  inode count %llu\n",
	       (unsigned long long)le64_to_cpu(sb->next_ino),
	       (unsigned long long)le64_to_cpu(sb->inode_count));
	printf("  features compat 0x%llx ro_compat 0x%llx incompat 0x%llx  state 0x%x%s\n",
	       (unsigned long long)le64_to_cpu(sb->feature_compat),
	       (unsigned long long)le64_to_cpu(sb->feature_ro_compat),
	       (unsigned long long)le64_to_cpu(sb->feature_incompat),
	       le32_to_cpu(sb->state),
	       le32_to_cpu(sb->state) & VX_SB_STATE_ERROR ? " (ERROR: run fsck)" : "");
	printf("  fs root    block %llu  birth %llu  csum 0x%08x  level %u\n",
	       (unsigned long long)le64_to_cpu(sb->fs_root.blocknr),
	       (unsigned long long)le64_to_cpu(sb->fs_root.birth),
	       le32_to_cpu(sb->fs_root.csum), sb->fs_root_level);
	printf("  alloc root block %llu  birth %llu  csum 0x%08x  level %u\n",
	       (unsigned long long)le64_to_cpu(sb->alloc_root.blocknr),
	       (unsigned long long)le64_to_cpu(sb->alloc_root.birth),
	       le32_to_cpu(sb->alloc_root.csum), sb->alloc_root_level);
	printf("  mkfs time %s", time_str(le64_to_cpu(sb->mkfs_time), ~0U, t1, sizeof(t1)));
	printf("  commit time %s\n", time_str(le64_to_cpu(sb->commit_time), ~0U, t1, sizeof(t1)));
}

/* ---------------------------------------------------------------- items */

static void print_inode_item(const u8 *data, u32 size)
{
	struct vx_inode_item raw;
	struct vx_inode_data d;
	const char *why;
	char t[64];

	if (size != sizeof(raw)) {
		printf("        !! inode item of size %u (expected %zu)\n", size, sizeof(raw));
		problems++;
		return;
	}
	memcpy(&raw, data, sizeof(raw));
	vk_inode_decode(&raw, &d, 0);
	printf("        inode: %c mode 0%o uid %u gid %u nlink %u size %llu blocks %llu\n",
	       vk_mode_char(d.mode), d.mode, d.uid, d.gid, d.nlink,
	       (unsigned long long)d.size, (unsigned long long)d.blocks);
	printf("        atime  %s\n", time_str((u64)d.atime_sec, d.atime_nsec, t, sizeof(t)));
	printf("        mtime  %s\n", time_str((u64)d.mtime_sec, d.mtime_nsec, t, sizeof(t)));
	printf("        ctime  %s\n", time_str((u64)d.ctime_sec, d.ctime_nsec, t, sizeof(t)));
	printf("        crtime %s\n", time_str((u64)d.crtime_sec, d.crtime_nsec, t, sizeof(t)));
	printf("        generation %llu data_version %llu next_dir_index %llu parent %llu rdev 0x%x flags 0x%x\n",
	       (unsigned long long)d.generation, (unsigned long long)d.data_version,
	       (unsigned long long)d.next_dir_index, (unsigned long long)d.parent,
	       d.rdev, d.flags);
	if (vx_mode_to_ftype(d.mode) == VX_FT_DIR) {
		printf("        default_space %u auto_space ", d.default_space);
		if (d.auto_space == VX_AUTO_INHERIT)
			printf("inherit\n");
		else if (d.auto_space == VX_AUTO_OFF)
			printf("off\n");
		else
			printf("space %u\n", d.auto_space);
	} else if (d.auto_space) {
		printf("        !! auto_space 0x%x on a non-directory\n", d.auto_space);
		problems++;
	}
	why = vk_inode_problem(&d);
	if (why) {
		printf("        !! %s\n", why);
		problems++;
	}
}

static void print_dirents(const struct vx_ckey *k, const u8 *data, u32 size)
{
	struct vk_dirent d;
	u32 off = 0;
	int ret;

	while ((ret = vk_dirent_next(data, size, &off, &d)) == 1) {
		u64 h = vx_name_hash(d.name, d.name_len);

		printf("        name ");
		print_escaped((const u8 *)d.name, d.name_len, VX_NAME_MAX);
		printf(" -> inode %llu (%s) index %llu",
		       (unsigned long long)d.ino, vk_ftype_name(d.ftype),
		       (unsigned long long)d.index);
		if (k->type == VX_ITEM_DIRENT && h != k->offset) {
			printf("  !! hashes to 0x%016llx", (unsigned long long)h);
			problems++;
		}
		if (k->type == VX_ITEM_DIRINDEX && d.index != k->offset) {
			printf("  !! index differs from the key");
			problems++;
		}
		printf("\n");
	}
	if (ret < 0) {
		printf("        !! malformed entry at byte %u of %u\n", off, size);
		problems++;
	}
}

/* INODE_REF: the inode's names in directory key.offset. */
static void print_inode_refs(const struct vx_ckey *k, const u8 *data, u32 size)
{
	const char *name;
	u32 off = 0, len;
	int ret;

	while ((ret = vk_inode_ref_next(data, size, &off, &name, &len)) == 1) {
		printf("        parent %llu name ", (unsigned long long)k->offset);
		print_escaped((const u8 *)name, len, VX_NAME_MAX);
		printf("\n");
	}
	if (ret < 0 || !size) {
		printf("        !! malformed back reference at byte %u of %u\n", off, size);
		problems++;
	}
}

static void print_xattrs(const struct vx_ckey *k, const u8 *data, u32 size)
{
	struct vk_xattr x;
	u32 off = 0;
	int ret;

	while ((ret = vk_xattr_next(data, size, &off, &x)) == 1) {
		const char *pfx = vk_xattr_prefix(x.index);

		printf("        xattr %s", pfx ? pfx : "?");
		if (!pfx)
			printf("[index %u]", x.index);
		print_escaped((const u8 *)x.name, x.name_len, 255);
		printf(" = (%u bytes) ", x.value_len);
		print_escaped(x.value, x.value_len, 64);
		if (vk_xattr_hash(x.index, x.name, x.name_len) != k->offset) {
			printf("  !! wrong hash");
			problems++;
		}
		printf("\n");
	}
	if (ret < 0) {
		printf("        !! malformed xattr at byte %u of %u\n", off, size);
		problems++;
	}
}

static void print_extent(const struct vx_ckey *k, const u8 *data, u32 size)
{
	struct vx_extent_item e;
	u64 len, disk;

	if (size != sizeof(e)) {
		printf("        !! extent item of size %u (expected %zu)\n", size, sizeof(e));
		problems++;
		return;
	}
	memcpy(&e, data, sizeof(e));
	len = le64_to_cpu(e.len);
	disk = le64_to_cpu(e.disk_block);
	if (!len) {
		printf("        !! extent of length 0 at disk block %llu\n", (unsigned long long)disk);
		problems++;
		return;
	}
	printf("        extent: file blocks %llu-%llu -> disk blocks %llu-%llu (%llu block%s)%s",
	       (unsigned long long)k->offset, (unsigned long long)(k->offset + len - 1),
	       (unsigned long long)disk, (unsigned long long)(disk + len - 1),
	       (unsigned long long)len, len == 1 ? "" : "s",
	       le32_to_cpu(e.flags) & VX_EXTENT_UNWRITTEN ? " unwritten" : "");
	if (le32_to_cpu(e.flags) & ~VX_EXTENT_UNWRITTEN)
		printf(" flags 0x%x", le32_to_cpu(e.flags));
	if (V.total_blocks && (disk < V.first_block || disk >= V.total_blocks ||
			       len > V.total_blocks - disk)) {
		printf("  !! outside the volume");
		problems++;
	}
	printf("\n");
}

static void print_bitmap(const struct vx_ckey *k, const u8 *data, u32 size)
{
	u64 used = 0, first = k->offset * (u64)size * 8, b, nb = (u64)size * 8;

	if (V.total_blocks && first < V.total_blocks && nb > V.total_blocks - first)
		nb = V.total_blocks - first;	/* bits past the end are not blocks */
	for (b = 0; b < nb; b++)
		if (data[b >> 3] & (1U << (b & 7)))
			used++;
	printf("        bitmap: blocks %llu-%llu: %llu used, %llu free\n",
	       (unsigned long long)first, (unsigned long long)(first + nb - (nb ? 1 : 0)),
	       (unsigned long long)used, (unsigned long long)(nb - used));
	if (V.group_blocks && size != V.group_blocks / 8) {
		printf("        !! size %u, expected %u\n", size, V.group_blocks / 8);
		problems++;
	}
}

/* ---- vector spaces and embeddings ---- */

static void print_space(const struct vx_ckey *k, const u8 *data, u32 size)
{
	static const char *const metrics[] = { "?", "l2", "cosine", "ip" };
	struct vx_space_item it;
	u32 metric;

	if (size != sizeof(it)) {
		printf("        !! space item of size %u (expected %zu)\n", size, sizeof(it));
		problems++;
		return;
	}
	memcpy(&it, data, sizeof(it));
	metric = le32_to_cpu(it.metric);
	printf("        space %llu: name ", (unsigned long long)(k->objectid - VX_SPACE_OBJID_BASE));
	print_escaped(it.name, strnlen((const char *)it.name, VX_SPACE_NAME_LEN), VX_SPACE_NAME_LEN);
	printf("%s model ", le32_to_cpu(it.flags) & VX_SPACE_FLAG_DROPPED ? " DROPPED" : "");
	print_escaped(it.model, strnlen((const char *)it.model, VX_MODEL_NAME_LEN), VX_MODEL_NAME_LEN);
	printf(" version ");
	print_escaped(it.model_version,
		      strnlen((const char *)it.model_version, VX_MODEL_VERSION_LEN),
		      VX_MODEL_VERSION_LEN);
	printf("\n        dim %u elem %u metric %s M %u ef_construction %u ef_search %u flags 0x%x\n",
	       le32_to_cpu(it.dim), le32_to_cpu(it.elem_type), metric <= 3 ? metrics[metric] : "?",
	       le32_to_cpu(it.hnsw_m), le32_to_cpu(it.hnsw_ef_construction),
	       le32_to_cpu(it.hnsw_ef_search), le32_to_cpu(it.flags));
	printf("        vid_limit %llu live %llu entry ", (unsigned long long)le64_to_cpu(it.vid_limit),
	       (unsigned long long)le64_to_cpu(it.live_count));
	if (le64_to_cpu(it.entry_vid) == VX_VID_NONE)
		printf("none");
	else
		printf("%llu level %u", (unsigned long long)le64_to_cpu(it.entry_vid),
		       le32_to_cpu(it.max_level));
	printf("\n");
}

static void print_vblock(const struct vx_ckey *k, const u8 *data, u32 size)
{
	static const char *const cols[] = { "VECTORS", "META", "GRAPH" };
	u32 col = VX_VBLOCK_COL(k->offset);
	struct vx_blockptr p;

	if (size != sizeof(p)) {
		printf("        !! column block item of size %u (expected %zu)\n", size, sizeof(p));
		problems++;
		return;
	}
	memcpy(&p, data, sizeof(p));
	printf("        column %s block %llu -> disk block %llu birth %llu csum 0x%08x\n",
	       col < VX_VCOL_COUNT ? cols[col] : "?", (unsigned long long)VX_VBLOCK_BLK(k->offset),
	       (unsigned long long)le64_to_cpu(p.blocknr), (unsigned long long)le64_to_cpu(p.birth),
	       le32_to_cpu(p.csum));
}

static u32 le32_at(const u8 *p)
{
	__le32 v;

	memcpy(&v, p, sizeof(v));
	return le32_to_cpu(v);
}

static void print_vlinks(const struct vx_ckey *k, const u8 *data, u32 size)
{
	u32 words = size / 4, pos = 0, level = 1, i;

	printf("        links of vid %llu above level 0:\n", (unsigned long long)k->offset);
	while (pos < words) {
		u32 n = le32_at(data + 4 * pos++);

		printf("          level %u (%u):", level++, n);
		for (i = 0; i < n && pos < words; i++, pos++)
			printf(" %u", le32_at(data + 4 * pos));
		printf("\n");
		if (i < n)
			break;
	}
	if (size % 4 || pos != words) {
		printf("        !! malformed links item (%u bytes)\n", size);
		problems++;
	}
}

static void print_embed(const struct vx_ckey *k, const u8 *data, u32 size)
{
	struct vx_embed_item e;

	if (size != sizeof(e)) {
		printf("        !! embedding item of size %u (expected %zu)\n", size, sizeof(e));
		problems++;
		return;
	}
	memcpy(&e, data, sizeof(e));
	printf("        embedding: space %u vid %llu chunk %llu+%llu data_version %llu flags 0x%x\n",
	       VX_EMBED_SPACE(k->offset), (unsigned long long)VX_EMBED_VID(k->offset),
	       (unsigned long long)le64_to_cpu(e.chunk_offset),
	       (unsigned long long)le64_to_cpu(e.chunk_length),
	       (unsigned long long)le64_to_cpu(e.data_version), le32_to_cpu(e.flags));
}

/* STALE: the file key.offset is queued for automatic embedding. */
static void print_stale(const struct vx_ckey *k, const u8 *data, u32 size)
{
	struct vk_stale st;
	const char *why = vk_stale_decode(data, size, &st);

	if (size != sizeof(struct vx_stale_item)) {
		printf("        !! stale item of size %u (expected %zu)\n", size,
		       sizeof(struct vx_stale_item));
		problems++;
		return;
	}
	printf("        stale: inode %llu flags 0x%x%s failed_errno %u failed_version %llu\n",
	       (unsigned long long)k->offset, st.flags,
	       st.flags & VX_STALE_FAILED ? " (FAILED)" : "", st.failed_errno,
	       (unsigned long long)st.failed_version);
	if (why) {
		printf("        !! %s\n", why);
		problems++;
	}
}

static void print_item(const struct vx_ckey *k, const u8 *data, u32 size)
{
	switch (k->type) {
	case VX_ITEM_INODE: print_inode_item(data, size); break;
	case VX_ITEM_XATTR: print_xattrs(k, data, size); break;
	case VX_ITEM_DIRENT:
	case VX_ITEM_DIRINDEX: print_dirents(k, data, size); break;
	case VX_ITEM_EXTENT: print_extent(k, data, size); break;
	case VX_ITEM_INODE_REF: print_inode_refs(k, data, size); break;
	case VX_ITEM_ORPHAN:
		printf("        orphan: inode %llu%s\n", (unsigned long long)k->offset,
		       size ? " !! (item not empty)" : "");
		break;
	case VX_ITEM_ALLOC_BITMAP: print_bitmap(k, data, size); break;
	case VX_ITEM_EMBED: print_embed(k, data, size); break;
	case VX_ITEM_SPACE: print_space(k, data, size); break;
	case VX_ITEM_VBLOCK: print_vblock(k, data, size); break;
	case VX_ITEM_VLINKS: print_vlinks(k, data, size); break;
	case VX_ITEM_STALE: print_stale(k, data, size); break;
	default:
		printf("        unknown item type %u, %u bytes\n", k->type, size);
		if (size)
			hexdump(data, size < 64 ? size : 64);
	}
}

/* ---------------------------------------------------------------- nodes */

static void print_problem(void *ctx, const struct vk_ptr *p, const char *msg)
{
	problems++;
	if (p)
		printf("  !! block %llu: %s\n", (unsigned long long)p->blocknr, msg);
	else
		printf("  !! %s\n", msg);
}

static u32 leaf_free(const u8 *blk, u32 n)
{
	const struct vx_item *it = vk_items(blk);
	u64 used = sizeof(struct vx_node_header) + (u64)n * sizeof(struct vx_item);
	u32 i;

	for (i = 0; i < n; i++)
		used += le32_to_cpu(it[i].size);
	return used > V.bs ? 0 : (u32)(V.bs - used);
}

/* Print a node; filter_ino: print only items of that object (0 = all). */
static void print_node(const struct vk_ptr *p, const u8 *blk, bool ok, u64 filter_ino,
		       bool filter)
{
	const struct vx_node_header *h = vk_hdr(blk);
	u32 n = vk_safe_nritems(blk, V.bs), i;
	char ks[VK_KEY_STR], u[40];

	if (le32_to_cpu(h->magic) != VX_NODE_MAGIC) {
		printf("block %llu: not a tree node (magic 0x%08x)\n",
		       (unsigned long long)p->blocknr, le32_to_cpu(h->magic));
		hexdump(blk, 128);
		return;
	}
	if (!filter) {
		printf("%s %llu level %u %s %u%s birth %llu owner %llu (%s) csum 0x%08x%s",
		       h->level ? "node" : "leaf", (unsigned long long)p->blocknr, h->level,
		       h->level ? "entries" : "items", vk_nritems(blk),
		       n != vk_nritems(blk) ? " (!! too many)" : "",
		       (unsigned long long)le64_to_cpu(h->birth),
		       (unsigned long long)le64_to_cpu(h->owner),
		       vk_tree_name((int)le64_to_cpu(h->owner)), le32_to_cpu(h->csum),
		       le32_to_cpu(h->csum) == vk_node_csum(blk, V.bs) ? "" : " (BAD)");
		if (!h->level)
			printf(" free %u", leaf_free(blk, n));
		printf("\n");
		if (le64_to_cpu(h->blocknr) != p->blocknr)
			printf("  header block number %llu\n", (unsigned long long)le64_to_cpu(h->blocknr));
		if (V.sb && memcmp(h->fsid, V.sb->uuid, VX_UUID_LEN))
			printf("  fsid %s\n", vk_uuid_str(h->fsid, u));
	}
	if (h->level) {
		const struct vx_node_entry *e = vk_entries(blk);

		if (filter)
			return;
		for (i = 0; i < n; i++)
			printf("  entry %u key %s -> block %llu birth %llu csum 0x%08x\n", i,
			       vk_dkey_str(&e[i].key, ks),
			       (unsigned long long)le64_to_cpu(e[i].ptr.blocknr),
			       (unsigned long long)le64_to_cpu(e[i].ptr.birth),
			       le32_to_cpu(e[i].ptr.csum));
		return;
	}
	for (i = 0; i < n; i++) {
		const struct vx_item *it = &vk_items(blk)[i];
		u32 off = le32_to_cpu(it->offset), size = le32_to_cpu(it->size);
		struct vx_ckey k;
		bool in_bounds = off <= V.bs && size <= V.bs - off &&
				 off >= sizeof(struct vx_node_header) + n * sizeof(struct vx_item);

		vk_key_from_disk(&k, &it->key);
		if (filter && k.objectid != filter_ino) {
			/* names of other directories that point at the inode */
			if (in_bounds && (k.type == VX_ITEM_DIRENT || k.type == VX_ITEM_DIRINDEX)) {
				struct vk_dirent d;
				u32 o = 0;

				while (vk_dirent_next(blk + off, size, &o, &d) == 1)
					if (d.ino == filter_ino && k.type == VX_ITEM_DIRENT) {
						printf("  named in directory %llu as ",
						       (unsigned long long)k.objectid);
						print_escaped((const u8 *)d.name, d.name_len, VX_NAME_MAX);
						printf(" (index %llu)\n", (unsigned long long)d.index);
					}
			}
			if (k.objectid == VX_ORPHAN_OBJECTID && k.offset == filter_ino)
				printf("  on the orphan list\n");
			if (k.type == VX_ITEM_STALE && k.offset == filter_ino &&
			    k.objectid >= VX_SPACE_OBJID(1) &&
			    k.objectid <= VX_SPACE_OBJID(VX_SPACE_ID_MAX)) {
				struct vk_stale st;

				printf("  queued for embedding in vector space %u",
				       (u32)(k.objectid - VX_SPACE_OBJID_BASE));
				if (in_bounds && !vk_stale_decode(blk + off, size, &st) &&
				    (st.flags & VX_STALE_FAILED))
					printf(" (failed at data version %llu: errno %u)",
					       (unsigned long long)st.failed_version,
					       st.failed_errno);
				printf("\n");
			}
			continue;
		}
		printf("  item %u key %s off %u size %u\n", i, vk_key_str(&k, ks), off, size);
		if (!in_bounds) {
			printf("        !! data outside the block\n");
			problems++;
			continue;
		}
		print_item(&k, blk + off, size);
	}
	(void)ok;
}

static bool dump_claim(void *ctx, const struct vk_ptr *p)
{
	u64 b = p->blocknr;

	if (visited[b >> 3] & (1U << (b & 7))) {
		printf("  !! block %llu is referenced twice; not printed again\n",
		       (unsigned long long)b);
		problems++;
		return true;
	}
	visited[b >> 3] |= (u8)(1U << (b & 7));
	return false;
}

struct dump_ctx {
	bool filter;
	u64 ino;
};

static void dump_node(void *vctx, const struct vk_ptr *p, const u8 *blk, bool ok)
{
	struct dump_ctx *c = vctx;

	print_node(p, blk, ok, c->ino, c->filter);
}

static void dump_problem(void *vctx, const struct vk_ptr *p, const char *msg)
{
	struct dump_ctx *c = vctx;

	if (c->filter) {
		problems++;
		return;
	}
	print_problem(NULL, p, msg);
}

static void dump_tree(int tree, bool filter, u64 ino)
{
	const struct vx_superblock *sb = V.sb;
	const struct vx_blockptr *root = tree == VX_TREE_FS ? &sb->fs_root : &sb->alloc_root;
	int level = tree == VX_TREE_FS ? sb->fs_root_level : sb->alloc_root_level;
	struct dump_ctx c = { filter, ino };
	struct vk_walk w;

	if (!filter)
		printf("%s tree: root block %llu level %d\n", vk_tree_name(tree),
		       (unsigned long long)le64_to_cpu(root->blocknr), level);
	memset(&w, 0, sizeof(w));
	w.v = &V;
	w.tree = tree;
	w.descend_bad = true;
	w.ctx = &c;
	w.problem = dump_problem;
	w.claim = dump_claim;
	w.node = dump_node;
	vk_walk_tree(&w, root, level);
}

static int dump_block(u64 blocknr)
{
	struct vk_ptr p;
	u8 *blk;
	int err;

	if (!V.bs) {
		fprintf(stderr, "vexfs-dump: no valid superblock: give --block-size\n");
		return 1;
	}
	if (blocknr >= V.dev_bytes / V.bs) {
		fprintf(stderr, "vexfs-dump: block %llu is past the end of the device (%llu blocks)\n",
			(unsigned long long)blocknr, (unsigned long long)(V.dev_bytes / V.bs));
		return 1;
	}
	blk = malloc(V.bs);
	if (!blk)
		return 1;
	err = vk_read_block(&V, blocknr, blk);
	if (err) {
		fprintf(stderr, "vexfs-dump: cannot read block %llu: %s\n",
			(unsigned long long)blocknr, strerror(-err));
		free(blk);
		return 1;
	}
	memset(&p, 0, sizeof(p));
	p.blocknr = blocknr;
	p.parent = ~0ULL;	/* no parent's record to compare with */
	p.level = -1;
	if (blocknr < V.first_block)
		printf("note: block %llu lies in the reserved area\n", (unsigned long long)blocknr);
	print_node(&p, blk, true, 0, false);
	if (le32_to_cpu(vk_hdr(blk)->magic) == VX_NODE_MAGIC)
		vk_check_node(&V, blk, &p, print_problem, NULL);
	free(blk);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "super", no_argument, NULL, 's' },
		{ "tree", required_argument, NULL, 't' },
		{ "block", required_argument, NULL, 'b' },
		{ "inode", required_argument, NULL, 'i' },
		{ "slot", required_argument, NULL, 'S' },
		{ "block-size", required_argument, NULL, 'B' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dev = NULL;
	char *end;
	int c, err, ret = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "st:b:i:S:B:Vh", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt.super = true;
			break;
		case 't':
			if (!strcmp(optarg, "fs"))
				opt.fs_tree = true;
			else if (!strcmp(optarg, "alloc"))
				opt.alloc_tree = true;
			else {
				fprintf(stderr, "vexfs-dump: unknown tree \"%s\" (fs or alloc)\n", optarg);
				return 1;
			}
			opt.trees = true;
			break;
		case 'b':
			errno = 0;
			opt.blocknr = strtoull(optarg, &end, 0);
			if (errno || *end || !*optarg) {
				fprintf(stderr, "vexfs-dump: invalid block number \"%s\"\n", optarg);
				return 1;
			}
			opt.block = true;
			break;
		case 'i':
			errno = 0;
			opt.ino = strtoull(optarg, &end, 0);
			if (errno || *end || !*optarg || !opt.ino) {
				fprintf(stderr, "vexfs-dump: invalid inode number \"%s\"\n", optarg);
				return 1;
			}
			opt.inode = true;
			break;
		case 'S':
			if (strcmp(optarg, "0") && strcmp(optarg, "1")) {
				fprintf(stderr, "vexfs-dump: --slot must be 0 or 1\n");
				return 1;
			}
			opt.slot = optarg[0] - '0';
			break;
		case 'B':
			opt.force_bs = (u32)strtoul(optarg, &end, 0);
			if (*end || (opt.force_bs != 1024 && opt.force_bs != 2048 &&
				     opt.force_bs != 4096)) {
				fprintf(stderr, "vexfs-dump: invalid block size \"%s\"\n", optarg);
				return 1;
			}
			break;
		case 'V':
			printf("vexfs-dump %s (VexFS on-disk format %d)\n", VERSION, VX_FORMAT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	dev = argv[optind];
	err = vk_open(&V, dev, 0);
	if (err) {
		fprintf(stderr, "vexfs-dump: cannot open %s: %s\n", dev, strerror(-err));
		return 1;
	}
	if (opt.slot >= 0) {
		if (vk_use_slot(&V, opt.slot)) {
			fprintf(stderr, "vexfs-dump: superblock slot %d has no usable geometry\n",
				opt.slot);
			vk_close(&V);
			return 1;
		}
		V.active = opt.slot;
	}
	if (!V.sb && opt.force_bs) {
		V.bs = opt.force_bs;
		V.first_block = VK_FIRST_BLOCK(V.bs);
		vx_devfile_set_block_size(V.dev, V.bs);
	} else if (V.sb && opt.force_bs && opt.force_bs != V.bs) {
		fprintf(stderr, "vexfs-dump: note: superblock says block size %u; using it\n", V.bs);
	}

	if (!opt.super && !opt.trees && !opt.block && !opt.inode) {
		opt.super = true;
		opt.trees = opt.fs_tree = opt.alloc_tree = true;
	}
	if (opt.super) {
		print_super(0);
		print_super(1);
		if (V.active < 0)
			printf("no usable superblock%s\n",
			       V.slot[0].has_magic || V.slot[1].has_magic ? "" :
			       ": not a VexFS volume");
	}
	if ((opt.trees || opt.inode) && !V.sb) {
		fprintf(stderr, "vexfs-dump: %s: no usable superblock: cannot walk the trees%s\n",
			dev, opt.slot < 0 ? " (try --slot)" : "");
		ret = 1;
	} else if (opt.trees || opt.inode) {
		visited = calloc(1, V.total_blocks / 8 + 1);
		if (!visited) {
			fprintf(stderr, "vexfs-dump: out of memory\n");
			vk_close(&V);
			return 1;
		}
		if (opt.trees && opt.alloc_tree)
			dump_tree(VX_TREE_ALLOC, false, 0);
		if (opt.trees && opt.fs_tree)
			dump_tree(VX_TREE_FS, false, 0);
		if (opt.inode) {
			memset(visited, 0, V.total_blocks / 8 + 1);
			printf("inode %llu:\n", (unsigned long long)opt.ino);
			dump_tree(VX_TREE_FS, true, opt.ino);
		}
		free(visited);
	}
	if (opt.block && dump_block(opt.blocknr))
		ret = 1;
	vk_close(&V);
	if (!ret && problems)
		ret = 2;
	return ret;
}
