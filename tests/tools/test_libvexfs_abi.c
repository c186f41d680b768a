// SPDX-License-Identifier: GPL-2.0
/*
 * The VexFS ioctl ABI is fixed: struct sizes and field offsets checked at
 * compile time, plus a few libvexfs helpers that need no kernel.  Built
 * with -Wall -Werror against include/vexfs/libvexfs.h and the uapi header
 * (tests/tools/test-vexctl.sh), once with plain -I flags and once with
 * pkg-config --cflags --libs libvexfs.  With -DABI_ONLY only the uapi
 * header and the compile-time checks remain, so that -m32 -ffreestanding
 * -fsyntax-only proves the layout is the same on 32-bit ABIs (where __u64
 * is only 4-byte aligned) without 32-bit C library headers.
 */
#ifdef ABI_ONLY
#include <stddef.h>
#include <linux/vexfs.h>
#define static_assert _Static_assert
#else
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vexfs/libvexfs.h>
#endif

#define OFF(t, f, o) static_assert(offsetof(struct t, f) == (o), #t "." #f " at " #o)

static_assert(sizeof(struct vexfs_space_info) == 296, "vexfs_space_info is 296 bytes");
static_assert(sizeof(struct vexfs_manage) == 424, "vexfs_manage is 424 bytes");
static_assert(sizeof(struct vexfs_chunk) == 32, "vexfs_chunk is 32 bytes");
static_assert(sizeof(struct vexfs_embeddings) == 152, "vexfs_embeddings is 152 bytes");
static_assert(sizeof(struct vexfs_search_result) == 48, "vexfs_search_result is 48 bytes");
static_assert(sizeof(struct vexfs_search) == 152, "vexfs_search is 152 bytes");

OFF(vexfs_space_info, space_id, 0);
OFF(vexfs_space_info, dim, 4);
OFF(vexfs_space_info, metric, 12);
OFF(vexfs_space_info, hnsw_ef_search, 24);
OFF(vexfs_space_info, flags, 28);
OFF(vexfs_space_info, name, 32);
OFF(vexfs_space_info, model, 96);
OFF(vexfs_space_info, model_version, 160);
OFF(vexfs_space_info, vector_count, 192);
OFF(vexfs_space_info, indexed_count, 200);
OFF(vexfs_space_info, pending_count, 208);
OFF(vexfs_space_info, index_bytes, 216);
OFF(vexfs_space_info, bytes_per_vector, 224);
OFF(vexfs_space_info, create_time_ns, 232);
OFF(vexfs_space_info, max_level, 240);
OFF(vexfs_space_info, loaded, 244);
OFF(vexfs_space_info, reserved, 248);

OFF(vexfs_manage, size, 0);
OFF(vexfs_manage, op, 4);
OFF(vexfs_manage, flags, 8);
OFF(vexfs_manage, list_count, 12);
OFF(vexfs_manage, name, 16);
OFF(vexfs_manage, list_ptr, 80);
OFF(vexfs_manage, list_filled, 88);
OFF(vexfs_manage, list_total, 92);
OFF(vexfs_manage, space, 96);
OFF(vexfs_manage, reserved, 392);

OFF(vexfs_chunk, offset, 0);
OFF(vexfs_chunk, length, 8);
OFF(vexfs_chunk, data_version, 16);
OFF(vexfs_chunk, flags, 24);
OFF(vexfs_chunk, reserved, 28);

OFF(vexfs_embeddings, size, 0);
OFF(vexfs_embeddings, flags, 4);
OFF(vexfs_embeddings, name, 8);
OFF(vexfs_embeddings, dim, 72);
OFF(vexfs_embeddings, count, 76);
OFF(vexfs_embeddings, chunks_ptr, 80);
OFF(vexfs_embeddings, vectors_ptr, 88);
OFF(vexfs_embeddings, expect_version, 96);
OFF(vexfs_embeddings, filled, 104);
OFF(vexfs_embeddings, total, 108);
OFF(vexfs_embeddings, data_version, 112);
OFF(vexfs_embeddings, after_offset, 120);
OFF(vexfs_embeddings, after_length, 128);
OFF(vexfs_embeddings, reserved, 136);

