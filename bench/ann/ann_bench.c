/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ANN benchmark of the core's vector index, built natively from core/:
 * build time, memory per vector, QPS and recall@k at several ef, exact
 * scan throughput next to this machine's memory read bandwidth.
 *
 *   ann_bench --base B --query Q [--gt G] [--metric l2|cosine|ip]
 *             [--m 16] [--efc 200] [--ef 10,20,40,80] [--k 10]
 *             [--exact-queries 20] [--repeat 1] [--json out.json]
 *             [--seed 100] [--serve]
 *
 * B, Q: float32 .npy (2-D) or .fvecs; G: int32/int64 .npy or .ivecs of
 * the true neighbours (computed with the exact search when absent).
 * Single-threaded, like the hnswlib and faiss runs it is compared with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vx_index_impl.h"


static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (double)rss * 4096;
}

static void die(const char *msg, const char *arg)
{
	fprintf(stderr, "ann_bench: %s%s%s\n", msg, arg ? ": " : "",
		arg ? arg : "");
	exit(1);
}

static void *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		die("cannot open", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n + 1);
	if (!buf || fread(buf, 1, n, f) != (size_t)n)
		die("cannot read", path);
	fclose(f);
	*len = n;
	return buf;
}

/* A 2-D .npy (C order) or .[fi]vecs file as rows x cols of 4-byte items;
 * int64 .npy is narrowed to int32. */
static void *load_matrix(const char *path, u32 *rows, u32 *cols, bool is_int)
{
	size_t len, hlen, n, i;
	char *buf = read_all(path, &len);
	const char *ext = strrchr(path, '.');

	if (ext && !strcmp(ext, ".npy")) {
		char *hdr, *p;
		unsigned long r, c;
		int i8;

		if (len < 10 || memcmp(buf, "\x93NUMPY", 6))
			die("not a .npy file", path);
		if (buf[6] == 1) {
			hlen = (u8)buf[8] | ((u8)buf[9] << 8);
			hdr = buf + 10;
		} else {
			hlen = (u8)buf[8] | ((u8)buf[9] << 8) |
			       ((size_t)(u8)buf[10] << 16) |
			       ((size_t)(u8)buf[11] << 24);
			hdr = buf + 12;
		}
		if (strstr(hdr, "'fortran_order': True"))
			die("fortran order not supported", path);
		i8 = strstr(hdr, "<i8") != NULL;
		if (!is_int && !strstr(hdr, "<f4"))
			die("need float32", path);
		if (is_int && !i8 && !strstr(hdr, "<i4"))
			die("need int32 or int64", path);
		p = strstr(hdr, "'shape': (");
		if (!p || sscanf(p, "'shape': (%lu, %lu)", &r, &c) != 2)
			die("need a 2-D array", path);
		*rows = r;
		*cols = c;
		n = (size_t)r * c;
		if (i8) {
			const char *src = hdr + hlen;
			s32 *out = malloc(n * 4);

			for (i = 0; i < n; i++) {
				long long v;

				memcpy(&v, src + i * 8, 8);
				out[i] = (s32)v;
			}
			free(buf);
			return out;
		}
		memmove(buf, hdr + hlen, n * 4);
		return buf;
	}
	/* .fvecs / .ivecs: each row is an int32 count then the items */
	{
		u32 d;
		size_t row, nrows;
		char *out;

		memcpy(&d, buf, 4);
		row = 4 + (size_t)d * 4;
		nrows = len / row;
		out = malloc(nrows * d * 4);
		for (i = 0; i < nrows; i++)
			memcpy(out + i * d * 4, buf + i * row + 4, d * 4);
		free(buf);
		*rows = nrows;
		*cols = d;
		return out;
	}
}

