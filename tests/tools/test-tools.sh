#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Native tests of mkfs.vexfs, fsck.vexfs and vexfs-dump on image files:
# no root, no kernel, no VM.  Builds the tools (make tools), a small helper
# that populates and damages images through the core's API
# (tests/tools/vx_populate.c), and sanitizer builds of fsck and dump for a
# short fuzzing stage.
#
#   tests/tools/test-tools.sh [-k]     -k: keep the temporary directory
#
# Prints PASS:/FAIL: lines and ends with "N passed, M failed"; exits non-zero
# if anything failed.

# pass() always succeeds, so "cond && pass || fail" is a safe if-then-else.
# shellcheck disable=SC2015
TMP_NAME=vexfs-tools
# shellcheck source=tests/tools/lib.sh
. "$(dirname "$0")/lib.sh"
FUZZ_ITERS=${FUZZ_ITERS:-150}

sum() { md5sum "$1" | cut -d' ' -f1; }
flip() { # flip IMG BYTE_OFFSET: invert one byte
	local off=$2 b
	b=$(od -An -tu1 -j "$off" -N1 "$1" | tr -d ' ')
	printf '%b' "\\$(printf '%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$off" conv=notrunc status=none
}
fs_root() { # fs_root IMG: block number of the active fs tree root
	"$BIN/vexfs-dump" --super "$1" | awk '/ACTIVE/{a=1} a && /fs root/{print $4; exit}'
}

echo "== building"
if ! make -C "$ROOT" -s tools >"$T/build.log" 2>&1; then
	cat "$T/build.log"
	echo "FAIL: build"
	echo "0 passed, 1 failed"
	exit 1
fi
CFLAGS="-std=gnu11 -g -Wall -I$ROOT/core -I$ROOT/tools/lib -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64"
SRCS="$ROOT/core/*.c $ROOT/core/platform/vx_user.c $ROOT/tools/lib/*.c"
# shellcheck disable=SC2086
if gcc $CFLAGS -O1 -o "$T/vx_populate" "$ROOT/tests/tools/vx_populate.c" $SRCS 2>"$T/build.log"; then
	pass "build the populate helper"
else
	OUT=$(cat "$T/build.log") fail "build the populate helper"
fi
SAN="-O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
for t in fsck.vexfs vexfs-dump; do
	# shellcheck disable=SC2086
	gcc $CFLAGS $SAN -o "$T/san-$t" "$ROOT/tools/$t.c" $SRCS 2>>"$T/build.log" ||
		OUT=$(cat "$T/build.log") fail "sanitizer build of $t"
done
POP=$T/vx_populate
cd "$T" || exit 1

echo "== mkfs.vexfs"
expect "mkfs creates an image file of the given size" 0 "Created a VexFS volume" -- \
	"$BIN/mkfs.vexfs" a.img 64M
[ "$(stat -c %s a.img)" = $((64 << 20)) ] && pass "image file is 64 MiB" || fail "image file is 64 MiB"
grep -q "block size:  4096" <<<"$OUT" && grep -q "blocks:      16384 (64.0 MiB)" <<<"$OUT" &&
	grep -q "label:       (none)" <<<"$OUT" && grep -Eq "UUID: +[0-9a-f-]{36}" <<<"$OUT" &&
	grep -Eq "free blocks: [0-9]+" <<<"$OUT" &&
	pass "mkfs prints label, UUID, block size, blocks, free blocks" ||
	fail "mkfs prints label, UUID, block size, blocks, free blocks"

U=0d2c54ce-5b5e-4bde-9c4e-1234567890ab
expect "mkfs with -L -U -b" 0 "label: +corpus" -- \
	"$BIN/mkfs.vexfs" -f -L corpus -U $U -b 1024 a.img
run "$BIN/vexfs-dump" --super a.img
grep -q "uuid $U  label \"corpus\"" <<<"$OUT" && grep -q "block size 1024 " <<<"$OUT" &&
	grep -q "total 65536 blocks" <<<"$OUT" &&
	pass "the superblock records label, UUID and block size" ||
	fail "the superblock records label, UUID and block size"
