// SPDX-License-Identifier: GPL-2.0
/*
 * Automatic embeddings (docs/AUTO.md): directory policies, the sidecar
 * protocol over generic netlink, and the dispatcher that feeds registered
 * sidecars from the persistent stale set (core/vx_auto.c).
 *
 * The stale set on disk is the queue; memory only holds what is in flight
 * (bounded by the sidecars' windows) and one cursor per space, so a backlog
 * of any size costs no memory and survives crashes, sidecar restarts and
 * unmounts.  A request is complete when the sidecar stores the file's
 * embeddings with VEXFS_EMB_REPLACE_ALL (which unqueues the file in the same
 * transaction) or answers DONE; unanswered ones are sent again after the
 * registration's timeout.
 *
 * Lock order: vexfs_auto_mutex -> auto->lock -> index_sem -> sbi->lock.
 */
#include <linux/fs.h>
#include <linux/capability.h>
#include <linux/dcache.h>
#include <linux/exportfs.h>
#include <linux/hashtable.h>
#include <linux/jiffies.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <net/genetlink.h>
#include "vexfs.h"
#include "vx_vector.h"
#include "vexfs_uapi.h"

static unsigned int auto_debounce_ms = 100;
module_param(auto_debounce_ms, uint, 0644);
MODULE_PARM_DESC(auto_debounce_ms,
		 "Quiet time after a file is closed or fsync'd before it is sent to a sidecar (ms)");

#define VEXFS_SIDECARS_MAX	64	/* per volume */
#define VEXFS_WINDOW_DEFAULT	16
#define VEXFS_WINDOW_MAX	1024
#define VEXFS_TIMEOUT_DEFAULT	120000	/* ms */
#define VEXFS_TIMEOUT_MIN	100
#define VEXFS_TIMEOUT_MAX	3600000
#define VEXFS_SCAN_BUDGET	512	/* stale items looked at per dispatch run */
#define VEXFS_BACKOFF		(2 * HZ)	/* after a transient sidecar error */
#define VEXFS_BACKOFF_STALE	(HZ / 2)	/* after ESTALE: the file changed or went */
/* Requests in flight or backing off per volume: windows, plus back-offs. */
#define VEXFS_REQUESTS_MAX	(VEXFS_SIDECARS_MAX * VEXFS_WINDOW_MAX + 4096)
#define VEXFS_RETRY_FULL	(HZ / 10)	/* a sidecar's socket buffer was full */

struct vexfs_sidecar {
	struct list_head node;
	u32 portid;
	u32 space;
	u32 window;
	u32 in_flight;
	unsigned long timeout;		/* jiffies */
	bool full;			/* its socket refused a message this run */
};

/* A file sent to a sidecar, or backing off after a transient error. */
struct vexfs_request {
	struct hlist_node node;
	u64 ino;
	u64 data_version;
	u32 space;
	u32 portid;			/* 0: backing off, owned by nobody */
	unsigned long deadline;
};

struct vexfs_space_state {
	struct list_head node;
	u32 space;
	char name[VEXFS_NAME_MAX];
	u64 cursor;			/* dispatch resumes at this ino */
	int last_errno;
	u64 last_ino;
	char last_error[VEXFS_AUTO_ERROR_MAX];
};

struct vexfs_auto_state {
	struct vexfs_sb_info *sbi;
	struct list_head volume;	/* on vexfs_auto_volumes */
	struct mutex lock;
	struct list_head sidecars;
	struct list_head spaces;
	DECLARE_HASHTABLE(requests, 8);
	u32 nr_requests;
	struct delayed_work work;
	spinlock_t wake_lock;		/* wake_* and stopping */
	unsigned long wake_at;
	bool wake_armed;
	bool stopping;
};

/* Mounted read-write volumes, for REGISTER's device lookup. */
static LIST_HEAD(vexfs_auto_volumes);
static DEFINE_MUTEX(vexfs_auto_mutex);
static struct genl_family vexfs_genl_family;

/* ------------------------------------------------------------ policy */

/*
 * The policy of the nearest directory at or above dentry that has one
 * (VX_AUTO_INHERIT if none does).  A walk of cached dentries under RCU; a
 * rename racing with it gives the old or the new answer, both acceptable.
 */
static u32 vexfs_auto_nearest(struct dentry *dentry)
{
	struct dentry *d = dentry;
	u32 id = VX_AUTO_INHERIT;

	rcu_read_lock();
	for (;;) {
		struct inode *inode = d_inode_rcu(d);

		if (inode && S_ISDIR(inode->i_mode)) {
			id = READ_ONCE(VEXFS_I(inode)->d.auto_space);
			if (id != VX_AUTO_INHERIT)
				break;
		}
		if (IS_ROOT(d))
			break;
		d = READ_ONCE(d->d_parent);
	}
	rcu_read_unlock();
	return id;
}

/* The space the content of a file reached through dentry goes to, 0 none. */
u32 vexfs_auto_policy(struct dentry *dentry)
{
	u32 id = vexfs_auto_nearest(dentry);

	return id == VX_AUTO_OFF ? 0 : id;
}

/*
 * Data of inode changed, caller holds sbi->lock: queue the file in the
 * same transaction.  The per-inode auto_queued memo saves a tree lookup per
 * write; it is reset wherever the item is deleted or marked failed.
 */
