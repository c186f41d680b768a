// SPDX-License-Identifier: GPL-2.0
/*
 * vexctl auto, wait: automatic embeddings.  A directory's policy names the
 * space that files written beneath it are embedded into by a sidecar
 * (VEXFS_IOC_AUTO, docs/IOCTL.md); auto shows and sets it and queues the
 * files that already exist, wait follows the queue until it drains.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "vexctl.h"

static const char auto_help[] =
"Usage: vexctl auto DIR [--space S | --off | --clear] [--existing] [--json]\n"
"Show or set the automatic-embedding policy of DIR: regular files written\n"
"beneath it are embedded into a space by a registered sidecar (vexfsd).\n"
"The nearest directory with a policy decides, so subdirectories inherit it.\n"
"\n"
"  -s, --space S   embed files beneath DIR into space S\n"
"      --off       exclude DIR's subtree (where an ancestor has a policy)\n"
"      --clear     remove DIR's own policy: it inherits again\n"
"      --existing  also queue every regular file already beneath DIR (not\n"
"                  crossing mount points, not following symbolic links);\n"
"                  alone, or with --space\n"
"  -q, --quiet     no progress display\n"
"  -j, --json      JSON output\n"
"Setting a policy needs ownership of DIR (or CAP_FOWNER); --existing needs\n"
"write permission on the files.  Exit status 1 if a file could not be queued.\n";

static const char wait_help[] =
"Usage: vexctl wait DIR [--space S] [--timeout SECONDS] [--interval MS] [--json]\n"
"Wait until every file beneath DIR that is to be embedded automatically has\n"
"been, or could not be: the queue holds nothing but failed files.\n"
"\n"
"  -s, --space S          only space S (default: every space)\n"
"  -t, --timeout SECONDS  give up after SECONDS (decimals allowed; default 0,\n"
"                         wait for ever)\n"
"      --interval MS      poll at least every MS milliseconds (default 200;\n"
"                         sooner when the queue is about to drain)\n"
"  -q, --quiet            no progress display (shown on a terminal)\n"
"  -j, --json             print the final counts as JSON\n"
"Exit status: 0 everything embedded, 7 some files could not be embedded\n"
"(see 'vexctl status' for the last error), 8 timed out.\n";

static const char *files(uint64_t n)
{
	return n == 1 ? "file" : "files";
}

/* " (N failed)", or "" without failures */
static const char *failed_note(uint64_t failed, char *buf, size_t size)
{
	buf[0] = '\0';
	if (failed)
		snprintf(buf, size, " (%llu failed)", (unsigned long long)failed);
	return buf;
}

/* ------------------------------------------------------------ auto */

static void get_policy(int fd, const char *dir, struct vexfs_auto *p)
{
	int err = vexfs_auto_get(fd, p);

	if (err)
		die_err(err, "cannot read the automatic-embedding policy of %s", dir);
}

static void print_policy(const char *dir, const struct vexfs_auto *p)
{
	if (p->name[0])
		printf("%s: automatic embeddings into space '%s'%s\n", dir, p->name,
		       p->flags & VEXFS_AUTO_INHERITED ? " (inherited)" : "");
	else if (p->flags & VEXFS_AUTO_OFF)
		printf("%s: automatic embeddings off (%s)\n", dir,
		       p->flags & VEXFS_AUTO_INHERITED ? "an ancestor excludes its subtree" :
		       "excluded here");
	else
		printf("%s: no automatic embeddings\n", dir);
}

/* --existing: a walk of the tree (nftw has no argument for its callback) */
static struct {
	struct status_line sl;
	size_t marked, skipped, failed;
} walk;

static void walk_error(const char *path, const char *what, const char *why)
{
	status_clear(&walk.sl);
	warnx_("%s: %s%s", path, what, why);
	walk.failed++;
}

