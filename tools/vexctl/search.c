// SPDX-License-Identifier: GPL-2.0
/*
 * vexctl search, similar: k-NN searches under a directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "vexctl.h"

static const char search_help[] =
"Usage: vexctl search DIR \"TEXT\" [-k N] [options]\n"
"       vexctl search DIR (--vector \"...\" | --from FILE) [-k N] [options]\n"
"The k nearest embeddings among the files beneath DIR that you may read,\n"
"nearest first: rank, distance, path, chunk (OFFSET:LENGTH), and whether\n"
"the file changed since it was embedded (stale).\n"
"A TEXT query is embedded with the space's model by the sidecar's embedder\n"
"('vexfsd embed', or $VEXCTL_VEXFSD), and each result also shows its\n"
"passage: the chunk's text as the file holds it now (HTML without markup,\n"
"PDF through pdftotext), shortened in the table, whole in --json.\n"
"\n"
"  -k, --k N           results (1-4096, default 10)\n"
"  -v, --vector \"...\"  the query vector (numbers separated by blanks/commas)\n"
"  -f, --from FILE     read the query from FILE (.npy, .fvecs, raw float32,\n"
"                      text; '-' = standard input): exactly one vector\n"
"      --format F      auto, npy, fvecs, f32 or text\n"
"  -s, --space S       the space (default: DIR's default, or the only one)\n"
"      --ef N          HNSW beam width (k-10000; default: the space's)\n"
"  -e, --exact         exact (brute force) search instead of HNSW\n"
"      --no-stale      skip chunks of files changed since they were embedded\n"
"  -j, --json          JSON output\n"
"Distances: l2 = squared euclidean, cosine = 1 - cosine similarity,\n"
"ip = negative inner product; smaller is nearer.\n";

static const char similar_help[] =
"Usage: vexctl similar FILE [-k N] [--space S] [--dir DIR] [options]\n"
"Files like FILE: searches with FILE's own embedding and leaves FILE out of\n"
"the results.  The query is FILE's embedding if it has one, the one of\n"
"--chunk if given, and otherwise the mean of all its chunks' vectors.\n"
"\n"
"  -k, --k N           results (1-4096, default 10)\n"
"      --dir DIR       search beneath DIR (default: the whole volume)\n"
"  -c, --chunk OFF:LEN use that chunk's vector as the query\n"
"  -s, --space S       the space (default as for put)\n"
"      --ef N, -e/--exact, --no-stale, -j/--json: as for search\n";

#define PASSAGE_SHOWN	160	/* characters of a passage in the table */

struct found {
	struct vexfs_search_result r;
	char *rel;		/* path relative to the searched directory, or NULL */
	char *passage;		/* text queries: the chunk's text, NULL if unreadable */
};

/* What a search was asked with, as its output shows it. */
struct query {
	const char *similar_to;	/* similar: the file */
	const char *text;	/* a text query: results carry passages */
};

/* Run one search; returns the results (paths copied) and their number. */
static uint32_t run_search(int dirfd, const char *dirpath,
			   const struct vexfs_space_info *info,
			   const float *query, uint32_t k, uint32_t ef,
			   uint32_t flags, struct found **out)
{
	struct vexfs_search_result *res = xcalloc(k, sizeof(*res));
	size_t psize = (size_t)k * 4096;
	uint32_t count = 0, i;
	struct found *f;
	char *paths;
	int err;

	if (psize > (16U << 20))
		psize = 16U << 20;
	paths = xcalloc(psize, 1);
	err = vexfs_search(dirfd, info->name, query, info->dim, k, ef,
			   flags | VEXFS_SEARCH_PATHS, res, paths, psize, &count);
	if (err) {
		char *vol = volume_of(dirpath);

		if (err == -ENOENT)
			die(EX_NOTFOUND, "space '%s' does not exist on %s", info->name, vol);
		if (err == -EACCES)
			die(EX_PERM, "permission denied searching %s", dirpath);
		die_err(err, "search of %s in space '%s' failed", dirpath, info->name);
	}
	f = xcalloc(count ? count : 1, sizeof(*f));
	for (i = 0; i < count; i++) {
		const char *p = vexfs_result_path(&res[i], paths, psize);

		f[i].r = res[i];
		f[i].rel = p ? xstrdup(p) : NULL;
	}
	free(paths);
	free(res);
	*out = f;
	return count;
}

