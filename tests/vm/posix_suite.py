#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""VexFS POSIX behaviour suite.  Runs INSIDE a guest booted by scripts/vm-exec.

    scripts/vm-exec --disk 2G --disk 256M -- python3 tests/vm/posix_suite.py
    scripts/vm-exec --kernel 6.12 -- python3 tests/vm/posix_suite.py --quick
    scripts/vm-exec -- python3 tests/vm/posix_suite.py --only rename

It formats DEVICE (default: the first of $VM_DISKS), mounts it at /mnt/vx and
runs many small named cases.  Each prints `PASS: name` or `FAIL: name: reason`
(a case that cannot run prints `SKIP: name: reason`).  After the cases it
unmounts and runs `fsck.vexfs -n DEVICE` (reported as the case `fsck_clean`),
prints `N passed, M failed` and exits 1 if anything failed.

The EXDEV case needs a second disk ($VM_DISKS with two devices, or
--second-device).  --fstype ext4 runs the same cases against ext4, to check
the suite itself (cases that only make sense for vexfs are skipped there).

Python 3 standard library only.  x86_64 syscall numbers for renameat2 and
getdents64.
"""

import argparse
import collections
import ctypes
import errno
import fcntl
import hashlib
import json
import mmap
import os
import random
import shlex
import shutil
import stat
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from suite_lib import (  # noqa: E402
    Fail, Results, Skip, Volume, check, ename, eq, errno_of, expect_errno, mtab_entry, run)

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
SYS_getdents64 = 217
SYS_renameat2 = 316
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20
FS_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
SHUTDOWN_DEFAULT = 0
SHUTDOWN_NOLOGFLUSH = 2
UTIME_OMIT = (1 << 30) - 2
XATTR_CREATE = os.XATTR_CREATE
XATTR_REPLACE = os.XATTR_REPLACE

libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
libc.syncfs.argtypes = [ctypes.c_int]
libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
libc.getxattr.restype = ctypes.c_ssize_t
libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
libc.listxattr.restype = ctypes.c_ssize_t
libc.syscall.restype = ctypes.c_long


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(Timespec), ctypes.c_int]


# ---------------------------------------------------------------- helpers

def oserr(rc):
    """Raise OSError from a -1 libc return."""
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return rc


def renameat2(old, new, flags):
    oserr(libc.syscall(ctypes.c_long(SYS_renameat2), ctypes.c_int(AT_FDCWD), os.fsencode(old),
                       ctypes.c_int(AT_FDCWD), os.fsencode(new), ctypes.c_uint(flags)))


def fallocate(fd, mode, off, length):
    oserr(libc.fallocate(fd, mode, off, length))


def syncfs(fd):
    oserr(libc.syncfs(fd))


def getxattr_raw(path, name, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = oserr(libc.getxattr(os.fsencode(path), name.encode(), buf if size else None, size))
    return buf.raw[:n] if size else n


def listxattr_raw(path, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = oserr(libc.listxattr(os.fsencode(path), buf if size else None, size))
    return buf.raw[:n] if size else n


def utimensat(path, atime, mtime, flags=0):
    """atime/mtime: (sec, nsec) tuples or UTIME_OMIT."""
    ts = (Timespec * 2)()
    for i, t in enumerate((atime, mtime)):
        if t == UTIME_OMIT:
            ts[i].tv_sec, ts[i].tv_nsec = 0, UTIME_OMIT
        else:
            ts[i].tv_sec, ts[i].tv_nsec = t
    oserr(libc.utimensat(AT_FDCWD, os.fsencode(path), ts, flags))


def getdents(fd, bufsize=4096):
    """One getdents64 call: list of (ino, d_off, type, name bytes); [] at the end."""
    buf = ctypes.create_string_buffer(bufsize)
    n = oserr(libc.syscall(ctypes.c_long(SYS_getdents64), ctypes.c_int(fd), buf, ctypes.c_uint(bufsize)))
    out, pos, raw = [], 0, buf.raw
    while pos < n:
        ino, off, reclen, typ = struct.unpack_from("<QqHB", raw, pos)
        name = raw[pos + 19:pos + reclen].split(b"\0", 1)[0]
        out.append((ino, off, typ, name))
        pos += reclen
    return out


def list_dir_getdents(path, bufsize=1024):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        out = []
        while True:
            ents = getdents(fd, bufsize)
            if not ents:
                return out
            out.extend(ents)
    finally:
        os.close(fd)


def write_file(path, data, mode=0o644, sync=False):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def pread_all(fd, size, off):
    out = bytearray()
    while len(out) < size:
        b = os.pread(fd, size - len(out), off + len(out))
        if not b:
            break
        out += b
    return bytes(out)


def digest_sparse(path):
    """Digest of a file's content that only reads its data regions (SEEK_DATA)
    and skips all-zero blocks, so that huge sparse files cost nothing."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        h.update(struct.pack("<Q", size))
        off = 0
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    break
                raise
            hole = os.lseek(fd, d, os.SEEK_HOLE)
            pos = d - d % 4096
            while pos < hole:
                b = os.pread(fd, min(MiB, hole - pos), pos)
                if not b:
                    break
                for i in range(0, len(b), 4096):
                    blk = b[i:i + 4096]
                    if blk.count(0) != len(blk):
                        h.update(struct.pack("<Q", pos + i) + blk)
                pos += len(b)
            off = max(hole, d + 1)
    finally:
        os.close(fd)
    return h.hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def rnd(n, rng=None):
    if rng is None:
        return os.urandom(n)
    return rng.randbytes(n)



def free_blocks(path):
    """Free space in bytes (f_bfree)."""
    s = os.statvfs(path)
    return s.f_bfree * s.f_frsize


def wait_free_at_least(path, want, secs=15.0):
    """Poll (sync + statvfs) until free space >= want; return the last value."""
    deadline = time.time() + secs
    while True:
        os.sync()
        f = free_blocks(path)
        if f >= want or time.time() > deadline:
            return f
        time.sleep(0.5)


# --------------------------------------------------------------- kmsg

class Kmsg:
    """Kernel log lines since construction (via /dev/kmsg; empty if unavailable)."""

    def __init__(self):
        try:
            self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self.fd, 0, os.SEEK_END)
        except OSError:
            self.fd = None

    def read(self):
        out = []
        if self.fd is None:
            return out
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EPIPE:  # overwritten records; keep going
                    continue
                break
            if not rec:
                break
            line = rec.decode(errors="replace").rstrip("\n")
            hdr, _, msg = line.partition(";")
            out.append(msg.split("\n")[0])
        return out

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# ---------------------------------------------------------------- registry

CASES = []


def case(quick=False, vexfs_only=False):
    def deco(fn):
        CASES.append((fn.__name__, fn, quick, vexfs_only))
        return fn
    return deco


class Ctx:
    """What a case gets: the volume, its own fresh directory, options."""

    def __init__(self, vol, name, args, rng):
        self.vol = vol
        self.name = name
        self.args = args
        self.rng = rng
        self.d = os.path.join(vol.mnt, name)
        self.notes = []

    def p(self, *parts):
        return os.path.join(self.d, *parts)

    def cycle(self):
        self.vol.cycle()

    def note(self, s):
        self.notes.append(s)

    @property
    def quick(self):
        return self.args.quick

    def scratch_volume(self):
        """Context manager: a fresh volume on the second disk, mounted at MNT2."""
        import contextlib

        @contextlib.contextmanager
        def cm():
            if not self.args.second_device:
                raise Skip("needs a second disk (two devices in VM_DISKS, or --second-device)")
            v = Volume(self.args.second_device, self.vol.fstype, self.vol.mnt + "2")
            if v.mounted():
                v.umount()
            v.mkfs()
            v.mount()
            try:
                yield v
            finally:
                if v.mounted():
                    v.umount()
        return cm()

    def shutdown(self, fd_path, flag):
        fd = os.open(fd_path, os.O_RDONLY)
        try:
            fcntl.ioctl(fd, FS_IOC_SHUTDOWN, struct.pack("<I", flag))
        finally:
            os.close(fd)


USER_PRELUDE = r"""
import errno, json, os, sys, subprocess
R = {}
def tr(key, fn, *a, **kw):
    try:
        fn(*a, **kw)
        R[key] = "OK"
    except OSError as e:
        R[key] = errno.errorcode.get(e.errno, str(e.errno))
def create(p):
    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
def openw(p):
    os.close(os.open(p, os.O_WRONLY))
def openr(p):
    os.close(os.open(p, os.O_RDONLY))
"""