static int mark_one(const char *path, const struct stat *st, int type,
		    struct FTW *ftw __attribute__((unused)))
{
	int fd, err;

	if (type == FTW_DNR || type == FTW_NS) {
		walk_error(path, type == FTW_NS ? "cannot stat it" :
			   "cannot read the directory; files beneath it were not queued", "");
		return 0;
	}
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	/* O_NONBLOCK: a file replaced by a FIFO since nftw saw it cannot hang us */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		walk_error(path, "not queued: ", reason(-errno));
		return 0;
	}
	/* no space named: the policy in effect for the file, which respects
	 * excluded subtrees and nested policies */
	err = vexfs_auto_mark(fd, NULL);
	close(fd);
	if (err == -ENOENT)
		walk.skipped++;		/* under no policy: an excluded subtree */
	else if (err)
		walk_error(path, "not queued: ", reason(err));
	else
		walk.marked++;
	status_line(&walk.sl, false, "queueing: %zu files", walk.marked);
	return 0;
}

/* Queue every regular file beneath dir under the policy in effect for it. */
static void mark_existing(const char *dir, bool quiet)
{
	memset(&walk, 0, sizeof(walk));
	status_init(&walk.sl, quiet);
	if (nftw(dir, mark_one, 32, FTW_PHYS | FTW_MOUNT) < 0)
		walk_error(dir, "", reason(-errno));
	status_clear(&walk.sl);
}

int cmd_auto(int argc, char **argv)
{
	struct vexfs_auto p;
	const char *dir;
	struct args a;
	int fd, err;

	parse_args(argc, argv, "json,space,off,clear,existing,quiet", auto_help, 1, 1, &a);
	dir = a.pos[0];
	if (!!a.space + a.off + a.clear > 1)
		usage_error("--space, --off and --clear exclude each other");
	if (a.existing && (a.off || a.clear))
		usage_error("--existing queues files for embedding: give it alone or with --space");
	fd = open_on_vexfs(dir, OPEN_DIR);
	if (a.space || a.off || a.clear) {
		struct vexfs_space_info s;

		if (a.space)
			get_space(fd, dir, a.space, &s);
		err = vexfs_auto_set(fd, a.space, a.off);
		if (err == -EPERM)
			die(EX_PERM, "only the owner of %s (or root) may set its automatic-embedding policy",
			    dir);
		if (err)
			die_err(err, "cannot set the automatic-embedding policy of %s", dir);
	}
	get_policy(fd, dir, &p);
	if (a.existing) {
		if (!p.name[0])
			die(EX_NOTFOUND, "%s has no automatic-embedding policy%s: set one with --space S",
			    dir, p.flags & VEXFS_AUTO_OFF ? " (it is off)" : "");
		mark_existing(dir, a.quiet || a.json);
	}
	if (a.json) {
		struct json j;

		j_begin_object(&j, stdout);
		j_str(&j, "directory", dir);
		j_str(&j, "space", p.name[0] ? p.name : NULL);
		j_bool(&j, "off", p.flags & VEXFS_AUTO_OFF);
		j_bool(&j, "inherited", p.flags & VEXFS_AUTO_INHERITED);
		if (a.existing) {
			j_obj(&j, "existing");
			j_u64(&j, "queued", walk.marked);
			j_u64(&j, "excluded", walk.skipped);
			j_u64(&j, "failed", walk.failed);
			j_obj_end(&j);
		}
		j_end_object(&j);
	} else {
		print_policy(dir, &p);
		if (a.existing) {
			printf("%s: queued %zu existing %s for embedding", dir,
			       walk.marked, files(walk.marked));
			if (walk.skipped)
				printf(", skipped %zu in excluded subtrees", walk.skipped);
			if (walk.failed)
				printf(", %zu failed", walk.failed);
			putchar('\n');
		}
	}
	close(fd);
	free_args(&a);
	return a.existing && walk.failed ? EX_FAIL : EX_OK;
}

