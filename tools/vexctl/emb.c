// SPDX-License-Identifier: GPL-2.0
/*
 * vexctl put, get, rm, import: the embeddings of files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "vexctl.h"

static const char put_help[] =
"Usage: vexctl put FILE [--chunk OFF:LEN]... [--space S]\n"
"                  [--vector \"1 2 3\" | --from FILE | < FILE] [options]\n"
"Store embeddings of FILE (bring your own vectors).  Without --chunk, one\n"
"vector for the whole file; with --chunk, one vector per chunk, in order.\n"
"\n"
"  -s, --space S         the space (default: the default space of FILE's\n"
"                        directory, or the volume's only space)\n"
"  -c, --chunk OFF:LEN   a byte range of FILE (K, M, G suffixes allowed);\n"
"                        repeat for several; 'whole' or 0:0 = the whole file\n"
"  -v, --vector \"...\"    the vector(s): numbers separated by blanks or\n"
"                        commas, one vector per line or per [...] group\n"
"  -f, --from FILE       read vectors from FILE ('-' = standard input):\n"
"                        .npy (float32/float64, 1-D or 2-D: rows = chunks),\n"
"                        .fvecs, raw float32 (.f32, .bin), or text\n"
"      --format F        auto (default), npy, fvecs, f32 or text\n"
"      --replace         replace all of FILE's embeddings in the space\n"
"      --update          replace the vectors of existing chunks\n"
"      --expect-version V  fail if FILE's data version is no longer V\n"
"  -j, --json            print the result as JSON\n"
"Standard input is read when neither --vector nor --from is given and it\n"
"is not a terminal.\n";

static const char get_help[] =
"Usage: vexctl get FILE [--space S] [--vectors] [--json]\n"
"List FILE's embeddings in a space: chunk offset and length, the data\n"
"version they were computed at, and whether FILE changed since (stale).\n"
"  -s, --space S   the space (default as for put)\n"
"      --vectors   print the vectors too\n"
"  -j, --json      JSON output\n";

static const char rm_help[] =
"Usage: vexctl rm FILE [--space S] [--chunk OFF:LEN]... [--all-spaces]\n"
"Delete embeddings of FILE: the given chunks, or all of them in the space,\n"
"or (--all-spaces) in every space.\n";

static const char import_help[] =
"Usage: vexctl import DIR --vectors FILE --files LIST [options]\n"
"Bulk import: row i of the vectors file belongs to the file named on line i\n"
"of LIST, a path relative to DIR, optionally followed by a TAB and a chunk\n"
"OFF:LEN (rows without a chunk cover the whole file).  Rows of one file are\n"
"stored together, in batches of at most --batch chunks per ioctl (halved\n"
"while the volume has no room for the worst case of a whole batch).\n"
"\n"
"      --vectors FILE    .npy, .fvecs, raw float32 or text (see put)\n"
"      --files LIST      the list of paths ('-' = standard input)\n"
"  -s, --space S         the space (default: DIR's default, or the only one)\n"
"      --batch N         chunks per ioctl (default: as many as allowed)\n"
"      --create          create missing files (empty) and directories\n"
"      --replace         replace each file's embeddings in the space\n"
"      --format F        format of the vectors file (see put)\n"
"  -q, --quiet           no progress bar (shown on a terminal otherwise)\n"
"  -j, --json            print a summary as JSON\n";

static void chunk_str(const struct vexfs_chunk *c, char *buf, size_t size)
{
	snprintf(buf, size, "%llu:%llu", (unsigned long long)c->offset,
		 (unsigned long long)c->length);
}

static void load_input(struct args *a, uint32_t dim, struct vecs *v)
{
	char err[256];

	if (a->vector && a->from)
		usage_error("give --vector or --from, not both");
	if (!vecs_from_args(a, v)) {
		if (isatty(STDIN_FILENO))
			usage_error("give the vector with --vector \"...\", --from FILE, or on standard input");
		if (vecs_load("-", a->format, v, err, sizeof(err)))
			usage_error("standard input: %s", err);
	}
	if (vecs_shape(v, dim, err, sizeof(err)))
		usage_error("%s", err);
}

int cmd_put(int argc, char **argv)
{
	struct vexfs_space_info info;
	struct vexfs_chunk whole;
	struct vexfs_chunk *chunks;
	struct vexfs_file f;
	const char *file, *op;
	struct vecs v;
	struct args a;
	uint64_t dv = 0;
	uint32_t n;
	int err;

	parse_args(argc, argv, "json,space,chunk,vector,from,format,replace,update,expect-version",
		   put_help, 1, 1, &a);
	file = a.pos[0];
	if (a.replace && a.update)
		usage_error("--replace and --update exclude each other");
	open_vexfs_file(file, &f);
	resolve_space(f.fd, f.dirfd, f.dir, a.space, &info);
	load_input(&a, info.dim, &v);
	if (a.nchunks) {
		if (v.rows != a.nchunks)
			usage_error("%zu vector%s for %u chunk%s: give one vector per --chunk",
				    v.rows, v.rows == 1 ? "" : "s", a.nchunks,
				    a.nchunks == 1 ? "" : "s");
		chunks = a.chunks;
	} else {
		if (v.rows != 1)
			usage_error("%zu vectors but no --chunk: give one --chunk OFF:LEN per vector", v.rows);
		memset(&whole, 0, sizeof(whole));
		chunks = &whole;
	}
	n = (uint32_t)v.rows;
	if (n > vexfs_emb_batch_max(info.dim))
		usage_error("%u vectors are more than one call can store (%u); use 'vexctl import'",
			    n, vexfs_emb_batch_max(info.dim));
	if (a.update) {
		op = "updated";
		err = vexfs_emb_update(f.fd, info.name, chunks, n, v.v, info.dim,
				       a.expect, &dv);
	} else {
		op = a.replace ? "replaced with" : "added";
		err = vexfs_emb_add(f.fd, info.name, chunks, n, v.v, info.dim,
				    a.replace ? VEXFS_EMB_REPLACE_ALL : 0, a.expect, &dv);
	}
	if (err) {
		char c[64];

		chunk_str(&chunks[0], c, sizeof(c));
		switch (-err) {
		case EEXIST:
			die(EX_EXISTS, "%s already has %s in space '%s' (use --replace or --update)",
			    file, n == 1 ? (a.nchunks ? "an embedding for this chunk" :
					    "a whole-file embedding") :
			    "an embedding for one of these chunks", info.name);
		case ENOENT:
			if (a.update)
				die(EX_NOTFOUND, "%s has no embedding for %s in space '%s' to update",
				    file, n == 1 ? c : "one of these chunks", info.name);
			die(EX_NOTFOUND, "space '%s' no longer exists", info.name);
		case EACCES:
			die(EX_PERM, "%s: permission denied (storing embeddings needs write permission on the file)",
			    file);
		case ESTALE:
			die(EX_FAIL, "%s changed since data version %llu; not stored",
			    file, (unsigned long long)a.expect);
		default:
			die_err(err, "cannot store embeddings of %s in space '%s'", file, info.name);
		}
	}
	if (a.json) {
		struct json j;

		j_begin_object(&j, stdout);
		j_str(&j, "file", file);
		j_str(&j, "space", info.name);
		j_str(&j, "operation", a.update ? "update" : a.replace ? "replace" : "add");
		j_u64(&j, "count", n);
		j_u64(&j, "data_version", dv);
		j_end_object(&j);
	} else {
		printf("%s: %s %u embedding%s %s space '%s' (data version %llu)\n",
		       file, op, n, n == 1 ? "" : "s", a.update || a.replace ? "in" : "to",
		       info.name,
		       (unsigned long long)dv);
	}
	vecs_free(&v);
	close_vexfs_file(&f);
	free_args(&a);
	return EX_OK;
}

int cmd_get(int argc, char **argv)
{
	struct vexfs_space_info info;
	struct vexfs_emb_set set;
	struct vexfs_file f;
	const char *file;
	struct args a;
	uint32_t i, d;
	int err;

	parse_args(argc, argv, "json,space,vectors", get_help, 1, 1, &a);
	file = a.pos[0];
	open_vexfs_file(file, &f);
	resolve_space(f.fd, f.dirfd, f.dir, a.space, &info);
	err = vexfs_emb_get(f.fd, info.name, a.vectors, &set);
	if (err == -EACCES)
		die(EX_PERM, "%s: permission denied (reading embeddings needs read permission)", file);
	if (err)
		die_err(err, "cannot read the embeddings of %s in space '%s'", file, info.name);
	if (a.json) {
		struct json j;

		j_begin_object(&j, stdout);
		j_str(&j, "file", file);
		j_str(&j, "space", info.name);
		j_u64(&j, "dim", set.dim);
		j_u64(&j, "data_version", set.data_version);
		j_arr(&j, "embeddings");
		for (i = 0; i < set.count; i++) {
			j_obj(&j, NULL);
			j_u64(&j, "offset", set.chunks[i].offset);
			j_u64(&j, "length", set.chunks[i].length);
			j_u64(&j, "data_version", set.chunks[i].data_version);
			j_bool(&j, "stale", set.chunks[i].flags & VEXFS_CHUNK_STALE);
			if (set.vectors) {
				j_arr(&j, "vector");
				for (d = 0; d < set.dim; d++)
					j_dbl(&j, NULL, set.vectors[(size_t)i * set.dim + d]);
				j_arr_end(&j);
			}
			j_obj_end(&j);
		}
		j_arr_end(&j);
		j_end_object(&j);
	} else if (!set.count) {
		printf("%s: no embeddings in space '%s'\n", file, info.name);
	} else {
		static const char *hdr[] = { "OFFSET", "LENGTH", "VERSION", "STALE", "VECTOR" };
		struct table t;

		printf("%s: %u embedding%s in space '%s' (dim %u), data version %llu\n\n",
		       file, set.count, set.count == 1 ? "" : "s", info.name, set.dim,
		       (unsigned long long)set.data_version);
		t_init(&t, set.vectors ? 5 : 4, hdr, "rrrll");
		for (i = 0; i < set.count; i++) {
			t_row(&t);
			t_addf(&t, 0, "%llu", (unsigned long long)set.chunks[i].offset);
			t_addf(&t, 1, "%llu", (unsigned long long)set.chunks[i].length);
			t_addf(&t, 2, "%llu", (unsigned long long)set.chunks[i].data_version);
			t_addf(&t, 3, "%s", set.chunks[i].flags & VEXFS_CHUNK_STALE ? "stale" : "-");
			if (set.vectors) {
				char *s = xstrdup(""), *ns;

				for (d = 0; d < set.dim; d++) {
					ns = xasprintf("%s%s%.6g", s, d ? " " : "",
						       set.vectors[(size_t)i * set.dim + d]);
					free(s);
					s = ns;
				}
				t_addf(&t, 4, "%s", s);
				free(s);
			}
		}
		t_print(&t, stdout);
		t_free(&t);
	}
	vexfs_emb_set_free(&set);
	close_vexfs_file(&f);
	free_args(&a);
	return EX_OK;
}

int cmd_rm(int argc, char **argv)
{
	struct vexfs_space_info info;
	struct vexfs_file f;
	const char *file;
	struct args a;
	uint32_t before = 0, after = 0;
	int err;

	parse_args(argc, argv, "json,space,chunk,all-spaces", rm_help, 1, 1, &a);
	file = a.pos[0];
	if (a.all_spaces && (a.nchunks || a.space))
		usage_error("--all-spaces takes neither --chunk nor --space");
	open_vexfs_file(file, &f);
	if (a.all_spaces) {
		err = vexfs_emb_delete(f.fd, NULL, NULL, 0, VEXFS_EMB_ALL_SPACES);
		if (err == -EACCES)
			die(EX_PERM, "%s: permission denied (deleting embeddings needs write permission)", file);
		if (err)
			die_err(err, "cannot delete the embeddings of %s", file);
		if (a.json) {
			struct json j;

			j_begin_object(&j, stdout);
			j_str(&j, "file", file);
			j_null(&j, "space");
			j_end_object(&j);
		} else {
			printf("%s: deleted its embeddings in every space\n", file);
		}
		goto out;
	}
	resolve_space(f.fd, f.dirfd, f.dir, a.space, &info);
	vexfs_emb_count(f.fd, info.name, &before, NULL, NULL);
	err = vexfs_emb_delete(f.fd, info.name, a.chunks, a.nchunks, 0);
	if (err == -ENOENT && a.nchunks)
		die(EX_NOTFOUND, "%s has no embedding for %s in space '%s'", file,
		    a.nchunks == 1 ? "that chunk" : "one of these chunks", info.name);
	if (err == -EACCES)
		die(EX_PERM, "%s: permission denied (deleting embeddings needs write permission)", file);
	if (err)
		die_err(err, "cannot delete embeddings of %s in space '%s'", file, info.name);
	vexfs_emb_count(f.fd, info.name, &after, NULL, NULL);
	if (a.json) {
		struct json j;

		j_begin_object(&j, stdout);
		j_str(&j, "file", file);
		j_str(&j, "space", info.name);
		j_u64(&j, "deleted", before > after ? before - after : 0);
		j_u64(&j, "remaining", after);
		j_end_object(&j);
	} else {
		printf("%s: deleted %u embedding%s from space '%s'\n", file,
		       before > after ? before - after : 0,
		       before - after == 1 ? "" : "s", info.name);
	}
out:
	close_vexfs_file(&f);
	free_args(&a);
	return EX_OK;
}

/* ------------------------------------------------------------ import */

