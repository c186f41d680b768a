#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Guest side of tests/vm/crash_test.sh (runs INSIDE a scripts/vm-exec guest).

    crash_workload.py run    --device DEV --log LOGDEV --iter N [--mkfs] [--seed S]
                             [--delay SECS] [--mode fsync|nosync] [--dirsync]
    crash_workload.py verify --device DEV --log LOGDEV --iter N

`run` mounts DEV at /mnt/vx and modifies files under /mnt/vx/w until a thread
cuts the power (`echo b > /proc/sysrq-trigger`) after --delay seconds.  Every
durability promise the file system made is appended to LOGDEV, a raw disk
written with O_DIRECT|O_DSYNC, one 512-byte record per slot, *after* the
promise was made:

    dirty  PATH        logged BEFORE the workload touches PATH in any way
                       (write, truncate, rename from/to, unlink): from now
                       on nothing is asserted about PATH
    synced PATH SHA    logged AFTER fsync/fdatasync of PATH returned (and, for
                       a rename, after fsync of the directory): PATH must
                       exist with exactly this content
    gone   PATH        logged AFTER unlink/rename-away of PATH and fsync of
                       its directory returned: PATH must not exist
    dir    PATH        a directory made durable with sync(): must exist

Only the last record per path counts.  A file is therefore asserted only if
its last event was an fsync and nothing touched it afterwards.  New files are
made durable with fsync of the file alone (as ext4, XFS and btrfs guarantee
for the name too); --dirsync also fsyncs the parent directory.  In --mode
nosync nothing is ever fsync'd: only "dirty" records are written, and the
check is that the volume mounts, fsck is clean, every file is readable and
everything synced by earlier iterations is intact.

Meanwhile a noise thread keeps unsynced data in flight: it writes big files
under /mnt/vx/noise, holds some of them open after unlinking them (orphans
at the crash), and removes old ones.

