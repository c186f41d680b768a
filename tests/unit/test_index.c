/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-memory vector index: distance kernels against a double-precision
 * reference, HNSW recall against exact search, pending vectors, removal
 * (real, with graph repair), updates, persistence, dirty tracking,
 * concurrent readers.  White-box checks of the graph's invariants read
 * the private layout (vx_index_impl.h).
 */
#include <pthread.h>
#include "vx_test.h"
#include "vx_index_impl.h"

static u64 rng_state = 0x1234567887654321ULL;

static u32 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (u32)(rng_state >> 16);
}

/* Uniform in [-1, 1). */
static float urand(void)
{
	return (float)((rnd() & 0xffffff) / (double)0x800000 - 1.0);
}

/* Roughly normal (Irwin-Hall of 4 uniforms), no libm needed. */
static float nrand(void)
{
	return (urand() + urand() + urand() + urand()) * 0.87f;
}

/*
 * n vectors of dim around nclusters centres, varying along a few shared
 * directions plus a little noise: a low intrinsic dimension, like real
 * embeddings (isotropic noise in 32 dimensions defeats any ANN index).
 */
#define LATENT 10
static float *make_clustered(u32 n, u32 dim, u32 nclusters, float spread)
{
	float *c = malloc((size_t)nclusters * dim * sizeof(float));
	float *basis = malloc((size_t)LATENT * dim * sizeof(float));
	float *v = malloc((size_t)n * dim * sizeof(float));
	float z[LATENT];
	u32 i, j, k, l;

	for (i = 0; i < nclusters * dim; i++)
		c[i] = urand();
	for (i = 0; i < LATENT * dim; i++)
		basis[i] = urand();
	for (i = 0; i < n; i++) {
		k = rnd() % nclusters;
		for (l = 0; l < LATENT; l++)
			z[l] = nrand() * spread;
		for (j = 0; j < dim; j++) {
			float x = c[k * dim + j] + 0.01f * nrand();

			for (l = 0; l < LATENT; l++)
				x += z[l] * basis[l * dim + j];
			v[(size_t)i * dim + j] = x;
		}
	}
	free(c);
	free(basis);
	return v;
}

