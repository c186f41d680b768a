/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AVX2+FMA and AVX-512 distance kernels, chosen at run time by
 * vx_distance.c.  Written with GCC vector extensions and per-function
 * target attributes rather than <immintrin.h>, which the kernel cannot
 * include; the same source builds in userspace.  [FPU].
 *
 * Loads are unaligned (memcpy into a vector), so any float array works;
 * the index's own vectors are 64-byte aligned anyway.
 */
#include "vx_index_impl.h"

typedef float vx_v8 __attribute__((vector_size(32)));
typedef float vx_v16 __attribute__((vector_size(64)));

#define VX_AVX2 __attribute__((target("avx2,fma")))
#define VX_AVX512 __attribute__((target("avx512f,avx2,fma")))

/* memcpy compiles to one unaligned load (and sparse can follow it) */
#define LD8(p)	({ vx_v8 _v; __builtin_memcpy(&_v, (p), sizeof(_v)); _v; })
#define LD16(p)	({ vx_v16 _v; __builtin_memcpy(&_v, (p), sizeof(_v)); _v; })

/* Horizontal sums through a float array (sparse cannot index vectors). */
#define HSUM8(v) ({ \
	float _t[8]; \
	__builtin_memcpy(_t, &(v), sizeof(_t)); \
	((_t[0] + _t[4]) + (_t[1] + _t[5])) + \
	((_t[2] + _t[6]) + (_t[3] + _t[7])); })

/* ---- AVX2 + FMA: four 8-wide accumulators, then 8 at a time ---- */

static inline VX_AVX2 float vx_l2_avx2_one(const float *a, const float *b,
					    u32 dim)
{
	vx_v8 s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 }, d;
	float r, t;
	u32 i = 0;

	for (; i + 32 <= dim; i += 32) {
		d = LD8(a + i) - LD8(b + i);
		s0 += d * d;
		d = LD8(a + i + 8) - LD8(b + i + 8);
		s1 += d * d;
		d = LD8(a + i + 16) - LD8(b + i + 16);
		s2 += d * d;
		d = LD8(a + i + 24) - LD8(b + i + 24);
		s3 += d * d;
	}
	for (; i + 8 <= dim; i += 8) {
		d = LD8(a + i) - LD8(b + i);
		s0 += d * d;
	}
	s0 = (s0 + s1) + (s2 + s3);
	r = HSUM8(s0);
	for (; i < dim; i++) {
		t = a[i] - b[i];
		r += t * t;
	}
	return r;
}

static inline VX_AVX2 float vx_dot_avx2(const float *a, const float *b,
					 u32 dim)
{
	vx_v8 s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
	float r;
	u32 i = 0;

	for (; i + 32 <= dim; i += 32) {
		s0 += LD8(a + i) * LD8(b + i);
		s1 += LD8(a + i + 8) * LD8(b + i + 8);
		s2 += LD8(a + i + 16) * LD8(b + i + 16);
		s3 += LD8(a + i + 24) * LD8(b + i + 24);
	}
	for (; i + 8 <= dim; i += 8)
		s0 += LD8(a + i) * LD8(b + i);
	s0 = (s0 + s1) + (s2 + s3);
	r = HSUM8(s0);
	for (; i < dim; i++)
		r += a[i] * b[i];
	return r;
}

VX_AVX2 float vx_l2_avx2(const float *a, const float *b, u32 dim)
{
	return vx_l2_avx2_one(a, b, dim);
}

VX_AVX2 float vx_ip_avx2(const float *a, const float *b, u32 dim)
{
	return -vx_dot_avx2(a, b, dim);
}

VX_AVX2 float vx_cos_avx2(const float *a, const float *b, u32 dim)
{
	return 1.0f - vx_dot_avx2(a, b, dim);
}

/* ---- AVX-512: two 16-wide accumulators, 16 then 8 at a time ---- */

/* 16 lanes fold to 8 first: one vector add, then HSUM8. */
#define HSUM16(v) ({ \
	vx_v8 _lo, _hi; \
	__builtin_memcpy(&_lo, &(v), sizeof(_lo)); \
	__builtin_memcpy(&_hi, (const char *)&(v) + sizeof(_lo), sizeof(_hi)); \
	_lo += _hi; \
	HSUM8(_lo); })

