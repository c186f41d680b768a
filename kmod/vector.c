// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS vector ioctls: spaces, embeddings and k-NN search
 * (include/uapi/linux/vexfs.h, docs/IOCTL.md).  The work is the core's
 * (core/vx_vector.c stores, core/vx_index.c and vx_hnsw.c search); this file
 * checks every argument, copies between user and kernel memory outside any
 * vexfs lock, applies permissions, and runs float work only inside FPU
 * sections.
 *
 * Locking: sbi->index_sem is taken before sbi->lock.  Searches hold it
 * shared while they read an index; anything that changes an index (adding,
 * updating or deleting embeddings, removing an inode, dropping a space,
 * linking pending vectors) holds it exclusively.  Inodes are looked up and
 * released (iget/iput) only after index_sem is dropped, since the last iput
 * of an unlinked inode removes it, which takes index_sem.
 */
#include <linux/fs.h>
#include <linux/uaccess.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/slab.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include "vexfs.h"
#include "vx_vector.h"
#include "vexfs_uapi.h"

/* Pending vectors linked per exclusive hold of index_sem, at most. */
#define VEXFS_LINK_BATCH	32

/*
 * Background linking waits until a space's additions pause, so that an
 * ingest does not compete with it (as Qdrant defers indexing of a growing
 * segment); pending vectors are found by exact scan meanwhile.  A large
 * enough backlog starts it anyway, bounding the cost of those scans.
 */
static unsigned int link_delay_ms = 1000;
module_param(link_delay_ms, uint, 0644);
MODULE_PARM_DESC(link_delay_ms,
		 "background HNSW linking starts once vector additions have paused this long (ms)");
static unsigned int link_eager_pending = 20000;
module_param(link_eager_pending, uint, 0644);
MODULE_PARM_DESC(link_eager_pending,
		 "pending vectors in a space that start linking it without waiting for a pause");
/* Items of a dropped space deleted per core call. */
#define VEXFS_REAP_BATCH	2048
/* Above this many candidates a filtered search scans exactly. */
#define VEXFS_FILTER_EXACT	2048
#define VEXFS_PATHS_MAX		(16U << 20)

bool vexfs_all_zero(const void *p, size_t n)
{
	return !memchr_inv(p, 0, n);
}

/* A NUL-terminated name of at most VEXFS_NAME_MAX - 1 bytes. */
int vexfs_check_name(const char *name)
{
	return strnlen(name, VEXFS_NAME_MAX) < VEXFS_NAME_MAX ? 0 : -EINVAL;
}

/* Vectors must be finite: checked on the bits, without the FPU. */
static int vexfs_check_floats(const u32 *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((v[i] & 0x7f800000U) == 0x7f800000U)
			return -EINVAL;
	return 0;
}

static u32 vexfs_float_bits(const float *f)
{
	u32 bits;

	memcpy(&bits, f, sizeof(bits));
	return bits;
}

/*
 * The space a request names, or with "" the default space of dir (which may
 * be NULL).  -ENOENT if there is none.
 */
static int vexfs_resolve_space(struct vexfs_sb_info *sbi, const char *name,
			       struct inode *dir, struct vx_space_desc *d)
{
	u32 id = 0;
	int err;

	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	if (!name[0]) {
		if (dir)
			id = VEXFS_I(dir)->d.default_space;
		err = id ? 0 : -ENOENT;
	} else {
		err = vx_space_lookup(sbi->fs, name, &id);
	}
	if (!err)
		err = vx_space_get(sbi->fs, id, d);
	vexfs_unlock(sbi);
	return err;
}

/* ------------------------------------------------------------ scratch */

static struct vx_index_scratch *vexfs_get_scratch(struct vexfs_sb_info *sbi,
						  struct vx_index *idx, u32 ef)
{
	struct vx_index_scratch *s = NULL, *stale = NULL;
	int i;

	spin_lock(&sbi->scratch_lock);
	for (i = 0; i < VEXFS_SCRATCH_POOL; i++) {
		if (!sbi->scratch[i])
			continue;
		if (vx_index_scratch_fits(idx, sbi->scratch[i], ef)) {
			s = sbi->scratch[i];
			sbi->scratch[i] = NULL;
			break;
		}
		if (!stale) {
			stale = sbi->scratch[i];
			sbi->scratch[i] = NULL;
		}
	}
	spin_unlock(&sbi->scratch_lock);
	if (stale)
		vx_index_scratch_free(stale);
	if (!s)
		s = vx_index_scratch_alloc(idx, ef);
	return s;
}

static void vexfs_put_scratch(struct vexfs_sb_info *sbi,
			      struct vx_index_scratch *s)
{
	int i;

	spin_lock(&sbi->scratch_lock);
	for (i = 0; i < VEXFS_SCRATCH_POOL; i++) {
		if (!sbi->scratch[i]) {
			sbi->scratch[i] = s;
			s = NULL;
			break;
		}
	}
	spin_unlock(&sbi->scratch_lock);
	if (s)
		vx_index_scratch_free(s);
}

/* The space's index, loaded on first use; the caller holds index_sem. */
static int vexfs_get_index(struct vexfs_sb_info *sbi, u32 id,
			   struct vx_index **idx)
{
	int err = vexfs_lock_op(sbi);

	if (err)
		return err;
	err = vx_space_index(sbi->fs, id, idx);
	vexfs_unlock(sbi);
	return err;
}

/* ------------------------------------------------------------ linking */

/*
 * Vectors are being added and a space's backlog (pending) is still small:
 * background linking waits for a pause.
 */
static bool vexfs_linking_waits(struct vexfs_sb_info *sbi, u64 pending)
{
	unsigned long quiet = READ_ONCE(sbi->link_last_add) +
			      msecs_to_jiffies(READ_ONCE(link_delay_ms));

	return time_before(jiffies, quiet) &&
	       pending < READ_ONCE(link_eager_pending);
}

