// SPDX-License-Identifier: GPL-2.0
/*
 * vexctl space ..., status, index ...: managing the vector spaces of a
 * volume and their HNSW indexes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "vexctl.h"

static const char space_help[] =
"Usage: vexctl space COMMAND ...\n"
"Vector spaces of a VexFS volume (named, with a dimension, metric and model).\n"
"\n"
"  create NAME --dim N [options] [PATH]  create a space\n"
"  list [PATH]                     list the spaces\n"
"  show NAME [PATH]                describe one space, with index statistics\n"
"  drop NAME [PATH] [--yes]        drop a space and all its embeddings\n"
"  default DIR [NAME|--clear]      show or set the default space of DIR\n"
"  set-ef NAME EF [PATH]           set the space's default search ef\n"
"\n"
"PATH is any file or directory on the volume (default: the current directory).\n"
"Run 'vexctl space COMMAND --help' for the options of each.\n";

static const char create_help[] =
"Usage: vexctl space create NAME --dim N [options] [PATH]\n"
"       vexctl space create PATH NAME --dim N [options]\n"
"Create a vector space on the volume PATH is on (default: '.').  Needs root.\n"
"\n"
"  -d, --dim N                dimension of the vectors (1-8192), required\n"
"      --metric l2|cosine|ip  distance: squared L2 (default), 1 - cosine\n"
"                             similarity, or negative inner product\n"
"      --m M                  HNSW links per node (2-100, default 16)\n"
"      --ef-construction N    HNSW build beam width (1-10000, default 200)\n"
"      --ef N                 default search beam width (1-10000, default 64)\n"
"      --model NAME           the embedding model (free text, < 64 bytes)\n"
"      --model-version V      its version (< 32 bytes)\n"
"  -p, --path PATH            a file or directory on the volume\n"
"  -j, --json                 print the new space as JSON\n"
"\n"
"NAME: 1-63 characters of A-Z a-z 0-9 . _ -, not starting with '.'.\n"
"NAME and PATH may come in either order: a word containing '/' (or '.',\n"
"'..', or an existing directory) is the path.\n";

static const char list_help[] =
"Usage: vexctl space list [PATH] [--json]\n"
"List the vector spaces of the volume PATH is on (default: '.').\n";

static const char show_help[] =
"Usage: vexctl space show NAME [PATH] [--json]\n"
"Describe a space: parameters, model, vectors stored, indexed and pending,\n"
"and the memory its index uses (loading the index if needed).\n";

static const char drop_help[] =
"Usage: vexctl space drop NAME [PATH] [--yes] [--json]\n"
"Drop a space and every embedding in it.  Asks for confirmation on a\n"
"terminal; otherwise --yes is required.  Needs root.\n"
"  -y, --yes    do not ask\n"
"  -j, --json   print what was dropped as JSON\n";

static const char default_help[] =
"Usage: vexctl space default DIR [NAME | --clear] [--json]\n"
"Without NAME, show the default space of the directory DIR.  With NAME, set\n"
"it: embedding commands and searches on files under DIR use it when no\n"
"--space is given, and directories created in DIR later inherit it.\n"
"--clear removes it.  Needs ownership of DIR (or CAP_FOWNER).\n";

static const char setef_help[] =
"Usage: vexctl space set-ef NAME EF [PATH] [--json]\n"
"Set the default search beam width (ef, 1-10000) of a space.  Larger is\n"
"more accurate and slower.  Needs root.\n"
"  -j, --json   print the new and the previous ef as JSON\n";

static const char status_help[] =
"Usage: vexctl status [MOUNTPOINT] [--json]\n"
"Every space of the volume (default: the one '.' is on): dimension, metric,\n"
"vectors stored, linked into the HNSW index, pending (found by exact scan\n"
"until linked), index memory, model.  Then automatic embeddings, per space:\n"
"chunks embedded, files stale (waiting, in flight included), requests in\n"
"flight to a sidecar, files that failed, sidecars registered, and the last\n"
"error a sidecar reported (with the file's inode number).\n";

static const char index_help[] =
"Usage: vexctl index build|rebuild|stats DIR [--space S] [--json]\n"
"  build     link every pending vector into the HNSW graph now (it happens\n"
"            in the background anyway); shows progress on a terminal\n"
"  rebuild   drop the graph and link every vector again\n"
"  stats     index statistics\n"
"Without --space: DIR's default space, or the volume's only space, or (for\n"
"build and stats) every space of the volume.  build and rebuild need root.\n"
"  -s, --space S   the space\n"
"  -q, --quiet     no progress display\n"
"  -j, --json      print the resulting statistics as JSON (no progress)\n";

static bool is_dir(const char *p)
{
	struct stat st;

	return !stat(p, &st) && S_ISDIR(st.st_mode);
}

static void print_space(const struct vexfs_space_info *s, bool stats)
{
	char b1[32], b2[32], b3[64], mb[128];

	printf("space:            %s (id %u)\n", s->name, s->space_id);
	printf("dimension:        %u (float32)\n", s->dim);
	printf("metric:           %s\n", vexfs_metric_name(s->metric));
	printf("model:            %s\n", model_str(s, mb, sizeof(mb)));
	printf("hnsw:             M %u, ef_construction %u, ef_search %u\n",
	       s->hnsw_m, s->hnsw_ef_construction, s->hnsw_ef_search);
	printf("vectors:          %llu\n", (unsigned long long)s->vector_count);
	if (stats) {
		printf("indexed:          %llu\n", (unsigned long long)s->indexed_count);
		printf("pending:          %llu\n", (unsigned long long)s->pending_count);
		printf("index memory:     %s%s\n",
		       human_bytes(s->index_bytes, b1, sizeof(b1)),
		       s->loaded ? "" : " (not loaded)");
		printf("levels:           %u\n", s->max_level);
	}
	printf("bytes per vector: %s\n",
	       human_bytes(s->bytes_per_vector, b2, sizeof(b2)));
	printf("created:          %s\n", time_str(s->create_time_ns, b3, sizeof(b3)));
}

/* NAME and PATH in either order (see create_help). */
static void name_and_path(struct args *a, const char **name, const char **path)
{
	*name = NULL;
	*path = a->path ? a->path : ".";
	if (a->npos == 1) {
		*name = a->pos[0];
	} else if (a->npos == 2) {
		const char *x = a->pos[0], *y = a->pos[1];
		bool xp = strchr(x, '/') || !strcmp(x, ".") || !strcmp(x, "..");
		bool yp = strchr(y, '/') || !strcmp(y, ".") || !strcmp(y, "..");

		if (!xp && !yp) {
			xp = is_dir(x) && !is_dir(y);
			yp = !xp;
		}
		if (a->path)
			usage_error("give the path either as an argument or with --path, not both");
		if (xp && !yp) {
			*path = x;
			*name = y;
		} else {
			*name = x;
			*path = y;
		}
	}
	if (!*name)
		usage_error("missing space name");
	if (!vexfs_space_name_valid(*name))
		usage_error("'%s' is not a valid space name (1-63 of A-Z a-z 0-9 . _ -, not starting with '.')",
			    *name);
}

