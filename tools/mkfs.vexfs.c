// SPDX-License-Identifier: GPL-2.0
/*
 * mkfs.vexfs: create a VexFS volume on a block device or an image file.
 *
 *   mkfs.vexfs [-L label] [-U uuid] [-b block-size] [-s size] [-f] [-q] [-n]
 *              DEVICE [SIZE]
 *
 * Refuses to overwrite a device that holds a file system or a partition
 * table that libblkid recognises, or a VexFS volume, unless -f is given.
 * The format itself is written by the core's vx_mkfs(), the same code the
 * kernel module runs.
 */
#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <linux/fs.h>
#ifdef HAVE_BLKID
#include <blkid/blkid.h>
#endif
#include "vx_check.h"

#define VERSION "1.0"
#define WIPE_BYTES (1024ULL * 1024)

static struct {
	const char *label;
	const char *uuid;
	u32 block_size;
	const char *size;
	bool force, quiet, dry_run, verbose;
	bool root_owner_set;
	u32 root_uid, root_gid;
	const char *dev;
} opt = { .block_size = VX_DEFAULT_BLOCK_SIZE };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mkfs.vexfs [options] DEVICE [SIZE]\n"
		"Create a VexFS file system on DEVICE (a block device or an image file).\n\n"
		"Options:\n"
		"  -L, --label LABEL        volume label (up to %d bytes)\n"
		"  -U, --uuid UUID          volume UUID (default: random)\n"
		"  -b, --block-size BYTES   block size: 1024, 2048 or 4096 (default 4096)\n"
		"  -s, --size SIZE          use only SIZE of the device, or create/extend an\n"
		"                           image file to SIZE (also accepted as SIZE operand)\n"
		"  -E root_owner[=UID:GID]  owner of the root directory (default 0:0,\n"
		"                           without a value: the user running mkfs)\n"
		"  -f, --force              overwrite an existing file system or partition table\n"
		"  -n, --dry-run            show what would be done, write nothing\n"
		"  -q, --quiet              print nothing but errors\n"
		"  -V, --version            print the version and exit\n"
		"  -h, --help               this help\n\n"
		"SIZE is a number with an optional suffix K, M, G, T, P (powers of 1024,\n"
		"optionally followed by iB or B); a number without a suffix counts blocks\n"
		"of the chosen block size, as mkfs(8) expects.\n",
		VX_LABEL_LEN - 1);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mkfs.vexfs: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static bool parse_size(const char *s, u32 bs, u64 *bytes)
{
	unsigned long long n;
	char *end;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return false;
	if (!*end) {
		/* no suffix: blocks */
		if (n > ~0ULL / bs)
			return false;
		*bytes = n * bs;
		return true;
	}
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	case 'P': shift = 50; break;
	case 'B':
		if (end[1])
			return false;
		*bytes = n;	/* explicit bytes */
		return true;
	default:
		return false;
	}
	end++;
	if (*end && strcasecmp(end, "iB") && strcasecmp(end, "B"))
		return false;
	if (n > (~0ULL >> shift))
		return false;
	*bytes = (u64)n << shift;
	return true;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool parse_uuid(const char *s, u8 *u)
{
	int i = 0;

	while (*s && i < 32) {
		int h;

		if (*s == '-' && (i == 8 || i == 12 || i == 16 || i == 20)) {
			s++;
			continue;
		}
		h = hexval((unsigned char)*s);
		if (h < 0)
			return false;
		if (i & 1)
			u[i / 2] |= (u8)h;
		else
			u[i / 2] = (u8)(h << 4);
		i++;
		s++;
	}
	return i == 32 && !*s;
}

