/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Search a VexFS space through the VECTOR_SEARCH ioctl, as applications do
 * (libvexfs), and report QPS and recall@k of the HNSW search against the
 * kernel's own exact search, at several ef.  Runs inside a VM guest; the
 * same data is searched there by bench/ann/ann_bench (the core in
 * userspace), and the ratio of the two is the kernel's overhead.
 *
 *   ioctl_search DIR SPACE QUERIES.fvecs K EF[,EF...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <vexfs/libvexfs.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* .fvecs: per row an int32 dimension, then that many float32. */
static float *load_fvecs(const char *path, unsigned int *rows, unsigned int *dim)
{
	FILE *f = fopen(path, "rb");
	float *data = NULL;
	unsigned int n = 0, cap = 0;
	int d;

	if (!f)
		return NULL;
	while (fread(&d, 4, 1, f) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			data = realloc(data, (size_t)cap * d * 4);
			if (!data)
				exit(1);
		}
		if (fread(data + (size_t)n * d, 4, d, f) != (size_t)d)
			break;
		*dim = d;
		n++;
	}
	fclose(f);
	*rows = n;
	return data;
}

static int same_hit(const struct vexfs_search_result *a,
		    const struct vexfs_search_result *b)
{
	return a->ino == b->ino && a->offset == b->offset &&
	       a->length == b->length;
}

int main(int argc, char **argv)
{
	struct vexfs_search_result *exact, *res;
	unsigned int nq, dim, k, q, i, j;
	char *efs, *tok;
	uint32_t count;
	float *queries;
	int dirfd, err;

	if (argc != 6) {
		fprintf(stderr, "usage: ioctl_search DIR SPACE QUERIES.fvecs K EF[,EF...]\n");
		return 2;
	}
	dirfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	queries = load_fvecs(argv[3], &nq, &dim);
	k = atoi(argv[4]);
	if (dirfd < 0 || !queries || !k) {
		fprintf(stderr, "ioctl_search: bad directory, queries or k\n");
		return 2;
	}
	exact = calloc((size_t)nq * k, sizeof(*exact));
	res = calloc(k, sizeof(*res));
	double t = now();

	for (q = 0; q < nq; q++) {
		err = vexfs_search(dirfd, argv[2], queries + (size_t)q * dim, dim,
				   k, 0, VEXFS_SEARCH_EXACT, exact + (size_t)q * k,
				   NULL, 0, &count);
		if (err) {
			fprintf(stderr, "exact search: %s\n", vexfs_strerror(err));
			return 1;
		}
	}
	printf("ioctl exact: %.2f ms/query\n", (now() - t) * 1e3 / nq);

	efs = strdup(argv[5]);
	for (tok = strtok(efs, ","); tok; tok = strtok(NULL, ",")) {
		unsigned int ef = atoi(tok), found = 0;

		t = now();
		for (q = 0; q < nq; q++) {
			err = vexfs_search(dirfd, argv[2], queries + (size_t)q * dim,
					   dim, k, ef < k ? k : ef, 0, res, NULL, 0,
					   &count);
			if (err) {
				fprintf(stderr, "search: %s\n", vexfs_strerror(err));
				return 1;
			}
			for (i = 0; i < count; i++)
				for (j = 0; j < k; j++)
					if (same_hit(&res[i], &exact[(size_t)q * k + j])) {
						found++;
						break;
					}
		}
		t = now() - t;
		printf("ioctl ef %4u: recall@%u %.4f, %8.0f QPS, %.1f us/query\n",
		       ef, k, (double)found / ((double)nq * k), nq / t,
		       t * 1e6 / nq);
	}
	return 0;
}