expect "mkfs -b 2048" 0 "block size:  2048" -- "$BIN/mkfs.vexfs" -f -b 2048 a.img
run "$BIN/fsck.vexfs" -n a.img
[ "$RC" = 0 ] && pass "fsck is clean on a 2 KiB-block volume" || fail "fsck is clean on a 2 KiB-block volume"

truncate -s 64M part.img
expect "mkfs -s uses part of an image" 0 "blocks:      4096 \(16.0 MiB\)" -- \
	"$BIN/mkfs.vexfs" -s 16M part.img
[ "$(stat -c %s part.img)" = $((64 << 20)) ] && pass "mkfs -s leaves the rest of the file" ||
	fail "mkfs -s leaves the rest of the file"
expect "a size without suffix counts blocks" 0 "blocks:      3000 " -- \
	"$BIN/mkfs.vexfs" -f part.img 3000
expect "mkfs extends a smaller image file" 0 "blocks:      8192 " -- \
	"$BIN/mkfs.vexfs" -f part.img 32MiB
expect "too small: clear message" 1 "too small: VexFS needs at least" -- \
	"$BIN/mkfs.vexfs" tiny.img 512K
expect "missing device without size" 1 "does not exist" -- "$BIN/mkfs.vexfs" nothing.img
expect "invalid block size" 1 "invalid block size" -- "$BIN/mkfs.vexfs" -b 8192 b.img 8M
expect "invalid size" 1 "invalid size" -- "$BIN/mkfs.vexfs" b.img 8X
expect "label too long" 1 "too long" -- "$BIN/mkfs.vexfs" -L "$(printf 'x%.0s' $(seq 64))" b.img 8M
expect "invalid UUID" 1 "invalid UUID" -- "$BIN/mkfs.vexfs" -U not-a-uuid b.img 8M
expect "mkfs -V" 0 "mkfs.vexfs" -- "$BIN/mkfs.vexfs" -V
expect "mkfs --help" 0 "Usage: mkfs.vexfs" -- "$BIN/mkfs.vexfs" --help
expect "mkfs unknown option" 1 "" -- "$BIN/mkfs.vexfs" --bogus a.img

truncate -s 16M blank.img
expect "a blank device is formatted without -f" 0 "" -- "$BIN/mkfs.vexfs" -q blank.img
[ -z "$OUT" ] && pass "mkfs -q prints nothing" || fail "mkfs -q prints nothing"
expect "refuses to overwrite VexFS without -f" 1 "contains a VexFS file system" -- \
	"$BIN/mkfs.vexfs" blank.img
expect "-f overwrites VexFS" 0 "" -- "$BIN/mkfs.vexfs" -f -q blank.img

if command -v mke2fs >/dev/null; then
	truncate -s 32M ext4.img
	mke2fs -q -F -t ext4 -L oldfs ext4.img >/dev/null 2>&1
	S=$(sum ext4.img)
	expect "refuses to overwrite ext4 without -f" 1 "contains (a|an) ext4 file system" -- \
		"$BIN/mkfs.vexfs" ext4.img
	[ "$(sum ext4.img)" = "$S" ] && pass "the refused ext4 image is untouched" ||
		fail "the refused ext4 image is untouched"
	expect "-f overwrites ext4" 0 "overwriting" -- "$BIN/mkfs.vexfs" -f ext4.img
	if command -v blkid >/dev/null; then
		run blkid -p -o value -s TYPE ext4.img
		[ -z "$OUT" ] && pass "no ext4 signature survives mkfs -f" ||
			fail "no ext4 signature survives mkfs -f" "blkid says $OUT"
	fi
	expect "fsck is clean after formatting over ext4" 0 "clean" -- "$BIN/fsck.vexfs" -n ext4.img
else
	echo "SKIP: mke2fs not installed"
fi
if command -v blkid >/dev/null; then
	run blkid -p a.img
	[ "$RC" = 2 ] && pass "blkid identifies no other file system in a VexFS image" ||
		fail "blkid identifies no other file system in a VexFS image" "blkid: $OUT"