/* Sequential read bandwidth of a buffer much larger than the caches. */
static double mem_bandwidth(void)
{
	size_t n = (size_t)1 << 27, i;	/* 1 GiB of u64 */
	u64 *buf = malloc(n * 8), s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	double best = 0, t;
	int rep;

	if (!buf)
		return 0;
	for (i = 0; i < n; i++)
		buf[i] = i;
	for (rep = 0; rep < 3; rep++) {
		t = now();
		for (i = 0; i < n; i += 4) {
			s0 += buf[i];
			s1 += buf[i + 1];
			s2 += buf[i + 2];
			s3 += buf[i + 3];
		}
		t = now() - t;
		if (n * 8 / t / 1e9 > best)
			best = n * 8 / t / 1e9;
	}
	free(buf);
	if (s0 + s1 + s2 + s3 == 42)
		printf(" ");
	return best;
}

/* One pass of all queries at ef: best time of repeat, then recall. */
static void search_pass(struct vx_index *idx, struct vx_index_scratch *s,
			const float *qv, u32 nq, u32 d, u32 k, u32 ef,
			u32 repeat, const s32 *gt, u32 gk,
			struct vx_index_hit *res, u32 *nres,
			double *recall, double *qps)
{
	double t, best = 0;
	u32 rep, i, j, x, hit = 0;

	for (rep = 0; rep < repeat; rep++) {
		t = now();
		for (i = 0; i < nq; i++)
			vx_index_search(idx, s, qv + (size_t)i * d, k, ef,
					res + (size_t)i * k, &nres[i]);
		t = now() - t;
		if (!rep || t < best)
			best = t;
	}
	for (i = 0; i < nq; i++) {
		const s32 *g = gt + (size_t)i * gk;

		for (j = 0; j < nres[i]; j++)
			for (x = 0; x < k; x++)
				if (g[x] == (s32)res[(size_t)i * k + j].vid) {
					hit++;
					break;
				}
	}
	*recall = (double)hit / ((double)nq * k);
	*qps = nq / best;
}

static u32 parse_metric(const char *s)
{
	if (!strcmp(s, "l2"))
		return VX_METRIC_L2;
	if (!strcmp(s, "cosine"))
		return VX_METRIC_COSINE;
	if (!strcmp(s, "ip"))
		return VX_METRIC_IP;
	die("unknown metric", s);
	return 0;
}

