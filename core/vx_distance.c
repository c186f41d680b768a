/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Distance kernels: the scalar versions and the dispatch that picks the
 * widest SIMD set the CPU has (vx_distance_simd.c).  [FPU]: the kernel
 * builds this file with SSE; callers hold vx_fpu_begin().
 *
 * Every metric is "smaller is nearer": L2 is the squared distance, inner
 * product is -dot and cosine is 1 - dot of vectors normalised beforehand.
 */
#include "vx_index_impl.h"

static bool vx_force_scalar;

/* Four independent sums so the loop is not one long dependency chain. */
float vx_l2_scalar(const float *a, const float *b, u32 dim)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0, d;
	u32 i = 0;

	for (; i + 4 <= dim; i += 4) {
		d = a[i] - b[i];
		s0 += d * d;
		d = a[i + 1] - b[i + 1];
		s1 += d * d;
		d = a[i + 2] - b[i + 2];
		s2 += d * d;
		d = a[i + 3] - b[i + 3];
		s3 += d * d;
	}
	for (; i < dim; i++) {
		d = a[i] - b[i];
		s0 += d * d;
	}
	return (s0 + s1) + (s2 + s3);
}

static float vx_dot_scalar(const float *a, const float *b, u32 dim)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	u32 i = 0;

	for (; i + 4 <= dim; i += 4) {
		s0 += a[i] * b[i];
		s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2];
		s3 += a[i + 3] * b[i + 3];
	}
	for (; i < dim; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

float vx_ip_scalar(const float *a, const float *b, u32 dim)
{
	return -vx_dot_scalar(a, b, dim);
}

float vx_cos_scalar(const float *a, const float *b, u32 dim)
{
	return 1.0f - vx_dot_scalar(a, b, dim);
}

static vx_dist_fn vx_scalar_fn(u32 metric)
{
	switch (metric) {
	case VX_METRIC_COSINE:
		return vx_cos_scalar;
	case VX_METRIC_IP:
		return vx_ip_scalar;
	default:
		return vx_l2_scalar;
	}
}

/* Which kernel set: chosen per call (a feature bit test, cheap). */
u32 vx_distance_kind(u32 metric)
{
	u32 base = metric == VX_METRIC_COSINE ? 2 :
		   metric == VX_METRIC_IP ? 1 : 0;

	if (!vx_force_scalar) {
		if (vx_cpu_has_avx512())
			return VX_DK_AVX512 + base;
		if (vx_cpu_has_avx2())
			return VX_DK_AVX2 + base;
	}
	return VX_DK_SCALAR + base;
}

vx_dist_fn vx_distance_fn(u32 metric)
{
	if (!vx_force_scalar) {
		if (vx_cpu_has_avx512())
			return vx_distance_simd_fn(metric, true);
		if (vx_cpu_has_avx2())
			return vx_distance_simd_fn(metric, false);
	}
	return vx_scalar_fn(metric);
}

float vx_distance(u32 metric, const float *a, const float *b, u32 dim)
{
	return vx_distance_fn(metric)(a, b, dim);
}

const char *vx_distance_impl(void)
{
	if (!vx_force_scalar) {
		if (vx_cpu_has_avx512())
			return "avx512";
		if (vx_cpu_has_avx2())
			return "avx2";
	}
	return "scalar";
}

void vx_distance_force_scalar(bool on)
{
	vx_force_scalar = on;
}