fi
S=$(sum a.img)
expect "mkfs -n (dry run)" 0 "Would create" -- "$BIN/mkfs.vexfs" -n -f a.img
[ "$(sum a.img)" = "$S" ] && pass "mkfs -n writes nothing" || fail "mkfs -n writes nothing"
if command -v mkfs >/dev/null; then
	truncate -s 16M viamkfs.img
	expect "mkfs -t vexfs finds mkfs.vexfs" 0 "Created" -- \
		env PATH="$BIN:$PATH" mkfs -t vexfs -L viamkfs "$T/viamkfs.img"
fi

echo "== fsck.vexfs and vexfs-dump on a fresh volume"
"$BIN/mkfs.vexfs" -q -f -L fresh a.img
S=$(sum a.img)
expect "fsck -n on a fresh image exits 0" 0 "clean" -- "$BIN/fsck.vexfs" -n a.img
expect "fsck -y on a fresh image exits 0" 0 "clean" -- "$BIN/fsck.vexfs" -y a.img
expect "fsck -p on a fresh image exits 0" 0 "clean" -- "$BIN/fsck.vexfs" -p a.img
expect "fsck -f -v" 0 "pass 3" -- "$BIN/fsck.vexfs" -n -f -v a.img
[ "$(sum a.img)" = "$S" ] && pass "fsck of a clean volume writes nothing" ||
	fail "fsck of a clean volume writes nothing"
if command -v fsck >/dev/null; then
	expect "fsck -t vexfs finds fsck.vexfs" 0 "clean" -- \
		env PATH="$BIN:$PATH" fsck -t vexfs -n "$T/a.img"
fi
expect "fsck usage error" 16 "Usage" -- "$BIN/fsck.vexfs"
expect "fsck unknown option" 16 "" -- "$BIN/fsck.vexfs" -Z a.img
expect "fsck on a missing device" 8 "cannot open" -- "$BIN/fsck.vexfs" -n missing.img
truncate -s 4M zero.img
expect "fsck on a non-VexFS device" 8 "not a VexFS volume" -- "$BIN/fsck.vexfs" -n zero.img
expect "fsck -V" 0 "fsck.vexfs" -- "$BIN/fsck.vexfs" -V

expect "dump prints both superblocks" 0 "slot 0 .*ACTIVE" -- "$BIN/vexfs-dump" --super a.img
grep -q "superblock slot 1" <<<"$OUT" && pass "dump prints the inactive slot" ||
	fail "dump prints the inactive slot"
expect "dump --tree fs shows the root inode" 0 "key \(1 INODE 0\)" -- "$BIN/vexfs-dump" --tree fs a.img
expect "dump --tree alloc summarises bitmaps" 0 "bitmap: blocks 0-8191: [0-9]+ used, [0-9]+ free" -- \
	"$BIN/vexfs-dump" --tree alloc a.img
R=$(fs_root a.img)
expect "dump --block decodes a node" 0 "leaf $R level 0" -- "$BIN/vexfs-dump" --block "$R" a.img
expect "dump --block on a non-node" 0 "not a tree node" -- "$BIN/vexfs-dump" --block 100 a.img
expect "dump --inode 1" 0 "inode: d mode 040755" -- "$BIN/vexfs-dump" --inode 1 a.img
expect "dump on a non-VexFS device" 1 "no usable superblock" -- "$BIN/vexfs-dump" zero.img

echo "== corruption"
cp a.img c.img
R=$(fs_root c.img)
flip c.img $((R * 4096 + 300))
S=$(sum c.img)
expect "fsck -n reports a corrupt tree node" 4 "fs tree root block $R .*checksum mismatch" -- \
	"$BIN/fsck.vexfs" -n c.img
expect "fsck -y leaves a corrupt tree node uncorrected" 4 "cannot repair damaged tree nodes" -- \
	"$BIN/fsck.vexfs" -y c.img
[ "$(sum c.img)" = "$S" ] && pass "fsck does not write to a volume with damaged trees" ||
	fail "fsck does not write to a volume with damaged trees"
expect "dump marks the damaged node" 2 "!! block $R: checksum mismatch" -- "$BIN/vexfs-dump" c.img

cp a.img c.img
flip c.img $((4096 + 100))
expect "fsck -n falls back from a corrupt superblock slot" 4 "slot 0 .*unusable.*checksum.*using slot 1" -- \
	"$BIN/fsck.vexfs" -n c.img