void vexfs_auto_changed_locked(struct inode *inode, u32 space)
{
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	int err;

	if (!space)
		return;
	WRITE_ONCE(vi->auto_writing, true);
	if (vi->auto_queued == space)
		return;
	err = vx_stale_mark(VEXFS_SB(inode->i_sb)->fs, space, inode->i_ino);
	if (err >= 0)
		vi->auto_queued = space;
	else if (err != -ENOENT)	/* a dropped space is no error */
		vexfs_err(inode->i_sb, "cannot queue inode %lu for embedding (%d)",
			  inode->i_ino, err);
}

/* ------------------------------------------------------------ dispatch */

static void vexfs_auto_kick_at(struct vexfs_auto_state *a, unsigned long when)
{
	unsigned long now = jiffies;

	spin_lock(&a->wake_lock);
	if (!a->stopping && (!a->wake_armed || time_before(when, a->wake_at))) {
		a->wake_armed = true;
		a->wake_at = when;
		mod_delayed_work(system_unbound_wq, &a->work,
				 time_after(when, now) ? when - now : 0);
	}
	spin_unlock(&a->wake_lock);
}

static void vexfs_auto_kick(struct vexfs_auto_state *a)
{
	if (a)
		vexfs_auto_kick_at(a, jiffies);
}

/*
 * A writer closed the file or fsync'd it: it may be sent once it has been
 * quiet for the debounce time (a later write makes it wait again).
 */
void vexfs_auto_file_settled(struct inode *inode)
{
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	struct vexfs_auto_state *a = VEXFS_SB(inode->i_sb)->auto_state;
	unsigned long when = jiffies + msecs_to_jiffies(auto_debounce_ms);

	if (!READ_ONCE(vi->auto_writing) || !a)
		return;
	WRITE_ONCE(vi->auto_ready_at, when);
	WRITE_ONCE(vi->auto_debounce, true);
	WRITE_ONCE(vi->auto_writing, false);
	vexfs_auto_kick_at(a, when);
}

static struct vexfs_request *vexfs_req_find(struct vexfs_auto_state *a, u32 space,
					    u64 ino)
{
	struct vexfs_request *r;

	hash_for_each_possible(a->requests, r, node, ino ^ space)
		if (r->ino == ino && r->space == space)
			return r;
	return NULL;
}

static struct vexfs_sidecar *vexfs_sidecar_find(struct vexfs_auto_state *a,
						u32 portid, u32 space)
{
	struct vexfs_sidecar *s;

	list_for_each_entry(s, &a->sidecars, node)
		if (s->portid == portid && s->space == space)
			return s;
	return NULL;
}

/* Give the request's window slot back to its sidecar. */
static void vexfs_req_disown(struct vexfs_auto_state *a, struct vexfs_request *r)
{
	struct vexfs_sidecar *s;

	if (!r->portid)
		return;
	s = vexfs_sidecar_find(a, r->portid, r->space);
	if (s && s->in_flight)
		s->in_flight--;
	r->portid = 0;
}

static void vexfs_req_free(struct vexfs_auto_state *a, struct vexfs_request *r)
{
	vexfs_req_disown(a, r);
	hash_del(&r->node);
	a->nr_requests--;
	kfree(r);
}

static void vexfs_sidecar_free(struct vexfs_auto_state *a, struct vexfs_sidecar *s)
{
	struct vexfs_request *r;
	struct hlist_node *tmp;
	int bkt;

	/* its requests go to the other sidecars (or wait for a new one) */
	hash_for_each_safe(a->requests, bkt, tmp, r, node)
		if (r->portid == s->portid && r->space == s->space)
			vexfs_req_free(a, r);
	list_del(&s->node);
	kfree(s);
}

static struct vexfs_space_state *vexfs_space_state(struct vexfs_auto_state *a,
						   u32 space, bool create)
{
	struct vexfs_space_state *st;

	list_for_each_entry(st, &a->spaces, node)
		if (st->space == space)
			return st;
	if (!create)
		return NULL;
	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return NULL;
	st->space = space;
	list_add_tail(&st->node, &a->spaces);
	return st;
}

/* The least loaded sidecar of the space with room in its window. */
static struct vexfs_sidecar *vexfs_pick_sidecar(struct vexfs_auto_state *a, u32 space)
{
	struct vexfs_sidecar *s, *best = NULL;

	list_for_each_entry(s, &a->sidecars, node) {
		if (s->space != space || s->full || s->in_flight >= s->window)
			continue;
		if (!best || s->in_flight < best->in_flight)
			best = s;
	}
	return best;
}

static int vexfs_put_request(struct sk_buff *skb, struct vexfs_auto_state *a,
			     struct vexfs_space_state *st, struct inode *inode,
			     u64 dv)
{
	struct super_block *sb = inode->i_sb;
	__u32 fh[3];

	/* the handle vexfs_encode_fh gives: FILEID_INO64_GEN */
	fh[0] = (u32)inode->i_ino;
	fh[1] = (u32)((u64)inode->i_ino >> 32);
	fh[2] = inode->i_generation;
	if (nla_put_u32(skb, VEXFS_ATTR_DEV, new_encode_dev(sb->s_dev)) ||
	    nla_put_string(skb, VEXFS_ATTR_SPACE, st->name) ||
	    nla_put_u32(skb, VEXFS_ATTR_SPACE_ID, st->space) ||
	    nla_put_u64_64bit(skb, VEXFS_ATTR_INO, inode->i_ino, VEXFS_ATTR_PAD) ||
	    nla_put_u32(skb, VEXFS_ATTR_GENERATION, inode->i_generation) ||
	    nla_put_u64_64bit(skb, VEXFS_ATTR_DATA_VERSION, dv, VEXFS_ATTR_PAD) ||
	    nla_put_u64_64bit(skb, VEXFS_ATTR_SIZE, i_size_read(inode),
			      VEXFS_ATTR_PAD) ||
	    nla_put_u32(skb, VEXFS_ATTR_HANDLE_TYPE, FILEID_INO64_GEN) ||
	    nla_put(skb, VEXFS_ATTR_HANDLE, sizeof(fh), fh))
		return -EMSGSIZE;
	return 0;
}