struct row {
	char *path;
	struct vexfs_chunk chunk;
	size_t line;		/* 1-based line of LIST = row + 1 */
};

static int row_cmp(const void *x, const void *y)
{
	const struct row *a = x, *b = y;
	int c = strcmp(a->path, b->path);

	if (c)
		return c;
	return a->line < b->line ? -1 : a->line > b->line;
}

static void read_list(const char *list, struct row **rows, size_t *n)
{
	FILE *f = strcmp(list, "-") ? fopen(list, "r") : stdin;
	char *line = NULL;
	size_t cap = 0, lcap = 0, ln = 0;
	ssize_t len;

	if (!f)
		die_err(-errno, "cannot open %s", list);
	*rows = NULL;
	*n = 0;
	while ((len = getline(&line, &lcap, f)) >= 0) {
		struct row *r;
		char *tab;

		ln++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			usage_error("%s line %zu is empty (every line names the file of one vector)",
				    list, ln);
		if (*n == cap) {
			cap = cap ? 2 * cap : 1024;
			*rows = xrealloc(*rows, cap, sizeof(**rows));
		}
		r = &(*rows)[(*n)++];
		memset(r, 0, sizeof(*r));
		r->line = ln;
		tab = strrchr(line, '\t');
		if (tab) {
			*tab = '\0';
			if (!parse_chunk(tab + 1, &r->chunk))
				usage_error("%s line %zu: '%s' is not OFFSET:LENGTH", list, ln, tab + 1);
		}
		if (line[0] == '/')
			usage_error("%s line %zu: paths are relative to the directory", list, ln);
		r->path = xstrdup(line);
	}
	free(line);
	if (f != stdin)
		fclose(f);
}

