#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""VexFS vector suite: spaces, embeddings and search.  Runs INSIDE a guest booted by scripts/vm-exec.

    scripts/vm-exec --disk 2G -- python3 tests/vm/vector_suite.py
    scripts/vm-exec --disk 2G -- python3 tests/vm/vector_suite.py --quick
    scripts/vm-exec --disk 2G --timeout 3000 -- python3 tests/vm/vector_suite.py --only recall

It formats DEVICE (default: the first of $VM_DISKS), mounts it at /mnt/vx and runs named cases,
each through the raw ioctls (struct packing below mirrors include/uapi/linux/vexfs.h) and/or
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
import random
import shutil
import struct
import subprocess
import sys
import time
import traceback

# ---------------------------------------------------------------- the ABI

MAGIC = 0xE7
SPACE_INFO = struct.Struct("<8I64s64s32s6Q2I6Q")      # 296
MANAGE = struct.Struct("<4I64sQ2I296s4Q")               # 424
CHUNK = struct.Struct("<3Q2I")                          # 32
EMB = struct.Struct("<2I64s2I3Q2IQ4Q")                  # 152
RESULT = struct.Struct("<4Q4I")                         # 48
SEARCH = struct.Struct("<2I64s4I3Q2I4Q")                # 152
assert (SPACE_INFO.size, MANAGE.size, CHUNK.size, EMB.size, RESULT.size, SEARCH.size) == \
    (296, 424, 32, 152, 48, 152)

OP_CREATE, OP_DROP, OP_INFO, OP_LIST, OP_BUILD, OP_REBUILD, OP_SET_EF, OP_DIR_SET, OP_DIR_GET = range(1, 10)
METRIC = {"l2": 1, "cosine": 2, "ip": 3}
REPLACE_ALL, ALL_SPACES = 1, 2
STALE = 1
S_EXACT, S_PATHS, S_NO_STALE = 1, 2, 4
DIM_MAX, BATCH_MAX, BATCH_BYTES_MAX, K_MAX, EF_MAX = 8192, 65536, 64 << 20, 4096, 10000
VEXFS_MAGIC = 0x56584653


def iowr(nr, size):
    return (3 << 30) | (size << 16) | (MAGIC << 8) | nr


IOC_MANAGE = iowr(1, MANAGE.size)
IOC_ADD, IOC_GET, IOC_UPDATE, IOC_DELETE = (iowr(n, EMB.size) for n in (2, 3, 4, 5))
IOC_SEARCH = iowr(6, SEARCH.size)
assert IOC_MANAGE == 0xC1A8E701 and IOC_SEARCH == 0xC098E706

SPACE_FIELDS = ("space_id", "dim", "elem_type", "metric", "hnsw_m", "hnsw_ef_construction",
                "hnsw_ef_search", "flags", "name", "model", "model_version", "vector_count",
                "indexed_count", "pending_count", "index_bytes", "bytes_per_vector",
                "create_time_ns", "max_level", "loaded")


def cstr(b):
    return b.split(b"\0", 1)[0].decode(errors="replace")


def enc(name, size=64):
    return name.encode() if isinstance(name, str) else name


def pack_space(name="", dim=0, metric=1, elem_type=1, m=0, efc=0, ef=0, flags=0, model="",
               model_version="", reserved=(0,) * 6):
    return SPACE_INFO.pack(0, dim, elem_type, metric, m, efc, ef, flags, enc(name), enc(model),
                           enc(model_version), 0, 0, 0, 0, 0, 0, 0, 0, *reserved)


def unpack_space(b):
    v = SPACE_INFO.unpack(b)
    d = dict(zip(SPACE_FIELDS, v[:19]))
    for k in ("name", "model", "model_version"):
        d[k] = cstr(d[k])
    return d