enum vexfs_send_result { VEXFS_SENT, VEXFS_SKIPPED, VEXFS_STOP };

/* Queue item ino: send it to s if the file is ready for it. */
static enum vexfs_send_result vexfs_dispatch_one(struct vexfs_auto_state *a,
						 struct vexfs_space_state *st,
						 struct vexfs_sidecar *s, u64 ino,
						 unsigned long now,
						 unsigned long *next)
{
	struct vexfs_sb_info *sbi = a->sbi;
	struct super_block *sb = sbi->sb;
	enum vexfs_send_result ret = VEXFS_SKIPPED;
	struct vexfs_inode_info *vi;
	struct vexfs_request *r;
	struct inode *inode;
	struct sk_buff *skb;
	void *hdr;
	u64 dv;
	int err;

	inode = ilookup(sb, ino);
	if (inode) {
		vi = VEXFS_I(inode);
		/* being written: the writer's close or fsync kicks us */
		if (!inode->i_nlink || READ_ONCE(vi->auto_writing))
			goto out;
		if (READ_ONCE(vi->auto_debounce)) {
			unsigned long ready = READ_ONCE(vi->auto_ready_at);

			if (time_before(now, ready)) {
				if (time_before(ready, *next))
					*next = ready;
				goto out;
			}
		}
	} else {
		inode = vexfs_iget(sb, ino);
		if (IS_ERR(inode)) {
			/* fsck reports an item whose inode is gone; skip it */
			if (PTR_ERR(inode) != -ENOENT)
				vexfs_err(sb, "auto embedding: cannot read inode %llu (%ld)",
					  ino, PTR_ERR(inode));
			return VEXFS_SKIPPED;
		}
		if (!S_ISREG(inode->i_mode) || !inode->i_nlink)
			goto out;
	}

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!r || !skb) {
		kfree(r);
		nlmsg_free(skb);
		ret = VEXFS_STOP;
		goto out;
	}
	dv = READ_ONCE(VEXFS_I(inode)->d.data_version);
	hdr = genlmsg_put(skb, 0, 0, &vexfs_genl_family, 0, VEXFS_CMD_REQUEST);
	if (!hdr || vexfs_put_request(skb, a, st, inode, dv)) {
		kfree(r);
		nlmsg_free(skb);
		goto out;
	}
	genlmsg_end(skb, hdr);
	err = genlmsg_unicast(&init_net, skb, s->portid);
	if (err == -EAGAIN) {
		/* its receive buffer is full: backpressure, try later */
		s->full = true;
		if (time_before(now + VEXFS_RETRY_FULL, *next))
			*next = now + VEXFS_RETRY_FULL;
		kfree(r);
		goto out;
	}
	if (err) {
		/* the socket is gone without the release notification yet */
		kfree(r);
		vexfs_sidecar_free(a, s);
		ret = VEXFS_STOP;
		goto out;
	}
	r->ino = ino;
	r->space = st->space;
	r->data_version = dv;
	r->portid = s->portid;
	r->deadline = now + s->timeout;
	hash_add(a->requests, &r->node, ino ^ st->space);
	a->nr_requests++;
	s->in_flight++;
	if (time_before(r->deadline, *next))
		*next = r->deadline;
	ret = VEXFS_SENT;
out:
	iput(inode);
	return ret;
}

/*
 * Walk the space's queue from its cursor (wrapping once) while a sidecar
 * has room.  Returns true if the scan budget ran out with work left.
 */
static bool vexfs_dispatch_space(struct vexfs_auto_state *a,
				 struct vexfs_space_state *st,
				 unsigned long now, unsigned long *next)
{
	struct vexfs_sb_info *sbi = a->sbi;
	u64 start = st->cursor, cursor = st->cursor, ino;
	unsigned int scanned = 0;
	bool wrapped = false;
	struct vx_stale stale;
	struct vexfs_sidecar *s;
	int err;

	while (scanned < VEXFS_SCAN_BUDGET) {
		s = vexfs_pick_sidecar(a, st->space);
		/* back-offs are bounded too: a sidecar failing fast must not grow them */
		if (!s || a->nr_requests >= VEXFS_REQUESTS_MAX)
			break;
		err = vexfs_lock_op(sbi);
		if (err)
			break;
		err = vx_stale_next(sbi->fs, st->space, cursor, &ino, &stale);
		vexfs_unlock(sbi);
		if (err == -ENOENT) {
			if (wrapped || !start)
				break;
			wrapped = true;
			cursor = 0;
			continue;
		}
		if (err) {
			vexfs_err(sbi->sb, "auto embedding: cannot read the queue of space %u (%d)",
				  st->space, err);
			break;
		}
		if (wrapped && ino >= start)
			break;
		cursor = ino + 1;
		scanned++;
		if ((stale.flags & VX_STALE_FAILED) || vexfs_req_find(a, st->space, ino))
			continue;
		if (vexfs_dispatch_one(a, st, s, ino, now, next) == VEXFS_STOP)
			break;
	}
	st->cursor = cursor;
	return scanned >= VEXFS_SCAN_BUDGET;
}