OFF(vexfs_search_result, ino, 0);
OFF(vexfs_search_result, generation, 8);
OFF(vexfs_search_result, offset, 16);
OFF(vexfs_search_result, length, 24);
OFF(vexfs_search_result, distance, 32);
OFF(vexfs_search_result, flags, 36);
OFF(vexfs_search_result, path_offset, 40);
OFF(vexfs_search_result, path_length, 44);

OFF(vexfs_search, size, 0);
OFF(vexfs_search, flags, 4);
OFF(vexfs_search, name, 8);
OFF(vexfs_search, dim, 72);
OFF(vexfs_search, k, 76);
OFF(vexfs_search, ef, 80);
OFF(vexfs_search, count, 84);
OFF(vexfs_search, query_ptr, 88);
OFF(vexfs_search, results_ptr, 96);
OFF(vexfs_search, paths_ptr, 104);
OFF(vexfs_search, paths_size, 112);
OFF(vexfs_search, reserved0, 116);
OFF(vexfs_search, reserved, 120);

/*
 * struct vexfs_auto was laid out for natural alignment with no implicit
 * padding: every __u64 at a multiple of 8, the size a multiple of 8, and
 * the members adding up to the size.  The same layout then holds where
 * __u64 is 4-byte aligned (i386).
 */
static_assert(sizeof(struct vexfs_auto) == 288, "vexfs_auto is 288 bytes");
OFF(vexfs_auto, size, 0);
OFF(vexfs_auto, op, 4);
OFF(vexfs_auto, flags, 8);
OFF(vexfs_auto, reserved0, 12);
OFF(vexfs_auto, name, 16);
OFF(vexfs_auto, stale, 80);
OFF(vexfs_auto, failed, 88);
OFF(vexfs_auto, in_flight, 96);
OFF(vexfs_auto, embedded, 104);
OFF(vexfs_auto, sidecars, 112);
OFF(vexfs_auto, last_errno, 116);
OFF(vexfs_auto, last_error_ino, 120);
OFF(vexfs_auto, last_error, 128);
OFF(vexfs_auto, reserved, 256);
#define MSZ(t, f) sizeof(((struct t *)0)->f)
static_assert(MSZ(vexfs_auto, size) + MSZ(vexfs_auto, op) + MSZ(vexfs_auto, flags) +
	      MSZ(vexfs_auto, reserved0) + MSZ(vexfs_auto, name) + MSZ(vexfs_auto, stale) +
	      MSZ(vexfs_auto, failed) + MSZ(vexfs_auto, in_flight) +
	      MSZ(vexfs_auto, embedded) + MSZ(vexfs_auto, sidecars) +
	      MSZ(vexfs_auto, last_errno) + MSZ(vexfs_auto, last_error_ino) +
	      MSZ(vexfs_auto, last_error) + MSZ(vexfs_auto, reserved) ==
	      sizeof(struct vexfs_auto), "vexfs_auto has no implicit padding");
static_assert(sizeof(struct vexfs_auto) % 8 == 0, "vexfs_auto ends 8-aligned");
static_assert(VEXFS_AUTO_ERROR_MAX == 128 && VEXFS_AUTO_OFF == 1 && VEXFS_AUTO_INHERITED == 2 &&
	      VEXFS_AUTO_SET == 1 && VEXFS_AUTO_MARK == 5, "VEXFS_AUTO_* values");

/* _IOWR(0xE7, nr, struct): direction 3, size, type, nr */
static_assert(VEXFS_IOC_MANAGE == ((3U << 30) | (424U << 16) | (0xE7 << 8) | 1), "MANAGE number");
static_assert(VEXFS_IOC_EMB_ADD == ((3U << 30) | (152U << 16) | (0xE7 << 8) | 2), "EMB_ADD number");
static_assert(VEXFS_IOC_EMB_GET == ((3U << 30) | (152U << 16) | (0xE7 << 8) | 3), "EMB_GET number");
static_assert(VEXFS_IOC_EMB_UPDATE == ((3U << 30) | (152U << 16) | (0xE7 << 8) | 4), "EMB_UPDATE number");
static_assert(VEXFS_IOC_EMB_DELETE == ((3U << 30) | (152U << 16) | (0xE7 << 8) | 5), "EMB_DELETE number");
static_assert(VEXFS_IOC_SEARCH == ((3U << 30) | (152U << 16) | (0xE7 << 8) | 6), "SEARCH number");
static_assert(VEXFS_IOC_AUTO == ((3U << 30) | (288U << 16) | (0xE7 << 8) | 7), "AUTO number");