static int space_create(int argc, char **argv)
{
	struct vexfs_space_info in, out;
	const char *name, *path;
	struct args a;
	int fd, err;

	parse_args(argc, argv, "json,dim,metric,m,ef-construction,ef,model,model-version,path",
		   create_help, 1, 2, &a);
	name_and_path(&a, &name, &path);
	if (!a.have_dim)
		usage_error("--dim is required");
	memset(&in, 0, sizeof(in));
	snprintf(in.name, sizeof(in.name), "%s", name);
	in.dim = a.dim;
	in.elem_type = VEXFS_ELEM_F32;
	in.metric = VEXFS_METRIC_L2;
	if (a.metric && vexfs_metric_parse(a.metric, &in.metric))
		usage_error("--metric must be l2, cosine or ip (got '%s')", a.metric);
	in.hnsw_m = a.m;
	in.hnsw_ef_construction = a.efc;
	in.hnsw_ef_search = a.ef;
	if (a.model) {
		if (strlen(a.model) >= VEXFS_MODEL_MAX)
			usage_error("--model is longer than %d bytes", VEXFS_MODEL_MAX - 1);
		snprintf(in.model, sizeof(in.model), "%s", a.model);
	}
	if (a.model_version) {
		if (strlen(a.model_version) >= VEXFS_MODEL_VERSION_MAX)
			usage_error("--model-version is longer than %d bytes",
				    VEXFS_MODEL_VERSION_MAX - 1);
		snprintf(in.model_version, sizeof(in.model_version), "%s", a.model_version);
	}
	fd = open_on_vexfs(path, OPEN_ANY);
	err = vexfs_space_create(fd, &in, &out);
	if (err) {
		char *vol = volume_of(path);

		if (err == -EEXIST)
			die(EX_EXISTS, "space '%s' already exists on %s", name, vol);
		if (err == -EPERM)
			die(EX_PERM, "creating a space needs root (CAP_SYS_ADMIN)");
		die_err(err, "cannot create space '%s' on %s", name, vol);
	}
	close(fd);
	if (a.json) {
		j_print_space(&out, false);
	} else {
		char *vol = volume_of(path);

		printf("created space '%s' on %s: dim %u, %s, M %u, ef_construction %u, ef %u%s%s\n",
		       out.name, vol, out.dim, vexfs_metric_name(out.metric),
		       out.hnsw_m, out.hnsw_ef_construction, out.hnsw_ef_search,
		       out.model[0] ? ", model " : "", out.model);
		free(vol);
	}
	free_args(&a);
	return EX_OK;
}