static void vexfs_auto_workfn(struct work_struct *work)
{
	struct vexfs_auto_state *a = container_of(to_delayed_work(work),
						  struct vexfs_auto_state, work);
	unsigned long now = jiffies, next = now + 3600 * HZ;
	struct vexfs_space_state *st;
	struct vexfs_sidecar *s;
	struct vexfs_request *r;
	struct hlist_node *tmp;
	bool more = false, wake = false;
	int bkt;

	spin_lock(&a->wake_lock);
	a->wake_armed = false;
	spin_unlock(&a->wake_lock);

	mutex_lock(&a->lock);
	if (a->stopping || sb_rdonly(a->sbi->sb))
		goto out;
	/* unanswered or backed-off requests become sendable again */
	hash_for_each_safe(a->requests, bkt, tmp, r, node) {
		if (time_after_eq(now, r->deadline))
			vexfs_req_free(a, r);
		else if (time_before(r->deadline, next))
			next = r->deadline;
	}
	list_for_each_entry(s, &a->sidecars, node)
		s->full = false;
	list_for_each_entry(st, &a->spaces, node)
		if (vexfs_pick_sidecar(a, st->space))
			more |= vexfs_dispatch_space(a, st, now, &next);
	wake = !hash_empty(a->requests) || time_before(next, now + 3600 * HZ);
out:
	mutex_unlock(&a->lock);
	if (more)
		vexfs_auto_kick(a);
	else if (wake)
		vexfs_auto_kick_at(a, next);
}

/* EMB_ADD with REPLACE_ALL stored the file's embeddings: request done. */
void vexfs_auto_embedded(struct inode *inode, u32 space)
{
	struct vexfs_auto_state *a = VEXFS_SB(inode->i_sb)->auto_state;
	struct vexfs_request *r;

	if (!a)
		return;
	mutex_lock(&a->lock);
	r = vexfs_req_find(a, space, inode->i_ino);
	if (r)
		vexfs_req_free(a, r);
	mutex_unlock(&a->lock);
	if (r)
		vexfs_auto_kick(a);
}

/* ------------------------------------------------------------ volumes */

int vexfs_auto_start(struct vexfs_sb_info *sbi)
{
	struct vexfs_auto_state *a;

	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	a->sbi = sbi;
	mutex_init(&a->lock);
	INIT_LIST_HEAD(&a->sidecars);
	INIT_LIST_HEAD(&a->spaces);
	hash_init(a->requests);
	INIT_DELAYED_WORK(&a->work, vexfs_auto_workfn);
	spin_lock_init(&a->wake_lock);
	sbi->auto_state = a;
	mutex_lock(&vexfs_auto_mutex);
	list_add_tail(&a->volume, &vexfs_auto_volumes);
	mutex_unlock(&vexfs_auto_mutex);
	return 0;
}

/* Unmount (before the inodes are evicted): forget sidecars and requests. */
void vexfs_auto_stop(struct vexfs_sb_info *sbi)
{
	struct vexfs_auto_state *a = sbi->auto_state;
	struct vexfs_space_state *st, *stn;
	struct vexfs_sidecar *s, *sn;
	struct vexfs_request *r;
	struct hlist_node *tmp;
	int bkt;

	if (!a)
		return;
	mutex_lock(&vexfs_auto_mutex);
	list_del(&a->volume);
	mutex_unlock(&vexfs_auto_mutex);
	spin_lock(&a->wake_lock);
	a->stopping = true;
	spin_unlock(&a->wake_lock);
	cancel_delayed_work_sync(&a->work);
	mutex_lock(&a->lock);
	list_for_each_entry_safe(s, sn, &a->sidecars, node)
		vexfs_sidecar_free(a, s);
	hash_for_each_safe(a->requests, bkt, tmp, r, node)
		vexfs_req_free(a, r);
	list_for_each_entry_safe(st, stn, &a->spaces, node) {
		list_del(&st->node);
		kfree(st);
	}
	mutex_unlock(&a->lock);
	sbi->auto_state = NULL;
	kfree(a);
}

/* Under vexfs_auto_mutex. */
static struct vexfs_auto_state *vexfs_auto_find(u32 dev)
{
	struct vexfs_auto_state *a;

	list_for_each_entry(a, &vexfs_auto_volumes, volume)
		if (new_encode_dev(a->sbi->sb->s_dev) == dev)
			return a;
	return NULL;
}

/* ------------------------------------------------------------ netlink */