class Buf:
    """A ctypes buffer and its address, for the __u64 pointer fields."""

    def __init__(self, data_or_size):
        if isinstance(data_or_size, int):
            self.b = ctypes.create_string_buffer(max(data_or_size, 1))
        else:
            self.b = ctypes.create_string_buffer(bytes(data_or_size), max(len(data_or_size), 1))
        self.addr = ctypes.addressof(self.b)

    def raw(self, n=None):
        return self.b.raw if n is None else self.b.raw[:n]


def floats(vals):
    return struct.pack("<%df" % len(vals), *vals)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def bits_to_float(b):
    return struct.unpack("<f", struct.pack("<I", b))[0]


def manage(fd, op, name="", space=None, list_ptr=0, list_count=0, size=MANAGE.size, flags=0,
           reserved=(0, 0, 0, 0)):
    arg = bytearray(MANAGE.pack(size, op, flags, list_count, enc(name), list_ptr, 0, 0,
                                space or bytes(296), *reserved))
    fcntl.ioctl(fd, IOC_MANAGE, arg)
    v = MANAGE.unpack(bytes(arg))
    return {"name": cstr(v[4]), "list_filled": v[6], "list_total": v[7], "space": unpack_space(v[8])}


def space_create(fd, name, dim, metric="l2", **kw):
    return manage(fd, OP_CREATE, name, pack_space(name, dim, METRIC.get(metric, metric), **kw))["space"]


def space_info(fd, name):
    return manage(fd, OP_INFO, name)["space"]


def space_list(fd):
    n = manage(fd, OP_LIST)["list_total"]
    buf = Buf(SPACE_INFO.size * max(n, 1))
    r = manage(fd, OP_LIST, list_ptr=buf.addr, list_count=n)
    return [unpack_space(buf.raw()[i * 296:(i + 1) * 296]) for i in range(r["list_filled"])]


def emb_call(fd, cmd, name="", chunks=(), vectors=None, dim=0, flags=0, expect=0, count=None,
             size=EMB.size, reserved=(0, 0, 0, 0), chunks_ptr=None, vectors_ptr=None):
    cb = Buf(b"".join(CHUNK.pack(o, l, 0, 0, 0) for o, l in chunks))
    vb = Buf(floats(vectors)) if vectors is not None else None
    arg = bytearray(EMB.pack(size, flags, enc(name), dim, len(chunks) if count is None else count,
                             cb.addr if chunks_ptr is None else chunks_ptr,
                             (vb.addr if vb else 0) if vectors_ptr is None else vectors_ptr,
                             expect, 0, 0, 0, *reserved))
    fcntl.ioctl(fd, cmd, arg)
    v = EMB.unpack(bytes(arg))
    return {"dim": v[3], "filled": v[8], "total": v[9], "data_version": v[10]}


def emb_add(fd, name, chunks, vectors, dim, flags=0, expect=0):
    return emb_call(fd, IOC_ADD, name, chunks, vectors, dim, flags, expect)


def emb_get(fd, name="", vectors=True):
    n = emb_call(fd, IOC_GET, name, count=0)
    total, dim = n["total"], n["dim"]
    cb = Buf(CHUNK.size * max(total, 1))
    vb = Buf(4 * dim * max(total, 1)) if vectors else None
    r = emb_call(fd, IOC_GET, name, count=total, chunks_ptr=cb.addr, vectors_ptr=vb.addr if vb else 0)
    out = []
    for i in range(r["filled"]):
        o, l, dv, fl, _ = CHUNK.unpack(cb.raw()[i * 32:(i + 1) * 32])
        e = {"offset": o, "length": l, "data_version": dv, "stale": bool(fl & STALE)}
        if vb:
            e["vector"] = list(struct.unpack("<%df" % dim, vb.raw()[i * 4 * dim:(i + 1) * 4 * dim]))
        out.append(e)
    return out, r


