#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Corruption tests: damage metadata blocks of a populated VexFS image on the
# host, then check in a guest that fsck.vexfs -n reports the damage and that
# the kernel either refuses the mount with a message or mounts and answers
# EIO/EUCLEAN when the damaged part is accessed -- never a warning or an oops
# (scripts/vm-exec fails the run on any of those).  Runs on the HOST.
#
#   tests/vm/corruption_test.sh [--kernel K] [--only SUBSTRING] [--keep]
#
# Cases (blocks found with build/bin/vexfs-dump on the pristine image):
#   leaf_bitflip, leaf_torn, internal_bitflip, root_bitflip, alloc_bitflip,
#   misdirected (another node's valid block copied over a leaf),
#   sb_newest / sb_older (one superblock slot: mount falls back, fsck reports),
#   sb_both (both slots: mount refused),
#   sealed_* (items made invalid and every checksum up to the superblock
#   recomputed, so the damage reaches the item decoders): sealed_extent
#   (extent beyond the device), sealed_inode_mode, sealed_dirent_namelen,
#   sealed_nritems.
# Prints PASS:/FAIL: lines and `N passed, M failed`; exits 1 on failure.
#
# The same file is the guest side: --guest-populate and --guest-check DEV
# EXPECT NAME are what the host runs through scripts/vm-exec.
set -u

self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/../.." && pwd)

# ------------------------------------------------------------------ guest side
case ${1:-} in
--guest-*)
	if [ "${VM_IN_GUEST:-}" != 1 ]; then
		echo "corruption_test: $1 runs only inside a scripts/vm-exec guest" >&2
		exit 2
	fi
	;;
esac
if [ "${1:-}" = --guest-populate ]; then
	dev=${VM_DISKS%% *}
	mkfs.vexfs -f -q "$dev" || {
		echo "FAIL: corrupt_populate: mkfs.vexfs failed"
		exit 1
	}
	mkdir -p /mnt/vx
	if ! mount -t vexfs "$dev" /mnt/vx; then
		echo "FAIL: corrupt_populate: mount failed"
		exit 1
	fi
	python3 - <<'PY' || exit 1
import os, random
rng = random.Random(1234)
root = "/mnt/vx"
for d in range(30):
    dp = os.path.join(root, f"dir{d:02d}")
    os.mkdir(dp)
    for f in range(100):
        p = os.path.join(dp, f"file{f:03d}-" + "n" * (f % 30))
        with open(p, "wb") as fh:
            fh.write(rng.randbytes(rng.choice((0, 100, 5000, 20000))))
        if f % 3 == 0:
            os.setxattr(p, "user.tag", f"{d}/{f}".encode() * 5)
        if f % 10 == 0:
            os.symlink(os.path.basename(p), p + ".lnk")
        if f % 25 == 0:
            os.link(p, p + ".hl")
# fragmented files: many extents each
fds = [os.open(os.path.join(root, f"frag{i}"), os.O_WRONLY | os.O_CREAT, 0o644) for i in range(8)]
for blk in range(64):
    for fd in fds:
        os.pwrite(fd, rng.randbytes(4096), blk * 4096 * 2)  # holes between blocks
        os.fsync(fd) if blk % 16 == 0 else None
for fd in fds:
    os.close(fd)
os.mkdir(os.path.join(root, "big"))
for i in range(1500):
    open(os.path.join(root, "big", f"entry-{i:05d}"), "wb").close()
PY
	umount /mnt/vx || exit 1
	if ! out=$(fsck.vexfs -n "$dev" 2>&1); then
		echo "FAIL: corrupt_populate: fsck of the pristine image is not clean: $out"
		exit 1
	fi
	echo "PASS: corrupt_populate ($(echo "$out" | tail -n 1))"
	exit 0
fi

if [ "${1:-}" = --guest-check ]; then
	exec python3 - "$2" "$3" "$4" <<'PY'
import collections, errno, os, subprocess, sys, time