static const struct nla_policy vexfs_genl_policy[VEXFS_ATTR_MAX + 1] = {
	[VEXFS_ATTR_DEV]		= { .type = NLA_U32 },
	[VEXFS_ATTR_SPACE]		= { .type = NLA_NUL_STRING, .len = VEXFS_NAME_MAX - 1 },
	[VEXFS_ATTR_SPACE_ID]		= { .type = NLA_U32 },
	[VEXFS_ATTR_MODEL]		= { .type = NLA_NUL_STRING, .len = VEXFS_MODEL_MAX - 1 },
	[VEXFS_ATTR_MODEL_VERSION]	= { .type = NLA_NUL_STRING,
					    .len = VEXFS_MODEL_VERSION_MAX - 1 },
	[VEXFS_ATTR_WINDOW]		= { .type = NLA_U32 },
	[VEXFS_ATTR_TIMEOUT_MS]		= { .type = NLA_U32 },
	[VEXFS_ATTR_INO]		= { .type = NLA_U64 },
	[VEXFS_ATTR_GENERATION]		= { .type = NLA_U32 },
	[VEXFS_ATTR_DATA_VERSION]	= { .type = NLA_U64 },
	[VEXFS_ATTR_SIZE]		= { .type = NLA_U64 },
	[VEXFS_ATTR_HANDLE_TYPE]	= { .type = NLA_U32 },
	[VEXFS_ATTR_HANDLE]		= { .type = NLA_BINARY, .len = MAX_HANDLE_SZ },
	[VEXFS_ATTR_ERRNO]		= { .type = NLA_U32 },
	[VEXFS_ATTR_MESSAGE]		= { .type = NLA_NUL_STRING,
					    .len = VEXFS_AUTO_ERROR_MAX - 1 },
	[VEXFS_ATTR_DIM]		= { .type = NLA_U32 },
	[VEXFS_ATTR_METRIC]		= { .type = NLA_U32 },
};

static int vexfs_need_attrs(struct genl_info *info, const int *attrs, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!info->attrs[attrs[i]]) {
			NL_SET_ERR_ATTR_MISS(info->extack, NULL, attrs[i]);
			NL_SET_ERR_MSG(info->extack, "vexfs: a required attribute is missing");
			return -EINVAL;
		}
	}
	return 0;
}

static u32 vexfs_attr_u32(struct genl_info *info, int attr, u32 dflt)
{
	return info->attrs[attr] ? nla_get_u32(info->attrs[attr]) : dflt;
}

