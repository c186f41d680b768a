// SPDX-License-Identifier: GPL-2.0
/*
 * vexctl: the command line of VexFS vector spaces, embeddings and search.
 *
 *   vexctl space create|list|show|drop|default|set-ef ...
 *   vexctl put|get|rm FILE ...      vexctl import DIR ...
 *   vexctl search DIR ...           vexctl similar FILE ...
 *   vexctl index build|rebuild|stats DIR ...   vexctl status MOUNTPOINT
 *   vexctl auto DIR ...             vexctl wait DIR ...
 *
 * Everything goes through libvexfs (lib/libvexfs.c).  man/vexctl.8 is the
 * reference; this file holds the dispatcher, option parsing, messages and
 * the helpers that find volumes and spaces.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include "vexctl.h"

#define VEXCTL_VERSION "1.0"

const char *g_cmd = "";
const char *g_help_cmd = "";

/* ------------------------------------------------------------ messages */

static void vmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, "vexctl: ");
	if (g_cmd[0])
		fprintf(stderr, "%s: ", g_cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void warnx_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	exit(code);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'vexctl %s%s--help'.\n", g_help_cmd,
		g_help_cmd[0] ? " " : "");
	exit(EX_USAGE);
}

int exit_code_for(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return EX_OK;
	case ENOTTY:
	case EOPNOTSUPP:
		return EX_NOTVEXFS;
	case ENOENT:
		return EX_NOTFOUND;
	case EPERM:
	case EACCES:
	case EROFS:
		return EX_PERM;
	case EEXIST:
		return EX_EXISTS;
	default:
		return EX_FAIL;
	}
}

/* Why an operation failed, in words (never a bare number). */
const char *reason(int err)
{
	switch (err < 0 ? -err : err) {
	case EPERM:
		return "operation not permitted (needs root: CAP_SYS_ADMIN, or ownership)";
	case ENOTTY:
		return "the VexFS module does not support this ioctl (too old?)";
	case EINVAL:
		return "invalid argument (rejected by VexFS)";
	case E2BIG:
		return "too many chunks or vector bytes for one call";
	case ESTALE:
		return "the file changed since the expected data version";
	case EEXIST:
		return "already exists";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

void die_err(int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vexctl: ");
	if (g_cmd[0])
		fprintf(stderr, "%s: ", g_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", reason(err));
	exit(exit_code_for(err));
}

/* ------------------------------------------------------------ options */

/* key: what the allowed list of a command names (two options share a name) */
static const struct {
	const char *name;
	int has_arg;
	int id;
	int shortopt;
	const char *key;
} optdefs[] = {
	{ "json", no_argument, OPT_JSON, 'j', NULL },
	{ "help", no_argument, OPT_HELP, 'h', NULL },
	{ "space", required_argument, OPT_SPACE, 's', NULL },
	{ "dim", required_argument, OPT_DIM, 'd', NULL },
	{ "metric", required_argument, OPT_METRIC, 0, NULL },
	{ "m", required_argument, OPT_M, 0, NULL },
	{ "ef-construction", required_argument, OPT_EFC, 0, NULL },
	{ "ef", required_argument, OPT_EF, 0, NULL },
	{ "model", required_argument, OPT_MODEL, 0, NULL },
	{ "model-version", required_argument, OPT_MODEL_VERSION, 0, NULL },
	{ "path", required_argument, OPT_PATH, 'p', NULL },
	{ "yes", no_argument, OPT_YES, 'y', NULL },
	{ "clear", no_argument, OPT_CLEAR, 0, NULL },
	{ "chunk", required_argument, OPT_CHUNK, 'c', NULL },
	{ "vector", required_argument, OPT_VECTOR, 'v', NULL },
	{ "from", required_argument, OPT_FROM, 'f', NULL },
	{ "format", required_argument, OPT_FORMAT, 0, NULL },
	{ "replace", no_argument, OPT_REPLACE, 0, NULL },
	{ "update", no_argument, OPT_UPDATE, 0, NULL },
	{ "expect-version", required_argument, OPT_EXPECT, 0, NULL },
	{ "vectors", no_argument, OPT_VECTORS, 0, NULL },		/* get: print vectors */
	{ "vectors", required_argument, OPT_VECFILE, 0, "vectors-file" },	/* import */
	{ "k", required_argument, OPT_K, 'k', NULL },
	{ "exact", no_argument, OPT_EXACT, 'e', NULL },
	{ "no-stale", no_argument, OPT_NO_STALE, 0, NULL },
	{ "dir", required_argument, OPT_DIR, 0, NULL },
	{ "files", required_argument, OPT_FILES, 0, NULL },
	{ "batch", required_argument, OPT_BATCH, 0, NULL },
	{ "create", no_argument, OPT_CREATE, 0, NULL },
	{ "all-spaces", no_argument, OPT_ALL_SPACES, 0, NULL },
	{ "quiet", no_argument, OPT_QUIET, 'q', NULL },
	{ "off", no_argument, OPT_OFF, 0, NULL },
	{ "existing", no_argument, OPT_EXISTING, 0, NULL },
	{ "timeout", required_argument, OPT_TIMEOUT, 't', NULL },
	{ "interval", required_argument, OPT_INTERVAL, 0, NULL },
};

#define NOPTS (sizeof(optdefs) / sizeof(optdefs[0]))

static bool allowed_has(const char *allowed, const char *name)
{
	size_t len = strlen(name);
	const char *p = allowed;

	while ((p = strstr(p, name))) {
		if ((p == allowed || p[-1] == ',') && (p[len] == ',' || !p[len]))
			return true;
		p += len;
	}
	return false;
}

uint32_t parse_u32(const char *s, uint32_t min, uint32_t max, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (!s || !*s || *s == '-')
		usage_error("%s: '%s' is not a number", what, s ? s : "");
	v = strtoull(s, &end, 10);
	if (errno || *end)
		usage_error("%s: '%s' is not a number", what, s);
	if (v < min || v > max)
		usage_error("%s must be between %u and %u (got %s)", what, min,
			    max, s);
	return (uint32_t)v;
}

double parse_seconds(const char *s, double max, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || !isdigit((unsigned char)*s))
		usage_error("%s: '%s' is not a number of seconds", what, s);
	if (v > max)
		usage_error("%s must be at most %.0f seconds (got %s)", what, max, s);
	return v;
}

static bool parse_size(const char *s, char **end, __u64 *out)
{
	unsigned long long v;
	int shift = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, end, 0);
	if (errno)
		return false;
	switch (**end) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	}
	if (shift) {
		(*end)++;
		if (v > (~0ULL >> shift))
			return false;
		v <<= shift;
	}
	*out = v;
	return true;
}