dev, expect, name = sys.argv[1:4]
MNT = "/mnt/vx"
fails = 0


def result(ok, case, msg):
    global fails
    if not ok:
        fails += 1
    print(("PASS: " if ok else "FAIL: ") + f"corrupt_{name}_{case}" + (f": {msg}" if msg else ""), flush=True)


class Kmsg:
    def __init__(self):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)

    def read(self):
        out = []
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError:
                continue
            out.append(rec.decode(errors="replace").split(";", 1)[-1].split("\n")[0])
        return out


k = Kmsg()
# 1. fsck -n reports the damage (or, for 'none', is clean)
r = subprocess.run(["fsck.vexfs", "-n", dev], capture_output=True, text=True, errors="replace")
text = (r.stdout + r.stderr).strip().splitlines()
summary = " | ".join(l.strip() for l in text if "!!" in l or "rror" in l or "amage" in l or "bad" in l.lower())[:400]
if expect == "none":
    result(r.returncode == 0, "fsck", f"exit {r.returncode}: {' | '.join(text[-4:])}")
else:
    result(r.returncode not in (0, 1) and text != [],
           "fsck", f"exit {r.returncode}: {summary or ' | '.join(text[-3:])}")

# 2. the kernel: refuse with a message, or mount and answer EIO/EUCLEAN
os.makedirs(MNT, exist_ok=True)
m = subprocess.run(["mount", "-t", "vexfs", dev, MNT], capture_output=True, text=True)
kmsgs = [l for l in k.read() if "vexfs" in l.lower()]
errs = collections.Counter()
examples = []


def err(path, e):
    errs[errno.errorcode.get(e.errno, str(e.errno))] += 1
    if len(examples) < 4:
        examples.append(f"{os.path.relpath(path, MNT)}: {errno.errorcode.get(e.errno, e.errno)}")


if m.returncode == 0:
    nfiles = 0
    for root, dirs, files in os.walk(MNT, onerror=lambda e: err(e.filename or MNT, e)):
        for n in dirs + files:
            p = os.path.join(root, n)
            try:
                st = os.lstat(p)
                if os.path.islink(p):
                    os.readlink(p)
                elif os.path.isfile(p):
                    with open(p, "rb") as f:
                        while f.read(1 << 20):
                            pass
                    nfiles += 1
                for a in os.listxattr(p, follow_symlinks=False):
                    os.getxattr(p, a, follow_symlinks=False)
            except OSError as e:
                err(p, e)
    read_errs = sum(errs.values())
    if not errs:
        # nothing read hit the damage: make the volume allocate and commit
        try:
            d = os.path.join(MNT, "corrupt-write")
            os.mkdir(d)
            for i in range(200):
                with open(os.path.join(d, f"f{i}"), "wb") as f:
                    f.write(os.urandom(16384))
            with open(os.path.join(d, "big"), "wb") as f:
                for _ in range(40):
                    f.write(os.urandom(1 << 20))
            os.sync()
            for n in os.listdir(d):
                os.unlink(os.path.join(d, n))
            os.rmdir(d)
            os.sync()
        except OSError as e:
            err(d, e)
    u = subprocess.run(["umount", MNT], capture_output=True, text=True)
    kmsgs += [l for l in k.read() if "vexfs" in l.lower()]
    result(u.returncode == 0, "umount", u.stderr.strip())
    desc = (f"mounted; {nfiles} files read; errors {dict(errs)}" + (f" e.g. {examples}" if examples else "")
            + (f"; kernel: {kmsgs[-2:]}" if kmsgs else ""))
    if expect in ("fallback", "none"):
        result(not errs, "kernel", desc)
    elif expect == "refuse":
        result(False, "kernel", "mount succeeded, expected a refusal; " + desc)
    else:
        allowed = {"EIO", "EUCLEAN", "EROFS"}
        ok = bool(errs) and set(errs) <= allowed and (errs["EIO"] + errs["EUCLEAN"]) > 0
        result(ok, "kernel", desc if ok else
               ("damage never reported; " if not errs else "unexpected errors; ") + desc)