static int space_list(int argc, char **argv)
{
	struct vexfs_space_info *list;
	struct args a;
	const char *path;
	size_t n, i;
	char *vol;
	int fd, err;

	parse_args(argc, argv, "json,path", list_help, 0, 1, &a);
	path = a.npos ? a.pos[0] : a.path ? a.path : ".";
	fd = open_volume(path, OPEN_ANY, &vol);
	err = vexfs_space_list(fd, &list, &n);
	if (err)
		die_err(err, "cannot list the spaces of %s", vol);
	if (a.json) {
		j_print_spaces(vol, list, n, false, NULL);
	} else if (!n) {
		printf("no vector spaces on %s (create one with 'vexctl space create NAME --dim N --path %s')\n",
		       vol, vol);
	} else {
		static const char *hdr[] = { "NAME", "DIM", "METRIC", "VECTORS", "MODEL", "CREATED" };
		struct table t;
		char tb[64], mb[128];

		t_init(&t, 6, hdr, "lrlrll");
		for (i = 0; i < n; i++) {
			t_row(&t);
			t_addf(&t, 0, "%s", list[i].name);
			t_addf(&t, 1, "%u", list[i].dim);
			t_addf(&t, 2, "%s", vexfs_metric_name(list[i].metric));
			t_addf(&t, 3, "%llu", (unsigned long long)list[i].vector_count);
			t_addf(&t, 4, "%s", model_str(&list[i], mb, sizeof(mb)));
			t_addf(&t, 5, "%s", time_str(list[i].create_time_ns, tb, sizeof(tb)));
		}
		t_print(&t, stdout);
		t_free(&t);
	}
	vexfs_space_list_free(list);
	free(vol);
	close(fd);
	free_args(&a);
	return EX_OK;
}

static int space_show(int argc, char **argv)
{
	struct vexfs_space_info s;
	const char *name, *path;
	struct args a;
	int fd;

	parse_args(argc, argv, "json,path", show_help, 1, 2, &a);
	name_and_path(&a, &name, &path);
	fd = open_on_vexfs(path, OPEN_ANY);
	get_space(fd, path, name, &s);
	if (a.json)
		j_print_space(&s, true);
	else
		print_space(&s, true);
	close(fd);
	free_args(&a);
	return EX_OK;
}