/* mkdir -p of the directories leading to rel, below dirfd */
static int make_parents(int dirfd, const char *rel)
{
	char *p = xstrdup(rel), *s;
	int err = 0;

	for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (p[0] && mkdirat(dirfd, p, 0755) < 0 && errno != EEXIST) {
			err = -errno;
			break;
		}
		*s = '/';
	}
	free(p);
	return err;
}

static void progress(struct status_line *sl, size_t done, size_t total,
		     size_t files)
{
	int w = 30, filled = total ? (int)((double)done / (double)total * w) : w;

	status_line(sl, false, "import: [%.*s%*s] %zu/%zu vectors (%.0f%%), %zu files",
		    filled, "##############################", w - filled, "",
		    done, total, total ? 100.0 * (double)done / (double)total : 100.0,
		    files);
}

int cmd_import(int argc, char **argv)
{
	struct vexfs_space_info info;
	struct vexfs_chunk *chunks;
	struct row *rows;
	const char *dir;
	struct vecs v;
	struct args a;
	size_t nrows, i, j, done = 0, files = 0, calls = 0;
	uint32_t batch, cur;
	float *buf;
	struct status_line bar;
	char err[256];
	int dirfd, e;

	parse_args(argc, argv, "json,space,vectors-file,files,batch,create,replace,format,quiet",
		   import_help, 1, 1, &a);
	dir = a.pos[0];
	if (!a.vecfile)
		usage_error("--vectors FILE is required");
	if (!a.files)
		usage_error("--files LIST is required");
	if (!strcmp(a.vecfile, "-") && !strcmp(a.files, "-"))
		usage_error("--vectors and --files cannot both be standard input");
	dirfd = open_on_vexfs(dir, OPEN_DIR);
	resolve_space(dirfd, dirfd, dir, a.space, &info);
	if (vecs_load(a.vecfile, a.format, &v, err, sizeof(err)))
		usage_error("%s: %s", a.vecfile, err);
	if (vecs_shape(&v, info.dim, err, sizeof(err)))
		usage_error("%s: %s", a.vecfile, err);
	read_list(a.files, &rows, &nrows);
	if (nrows != v.rows)
		usage_error("%s has %zu lines but %s has %zu vectors", a.files, nrows,
			    a.vecfile, v.rows);
	batch = vexfs_emb_batch_max(info.dim);
	if (a.have_batch && a.batch < batch)
		batch = a.batch;
	cur = batch;
	qsort(rows, nrows, sizeof(*rows), row_cmp);
	chunks = xcalloc(batch, sizeof(*chunks));
	buf = xcalloc((size_t)batch * info.dim, sizeof(float));
	status_init(&bar, a.quiet || a.json);

	for (i = 0; i < nrows; i = j) {
		const char *path = rows[i].path;
		bool first = true;
		int fd;

		for (j = i; j < nrows && !strcmp(rows[j].path, path); j++)
			;
		if (a.create && make_parents(dirfd, path) < 0)
			die_err(-errno, "%s line %zu: cannot create the directories of %s",
				a.files, rows[i].line, path);
		fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
			    (a.create ? O_CREAT : 0), 0644);
		if (fd < 0)
			die_err(-errno, "%s line %zu: cannot open %s", a.files,
				rows[i].line, path);
		files++;
		for (size_t k = i; k < j;) {
			uint32_t n = 0;

			while (k < j && n < cur) {
				chunks[n] = rows[k].chunk;
				memcpy(buf + (size_t)n * info.dim,
				       v.v + (rows[k].line - 1) * info.dim,
				       info.dim * sizeof(float));
				n++;
				k++;
			}
			e = vexfs_emb_add(fd, info.name, chunks, n, buf, info.dim,
					  a.replace && first ? VEXFS_EMB_REPLACE_ALL : 0,
					  0, NULL);
			calls++;
			if (e == -ENOSPC && n > 1) {
				/*
				 * The kernel reserves the worst case of a whole
				 * batch up front, far more than it uses: on a
				 * small volume a smaller batch still fits.
				 */
				cur = n / 2;
				k -= n;
				continue;
			}
			first = false;
			if (e) {
				status_clear(&bar);
				if (e == -EEXIST)
					die(EX_EXISTS, "%s line %zu: %s already has an embedding for one of its chunks in space '%s' (use --replace); %zu vectors were imported before",
					    a.files, rows[i].line, path, info.name, done);
				die_err(e, "%s line %zu: cannot store embeddings of %s (%zu vectors were imported before)",
					a.files, rows[i].line, path, done);
			}
			done += n;
		}
		close(fd);
		progress(&bar, done, nrows, files);
	}
	status_clear(&bar);
	if (a.json) {
		struct json jj;

		j_begin_object(&jj, stdout);
		j_str(&jj, "directory", dir);
		j_str(&jj, "space", info.name);
		j_u64(&jj, "vectors", done);
		j_u64(&jj, "files", files);
		j_u64(&jj, "calls", calls);
		j_end_object(&jj);
	} else {
		printf("imported %zu vectors into %zu files under %s (space '%s', %zu calls)\n",
		       done, files, dir, info.name, calls);
	}
	for (i = 0; i < nrows; i++)
		free(rows[i].path);
	free(rows);
	free(chunks);
	free(buf);
	vecs_free(&v);
	close(dirfd);
	free_args(&a);
	return EX_OK;
}