def as_user(code, uid=1000, gid=1000):
    """Run python code as an unprivileged user; return its dict R."""
    r = run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
             sys.executable, "-c", USER_PRELUDE + code + "\nprint(json.dumps(R))\n"],
            check_rc=False, timeout=120)
    if r.returncode != 0:
        raise Fail(f"user helper exited {r.returncode}: {r.stderr.strip()[-300:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ====================================================================== cases
# ---------------------------------------------------------------- mount

@case(quick=True)
def mount_proc_mounts(t):
    ent = mtab_entry(t.vol.mnt)
    check(ent is not None, f"{t.vol.mnt} not in /proc/mounts")
    eq(ent[1], t.vol.fstype, "fstype in /proc/mounts")
    eq(os.path.realpath(ent[0]), os.path.realpath(t.vol.device), "device in /proc/mounts")
    check("rw" in ent[2], f"not mounted rw: {ent[2]}")
    with open("/proc/filesystems") as f:
        check(any(l.split()[-1] == t.vol.fstype for l in f), "fstype not in /proc/filesystems")
    r = run(["findmnt", "-n", "-o", "FSTYPE", t.vol.mnt])
    eq(r.stdout.strip(), t.vol.fstype, "findmnt FSTYPE")


@case(quick=True)
def df_and_statfs(t):
    r = run(["df", "-T", t.vol.mnt])
    lines = r.stdout.strip().splitlines()
    eq(len(lines), 2, "df -T lines")
    eq(lines[1].split()[1], t.vol.fstype, "df -T type")
    sv = os.statvfs(t.vol.mnt)
    check(sv.f_bsize in (1024, 2048, 4096), f"f_bsize {sv.f_bsize}")
    check(sv.f_frsize in (1024, 2048, 4096), f"f_frsize {sv.f_frsize}")
    dev_size = int(run(["blockdev", "--getsize64", t.vol.device]).stdout)
    check(0 < sv.f_blocks * sv.f_frsize <= dev_size,
          f"f_blocks*f_frsize={sv.f_blocks * sv.f_frsize} vs device {dev_size}")
    check(sv.f_bfree <= sv.f_blocks, "f_bfree > f_blocks")
    check(sv.f_bavail <= sv.f_bfree, "f_bavail > f_bfree")
    check(sv.f_bfree > 0, "no free blocks on a fresh volume")
    eq(sv.f_namemax, 255, "f_namemax")
    # Writing 8 MiB must cost about 8 MiB; deleting it gives it back.
    os.mkdir(t.d)
    os.sync()
    before = free_blocks(t.vol.mnt)
    write_file(t.p("eight"), rnd(8 * MiB), sync=True)
    os.sync()
    after = free_blocks(t.vol.mnt)
    used = before - after
    check(8 * MiB <= used <= 9 * MiB, f"writing 8 MiB changed free space by {used} bytes")
    os.unlink(t.p("eight"))
    back = wait_free_at_least(t.vol.mnt, before - 256 * KiB)
    check(back >= before - 256 * KiB, f"free space after unlink {back} < before {before}")


@case(quick=True)
def remount_ro_rw(t):
    os.mkdir(t.d)
    data = rnd(10000)
    write_file(t.p("a"), data)  # dirty, not synced: remount ro must flush it
    os.mkdir(t.p("sub"))
    # no remount ro while a file is open for writing
    fd = os.open(t.p("w"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        r = run(["mount", "-o", "remount,ro", t.vol.mnt], check_rc=False)
        check(r.returncode != 0, "remount,ro succeeded with a file open for writing")
        check("ro" not in mtab_entry(t.vol.mnt)[2], "volume became ro with a writer")
        os.write(fd, b"still rw")
    finally:
        os.close(fd)
    t.vol.remount("ro")
    ent = mtab_entry(t.vol.mnt)
    check("ro" in ent[2], f"/proc/mounts options after remount,ro: {ent[2]}")
    eq(read_file(t.p("a")), data, "content readable while ro")
    R = errno.EROFS
    expect_errno(R, os.open, t.p("new"), os.O_CREAT | os.O_WRONLY, 0o644)
    expect_errno(R, os.open, t.p("a"), os.O_WRONLY)
    expect_errno(R, os.open, t.p("a"), os.O_RDWR | os.O_TRUNC)
    expect_errno(R, os.mkdir, t.p("d2"))
    expect_errno(R, os.rmdir, t.p("sub"))
    expect_errno(R, os.unlink, t.p("a"))
    expect_errno(R, os.rename, t.p("a"), t.p("b"))
    expect_errno(R, os.link, t.p("a"), t.p("b"))
    expect_errno(R, os.symlink, "a", t.p("s"))
    expect_errno(R, os.chmod, t.p("a"), 0o600)
    expect_errno(R, os.chown, t.p("a"), 1, 1)
    expect_errno(R, os.utime, t.p("a"), (1, 1))
    expect_errno(R, os.truncate, t.p("a"), 0)
    expect_errno(R, os.setxattr, t.p("a"), "user.x", b"1")
    t.vol.remount("rw")
    ent = mtab_entry(t.vol.mnt)
    check("rw" in ent[2], f"/proc/mounts options after remount,rw: {ent[2]}")
    write_file(t.p("new"), b"after rw")
    os.rename(t.p("a"), t.p("b"))
    t.cycle()
    eq(read_file(t.p("b")), data, "content after ro/rw remounts and a cycle")
    eq(read_file(t.p("new")), b"after rw", "file created after remount rw")
    # mount -o ro from scratch
    t.vol.umount()
    t.vol.mount("ro")
    expect_errno(errno.EROFS, os.mkdir, t.p("d3"))
    eq(read_file(t.p("b")), data, "content on a ro mount")
    t.vol.umount()
    t.vol.mount()


@case(quick=True)
def bad_mount_options(t):
    t.vol.umount()
    try:
        for opts in ("bogus", "errors=bogus", "commit=notanumber", "bogus=1,ro"):
            k = Kmsg()
            r = run(["mount", "-t", t.vol.fstype, "-o", opts, t.vol.device, t.vol.mnt], check_rc=False)
            msgs = k.read()
            k.close()
            if r.returncode == 0:
                t.vol.umount()
                raise Fail(f"mount -o {opts} succeeded")
            check(not t.vol.mounted(), f"mounted after failed mount -o {opts}")
            check(r.stderr.strip() != "", f"mount -o {opts}: no error message")
            key = opts.split("=")[0].split(",")[0]
            check(any(key in m for m in msgs) or key in r.stderr,
                  f"mount -o {opts}: neither mount nor the kernel log names '{key}': "
                  f"{r.stderr.strip()} / {msgs[-3:]}")
    finally:
        if not t.vol.mounted():
            t.vol.mount()
    os.mkdir(t.d)
    write_file(t.p("ok"), b"ok")


@case()
def mount_garbage_device(t):
    """Mounting a device that holds zeros or random bytes fails cleanly."""
    os.makedirs("/tmp/vxsuite", exist_ok=True)
    for kind in ("zeros", "random"):
        img = f"/tmp/vxsuite/{kind}.img"
        with open(img, "wb") as f:
            if kind == "zeros":
                f.truncate(32 * MiB)
            else:
                for _ in range(32):
                    f.write(os.urandom(MiB))
        run(["modprobe", "loop"], check_rc=False)
        r = run(["losetup", "-f", "--show", img], check_rc=False)
        if r.returncode != 0:
            raise Skip(f"losetup: {r.stderr.strip()}")
        loop = r.stdout.strip()
        try:
            os.makedirs("/mnt/vx-garbage", exist_ok=True)
            r = run(["mount", "-t", t.vol.fstype, loop, "/mnt/vx-garbage"], check_rc=False)
            if r.returncode == 0:
                run(["umount", "/mnt/vx-garbage"], check_rc=False)
                raise Fail(f"mount of a device full of {kind} succeeded")
            check(r.stderr.strip() != "", "no error message")
        finally:
            run(["losetup", "-d", loop], check_rc=False)
            os.unlink(img)


# ---------------------------------------------------------------- file I/O

@case(quick=True)
def read_write_basic(t):
    os.mkdir(t.d)
    p = t.p("f")
    model = bytearray()
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for n in (1, 7, 4095, 4096, 4097, 1, 65536, 12345, 100000):
            b = rnd(n, t.rng)
            eq(os.write(fd, b), n, "write return")
            model += b
        eq(os.fstat(fd).st_size, len(model), "size after sequential writes")
        os.lseek(fd, 0, os.SEEK_SET)
        eq(pread_all(fd, len(model) + 10, 0), bytes(model), "sequential content")
        # overwrites at odd offsets, crossing block boundaries
        for off, n in ((5000, 10000), (4090, 12), (0, 1), (len(model) - 3, 3), (8191, 2)):
            b = rnd(n, t.rng)
            eq(os.pwrite(fd, b, off), n, "pwrite return")
            model[off:off + n] = b
        eq(pread_all(fd, len(model), 0), bytes(model), "content after overwrites")
        # write past EOF leaves a zero gap
        gap_off = len(model) + 50000
        b = rnd(3000, t.rng)
        os.pwrite(fd, b, gap_off)
        model += bytes(gap_off - len(model)) + b
        eq(os.fstat(fd).st_size, len(model), "size after write past EOF")
        eq(pread_all(fd, len(model), 0), bytes(model), "content with gap")
        # read at and past EOF
        eq(os.pread(fd, 100, len(model)), b"", "read at EOF")
        eq(os.pread(fd, 100, len(model) + 12345), b"", "read past EOF")
        eq(os.pread(fd, 100, len(model) - 10), bytes(model[-10:]), "short read at EOF")
    finally:
        os.close(fd)
    # a second file truncated by O_TRUNC
    write_file(t.p("g"), b"x" * 5000)
    fd = os.open(t.p("g"), os.O_WRONLY | os.O_TRUNC)
    eq(os.fstat(fd).st_size, 0, "size after O_TRUNC")
    os.write(fd, b"y")
    os.close(fd)
    t.cycle()
    eq(read_file(p), bytes(model), "content after umount/mount")
    eq(read_file(t.p("g")), b"y", "O_TRUNC file after umount/mount")


@case(quick=True)
def o_append(t):
    os.mkdir(t.d)
    p = t.p("log")
    fd1 = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    fd2 = os.open(p, os.O_RDWR | os.O_APPEND)
    try:
        os.write(fd1, b"a" * 10)
        os.lseek(fd2, 0, os.SEEK_SET)
        os.write(fd2, b"b" * 5)
        eq(os.lseek(fd2, 0, os.SEEK_CUR), 15, "offset after O_APPEND write")
        os.write(fd1, b"c" * 3)
        eq(pread_all(fd2, 100, 0), b"a" * 10 + b"b" * 5 + b"c" * 3, "O_APPEND content")
    finally:
        os.close(fd1)
        os.close(fd2)
    # concurrent appenders: records never overwrite each other
    p2 = t.p("conc")
    nthreads, nrec, rl = 4, 200, 100
    errs = []

    def appender(i):
        try:
            fd = os.open(p2, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            for j in range(nrec):
                rec = (f"{i}:{j:05d}:".encode() + bytes([65 + i]) * rl)[:rl - 1] + b"\n"
                os.write(fd, rec)
            os.close(fd)
        except Exception as e:  # noqa
            errs.append(e)

    ths = [threading.Thread(target=appender, args=(i,)) for i in range(nthreads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    check(not errs, f"appender errors: {errs}")
    data = read_file(p2)
    eq(len(data), nthreads * nrec * rl, "size after concurrent appends")
    recs = data.split(b"\n")[:-1]
    eq(len(recs), nthreads * nrec, "record count")
    seen = collections.Counter(r.split(b":")[0] + b":" + r.split(b":")[1] for r in recs)
    check(all(v == 1 for v in seen.values()) and len(seen) == nthreads * nrec, "records lost or duplicated")
    t.cycle()
    eq(read_file(p2), data, "appended file after umount/mount")


@case(quick=True)
def mmap_shared_write(t):
    os.mkdir(t.d)
    p = t.p("m")
    size = 3 * 4096 + 100
    model = bytearray(rnd(size, t.rng))
    write_file(p, model)
    fd = os.open(p, os.O_RDWR)
    try:
        m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        eq(m[:], bytes(model), "mapped content")
        for off, n in ((10, 10), (4096 * 2 + 50, 300), (4095, 2), (size - 1, 1)):
            b = rnd(n, t.rng)
            m[off:off + n] = b
            model[off:off + n] = b
        m.flush()
        eq(pread_all(fd, size, 0), bytes(model), "read() after msync")
        b = rnd(100, t.rng)
        os.pwrite(fd, b, 5000)
        model[5000:5100] = b
        eq(m[5000:5100], b, "write() visible through the mapping")
        m.close()
        eq(os.fstat(fd).st_size, size, "size unchanged by mmap writes")
    finally:
        os.close(fd)
    # mmap writes into holes of a sparse file allocate blocks
    p2 = t.p("sparse")
    fd = os.open(p2, os.O_RDWR | os.O_CREAT, 0o644)
    model2 = bytearray(MiB)
    try:
        os.ftruncate(fd, MiB)
        m = mmap.mmap(fd, MiB, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        for off in (0, 300 * 1024, MiB - 4096):
            b = rnd(4096, t.rng)
            m[off:off + 4096] = b
            model2[off:off + 4096] = b
        m.flush()
        m.close()
        os.fsync(fd)
        blocks = os.fstat(fd).st_blocks
        check(24 <= blocks <= 64, f"st_blocks {blocks} after 3 mmap-written pages (want 24..64)")
        eq(pread_all(fd, MiB, 0), bytes(model2), "sparse mmap content via read()")
    finally:
        os.close(fd)
    # writes through a mapping that is never msync'd reach the disk by umount
    p3 = t.p("nosync")
    model3 = bytearray(rnd(8192, t.rng))
    write_file(p3, model3)
    fd = os.open(p3, os.O_RDWR)
    m = mmap.mmap(fd, 8192)
    m[100:200] = b"Z" * 100
    model3[100:200] = b"Z" * 100
    m.close()
    os.close(fd)
    t.cycle()
    eq(read_file(p), bytes(model), "mmap-written file after umount/mount")
    eq(read_file(p2), bytes(model2), "sparse mmap-written file after umount/mount")
    eq(read_file(p3), bytes(model3), "un-msync'd mmap write after umount/mount")


@case(quick=True)
def truncate_grow_shrink(t):
    os.mkdir(t.d)
    p = t.p("t")
    model = bytearray(rnd(20000, t.rng))
    write_file(p, model)

    def settle(n, how):
        nonlocal model
        if how == "path":
            os.truncate(p, n)
        else:
            fd = os.open(p, os.O_RDWR)
            os.ftruncate(fd, n)
            os.close(fd)
        model = model[:n] + bytes(max(0, n - len(model)))
        eq(os.stat(p).st_size, n, f"size after truncate({n})")
        eq(read_file(p), bytes(model), f"content after truncate({n}) via {how}")

    settle(5000, "path")       # shrink mid-block
    settle(30000, "fd")        # grow: 5000.. must be zeros, incl. the rest of block 1
    fd = os.open(p, os.O_RDWR)
    b = rnd(30000, t.rng)
    os.pwrite(fd, b, 0)
    model[:] = b
    os.close(fd)
    settle(4096, "fd")         # shrink to a block boundary
    settle(8192, "path")
    settle(4097, "path")
    settle(1, "fd")
    settle(12288, "fd")
    settle(0, "path")
    os.sync()
    eq(os.stat(p).st_blocks, 0, "st_blocks after truncate to 0")
    settle(100, "path")
    # shrink+grow of data that was already on disk
    b = rnd(3 * 4096, t.rng)
    write_file(p, b, sync=True)
    model = bytearray(b)
    settle(6000, "path")
    os.sync()
    settle(3 * 4096, "fd")
    # huge sparse grow and shrink back
    os.truncate(p, 10 * GiB)
    st = os.stat(p)
    eq(st.st_size, 10 * GiB, "size after truncate to 10 GiB")
    check(st.st_blocks <= 64, f"st_blocks {st.st_blocks} after sparse grow to 10 GiB")
    os.truncate(p, len(model))
    expect_errno(errno.EINVAL, os.truncate, p, -1)
    expect_errno(errno.EISDIR, os.truncate, t.d, 0)
    t.cycle()
    eq(read_file(p), bytes(model), "content after umount/mount")


@case(quick=True)
def sparse_and_seek(t):
    os.mkdir(t.d)
    p = t.p("big_sparse")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"x", GiB - 1)
        os.fsync(fd)
        st = os.fstat(fd)
        eq(st.st_size, GiB, "size of 1 GiB sparse file")
        check(st.st_blocks <= 64, f"st_blocks {st.st_blocks} for a 1 GiB sparse file with one byte")
        eq(os.pread(fd, 4096, 512 * MiB), bytes(4096), "hole reads as zeros")
        eq(os.pread(fd, 2, GiB - 2), b"\0x", "last bytes")
    finally:
        os.close(fd)

    p2 = t.p("holes")
    fd = os.open(p2, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"A" * 4096, 0)
        os.pwrite(fd, b"B" * 4096, MiB)
        os.ftruncate(fd, 2 * MiB)

        def seeks(stage):
            eq(os.lseek(fd, 0, os.SEEK_DATA), 0, f"{stage}: SEEK_DATA from 0")
            eq(os.lseek(fd, 0, os.SEEK_HOLE), 4096, f"{stage}: SEEK_HOLE from 0")
            eq(os.lseek(fd, 100, os.SEEK_HOLE), 4096, f"{stage}: SEEK_HOLE from 100")
            eq(os.lseek(fd, 4096, os.SEEK_DATA), MiB, f"{stage}: SEEK_DATA from 4096")
            eq(os.lseek(fd, 5000, os.SEEK_HOLE), 5000, f"{stage}: SEEK_HOLE inside a hole")
            eq(os.lseek(fd, MiB + 10, os.SEEK_DATA), MiB + 10, f"{stage}: SEEK_DATA inside data")
            eq(os.lseek(fd, MiB, os.SEEK_HOLE), MiB + 4096, f"{stage}: SEEK_HOLE after 2nd extent")
            eq(os.lseek(fd, MiB + 8192, os.SEEK_HOLE), MiB + 8192, f"{stage}: SEEK_HOLE in trailing hole")
            expect_errno(errno.ENXIO, os.lseek, fd, MiB + 4096, os.SEEK_DATA,
                         what=f"{stage}: SEEK_DATA past last data")
            expect_errno(errno.ENXIO, os.lseek, fd, 2 * MiB, os.SEEK_HOLE,
                         what=f"{stage}: SEEK_HOLE at EOF")
            expect_errno(errno.ENXIO, os.lseek, fd, 3 * MiB, os.SEEK_DATA,
                         what=f"{stage}: SEEK_DATA past EOF")

        seeks("dirty page cache")
        os.fsync(fd)
        seeks("after fsync")
    finally:
        os.close(fd)
    t.cycle()
    fd = os.open(p2, os.O_RDONLY)
    try:
        seeks("after umount/mount")
        eq(pread_all(fd, 2 * MiB, 0), b"A" * 4096 + bytes(MiB - 4096) + b"B" * 4096 + bytes(MiB - 4096),
           "content of the holey file")
    finally:
        os.close(fd)
    st = os.stat(p)
    check(st.st_blocks <= 64, f"1 GiB sparse file st_blocks {st.st_blocks} after umount/mount")
    # cp and tar keep sparseness (they use SEEK_DATA / st_blocks)
    run(["cp", "--sparse=always", p, t.p("copy")])
    st = os.stat(t.p("copy"))
    check(st.st_blocks <= 64, "cp of a sparse file is not sparse")
    eq(st.st_size, GiB, "size of the copy")
    fd = os.open(t.p("copy"), os.O_RDONLY)
    eq(os.pread(fd, 2, GiB - 2), b"\0x", "last bytes of the copy")
    eq(os.lseek(fd, 0, os.SEEK_DATA), GiB - 4096, "SEEK_DATA in the copy")
    os.close(fd)
    os.unlink(t.p("copy"))
    os.unlink(p)  # keep persist_whole_volume from hashing 1 GiB of zeros


@case(quick=True)
def fallocate_modes(t):
    os.mkdir(t.d)
    p = t.p("fa")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.posix_fallocate(fd, 0, MiB)
        st = os.fstat(fd)
        eq(st.st_size, MiB, "size after posix_fallocate")
        check(st.st_blocks >= 2048, f"st_blocks {st.st_blocks} after posix_fallocate(1 MiB)")
        eq(pread_all(fd, MiB, 0), bytes(MiB), "posix_fallocate'd range reads as zeros")
        # mode 0 past EOF, leaving a hole between
        fallocate(fd, 0, 2 * MiB, MiB)
        eq(os.fstat(fd).st_size, 3 * MiB, "size after fallocate(mode 0) past EOF")
        eq(pread_all(fd, 3 * MiB, 0), bytes(3 * MiB), "zeros after fallocate")
        # KEEP_SIZE: blocks but no size change
        b0 = os.fstat(fd).st_blocks
        fallocate(fd, FALLOC_FL_KEEP_SIZE, 3 * MiB, MiB)
        st = os.fstat(fd)
        eq(st.st_size, 3 * MiB, "size after KEEP_SIZE")
        check(st.st_blocks >= b0 + 2048, f"st_blocks {b0} -> {st.st_blocks} after KEEP_SIZE 1 MiB")
        # fill with data, then punch
        model = bytearray(rnd(3 * MiB, t.rng))
        os.pwrite(fd, model, 0)
        eq(pread_all(fd, 3 * MiB, 0), bytes(model), "data written over fallocated blocks")
        os.fsync(fd)
        b1 = os.fstat(fd).st_blocks
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MiB + 4096, 64 * KiB)
        model[MiB + 4096:MiB + 4096 + 64 * KiB] = bytes(64 * KiB)
        os.fsync(fd)
        st = os.fstat(fd)
        eq(st.st_size, 3 * MiB, "size after PUNCH_HOLE")
        # 64 KiB = 128 sectors; allow ext4-style extent-tree blocks a little slack
        check(st.st_blocks <= b1 - 128 + 16, f"st_blocks {b1} -> {st.st_blocks} after punching 64 KiB")
        eq(pread_all(fd, 3 * MiB, 0), bytes(model), "content after aligned punch")
        # unaligned punch: partial blocks are zeroed, neighbours intact
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 5000)
        model[100:5100] = bytes(5000)
        eq(pread_all(fd, 3 * MiB, 0), bytes(model), "content after unaligned punch")
        # punch must go with KEEP_SIZE
        expect_errno(errno.EOPNOTSUPP, fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, 4096,
                     what="PUNCH_HOLE without KEEP_SIZE")
        expect_errno(errno.EINVAL, fallocate, fd, 0, 0, 0, what="fallocate len 0")
        # partially written fallocated region keeps reading zeros elsewhere
        fallocate(fd, 0, 3 * MiB, 2 * MiB)
        os.pwrite(fd, b"Q" * 1000, 4 * MiB + 10)
        model += bytes(2 * MiB)
        model[4 * MiB + 10:4 * MiB + 1010] = b"Q" * 1000
        eq(pread_all(fd, len(model), 0), bytes(model), "partially written fallocated extent")
        # ZERO_RANGE: supported (zeros) or EOPNOTSUPP, nothing else
        e = errno_of(fallocate, fd, FALLOC_FL_ZERO_RANGE, 8192, 8192)
        if e is None:
            model[8192:16384] = bytes(8192)
        else:
            check(e == errno.EOPNOTSUPP, f"ZERO_RANGE: expected EOPNOTSUPP, got {ename(e)}")
        eq(pread_all(fd, len(model), 0), bytes(model), "content after ZERO_RANGE")
        if t.vol.is_vexfs:
            for mode, nm in ((FALLOC_FL_COLLAPSE_RANGE, "COLLAPSE_RANGE"),
                             (FALLOC_FL_INSERT_RANGE, "INSERT_RANGE")):
                expect_errno(errno.EOPNOTSUPP, fallocate, fd, mode, 0, 4096, what=nm)
        eq(pread_all(fd, len(model), 0), bytes(model), "content after unsupported modes")
    finally:
        os.close(fd)
    # posix_fallocate on a directory: ENODEV (VFS) ; on a fresh file in a loop
    t.cycle()
    eq(os.stat(p).st_size, len(model), "size after umount/mount")
    eq(read_file(p), bytes(model), "content after umount/mount")


@case()
def large_file_over_4g(t):
    os.mkdir(t.d)
    p = t.p("huge")
    data = rnd(MiB, t.rng)
    cross = rnd(8192, t.rng)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        eq(os.pwrite(fd, data, 5 * GiB), MiB, "pwrite at 5 GiB")
        eq(os.pwrite(fd, cross, 4 * GiB - 4096), 8192, "pwrite across 4 GiB")
        os.fsync(fd)
        st = os.fstat(fd)
        eq(st.st_size, 5 * GiB + MiB, "size")
        check(2048 + 16 <= st.st_blocks <= 2048 + 16 + 64, f"st_blocks {st.st_blocks}")
        eq(pread_all(fd, MiB, 5 * GiB), data, "data at 5 GiB")
        eq(pread_all(fd, 8192, 4 * GiB - 4096), cross, "data across 4 GiB")
        eq(os.pread(fd, 4096, 4 * GiB + 512 * MiB), bytes(4096), "hole at 4.5 GiB")
        eq(os.lseek(fd, 4 * GiB + 4096, os.SEEK_DATA), 5 * GiB, "SEEK_DATA beyond 4 GiB")
    finally:
        os.close(fd)
    t.cycle()
    fd = os.open(p, os.O_RDONLY)
    try:
        eq(os.fstat(fd).st_size, 5 * GiB + MiB, "size after umount/mount")
        eq(pread_all(fd, MiB, 5 * GiB), data, "data at 5 GiB after umount/mount")
        eq(pread_all(fd, 8192, 4 * GiB - 4096), cross, "data across 4 GiB after umount/mount")
    finally:
        os.close(fd)
    os.truncate(p, 4 * GiB + 1)
    fd = os.open(p, os.O_RDONLY)
    eq(pread_all(fd, 8192, 4 * GiB - 4096), cross[:4097], "data after truncate to 4 GiB + 1")
    os.close(fd)
    os.unlink(p)


@case()
def max_file_size(t):
    """1 TiB offsets work; a file at the largest offset the kernel accepts
    reads back after a remount and fsck accepts it; past the maximum: EFBIG.
    Runs on a scratch volume on the second disk: a failure here can leave an
    inode that nothing can read or remove."""
    with t.scratch_volume() as v:
        d = os.path.join(v.mnt, "big")
        os.mkdir(d)
        p = os.path.join(d, "tera")
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            eq(os.pwrite(fd, b"T" * 4096, 1 << 40), 4096, "pwrite at 1 TiB")
            eq(os.fstat(fd).st_size, (1 << 40) + 4096, "size after pwrite at 1 TiB")
            eq(os.pread(fd, 4096, 1 << 40), b"T" * 4096, "read at 1 TiB")
            accepted = None
            for off in ((1 << 44) - 8192, (1 << 50), (1 << 62) - 8192, (1 << 62), (1 << 63) - 8192):
                e = errno_of(os.pwrite, fd, b"E", off)
                if e is None:
                    accepted = off
                    eq(os.pread(fd, 1, off), b"E", f"read back at {off:#x}")
                else:
                    check(e == errno.EFBIG, f"pwrite at {off:#x}: {ename(e)}, want success or EFBIG")
            # offset + length beyond 2^63 - 1: the VFS answers EINVAL (overflow) or EFBIG
            expect_errno((errno.EFBIG, errno.EINVAL), os.pwrite, fd, b"xx", (1 << 63) - 1,
                         what="pwrite at 2^63-1")
            t.note(f"largest accepted offset {accepted:#x}" if accepted else "no offset >= 16 TiB - 8 KiB accepted")
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        v.cycle()
        e = errno_of(os.stat, p)
        check(e is None, f"stat of a file of size {size:#x} after umount/mount: {ename(e)}")
        eq(os.stat(p).st_size, size, "size after umount/mount")
        v.umount()
        r = v.fsck()
        check(r.returncode == 0, f"fsck -n with a file of size {size:#x} exited {r.returncode}: "
              + " | ".join((r.stdout + r.stderr).strip().splitlines()[-3:]))


@case()
def concurrent_writers(t):
    os.mkdir(t.d)
    n, size, chunk = 4, 4 * MiB, 64 * KiB
    datas = [rnd(size, t.rng) for _ in range(n)]
    shared = t.p("shared")
    write_file(shared, bytes(n * size))
    errs = []

    def worker(i):
        try:
            fd = os.open(t.p(f"own{i}"), os.O_WRONLY | os.O_CREAT, 0o644)
            sfd = os.open(shared, os.O_WRONLY)
            for off in range(0, size, chunk):
                os.pwrite(fd, datas[i][off:off + chunk], off)
                os.pwrite(sfd, datas[i][off:off + chunk], i * size + off)
                if off % (MiB) == 0:
                    p = t.p(f"small{i}_{off}")
                    write_file(p, b"s" * 100)
                    os.unlink(p)
            os.close(fd)
            os.close(sfd)
        except Exception as e:  # noqa
            errs.append(repr(e))

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    check(not errs, f"worker errors: {errs}")
    t.cycle()
    for i in range(n):
        eq(read_file(t.p(f"own{i}")), datas[i], f"file own{i}")
    eq(read_file(shared), b"".join(datas), "shared file")
    eq(sorted(os.listdir(t.d)), sorted(["shared"] + [f"own{i}" for i in range(n)]), "directory")


@case(quick=True)
def o_direct_io(t):
    """O_DIRECT reads and writes (aligned buffers) work and agree with buffered I/O."""
    os.mkdir(t.d)
    p = t.p("direct")
    buf = mmap.mmap(-1, 256 * KiB)  # page aligned
    data = rnd(256 * KiB, t.rng)
    buf[:] = data
    try:
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
    except OSError as e:
        raise Fail(f"open O_DIRECT: {ename(e.errno)}")
    try:
        eq(os.pwrite(fd, buf, 0), len(data), "O_DIRECT pwrite")
        eq(os.pwrite(fd, memoryview(buf)[:4096], MiB), 4096, "O_DIRECT pwrite past EOF")
        rb = mmap.mmap(-1, 256 * KiB)
        eq(os.preadv(fd, [rb], 0), 256 * KiB, "O_DIRECT preadv")
        eq(rb[:], data, "O_DIRECT read back")
        rb.close()
        os.fsync(fd)
    finally:
        os.close(fd)
    model = data + bytes(MiB - len(data)) + data[:4096]
    eq(read_file(p), model, "buffered read of O_DIRECT data")
    # buffered write, then O_DIRECT read sees it
    write_file(t.p("buffered"), data)
    fd = os.open(t.p("buffered"), os.O_RDONLY | os.O_DIRECT)
    rb = mmap.mmap(-1, 256 * KiB)
    eq(os.preadv(fd, [rb], 0), 256 * KiB, "O_DIRECT read of dirty page-cache data")
    eq(rb[:], data, "O_DIRECT read of buffered data")
    os.close(fd)
    t.cycle()
    eq(read_file(p), model, "O_DIRECT file after umount/mount")


@case(quick=True)
def copy_range_sendfile(t):
    os.mkdir(t.d)
    src = t.p("src")
    data = rnd(3 * MiB + 123, t.rng)
    write_file(src, data)
    fi = os.open(src, os.O_RDONLY)
    fo = os.open(t.p("cfr"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        done = 0
        while done < len(data):
            n = os.copy_file_range(fi, fo, len(data) - done, done, done)
            check(n > 0, "copy_file_range returned 0 early")
            done += n
    finally:
        os.close(fo)
    fo = os.open(t.p("sendfile"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        off = 0
        while off < len(data):
            n = os.sendfile(fo, fi, off, len(data) - off)
            check(n > 0, "sendfile returned 0 early")
            off += n
    finally:
        os.close(fo)
        os.close(fi)
    # splice through a pipe with the standard tools
    run(["sh", "-c", f"cat {shlex.quote(src)} | cat > {shlex.quote(t.p('pipe'))}"])
    run(["cp", "--reflink=auto", src, t.p("cp")])
    # FICLONE is not supported: EOPNOTSUPP (or EXDEV/EINVAL per VFS rules), never EIO
    fi = os.open(src, os.O_RDONLY)
    fo = os.open(t.p("clone"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        e = errno_of(fcntl.ioctl, fo, 0x40049409, fi)  # FICLONE
        check(e in (None, errno.EOPNOTSUPP), f"FICLONE: {ename(e)}")
    finally:
        os.close(fo)
        os.close(fi)
    t.cycle()
    for n in ("cfr", "sendfile", "pipe", "cp"):
        eq(read_file(t.p(n)), data, f"{n} copy after umount/mount")


@case(quick=True)
def fiemap_extents(t):
    os.mkdir(t.d)
    p = t.p("f")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    for off in (0, MiB, 3 * MiB):
        os.pwrite(fd, rnd(8192, t.rng), off)
    fallocate(fd, FALLOC_FL_KEEP_SIZE, 4 * MiB, 64 * KiB)
    os.fsync(fd)
    os.close(fd)
    r = run(["filefrag", "-v", "-b4096", p])
    exts = [l for l in r.stdout.splitlines() if re_match(r"^\s*\d+:\s+\d+\.\.\s*\d+:", l)]
    logical = [int(l.split(":")[1].split("..")[0]) for l in exts]
    check(set(logical) >= {0, 256, 768, 1024}, f"filefrag logical starts {logical}: {r.stdout[-400:]}")
    unwritten = [l for l in exts if "unwritten" in l]
    check(len(unwritten) == 1 and int(unwritten[0].split(":")[1].split("..")[0]) == 1024,
          f"fallocated extent not reported as unwritten: {exts}")
    check(any("last" in l for l in exts), "no extent flagged last")


def re_match(pat, s):
    import re
    return re.match(pat, s) is not None


@case()
def fragmented_extents(t):
    """A file written every other block, then filled in, overwritten across
    block boundaries, punched and truncated: many extents."""
    os.mkdir(t.d)
    p = t.p("frag")
    nblk = 1024
    model = bytearray()

    def put(fd, off, d):
        os.pwrite(fd, d, off)
        if len(model) < off + len(d):
            model.extend(bytes(off + len(d) - len(model)))
        model[off:off + len(d)] = d

    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for b in range(0, nblk, 2):
            put(fd, b * 4096, rnd(4096, t.rng))
            if b % 64 == 0:
                os.fsync(fd)
        os.fsync(fd)
        for b in range(1, nblk, 2):
            put(fd, b * 4096, rnd(4096, t.rng))
        for off in range(100, nblk * 4096, 300_000):
            put(fd, off, rnd(9000, t.rng))
        eq(pread_all(fd, len(model) + 10, 0), bytes(model), "content")
    finally:
        os.close(fd)
    t.cycle()
    eq(read_file(p), bytes(model), "content after umount/mount")
    fd = os.open(p, os.O_RDWR)
    try:
        for b in range(0, nblk, 4):
            fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, b * 4096, 4096)
            model[b * 4096:(b + 1) * 4096] = bytes(4096)
        os.ftruncate(fd, 600 * 4096 + 77)
        del model[600 * 4096 + 77:]
        eq(pread_all(fd, len(model) + 10, 0), bytes(model), "content after punches and truncate")
    finally:
        os.close(fd)
    t.cycle()
    eq(read_file(p), bytes(model), "content after punches, truncate, umount/mount")


@case(quick=True)
def mmap_private_and_truncate(t):
    os.mkdir(t.d)
    p = t.p("m")
    data = rnd(8192, t.rng)
    write_file(p, data)
    fd = os.open(p, os.O_RDWR)
    try:
        m = mmap.mmap(fd, 8192, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
        m[0:10] = b"P" * 10
        m.flush()
        m.close()
        eq(pread_all(fd, 8192, 0), data, "MAP_PRIVATE write leaked into the file")
        # truncate a mapped file down, then write again through a new mapping
        m = mmap.mmap(fd, 8192)
        os.ftruncate(fd, 4096)
        m.close()
        os.ftruncate(fd, 8192)
        m = mmap.mmap(fd, 8192)
        eq(m[4096:8192], bytes(4096), "region beyond a truncate reads zeros through mmap")
        m[5000:5005] = b"after"
        m.flush()
        m.close()
    finally:
        os.close(fd)
    t.cycle()
    got = read_file(p)
    eq(got[:4096], data[:4096], "first page after umount/mount")
    eq(got[4096:], bytes(904) + b"after" + bytes(8192 - 5005), "second page after umount/mount")


# ---------------------------------------------------------------- directories

@case(quick=True)
def mkdir_rmdir(t):
    os.mkdir(t.d)
    d = t.p("a")
    os.mkdir(d, 0o755)
    st = os.stat(d)
    check(stat.S_ISDIR(st.st_mode), "not a directory")
    eq(st.st_nlink, 2, "nlink of a new directory")
    eq(os.listdir(d), [], "new directory is empty")
    names = sorted(e[3] for e in list_dir_getdents(d))
    eq(names, [b".", b".."], "getdents of a new directory")
    expect_errno(errno.EEXIST, os.mkdir, d)
    write_file(os.path.join(d, "f"), b"1")
    expect_errno(errno.ENOTEMPTY, os.rmdir, d)
    expect_errno(errno.ENOTDIR, os.rmdir, os.path.join(d, "f"))
    expect_errno(errno.EISDIR, os.unlink, d)
    expect_errno(errno.EINVAL, os.rmdir, os.path.join(d, "."))
    expect_errno((errno.ENOTEMPTY, errno.EBUSY), os.rmdir, os.path.join(d, ".."))
    expect_errno(errno.ENOENT, os.rmdir, t.p("missing"))
    expect_errno(errno.ENOENT, os.mkdir, t.p("missing", "x"))
    expect_errno(errno.ENOTDIR, os.mkdir, os.path.join(d, "f", "x"))
    os.unlink(os.path.join(d, "f"))
    os.rmdir(d)
    expect_errno(errno.ENOENT, os.stat, d)
    # deep tree
    deep = t.d
    for i in range(40):
        deep = os.path.join(deep, f"d{i}")
        os.mkdir(deep)
    write_file(os.path.join(deep, "leaf"), b"leaf")
    # rmdir of a directory somebody has as cwd
    os.mkdir(t.p("cwd"))
    old = os.getcwd()
    os.chdir(t.p("cwd"))
    try:
        os.rmdir(t.p("cwd"))
        expect_errno(errno.ENOENT, os.open, "x", os.O_CREAT | os.O_WRONLY, 0o644,
                     what="create in a removed cwd")
        eq(os.listdir("."), [], "listdir of removed cwd")
    finally:
        os.chdir(old)
    t.cycle()
    eq(read_file(os.path.join(deep, "leaf")), b"leaf", "deep file after umount/mount")
    expect_errno(errno.ENOENT, os.stat, d)
    expect_errno(errno.ENOENT, os.stat, t.p("cwd"))


@case(quick=True)
def readdir_many(t):
    os.mkdir(t.d)
    n = 500 if t.quick else 5000
    names = [f"f{i:05d}_" + "x" * (i % 60) for i in range(n)]
    for nm in names:
        os.close(os.open(t.p(nm), os.O_CREAT | os.O_WRONLY, 0o644))

    def verify(expect, stage):
        lst = os.listdir(t.d)
        c = collections.Counter(lst)
        dups = [k for k, v in c.items() if v > 1]
        check(not dups, f"{stage}: duplicated entries {dups[:5]}")
        missing = set(expect) - set(lst)
        extra = set(lst) - set(expect)
        check(not missing and not extra,
              f"{stage}: {len(missing)} missing (e.g. {sorted(missing)[:3]}), "
              f"{len(extra)} unexpected (e.g. {sorted(extra)[:3]})")
        ents = list_dir_getdents(t.d, 700)
        gl = [e[3].decode() for e in ents]
        eq(collections.Counter(gl), collections.Counter(list(expect) + [".", ".."]),
           f"{stage}: getdents with a small buffer")
        offs = [e[1] for e in ents]
        eq(len(set(offs)), len(offs), f"{stage}: d_off values unique")
        for ino, off, typ, name in ents[:50]:
            if name not in (b".", b".."):
                eq(typ, 8, f"{stage}: d_type of {name!r}")
                eq(ino, os.lstat(os.path.join(t.d, name.decode())).st_ino, f"{stage}: d_ino of {name!r}")

    verify(names, "after create")
    t.cycle()
    verify(names, "after umount/mount")
    for i, nm in enumerate(names):
        if i % 2 == 0:
            os.unlink(t.p(nm))
    rest = names[1::2]
    verify(rest, "after deleting half")
    for nm in rest:
        os.unlink(t.p(nm))
    eq(os.listdir(t.d), [], "after deleting all")
    t.cycle()
    eq(os.listdir(t.d), [], "empty after umount/mount")
    os.rmdir(t.d)


@case(quick=True)
def readdir_concurrent_changes(t):
    """Entries that exist throughout a readdir are returned exactly once."""
    os.mkdir(t.d)
    nstable = 300 if t.quick else 1500
    stable = {f"s{i:05d}" for i in range(nstable)}
    for nm in stable:
        os.close(os.open(t.p(nm), os.O_CREAT | os.O_WRONLY, 0o644))
    stop = threading.Event()
    errs = []
    churned = [0]

    def churn():
        k = 0
        try:
            while not stop.is_set():
                os.close(os.open(t.p(f"c{k:07d}"), os.O_CREAT | os.O_WRONLY, 0o644))
                if k >= 40:
                    os.unlink(t.p(f"c{k - 40:07d}"))
                k += 1
                churned[0] = k
        except Exception as e:  # noqa
            errs.append(repr(e))

    th = threading.Thread(target=churn)
    th.start()
    problems = []
    passes = 0
    try:
        deadline = time.time() + 60
        while churned[0] < 20 and time.time() < deadline and not errs:
            time.sleep(0.01)
        # list until enough passes ran while the churn thread made enough changes
        while (passes < (4 if t.quick else 10) or churned[0] < 300) and time.time() < deadline:
            names = [e[3].decode() for e in list_dir_getdents(t.d, 512)]
            c = collections.Counter(names)
            dups = [k for k, v in c.items() if v > 1]
            missing = stable - set(names)
            if dups or missing:
                problems.append(f"pass {passes}: {len(dups)} duplicated (e.g. {dups[:3]}), "
                                f"{len(missing)} stable entries missing (e.g. {sorted(missing)[:3]})")
            passes += 1
    finally:
        stop.set()
        th.join()
    check(not errs, f"churn thread: {errs}")
    check(churned[0] > 50, f"churn thread made only {churned[0]} files: no concurrency")
    t.note(f"{passes} listings during {churned[0]} creates")
    check(not problems, "; ".join(problems[:3]))


@case()
def namespace_stress(t):
    """Threads create, rename, link and unlink in shared directories; the result
    matches what each thread did."""
    os.mkdir(t.d)
    nd = 4
    for i in range(nd):
        os.mkdir(t.p(f"d{i}"))
    nthreads, nops = 4, 400 if not t.quick else 100
    errs = []
    finals = [dict() for _ in range(nthreads)]

    def worker(k):
        rng = random.Random(f"{t.rng.random()}-{k}")
        live = {}  # path -> content
        try:
            for i in range(nops):
                op = rng.random()
                if op < 0.35 or not live:
                    p = t.p(f"d{rng.randrange(nd)}", f"t{k}_{i}")
                    c = f"{k}:{i}".encode() * rng.randrange(1, 50)
                    write_file(p, c)
                    live[p] = c
                elif op < 0.6:
                    a = rng.choice(sorted(live))
                    b = t.p(f"d{rng.randrange(nd)}", f"t{k}_r{i}")
                    os.rename(a, b)
                    live[b] = live.pop(a)
                elif op < 0.7:
                    a = rng.choice(sorted(live))
                    b = t.p(f"d{rng.randrange(nd)}", f"t{k}_l{i}")
                    os.link(a, b)
                    # the two names share data: only unlink-based checks below
                    live[b] = live[a]
                    with open(a, "rb") as fh:
                        check(fh.read() == live[a], "content via link")
                elif op < 0.9:
                    a = rng.choice(sorted(live))
                    os.unlink(a)
                    del live[a]
                else:
                    d = t.p(f"d{rng.randrange(nd)}", f"sub{k}_{i}")
                    os.mkdir(d)
                    os.rename(d, d + "x")
                    os.rmdir(d + "x")
            finals[k] = live
        except Exception as e:  # noqa
            errs.append(f"thread {k}: {e!r}")

    ths = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    check(not errs, "; ".join(errs[:3]))
    want = {}
    for f in finals:
        want.update(f)

    def verify(stage):
        have = {}
        for i in range(nd):
            for n in os.listdir(t.p(f"d{i}")):
                have[t.p(f"d{i}", n)] = read_file(t.p(f"d{i}", n))
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        check(not missing and not extra, f"{stage}: missing {missing[:3]}, unexpected {extra[:3]}")
        bad = [p for p in want if have[p] != want[p]]
        check(not bad, f"{stage}: content differs for {bad[:3]}")
        for i in range(nd):
            eq(os.stat(t.p(f"d{i}")).st_nlink, 2, f"{stage}: nlink of d{i}")

    verify("live")
    t.cycle()
    verify("after umount/mount")


@case()
def readdir_seek_offsets(t):
    """A d_off from getdents stays a valid resume position across changes."""
    os.mkdir(t.d)
    names = [f"e{i:04d}" for i in range(300)]
    for nm in names:
        os.close(os.open(t.p(nm), os.O_CREAT | os.O_WRONLY, 0o644))
    fd = os.open(t.d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ents = []
        while True:
            e = getdents(fd, 600)
            if not e:
                break
            ents.extend(e)
        k = len(ents) // 2
        resume = ents[k][1]
        after = [e[3] for e in ents[k + 1:]]
        os.lseek(fd, resume, os.SEEK_SET)
        again = []
        while True:
            e = getdents(fd, 600)
            if not e:
                break
            again.extend(x[3] for x in e)
        eq(again, after, "entries after seeking to a saved d_off")
        # delete some entries before and after the position, add new ones
        before_names = [e[3].decode() for e in ents[2:k + 1]]
        for nm in before_names[::3]:
            os.unlink(t.p(nm))
        after_names = [x.decode() for x in after]
        gone = set(after_names[::4])
        for nm in gone:
            os.unlink(t.p(nm))
        for i in range(50):
            os.close(os.open(t.p(f"n{i:03d}"), os.O_CREAT | os.O_WRONLY, 0o644))
        os.lseek(fd, resume, os.SEEK_SET)
        got = []
        while True:
            e = getdents(fd, 600)
            if not e:
                break
            got.extend(x[3].decode() for x in e)
        want = [nm for nm in after_names if nm not in gone]
        missing = [nm for nm in want if nm not in got]
        check(not missing, f"{len(missing)} surviving entries after the saved position not returned: {missing[:5]}")
        check(not (set(before_names) & set(got)), "entries before the saved position returned again")
        eq(len(got), len(set(got)), "duplicates after resume")
        # rewinddir
        os.lseek(fd, 0, os.SEEK_SET)
        allnames = set()
        while True:
            e = getdents(fd, 4096)
            if not e:
                break
            allnames.update(x[3].decode() for x in e)
        eq(allnames, set(os.listdir(t.d)) | {".", ".."}, "after rewind")
    finally:
        os.close(fd)


@case(quick=True)
def lookup_names(t):
    os.mkdir(t.d)
    names = ["a", "A", "with space", "new\nline", "tab\tname", "ütf8-✓-日本", ".hidden", "...",
             "-dash", "x" * 255, "é" * 127, "#%&*?[]{}'\"\\", "trailing.", "a.b.c"]
    bnames = [os.fsencode(t.p(n)) for n in names] + [os.fsencode(t.d) + b"/bad\xff\xfeutf8"]
    for i, p in enumerate(bnames):
        write_file(p, f"content {i}".encode())
    for i, p in enumerate(bnames):
        eq(read_file(p), f"content {i}".encode(), f"content of {p[-20:]!r}")
    listed = set(os.listdir(os.fsencode(t.d)))
    eq(listed, {os.path.basename(p) for p in bnames}, "listdir of odd names")
    check(os.stat(t.p("a")).st_ino != os.stat(t.p("A")).st_ino, "'a' and 'A' are the same file")
    expect_errno(errno.ENOENT, os.stat, t.p("nope"))
    expect_errno(errno.ENOENT, os.stat, t.p("aa"))
    expect_errno(errno.ENOENT, os.stat, t.p("x" * 254))
    expect_errno(errno.ENOTDIR, os.stat, t.p("a") + "/")
    expect_errno(errno.ENOTDIR, os.stat, t.p("a", "b"))
    eq(os.stat(t.p(".")).st_ino, os.stat(t.d).st_ino, "'.'")
    eq(os.stat(t.p("..")).st_ino, os.stat(t.vol.mnt).st_ino, "'..'")
    eq(os.stat(os.path.join(t.vol.mnt, "..")).st_ino, os.stat(os.path.dirname(t.vol.mnt)).st_ino,
       "'..' of the mount root")
    eq(os.stat(t.p(".", "A")).st_ino, os.stat(t.p("A")).st_ino, "./A")
    t.cycle()
    eq(set(os.listdir(os.fsencode(t.d))), {os.path.basename(p) for p in bnames}, "listdir after umount/mount")
    for i, p in enumerate(bnames):
        eq(read_file(p), f"content {i}".encode(), f"content of {p[-20:]!r} after umount/mount")


@case(quick=True)
def dir_nlink(t):
    os.mkdir(t.d)
    eq(os.stat(t.d).st_nlink, 2, "new dir")
    for i in range(3):
        os.mkdir(t.p(f"s{i}"))
    write_file(t.p("f"), b"")
    os.symlink("s0", t.p("l"))
    eq(os.stat(t.d).st_nlink, 5, "with 3 subdirs (files and symlinks don't count)")
    os.rmdir(t.p("s1"))
    eq(os.stat(t.d).st_nlink, 4, "after rmdir")
    os.mkdir(t.p("other"))
    eq(os.stat(t.d).st_nlink, 5, "after mkdir other")
    os.rename(t.p("s2"), t.p("other", "s2"))
    eq(os.stat(t.d).st_nlink, 4, "source parent after moving a subdir out")
    eq(os.stat(t.p("other")).st_nlink, 3, "target parent after moving a subdir in")
    os.rename(t.p("f"), t.p("other", "f"))
    eq(os.stat(t.p("other")).st_nlink, 3, "moving a file doesn't change nlink")
    t.cycle()
    eq(os.stat(t.d).st_nlink, 4, "after umount/mount")
    eq(os.stat(t.p("other")).st_nlink, 3, "other after umount/mount")
    eq(os.stat(t.p("s0")).st_nlink, 2, "leaf dir after umount/mount")
    root = t.vol.mnt
    nsub = sum(1 for e in os.scandir(root) if e.is_dir(follow_symlinks=False))
    eq(os.stat(root).st_nlink, 2 + nsub, "mount root nlink")


# ---------------------------------------------------------------- files, links

@case(quick=True)
def create_modes_owner(t):
    os.mkdir(t.d)
    old = os.umask(0)
    try:
        fd = os.open(t.p("f640"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)
        os.close(fd)
        st = os.stat(t.p("f640"))
        eq(st.st_mode, stat.S_IFREG | 0o640, "mode")
        eq((st.st_uid, st.st_gid), (0, 0), "owner")
        eq(st.st_nlink, 1, "nlink")
        eq(st.st_size, 0, "size")
        eq(st.st_blocks, 0, "st_blocks of an empty file")
        expect_errno(errno.EEXIST, os.open, t.p("f640"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        write_file(t.p("keep"), b"keep me")
        fd = os.open(t.p("keep"), os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        eq(read_file(t.p("keep")), b"keep me", "O_CREAT without O_EXCL keeps content")
        os.umask(0o027)
        os.close(os.open(t.p("masked"), os.O_CREAT | os.O_WRONLY, 0o666))
        eq(stat.S_IMODE(os.stat(t.p("masked")).st_mode), 0o640, "umask applied")
        os.mkdir(t.p("dmask"), 0o777)
        eq(stat.S_IMODE(os.stat(t.p("dmask")).st_mode), 0o750, "umask applied to mkdir")
        os.umask(0)
        # setgid directory: group and bit inherited
        os.mkdir(t.p("sgid"))
        os.chown(t.p("sgid"), 0, 1000)
        os.chmod(t.p("sgid"), 0o2775)
        os.close(os.open(t.p("sgid", "f"), os.O_CREAT | os.O_WRONLY, 0o644))
        os.mkdir(t.p("sgid", "sub"))
        eq(os.stat(t.p("sgid", "f")).st_gid, 1000, "gid inherited from setgid dir")
        st = os.stat(t.p("sgid", "sub"))
        eq(st.st_gid, 1000, "subdir gid inherited from setgid dir")
        check(st.st_mode & stat.S_ISGID, "subdir of setgid dir lacks S_ISGID")
    finally:
        os.umask(old)
    t.cycle()
    eq(os.stat(t.p("f640")).st_mode, stat.S_IFREG | 0o640, "mode after umount/mount")
    eq(os.stat(t.p("sgid", "f")).st_gid, 1000, "inherited gid after umount/mount")


@case()
def special_files(t):
    os.mkdir(t.d)
    os.mkfifo(t.p("fifo"), 0o644)
    os.mknod(t.p("chr"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(t.p("blk"), stat.S_IFBLK | 0o600, os.makedev(7, 200))
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(t.p("sock"))
    s.close()

    def verify(stage):
        eq(stat.S_IFMT(os.lstat(t.p("fifo")).st_mode), stat.S_IFIFO, f"{stage}: fifo type")
        st = os.lstat(t.p("chr"))
        eq(stat.S_IFMT(st.st_mode), stat.S_IFCHR, f"{stage}: chr type")
        eq((os.major(st.st_rdev), os.minor(st.st_rdev)), (1, 3), f"{stage}: chr rdev")
        st = os.lstat(t.p("blk"))
        eq(stat.S_IFMT(st.st_mode), stat.S_IFBLK, f"{stage}: blk type")
        eq((os.major(st.st_rdev), os.minor(st.st_rdev)), (7, 200), f"{stage}: blk rdev")
        eq(stat.S_IFMT(os.lstat(t.p("sock")).st_mode), stat.S_IFSOCK, f"{stage}: socket type")
        # the char device is /dev/null: writes vanish, reads are empty
        fd = os.open(t.p("chr"), os.O_RDWR)
        eq(os.write(fd, b"abc"), 3, f"{stage}: write to null node")
        eq(os.read(fd, 10), b"", f"{stage}: read from null node")
        os.close(fd)
        types = {e[3]: e[2] for e in list_dir_getdents(t.d)}
        eq((types[b"fifo"], types[b"chr"], types[b"blk"], types[b"sock"]), (1, 2, 6, 12), f"{stage}: d_type")

    verify("fresh")
    # a fifo works
    r = run(["sh", "-c", f"(echo hello > {shlex.quote(t.p('fifo'))} &) ; cat {shlex.quote(t.p('fifo'))}"], timeout=60)
    eq(r.stdout.strip(), "hello", "data through the fifo")
    t.cycle()
    verify("after umount/mount")


@case(quick=True)
def unlink_open_file(t):
    os.mkdir(t.d)
    p = t.p("victim")
    size = 16 * MiB
    block = rnd(MiB, t.rng)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for i in range(16):
            os.write(fd, block)
        os.fsync(fd)
        os.sync()
        base = free_blocks(t.vol.mnt)
        os.unlink(p)
        expect_errno(errno.ENOENT, os.stat, p)
        check("victim" not in os.listdir(t.d), "unlinked name still listed")
        eq(os.fstat(fd).st_nlink, 0, "nlink of the open unlinked file")
        eq(pread_all(fd, MiB, 5 * MiB), block, "read after unlink")
        os.pwrite(fd, b"still writable", 0)
        os.fsync(fd)
        eq(os.pread(fd, 14, 0), b"still writable", "write after unlink")
        os.ftruncate(fd, size + 4096)
        eq(os.fstat(fd).st_size, size + 4096, "ftruncate after unlink")
        os.sync()
        mid = free_blocks(t.vol.mnt)
        check(mid < base + size // 2, f"space released while the file is still open ({base} -> {mid})")
        # a new file can take the name
        write_file(p, b"new")
        eq(pread_all(fd, 14, 0), b"still writable", "old inode after the name was reused")
    finally:
        os.close(fd)
    got = wait_free_at_least(t.vol.mnt, base + size - 512 * KiB)
    check(got >= base + size - 512 * KiB,
          f"space not reclaimed after close: free {base} -> {got} (want +{size})")
    eq(read_file(p), b"new", "new file with the reused name")
    t.cycle()
    eq(read_file(p), b"new", "after umount/mount")
    got = free_blocks(t.vol.mnt)
    check(got >= base + size - 512 * KiB, f"free space after umount/mount {got} < {base + size}")


@case(quick=True)
def hard_links(t):
    os.mkdir(t.d)
    os.mkdir(t.p("other"))
    f = t.p("f")
    write_file(f, b"one")
    ino = os.stat(f).st_ino
    c0 = os.stat(f).st_ctime_ns
    time.sleep(0.05)
    os.link(f, t.p("g"))
    eq(os.stat(f).st_nlink, 2, "nlink after link")
    eq(os.stat(t.p("g")).st_ino, ino, "same inode")
    check(os.stat(f).st_ctime_ns > c0, "link did not update ctime")
    with open(t.p("g"), "r+b") as fh:
        fh.write(b"TWO")
    eq(read_file(f), b"TWO", "write through the other name")
    os.link(f, t.p("other", "h"))
    eq(os.stat(f).st_nlink, 3, "nlink with a link in another dir")
    expect_errno(errno.EEXIST, os.link, f, t.p("g"))
    expect_errno(errno.ENOENT, os.link, t.p("missing"), t.p("x"))
    expect_errno(errno.EPERM, os.link, t.p("other"), t.p("dirlink"))
    os.unlink(f)
    eq(os.stat(t.p("g")).st_nlink, 2, "nlink after unlinking one name")
    for i in range(100):
        os.link(t.p("g"), t.p(f"many{i}"))
    eq(os.stat(t.p("g")).st_nlink, 102, "nlink with 100 more links")
    t.cycle()
    eq(os.stat(t.p("g")).st_nlink, 102, "nlink after umount/mount")
    eq(read_file(t.p("other", "h")), b"TWO", "content after umount/mount")
    for i in range(100):
        os.unlink(t.p(f"many{i}"))
    eq(os.stat(t.p("g")).st_nlink, 2, "nlink after removing 100 links")
    os.unlink(t.p("g"))
    eq(os.stat(t.p("other", "h")).st_nlink, 1, "last link")
    t.cycle()
    eq(os.stat(t.p("other", "h")).st_nlink, 1, "last link after umount/mount")
    eq(os.stat(t.p("other", "h")).st_ino, ino, "same inode after umount/mount")


@case(quick=True)
def symlinks(t):
    os.mkdir(t.d)
    content = b"target content"
    write_file(t.p("tf"), content)
    os.mkdir(t.p("sub"))
    write_file(t.p("sub", "inner"), b"inner")
    links = {
        "short": "tf",
        "dirlink": "sub",
        "dangling": "does-not-exist",
        "abs": t.p("tf"),
        "long4000": "./" * 1999 + "tf",
        "max4095": "./" * 2046 + "tfx",  # dangling, exactly 4095 bytes (PATH_MAX - 1)
    }
    eq(len(links["long4000"]), 4000, "test setup")
    eq(len(links["max4095"]), 4095, "test setup")
    for n, tgt in links.items():
        os.symlink(tgt, t.p(n))

    def verify(stage):
        for n, tgt in links.items():
            eq(os.readlink(t.p(n)), tgt, f"{stage}: readlink {n} ({len(tgt)} bytes)")
            st = os.lstat(t.p(n))
            check(stat.S_ISLNK(st.st_mode), f"{stage}: {n} not a symlink")
            eq(st.st_size, len(tgt.encode()), f"{stage}: st_size of symlink {n}")
            eq(stat.S_IMODE(st.st_mode), 0o777, f"{stage}: mode of symlink {n}")
        eq(read_file(t.p("short")), content, f"{stage}: follow short")
        eq(read_file(t.p("abs")), content, f"{stage}: follow absolute")
        eq(read_file(t.p("long4000")), content, f"{stage}: follow 4000-byte symlink")
        eq(read_file(t.p("dirlink", "inner")), b"inner", f"{stage}: through dir symlink")
        eq(os.listdir(t.p("dirlink")), ["inner"], f"{stage}: listdir through dir symlink")
        expect_errno(errno.ENOENT, os.stat, t.p("dangling"))
        expect_errno(errno.ENOENT, os.stat, t.p("max4095"))

    verify("fresh")
    expect_errno(errno.EEXIST, os.symlink, "x", t.p("short"))
    expect_errno(errno.ENAMETOOLONG, os.symlink, "y" * 4096, t.p("toolong"))
    os.symlink("loop2", t.p("loop1"))
    os.symlink("loop1", t.p("loop2"))
    expect_errno(errno.ELOOP, os.open, t.p("loop1"), os.O_RDONLY)
    expect_errno(errno.ELOOP, os.open, t.p("short"), os.O_RDONLY | os.O_NOFOLLOW)
    # writing through a symlink writes the target
    with open(t.p("short"), "ab") as fh:
        fh.write(b"+")
    eq(read_file(t.p("tf")), b"target content+", "append through symlink")
    content = b"target content+"
    # a symlink to a symlink
    os.symlink("short", t.p("chain"))
    eq(read_file(t.p("chain")), b"target content+", "chained symlink")
    t.cycle()
    verify("after umount/mount")
    for n in links:
        os.unlink(t.p(n))
    eq(read_file(t.p("tf")), b"target content+", "target survives unlinking its symlinks")


@case()
def o_tmpfile(t):
    """O_TMPFILE works (and linkat makes it visible) or answers EOPNOTSUPP."""
    os.mkdir(t.d)
    try:
        fd = os.open(t.d, os.O_TMPFILE | os.O_RDWR, 0o600)
    except OSError as e:
        check(e.errno == errno.EOPNOTSUPP, f"O_TMPFILE: {ename(e.errno)}, want success or EOPNOTSUPP")
        t.note("O_TMPFILE not supported (EOPNOTSUPP)")
        return
    try:
        data = rnd(20000, t.rng)
        os.write(fd, data)
        eq(os.listdir(t.d), [], "O_TMPFILE file is invisible")
        eq(os.fstat(fd).st_nlink, 0, "nlink of an O_TMPFILE file")
        AT_SYMLINK_FOLLOW = 0x400
        oserr(libc.linkat(AT_FDCWD, f"/proc/self/fd/{fd}".encode(), AT_FDCWD, t.p("linked").encode(),
                          AT_SYMLINK_FOLLOW))
        eq(os.fstat(fd).st_nlink, 1, "nlink after linkat")
    finally:
        os.close(fd)
    fd = os.open(t.d, os.O_TMPFILE | os.O_RDWR, 0o600)
    os.write(fd, rnd(MiB))
    os.close(fd)  # never linked: must vanish
    t.cycle()
    eq(os.listdir(t.d), ["linked"], "directory after umount/mount")
    eq(read_file(t.p("linked")), data, "linked O_TMPFILE content after umount/mount")


@case()
def remount_options(t):
    if not t.vol.is_vexfs:
        raise Skip("vexfs mount options")
    os.mkdir(t.d)
    t.vol.remount("commit=30")
    ent = mtab_entry(t.vol.mnt)
    check("commit=30" in ent[2], f"commit=30 not shown in /proc/mounts: {ent[2]}")
    r = run(["mount", "-o", "remount,commit=bogus", t.vol.mnt], check_rc=False)
    check(r.returncode != 0, "remount with a bad value succeeded")
    check("commit=30" in mtab_entry(t.vol.mnt)[2], "a failed remount changed the options")
    write_file(t.p("f"), b"x", sync=True)
    t.vol.umount()
    t.vol.mount()
    check("commit=30" not in mtab_entry(t.vol.mnt)[2], "commit=30 survived a fresh mount")


# ---------------------------------------------------------------- rename

@case(quick=True)
def rename_simple(t):
    os.mkdir(t.d)
    write_file(t.p("a"), b"A")
    ino = os.stat(t.p("a")).st_ino
    os.rename(t.p("a"), t.p("b"))
    expect_errno(errno.ENOENT, os.stat, t.p("a"))
    eq(os.stat(t.p("b")).st_ino, ino, "inode kept")
    eq(read_file(t.p("b")), b"A", "content")
    eq(sorted(os.listdir(t.d)), ["b"], "listing")
    os.rename(t.p("b"), t.p("b"))  # to itself: no-op
    eq(read_file(t.p("b")), b"A", "rename to itself")
    os.link(t.p("b"), t.p("b2"))
    os.rename(t.p("b"), t.p("b2"))  # hard links of one inode: no-op, both stay
    eq(sorted(os.listdir(t.d)), ["b", "b2"], "rename between links of one inode")
    os.unlink(t.p("b2"))
    expect_errno(errno.ENOENT, os.rename, t.p("missing"), t.p("x"))
    expect_errno(errno.ENOENT, os.rename, t.p("b"), t.p("nodir", "x"))
    # long names
    os.rename(t.p("b"), t.p("n" * 255))
    t.cycle()
    eq(read_file(t.p("n" * 255)), b"A", "after umount/mount")
    eq(os.listdir(t.d), ["n" * 255], "listing after umount/mount")


@case(quick=True)
def rename_over_existing_file(t):
    os.mkdir(t.d)
    write_file(t.p("a"), b"AAAA")
    write_file(t.p("b"), b"BB")
    os.link(t.p("b"), t.p("b_link"))
    ia = os.stat(t.p("a")).st_ino
    fd = os.open(t.p("b"), os.O_RDONLY)
    try:
        os.rename(t.p("a"), t.p("b"))
        eq(os.stat(t.p("b")).st_ino, ia, "target now the source inode")
        eq(read_file(t.p("b")), b"AAAA", "target content")
        expect_errno(errno.ENOENT, os.stat, t.p("a"))
        eq(os.stat(t.p("b_link")).st_nlink, 1, "nlink of the replaced inode")
        eq(os.pread(fd, 10, 0), b"BB", "open fd of the replaced file still reads it")
    finally:
        os.close(fd)
    # replace a file with no other link, the atomic-update pattern
    for i in range(20):
        write_file(t.p("cfg.tmp"), f"version {i}".encode(), sync=True)
        os.rename(t.p("cfg.tmp"), t.p("cfg"))
    eq(read_file(t.p("cfg")), b"version 19", "atomic replace")
    t.cycle()
    eq(read_file(t.p("b")), b"AAAA", "after umount/mount")
    eq(read_file(t.p("b_link")), b"BB", "old target via its other link after umount/mount")
    eq(read_file(t.p("cfg")), b"version 19", "atomic replace after umount/mount")
    eq(sorted(os.listdir(t.d)), ["b", "b_link", "cfg"], "listing after umount/mount")


@case(quick=True)
def rename_across_dirs(t):
    os.mkdir(t.d)
    d1, d2 = t.p("d1"), t.p("d2")
    os.mkdir(d1)
    os.mkdir(d2)
    write_file(os.path.join(d1, "f"), b"F")
    os.mkdir(os.path.join(d1, "sub"))
    write_file(os.path.join(d1, "sub", "x"), b"X")
    os.rename(os.path.join(d1, "f"), os.path.join(d2, "f"))
    os.rename(os.path.join(d1, "sub"), os.path.join(d2, "sub"))

    def verify(stage):
        eq(read_file(os.path.join(d2, "f")), b"F", f"{stage}: moved file")
        eq(read_file(os.path.join(d2, "sub", "x")), b"X", f"{stage}: file in moved dir")
        eq(os.listdir(d1), [], f"{stage}: source dir empty")
        eq(os.stat(d1).st_nlink, 2, f"{stage}: source parent nlink")
        eq(os.stat(d2).st_nlink, 3, f"{stage}: target parent nlink")
        eq(os.stat(os.path.join(d2, "sub", "..")).st_ino, os.stat(d2).st_ino,
           f"{stage}: '..' of moved dir is its new parent")
        ents = {e[3]: e[0] for e in list_dir_getdents(os.path.join(d2, "sub"))}
        eq(ents[b".."], os.stat(d2).st_ino, f"{stage}: getdents '..' of moved dir")

    verify("fresh")
    t.cycle()
    verify("after umount/mount")
    # move a directory deeper and back up
    os.mkdir(os.path.join(d1, "deep"))
    os.rename(os.path.join(d2, "sub"), os.path.join(d1, "deep", "sub"))
    eq(os.stat(os.path.join(d1, "deep", "sub", "..")).st_ino, os.stat(os.path.join(d1, "deep")).st_ino,
       "'..' after a second move")
    expect_errno(errno.EINVAL, os.rename, d1, os.path.join(d1, "deep", "inside"),
                 what="rename a directory into its own subdirectory")
    t.cycle()
    eq(os.stat(os.path.join(d1, "deep", "sub", "..")).st_ino, os.stat(os.path.join(d1, "deep")).st_ino,
       "'..' after a second move and umount/mount")
    eq(os.stat(d2).st_nlink, 2, "d2 nlink after the subdir left")


@case(quick=True)
def rename_dir_over_dir(t):
    os.mkdir(t.d)
    os.mkdir(t.p("src"))
    write_file(t.p("src", "f"), b"src")
    os.mkdir(t.p("src", "child"))
    os.mkdir(t.p("empty"))
    os.mkdir(t.p("full"))
    write_file(t.p("full", "g"), b"full")
    write_file(t.p("file"), b"file")
    n0 = os.stat(t.d).st_nlink
    expect_errno(errno.ENOTEMPTY, os.rename, t.p("src"), t.p("full"), what="dir over non-empty dir")
    eq(read_file(t.p("full", "g")), b"full", "non-empty target intact")
    eq(read_file(t.p("src", "f")), b"src", "source intact")
    expect_errno(errno.EISDIR, os.rename, t.p("file"), t.p("empty"), what="file over dir")
    expect_errno(errno.ENOTDIR, os.rename, t.p("empty"), t.p("file"), what="dir over file")
    ino = os.stat(t.p("src")).st_ino
    os.rename(t.p("src"), t.p("empty"))
    eq(os.stat(t.p("empty")).st_ino, ino, "empty target replaced by the source")
    eq(read_file(t.p("empty", "f")), b"src", "content via new name")
    expect_errno(errno.ENOENT, os.stat, t.p("src"))
    eq(os.stat(t.d).st_nlink, n0 - 1, "parent nlink after replacing a directory")
    eq(os.stat(t.p("empty", "child", "..")).st_ino, ino, "'..' of grandchild")
    t.cycle()
    eq(os.stat(t.d).st_nlink, n0 - 1, "parent nlink after umount/mount")
    eq(sorted(os.listdir(t.d)), ["empty", "file", "full"], "listing after umount/mount")
    eq(read_file(t.p("empty", "f")), b"src", "content after umount/mount")
    # across parents: a dir replaces an empty dir elsewhere; two dirs swap parents
    for n in ("p1", "p2", "p1/a", "p1/a/kid", "p2/b", "p2/x", "p1/y", "p1/y/ykid"):
        os.mkdir(t.p(n))
    os.rename(t.p("p1", "a"), t.p("p2", "b"))
    renameat2(t.p("p2", "x"), t.p("p1", "y"), RENAME_EXCHANGE)

    def verify(stage):
        eq(os.stat(t.p("p1")).st_nlink, 3, f"{stage}: p1 nlink (a left, y stayed)")
        eq(os.stat(t.p("p2")).st_nlink, 4, f"{stage}: p2 nlink (b replaced, x stayed)")
        eq(os.stat(t.p("p2", "b", "..")).st_ino, os.stat(t.p("p2")).st_ino, f"{stage}: '..' of p2/b")
        eq(os.listdir(t.p("p2", "b")), ["kid"], f"{stage}: p2/b content")
        eq(os.listdir(t.p("p2", "x")), ["ykid"], f"{stage}: exchanged p2/x content")
        eq(os.stat(t.p("p2", "x", "..")).st_ino, os.stat(t.p("p2")).st_ino, f"{stage}: '..' of exchanged p2/x")
        eq(os.stat(t.p("p1", "y", "..")).st_ino, os.stat(t.p("p1")).st_ino, f"{stage}: '..' of exchanged p1/y")
        eq(os.listdir(t.p("p1", "y")), [], f"{stage}: exchanged p1/y content")

    verify("fresh")
    t.cycle()
    verify("after umount/mount")


@case(quick=True)
def rename_noreplace_exchange(t):
    os.mkdir(t.d)
    write_file(t.p("a"), b"A")
    write_file(t.p("b"), b"B")
    expect_errno(errno.EEXIST, renameat2, t.p("a"), t.p("b"), RENAME_NOREPLACE,
                 what="RENAME_NOREPLACE over existing")
    eq(read_file(t.p("a")) + read_file(t.p("b")), b"AB", "both intact after refused NOREPLACE")
    renameat2(t.p("a"), t.p("c"), RENAME_NOREPLACE)
    eq(read_file(t.p("c")), b"A", "NOREPLACE to a free name")
    expect_errno(errno.ENOENT, os.stat, t.p("a"))
    ib, ic = os.stat(t.p("b")).st_ino, os.stat(t.p("c")).st_ino
    renameat2(t.p("b"), t.p("c"), RENAME_EXCHANGE)
    eq((os.stat(t.p("b")).st_ino, os.stat(t.p("c")).st_ino), (ic, ib), "EXCHANGE swaps inodes")
    eq(read_file(t.p("b")) + read_file(t.p("c")), b"AB", "EXCHANGE swaps content")
    expect_errno(errno.ENOENT, renameat2, t.p("b"), t.p("nope"), RENAME_EXCHANGE,
                 what="EXCHANGE with a missing target")
    expect_errno(errno.EINVAL, renameat2, t.p("b"), t.p("c"), RENAME_EXCHANGE | RENAME_NOREPLACE,
                 what="EXCHANGE|NOREPLACE")
    # exchange a file with a directory across directories
    os.mkdir(t.p("d1"))
    os.mkdir(t.p("d2"))
    os.mkdir(t.p("d1", "x"))
    write_file(t.p("d1", "x", "inner"), b"inner")
    write_file(t.p("d2", "y"), b"Y")
    renameat2(t.p("d1", "x"), t.p("d2", "y"), RENAME_EXCHANGE)

    def verify(stage):
        check(stat.S_ISREG(os.stat(t.p("d1", "x")).st_mode), f"{stage}: d1/x not the file")
        eq(read_file(t.p("d1", "x")), b"Y", f"{stage}: d1/x content")
        check(stat.S_ISDIR(os.stat(t.p("d2", "y")).st_mode), f"{stage}: d2/y not the dir")
        eq(read_file(t.p("d2", "y", "inner")), b"inner", f"{stage}: d2/y/inner")
        eq(os.stat(t.p("d2", "y", "..")).st_ino, os.stat(t.p("d2")).st_ino, f"{stage}: '..' of exchanged dir")
        eq(os.stat(t.p("d1")).st_nlink, 2, f"{stage}: d1 nlink")
        eq(os.stat(t.p("d2")).st_nlink, 3, f"{stage}: d2 nlink")
        eq(read_file(t.p("b")) + read_file(t.p("c")), b"AB", f"{stage}: exchanged files")

    verify("fresh")
    t.cycle()
    verify("after umount/mount")


# ---------------------------------------------------------------- attributes

@case(quick=True)
def chmod_chown(t):
    os.mkdir(t.d)
    f = t.p("f")
    write_file(f, b"x")
    for m in (0o4755, 0o2755, 0o1777, 0o000, 0o640, 0o7777):
        os.chmod(f, m)
        eq(stat.S_IMODE(os.stat(f).st_mode), m, f"chmod {m:o}")
    os.chown(f, 1000, 1000)
    eq((os.stat(f).st_uid, os.stat(f).st_gid), (1000, 1000), "chown")
    os.chown(f, -1, 2000)
    eq((os.stat(f).st_uid, os.stat(f).st_gid), (1000, 2000), "chown gid only")
    os.chmod(f, 0o6755)
    os.chown(f, 1001, -1)
    eq(stat.S_IMODE(os.stat(f).st_mode) & 0o6000, 0, "chown clears setuid/setgid")
    fd = os.open(f, os.O_RDONLY)
    os.fchmod(fd, 0o600)
    os.fchown(fd, 5, 6)
    os.close(fd)
    eq((stat.S_IMODE(os.stat(f).st_mode), os.stat(f).st_uid, os.stat(f).st_gid), (0o600, 5, 6), "fchmod/fchown")
    os.symlink("f", t.p("l"))
    os.lchown(t.p("l"), 77, 88)
    eq((os.lstat(t.p("l")).st_uid, os.lstat(t.p("l")).st_gid), (77, 88), "lchown of symlink")
    eq(os.stat(f).st_uid, 5, "lchown didn't touch the target")
    os.mkdir(t.p("d"))
    os.chmod(t.p("d"), 0o1733)
    os.chown(t.p("d"), 1000, 100)
    os.chown(f, 2 ** 31, 2 ** 31 + 5)  # big ids
    t.cycle()
    st = os.stat(f)
    eq((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o600, 2 ** 31, 2 ** 31 + 5), "after umount/mount")
    st = os.stat(t.p("d"))
    eq((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o1733, 1000, 100), "dir after umount/mount")
    eq((os.lstat(t.p("l")).st_uid, os.lstat(t.p("l")).st_gid), (77, 88), "symlink owner after umount/mount")


@case(quick=True)
def utimens_exact(t):
    os.mkdir(t.d)
    f = t.p("f")
    write_file(f, b"x")
    os.mkdir(t.p("d"))
    os.symlink("f", t.p("l"))
    vals = {
        "f": (1_000_000_123, 2_000_000_456_789_012),
        "d": (1_234_567_890_999_999_999, 5),
        "l": (42_000_000_001, 43_000_000_002),
    }
    os.utime(f, ns=vals["f"])
    os.utime(t.p("d"), ns=vals["d"])
    os.utime(t.p("l"), ns=vals["l"], follow_symlinks=False)
    future = (2 ** 33) * 10 ** 9 + 999_999_999     # year 2242
    past = -(86400 * 365 * 10) * 10 ** 9 + 500     # 1960
    write_file(t.p("future"), b"")
    os.utime(t.p("future"), ns=(future, future))
    write_file(t.p("past"), b"")
    os.utime(t.p("past"), ns=(past, past))

    def verify(stage):
        for n, (a, m) in vals.items():
            st = os.lstat(t.p(n))
            if n == "l":  # following or reading a symlink updates its atime
                eq(st.st_mtime_ns, m, f"{stage}: mtime of {n}")
            else:
                eq((st.st_atime_ns, st.st_mtime_ns), (a, m), f"{stage}: times of {n}")
        st = os.stat(t.p("future"))
        eq(st.st_mtime_ns, future, f"{stage}: year-2242 mtime")
        st = os.stat(t.p("past"))
        eq(st.st_mtime_ns, past, f"{stage}: pre-1970 mtime")

    verify("fresh")
    # the symlink's times are its own
    eq(os.stat(t.p("l")).st_mtime_ns, vals["f"][1], "stat through symlink gives target's mtime")
    # UTIME_OMIT / UTIME_NOW
    utimensat(t.p("f"), UTIME_OMIT, (7, 8))
    st = os.stat(f)
    eq((st.st_atime_ns, st.st_mtime_ns), (vals["f"][0], 7_000_000_008), "UTIME_OMIT atime")
    vals["f"] = (vals["f"][0], 7_000_000_008)
    write_file(t.p("now"), b"")
    os.utime(t.p("now"), ns=(1, 1))
    os.utime(t.p("now"))
    st = os.stat(t.p("now"))
    check(abs(st.st_mtime - time.time()) < 10 and abs(st.st_atime - time.time()) < 10,
          f"utime(NULL) did not set now: {st.st_mtime} vs {time.time()}")
    t.cycle()
    verify("after umount/mount")


@case(quick=True)
def time_semantics(t):
    os.mkdir(t.d)
    d = t.p("dir")
    os.mkdir(d)
    f = os.path.join(d, "f")
    tick = 0.03

    def st(p):
        return os.lstat(p)

    # collect every violation instead of stopping at the first
    problems = []

    def later(a, b, what):
        if not b > a:
            problems.append(f"{what}: not updated ({a} -> {b})")

    def same(a, b, what):
        if b != a:
            problems.append(f"{what}: changed ({a} -> {b})")

    t0 = time.time_ns()
    write_file(f, b"hello")
    s = st(f)
    check(abs(s.st_mtime_ns - t0) < 5 * 10 ** 9, f"new file mtime {s.st_mtime_ns} far from now {t0}")
    eq(s.st_mtime_ns, s.st_ctime_ns, "new file mtime == ctime")
    old = 1_000_000_000 * 10 ** 9
    # write: mtime + ctime
    os.utime(f, ns=(old, old))
    s0 = st(f)
    time.sleep(tick)
    with open(f, "r+b") as fh:
        fh.write(b"J")
    s1 = st(f)
    later(s0.st_mtime_ns, s1.st_mtime_ns, "write: mtime")
    later(s0.st_ctime_ns, s1.st_ctime_ns, "write: ctime")
    # chmod: ctime only
    time.sleep(tick)
    os.chmod(f, 0o600)
    s2 = st(f)
    later(s1.st_ctime_ns, s2.st_ctime_ns, "chmod: ctime")
    same(s1.st_mtime_ns, s2.st_mtime_ns, "chmod: mtime")
    # chown, setxattr: ctime only
    time.sleep(tick)
    os.chown(f, 1, 1)
    s3 = st(f)
    later(s2.st_ctime_ns, s3.st_ctime_ns, "chown: ctime")
    same(s2.st_mtime_ns, s3.st_mtime_ns, "chown: mtime")
    time.sleep(tick)
    os.setxattr(f, "user.t", b"1")
    s4 = st(f)
    later(s3.st_ctime_ns, s4.st_ctime_ns, "setxattr: ctime")
    same(s3.st_mtime_ns, s4.st_mtime_ns, "setxattr: mtime")
    # utime sets ctime to now
    time.sleep(tick)
    os.utime(f, ns=(old, old))
    s5 = st(f)
    later(s4.st_ctime_ns, s5.st_ctime_ns, "utime: ctime")
    # read: atime (relatime: atime <= mtime, so it must move)
    time.sleep(tick)
    read_file(f)
    s6 = st(f)
    later(old, s6.st_atime_ns, "read: atime (relatime)")
    same(s5.st_mtime_ns, s6.st_mtime_ns, "read: mtime")
    same(s5.st_ctime_ns, s6.st_ctime_ns, "read: ctime")
    # truncate(2) and ftruncate(2) that change the size: mtime + ctime
    time.sleep(tick)
    os.truncate(f, 2)
    s7 = st(f)
    later(s6.st_mtime_ns, s7.st_mtime_ns, "truncate(2) shrink: mtime")
    later(s6.st_ctime_ns, s7.st_ctime_ns, "truncate(2) shrink: ctime")
    time.sleep(tick)
    os.truncate(f, 3)
    s7b = st(f)
    later(s7.st_mtime_ns, s7b.st_mtime_ns, "truncate(2) grow: mtime")
    later(s7.st_ctime_ns, s7b.st_ctime_ns, "truncate(2) grow: ctime")
    time.sleep(tick)
    fd = os.open(f, os.O_WRONLY)
    os.ftruncate(fd, 2)
    os.close(fd)
    s7c = st(f)
    later(s7b.st_mtime_ns, s7c.st_mtime_ns, "ftruncate(2) shrink: mtime")
    later(s7b.st_ctime_ns, s7c.st_ctime_ns, "ftruncate(2) shrink: ctime")
    # mmap write: mtime
    os.truncate(f, 4096)
    time.sleep(tick)
    s7 = st(f)
    time.sleep(tick)
    fd = os.open(f, os.O_RDWR)
    m = mmap.mmap(fd, 4096)
    m[0:4] = b"mmap"
    m.flush()
    m.close()
    os.close(fd)
    s8 = st(f)
    later(s7.st_mtime_ns, s8.st_mtime_ns, "mmap write: mtime")
    # directory operations update the parent's mtime + ctime
    ops = [
        ("create", lambda: write_file(os.path.join(d, "g"), b"")),
        ("mkdir", lambda: os.mkdir(os.path.join(d, "sub"))),
        ("symlink", lambda: os.symlink("g", os.path.join(d, "sl"))),
        ("link", lambda: os.link(os.path.join(d, "g"), os.path.join(d, "g2"))),
        ("rename within", lambda: os.rename(os.path.join(d, "g2"), os.path.join(d, "g3"))),
        ("unlink", lambda: os.unlink(os.path.join(d, "g3"))),
        ("rmdir", lambda: os.rmdir(os.path.join(d, "sub"))),
    ]
    for name, op in ops:
        b = st(d)
        time.sleep(tick)
        op()
        a = st(d)
        later(b.st_mtime_ns, a.st_mtime_ns, f"{name}: parent mtime")
        later(b.st_ctime_ns, a.st_ctime_ns, f"{name}: parent ctime")
    # link / unlink change the inode's ctime
    g = os.path.join(d, "g")
    b = st(g)
    time.sleep(tick)
    os.link(g, os.path.join(d, "g4"))
    later(b.st_ctime_ns, st(g).st_ctime_ns, "link: inode ctime")
    b = st(g)
    time.sleep(tick)
    os.unlink(os.path.join(d, "g4"))
    later(b.st_ctime_ns, st(g).st_ctime_ns, "unlink: inode ctime")
    # rename across directories: both parents' mtime; the moved inode's ctime
    os.mkdir(t.p("dir2"))
    b1, b2, bi = st(d), st(t.p("dir2")), st(g)
    time.sleep(tick)
    os.rename(g, t.p("dir2", "g"))
    later(b1.st_mtime_ns, st(d).st_mtime_ns, "rename: source parent mtime")
    later(b2.st_mtime_ns, st(t.p("dir2")).st_mtime_ns, "rename: target parent mtime")
    if not st(t.p("dir2", "g")).st_ctime_ns > bi.st_ctime_ns:
        t.note("rename did not update the moved inode's ctime (allowed)")
    # times survive umount/mount exactly
    snap = {p: (st(p).st_atime_ns, st(p).st_mtime_ns, st(p).st_ctime_ns)
            for p in (f, d, t.p("dir2"), t.p("dir2", "g"), os.path.join(d, "sl"))}
    t.cycle()
    for p, v in snap.items():
        s = st(p)
        if (s.st_mtime_ns, s.st_ctime_ns) != v[1:]:
            problems.append(f"mtime/ctime of {os.path.relpath(p, t.d)} after umount/mount: {v[1:]} -> "
                            f"{(s.st_mtime_ns, s.st_ctime_ns)}")
    check(not problems, "; ".join(problems))


# ---------------------------------------------------------------- xattrs

@case(quick=True)
def xattr_user(t):
    os.mkdir(t.d)
    f = t.p("f")
    write_file(f, b"x")
    os.setxattr(f, "user.a", b"alpha")
    os.setxattr(f, "user.empty", b"")
    os.setxattr(f, "user.bin", bytes(range(256)))
    eq(os.getxattr(f, "user.a"), b"alpha", "get")
    eq(os.getxattr(f, "user.empty"), b"", "empty value")
    eq(os.getxattr(f, "user.bin"), bytes(range(256)), "binary value")
    eq(sorted(os.listxattr(f)), ["user.a", "user.bin", "user.empty"], "list")
    expect_errno(errno.EEXIST, os.setxattr, f, "user.a", b"x", XATTR_CREATE, what="XATTR_CREATE on existing")
    expect_errno(errno.ENODATA, os.setxattr, f, "user.zz", b"x", XATTR_REPLACE, what="XATTR_REPLACE on missing")
    expect_errno(errno.ENODATA, os.getxattr, f, "user.zz", what="get missing")
    expect_errno(errno.ENODATA, os.removexattr, f, "user.zz", what="remove missing")
    os.setxattr(f, "user.a", b"replaced, longer value", XATTR_REPLACE)
    eq(os.getxattr(f, "user.a"), b"replaced, longer value", "after XATTR_REPLACE")
    os.setxattr(f, "user.a", b"s")
    eq(os.getxattr(f, "user.a"), b"s", "shrunk value")
    os.setxattr(f, "user.new", b"n", XATTR_CREATE)
    # ERANGE with small buffers; size queries
    eq(getxattr_raw(f, "user.bin", 0), 256, "getxattr size query")
    expect_errno(errno.ERANGE, getxattr_raw, f, "user.bin", 10, what="getxattr with a small buffer")
    total = listxattr_raw(f, 0)
    eq(total, len(b"user.a\0user.bin\0user.empty\0user.new\0"), "listxattr size query")
    expect_errno(errno.ERANGE, listxattr_raw, f, 5, what="listxattr with a small buffer")
    os.removexattr(f, "user.empty")
    expect_errno(errno.ENODATA, os.getxattr, f, "user.empty", what="get after remove")
    # many attributes
    # many attributes (ext4 keeps them in one block: fewer there)
    nmany = 100 if t.vol.is_vexfs else 30
    for i in range(nmany):
        os.setxattr(f, f"user.many{i:03d}", f"value {i}".encode() * (i % 7 + 1))
    # directories carry user xattrs; symlinks do not (EPERM from the VFS)
    os.mkdir(t.p("dir"))
    os.setxattr(t.p("dir"), "user.d", b"dirval")
    os.symlink("f", t.p("l"))
    expect_errno(errno.EPERM, os.setxattr, t.p("l"), "user.x", b"1", follow_symlinks=False,
                 what="user xattr on a symlink")
    # name limits and bad namespaces
    expect_errno(errno.ERANGE, os.setxattr, f, "user." + "n" * 256, b"1", what="256-byte xattr name")
    os.setxattr(f, "user." + "n" * 250, b"longname")
    expect_errno(errno.EOPNOTSUPP, os.setxattr, f, "bogus.ns", b"1", what="unknown namespace")
    expect_errno(errno.E2BIG, os.setxattr, f, "user.huge", bytes(65537), what="value > 64 KiB")
    # the file's data is untouched
    eq(read_file(f), b"x", "data after xattr work")

    def verify(stage):
        want = {"user.a": b"s", "user.bin": bytes(range(256)), "user.new": b"n",
                "user." + "n" * 250: b"longname"}
        want.update({f"user.many{i:03d}": f"value {i}".encode() * (i % 7 + 1) for i in range(nmany)})
        eq(sorted(os.listxattr(f)), sorted(want), f"{stage}: list")
        for k, v in want.items():
            eq(os.getxattr(f, k), v, f"{stage}: value of {k[:20]}")
        eq(os.getxattr(t.p("dir"), "user.d"), b"dirval", f"{stage}: dir xattr")

    verify("fresh")
    t.cycle()
    verify("after umount/mount")
    for i in range(nmany):
        os.removexattr(f, f"user.many{i:03d}")
    eq(sorted(os.listxattr(f)), sorted(["user.a", "user.bin", "user.new", "user." + "n" * 250]),
       "after removing the many")


@case(quick=True)
def xattr_trusted_security(t):
    os.mkdir(t.d)
    f = t.p("f")
    write_file(f, b"x")
    os.setxattr(f, "trusted.overlay.opaque", b"y")
    os.setxattr(f, "trusted.big", rnd(1000, t.rng))
    os.setxattr(f, "security.test", b"sec")
    os.setxattr(f, "user.same", b"user")
    os.setxattr(f, "trusted.same", b"trusted")
    eq(os.getxattr(f, "trusted.overlay.opaque"), b"y", "trusted get")
    eq(os.getxattr(f, "user.same"), b"user", "same suffix, user ns")
    eq(os.getxattr(f, "trusted.same"), b"trusted", "same suffix, trusted ns")
    os.symlink("f", t.p("l"))
    os.setxattr(t.p("l"), "trusted.onlink", b"L", follow_symlinks=False)
    eq(os.getxattr(t.p("l"), "trusted.onlink", follow_symlinks=False), b"L", "trusted xattr on a symlink")
    expect_errno(errno.ENODATA, os.getxattr, f, "trusted.onlink", what="symlink's xattr not on target")
    os.chmod(f, 0o644)
    os.chmod(t.d, 0o755)
    r = as_user(f"""
tr("list", lambda: R.__setitem__("names", sorted(os.listxattr({f!r}))))
tr("get_trusted", os.getxattr, {f!r}, "trusted.same")
tr("set_trusted", os.setxattr, {f!r}, "trusted.x", b"1")
tr("get_user", os.getxattr, {f!r}, "user.same")
""")
    check("trusted.same" not in r.get("names", []), f"unprivileged listxattr shows trusted.*: {r}")
    check("user.same" in r.get("names", []), f"unprivileged listxattr lacks user.*: {r}")
    eq(r["get_trusted"], "ENODATA", "unprivileged getxattr trusted.*")
    eq(r["set_trusted"], "EPERM", "unprivileged setxattr trusted.*")
    eq(r["get_user"], "OK", "unprivileged getxattr user.*")
    t.cycle()
    eq(os.getxattr(f, "trusted.overlay.opaque"), b"y", "trusted after umount/mount")
    eq(os.getxattr(f, "security.test"), b"sec", "security after umount/mount")
    eq(os.getxattr(t.p("l"), "trusted.onlink", follow_symlinks=False), b"L", "symlink xattr after umount/mount")
    eq(sorted(os.listxattr(f)), sorted(["trusted.overlay.opaque", "trusted.big", "security.test",
                                        "user.same", "trusted.same"]), "list after umount/mount")


@case(quick=True)
def xattr_size_limits(t):
    os.mkdir(t.d)
    f = t.p("f")
    write_file(f, b"x")
    name = "user.big"

    def ok(n):
        e = errno_of(os.setxattr, f, name, b"v" * n)
        if e is None:
            return True
        check(e in (errno.E2BIG, errno.ENOSPC),
              f"setxattr of {n} bytes failed with {ename(e)}, want E2BIG or ENOSPC")
        return False

    check(ok(1024), "a 1 KiB value was refused")
    lo, hi = 1024, 65536
    if ok(hi):
        lo = hi
    else:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(mid):
                lo = mid
            else:
                hi = mid
    maxv = lo
    t.note(f"largest value {maxv} bytes")
    val = rnd(maxv, t.rng)
    os.setxattr(f, name, val)
    eq(os.getxattr(f, name), val, "largest value reads back")
    if maxv < 65536:
        e = errno_of(os.setxattr, f, name, b"w" * (maxv + 1))
        check(e in (errno.E2BIG, errno.ENOSPC), f"value of max+1 bytes: {ename(e)}")
        eq(os.getxattr(f, name), val, "failed replace kept the old value")
    # many big values on one inode: each either fits or fails cleanly
    stored = {}
    for i in range(20):
        v = rnd(maxv - 16, t.rng)
        e = errno_of(os.setxattr, f, f"user.b{i:02d}", v)
        if e is None:
            stored[f"user.b{i:02d}"] = v
        else:
            check(e in (errno.E2BIG, errno.ENOSPC), f"big xattr #{i}: {ename(e)}")
    for k, v in stored.items():
        eq(os.getxattr(f, k), v, f"{k} reads back")
    t.cycle()
    eq(os.getxattr(f, name), val, "largest value after umount/mount")
    for k, v in stored.items():
        eq(os.getxattr(f, k), v, f"{k} after umount/mount")
    t.note(f"{len(stored)} of 20 near-max values fit on one inode")


# ---------------------------------------------------------------- sync, errors

@case(quick=True)
def fsync_variants_persist(t):
    os.mkdir(t.d)
    datas = {n: rnd(50000 + i * 1000, t.rng) for i, n in
             enumerate(("fsync", "fdatasync", "syncfs", "sync", "osync", "odsync"))}

    def w(name, flags=0, after=None):
        fd = os.open(t.p(name), os.O_WRONLY | os.O_CREAT | flags, 0o644)
        os.write(fd, datas[name])
        if after:
            after(fd)
        os.close(fd)

    w("fsync", after=os.fsync)
    w("fdatasync", after=os.fdatasync)
    w("syncfs", after=syncfs)
    w("sync", after=lambda fd: os.sync())
    w("osync", os.O_SYNC)
    w("odsync", os.O_DSYNC)
    fd = os.open(t.d, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)  # fsync of a directory works
    os.fdatasync(fd)
    os.close(fd)
    t.cycle()
    for n, v in datas.items():
        eq(read_file(t.p(n)), v, f"{n} file after umount/mount")


def _shutdown_case(t, flag):
    os.mkdir(t.d)
    committed = rnd(100000, t.rng)
    write_file(t.p("committed"), committed)
    os.sync()
    fsynced = rnd(70000, t.rng)
    write_file(t.p("fsynced"), fsynced, sync=True)
    dfd = os.open(t.d, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    overwritten = rnd(30000, t.rng)
    fd = os.open(t.p("committed"), os.O_WRONLY)
    os.pwrite(fd, overwritten, 0)  # not synced
    os.close(fd)
    unsynced = rnd(5000, t.rng)
    write_file(t.p("unsynced"), unsynced)
    keep = os.open(t.p("fsynced"), os.O_RDWR)
    t.shutdown(t.d, flag)
    E = errno.EIO
    try:
        expect_errno(E, os.open, t.p("new"), os.O_CREAT | os.O_WRONLY, 0o644, what="create after shutdown")
        expect_errno(E, os.mkdir, t.p("newdir"), what="mkdir after shutdown")
        e = errno_of(lambda: (os.pwrite(keep, b"x" * 4096, 0), os.fsync(keep)))
        eq(ename(e), "EIO", "write+fsync on an open file after shutdown")
        expect_errno(E, os.unlink, t.p("fsynced"), what="unlink after shutdown")
    finally:
        os.close(keep)
    t.vol.umount()
    if t.vol.is_vexfs:
        r = t.vol.fsck()
        check(r.returncode == 0, f"fsck -n after shutdown exited {r.returncode}: "
              + " | ".join((r.stdout + r.stderr).strip().splitlines()[-6:]))
    t.vol.mount()
    eq(read_file(t.p("fsynced")), fsynced, "fsync'd file after shutdown")
    got = read_file(t.p("committed"))
    if flag == SHUTDOWN_DEFAULT:
        eq(got, overwritten + committed[len(overwritten):], "unsynced overwrite survives a DEFAULT shutdown")
        eq(read_file(t.p("unsynced")), unsynced, "unsynced file survives a DEFAULT shutdown")
    else:
        check(got in (committed, overwritten + committed[len(overwritten):]),
              "committed file is neither the old nor the new content")
        if os.path.exists(t.p("unsynced")):
            u = read_file(t.p("unsynced"))
            check(u in (b"", unsynced), f"unsynced file has {len(u)} bytes of unexpected content")
    check(not os.path.exists(t.p("new")), "file created after shutdown exists")
    write_file(t.p("after"), b"works again", sync=True)


@case(quick=True, vexfs_only=False)
def shutdown_nologflush(t):
    _shutdown_case(t, SHUTDOWN_NOLOGFLUSH)


@case()
def shutdown_default(t):
    _shutdown_case(t, SHUTDOWN_DEFAULT)


@case()
def shutdown_open_unlinked_orphan(t):
    """An open-but-unlinked file at a crash is reclaimed by the next mount."""
    os.mkdir(t.d)
    os.sync()
    base = free_blocks(t.vol.mnt)
    p = t.p("orphan")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for _ in range(8):
            os.write(fd, rnd(MiB))
        os.fsync(fd)
        os.unlink(p)
        os.sync()  # the unlink is committed; the inode lives on as an orphan
        t.shutdown(t.d, SHUTDOWN_NOLOGFLUSH)
    finally:
        os.close(fd)
    t.vol.umount()
    if t.vol.is_vexfs:
        r = t.vol.fsck()
        check(r.returncode == 0, f"fsck -n with an orphan exited {r.returncode}: "
              + " | ".join((r.stdout + r.stderr).strip().splitlines()[-6:]))
    t.vol.mount()
    got = wait_free_at_least(t.vol.mnt, base - 256 * KiB)
    check(got >= base - 256 * KiB, f"orphan's 8 MiB not reclaimed at mount: free {base} -> {got}")
    eq(os.listdir(t.d), [], "directory after orphan recovery")


@case(quick=True)
def name_too_long(t):
    os.mkdir(t.d)
    n255, n256 = "n" * 255, "n" * 256
    write_file(t.p("src"), b"s")
    E = errno.ENAMETOOLONG
    expect_errno(E, os.open, t.p(n256), os.O_CREAT | os.O_WRONLY, 0o644, what="create 256")
    expect_errno(E, os.mkdir, t.p(n256), what="mkdir 256")
    expect_errno(E, os.stat, t.p(n256), what="lookup 256")
    expect_errno(E, os.symlink, "src", t.p(n256), what="symlink 256")
    expect_errno(E, os.link, t.p("src"), t.p(n256), what="link 256")
    expect_errno(E, os.rename, t.p("src"), t.p(n256), what="rename to 256")
    expect_errno(E, os.mknod, t.p(n256), stat.S_IFIFO | 0o644, what="mknod 256")
    expect_errno(E, os.stat, t.p(n256, "x"), what="256-byte middle component")
    mb = "é" * 128  # 256 bytes of UTF-8
    expect_errno(E, os.open, t.p(mb), os.O_CREAT | os.O_WRONLY, 0o644, what="256 bytes of UTF-8")
    write_file(t.p(n255), b"255")
    os.mkdir(t.p("d" * 255))
    os.symlink("src", t.p("s" * 255))
    os.link(t.p("src"), t.p("l" * 255))
    t.cycle()
    eq(read_file(t.p(n255)), b"255", "255-byte name after umount/mount")
    eq(sorted(os.listdir(t.d)), sorted(["src", n255, "d" * 255, "s" * 255, "l" * 255]), "listing")


@case(quick=True)
def errno_misc(t):
    os.mkdir(t.d)
    f = t.p("f")
    write_file(f, b"f")
    os.mkdir(t.p("dir"))
    write_file(t.p("dir", "x"), b"x")
    os.mkdir(t.p("empty"))
    expect_errno(errno.EEXIST, os.mkdir, f)
    expect_errno(errno.EEXIST, os.mkdir, t.p("dir"))
    expect_errno(errno.EEXIST, os.open, f, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    expect_errno(errno.EEXIST, os.mknod, f, stat.S_IFIFO | 0o644)
    expect_errno(errno.ENOENT, os.open, t.p("missing"), os.O_RDONLY)
    expect_errno(errno.ENOENT, os.unlink, t.p("missing"))
    expect_errno(errno.ENOENT, os.open, t.p("nodir", "f"), os.O_CREAT | os.O_WRONLY, 0o644)
    expect_errno(errno.ENOENT, os.open, "", os.O_RDONLY)
    expect_errno(errno.ENOTDIR, os.open, t.p("f", "x"), os.O_RDONLY)
    expect_errno(errno.ENOTDIR, os.open, t.p("f", "x"), os.O_CREAT | os.O_WRONLY, 0o644)
    expect_errno(errno.ENOTDIR, os.open, f, os.O_RDONLY | os.O_DIRECTORY)
    expect_errno(errno.ENOTDIR, os.listdir, f)
    expect_errno(errno.EISDIR, os.open, t.p("dir"), os.O_WRONLY)
    expect_errno(errno.EISDIR, os.open, t.p("dir"), os.O_RDWR)
    expect_errno(errno.EISDIR, os.unlink, t.p("dir"))
    expect_errno(errno.ENOTEMPTY, os.rmdir, t.p("dir"))
    # read(2) on a directory fd
    fd = os.open(t.p("dir"), os.O_RDONLY)
    expect_errno(errno.EISDIR, os.read, fd, 10)
    os.close(fd)
    # unknown ioctls: ENOTTY on files and directories, never EINVAL/EIO
    for path in (f, t.p("dir")):
        fd = os.open(path, os.O_RDONLY)
        try:
            for cmd in (0x7AFE, 0xC0087A99, 0x80047A98, 0x40087A97):
                e = errno_of(fcntl.ioctl, fd, cmd, bytes(8))
                eq(ename(e), "ENOTTY", f"unknown ioctl {cmd:#x} on {os.path.basename(path)}")
        finally:
            os.close(fd)
    # ioctls the VFS implements generically still work
    fd = os.open(f, os.O_RDONLY)
    try:
        r = fcntl.ioctl(fd, 0x541B, struct.pack("i", 0))  # FIONREAD
        eq(struct.unpack("i", r)[0], 1, "FIONREAD")
    finally:
        os.close(fd)


@case(quick=True)
def exdev_two_volumes(t):
    second = t.args.second_device
    if not second:
        raise Skip("needs a second disk (two devices in VM_DISKS, or --second-device)")
    os.mkdir(t.d)
    write_file(t.p("f"), b"cross")
    os.mkdir(t.p("dir"))
    v2 = Volume(second, t.vol.fstype, t.vol.mnt + "2")
    v2.mkfs()
    v2.mount()
    try:
        expect_errno(errno.EXDEV, os.rename, t.p("f"), os.path.join(v2.mnt, "f"), what="rename file across volumes")
        expect_errno(errno.EXDEV, os.rename, t.p("dir"), os.path.join(v2.mnt, "dir"), what="rename dir across volumes")
        expect_errno(errno.EXDEV, os.link, t.p("f"), os.path.join(v2.mnt, "l"), what="link across volumes")
        expect_errno(errno.EXDEV, renameat2, t.p("f"), os.path.join(v2.mnt, "f"), RENAME_NOREPLACE,
                     what="renameat2 across volumes")
        expect_errno(errno.EXDEV, os.rename, t.p("f"), "/tmp/vexfs-exdev", what="rename to tmpfs")
        run(["mv", t.p("f"), os.path.join(v2.mnt, "f")])  # mv falls back to copy + unlink
        eq(read_file(os.path.join(v2.mnt, "f")), b"cross", "mv across volumes")
        check(not os.path.exists(t.p("f")), "mv left the source")
        eq(mtab_entry(v2.mnt)[1], t.vol.fstype, "second volume type")
    finally:
        v2.umount()
    r = v2.fsck()
    check(r.returncode == 0, f"fsck of the second volume exited {r.returncode}: {r.stdout[-300:]}")


@case(quick=True)
def st_blocks_accounting(t):
    os.mkdir(t.d)
    bs = os.statvfs(t.vol.mnt).f_frsize
    per = bs // 512
    write_file(t.p("empty"), b"")
    write_file(t.p("one"), b"1")
    write_file(t.p("mib"), rnd(MiB, t.rng))
    fd = os.open(t.p("dirty"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, rnd(64 * KiB, t.rng))
    b_dirty = os.fstat(fd).st_blocks
    os.close(fd)
    check(b_dirty > 0, "st_blocks is 0 for a file with 64 KiB of unwritten-back data (tar/cp treat it as sparse)")
    fd = os.open(t.p("sparse"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.pwrite(fd, rnd(4096, t.rng), MiB)
    os.close(fd)
    # overwriting in place must not double count
    fd = os.open(t.p("over"), os.O_RDWR | os.O_CREAT, 0o644)
    for _ in range(3):
        os.pwrite(fd, rnd(MiB, t.rng), 0)
        os.fsync(fd)
    os.close(fd)
    os.sync()

    def verify(stage):
        eq(os.stat(t.p("empty")).st_blocks, 0, f"{stage}: empty file")
        eq(os.stat(t.p("one")).st_blocks, per, f"{stage}: 1-byte file")
        b = os.stat(t.p("mib")).st_blocks
        check(2048 <= b <= 2048 + per, f"{stage}: 1 MiB file has {b} blocks")
        eq(os.stat(t.p("sparse")).st_blocks, max(8, per), f"{stage}: 4 KiB at 1 MiB")
        b = os.stat(t.p("over")).st_blocks
        check(2048 <= b <= 2048 + per, f"{stage}: 1 MiB overwritten 3 times has {b} blocks")
        eq(os.stat(t.p("dirty")).st_blocks, 128, f"{stage}: 64 KiB file")

    verify("after sync")
    t.cycle()
    verify("after umount/mount")


# ---------------------------------------------------------------- permissions

@case(quick=True)
def unprivileged_permissions(t):
    os.mkdir(t.d)
    os.chmod(t.d, 0o755)
    write_file(t.p("rootfile"), b"root data")
    os.chmod(t.p("rootfile"), 0o644)
    write_file(t.p("secret"), b"secret")
    os.chmod(t.p("secret"), 0o600)
    os.mkdir(t.p("open"), 0o777)
    os.chmod(t.p("open"), 0o777)
    os.mkdir(t.p("sticky"))
    os.chmod(t.p("sticky"), 0o1777)
    write_file(t.p("sticky", "rootowned"), b"r")
    os.chmod(t.p("sticky", "rootowned"), 0o666)
    os.mkdir(t.p("private"), 0o700)
    os.chmod(t.p("private"), 0o700)
    write_file(t.p("private", "inner"), b"i")
    write_file(t.p("run.sh"), b"#!/bin/sh\necho ran-$(id -u)\n")
    os.chmod(t.p("run.sh"), 0o755)
    write_file(t.p("noexec.sh"), b"#!/bin/sh\necho no\n")
    os.chmod(t.p("noexec.sh"), 0o644)
    P = t.p
    r = as_user(f"""
tr("read_0644", openr, {P('rootfile')!r})
tr("write_0644", openw, {P('rootfile')!r})
tr("read_0600", openr, {P('secret')!r})
tr("create_in_0755", create, {P('mine')!r})
tr("mkdir_in_0755", os.mkdir, {P('mydir')!r})
tr("unlink_in_0755", os.unlink, {P('rootfile')!r})
tr("create_in_0777", create, {P('open', 'mine')!r})
tr("mkdir_in_0777", os.mkdir, {P('open', 'mydir')!r})
tr("chmod_root_file", os.chmod, {P('rootfile')!r}, 0o666)
tr("chown_own_file", os.chown, {P('open', 'mine')!r}, 0, 0)
tr("chmod_own_file", os.chmod, {P('open', 'mine')!r}, 0o600)
tr("xattr_root_file", os.setxattr, {P('rootfile')!r}, "user.u", b"1")
tr("xattr_own_file", os.setxattr, {P('open', 'mine')!r}, "user.u", b"1")
tr("utime_root_file", os.utime, {P('rootfile')!r}, (1, 1))
tr("sticky_create", create, {P('sticky', 'userfile')!r})
tr("sticky_unlink_root", os.unlink, {P('sticky', 'rootowned')!r})
tr("sticky_rename_root", os.rename, {P('sticky', 'rootowned')!r}, {P('sticky', 'stolen')!r})
tr("sticky_unlink_own", os.unlink, {P('sticky', 'userfile')!r})
tr("traverse_0700", openr, {P('private', 'inner')!r})
tr("list_0700", os.listdir, {P('private')!r})
tr("truncate_root_file", os.truncate, {P('rootfile')!r}, 0)
out = subprocess.run([{P('run.sh')!r}], capture_output=True, text=True)
R["exec_out"] = out.stdout.strip()
tr("exec_noexec", lambda: subprocess.run([{P('noexec.sh')!r}]))
""")
    want = {
        "read_0644": "OK", "write_0644": "EACCES", "read_0600": "EACCES",
        "create_in_0755": "EACCES", "mkdir_in_0755": "EACCES", "unlink_in_0755": "EACCES",
        "create_in_0777": "OK", "mkdir_in_0777": "OK", "chmod_root_file": "EPERM",
        "chown_own_file": "EPERM", "chmod_own_file": "OK", "xattr_root_file": "EACCES",
        "xattr_own_file": "OK", "utime_root_file": "EPERM", "sticky_create": "OK",
        "sticky_unlink_root": "EPERM", "sticky_rename_root": "EPERM", "sticky_unlink_own": "OK",
        "traverse_0700": "EACCES", "list_0700": "EACCES", "truncate_root_file": "EACCES",
        "exec_out": "ran-1000", "exec_noexec": "EACCES",
    }
    bad = {k: (r.get(k), v) for k, v in want.items() if r.get(k) != v}
    check(not bad, "unexpected results (got, want): " + ", ".join(f"{k}={g}/{w}" for k, (g, w) in bad.items()))
    st = os.stat(t.p("open", "mine"))
    eq((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (1000, 1000, 0o600), "owner of the user's file")
    eq(read_file(t.p("rootfile")), b"root data", "root file untouched")
    t.cycle()
    st = os.stat(t.p("open", "mydir"))
    eq((st.st_uid, st.st_gid), (1000, 1000), "owner of the user's dir after umount/mount")


# ---------------------------------------------------------------- integrity

@case(quick=True)
def data_integrity(t):
    os.mkdir(t.d)
    rng = t.rng
    nsmall = 300 if t.quick else 2000
    bigs = [8] if t.quick else [50, 120]
    sums = {}
    for i in range(nsmall):
        sub = t.p(f"d{i % 20:02d}")
        if i < 20:
            os.mkdir(sub)
        n = rng.choice((0, 1, 511, 4096, 4097, 8192, rng.randrange(1, 20000), rng.randrange(1, 70000)))
        data = rng.randbytes(n)
        p = os.path.join(sub, f"s{i:05d}")
        write_file(p, data)
        sums[p] = hashlib.sha256(data).hexdigest()
    for j, mb in enumerate(bigs):
        p = t.p(f"big{j}")
        h = hashlib.sha256()
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        for _ in range(mb):
            b = os.urandom(MiB)
            h.update(b)
            os.write(fd, b)
        os.close(fd)
        sums[p] = h.hexdigest()
    # verify from the page cache, then from disk
    bad = [p for p, s in sums.items() if sha256_file(p) != s]
    check(not bad, f"{len(bad)} files differ before umount, e.g. {bad[:3]}")
    t.cycle()
    bad = [p for p, s in sums.items() if sha256_file(p) != s]
    check(not bad, f"{len(bad)} files differ after umount/mount, e.g. {bad[:3]}")
    # overwrite parts of the big files and check again
    for j in range(len(bigs)):
        p = t.p(f"big{j}")
        fd = os.open(p, os.O_RDWR)
        for off in (0, 7 * MiB + 123, bigs[j] * MiB - 5000):
            os.pwrite(fd, b"\xAA" * 10000, off)
        os.close(fd)
        sums[p] = sha256_file(p)
    t.cycle()
    bad = [p for p, s in sums.items() if sha256_file(p) != s]
    check(not bad, f"{len(bad)} files differ after overwrite + umount/mount, e.g. {bad[:3]}")
    for j in range(len(bigs)):
        os.unlink(t.p(f"big{j}"))


# ---------------------------------------------------------------- standard tools

def _meta_listing(root):
    """find-style metadata listing (no atime, no directory sizes)."""
    r = run(["find", root, "-mindepth", "1", "-printf", r"%P\t%y\t%m\t%U\t%G\t%T@\t%l\n"])
    out = []
    for line in r.stdout.splitlines():
        out.append(line)
    r = run(["find", root, "-mindepth", "1", "-type", "f", "-printf", r"%P\t%s\n"])
    return sorted(out) + sorted(r.stdout.splitlines())


@case(quick=True)
def tool_cp_diff(t):
    os.mkdir(t.d)
    srcs = ["/etc"]
    if not t.quick:
        # /usr/share/doc is nearly empty in the test guest: add a real source tree
        import glob
        for cand in ["/usr/share/doc"] + sorted(glob.glob("/usr/lib/python3.*")):
            if os.path.isdir(cand) and sum(1 for _ in os.scandir(cand)) > 10:
                srcs.append(cand)
    for src in srcs:
        dst = t.p(os.path.basename(src))
        run(["cp", "-a", src, dst])
        run(["diff", "-r", "--no-dereference", src, dst])
        a, b = _meta_listing(src), _meta_listing(dst)
        diff = [x for x in set(a) ^ set(b)][:4]
        check(a == b, f"metadata differs after cp -a of {src}: {diff}")
    t.cycle()
    for src in srcs:
        run(["diff", "-r", "--no-dereference", src, t.p(os.path.basename(src))])


@case(quick=True)
def tool_tar_roundtrip(t):
    os.mkdir(t.d)
    src = t.p("src")
    run(["cp", "-a", "/etc", src])
    # add sparse, hardlinks, xattrs
    with open(os.path.join(src, "sparse"), "wb") as f:
        f.seek(10 * MiB)
        f.write(b"end")
    os.link(os.path.join(src, "sparse"), os.path.join(src, "sparse.hl"))
    os.setxattr(os.path.join(src, "sparse"), "user.tar", b"kept")
    tarf = "/tmp/vxsuite-tar.tar"
    os.makedirs("/tmp", exist_ok=True)
    try:
        run(["tar", "--xattrs", "--sparse", "-C", t.d, "-cf", tarf, "src"])
        os.mkdir(t.p("out"))
        run(["tar", "--xattrs", "--xattrs-include=user.*", "-C", t.p("out"), "-xf", tarf])
        run(["diff", "-r", "--no-dereference", src, t.p("out", "src")])
        eq(_meta_listing(src), _meta_listing(t.p("out", "src")), "metadata after tar round trip")
        o = t.p("out", "src")
        eq(os.stat(os.path.join(o, "sparse")).st_ino, os.stat(os.path.join(o, "sparse.hl")).st_ino,
           "hard link restored")
        eq(os.getxattr(os.path.join(o, "sparse"), "user.tar"), b"kept", "xattr restored by tar")
        check(os.stat(os.path.join(o, "sparse")).st_blocks < 1024, "sparse file not sparse after tar x")
        # and through a pipe, verifying with tar --compare
        run(["tar", "-C", t.d, "-df", tarf])
    finally:
        if os.path.exists(tarf):
            os.unlink(tarf)


@case(quick=True)
def tool_rsync_xattrs(t):
    os.mkdir(t.d)
    src = "/var/tmp/vxsuite-rsync-src"
    shutil.rmtree(src, ignore_errors=True)
    run(["cp", "-a", "/etc", src])
    os.link(os.path.join(src, "hostname") if os.path.exists(os.path.join(src, "hostname"))
            else os.path.join(src, "passwd"), os.path.join(src, "hl"))
    xf = []
    for root, dirs, files in os.walk(src):
        for fn in files[:2]:
            p = os.path.join(root, fn)
            if not os.path.islink(p):
                os.setxattr(p, "user.rsync", p.encode()[-40:])
                xf.append(os.path.relpath(p, src))
    dst = t.p("dst")
    try:
        run(["rsync", "-aXH", src + "/", dst + "/"])
        run(["diff", "-r", "--no-dereference", src, dst])
        for rel in xf:
            eq(os.getxattr(os.path.join(dst, rel), "user.rsync"),
               os.getxattr(os.path.join(src, rel), "user.rsync"), f"xattr of {rel}")
        r = run(["rsync", "-aXHn", "--itemize-changes", src + "/", dst + "/"])
        changes = [l for l in r.stdout.splitlines() if l.strip()]
        check(not changes, f"second rsync wants to change: {changes[:5]}")
        # modify and sync again (rsync writes a temp file and renames over)
        with open(os.path.join(src, "passwd"), "a") as f:
            f.write("# changed\n")
        os.setxattr(os.path.join(src, "passwd"), "user.rsync", b"changed")
        run(["rsync", "-aXH", "--delete", src + "/", dst + "/"])
        run(["diff", "-r", "--no-dereference", src, dst])
        eq(os.getxattr(os.path.join(dst, "passwd"), "user.rsync"), b"changed", "updated xattr")
        t.cycle()
        run(["diff", "-r", "--no-dereference", src, dst])
        r = run(["rsync", "-aXHn", "--itemize-changes", src + "/", dst + "/"])
        changes = [l for l in r.stdout.splitlines() if l.strip()]
        check(not changes, f"rsync after umount/mount wants to change: {changes[:5]}")
    finally:
        shutil.rmtree(src, ignore_errors=True)


@case(quick=True)
def tool_find_du_df(t):
    os.mkdir(t.d)
    run(["cp", "-a", "/etc", t.p("etc")])
    write_file(t.p("big"), rnd(3 * MiB, t.rng))
    with open(t.p("sparse"), "wb") as f:
        f.truncate(100 * MiB)
    os.sync()
    files, dirs, blocks, apparent = 0, 0, 0, 0
    seen = set()
    for root, ds, fs in os.walk(t.d):
        for n in ds + fs:
            st = os.lstat(os.path.join(root, n))
            if stat.S_ISREG(st.st_mode):
                files += 1
            elif stat.S_ISDIR(st.st_mode):
                dirs += 1
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                blocks += st.st_blocks
    st = os.lstat(t.d)
    blocks += st.st_blocks
    eq(int(run(["sh", "-c", f"find {shlex.quote(t.d)} -type f | wc -l"]).stdout), files, "find -type f count")
    eq(int(run(["sh", "-c", f"find {shlex.quote(t.d)} -mindepth 1 -type d | wc -l"]).stdout), dirs,
       "find -type d count")
    big = sorted(run(["find", t.d, "-size", "+2M", "-type", "f"]).stdout.split())
    eq(big, sorted([t.p("big"), t.p("sparse")]), "find -size +2M")
    du_k = int(run(["du", "-sk", t.d]).stdout.split()[0])
    check(abs(du_k - blocks // 2) <= 4, f"du -sk {du_k} vs st_blocks sum {blocks // 2} KiB")
    du_sparse = int(run(["du", "-k", t.p("sparse")]).stdout.split()[0])
    check(du_sparse <= 64, f"du of a 100 MiB hole: {du_sparse} KiB")
    du_app = int(run(["du", "-k", "--apparent-size", t.p("sparse")]).stdout.split()[0])
    eq(du_app, 100 * 1024, "du --apparent-size of the sparse file")
    os.unlink(t.p("sparse"))
    r = run(["df", "-k", "--output=fstype,size,used,avail", t.vol.mnt])
    fstype, size, used, avail = r.stdout.splitlines()[1].split()
    eq(fstype, t.vol.fstype, "df fstype")
    check(int(used) + int(avail) <= int(size), f"df: used {used} + avail {avail} > size {size}")
    check(int(used) * 1024 >= 3 * MiB, f"df used {used} KiB is less than what was written")


@case(quick=True)
def tool_git(t):
    os.mkdir(t.d)
    repo = t.p("repo")
    os.mkdir(repo)
    g = ["git", "-C", repo, "-c", "user.name=T", "-c", "user.email=t@example.com",
         "-c", "init.defaultBranch=main", "-c", "gc.auto=0"]
    run(g + ["init", "-q"])
    for i in range(30):
        write_file(os.path.join(repo, f"file{i}.txt"), f"line {i}\n".encode() * (i + 1))
    os.mkdir(os.path.join(repo, "sub"))
    write_file(os.path.join(repo, "sub", "x.bin"), rnd(100000, t.rng))
    run(g + ["add", "-A"])
    run(g + ["commit", "-q", "-m", "first"])
    run(g + ["branch", "feature"])
    run(g + ["checkout", "-q", "feature"])
    write_file(os.path.join(repo, "file0.txt"), b"changed on feature\n")
    os.unlink(os.path.join(repo, "file1.txt"))
    write_file(os.path.join(repo, "new.txt"), b"new\n")
    run(g + ["add", "-A"])
    run(g + ["commit", "-q", "-m", "second"])
    eq(len(run(g + ["log", "--oneline"]).stdout.splitlines()), 2, "git log on feature")
    run(g + ["checkout", "-q", "main"])
    eq(read_file(os.path.join(repo, "file0.txt")), b"line 0\n", "file0 on main")
    check(os.path.exists(os.path.join(repo, "file1.txt")), "file1 restored on main")
    check(not os.path.exists(os.path.join(repo, "new.txt")), "new.txt present on main")
    eq(run(g + ["status", "--porcelain"]).stdout, "", "git status clean")
    run(g + ["fsck", "--full", "--strict"])
    run(g + ["gc", "-q"])
    run(["git", "clone", "-q", repo, t.p("clone")])
    eq(len(run(["git", "-C", t.p("clone"), "log", "--oneline", "--all"]).stdout.splitlines()), 2,
       "clone log (both branches)")
    t.cycle()
    run(g + ["fsck", "--full", "--strict"])
    run(["git", "-C", t.p("clone"), "fsck", "--full"])
    eq(run(g + ["status", "--porcelain"]).stdout, "", "git status after umount/mount")
    run(g + ["checkout", "-q", "feature"])
    eq(read_file(os.path.join(repo, "file0.txt")), b"changed on feature\n", "checkout after umount/mount")


@case(quick=True)
def tool_sqlite(t):
    os.mkdir(t.d)
    db = t.p("test.db")
    n = 10000
    sql = f"""
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, val REAL, blob BLOB);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < {n})
INSERT INTO t(id, name, val, blob) SELECT x, 'name' || x, x * 1.5, randomblob(x % 200) FROM c;
COMMIT;
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(id) FROM t;
PRAGMA integrity_check;
"""
    r = run(["sqlite3", db], input=sql)
    eq(r.stdout.split(), [f"{n}|{n * (n + 1) // 2}", "ok"], "sqlite3 count/sum/integrity")
    # WAL mode: uses a shared writable mmap of the -shm file
    wal = t.p("wal.db")
    r = run(["sqlite3", wal], input="PRAGMA journal_mode=WAL;\nCREATE TABLE k(a INTEGER, b TEXT);\n"
            + "".join(f"INSERT INTO k VALUES({i}, 'v{i}');\n" for i in range(300))
            + "SELECT count(*) FROM k;\nPRAGMA integrity_check;\n")
    eq(r.stdout.split(), ["wal", "300", "ok"], "sqlite3 WAL mode")
    r = run(["sqlite3", db], input="UPDATE t SET val = val + 1 WHERE id % 3 = 0;\n"
            "DELETE FROM t WHERE id % 10 = 0;\nVACUUM;\nSELECT count(*) FROM t;\n")
    eq(r.stdout.split(), [str(n - n // 10)], "after update/delete/vacuum")
    t.cycle()
    r = run(["sqlite3", db], input="PRAGMA integrity_check;\nSELECT count(*) FROM t WHERE name LIKE 'name1%';\n")
    want = sum(1 for i in range(1, n + 1) if str(i).startswith("1") and i % 10 != 0)
    eq(r.stdout.split(), ["ok", str(want)], "sqlite3 after umount/mount")
    r = run(["sqlite3", wal], input="PRAGMA integrity_check;\nSELECT count(*), sum(a) FROM k;\n")
    eq(r.stdout.split(), ["ok", f"300|{sum(range(300))}"], "WAL db after umount/mount")


@case()
def tool_fio_verify(t):
    os.mkdir(t.d)
    for engine, rw in (("psync", "randwrite"), ("mmap", "randwrite"), ("psync", "write")):
        r = run(["fio", "--name=v", f"--directory={t.d}", "--size=16m", "--bs=4k", f"--rw={rw}",
                 f"--ioengine={engine}", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1",
                 "--fsync_on_close=1", "--numjobs=2", "--group_reporting"], check_rc=False, timeout=600)
        check(r.returncode == 0, f"fio {engine} {rw} exited {r.returncode}: "
              + " | ".join((r.stdout + r.stderr).strip().splitlines()[-5:]))
    for f in os.listdir(t.d):
        os.unlink(t.p(f))


# ---------------------------------------------------------------- whole volume

def manifest(root):
    """Everything that must survive umount/mount (not atime)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in [""] + sorted(dirnames + filenames):
            p = os.path.join(dirpath, n) if n else dirpath
            if n == "" and dirpath != root:
                continue
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            ent = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink,
                   st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
            if stat.S_ISREG(st.st_mode):
                ent += [st.st_size, st.st_blocks, digest_sparse(p)]
            elif stat.S_ISLNK(st.st_mode):
                ent += [os.readlink(p)]
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                ent += [st.st_rdev]
            try:
                names = sorted(os.listxattr(p, follow_symlinks=False))
                ent += [(k, os.getxattr(p, k, follow_symlinks=False)) for k in names]
            except OSError as e:
                ent += [ename(e.errno)]
            out[rel] = ent
    return out


@case(quick=True)
def persist_whole_volume(t):
    """Everything every earlier case left behind is identical after umount/mount."""
    before = manifest(t.vol.mnt)
    t.cycle()
    after = manifest(t.vol.mnt)
    diffs = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    check(not diffs, f"{len(diffs)} entries differ after umount/mount, e.g. "
          + "; ".join(f"{k}: {before.get(k)} -> {after.get(k)}" for k in diffs[:3]))
    t.note(f"{len(before)} entries compared")


# ====================================================================== main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    disks = os.environ.get("VM_DISKS", "").split()
    ap.add_argument("--device", default=disks[0] if disks else None)
    ap.add_argument("--second-device", default=disks[1] if len(disks) > 1 else None,
                    help="second disk for the EXDEV case (default: second of $VM_DISKS)")
    ap.add_argument("--fstype", default="vexfs")
    ap.add_argument("--mnt", default="/mnt/vx")
    ap.add_argument("--mount-opts", default="")
    ap.add_argument("--only", action="append", default=[],
                    help="run only cases whose name contains this (repeatable, or comma-separated)")
    ap.add_argument("--quick", action="store_true", help="smoke subset with smaller sizes")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-mkfs", action="store_true", help="use the volume as it is")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--allow-host", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    only = [s for o in args.only for s in o.split(",") if s]
    selected = []
    for name, fn, quick, vexfs_only in CASES:
        if args.quick and not quick:
            continue
        if only and not any(s in name for s in only):
            continue
        selected.append((name, fn, vexfs_only))
    if args.list:
        for name, _, _ in selected:
            print(name)
        return 0
    if not args.device:
        print("posix_suite: no device (set VM_DISKS or pass --device)", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("posix_suite: must run as root", file=sys.stderr)
        return 2
    if os.environ.get("VM_IN_GUEST") != "1" and not args.allow_host:
        print("posix_suite: refusing to run outside a scripts/vm-exec guest (it formats and mounts "
              f"{args.device}); use scripts/vm-exec, or --allow-host if you really mean it", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"posix_suite: device={args.device} second={args.second_device} fstype={args.fstype} "
          f"mnt={args.mnt} quick={args.quick} seed={seed} cases={len(selected)}", flush=True)
    os.umask(0o022)
    vol = Volume(args.device, args.fstype, args.mnt, args.mount_opts)
    res = Results("posix_suite")
    report, t_start = res.report, res.t_start

    # set up
    try:
        if mtab_entry(args.mnt):
            vol.umount()
        if not args.no_mkfs:
            vol.mkfs()
        vol.mount()
        report(True, "mkfs_and_mount", "", time.time() - t_start)
    except Exception as e:  # noqa
        report(False, "mkfs_and_mount", f"{e}", time.time() - t_start)
        return res.totals()

    for name, fn, vexfs_only in selected:
        t0 = time.time()
        if vexfs_only and args.fstype != "vexfs":
            res.skip(name, "vexfs only")
            continue
        kmsg = Kmsg()
        rng = random.Random(f"{seed}-{name}")
        t = Ctx(vol, name, args, rng)

        def body():
            vol.ensure_rw()
            if os.path.lexists(t.d):
                shutil.rmtree(t.d)
            fn(t)

        res.run_case(name, body, t.notes, t0, __file__)
        if res.failures and res.failures[-1] == name:
            lines = kmsg.read()
            for l in lines[-15:]:
                print(f"  kernel: {l}", flush=True)
        kmsg.close()

    # final: unmount and check
    t0 = time.time()
    try:
        if vol.mounted():
            vol.umount()
        r = vol.fsck()
        if r.returncode == 0:
            report(True, "fsck_clean", "", time.time() - t0)
        else:
            out = (r.stdout + r.stderr).strip().splitlines()
            report(False, "fsck_clean", f"fsck -n exited {r.returncode}: " + " | ".join(out[-10:]),
                   time.time() - t0)
    except Exception as e:  # noqa
        report(False, "fsck_clean", str(e), time.time() - t0)

    return res.finish(seed)


if __name__ == "__main__":
    sys.exit(main())