else:
    msg = m.stderr.strip()
    desc = f"mount refused: {msg[-150:]}; kernel: {kmsgs[-3:]}"
    if expect in ("fallback", "none"):
        result(False, "kernel", "mount refused, expected it to work; " + desc)
    else:
        result(bool(kmsgs), "kernel", desc if kmsgs else "mount refused without a kernel message; " + desc)
sys.exit(1 if fails else 0)
PY
fi

# ------------------------------------------------------------------- host side
vm_exec=$repo/scripts/vm-exec
kernel=6.1
only=
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2 && shift 2 ;;
	--only) only=$2 && shift 2 ;;
	--keep) keep=1 && shift ;;
	-h | --help)
		sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "corruption_test: unknown option $1" >&2
		exit 2
		;;
	esac
done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/vexfs-corrupt.XXXXXX")
pristine=$work/pristine.img
truncate -s 256M "$pristine"
passed=0
failed=0
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}
finish() {
	echo "corruption_test: $(($(date +%s) - t_start))s"
	if [ "$failed" -eq 0 ] && [ "$keep" = 0 ]; then
		rm -rf "$work"
	else
		echo "corruption_test: images kept in $work"
	fi
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
t_start=$(date +%s)
echo "corruption_test: kernel $kernel, work dir $work"

# 1. populate in the VM (this also builds the tools and the module)
"$vm_exec" --kernel "$kernel" --disk "$pristine" --timeout 900 -- "$self" --guest-populate >"$work/populate.out" 2>&1
rc=$?
grep -E '^(PASS|FAIL): ' "$work/populate.out"
if [ $rc -ne 0 ] || ! grep -q '^PASS: corrupt_populate' "$work/populate.out"; then
	fail "corrupt_populate_boot: vm-exec exited $rc"
	tail -n 20 "$work/populate.out"
	finish
fi
passed=$((passed + 1))

# 2. find the blocks and make one damaged image per case
dump=$repo/build/bin/vexfs-dump
if ! "$dump" "$pristine" >"$work/dump.txt" 2>&1; then
	fail "corrupt_dump: vexfs-dump of the pristine image exited non-zero"
	tail -n 5 "$work/dump.txt"
	finish
fi
if ! python3 - "$pristine" "$work/dump.txt" "$work" "$only" >"$work/cases.txt" 2>"$work/plan.err" <<'PY'
import os, re, shutil, struct, sys

img, dumpf, work, only = sys.argv[1:5]
SB = (4096, 8192)

# CRC-32C (Castagnoli), crc32c(~0, bytes) without final inversion (FORMAT.md)
T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c


def read_at(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


raw_sb = [read_at(img, o, 512) for o in SB]
gens = [struct.unpack_from("<Q", s, 16)[0] for s in raw_sb]
active = 0 if gens[0] >= gens[1] else 1
sb = raw_sb[active]
bs = struct.unpack_from("<I", sb, 112)[0]
total = struct.unpack_from("<Q", sb, 120)[0]
fs_root = struct.unpack_from("<Q", sb, 176)[0]
fs_level = sb[224]
if struct.unpack_from("<I", sb, 0)[0] != crc32c(sb[4:512]):
    sys.exit("superblock CRC convention mismatch: cannot seal")

# parse the dump: nodes, parents, item types per leaf
tree = None
nodes = {}   # blocknr -> dict(tree, level, kind, types)
parent = {}
cur = None
for line in open(dumpf):
    m = re.match(r"(alloc|fs) tree: root block (\d+) level (\d+)", line)
    if m:
        tree = m.group(1)
        continue
    m = re.match(r"(node|leaf) (\d+) level (\d+) (entries|items) (\d+)", line)
    if m and tree:
        cur = int(m.group(2))
        nodes[cur] = {"tree": tree, "level": int(m.group(3)), "types": set()}
        continue
    m = re.match(r"\s+entry \d+ key .* -> block (\d+)", line)
    if m and cur is not None:
        parent[int(m.group(1))] = cur
        continue
    m = re.match(r"\s+item \d+ key \((\d+) (\w+) ", line)
    if m and cur is not None:
        nodes[cur]["types"].add(m.group(2))

if fs_root not in nodes:
    sys.exit(f"fs root {fs_root} not found in the dump")


def read_block(data, b):
    return bytearray(data[b * bs:(b + 1) * bs])


def path_to_root(b):
    p = [b]
    while p[-1] in parent:
        p.append(parent[p[-1]])
    return p  # leaf ... root


fs_leaves = sorted(b for b, n in nodes.items() if n["tree"] == "fs" and n["level"] == 0)
fs_internal = sorted(b for b, n in nodes.items() if n["tree"] == "fs" and n["level"] > 0 and b != fs_root)
alloc_nodes = sorted(b for b, n in nodes.items() if n["tree"] == "alloc")
rich = [b for b in fs_leaves if {"INODE", "EXTENT"} <= nodes[b]["types"]]
leaf = (rich or fs_leaves)[len(rich or fs_leaves) // 2]
other_leaf = next(b for b in fs_leaves if b != leaf)
print(f"# fs root {fs_root} level {fs_level}, {len(fs_leaves)} fs leaves, {len(fs_internal)} other internal, "
      f"{len(alloc_nodes)} alloc nodes; active slot {active} gen {gens[active]}; chosen leaf {leaf}",
      file=sys.stderr)

data = bytearray(open(img, "rb").read())
if struct.unpack_from("<I", data, leaf * bs)[0] != crc32c(data[leaf * bs + 4:(leaf + 1) * bs]):
    sys.exit("node CRC convention mismatch: cannot seal")


def flip(d, off, bit=0x10):
    d[off] ^= bit


def reseal(d, leafblk):
    """Recompute the CRCs from leafblk up to the active superblock."""
    path = path_to_root(leafblk)
    for i, b in enumerate(path):
        o = b * bs
        struct.pack_into("<I", d, o, crc32c(d[o + 4:o + bs]))
        c = struct.unpack_from("<I", d, o)[0]
        if i + 1 < len(path):
            po = path[i + 1] * bs
            n = struct.unpack_from("<H", d, po + 48)[0]
            for e in range(n):
                eo = po + 64 + e * 48
                if struct.unpack_from("<Q", d, eo + 24)[0] == b:
                    struct.pack_into("<I", d, eo + 40, c)
                    break
            else:
                raise SystemExit(f"block {b} not found in parent {path[i + 1]}")
        else:
            so = SB[active]
            if struct.unpack_from("<Q", d, so + 176)[0] != b:
                raise SystemExit("sealed path does not end at the fs root")
            struct.pack_into("<I", d, so + 192, c)
            struct.pack_into("<I", d, so, crc32c(d[so + 4:so + 512]))


def leaf_items(d, b):
    o = b * bs
    n = struct.unpack_from("<H", d, o + 48)[0]
    for i in range(n):
        io = o + 64 + i * 32
        objid, koff, typ = struct.unpack_from("<QQB", d, io)
        doff, dsize = struct.unpack_from("<II", d, io + 24)
        yield objid, typ, koff, o + doff, dsize


def find_leaf_with(typ, pred=lambda d, off, size: True):
    for b in [leaf] + fs_leaves:
        for objid, t, koff, off, size in leaf_items(data, b):
            if t == typ and pred(data, off, size):
                return b, off
    return None, None


cases = []  # (name, expect, mutate(d))


def add(name, expect, fn):
    cases.append((name, expect, fn))


add("leaf_bitflip", "damage", lambda d: flip(d, leaf * bs + bs // 2))
add("leaf_torn", "damage", lambda d: d.__setitem__(slice(leaf * bs + bs // 2, (leaf + 1) * bs), bytes(bs // 2)))
if fs_internal:
    ib = fs_internal[len(fs_internal) // 2]
    add("internal_bitflip", "damage", lambda d: flip(d, ib * bs + 64 + 30))  # inside entry 0's pointer
if fs_level > 0:
    add("root_bitflip", "damage", lambda d: flip(d, fs_root * bs + 64 + 48 + 27))
else:
    add("root_bitflip", "damage", lambda d: flip(d, fs_root * bs + bs - 100))
ab = alloc_nodes[len(alloc_nodes) // 2]
add("alloc_bitflip", "damage", lambda d: flip(d, ab * bs + bs - 200))
add("misdirected", "damage",
    lambda d: d.__setitem__(slice(leaf * bs, (leaf + 1) * bs), d[other_leaf * bs:(other_leaf + 1) * bs]))
add("sb_newest", "fallback", lambda d: flip(d, SB[active] + 60))
add("sb_older", "fallback", lambda d: flip(d, SB[1 - active] + 60))
add("sb_both", "refuse", lambda d: (flip(d, SB[0] + 20), flip(d, SB[1] + 20)))

eb, eoff = find_leaf_with(5, lambda d, off, size: struct.unpack_from("<Q", d, off)[0] != 0)
if eb is not None:
    def m_extent(d, eb=eb, eoff=eoff):
        struct.pack_into("<Q", d, eoff, total + 1000)
        reseal(d, eb)
    add("sealed_extent", "damage", m_extent)
ib2, ioff = find_leaf_with(1, lambda d, off, size: struct.unpack_from("<I", d, off)[0] & 0o170000 == 0o100000)
if ib2 is not None:
    def m_inode(d, b=ib2, off=ioff):
        struct.pack_into("<I", d, off, 0o170644)
        reseal(d, b)
    add("sealed_inode_mode", "damage", m_inode)
db, doff = find_leaf_with(3)
if db is not None:
    def m_dirent(d, b=db, off=doff):
        struct.pack_into("<H", d, off + 16, 0xFFFF)
        reseal(d, b)
    add("sealed_dirent_namelen", "damage", m_dirent)


def m_nritems(d):
    struct.pack_into("<H", d, leaf * bs + 48, 5000)
    reseal(d, leaf)


add("sealed_nritems", "damage", m_nritems)
add("control_pristine", "none", lambda d: None)

for name, expect, fn in cases:
    if only and only not in name:
        continue
    d = bytearray(data)
    fn(d)
    out = os.path.join(work, f"case-{name}.img")
    with open(out, "wb") as f:
        f.write(d)
    print(name, expect, out)
PY
then
	fail "corrupt_plan: could not prepare the damaged images: $(tail -n 3 "$work/plan.err")"
	finish
fi
sed 's/^/  /' "$work/plan.err"
rm -f "$pristine"

# 3. one boot per damaged image
while read -r name expect image; do
	t0=$(date +%s)
	"$vm_exec" --kernel "$kernel" --disk "$image" --timeout 600 -- \
		"$self" --guest-check /dev/vdb "$expect" "$name" >"$work/$name.out" 2>&1 </dev/null
	rc=$?
	grep -E '^(PASS|FAIL): ' "$work/$name.out"
	passed=$((passed + $(grep -c '^PASS: ' "$work/$name.out")))
	failed=$((failed + $(grep -c '^FAIL: ' "$work/$name.out")))
	case $rc in
	0 | 1) ;;
	201)
		fail "corrupt_${name}_no_kernel_warning: the guest kernel logged a problem:"
		grep -E 'vm-exec|WARNING|BUG|Oops|RIP' "$work/$name.out" | head -n 30
		;;
	*)
		fail "corrupt_${name}_boot: vm-exec exited $rc"
		tail -n 20 "$work/$name.out"
		;;
	esac
	echo "   ($name: $(($(date +%s) - t0))s)"
	[ "$keep" = 1 ] || [ "$rc" -ne 0 ] || rm -f "$image"
done <"$work/cases.txt"
finish