static void print_results(const char *dirpath, const struct vexfs_space_info *info,
			  struct found *f, uint32_t n, uint32_t k, bool exact,
			  bool json, const struct query *q)
{
	uint32_t i;

	if (json) {
		struct json j;

		j_begin_object(&j, stdout);
		j_str(&j, "directory", dirpath);
		if (q->similar_to)
			j_str(&j, "similar_to", q->similar_to);
		if (q->text)
			j_str(&j, "query", q->text);
		j_str(&j, "space", info->name);
		j_str(&j, "metric", vexfs_metric_name(info->metric));
		j_u64(&j, "k", k);
		j_bool(&j, "exact", exact);
		j_arr(&j, "results");
		for (i = 0; i < n; i++) {
			char *full = f[i].rel ? join_path(dirpath, f[i].rel) : NULL;

			j_obj(&j, NULL);
			j_u64(&j, "rank", i + 1);
			j_dbl(&j, "distance", vexfs_distance(f[i].r.distance));
			j_str(&j, "path", full);
			j_str(&j, "relpath", f[i].rel);
			j_u64(&j, "offset", f[i].r.offset);
			j_u64(&j, "length", f[i].r.length);
			j_bool(&j, "stale", f[i].r.flags & VEXFS_CHUNK_STALE);
			j_u64(&j, "ino", f[i].r.ino);
			j_u64(&j, "generation", f[i].r.generation);
			if (f[i].passage)
				j_str(&j, "passage", f[i].passage);
			j_obj_end(&j);
			free(full);
		}
		j_arr_end(&j);
		j_end_object(&j);
		return;
	}
	if (!n) {
		printf("no results in %s (space '%s')\n", dirpath, info->name);
		return;
	}
	{
		static const char *hdr[] = { "RANK", "DISTANCE", "PATH", "CHUNK", "STALE",
					     "PASSAGE" };
		struct table t;
		char buf[4200];

		t_init(&t, q->text ? 6 : 5, hdr, "rrlrll");
		for (i = 0; i < n; i++) {
			t_row(&t);
			t_addf(&t, 0, "%u", i + 1);
			t_addf(&t, 1, "%.6g", vexfs_distance(f[i].r.distance));
			if (f[i].rel) {
				char *full = join_path(dirpath, f[i].rel);

				t_addf(&t, 2, "%s", shown(full, buf, sizeof(buf)));
				free(full);
			} else {
				t_addf(&t, 2, "<inode %llu>", (unsigned long long)f[i].r.ino);
			}
			t_addf(&t, 3, "%llu:%llu", (unsigned long long)f[i].r.offset,
			       (unsigned long long)f[i].r.length);
			t_addf(&t, 4, "%s", f[i].r.flags & VEXFS_CHUNK_STALE ? "stale" : "-");
			if (q->text && f[i].passage)
				t_addf(&t, 5, "%s", passage_short(f[i].passage, PASSAGE_SHOWN,
								  buf, sizeof(buf)));
		}
		t_print(&t, stdout);
		t_free(&t);
	}
}

static void free_found(struct found *f, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		free(f[i].rel);
		free(f[i].passage);
	}
	free(f);
}

static uint32_t search_flags(const struct args *a)
{
	return (a->exact ? VEXFS_SEARCH_EXACT : 0) |
		(a->no_stale ? VEXFS_SEARCH_NO_STALE : 0);
}