#ifndef ABI_ONLY

static int failed;

static void check(int ok, const char *what)
{
	printf("%s: abi: %s\n", ok ? "PASS" : "FAIL", what);
	failed += !ok;
}

/* The automatic-embedding wrappers' own argument checks, off VexFS. */
static void check_auto(void)
{
	struct vexfs_auto a;
	int fd = open("/", O_RDONLY | O_DIRECTORY);

	memset(&a, 0xff, sizeof(a));
	check(vexfs_auto_get(fd, &a) == -ENOTTY, "auto_get off VexFS is -ENOTTY");
	check(vexfs_auto_set(fd, "docs", 1) == -EINVAL, "auto_set with a space and off is -EINVAL");
	check(vexfs_auto_status(fd, NULL, &a) == -EINVAL &&
	      vexfs_auto_status(fd, "", &a) == -EINVAL, "auto_status needs a space name");
	check(vexfs_auto_pending(fd, "0123456789012345678901234567890123456789012345678901234567890123",
				 &a) == -EINVAL, "auto_pending refuses a name of 64 bytes");
	check(vexfs_auto_mark(fd, NULL) == -ENOTTY && vexfs_auto_pending(fd, NULL, NULL) == -ENOTTY,
	      "auto_mark and auto_pending off VexFS are -ENOTTY");
	close(fd);
}

int main(void)
{
	struct vexfs_search_result r = { .ino = 0x100000002ULL, .generation = 7 };
	struct vexfs_space_info *list = NULL;
	unsigned char h[32];
	uint32_t m, f;
	size_t n = 99;
	float one = 1.5f;
	int fd;

	memcpy(&f, &one, 4);
	check(vexfs_distance(f) == 1.5f, "vexfs_distance decodes binary32 bits");
	check(!vexfs_metric_parse("cosine", &m) && m == VEXFS_METRIC_COSINE &&
	      vexfs_metric_parse("manhattan", &m) == -EINVAL, "vexfs_metric_parse");
	check(!strcmp(vexfs_metric_name(VEXFS_METRIC_IP), "ip"), "vexfs_metric_name");
	check(vexfs_space_name_valid("all-MiniLM_v2.1") && !vexfs_space_name_valid(".x") &&
	      !vexfs_space_name_valid("a/b") && !vexfs_space_name_valid("") &&
	      !vexfs_space_name_valid("0123456789012345678901234567890123456789012345678901234567890123"),
	      "vexfs_space_name_valid");
	check(vexfs_emb_batch_max(384) == 43690 && vexfs_emb_batch_max(16) == VEXFS_BATCH_MAX &&
	      vexfs_emb_batch_max(0) == 0, "vexfs_emb_batch_max");
	check(vexfs_result_handle(&r, h, sizeof(h)) == 20 && h[4] == 0x81 && h[0] == 12 &&
	      h[8] == 2 && h[12] == 1 && h[16] == 7, "vexfs_result_handle builds a FILEID_INO64_GEN handle");
	fd = open("/", O_RDONLY | O_DIRECTORY);
	check(vexfs_fd_is_vexfs(fd) == 0, "the root directory is not on VexFS");
	check(vexfs_space_list(fd, &list, &n) == -ENOTTY && !list && !n,
	      "ioctls on another file system answer -ENOTTY");
	check(vexfs_space_create(fd, NULL, NULL) == -EINVAL, "space_create(NULL) is -EINVAL");
	check(vexfs_space_drop(fd, "") == -EINVAL, "space_drop(\"\") is -EINVAL");
	close(fd);
	check(strstr(vexfs_strerror(-ENOTTY), "VexFS") != NULL, "vexfs_strerror explains ENOTTY");
	check_auto();
	printf("libvexfs %s\n", vexfs_version());
	return failed ? 1 : 0;
}
#endif /* !ABI_ONLY */