`verify` runs `fsck.vexfs -n` BEFORE mounting (must exit 0), mounts, checks
every record, reads every file and directory on the volume (no EIO/EUCLEAN),
unmounts and runs fsck again.  Each check prints PASS:/FAIL: lines.
"""

import argparse
import errno
import hashlib
import json
import mmap
import os
import random
import re
import struct
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vexfs_ioctl as vx  # noqa: E402

MNT = "/mnt/vx"
SLOT = 512
MAGIC = b"VXLG"
KiB = 1024
MiB = 1024 * KiB
NDIRS = 6
NFILES = 40  # names per directory


def out(s):
    print(s, flush=True)


# ---------------------------------------------------------------- the log

class Log:
    def __init__(self, dev, write=False):
        self.dev = dev
        self.records = []
        fd = os.open(dev, os.O_RDONLY)
        try:
            size = os.lseek(fd, 0, os.SEEK_END)
            self.nslots = size // SLOT
            pos = 0
            while pos < self.nslots:
                chunk = os.pread(fd, 256 * SLOT, pos * SLOT)
                stop = False
                for i in range(len(chunk) // SLOT):
                    rec = self._decode(chunk[i * SLOT:(i + 1) * SLOT])
                    if rec is None:
                        stop = True
                        break
                    self.records.append(rec)
                if stop or not chunk:
                    break
                pos += 256
        finally:
            os.close(fd)
        self.next = len(self.records)
        self.fd = None
        if write:
            self.fd = os.open(dev, os.O_RDWR | os.O_DIRECT | os.O_DSYNC)
            self.buf = mmap.mmap(-1, 4096)  # page aligned, as O_DIRECT wants
        self.lock = threading.Lock()

    @staticmethod
    def _decode(b):
        if b[:4] != MAGIC:
            return None
        crc, n = struct.unpack_from("<IH", b, 4)
        body = b[10:10 + n]
        if n > SLOT - 10 or zlib.crc32(body) != crc:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def append(self, rec):
        body = json.dumps(rec, separators=(",", ":")).encode()
        if len(body) > SLOT - 10:
            raise ValueError("log record too long")
        raw = MAGIC + struct.pack("<IH", zlib.crc32(body), len(body)) + body
        raw += bytes(SLOT - len(raw))
        with self.lock:
            if self.next >= self.nslots:
                raise OSError(errno.ENOSPC, "log device full")
            self.buf[:SLOT] = raw
            n = os.pwrite(self.fd, memoryview(self.buf)[:SLOT], self.next * SLOT)
            if n != SLOT:
                raise OSError(errno.EIO, "short log write")
            self.next += 1
            self.records.append(rec)

    def state(self):
        """path -> last record."""
        st = {}
        for r in self.records:
            st[r["p"]] = r
        return st


# ---------------------------------------------------------------- helpers

def sh(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace")


def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def fsync_path(path, data_only=False):
    fd = os.open(path, os.O_RDONLY)
    try:
        (os.fdatasync if data_only else os.fsync)(fd)
    finally:
        os.close(fd)


def mount(dev):
    os.makedirs(MNT, exist_ok=True)
    r = sh(["mount", "-t", "vexfs", dev, MNT])
    if r.returncode != 0:
        raise RuntimeError(f"mount failed ({r.returncode}): {r.stderr.strip()}")


# ---------------------------------------------------------------- run

class Workload:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.rng = random.Random(args.seed)
        self.base = os.path.join(MNT, "w")
        self.fsync = args.mode == "fsync"
        self.stats = {"synced": 0, "gone": 0, "dirty": 0, "ops": 0, "enospc": 0}

    def rel(self, p):
        return os.path.relpath(p, MNT)

    def dirty(self, p):
        self.log.append({"t": "dirty", "p": self.rel(p), "i": self.args.iter})
        self.stats["dirty"] += 1

    def synced(self, p):
        self.log.append({"t": "synced", "p": self.rel(p), "h": sha_file(p), "s": os.stat(p).st_size,
                         "i": self.args.iter})
        self.stats["synced"] += 1

    def gone(self, p):
        self.log.append({"t": "gone", "p": self.rel(p), "i": self.args.iter})
        self.stats["gone"] += 1

    def fsync_dir(self, p):
        fsync_path(os.path.dirname(p))

    def pick(self):
        d = self.rng.randrange(NDIRS)
        return os.path.join(self.base, f"d{d}", f"f{self.rng.randrange(NFILES):02d}")

    def data(self):
        r = self.rng.random()
        if r < 0.3:
            n = self.rng.randrange(0, 5000)
        elif r < 0.85:
            n = self.rng.randrange(4096, 200 * KiB)
        else:
            n = self.rng.randrange(200 * KiB, 2 * MiB)
        return self.rng.randbytes(n)

    def setup(self):
        if not os.path.isdir(self.base):
            os.mkdir(self.base)
        for d in range(NDIRS):
            p = os.path.join(self.base, f"d{d}")
            if not os.path.isdir(p):
                os.mkdir(p)
        os.makedirs(os.path.join(MNT, "noise"), exist_ok=True)
        os.makedirs(os.path.join(MNT, "scratch"), exist_ok=True)
        os.sync()
        st = self.log.state()
        for d in range(NDIRS):
            p = os.path.join(self.base, f"d{d}")
            if self.rel(p) not in st:
                self.log.append({"t": "dir", "p": self.rel(p), "i": self.args.iter})

    # -- operations; each logs dirty before touching, synced/gone after the sync
    def op_write(self):
        p = self.pick()
        self.dirty(p)
        data = self.data()
        with open(p, "wb") as f:
            f.write(data)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        if self.fsync:
            if self.args.dirsync:
                self.fsync_dir(p)
            self.synced(p)

    def op_overwrite(self):
        p = self.pick()
        if not os.path.exists(p):
            return self.op_write()
        self.dirty(p)
        fd = os.open(p, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            for _ in range(self.rng.randrange(1, 6)):
                off = self.rng.randrange(0, size + 8192)
                os.pwrite(fd, self.rng.randbytes(self.rng.randrange(1, 20000)), off)
            if self.fsync:
                (os.fdatasync if self.rng.random() < 0.5 else os.fsync)(fd)
        finally:
            os.close(fd)
        if self.fsync:
            self.synced(p)

    def op_append(self):
        p = self.pick()
        self.dirty(p)
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, self.rng.randbytes(self.rng.randrange(1, 30000)))
            if self.fsync:
                os.fdatasync(fd)
        finally:
            os.close(fd)
        if self.fsync:
            if self.args.dirsync:
                self.fsync_dir(p)
            self.synced(p)

    def op_truncate(self):
        p = self.pick()
        if not os.path.exists(p):
            return
        self.dirty(p)
        fd = os.open(p, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            os.ftruncate(fd, self.rng.randrange(0, size + 100000))
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if self.fsync:
            self.synced(p)

    def op_replace(self):
        """The atomic-update pattern: tmp, fsync, rename over, fsync dir."""
        p = self.pick()
        tmp = p + ".tmp"
        self.dirty(tmp)
        with open(tmp, "wb") as f:
            f.write(self.data())
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        self.dirty(p)
        os.rename(tmp, p)
        if self.fsync:
            self.fsync_dir(p)
            self.synced(p)
            self.gone(tmp)

    def op_rename(self):
        a, b = self.pick(), self.pick()
        if a == b or not os.path.exists(a):
            return
        self.dirty(a)
        self.dirty(b)
        os.rename(a, b)
        if self.fsync and self.rng.random() < 0.7:
            self.fsync_dir(a)
            if os.path.dirname(a) != os.path.dirname(b):
                self.fsync_dir(b)
            fsync_path(b)
            self.synced(b)
            self.gone(a)

    def op_unlink(self):
        p = self.pick()
        if not os.path.exists(p):
            return
        self.dirty(p)
        os.unlink(p)
        if self.fsync and self.rng.random() < 0.7:
            self.fsync_dir(p)
            self.gone(p)

    def op_scratch(self):
        """Metadata churn with no promises: mkdir/rmdir/symlink/xattr."""
        s = os.path.join(MNT, "scratch", f"s{self.rng.randrange(30)}")
        try:
            if os.path.isdir(s):
                for n in os.listdir(s):
                    os.unlink(os.path.join(s, n))
                os.rmdir(s)
            else:
                os.mkdir(s)
                for i in range(self.rng.randrange(1, 20)):
                    q = os.path.join(s, f"e{i}")
                    with open(q, "wb") as f:
                        f.write(b"s" * self.rng.randrange(0, 3000))
                    os.setxattr(q, "user.k", b"v" * self.rng.randrange(0, 300))
                    os.symlink(f"e{i}", os.path.join(s, f"l{i}"))
        except FileExistsError:
            pass
        except FileNotFoundError:
            pass

    def op_sync(self):
        if self.fsync:
            os.sync()

    OPS = [("op_write", 25), ("op_overwrite", 20), ("op_append", 10), ("op_truncate", 5),
           ("op_replace", 10), ("op_rename", 8), ("op_unlink", 8), ("op_scratch", 12), ("op_sync", 2)]

    def step(self):
        names = [n for n, w in self.OPS]
        weights = [w for n, w in self.OPS]
        name = self.rng.choices(names, weights)[0]
        try:
            getattr(self, name)()
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                self.stats["enospc"] += 1
                return
            raise
        self.stats["ops"] += 1


def noise(stop, errs, rng):
    """Unsynced big writes and open-unlinked files, in flight at the crash."""
    d = os.path.join(MNT, "noise")
    held = []
    k = 0
    try:
        while not stop.is_set():
            p = os.path.join(d, f"n{k % 12}")
            k += 1
            try:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                for _ in range(rng.randrange(1, 16)):
                    os.write(fd, rng.randbytes(256 * KiB))
                if rng.random() < 0.2:
                    os.unlink(p)  # stays open: an orphan at the crash
                    held.append(fd)
                    if len(held) > 4:
                        os.close(held.pop(0))
                else:
                    os.close(fd)
            except OSError as e:
                if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
    except Exception as e:  # noqa
        errs.append(repr(e))


VSPACE = "crash"
VDIM = 8


def vec_for(seed):
    """The float32 vector a seed stands for (exactly representable)."""
    r = random.Random(seed)
    return [float(r.randrange(-1000, 1000)) / 64.0 for _ in range(VDIM)]


def vectors(stop, rng, log, iteration, use_fsync):
    """Embeddings added, replaced and deleted while the power may go."""
    d = os.path.join(MNT, "vec")
    k = 0
    try:
        while not stop.is_set():
            k += 1
            rel = f"vec/f{rng.randrange(60)}"
            key = "emb:" + rel
            p = os.path.join(MNT, rel)
            log.append({"t": "edirty", "p": key, "i": iteration})
            op = rng.random()
            if op < 0.1 and os.path.exists(p):
                os.unlink(p)
                if use_fsync:
                    fsync_path(d)
                    log.append({"t": "egone", "p": key, "i": iteration})
                continue
            fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if op < 0.25:
                    vx.emb_delete(fd, VSPACE)
                    if use_fsync:
                        os.fsync(fd)
                        log.append({"t": "noemb", "p": key, "i": iteration})
                else:
                    seed = rng.randrange(1 << 40)
                    vx.emb_add(fd, VSPACE, [vec_for(seed)], replace=True)
                    if use_fsync:
                        os.fsync(fd)
                        log.append({"t": "emb", "p": key, "s": seed, "i": iteration})
            finally:
                os.close(fd)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            out(f"FAIL: crash_iter{iteration}_vector_workload: {e!r}")
    except Exception as e:  # noqa
        out(f"FAIL: crash_iter{iteration}_vector_workload: {e!r}")


def setup_vectors():
    os.makedirs(os.path.join(MNT, "vec"), exist_ok=True)
    fd = vx.open_dir(MNT)
    try:
        try:
            vx.space_create(fd, VSPACE, VDIM)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
    finally:
        os.close(fd)
    # the data workload's files are queued for automatic embedding (no sidecar runs)
    fd = vx.open_dir(os.path.join(MNT, "w"))
    try:
        vx.auto_call(fd, vx.AUTO_SET, VSPACE)
    finally:
        os.close(fd)
    os.sync()


def check_auto_queue(result):
    """Every file of the workload whose data survived is still queued for embedding, and
    nothing else is: the queue item commits with the data change (docs/AUTO.md)."""
    base = os.path.join(MNT, "w")
    if not os.path.isdir(base):
        return []
    files = {}
    for root, _, names in os.walk(base):
        for n in names:
            st = os.lstat(os.path.join(root, n))
            files[os.path.relpath(os.path.join(root, n), MNT)] = (st.st_ino, st.st_size)
    nonempty = sum(size > 0 for _, size in files.values())
    fd = vx.open_dir(base)
    try:
        got = vx.auto_call(fd, vx.AUTO_PENDING, VSPACE)["stale"]
    finally:
        os.close(fd)
    ok = nonempty <= got <= len(files)
    result(ok, "auto_queue", f"{got} queued; {nonempty} non-empty of {len(files)} files")
    return [] if ok else [(rel, ino) for rel, (ino, size) in files.items() if size > 0]


def explain_auto_queue(device, nonempty, st):
    """After a failed auto_queue check, with the volume unmounted: which non-empty
    files have no queue item (from vexfs-dump), and what the log last says of them."""
    r = sh(["vexfs-dump", device])
    queued = {int(m) for m in re.findall(r"stale: inode (\d+)", r.stdout)}
    for rel, ino in nonempty:
        if ino not in queued:
            print(f"   not queued: {rel} (inode {ino}); last logged: {st.get(rel)}", flush=True)


def check_vectors(st, result):
    """Every embedding promised by an fsync is there, exactly, and found."""
    bad = []
    n = {"emb": 0, "noemb": 0, "egone": 0}
    dfd = vx.open_dir(MNT)
    try:
        for key, rec in sorted(st.items()):
            if not key.startswith("emb:") or rec["t"] == "edirty":
                continue
            rel = key[4:]
            p = os.path.join(MNT, rel)
            n[rec["t"]] += 1
            try:
                if rec["t"] == "egone":
                    if os.path.lexists(p):
                        bad.append(f"{rel}: unlinked and synced but exists")
                    continue
                fd = os.open(p, os.O_RDONLY)
                try:
                    chunks, vecs, _ = vx.emb_get(fd, VSPACE)
                finally:
                    os.close(fd)
                if rec["t"] == "noemb":
                    if chunks:
                        bad.append(f"{rel}: embeddings deleted and synced, {len(chunks)} found")
                    continue
                want = vec_for(rec["s"])
                if len(vecs) != 1 or vecs[0] != want:
                    bad.append(f"{rel}: embedding differs: {vecs} != {want}")
                    continue
                hits = vx.search(dfd, VSPACE, want, 3, exact=True)
                if not any(h.get("path") == rel and h["distance"] == 0.0 for h in hits):
                    bad.append(f"{rel}: exact search does not find its vector: {hits}")
            except OSError as e:
                bad.append(f"{rel}: {e}")
        info = vx.space_info(dfd, VSPACE)
        hits = vx.search(dfd, VSPACE, [0.0] * VDIM, 5)
        if info["vector_count"] and not hits:
            bad.append(f"HNSW search found nothing among {info['vector_count']} vectors")
    except OSError as e:
        bad.append(f"space {VSPACE}: {e}")
    finally:
        os.close(dfd)
    result(not bad, "fsynced_embeddings",
           f"{n['emb']} embeddings, {n['noemb']} deletions, {n['egone']} unlinks checked"
           if not bad else f"{len(bad)} problems: " + "; ".join(bad[:6]))


def power_cut_after(delay):
    def cut():
        time.sleep(delay)
        with open("/proc/sysrq-trigger", "w") as f:
            f.write("b")
    th = threading.Thread(target=cut, daemon=True)
    th.start()


def cmd_run(args):
    name = f"crash_iter{args.iter}"
    if args.mkfs:
        r = sh(["mkfs.vexfs", "-f", "-q", args.device])
        if r.returncode != 0:
            out(f"FAIL: {name}_mkfs: {r.stdout}{r.stderr}")
            return 1
    log = Log(args.log, write=True)
    try:
        mount(args.device)
    except Exception as e:  # noqa
        out(f"FAIL: {name}_mount_before_workload: {e}")
        return 1
    w = Workload(args, log)
    w.setup()
    out(f"{name}: mode={args.mode} delay={args.delay:.2f}s seed={args.seed} "
        f"log records so far={len(log.records)}")
    stop = threading.Event()
    errs = []
    nth = threading.Thread(target=noise, args=(stop, errs, random.Random(args.seed + 1)), daemon=True)
    nth.start()
    setup_vectors()
    vth = threading.Thread(target=vectors, args=(stop, random.Random(args.seed + 2), log,
                                                 args.iter, args.mode == "fsync"), daemon=True)
    vth.start()
    t0 = time.time()
    power_cut_after(args.delay)
    try:
        while True:
            w.step()
            if w.stats["ops"] % 200 == 0 and w.stats["ops"]:
                out(f"{name}: {time.time() - t0:.1f}s {w.stats}")
    except Exception as e:  # noqa
        out(f"FAIL: {name}_workload: {type(e).__name__}: {e} (stats {w.stats})")
        if errs:
            out(f"FAIL: {name}_noise: {errs[0]}")
        # keep waiting: the power cut still comes and the verify boot runs
        while True:
            time.sleep(1)


def cmd_verify(args):
    name = f"crash_iter{args.iter}"
    failures = 0

    def result(ok, case, msg=""):
        nonlocal failures
        if ok:
            out(f"PASS: {name}_{case}" + (f" ({msg})" if msg else ""))
        else:
            failures += 1
            out(f"FAIL: {name}_{case}: {msg}")

    r = sh(["fsck.vexfs", "-n", args.device])
    result(r.returncode == 0, "fsck_before_mount",
           "" if r.returncode == 0 else f"exit {r.returncode}: " + " | ".join((r.stdout + r.stderr).strip().splitlines()[-8:]))
    try:
        mount(args.device)
    except Exception as e:  # noqa
        result(False, "mount", str(e))
        return 1
    result(True, "mount")
    log = Log(args.log)
    st = log.state()
    bad = []
    counts = {"synced": 0, "gone": 0, "dir": 0, "dirty": 0}
    for rel, rec in sorted(st.items()):
        if rel.startswith("emb:"):
            continue
        p = os.path.join(MNT, rel)
        t = rec["t"]
        counts[t] += 1
        try:
            if t == "synced":
                if not os.path.exists(p):
                    bad.append(f"{rel}: fsync'd in iteration {rec['i']} but missing")
                    continue
                size = os.stat(p).st_size
                h = sha_file(p)
                if h != rec["h"]:
                    bad.append(f"{rel}: content differs (size {size}, fsync'd size {rec['s']}, "
                               f"iteration {rec['i']})")
            elif t == "gone":
                if os.path.lexists(p):
                    bad.append(f"{rel}: removed and synced in iteration {rec['i']} but exists")
            elif t == "dir":
                if not os.path.isdir(p):
                    bad.append(f"{rel}: synced directory missing")
        except OSError as e:
            bad.append(f"{rel}: {e}")
    result(not bad, "fsynced_data",
           f"{counts['synced']} files, {counts['gone']} removals, {counts['dir']} dirs checked, "
           f"{counts['dirty']} unsynced skipped" if not bad else f"{len(bad)} problems: " + "; ".join(bad[:6]))
    check_vectors(st, result)
    unqueued = check_auto_queue(result)
    # everything on the volume must be readable
    errs = []
    nfiles = 0
    for root, dirs, files in os.walk(MNT, onerror=lambda e: errs.append(str(e))):
        for n in files:
            p = os.path.join(root, n)
            try:
                if os.path.islink(p):
                    os.readlink(p)
                else:
                    sha_file(p)
                    os.listxattr(p)
                nfiles += 1
            except OSError as e:
                errs.append(f"{os.path.relpath(p, MNT)}: {e}")
    result(not errs, "read_everything", f"{nfiles} files" if not errs else "; ".join(errs[:6]))
    # the volume is writable again
    try:
        p = os.path.join(MNT, "after-crash")
        with open(p, "wb") as f:
            f.write(b"x" * 10000)
            os.fsync(f.fileno())
        os.unlink(p)
        result(True, "writable")
    except OSError as e:
        result(False, "writable", str(e))
    r = sh(["umount", MNT])
    result(r.returncode == 0, "umount", r.stderr.strip())
    if unqueued and r.returncode == 0:
        explain_auto_queue(args.device, unqueued, st)
    r = sh(["fsck.vexfs", "-n", args.device])
    result(r.returncode == 0, "fsck_after_umount",
           "" if r.returncode == 0 else f"exit {r.returncode}: " + " | ".join((r.stdout + r.stderr).strip().splitlines()[-8:]))
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("run", "verify"))
    disks = os.environ.get("VM_DISKS", "").split()
    ap.add_argument("--device", default=disks[0] if disks else None)
    ap.add_argument("--log", default=disks[1] if len(disks) > 1 else None)
    ap.add_argument("--iter", type=int, default=0)
    ap.add_argument("--mkfs", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--delay", type=float, default=None)
    ap.add_argument("--mode", choices=("fsync", "nosync"), default="fsync")
    ap.add_argument("--dirsync", action="store_true")
    args = ap.parse_args()
    if os.environ.get("VM_IN_GUEST") != "1":
        # `run` cuts the power with sysrq b: never on a real machine
        print("crash_workload: runs only inside a scripts/vm-exec guest (VM_IN_GUEST=1)", file=sys.stderr)
        return 2
    if not args.device or not args.log:
        print("crash_workload: need --device and --log (or two disks in VM_DISKS)", file=sys.stderr)
        return 2
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    if args.delay is None:
        args.delay = random.Random(args.seed).uniform(0.5, 10)
    return cmd_run(args) if args.action == "run" else cmd_verify(args)


if __name__ == "__main__":
    sys.exit(main())