static void random_uuid(u8 *u)
{
	size_t got = 0;

	while (got < VX_UUID_LEN) {
		ssize_t n = getrandom(u + got, VX_UUID_LEN - got, 0);

		if (n < 0) {
			int fd;

			if (errno == EINTR)
				continue;
			fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
			if (fd < 0 || read(fd, u, VX_UUID_LEN) != VX_UUID_LEN)
				die("cannot get random bytes for the UUID: %s", strerror(errno));
			close(fd);
			got = VX_UUID_LEN;
			break;
		}
		got += (size_t)n;
	}
	u[6] = (u8)((u[6] & 0x0f) | 0x40);	/* version 4 */
	u[8] = (u8)((u[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
}

static bool all_zero(const u8 *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* ---------------------------------------------------------------- probing */

static int pread_full(int fd, void *buf, size_t len, u64 off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			memset((char *)buf + done, 0, len - done);
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, u64 off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/* An existing VexFS superblock in either slot: describe it in what. */
static bool probe_vexfs(int fd, u64 dev_bytes, char *what, size_t n)
{
	int i;

	for (i = 0; i < VX_SB_SLOTS; i++) {
		struct vx_superblock sb;
		char u[40], label[VX_LABEL_LEN + 1];

		if (vk_sb_offsets[i] + sizeof(sb) > dev_bytes ||
		    pread_full(fd, &sb, sizeof(sb), vk_sb_offsets[i]))
			continue;
		if (memcmp(sb.magic, VX_MAGIC, VX_MAGIC_LEN))
			continue;
		memcpy(label, sb.label, VX_LABEL_LEN);
		label[VX_LABEL_LEN] = 0;
		if (label[0])
			snprintf(what, n, "a VexFS file system (label \"%s\", UUID %s)",
				 label, vk_uuid_str(sb.uuid, u));
		else
			snprintf(what, n, "a VexFS file system (UUID %s)", vk_uuid_str(sb.uuid, u));
		return true;
	}
	return false;
}

#ifdef HAVE_BLKID
/* 1: something found (described in what), 0: nothing, -1: probe failed. */
static int probe_blkid(const char *path, char *what, size_t n)
{
	blkid_probe pr = blkid_new_probe_from_filename(path);
	const char *type = NULL, *label = NULL;
	int rc, ret = 0;

	if (!pr)
		return -1;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL |
					  BLKID_SUBLKS_USAGE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	rc = blkid_do_safeprobe(pr);
	if (rc == 0) {
		if (!blkid_probe_lookup_value(pr, "TYPE", &type, NULL)) {
			if (!blkid_probe_lookup_value(pr, "LABEL", &label, NULL) && label && *label)
				snprintf(what, n, "a %s file system (label \"%s\")", type, label);
			else
				snprintf(what, n, "a %s file system", type);
			ret = 1;
		} else if (!blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL)) {
			snprintf(what, n, "a %s partition table", type);
			ret = 1;
		}
	} else if (rc == -2) {
		snprintf(what, n, "signatures of more than one file system");
		ret = 1;
	} else if (rc < 0) {
		ret = -1;
	}
	blkid_free_probe(pr);
	return ret;
}

/* Erase every signature libblkid still finds (like wipefs -a). */
static void wipe_blkid(int fd)
{
	blkid_probe pr = blkid_new_probe();
	int i;

	if (!pr)
		return;
	if (blkid_probe_set_device(pr, fd, 0, 0)) {
		blkid_free_probe(pr);
		return;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	for (i = 0; i < 64 && blkid_do_probe(pr) == 0; i++)
		if (blkid_do_wipe(pr, 0))
			break;
	blkid_free_probe(pr);
}
#else
/* Without libblkid: look for the commonest signatures ourselves. */
static int probe_blkid(const char *path, char *what, size_t n)
{
	static const struct { u64 off; const char *magic; size_t len; const char *name; } sigs[] = {
		{ 1080, "\x53\xef", 2, "an ext2/3/4 file system" },
		{ 65600, "_BHRfS_M", 8, "a btrfs file system" },
		{ 0, "XFSB", 4, "an XFS file system" },
		{ 512, "EFI PART", 8, "a gpt partition table" },
		{ 0, "LUKS\xba\xbe", 6, "a LUKS volume" },
		{ 4086, "SWAPSPACE2", 10, "a swap area" },
		{ 32769, "CD001", 5, "an iso9660 file system" },
		{ 3, "NTFS    ", 8, "an NTFS file system" },
		{ 82, "FAT32   ", 8, "a vfat file system" },
		{ 54, "FAT1", 4, "a vfat file system" },
	};
	u8 buf[16], mbr[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t i;

	if (fd < 0)
		return -1;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (pread_full(fd, buf, sigs[i].len, sigs[i].off))
			continue;
		if (!memcmp(buf, sigs[i].magic, sigs[i].len)) {
			snprintf(what, n, "%s", sigs[i].name);
			close(fd);
			return 1;
		}
	}
	if (!pread_full(fd, mbr, sizeof(mbr), 0) && mbr[510] == 0x55 && mbr[511] == 0xaa) {
		snprintf(what, n, "a dos partition table or boot sector");
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

static void wipe_blkid(int fd)
{
}
#endif

/* ---------------------------------------------------------------- main */

static bool device_busy(const char *path)
{
	int fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);

	if (fd < 0)
		return errno == EBUSY;
	close(fd);
	return false;
}

static int zero_range(int fd, u64 off, u64 len)
{
	static u8 zeros[65536];

	while (len) {
		u64 n = len < sizeof(zeros) ? len : sizeof(zeros);
		int err = pwrite_full(fd, zeros, (size_t)n, off);

		if (err)
			return err;
		off += n;
		len -= n;
	}
	return 0;
}

static void parse_extended(const char *arg)
{
	char *copy = strdup(arg), *tok, *save = NULL;

	if (!copy)
		die("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "root_owner")) {
			opt.root_owner_set = true;
			opt.root_uid = getuid();
			opt.root_gid = getgid();
		} else if (!strncmp(tok, "root_owner=", 11)) {
			unsigned int u, g;
			char extra;

			if (sscanf(tok + 11, "%u:%u%c", &u, &g, &extra) != 2)
				die("bad root_owner value \"%s\" (expected UID:GID)", tok + 11);
			opt.root_owner_set = true;
			opt.root_uid = u;
			opt.root_gid = g;
		} else {
			die("unknown extended option \"%s\"", tok);
		}
	}
	free(copy);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "label", required_argument, NULL, 'L' },
		{ "uuid", required_argument, NULL, 'U' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct vx_mkfs_params p;
	struct vx_devfile *dev = NULL;
	struct stat st;
	char what[256], sz[32], u[40];
	u64 want_bytes = 0, dev_bytes, vol_bytes, min_blocks, first;
	bool created = false, exists, is_blk;
	int c, err, fd;
	char *endp;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "L:U:b:s:E:fnqvVh", lopts, NULL)) != -1) {
		switch (c) {
		case 'L': opt.label = optarg; break;
		case 'U': opt.uuid = optarg; break;
		case 'b':
			errno = 0;
			opt.block_size = (u32)strtoul(optarg, &endp, 10);
			if (errno || *endp || (opt.block_size != 1024 && opt.block_size != 2048 &&
					       opt.block_size != 4096))
				die("invalid block size \"%s\" (use 1024, 2048 or 4096)", optarg);
			break;
		case 's': opt.size = optarg; break;
		case 'E': parse_extended(optarg); break;
		case 'f': opt.force = true; break;
		case 'n': opt.dry_run = true; break;
		case 'q': opt.quiet = true; break;
		case 'v': opt.verbose = true; break;
		case 'V':
			printf("mkfs.vexfs %s (VexFS on-disk format %d)\n", VERSION, VX_FORMAT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		usage(stderr);
		return 1;
	}
	opt.dev = argv[optind];
	if (argc - optind == 2) {
		if (opt.size)
			die("give the size either with -s or as an operand, not both");
		opt.size = argv[optind + 1];
	}
	if (opt.size && !parse_size(opt.size, opt.block_size, &want_bytes))
		die("invalid size \"%s\"", opt.size);
	if (opt.label && strlen(opt.label) > VX_LABEL_LEN - 1)
		die("label \"%s\" is too long (%zu bytes; at most %d)", opt.label,
		    strlen(opt.label), VX_LABEL_LEN - 1);

	memset(&p, 0, sizeof(p));
	p.block_size = opt.block_size;
	if (opt.uuid && strcasecmp(opt.uuid, "random")) {
		if (!parse_uuid(opt.uuid, p.uuid))
			die("invalid UUID \"%s\"", opt.uuid);
		if (all_zero(p.uuid, VX_UUID_LEN))
			die("the nil UUID cannot identify a volume");
	} else {
		random_uuid(p.uuid);
	}
	if (opt.label)
		memcpy(p.label, opt.label, strlen(opt.label));
	p.now_ns = vx_now_ns();
	if (opt.root_owner_set) {
		p.root_uid = opt.root_uid;
		p.root_gid = opt.root_gid;
	}
	vx_user_quiet = opt.quiet;

	/* the device or image file */
	exists = stat(opt.dev, &st) == 0;
	if (!exists && errno != ENOENT)
		die("cannot access %s: %s", opt.dev, strerror(errno));
	if (!exists && !opt.size)
		die("%s does not exist (give a size to create an image file)", opt.dev);
	is_blk = exists && S_ISBLK(st.st_mode);
	if (exists && !is_blk && !S_ISREG(st.st_mode))
		die("%s is neither a block device nor a regular file", opt.dev);
	if (is_blk && device_busy(opt.dev))
		die("%s is in use (mounted or held by another program)", opt.dev);

	if (!exists) {
		dev_bytes = 0;
	} else if (is_blk) {
		fd = open(opt.dev, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, BLKGETSIZE64, &dev_bytes) < 0)
			die("cannot get the size of %s: %s", opt.dev, strerror(errno));
		close(fd);
	} else {
		dev_bytes = (u64)st.st_size;
	}
	if (opt.size) {
		vol_bytes = want_bytes;
		if (is_blk && vol_bytes > dev_bytes) {
			die("%s is only %s (%llu bytes); cannot make a %llu-byte file system",
			    opt.dev, vk_size_str(dev_bytes, sz), (unsigned long long)dev_bytes,
			    (unsigned long long)vol_bytes);
		}
	} else {
		vol_bytes = dev_bytes;
	}
	p.total_blocks = vol_bytes / p.block_size;
	first = VK_FIRST_BLOCK(p.block_size);
	min_blocks = first + 256;
	if (p.total_blocks < min_blocks)
		die("%s: %s is too small: VexFS needs at least %llu bytes (%llu blocks of %u bytes)",
		    opt.dev, vk_size_str(vol_bytes, sz),
		    (unsigned long long)(min_blocks * p.block_size),
		    (unsigned long long)min_blocks, p.block_size);
	if (p.total_blocks > (1ULL << 48))
		die("%s: too large: at most 2^48 blocks", opt.dev);

	/* refuse to destroy something recognisable */
	if (exists && dev_bytes) {
		fd = open(opt.dev, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("cannot open %s: %s", opt.dev, strerror(errno));
		what[0] = 0;
		if (probe_vexfs(fd, dev_bytes, what, sizeof(what)) ||
		    probe_blkid(opt.dev, what, sizeof(what)) > 0) {
			if (!opt.force) {
				close(fd);
				fprintf(stderr,
					"mkfs.vexfs: %s contains %s.\n"
					"mkfs.vexfs: use -f to overwrite it (its contents will be lost)\n",
					opt.dev, what);
				return 1;
			}
			if (!opt.quiet)
				printf("%s contains %s: overwriting it (-f)\n", opt.dev, what);
		}
		close(fd);
	}

	if (opt.dry_run) {
		if (!opt.quiet) {
			printf("Would create a VexFS volume on %s (dry run, nothing written)\n", opt.dev);
			printf("  label:       %s\n", p.label[0] ? p.label : "(none)");
			printf("  UUID:        %s\n", vk_uuid_str(p.uuid, u));
			printf("  block size:  %u\n", p.block_size);
			printf("  blocks:      %llu (%s)\n", (unsigned long long)p.total_blocks,
			       vk_size_str(p.total_blocks * p.block_size, sz));
		}
		return 0;
	}

	if (!exists) {
		fd = open(opt.dev, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			die("cannot create %s: %s", opt.dev, strerror(errno));
		close(fd);
		created = true;
	}
	if (!is_blk && vol_bytes > dev_bytes) {
		if (truncate(opt.dev, (off_t)vol_bytes))
			die("cannot extend %s to %llu bytes: %s", opt.dev,
			    (unsigned long long)vol_bytes, strerror(errno));
	}
	err = vx_devfile_open(opt.dev, 1, &dev);
	if (err)
		die("cannot open %s for writing: %s", opt.dev, strerror(-err));
	fd = vx_devfile_fd(dev);

	/* wipe old signatures: the start and the end of the new volume */
	vol_bytes = p.total_blocks * p.block_size;
	err = zero_range(fd, 0, vol_bytes < WIPE_BYTES ? vol_bytes : WIPE_BYTES);
	if (!err && vol_bytes > WIPE_BYTES)
		err = zero_range(fd, vol_bytes - WIPE_BYTES, WIPE_BYTES);
	if (err)
		die("cannot write to %s: %s", opt.dev, strerror(-err));
	if (!created)
		wipe_blkid(fd);

	err = vx_mkfs(&vx_devfile_ops, dev, &p);
	if (!err && fsync(fd))
		err = -errno;
	if (err) {
		vx_devfile_close(dev);
		die("formatting %s failed: %s", opt.dev, strerror(-err));
	}

	/* read back what was made, through the same code the kernel uses */
	{
		struct vx_fs *fs;
		u64 free_blocks = 0;

		err = vx_fs_open(&fs, &vx_devfile_ops, dev, vx_devfile_size(dev), VX_OPEN_RDONLY);
		if (err) {
			vx_devfile_close(dev);
			die("%s was formatted but cannot be opened again: %s", opt.dev,
			    strerror(-err));
		}
		free_blocks = le64_to_cpu(vx_fs_super(fs)->free_blocks);
		vx_fs_close(fs);
		if (!opt.quiet) {
			printf("Created a VexFS volume on %s\n", opt.dev);
			printf("  label:       %s\n", p.label[0] ? p.label : "(none)");
			printf("  UUID:        %s\n", vk_uuid_str(p.uuid, u));
			printf("  block size:  %u\n", p.block_size);
			printf("  blocks:      %llu (%s)\n", (unsigned long long)p.total_blocks,
			       vk_size_str(p.total_blocks * p.block_size, sz));
			printf("  free blocks: %llu (%s)\n", (unsigned long long)free_blocks,
			       vk_size_str(free_blocks * p.block_size, sz));
		}
	}
	vx_devfile_close(dev);
	return 0;
}
