/* SPDX-License-Identifier: GPL-2.0 */
/* Minimal test harness for the native unit tests of the core. */
#ifndef VX_TEST_H
#define VX_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include "vx_core.h"
#include "vx_devfile.h"

static int vt_failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		vt_failures++; \
		return -1; \
	} } while (0)

#define CHECK_EQ(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) { \
		fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
			__FILE__, __LINE__, #a, #b, _a, _b); \
		vt_failures++; \
		return -1; \
	} } while (0)

static int vt_passed, vt_failed;

static void vt_run(const char *name, int (*fn)(void))
{
	int before = vt_failures;
	int ret = fn();

	if (ret || vt_failures != before) {
		printf("FAIL: %s\n", name);
		vt_failed++;
	} else {
		printf("PASS: %s\n", name);
		vt_passed++;
	}
	fflush(stdout);
}

static int vt_finish(void)
{
	printf("%d passed, %d failed\n", vt_passed, vt_failed);
	return vt_failed ? 1 : 0;
}

/* A fresh image file of `blocks` blocks formatted with the core's mkfs. */
static char *vt_make_image(u64 blocks, u32 bs)
{
	static int seq;
	char *path = malloc(256);
	struct vx_mkfs_params p = { 0 };
	struct vx_devfile *d;
	int fd;

	snprintf(path, 256, "%s/vxtest-%d-%d.img",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", getpid(), seq++);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)(blocks * bs)) < 0) {
		perror(path);
		exit(2);
	}
	close(fd);
	if (vx_devfile_open(path, 1, &d)) {
		perror(path);
		exit(2);
	}
	p.total_blocks = blocks;
	p.block_size = bs;
	for (int i = 0; i < 16; i++)
		p.uuid[i] = (u8)(rand() ^ i);
	snprintf(p.label, sizeof(p.label), "test");
	p.now_ns = 1700000000ULL * 1000000000ULL;
	if (vx_mkfs(&vx_devfile_ops, d, &p)) {
		fprintf(stderr, "mkfs failed\n");
		exit(2);
	}
	vx_devfile_close(d);
	return path;
}

static inline long scale(long n)
{
	const char *s = getenv("VX_TEST_SCALE");

	return s ? n * atol(s) : n;
}

/*
 * Every image made, to remove them all at the end even when a failed CHECK
 * returned before a test's own cleanup.
 */
static char *all_images[512];
static int n_images;

static inline char *new_image(u64 blocks, u32 bs)
{
	char *img = vt_make_image(blocks, bs);

	if (n_images < 512)
		all_images[n_images++] = strdup(img);
	return img;
}

static inline void remove_images(void)
{
	for (int i = 0; i < n_images; i++) {
		unlink(all_images[i]);
		free(all_images[i]);
	}
	n_images = 0;
}

/*
 * A sanitizer report ends the run: with a stack trace, through abort() so
 * the images can still be removed (and the fuzz can save its damaged one).
 */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "print_stacktrace=1:abort_on_error=1";
}

static void (*before_abort)(void);

static inline void on_abort(int sig)
{
	(void)sig;
	if (before_abort)
		before_abort();
	for (int i = 0; i < n_images; i++)
		unlink(all_images[i]);
	_exit(134);
}

static inline void done_image(char *img)
{
	unlink(img);
	free(img);
}

static inline int vt_open(const char *path, struct vx_devfile **d, struct vx_fs **fs)
{
	int err = vx_devfile_open(path, 1, d);

	if (err)
		return err;
	err = vx_fs_open(fs, &vx_devfile_ops, *d, vx_devfile_size(*d), 0);
	if (err)
		vx_devfile_close(*d);
	return err;
}

/* Closes; an operation that outgrew its space reservation fails the test. */
static inline void vt_close(struct vx_devfile *d, struct vx_fs *fs)
{
	if (vx_fs_reserve_overruns(fs)) {
		fprintf(stderr, "%llu operation(s) allocated more than they reserved\n",
			(unsigned long long)vx_fs_reserve_overruns(fs));
		vt_failures++;
	}
	vx_fs_close(fs);
	vx_devfile_close(d);
}

#endif