static double ref_dist(u32 metric, const float *a, const float *b, u32 dim)
{
	double s = 0, na = 0, nb = 0;
	u32 i;

	for (i = 0; i < dim; i++) {
		if (metric == VX_METRIC_L2)
			s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		else
			s += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	if (metric == VX_METRIC_L2)
		return s;
	if (metric == VX_METRIC_IP)
		return -s;
	/* cosine on raw vectors: 1 - s / sqrt(na nb); sqrt by Newton */
	{
		double x = na * nb, y = x > 1 ? x : 1;
		int it;

		if (x <= 0)
			return 1;
		for (it = 0; it < 200; it++)
			y = 0.5 * (y + x / y);
		return 1 - s / y;
	}
}

static int close_enough(double got, double want, double scale)
{
	double diff = got - want;

	if (diff < 0)
		diff = -diff;
	return diff <= 1e-4 * (scale > 1 ? scale : 1);
}

static void normalise_ref(float *v, u32 dim)
{
	double s = 0, y;
	u32 i;
	int it;

	for (i = 0; i < dim; i++)
		s += (double)v[i] * v[i];
	if (s <= 0)
		return;
	y = s > 1 ? s : 1;
	for (it = 0; it < 200; it++)
		y = 0.5 * (y + s / y);
	for (i = 0; i < dim; i++)
		v[i] = (float)(v[i] / y);
}

static const u32 dims[] = { 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 100,
			    128, 384, 1000, 1536 };

static int test_metrics_reference(void)
{
	static float a[1536], b[1536], an[1536], bn[1536];
	u32 di, m, t, i;

	for (di = 0; di < sizeof(dims) / sizeof(dims[0]); di++) {
		u32 dim = dims[di];

		for (t = 0; t < 20; t++) {
			double mag = 0;

			for (i = 0; i < dim; i++) {
				a[i] = urand() * 3;
				b[i] = urand() * 3;
				mag += (double)a[i] * a[i] + (double)b[i] * b[i];
			}
			memcpy(an, a, dim * 4);
			memcpy(bn, b, dim * 4);
			normalise_ref(an, dim);
			normalise_ref(bn, dim);
			for (m = 1; m <= 3; m++) {
				double want = ref_dist(m, a, b, dim);
				double got;

				if (m == VX_METRIC_COSINE)
					got = vx_distance(m, an, bn, dim);
				else
					got = vx_distance(m, a, b, dim);
				if (!close_enough(got, want,
						  m == VX_METRIC_COSINE ? 1 : mag)) {
					fprintf(stderr, "dim %u metric %u: %g vs %g\n",
						dim, m, got, want);
					CHECK(0);
				}
			}
		}
	}
	/* Identical vectors: L2 exactly 0, cosine about 0. */
	for (i = 0; i < 384; i++)
		a[i] = urand();
	CHECK(vx_distance(VX_METRIC_L2, a, a, 384) == 0.0f);
	return 0;
}

static int test_scalar_vs_simd(void)
{
	static float buf[1536 * 2 + 1];
	const char *impl = vx_distance_impl();
	u32 di, m, t, i;

	printf("distance kernels: %s\n", impl);
	CHECK(!strcmp(impl, "avx512") || !strcmp(impl, "avx2") ||
	      !strcmp(impl, "scalar"));
	for (di = 0; di < sizeof(dims) / sizeof(dims[0]); di++) {
		u32 dim = dims[di];
		/* odd offset: unaligned loads must work */
		float *a = buf + 1, *b = buf + 1 + dim;

		for (t = 0; t < 20; t++) {
			double mag = 0;

			for (i = 0; i < 2 * dim; i++) {
				buf[1 + i] = urand() * 2;
				mag += (double)buf[1 + i] * buf[1 + i];
			}
			for (m = 1; m <= 3; m++) {
				float s, v;

				vx_distance_force_scalar(true);
				CHECK(!strcmp(vx_distance_impl(), "scalar"));
				s = vx_distance(m, a, b, dim);
				vx_distance_force_scalar(false);
				v = vx_distance(m, a, b, dim);
				CHECK(close_enough(s, v, mag));
			}
		}
	}
	return 0;
}

static struct vx_index *new_index(u32 dim, u32 metric, u32 m, u32 efc)
{
	struct vx_index_params p = { .dim = dim, .metric = metric, .m = m,
				     .ef_construction = efc, .seed = 42 };
	struct vx_index *idx = NULL;

	if (vx_index_create(&idx, &p))
		return NULL;
	return idx;
}

static int fill(struct vx_index *idx, const float *v, u32 n, u32 dim)
{
	u32 i;
	int err;

	for (i = 0; i < n; i++) {
		err = vx_index_set(idx, i, v + (size_t)i * dim);
		if (err)
			return err;
	}
	return 0;
}

static int link_all(struct vx_index *idx)
{
	struct vx_index_scratch *s = vx_index_scratch_alloc(idx, 64);
	u32 linked = 0;
	int err;

	if (!s)
		return -ENOMEM;
	vx_fpu_begin();
	err = vx_index_link_pending(idx, s, ~0U, &linked);
	vx_fpu_end();
	vx_index_scratch_free(s);
	return err;
}

/*
 * The word kernels of the exact scan: each set bit's distance equals the
 * scalar kernel's, unset bits' slots are left alone, for every SIMD set
 * this CPU has (AVX2 is tested on an AVX-512 machine too).
 */
static int test_word_kernels(void)
{
	static const u64 patterns[] = { ~0ULL, 1, 0x8000000000000001ULL,
					0x5a5a00ff0f0f3c3cULL };
	u32 di, m, p, b, i, isa;

	for (di = 0; di < sizeof(dims) / sizeof(dims[0]); di++) {
		u32 dim = dims[di];
		size_t stride = ((size_t)dim * 4 + 15) & ~(size_t)15;
		u8 *base = malloc(stride * 64);
		float q[1536], out[64];

		CHECK(base);
		for (i = 0; i < dim; i++)
			q[i] = urand() * 2;
		for (b = 0; b < 64; b++)
			for (i = 0; i < dim; i++)
				((float *)(base + b * stride))[i] = urand() * 2;
		for (isa = 0; isa < 2; isa++) {
			if (isa == 0 ? !vx_cpu_has_avx2() : !vx_cpu_has_avx512())
				continue;
			for (m = 1; m <= 3; m++) {
				for (p = 0; p < 4; p++) {
					for (b = 0; b < 64; b++)
						out[b] = -12345.0f;
					if (isa == 0)
						vx_word_avx2(m, q, base, stride,
							     patterns[p], dim, out);
					else
						vx_word_avx512(m, q, base, stride,
							       patterns[p], dim,
							       out);
					for (b = 0; b < 64; b++) {
						const float *v = (const float *)
							(base + b * stride);
						bool set = patterns[p] >> b & 1;

						vx_distance_force_scalar(true);
						CHECK(!set || close_enough(out[b],
						      vx_distance(m, q, v, dim),
						      4.0 * dim));
						vx_distance_force_scalar(false);
						CHECK(set || out[b] == -12345.0f);
					}
				}
			}
		}
		free(base);
	}
	return 0;
}

/*
 * Exact search against brute force over the stored vectors, with holes
 * (a whole bitmap word removed, every third vector), a dimension that is
 * no multiple of 8, every metric, the widest kernels and the scalar ones.
 */
static int test_exact_vs_brute_force(void)
{
	const u32 dim = 37, n = 300, k = 10;
	float *d = make_clustered(n + 4, dim, 8, 0.5f);
	u32 metric, scalar, qi, i, j, nh;

	CHECK(d);
	for (metric = 1; metric <= 3; metric++) {
		struct vx_index *idx = new_index(dim, metric, 8, 40);
		struct vx_index_scratch *s;
		struct vx_index_hit h[10];

		CHECK(idx);
		CHECK_EQ(fill(idx, d, n, dim), 0);
		for (i = 0; i < n; i++)
			if ((i >= 64 && i < 128) || i % 3 == 0)
				CHECK_EQ(vx_index_remove(idx, i), 0);
		s = vx_index_scratch_alloc(idx, k);
		CHECK(s);
		for (scalar = 0; scalar < 2; scalar++) {
			vx_distance_force_scalar(scalar);
			for (qi = 0; qi < 4; qi++) {
				const float *q = d + (size_t)(n + qi) * dim;
				double best[10];
				u32 nb = 0;

				CHECK_EQ(vx_index_search_exact(idx, s, q, k, h,
							       &nh), 0);
				CHECK_EQ(nh, k);
				/* the k smallest reference distances, sorted */
				for (i = 0; i < n; i++) {
					double x;

					if (!vx_index_live(idx, i))
						continue;
					x = ref_dist(metric, q,
						     vx_index_vector(idx, i), dim);
					if (nb == k && x >= best[k - 1])
						continue;
					for (j = nb < k ? nb++ : k - 1;
					     j > 0 && best[j - 1] > x; j--)
						best[j] = best[j - 1];
					best[j] = x;
				}
				for (i = 0; i < k; i++) {
					CHECK(vx_index_live(idx, h[i].vid));
					CHECK(close_enough(h[i].dist, best[i],
							   4.0 * dim));
				}
			}
		}
		vx_distance_force_scalar(false);
		vx_index_scratch_free(s);
		vx_index_destroy(idx);
	}
	free(d);
	return 0;
}

/* Mean recall@k of HNSW against exact over queries q. */
static double recall(struct vx_index *idx, const float *q, u32 nq, u32 dim,
		     u32 k, u32 ef)
{
	struct vx_index_scratch *s = vx_index_scratch_alloc(idx, ef > k ? ef : k);
	struct vx_index_hit a[64], e[64];
	u32 na, ne, i, j, l, hit = 0, total = 0;

	for (i = 0; i < nq; i++) {
		const float *qq = q + (size_t)i * dim;

		if (vx_index_search(idx, s, qq, k, ef, a, &na) ||
		    vx_index_search_exact(idx, s, qq, k, e, &ne))
			return -1;
		for (j = 0; j < ne; j++)
			for (l = 0; l < na; l++)
				if (a[l].vid == e[j].vid) {
					hit++;
					break;
				}
		total += ne;
	}
	vx_index_scratch_free(s);
	return total ? (double)hit / total : 1.0;
}

/*
 * The graph's invariants: every link leads to another linked node of a
 * high enough level, no duplicates, lists within capacity, in-degree
 * counters equal to the real number of in-links, entry of the top level.
 */
static int check_graph(struct vx_index *idx)
{
	u64 span = vx_span(idx), v;
	u32 l, i, j, n, maxl = 0;
	u32 *indeg[VX_HNSW_MAX_LEVEL + 1], *nonmut_in[VX_HNSW_MAX_LEVEL + 1];
	u64 linked = 0, nonmut_total = 0, extra_total = 0;

	for (l = 0; l <= VX_HNSW_MAX_LEVEL; l++) {
		indeg[l] = calloc(span ? span : 1, sizeof(u32));
		nonmut_in[l] = calloc(span ? span : 1, sizeof(u32));
	}
	for (v = 0; v < span; v++) {
		int lev = vx_index_node_level(idx, v);

		if (lev < 0)
			continue;
		linked++;
		if ((u32)lev > maxl)
			maxl = lev;
		for (l = 0; l <= (u32)lev; l++) {
			const u32 *links = vx_links_ro(idx, v, l, &n);

			CHECK(n <= vx_level_cap(idx, l));
			for (i = 0; i < n; i++) {
				CHECK(links[i] != v);
				CHECK(vx_index_linked(idx, links[i]));
				CHECK(vx_index_node_level(idx, links[i]) >= (int)l);
				for (j = 0; j < i; j++)
					CHECK(links[j] != links[i]);
				indeg[l][links[i]]++;
				{
					u32 m2;
					const u32 *l2 = vx_links_ro(idx, links[i], l, &m2);

					for (j = 0; j < m2 && l2[j] != v; j++)
						;
					nonmut_in[l][links[i]] += j == m2;
				}
			}
		}
	}
	for (v = 0; v < span; v++) {
		int lev = vx_index_node_level(idx, v);

		for (l = 0; lev >= 0 && l <= (u32)lev; l++) {
			const u32 *links = vx_links_ro(idx, v, l, &n);
			u32 ne, nonmutual = 0;
			const u32 *ex = vx_extra(idx, v, l, &ne);

			CHECK_EQ(*vx_indeg(idx, v, l), indeg[l][v]);
			/* extra: in-links v does not return, all of them
			 * unless the list is full (then the in-degree tells) */
			CHECK(ne <= idx->hx);
			for (i = 0; i < ne; i++) {
				u32 m2;
				const u32 *l2 = vx_links_ro(idx, ex[i], l, &m2);
				int found = 0;

				CHECK(vx_index_linked(idx, ex[i]));
				for (j = 0; j < m2; j++)
					found |= l2[j] == v;
				CHECK(found);
				for (j = 0; j < n; j++)
					CHECK(links[j] != ex[i]);
			}
			for (i = 0; i < n; i++) {
				u32 m2;
				const u32 *l2 = vx_links_ro(idx, links[i], l, &m2);
				int back = 0;

				for (j = 0; j < m2; j++)
					back |= l2[j] == v;
				nonmutual += !back;
			}
			CHECK(ne <= nonmut_in[l][v]);
			nonmut_total += nonmutual;
			extra_total += ne;
		}
	}
	CHECK(nonmut_total >= extra_total);
	for (l = 0; l <= VX_HNSW_MAX_LEVEL; l++) {
		free(indeg[l]);
		free(nonmut_in[l]);
	}
	CHECK_EQ(linked, idx->linked);
	if (linked) {
		CHECK(idx->entry != VX_VID_NONE);
		CHECK_EQ(vx_index_node_level(idx, idx->entry), maxl);
		CHECK_EQ(idx->max_level, maxl);
	} else {
		CHECK(idx->entry == VX_VID_NONE);
	}
	return 0;
}

#define RN	20000
#define RD	32
#define RQ	200

static float *rdata, *rquery;
static struct vx_index *ridx;

/* recall@10 of ridx at ef over the queries, printed after what; >= min. */
static int check_recall(u32 ef, double min, const char *what)
{
	double r = recall(ridx, rquery, RQ, RD, 10, ef);

	printf("recall@10 %s: %.4f\n", what, r);
	CHECK(r >= min);
	return 0;
}

static int test_recall(void)
{
	struct vx_index_stats st;
	double r;

	/* queries from the same distribution, not inserted */
	rdata = make_clustered(RN + RQ, RD, 64, 0.15f);
	rquery = rdata + (size_t)RN * RD;
	ridx = new_index(RD, VX_METRIC_L2, 16, 100);
	CHECK(ridx);
	CHECK_EQ(fill(ridx, rdata, RN, RD), 0);
	CHECK_EQ(link_all(ridx), 0);
	vx_index_get_stats(ridx, &st);
	CHECK_EQ(st.live, RN);
	CHECK_EQ(st.indexed, RN);
	CHECK_EQ(st.pending, 0);
	CHECK(st.capacity >= RN);
	CHECK(st.memory_bytes >= RN * vx_index_bytes_per_vector(vx_index_params(ridx)) * 9 / 10);
	CHECK(check_graph(ridx) == 0);
	r = recall(ridx, rquery, RQ, RD, 10, 64);
	printf("recall@10 ef=64 over %u x %u: %.4f (max level %u, %.0f B/vector)\n",
	       RN, RD, r, st.max_level, (double)st.memory_bytes / st.live);
	CHECK(r >= 0.95);
	/* the narrowest search (ef = k) still finds most */
	CHECK_EQ(check_recall(10, 0.85, "ef=10"), 0);
	return 0;
}

static int test_remove(void)
{
	struct vx_index_stats before, after;
	struct vx_index_scratch *s;
	struct vx_index_hit h[10];
	u64 entry;
	u32 i, n;

	CHECK(ridx);
	vx_index_get_stats(ridx, &before);
	/* The entry point first, several times over. */
	for (i = 0; i < 5; i++) {
		entry = before.entry_vid;
		CHECK_EQ(vx_index_remove(ridx, entry), 0);
		CHECK(!vx_index_live(ridx, entry));
		CHECK(vx_index_vector(ridx, entry) == NULL);
		CHECK_EQ(vx_index_remove(ridx, entry), -ENOENT);
		vx_index_get_stats(ridx, &before);
		CHECK(before.entry_vid != entry);
		CHECK(check_graph(ridx) == 0);
	}
	/* Then a whole block (frees chunks) and every third of the rest. */
	for (i = 0; i < RN; i++) {
		if (!vx_index_live(ridx, i))
			continue;
		if (i < RN / 2 || i % 3 == 0)
			CHECK_EQ(vx_index_remove(ridx, i), 0);
	}
	CHECK(check_graph(ridx) == 0);
	vx_index_get_stats(ridx, &after);
	CHECK_EQ(after.live, after.indexed);
	CHECK(after.live < before.live / 3 + 100);
	CHECK(after.memory_bytes < before.memory_bytes * 3 / 4);
	CHECK(after.capacity < before.capacity);
	printf("after removals: %llu live, memory %llu -> %llu, full scans %llu\n",
	       (unsigned long long)after.live,
	       (unsigned long long)before.memory_bytes,
	       (unsigned long long)after.memory_bytes,
	       (unsigned long long)ridx->full_scans);
	CHECK_EQ(check_recall(64, 0.95, "ef=64 after removals"), 0);
	/* A removed vector is never returned. */
	s = vx_index_scratch_alloc(ridx, 64);
	CHECK(s);
	CHECK_EQ(vx_index_search(ridx, s, rdata + 3 * RD, 10, 64, h, &n), 0);
	CHECK_EQ(n, 10);
	for (i = 0; i < n; i++)
		CHECK(vx_index_live(ridx, h[i].vid) && h[i].vid != 3);
	vx_index_scratch_free(s);
	return 0;
}

static int test_update_and_reuse(void)
{
	struct vx_index_scratch *s;
	struct vx_index_hit h[10];
	float v[RD];
	u32 i, n, vid = RN - 1;

	CHECK(ridx && vx_index_linked(ridx, vid));
	/* update in place: the vector of a removed vid, nudged */
	CHECK(!vx_index_live(ridx, 2));
	for (i = 0; i < RD; i++)
		v[i] = rdata[2 * RD + i] + 0.001f;
	CHECK_EQ(vx_index_set(ridx, vid, v), 0);
	CHECK(vx_index_live(ridx, vid));
	CHECK(!vx_index_linked(ridx, vid));
	CHECK(!memcmp(vx_index_vector(ridx, vid), v, sizeof(v)));
	CHECK(check_graph(ridx) == 0);
	s = vx_index_scratch_alloc(ridx, 64);
	CHECK(s);
	/* pending: found by the exact part of the search */
	CHECK_EQ(vx_index_search(ridx, s, v, 1, 16, h, &n), 0);
	CHECK(n == 1 && h[0].vid == vid && h[0].dist == 0.0f);
	vx_fpu_begin();
	CHECK_EQ(vx_index_link_pending(ridx, s, 10, &n), 0);
	vx_fpu_end();
	CHECK_EQ(n, 1);
	CHECK(vx_index_linked(ridx, vid));
	CHECK_EQ(vx_index_search(ridx, s, v, 1, 16, h, &n), 0);
	CHECK(n == 1 && h[0].vid == vid && h[0].dist == 0.0f);
	/* the old vector no longer finds it at distance 0 */
	CHECK_EQ(vx_index_search(ridx, s, rdata + (size_t)vid * RD, 1, 16, h, &n), 0);
	CHECK(n == 1 && h[0].vid != vid);

	/* slot reuse: a removed vid (3) comes back with another vector */
	CHECK(!vx_index_live(ridx, 3));
	CHECK(!vx_index_live(ridx, 100));	/* in a freed chunk */
	for (i = 0; i < RD; i++)
		v[i] = rdata[6 * RD + i] + 0.001f;
	CHECK_EQ(vx_index_set(ridx, 3, v), 0);
	CHECK_EQ(vx_index_set(ridx, 100, rdata), 0);
	vx_fpu_begin();
	CHECK_EQ(vx_index_link_pending(ridx, s, ~0U, &n), 0);
	vx_fpu_end();
	CHECK_EQ(n, 2);
	CHECK_EQ(vx_index_search(ridx, s, v, 1, 16, h, &n), 0);
	CHECK(n == 1 && h[0].vid == 3 && h[0].dist == 0.0f);
	CHECK(!vx_index_live(ridx, 0));
	CHECK_EQ(vx_index_search(ridx, s, rdata, 2, 16, h, &n), 0);
	CHECK(n == 2 && h[0].vid == 100 && h[0].dist == 0.0f);
	CHECK(check_graph(ridx) == 0);
	vx_index_scratch_free(s);
	return 0;
}

static int test_unlink_all(void)
{
	struct vx_index_stats st;
	double r;

	CHECK(ridx);
	vx_index_unlink_all(ridx);
	vx_index_get_stats(ridx, &st);
	CHECK_EQ(st.indexed, 0);
	CHECK_EQ(st.pending, st.live);
	CHECK(st.entry_vid == VX_VID_NONE);
	CHECK(check_graph(ridx) == 0);
	/* all pending: search is exact */
	r = recall(ridx, rquery, 20, RD, 10, 10);
	CHECK(r == 1.0);
	CHECK_EQ(link_all(ridx), 0);
	vx_index_get_stats(ridx, &st);
	CHECK_EQ(st.pending, 0);
	CHECK(check_graph(ridx) == 0);
	CHECK_EQ(check_recall(64, 0.95, "after relink"), 0);
	return 0;
}

static int test_persistence(void)
{
	struct vx_index_stats st, st2;
	struct vx_index_scratch *s1, *s2;
	struct vx_index_hit a[10], b[10];
	struct vx_index *copy;
	u32 *lists[VX_HNSW_MAX_LEVEL + 1], counts[VX_HNSW_MAX_LEVEL + 1];
	const u32 *clists[VX_HNSW_MAX_LEVEL + 1];
	u64 v, span;
	u32 i, na, nb;
	int lev, l;

	CHECK(ridx);
	vx_index_get_stats(ridx, &st);
	copy = new_index(RD, VX_METRIC_L2, 16, 100);
	CHECK(copy);
	span = vx_span(ridx);
	for (v = 0; v < span; v++)
		if (vx_index_live(ridx, v))
			CHECK_EQ(vx_index_set(copy, v, vx_index_vector(ridx, v)), 0);
	for (l = 0; l <= VX_HNSW_MAX_LEVEL; l++) {
		lists[l] = malloc(32 * sizeof(u32));
		clists[l] = lists[l];
	}
	for (v = 0; v < span; v++) {
		lev = vx_index_node_level(ridx, v);
		if (lev < 0)
			continue;
		for (l = 0; l <= lev; l++) {
			int n = vx_index_node_links(ridx, v, l, lists[l]);

			CHECK(n >= 0);
			counts[l] = n;
		}
		CHECK_EQ(vx_index_node_links(ridx, v, lev + 1, lists[0]), -EINVAL);
		CHECK_EQ(vx_index_load_node(copy, v, lev, clists, counts), 0);
	}
	vx_index_set_entry(copy, st.entry_vid, st.max_level);
	vx_index_get_stats(copy, &st2);
	CHECK_EQ(st2.live, st.live);
	CHECK_EQ(st2.indexed, st.indexed);
	CHECK_EQ(st2.entry_vid, st.entry_vid);
	CHECK_EQ(st2.max_level, st.max_level);
	CHECK(check_graph(copy) == 0);
	s1 = vx_index_scratch_alloc(ridx, 64);
	s2 = vx_index_scratch_alloc(copy, 64);
	CHECK(s1 && s2);
	for (i = 0; i < RQ; i++) {
		CHECK_EQ(vx_index_search(ridx, s1, rquery + i * RD, 10, 64, a, &na), 0);
		CHECK_EQ(vx_index_search(copy, s2, rquery + i * RD, 10, 64, b, &nb), 0);
		CHECK_EQ(na, nb);
		CHECK(!memcmp(a, b, na * sizeof(a[0])));
	}
	/* The copy keeps working: removal relies on the recounted degrees. */
	for (v = 0; v < span; v += 7)
		if (vx_index_live(copy, v))
			CHECK_EQ(vx_index_remove(copy, v), 0);
	CHECK(check_graph(copy) == 0);
	vx_index_scratch_free(s1);
	vx_index_scratch_free(s2);
	for (l = 0; l <= VX_HNSW_MAX_LEVEL; l++)
		free(lists[l]);
	vx_index_destroy(copy);
	return 0;
}

static int test_load_sanitises(void)
{
	struct vx_index *idx = new_index(4, VX_METRIC_L2, 4, 10);
	float v[4] = { 1, 2, 3, 4 };
	u32 l0[] = { 1, 2, 9, 1, 0 }, l1[] = { 2 };
	const u32 *links[2] = { l0, l1 };
	u32 counts[2] = { 5, 1 };
	u32 out[8];

	CHECK(idx);
	CHECK_EQ(vx_index_set(idx, 0, v), 0);
	CHECK_EQ(vx_index_set(idx, 1, v), 0);
	CHECK_EQ(vx_index_set(idx, 2, v), 0);
	counts[0] = 9;
	CHECK_EQ(vx_index_load_node(idx, 0, 1, links, counts), -EINVAL);
	counts[0] = 5;
	CHECK_EQ(vx_index_load_node(idx, 7, 0, links, counts), -ENOENT);
	/* 9 is not live, 0 is itself, 1 twice: kept once */
	CHECK_EQ(vx_index_load_node(idx, 0, 1, links, counts), 0);
	CHECK_EQ(vx_index_load_node(idx, 0, 1, links, counts), -EEXIST);
	CHECK_EQ(vx_index_node_links(idx, 0, 0, out), 2);
	/* 1 is loaded at level 0 only; 2 is never loaded (stays pending) */
	counts[0] = 1;
	l0[0] = 0;
	CHECK_EQ(vx_index_load_node(idx, 1, 0, links, counts), 0);
	vx_index_set_entry(idx, 1, 0);
	/* links to 2 dropped; the entry is the level-1 node */
	CHECK_EQ(vx_index_node_links(idx, 0, 0, out), 1);
	CHECK_EQ(out[0], 1);
	CHECK_EQ(vx_index_node_links(idx, 0, 1, out), 0);
	CHECK(vx_index_next_dirty(idx, 0) == 0);
	CHECK(!vx_index_linked(idx, 2));
	CHECK(check_graph(idx) == 0);
	vx_index_destroy(idx);
	return 0;
}

static int test_dirty(void)
{
	struct vx_index *idx = new_index(8, VX_METRIC_L2, 4, 20);
	float *d = make_clustered(300, 8, 4, 0.2f);
	u64 v, n;

	CHECK(idx);
	CHECK(vx_index_next_dirty(idx, 0) == VX_VID_NONE);
	CHECK_EQ(fill(idx, d, 200, 8), 0);
	/* pending vectors are not graph changes */
	CHECK(vx_index_next_dirty(idx, 0) == VX_VID_NONE);
	CHECK_EQ(link_all(idx), 0);
	for (v = 0, n = 0; (v = vx_index_next_dirty(idx, v)) != VX_VID_NONE; v++)
		n++;
	CHECK_EQ(n, 200);
	vx_index_clear_dirty(idx);
	CHECK(vx_index_next_dirty(idx, 0) == VX_VID_NONE);
	/* one more node: it and the nodes whose lists took it */
	CHECK_EQ(vx_index_set(idx, 250, d + 250 * 8), 0);
	CHECK_EQ(link_all(idx), 0);
	CHECK(vx_index_next_dirty(idx, 0) != VX_VID_NONE);
	CHECK(vx_index_next_dirty(idx, 250) == 250);
	CHECK(vx_index_next_dirty(idx, 251) == VX_VID_NONE);
	vx_index_clear_dirty(idx);
	/* removal: the node and the lists that held it */
	CHECK_EQ(vx_index_remove(idx, 17), 0);
	CHECK(vx_index_next_dirty(idx, 17) == 17);
	for (v = 0, n = 0; (v = vx_index_next_dirty(idx, v)) != VX_VID_NONE; v++) {
		u32 links[8];

		if (v != 17)
			CHECK(vx_index_node_links(idx, v, 0, links) >= 0);
		n++;
	}
	CHECK(n > 1);
	CHECK(check_graph(idx) == 0);
	vx_index_destroy(idx);
	free(d);
	return 0;
}

static int test_pending(void)
{
	struct vx_index *idx = new_index(16, VX_METRIC_L2, 8, 50);
	float *d = make_clustered(3000, 16, 8, 0.2f);
	struct vx_index_scratch *s;
	struct vx_index_hit h[5];
	u32 i, n, linked;

	CHECK(idx);
	CHECK_EQ(fill(idx, d, 3000, 16), 0);
	s = vx_index_scratch_alloc(idx, 32);
	CHECK(s);
	/* nothing linked: every vector still found */
	for (i = 0; i < 3000; i += 97) {
		CHECK_EQ(vx_index_search(idx, s, d + i * 16, 1, 8, h, &n), 0);
		CHECK(n == 1 && h[0].dist == 0.0f);
	}
	/* half linked, lowest vids first */
	vx_fpu_begin();
	CHECK_EQ(vx_index_link_pending(idx, s, 1500, &linked), 0);
	vx_fpu_end();
	CHECK_EQ(linked, 1500);
	CHECK(vx_index_linked(idx, 1499) && !vx_index_linked(idx, 1500));
	for (i = 0; i < 3000; i += 31) {
		CHECK_EQ(vx_index_search(idx, s, d + i * 16, 1, 8, h, &n), 0);
		CHECK(n == 1 && h[0].dist == 0.0f);
	}
	CHECK(recall(idx, d + 7 * 16, 50, 16, 5, 32) >= 0.95);
	vx_fpu_begin();
	CHECK_EQ(vx_index_link_pending(idx, s, ~0U, &linked), 0);
	CHECK_EQ(vx_index_link_pending(idx, s, ~0U, &linked), 0);
	vx_fpu_end();
	CHECK_EQ(linked, 0);
	CHECK(check_graph(idx) == 0);
	vx_index_scratch_free(s);
	vx_index_destroy(idx);
	free(d);
	return 0;
}

/* Cosine and inner product through the whole index. */
static int test_other_metrics(void)
{
	u32 metric, i, n;
	float *d = make_clustered(5100, 24, 32, 0.2f);
	float *q = d + 5000 * 24;
	struct vx_index_scratch *s;
	struct vx_index_hit h[3];

	for (metric = VX_METRIC_COSINE; metric <= VX_METRIC_IP; metric++) {
		struct vx_index *idx = new_index(24, metric, 12, 80);
		double r, nn = 0;

		CHECK(idx);
		CHECK_EQ(fill(idx, d, 5000, 24), 0);
		if (metric == VX_METRIC_COSINE) {
			const float *sv = vx_index_vector(idx, 5);

			for (i = 0; i < 24; i++)
				nn += (double)sv[i] * sv[i];
			CHECK(nn > 0.9999 && nn < 1.0001);
		}
		CHECK_EQ(link_all(idx), 0);
		r = recall(idx, q, 100, 24, 10, 64);
		printf("metric %u recall@10: %.4f\n", metric, r);
		CHECK(r >= 0.95);
		s = vx_index_scratch_alloc(idx, 16);
		CHECK(s);
		/* exact search agrees with the reference distance */
		CHECK_EQ(vx_index_search_exact(idx, s, q, 3, h, &n), 0);
		CHECK_EQ(n, 3);
		CHECK(h[0].dist <= h[1].dist && h[1].dist <= h[2].dist);
		CHECK(close_enough(h[0].dist,
				   ref_dist(metric, q, d + h[0].vid * 24, 24),
				   100));
		for (i = 0; i < 5000; i++) {
			CHECK(ref_dist(metric, q, d + i * 24, 24) >=
			      ref_dist(metric, q, d + h[0].vid * 24, 24) - 1e-4);
		}
		vx_index_scratch_free(s);
		CHECK(check_graph(idx) == 0);
		vx_index_destroy(idx);
	}
	free(d);
	return 0;
}

/*
 * Random sets, updates, removals, partial linking and the odd full unlink
 * on a small index, with the graph's invariants checked throughout and
 * every stored vector findable by its own value.
 */
static int test_random_ops(void)
{
	enum { SLOTS = 1500, D = 8 };
	struct vx_index *idx = new_index(D, VX_METRIC_L2, 6, 30);
	float *pool = make_clustered(4000, D, 8, 0.3f);
	struct vx_index_scratch *s = NULL;
	struct vx_index_hit h[4];
	struct vx_index_stats st;
	u32 op, n, vid, live = 0;
	u8 *state = calloc(SLOTS, 1);

	CHECK(idx && pool && state);
	for (op = 0; op < 12000; op++) {
		u32 r = rnd() % 100;

		vid = rnd() % SLOTS;
		if (r < 55) {
			live += !state[vid];
			state[vid] = 1;
			CHECK_EQ(vx_index_set(idx, vid,
					      pool + (rnd() % 4000) * D), 0);
		} else if (r < 85) {
			CHECK_EQ(vx_index_remove(idx, vid),
				 state[vid] ? 0 : -ENOENT);
			live -= state[vid];
			state[vid] = 0;
		} else if (r < 99) {
			if (!s || !vx_index_scratch_fits(idx, s, 30)) {
				vx_index_scratch_free(s);
				s = vx_index_scratch_alloc(idx, 30);
				CHECK(s);
			}
			vx_fpu_begin();
			CHECK_EQ(vx_index_link_pending(idx, s, rnd() % 200, &n), 0);
			vx_fpu_end();
		} else {
			vx_index_unlink_all(idx);
		}
		if (op % 1000 == 999) {
			CHECK(check_graph(idx) == 0);
			vx_index_get_stats(idx, &st);
			CHECK_EQ(st.live, live);
		}
	}
	CHECK(check_graph(idx) == 0);
	/* everything stored is found by its own vector (pending or linked) */
	vx_index_scratch_free(s);
	s = vx_index_scratch_alloc(idx, 64);
	CHECK(s);
	for (vid = 0; vid < SLOTS; vid++) {
		if (!state[vid])
			continue;
		CHECK_EQ(vx_index_search(idx, s, vx_index_vector(idx, vid), 1,
					 64, h, &n), 0);
		CHECK(n == 1 && h[0].dist == 0.0f);
	}
	vx_index_scratch_free(s);
	vx_index_destroy(idx);
	free(pool);
	free(state);
	return 0;
}

struct reader {
	struct vx_index *idx;
	const float *q;
	u32 nq;
	struct vx_index_hit *out;
	int err;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct vx_index_scratch *s = vx_index_scratch_alloc(r->idx, 64);
	u32 i, n;
	int round;

	if (!s) {
		r->err = -ENOMEM;
		return NULL;
	}
	for (round = 0; round < 3; round++)
		for (i = 0; i < r->nq; i++)
			r->err |= vx_index_search(r->idx, s, r->q + i * RD, 10, 48,
						  r->out + i * 10, &n);
	vx_index_scratch_free(s);
	return NULL;
}

static int test_concurrent_readers(void)
{
	enum { NT = 4 };
	struct reader r[NT];
	pthread_t th[NT];
	struct vx_index_hit *ref = calloc(RQ * 10, sizeof(*ref));
	struct vx_index_scratch *s;
	u32 i, t, n;

	CHECK(ridx && ref);
	s = vx_index_scratch_alloc(ridx, 64);
	for (i = 0; i < RQ; i++)
		CHECK_EQ(vx_index_search(ridx, s, rquery + i * RD, 10, 48,
					 ref + i * 10, &n), 0);
	vx_index_scratch_free(s);
	for (t = 0; t < NT; t++) {
		r[t].idx = ridx;
		r[t].q = rquery;
		r[t].nq = RQ;
		r[t].out = calloc(RQ * 10, sizeof(*ref));
		r[t].err = 0;
		CHECK_EQ(pthread_create(&th[t], NULL, reader_main, &r[t]), 0);
	}
	for (t = 0; t < NT; t++) {
		pthread_join(th[t], NULL);
		CHECK_EQ(r[t].err, 0);
		CHECK(!memcmp(r[t].out, ref, RQ * 10 * sizeof(*ref)));
		free(r[t].out);
	}
	free(ref);
	return 0;
}

static int test_bad_params(void)
{
	struct vx_index_params p = { .dim = 8, .metric = VX_METRIC_L2, .m = 8,
				     .ef_construction = 10 };
	struct vx_index_params q;
	struct vx_index *idx = NULL;
	struct vx_index_scratch *s;
	struct vx_index_hit h[40];
	float v[8] = { 0 };
	u32 n, i;

	q = p; q.dim = 0;
	CHECK_EQ(vx_index_create(&idx, &q), -EINVAL);
	q = p; q.dim = VX_MAX_DIM + 1;
	CHECK_EQ(vx_index_create(&idx, &q), -EINVAL);
	q = p; q.metric = 0;
	CHECK_EQ(vx_index_create(&idx, &q), -EINVAL);
	q = p; q.metric = 4;
	CHECK_EQ(vx_index_create(&idx, &q), -EINVAL);
	q = p; q.m = 1;
	CHECK_EQ(vx_index_create(&idx, &q), -EINVAL);
	q = p; q.m = 101;
	CHECK_EQ(vx_index_create(&idx, &q), -EINVAL);
	q = p; q.ef_construction = 0;
	CHECK_EQ(vx_index_create(&idx, &q), -EINVAL);
	CHECK_EQ(vx_index_create(&idx, NULL), -EINVAL);
	CHECK_EQ(vx_index_create(&idx, &p), 0);
	CHECK_EQ(vx_index_set(idx, VX_VID_MAX + 1, v), -EINVAL);
	CHECK_EQ(vx_index_set(idx, VX_VID_NONE, v), -EINVAL);
	CHECK_EQ(vx_index_set(idx, 0, NULL), -EINVAL);
	CHECK_EQ(vx_index_remove(idx, 0), -ENOENT);
	CHECK_EQ(vx_index_remove(idx, VX_VID_NONE), -ENOENT);
	CHECK(!vx_index_live(idx, 5) && !vx_index_linked(idx, 5));
	CHECK_EQ(vx_index_node_level(idx, 5), -1);
	CHECK(vx_index_next_dirty(idx, 0) == VX_VID_NONE);
	s = vx_index_scratch_alloc(idx, 16);
	CHECK(s);
	/* empty index: no hits */
	CHECK_EQ(vx_index_search(idx, s, v, 5, 16, h, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(vx_index_search(idx, s, v, 0, 16, h, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(vx_index_set(idx, 0, v), 0);
	/* the first vector gave the index slots the scratch does not cover */
	CHECK(!vx_index_scratch_fits(idx, s, 16));
	vx_index_scratch_free(s);
	s = vx_index_scratch_alloc(idx, 16);
	CHECK(s);
	/* ef or k beyond the scratch */
	CHECK_EQ(vx_index_search(idx, s, v, 5, 17, h, &n), -ENOMEM);
	CHECK_EQ(vx_index_search_exact(idx, s, v, 17, h, &n), -ENOMEM);
	CHECK(vx_index_scratch_fits(idx, s, 16));
	CHECK(!vx_index_scratch_fits(idx, s, 17));
	/* the index grows past the scratch */
	for (i = 1; i < 2000; i++) {
		v[0] = i;
		CHECK_EQ(vx_index_set(idx, i, v), 0);
	}
	CHECK(vx_index_scratch_fits(idx, s, 16));
	CHECK_EQ(vx_index_set(idx, 100000, v), 0);
	CHECK(!vx_index_scratch_fits(idx, s, 16));
	CHECK_EQ(vx_index_search(idx, s, v, 5, 16, h, &n), -ENOMEM);
	vx_fpu_begin();
	CHECK_EQ(vx_index_link_pending(idx, s, 10, &n), -ENOMEM);
	vx_fpu_end();
	vx_index_scratch_free(s);
	s = vx_index_scratch_alloc(idx, 40);
	CHECK_EQ(vx_index_search(idx, s, v, 40, 40, h, &n), 0);
	CHECK_EQ(n, 40);
	CHECK(h[0].dist == 0.0f && h[1].dist == 0.0f);
	CHECK((h[0].vid == 1999 && h[1].vid == 100000) ||
	      (h[1].vid == 1999 && h[0].vid == 100000));
	vx_index_scratch_free(s);
	vx_index_destroy(idx);
	vx_index_destroy(NULL);
	vx_index_scratch_free(NULL);
	/* bytes per vector matches the documented formula */
	q = p; q.dim = 128; q.m = 16;
	CHECK_EQ(vx_index_bytes_per_vector(&q), 783);
	return 0;
}

/*
 * A hub: +-e_i in 64 dimensions are all sqrt(2) apart and 1 from the origin,
 * so each links the origin alone and the origin gets far more one-way
 * in-links than its extra list holds.  Links to it are made all the same,
 * survive a save and load, and removing it finds every one of them.
 */
static int test_hub(void)
{
	enum { D = 64, N = 2 * D + 1 };
	u32 *lists[VX_HNSW_MAX_LEVEL + 1], counts[VX_HNSW_MAX_LEVEL + 1];
	const u32 *clists[VX_HNSW_MAX_LEVEL + 1];
	struct vx_index *idx, *copy;
	float *v = calloc((size_t)N * D, sizeof(float));
	u32 i, hub_in;
	int lev, l;

	CHECK(v);
	for (i = 0; i < D; i++) {
		v[(size_t)(1 + i) * D + i] = 1;
		v[(size_t)(1 + D + i) * D + i] = -1;
	}
	idx = new_index(D, VX_METRIC_L2, 4, 64);
	CHECK(idx);
	CHECK_EQ(fill(idx, v, N, D), 0);
	CHECK_EQ(link_all(idx), 0);
	CHECK(check_graph(idx) == 0);
	hub_in = *vx_indeg(idx, 0, 0);
	printf("hub: %u in-links at level 0, %u recorded as extra (room %u)\n",
	       hub_in, (u32)vx_rec_hdr(idx, 0)->nextra, idx->hx);
	CHECK(hub_in > idx->m0 + idx->hx);

	/* save and load: the recount keeps the links it cannot record */
	copy = new_index(D, VX_METRIC_L2, 4, 64);
	CHECK(copy);
	CHECK_EQ(fill(copy, v, N, D), 0);
	for (l = 0; l <= VX_HNSW_MAX_LEVEL; l++) {
		lists[l] = malloc(64 * sizeof(u32));
		clists[l] = lists[l];
	}
	for (i = 0; i < N; i++) {
		lev = vx_index_node_level(idx, i);
		CHECK(lev >= 0);
		for (l = 0; l <= lev; l++)
			counts[l] = vx_index_node_links(idx, i, l, lists[l]);
		CHECK_EQ(vx_index_load_node(copy, i, lev, clists, counts), 0);
	}
	vx_index_set_entry(copy, idx->entry, idx->max_level);
	CHECK(check_graph(copy) == 0);
	CHECK_EQ(*vx_indeg(copy, 0, 0), hub_in);

	/* removal scans for the in-links it has no record of */
	for (struct vx_index *x = idx; x; x = x == idx ? copy : NULL) {
		u64 scans = x->full_scans;

		CHECK_EQ(vx_index_remove(x, 0), 0);
		CHECK(x->full_scans > scans);
		CHECK(check_graph(x) == 0);
		for (i = 1; i < N; i++)
			CHECK(vx_index_linked(x, i));
	}
	for (l = 0; l <= VX_HNSW_MAX_LEVEL; l++)
		free(lists[l]);
	vx_index_destroy(copy);
	vx_index_destroy(idx);
	free(v);
	return 0;
}

/*
 * Copies of one vector beyond what a neighbour list holds: every copy must
 * stay reachable.  A new copy's neighbours have full lists of copies at
 * distance 0 and the heuristic keeps those, so without adoption (vx_adopt)
 * copies past the first 2M were linked to nothing a search could follow,
 * and with the copies inserted first their full lists kept every later
 * node out, so every query ended among the copies.  An unbounded beam
 * search (ef = every node) must reach every node, queries elsewhere must
 * find their true neighbours, in both orders of insertion, and the graph
 * must keep its invariants.
 */
static int test_duplicates_reachable(void)
{
	const u32 dim = 4, ncopy = 300, nother = 300, n = ncopy + nother;
	struct vx_index_hit *h = calloc(n, sizeof(*h));
	float *v = malloc((size_t)n * dim * sizeof(float));
	struct vx_index_scratch *s;
	struct vx_index *idx;
	u32 order, i, got, zero, hits;

	CHECK(h && v);
	for (order = 0; order < 2; order++) {
		idx = new_index(dim, VX_METRIC_L2, 16, 100);
		CHECK(idx);
		for (i = 0; i < n; i++) {
			/* order 0: the copies first; 1: interleaved */
			bool copy = order ? i % 2 == 0 : i < ncopy;
			u32 d;

			for (d = 0; d < dim; d++)
				v[(size_t)i * dim + d] = copy ? 0.5f : urand() * 4.0f - 2.0f;
		}
		CHECK_EQ(fill(idx, v, n, dim), 0);
		CHECK_EQ(link_all(idx), 0);
		CHECK(check_graph(idx) == 0);
		s = vx_index_scratch_alloc(idx, n);
		CHECK(s);
		CHECK_EQ(vx_index_search(idx, s, v, n, n, h, &got), 0);
		for (i = 0, zero = 0; i < got; i++)
			zero += h[i].dist == 0.0f;
		if (zero != ncopy || got != n)
			fprintf(stderr, "order %u: %u found, %u copies\n", order, got, zero);
		CHECK_EQ(zero, ncopy);
		CHECK_EQ(got, n);
		/* queries away from the copies find their true neighbours */
		for (i = 0, hits = 0; i < 20; i++) {
			struct vx_index_hit a[10], e[10];
			float q[4];
			u32 na, ne, x, y, d;

			for (d = 0; d < dim; d++)
				q[d] = urand() * 4.0f - 2.0f;
			CHECK_EQ(vx_index_search(idx, s, q, 10, 64, a, &na), 0);
			CHECK_EQ(vx_index_search_exact(idx, s, q, 10, e, &ne), 0);
			for (x = 0; x < na; x++)
				for (y = 0; y < ne; y++)
					hits += a[x].dist == e[y].dist;
		}
		CHECK(hits >= 20 * 10 * 9 / 10);
		vx_index_scratch_free(s);
		vx_index_destroy(idx);
	}
	free(h);
	free(v);
	return 0;
}

/*
 * After removals every live node is still reachable: a full search (ef = k
 * = every live node) finds all of them.  sep 1: seven tight clusters in a
 * row, joined only by a few long links, with exact copies (the repair used
 * to reselect whole lists, dropped those links and left a search in one
 * cluster); sep 0: one cloud, where the repair used to leave a node
 * nothing linked.
 */
static int removals_keep_reachable(float sep, float noise, bool copies)
{
	const u32 dim = 6, n = 3000;
	struct vx_index_hit *h = calloc(n, sizeof(*h));
	float *v = malloc((size_t)n * dim * sizeof(float));
	struct vx_index_stats st;
	struct vx_index_scratch *s;
	struct vx_index *idx;
	u32 i, d, got, round, lost = 0;

	CHECK(h && v);
	for (i = 0; i < n; i++)
		for (d = 0; d < dim; d++)
			v[(size_t)i * dim + d] = (float)(i % 7) * sep +
				(copies && i % 5 == 0 ? 0.0f : urand() * noise);
	idx = new_index(dim, VX_METRIC_L2, 8, 60);
	CHECK(idx);
	CHECK_EQ(fill(idx, v, n, dim), 0);
	CHECK_EQ(link_all(idx), 0);
	s = vx_index_scratch_alloc(idx, n);
	CHECK(s);
	for (round = 0; round < 5; round++) {
		/* remove a random fifth of what is left (nothing at first) */
		for (i = 0; round && i < n; i++)
			if (vx_index_live(idx, i) && urand() < -0.6f)
				CHECK_EQ(vx_index_remove(idx, i), 0);
		CHECK(check_graph(idx) == 0);
		vx_index_get_stats(idx, &st);
		CHECK_EQ(st.live, st.indexed);
		CHECK_EQ(vx_index_search(idx, s, v, (u32)st.live, (u32)st.live, h, &got), 0);
		if (got != st.live)
			fprintf(stderr, "sep %.1f round %u: %u of %llu live nodes reachable\n",
				sep, round, got, (unsigned long long)st.live);
		lost += (u32)st.live - got;
	}
	CHECK_EQ(lost, 0);
	vx_index_scratch_free(s);
	vx_index_destroy(idx);
	free(h);
	free(v);
	return 0;
}

static int test_remove_keeps_reachable(void)
{
	CHECK_EQ(removals_keep_reachable(1.0f, 0.2f, true), 0);
	CHECK_EQ(removals_keep_reachable(1.0f, 0.2f, false), 0);
	CHECK_EQ(removals_keep_reachable(0.0f, 1.0f, false), 0);
	return 0;
}

int main(void)
{
	vt_run("distance kernels vs double reference", test_metrics_reference);
	vt_run("scalar vs SIMD kernels", test_scalar_vs_simd);
	vt_run("exact scan word kernels", test_word_kernels);
	vt_run("exact search vs brute force, with holes", test_exact_vs_brute_force);
	vt_run("bad parameters", test_bad_params);
	vt_run("pending vectors found before linking", test_pending);
	vt_run("HNSW recall on clustered data", test_recall);
	vt_run("HNSW: hundreds of copies of one vector all reachable", test_duplicates_reachable);
	vt_run("concurrent readers", test_concurrent_readers);
	vt_run("persistence round trip", test_persistence);
	vt_run("load drops bad links", test_load_sanitises);
	vt_run("remove (entry point, many) and recall", test_remove);
	vt_run("removals leave every node reachable", test_remove_keeps_reachable);
	vt_run("update and slot reuse", test_update_and_reuse);
	vt_run("unlink_all and relink", test_unlink_all);
	vt_run("dirty tracking", test_dirty);
	vt_run("cosine and inner product", test_other_metrics);
	vt_run("random operations keep the graph sound", test_random_ops);
	vt_run("a hub's overflowing in-links", test_hub);
	if (ridx)
		vx_index_destroy(ridx);
	free(rdata);
	return vt_finish();
}
