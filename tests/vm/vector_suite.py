#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""VexFS vector suite: spaces, embeddings and search.  Runs INSIDE a guest booted by scripts/vm-exec.

    scripts/vm-exec --disk 2G -- python3 tests/vm/vector_suite.py
    scripts/vm-exec --disk 2G -- python3 tests/vm/vector_suite.py --quick
    scripts/vm-exec --disk 2G --timeout 3000 -- python3 tests/vm/vector_suite.py --only recall

It formats DEVICE (default: the first of $VM_DISKS), mounts it at /mnt/vx and runs named cases,
each through the raw ioctls (tests/vm/vexfs_ioctl.py mirrors include/uapi/linux/vexfs.h) and/or
through vexctl (build/bin/vexctl, on PATH in the guest).  Each case prints `PASS: name` or
`FAIL: name: reason` (`SKIP: name: reason` if it cannot run); afterwards the volume is unmounted
and `fsck.vexfs -n` must be clean (case `fsck_clean`).  The last line is `N passed, M failed`;
the exit status is 1 if anything failed.  docs/IOCTL.md is what the cases check.

--quick skips the slow cases (recall on 100,000 vectors) and shrinks the others.
Python 3 standard library only (no numpy); brute-force distances in float64 over float32 values.
"""

import argparse
import contextlib
import ctypes
import errno
import fcntl
import json
import math
import os
import pickle
import random
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time

# ---------------------------------------------------------------- the ABI
# vexfs_ioctl.py (next to this file) packs the requests; it asserts its struct sizes and
# ioctl numbers against include/uapi/linux/vexfs.h at import.

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vexfs_ioctl as vx  # noqa: E402
from vexfs_ioctl import (  # noqa: E402
    BATCH_BYTES_MAX, BATCH_MAX, CHUNK, DIM_MAX, EF_MAX, EMB, EMB_AFTER, EMB_ALL_SPACES, EMB_REPLACE_ALL,
    IOC_EMB_ADD, IOC_EMB_DELETE, IOC_EMB_GET, IOC_EMB_UPDATE, IOC_MANAGE, IOC_SEARCH, K_MAX,
    MANAGE_SIZE, OP_DIR_GET_SPACE, OP_DIR_SET_SPACE, OP_INDEX_BUILD, OP_SET_EF, OP_SPACE_CREATE,
    OP_SPACE_DROP, OP_SPACE_INFO, OP_SPACE_LIST, SEARCH_EXACT, SEARCH_NO_STALE, SEARCH_PATHS,
    Buf, emb_call, iowr, manage, pack_space, space_create, space_info)
from vexfs_ioctl import search_call as search  # noqa: E402  (flags, sizes and pointers as given)
from suite_lib import (  # noqa: E402
    Fail, Results, Volume, check, ename, eq, expect_errno, mtab_entry, run)


def floats(vals):
    return struct.pack("<%df" % len(vals), *vals)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def space_list(fd):
    """Every space (room for as many as SPACE_LIST reports)."""
    return vx.space_list(fd, manage(fd, OP_SPACE_LIST)["list_total"])[0]


def emb_add(fd, name, chunks, vectors, dim, flags=0, expect=0):
    """EMB_ADD with the vectors as one flat list of dim floats a chunk."""
    return emb_call(fd, IOC_EMB_ADD, name, chunks, vectors, dim, flags, expect)


def emb_get(fd, name="", vectors=True):
    """(chunks, info): chunks as dicts, with its "vector" when vectors."""
    chunks, vecs, info = vx.emb_get(fd, name, vectors)
    for c, v in zip(chunks, vecs):
        c["vector"] = v
    return chunks, info


# ---------------------------------------------------------------- brute force

def dist(metric, a, b):
    if metric == "l2":
        return sum((x - y) * (x - y) for x, y in zip(a, b))
    dot = sum(x * y for x, y in zip(a, b))
    if metric == "ip":
        return -dot
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return 1 - dot / (na * nb) if na and nb else 1.0


def brute(metric, items, q, k):
    """items: list of (key, vector); returns [(distance, key)] nearest first."""
    return sorted(((dist(metric, q, v), key) for key, v in items), key=lambda t: t[0])[:k]


def rvec(rng, dim, scale=1.0):
    return [f32(rng.uniform(-scale, scale)) for _ in range(dim)]


# ---------------------------------------------------------------- harness

def vexctl(*args, rc=0, user=None, input=None, timeout=600):
    r = run(["vexctl"] + [str(a) for a in args], check_rc=False, user=user, input=input,
            timeout=timeout)
    if rc is not None and r.returncode != rc:
        raise Fail(f"vexctl {' '.join(map(str, args))}: exit {r.returncode}, expected {rc}: "
                   f"{(r.stderr or r.stdout).strip()[-400:]}")
    return r


def vexctl_json(*args, user=None):
    r = vexctl(*args, "--json", user=user)
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        raise Fail(f"vexctl {' '.join(map(str, args))} --json is not valid JSON ({e}): {r.stdout[:300]}")


def vexctl_pty(*args, rc=0, timeout=600):
    """vexctl with standard input, output and error on a new pseudo-terminal, output
    post-processing off (so "\\n" stays "\\n"): everything it wrote, as text."""
    cmd = ["vexctl"] + [str(a) for a in args]
    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    try:
        p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    finally:
        os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([master], [], [], left)[0]:
                raise Fail(f"{' '.join(cmd)} on a terminal: still running after {timeout} s")
            try:
                data = os.read(master, 65536)
            except OSError as e:  # EIO: the last descriptor of the terminal was closed
                if e.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            out += data
        status = p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
            p.wait()
    text = out.decode(errors="replace")
    if rc is not None and status != rc:
        raise Fail(f"{' '.join(cmd)} on a terminal: exit {status}, expected {rc}: {text.strip()[-400:]!r}")
    return text


def write_npy(path, rows):
    """float32 C-order 2-D .npy, by hand."""
    n, d = len(rows), len(rows[0])
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (n, d)
    hdr += " " * (64 - (10 + len(hdr) + 1) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        for r in rows:
            f.write(floats(r))


CASES = []


def case(quick=True, slow=False):
    def deco(fn):
        CASES.append((fn.__name__, fn, quick, slow))
        return fn
    return deco


class Ctx:
    def __init__(self, vol, name, args, rng):
        self.vol, self.name, self.args, self.rng = vol, name, args, rng
        self.d = os.path.join(vol.mnt, name)
        self.notes = []
        self.fds = []
        self.spaces = []

    def p(self, *parts):
        return os.path.join(self.d, *parts)

    def open(self, path, flags=os.O_RDONLY):
        fd = os.open(path, flags)
        self.fds.append(fd)
        return fd

    def dir(self, *parts):
        return self.open(self.p(*parts), os.O_RDONLY | os.O_DIRECTORY)

    def file(self, rel, data=b"", mode=0o644):
        path = self.p(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def space(self, dim, metric="l2", suffix="", **kw):
        """A space private to the case (dropped afterwards)."""
        name = (self.name + suffix)[:63]
        fd = self.open(self.vol.mnt, os.O_RDONLY | os.O_DIRECTORY)
        space_create(fd, name, dim, metric, **kw)
        self.spaces.append(name)
        return name

    def close(self):
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []
        try:
            fd = os.open(self.vol.mnt, os.O_RDONLY)
            for s in self.spaces:
                with contextlib.suppress(OSError):
                    manage(fd, OP_SPACE_DROP, s)
            os.close(fd)
        except OSError:
            pass

    def note(self, s):
        self.notes.append(s)


def root_fd(t):
    return t.open(t.vol.mnt, os.O_RDONLY | os.O_DIRECTORY)


# ====================================================================== cases

@case()
def vector_ioctls_answer(t):
    # vexfs_ioctl asserts its packing against the header's sizes and numbers at import
    f = t.file("any.txt", b"x")
    for fd, what in ((root_fd(t), "the root directory"), (t.open(f), "a regular file")):
        r = manage(fd, OP_SPACE_LIST)
        check(r["list_total"] >= 0 and r["list_filled"] == 0, f"SPACE_LIST with no room on {what}")
    eq(os.statvfs(t.vol.mnt).f_fsid is not None, True, "statvfs")
    d = vexctl_json("status", t.vol.mnt)
    eq(d["volume"], t.vol.mnt, "vexctl status finds the mount point")


@case()
def space_create_list_show_drop(t):
    fd = root_fd(t)
    s = space_create(fd, "sp-basic", 8, "cosine", model="all-MiniLM-L6-v2", version="v2")
    t.spaces.append("sp-basic")
    check(s["space_id"] > 0, f"space_id assigned ({s['space_id']})")
    eq((s["dim"], s["metric"], s["elem_type"]), (8, 2, 1), "dim, metric, elem_type")
    eq((s["hnsw_m"], s["hnsw_ef_construction"], s["hnsw_ef_search"]), (16, 200, 64), "defaults filled in")
    eq((s["model"], s["model_version"]), ("all-MiniLM-L6-v2", "v2"), "model")
    # name given only in manage.name
    s2 = manage(fd, OP_SPACE_CREATE, "sp-basic2", pack_space(dim=4, metric=3, m=8, efc=50, ef=20))["space"]
    t.spaces.append("sp-basic2")
    eq((s2["name"], s2["metric"], s2["hnsw_m"], s2["hnsw_ef_construction"], s2["hnsw_ef_search"]),
       ("sp-basic2", 3, 8, 50, 20), "name from manage.name, explicit parameters")
    names = [x["name"] for x in space_list(fd)]
    check("sp-basic" in names and "sp-basic2" in names, f"listed: {names}")
    i = space_info(fd, "sp-basic")
    eq((i["space_id"], i["vector_count"], i["loaded"]), (s["space_id"], 0, 1), "SPACE_INFO")
    check(i["create_time_ns"] > 1.6e18, "create time is set")
    # list with too little room: filled <= room, total = all
    room = Buf(296)
    r = manage(fd, OP_SPACE_LIST, list_ptr=room.addr, list_count=1)
    check(r["list_filled"] == 1 and r["list_total"] >= 2, f"partial list {r['list_filled']}/{r['list_total']}")
    # vexctl sees the same
    d = vexctl_json("space", "list", t.vol.mnt)
    check(any(x["name"] == "sp-basic" and x["dim"] == 8 and x["metric"] == "cosine" for x in d["spaces"]),
          "vexctl space list --json")
    d = vexctl_json("space", "show", "sp-basic", t.vol.mnt)
    eq((d["id"], d["model"]), (s["space_id"], "all-MiniLM-L6-v2"), "vexctl space show --json")
    manage(fd, OP_SPACE_DROP, "sp-basic")
    expect_errno(errno.ENOENT, space_info, fd, "sp-basic", what="INFO after DROP")
    # the name can be reused at once
    space_create(fd, "sp-basic", 3)
    eq(space_info(fd, "sp-basic")["dim"], 3, "recreated with another dimension")
    vexctl("space", "drop", "sp-basic", t.vol.mnt, "--yes")
    vexctl("space", "show", "sp-basic", t.vol.mnt, rc=4)
    vexctl("space", "create", "sp-vx", "--dim", 5, "--metric", "ip", "--path", t.vol.mnt)
    t.spaces.append("sp-vx")
    vexctl("space", "create", "sp-vx", "--dim", 5, "--path", t.vol.mnt, rc=6)


@case()
def space_bad_params(t):
    fd = root_fd(t)
    bad = [
        ("dim 0", dict(dim=0)), ("dim 8193", dict(dim=DIM_MAX + 1)),
        ("metric 0", dict(metric=0)), ("metric 4", dict(metric=4)),
        ("elem_type float16 (reserved)", dict(elem_type=2)), ("elem_type 0", dict(elem_type=0)),
        ("M 1", dict(m=1)), ("M 101", dict(m=101)),
        ("ef_construction 10001", dict(efc=EF_MAX + 1)), ("ef 10001", dict(ef=EF_MAX + 1)),
        ("space.flags", dict(flags=1)), ("space.reserved", dict(reserved=(0, 0, 0, 0, 0, 1))),
    ]
    for what, kw in bad:
        args = dict(name="sp-bad", dim=4, metric=1)
        args.update(kw)
        expect_errno(errno.EINVAL, manage, fd, OP_SPACE_CREATE, "sp-bad", pack_space(**args), what=what)
    for nm in ["a b", ".hidden", "a/b", "x" * 64, "é"]:
        expect_errno(errno.EINVAL, manage, fd, OP_SPACE_CREATE, "", pack_space(name=nm.encode()[:64], dim=4),
                     what=f"name {nm[:10]!r}")
    expect_errno(errno.EINVAL, manage, fd, OP_SPACE_CREATE, "", pack_space(dim=4), what="no name at all")
    expect_errno(errno.EINVAL, manage, fd, OP_SPACE_CREATE, "sp-x", pack_space(name="sp-y", dim=4),
                 what="manage.name and space.name disagree")
    expect_errno(errno.EINVAL, manage, fd, OP_SPACE_CREATE, "sp-m", pack_space(name="sp-m", dim=4, model=b"m" * 64),
                 what="model not NUL-terminated")
    ok = "n" * 63
    space_create(fd, ok, 4)
    t.spaces.append(ok)
    space_create(fd, "sp-edge", DIM_MAX, m=2, efc=EF_MAX, ef=1)
    t.spaces.append("sp-edge")
    expect_errno(errno.EEXIST, space_create, fd, "sp-edge", 4, what="duplicate")
    expect_errno(errno.ENOENT, manage, fd, OP_SPACE_DROP, "sp-nope", what="drop unknown")
    expect_errno(errno.ENOENT, manage, fd, OP_SPACE_INFO, "sp-nope", what="info unknown")
    expect_errno(errno.ENOENT, manage, fd, OP_INDEX_BUILD, "sp-nope", what="build unknown")
    expect_errno(errno.EINVAL, manage, fd, OP_SPACE_DROP, "", what="drop without a name")
    expect_errno(errno.EINVAL, manage, fd, OP_SPACE_INFO, "", what="info without a name")
    expect_errno(errno.EINVAL, manage, fd, OP_SET_EF, "sp-edge", pack_space(ef=0), what="set ef 0")
    expect_errno(errno.EINVAL, manage, fd, OP_SET_EF, "sp-edge", pack_space(ef=EF_MAX + 1), what="set ef 10001")
    manage(fd, OP_SET_EF, "sp-edge", pack_space(ef=123))
    eq(space_info(fd, "sp-edge")["hnsw_ef_search"], 123, "SET_EF")


@case()
def abi_rejects_malformed(t):
    fd = root_fd(t)
    f = t.file("f", b"abcd")
    ffd = t.open(f)
    dfd = t.dir()
    sp = t.space(4)
    emb_add(ffd, sp, [(0, 0)], [1, 2, 3, 4], 4)
    # size fields
    expect_errno(errno.EINVAL, manage, fd, OP_SPACE_LIST, size=MANAGE_SIZE - 8, what="MANAGE size")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_GET, sp, count=0, size=EMB.size + 8, what="EMB size")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3, 4], 1, size=0, what="SEARCH size")
    # reserved and flags
    expect_errno(errno.EINVAL, manage, fd, OP_SPACE_LIST, reserved=(0, 0, 1, 0), what="MANAGE reserved")
    expect_errno(errno.EINVAL, manage, fd, OP_SPACE_LIST, flags=1, what="MANAGE flags")
    expect_errno(errno.EINVAL, manage, fd, 0, what="op 0")
    expect_errno(errno.EINVAL, manage, fd, 99, what="op 99")
    expect_errno(errno.EINVAL, manage, fd, OP_SPACE_INFO, b"x" * 64, what="name without NUL")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_GET, sp, count=0, reserved=(1, 0, 0, 0), what="EMB reserved")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_GET, sp, count=0, flags=1, what="GET flags")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_UPDATE, sp, [(0, 4)], [1, 2, 3, 4], 4, flags=EMB_REPLACE_ALL,
                 what="EMB_REPLACE_ALL on UPDATE")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_ADD, sp, [(0, 4)], [1, 2, 3, 4], 4, flags=4,
                 what="unknown ADD flag")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3, 4], 1, reserved0=1, what="SEARCH reserved0")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3, 4], 1, reserved=(0, 0, 0, 1), what="SEARCH reserved")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3, 4], 1, flags=8, what="SEARCH unknown flag")
    # chunk flags must be zero on input
    cb = Buf(CHUNK.pack(0, 4, 0, 1, 0))
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_ADD, sp, count=1, chunks_ptr=cb.addr,
                 vectors=[1, 2, 3, 4], dim=4, what="chunk flags")
    cb = Buf(CHUNK.pack(2 ** 64 - 2, 4, 0, 0, 0))
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_ADD, sp, count=1, chunks_ptr=cb.addr,
                 vectors=[1, 2, 3, 4], dim=4, what="chunk offset+length overflows")
    # bad pointers
    expect_errno(errno.EFAULT, fcntl.ioctl, fd, IOC_MANAGE, 16, what="MANAGE arg pointer")
    expect_errno(errno.EFAULT, fcntl.ioctl, ffd, IOC_EMB_GET, 16, what="EMB arg pointer")
    expect_errno(errno.EFAULT, fcntl.ioctl, dfd, IOC_SEARCH, 16, what="SEARCH arg pointer")
    expect_errno(errno.EFAULT, manage, fd, OP_SPACE_LIST, list_ptr=16, list_count=4, what="list_ptr")
    expect_errno(errno.EFAULT, emb_call, ffd, IOC_EMB_ADD, sp, count=1, chunks_ptr=16, vectors=[1, 2, 3, 4],
                 dim=4, what="chunks_ptr")
    expect_errno(errno.EFAULT, emb_call, ffd, IOC_EMB_ADD, sp, [(8, 8)], dim=4, vectors_ptr=16, what="vectors_ptr")
    expect_errno(errno.EFAULT, emb_call, ffd, IOC_EMB_GET, sp, count=1, chunks_ptr=16, what="GET chunks_ptr")
    expect_errno(errno.EFAULT, search, dfd, sp, [1, 2, 3, 4], 1, query_ptr=16, what="query_ptr")
    expect_errno(errno.EFAULT, search, dfd, sp, [1, 2, 3, 4], 1, results_ptr=16, what="results_ptr")
    # unknown ioctl numbers
    expect_errno(errno.ENOTTY, fcntl.ioctl, ffd, iowr(99, 152), bytearray(152), what="nr 99")
    expect_errno(errno.ENOTTY, fcntl.ioctl, ffd, iowr(1, 100), bytearray(100), what="MANAGE with another size")
    expect_errno(errno.ENOTTY, fcntl.ioctl, ffd, (3 << 30) | (152 << 16) | (0xE8 << 8) | 2, bytearray(152),
                 what="another magic")
    # on another file system
    with open("/tmp/vx-not-vexfs", "w"):
        pass
    tfd = t.open("/tmp/vx-not-vexfs")
    expect_errno(errno.ENOTTY, emb_call, tfd, IOC_EMB_GET, sp, count=0, what="EMB_GET on tmpfs")
    expect_errno(errno.ENOTTY, manage, t.open("/tmp", os.O_RDONLY | os.O_DIRECTORY), OP_SPACE_LIST,
                 what="MANAGE on tmpfs")
    vexctl("search", "/tmp", "--vector", "1 2 3 4", rc=3)
    vexctl("space", "list", "/tmp", rc=3)


@case()
def limits(t):
    f = t.file("f", b"x" * 100)
    ffd = t.open(f)
    dfd = t.dir()
    sp = t.space(4)
    q = [1, 2, 3, 4]
    emb_add(ffd, sp, [(0, 0)], q, 4)
    expect_errno(errno.EINVAL, search, dfd, sp, q, 0, what="k = 0")
    expect_errno(errno.EINVAL, search, dfd, sp, q, K_MAX + 1, what="k = 4097")
    eq(len(search(dfd, sp, q, K_MAX, flags=0)), 1, "k = 4096 is fine")
    expect_errno(errno.EINVAL, search, dfd, sp, q, 10, ef=5, what="ef < k")
    expect_errno(errno.EINVAL, search, dfd, sp, q, 10, ef=EF_MAX + 1, what="ef > 10000")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3], 1, what="query dim 3 in a dim-4 space")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3, float("nan")], 1, what="NaN query")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3, float("inf")], 1, what="infinite query")
    expect_errno(errno.EINVAL, search, dfd, sp, q, 1, flags=SEARCH_PATHS, paths_size=0, what="PATHS without a buffer")
    expect_errno(errno.EINVAL, search, dfd, sp, q, 1, flags=SEARCH_PATHS, paths_size=(16 << 20) + 1,
                 what="paths_size > 16 MiB")
    expect_errno(errno.ENOTDIR, search, ffd, sp, q, 1, what="search on a file")
    expect_errno(errno.ENOENT, search, dfd, "sp-nope", q, 1, what="search unknown space")
    expect_errno(errno.ENOENT, search, dfd, "", q, 1, what="search without a default space")
    expect_errno(errno.EINVAL, emb_add, ffd, sp, [(0, 1)], [1, 2, 3], 3, what="ADD dim mismatch")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_ADD, sp, [], [], 4, what="ADD count 0")
    expect_errno(errno.EINVAL, emb_add, ffd, sp, [(0, 1)], [1, 2, float("nan"), 4], 4, what="ADD NaN")
    expect_errno(errno.EINVAL, emb_add, dfd, sp, [(0, 1)], q, 4, what="ADD on a directory")
    expect_errno(errno.E2BIG, emb_call, ffd, IOC_EMB_ADD, sp, count=BATCH_MAX + 1, dim=4, chunks_ptr=16,
                 vectors_ptr=16, what="ADD count 65537")
    expect_errno(errno.E2BIG, emb_call, ffd, IOC_EMB_GET, sp, count=BATCH_MAX + 1, chunks_ptr=16,
                 what="GET count 65537")
    expect_errno(errno.E2BIG, emb_call, ffd, IOC_EMB_DELETE, sp, count=BATCH_MAX + 1, chunks_ptr=16,
                 what="DELETE count 65537")
    big = t.space(DIM_MAX, suffix="-big")
    n = BATCH_BYTES_MAX // (4 * DIM_MAX) + 1
    expect_errno(errno.E2BIG, emb_call, ffd, IOC_EMB_ADD, big, count=n, dim=DIM_MAX, chunks_ptr=16,
                 vectors_ptr=16, what=f"ADD {n} x dim 8192 (> 64 MiB)")


@case(quick=False)
def get_more_than_one_call(t):
    """More embeddings than one GET returns: vexctl get (libvexfs) reads them in pages.

    They go in with vexctl import at its default batch (65536 chunks a call): the reservation of
    one file's embeddings as a run of contiguous keys lets the whole batch fit this 2 GB volume, so
    the import takes exactly two calls (it used to need about 40 KiB a chunk and halve)."""
    n = BATCH_MAX + 7
    f = t.file("many", b"x" * n)
    ffd = t.open(f)
    sp = t.space(2)
    write_npy("/tmp/vx-many.npy", [[float(i % 1000)] * 2 if i < BATCH_MAX else [0.5, -0.5]
                                   for i in range(n)])
    with open("/tmp/vx-many.list", "w") as lst:
        lst.writelines(f"many\t{i}:1\n" for i in range(n))
    d = vexctl_json("import", t.d, "--vectors", "/tmp/vx-many.npy", "--files", "/tmp/vx-many.list",
                    "--space", sp)
    eq(d["vectors"], n, "vexctl import of 65543 chunks into one file")
    eq(d["calls"], 2, "import calls for 65536 + 7 chunks (a full batch fits)")
    eq(emb_call(ffd, IOC_EMB_GET, sp, count=0)["total"], n, "the file has 65543 embeddings")
    d = vexctl_json("get", f, "--space", sp, "--vectors")
    got = d["embeddings"]
    eq(len(got), n, "vexctl get returns every one")
    eq([e["offset"] for e in got], list(range(n)), "in order, none twice")
    eq((got[BATCH_MAX - 1]["vector"], got[n - 1]["vector"]), ([535.0, 535.0], [0.5, -0.5]),
       "vectors on both sides of the page boundary")


@case()
def put_get_rm_chunks(t):
    data = bytes(range(256)) * 16
    f = t.file("doc.bin", data)
    ffd = t.open(f)
    sp = t.space(3)
    r = emb_add(ffd, sp, [(0, 0)], [1, 0, 0], 3)
    check(r["data_version"] > 0, "ADD returns the data version")
    got, info = emb_get(ffd, sp)
    eq([(e["offset"], e["length"]) for e in got], [(0, len(data))], "0+0 is stored as the whole file")
    eq(got[0]["vector"], [1.0, 0.0, 0.0], "vector round trip")
    eq(got[0]["data_version"], r["data_version"], "recorded data version")
    check(not got[0]["stale"], "fresh embedding not stale")
    expect_errno(errno.EEXIST, emb_add, ffd, sp, [(0, 0)], [1, 1, 1], 3, what="duplicate whole-file chunk")
    chunks = [(4096 - 1024 * i, 1024) for i in range(1, 4)]          # out of order on purpose
    vecs = [f32(x) for i in range(3) for x in (i, i + 0.5, -i)]
    emb_add(ffd, sp, chunks, vecs, 3)
    got, info = emb_get(ffd, sp)
    eq([(e["offset"], e["length"]) for e in got], [(0, 4096), (1024, 1024), (2048, 1024), (3072, 1024)],
       "GET ordered by offset then length")
    eq(got[3]["vector"], vecs[0:3], "chunk 3072's vector")
    eq(info["total"], 4, "total")
    expect_errno(errno.EEXIST, emb_add, ffd, sp, [(5, 1), (5, 1)], [1] * 6, 3, what="same chunk twice in a batch")
    expect_errno(errno.EEXIST, emb_add, ffd, sp, [(7, 1), (1024, 1024)], [1] * 6, 3,
                 what="one existing chunk fails the batch")
    eq(len(emb_get(ffd, sp)[0]), 4, "the failed batch added nothing (atomic)")
    # GET with less room, chunks only
    cb = Buf(64)
    r = emb_call(ffd, IOC_EMB_GET, sp, count=2, chunks_ptr=cb.addr, vectors_ptr=0)
    eq((r["filled"], r["total"], r["dim"]), (2, 4, 3), "GET with room for 2")

    # pages after a chunk (VEXFS_EMB_AFTER), with their vectors
    def page(after):
        cb, vb = Buf(CHUNK.size * 2), Buf(4 * 3 * 2)
        r = emb_call(ffd, IOC_EMB_GET, sp, count=2, chunks_ptr=cb.addr, vectors_ptr=vb.addr,
                     flags=EMB_AFTER, reserved=(after[0], after[1], 0, 0))
        eq(r["total"], 4, f"a page after {after} still counts every chunk")
        return ([CHUNK.unpack_from(cb.raw(), i * CHUNK.size)[:2] for i in range(r["filled"])],
                list(struct.unpack_from(f"<{3 * r['filled']}f", vb.raw())))
    eq(page((1024, 1024)), ([(2048, 1024), (3072, 1024)], [1.0, 1.5, -1.0] + vecs[0:3]),
       "GET after (1024, 1024): the next page with its vectors")
    eq(page((1500, 7))[0], [(2048, 1024), (3072, 1024)], "GET after a key that is not a chunk")
    eq(page((0, 0))[0], [(0, 4096), (1024, 1024)], "GET after (0, 0)")
    eq(page((3072, 1024))[0], [], "GET after the last chunk: an empty page")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_ADD, sp, [(9, 9)], [1, 1, 1], 3, flags=EMB_AFTER,
                 what="EMB_AFTER on ADD")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_GET, sp, count=0, reserved=(0, 5, 0, 0),
                 what="after_length without EMB_AFTER")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_GET, sp, count=0, flags=EMB_AFTER,
                 reserved=(0, 0, 0, 1), what="EMB reserved with EMB_AFTER")
    # UPDATE
    emb_call(ffd, IOC_EMB_UPDATE, sp, [(1024, 1024)], [9, 9, 9], 3)
    eq(emb_get(ffd, sp)[0][1]["vector"], [9.0, 9.0, 9.0], "UPDATE replaced the vector")
    expect_errno(errno.ENOENT, emb_call, ffd, IOC_EMB_UPDATE, sp, [(1, 1)], [9, 9, 9], 3, what="UPDATE missing chunk")
    # DELETE
    emb_call(ffd, IOC_EMB_DELETE, sp, [(2048, 1024)])
    eq(len(emb_get(ffd, sp)[0]), 3, "DELETE one chunk")
    expect_errno(errno.ENOENT, emb_call, ffd, IOC_EMB_DELETE, sp, [(2048, 1024)], what="DELETE it again")
    # EMB_REPLACE_ALL
    emb_add(ffd, sp, [(0, 10), (10, 10)], [1, 2, 3, 4, 5, 6], 3, flags=EMB_REPLACE_ALL)
    eq([(e["offset"], e["length"]) for e in emb_get(ffd, sp)[0]], [(0, 10), (10, 10)], "EMB_REPLACE_ALL")
    # expect_version
    dv = emb_call(ffd, IOC_EMB_GET, sp, count=0)["data_version"]
    emb_add(ffd, sp, [(20, 1)], [0, 0, 1], 3, expect=dv)
    with open(f, "ab") as w:
        w.write(b"more")
    expect_errno(errno.ESTALE, emb_add, ffd, sp, [(21, 1)], [0, 0, 1], 3, expect=dv, what="ADD with an old version")
    expect_errno(errno.ESTALE, emb_call, ffd, IOC_EMB_UPDATE, sp, [(20, 1)], [0, 0, 1], 3, expect=dv,
                 what="UPDATE with an old version")
    # delete all in the space, then every space
    sp2 = t.space(2, suffix="-2")
    emb_add(ffd, sp2, [(0, 0)], [1, 1], 2)
    emb_call(ffd, IOC_EMB_DELETE, sp)
    eq(len(emb_get(ffd, sp)[0]), 0, "DELETE count 0: all in the space")
    eq(len(emb_get(ffd, sp2)[0]), 1, "other space untouched")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_EMB_DELETE, "", [(0, 1)], flags=EMB_ALL_SPACES,
                 what="EMB_ALL_SPACES with chunks")
    emb_call(ffd, IOC_EMB_DELETE, "", flags=EMB_ALL_SPACES)
    eq(len(emb_get(ffd, sp2)[0]), 0, "EMB_ALL_SPACES")
    # the same through vexctl
    vexctl("put", f, "--space", sp, "--chunk", "0:100", "--chunk", "100:100", "--vector", "1 2 3\n4 5 6")
    d = vexctl_json("get", f, "--space", sp, "--vectors")
    eq([(e["offset"], e["length"], e["vector"]) for e in d["embeddings"]],
       [(0, 100, [1, 2, 3]), (100, 100, [4, 5, 6])], "vexctl put/get")
    vexctl("put", f, "--space", sp, "--chunk", "0:100", "--vector", "1 2 3", rc=6)
    vexctl("rm", f, "--space", sp, "--chunk", "0:100")
    vexctl("rm", f, "--space", sp, "--chunk", "0:100", rc=4)
    eq(len(vexctl_json("get", f, "--space", sp)["embeddings"]), 1, "vexctl rm one chunk")
    vexctl("put", f, "--space", sp, "--vector", "1 2", rc=2)


def populate(t, sp, metric, dim, nfiles, chunks, rng, sub=lambda i: "", mode=0o644):
    """nfiles files with chunks embeddings each; returns [(key, vector)], key = (relpath, offset)."""
    items = []
    for i in range(nfiles):
        rel = os.path.join(sub(i), f"f{i:04d}.txt")
        fd = t.open(t.file(rel, b"x" * (chunks * 16), mode))
        vecs, ch = [], []
        for c in range(chunks):
            v = rvec(rng, dim)
            vecs += v
            ch.append((c * 16, 16))
            items.append(((rel, c * 16), v))
        emb_add(fd, sp, ch, vecs, dim)
    return items


@case()
def search_matches_brute_force(t):
    rng = t.rng
    nf, nc, dim = (10, 5, 8) if t.args.quick else (40, 10, 12)
    for metric in ("l2", "cosine", "ip"):
        sp = t.space(dim, metric, suffix="-" + metric)
        items = populate(t, sp, metric, dim, nf, nc, rng, sub=lambda i, m=metric: m)
        dfd = t.dir(metric)
        for qi in range(5):
            q = rvec(rng, dim)
            want = brute(metric, items, q, 10)
            got = search(dfd, sp, q, 10, flags=SEARCH_EXACT | SEARCH_PATHS)
            eq(len(got), 10, f"{metric}: exact result count")
            for (wd, (wrel, woff)), g in zip(want, got):
                check(abs(g["distance"] - wd) <= 1e-4 * max(1.0, abs(wd)),
                      f"{metric} q{qi}: distance {g['distance']} vs brute force {wd}")
            # same set up to ties
            gd = [g["distance"] for g in got]
            check(gd == sorted(gd), f"{metric}: results nearest first")
            wantkeys = {k for _, k in want[:9]}      # the 10th may tie with the 11th
            gotkeys = {(os.path.join(metric, g["path"]), g["offset"]) for g in got}
            missing = {k for k in wantkeys if k not in gotkeys}
            check(not missing, f"{metric} q{qi}: exact search misses {sorted(missing)[:3]}")
            h = search(dfd, sp, q, 10, ef=100)
            check(h and abs(h[0]["distance"] - want[0][0]) <= 1e-4 * max(1.0, abs(want[0][0])),
                  f"{metric}: HNSW top-1 is the true nearest")
            check(all(r["path"] and r["path"].startswith("f") for r in got), "paths relative to the directory")
    # k larger than the population
    eq(len(search(dfd, sp, q, K_MAX, flags=SEARCH_EXACT)), nf * nc, "k > vectors: all returned")
    # vexctl agrees with the ioctl
    d = vexctl_json("search", t.p("ip"), "--space", sp, "--vector", " ".join(map(repr, q)), "-k", 5, "--exact")
    eq([r["rank"] for r in d["results"]], [1, 2, 3, 4, 5], "vexctl ranks")
    check(abs(d["results"][0]["distance"] - want[0][0]) <= 1e-4 * max(1, abs(want[0][0])), "vexctl distance")
    check(d["results"][0]["path"].startswith(t.p("ip")), "vexctl full path")


@case()
def subtree_scoping_and_paths(t):
    rng = t.rng
    sp = t.space(4)
    for rel in ["a/x.txt", "a/deep/er/y.txt", "b/z.txt", "top.txt"]:
        emb_add(t.open(t.file(rel, b"data")), sp, [(0, 0)], rvec(rng, 4), 4)
    q = rvec(rng, 4)
    eq(sorted(r["path"] for r in search(t.dir(), sp, q, 10)),
       ["a/deep/er/y.txt", "a/x.txt", "b/z.txt", "top.txt"], "everything under the case directory")
    eq(sorted(r["path"] for r in search(t.dir("a"), sp, q, 10)), ["deep/er/y.txt", "x.txt"],
       "only files beneath a/, paths relative to it")
    eq([r["path"] for r in search(t.dir("a", "deep"), sp, q, 10)], ["er/y.txt"], "a/deep")
    eq(search(t.dir("b"), sp, q, 10, flags=SEARCH_EXACT | SEARCH_PATHS)[0]["path"], "z.txt", "exact search scoped too")
    # paths that do not fit are still results
    r = search(t.dir(), sp, q, 4, flags=SEARCH_PATHS, paths_size=8)
    eq(len(r), 4, "results without room for paths")
    check(any(x["path"] is None for x in r), "a path that does not fit has path_length 0")
    # without PATHS
    check(all(x["path"] is None for x in search(t.dir(), sp, q, 4, flags=0)), "no paths without PATHS")
    d = vexctl_json("search", t.p("a"), "--space", sp, "--vector", "0 0 0 0", "-k", 10)
    eq(sorted(r["relpath"] for r in d["results"]), ["deep/er/y.txt", "x.txt"], "vexctl search scoped")


@case()
def open_result_by_handle(t):
    sp = t.space(2)
    f = t.file("h.txt", b"handle me")
    emb_add(t.open(f), sp, [(0, 0)], [1, 0], 2)
    r = search(t.dir(), sp, [1, 0], 1)[0]
    st = os.stat(f)
    eq(r["ino"], st.st_ino, "result ino")
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(struct.pack("<Ii3I", 12, 0x81, r["ino"] & 0xffffffff, r["ino"] >> 32,
                                                  r["generation"] & 0xffffffff))
    fd = libc.open_by_handle_at(t.open(t.vol.mnt), buf, os.O_RDONLY)
    check(fd >= 0, f"open_by_handle_at FILEID_INO64_GEN: {ename(ctypes.get_errno())}")
    eq(os.read(fd, 100), b"handle me", "content through the handle")
    os.close(fd)
    # name_to_handle_at agrees with the documented layout
    hb = ctypes.create_string_buffer(struct.pack("<Ii", 64, 0) + bytes(64))
    mid = ctypes.c_int()
    check(libc.name_to_handle_at(-100, f.encode(), hb, ctypes.byref(mid), 0) == 0, "name_to_handle_at")
    nb, ty = struct.unpack("<Ii", hb.raw[:8])
    eq((nb, ty), (12, 0x81), "name_to_handle_at: 12 bytes of type FILEID_INO64_GEN")
    eq(hb.raw[8:20], buf.raw[8:20], "same handle bytes as built from the result")
    os.unlink(f)
    fd = libc.open_by_handle_at(t.open(t.vol.mnt), buf, os.O_RDONLY)
    eq((fd, ctypes.get_errno()), (-1, errno.ESTALE), "handle of a deleted file")


@case()
def stale_flag(t):
    sp = t.space(2)
    f = t.file("s.txt", b"0123456789")
    fd = t.open(f)
    emb_add(fd, sp, [(0, 5), (5, 5)], [1, 0, 0, 1], 2)
    check(not any(e["stale"] for e in emb_get(fd, sp)[0]), "fresh")
    with open(f, "r+b") as w:
        w.write(b"X")
    check(all(e["stale"] for e in emb_get(fd, sp)[0]), "stale after a write")
    r = search(t.dir(), sp, [1, 0], 2)
    check(all(x["stale"] for x in r), "search reports stale")
    eq(search(t.dir(), sp, [1, 0], 2, flags=SEARCH_PATHS | SEARCH_NO_STALE), [], "NO_STALE skips them")
    emb_call(fd, IOC_EMB_UPDATE, sp, [(0, 5)], [1, 0], 2)
    g = emb_get(fd, sp)[0]
    eq([e["stale"] for e in g], [False, True], "UPDATE clears staleness of that chunk")
    eq(len(search(t.dir(), sp, [1, 0], 2, flags=SEARCH_PATHS | SEARCH_NO_STALE)), 1, "NO_STALE keeps the fresh one")
    os.truncate(f, 3)
    check(all(e["stale"] for e in emb_get(fd, sp)[0]), "stale after truncate")
    emb_add(fd, sp, [(0, 1)], [0, 1], 2, flags=EMB_REPLACE_ALL)
    g = t.file("mm.txt", b"\0" * 4096)
    gfd = t.open(g)
    emb_add(gfd, sp, [(0, 0)], [1, 1], 2)
    import mmap
    with open(g, "r+b") as w:
        m = mmap.mmap(w.fileno(), 4096)
        m[0:1] = b"M"
        m.flush()
        m.close()
    check(emb_get(gfd, sp)[0][0]["stale"], "stale after an mmap write")
    d = vexctl_json("get", g, "--space", sp)
    check(d["embeddings"][0]["stale"], "vexctl get shows stale")


FS_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
SHUTDOWN_NOLOGFLUSH = 2
SYNC_FILE_RANGE_ALL = 1 | 2 | 4  # WAIT_BEFORE | WRITE | WAIT_AFTER


@case()
def stale_after_power_cut_inplace(t):
    """Data overwritten in place that reaches the disk before any commit of ours, then a power cut:
    the embedding must come back stale, never looking current beside the new content
    (writeback commits the bump of the data version before in-place data; docs/AUTO.md)."""
    sp = t.space(2)
    old, new = b"A" * 8192, b"B" * 8192
    f = t.file("inplace.txt", old)
    emb_add(t.open(f), sp, [(0, 8192)], [1, 0], 2)
    os.sync()
    check(not emb_get(t.open(f), sp)[0][0]["stale"], "fresh before the overwrite")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong,
                                     ctypes.c_uint]
    with open(f, "r+b", buffering=0) as w:
        w.write(new)
        # the data alone, as writeback under memory pressure writes it: no fsync, no sync
        if libc.sync_file_range(w.fileno(), 0, 0, SYNC_FILE_RANGE_ALL) != 0:
            raise Fail("sync_file_range: " + os.strerror(ctypes.get_errno()))
        sfd = os.open(t.vol.mnt, os.O_RDONLY)
        try:
            fcntl.ioctl(sfd, FS_IOC_SHUTDOWN, struct.pack("<I", SHUTDOWN_NOLOGFLUSH))
        finally:
            os.close(sfd)
    for x in t.fds:
        with contextlib.suppress(OSError):
            os.close(x)
    t.fds = []
    t.vol.umount()
    t.vol.mount()
    with open(f, "rb") as r:
        eq(r.read(), new, "the overwrite written back before the cut is on disk")
    check(emb_get(t.open(f), sp)[0][0]["stale"], "its embedding is stale after the cut")
    eq(search(t.dir(), sp, [1, 0], 1, flags=SEARCH_PATHS | SEARCH_NO_STALE), [],
       "a NO_STALE search does not return it")

def add_closed(path, sp, chunks, vecs, dim):
    fd = os.open(path, os.O_RDONLY)
    try:
        return emb_add(fd, sp, chunks, vecs, dim)
    finally:
        os.close(fd)


def get_closed(path, sp):
    fd = os.open(path, os.O_RDONLY)
    try:
        return emb_get(fd, sp)[0]
    finally:
        os.close(fd)


def wait_count(fd, sp, want, secs=10):
    """Unlinked inodes are removed at their last iput: give eviction a moment."""
    deadline = time.time() + secs
    while space_info(fd, sp)["vector_count"] != want and time.time() < deadline:
        time.sleep(0.2)
    return space_info(fd, sp)["vector_count"]


@case()
def unlink_rename_link(t):
    sp = t.space(2)
    fd0 = root_fd(t)
    a = t.file("a.txt", b"a")
    add_closed(a, sp, [(0, 0)], [1, 0], 2)
    b = t.file("b.txt", b"bb")
    add_closed(b, sp, [(0, 0), (0, 1)], [0, 1, 0, 2], 2)     # (0, 2) and (0, 1)
    eq(space_info(fd0, sp)["vector_count"], 3, "3 vectors")
    os.makedirs(t.p("moved"))
    os.rename(a, t.p("moved", "a2.txt"))
    eq(len(get_closed(t.p("moved", "a2.txt"), sp)), 1, "rename keeps embeddings")
    eq([r["path"] for r in search(t.dir(), sp, [1, 0], 1)], ["moved/a2.txt"], "search finds the new name")
    os.link(b, t.p("b-link.txt"))
    os.unlink(b)
    eq(len(get_closed(t.p("b-link.txt"), sp)), 2, "a hard link keeps them after unlinking the other name")
    eq(space_info(fd0, sp)["vector_count"], 3, "still 3")
    os.unlink(t.p("b-link.txt"))
    eq(wait_count(fd0, sp, 1), 1, "unlinking the last name deletes its embeddings")
    eq([r["path"] for r in search(t.dir(), sp, [0, 1], 5)], ["moved/a2.txt"], "deleted file not found")
    # an unlinked file that is still open keeps its embeddings until closed
    c = t.file("c.txt", b"c")
    add_closed(c, sp, [(0, 0)], [5, 5], 2)
    cfd = os.open(c, os.O_RDONLY)
    os.unlink(c)
    eq(len(emb_get(cfd, sp)[0]), 1, "an open unlinked file still has its embeddings")
    eq([r["path"] for r in search(t.dir(), sp, [5, 5], 5)], ["moved/a2.txt"],
       "but searches no longer return it")
    os.close(cfd)
    eq(wait_count(fd0, sp, 1), 1, "gone at the last close")
    # rename over a file with embeddings
    d = t.file("d.txt", b"d")
    add_closed(d, sp, [(0, 0)], [7, 7], 2)
    os.rename(t.p("moved", "a2.txt"), d)
    eq(wait_count(fd0, sp, 1), 1, "the replaced file's embeddings are gone")
    eq(get_closed(d, sp)[0]["vector"], [1.0, 0.0], "the renamed file kept its own")


@case()
def persistence(t):
    rng = t.rng
    sp = t.space(6, "cosine", model="m1", version="7")
    items = populate(t, sp, "cosine", 6, 8, 4, rng)
    os.makedirs(t.p("dflt"))
    fd = t.dir("dflt")
    manage(fd, OP_DIR_SET_SPACE, sp)
    q = rvec(rng, 6)
    before = search(t.dir(), sp, q, 10, flags=SEARCH_EXACT | SEARCH_PATHS)
    info = space_info(root_fd(t), sp)
    for x in t.fds:
        with contextlib.suppress(OSError):
            os.close(x)
    t.fds = []
    os.sync()
    t.vol.cycle()
    after = search(t.dir(), sp, q, 10, flags=SEARCH_EXACT | SEARCH_PATHS)
    eq([(r["path"], r["offset"], r["distance"]) for r in after],
       [(r["path"], r["offset"], r["distance"]) for r in before], "search results after remount")
    i2 = space_info(root_fd(t), sp)
    for k in ("space_id", "dim", "metric", "model", "model_version", "vector_count", "create_time_ns"):
        eq(i2[k], info[k], f"space {k} after remount")
    eq(manage(t.dir("dflt"), OP_DIR_GET_SPACE)["name"], sp, "directory default after remount")
    g, _ = emb_get(t.open(t.p("f0000.txt")), sp)
    eq(len(g), 4, "embeddings of a file after remount")
    eq(g[0]["vector"], items[0][1], "vector bits after remount")
    # the graph survives too: index build, remount, still indexed
    manage(root_fd(t), OP_INDEX_BUILD, sp)
    for x in t.fds:
        with contextlib.suppress(OSError):
            os.close(x)
    t.fds = []
    t.vol.cycle()
    i3 = space_info(root_fd(t), sp)
    eq((i3["indexed_count"], i3["pending_count"]), (32, 0), "index reloaded after remount")


NOBODY = 65534


@case()
def permissions(t):
    sp = t.space(2)
    os.chmod(t.d, 0o755)
    pub = t.file("pub.txt", b"public", 0o644)
    sec = t.file("secret.txt", b"secret", 0o600)
    os.makedirs(t.p("closed"))
    hid = t.file("closed/in.txt", b"x", 0o644)
    os.chmod(t.p("closed"), 0o700)
    for f, v in ((pub, [1, 0]), (sec, [1, 0.01]), (hid, [1, 0.02])):
        emb_add(t.open(f), sp, [(0, 0)], v, 2)
    eq(len(search(t.dir(), sp, [1, 0], 10)), 3, "root sees all three")
    d = vexctl_json("search", t.d, "--space", sp, "--vector", "1 0", "-k", 10, user=NOBODY)
    eq([r["relpath"] for r in d["results"]], ["pub.txt"],
       "nobody sees only the readable file (not the 0600 one, not one in a 0700 directory)")
    d = vexctl_json("search", t.d, "--space", sp, "--vector", "1 0", "-k", 10, "--exact", user=NOBODY)
    eq([r["relpath"] for r in d["results"]], ["pub.txt"], "same with --exact")
    vexctl("search", t.p("closed"), "--space", sp, "--vector", "1 0", rc=5, user=NOBODY)
    vexctl("put", pub, "--space", sp, "--vector", "0 1", "--replace", rc=5, user=NOBODY)
    vexctl("get", sec, "--space", sp, rc=5, user=NOBODY)
    eq(len(vexctl_json("get", pub, "--space", sp, user=NOBODY)["embeddings"]), 1, "nobody may GET a readable file")
    vexctl("space", "create", "sp-nobody", "--dim", 2, "--path", t.vol.mnt, rc=5, user=NOBODY)
    vexctl("space", "drop", sp, t.vol.mnt, "--yes", rc=5, user=NOBODY)
    vexctl("index", "build", t.d, "--space", sp, rc=5, user=NOBODY)
    vexctl("space", "default", t.d, sp, rc=5, user=NOBODY)
    eq(len(vexctl_json("space", "list", t.vol.mnt, user=NOBODY)["spaces"]) >= 1, True, "nobody may list spaces")
    # a file nobody owns and can write
    mine = t.file("mine.txt", b"m", 0o644)
    os.chown(mine, NOBODY, NOBODY)
    vexctl("put", mine, "--space", sp, "--vector", "0 1", user=NOBODY)
    os.makedirs(t.p("nbdir"))
    os.chown(t.p("nbdir"), NOBODY, NOBODY)
    vexctl("space", "default", t.p("nbdir"), sp, user=NOBODY)


@case()
def unprivileged_put_rm(t):
    """put and rm need write permission on the file (docs/TOOLS.md, man/vexctl.8): without
    it they exit 5 (permission) with a message saying so and change nothing; on a file of
    its own nobody may put, get and rm; space create needs root."""
    sp = t.space(2)
    ro = t.file("root-644.txt", b"readable", 0o644)    # nobody may read it, not write it
    sec = t.file("root-600.txt", b"secret", 0o600)     # nobody may not even open it
    own = t.file("nobody-444.txt", b"own", 0o444)      # nobody owns it, without write permission
    os.chown(own, NOBODY, NOBODY)
    for f in (ro, sec, own):
        vexctl("put", f, "--space", sp, "--chunk", "0:2", "--vector", "1 2")

    def state():
        return {f: vexctl_json("get", f, "--space", sp, "--vectors") for f in (ro, sec, own)}

    before = state()
    attempts = [(f, cmd, extra) for f in (ro, own) for cmd, extra in (
        ("put", ("--chunk", "2:2", "--vector", "3 4")),
        ("put", ("--chunk", "0:2", "--vector", "5 6", "--replace")),
        ("put", ("--chunk", "0:2", "--vector", "5 6", "--update")),
        ("rm", ()), ("rm", ("--chunk", "0:2")), ("rm", ("--all-spaces",)))]
    attempts += [(sec, "put", ("--vector", "3 4")), (sec, "rm", ())]
    for f, cmd, extra in attempts:
        args = (cmd, f) + (() if "--all-spaces" in extra else ("--space", sp)) + extra
        r = vexctl(*args, rc=5, user=NOBODY)
        err = r.stderr.strip()
        need = "cannot open" if f == sec else "needs write permission"
        check(r.stdout == "" and len(err.splitlines()) == 1 and err.startswith(f"vexctl: {cmd}: ")
              and f in err and "permission denied" in err.lower() and need in err,
              f"nobody: vexctl {' '.join(args)}: expected one line naming the file, 'permission "
              f"denied' and '{need}', got {r.stdout!r} {r.stderr!r}")
    eq(state(), before, "nobody's failed put and rm changed nothing")

    mine = t.file("nobody-644.txt", b"x" * 64, 0o644)
    os.chown(mine, NOBODY, NOBODY)
    vexctl("put", mine, "--space", sp, "--chunk", "0:32", "--chunk", "32:32", "--vector", "1 0\n0 1",
           user=NOBODY)
    d = vexctl_json("get", mine, "--space", sp, "--vectors", user=NOBODY)
    eq([(e["offset"], e["length"], e["vector"]) for e in d["embeddings"]], [(0, 32, [1, 0]), (32, 32, [0, 1])],
       "nobody GETs what it put in its own file")
    eq(vexctl_json("get", mine, "--space", sp, "--vectors")["embeddings"], d["embeddings"], "root sees the same")
    d = vexctl_json("rm", mine, "--space", sp, "--chunk", "0:32", user=NOBODY)
    eq((d["deleted"], d["remaining"]), (1, 1), "nobody removes one chunk of its own file")
    d = vexctl_json("rm", mine, "--space", sp, user=NOBODY)
    eq((d["deleted"], d["remaining"]), (1, 0), "and then the rest")
    eq(vexctl_json("get", mine, "--space", sp)["embeddings"], [], "root sees none left")

    r = vexctl("space", "create", "sp-nobody-put-rm", "--dim", 2, "--path", t.vol.mnt, rc=5, user=NOBODY)
    check("needs root" in r.stderr and r.stdout == "",
          f"space create as nobody: a message that it needs root, got {r.stdout!r} {r.stderr!r}")
    check(all(x["name"] != "sp-nobody-put-rm" for x in vexctl_json("space", "list", t.vol.mnt)["spaces"]),
          "no space was created")


@case()
def dir_default_inheritance(t):
    sp = t.space(3)
    other = t.space(3, suffix="-other")
    os.makedirs(t.p("before"))
    os.makedirs(t.p("root"))
    vexctl("space", "default", t.p("root"), sp)
    os.makedirs(t.p("root", "child", "grandchild"))
    eq(manage(t.dir("root", "child"), OP_DIR_GET_SPACE)["name"], sp, "mkdir inherits the default")
    eq(manage(t.dir("root", "child", "grandchild"), OP_DIR_GET_SPACE)["name"], sp, "and its mkdir too")
    eq(manage(t.dir("before"), OP_DIR_GET_SPACE)["name"], "", "a sibling has none")
    f = t.file("root/child/grandchild/f.txt", b"hello")
    vexctl("put", f, "--vector", "1 2 3")
    eq(len(emb_get(t.open(f), sp)[0]), 1, "put without --space used the directory's default")
    g = t.file("root/child/g.txt", b"g")
    emb_add(t.open(g), "", [(0, 0)], [3, 2, 1], 3)
    eq(len(emb_get(t.open(g), sp)[0]), 1, "ADD with name \"\" used the default")
    eq(len(search(t.dir("root"), "", [1, 2, 3], 5)), 2, "SEARCH with name \"\" used the default")
    h = t.file("before/h.txt", b"h")
    expect_errno(errno.ENOENT, emb_add, t.open(h), "", [(0, 0)], [1, 1, 1], 3, what="ADD \"\" without a default")
    manage(t.dir("root", "child"), OP_DIR_SET_SPACE, other)
    eq(manage(t.dir("root", "child", "grandchild"), OP_DIR_GET_SPACE)["name"], sp,
       "changing a parent does not change existing subdirectories")
    expect_errno(errno.ENOENT, manage, t.dir("root"), OP_DIR_SET_SPACE, "sp-nope", what="set an unknown space")
    expect_errno(errno.ENOTDIR, manage, t.open(f), OP_DIR_GET_SPACE, what="DIR_GET on a file")
    manage(t.dir("root"), OP_DIR_SET_SPACE, "")
    eq(manage(t.dir("root"), OP_DIR_GET_SPACE)["name"], "", "cleared")
    manage(root_fd(t), OP_SPACE_DROP, other)
    t.spaces.remove(other)
    eq(manage(t.dir("root", "child"), OP_DIR_GET_SPACE)["name"], "", "a dropped space reads as no default")


@case()
def drop_space_with_embeddings(t):
    fd0 = root_fd(t)
    sp = t.space(4)
    items = populate(t, sp, "l2", 4, 20, 5, t.rng)
    eq(space_info(fd0, sp)["vector_count"], len(items), "vectors stored")
    vexctl("space", "drop", sp, t.vol.mnt, "--yes")
    t.spaces.remove(sp)
    expect_errno(errno.ENOENT, emb_get, t.open(t.p("f0000.txt")), sp, what="GET in the dropped space")
    space_create(fd0, sp, 4)
    t.spaces.append(sp)
    eq(space_info(fd0, sp)["vector_count"], 0, "a new space of the same name is empty")
    eq(emb_get(t.open(t.p("f0000.txt")), sp)[0], [], "and the files have nothing in it")


@case()
def import_and_index(t):
    n = 500 if t.args.quick else 2000
    sp = t.space(8)
    rows = [rvec(t.rng, 8) for _ in range(n)]
    write_npy("/tmp/vx-import.npy", rows)
    with open("/tmp/vx-import.list", "w") as f:
        for i in range(n):
            f.write(f"d{(i // 10) % 7}/file{i // 10:04d}.txt\t{(i % 10) * 100}:100\n")
    d = vexctl_json("import", t.d, "--vectors", "/tmp/vx-import.npy", "--files", "/tmp/vx-import.list",
                    "--space", sp, "--create", "--batch", 7)
    eq((d["vectors"], d["files"]), (n, n // 10), "vexctl import counts")
    fd0 = root_fd(t)
    eq(space_info(fd0, sp)["vector_count"], n, "space vector_count after import")
    g, _ = emb_get(t.open(t.p("d3", "file0003.txt")), sp)
    eq([e["offset"] for e in g], [i * 100 for i in range(10)], "an imported file's chunks")
    eq(g[3]["vector"], rows[33], "an imported vector, bit for bit")
    vexctl("import", t.d, "--vectors", "/tmp/vx-import.npy", "--files", "/tmp/vx-import.list",
           "--space", sp, rc=6)
    d = vexctl_json("index", "build", t.d, "--space", sp)
    s = d["spaces"][0]
    eq((s["indexed_count"], s["pending_count"], s["vector_count"]), (n, 0, n), "index build links everything")
    check(s["index_bytes"] > 0 and s["loaded"], "index memory reported")
    d = vexctl_json("index", "stats", t.d, "--space", sp)
    eq(d["spaces"][0]["indexed_count"], n, "index stats")
    d = vexctl_json("index", "rebuild", t.d, "--space", sp)
    eq(d["spaces"][0]["indexed_count"], n, "index rebuild")
    d = vexctl_json("status", t.vol.mnt)
    check(any(x["name"] == sp and x["vector_count"] == n for x in d["spaces"]), "vexctl status")
    q = rows[1234 % n]
    d = vexctl_json("search", t.d, "--space", sp, "--vector", " ".join(map(repr, q)), "-k", 1)
    eq((d["results"][0]["distance"], d["results"][0]["offset"]), (0, ((1234 % n) % 10) * 100),
       "a stored vector finds itself")
    d = vexctl_json("similar", t.p(d["results"][0]["relpath"]), "--space", sp, "-k", 3, "--dir", t.d)
    check(len(d["results"]) == 3 and all(r["relpath"] != "" for r in d["results"]), "vexctl similar")


@case()
def progress_on_terminal(t):
    """import and index build draw a progress line on standard error ("\\r" LINE "\\033[K",
    redrawn, erased before the summary) when it is a terminal; not with --quiet or --json,
    not into a pipe.  index build polls every 0.2 s: linking 400 vectors takes
    about a second under TCG; the quiet and pipe runs are rebuilds, which redo all of it."""
    n, per, dim, nidx = 2000, 10, 8, 400
    rows = [rvec(t.rng, dim) for _ in range(n)]
    write_npy("/tmp/vx-progress.npy", rows)
    with open("/tmp/vx-progress.list", "w") as f:
        for i in range(n):
            f.write(f"p{i // per // 100}/f{i // per:04d}.txt\t{(i % per) * 100}:100\n")
    saved = module_param("link_delay_ms")
    try:
        # nothing is linked in the background: index build has all of it to do
        module_param("link_delay_ms", 3600 * 1000)

        def imported(sp):
            return (f"imported {n} vectors into {n // per} files under {re.escape(t.d)} "
                    f"\\(space '{re.escape(sp)}', \\d+ calls\\)\n")

        sp = t.space(dim)
        out = vexctl_pty("import", t.d, "--vectors", "/tmp/vx-progress.npy", "--files",
                         "/tmp/vx-progress.list", "--space", sp, "--create")
        bar = r"\rimport: \[(#*) *\] (\d+)/(\d+) vectors \((\d+)%\), (\d+) files\x1b\[K"
        check(re.fullmatch(f"(?:{bar})+\r\x1b\\[K{imported(sp)}", out),
              f"import on a terminal: progress lines, erased, then the summary: {out[-500:]!r}")
        seen = [tuple(map(int, m.groups()[1:])) for m in re.finditer(bar, out)]
        for m, (done, total, pct, files) in zip(re.finditer(bar, out), seen):
            eq((total, done, pct, len(m.group(1))),
               (n, files * per, int(f"{100 * done / n:.0f}"), int(done / n * 30)),
               f"import progress line {m.group(0)!r}: total, vectors, percent, bar")
        eq([g[0] for g in seen], sorted(set(g[0] for g in seen)), "import progress only moves forward")
        eq(seen[0], (per, n, 0, 1), "the first import progress line: after the first file")
        eq(space_info(root_fd(t), sp)["vector_count"], n, "vectors imported")
        for args, what in ((["--quiet"], "with --quiet"), (["--json"], "with --json")):
            sq = t.space(dim, suffix="-" + args[0].lstrip("-"))
            out = vexctl_pty("import", t.d, "--vectors", "/tmp/vx-progress.npy", "--files",
                             "/tmp/vx-progress.list", "--space", sq, *args)
            if args == ["--json"]:
                check("\r" not in out and "\x1b" not in out and json.loads(out)["vectors"] == n,
                      f"import {what} on a terminal: only the JSON: {out[:300]!r}")
            else:
                check(re.fullmatch(imported(sq), out), f"import {what} on a terminal: only the summary: {out!r}")
        sq = t.space(dim, suffix="-pipe")
        r = vexctl("import", t.d, "--vectors", "/tmp/vx-progress.npy", "--files", "/tmp/vx-progress.list",
                   "--space", sq)
        check(r.stderr == "" and re.fullmatch(imported(sq), r.stdout),
              f"import into pipes: only the summary: {r.stdout!r} {r.stderr[:300]!r}")

        si = t.space(dim, suffix="-index")
        populate(t, si, "l2", dim, nidx // per, per, t.rng, sub=lambda i: "index")
        eq(space_info(root_fd(t), si)["pending_count"], nidx, "vectors pending before index build")

        t0 = time.monotonic()
        out = vexctl_pty("index", "build", t.d, "--space", si)
        line = f"\\r([|/\\\\-]) indexing '{re.escape(si)}': (\\d+) of (\\d+) linked \\((\\d+)%\\)\x1b\\[K"
        check(re.fullmatch(f"(?:{line})+\r\x1b\\[Kindexed space '{re.escape(si)}': {nidx} vectors linked\n", out),
              f"index build on a terminal: progress lines, erased, then the summary: {out[-500:]!r}")
        seen = [m.groups() for m in re.finditer(line, out)]
        t.note(f"index build of {nidx}: {time.monotonic() - t0:.1f}s, {len(seen)} progress lines")
        for i, (spin, linked, total, pct) in enumerate(seen):
            eq((spin, int(total), int(pct)), ("|/-\\"[i % 4], nidx, int(f"{100 * int(linked) / nidx:.0f}")),
               f"index build progress line {i}: spinner, total, percent")
        linked = [int(g[1]) for g in seen]
        eq(linked, sorted(linked), "index build: linked counts only move forward")
        eq(space_info(root_fd(t), si)["indexed_count"], nidx, "index build linked everything")
        summary = f"rebuilt space '{si}': {nidx} vectors linked\n"
        eq(vexctl_pty("index", "rebuild", t.d, "--space", si, "--quiet"), summary,
           "index rebuild --quiet on a terminal: only the summary")
        out = vexctl_pty("index", "rebuild", t.d, "--space", si, "--json")
        check("\r" not in out and "\x1b" not in out, f"index rebuild --json on a terminal: no progress: {out[:200]!r}")
        eq(json.loads(out)["spaces"][0]["indexed_count"], nidx, "index rebuild --json on a terminal: the statistics")
        r = vexctl("index", "rebuild", t.d, "--space", si)
        eq((r.stdout, r.stderr), (summary, ""), "index rebuild into pipes: only the summary")
    finally:
        module_param("link_delay_ms", saved)


def module_param(name, value=None):
    """Read (and with value, set) one of vexfs.ko's parameters; returns the old value."""
    path = f"/sys/module/vexfs/parameters/{name}"
    with open(path) as f:
        old = f.read().strip()
    if value is not None:
        with open(path, "w") as f:
            f.write(str(value))
    return old