/*
 * Link a space's pending vectors into its graph, a batch at a time, and
 * save what changed.  Searches run between batches.  killable: an explicit
 * INDEX_BUILD; otherwise the background work, which gives way (-EAGAIN)
 * while additions go on and the backlog is small: the last addition has
 * queued it again.
 */
static int vexfs_link_space(struct vexfs_sb_info *sbi, u32 id, bool killable)
{
	struct vx_index_scratch *s;
	struct vx_index_stats st;
	struct vx_index *idx;
	u32 linked, n;
	int err;

	for (;;) {
		down_write(&sbi->index_sem);
		err = vexfs_get_index(sbi, id, &idx);
		if (err)
			goto out_unlock;
		vx_index_get_stats(idx, &st);
		if (!st.pending)
			goto out_unlock;
		if (!killable && vexfs_linking_waits(sbi, st.pending)) {
			err = -EAGAIN;
			goto out_unlock;
		}
		s = vexfs_get_scratch(sbi, idx, vx_index_params(idx)->ef_construction);
		if (!s) {
			err = -ENOMEM;
			goto out_unlock;
		}
		/*
		 * One vector at a time, giving index_sem up as soon as an
		 * addition or a search waits for it: an insertion is the
		 * longest any of them waits.
		 */
		for (n = 0; n < VEXFS_LINK_BATCH; n++) {
			vx_fpu_begin();
			err = vx_index_link_pending(idx, s, 1, &linked);
			vx_fpu_end();
			if (err || !linked || rwsem_is_contended(&sbi->index_sem))
				break;
		}
		vexfs_put_scratch(sbi, s);
		/* save under the shared lock: searches may go on meanwhile */
		downgrade_write(&sbi->index_sem);
		if (!err) {
			err = vexfs_lock_op(sbi);
			if (!err) {
				err = vx_space_save_graph(sbi->fs, id);
				vexfs_unlock(sbi);
			}
		}
		up_read(&sbi->index_sem);
		if (err)
			return err;
		if (killable && fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
out_unlock:
	up_write(&sbi->index_sem);
	return err;
}

/* Background linking of every space that has pending vectors. */
static void vexfs_link_workfn(struct work_struct *work)
{
	struct vexfs_sb_info *sbi = container_of(to_delayed_work(work),
						 struct vexfs_sb_info, link_work);
	struct super_block *sb = sbi->sb;
	struct vx_space_desc d;
	u32 after = 0;
	int err;

	for (;;) {
		if (test_bit(VEXFS_UNMOUNTING, &sbi->flags) ||
		    vexfs_is_shutdown(sbi) || sb_rdonly(sb))
			return;
		if (vexfs_lock_op(sbi))
			return;
		err = vx_space_next(sbi->fs, after, &d);
		vexfs_unlock(sbi);
		if (err)
			return;
		after = d.id;
		/* a frozen volume takes no changes: the next add requeues us */
		if (!sb_start_write_trylock(sb))
			return;
		err = vexfs_link_space(sbi, d.id, false);
		sb_end_write(sb);
		if (err == -EAGAIN)	/* requeued by the last addition */
			continue;
		/* -ENOENT: the space was dropped meanwhile, nothing to index */
		if (err && err != -EROFS && err != -EIO && err != -ENOENT)
			vexfs_warn(sb, "indexing space %s failed (%d); searches still find its vectors by exact scan",
				   d.name, err);
	}
}

/*
 * Vectors are pending.  added: vectors were just added, which postpones
 * linking until additions pause, unless the space's backlog (pending) is
 * large; a search (!added) only makes sure linking is scheduled.
 */
static void vexfs_kick_linking(struct vexfs_sb_info *sbi, bool added,
			       u64 pending)
{
	unsigned long delay = msecs_to_jiffies(READ_ONCE(link_delay_ms));

	if (test_bit(VEXFS_UNMOUNTING, &sbi->flags))
		return;
	if (!added) {
		queue_delayed_work(system_unbound_wq, &sbi->link_work, delay);
		return;
	}
	WRITE_ONCE(sbi->link_last_add, jiffies);
	if (pending >= READ_ONCE(link_eager_pending))
		delay = 0;
	mod_delayed_work(system_unbound_wq, &sbi->link_work, delay);
}

/* ------------------------------------------------------------ spaces */

static void vexfs_fill_info(struct vexfs_space_info *o,
			    const struct vx_space_desc *d,
			    const struct vx_index_stats *st)
{
	struct vx_index_params p = {
		.dim = d->dim,
		.metric = d->metric,
		.m = d->hnsw_m,
		.ef_construction = d->hnsw_ef_construction,
	};

	memset(o, 0, sizeof(*o));
	o->space_id = d->id;
	o->dim = d->dim;
	o->elem_type = d->elem_type;
	o->metric = d->metric;
	o->hnsw_m = d->hnsw_m;
	o->hnsw_ef_construction = d->hnsw_ef_construction;
	o->hnsw_ef_search = d->hnsw_ef_search;
	strscpy(o->name, d->name, sizeof(o->name));
	strscpy(o->model, d->model, sizeof(o->model));
	strscpy(o->model_version, d->model_version, sizeof(o->model_version));
	o->vector_count = d->live_count;
	o->bytes_per_vector = vx_index_bytes_per_vector(&p);
	o->create_time_ns = d->create_time;
	if (st) {
		o->indexed_count = st->indexed;
		o->pending_count = st->pending;
		o->index_bytes = st->memory_bytes;
		o->max_level = st->max_level;
		o->loaded = 1;
	}
}

/* Describe a space, loading its index to report the graph's state. */
static int vexfs_space_describe(struct vexfs_sb_info *sbi, const char *name,
				struct vexfs_space_info *out)
{
	struct vx_index_stats st;
	struct vx_space_desc d;
	struct vx_index *idx;
	int err;

	down_read(&sbi->index_sem);
	err = vexfs_lock_op(sbi);
	if (err)
		goto out;
	err = vx_space_lookup(sbi->fs, name, &d.id);
	if (!err)
		err = vx_space_get(sbi->fs, d.id, &d);
	if (!err)
		err = vx_space_index(sbi->fs, d.id, &idx);
	vexfs_unlock(sbi);
	if (!err) {
		vx_index_get_stats(idx, &st);
		vexfs_fill_info(out, &d, &st);
	}
out:
	up_read(&sbi->index_sem);
	return err;
}

static int vexfs_space_create(struct vexfs_sb_info *sbi,
			      struct vexfs_manage *m)
{
	struct vexfs_space_info *in = &m->space;
	struct vx_space_desc d;
	int err;

	if (vexfs_check_name(in->name) || vexfs_check_name(m->name) ||
	    strnlen(in->model, VEXFS_MODEL_MAX) >= VEXFS_MODEL_MAX ||
	    strnlen(in->model_version, VEXFS_MODEL_VERSION_MAX) >=
	    VEXFS_MODEL_VERSION_MAX || in->flags ||
	    !vexfs_all_zero(in->reserved, sizeof(in->reserved)))
		return -EINVAL;
	/* the name may be given in either place; if both, they must agree */
	if (m->name[0] && in->name[0] && strcmp(m->name, in->name))
		return -EINVAL;
	memset(&d, 0, sizeof(d));
	strscpy(d.name, in->name[0] ? in->name : m->name, sizeof(d.name));
	strscpy(d.model, in->model, sizeof(d.model));
	strscpy(d.model_version, in->model_version, sizeof(d.model_version));
	d.dim = in->dim;
	d.elem_type = in->elem_type;
	d.metric = in->metric;
	d.hnsw_m = in->hnsw_m;
	d.hnsw_ef_construction = in->hnsw_ef_construction;
	d.hnsw_ef_search = in->hnsw_ef_search;

	for (;;) {
		err = vexfs_lock_op(sbi);
		if (err)
			return err;
		err = vx_space_create(sbi->fs, &d);
		if (!err)
			err = vx_space_get(sbi->fs, d.id, &d);
		vexfs_unlock(sbi);
		if (!vexfs_enospc_retry(sbi, err))
			break;
	}
	if (!err)
		vexfs_fill_info(&m->space, &d, NULL);
	return err;
}

/* Delete a dropped space's items in bounded steps; commits go between. */
static int vexfs_reap_space(struct vexfs_sb_info *sbi, u32 id)
{
	bool done = false;
	int err = 0;

	while (!done) {
		err = vexfs_lock_op(sbi);
		if (err)
			break;
		err = vx_space_reap(sbi->fs, id, VEXFS_REAP_BATCH, &done);
		vexfs_unlock(sbi);
		if (err)
			break;
		if (fatal_signal_pending(current))
			return 0;	/* the next mount finishes the job */
		cond_resched();
	}
	return err;
}

static int vexfs_space_drop(struct vexfs_sb_info *sbi, const char *name)
{
	u32 id;
	int err;

	down_write(&sbi->index_sem);
	err = vexfs_lock_op(sbi);
	if (!err) {
		err = vx_space_lookup(sbi->fs, name, &id);
		if (!err)
			err = vx_space_drop(sbi->fs, id);
		vexfs_unlock(sbi);
	}
	up_write(&sbi->index_sem);
	if (err)
		return err;
	return vexfs_reap_space(sbi, id);
}

static int vexfs_space_list(struct vexfs_sb_info *sbi, struct vexfs_manage *m)
{
	struct vexfs_space_info __user *uinfo = u64_to_user_ptr(m->list_ptr);
	struct vexfs_space_info info;
	struct vx_space_desc d;
	u32 after = 0, filled = 0, total = 0;
	int err;

	for (;;) {
		err = vexfs_lock_op(sbi);
		if (err)
			return err;
		err = vx_space_next(sbi->fs, after, &d);
		vexfs_unlock(sbi);
		if (err == -ENOENT)
			break;
		if (err)
			return err;
		after = d.id;
		total++;
		if (filled < m->list_count) {
			vexfs_fill_info(&info, &d, NULL);
			if (copy_to_user(uinfo + filled, &info, sizeof(info)))
				return -EFAULT;
			filled++;
		}
	}
	m->list_filled = filled;
	m->list_total = total;
	return 0;
}

static int vexfs_index_build(struct vexfs_sb_info *sbi, const char *name,
			     bool rebuild)
{
	struct vx_index *idx;
	u32 id;
	int err;

	down_write(&sbi->index_sem);
	err = vexfs_lock_op(sbi);
	if (!err) {
		err = vx_space_lookup(sbi->fs, name, &id);
		if (!err)
			err = vx_space_index(sbi->fs, id, &idx);
		vexfs_unlock(sbi);
	}
	if (!err && rebuild)
		vx_index_unlink_all(idx);
	up_write(&sbi->index_sem);
	if (err)
		return err;
	return vexfs_link_space(sbi, id, true);
}

static int vexfs_dir_set_space(struct file *file, const char *name)
{
	struct inode *dir = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	u32 id = 0;
	int err;

	if (!inode_owner_or_capable(vexfs_file_idmap(file), dir))
		return -EPERM;
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	if (name[0])
		err = vx_space_lookup(sbi->fs, name, &id);
	if (!err)
		err = vx_op_begin(sbi->fs, 1, false);
	if (!err) {
		VEXFS_I(dir)->d.default_space = id;
		err = vexfs_write_inode_locked(dir);
		vx_op_end(sbi->fs);
	}
	vexfs_unlock(sbi);
	return err;
}

static int vexfs_dir_get_space(struct inode *dir, char *name)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct vx_space_desc d;
	u32 id;
	int err;

	name[0] = '\0';
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	id = VEXFS_I(dir)->d.default_space;
	/* a dropped space reads as no default */
	if (id && !vx_space_get(sbi->fs, id, &d))
		strscpy(name, d.name, VEXFS_NAME_MAX);
	vexfs_unlock(sbi);
	return 0;
}

static long vexfs_ioc_manage(struct file *file, struct vexfs_manage __user *argp)
{
	struct inode *inode = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_manage m;
	bool writes, admin;
	int err;

	if (copy_from_user(&m, argp, sizeof(m)))
		return -EFAULT;
	if (m.size != sizeof(m) || m.flags || vexfs_check_name(m.name) ||
	    !vexfs_all_zero(m.reserved, sizeof(m.reserved)))
		return -EINVAL;

	switch (m.op) {
	case VEXFS_OP_SPACE_CREATE:
	case VEXFS_OP_SPACE_DROP:
	case VEXFS_OP_INDEX_BUILD:
	case VEXFS_OP_INDEX_REBUILD:
	case VEXFS_OP_SET_EF:
		writes = admin = true;
		break;
	case VEXFS_OP_DIR_SET_SPACE:
		writes = true;
		admin = false;
		break;
	case VEXFS_OP_SPACE_INFO:
	case VEXFS_OP_SPACE_LIST:
	case VEXFS_OP_DIR_GET_SPACE:
		writes = admin = false;
		break;
	default:
		return -EINVAL;
	}
	if (admin && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	if ((m.op == VEXFS_OP_DIR_SET_SPACE || m.op == VEXFS_OP_DIR_GET_SPACE) &&
	    !S_ISDIR(inode->i_mode))
		return -ENOTDIR;
	if ((m.op == VEXFS_OP_SPACE_DROP || m.op == VEXFS_OP_SPACE_INFO ||
	     m.op == VEXFS_OP_INDEX_BUILD || m.op == VEXFS_OP_INDEX_REBUILD ||
	     m.op == VEXFS_OP_SET_EF) && !m.name[0])
		return -EINVAL;
	if (writes) {
		err = mnt_want_write_file(file);
		if (err)
			return err;
	}

	switch (m.op) {
	case VEXFS_OP_SPACE_CREATE:
		err = vexfs_space_create(sbi, &m);
		break;
	case VEXFS_OP_SPACE_DROP:
		err = vexfs_space_drop(sbi, m.name);
		break;
	case VEXFS_OP_SPACE_INFO:
		err = vexfs_space_describe(sbi, m.name, &m.space);
		break;
	case VEXFS_OP_SPACE_LIST:
		err = vexfs_space_list(sbi, &m);
		break;
	case VEXFS_OP_INDEX_BUILD:
	case VEXFS_OP_INDEX_REBUILD:
		err = vexfs_index_build(sbi, m.name,
					m.op == VEXFS_OP_INDEX_REBUILD);
		if (!err)
			err = vexfs_space_describe(sbi, m.name, &m.space);
		break;
	case VEXFS_OP_SET_EF: {
		u32 id;

		if (!m.space.hnsw_ef_search ||
		    m.space.hnsw_ef_search > VEXFS_EF_MAX) {
			err = -EINVAL;
			break;
		}
		err = vexfs_lock_op(sbi);
		if (err)
			break;
		err = vx_space_lookup(sbi->fs, m.name, &id);
		if (!err)
			err = vx_space_set_ef(sbi->fs, id, m.space.hnsw_ef_search);
		vexfs_unlock(sbi);
		break;
	}
	case VEXFS_OP_DIR_SET_SPACE:
		err = vexfs_dir_set_space(file, m.name);
		break;
	case VEXFS_OP_DIR_GET_SPACE:
		err = vexfs_dir_get_space(inode, m.name);
		break;
	}
	if (writes)
		mnt_drop_write_file(file);
	if (!err && copy_to_user(argp, &m, sizeof(m)))
		err = -EFAULT;
	return err;
}

/* ------------------------------------------------------------ embeddings */

/* Copy and check the chunk array of an ADD / UPDATE / DELETE. */
static int vexfs_get_chunks(const struct vexfs_embeddings *a,
			    struct inode *inode, struct vx_embed **out)
{
	struct vexfs_chunk *uc;
	struct vx_embed *e;
	u32 i;
	int err = 0;

	uc = kvmalloc_array(a->count, sizeof(*uc), GFP_KERNEL);
	e = kvcalloc(a->count, sizeof(*e), GFP_KERNEL);
	if (!uc || !e) {
		err = -ENOMEM;
		goto out;
	}
	if (copy_from_user(uc, u64_to_user_ptr(a->chunks_ptr),
			   (size_t)a->count * sizeof(*uc))) {
		err = -EFAULT;
		goto out;
	}
	for (i = 0; i < a->count; i++) {
		if (uc[i].flags || uc[i].reserved ||
		    uc[i].offset + uc[i].length < uc[i].offset) {
			err = -EINVAL;
			goto out;
		}
		e[i].chunk_offset = uc[i].offset;
		/* offset 0, length 0: the whole file as it is now */
		e[i].chunk_length = uc[i].length;
		if (!uc[i].offset && !uc[i].length)
			e[i].chunk_length = i_size_read(inode);
	}
out:
	kvfree(uc);
	if (err) {
		kvfree(e);
		e = NULL;
	}
	*out = e;
	return err;
}

static int vexfs_emb_change(struct file *file, unsigned int cmd,
			    struct vexfs_embeddings *a, struct inode *dir)
{
	struct inode *inode = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vx_space_desc d;
	struct vx_embed *e = NULL;
	void *vecs = NULL;
	bool replace_empty;
	u64 bytes, dv, pending = 0;
	struct vx_index_stats st;
	struct vx_index *idx;
	u32 i;
	int err;

	if (a->flags & VEXFS_EMB_ALL_SPACES) {
		/* every space: no name, no chunk list */
		if (a->count || a->name[0])
			return -EINVAL;
		d.id = 0;
	} else {
		err = vexfs_resolve_space(sbi, a->name, dir, &d);
		if (err)
			return err;
	}
	/* ADD of nothing with REPLACE_ALL: the file has no embeddings now */
	replace_empty = cmd == VEXFS_IOC_EMB_ADD && !a->count &&
			(a->flags & VEXFS_EMB_REPLACE_ALL);
	if (cmd != VEXFS_IOC_EMB_DELETE && !replace_empty) {
		if (a->dim != d.dim || !a->count)
			return -EINVAL;
		bytes = (u64)a->count * d.dim * sizeof(u32);
		if (a->count > VEXFS_BATCH_MAX || bytes > VEXFS_BATCH_BYTES_MAX)
			return -E2BIG;
		vecs = kvmalloc(bytes, GFP_KERNEL);
		if (!vecs)
			return -ENOMEM;
		err = -EFAULT;
		if (copy_from_user(vecs, u64_to_user_ptr(a->vectors_ptr), bytes))
			goto out;
		err = vexfs_check_floats(vecs, bytes / sizeof(u32));
		if (err)
			goto out;
	} else if (a->count > VEXFS_BATCH_MAX) {
		return -E2BIG;
	}
	if (a->count) {
		err = vexfs_get_chunks(a, inode, &e);
		if (err)
			goto out;
	}

	err = mnt_want_write_file(file);
	if (err)
		goto out;
	for (;;) {
		down_write(&sbi->index_sem);
		err = vexfs_lock_op(sbi);
		if (err) {
			up_write(&sbi->index_sem);
			break;
		}
		dv = VEXFS_I(inode)->d.data_version;
		if (cmd != VEXFS_IOC_EMB_DELETE && a->expect_version &&
		    a->expect_version != dv) {
			err = -ESTALE;
		} else if (cmd == VEXFS_IOC_EMB_DELETE || replace_empty) {
			err = vx_embed_delete(sbi->fs, inode->i_ino, d.id, e,
					      a->count);
		} else {
			for (i = 0; i < a->count; i++)
				e[i].data_version = dv;
			if (cmd == VEXFS_IOC_EMB_ADD)
				err = vx_embed_add(sbi->fs, inode->i_ino, d.id,
						   e, vecs, a->count,
						   (a->flags & VEXFS_EMB_REPLACE_ALL) ?
						   VX_EMBED_REPLACE_ALL : 0);
			else
				err = vx_embed_update(sbi->fs, inode->i_ino,
						      d.id, e, vecs, a->count);
			/* the space is loaded now: its backlog for linking */
			if (!err && !vx_space_index(sbi->fs, d.id, &idx)) {
				vx_index_get_stats(idx, &st);
				pending = st.pending;
			}
		}
		/* the file's embeddings are current: unqueue it, same transaction */
		if (!err && (a->flags & VEXFS_EMB_REPLACE_ALL)) {
			err = vx_stale_clear(sbi->fs, d.id, inode->i_ino);
			if (!err && VEXFS_I(inode)->auto_queued == d.id)
				VEXFS_I(inode)->auto_queued = 0;
		}
		a->data_version = dv;
		vexfs_unlock(sbi);
		up_write(&sbi->index_sem);
		if (!vexfs_enospc_retry(sbi, err))
			break;
	}
	mnt_drop_write_file(file);
	if (!err && (a->flags & VEXFS_EMB_REPLACE_ALL))
		vexfs_auto_embedded(inode, d.id);
	if (!err && cmd != VEXFS_IOC_EMB_DELETE && !replace_empty)
		vexfs_kick_linking(sbi, true, pending);
out:
	kvfree(e);
	kvfree(vecs);
	return err;
}

static int vexfs_emb_get(struct file *file, struct vexfs_embeddings *a,
			 struct inode *dir)
{
	struct inode *inode = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_chunk *uc = NULL;
	struct vx_embed after = {
		.chunk_offset = a->after_offset,
		.chunk_length = a->after_length,
	};
	struct vx_space_desc d;
	struct vx_embed *e = NULL;
	u32 *vecs = NULL;
	u32 i, total = 0, filled = 0;
	u64 bytes = 0, dv;
	int err;

	err = vexfs_resolve_space(sbi, a->name, dir, &d);
	if (err)
		return err;
	if (a->count > VEXFS_BATCH_MAX)
		return -E2BIG;
	if (a->vectors_ptr) {
		bytes = (u64)a->count * d.dim * sizeof(u32);
		if (bytes > VEXFS_BATCH_BYTES_MAX)
			return -E2BIG;
	}
	e = kvcalloc(max(a->count, 1U), sizeof(*e), GFP_KERNEL);
	uc = kvcalloc(max(a->count, 1U), sizeof(*uc), GFP_KERNEL);
	if (bytes)
		vecs = kvzalloc(bytes, GFP_KERNEL);
	err = -ENOMEM;
	if (!e || !uc || (bytes && !vecs))
		goto out;

	err = vexfs_lock_op(sbi);
	if (err)
		goto out;
	dv = VEXFS_I(inode)->d.data_version;
	err = vx_embed_list_after(sbi->fs, inode->i_ino, d.id,
				  a->flags & VEXFS_EMB_AFTER ? &after : NULL,
				  e, a->count, &total);
	if (err >= 0) {
		filled = err;
		err = 0;
	}
	for (i = 0; !err && vecs && i < filled; i++)
		err = vx_embed_read_vector(sbi->fs, d.id, e[i].vid,
					   (float *)(vecs + (size_t)i * d.dim));
	vexfs_unlock(sbi);
	if (err)
		goto out;

	for (i = 0; i < filled; i++) {
		uc[i].offset = e[i].chunk_offset;
		uc[i].length = e[i].chunk_length;
		uc[i].data_version = e[i].data_version;
		if (e[i].data_version != dv)
			uc[i].flags |= VEXFS_CHUNK_STALE;
	}
	err = -EFAULT;
	if (filled && copy_to_user(u64_to_user_ptr(a->chunks_ptr), uc,
				   (size_t)filled * sizeof(*uc)))
		goto out;
	if (filled && vecs &&
	    copy_to_user(u64_to_user_ptr(a->vectors_ptr), vecs,
			 (size_t)filled * d.dim * sizeof(u32)))
		goto out;
	a->filled = filled;
	a->total = total;
	a->dim = d.dim;
	a->data_version = dv;
	err = 0;
out:
	kvfree(vecs);
	kvfree(uc);
	kvfree(e);
	return err;
}

static long vexfs_ioc_emb(struct file *file, unsigned int cmd,
			  struct vexfs_embeddings __user *argp)
{
	struct inode *inode = file_inode(file);
	struct vexfs_embeddings a;
	struct dentry *parent;
	u32 allowed = 0;
	int err;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (cmd == VEXFS_IOC_EMB_ADD)
		allowed = VEXFS_EMB_REPLACE_ALL;
	else if (cmd == VEXFS_IOC_EMB_DELETE)
		allowed = VEXFS_EMB_ALL_SPACES;
	else if (cmd == VEXFS_IOC_EMB_GET)
		allowed = VEXFS_EMB_AFTER;
	if (a.size != sizeof(a) || (a.flags & ~allowed) ||
	    vexfs_check_name(a.name) ||
	    (!(a.flags & VEXFS_EMB_AFTER) &&
	     (a.after_offset || a.after_length)) ||
	    !vexfs_all_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	if (!S_ISREG(inode->i_mode))
		return -EINVAL;
	err = inode_permission(vexfs_file_idmap(file), inode,
			       cmd == VEXFS_IOC_EMB_GET ? MAY_READ : MAY_WRITE);
	if (err)
		return err;

	/* "" names the default space of the directory the file was opened in */
	parent = dget_parent(file->f_path.dentry);
	if (cmd == VEXFS_IOC_EMB_GET)
		err = vexfs_emb_get(file, &a, d_inode(parent));
	else
		err = vexfs_emb_change(file, cmd, &a, d_inode(parent));
	dput(parent);
	if (!err && copy_to_user(argp, &a, sizeof(a)))
		err = -EFAULT;
	return err;
}

/* ------------------------------------------------------------ search */

struct vexfs_candidate {
	u64 vid;
	u64 ino;
	u32 dist_bits;
};

/*
 * The n nearest vectors of a space, with their owners: runs under the
 * shared index_sem, float work inside one FPU section.  *live gets how many
 * vectors the space holds.
 */
static int vexfs_knn(struct vexfs_sb_info *sbi, u32 id, const float *query,
		     u32 n, u32 ef, bool exact, struct vx_index_hit *hits,
		     struct vexfs_candidate *cand, u32 *ncand, u64 *live,
		     bool *pending)
{
	struct vx_index_scratch *s;
	struct vx_index_stats st;
	struct vx_index *idx;
	u32 i, nhits = 0;
	int err;

	down_read(&sbi->index_sem);
	err = vexfs_get_index(sbi, id, &idx);
	if (err)
		goto out;
	vx_index_get_stats(idx, &st);
	*live = st.live;
	*pending = st.pending != 0;
	s = vexfs_get_scratch(sbi, idx, max(ef, n));
	if (!s) {
		err = -ENOMEM;
		goto out;
	}
	vx_fpu_begin();
	if (exact)
		err = vx_index_search_exact(idx, s, query, n, hits, &nhits);
	else
		err = vx_index_search(idx, s, query, n, max(ef, n), hits, &nhits);
	vx_fpu_end();
	vexfs_put_scratch(sbi, s);
	if (err)
		goto out;
	err = vexfs_lock_op(sbi);
	if (err)
		goto out;
	for (i = 0; i < nhits; i++) {
		cand[i].vid = hits[i].vid;
		cand[i].ino = vx_space_vid_owner(sbi->fs, id, hits[i].vid);
		cand[i].dist_bits = vexfs_float_bits(&hits[i].dist);
	}
	vexfs_unlock(sbi);
	*ncand = nhits;
out:
	up_read(&sbi->index_sem);
	return err;
}

#define VEXFS_DIR_CACHE	32

struct vexfs_search_ctx {
	struct file *dirfile;
	struct inode *dir;
	struct vexfs_sb_info *sbi;
	struct vexfs_search *req;
	u32 space;
	struct vexfs_search_result *res;
	u32 nres;
	char *paths;
	u32 paths_used;
	char *name;			/* VX_NAME_MAX + 1 bytes for back references */
	u64 open_dirs[VEXFS_DIR_CACHE];	/* directories the caller may search */
	u32 nopen_dirs;
};

/*
 * Could the caller reach the file by name from the searched directory?
 * Every directory on the way up (first back reference at each step) must
 * grant it search (x) permission; a file readable in itself but inside a
 * directory closed to the caller is not returned.  1 yes, 0 no, -errno.
 */
static int vexfs_reachable(struct vexfs_search_ctx *c, u64 ino)
{
	struct vexfs_sb_info *sbi = c->sbi;
	struct inode *dinode;
	u64 parent;
	u32 len, i, depth;
	int err;

	for (depth = 0; depth < 4096; depth++) {
		err = vexfs_lock_op(sbi);
		if (err)
			return err;
		err = vx_inode_ref_first(sbi->fs, ino, &parent, c->name, &len);
		vexfs_unlock(sbi);
		if (err == -ENOENT)	/* reached the root */
			return 1;
		if (err)
			return err;
		if (parent == c->dir->i_ino)
			return 1;
		for (i = 0; i < c->nopen_dirs; i++)
			if (c->open_dirs[i] == parent)
				break;
		if (i == c->nopen_dirs) {
			dinode = vexfs_iget(c->dir->i_sb, parent);
			if (IS_ERR(dinode))
				return 0;
			err = inode_permission(vexfs_file_idmap(c->dirfile),
					       dinode, MAY_EXEC);
			iput(dinode);
			if (err)
				return 0;
			if (c->nopen_dirs < VEXFS_DIR_CACHE)
				c->open_dirs[c->nopen_dirs++] = parent;
		}
		ino = parent;
	}
	return 0;
}

/*
 * May the caller see this candidate?  Fills the next result if so.
 * Returns 1 (taken), 0 (filtered out) or -errno.
 */
static int vexfs_take_candidate(struct vexfs_search_ctx *c,
				const struct vexfs_candidate *cand)
{
	struct vexfs_sb_info *sbi = c->sbi;
	struct vexfs_search_result *r = &c->res[c->nres];
	bool want_path = c->req->flags & VEXFS_SEARCH_PATHS;
	struct vx_embed e;
	struct inode *inode;
	bool stale;
	u32 len = 0;
	int err, ok = 1;

	if (!cand->ino)
		return 0;	/* deleted since the search */
	inode = vexfs_iget(c->dir->i_sb, cand->ino);
	if (IS_ERR(inode))
		return PTR_ERR(inode) == -ENOENT || PTR_ERR(inode) == -ESTALE ?
			0 : PTR_ERR(inode);
	if (inode_permission(vexfs_file_idmap(c->dirfile), inode, MAY_READ)) {
		err = 0;
		goto out;
	}

	err = vexfs_lock_op(sbi);
	if (err)
		goto out;
	if (c->dir->i_ino != VX_ROOT_INO)
		ok = vx_inode_is_beneath(sbi->fs, cand->ino, c->dir->i_ino);
	err = ok == 1 ? vx_embed_lookup(sbi->fs, cand->ino, c->space,
					 cand->vid, &e) : min(ok, 0);
	stale = !err && ok == 1 &&
		e.data_version != VEXFS_I(inode)->d.data_version;
	vexfs_unlock(sbi);
	if (err == -ENOENT)	/* embedding deleted since the search */
		err = 0;
	if (err || ok != 1)
		goto out;
	if (stale && (c->req->flags & VEXFS_SEARCH_NO_STALE))
		goto out;
	ok = vexfs_reachable(c, cand->ino);
	if (ok != 1) {
		err = min(ok, 0);
		goto out;
	}

	if (want_path) {
		err = vexfs_lock_op(sbi);
		if (err)
			goto out;
		/* no room left, or raced with a rename: no path, still a result */
		if (vx_inode_path(sbi->fs, cand->ino, c->dir->i_ino,
				  c->paths + c->paths_used,
				  c->req->paths_size - c->paths_used, &len))
			len = 0;
		vexfs_unlock(sbi);
	}

	memset(r, 0, sizeof(*r));
	r->ino = cand->ino;
	r->generation = inode->i_generation;
	r->offset = e.chunk_offset;
	r->length = e.chunk_length;
	r->distance = cand->dist_bits;
	r->flags = stale ? VEXFS_CHUNK_STALE : 0;
	if (len) {
		r->path_offset = c->paths_used;
		r->path_length = len;
		c->paths_used += len + 1;
	}
	c->nres++;
	err = 1;
out:
	iput(inode);
	return err;
}

static long vexfs_ioc_search(struct file *file, struct vexfs_search __user *argp)
{
	struct inode *dir = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct vexfs_search_ctx c = { .dirfile = file, .dir = dir, .sbi = sbi };
	struct vexfs_candidate *cand = NULL;
	struct vx_index_hit *hits = NULL;
	struct vexfs_search s;
	struct vx_space_desc d;
	u32 *query = NULL;
	u32 n, ef, ncand, i;
	bool exact, pending;
	u64 live;
	int err;

	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	if (s.size != sizeof(s) || s.reserved0 ||
	    (s.flags & ~(VEXFS_SEARCH_EXACT | VEXFS_SEARCH_PATHS |
			 VEXFS_SEARCH_NO_STALE)) ||
	    vexfs_check_name(s.name) ||
	    !vexfs_all_zero(s.reserved, sizeof(s.reserved)))
		return -EINVAL;
	if (!S_ISDIR(dir->i_mode))
		return -ENOTDIR;
	if (!s.k || s.k > VEXFS_K_MAX || s.ef > VEXFS_EF_MAX ||
	    (s.ef && s.ef < s.k))
		return -EINVAL;
	if ((s.flags & VEXFS_SEARCH_PATHS) &&
	    (!s.paths_ptr || !s.paths_size || s.paths_size > VEXFS_PATHS_MAX))
		return -EINVAL;
	err = inode_permission(vexfs_file_idmap(file), dir, MAY_EXEC);
	if (err)
		return err;
	err = vexfs_resolve_space(sbi, s.name, dir, &d);
	if (err)
		return err;
	if (s.dim != d.dim)
		return -EINVAL;

	query = kvmalloc_array(d.dim, sizeof(u32), GFP_KERNEL);
	c.res = kvcalloc(s.k, sizeof(*c.res), GFP_KERNEL);
	if (s.flags & VEXFS_SEARCH_PATHS)
		c.paths = kvzalloc(s.paths_size, GFP_KERNEL);
	err = -ENOMEM;
	if (!query || !c.res || ((s.flags & VEXFS_SEARCH_PATHS) && !c.paths))
		goto out;
	err = -EFAULT;
	if (copy_from_user(query, u64_to_user_ptr(s.query_ptr),
			   (size_t)d.dim * sizeof(u32)))
		goto out;
	err = vexfs_check_floats(query, d.dim);
	if (err)
		goto out;
	c.req = &s;
	c.space = d.id;
	c.name = kmalloc(VX_NAME_MAX + 1, GFP_KERNEL);
	err = -ENOMEM;
	if (!c.name)
		goto out;

	/*
	 * Ask for k candidates; if the caller may not see enough of them (other
	 * users' files, outside the directory), ask for more, up to an exact
	 * scan of the whole space: the filter never costs recall.
	 */
	ef = s.ef ? s.ef : d.hnsw_ef_search;
	exact = s.flags & VEXFS_SEARCH_EXACT;
	n = s.k;
	for (;;) {
		kvfree(hits);
		kvfree(cand);
		hits = kvmalloc_array(n, sizeof(*hits), GFP_KERNEL);
		cand = kvmalloc_array(n, sizeof(*cand), GFP_KERNEL);
		err = -ENOMEM;
		if (!hits || !cand)
			goto out;
		err = vexfs_knn(sbi, d.id, (const float *)query, n, ef, exact,
				hits, cand, &ncand, &live, &pending);
		if (err)
			goto out;
		c.nres = 0;
		c.paths_used = 0;
		for (i = 0; i < ncand && c.nres < s.k; i++) {
			err = vexfs_take_candidate(&c, &cand[i]);
			if (err < 0)
				goto out;
		}
		err = 0;
		/*
		 * Enough, or every vector was a candidate.  Not just n >= live:
		 * a graph search may miss vectors no link leads to (such as
		 * copies of one vector beyond what its neighbours' lists hold);
		 * then it gave fewer than asked and the exact scan follows.
		 */
		if (c.nres == s.k || ncand >= live || (exact && ncand < n))
			break;
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			goto out;
		}
		/* the graph gave fewer than asked, or the filter is picky: scan */
		if (ncand < n || (u64)n * 4 > VEXFS_FILTER_EXACT)
			exact = true;
		n = (u32)min_t(u64, exact ? live : (u64)n * 4,
			       U32_MAX / sizeof(*cand));
	}
	if (pending)
		vexfs_kick_linking(sbi, false, 0);

	s.count = c.nres;
	err = -EFAULT;
	if (c.nres && copy_to_user(u64_to_user_ptr(s.results_ptr), c.res,
				   (size_t)c.nres * sizeof(*c.res)))
		goto out;
	if (c.paths_used && copy_to_user(u64_to_user_ptr(s.paths_ptr), c.paths,
					 c.paths_used))
		goto out;
	err = copy_to_user(argp, &s, sizeof(s)) ? -EFAULT : 0;
out:
	kvfree(hits);
	kvfree(cand);
	kfree(c.name);
	kvfree(c.paths);
	kvfree(c.res);
	kvfree(query);
	return err;
}

/* ------------------------------------------------------------ glue */

long vexfs_vector_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case VEXFS_IOC_MANAGE:
		return vexfs_ioc_manage(file, argp);
	case VEXFS_IOC_EMB_ADD:
	case VEXFS_IOC_EMB_GET:
	case VEXFS_IOC_EMB_UPDATE:
	case VEXFS_IOC_EMB_DELETE:
		return vexfs_ioc_emb(file, cmd, argp);
	case VEXFS_IOC_SEARCH:
		return vexfs_ioc_search(file, argp);
	case VEXFS_IOC_AUTO:
		return vexfs_ioc_auto(file, argp);
	default:
		return -ENOTTY;
	}
}

