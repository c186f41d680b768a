/* SPDX-License-Identifier: GPL-2.0 */
/* A struct vx_dev_ops over a file descriptor: image files and block devices. */
#ifndef VX_DEVFILE_H
#define VX_DEVFILE_H

#include "vx_core.h"

struct vx_devfile;

extern const struct vx_dev_ops vx_devfile_ops;

int vx_devfile_open(const char *path, int writable, struct vx_devfile **out);
void vx_devfile_close(struct vx_devfile *d);
u64 vx_devfile_size(const struct vx_devfile *d);
int vx_devfile_fd(const struct vx_devfile *d);
/* Must be called before block I/O: vx_fs_open does it from the superblock. */
void vx_devfile_set_block_size(struct vx_devfile *d, u32 block_size);
/* Tests: fail (with -EIO) every write after this many more have succeeded. */
void vx_devfile_fail_writes_after(struct vx_devfile *d, long n);
/* Tests: count of block writes so far. */
long vx_devfile_write_count(const struct vx_devfile *d);

#endif