/* "OFF:LEN" (sizes may carry K, M, G, T); "whole" or "0:0" = the whole file */
bool parse_chunk(const char *s, struct vexfs_chunk *c)
{
	char *end;

	memset(c, 0, sizeof(*c));
	if (!strcmp(s, "whole"))
		return true;
	if (!parse_size(s, &end, &c->offset) || *end != ':')
		return false;
	if (!parse_size(end + 1, &end, &c->length) || *end)
		return false;
	return c->offset + c->length >= c->offset;
}

void parse_args(int argc, char **argv, const char *allowed, const char *help,
		int min_pos, int max_pos, struct args *a)
{
	struct option lopts[NOPTS + 1];
	char sopts[2 * NOPTS + 3];
	int nl = 0, ns = 0, c, i;
	size_t k;

	memset(a, 0, sizeof(*a));
	sopts[ns++] = ':';	/* report missing arguments as ':' */
	for (k = 0; k < NOPTS; k++) {
		const char *key = optdefs[k].key ? optdefs[k].key :
			optdefs[k].name;

		if (optdefs[k].id != OPT_HELP && !allowed_has(allowed, key))
			continue;
		lopts[nl].name = optdefs[k].name;
		lopts[nl].has_arg = optdefs[k].has_arg;
		lopts[nl].flag = NULL;
		lopts[nl].val = optdefs[k].shortopt ? optdefs[k].shortopt :
			optdefs[k].id;
		nl++;
		if (optdefs[k].shortopt) {
			sopts[ns++] = (char)optdefs[k].shortopt;
			if (optdefs[k].has_arg)
				sopts[ns++] = ':';
		}
	}
	memset(&lopts[nl], 0, sizeof(lopts[nl]));
	sopts[ns] = '\0';

	optind = 0;	/* full reinitialisation (glibc) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		int id = c;

		for (k = 0; k < NOPTS; k++)
			if (optdefs[k].shortopt && optdefs[k].shortopt == c)
				id = optdefs[k].id;
		switch (id) {
		case OPT_HELP:
			fputs(help, stdout);
			exit(EX_OK);
		case OPT_JSON: a->json = true; break;
		case OPT_SPACE: a->space = optarg; break;
		case OPT_DIM:
			a->dim = parse_u32(optarg, 1, VEXFS_DIM_MAX, "--dim");
			a->have_dim = true;
			break;
		case OPT_METRIC: a->metric = optarg; break;
		case OPT_M:
			a->m = parse_u32(optarg, 2, 100, "--m");
			a->have_m = true;
			break;
		case OPT_EFC:
			a->efc = parse_u32(optarg, 1, VEXFS_EF_MAX, "--ef-construction");
			a->have_efc = true;
			break;
		case OPT_EF:
			a->ef = parse_u32(optarg, 1, VEXFS_EF_MAX, "--ef");
			a->have_ef = true;
			break;
		case OPT_MODEL: a->model = optarg; break;
		case OPT_MODEL_VERSION: a->model_version = optarg; break;
		case OPT_PATH: a->path = optarg; break;
		case OPT_YES: a->yes = true; break;
		case OPT_CLEAR: a->clear = true; break;
		case OPT_CHUNK:
			a->chunks = xrealloc(a->chunks, a->nchunks + 1,
					     sizeof(*a->chunks));
			if (!parse_chunk(optarg, &a->chunks[a->nchunks]))
				usage_error("--chunk: '%s' is not OFFSET:LENGTH", optarg);
			a->nchunks++;
			break;
		case OPT_VECTOR: a->vector = optarg; break;
		case OPT_FROM: a->from = optarg; break;
		case OPT_FORMAT: a->format = optarg; break;
		case OPT_REPLACE: a->replace = true; break;
		case OPT_UPDATE: a->update = true; break;
		case OPT_EXPECT: {
			char *end;

			errno = 0;
			a->expect = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || *optarg == '-')
				usage_error("--expect-version: '%s' is not a number", optarg);
			break;
		}
		case OPT_VECTORS: a->vectors = true; break;
		case OPT_VECFILE: a->vecfile = optarg; break;
		case OPT_K:
			a->k = parse_u32(optarg, 1, VEXFS_K_MAX, "-k");
			a->have_k = true;
			break;
		case OPT_EXACT: a->exact = true; break;
		case OPT_NO_STALE: a->no_stale = true; break;
		case OPT_DIR: a->dir = optarg; break;
		case OPT_FILES: a->files = optarg; break;
		case OPT_BATCH:
			a->batch = parse_u32(optarg, 1, VEXFS_BATCH_MAX, "--batch");
			a->have_batch = true;
			break;
		case OPT_CREATE: a->create = true; break;
		case OPT_ALL_SPACES: a->all_spaces = true; break;
		case OPT_QUIET: a->quiet = true; break;
		case OPT_OFF: a->off = true; break;
		case OPT_EXISTING: a->existing = true; break;
		case OPT_TIMEOUT:
			a->timeout_s = parse_seconds(optarg, 1e8, "--timeout");
			break;
		case OPT_INTERVAL:
			a->interval_ms = parse_u32(optarg, 1, 3600000, "--interval");
			a->have_interval = true;
			break;
		case ':':
			if (optopt && optopt < 256)
				usage_error("option '-%c' needs an argument", optopt);
			usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	for (i = optind; i < argc; i++) {
		if (a->npos >= max_pos || a->npos >= MAX_POS - 1)
			usage_error("unexpected argument '%s'", argv[i]);
		a->pos[a->npos++] = argv[i];
	}
	if (a->npos < min_pos)
		usage_error("missing argument; %.*s", (int)strcspn(help, "\n"), help);
}

void free_args(struct args *a)
{
	free(a->chunks);
	a->chunks = NULL;
}

const struct command *find_command(const struct command *tab, size_t n,
				   const char *name)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (!strcmp(name, tab[k].name))
			return &tab[k];
	return NULL;
}

int group_help(int argc, char **argv, const char *help)
{
	if (argc < 2) {
		fputs(help, stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(help, stdout);
		return EX_OK;
	}
	return -1;
}

/* ------------------------------------------------------------ volumes */

static const char *fs_name(unsigned long type)
{
	switch (type) {
	case 0xEF53: return "ext2/3/4";
	case 0x01021994: return "tmpfs";
	case 0x9123683E: return "btrfs";
	case 0x58465342: return "xfs";
	case 0x794C7630: return "overlayfs";
	case 0x6969: return "nfs";
	case 0x2FC12FC1: return "zfs";
	case 0xCA451A4E: return "bcachefs";
	case 0x9FA0: return "proc";
	case 0x62656572: return "sysfs";
	case 0x4D44: return "vfat";
	case 0x65735546: return "fuse";
	default: return NULL;
	}
}

int open_on_vexfs(const char *path, int kind)
{
	struct statfs sfs;
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | (kind == OPEN_DIR ? O_DIRECTORY : 0));
	if (fd < 0) {
		err = errno;
		if (err == ENOTDIR)
			die(EX_USAGE, "%s: not a directory", path);
		die(exit_code_for(err), "cannot open %s: %s", path, strerror(err));
	}
	if (fstatfs(fd, &sfs) < 0)
		die_err(-errno, "cannot stat %s", path);
	if ((unsigned long)sfs.f_type != VEXFS_SUPER_MAGIC) {
		const char *n = fs_name((unsigned long)sfs.f_type);

		if (n)
			die(EX_NOTVEXFS, "%s is not on a VexFS volume (it is on %s)", path, n);
		die(EX_NOTVEXFS, "%s is not on a VexFS volume (file system type 0x%lx)",
		    path, (unsigned long)sfs.f_type);
	}
	if (kind == OPEN_FILE && !fstat(fd, &st) && S_ISDIR(st.st_mode))
		die(EX_USAGE, "%s is a directory; embeddings belong to regular files", path);
	return fd;
}