void vexfs_vector_init(struct vexfs_sb_info *sbi)
{
	init_rwsem(&sbi->index_sem);
	spin_lock_init(&sbi->scratch_lock);
	INIT_DELAYED_WORK(&sbi->link_work, vexfs_link_workfn);
	sbi->link_last_add = jiffies;
}

/* Mount: finish deleting spaces dropped before a crash or unmount. */
int vexfs_vector_mount(struct vexfs_sb_info *sbi)
{
	u32 id = 0;
	int err;

	if (sb_rdonly(sbi->sb))
		return 0;
	for (;;) {
		err = vexfs_lock_op(sbi);
		if (err)
			return err;
		err = vx_space_next_dropped(sbi->fs, id, &id);
		vexfs_unlock(sbi);
		if (err == -ENOENT)
			return 0;
		if (err)
			return err;
		err = vexfs_reap_space(sbi, id);
		if (err)
			return err;
	}
}

/* Unmount or remount read-only: background linking stops first. */
void vexfs_vector_quiesce(struct vexfs_sb_info *sbi)
{
	cancel_delayed_work_sync(&sbi->link_work);
}

void vexfs_vector_free(struct vexfs_sb_info *sbi)
{
	int i;

	for (i = 0; i < VEXFS_SCRATCH_POOL; i++) {
		if (sbi->scratch[i])
			vx_index_scratch_free(sbi->scratch[i]);
		sbi->scratch[i] = NULL;
	}
}
