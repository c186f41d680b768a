#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Full-disk tests: fill a small VexFS volume with one big file and then with
# many small files until ENOSPC, check that nothing already there was hurt,
# delete, write again, unmount, fsck, remount and verify; repeat the
# fill/delete cycle to catch leaked blocks.
#
#   tests/vm/enospc_test.sh [--kernel K]        on the host: boots a guest
#                                               (scripts/vm-exec --disk 64M)
#   tests/vm/enospc_test.sh --guest [DEVICE]    inside a guest (default: the
#                                               first of $VM_DISKS)
#
# Prints PASS:/FAIL: lines and `N passed, M failed`; exits 1 on failure.
set -u
self=$(readlink -f "$0")

if [ "${1:-}" != --guest ]; then
	repo=$(cd "$(dirname "$self")/../.." && pwd)
	kernel=6.1
	while [ $# -gt 0 ]; do
		case $1 in
		--kernel) kernel=$2 && shift 2 ;;
		-h | --help)
			sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		*)
			echo "enospc_test: unknown option $1" >&2
			exit 2
			;;
		esac
	done
	t0=$(date +%s)
	out=$(mktemp)
	"$repo/scripts/vm-exec" --kernel "$kernel" --disk 64M --timeout 900 -- "$self" --guest 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	echo "enospc_test: $(($(date +%s) - t0))s"
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
		# the guest never printed its summary (kernel problem, timeout, ...)
		p=$(grep -c '^PASS: ' "$out")
		f=$(grep -c '^FAIL: ' "$out")
		echo "FAIL: enospc_vm: scripts/vm-exec exited $rc"
		rm -f "$out"
		echo "$p passed, $((f + 1)) failed"
		exit 1
	fi
	rm -f "$out"
	exit "$rc"
fi

if [ "${VM_IN_GUEST:-}" != 1 ]; then
	echo "enospc_test: --guest runs only inside a scripts/vm-exec guest" >&2
	exit 2
fi
dev=${2:-${VM_DISKS%% *}}
exec python3 - "$dev" <<'PY'
import errno, hashlib, os, subprocess, sys, time

dev = sys.argv[1]
MNT = "/mnt/vx"
MiB = 1 << 20
passed = failed = 0


def result(ok, name, msg=""):
    global passed, failed
    msg = " | ".join(l.strip() for l in str(msg).strip().splitlines() if l.strip())
    if ok:
        passed += 1
    else:
        failed += 1
    print(("PASS: " if ok else "FAIL: ") + f"enospc_{name}" + (f": {msg}" if msg and not ok else
                                                             (f" ({msg})" if msg else "")), flush=True)
    return ok


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", **kw)