static int space_drop(int argc, char **argv)
{
	struct vexfs_space_info s;
	const char *name, *path;
	struct args a;
	char *vol;
	int fd, err;

	parse_args(argc, argv, "yes,json,path", drop_help, 1, 2, &a);
	name_and_path(&a, &name, &path);
	fd = open_volume(path, OPEN_ANY, &vol);
	get_space(fd, path, name, &s);
	if (!a.yes) {
		char line[32];

		if (!isatty(STDIN_FILENO))
			usage_error("refusing to drop space '%s' (%llu embeddings) on %s without --yes",
				    name, (unsigned long long)s.vector_count, vol);
		fprintf(stderr, "Drop space '%s' on %s and its %llu embeddings? [y/N] ",
			name, vol, (unsigned long long)s.vector_count);
		if (!fgets(line, sizeof(line), stdin) ||
		    (line[0] != 'y' && line[0] != 'Y')) {
			fprintf(stderr, "not dropped\n");
			free(vol);
			return EX_FAIL;
		}
	}
	err = vexfs_space_drop(fd, name);
	if (err == -EPERM)
		die(EX_PERM, "dropping a space needs root (CAP_SYS_ADMIN)");
	if (err == -ENOENT)
		die(EX_NOTFOUND, "space '%s' does not exist on %s", name, vol);
	if (err)
		die_err(err, "cannot drop space '%s' on %s", name, vol);
	if (a.json) {
		struct json j;

		j_begin_object(&j, stdout);
		j_str(&j, "space", name);
		j_str(&j, "volume", vol);
		j_bool(&j, "dropped", true);
		j_u64(&j, "embeddings", s.vector_count);
		j_end_object(&j);
	} else {
		printf("dropped space '%s' on %s (%llu embeddings)\n", name, vol,
		       (unsigned long long)s.vector_count);
	}
	free(vol);
	close(fd);
	free_args(&a);
	return EX_OK;
}

static int space_default(int argc, char **argv)
{
	char name[VEXFS_NAME_MAX];
	const char *dir;
	struct args a;
	int fd, err;

	parse_args(argc, argv, "json,clear", default_help, 1, 2, &a);
	dir = a.pos[0];
	if (a.clear && a.npos > 1)
		usage_error("give a space name or --clear, not both");
	fd = open_on_vexfs(dir, OPEN_DIR);
	if (a.npos > 1 || a.clear) {
		const char *set = a.clear ? "" : a.pos[1];
		struct vexfs_space_info s;

		if (!a.clear)
			get_space(fd, dir, set, &s);
		err = vexfs_dir_set_space(fd, set);
		if (err == -EPERM)
			die(EX_PERM, "only the owner of %s (or root) may set its default space", dir);
		if (err)
			die_err(err, "cannot set the default space of %s", dir);
	}
	err = vexfs_dir_get_space(fd, name, sizeof(name));
	if (err)
		die_err(err, "cannot read the default space of %s", dir);
	if (a.json) {
		struct json j;

		j_begin_object(&j, stdout);
		j_str(&j, "directory", dir);
		j_str(&j, "space", name[0] ? name : NULL);
		j_end_object(&j);
	} else if (name[0]) {
		printf("%s: default space '%s'\n", dir, name);
	} else {
		printf("%s: no default space\n", dir);
	}
	close(fd);
	free_args(&a);
	return EX_OK;
}