int main(int argc, char **argv)
{
	const char *base = NULL, *query = NULL, *gtp = NULL, *json = NULL;
	const char *efs = "10,16,24,32,48,64,96,128,192,256,384,512";
	u32 metric = VX_METRIC_L2, m = 16, efc = 200, k = 10, nexact = 20;
	u32 repeat = 1, del_pct = 0;
	u64 seed = 100;
	bool serve = false;
	double rss0, rss_per;
	u32 nb, d, nq, dq, gk = 0, ngt, i, j, l, n, max_ef = 0;
	struct vx_index_params p;
	struct vx_index_stats st;
	struct vx_index_scratch *s;
	struct vx_index_hit *hits, *res;
	u32 *nres;
	struct vx_index *idx;
	float *bv, *qv;
	s32 *gt = NULL;
	double t, t_set, t_link, t_exact, bw, scan_gbs;
	u32 efv[64], nef = 0;
	FILE *jf = NULL;
	char *e;

	for (i = 1; i < (u32)argc; i++) {
		const char *a = argv[i], *v = i + 1 < (u32)argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--serve")) {
			serve = true;
			continue;
		}
		if (!v)
			die("missing value for", a);
		if (!strcmp(a, "--base"))
			base = v;
		else if (!strcmp(a, "--query"))
			query = v;
		else if (!strcmp(a, "--gt"))
			gtp = v;
		else if (!strcmp(a, "--metric"))
			metric = parse_metric(v);
		else if (!strcmp(a, "--m"))
			m = atoi(v);
		else if (!strcmp(a, "--efc"))
			efc = atoi(v);
		else if (!strcmp(a, "--ef"))
			efs = v;
		else if (!strcmp(a, "--k"))
			k = atoi(v);
		else if (!strcmp(a, "--exact-queries"))
			nexact = atoi(v);
		else if (!strcmp(a, "--repeat"))
			repeat = atoi(v) ? atoi(v) : 1;
		else if (!strcmp(a, "--json"))
			json = v;
		else if (!strcmp(a, "--seed"))	/* of the level draws */
			seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--delete"))	/* percent removed after the build */
			del_pct = atoi(v);
		else
			die("unknown option", a);
		i++;
	}
	if (!base || !query)
		die("usage: ann_bench --base B --query Q [--gt G] [--delete PERCENT] ...", NULL);
	for (e = (char *)efs; *e && nef < 64;) {
		efv[nef] = strtoul(e, &e, 10);
		if (efv[nef] > max_ef)
			max_ef = efv[nef];
		nef++;
		if (*e == ',')
			e++;
	}
	bv = load_matrix(base, &nb, &d, false);
	qv = load_matrix(query, &nq, &dq, false);
	if (d != dq)
		die("base and query dimensions differ", NULL);
	if (gtp) {
		gt = load_matrix(gtp, &ngt, &gk, true);
		if (ngt < nq || gk < k)
			die("ground truth too small", gtp);
	}
	printf("data: %u x %u base, %u queries, metric %u, M %u, efc %u, kernels %s\n",
	       nb, d, nq, metric, m, efc, vx_distance_impl());

	memset(&p, 0, sizeof(p));
	p.dim = d;
	p.metric = metric;
	p.m = m;
	p.ef_construction = efc;
	p.seed = seed;
	rss0 = rss_bytes();
	if (vx_index_create(&idx, &p))
		die("create failed", NULL);
	t = now();
	for (i = 0; i < nb; i++)
		if (vx_index_set(idx, i, bv + (size_t)i * d))
			die("set failed", NULL);
	t_set = now() - t;
	s = vx_index_scratch_alloc(idx, max_ef > k ? max_ef : k);
	t = now();
	vx_fpu_begin();
	if (vx_index_link_pending(idx, s, ~0U, &n))
		die("link failed", NULL);
	vx_fpu_end();
	t_link = now() - t;
	rss_per = (rss_bytes() - rss0) / nb;
	vx_index_get_stats(idx, &st);
	printf("build: set %.2f s, link %.2f s, total %.2f s; memory %.1f MB = %.0f B/vector (formula %llu, RSS growth %.0f), max level %u\n",
	       t_set, t_link, t_set + t_link, st.memory_bytes / 1e6,
	       (double)st.memory_bytes / nb,
	       (unsigned long long)vx_index_bytes_per_vector(&p), rss_per,
	       st.max_level);

	/*
	 * --delete P: remove P% of the vectors (a fixed hash of the id picks
	 * them), then measure on what is left against its own exact answers.
	 */
	if (del_pct) {
		u32 ndel = 0;

		t = now();
		for (i = 0; i < nb; i++) {
			if ((u32)(i * 2654435761u) % 100 >= del_pct)
				continue;
			if (vx_index_remove(idx, i))
				die("remove failed", NULL);
			ndel++;
		}
		t = now() - t;
		vx_index_get_stats(idx, &st);
		printf("removed %u vectors (%u%%) in %.2f s, %.0f us each; %llu left, memory %.1f MB, full scans %llu\n",
		       ndel, del_pct, t, ndel ? t / ndel * 1e6 : 0,
		       (unsigned long long)st.live, st.memory_bytes / 1e6,
		       (unsigned long long)idx->full_scans);
		free(gt);
		gt = NULL;
	}
	hits = calloc(max_ef + k, sizeof(*hits));
	/* Exact scan: throughput in vector bytes per second. */
	if (nexact > nq)
		nexact = nq;
	t = now();
	for (i = 0; i < nexact; i++)
		vx_index_search_exact(idx, s, qv + (size_t)i * d, k, hits, &n);
	t_exact = now() - t;
	scan_gbs = nexact ? (double)nb * d * 4 * nexact / t_exact / 1e9 : 0;
	bw = mem_bandwidth();
	printf("exact scan: %.2f ms/query, %.2f GB/s of vectors; memory read bandwidth %.2f GB/s\n",
	       nexact ? t_exact / nexact * 1e3 : 0, scan_gbs, bw);
	if (!gt) {
		gk = k;
		gt = malloc((size_t)nq * k * 4);
		t = now();
		for (i = 0; i < nq; i++) {
			vx_index_search_exact(idx, s, qv + (size_t)i * d, k, hits, &n);
			for (j = 0; j < k; j++)
				gt[(size_t)i * k + j] = j < n ? (s32)hits[j].vid : -1;
		}
		printf("ground truth by exact search: %.2f s\n", now() - t);
	}
	if (json) {
		jf = fopen(json, "w");
		fprintf(jf, "{\"n\": %u, \"dim\": %u, \"nq\": %u, \"m\": %u, \"efc\": %u, "
			"\"kernels\": \"%s\", \"build_s\": %.4f, \"set_s\": %.4f, "
			"\"link_s\": %.4f, \"bytes_per_vector\": %.1f, "
			"\"exact_ms\": %.4f, \"exact_gbs\": %.3f, \"mem_gbs\": %.3f, "
			"\"rss_bytes_per_vector\": %.1f, "
			"\"full_scans\": %llu, \"runs\": [",
			nb, d, nq, m, efc, vx_distance_impl(), t_set + t_link,
			t_set, t_link, (double)st.memory_bytes / nb,
			nexact ? t_exact / nexact * 1e3 : 0, scan_gbs, bw, rss_per,
			(unsigned long long)idx->full_scans);
	}
	res = malloc((size_t)nq * k * sizeof(*res));
	nres = malloc((size_t)nq * sizeof(*nres));
	for (l = 0; l < nef; l++) {
		u32 ef = efv[l] < k ? k : efv[l];
		double rc, qps;

		search_pass(idx, s, qv, nq, d, k, ef, repeat, gt, gk, res, nres,
			    &rc, &qps);
		printf("ef %4u: recall@%u %.4f, %8.0f QPS, %.1f us/query\n", ef,
		       k, rc, qps, 1e6 / qps);
		if (jf)
			fprintf(jf, "%s{\"ef\": %u, \"recall\": %.5f, \"qps\": %.1f}",
				l ? ", " : "", ef, rc, qps);
	}
	if (jf) {
		fprintf(jf, "]}\n");
		fclose(jf);
		jf = NULL;
	}
	/*
	 * --serve: keep the index and answer "ef N" lines on stdin with one
	 * JSON line each, so a driver can interleave libraries on a noisy
	 * machine.
	 */
	if (serve) {
		char line[64];

		printf("ready\n");
		fflush(stdout);
		while (fgets(line, sizeof(line), stdin)) {
			u32 ef;
			double rc, qps;

			if (sscanf(line, "ef %u", &ef) != 1)
				break;
			if (ef < k)
				ef = k;
			if (ef > max_ef) {
				vx_index_scratch_free(s);
				max_ef = ef;
				s = vx_index_scratch_alloc(idx, max_ef);
			}
			search_pass(idx, s, qv, nq, d, k, ef, repeat, gt, gk, res,
				    nres, &rc, &qps);
			printf("{\"ef\": %u, \"recall\": %.5f, \"qps\": %.1f}\n",
			       ef, rc, qps);
			fflush(stdout);
		}
	}
	free(res);
	free(nres);
	if (jf) {
		fprintf(jf, "]}\n");
		fclose(jf);
	}
	vx_index_scratch_free(s);
	vx_index_destroy(idx);
	free(hits);
	free(bv);
	free(qv);
	free(gt);
	return 0;
}