def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while True:
            b = f.read(MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def free():
    s = os.statvfs(MNT)
    return s.f_bavail * s.f_frsize, s.f_bfree * s.f_frsize, s.f_blocks * s.f_frsize


def en(e):
    return errno.errorcode.get(e, str(e))


def case(fn):
    """Run a step; an unexpected exception is a FAIL of that step."""
    try:
        fn()
    except Exception as e:  # noqa
        result(False, fn.__name__, f"{type(e).__name__}: {e}")


def fill_small(prefix, size=4096, limit=200000, tag=""):
    """Create files of `size` bytes until the first error; return (count, errno)."""
    os.makedirs(os.path.join(MNT, prefix), exist_ok=True)
    data = os.urandom(size)
    for i in range(limit):
        p = os.path.join(MNT, prefix, f"{tag}{i:06d}")
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as e:
            return i, e.errno
        try:
            if size:
                os.write(fd, data)
        except OSError as e:
            os.close(fd)
            return i, e.errno
        os.close(fd)
    return limit, None


r = sh(["mkfs.vexfs", "-f", "-q", dev])
if not result(r.returncode == 0, "mkfs", r.stdout + r.stderr):
    sys.exit(1)
os.makedirs(MNT, exist_ok=True)
r = sh(["mount", "-t", "vexfs", dev, MNT])
if not result(r.returncode == 0, "mount", r.stderr):
    sys.exit(1)

# data that must survive everything below
keep = {}
os.mkdir(os.path.join(MNT, "keep"))
for i in range(20):
    p = os.path.join(MNT, "keep", f"k{i}")
    with open(p, "wb") as f:
        f.write(os.urandom(1000 * (i + 1)))
    os.setxattr(p, "user.keep", str(i).encode())
p = os.path.join(MNT, "keep", "onemeg")
with open(p, "wb") as f:
    f.write(os.urandom(MiB))
for n in os.listdir(os.path.join(MNT, "keep")):
    keep[os.path.join(MNT, "keep", n)] = sha(os.path.join(MNT, "keep", n))
os.sync()
avail0, bfree0, total = free()
print(f"enospc: volume {total // MiB} MiB, available {avail0 // 1024} KiB", flush=True)


def check_keep(stage):
    bad = [p for p, s in keep.items() if not os.path.exists(p) or sha(p) != s]
    bad += [p for p in keep if p.endswith(tuple(f"k{i}" for i in range(20)))
            and os.getxattr(p, "user.keep") != p.rsplit("k", 1)[1].encode()]
    result(not bad, f"keep_intact_{stage}", f"{len(bad)} damaged: {bad[:3]}" if bad else f"{len(keep)} files")


def big_fill():
    r = sh(["dd", "if=/dev/urandom", f"of={MNT}/big", "bs=1M", "count=200", "conv=fsync"])
    ok = r.returncode != 0 and "No space left on device" in r.stderr
    size = os.stat(f"{MNT}/big").st_size
    result(ok, "big_file_fills", f"dd exit {r.returncode}, {size // MiB} MiB written: "
           + " | ".join(l for l in r.stderr.splitlines() if "dd:" in l))
    avail, bfree, _ = free()
    result(avail < 2 * MiB, "df_shows_full", f"{avail // 1024} KiB still available")
    result(size > total // 2, "big_file_used_most_space", f"{size // MiB} MiB of {total // MiB} MiB")
    r = sh(["df", "-k", MNT])
    result(r.returncode == 0, "df_when_full", r.stdout.strip().splitlines()[-1])
    check_keep("big_full")
    # a full volume can always delete
    os.unlink(f"{MNT}/big")
    os.sync()
    avail, _, _ = free()
    result(avail >= avail0 - MiB, "space_back_after_big_delete", f"{avail // 1024} KiB available, "
           f"{avail0 // 1024} KiB before")


case(big_fill)


def falloc(p, n):
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.posix_fallocate(fd, 0, n)
    finally:
        os.close(fd)


def small_fill():
    for d in ("small", "empty"):
        os.makedirs(os.path.join(MNT, d), exist_ok=True)
    n, e = fill_small("small", 4096)
    result(e == errno.ENOSPC, "small_files_fill", f"{n} files of 4 KiB, then {en(e)}")
    n, e = fill_small("empty", 0, limit=20000)
    result(e in (None, errno.ENOSPC), "empty_files_fill",
           f"{n} empty files, then {en(e) if e else 'no error within the limit'}")
    # every other namespace operation fails cleanly with ENOSPC (or works)
    errs = {}
    for what, fn in (
        ("mkdir", lambda: [os.mkdir(os.path.join(MNT, f"d{i}")) for i in range(5000)]),
        ("symlink", lambda: [os.symlink("x" * 3000, os.path.join(MNT, f"l{i}")) for i in range(5000)]),
        ("setxattr", lambda: [os.setxattr(os.path.join(MNT, "keep", "onemeg"), f"user.f{i}", b"v" * 1500)
                              for i in range(5000)]),
        ("append", lambda: [open(os.path.join(MNT, "keep", "k0"), "ab").write(os.urandom(65536))
                            for _ in range(50)] and None),
        ("fallocate", lambda: falloc(os.path.join(MNT, "fa"), 100 * MiB)),
    ):
        try:
            fn()
            errs[what] = None
        except OSError as e:
            errs[what] = e.errno
    bad = {k: en(v) for k, v in errs.items() if v not in (None, errno.ENOSPC)}
    result(not bad, "other_ops_when_full", f"errors {bad}" if bad else
           ", ".join(f"{k}:{en(v) if v else 'ok'}" for k, v in errs.items()))
    if errs.get("append") is not None:
        # the failed append must not have damaged k0: restore our record of it
        keep[os.path.join(MNT, "keep", "k0")] = sha(os.path.join(MNT, "keep", "k0"))
    for i in range(5000):
        for p in (os.path.join(MNT, f"d{i}"), os.path.join(MNT, f"l{i}")):
            if os.path.isdir(p) and not os.path.islink(p):
                os.rmdir(p)
            elif os.path.lexists(p):
                os.unlink(p)
        try:
            os.removexattr(os.path.join(MNT, "keep", "onemeg"), f"user.f{i}")
        except OSError:
            pass
    keep[os.path.join(MNT, "keep", "k0")] = sha(os.path.join(MNT, "keep", "k0"))


case(small_fill)


def when_full():
    # overwriting allocated data in place and fsync work (or fail with ENOSPC), never EIO
    p = os.path.join(MNT, "keep", "onemeg")
    try:
        fd = os.open(p, os.O_WRONLY)
        os.pwrite(fd, b"\x55" * 4096, 8192)
        os.fsync(fd)
        os.close(fd)
        keep[p] = sha(p)
        result(True, "overwrite_when_full")
    except OSError as e:
        result(e.errno == errno.ENOSPC, "overwrite_when_full", en(e.errno))
    r = sh(["sync"])
    result(r.returncode == 0, "sync_when_full", r.stderr)
    check_keep("when_full")


case(when_full)


def delete_and_reuse():
    # delete without sync and write at once: freed blocks must become usable
    sd = os.path.join(MNT, "small")
    names = sorted(os.listdir(sd))
    for n in names[::2]:
        os.unlink(os.path.join(sd, n))
    r = sh(["dd", "if=/dev/urandom", f"of={MNT}/again", "bs=1M", "count=10", "conv=fsync"])
    result(r.returncode == 0, "write_right_after_delete", r.stderr.strip().splitlines()[-1])
    os.sync()
    for n in os.listdir(os.path.join(MNT, "empty")):
        os.unlink(os.path.join(MNT, "empty", n))
    os.rmdir(os.path.join(MNT, "empty"))
    if os.path.exists(os.path.join(MNT, "fa")):
        os.unlink(os.path.join(MNT, "fa"))
    os.sync()
    avail, _, _ = free()
    want = len(names[::2]) * 4096 - 10 * MiB
    result(avail >= want * 0.9, "space_back_after_delete",
           f"{avail // 1024} KiB available after deleting {len(names[::2])} 4 KiB files and writing 10 MiB")
    for n in names[1::2][:200]:
        keep[os.path.join(sd, n)] = sha(os.path.join(sd, n))
    keep[f"{MNT}/again"] = sha(f"{MNT}/again")
    r = sh(["dd", "if=/dev/urandom", f"of={MNT}/new", "bs=1M", "count=16", "conv=fsync"])
    result(r.returncode == 0, "write_after_delete", r.stderr.strip().splitlines()[-1])
    keep[f"{MNT}/new"] = sha(f"{MNT}/new")


case(delete_and_reuse)


def remount_and_fsck():
    r = sh(["umount", MNT])
    result(r.returncode == 0, "umount", r.stderr)
    r = sh(["fsck.vexfs", "-n", dev])
    result(r.returncode == 0, "fsck_clean", " | ".join((r.stdout + r.stderr).strip().splitlines()[-6:]))
    r = sh(["mount", "-t", "vexfs", dev, MNT])
    result(r.returncode == 0, "remount", r.stderr)
    check_keep("after_remount")


case(remount_and_fsck)


def cycles():
    """Fill and empty the volume again: free space must come back exactly."""
    for p in list(keep):
        if not p.startswith(os.path.join(MNT, "keep")):
            del keep[p]
    sh(["rm", "-rf", f"{MNT}/small", f"{MNT}/again", f"{MNT}/new"])
    os.sync()
    base = free()[1]
    frees = []
    for c in range(3):
        os.mkdir(f"{MNT}/cyc{c}")
        n, e = fill_small(f"cyc{c}", 8192, limit=3000)
        if e not in (errno.ENOSPC, None):
            result(False, f"cycle{c}_fill", f"small files: {en(e)}")
        sh(["dd", "if=/dev/zero", f"of={MNT}/cyc", "bs=1M", "count=200"])
        n, e = fill_small(f"cyc{c}", 8192, limit=20000, tag="b")
        if e not in (errno.ENOSPC, None):
            result(False, f"cycle{c}_fill", f"small files: {en(e)}")
        if not os.path.exists(f"{MNT}/cyc"):
            result(False, f"cycle{c}_big", "dd could not create the big file")
        sh(["rm", "-rf", f"{MNT}/cyc", f"{MNT}/cyc{c}"])
        os.sync()
        time.sleep(0.5)
        os.sync()
        frees.append(free()[1])
    leak = [base - f for f in frees]
    result(all(abs(x) <= 64 * 1024 for x in leak), "no_leak_over_cycles",
           f"free bytes before {base}, after each cycle {frees}")
    check_keep("after_cycles")


case(cycles)


def final():
    r = sh(["umount", MNT])
    result(r.returncode == 0, "final_umount", r.stderr)
    r = sh(["fsck.vexfs", "-n", dev])
    result(r.returncode == 0, "final_fsck_clean", " | ".join((r.stdout + r.stderr).strip().splitlines()[-6:]))


case(final)
print(f"{passed} passed, {failed} failed", flush=True)
sys.exit(1 if failed else 0)
PY