static int space_set_ef(int argc, char **argv)
{
	struct vexfs_space_info s;
	const char *name, *path;
	struct args a;
	uint32_t ef;
	int fd, err;

	parse_args(argc, argv, "json,path", setef_help, 2, 3, &a);
	name = a.pos[0];
	ef = parse_u32(a.pos[1], 1, VEXFS_EF_MAX, "EF");
	path = a.npos > 2 ? a.pos[2] : a.path ? a.path : ".";
	fd = open_on_vexfs(path, OPEN_ANY);
	get_space(fd, path, name, &s);
	err = vexfs_set_ef(fd, name, ef);
	if (err == -EPERM)
		die(EX_PERM, "changing a space needs root (CAP_SYS_ADMIN)");
	if (err)
		die_err(err, "cannot set ef of space '%s'", name);
	if (a.json) {
		struct json j;

		j_begin_object(&j, stdout);
		j_str(&j, "space", name);
		j_u64(&j, "ef_search", ef);
		j_u64(&j, "previous_ef_search", s.hnsw_ef_search);
		j_end_object(&j);
	} else {
		printf("space '%s': default search ef %u (was %u)\n", name, ef,
		       s.hnsw_ef_search);
	}
	close(fd);
	free_args(&a);
	return EX_OK;
}

int cmd_space(int argc, char **argv)
{
	static const struct command subs[] = {
		{ "create", space_create }, { "list", space_list },
		{ "ls", space_list }, { "show", space_show },
		{ "info", space_show }, { "drop", space_drop },
		{ "default", space_default }, { "set-ef", space_set_ef },
	};
	const struct command *sub;
	int rc;

	g_help_cmd = "space";
	rc = group_help(argc, argv, space_help);
	if (rc >= 0)
		return rc;
	sub = find_command(subs, sizeof(subs) / sizeof(subs[0]), argv[1]);
	if (!sub)
		usage_error("unknown command 'space %s'", argv[1]);
	g_cmd = xasprintf("space %s", sub->name);
	g_help_cmd = g_cmd;
	return sub->fn(argc - 1, argv + 1);
}

/* ------------------------------------------------------------ status */

static void stats_table(struct vexfs_space_info *s, size_t n, FILE *f)
{
	static const char *hdr[] = { "SPACE", "DIM", "METRIC", "VECTORS", "INDEXED",
				     "PENDING", "MEMORY", "MODEL" };
	struct table t;
	char b[32], mb[128];
	size_t i;

	t_init(&t, 8, hdr, "lrlrrrrl");
	for (i = 0; i < n; i++) {
		t_row(&t);
		t_addf(&t, 0, "%s", s[i].name);
		t_addf(&t, 1, "%u", s[i].dim);
		t_addf(&t, 2, "%s", vexfs_metric_name(s[i].metric));
		t_addf(&t, 3, "%llu", (unsigned long long)s[i].vector_count);
		t_addf(&t, 4, "%llu", (unsigned long long)s[i].indexed_count);
		t_addf(&t, 5, "%llu", (unsigned long long)s[i].pending_count);
		t_addf(&t, 6, "%s", human_bytes(s[i].index_bytes, b, sizeof(b)));
		t_addf(&t, 7, "%s", model_str(&s[i], mb, sizeof(mb)));
	}
	t_print(&t, f);
	t_free(&t);
}

/* Every space with statistics (SPACE_INFO on each listed one). */
static size_t all_spaces(int fd, const char *vol, struct vexfs_space_info **out)
{
	struct vexfs_space_info *list;
	size_t n, i, m = 0;
	int err;

	err = vexfs_space_list(fd, &list, &n);
	if (err)
		die_err(err, "cannot list the spaces of %s", vol);
	for (i = 0; i < n; i++) {
		err = vexfs_space_info(fd, list[i].name, &list[m]);
		if (err == -ENOENT)
			continue;	/* dropped meanwhile */
		if (err)
			die_err(err, "cannot read space '%s'", list[i].name);
		m++;
	}
	*out = list;
	return m;
}

/*
 * The automatic-embedding counters of each space into au[] (au[i].size 0
 * for a space dropped meanwhile).  false if the module predates automatic
 * embeddings: it answers ENOTTY (no such ioctl) or EINVAL (unknown op).
 */
static bool auto_status_all(int fd, const struct vexfs_space_info *s, size_t n,
			    struct vexfs_auto *au)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		err = vexfs_auto_status(fd, s[i].name, &au[i]);
		if (err == -ENOTTY || err == -EINVAL) {
			memset(au, 0, n * sizeof(*au));
			return false;
		}
		if (err == -ENOENT) {
			memset(&au[i], 0, sizeof(au[i]));
			continue;
		}
		if (err)
			die_err(err, "cannot read the embedding queue of space '%s'", s[i].name);
	}
	return true;
}