static inline VX_AVX512 float vx_l2_avx512_one(const float *a,
						const float *b, u32 dim)
{
	vx_v16 s0 = { 0 }, s1 = { 0 }, d;
	vx_v8 e;
	float r, t;
	u32 i = 0;

	for (; i + 32 <= dim; i += 32) {
		d = LD16(a + i) - LD16(b + i);
		s0 += d * d;
		d = LD16(a + i + 16) - LD16(b + i + 16);
		s1 += d * d;
	}
	if (i + 16 <= dim) {
		d = LD16(a + i) - LD16(b + i);
		s0 += d * d;
		i += 16;
	}
	s0 += s1;
	r = HSUM16(s0);
	if (i + 8 <= dim) {
		e = LD8(a + i) - LD8(b + i);
		e *= e;
		r += HSUM8(e);
		i += 8;
	}
	for (; i < dim; i++) {
		t = a[i] - b[i];
		r += t * t;
	}
	return r;
}

static inline VX_AVX512 float vx_dot_avx512(const float *a, const float *b,
					     u32 dim)
{
	vx_v16 s0 = { 0 }, s1 = { 0 };
	vx_v8 e;
	float r;
	u32 i = 0;

	for (; i + 32 <= dim; i += 32) {
		s0 += LD16(a + i) * LD16(b + i);
		s1 += LD16(a + i + 16) * LD16(b + i + 16);
	}
	if (i + 16 <= dim) {
		s0 += LD16(a + i) * LD16(b + i);
		i += 16;
	}
	s0 += s1;
	r = HSUM16(s0);
	if (i + 8 <= dim) {
		e = LD8(a + i) * LD8(b + i);
		r += HSUM8(e);
		i += 8;
	}
	for (; i < dim; i++)
		r += a[i] * b[i];
	return r;
}

VX_AVX512 float vx_l2_avx512(const float *a, const float *b, u32 dim)
{
	return vx_l2_avx512_one(a, b, dim);
}

VX_AVX512 float vx_ip_avx512(const float *a, const float *b, u32 dim)
{
	return -vx_dot_avx512(a, b, dim);
}

VX_AVX512 float vx_cos_avx512(const float *a, const float *b, u32 dim)
{
	return 1.0f - vx_dot_avx512(a, b, dim);
}

/*
 * The distances of a bitmap word's vectors (see vx_dist_word()), with the
 * kernel inlined in the loop: at dim 128 a call per vector costs a fifth
 * of an exact scan.  Inner product and cosine are -dot and 1 - dot.
 */
#define VX_WORD_LOOP(one, fix)						\
	do {								\
		u32 _b;							\
		if (bits == ~0ULL) {					\
			for (_b = 0; _b < 64; _b++)			\
				out[_b] = fix(one(q, (const float *)	\
					(base + _b * stride), dim));	\
			break;						\
		}							\
		while (bits) {						\
			_b = (u32)__builtin_ctzll(bits);		\
			bits &= bits - 1;				\
			out[_b] = fix(one(q, (const float *)		\
				      (base + _b * stride), dim));	\
		}							\
	} while (0)

#define VX_AS_IS(d)	(d)
#define VX_NEG(d)	(-(d))
#define VX_ONE_MINUS(d)	(1.0f - (d))

VX_AVX2 void vx_word_avx2(u32 metric, const float *q, const u8 *base,
			  size_t stride, u64 bits, u32 dim, float *out)
{
	if (metric == VX_METRIC_COSINE)
		VX_WORD_LOOP(vx_dot_avx2, VX_ONE_MINUS);
	else if (metric == VX_METRIC_IP)
		VX_WORD_LOOP(vx_dot_avx2, VX_NEG);
	else
		VX_WORD_LOOP(vx_l2_avx2_one, VX_AS_IS);
}

VX_AVX512 void vx_word_avx512(u32 metric, const float *q, const u8 *base,
			      size_t stride, u64 bits, u32 dim, float *out)
{
	if (metric == VX_METRIC_COSINE)
		VX_WORD_LOOP(vx_dot_avx512, VX_ONE_MINUS);
	else if (metric == VX_METRIC_IP)
		VX_WORD_LOOP(vx_dot_avx512, VX_NEG);
	else
		VX_WORD_LOOP(vx_l2_avx512_one, VX_AS_IS);
}

vx_dist_fn vx_distance_simd_fn(u32 metric, bool avx512)
{
	switch (metric) {
	case VX_METRIC_COSINE:
		return avx512 ? vx_cos_avx512 : vx_cos_avx2;
	case VX_METRIC_IP:
		return avx512 ? vx_ip_avx512 : vx_ip_avx2;
	default:
		return avx512 ? vx_l2_avx512 : vx_l2_avx2;
	}
}
