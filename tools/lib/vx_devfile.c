// SPDX-License-Identifier: GPL-2.0
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include "vx_devfile.h"

struct vx_devfile {
	int fd;
	u32 block_size;
	u64 size;
	long writes;
	long fail_after;	/* -1: never */
};

static int devfile_pread(struct vx_devfile *d, void *buf, size_t len, u64 off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(d->fd, (char *)buf + done, len - done, off + done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			/* Past the end of an image file reads as zeros. */
			memset((char *)buf + done, 0, len - done);
			return 0;
		}
		done += n;
	}
	return 0;
}

static int devfile_pwrite(struct vx_devfile *d, const void *buf, size_t len, u64 off)
{
	size_t done = 0;

	if (d->fail_after >= 0 && d->writes >= d->fail_after)
		return -EIO;
	d->writes++;
	while (done < len) {
		ssize_t n = pwrite(d->fd, (const char *)buf + done, len - done, off + done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += n;
	}
	return 0;
}

static int df_read_block(void *dev, u64 blocknr, void *buf)
{
	struct vx_devfile *d = dev;

	if ((blocknr + 1) * d->block_size > d->size)
		return -EIO;
	return devfile_pread(d, buf, d->block_size, blocknr * d->block_size);
}

static int df_write_block(void *dev, u64 blocknr, const void *buf)
{
	struct vx_devfile *d = dev;

	if ((blocknr + 1) * d->block_size > d->size)
		return -EIO;
	return devfile_pwrite(d, buf, d->block_size, blocknr * d->block_size);
}

static int df_flush(void *dev)
{
	struct vx_devfile *d = dev;

	if (fdatasync(d->fd) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

static int df_read_super(void *dev, u64 off, void *buf, u32 len)
{
	return devfile_pread(dev, buf, len, off);
}

static int df_write_super(void *dev, u64 off, const void *buf, u32 len)
{
	struct vx_devfile *d = dev;
	int err = devfile_pwrite(d, buf, len, off);

	if (err)
		return err;
	return df_flush(dev);
}

static int df_set_block_size(void *dev, u32 block_size)
{
	vx_devfile_set_block_size(dev, block_size);
	return 0;
}

const struct vx_dev_ops vx_devfile_ops = {
	.set_block_size = df_set_block_size,
	.read_block = df_read_block,
	.write_block = df_write_block,
	.flush = df_flush,
	.read_super = df_read_super,
	.write_super = df_write_super,
};

int vx_devfile_open(const char *path, int writable, struct vx_devfile **out)
{
	struct vx_devfile *d;
	struct stat st;
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	d->fd = fd;
	d->block_size = 4096;
	d->fail_after = -1;
	if (S_ISBLK(st.st_mode)) {
		u64 bytes = 0;

		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
			int err = -errno;

			close(fd);
			free(d);
			return err;
		}
		d->size = bytes;
	} else {
		d->size = st.st_size;
	}
	*out = d;
	return 0;
}

void vx_devfile_close(struct vx_devfile *d)
{
	if (!d)
		return;
	close(d->fd);
	free(d);
}

u64 vx_devfile_size(const struct vx_devfile *d)
{
	return d->size;
}

int vx_devfile_fd(const struct vx_devfile *d)
{
	return d->fd;
}

void vx_devfile_set_block_size(struct vx_devfile *d, u32 block_size)
{
	/* also reached through vx_devfile_ops.set_block_size */
	d->block_size = block_size;
}

void vx_devfile_fail_writes_after(struct vx_devfile *d, long n)
{
	d->fail_after = n < 0 ? -1 : d->writes + n;
}

long vx_devfile_write_count(const struct vx_devfile *d)
{
	return d->writes;
}
