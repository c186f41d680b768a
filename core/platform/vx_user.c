// SPDX-License-Identifier: GPL-2.0
/* Userspace implementations of the few platform services the core needs. */
#include "../vx_platform.h"

int vx_user_quiet;

static u32 crc32c_table[8][256];
static int crc32c_ready;

static void crc32c_init(void)
{
	for (u32 i = 0; i < 256; i++) {
		u32 c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78U & (0U - (c & 1)));
		crc32c_table[0][i] = c;
	}
	for (u32 i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc32c_table[t][i] = (crc32c_table[t - 1][i] >> 8) ^
				crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
	crc32c_ready = 1;
}

/* Same contract as the kernel's crc32c(): no implicit pre/post inversion. */
u32 vx_crc32c(u32 crc, const void *data, size_t len)
{
	const u8 *p = data;

	if (!crc32c_ready)
		crc32c_init();
	while (len >= 8) {
		u64 v;

		memcpy(&v, p, 8);
		v = le64toh(v) ^ crc;
		crc = crc32c_table[7][v & 0xff] ^
		      crc32c_table[6][(v >> 8) & 0xff] ^
		      crc32c_table[5][(v >> 16) & 0xff] ^
		      crc32c_table[4][(v >> 24) & 0xff] ^
		      crc32c_table[3][(v >> 32) & 0xff] ^
		      crc32c_table[2][(v >> 40) & 0xff] ^
		      crc32c_table[1][(v >> 48) & 0xff] ^
		      crc32c_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
	return crc;
}