int cmd_search(int argc, char **argv)
{
	struct vexfs_space_info info;
	struct query q = { 0 };
	struct vecs v = { 0 };
	struct found *f;
	const char *dir;
	struct args a;
	uint32_t k, n, i;
	float *query;
	char err[256];
	int dirfd;

	parse_args(argc, argv, "json,space,vector,from,format,k,ef,exact,no-stale",
		   search_help, 1, 2, &a);
	dir = a.pos[0];
	q.text = a.npos > 1 ? a.pos[1] : NULL;
	k = a.have_k ? a.k : 10;
	if (a.have_ef && a.ef < k)
		usage_error("--ef (%u) must be at least k (%u)", a.ef, k);
	if (q.text && (a.vector || a.from))
		usage_error("give a text query or --vector/--from, not both");
	if (q.text && !q.text[strspn(q.text, " \t\n")])
		usage_error("the text query is empty");
	if (!q.text && !a.vector && !a.from)
		usage_error("give the query as text, with --vector \"...\" or with --from FILE");
	if (a.vector && a.from)
		usage_error("give --vector or --from, not both");
	dirfd = open_on_vexfs(dir, OPEN_DIR);
	resolve_space(dirfd, dirfd, dir, a.space, &info);
	if (q.text) {
		query = embed_text(&info, q.text);
	} else {
		vecs_from_args(&a, &v);
		if (vecs_shape(&v, info.dim, err, sizeof(err)))
			usage_error("query: %s", err);
		if (v.rows != 1)
			usage_error("the query must be one vector (got %zu)", v.rows);
		query = v.v;
	}
	n = run_search(dirfd, dir, &info, query, k, a.have_ef ? a.ef : 0,
		       search_flags(&a), &f);
	for (i = 0; q.text && i < n; i++)
		f[i].passage = read_passage(dirfd, f[i].rel, &f[i].r);
	print_results(dir, &info, f, n, k, a.exact, a.json, &q);
	free_found(f, n);
	if (q.text)
		free(query);
	vecs_free(&v);
	close(dirfd);
	free_args(&a);
	return EX_OK;
}

int cmd_similar(int argc, char **argv)
{
	struct vexfs_space_info info;
	struct vexfs_emb_set set;
	struct vexfs_file vf;
	struct found *f;
	const char *file;
	struct args a;
	struct stat st;
	uint32_t k, k2, n, m, i, d, ef;
	float *query;
	char *sdir;
	int dirfd, err;

	parse_args(argc, argv, "json,space,k,ef,exact,no-stale,dir,chunk",
		   similar_help, 1, 1, &a);
	file = a.pos[0];
	k = a.have_k ? a.k : 10;
	if (a.nchunks > 1)
		usage_error("give at most one --chunk");
	open_vexfs_file(file, &vf);
	if (fstat(vf.fd, &st) < 0)
		die_err(-errno, "cannot stat %s", file);
	resolve_space(vf.fd, vf.dirfd, vf.dir, a.space, &info);
	err = vexfs_emb_get(vf.fd, info.name, 1, &set);
	if (err)
		die_err(err, "cannot read the embeddings of %s", file);
	if (!set.count)
		die(EX_NOTFOUND, "%s has no embeddings in space '%s' (add one with 'vexctl put')",
		    file, info.name);
	query = xcalloc(info.dim, sizeof(float));
	if (a.nchunks) {
		for (i = 0; i < set.count; i++)
			if (set.chunks[i].offset == a.chunks[0].offset &&
			    set.chunks[i].length == a.chunks[0].length)
				break;
		if (i == set.count)
			die(EX_NOTFOUND, "%s has no embedding for chunk %llu:%llu in space '%s'",
			    file, (unsigned long long)a.chunks[0].offset,
			    (unsigned long long)a.chunks[0].length, info.name);
		memcpy(query, set.vectors + (size_t)i * info.dim, info.dim * sizeof(float));
	} else {
		/* the mean of the chunks (the embedding itself if there is one) */
		for (i = 0; i < set.count; i++)
			for (d = 0; d < info.dim; d++)
				query[d] += set.vectors[(size_t)i * info.dim + d] / (float)set.count;
	}
	sdir = a.dir ? xstrdup(a.dir) : volume_of(file);
	dirfd = open_on_vexfs(sdir, OPEN_DIR);
	/* ask for more to make room for the file's own chunks */
	k2 = k + set.count > VEXFS_K_MAX ? VEXFS_K_MAX : k + set.count;
	ef = a.have_ef ? (a.ef < k2 ? k2 : a.ef) : 0;
	n = run_search(dirfd, sdir, &info, query, k2, ef, search_flags(&a), &f);
	for (i = 0, m = 0; i < n; i++) {
		if (f[i].r.ino == (uint64_t)st.st_ino || m >= k) {
			free(f[i].rel);
			continue;
		}
		f[m++] = f[i];
	}
	print_results(sdir, &info, f, m, k, a.exact, a.json,
		      &(struct query){ .similar_to = file });
	free_found(f, m);
	free(query);
	vexfs_emb_set_free(&set);
	free(sdir);
	close(dirfd);
	close_vexfs_file(&vf);
	free_args(&a);
	return EX_OK;
}