int open_volume(const char *path, int kind, char **vol)
{
	int fd = open_on_vexfs(path, kind);

	*vol = volume_of(path);
	return fd;
}

void open_vexfs_file(const char *path, struct vexfs_file *f)
{
	f->fd = open_on_vexfs(path, OPEN_FILE);
	f->dir = parent_of(path);
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

void close_vexfs_file(struct vexfs_file *f)
{
	free(f->dir);
	if (f->dirfd >= 0)
		close(f->dirfd);
	close(f->fd);
}

char *xstrdup(const char *s)
{
	char *r = strdup(s);

	if (!r)
		die(EX_FAIL, "out of memory");
	return r;
}

char *parent_of(const char *path)
{
	char *p = xstrdup(path), *slash;
	size_t len = strlen(p);

	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	slash = strrchr(p, '/');
	if (!slash) {
		free(p);
		return xstrdup(".");
	}
	if (slash == p)
		slash[1] = '\0';
	else
		*slash = '\0';
	return p;
}

char *join_path(const char *dir, const char *rel)
{
	size_t len = strlen(dir);

	if (!strcmp(dir, "."))
		return xstrdup(rel);
	if (len && dir[len - 1] == '/')
		return xasprintf("%s%s", dir, rel);
	return xasprintf("%s/%s", dir, rel);
}

char *volume_of(const char *path)
{
	char *cur, *up;
	struct stat st, pst;

	cur = realpath(path, NULL);
	if (!cur)
		return xstrdup(path);
	if (stat(cur, &st) < 0)
		return cur;
	if (!S_ISDIR(st.st_mode)) {
		up = parent_of(cur);
		free(cur);
		cur = up;
		if (stat(cur, &st) < 0)
			return cur;
	}
	while (strcmp(cur, "/")) {
		up = parent_of(cur);
		if (stat(up, &pst) < 0 || pst.st_dev != st.st_dev ||
		    vexfs_path_is_vexfs(up) != 1) {
			free(up);
			break;
		}
		free(cur);
		cur = up;
	}
	return cur;
}

void get_space(int fd, const char *path, const char *name,
	       struct vexfs_space_info *info)
{
	int err;

	if (!vexfs_space_name_valid(name))
		usage_error("'%s' is not a valid space name (1-63 of A-Z a-z 0-9 . _ -, not starting with '.')",
			    name);
	err = vexfs_space_info(fd, name, info);
	if (err == -ENOENT) {
		char *vol = volume_of(path);

		warnx_("space '%s' does not exist on %s", name, vol);
		free(vol);
		exit(EX_NOTFOUND);
	}
	if (err)
		die_err(err, "cannot read space '%s' on %s", name, path);
}

void resolve_space(int volfd, int dirfd, const char *dirpath,
		   const char *given, struct vexfs_space_info *info)
{
	char name[VEXFS_NAME_MAX];
	struct vexfs_space_info *list;
	size_t n, i;
	char *vol;
	int err;

	if (given) {
		get_space(volfd, dirpath, given, info);
		return;
	}
	if (dirfd >= 0) {
		err = vexfs_dir_get_space(dirfd, name, sizeof(name));
		if (err && err != -ENOTDIR)
			die_err(err, "cannot read the default space of %s", dirpath);
		if (!err && name[0]) {
			get_space(volfd, dirpath, name, info);
			return;
		}
	}
	err = vexfs_space_list(volfd, &list, &n);
	if (err)
		die_err(err, "cannot list the spaces of the volume of %s", dirpath);
	vol = volume_of(dirpath);
	if (n == 1) {
		snprintf(name, sizeof(name), "%s", list[0].name);
		vexfs_space_list_free(list);
		free(vol);
		get_space(volfd, dirpath, name, info);
		return;
	}
	if (!n) {
		warnx_("%s has no vector spaces yet; create one with 'vexctl space create NAME --dim N --path %s'",
		       vol, vol);
	} else {
		fprintf(stderr, "vexctl: %s: no --space given and %s has no default space; spaces on %s:",
			g_cmd, dirpath, vol);
		for (i = 0; i < n; i++)
			fprintf(stderr, "%s %s", i ? "," : "", list[i].name);
		fputc('\n', stderr);
	}
	vexfs_space_list_free(list);
	free(vol);
	exit(EX_NOTFOUND);
}

/* ------------------------------------------------------------ main */

static const char main_help[] =
"Usage: vexctl [--json] COMMAND [ARGS...]\n"
"Manage VexFS vector spaces, embeddings and similarity search.\n"
"\n"
"Spaces (per volume; PATH is any file or directory on it, default '.'):\n"
"  space create NAME --dim N [--metric l2|cosine|ip] [...]  create a space\n"
"  space list [PATH]                list the volume's spaces\n"
"  space show NAME [PATH]           describe a space\n"
"  space drop NAME [PATH] [--yes]   drop a space and its embeddings\n"
"  space default DIR [NAME|--clear] show or set a directory's default space\n"
"  space set-ef NAME EF [PATH]      set a space's default search ef\n"
"Embeddings:\n"
"  put FILE [--chunk OFF:LEN]... (--vector \"1 2 3\" | --from FILE|-)\n"
"  get FILE [--vectors]             list a file's embeddings\n"
"  rm FILE [--chunk OFF:LEN]...     delete a file's embeddings\n"
"  import DIR --vectors FILE --files LIST   bulk import\n"
"Search:\n"
"  search DIR \"TEXT\" -k N          nearest passages under DIR (text query)\n"
"  search DIR (--vector ... | --from FILE) -k N   nearest chunks under DIR\n"
"  similar FILE -k N                files like FILE\n"
"Automatic embeddings:\n"
"  auto DIR [--space S|--off|--clear] [--existing]   show or set the policy\n"
"  wait DIR [--space S] [--timeout SECONDS]   until everything is embedded\n"
"Index and status:\n"
"  index build|rebuild|stats DIR    link pending vectors, rebuild, statistics\n"
"  status MOUNTPOINT                every space: vectors, index, embedding queue\n"
"\n"
"Every command takes --help, and --json where it prints data.\n"
"Exit status: 0 ok, 1 failed, 2 usage or bad input, 3 not a VexFS volume,\n"
"4 not found, 5 permission denied, 6 already exists, 7 files could not be\n"
"embedded (wait), 8 timed out (wait).  See vexctl(8).\n";

int main(int argc, char **argv)
{
	static const struct command cmds[] = {
		{ "space", cmd_space }, { "status", cmd_status },
		{ "index", cmd_index }, { "put", cmd_put }, { "get", cmd_get },
		{ "rm", cmd_rm }, { "import", cmd_import },
		{ "search", cmd_search }, { "similar", cmd_similar },
		{ "auto", cmd_auto }, { "wait", cmd_wait },
	};
	const struct command *cmd;
	bool json = false;
	int i = 1;

	/* global options before the command */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(main_help, stdout);
			return EX_OK;
		} else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			printf("vexctl %s (libvexfs %s)\n", VEXCTL_VERSION,
			       vexfs_version());
			return EX_OK;
		} else {
			usage_error("unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc) {
		fputs(main_help, stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		if (i + 1 >= argc) {
			fputs(main_help, stdout);
			return EX_OK;
		}
		/* "vexctl help search" = "vexctl search --help" */
		argv[i] = argv[i + 1];
		argv[i + 1] = "--help";
	}
	cmd = find_command(cmds, sizeof(cmds) / sizeof(cmds[0]), argv[i]);
	if (!cmd)
		usage_error("unknown command '%s'", argv[i]);
	g_cmd = cmd->name;
	g_help_cmd = cmd->name;
	if (json) {
		/* move a leading --json behind the command word */
		char **nargv = xcalloc((size_t)argc + 2, sizeof(*nargv));
		int n = 0, j, rc;

		for (j = i; j < argc; j++)
			nargv[n++] = argv[j];
		nargv[n++] = "--json";
		rc = cmd->fn(n, nargv);
		free(nargv);
		return rc;
	}
	return cmd->fn(argc - i, argv + i);
}
