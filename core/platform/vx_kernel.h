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

#endif