def search(dirfd, name, query, k, ef=0, flags=S_PATHS, dim=None, size=SEARCH.size, reserved0=0,
           reserved=(0, 0, 0, 0), paths_size=None, query_ptr=None, results_ptr=None):
    qb = Buf(floats(query))
    rb = Buf(RESULT.size * max(k, 1))
    ps = paths_size if paths_size is not None else (min(k * 4096, 16 << 20) if flags & S_PATHS else 0)
    pb = Buf(ps) if ps else None
    arg = bytearray(SEARCH.pack(size, flags, enc(name), len(query) if dim is None else dim, k, ef, 0,
                                qb.addr if query_ptr is None else query_ptr,
                                rb.addr if results_ptr is None else results_ptr,
                                pb.addr if pb else 0, ps, reserved0, *reserved))
    fcntl.ioctl(dirfd, IOC_SEARCH, arg)
    count = SEARCH.unpack(bytes(arg))[6]
    res = []
    for i in range(count):
        ino, gen, off, ln, dist, fl, po, pl = RESULT.unpack(rb.raw()[i * 48:(i + 1) * 48])
        path = pb.raw()[po:po + pl].decode(errors="replace") if (pb and pl) else None
        res.append({"ino": ino, "generation": gen, "offset": off, "length": ln,
                    "distance": bits_to_float(dist), "stale": bool(fl & STALE), "path": path})
    return res


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

class Fail(Exception):
    pass


class Skip(Exception):
    pass


def ename(e):
    return errno.errorcode.get(e, str(e)) if e is not None else "success"


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, what):
    if got != want:
        g, w = repr(got), repr(want)
        raise Fail(f"{what}: expected {w[:200]}, got {g[:200]}")


def expect_errno(want, fn, *a, what=None, **kw):
    wants = want if isinstance(want, tuple) else (want,)
    try:
        fn(*a, **kw)
        got = None
    except OSError as e:
        got = e.errno
    if got not in wants:
        raise Fail(f"{what or fn.__name__}: expected {'/'.join(ename(w) for w in wants)}, got {ename(got)}")


def run(cmd, check_rc=True, timeout=600, input=None, user=None):
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       input=input)
    r.stdout, r.stderr = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if check_rc and r.returncode != 0:
        raise Fail(f"{' '.join(cmd)} exited {r.returncode}: {(r.stderr or r.stdout).strip()[-400:]}")
    return r


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


