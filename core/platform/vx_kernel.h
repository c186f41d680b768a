/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel side of the core's platform layer. */
#ifndef VX_PLATFORM_KERNEL_H
#define VX_PLATFORM_KERNEL_H

#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/crc32c.h>
#include <linux/bitops.h>
#include <linux/ktime.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <asm/byteorder.h>
#include <asm/fpu/api.h>
#include <asm/cpufeature.h>

#define vx_malloc(n)		kvmalloc(n, GFP_NOFS)
#define vx_zalloc(n)		kvzalloc(n, GFP_NOFS)
#define vx_free(p)		kvfree(p)
#define vx_crc32c(seed, p, n)	crc32c(seed, p, n)
#define vx_cond_resched()	cond_resched()
#define vx_popcount64(x)	hweight64(x)

#ifndef EUCLEAN
#define EUCLEAN 117
#endif

static inline __u64 vx_now_ns(void)
{
	return ktime_get_real_ns();
}

#define vx_log_err(fmt, ...)	pr_err_ratelimited("vexfs: " fmt "\n", ##__VA_ARGS__)
#define vx_log_warn(fmt, ...)	pr_warn_ratelimited("vexfs: " fmt "\n", ##__VA_ARGS__)

/*
 * Unaligned little-endian access through memcpy, which compiles to plain
 * loads and stores: the kernel's own helpers moved from asm/unaligned.h to
 * linux/unaligned.h in 6.12, and this needs neither.
 */
static inline u16 vx_get_unaligned_le16(const void *p)
{
	__le16 v;

	memcpy(&v, p, sizeof(v));
	return le16_to_cpu(v);
}

static inline u64 vx_get_unaligned_le64(const void *p)
{
	__le64 v;

	memcpy(&v, p, sizeof(v));
	return le64_to_cpu(v);
}

static inline void vx_put_unaligned_le16(u16 val, void *p)
{
	__le16 v = cpu_to_le16(val);

	memcpy(p, &v, sizeof(v));
}

static inline void vx_put_unaligned_le64(u64 val, void *p)
{
	__le64 v = cpu_to_le64(val);

	memcpy(p, &v, sizeof(v));
}

/*
 * Float and SIMD code runs only inside these brackets (see vx_index.h).
 * kernel_fpu_begin() disables preemption: long loops call vx_fpu_yield().
 */
static inline void vx_fpu_begin(void)
{
	kernel_fpu_begin();
}

static inline void vx_fpu_end(void)
{
	kernel_fpu_end();
}

static inline void vx_fpu_yield(void)
{
	if (need_resched()) {
		kernel_fpu_end();
		cond_resched();
		kernel_fpu_begin();
	}
}

static inline bool vx_cpu_has_avx2(void)
{
	return boot_cpu_has(X86_FEATURE_AVX2) && boot_cpu_has(X86_FEATURE_FMA) &&
	       cpu_has_xfeatures(XFEATURE_MASK_SSE | XFEATURE_MASK_YMM, NULL);
}

static inline bool vx_cpu_has_avx512(void)
{
	return boot_cpu_has(X86_FEATURE_AVX512F) &&
	       cpu_has_xfeatures(XFEATURE_MASK_SSE | XFEATURE_MASK_YMM |
				 XFEATURE_MASK_AVX512, NULL);
}

#endif
