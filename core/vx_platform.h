/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place the portable core learns which world it is built for.
 * Core files include this header and nothing else from outside core/.
 */
#ifndef VX_PLATFORM_H
#define VX_PLATFORM_H

#ifdef __KERNEL__
#include "platform/vx_kernel.h"
#else
#include "platform/vx_user.h"
#endif

#define VX_STATIC_ASSERT(expr) _Static_assert(expr, #expr)

#endif /* VX_PLATFORM_H */
