/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace side of the core's platform layer: just enough of the kernel's
 * vocabulary (fixed-width and little-endian types, errno, allocation) for the
 * core to build unchanged in mkfs, fsck, tests and benchmarks.
 */
#ifndef VX_PLATFORM_USER_H
#define VX_PLATFORM_USER_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <errno.h>
#include <time.h>
#include <endian.h>

#include <linux/types.h>	/* __u8.. __le64, as the uapi header uses */

typedef __u8  u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s64 s64;
typedef __s32 s32;

#define cpu_to_le16(x)	htole16(x)
#define cpu_to_le32(x)	htole32(x)
#define cpu_to_le64(x)	htole64(x)
#define le16_to_cpu(x)	le16toh(x)
#define le32_to_cpu(x)	le32toh(x)
#define le64_to_cpu(x)	le64toh(x)

#ifndef EUCLEAN
#define EUCLEAN 117
#endif

#define vx_malloc(n)		malloc(n)
#define vx_zalloc(n)		calloc(1, n)
#define vx_free(p)		free(p)
#define vx_cond_resched()	do { } while (0)
#define vx_popcount64(x)	__builtin_popcountll(x)

u32 vx_crc32c(u32 seed, const void *data, size_t len);

static inline u64 vx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

extern int vx_user_quiet;
#define vx_log_err(fmt, ...) \
	do { if (!vx_user_quiet) fprintf(stderr, "vexfs: " fmt "\n", ##__VA_ARGS__); } while (0)
#define vx_log_warn(fmt, ...) vx_log_err(fmt, ##__VA_ARGS__)

static inline u16 vx_get_unaligned_le16(const void *p)
{
	u16 v;

	memcpy(&v, p, 2);
	return le16_to_cpu(v);
}

static inline u64 vx_get_unaligned_le64(const void *p)
{
	u64 v;

	memcpy(&v, p, 8);
	return le64_to_cpu(v);
}

static inline void vx_put_unaligned_le16(u16 v, void *p)
{
	v = cpu_to_le16(v);
	memcpy(p, &v, 2);
}

static inline void vx_put_unaligned_le64(u64 v, void *p)
{
	v = cpu_to_le64(v);
	memcpy(p, &v, 8);
}

#ifndef min
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#endif

/* Userspace needs no FPU brackets (see vx_index.h). */
static inline void vx_fpu_begin(void) { }
static inline void vx_fpu_end(void) { }
static inline void vx_fpu_yield(void) { }

static inline bool vx_cpu_has_avx2(void)
{
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static inline bool vx_cpu_has_avx512(void)
{
	return __builtin_cpu_supports("avx512f");
}

#endif
