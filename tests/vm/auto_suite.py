#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""VexFS automatic-embedding suite (docs/AUTO.md).  Runs INSIDE a guest booted by scripts/vm-exec.

    scripts/vm-exec --pyenv --disk 2G --mem 2048 -- python3 tests/vm/auto_suite.py
    scripts/vm-exec --disk 1G -- python3 tests/vm/auto_suite.py --quick --only policy

Formats DEVICE (default: the first of $VM_DISKS), mounts it at /mnt/ax and runs named cases
against the real module: the directory policy and the persistent queue through
VEXFS_IOC_AUTO (tests/vm/vexfs_ioctl.py), the generic netlink protocol driven by hand
(vexfsd's netlink client, tools/vexfsd/vexfsd/genl.py), and the reference sidecar `vexfsd`
end to end with `vexctl wait` and `vexctl search DIR "text"`.  The builtin model-free
embedder is used everywhere except `minilm_topics`, which needs the real model
(build/pyenv, copied in by `vm-exec --pyenv`; skipped without it).  Each case prints
`PASS: name` / `FAIL: name: reason` / `SKIP: name: reason`; afterwards the volume must be
fsck-clean.  The last line is `N passed, M failed`.
"""

import argparse
import ctypes
import errno
import json
import mmap
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tools", "vexfsd"))
import vexfs_ioctl as vx  # noqa: E402
from suite_lib import Fail, Results, Skip, Volume, check, eq, expect_errno, run  # noqa: E402
from vexfsd import genl, vexfs as vxd  # noqa: E402

MNT = "/mnt/ax"
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
BUILTIN = ["--backend", "builtin"]
DEBOUNCE_PARAM = "/sys/module/vexfs/parameters/auto_debounce_ms"
TOPICS = {
    "cooking": ("Boil the pasta in salted water until al dente, then toss it with garlic, "
                "olive oil and grated parmesan. A good tomato sauce simmers slowly with basil. "
                "Season the pasta sauce with salt and pepper before serving the recipe."),
    "astronomy": ("The telescope resolved the spiral galaxy and its bright nebula. Astronomers "
                  "measured the redshift of distant stars and planets orbiting in the galaxy. "
                  "A comet crossed the night sky near the planet Jupiter."),
    "networking": ("The router forwards TCP packets between subnets; each packet carries an IP "
                   "header. Congestion control in TCP adjusts the window when packets are lost "
                   "on the network link between the router and the switch."),
    "gardening": ("Plant the tomato seedlings in rich compost soil, water the garden every "
                  "morning and prune the roses in spring. Mulch keeps the soil moist and the "
                  "weeds away from the vegetable beds in the garden."),
}
QUERIES = {
    "cooking": "how to cook pasta with tomato sauce and parmesan",
    "astronomy": "telescope observations of galaxy redshift and stars",
    "networking": "tcp congestion window and lost packets in a router",
    "gardening": "prune roses and water seedlings in garden soil",
}


# ---------------------------------------------------------------- helpers

def dfd(path):
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


def auto(path, op, name="", flags=0):
    fd = os.open(path, os.O_RDONLY)
    try:
        return vx.auto_call(fd, op, name, flags)
    finally:
        os.close(fd)


def status(space):
    return auto(MNT, vx.AUTO_STATUS, space)


def pending(path, space=""):
    r = auto(path, vx.AUTO_PENDING, space)
    return r["stale"], r["failed"]


def wait_until(what, fn, timeout=120.0, step=0.1):
    end = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > end:
            raise Fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


def write(path, data, mode="w"):
    with open(path, mode) as f:
        f.write(data)


def make_space(name, model="vexfs-builtin-hash", dim=256, version="1"):
    """A space as `vexfsd init-space --backend builtin` makes it (checked in `sidecar_cli`)."""
    fd = dfd(MNT)
    try:
        vx.space_create(fd, name, dim, metric="cosine", model=model, version=version)
    finally:
        os.close(fd)


def emb_total(path, space):
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks, _, info = vx.emb_get(fd, space, vectors=False)
        return chunks, info
    finally:
        os.close(fd)


class Sidecar:
    """`vexfsd run` in the background, its log kept for failure messages."""

    def __init__(self, space, *extra, wait_registered=True):
        """space: a name, or a tuple of names all served by this one process."""
        spaces = (space,) if isinstance(space, str) else tuple(space)
        self.space = spaces[0]
        self.log = f"/tmp/vexfsd-{'+'.join(spaces)}-{time.time_ns()}.log"
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(["vexfsd", "run", "--mount", MNT,
                                      *[a for s in spaces for a in ("--space", s)],
                                      "--log-format", "json", *(extra or BUILTIN)],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        if wait_registered:
            wait_until(f"vexfsd to register for {', '.join(spaces)} (log: {self.tail()})",
                       lambda: all(status(s)["sidecars"] >= 1 for s in spaces)
                       or self.proc.poll() is not None,
                       timeout=60)
            if self.proc.poll() is not None:
                raise Fail(f"vexfsd exited {self.proc.returncode}: {self.tail()}")

    def tail(self, n=6):
        try:
            with open(self.log) as f:
                return " | ".join(f.read().strip().splitlines()[-n:])
        except OSError:
            return ""

    def events(self):
        out = []
        with open(self.log) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Fail(f"vexfsd did not stop on signal {sig}: {self.tail()}")
        self.logf.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop(signal.SIGKILL)


class RawSidecar:
    """The protocol by hand: REGISTER, receive REQUESTs, answer."""

    def __init__(self, space, model="vexfs-builtin-hash", window=16, timeout_ms=120000):
        self.sock = genl.GenlSocket(vxd.GENL_NAME, vxd.GENL_VERSION,
                                    unsolicited_cmds=(vxd.CMD_REQUEST,))
        self.dev = os.stat(MNT).st_dev
        self.space = space
        self.reply = self.sock.request(vxd.CMD_REGISTER, [
            (vxd.ATTR_DEV, genl.u32(self.dev)), (vxd.ATTR_SPACE, genl.string(space)),
            (vxd.ATTR_MODEL, genl.string(model)), (vxd.ATTR_WINDOW, genl.u32(window)),
            (vxd.ATTR_TIMEOUT_MS, genl.u32(timeout_ms))])
        self.mount_fd = dfd(MNT)

    def take(self):
        """The REQUESTs that have arrived, as dicts, without waiting."""
        got = []
        for m in self.sock.receive():
            if m.cmd == vxd.CMD_REQUEST:
                a = m.attrs
                got.append({"ino": genl.get_u64(a, vxd.ATTR_INO),
                            "dv": genl.get_u64(a, vxd.ATTR_DATA_VERSION),
                            "size": genl.get_u64(a, vxd.ATTR_SIZE),
                            "space_id": genl.get_u32(a, vxd.ATTR_SPACE_ID),
                            "space": genl.get_string(a, vxd.ATTR_SPACE),
                            "gen": genl.get_u32(a, vxd.ATTR_GENERATION),
                            "htype": genl.get_u32(a, vxd.ATTR_HANDLE_TYPE),
                            "handle": a.get(vxd.ATTR_HANDLE)})
        return got

    def requests(self, n=1, timeout=30.0):
        """The next n REQUESTs as dicts."""
        got, end = [], time.time() + timeout
        while len(got) < n:
            got += self.take()
            if len(got) >= n:
                break
            if time.time() > end:
                raise Fail(f"expected {n} requests, got {len(got)} in {timeout:.0f}s")
            time.sleep(0.05)
        return got

    def quiet(self, secs):
        """No REQUEST arrives for secs."""
        end = time.time() + secs
        while time.time() < end:
            msgs = [m for m in self.sock.receive() if m.cmd == vxd.CMD_REQUEST]
            if msgs:
                return False
            time.sleep(0.05)
        return True

    def open(self, req):
        return vxd.open_by_handle(self.mount_fd, req["htype"], req["handle"], os.O_RDONLY)

    def done(self, req, err, msg=None):
        attrs = [(vxd.ATTR_DEV, genl.u32(self.dev)), (vxd.ATTR_SPACE_ID, genl.u32(req["space_id"])),
                 (vxd.ATTR_INO, genl.u64(req["ino"])), (vxd.ATTR_DATA_VERSION, genl.u64(req["dv"])),
                 (vxd.ATTR_ERRNO, genl.u32(err))]
        if msg:
            attrs.append((vxd.ATTR_MESSAGE, genl.string(msg)))
        self.sock.request(vxd.CMD_DONE, attrs)

    def submit(self, req, vectors, chunks, dim=256):
        import array
        fd = self.open(req)
        try:
            return vxd.emb_add_replace(fd, self.space, dim, chunks,
                                       array.array("f", [x for v in vectors for x in v]), req["dv"])
        finally:
            os.close(fd)

    def close(self):
        self.sock.close()
        if self.mount_fd >= 0:
            os.close(self.mount_fd)
            self.mount_fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def unit(dim=256, i=0):
    v = [0.0] * dim
    v[i % dim] = 1.0
    return v


# ---------------------------------------------------------------- cases

def case_policy(ctx):
    """SET / GET / inheritance / OFF / clear, and the errors."""
    base = f"{MNT}/pol"
    os.makedirs(f"{base}/a/b/c")
    os.makedirs(f"{base}/x")
    make_space("pol")
    auto(base + "/a", vx.AUTO_SET, "pol")
    eq(auto(base + "/a", vx.AUTO_GET)["name"], "pol", "own policy")
    eq(auto(base + "/a", vx.AUTO_GET)["flags"], 0, "own policy flags")
    g = auto(base + "/a/b/c", vx.AUTO_GET)
    eq((g["name"], g["flags"]), ("pol", vx.AUTO_INHERITED), "inherited policy")
    os.mkdir(base + "/a/b/new")
    eq(auto(base + "/a/b/new", vx.AUTO_GET)["name"], "pol", "a new subdirectory inherits")
    auto(base + "/a/b", vx.AUTO_SET, "", vx.AUTO_OFF)
    g = auto(base + "/a/b/c", vx.AUTO_GET)
    eq((g["name"], g["flags"]), ("", vx.AUTO_OFF | vx.AUTO_INHERITED), "beneath an OFF directory")
    eq(auto(base + "/a/b", vx.AUTO_GET)["flags"], vx.AUTO_OFF, "OFF reads back")
    auto(base + "/a/b", vx.AUTO_SET, "")
    eq(auto(base + "/a/b/c", vx.AUTO_GET)["name"], "pol", "cleared: inherits again")
    eq(auto(base + "/x", vx.AUTO_GET)["name"], "", "outside the policy")
    write(base + "/a/f", "x")
    expect_errno(errno.ENOTDIR, auto, base + "/a/f", vx.AUTO_SET, "pol")
    expect_errno(errno.ENOENT, auto, base + "/x", vx.AUTO_SET, "nosuch")
    expect_errno(errno.EINVAL, auto, base + "/x", vx.AUTO_SET, "pol", vx.AUTO_OFF)
    expect_errno(errno.EINVAL, auto, base + "/x", 99)
    fd = dfd(base + "/x")
    try:
        expect_errno(errno.EINVAL, vx.auto_call, fd, vx.AUTO_GET, size=100)
        expect_errno(errno.EINVAL, vx.auto_call, fd, vx.AUTO_GET, reserved0=1)
        expect_errno(errno.EINVAL, vx.auto_call, fd, vx.AUTO_GET, reserved=(0, 0, 1, 0))
    finally:
        os.close(fd)
    # the policy is in the volume
    ctx.vol.cycle()
    eq(auto(base + "/a/b/c", vx.AUTO_GET)["name"], "pol", "policy after remount")
    # a dropped space reads as no policy
    make_space("pol2")
    auto(base + "/x", vx.AUTO_SET, "pol2")
    fd = dfd(MNT)
    vx.space_drop(fd, "pol2")
    os.close(fd)
    eq(auto(base + "/x", vx.AUTO_GET)["name"], "", "policy of a dropped space")
    write(base + "/x/f", "data")
    eq(pending(base + "/x"), (0, 0), "nothing queued into a dropped space")


def case_queue(ctx):
    """Every kind of data change queues the file, durably; other changes do not."""
    base = f"{MNT}/q"
    os.makedirs(base + "/on/sub")
    os.makedirs(base + "/on/off")
    os.makedirs(base + "/plain")
    make_space("q")
    auto(base + "/on", vx.AUTO_SET, "q")
    auto(base + "/on/off", vx.AUTO_SET, "", vx.AUTO_OFF)
    write(base + "/on/w.txt", "written")
    write(base + "/on/sub/deep.txt", "deep")
    write(base + "/on/off/skip.txt", "excluded")
    write(base + "/plain/p.txt", "no policy")
    eq(pending(base + "/on"), (2, 0), "write() queues, in subdirectories too, not under OFF")
    eq(pending(base + "/plain"), (0, 0), "no policy, no queue")
    write(base + "/on/w.txt", "again")
    eq(status("q")["stale"], 2, "a second change does not queue twice")
    # files that predate the policy: only MARK queues them
    write(base + "/plain/t.txt", "truncate me")
    write(base + "/plain/m.bin", "\0" * 8192)
    write(base + "/plain/h.bin", "h" * 16384)
    os.rename(base + "/plain/t.txt", base + "/on/t.txt")
    os.rename(base + "/plain/m.bin", base + "/on/m.bin")
    os.rename(base + "/plain/h.bin", base + "/on/h.bin")
    eq(pending(base + "/on"), (2, 0), "rename does not queue")
    os.truncate(base + "/on/t.txt", 3)
    fd = os.open(base + "/on/m.bin", os.O_RDWR)
    with mmap.mmap(fd, 8192) as m:
        m[0:5] = b"mmap!"
        m.flush()
    os.close(fd)
    fd = os.open(base + "/on/h.bin", os.O_RDWR)
    check(LIBC.fallocate(fd, 0x02 | 0x01, 0, 4096) == 0, "punch hole")  # PUNCH_HOLE | KEEP_SIZE
    os.close(fd)
    eq(pending(base + "/on"), (5, 0), "truncate, mmap write and punch hole queue")
    write(base + "/plain/old.txt", "old file")
    os.rename(base + "/plain/old.txt", base + "/on/old.txt")
    fd = os.open(base + "/on/old.txt", os.O_RDONLY)
    vx.auto_call(fd, vx.AUTO_MARK)
    os.close(fd)
    eq(pending(base + "/on"), (6, 0), "MARK queues an existing file")
    fd = os.open(base + "/on/old.txt", os.O_RDONLY)
    expect_errno(errno.ENOENT, vx.auto_call, fd, vx.AUTO_MARK, "nosuch")
    os.close(fd)
    fd = dfd(base + "/on")
    expect_errno(errno.EINVAL, vx.auto_call, fd, vx.AUTO_MARK)
    os.close(fd)
    fd = os.open(base + "/plain/p.txt", os.O_RDONLY)
    expect_errno(errno.ENOENT, vx.auto_call, fd, vx.AUTO_MARK)
    os.close(fd)
    # durable: an unmount (and the commit) keeps the queue; sync + remount
    ctx.vol.cycle()
    eq(pending(base + "/on"), (6, 0), "the queue after remount")
    eq(pending(base + "/on/sub"), (1, 0), "pending beneath a subdirectory")
    os.unlink(base + "/on/w.txt")
    eq(pending(base + "/on"), (5, 0), "unlink takes the file off the queue")
    fd = dfd(MNT)
    vx.space_drop(fd, "q")
    os.close(fd)
    eq(pending(base + "/on"), (0, 0), "dropping the space drops its queue")


def topic_corpus(base, copies=1):
    files = {}
    for t, text in TOPICS.items():
        for i in range(copies):
            p = f"{base}/{t}-{i}.md"
            write(p, f"# {t} notes {i}\n\n{text}\n")
            files[p] = t
    return files


def check_topics(ctx, base, space, files, what):
    for t, q in QUERIES.items():
        r = run(["vexctl", "search", base, q, "-k", "3", "--space", space, "--json"])
        hits = json.loads(r.stdout)
        hits = hits.get("results", hits) if isinstance(hits, dict) else hits
        check(hits, f"{what}: no results for {q!r}")
        top = hits[0]
        path = top.get("path", "")
        check(os.path.basename(path).startswith(t),
              f"{what}: query {q!r} ranked {path} first, expected a {t} document")
        check(top.get("passage"), f"{what}: no passage for {path}: {top}")


def case_end_to_end(ctx):
    """cp documents in, vexctl wait, search by text; chunks are real byte ranges."""
    base = f"{MNT}/e2e"
    os.makedirs(base)
    run(["vexfsd", "init-space", MNT, "e2e", *BUILTIN])
    run(["vexctl", "auto", base, "--space", "e2e"])
    with Sidecar("e2e") as sc:
        files = topic_corpus(base)
        long_text = " ".join(f"Sentence {i} talks about topic number {i % 7}." for i in range(400))
        write(base + "/long.txt", long_text)
        r = run(["vexctl", "wait", base, "--timeout", "120"], check_rc=False)
        eq(r.returncode, 0, f"vexctl wait ({r.stdout.strip()} {r.stderr.strip()}; {sc.tail()})")
        eq(pending(base), (0, 0), "nothing pending after wait")
        for p in files:
            chunks, info = emb_total(p, "e2e")
            check(chunks, f"{p} has no embeddings")
            size = os.path.getsize(p)
            for c in chunks:
                check(c["length"] > 0 and c["offset"] + c["length"] <= size,
                      f"{p}: chunk {c['offset']}+{c['length']} outside the file ({size})")
                check(not c["stale"], f"{p}: chunk flagged stale")
        chunks, _ = emb_total(base + "/long.txt", "e2e")
        check(len(chunks) > 3, f"a {len(long_text)} byte file gave only {len(chunks)} chunks")
        offs = sorted(c["offset"] for c in chunks)
        check(offs[0] == 0 and chunks[-1]["offset"] + chunks[-1]["length"] <= len(long_text),
              "chunks of the long file")
        check_topics(ctx, base, "e2e", files, "builtin")
        st = status("e2e")
        eq((st["stale"], st["in_flight"], st["sidecars"]), (0, 0, 1), "status after wait")
        check(st["embedded"] >= len(files), f"status embedded {st['embedded']}")
        r = run(["vexctl", "status", MNT, "--json"])
        check("e2e" in r.stdout, "vexctl status lists the space")
        eq(sc.stop(), 0, f"vexfsd exit status on SIGTERM ({sc.tail()})")
        wait_until("the sidecar to unregister", lambda: status("e2e")["sidecars"] == 0, 10)


def case_two_spaces(ctx):
    """One `vexfsd run` serves two spaces: the files of each directory, under its own policy,
    end up in that directory's space only."""
    base = f"{MNT}/two"
    os.makedirs(base + "/a/sub")
    os.makedirs(base + "/a/to-b")
    os.makedirs(base + "/b")
    spaces = ("two-a", "two-b")
    for s in spaces:
        run(["vexfsd", "init-space", MNT, s, *BUILTIN])
    run(["vexctl", "auto", base + "/a", "--space", "two-a"])
    run(["vexctl", "auto", base + "/b", "--space", "two-b"])
    run(["vexctl", "auto", base + "/a/to-b", "--space", "two-b"])   # nearest policy wins
    files = {}      # path -> its space

    def add(path, space, text):
        write(path, text)
        files[path] = space

    # a backlog in each space before vexfsd starts, then more files while it runs
    add(base + "/a/backlog.txt", "two-a", TOPICS["cooking"])
    add(base + "/b/backlog.txt", "two-b", TOPICS["astronomy"])
    with Sidecar(spaces) as sc:
        eq([status(s)["sidecars"] for s in spaces], [1, 1], "one registration per space")
        for t, text in TOPICS.items():
            add(f"{base}/a/{t}.md", "two-a", f"# {t} (a)\n\n{text}\n")
            add(f"{base}/b/{t}.md", "two-b", f"# {t} (b)\n\n{text}\n")
        add(base + "/a/sub/deep.txt", "two-a", TOPICS["networking"])
        add(base + "/a/to-b/other.txt", "two-b", TOPICS["gardening"])
        for d in (base + "/a", base + "/b"):
            r = run(["vexctl", "wait", d, "--timeout", "120"], check_rc=False, timeout=180)
            eq(r.returncode, 0, f"vexctl wait {d} ({r.stdout.strip()} {r.stderr.strip()}; "
               f"{sc.tail()})")
        ino_space = {os.stat(p).st_ino: s for p, s in files.items()}
        for p, s in files.items():
            other = spaces[1 - spaces.index(s)]
            chunks, info = emb_total(p, s)
            check(chunks and all(c["data_version"] == info["data_version"] and not c["stale"]
                                 for c in chunks), f"{p}: not embedded in {s}: {chunks}")
            eq(emb_total(p, other)[0], [], f"{p}: embeddings in the other space {other}")
        for s in spaces:
            mine = {i for i, sp in ino_space.items() if sp == s}
            st = status(s)
            eq((st["stale"], st["failed"], st["in_flight"]), (0, 0, 0), f"status of {s}")
            eq(st["embedded"], sum(len(emb_total(p, s)[0]) for p, sp in files.items() if sp == s),
               f"embeddings in {s}")
            r = run(["vexctl", "search", base, QUERIES["cooking"], "--space", s, "--exact",
                     "-k", "50", "--json"])
            hits = json.loads(r.stdout)["results"]
            eq({h["ino"] for h in hits}, mine, f"files a search of {s} finds beneath {base}")
        # what vexfsd says it did: each file once, for its own space
        ev = sc.events()
        eq(sorted(e["space"] for e in ev if e.get("event") == "registered"), sorted(spaces),
           f"registrations in vexfsd's log ({sc.tail()})")
        done = [(e["ino"], e["space"]) for e in ev if e.get("event") == "file" and not e["errno"]]
        eq(sorted(done), sorted(ino_space.items()), "files vexfsd embedded, with their space")
        eq(sc.stop(), 0, f"vexfsd exit status on SIGTERM ({sc.tail()})")
        wait_until("both registrations to go",
                   lambda: all(status(s)["sidecars"] == 0 for s in spaces), 10)


def case_backlog_replay(ctx):
    """No sidecar: the queue waits on disk, across a remount; a sidecar then gets it all."""
    base = f"{MNT}/replay"
    os.makedirs(base)
    make_space("replay")
    auto(base, vx.AUTO_SET, "replay")
    n = 40 if ctx.quick else 200
    for i in range(n):
        write(f"{base}/f{i:04d}.txt", f"document {i} about {list(TOPICS)[i % 4]}\n")
    eq(pending(base), (n, 0), "queued without a sidecar")
    r = run(["vexctl", "wait", base, "--timeout", "1"], check_rc=False)
    check(r.returncode not in (0, 1), f"vexctl wait with no sidecar must time out, got {r.returncode}")
    ctx.vol.cycle()
    eq(pending(base), (n, 0), "queued after remount")
    with Sidecar("replay") as sc:
        wait_until(f"the backlog to drain ({sc.tail()})", lambda: pending(base) == (0, 0), 300, 0.5)
        sc.stop()
    for i in range(0, n, max(1, n // 20)):
        chunks, _ = emb_total(f"{base}/f{i:04d}.txt", "replay")
        eq(len(chunks), 1, f"f{i:04d}.txt chunks")


def case_kill_restart(ctx):
    """SIGKILL the sidecar mid-backlog, start another: nothing lost, nothing duplicated."""
    base = f"{MNT}/kill"
    os.makedirs(base)
    make_space("kill")
    auto(base, vx.AUTO_SET, "kill")
    n = 60 if ctx.quick else 400
    for i in range(n):
        write(f"{base}/k{i:04d}.txt", f"file {i}: " + "word " * (i % 50 + 5))
    sc = Sidecar("kill", *BUILTIN, "--window", "2")
    try:
        wait_until("some progress", lambda: pending(base)[0] < n - 5, 120, 0.05)
    finally:
        sc.stop(signal.SIGKILL)
    left = pending(base)[0]
    check(0 < left < n, f"killed mid-backlog: {left} of {n} left")
    wait_until("the dead sidecar to be forgotten", lambda: status("kill")["sidecars"] == 0, 10)
    eq(status("kill")["in_flight"], 0, "in flight after the sidecar died")
    with Sidecar("kill") as sc2:
        wait_until(f"the rest to drain ({sc2.tail()})", lambda: pending(base) == (0, 0), 300, 0.5)
        sc2.stop()
    total = 0
    for i in range(n):
        chunks, info = emb_total(f"{base}/k{i:04d}.txt", "kill")
        eq(len(chunks), 1, f"k{i:04d}.txt chunks")
        total += len(chunks)
    eq(status("kill")["embedded"], total, "embeddings in the space (no duplicates)")


def case_overwrite_during(ctx):
    """A file changed while the sidecar embeds it is never indexed from the old content."""
    base = f"{MNT}/ow"
    os.makedirs(base)
    make_space("ow")
    auto(base, vx.AUTO_SET, "ow")
    with RawSidecar("ow") as rs:
        write(base + "/f.txt", "first version")
        req = rs.requests(1)[0]
        eq(req["size"], len("first version"), "request size")
        st = os.stat(base + "/f.txt")
        eq((req["ino"], req["gen"]), (st.st_ino, req["gen"]), "request ino")
        fd = rs.open(req)
        eq(os.read(fd, 100), b"first version", "read by handle")
        os.close(fd)
        # the file changes (and stays open for writing) before the result arrives
        w = open(base + "/f.txt", "a")
        w.write(" plus more")
        w.flush()
        expect_errno(errno.ESTALE, rs.submit, req, [unit()], [(0, 13)],
                     what="EMB_ADD with the old data version")
        rs.done(req, errno.ESTALE)
        eq(pending(base), (1, 0), "still queued")
        check(rs.quiet(1.5), "a file still open for writing is not sent")
        w.close()
        req2 = rs.requests(1)[0]
        check(req2["dv"] > req["dv"], f"new request data version {req2['dv']} > {req['dv']}")
        eq(req2["size"], len("first version plus more"), "new request size")
        rs.submit(req2, [unit()], [(0, req2["size"])])
        eq(pending(base), (0, 0), "embedded at the current version")
        chunks, info = emb_total(base + "/f.txt", "ow")
        eq((len(chunks), chunks[0]["data_version"], chunks[0]["stale"]),
           (1, info["data_version"], False), "the stored chunk")
        # an fsync'd file is sent without a close; a write afterwards re-queues it
        with open(base + "/g.txt", "w") as g:
            g.write("synced")
            g.flush()
            os.fsync(g.fileno())
            req3 = rs.requests(1)[0]
            rs.submit(req3, [unit(i=1)], [(0, 6)])
            eq(pending(base), (0, 0), "fsync'd file embedded")
            g.write(" and more")
            g.flush()
            eq(pending(base), (1, 0), "a write after the embedding queues again")
    # with the real sidecar: a file rewritten many times ends up embedded as it is
    with Sidecar("ow") as sc:
        for i in range(30):
            final = f"version {i} " * (i + 1)
            write(base + "/churn.txt", final)
            time.sleep(0.02)
        wait_until(f"churn.txt embedded ({sc.tail()})", lambda: pending(base) == (0, 0), 120, 0.2)
        chunks, info = emb_total(base + "/churn.txt", "ow")
        size = os.path.getsize(base + "/churn.txt")
        check(chunks and all(c["data_version"] == info["data_version"] for c in chunks),
              "chunks at the file's data version")
        end = max(c["offset"] + c["length"] for c in chunks)
        check(len(final.rstrip()) <= end <= size,
              f"chunks cover the final content ({end} of {size} bytes)")


def case_debounce(ctx):
    """A file written in many steps, each within auto_debounce_ms of the next, is sent once,
    after the quiet time; a change after that is sent again."""
    base = f"{MNT}/deb"
    os.makedirs(base)
    make_space("deb")
    auto(base, vx.AUTO_SET, "deb")
    with open(DEBOUNCE_PARAM) as f:
        saved = f.read().strip()
    # long enough that the steps below fall within it however slow the emulation is
    try:
        write(DEBOUNCE_PARAM, "3000")
        changed = True
    except OSError as e:
        changed = False
        ctx.notes.append(f"{DEBOUNCE_PARAM} not writable ({e.strerror}): {saved} ms")
    try:
        with open(DEBOUNCE_PARAM) as f:
            debounce = int(f.read()) / 1000
        debounce_steps(ctx, base, debounce)
    finally:
        if changed:
            write(DEBOUNCE_PARAM, saved)


def debounce_steps(ctx, base, debounce):
    path = base + "/steps.txt"
    seen = []       # (arrival, request): every REQUEST, answered at once as a sidecar would
    writes = []     # when each write(2) started
    with RawSidecar("deb") as rs:

        def serve():
            for req in rs.take():
                seen.append((time.monotonic(), req))
                try:
                    rs.submit(req, [unit()] if req["size"] else [],
                              [(0, req["size"])] if req["size"] else [])
                except OSError as e:
                    rs.done(req, e.errno)
            return seen

        def step(flags, *texts, fsync=False):
            """open, write texts (fsync after the first), close."""
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o644)
            try:
                for i, text in enumerate(texts):
                    writes.append(time.monotonic())
                    os.write(fd, text.encode())
                    if fsync and i == 0:
                        os.fsync(fd)
            finally:
                os.close(fd)
            serve()

        # closes, fsyncs (with and without writes after them), a truncating rewrite
        step(os.O_TRUNC, "step 0\n")
        for i in range(1, 9):
            time.sleep(0.05)
            if i == 4:
                step(os.O_TRUNC, "rewritten at step 4\n")
            elif i % 3 == 0:
                step(os.O_APPEND, f"step {i}\n", f"step {i} after its fsync\n", fsync=True)
            elif i == 5:
                step(os.O_APPEND, f"step {i}, fsync'd and closed\n", fsync=True)
            else:
                step(os.O_APPEND, f"step {i}\n")
        t_end = time.monotonic()
        gap = max(b - a for a, b in zip(writes, writes[1:]))
        if gap > debounce / 2:
            raise Skip(f"the writer's steps were up to {gap:.2f}s apart: too slow to test a "
                       f"{debounce:.2f}s debounce")
        eq([r["dv"] for _, r in seen], [], "requests while the file was still being written")
        size = os.path.getsize(path)
        wait_until("the request for the written file", serve, debounce + 60, 0.05)
        t_req, req = seen[0]
        after = t_req - t_end
        check(after >= debounce / 2,
              f"sent {after:.2f}s after the last close, before the {debounce:.2f}s quiet time")
        eq(req["size"], size, "request size")
        end = time.monotonic() + debounce + 1.5
        while time.monotonic() < end:
            serve()
            time.sleep(0.05)
        eq(len(seen), 1, f"requests for a file written in {len(writes)} writes")
        eq(pending(base), (0, 0), "embedded")
        chunks, info = emb_total(path, "deb")
        eq([(c["data_version"], c["stale"]) for c in chunks], [(info["data_version"], False)],
           "the stored chunk, at the final content's data version")
        # once the quiet time has passed, a change is a new one: sent (once) again
        n = len(writes)
        step(os.O_APPEND, "a change after the quiet time\n")
        t_end = time.monotonic()
        wait_until("the request for the change", lambda: serve()[1:], debounce + 60, 0.05)
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            serve()
            time.sleep(0.05)
        eq(len(seen), 2, "requests after one more change")
        t_req, req2 = seen[1]
        check(t_req - t_end >= debounce / 2,
              f"the change was sent {t_req - t_end:.2f}s after its close")
        check(req2["dv"] > req["dv"], f"new request data version {req2['dv']} > {req['dv']}")
        eq(req2["size"], os.path.getsize(path), "size of the changed file")
        eq(pending(base), (0, 0), "the change embedded")
    ctx.notes.append(f"{n} writes in {writes[n - 1] - writes[0]:.2f}s sent once, "
                     f"{after:.2f}s after the last close; debounce {debounce:.2f}s")


def case_unlink_and_errors(ctx):
    """Unlink while in flight; DONE with transient and permanent errors; resend on timeout."""
    base = f"{MNT}/ul"
    os.makedirs(base)
    make_space("ul")
    auto(base, vx.AUTO_SET, "ul")
    with RawSidecar("ul", timeout_ms=400) as rs:
        write(base + "/gone.txt", "to be deleted")
        req = rs.requests(1)[0]
        os.unlink(base + "/gone.txt")
        expect_errno(errno.ESTALE, rs.open, req, what="open_by_handle_at of an unlinked file")
        rs.done(req, errno.ESTALE)
        eq(pending(base), (0, 0), "nothing queued after unlink")
        eq(status("ul")["in_flight"], 0, "nothing in flight after unlink")
        # unanswered: sent again after the timeout
        write(base + "/slow.txt", "slow")
        req = rs.requests(1)[0]
        again = rs.requests(1, timeout=10)[0]
        eq((again["ino"], again["dv"]), (req["ino"], req["dv"]), "resent after the timeout")
        # a transient error keeps the file queued and backs off
        rs.done(again, errno.EAGAIN, "model server down")
        eq(status("ul")["last_errno"], errno.EAGAIN, "last error recorded")
        eq(status("ul")["last_error"], "model server down", "last error message")
        check(rs.quiet(1.0), "no resend during the back-off")
        again = rs.requests(1, timeout=10)[0]
        # a permanent error: failed until the file changes
        rs.done(again, errno.EIO, "cannot parse")
        eq(pending(base), (1, 1), "failed file")
        st = status("ul")
        eq((st["failed"], st["last_errno"], st["last_error_ino"]),
           (1, errno.EIO, again["ino"]), "status of the failure")
        check(rs.quiet(1.0), "a failed file is not sent again")
        r = run(["vexctl", "wait", base, "--timeout", "5"], check_rc=False)
        check(r.returncode != 0, "vexctl wait reports the failed file")
        check("could not be embedded" in r.stdout + r.stderr, f"vexctl wait output: {r.stdout} {r.stderr}")
        # an older version's failure does not fail the newer content
        write(base + "/slow.txt", "fixed now")
        eq(pending(base), (1, 0), "a change resets the failure")
        req = rs.requests(1, timeout=10)[0]
        rs.done(dict(req, dv=req["dv"] - 1), errno.EIO)
        eq(pending(base), (1, 0), "a failure of an older version is ignored")
        rs.submit(req, [], [])
        eq(pending(base), (0, 0), "zero chunks complete a request")
        # DONE errors
        bad = dict(req, ino=1 << 40)
        rs.done(bad, 0)
        expect_errno(errno.EINVAL, rs.sock.request, vxd.CMD_DONE,
                     [(vxd.ATTR_DEV, genl.u32(rs.dev))], what="DONE without attributes")


def case_sidecars(ctx):
    """Registration errors, two sidecars sharing a space, socket close re-queues."""
    base = f"{MNT}/sc"
    os.makedirs(base)
    make_space("sc")
    make_space("sc-other", model="other-model")
    auto(base, vx.AUTO_SET, "sc")
    expect_errno(errno.ENOENT, RawSidecar, "nosuch", what="REGISTER of an unknown space")
    expect_errno(errno.EMEDIUMTYPE, RawSidecar, "sc-other", what="REGISTER with another model")
    expect_errno(errno.EINVAL, RawSidecar, "sc", window=0, what="REGISTER with window 0")
    expect_errno(errno.EINVAL, RawSidecar, "sc", timeout_ms=5, what="REGISTER with timeout 5 ms")
    with RawSidecar("sc", window=1) as a, RawSidecar("sc", window=1) as b:
        eq(status("sc")["sidecars"], 2, "two sidecars")
        for i in range(3):
            write(f"{base}/s{i}.txt", f"shared {i}")
        ra = a.requests(1)[0]
        rb = b.requests(1)[0]
        check(ra["ino"] != rb["ino"], "each sidecar gets its own file")
        check(a.quiet(0.8) and b.quiet(0.2), "a window of 1 is respected")
        eq(status("sc")["in_flight"], 2, "in flight")
        a.sock.close()      # its request goes to b, which answers one at a time
        wait_until("the closed socket to unregister", lambda: status("sc")["sidecars"] == 1, 10)
        seen = {rb["ino"]}
        b.submit(rb, [unit()], [(0, rb["size"])])
        for _ in range(2):
            r = b.requests(1, timeout=20)[0]
            seen.add(r["ino"])
            b.submit(r, [unit()], [(0, r["size"])])
        eq(seen, {os.stat(f"{base}/s{i}.txt").st_ino for i in range(3)}, "every file reached b")
        eq(pending(base), (0, 0), "all embedded")
    # vexfsd refuses a space recorded with another model
    r = run(["vexfsd", "run", "--mount", MNT, "--space", "sc-other", *BUILTIN], check_rc=False,
            timeout=60)
    eq(r.returncode, 2, f"vexfsd on a space of another model ({r.stderr.strip()[-200:]})")
    check("model" in r.stderr.lower() or "model" in r.stdout.lower(), "the refusal names the model")


def case_failed_file(ctx):
    """The reference sidecar reports a broken file once, then embeds it when it is fixed."""
    base = f"{MNT}/bad"
    os.makedirs(base)
    make_space("bad")
    auto(base, vx.AUTO_SET, "bad")
    write(base + "/good.txt", TOPICS["cooking"])
    write(base + "/broken.pdf", "%PDF-1.4\nthis is not really a pdf\n%%EOF\n")
    write(base + "/blob.bin", "\0\1\2\3" * 100)
    with Sidecar("bad") as sc:
        wait_until(f"only the failed file left ({sc.tail()})", lambda: pending(base) == (1, 1), 120,
                   0.2)
        st = status("bad")
        eq(st["last_error_ino"], os.stat(base + "/broken.pdf").st_ino, "the failed file")
        check(st["last_errno"] != 0, "an errno is reported")
        chunks, _ = emb_total(base + "/blob.bin", "bad")
        eq(chunks, [], "a binary file has no embeddings")
        r = run(["vexctl", "wait", base, "--timeout", "10"], check_rc=False)
        check(r.returncode != 0, "vexctl wait fails when a file failed")
        time.sleep(1)
        eq(pending(base), (1, 1), "not retried forever")
        write(base + "/broken.pdf", "plain text after all, about pasta and garlic")
        wait_until(f"the fixed file embedded ({sc.tail()})", lambda: pending(base) == (0, 0), 60, 0.2)
        chunks, _ = emb_total(base + "/broken.pdf", "bad")
        check(chunks, "the fixed file has embeddings")


def case_permissions(ctx):
    """Unprivileged users: no sidecar, no policy on others' directories, MARK needs write."""
    base = f"{MNT}/perm"
    os.makedirs(base + "/mine")
    os.chown(base + "/mine", 1000, 1000)
    make_space("perm")
    auto(base, vx.AUTO_SET, "perm")
    write(base + "/root.txt", "root's file")
    os.chmod(base + "/root.txt", 0o644)
    prog = (f"import sys, os, errno; sys.path[:0] = [{HERE!r}, {os.path.join(REPO, 'tools', 'vexfsd')!r}]\n"
            "import vexfs_ioctl as vx\n"
            "from vexfsd import genl, vexfs as vxd\n"
            "def err(fn):\n"
            "    try:\n        fn(); return 0\n"
            "    except OSError as e:\n        return e.errno\n"
            f"out = []\n"
            f"s = genl.GenlSocket(vxd.GENL_NAME, vxd.GENL_VERSION)\n"
            f"out.append(err(lambda: s.request(vxd.CMD_REGISTER, [(vxd.ATTR_DEV, genl.u32(os.stat({MNT!r}).st_dev)),"
            f" (vxd.ATTR_SPACE, genl.string('perm')), (vxd.ATTR_MODEL, genl.string('vexfs-builtin-hash'))])))\n"
            f"fd = os.open({base!r}, os.O_RDONLY)\n"
            "out.append(err(lambda: vx.auto_call(fd, vx.AUTO_SET, '', vx.AUTO_OFF)))\n"
            "out.append(err(lambda: vx.auto_call(fd, vx.AUTO_PENDING)))\n"
            f"f = os.open({base + '/root.txt'!r}, os.O_RDONLY)\n"
            "out.append(err(lambda: vx.auto_call(f, vx.AUTO_MARK)))\n"
            f"d = os.open({base + '/mine'!r}, os.O_RDONLY)\n"
            "out.append(err(lambda: vx.auto_call(d, vx.AUTO_SET, '', vx.AUTO_OFF)))\n"
            f"open({base + '/mine/own.txt'!r}, 'w').write('x')\n"
            "d2 = os.open(" + repr(base + "/mine/own.txt") + ", os.O_RDONLY)\n"
            "out.append(err(lambda: vx.auto_call(d2, vx.AUTO_MARK, 'perm')))\n"
            "print(' '.join(map(str, out)))\n")
    r = run(["python3", "-c", prog], user=1000)
    got = [int(x) for x in r.stdout.split()]
    eq(got, [errno.EPERM, errno.EPERM, 0, errno.EACCES, 0, 0],
       "register, SET on root's dir, PENDING, MARK of root's file, SET on own dir, MARK own file")
    eq(pending(base + "/mine"), (1, 0), "the user's MARK queued under an explicit space")


def case_thousands(ctx):
    """Thousands of files queued with no sidecar, then drained by one."""
    base = f"{MNT}/many"
    os.makedirs(base)
    make_space("many")
    auto(base, vx.AUTO_SET, "many")
    n = 300 if ctx.quick else 3000
    for i in range(n):
        d = f"{base}/d{i // 500}"
        if i % 500 == 0:
            os.mkdir(d)
        write(f"{d}/m{i:05d}.txt", f"note {i} on {list(TOPICS)[i % 4]} and item {i * 7919 % 1000}")
    eq(pending(base), (n, 0), "queued")
    t0 = time.time()
    with Sidecar("many", *BUILTIN, "--window", "64") as sc:
        r = run(["vexctl", "wait", base, "--timeout", "900"], check_rc=False, timeout=960)
        eq(r.returncode, 0, f"vexctl wait ({r.stderr.strip()[-200:]}; {sc.tail()})")
        secs = time.time() - t0
        sc.stop()
    eq(status("many")["embedded"], n, "one embedding per file")
    ctx.notes.append(f"{n} files in {secs:.0f}s under TCG")


def case_minilm_topics(ctx):
    """The real model (all-MiniLM-L6-v2): queries written for each topic rank it first."""
    if not os.path.exists(os.path.join(REPO, "build", "pyenv", "bin", "python")):
        raise Skip("build/pyenv is not in this guest (vm-exec --pyenv)")
    base = f"{MNT}/minilm"
    os.makedirs(base)
    r = run(["vexfsd", "init-space", MNT, "minilm", "--backend", "minilm"], check_rc=False,
            timeout=300)
    if r.returncode != 0:
        raise Fail(f"vexfsd init-space with minilm: {r.stderr.strip()[-300:]}")
    run(["vexctl", "auto", base, "--space", "minilm"])
    with Sidecar("minilm", "--backend", "minilm") as sc:
        files = topic_corpus(base)
        r = run(["vexctl", "wait", base, "--timeout", "600"], check_rc=False, timeout=660)
        eq(r.returncode, 0, f"vexctl wait ({r.stderr.strip()[-200:]}; {sc.tail()})")
        check_topics(ctx, base, "minilm", files, "minilm")
        sc.stop()


CASES = [  # name, function, in --quick
    ("policy", case_policy, True),
    ("queue", case_queue, True),
    ("end_to_end", case_end_to_end, True),
    ("two_spaces", case_two_spaces, True),
    ("overwrite_during", case_overwrite_during, True),
    ("debounce", case_debounce, True),
    ("unlink_and_errors", case_unlink_and_errors, True),
    ("sidecars", case_sidecars, True),
    ("failed_file", case_failed_file, True),
    ("permissions", case_permissions, True),
    ("backlog_replay", case_backlog_replay, True),
    ("kill_restart", case_kill_restart, True),
    ("thousands", case_thousands, False),
    ("minilm_topics", case_minilm_topics, True),
]


class Ctx:
    def __init__(self, vol, quick):
        self.vol, self.quick, self.notes = vol, quick, []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    disks = os.environ.get("VM_DISKS", "").split()
    ap.add_argument("--device", default=disks[0] if disks else None)
    ap.add_argument("--only", action="append", default=[], help="cases whose name contains this")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, no thousands")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    only = [s for o in args.only for s in o.split(",") if s]
    selected = [(n, fn) for n, fn, quick in CASES
                if (not args.quick or quick) and (not only or any(s in n for s in only))]
    if args.list:
        print("\n".join(n for n, _ in selected))
        return 0
    if os.environ.get("VM_IN_GUEST") != "1" or not args.device or os.geteuid() != 0:
        print("auto_suite: runs as root inside a scripts/vm-exec guest, with a disk", file=sys.stderr)
        return 2
    for tool in ("vexctl", "vexfsd"):
        if not shutil.which(tool):
            print(f"auto_suite: {tool} is not on PATH (make tools)", file=sys.stderr)
            return 2
    seed = random.randrange(1 << 30)
    res = Results("auto_suite")
    vol = Volume(args.device, "vexfs", MNT)
    vol.mkfs()
    vol.mount()
    for name, fn in selected:
        ctx = Ctx(vol, args.quick)
        t0 = time.time()
        res.run_case(name, lambda: fn(ctx), ctx.notes, t0, os.path.abspath(__file__))
        if not vol.mounted():
            vol.mount()
    t0 = time.time()

    def fsck_clean():
        vol.umount()
        r = vol.fsck()
        check(r.returncode == 0, "fsck.vexfs -n: " + " | ".join((r.stdout + r.stderr).strip()
                                                                 .splitlines()[-8:]))
    res.run_case("fsck_clean", fsck_clean, [], t0, os.path.abspath(__file__))
    return res.finish(seed)


if __name__ == "__main__":
    sys.exit(main())