static void auto_table(const struct vexfs_space_info *s,
		       const struct vexfs_auto *au, size_t n, FILE *f)
{
	static const char *hdr[] = { "SPACE", "EMBEDDED", "STALE", "IN FLIGHT", "FAILED",
				     "SIDECARS", "LAST ERROR" };
	char eb[4 * VEXFS_AUTO_ERROR_MAX + 128];
	struct table t;
	size_t i;

	t_init(&t, 7, hdr, "lrrrrrl");
	for (i = 0; i < n; i++) {
		if (!au[i].size)
			continue;
		t_row(&t);
		t_addf(&t, 0, "%s", s[i].name);
		t_addf(&t, 1, "%llu", (unsigned long long)au[i].embedded);
		t_addf(&t, 2, "%llu", (unsigned long long)au[i].stale);
		t_addf(&t, 3, "%llu", (unsigned long long)au[i].in_flight);
		t_addf(&t, 4, "%llu", (unsigned long long)au[i].failed);
		t_addf(&t, 5, "%u", au[i].sidecars);
		t_addf(&t, 6, "%s", auto_error_str(&au[i], eb, sizeof(eb)));
	}
	t_print(&t, f);
	t_free(&t);
}

int cmd_status(int argc, char **argv)
{
	struct vexfs_space_info *s;
	struct vexfs_auto *au;
	const char *path;
	struct args a;
	size_t n, i;
	bool have_auto;
	char *vol;
	int fd;

	parse_args(argc, argv, "json", status_help, 0, 1, &a);
	path = a.npos ? a.pos[0] : ".";
	fd = open_volume(path, OPEN_ANY, &vol);
	n = all_spaces(fd, vol, &s);
	au = xcalloc(n, sizeof(*au));
	have_auto = auto_status_all(fd, s, n, au);
	if (a.json) {
		j_print_spaces(vol, s, n, true, au);
	} else {
		uint64_t vec = 0, pend = 0, stale = 0, failed = 0;

		for (i = 0; i < n; i++) {
			vec += s[i].vector_count;
			pend += s[i].pending_count;
			stale += au[i].stale;
			failed += au[i].failed;
		}
		printf("VexFS volume %s: %zu space%s, %llu vectors, %llu pending indexing",
		       vol, n, n == 1 ? "" : "s", (unsigned long long)vec,
		       (unsigned long long)pend);
		if (have_auto)
			printf(", %llu file%s waiting to be embedded (%llu failed)",
			       (unsigned long long)stale, stale == 1 ? "" : "s",
			       (unsigned long long)failed);
		putchar('\n');
		if (n) {
			putchar('\n');
			stats_table(s, n, stdout);
			putchar('\n');
			if (have_auto) {
				printf("Automatic embeddings:\n");
				auto_table(s, au, n, stdout);
			} else {
				printf("Automatic embeddings: not supported by this VexFS module\n");
			}
		}
	}
	free(au);
	vexfs_space_list_free(s);
	free(vol);
	close(fd);
	free_args(&a);
	return EX_OK;
}

/* ------------------------------------------------------------ index */

struct build_job {
	int fd;
	const char *name;
	bool rebuild;
	int err;
	struct vexfs_space_info out;
	volatile int done;
};