expect "fsck -y rewrites the corrupt slot" 1 "MODIFIED" -- "$BIN/fsck.vexfs" -y c.img
expect "fsck is clean after rewriting the slot" 0 "clean" -- "$BIN/fsck.vexfs" -n c.img
cp a.img c.img
flip c.img $((8192 + 40))
expect "fsck -n reports the inactive slot" 4 "slot 1 .*unusable.*using slot 0" -- \
	"$BIN/fsck.vexfs" -n c.img
cp a.img c.img
flip c.img $((4096 + 40))
flip c.img $((8192 + 40))
expect "both slots corrupt: errors left" 4 "no usable superblock" -- "$BIN/fsck.vexfs" -n c.img

echo "== populated volumes"
"$BIN/mkfs.vexfs" -q -f p.img 64M
if run "$POP" p.img populate 600 && [ "$RC" = 0 ]; then pass "populate through the core"; else fail "populate through the core"; fi
expect "fsck is clean on a populated volume" 0 "clean" -- "$BIN/fsck.vexfs" -n p.img
"$BIN/mkfs.vexfs" -q -f -b 1024 deep.img 32M
run "$POP" deep.img populate 3000
expect "fsck is clean on deep trees (1 KiB blocks)" 0 "clean" -- "$BIN/fsck.vexfs" -n deep.img
run "$BIN/vexfs-dump" --tree fs deep.img
grep -Eq "^node [0-9]+ level 2" <<<"$OUT" && pass "the deep volume has a 3-level fs tree" ||
	fail "the deep volume has a 3-level fs tree"
expect "dump walks the populated volume" 0 "name \"hello.txt\" -> inode" -- "$BIN/vexfs-dump" p.img
grep -q 'xattr user."comment" = (8 bytes) "greeting"' <<<"$OUT" && grep -q "unwritten" <<<"$OUT" &&
	pass "dump decodes xattrs and extents" || fail "dump decodes xattrs and extents"

# a leaf below the root of the deep tree
LEAF=$("$BIN/vexfs-dump" --tree fs deep.img | awk '/^leaf /{n++; if (n == 5) {print $2; exit}}')
cp deep.img c.img
flip c.img $((LEAF * 1024 + 700))
expect "fsck names a damaged leaf and its parent" 4 "fs tree block $LEAF \(level 0, entry [0-9]+ of block [0-9]+\): checksum mismatch" -- \
	"$BIN/fsck.vexfs" -n c.img

HELLO=$("$POP" p.img ino docs/hello.txt)
BIG=$("$POP" p.img ino docs/big.bin)
SUB=$("$POP" p.img ino docs/sub)
dirname_ino() { "$POP" p.img ino docs; }

# damage NAME REGEX HELPER-ARGS...: -n finds it (4) without writing, -y fixes (1), then clean (0)
damage() {
	local name=$1 re=$2 s
	shift 2
	cp p.img d.img
	run "$POP" d.img "$@"
	if [ "$RC" != 0 ]; then fail "$name: damage" "helper failed"; return; fi
	s=$(sum d.img)
	expect "$name: fsck -n finds it" 4 "$re" -- "$BIN/fsck.vexfs" -n d.img
	[ "$(sum d.img)" = "$s" ] || fail "$name: fsck -n wrote to the image"
	expect "$name: fsck -y repairs it" 1 "FILE SYSTEM WAS MODIFIED" -- "$BIN/fsck.vexfs" -y d.img
	expect "$name: clean afterwards" 0 "clean" -- "$BIN/fsck.vexfs" -n d.img
}
damage "wrong link count" "inode $HELLO: link count 7, expected 2" nlink "$HELLO" 7
damage "wrong directory link count" "inode 1 \(root\): link count 9, expected 4" nlink 1 9
damage "leaked blocks" "marked in use but not used \(leaked\)" leak 5
damage "used block marked free" "block [0-9]+ in use but marked free" unmark "$BIG"
damage "wrong inode block count" "inode $BIG: block count 1, but its extents hold" iblocks "$BIG" 1
damage "name removed, link count kept" "inode $HELLO: link count 2, expected 1" unname 1 hello-link
damage "name of a missing inode" "name \"ghost\" refers to inode 99999, which does not exist" dangle 1 ghost 99999
damage "inode in no directory" "is not in any directory" lost
damage "linked inode on the orphan list" "inode $HELLO is on the orphan list but still has 2 names" badorphan "$HELLO"
damage "wrong parent of a directory" "directory $SUB: parent field is 1" parent "$SUB" 1
damage "name under the wrong hash" "name \"hello.txt\" is stored under hash" misfile "$(dirname_ino)" hello.txt
damage "inode count too high" "superblock inode count is [0-9]+, but there are" countup
damage "inode count too low" "superblock inode count is [0-9]+, but there are" countdown