/* ------------------------------------------------------------ wait */

#define WAIT_POLL_MIN_S	0.01

static void sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * How long to sleep before the next poll: the full interval while the queue
 * is long, less when the rate it drains at says it is nearly empty, so that a
 * wait returns soon after the last file is embedded without polling a long
 * queue (each poll walks it) often.
 */
static double wait_next_poll(double interval, uint64_t left, uint64_t *last_left,
			     double *last_t)
{
	double now = now_s(), eta, sleep = interval;

	if (*last_t > 0 && left < *last_left) {
		eta = (double)left * (now - *last_t) / (double)(*last_left - left);
		if (eta / 2 < sleep)
			sleep = eta / 2;
		if (sleep < WAIT_POLL_MIN_S)
			sleep = WAIT_POLL_MIN_S < interval ? WAIT_POLL_MIN_S : interval;
	}
	if (*last_t == 0 || left != *last_left) {
		*last_left = left;
		*last_t = now;
	}
	return sleep;
}

int cmd_wait(int argc, char **argv)
{
	struct vexfs_space_info s;
	struct status_line sl;
	struct vexfs_auto p;
	const char *dir;
	struct args a;
	double start, interval, left, nap, last_t = 0;
	uint64_t last_left = 0;
	bool timed_out = false;
	char fb[48];
	int fd, err, rc;

	parse_args(argc, argv, "json,space,timeout,interval,quiet", wait_help, 1, 1, &a);
	dir = a.pos[0];
	interval = (a.have_interval ? a.interval_ms : 200) / 1000.0;
	fd = open_on_vexfs(dir, OPEN_DIR);
	if (a.space)
		get_space(fd, dir, a.space, &s);
	status_init(&sl, a.quiet || a.json);
	start = now_s();
	for (;;) {
		err = vexfs_auto_pending(fd, a.space, &p);
		if (err == -ENOENT && a.space)
			die(EX_NOTFOUND, "space '%s' no longer exists", a.space);
		if (err)
			die_err(err, "cannot read the embedding queue of %s", dir);
		/* failed files stay queued until they change: nothing else moves */
		if (p.stale <= p.failed)
			break;
		left = a.timeout_s ? start + a.timeout_s - now_s() : interval;
		if (left <= 0) {
			timed_out = true;
			break;
		}
		status_line(&sl, true, "waiting: %llu %s to embed beneath %s%s, %.0fs",
			    (unsigned long long)(p.stale - p.failed),
			    files(p.stale - p.failed), dir,
			    failed_note(p.failed, fb, sizeof(fb)), now_s() - start);
		nap = wait_next_poll(interval, p.stale - p.failed, &last_left, &last_t);
		sleep_s(left < nap ? left : nap);
	}
	status_clear(&sl);
	rc = timed_out ? EX_TIMEOUT : p.failed ? EX_UNEMBEDDED : EX_OK;
	if (a.json) {
		struct json j;

		j_begin_object(&j, stdout);
		j_str(&j, "directory", dir);
		j_str(&j, "space", a.space);
		j_u64(&j, "stale", p.stale);
		j_u64(&j, "failed", p.failed);
		j_bool(&j, "timed_out", timed_out);
		j_dbl(&j, "seconds", now_s() - start);
		j_end_object(&j);
	} else if (timed_out) {
		warnx_("timed out after %gs: %llu %s beneath %s still waiting to be embedded%s",
		       a.timeout_s, (unsigned long long)(p.stale - p.failed),
		       files(p.stale - p.failed), dir, failed_note(p.failed, fb, sizeof(fb)));
	} else if (p.failed) {
		warnx_("%llu %s beneath %s could not be embedded (the last error is in 'vexctl status')",
		       (unsigned long long)p.failed, files(p.failed), dir);
	} else {
		printf("%s: every file is embedded\n", dir);
	}
	close(fd);
	free_args(&a);
	return rc;
}