static void *build_thread(void *p)
{
	struct build_job *b = p;

	b->err = b->rebuild ? vexfs_index_rebuild(b->fd, b->name, &b->out) :
		vexfs_index_build(b->fd, b->name, &b->out);
	__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int index_build_one(int fd, const char *name, bool rebuild, bool progress,
			   struct vexfs_space_info *out)
{
	struct build_job b = { .fd = fd, .name = name, .rebuild = rebuild };
	static const char spin[] = "|/-\\";
	const char *doing = rebuild ? "rebuilding" : "indexing";
	struct status_line sl;
	pthread_t th;
	int i = 0;

	status_init(&sl, !progress);
	if (!sl.on || pthread_create(&th, NULL, build_thread, &b)) {
		build_thread(&b);
	} else {
		while (!__atomic_load_n(&b.done, __ATOMIC_ACQUIRE)) {
			struct timespec ts = { 0, 200 * 1000 * 1000 };
			struct vexfs_space_info s;

			nanosleep(&ts, NULL);
			if (vexfs_space_info(fd, name, &s))
				continue;
			if (s.vector_count)
				status_line(&sl, true, "%c %s '%s': %llu of %llu linked (%.0f%%)",
					    spin[i++ & 3], doing, name,
					    (unsigned long long)s.indexed_count,
					    (unsigned long long)s.vector_count,
					    100.0 * (double)s.indexed_count / (double)s.vector_count);
			else
				status_line(&sl, true, "%c %s '%s'", spin[i++ & 3], doing, name);
		}
		pthread_join(th, NULL);
		status_clear(&sl);
	}
	*out = b.out;
	return b.err;
}

int cmd_index(int argc, char **argv)
{
	struct vexfs_space_info *s = NULL, one;
	char dflt[VEXFS_NAME_MAX] = "";
	const char *sub, *dir, *name;
	struct args a;
	bool stats, rebuild, progress;
	size_t n, i;
	char *vol;
	int fd, err, rc;

	g_help_cmd = "index";
	rc = group_help(argc, argv, index_help);
	if (rc >= 0)
		return rc;
	sub = argv[1];
	if (strcmp(sub, "build") && strcmp(sub, "rebuild") && strcmp(sub, "stats"))
		usage_error("unknown command 'index %s' (build, rebuild or stats)", sub);
	g_cmd = xasprintf("index %s", sub);
	stats = !strcmp(sub, "stats");
	rebuild = !strcmp(sub, "rebuild");
	parse_args(argc - 1, argv + 1, "json,space,quiet", index_help, 0, 1, &a);
	dir = a.npos ? a.pos[0] : ".";
	fd = open_volume(dir, OPEN_DIR, &vol);
	progress = !stats && !a.quiet && !a.json;

	/* --space, else DIR's default, else every space of the volume */
	name = a.space;
	if (!name) {
		err = vexfs_dir_get_space(fd, dflt, sizeof(dflt));
		if (err)
			die_err(err, "cannot read the default space of %s", dir);
		if (dflt[0])
			name = dflt;
	}
	if (name) {
		get_space(fd, dir, name, &one);
		s = xcalloc(1, sizeof(*s));
		s[0] = one;
		n = 1;
	} else {
		n = all_spaces(fd, vol, &s);
		if (!n)
			die(EX_NOTFOUND, "%s has no vector spaces", vol);
		if (rebuild && n > 1)
			usage_error("%s has several spaces and %s has no default: give --space",
				    vol, dir);
	}
	if (!stats) {
		for (i = 0; i < n; i++) {
			err = index_build_one(fd, s[i].name, rebuild, progress, &one);
			if (err == -EPERM)
				die(EX_PERM, "building an index needs root (CAP_SYS_ADMIN)");
			if (err == -EINTR)
				die(EX_FAIL, "interrupted; the rest is linked in the background");
			if (err)
				die_err(err, "cannot %s the index of space '%s'", sub, s[i].name);
			s[i] = one;
		}
	}
	if (a.json) {
		j_print_spaces(vol, s, n, true, NULL);
	} else if (stats && n == 1) {
		print_space(&s[0], true);
	} else {
		if (!stats)
			for (i = 0; i < n; i++)
				printf("%s space '%s': %llu vectors linked\n",
				       rebuild ? "rebuilt" : "indexed", s[i].name,
				       (unsigned long long)s[i].indexed_count);
		else
			stats_table(s, n, stdout);
	}
	free(s);
	free(vol);
	close(fd);
	free_args(&a);
	return EX_OK;
}