static int vexfs_register_reply(struct genl_info *info,
				const struct vx_space_desc *d)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &vexfs_genl_family, 0,
				VEXFS_CMD_REGISTER);
	if (!hdr || nla_put_u32(msg, VEXFS_ATTR_SPACE_ID, d->id) ||
	    nla_put_u32(msg, VEXFS_ATTR_DIM, d->dim) ||
	    nla_put_u32(msg, VEXFS_ATTR_METRIC, d->metric)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int vexfs_genl_register(struct sk_buff *skb, struct genl_info *info)
{
	static const int need[] = { VEXFS_ATTR_DEV, VEXFS_ATTR_SPACE, VEXFS_ATTR_MODEL };
	struct netlink_ext_ack *extack = info->extack;
	struct vexfs_space_state *st;
	struct vexfs_sidecar *s;
	struct vx_space_desc d;
	struct vexfs_auto_state *a;
	const char *name, *model;
	u32 window, timeout_ms, n = 0;
	int err;

	err = vexfs_need_attrs(info, need, ARRAY_SIZE(need));
	if (err)
		return err;
	name = nla_data(info->attrs[VEXFS_ATTR_SPACE]);
	model = nla_data(info->attrs[VEXFS_ATTR_MODEL]);
	window = vexfs_attr_u32(info, VEXFS_ATTR_WINDOW, VEXFS_WINDOW_DEFAULT);
	timeout_ms = vexfs_attr_u32(info, VEXFS_ATTR_TIMEOUT_MS, VEXFS_TIMEOUT_DEFAULT);
	if (!window || window > VEXFS_WINDOW_MAX) {
		NL_SET_ERR_MSG(extack, "vexfs: window must be 1..1024");
		return -EINVAL;
	}
	if (timeout_ms < VEXFS_TIMEOUT_MIN || timeout_ms > VEXFS_TIMEOUT_MAX) {
		NL_SET_ERR_MSG(extack, "vexfs: timeout must be 100..3600000 ms");
		return -EINVAL;
	}

	mutex_lock(&vexfs_auto_mutex);
	a = vexfs_auto_find(nla_get_u32(info->attrs[VEXFS_ATTR_DEV]));
	if (!a) {
		NL_SET_ERR_MSG(extack, "vexfs: no read-write vexfs volume is mounted from this device");
		err = -ENODEV;
		goto out;
	}
	if (sb_rdonly(a->sbi->sb)) {
		NL_SET_ERR_MSG(extack, "vexfs: the volume is read-only");
		err = -EROFS;
		goto out;
	}
	err = vexfs_lock_op(a->sbi);
	if (err)
		goto out;
	err = vx_space_lookup(a->sbi->fs, name, &d.id);
	if (!err)
		err = vx_space_get(a->sbi->fs, d.id, &d);
	vexfs_unlock(a->sbi);
	if (err) {
		NL_SET_ERR_MSG(extack, "vexfs: no such space");
		goto out;
	}
	if (d.model[0] && strncmp(d.model, model, sizeof(d.model))) {
		NL_SET_ERR_MSG(extack, "vexfs: the space records a different model");
		err = -EMEDIUMTYPE;
		goto out;
	}

	mutex_lock(&a->lock);
	list_for_each_entry(s, &a->sidecars, node)
		n++;
	s = vexfs_sidecar_find(a, info->snd_portid, d.id);
	st = vexfs_space_state(a, d.id, true);
	err = -ENOMEM;
	if (!st)
		goto out_unlock;
	if (!s) {
		err = -EBUSY;
		if (n >= VEXFS_SIDECARS_MAX)
			goto out_unlock;
		err = -ENOMEM;
		s = kzalloc(sizeof(*s), GFP_KERNEL);
		if (!s)
			goto out_unlock;
		s->portid = info->snd_portid;
		s->space = d.id;
		list_add_tail(&s->node, &a->sidecars);
	}
	s->window = window;
	s->timeout = msecs_to_jiffies(timeout_ms);
	strscpy(st->name, d.name, sizeof(st->name));
	st->cursor = 0;		/* replay the whole queue */
	err = 0;
out_unlock:
	mutex_unlock(&a->lock);
	if (!err) {
		err = vexfs_register_reply(info, &d);
		vexfs_auto_kick(a);
	}
out:
	mutex_unlock(&vexfs_auto_mutex);
	return err;
}

static int vexfs_genl_unregister(struct sk_buff *skb, struct genl_info *info)
{
	static const int need[] = { VEXFS_ATTR_DEV, VEXFS_ATTR_SPACE };
	struct vexfs_sidecar *s, *sn;
	struct vexfs_auto_state *a;
	const char *name;
	u32 id;
	int err;

	err = vexfs_need_attrs(info, need, ARRAY_SIZE(need));
	if (err)
		return err;
	name = nla_data(info->attrs[VEXFS_ATTR_SPACE]);
	mutex_lock(&vexfs_auto_mutex);
	a = vexfs_auto_find(nla_get_u32(info->attrs[VEXFS_ATTR_DEV]));
	err = -ENODEV;
	if (!a)
		goto out;
	err = vexfs_lock_op(a->sbi);
	if (err)
		goto out;
	err = vx_space_lookup(a->sbi->fs, name, &id);
	vexfs_unlock(a->sbi);
	if (err)
		goto out;
	err = -ENOENT;
	mutex_lock(&a->lock);
	list_for_each_entry_safe(s, sn, &a->sidecars, node) {
		if (s->portid == info->snd_portid && s->space == id) {
			vexfs_sidecar_free(a, s);
			err = 0;
		}
	}
	mutex_unlock(&a->lock);
	vexfs_auto_kick(a);
out:
	mutex_unlock(&vexfs_auto_mutex);
	return err;
}

/* Errors after which the file stays queued and is sent again. */
static bool vexfs_transient(u32 error)
{
	switch (error) {
	case ESTALE: case EAGAIN: case EBUSY: case ENOMEM: case ETIMEDOUT:
	case EINTR:
		return true;
	}
	return false;
}

static void vexfs_note_error(struct vexfs_auto_state *a, u32 space, u64 ino,
			     u32 error, struct nlattr *msg)
{
	/* only spaces someone registered for: a DONE cannot grow the list */
	struct vexfs_space_state *st = vexfs_space_state(a, space, false);

	if (!st)
		return;
	st->last_errno = error;
	st->last_ino = ino;
	if (msg)
		nla_strscpy(st->last_error, msg, sizeof(st->last_error));
	else
		st->last_error[0] = '\0';
}

/*
 * The sidecar failed ino for good: mark it so it waits for a change.
 * -ESTALE if the file changed since; a frozen volume is left as it is.
 */
static int vexfs_mark_failed(struct vexfs_auto_state *a, u32 space, u64 ino,
			     u64 dv, u32 error)
{
	struct vexfs_sb_info *sbi = a->sbi;
	struct super_block *sb = sbi->sb;
	struct inode *inode;
	int err;

	if (!sb_start_write_trylock(sb))
		return -EAGAIN;
	inode = ilookup(sb, ino);
	err = vexfs_lock_op(sbi);
	if (!err) {
		err = vx_stale_fail(sbi->fs, space, ino, dv, error);
		/* the next change must rewrite the item */
		if (!err && inode)
			VEXFS_I(inode)->auto_queued = 0;
		vexfs_unlock(sbi);
	}
	iput(inode);
	sb_end_write(sb);
	return err;
}

static int vexfs_genl_done(struct sk_buff *skb, struct genl_info *info)
{
	static const int need[] = { VEXFS_ATTR_DEV, VEXFS_ATTR_SPACE_ID, VEXFS_ATTR_INO,
				    VEXFS_ATTR_DATA_VERSION, VEXFS_ATTR_ERRNO };
	struct vexfs_request *r;
	struct vexfs_auto_state *a;
	u32 space, error;
	u64 ino, dv;
	int err;

	err = vexfs_need_attrs(info, need, ARRAY_SIZE(need));
	if (err)
		return err;
	space = nla_get_u32(info->attrs[VEXFS_ATTR_SPACE_ID]);
	ino = nla_get_u64(info->attrs[VEXFS_ATTR_INO]);
	dv = nla_get_u64(info->attrs[VEXFS_ATTR_DATA_VERSION]);
	error = nla_get_u32(info->attrs[VEXFS_ATTR_ERRNO]);
	if (error > MAX_ERRNO)
		return -EINVAL;

	mutex_lock(&vexfs_auto_mutex);
	a = vexfs_auto_find(nla_get_u32(info->attrs[VEXFS_ATTR_DEV]));
	if (!a) {
		err = -ENODEV;
		goto out;
	}
	mutex_lock(&a->lock);
	r = vexfs_req_find(a, space, ino);
	if (error && error != ESTALE)
		vexfs_note_error(a, space, ino, error,
				 info->attrs[VEXFS_ATTR_MESSAGE]);
	if (!error || !vexfs_transient(error)) {
		if (r)
			vexfs_req_free(a, r);
		if (error && vexfs_mark_failed(a, space, ino, dv, error) == -ESTALE)
			error = 0;	/* changed since: it is queued afresh */
	} else if (r) {
		/* ESTALE: changed or gone, sendable again soon once settled */
		vexfs_req_disown(a, r);
		r->deadline = jiffies + (error == ESTALE ? VEXFS_BACKOFF_STALE :
					 VEXFS_BACKOFF);
	}
	mutex_unlock(&a->lock);
	vexfs_auto_kick(a);
out:
	mutex_unlock(&vexfs_auto_mutex);
	return err;
}

static const struct genl_ops vexfs_genl_ops[] = {
	{
		.cmd = VEXFS_CMD_REGISTER,
		.doit = vexfs_genl_register,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VEXFS_CMD_UNREGISTER,
		.doit = vexfs_genl_unregister,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VEXFS_CMD_DONE,
		.doit = vexfs_genl_done,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family vexfs_genl_family __ro_after_init = {
	.name = VEXFS_GENL_NAME,
	.version = VEXFS_GENL_VERSION,
	.maxattr = VEXFS_ATTR_MAX,
	.policy = vexfs_genl_policy,
	.module = THIS_MODULE,
	.ops = vexfs_genl_ops,
	.n_ops = ARRAY_SIZE(vexfs_genl_ops),
	.resv_start_op = VEXFS_CMD_DONE + 1,
};

/* A closed netlink socket unregisters its sidecars everywhere. */
static int vexfs_netlink_event(struct notifier_block *nb, unsigned long event,
			       void *ptr)
{
	struct netlink_notify *n = ptr;
	struct vexfs_sidecar *s, *sn;
	struct vexfs_auto_state *a;
	bool freed;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC || !n->portid)
		return NOTIFY_DONE;
	mutex_lock(&vexfs_auto_mutex);
	list_for_each_entry(a, &vexfs_auto_volumes, volume) {
		freed = false;
		mutex_lock(&a->lock);
		list_for_each_entry_safe(s, sn, &a->sidecars, node) {
			if (s->portid == n->portid) {
				vexfs_sidecar_free(a, s);
				freed = true;
			}
		}
		mutex_unlock(&a->lock);
		if (freed)
			vexfs_auto_kick(a);
	}
	mutex_unlock(&vexfs_auto_mutex);
	return NOTIFY_DONE;
}

static struct notifier_block vexfs_netlink_notifier = {
	.notifier_call = vexfs_netlink_event,
};

int __init vexfs_auto_init(void)
{
	int err;

	err = genl_register_family(&vexfs_genl_family);
	if (err)
		return err;
	err = netlink_register_notifier(&vexfs_netlink_notifier);
	if (err)
		genl_unregister_family(&vexfs_genl_family);
	return err;
}

void vexfs_auto_exit(void)
{
	netlink_unregister_notifier(&vexfs_netlink_notifier);
	genl_unregister_family(&vexfs_genl_family);
}

/* ------------------------------------------------------------ ioctl */

static int vexfs_auto_set(struct file *file, struct vexfs_auto *a)
{
	struct inode *dir = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	u32 id = VX_AUTO_INHERIT;
	int err;

	if (!S_ISDIR(dir->i_mode))
		return -ENOTDIR;
	if (a->flags & ~VEXFS_AUTO_OFF || (a->name[0] && a->flags))
		return -EINVAL;
	if (!inode_owner_or_capable(vexfs_file_idmap(file), dir))
		return -EPERM;
	if (a->flags & VEXFS_AUTO_OFF)
		id = VX_AUTO_OFF;
	err = mnt_want_write_file(file);
	if (err)
		return err;
	err = vexfs_lock_op(sbi);
	if (!err) {
		if (a->name[0])
			err = vx_space_lookup(sbi->fs, a->name, &id);
		if (!err)
			err = vx_op_begin(sbi->fs, 1, false);
		if (!err) {
			WRITE_ONCE(VEXFS_I(dir)->d.auto_space, id);
			err = vexfs_write_inode_locked(dir);
			vx_op_end(sbi->fs);
		}
		vexfs_unlock(sbi);
	}
	mnt_drop_write_file(file);
	return err;
}

static int vexfs_auto_get(struct file *file, struct vexfs_auto *a)
{
	struct inode *dir = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct vx_space_desc d;
	u32 own, id;
	int err;

	if (!S_ISDIR(dir->i_mode))
		return -ENOTDIR;
	if (a->flags || a->name[0])
		return -EINVAL;
	own = READ_ONCE(VEXFS_I(dir)->d.auto_space);
	id = vexfs_auto_nearest(file->f_path.dentry);
	if (own == VX_AUTO_INHERIT && id != VX_AUTO_INHERIT)
		a->flags |= VEXFS_AUTO_INHERITED;
	if (id == VX_AUTO_OFF)
		a->flags |= VEXFS_AUTO_OFF;
	if (id == VX_AUTO_INHERIT || id == VX_AUTO_OFF)
		return 0;
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	/* a dropped space reads as no policy */
	if (!vx_space_get(sbi->fs, id, &d))
		strscpy(a->name, d.name, sizeof(a->name));
	vexfs_unlock(sbi);
	return 0;
}

/*
 * Count the queue of space (only files beneath dir if given).  Takes the
 * lock per item: a long queue must not stall writers.
 */
static int vexfs_auto_count(struct vexfs_sb_info *sbi, u32 space,
			    struct inode *dir, struct vexfs_auto *a)
{
	struct vx_stale stale;
	bool counted;
	u64 ino = 0;
	int err;

	for (;; ino++) {
		err = vexfs_lock_op(sbi);
		if (err)
			return err;
		err = vx_stale_next(sbi->fs, space, ino, &ino, &stale);
		counted = !err && (!dir ||
			  vx_inode_is_beneath(sbi->fs, ino, dir->i_ino) == 1);
		vexfs_unlock(sbi);
		if (err)
			return err == -ENOENT ? 0 : err;
		if (counted) {
			a->stale++;
			if (stale.flags & VX_STALE_FAILED)
				a->failed++;
		}
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
}

/* Queues beneath a directory, of the space named or of every space. */
static int vexfs_auto_pending(struct file *file, struct vexfs_auto *a)
{
	struct inode *dir = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct vx_space_desc d;
	u32 id = 0;
	int err;

	if (!S_ISDIR(dir->i_mode))
		return -ENOTDIR;
	if (a->flags)
		return -EINVAL;
	for (;;) {
		err = vexfs_lock_op(sbi);
		if (err)
			return err;
		if (a->name[0])
			err = vx_space_lookup(sbi->fs, a->name, &d.id);
		else
			err = vx_space_next(sbi->fs, id, &d);
		vexfs_unlock(sbi);
		if (err == -ENOENT && !a->name[0])
			return 0;
		if (err)
			return err;
		id = d.id;
		err = vexfs_auto_count(sbi, id, dir, a);
		if (err || a->name[0])
			return err;
	}
}

/* A space's queue, and what the dispatcher knows of its sidecars. */
static int vexfs_auto_status(struct file *file, struct vexfs_auto *a)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(file_inode(file)->i_sb);
	struct vexfs_auto_state *au = sbi->auto_state;
	struct vexfs_space_state *st;
	struct vexfs_sidecar *s;
	struct vexfs_request *r;
	struct vx_space_desc d;
	int err, bkt;

	if (a->flags || !a->name[0])
		return -EINVAL;
	err = vexfs_lock_op(sbi);
	if (err)
		return err;
	err = vx_space_lookup(sbi->fs, a->name, &d.id);
	if (!err)
		err = vx_space_get(sbi->fs, d.id, &d);
	vexfs_unlock(sbi);
	if (err)
		return err;
	err = vexfs_auto_count(sbi, d.id, NULL, a);
	if (err)
		return err;
	a->embedded = d.live_count;
	if (!au)
		return 0;
	mutex_lock(&au->lock);
	list_for_each_entry(s, &au->sidecars, node)
		if (s->space == d.id)
			a->sidecars++;
	hash_for_each(au->requests, bkt, r, node)
		if (r->space == d.id && r->portid)
			a->in_flight++;
	st = vexfs_space_state(au, d.id, false);
	if (st && st->last_errno) {
		a->last_errno = st->last_errno;
		a->last_error_ino = st->last_ino;
		strscpy(a->last_error, st->last_error, sizeof(a->last_error));
	}
	mutex_unlock(&au->lock);
	return 0;
}

/* Queue a file now, as if it had changed (files that predate a policy). */
static int vexfs_auto_mark(struct file *file, struct vexfs_auto *a)
{
	struct inode *inode = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode_info *vi = VEXFS_I(inode);
	u32 id;
	int err;

	if (!S_ISREG(inode->i_mode))
		return -EINVAL;
	if (a->flags)
		return -EINVAL;
	err = inode_permission(vexfs_file_idmap(file), inode, MAY_WRITE);
	if (err)
		return err;
	id = vexfs_auto_policy(file->f_path.dentry);
	err = mnt_want_write_file(file);
	if (err)
		return err;
	err = vexfs_lock_op(sbi);
	if (!err) {
		if (a->name[0])
			err = vx_space_lookup(sbi->fs, a->name, &id);
		else if (!id)
			err = -ENOENT;
		if (!err)
			err = vx_stale_mark(sbi->fs, id, inode->i_ino);
		if (err >= 0) {
			err = 0;
			vi->auto_queued = id;
		}
		vexfs_unlock(sbi);
	}
	mnt_drop_write_file(file);
	if (!err)
		vexfs_auto_kick(sbi->auto_state);
	return err;
}

long vexfs_ioc_auto(struct file *file, struct vexfs_auto __user *argp)
{
	struct vexfs_auto a;
	int err;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) || a.reserved0 || vexfs_check_name(a.name) ||
	    !vexfs_all_zero(a.reserved, sizeof(a.reserved)) || a.stale ||
	    a.failed || a.in_flight || a.embedded || a.sidecars || a.last_errno ||
	    a.last_error_ino || !vexfs_all_zero(a.last_error, sizeof(a.last_error)))
		return -EINVAL;
	switch (a.op) {
	case VEXFS_AUTO_SET:
		return vexfs_auto_set(file, &a);
	case VEXFS_AUTO_GET:
		err = vexfs_auto_get(file, &a);
		break;
	case VEXFS_AUTO_STATUS:
		err = vexfs_auto_status(file, &a);
		break;
	case VEXFS_AUTO_PENDING:
		err = vexfs_auto_pending(file, &a);
		break;
	case VEXFS_AUTO_MARK:
		return vexfs_auto_mark(file, &a);
	default:
		return -EINVAL;
	}
	if (!err && copy_to_user(argp, &a, sizeof(a)))
		err = -EFAULT;
	return err;
}