def wait_linked(fd, sp, timeout):
    """Seconds until the space has no pending vector, or Fail."""
    t0 = time.monotonic()
    while space_info(fd, sp)["pending_count"]:
        if time.monotonic() - t0 > timeout:
            raise Fail(f"background linking left {space_info(fd, sp)['pending_count']} "
                       f"vectors pending after {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - t0


@case()
def background_linking(t):
    """Linking waits for additions to pause (link_delay_ms), or starts at once past
    link_eager_pending; pending vectors are searchable meanwhile."""
    rng = t.rng
    dim = 8
    saved = {n: module_param(n) for n in ("link_delay_ms", "link_eager_pending")}
    try:
        fd0 = root_fd(t)
        sp = t.space(dim)
        module_param("link_delay_ms", 3000)
        items = populate(t, sp, "l2", dim, 20, 10, rng, sub=lambda i: "pause")
        i = space_info(fd0, sp)
        eq(i["vector_count"], 200, "vectors stored")
        check(i["pending_count"] > 0, f"linking waits for a pause ({i['indexed_count']} linked at once)")
        q = rvec(rng, dim)
        want = brute("l2", items, q, 1)[0][0]
        got = search(t.dir("pause"), sp, q, 5)
        check(got and abs(got[0]["distance"] - want) <= 1e-4 * max(1.0, want),
              "pending vectors are found by a (non-exact) search")
        waited = wait_linked(fd0, sp, 300)
        t.note(f"linked {waited:.1f}s after the last addition")
        eq(space_info(fd0, sp)["indexed_count"], 200, "everything linked once additions paused")
        got = search(t.dir("pause"), sp, q, 5)
        check(got and abs(got[0]["distance"] - want) <= 1e-4 * max(1.0, want), "found through the graph")
        # a large backlog does not wait for the pause
        sp2 = t.space(dim, suffix="-eager")
        module_param("link_delay_ms", 3600 * 1000)
        module_param("link_eager_pending", 50)
        populate(t, sp2, "l2", dim, 10, 10, rng, sub=lambda i: "eager")
        t0 = time.monotonic()
        while space_info(fd0, sp2)["pending_count"] >= 50:
            if time.monotonic() - t0 > 300:
                raise Fail(f"{space_info(fd0, sp2)['pending_count']} vectors pending: "
                           "a backlog past link_eager_pending is not linked during additions")
            time.sleep(0.1)
        i = space_info(fd0, sp2)
        check(i["indexed_count"] >= 51, f"linked without a pause: {i['indexed_count']} of 100")
        # the rest waits for a pause (a new delay applies from the next addition)
        module_param("link_delay_ms", 100)
        populate(t, sp2, "l2", dim, 1, 10, rng, sub=lambda i: "eager2")
        wait_linked(fd0, sp2, 300)
        eq(space_info(fd0, sp2)["indexed_count"], 110, "the rest linked after the pause")
    finally:
        for n, v in saved.items():
            module_param(n, v)


def as_user(uid, fn, *args):
    """fn(*args) in a child process running as uid/gid uid without supplementary groups
    (descriptors opened before are inherited); its value is returned, an OSError re-raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            try:
                out = ("ok", fn(*args))
            except OSError as e:
                out = ("errno", e.errno)
            except BaseException as e:  # noqa
                out = ("exc", repr(e))
            with os.fdopen(w, "wb") as f:
                pickle.dump(out, f)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if status or not data:
        raise Fail(f"child as uid {uid} died (wait status {status})")
    kind, val = pickle.loads(data)
    if kind == "errno":
        raise OSError(val, os.strerror(val))
    if kind == "exc":
        raise Fail(f"as uid {uid}: {val}")
    return val


def search_as(uid, path, sp, q, k, flags):
    def body():
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return search(fd, sp, q, k, flags=flags)
        finally:
            os.close(fd)
    return as_user(uid, body)


@case()
def search_filter_keeps_recall(t):
    """The nearest vectors belong to files the caller may not read (0600 root's, or
    behind a directory without x for others): far more of them than k and than the
    candidates of every HNSW widening round (k, 4k, ... 1280, then an exact scan past
    VEXFS_FILTER_EXACT = 2048).  An unprivileged search still gets exactly the brute-force
    top k of what it may read, exact and HNSW, pending and linked; GET of an unreadable
    file through a descriptor root opened fails with EACCES."""
    rng = t.rng
    dim, per, k = 8, 10, 5
    ca = [0.0] * dim
    cb = [6.0] + [0.0] * (dim - 1)
    # Around ca 400 hidden vectors (radius < 1, squared distance < 1), then the readable
    # ones (radius 1.5-3): a HNSW search widens 5, 20, 80, 320 and finds them among its
    # 1280 candidates.  Around cb 1300 hidden: more than 1280, so it ends in an exact scan
    # of all 2000.  The clusters are 6 apart: nothing of one is within 3 of the other.
    groups = (("ha", ca, 400, False), ("hb", cb, 1300, False),
              ("ra", ca, 150, True), ("rb", cb, 150, True))
    os.chmod(t.d, 0o755)
    dirs = (("closed", 0o700), ("closed/deep", 0o755), ("noexec", 0o744), ("open", 0o755))
    for sub, _ in dirs:
        os.makedirs(t.p(sub))
    hidden_kinds = (("", 0o600, 0), ("closed/", 0o644, 0), ("closed/deep/", 0o644, 0),
                    ("noexec/", 0o644, 0))
    # readable: plain, in an open subdirectory, 0600 of nobody's, 0640 of group nogroup
    readable_kinds = (("", 0o644, 0), ("open/", 0o644, 0), ("", 0o600, NOBODY), ("", 0o640, -1))
    sp = t.space(dim)
    saved = {n: module_param(n) for n in ("link_delay_ms", "link_eager_pending")}
    readable, hidden, first = {}, {}, {}
    try:
        # keep everything pending for the first round of searches
        module_param("link_delay_ms", 3600 * 1000)
        module_param("link_eager_pending", 1 << 30)
        nfile = 0
        for g, center, count, ok in groups:
            radii = [1.5 + 1.5 * j / count for j in range(count)] if ok else \
                [rng.uniform(0.05, 1.0) for _ in range(count)]
            rng.shuffle(radii)
            kinds = readable_kinds if ok else hidden_kinds
            for fi in range(count // per):
                sub, mode, owner = kinds[nfile % len(kinds)]
                rel = f"{sub}{g}{fi:03d}.txt"
                path = t.file(rel, b"x" * (per * 16), mode)
                first.setdefault((ok, nfile % len(kinds)), path)
                nfile += 1
                if owner:
                    os.chown(path, NOBODY if owner > 0 else 0, NOBODY)
                vecs = []
                for c in range(per):
                    u = [rng.gauss(0, 1) for _ in range(dim)]
                    norm = math.sqrt(sum(x * x for x in u))
                    r = radii[fi * per + c]
                    v = [f32(x + r * y / norm) for x, y in zip(center, u)]
                    vecs += v
                    (readable if ok else hidden)[(rel, c * 16)] = v
                add_closed(path, sp, [(c * 16, 16) for c in range(per)], vecs, dim)
        for sub, mode in dirs:
            os.chmod(t.p(sub), mode)
        fd0 = root_fd(t)
        live = len(readable) + len(hidden)
        i = space_info(fd0, sp)
        eq(i["vector_count"], live, "vectors stored")
        check(i["pending_count"] == live, f"{i['indexed_count']} linked already")
        # the point of the test: the caller may read none of the nearest 1280 around cb
        check(len(hidden) - 400 > k * 4 ** 4 > 400 > k * 4 ** 3, "sizes force every widening round")

        tol = lambda d: 1e-4 * max(1.0, abs(d))  # noqa: E731
        ritems = list(readable.items())

        def verify(got, q, what):
            want = brute("l2", ritems, q, k)
            keys = [(r["path"], r["offset"]) for r in got]
            leaked = [x for x in keys if x in hidden]
            check(not leaked, f"{what}: unreadable files returned: {leaked[:3]}")
            eq(len(got), k, f"{what}: result count")
            for (wd, wkey), g, key in zip(want, got, keys):
                check(key in readable, f"{what}: unknown result {key}")
                check(abs(g["distance"] - dist("l2", q, readable[key])) <= tol(wd),
                      f"{what}: {key} reported at {g['distance']}, is at {dist('l2', q, readable[key])}")
                check(abs(g["distance"] - wd) <= tol(wd),
                      f"{what}: distance {g['distance']} vs brute force {wd} ({wkey})")
            kth = want[-1][0]
            missing = [wk for wd, wk in want if wd < kth - tol(kth) and wk not in keys]
            check(not missing, f"{what}: misses {missing[:3]} of the brute-force top {k}")

        queries = [("ca", ca), ("cb", cb),
                   ("near ca", [f32(x + rng.uniform(-0.05, 0.05)) for x in ca]),
                   ("near cb", [f32(x + rng.uniform(-0.05, 0.05)) for x in cb])]
        for qn, q in queries:
            top = search(t.dir(), sp, q, k, flags=SEARCH_EXACT | SEARCH_PATHS)
            check(all((r["path"], r["offset"]) in hidden for r in top),
                  f"{qn}: root's nearest {k} are the unreadable files")

        def round_of_searches(state):
            for qn, q in queries:
                for fl, how in ((SEARCH_EXACT, "exact"), (0, "hnsw")):
                    got = search_as(NOBODY, t.d, sp, q, k, fl | SEARCH_PATHS)
                    verify(got, q, f"{state} {how} {qn}")

        round_of_searches("pending")
        i = space_info(fd0, sp)
        eq((i["indexed_count"], i["pending_count"]), (0, live), "nothing linked before INDEX_BUILD")
        for n, v in saved.items():
            module_param(n, v)
        manage(fd0, OP_INDEX_BUILD, sp)
        wait_linked(fd0, sp, 300)
        eq(space_info(fd0, sp)["indexed_count"], live, "all linked")
        round_of_searches("linked")
        # vexctl as nobody agrees (HNSW and exact)
        for extra in ((), ("--exact",)):
            d = vexctl_json("search", t.d, "--space", sp, "--vector", " ".join(map(repr, cb)),
                            "-k", k, *extra, user=NOBODY)
            verify([{"path": r["relpath"], "offset": r["offset"], "distance": r["distance"]}
                    for r in d["results"]], cb, f"vexctl search {' '.join(extra)}")
        # k above all 300 readable vectors (candidates 400, 1600, then the scan): each of them
        got = search_as(NOBODY, t.d, sp, cb, 400, SEARCH_PATHS)
        eq(sorted((r["path"], r["offset"]) for r in got), sorted(readable), "k=400: all 300 readable")
    finally:
        for n, v in saved.items():
            module_param(n, v)

    # GET of a file nobody may not read: EACCES, also through a descriptor root opened
    # (the ioctl checks the caller, not the opener); the readable ones answer
    sec, mine = first[(False, 0)], first[(True, 2)]
    expect_errno(errno.EACCES, as_user, NOBODY, os.open, sec, os.O_RDONLY, what="nobody opens a 0600 file")
    expect_errno(errno.EACCES, as_user, NOBODY, vx.emb_get, t.open(sec), sp,
                 what="GET as nobody through root's descriptor of a 0600 file")
    vexctl("get", sec, "--space", sp, rc=5, user=NOBODY)
    eq(len(as_user(NOBODY, vx.emb_get, t.open(mine), sp)[0]), per, "nobody GETs its own 0600 file")
    eq(len(vexctl_json("get", first[(True, 3)], "--space", sp, user=NOBODY)["embeddings"]), per,
       "nobody GETs a 0640 file of its group")


@case()
def search_filter_keeps_recall_dups(t):
    """Copies of one vector beyond what a node's list holds (2M = 32 at layer 0; the same
    chunk in many files): the graph links the later copies to the earlier ones but not
    back, so a graph search, however wide, does not reach them.  A search that still lacks
    results after a beam as wide as the space must then scan: nobody, who may read only
    the last-added 16 of each group's 64 copies, still gets all of them, and root asking
    for more than there are gets every vector."""
    rng = t.rng
    dim, groups, per = 4, 12, 16
    os.chmod(t.d, 0o755)
    sp = t.space(dim)
    centers, readable = [], {}
    for g in range(groups):
        v = rvec(rng, dim)
        centers.append(v)
        for j, mode in enumerate((0o600, 0o600, 0o600, 0o644)):
            rel = f"g{g:02d}-{j}.txt"
            add_closed(t.file(rel, b"x" * (per * 16), mode), sp, [(c * 16, 16) for c in range(per)],
                       v * per, dim)
            if mode == 0o644:
                readable.update({(rel, c * 16): v for c in range(per)})
    fd0 = root_fd(t)
    live = groups * per * 4
    manage(fd0, OP_INDEX_BUILD, sp)
    i = space_info(fd0, sp)
    eq((i["vector_count"], i["indexed_count"]), (live, live), "all linked")
    # k 200 > 192 readable: candidates 200, then 800 >= 768 vectors, then the scan
    for fl, how in ((SEARCH_EXACT, "exact"), (0, "HNSW")):
        got = {(r["path"], r["offset"]) for r in search_as(NOBODY, t.d, sp, centers[0], 200,
                                                           fl | SEARCH_PATHS)}
        check(got == set(readable), f"nobody, {how}, k above what it may read: {len(got)} results, "
              f"{len(set(readable) - got)} of the {len(readable)} readable vectors missing, "
              f"{len(got - set(readable))} others")
    eq(len(search(t.dir(), sp, centers[0], K_MAX, flags=0)), live,
       "root, HNSW, k above the vector count: every vector")
    found = 0
    for g, q in enumerate(centers):
        want = [(f"g{g:02d}-3.txt", c * 16, 0.0) for c in range(per)]
        got = search_as(NOBODY, t.d, sp, q, per, SEARCH_EXACT | SEARCH_PATHS)
        eq(sorted((r["path"], r["offset"], r["distance"]) for r in got), want,
           f"exact, group {g}: the readable file's {per} copies at distance 0")
        got = search_as(NOBODY, t.d, sp, q, per, SEARCH_PATHS)
        found += sorted((r["path"], r["offset"], r["distance"]) for r in got) == want
    # k below what the caller may read ends as soon as k readable candidates turn up,
    # farther ones if the graph does not reach the nearest: a limit of the graph itself
    t.note(f"HNSW k={per} found the readable copies of {found} of {groups} groups")


@case(quick=False, slow=True)
def recall_hnsw_vs_exact(t):
    """recall@10 >= 0.95 on 100,000 clustered vectors of dim 16 (1,000 files x 100 chunks)."""
    rng = random.Random(4242)
    dim, nfiles, per = 16, 1000, 100
    n = nfiles * per
    centers = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(50)]
    rows = []
    for _ in range(n):
        c = centers[rng.randrange(50)]
        rows.append([f32(x + rng.gauss(0, 0.15)) for x in c])
    write_npy("/tmp/vx-recall.npy", rows)
    with open("/tmp/vx-recall.list", "w") as f:
        for i in range(n):
            f.write(f"r{i // per // 100}/f{i // per:04d}\t{(i % per) * 10}:10\n")
    sp = t.space(dim)
    t0 = time.time()
    vexctl("import", t.d, "--vectors", "/tmp/vx-recall.npy", "--files", "/tmp/vx-recall.list",
           "--space", sp, "--create", "--quiet", timeout=3600)
    t1 = time.time()
    vexctl("index", "build", t.d, "--space", sp, "--quiet", timeout=3600)
    t2 = time.time()
    t.note(f"import {t1 - t0:.0f}s, index build {t2 - t1:.0f}s")
    info = space_info(root_fd(t), sp)
    eq((info["vector_count"], info["indexed_count"]), (n, n), "all 100,000 indexed")
    dfd = t.dir()
    hits = total = 0
    nq = 50
    for _ in range(nq):
        c = centers[rng.randrange(50)]
        q = [f32(x + rng.gauss(0, 0.15)) for x in c]
        exact = {(r["ino"], r["offset"]) for r in search(dfd, sp, q, 10, flags=SEARCH_EXACT)}
        approx = {(r["ino"], r["offset"]) for r in search(dfd, sp, q, 10, flags=0)}
        hits += len(exact & approx)
        total += len(exact)
    recall = hits / total
    t.note(f"recall@10 {recall:.3f} over {nq} queries")
    check(recall >= 0.95, f"recall@10 {recall:.3f} < 0.95")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    disks = os.environ.get("VM_DISKS", "").split()
    ap.add_argument("--device", default=disks[0] if disks else None)
    ap.add_argument("--mnt", default="/mnt/vx")
    ap.add_argument("--only", action="append", default=[], help="cases whose name contains this")
    ap.add_argument("--quick", action="store_true", help="skip slow cases, smaller sizes")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--allow-host", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    only = [s for o in args.only for s in o.split(",") if s]
    selected = [(n, fn) for n, fn, quick, slow in CASES
                if (not args.quick or quick) and (not only or any(s in n for s in only))]
    if args.list:
        print("\n".join(n for n, _ in selected))
        return 0
    if not args.device:
        print("vector_suite: no device (set VM_DISKS or pass --device)", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("vector_suite: must run as root", file=sys.stderr)
        return 2
    if os.environ.get("VM_IN_GUEST") != "1" and not args.allow_host:
        print(f"vector_suite: refusing to run outside a scripts/vm-exec guest (it formats {args.device})",
              file=sys.stderr)
        return 2
    if not shutil.which("vexctl"):
        print("vector_suite: vexctl is not on PATH (make tools)", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"vector_suite: device={args.device} mnt={args.mnt} quick={args.quick} seed={seed} "
          f"cases={len(selected)}", flush=True)
    os.umask(0o022)
    vol = Volume(args.device, "vexfs", args.mnt)
    res = Results("vector_suite")
    report, t_start = res.report, res.t_start

    try:
        if mtab_entry(args.mnt):
            vol.umount()
        vol.mkfs()
        vol.mount()
        report(True, "mkfs_and_mount", "", time.time() - t_start)
    except Exception as e:  # noqa
        report(False, "mkfs_and_mount", str(e), time.time() - t_start)
        return res.totals()
    try:
        fd = os.open(args.mnt, os.O_RDONLY)
        manage(fd, OP_SPACE_LIST)
        os.close(fd)
    except OSError as e:
        report(False, "vector_ioctls_present", f"SPACE_LIST failed with {ename(e.errno)}: the module "
               "has no vector ioctls?", 0)
        return res.totals()

    for name, fn in selected:
        t0 = time.time()
        t = Ctx(vol, name, args, random.Random(f"{seed}-{name}"))

        def body():
            if not mtab_entry(args.mnt):
                vol.mount()
            if os.path.lexists(t.d):
                shutil.rmtree(t.d)
            os.makedirs(t.d)
            fn(t)

        try:
            res.run_case(name, body, t.notes, t0, __file__)
        finally:
            t.close()

    t0 = time.time()
    try:
        if mtab_entry(args.mnt):
            vol.umount()
        r = run(["fsck.vexfs", "-n", args.device], check_rc=False)
        report(r.returncode == 0, "fsck_clean",
               "" if r.returncode == 0 else f"fsck -n exited {r.returncode}: " +
               " | ".join((r.stdout + r.stderr).strip().splitlines()[-10:]), time.time() - t0)
    except Exception as e:  # noqa
        report(False, "fsck_clean", str(e), time.time() - t0)
    return res.finish(seed)


if __name__ == "__main__":
    sys.exit(main())
