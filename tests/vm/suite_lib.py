# SPDX-License-Identifier: GPL-2.0
"""What the VM suites share (tests/vm/posix_suite.py, tests/vm/vector_suite.py): the
outcomes of a case (Fail, Skip), the checks, counting and printing the results, running
commands and the volume under test.
Runs INSIDE a scripts/vm-exec guest; Python 3 standard library only.
"""

import errno
import os
import shlex
import subprocess
import time
import traceback


# ---------------------------------------------------------------- outcomes and checks

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
        if len(g) > 200:
            g = g[:200] + "..."
        if len(w) > 200:
            w = w[:200] + "..."
        raise Fail(f"{what}: expected {w}, got {g}")


def errno_of(fn, *a, **kw):
    """Run fn; return None on success or the errno of the OSError it raised."""
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return None


def expect_errno(want, fn, *a, what=None, **kw):
    """fn(*a) must fail with errno want (an int or a tuple of acceptable ints)."""
    wants = want if isinstance(want, tuple) else (want,)
    got = errno_of(fn, *a, **kw)
    if got not in wants:
        desc = what or f"{getattr(fn, '__name__', fn)}{tuple(_short(x) for x in a)}"
        raise Fail(f"{desc}: expected {'/'.join(ename(w) for w in wants)}, got {ename(got)}")


def _short(x):
    s = repr(x)
    return s if len(s) < 60 else s[:57] + "..."


class Results:
    """The PASS:/FAIL:/SKIP: lines of a suite, counted; totals() prints `N passed, M failed`."""

    def __init__(self, suite):
        self.suite = suite
        self.passed, self.failed, self.skipped = 0, 0, 0
        self.failures = []
        self.t_start = time.time()

    def report(self, ok, name, msg, secs):
        if ok:
            self.passed += 1
            print(f"PASS: {name}" + (f" ({msg})" if msg else "") + f" [{secs:.1f}s]", flush=True)
        else:
            self.failed += 1
            self.failures.append(name)
            print(f"FAIL: {name}: {msg} [{secs:.1f}s]", flush=True)

    def skip(self, name, msg):
        self.skipped += 1
        print(f"SKIP: {name}: {msg}", flush=True)

    def run_case(self, name, body, notes, t0, script):
        """body() is the case name: PASS (with its notes), SKIP or FAIL with the reason; for
        an unexpected exception its type and the last line of script it went through."""
        try:
            body()
            self.report(True, name, "; ".join(notes), time.time() - t0)
        except Skip as e:
            self.skip(name, e)
        except Fail as e:
            self.report(False, name, str(e), time.time() - t0)
        except Exception as e:  # noqa
            tb = traceback.extract_tb(e.__traceback__)
            where = next((f"line {fr.lineno}" for fr in reversed(tb) if fr.filename == script), "")
            self.report(False, name, f"{type(e).__name__}: {e} ({where})", time.time() - t0)

    def totals(self):
        """The last line; returns the exit status."""
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0

    def finish(self, seed):
        print(f"{self.suite}: {time.time() - self.t_start:.0f}s, seed {seed}, {self.skipped} skipped"
              + (f"; failed: {' '.join(self.failures)}" if self.failures else ""), flush=True)
        return self.totals()


# ---------------------------------------------------------------- commands and mounts

def run(cmd, check_rc=True, timeout=600, input=None, shell=False, user=None):
    """Run a command; return CompletedProcess (text).  check_rc: Fail on non-zero.
    user: run it as that uid and gid, without supplementary groups (cmd a list)."""
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                       shell=shell, errors="replace")
    if check_rc and r.returncode != 0:
        c = cmd if isinstance(cmd, str) else " ".join(shlex.quote(x) for x in cmd)
        out = (r.stdout + r.stderr).strip().splitlines()
        raise Fail(f"`{c}` exited {r.returncode}: " + " | ".join(out[-8:]))
    return r


def mtab_entry(mnt):
    """(device, fstype, options list) of the mount at mnt, or None."""
    mnt = os.path.realpath(mnt)
    found = None
    with open("/proc/mounts") as f:
        for line in f:
            p = line.split()
            if len(p) >= 4 and p[1].encode().decode("unicode_escape") == mnt:
                found = (p[0], p[2], p[3].split(","))
    return found


# ---------------------------------------------------------------- the volume

class Volume:
    def __init__(self, device, fstype, mnt, mount_opts=""):
        self.device = device
        self.fstype = fstype
        self.mnt = mnt
        self.mount_opts = mount_opts

    @property
    def is_vexfs(self):
        return self.fstype == "vexfs"

    def mkfs(self):
        if self.fstype == "vexfs":
            run(["mkfs.vexfs", "-f", "-q", self.device])
        elif self.fstype == "ext4":
            run(["mkfs.ext4", "-F", "-q", self.device])
        else:
            run([f"mkfs.{self.fstype}", self.device])

    def fsck(self):
        """Read-only check; returns CompletedProcess."""
        if self.fstype == "vexfs":
            return run(["fsck.vexfs", "-n", self.device], check_rc=False)
        if self.fstype == "ext4":
            return run(["e2fsck", "-fn", self.device], check_rc=False)
        return run([f"fsck.{self.fstype}", "-n", self.device], check_rc=False)

    def mount(self, opts=None):
        os.makedirs(self.mnt, exist_ok=True)
        o = self.mount_opts if opts is None else opts
        cmd = ["mount", "-t", self.fstype] + (["-o", o] if o else []) + [self.device, self.mnt]
        run(cmd)

    def mounted(self):
        return mtab_entry(self.mnt) is not None

    def umount(self):
        last = None
        for _ in range(10):
            r = run(["umount", self.mnt], check_rc=False)
            if r.returncode == 0:
                return
            last = (r.stdout + r.stderr).strip()
            if not self.mounted():
                return
            time.sleep(0.5)
        raise Fail(f"umount {self.mnt} failed: {last}")

    def cycle(self):
        """Unmount and mount again: everything must come back from disk."""
        self.umount()
        self.mount()

    def remount(self, opts):
        run(["mount", "-o", "remount," + opts, self.mnt])

    def ensure_rw(self):
        ent = mtab_entry(self.mnt)
        if ent is None:
            self.mount()
        elif "ro" in ent[2]:
            if run(["mount", "-o", "remount,rw", self.mnt], check_rc=False).returncode != 0:
                self.umount()
                self.mount()
        # A shut-down volume answers EIO: mount it again.
        probe = os.path.join(self.mnt, ".suite-probe")
        try:
            fd = os.open(probe, os.O_CREAT | os.O_WRONLY, 0o644)
            os.close(fd)
            os.unlink(probe)
        except OSError:
            self.umount()
            self.mount()