def write_npy(path, rows):
    """float32 C-order 2-D .npy, by hand."""
    n, d = len(rows), len(rows[0])
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (n, d)
    hdr += " " * (64 - (10 + len(hdr) + 1) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        for r in rows:
            f.write(floats(r))


def mtab_entry(mnt):
    with open("/proc/self/mounts") as f:
        for line in f:
            p = line.split()
            if p[1] == mnt:
                return p
    return None


class Volume:
    def __init__(self, device, mnt):
        self.device, self.mnt = device, mnt

    def mkfs(self):
        run(["mkfs.vexfs", "-f", "-q", self.device])

    def mount(self):
        os.makedirs(self.mnt, exist_ok=True)
        run(["mount", "-t", "vexfs", self.device, self.mnt])

    def umount(self):
        for _ in range(10):
            if run(["umount", self.mnt], check_rc=False).returncode == 0 or not mtab_entry(self.mnt):
                return
            time.sleep(0.5)
        raise Fail(f"umount {self.mnt} failed")

    def cycle(self):
        self.umount()
        self.mount()


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
                    manage(fd, OP_DROP, s)
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
    # the packing above is asserted against the header's sizes and numbers at import
    f = t.file("any.txt", b"x")
    for fd, what in ((root_fd(t), "the root directory"), (t.open(f), "a regular file")):
        r = manage(fd, OP_LIST)
        check(r["list_total"] >= 0 and r["list_filled"] == 0, f"SPACE_LIST with no room on {what}")
    eq(os.statvfs(t.vol.mnt).f_fsid is not None, True, "statvfs")
    d = vexctl_json("status", t.vol.mnt)
    eq(d["volume"], t.vol.mnt, "vexctl status finds the mount point")


@case()
def space_create_list_show_drop(t):
    fd = root_fd(t)
    s = space_create(fd, "sp-basic", 8, "cosine", model="all-MiniLM-L6-v2", model_version="v2")
    t.spaces.append("sp-basic")
    check(s["space_id"] > 0, f"space_id assigned ({s['space_id']})")
    eq((s["dim"], s["metric"], s["elem_type"]), (8, 2, 1), "dim, metric, elem_type")
    eq((s["hnsw_m"], s["hnsw_ef_construction"], s["hnsw_ef_search"]), (16, 200, 64), "defaults filled in")
    eq((s["model"], s["model_version"]), ("all-MiniLM-L6-v2", "v2"), "model")
    # name given only in manage.name
    s2 = manage(fd, OP_CREATE, "sp-basic2", pack_space("", 4, 3, m=8, efc=50, ef=20))["space"]
    t.spaces.append("sp-basic2")
    eq((s2["name"], s2["metric"], s2["hnsw_m"], s2["hnsw_ef_construction"], s2["hnsw_ef_search"]),
       ("sp-basic2", 3, 8, 50, 20), "name from manage.name, explicit parameters")
    names = [x["name"] for x in space_list(fd)]
    check("sp-basic" in names and "sp-basic2" in names, f"listed: {names}")
    i = space_info(fd, "sp-basic")
    eq((i["space_id"], i["vector_count"], i["loaded"]), (s["space_id"], 0, 1), "SPACE_INFO")
    check(i["create_time_ns"] > 1.6e18, "create time is set")
    # list with too little room: filled <= room, total = all
    r = manage(fd, OP_LIST, list_ptr=Buf(296).addr, list_count=1)
    check(r["list_filled"] == 1 and r["list_total"] >= 2, f"partial list {r['list_filled']}/{r['list_total']}")
    # vexctl sees the same
    d = vexctl_json("space", "list", t.vol.mnt)
    check(any(x["name"] == "sp-basic" and x["dim"] == 8 and x["metric"] == "cosine" for x in d["spaces"]),
          "vexctl space list --json")
    d = vexctl_json("space", "show", "sp-basic", t.vol.mnt)
    eq((d["id"], d["model"]), (s["space_id"], "all-MiniLM-L6-v2"), "vexctl space show --json")
    manage(fd, OP_DROP, "sp-basic")
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
        expect_errno(errno.EINVAL, manage, fd, OP_CREATE, "sp-bad", pack_space(**args), what=what)
    for nm in ["a b", ".hidden", "a/b", "x" * 64, "é"]:
        expect_errno(errno.EINVAL, manage, fd, OP_CREATE, "", pack_space(nm.encode()[:64], 4),
                     what=f"name {nm[:10]!r}")
    expect_errno(errno.EINVAL, manage, fd, OP_CREATE, "", pack_space("", 4), what="no name at all")
    expect_errno(errno.EINVAL, manage, fd, OP_CREATE, "sp-x", pack_space("sp-y", 4),
                 what="manage.name and space.name disagree")
    expect_errno(errno.EINVAL, manage, fd, OP_CREATE, "sp-m", pack_space("sp-m", 4, model=b"m" * 64),
                 what="model not NUL-terminated")
    ok = "n" * 63
    space_create(fd, ok, 4)
    t.spaces.append(ok)
    space_create(fd, "sp-edge", DIM_MAX, m=2, efc=EF_MAX, ef=1)
    t.spaces.append("sp-edge")
    expect_errno(errno.EEXIST, space_create, fd, "sp-edge", 4, what="duplicate")
    expect_errno(errno.ENOENT, manage, fd, OP_DROP, "sp-nope", what="drop unknown")
    expect_errno(errno.ENOENT, manage, fd, OP_INFO, "sp-nope", what="info unknown")
    expect_errno(errno.ENOENT, manage, fd, OP_BUILD, "sp-nope", what="build unknown")
    expect_errno(errno.EINVAL, manage, fd, OP_DROP, "", what="drop without a name")
    expect_errno(errno.EINVAL, manage, fd, OP_INFO, "", what="info without a name")
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
    expect_errno(errno.EINVAL, manage, fd, OP_LIST, size=MANAGE.size - 8, what="MANAGE size")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_GET, sp, count=0, size=EMB.size + 8, what="EMB size")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3, 4], 1, size=0, what="SEARCH size")
    # reserved and flags
    expect_errno(errno.EINVAL, manage, fd, OP_LIST, reserved=(0, 0, 1, 0), what="MANAGE reserved")
    expect_errno(errno.EINVAL, manage, fd, OP_LIST, flags=1, what="MANAGE flags")
    expect_errno(errno.EINVAL, manage, fd, 0, what="op 0")
    expect_errno(errno.EINVAL, manage, fd, 99, what="op 99")
    expect_errno(errno.EINVAL, manage, fd, OP_INFO, b"x" * 64, what="name without NUL")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_GET, sp, count=0, reserved=(1, 0, 0, 0), what="EMB reserved")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_GET, sp, count=0, flags=1, what="GET flags")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_UPDATE, sp, [(0, 4)], [1, 2, 3, 4], 4, flags=REPLACE_ALL,
                 what="REPLACE_ALL on UPDATE")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_ADD, sp, [(0, 4)], [1, 2, 3, 4], 4, flags=4, what="unknown ADD flag")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3, 4], 1, reserved0=1, what="SEARCH reserved0")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3, 4], 1, reserved=(0, 0, 0, 1), what="SEARCH reserved")
    expect_errno(errno.EINVAL, search, dfd, sp, [1, 2, 3, 4], 1, flags=8, what="SEARCH unknown flag")
    # chunk flags must be zero on input
    cb = Buf(CHUNK.pack(0, 4, 0, 1, 0))
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_ADD, sp, count=1, chunks_ptr=cb.addr,
                 vectors=[1, 2, 3, 4], dim=4, what="chunk flags")
    cb = Buf(CHUNK.pack(2 ** 64 - 2, 4, 0, 0, 0))
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_ADD, sp, count=1, chunks_ptr=cb.addr,
                 vectors=[1, 2, 3, 4], dim=4, what="chunk offset+length overflows")
    # bad pointers
    expect_errno(errno.EFAULT, fcntl.ioctl, fd, IOC_MANAGE, 16, what="MANAGE arg pointer")
    expect_errno(errno.EFAULT, fcntl.ioctl, ffd, IOC_GET, 16, what="EMB arg pointer")
    expect_errno(errno.EFAULT, fcntl.ioctl, dfd, IOC_SEARCH, 16, what="SEARCH arg pointer")
    expect_errno(errno.EFAULT, manage, fd, OP_LIST, list_ptr=16, list_count=4, what="list_ptr")
    expect_errno(errno.EFAULT, emb_call, ffd, IOC_ADD, sp, count=1, chunks_ptr=16, vectors=[1, 2, 3, 4],
                 dim=4, what="chunks_ptr")
    expect_errno(errno.EFAULT, emb_call, ffd, IOC_ADD, sp, [(8, 8)], dim=4, vectors_ptr=16, what="vectors_ptr")
    expect_errno(errno.EFAULT, emb_call, ffd, IOC_GET, sp, count=1, chunks_ptr=16, what="GET chunks_ptr")
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
    expect_errno(errno.ENOTTY, emb_call, tfd, IOC_GET, sp, count=0, what="EMB_GET on tmpfs")
    expect_errno(errno.ENOTTY, manage, t.open("/tmp", os.O_RDONLY | os.O_DIRECTORY), OP_LIST,
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
    expect_errno(errno.EINVAL, search, dfd, sp, q, 1, flags=S_PATHS, paths_size=0, what="PATHS without a buffer")
    expect_errno(errno.EINVAL, search, dfd, sp, q, 1, flags=S_PATHS, paths_size=(16 << 20) + 1,
                 what="paths_size > 16 MiB")
    expect_errno(errno.ENOTDIR, search, ffd, sp, q, 1, what="search on a file")
    expect_errno(errno.ENOENT, search, dfd, "sp-nope", q, 1, what="search unknown space")
    expect_errno(errno.ENOENT, search, dfd, "", q, 1, what="search without a default space")
    expect_errno(errno.EINVAL, emb_add, ffd, sp, [(0, 1)], [1, 2, 3], 3, what="ADD dim mismatch")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_ADD, sp, [], [], 4, what="ADD count 0")
    expect_errno(errno.EINVAL, emb_add, ffd, sp, [(0, 1)], [1, 2, float("nan"), 4], 4, what="ADD NaN")
    expect_errno(errno.EINVAL, emb_add, dfd, sp, [(0, 1)], q, 4, what="ADD on a directory")
    expect_errno(errno.E2BIG, emb_call, ffd, IOC_ADD, sp, count=BATCH_MAX + 1, dim=4, chunks_ptr=16,
                 vectors_ptr=16, what="ADD count 65537")
    expect_errno(errno.E2BIG, emb_call, ffd, IOC_GET, sp, count=BATCH_MAX + 1, chunks_ptr=16, what="GET count 65537")
    expect_errno(errno.E2BIG, emb_call, ffd, IOC_DELETE, sp, count=BATCH_MAX + 1, chunks_ptr=16,
                 what="DELETE count 65537")
    big = t.space(DIM_MAX, suffix="-big")
    n = BATCH_BYTES_MAX // (4 * DIM_MAX) + 1
    expect_errno(errno.E2BIG, emb_call, ffd, IOC_ADD, big, count=n, dim=DIM_MAX, chunks_ptr=16,
                 vectors_ptr=16, what=f"ADD {n} x dim 8192 (> 64 MiB)")


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
    r = emb_call(ffd, IOC_GET, sp, count=2, chunks_ptr=cb.addr, vectors_ptr=0)
    eq((r["filled"], r["total"], r["dim"]), (2, 4, 3), "GET with room for 2")
    # UPDATE
    emb_call(ffd, IOC_UPDATE, sp, [(1024, 1024)], [9, 9, 9], 3)
    eq(emb_get(ffd, sp)[0][1]["vector"], [9.0, 9.0, 9.0], "UPDATE replaced the vector")
    expect_errno(errno.ENOENT, emb_call, ffd, IOC_UPDATE, sp, [(1, 1)], [9, 9, 9], 3, what="UPDATE missing chunk")
    # DELETE
    emb_call(ffd, IOC_DELETE, sp, [(2048, 1024)])
    eq(len(emb_get(ffd, sp)[0]), 3, "DELETE one chunk")
    expect_errno(errno.ENOENT, emb_call, ffd, IOC_DELETE, sp, [(2048, 1024)], what="DELETE it again")
    # REPLACE_ALL
    emb_add(ffd, sp, [(0, 10), (10, 10)], [1, 2, 3, 4, 5, 6], 3, flags=REPLACE_ALL)
    eq([(e["offset"], e["length"]) for e in emb_get(ffd, sp)[0]], [(0, 10), (10, 10)], "REPLACE_ALL")
    # expect_version
    dv = emb_call(ffd, IOC_GET, sp, count=0)["data_version"]
    emb_add(ffd, sp, [(20, 1)], [0, 0, 1], 3, expect=dv)
    with open(f, "ab") as w:
        w.write(b"more")
    expect_errno(errno.ESTALE, emb_add, ffd, sp, [(21, 1)], [0, 0, 1], 3, expect=dv, what="ADD with an old version")
    expect_errno(errno.ESTALE, emb_call, ffd, IOC_UPDATE, sp, [(20, 1)], [0, 0, 1], 3, expect=dv,
                 what="UPDATE with an old version")
    # delete all in the space, then every space
    sp2 = t.space(2, suffix="-2")
    emb_add(ffd, sp2, [(0, 0)], [1, 1], 2)
    emb_call(ffd, IOC_DELETE, sp)
    eq(len(emb_get(ffd, sp)[0]), 0, "DELETE count 0: all in the space")
    eq(len(emb_get(ffd, sp2)[0]), 1, "other space untouched")
    expect_errno(errno.EINVAL, emb_call, ffd, IOC_DELETE, "", [(0, 1)], flags=ALL_SPACES,
                 what="ALL_SPACES with chunks")
    emb_call(ffd, IOC_DELETE, "", flags=ALL_SPACES)
    eq(len(emb_get(ffd, sp2)[0]), 0, "ALL_SPACES")
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
            got = search(dfd, sp, q, 10, flags=S_EXACT | S_PATHS)
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
    eq(len(search(dfd, sp, q, K_MAX, flags=S_EXACT)), nf * nc, "k > vectors: all returned")
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
    eq(search(t.dir("b"), sp, q, 10, flags=S_EXACT | S_PATHS)[0]["path"], "z.txt", "exact search scoped too")
    # paths that do not fit are still results
    r = search(t.dir(), sp, q, 4, flags=S_PATHS, paths_size=8)
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
    eq(search(t.dir(), sp, [1, 0], 2, flags=S_PATHS | S_NO_STALE), [], "NO_STALE skips them")
    emb_call(fd, IOC_UPDATE, sp, [(0, 5)], [1, 0], 2)
    g = emb_get(fd, sp)[0]
    eq([e["stale"] for e in g], [False, True], "UPDATE clears staleness of that chunk")
    eq(len(search(t.dir(), sp, [1, 0], 2, flags=S_PATHS | S_NO_STALE)), 1, "NO_STALE keeps the fresh one")
    os.truncate(f, 3)
    check(all(e["stale"] for e in emb_get(fd, sp)[0]), "stale after truncate")
    emb_add(fd, sp, [(0, 1)], [0, 1], 2, flags=REPLACE_ALL)
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
    sp = t.space(6, "cosine", model="m1", model_version="7")
    items = populate(t, sp, "cosine", 6, 8, 4, rng)
    os.makedirs(t.p("dflt"))
    fd = t.dir("dflt")
    manage(fd, OP_DIR_SET, sp)
    q = rvec(rng, 6)
    before = search(t.dir(), sp, q, 10, flags=S_EXACT | S_PATHS)
    info = space_info(root_fd(t), sp)
    for x in t.fds:
        with contextlib.suppress(OSError):
            os.close(x)
    t.fds = []
    os.sync()
    t.vol.cycle()
    after = search(t.dir(), sp, q, 10, flags=S_EXACT | S_PATHS)
    eq([(r["path"], r["offset"], r["distance"]) for r in after],
       [(r["path"], r["offset"], r["distance"]) for r in before], "search results after remount")
    i2 = space_info(root_fd(t), sp)
    for k in ("space_id", "dim", "metric", "model", "model_version", "vector_count", "create_time_ns"):
        eq(i2[k], info[k], f"space {k} after remount")
    eq(manage(t.dir("dflt"), OP_DIR_GET)["name"], sp, "directory default after remount")
    g, _ = emb_get(t.open(t.p("f0000.txt")), sp)
    eq(len(g), 4, "embeddings of a file after remount")
    eq(g[0]["vector"], items[0][1], "vector bits after remount")
    # the graph survives too: index build, remount, still indexed
    manage(root_fd(t), OP_BUILD, sp)
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
def dir_default_inheritance(t):
    sp = t.space(3)
    other = t.space(3, suffix="-other")
    os.makedirs(t.p("before"))
    os.makedirs(t.p("root"))
    vexctl("space", "default", t.p("root"), sp)
    os.makedirs(t.p("root", "child", "grandchild"))
    eq(manage(t.dir("root", "child"), OP_DIR_GET)["name"], sp, "mkdir inherits the default")
    eq(manage(t.dir("root", "child", "grandchild"), OP_DIR_GET)["name"], sp, "and its mkdir too")
    eq(manage(t.dir("before"), OP_DIR_GET)["name"], "", "a sibling has none")
    f = t.file("root/child/grandchild/f.txt", b"hello")
    vexctl("put", f, "--vector", "1 2 3")
    eq(len(emb_get(t.open(f), sp)[0]), 1, "put without --space used the directory's default")
    g = t.file("root/child/g.txt", b"g")
    emb_add(t.open(g), "", [(0, 0)], [3, 2, 1], 3)
    eq(len(emb_get(t.open(g), sp)[0]), 1, "ADD with name \"\" used the default")
    eq(len(search(t.dir("root"), "", [1, 2, 3], 5)), 2, "SEARCH with name \"\" used the default")
    h = t.file("before/h.txt", b"h")
    expect_errno(errno.ENOENT, emb_add, t.open(h), "", [(0, 0)], [1, 1, 1], 3, what="ADD \"\" without a default")
    manage(t.dir("root", "child"), OP_DIR_SET, other)
    eq(manage(t.dir("root", "child", "grandchild"), OP_DIR_GET)["name"], sp,
       "changing a parent does not change existing subdirectories")
    expect_errno(errno.ENOENT, manage, t.dir("root"), OP_DIR_SET, "sp-nope", what="set an unknown space")
    expect_errno(errno.ENOTDIR, manage, t.open(f), OP_DIR_GET, what="DIR_GET on a file")
    manage(t.dir("root"), OP_DIR_SET, "")
    eq(manage(t.dir("root"), OP_DIR_GET)["name"], "", "cleared")
    manage(root_fd(t), OP_DROP, other)
    t.spaces.remove(other)
    eq(manage(t.dir("root", "child"), OP_DIR_GET)["name"], "", "a dropped space reads as no default")


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
        exact = {(r["ino"], r["offset"]) for r in search(dfd, sp, q, 10, flags=S_EXACT)}
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
    vol = Volume(args.device, args.mnt)
    passed = failed = skipped = 0
    failures = []
    t_start = time.time()

    def report(ok, name, msg, secs):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"PASS: {name}" + (f" ({msg})" if msg else "") + f" [{secs:.1f}s]", flush=True)
        else:
            failed += 1
            failures.append(name)
            print(f"FAIL: {name}: {msg} [{secs:.1f}s]", flush=True)

    try:
        if mtab_entry(args.mnt):
            vol.umount()
        vol.mkfs()
        vol.mount()
        report(True, "mkfs_and_mount", "", time.time() - t_start)
    except Exception as e:  # noqa
        report(False, "mkfs_and_mount", str(e), time.time() - t_start)
        print(f"{passed} passed, {failed} failed", flush=True)
        return 1
    try:
        fd = os.open(args.mnt, os.O_RDONLY)
        manage(fd, OP_LIST)
        os.close(fd)
    except OSError as e:
        report(False, "vector_ioctls_present", f"SPACE_LIST failed with {ename(e.errno)}: the module "
               "has no vector ioctls?", 0)
        print(f"{passed} passed, {failed} failed", flush=True)
        return 1

    for name, fn in selected:
        t0 = time.time()
        t = Ctx(vol, name, args, random.Random(f"{seed}-{name}"))
        try:
            if not mtab_entry(args.mnt):
                vol.mount()
            if os.path.lexists(t.d):
                shutil.rmtree(t.d)
            os.makedirs(t.d)
            fn(t)
            report(True, name, "; ".join(t.notes), time.time() - t0)
        except Skip as e:
            skipped += 1
            print(f"SKIP: {name}: {e}", flush=True)
        except Fail as e:
            report(False, name, str(e), time.time() - t0)
        except Exception as e:  # noqa
            tb = traceback.extract_tb(e.__traceback__)
            where = next((f"line {fr.lineno}" for fr in reversed(tb) if fr.filename == __file__), "")
            report(False, name, f"{type(e).__name__}: {e} ({where})", time.time() - t0)
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
    print(f"vector_suite: {time.time() - t_start:.0f}s, seed {seed}, {skipped} skipped"
          + (f"; failed: {' '.join(failures)}" if failures else ""), flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
