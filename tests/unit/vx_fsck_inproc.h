/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fsck.vexfs built into a unit test: its main becomes fsck_main, and
 * fsck_run() runs it on an image with one mode flag (-n, -y, -p).
 */
#ifndef VX_FSCK_INPROC_H
#define VX_FSCK_INPROC_H

#define main fsck_main
#include "../../tools/fsck.vexfs.c"
#undef main

/*
 * fsck's output goes to out (NUL terminated, truncated to outsz) and, when
 * show, to stderr too if it did not exit 0.
 */
static int fsck_run(const char *img, const char *mode, char *out, size_t outsz,
		    bool show)
{
	char *argv[] = { "fsck.vexfs", (char *)mode, "-f", (char *)img, NULL };
	char tmpl[] = "/tmp/vxfsck-XXXXXX";
	int fd = mkstemp(tmpl), saved, rc;
	ssize_t n = 0;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	optind = 0;
	/* fsck's main frees its fix list without forgetting it: start afresh */
	fixes = NULL;
	nfixes = capfixes = 0;
	rc = fsck_main(4, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	if (out && outsz) {
		lseek(fd, 0, SEEK_SET);
		n = read(fd, out, outsz - 1);
		out[n > 0 ? n : 0] = 0;
	}
	if (rc && show) {
		char buf[4096];

		lseek(fd, 0, SEEK_SET);
		fprintf(stderr, "fsck %s of %s exited %d:\n", mode, img, rc);
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, n, stderr);
	}
	close(fd);
	unlink(tmpl);
	return rc;
}

#endif