cp p.img d.img
run "$POP" d.img cycle
expect "a cycle of disconnected directories is reported" 4 "only reachable from a cycle of disconnected directories" -- \
	"$BIN/fsck.vexfs" -n d.img
expect "fsck -y breaks the cycle" 1 "reconnected as /lost\\+found" -- "$BIN/fsck.vexfs" -y d.img
expect "clean after breaking the cycle" 0 "clean" -- "$BIN/fsck.vexfs" -n d.img
cp p.img d.img
run "$POP" d.img unname 1 docs
run "$BIN/fsck.vexfs" -y d.img
expect "an unnamed directory comes back with its subtree" 0 "" -- "$POP" d.img ino "lost+found/#$(dirname_ino)/sub/deeper"

cp p.img d.img
run "$POP" d.img lost
run "$BIN/fsck.vexfs" -y d.img
expect "lost inode is reconnected in /lost+found" 0 "" -- "$POP" d.img ino "lost+found/#$(tr -d '\n' <<<"${OUT##*inode }" | cut -d' ' -f1)"

cp p.img d.img
ORPH=$("$POP" d.img orphan)
expect "an orphan is not an error for fsck -n" 0 "inode $ORPH is an orphan" -- "$BIN/fsck.vexfs" -n d.img
expect "fsck -p reclaims the orphan" 1 "inode $ORPH \(orphan\) reclaimed" -- "$BIN/fsck.vexfs" -p d.img
expect "clean after reclaiming the orphan" 0 "clean, " -- "$BIN/fsck.vexfs" -n d.img

cp p.img d.img
ORPH=$("$POP" d.img halforphan)
expect "a half-removed orphan is not an error" 0 "inode $ORPH is an orphan" -- "$BIN/fsck.vexfs" -n d.img
expect "fsck -y finishes removing it" 1 "inode $ORPH \(orphan\) reclaimed" -- "$BIN/fsck.vexfs" -y d.img
expect "clean after finishing the removal" 0 "clean, " -- "$BIN/fsck.vexfs" -n d.img

cp p.img d.img
run "$POP" d.img nlink "$HELLO" 3
expect "fsck -p repairs a safe problem" 1 "MODIFIED" -- "$BIN/fsck.vexfs" -p d.img
cp p.img d.img
run "$POP" d.img lost
S=$(sum d.img)
expect "fsck -p refuses an unsafe repair" 4 "UNEXPECTED INCONSISTENCY" -- "$BIN/fsck.vexfs" -p d.img
[ "$(sum d.img)" = "$S" ] && pass "fsck -p left the volume untouched" || fail "fsck -p left the volume untouched"

cp p.img d.img
run "$POP" d.img nlink "$HELLO" 5
run "$POP" d.img leak 3
run "$POP" d.img iblocks "$BIG" 2
expect "several problems at once: -y" 1 "MODIFIED" -- "$BIN/fsck.vexfs" -y d.img
expect "several problems at once: clean afterwards" 0 "clean" -- "$BIN/fsck.vexfs" -n d.img
expect "the core reads the repaired volume" 0 "" -- "$POP" d.img ino docs/sub/deeper

echo "== fuzzing (sanitizer builds, $FUZZ_ITERS iterations)"
if command -v python3 >/dev/null && [ -x "$T/san-fsck.vexfs" ]; then
	"$BIN/mkfs.vexfs" -q -f -b 1024 fz.img 3M
	"$POP" fz.img populate 300 >/dev/null
	"$POP" fz.img orphan >/dev/null
	run python3 - fz.img "$FUZZ_ITERS" "$T" <<'EOF'
import random, struct, subprocess, sys
img0 = open(sys.argv[1], 'rb').read()
iters, tdir = int(sys.argv[2]), sys.argv[3]
T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    T.append(c)
def crc(d, c=0xffffffff):
    for b in d:
        c = (c >> 8) ^ T[(c ^ b) & 0xff]
    return c
BS = struct.unpack_from('<I', img0, 4096 + 112)[0]
act = 4096 if struct.unpack_from('<Q', img0, 4096 + 16)[0] > struct.unpack_from('<Q', img0, 8192 + 16)[0] else 8192
ROOTS = act + 176
paths, stack, seen = [], [[(struct.unpack_from('<Q', img0, ROOTS + 24 * t)[0], ROOTS + 24 * t)] for t in (0, 1)], set()
while stack:
    p = stack.pop(); b = p[-1][0]
    if b in seen: continue
    seen.add(b); paths.append(p); o = b * BS
    if img0[o + 50]:
        for i in range(struct.unpack_from('<H', img0, o + 48)[0]):
            e = o + 64 + 48 * i
            stack.append(p + [(struct.unpack_from('<Q', img0, e + 24)[0], e + 24)])
random.seed(1234)
bad = 0
for it in range(iters):
    img = bytearray(img0)
    path = random.choice(paths); o = path[-1][0] * BS
    for _ in range(random.choice([1, 2, 4, 8])):
        p = o + random.randrange(4, BS) if random.random() < 0.5 else o + random.randrange(4, 64 + 32 * 6)
        r = random.random()
        if r < 0.5: img[p] ^= 1 << random.randrange(8)
        elif r < 0.8: img[p] = random.choice([0, 1, 0x7f, 0x80, 0xff])
        elif p + 8 <= o + BS: img[p:p + 8] = struct.pack('<Q', random.choice([0, 1, BS, 2**63, 2**64 - 1, random.getrandbits(64)]))
    if it % 3:   # reseal checksums so the damage reaches the item decoders
        for nb, ref in reversed(path):
            c = crc(bytes(img[nb * BS + 4:nb * BS + BS]))
            struct.pack_into('<I', img, nb * BS, c); struct.pack_into('<I', img, ref + 16, c)
        struct.pack_into('<I', img, act, crc(bytes(img[act + 4:act + 512])))
    fn = tdir + '/fz-cur.img'
    open(fn, 'wb').write(img)
    for cmd, ok in ((['-n'], (0, 4, 8)), (['-y'], (0, 1, 4, 5, 8))):
        q = subprocess.run([tdir + '/san-fsck.vexfs'] + cmd + [fn], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if q.returncode not in ok or b'Sanitizer' in q.stderr or b'runtime error' in q.stderr:
            bad += 1; open('%s/fz-bad-%d.img' % (tdir, it), 'wb').write(img)
            print('fsck', cmd, 'iteration', it, 'exit', q.returncode, q.stderr.decode()[-600:])
        if cmd == ['-y'] and q.returncode == 1:
            r = subprocess.run([tdir + '/san-fsck.vexfs', '-n', fn], stdout=subprocess.PIPE)
            if r.returncode != 0:
                bad += 1; print('iteration', it, 'not clean after fsck -y:', r.stdout.decode()[-400:])
    open(fn, 'wb').write(img)
    q = subprocess.run([tdir + '/san-vexfs-dump', fn], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if q.returncode not in (0, 1, 2) or b'Sanitizer' in q.stderr or b'runtime error' in q.stderr:
        bad += 1; print('dump iteration', it, 'exit', q.returncode, q.stderr.decode()[-600:])
print('bad', bad)
EOF
	grep -q "^bad 0$" <<<"$OUT" && pass "fsck and dump survive $FUZZ_ITERS corrupted images" ||
		fail "fsck and dump survive $FUZZ_ITERS corrupted images"
else
	echo "SKIP: fuzzing (python3 or sanitizer build missing)"
fi

# vexctl and libvexfs (shares the counters and helpers above)
VEXCTL_SOURCED=1
# shellcheck source=tests/tools/test-vexctl.sh
. "$ROOT/tests/tools/test-vexctl.sh"

echo "$P passed, $F failed"
[ "$F" = 0 ]
