#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Native tests of vexctl and libvexfs: no root, no kernel, no VM.
#
#   tests/tools/test-vexctl.sh [-k]     -k: keep the temporary directory
#
# Also sourced by tests/tools/test-tools.sh (then it shares its counters,
# helpers and temporary directory).  Covers: the ABI (struct sizes and
# offsets, compile-time), building against libvexfs with -Werror and through
# pkg-config (static and shared), --help of every command, usage errors
# (exit 2), "not a VexFS volume" (exit 3) and missing paths (exit 4), and,
# through tests/tools/vexfs_mock.c (an LD_PRELOAD stand-in for the ioctls
# on a scratch directory), every vector input format, put/get/rm/search/
# similar/import/index/status and the validity of every --json document;
# then automatic embeddings (auto, wait, status) and text search with a
# stand-in for the sidecar's embedder and for pdftotext.
# vexctl runs as an ASan/UBSan build throughout (leaks are errors).
# The kernel side is tested by tests/vm/vector_suite.py.

# shellcheck disable=SC2015
if [ -z "${VEXCTL_SOURCED:-}" ]; then
	TMP_NAME=vexctl-test
	# shellcheck source=tests/tools/lib.sh
	. "$(dirname "$0")/lib.sh"
	if ! make -C "$ROOT" -s lib build/bin/vexctl >"$T/build.log" 2>&1; then
		cat "$T/build.log"
		echo "FAIL: build"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi

echo "== vexctl and libvexfs"
VX=$T/vx
mkdir -p "$VX"
VSRC="$ROOT/tools/vexctl/*.c"
LIBC="-std=gnu11 -g -Wall -Wextra -Werror -I$ROOT/include -I$ROOT/include/uapi -D_GNU_SOURCE"
SAN="-O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
[ -x "$BIN/vexctl" ] && [ -f "$ROOT/build/lib/libvexfs.a" ] && [ -f "$ROOT/build/lib/libvexfs.so" ] &&
	pass "make tools builds vexctl, libvexfs.a and libvexfs.so" ||
	fail "make tools builds vexctl, libvexfs.a and libvexfs.so"
# shellcheck disable=SC2086
if gcc $LIBC $SAN -pthread -o "$VX/vexctl" $VSRC "$ROOT/lib/libvexfs.c" -lm 2>"$VX/build.log"; then
	pass "vexctl and libvexfs build with -Wall -Wextra -Werror (ASan/UBSan build)"
	V=$VX/vexctl
else
	OUT=$(cat "$VX/build.log") fail "vexctl and libvexfs build with -Wall -Wextra -Werror (ASan/UBSan build)"
	V=$BIN/vexctl
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
export UBSAN_OPTIONS=print_stacktrace=1

# the ABI: compile-time asserts, built both ways
# shellcheck disable=SC2086
if gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/include" -I"$ROOT/include/uapi" \
	-o "$VX/abi" "$ROOT/tests/tools/test_libvexfs_abi.c" "$ROOT/build/lib/libvexfs.a" 2>"$VX/abi.log"; then
	pass "the ABI test compiles (struct sizes and offsets are fixed)"
	run "$VX/abi"
	[ "$RC" = 0 ] && pass "libvexfs helpers ($(grep -c '^PASS' <<<"$OUT") checks)" ||
		fail "libvexfs helpers"
else
	OUT=$(cat "$VX/abi.log") fail "the ABI test compiles (struct sizes and offsets are fixed)"
fi
# The same layout on 32-bit: only the uapi header and the static asserts (-DABI_ONLY),
# freestanding, since 32-bit C library headers are rarely installed.  The 64-bit
# multiarch directory serves <asm/types.h>, which covers both ABIs on x86.
MA=$(gcc -print-multiarch 2>/dev/null)
M32="gcc -m32 -std=c11 -ffreestanding -fsyntax-only -Wall -Werror -I$ROOT/include/uapi ${MA:+-I/usr/include/$MA}"
# shellcheck disable=SC2086
if echo '#include <linux/types.h>' | $M32 -x c - 2>/dev/null; then
	# shellcheck disable=SC2086
	expect "the ABI is the same on 32-bit (gcc -m32: sizes, offsets, no padding)" 0 -- \
		$M32 -DABI_ONLY "$ROOT/tests/tools/test_libvexfs_abi.c"
else
	echo "SKIP: the 32-bit ABI check (gcc -m32 cannot compile here)"
fi
if command -v g++ >/dev/null; then
	echo '#include <vexfs/libvexfs.h>
int main() { struct vexfs_search_result r = {}; return (int)vexfs_distance(r.distance); }' >"$VX/cxx.cc"
	expect "libvexfs.h compiles as C++" 0 -- g++ -Wall -Werror -I"$ROOT/include" -I"$ROOT/include/uapi" \
		-o "$VX/cxx" "$VX/cxx.cc" "$ROOT/build/lib/libvexfs.a"
fi
if command -v pkg-config >/dev/null; then
	export PKG_CONFIG_PATH=$ROOT/build/lib/pkgconfig
	run pkg-config --cflags --libs libvexfs
	PC=$OUT
	[ "$RC" = 0 ] && grep -q -- "-lvexfs" <<<"$PC" && pass "pkg-config --cflags --libs libvexfs" ||
		fail "pkg-config --cflags --libs libvexfs"
	# shellcheck disable=SC2086
	if gcc -std=c11 -D_GNU_SOURCE -Wall -Werror -o "$VX/abi-pc" "$ROOT/tests/tools/test_libvexfs_abi.c" \
		$PC >"$VX/pc.log" 2>&1 && LD_LIBRARY_PATH=$ROOT/build/lib "$VX/abi-pc" >/dev/null; then
		pass "a program builds with pkg-config flags and runs on libvexfs.so"
	else
		OUT=$(cat "$VX/pc.log") fail "a program builds with pkg-config flags and runs on libvexfs.so"
	fi
	unset PKG_CONFIG_PATH
	run readelf -d "$ROOT/build/lib/libvexfs.so"
	grep -q 'SONAME.*libvexfs.so.1' <<<"$OUT" && pass "libvexfs.so has SONAME libvexfs.so.1" ||
		fail "libvexfs.so has SONAME libvexfs.so.1"
else
	echo "SKIP: pkg-config not installed"
fi
if ! make -C "$ROOT" -s tools >"$VX/inst.log" 2>&1; then
	echo "SKIP: make install (make tools fails, see below)"
	head -5 "$VX/inst.log"
elif make -C "$ROOT" -s install DESTDIR="$VX/inst" PREFIX=/usr >"$VX/inst.log" 2>&1 &&
	[ -x "$VX/inst/usr/bin/vexctl" ] && [ -f "$VX/inst/usr/include/linux/vexfs.h" ] &&
	[ -f "$VX/inst/usr/include/vexfs/libvexfs.h" ] && [ -f "$VX/inst/usr/share/man/man8/vexctl.8" ] &&
	grep -q '^libdir=/usr/lib$' "$VX/inst/usr/lib/pkgconfig/libvexfs.pc"; then
	pass "make install DESTDIR=... PREFIX=/usr"
else
	OUT=$(cat "$VX/inst.log") fail "make install DESTDIR=... PREFIX=/usr"
fi

# --help everywhere
for c in "" space "space create" "space list" "space show" "space drop" "space default" \
	"space set-ef" put get rm import search similar index "index build" "index rebuild" \
	"index stats" status auto wait; do
	# shellcheck disable=SC2086
	expect "vexctl $c --help exits 0" 0 "^Usage: vexctl" -- "$V" $c --help
done
expect "vexctl help search" 0 "^Usage: vexctl search" -- "$V" help search
expect "vexctl --version" 0 "^vexctl [0-9]" -- "$V" --version
if command -v man >/dev/null; then
	OUT=$(man --warnings -l -Tutf8 "$ROOT/man/vexctl.8" 2>"$VX/man.err" | sed 's/.\x08//g')
	grep -q "EXIT STATUS" <<<"$OUT" && [ ! -s "$VX/man.err" ] &&
		pass "man/vexctl.8 renders without warnings" ||
		OUT=$(cat "$VX/man.err") fail "man/vexctl.8 renders without warnings"
fi

# usage errors: exit 2, a message, a hint
expect "no command" 2 "Usage" -- "$V"
expect "unknown command" 2 "unknown command 'frobnicate'" -- "$V" frobnicate
expect "unknown option" 2 "unknown option '--bogus'" -- "$V" search --bogus
grep -q "Try 'vexctl search --help'" <<<"$OUT" && pass "usage errors point to --help" ||
	fail "usage errors point to --help"
expect "missing operand" 2 "missing argument" -- "$V" search
expect "missing option argument" 2 "needs an argument" -- "$V" search . --vector 1 -k
expect "k = 0" 2 "-k must be between 1 and 4096" -- "$V" search . --vector 1 -k 0
expect "k too large" 2 "between 1 and 4096" -- "$V" search . --vector 1 -k 4097
expect "k not a number" 2 "is not a number" -- "$V" search . --vector 1 -k ten
expect "ef below k" 2 "must be at least k" -- "$V" search . --vector 1 -k 20 --ef 10
expect "search without a query" 2 "give the query" -- "$V" search .
expect "search with --vector and --from" 2 "not both" -- "$V" search . --vector 1 --from x.npy
expect "text query and --vector" 2 "text query or --vector/--from, not both" -- "$V" search . "what is love" --vector 1
expect "empty text query" 2 "the text query is empty" -- "$V" search . "  "
expect "auto: --space with --off" 2 "exclude each other" -- "$V" auto . --space docs --off
expect "auto: --off with --clear" 2 "exclude each other" -- "$V" auto . --off --clear
expect "auto: --existing with --clear" 2 "give it alone or with --space" -- "$V" auto . --existing --clear
expect "auto: two directories" 2 "unexpected argument" -- "$V" auto a b
expect "wait: --interval 0" 2 "--interval must be between 1 and 3600000" -- "$V" wait . --interval 0
expect "wait: negative --timeout" 2 "not a number of seconds" -- "$V" wait . --timeout -1
expect "wait: --timeout not a number" 2 "not a number of seconds" -- "$V" wait . --timeout soon
expect "space create without --dim" 2 "--dim is required" -- "$V" space create docs
expect "dim 0" 2 "--dim must be between 1 and 8192" -- "$V" space create docs --dim 0
expect "dim 8193" 2 "between 1 and 8192" -- "$V" space create docs --dim 8193
expect "bad metric" 2 "--metric must be l2, cosine or ip" -- "$V" space create docs --dim 4 --metric manhattan
expect "bad M" 2 "--m must be between 2 and 100" -- "$V" space create docs --dim 4 --m 1
expect "invalid space name" 2 "not a valid space name" -- "$V" space create 'a b' --dim 4
expect "space name with a leading dot" 2 "not a valid space name" -- "$V" space create .hidden --dim 4
expect "space name too long" 2 "not a valid space name" -- "$V" space create "$(printf 'n%.0s' $(seq 64))" --dim 4
expect "model too long" 2 "longer than 63" -- "$V" space create docs --dim 4 --model "$(printf 'm%.0s' $(seq 64))"
expect "unknown space subcommand" 2 "unknown command 'space frob'" -- "$V" space frob
expect "unknown index subcommand" 2 "unknown command 'index frob'" -- "$V" index frob .
expect "bad --chunk" 2 "is not OFFSET:LENGTH" -- "$V" put f --chunk 12 --vector 1
expect "--replace with --update" 2 "exclude each other" -- "$V" put f --replace --update --vector 1
expect "import without --files" 2 "--files LIST is required" -- "$V" import . --vectors v.npy
expect "unknown option" 2 "unknown option '--frob'" -- "$V" space drop x --frob

# not VexFS, missing paths
mkdir -p "$VX/plain"
echo data >"$VX/plain/f"
expect "search on a non-VexFS directory: exit 3" 3 "is not on a VexFS volume" -- "$V" search "$VX/plain" --vector 1
expect "space list on a non-VexFS directory: exit 3" 3 "not on a VexFS volume" -- "$V" space list "$VX/plain"
expect "status on a non-VexFS directory: exit 3" 3 "not on a VexFS volume" -- "$V" status "$VX/plain"
expect "put on a non-VexFS file: exit 3" 3 "not on a VexFS volume" -- "$V" put "$VX/plain/f" --vector 1
expect "space create on a non-VexFS directory: exit 3" 3 "not on a VexFS volume" -- "$V" space create docs --dim 4 "$VX/plain"
expect "index stats on a non-VexFS directory: exit 3" 3 "not on a VexFS volume" -- "$V" index stats "$VX/plain"
expect "auto on a non-VexFS directory: exit 3" 3 "not on a VexFS volume" -- "$V" auto "$VX/plain"
expect "wait on a non-VexFS directory: exit 3" 3 "not on a VexFS volume" -- "$V" wait "$VX/plain"
expect "a missing file: exit 4" 4 "No such file or directory" -- "$V" get "$VX/plain/missing"
expect "search on a file: exit 2" 2 "not a directory" -- "$V" search "$VX/plain/f" --vector 1

# ---- against the mock ioctls
if ! gcc -std=gnu11 -Wall -Wextra -Wno-unused-parameter -shared -fPIC -I"$ROOT/include/uapi" \
	-o "$VX/mock.so" "$ROOT/tests/tools/vexfs_mock.c" -ldl -lm 2>"$VX/mock.log"; then
	OUT=$(cat "$VX/mock.log") fail "build the ioctl mock"
elif ! command -v python3 >/dev/null; then
	echo "SKIP: vexctl against the ioctl mock (python3 missing)"
else
	pass "build the ioctl mock"
	M=$VX/vol
	mkdir -p "$M/docs/sub" "$M/other"
	printf 'hello world, hello vectors\n' >"$M/docs/a.txt"
	printf 'abcdefgh' >"$M/docs/sub/b.txt"
	printf 'x' >"$M/c.txt"
	printf 'y' >"$M/other/d.txt"
	PRE=$VX/mock.so
	if [ "$V" = "$VX/vexctl" ]; then
		PRE="$(gcc -print-file-name=libasan.so) $VX/mock.so"
	fi
	vm() { env VEXFS_MOCK_ROOT="$M" VEXFS_MOCK_STATE="$VX/mock.state" LD_PRELOAD="$PRE" "$V" "$@"; }
	json_ok() { # json_ok NAME CMD...: exit 0 and one valid JSON document
		local name=$1
		shift
		OUT=$("$@" 2>"$VX/stderr")
		RC=$?
		if [ "$RC" != 0 ]; then
			OUT="$OUT$(cat "$VX/stderr")" fail "$name" "exit status $RC"
		elif ! python3 -m json.tool <<<"$OUT" >/dev/null 2>&1; then
			fail "$name" "not valid JSON"
		else
			pass "$name"
		fi
	}
	jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" <<<"$OUT"; }

	expect "mock: space create" 0 "created space 'docs'.*dim 4, cosine" -- \
		vm space create docs --dim 4 --metric cosine --model minilm --path "$M"
	json_ok "mock: space create --json" vm space create "$M" l2s --dim 3 --json
	[ "$(jq_ '"%d %s %d" % (d["dim"], d["metric"], d["hnsw_m"])')" = "3 l2 16" ] &&
		pass "mock: space create --json fields" || fail "mock: space create --json fields"
	expect "mock: duplicate space: exit 6" 6 "already exists" -- vm space create docs --dim 4 "$M"
	expect "mock: unknown space: exit 4" 4 "space 'nope' does not exist on $M" -- vm space show nope "$M"
	json_ok "mock: space list --json" vm space list "$M" --json
	[ "$(jq_ 'len(d["spaces"])')" = 2 ] && pass "mock: two spaces listed" || fail "mock: two spaces listed"
	expect "mock: space list table" 0 "^NAME +DIM +METRIC" -- vm space list "$M"
	json_ok "mock: space show --json" vm space show docs "$M" --json
	expect "mock: space default (set)" 0 "default space 'docs'" -- vm space default "$M/docs" docs
	json_ok "mock: space default --json" vm space default "$M/docs" --json
	[ "$(jq_ 'd["space"]')" = docs ] && pass "mock: space default reads back" || fail "mock: space default reads back"
	expect "mock: space drop without --yes off a terminal" 2 "without --yes" -- vm space drop l2s "$M" </dev/null
	expect "mock: put needs a space when several exist" 4 "no --space given.*spaces on $M: docs, l2s" -- \
		vm put "$M/c.txt" --vector "1 2 3"

	# every input format, read back through get --json --vectors
	python3 - "$VX" <<'EOF'
import struct, sys
d = sys.argv[1]
def npy(path, descr, shape, vals, fortran=False, fmt='<f'):
    hdr = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, 'True' if fortran else 'False', '(%s)' % ''.join('%d,' % s for s in shape) if len(shape) == 1 else str(tuple(shape)))
    pad = 64 - (10 + len(hdr) + 1) % 64
    hdr = hdr + ' ' * pad + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode())
        f.write(struct.pack(fmt[0] + '%d%s' % (len(vals), fmt[1]), *vals))
rows = [[1, 2, 3, 4], [0.5, -0.25, 8, 1e-3], [-1, 0, 0, 2]]
flat = [x for r in rows for x in r]
npy(d + '/m.npy', '<f4', (3, 4), flat)
npy(d + '/m64.npy', '<f8', (3, 4), flat, fmt='<d')
npy(d + '/mbe.npy', '>f4', (3, 4), flat, fmt='>f')
npy(d + '/mf.npy', '<f4', (3, 4), [rows[r][c] for c in range(4) for r in range(3)], fortran=True)
npy(d + '/v1.npy', '<f4', (4,), rows[0])
npy(d + '/bad3d.npy', '<f4', (1, 2, 2), rows[0])
npy(d + '/int.npy', '<i4', (4,), [1, 2, 3, 4], fmt='<i')
with open(d + '/m.fvecs', 'wb') as f:
    for r in rows:
        f.write(struct.pack('<i4f', 4, *r))
with open(d + '/m.f32', 'wb') as f:
    f.write(struct.pack('<12f', *flat))
with open(d + '/m5.f32', 'wb') as f:
    f.write(struct.pack('<5f', *flat[:5]))
with open(d + '/m.txt', 'w') as f:
    f.write('# three vectors\n1 2 3 4\n0.5, -0.25, 8, 1e-3\n-1 0 0 2\n')
with open(d + '/ragged.txt', 'w') as f:
    f.write('1 2 3 4\n1 2 3\n')
with open(d + '/nan.txt', 'w') as f:
    f.write('1 nan 3 4\n')
with open(d + '/want.txt', 'w') as f:
    f.write(repr(flat))
EOF
	CH="--chunk 0:4 --chunk 4:4 --chunk 8:4"
	check_vectors() { # NAME: the file's three chunks hold the rows of want.txt
		run vm get "$M/docs/a.txt" --space docs --vectors --json
		if [ "$RC" = 0 ] && python3 -c "
import json, sys
d = json.loads(sys.argv[1]); want = eval(open(sys.argv[2]).read())
got = [x for e in d['embeddings'] for x in e['vector']]
assert [e['offset'] for e in d['embeddings']] == [0, 4, 8], d
assert len(got) == len(want) and all(abs(a - b) <= 1e-6 * max(1, abs(b)) for a, b in zip(got, want)), (got, want)
" "$OUT" "$VX/want.txt" 2>"$VX/err"; then
			pass "$1"
		else
			OUT="$OUT$(cat "$VX/err")" fail "$1"
		fi
	}
	for f in m.npy m64.npy mbe.npy mf.npy m.fvecs m.f32 m.txt; do
		# shellcheck disable=SC2086
		expect "mock: put --from $f" 0 "replaced with 3 embeddings" -- \
			vm put "$M/docs/a.txt" $CH --from "$VX/$f" --replace
		check_vectors "mock: $f parsed exactly"
	done
	# shellcheck disable=SC2086
	expect "mock: put --vector with [[...]] rows" 0 "" -- vm put "$M/docs/a.txt" $CH --replace \
		--vector "[[1,2,3,4],[0.5,-0.25,8,1e-3],[-1,0,0,2]]"
	check_vectors "mock: --vector [[...]] parsed exactly"
	# shellcheck disable=SC2086
	expect "mock: put from standard input (raw float32)" 0 "" -- \
		sh -c "env VEXFS_MOCK_ROOT='$M' VEXFS_MOCK_STATE='$VX/mock.state' LD_PRELOAD='$PRE' '$V' put '$M/docs/a.txt' $CH --replace <'$VX/m.f32'"
	check_vectors "mock: raw float32 on standard input parsed exactly"
	# shellcheck disable=SC2086
	expect "mock: --from - with text" 0 "" -- \
		sh -c "env VEXFS_MOCK_ROOT='$M' VEXFS_MOCK_STATE='$VX/mock.state' LD_PRELOAD='$PRE' '$V' put '$M/docs/a.txt' $CH --replace --from - <'$VX/m.txt'"
	check_vectors "mock: text on standard input parsed exactly"
	expect "mock: 3-D .npy refused" 2 "at most 2 dimensions|1-D or 2-D" -- vm put "$M/docs/a.txt" --from "$VX/bad3d.npy"
	expect "mock: int32 .npy refused" 2 "dtype '<i4' is not supported" -- vm put "$M/docs/a.txt" --from "$VX/int.npy"
	expect "mock: ragged text refused" 2 "row 2 has 3 values" -- vm put "$M/docs/a.txt" --chunk 0:1 --chunk 1:1 --from "$VX/ragged.txt"
	expect "mock: NaN refused" 2 "not a finite" -- vm put "$M/docs/a.txt" --from "$VX/nan.txt"
	expect "mock: wrong dimension" 2 "vectors have 3 values, the space has dimension 4" -- vm put "$M/docs/a.txt" --vector "1 2 3"
	expect "mock: raw float32 not a multiple of dim" 2 "not a whole number of vectors" -- \
		vm put "$M/docs/a.txt" --from "$VX/m5.f32" --space l2s --chunk 0:1 --chunk 1:1
	expect "mock: vectors without chunks" 2 "give one --chunk" -- vm put "$M/docs/a.txt" --from "$VX/m.npy"
	expect "mock: chunk count mismatch" 2 "3 vectors for 2 chunks" -- vm put "$M/docs/a.txt" --from "$VX/m.npy" --chunk 0:1 --chunk 1:1
	expect "mock: space default of a subdirectory" 0 "default space 'docs'" -- vm space default "$M/docs/sub" docs
	expect "mock: 1-D .npy for one vector" 0 "added 1 embedding to space 'docs'" -- vm put "$M/docs/sub/b.txt" --from "$VX/v1.npy"
	expect "mock: duplicate chunk: exit 6" 6 "already has a whole-file embedding" -- vm put "$M/docs/sub/b.txt" --from "$VX/v1.npy"
	json_ok "mock: put --update --json" vm put "$M/docs/sub/b.txt" --vector "0 1 0 0" --update --json
	expect "mock: update of a missing chunk: exit 4" 4 "no embedding for 9:9" -- vm put "$M/docs/sub/b.txt" --chunk 9:9 --vector "1 1 1 1" --update
	json_ok "mock: get --json" vm get "$M/docs/a.txt" --json
	expect "mock: get table" 0 "3 embeddings in space 'docs'" -- vm get "$M/docs/a.txt"
	expect "mock: put with the directory's default space" 0 "to space 'docs'" -- vm put "$M/docs/sub/b.txt" --chunk 0:2 --vector "0 0 1 0"

	# search
	json_ok "mock: search --json" vm search "$M" --space docs --vector "1 2 3 4" -k 3 --json
	if python3 -c "
import json, sys
d = json.loads(sys.argv[1]); r = d['results']
assert [x['rank'] for x in r] == [1, 2, 3], r
assert r[0]['relpath'] == 'docs/a.txt' and r[0]['offset'] == 0 and r[0]['distance'] < 1e-6, r[0]
assert all(r[i]['distance'] <= r[i + 1]['distance'] for i in range(len(r) - 1)), r
assert r[0]['path'].endswith('/docs/a.txt')
" "$OUT" 2>"$VX/err"; then pass "mock: search results ordered, with paths and chunks"; else OUT="$OUT$(cat "$VX/err")" fail "mock: search results ordered, with paths and chunks"; fi
	expect "mock: search table" 0 "RANK +DISTANCE +PATH +CHUNK +STALE" -- vm search "$M/docs" --vector "1 2 3 4" -k 2
	expect "mock: search in a subdirectory is scoped" 0 "sub/b.txt" -- vm search "$M/docs/sub" --vector "1 2 3 4" -k 10
	! grep -q "a.txt" <<<"$OUT" && pass "mock: files outside the subdirectory are not returned" ||
		fail "mock: files outside the subdirectory are not returned"
	expect "mock: query with the wrong dimension" 2 "query: vectors have 2 values" -- vm search "$M/docs" --vector "1 2" -k 2
	expect "mock: search --from .npy" 0 "docs/a.txt" -- vm search "$M/docs" --from "$VX/v1.npy" -k 1
	expect "mock: query file with several vectors" 2 "one vector" -- vm search "$M/docs" --from "$VX/m.npy"
	json_ok "mock: similar --json" vm similar "$M/docs/sub/b.txt" -k 5 --json
	python3 -c "
import json, sys
d = json.loads(sys.argv[1])
assert d['results'] and all(not x['relpath'].endswith('b.txt') for x in d['results']), d
" "$OUT" 2>/dev/null && pass "mock: similar leaves the file itself out" || fail "mock: similar leaves the file itself out"
	sleep 0.02
	echo changed >>"$M/docs/a.txt"
	run vm search "$M/docs" --vector "1 2 3 4" -k 1
	grep -q "stale" <<<"$OUT" && pass "mock: a changed file's chunks are reported stale" ||
		fail "mock: a changed file's chunks are reported stale"
	run vm search "$M/docs" --vector "1 2 3 4" -k 10 --no-stale
	! grep -q "a.txt" <<<"$OUT" && pass "mock: --no-stale skips them" || fail "mock: --no-stale skips them"

	# rm
	expect "mock: rm one chunk" 0 "deleted 1 embedding" -- vm rm "$M/docs/a.txt" --chunk 4:4
	expect "mock: rm a missing chunk: exit 4" 4 "no embedding for that chunk" -- vm rm "$M/docs/a.txt" --chunk 4:4
	json_ok "mock: rm --json" vm rm "$M/docs/a.txt" --json
	[ "$(jq_ '"%d %d" % (d["deleted"], d["remaining"])')" = "2 0" ] &&
		pass "mock: rm deletes the rest" || fail "mock: rm deletes the rest"
	expect "mock: rm --all-spaces" 0 "every space" -- vm rm "$M/docs/sub/b.txt" --all-spaces

	# import
	python3 - "$VX" <<'EOF'
import random, struct, sys
d = sys.argv[1]; random.seed(7)
rows, lines = [], []
for i in range(300):
    rows.append([random.uniform(-1, 1) for _ in range(4)])
    lines.append('imp/d%d/f%02d.txt\t%d:10' % (i % 3, i % 30, (i // 30) * 10))
hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (300, 4), }"
hdr += ' ' * (64 - (10 + len(hdr) + 1) % 64) + '\n'
with open(d + '/imp.npy', 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode())
    f.write(struct.pack('<%df' % (300 * 4), *[x for r in rows for x in r]))
open(d + '/imp.list', 'w').write('\n'.join(lines) + '\n')
open(d + '/short.list', 'w').write('\n'.join(lines[:10]) + '\n')
EOF
	expect "mock: import without --create of missing files: exit 4" 4 "cannot open imp/" -- \
		vm import "$M" --vectors "$VX/imp.npy" --files "$VX/imp.list" --space docs
	json_ok "mock: import --create --batch 4 --json" vm import "$M" --vectors "$VX/imp.npy" \
		--files "$VX/imp.list" --space docs --create --batch 4 --json
	[ "$(jq_ '"%d %d %d" % (d["vectors"], d["files"], d["calls"])')" = "300 30 90" ] &&
		pass "mock: import stored 300 vectors in 30 files, 90 calls of at most 4" ||
		fail "mock: import stored 300 vectors in 30 files, 90 calls of at most 4"
	expect "mock: an imported file has its 10 chunks" 0 "10 embeddings in space 'docs'" -- \
		vm get "$M/imp/d0/f00.txt" --space docs
	expect "mock: import again: exit 6" 6 "use --replace" -- \
		vm import "$M" --vectors "$VX/imp.npy" --files "$VX/imp.list" --space docs --quiet
	expect "mock: import --replace" 0 "imported 300 vectors into 30 files" -- \
		vm import "$M" --vectors "$VX/imp.npy" --files "$VX/imp.list" --space docs --replace
	expect "mock: list and vectors disagree" 2 "has 10 lines but .* has 300 vectors" -- \
		vm import "$M" --vectors "$VX/imp.npy" --files "$VX/short.list" --space docs

	# index and status
	json_ok "mock: index stats --json" vm index stats "$M" --json
	json_ok "mock: index build --json" vm index build "$M" --space docs --json
	expect "mock: index build" 0 "indexed space 'docs'" -- vm index build "$M/docs"
	json_ok "mock: status --json" vm status "$M" --json
	[ "$(jq_ 'sum(s["vector_count"] for s in d["spaces"])')" = 300 ] &&
		pass "mock: status counts the vectors" || fail "mock: status counts the vectors"
	expect "mock: status table" 0 "SPACE +DIM +METRIC +VECTORS +INDEXED +PENDING +MEMORY +MODEL" -- vm status "$M"
	json_ok "mock: --json before the command" vm --json space list "$M"
	expect "mock: space set-ef" 0 "default search ef 100" -- vm space set-ef docs 100 "$M"
	json_ok "mock: space set-ef --json" vm space set-ef docs 80 "$M" --json
	[ "$(jq_ 'd["ef_search"], d["previous_ef_search"]')" = "80 100" ] &&
		pass "mock: space set-ef --json: new and previous ef" ||
		fail "mock: space set-ef --json: new and previous ef"
	json_ok "mock: space drop --yes --json" vm space drop l2s "$M" --yes --json
	[ "$(jq_ 'd["space"], d["dropped"]')" = "l2s True" ] &&
		pass "mock: space drop --json names the space" ||
		fail "mock: space drop --json names the space"
	expect "mock: space drop of a dropped space" 4 "does not exist" -- vm space drop l2s "$M" --yes
	expect "mock: space default --clear" 0 "no default space" -- vm space default "$M/docs" --clear

	# ---- automatic embeddings and text search, on a volume (and state) of their own
	A=$VX/avol
	mkdir -p "$A/docs/sub" "$A/docs/off/in" "$A/other" "$A/lib" "$VX/fakebin"
	for f in docs/a.txt docs/b.md docs/sub/c.txt docs/off/x.txt docs/off/in/y.txt other/o.txt; do
		echo "text of $f" >"$A/$f"
	done
	ln -s a.txt "$A/docs/link"
	mkfifo "$A/docs/fifo"
	# va [NAME=VALUE]... ARGS: vexctl on this volume, with the stand-ins below
	va() {
		local e=()
		while [[ $1 == *=* ]]; do e+=("$1"); shift; done
		env VEXFS_MOCK_ROOT="$A" VEXFS_MOCK_STATE="$VX/auto.state" LD_PRELOAD="$PRE" \
			VEXCTL_VEXFSD="$VX/fake-vexfsd" PATH="$VX/fakebin:$PATH" "${e[@]}" "$V" "$@"
	}
	# the sidecar's embedder: logs its arguments and input, answers (1, 2, 3, 4) as
	# little-endian float32 (or fails, or answers 3 values, or a NaN)
	cat >"$VX/fake-vexfsd" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >"$VX/vexfsd.args"
cat >"$VX/vexfsd.in"
case \${FAKE_VEXFSD:-} in
fail) echo "fake vexfsd: model \$3 is not loaded" >&2; exit 3 ;;
dim) printf '\000\000\200\077\000\000\200\077\000\000\200\077' ;;
nan) printf '\000\000\300\177\000\000\200\077\000\000\200\077\000\000\200\077' ;;
*) printf '\000\000\200\077\000\000\000\100\000\000\100\100\000\000\200\100' ;;
esac
EOF
	# pdftotext: the same text for any readable PDF
	cat >"$VX/fakebin/pdftotext" <<'EOF'
#!/bin/sh
[ "$1 $2 $4" = "-enc UTF-8 -" ] && [ -r "$3" ] || exit 99
printf 'Page one text.\n\fPinned   memory\nin the kernel.\n'
EOF
	chmod +x "$VX/fake-vexfsd" "$VX/fakebin/pdftotext"

	expect "auto: mock: space create" 0 "created space 'docs'" -- \
		va space create docs --dim 4 --metric cosine --model minilm --path "$A"
	expect "auto: mock: space without a model" 0 "created space 'bare'" -- va space create bare --dim 4 --path "$A"
	expect "auto: no policy yet" 0 "docs: no automatic embeddings$" -- va auto "$A/docs"
	expect "auto: unknown space: exit 4" 4 "space 'nope' does not exist on $A" -- va auto "$A/docs" --space nope
	expect "auto: a file is not a directory: exit 2" 2 "not a directory" -- va auto "$A/docs/a.txt"
	expect "auto --space" 0 "docs: automatic embeddings into space 'docs'$" -- va auto "$A/docs" --space docs
	expect "auto: a subdirectory inherits" 0 "sub: automatic embeddings into space 'docs' \(inherited\)" -- \
		va auto "$A/docs/sub"
	expect "auto --off" 0 "off: automatic embeddings off \(excluded here\)" -- va auto "$A/docs/off" --off
	expect "auto: a policy inside an excluded subtree" 0 "into space 'docs'$" -- va auto "$A/docs/off/in" --space docs
	json_ok "auto --json (inherited)" va auto "$A/docs/sub" --json
	[ "$(jq_ '"%s %s %s" % (d["space"], d["inherited"], d["off"])')" = "docs True False" ] &&
		pass "auto --json: space, inherited, off" || fail "auto --json: space, inherited, off"
	json_ok "auto --json (off)" va auto "$A/docs/off" --json
	[ "$(jq_ '"%s %s %s" % (d["space"], d["inherited"], d["off"])')" = "None False True" ] &&
		pass "auto --json of an excluded directory" || fail "auto --json of an excluded directory"
	expect "auto: the owner's ioctl on an old module: exit 3" 3 "does not support this ioctl" -- \
		va VEXFS_MOCK_NO_AUTO=25 auto "$A/docs"

	# --existing: every regular file under a policy, none in the excluded subtree,
	# not the symbolic link nor the FIFO
	expect "auto --existing" 0 "queued 4 existing files for embedding, skipped 1 in excluded subtrees$" -- \
		va auto "$A/docs" --existing
	json_ok "auto --existing --json" va auto "$A/docs" --existing --json
	[ "$(jq_ '"%d %d %d" % (d["existing"]["queued"], d["existing"]["excluded"], d["existing"]["failed"])')" = "4 1 0" ] &&
		pass "auto --existing --json counts" || fail "auto --existing --json counts"
	expect "auto --existing: a file that cannot be queued: exit 1" 1 \
		"sub/c.txt: not queued: Input/output error" -- va VEXFS_MOCK_MARK_FAIL=sub/c.txt auto "$A/docs" --existing
	grep -q "queued 3 existing files.*, 1 failed" <<<"$OUT" && pass "auto --existing counts the failure" ||
		fail "auto --existing counts the failure"
	expect "auto --existing without a policy: exit 4" 4 "other has no automatic-embedding policy" -- \
		va auto "$A/other" --existing
	expect "auto --space --existing" 0 "queued 1 existing file for embedding$" -- \
		va auto "$A/other" --space docs --existing

	# wait: the mock has no sidecar, so what is queued stays queued
	expect "wait: times out while files are queued: exit 8" 8 \
		"timed out after 0.3s: 5 files beneath $A still waiting to be embedded$" -- \
		va wait "$A" --timeout 0.3 --interval 20
	expect "wait: only beneath DIR" 8 "1 file beneath $A/docs/sub still" -- va wait "$A/docs/sub" --timeout 0.1
	expect "wait: until the queue drains" 0 "every file is embedded" -- \
		va VEXFS_MOCK_PENDING="3 0;2 0;1 0;0 0" wait "$A/docs" --interval 10
	! grep -q $'\r' <<<"$OUT" && pass "wait: no progress line off a terminal" ||
		fail "wait: no progress line off a terminal"
	json_ok "wait --space --json" va VEXFS_MOCK_PENDING="2 0;0 0" wait "$A/docs" --space docs --json --interval 10
	[ "$(jq_ '"%s %d %d %s" % (d["space"], d["stale"], d["failed"], d["timed_out"])')" = "docs 0 0 False" ] &&
		pass "wait --json counts" || fail "wait --json counts"
	expect "wait: files that could not be embedded: exit 7" 7 \
		"1 file beneath $A/docs could not be embedded" -- \
		va VEXFS_MOCK_PENDING="3 0;2 1;1 1" wait "$A/docs" --interval 10
	expect "wait: timeout with failures: exit 8" 8 "3 files beneath .* still waiting to be embedded \(1 failed\)" -- \
		va VEXFS_MOCK_PENDING="4 1" wait "$A/docs" --interval 10 --timeout 0.2
	expect "wait: unknown space: exit 4" 4 "space 'nope' does not exist" -- va wait "$A" --space nope
	if command -v script >/dev/null; then
		# shellcheck disable=SC2016
		run script -qec "$(printf '%q ' env VEXFS_MOCK_ROOT="$A" VEXFS_MOCK_STATE="$VX/auto.state" \
			LD_PRELOAD="$PRE" VEXFS_MOCK_PENDING="3 0;3 0;3 0;0 0" "$V" wait "$A" --interval 150)" /dev/null
		grep -q "waiting: 3 files to embed beneath" <<<"$OUT" && grep -q "every file is embedded" <<<"$OUT" &&
			pass "wait: a progress line on a terminal" || fail "wait: a progress line on a terminal"
	fi

	# status: the queue per space
	expect "status: automatic embeddings" 0 "5 files waiting to be embedded \(0 failed\)" -- va status "$A"
	grep -Eq "^SPACE +EMBEDDED +STALE +IN FLIGHT +FAILED +SIDECARS +LAST ERROR" <<<"$OUT" &&
		grep -Eq "^docs +0 +5 +0 +0 +0 +-$" <<<"$OUT" &&
		pass "status: the automatic-embedding table" || fail "status: the automatic-embedding table"
	expect "status: the last error" 0 "Input/output error: cannot extract text \(inode 42\)" -- \
		va VEXFS_MOCK_STATUS="5 1 2 1 5 42 cannot extract text" status "$A"
	json_ok "status --json with the last error" va VEXFS_MOCK_STATUS="5 1 2 1 5 42 cannot extract text" status "$A" --json
	[ "$(jq_ '"%(stale)d %(failed)d %(in_flight)d %(sidecars)d" % d["spaces"][0]["auto"] + " %(errno)d %(error)s|%(message)s|%(ino)d" % d["spaces"][0]["auto"]["last_error"]')" = \
		"5 1 2 1 5 Input/output error|cannot extract text|42" ] &&
		pass "status --json: the auto object" || fail "status --json: the auto object"
	for e in 25 22; do
		expect "status on a module without automatic embeddings ($e)" 0 \
			"Automatic embeddings: not supported by this VexFS module" -- va VEXFS_MOCK_NO_AUTO=$e status "$A"
		json_ok "status --json on a module without automatic embeddings ($e)" va VEXFS_MOCK_NO_AUTO=$e status "$A" --json
		[ "$(jq_ '[s["auto"] for s in d["spaces"]]')" = "[None, None]" ] &&
			pass "status --json: auto is null ($e)" || fail "status --json: auto is null ($e)"
	done
	expect "auto --clear" 0 "docs: no automatic embeddings$" -- va auto "$A/docs" --clear

	# text search: the query goes through the embedder, passages come from the files
	L=$A/lib
	printf 'The quick brown fox.\n\n   Memory   pinning\tis hard.\n' >"$L/a.txt"
	printf '%s' '<html><head><style>p{color:red}</style><script>var s = "<p>";</script></head><body><p class="x">Fish &amp; chips &lt;3 &quot;tasty&quot; &#39;ok&#39;&nbsp;&#x263A;</p><!-- hidden --><p>second</p></body></html>' >"$L/page.html"
	# a PDF is known by its magic, an HTML document by its name or its first tag
	printf '%%PDF-1.4 (the stand-in pdftotext does not read it)\n' >"$L/scan.dat"
	printf '<!DOCTYPE html><template><p>no</p></template><p>Sniffed &amp; stripped</p>\n' >"$L/note"
	python3 -c "print('long ' * 100)" >"$L/long.txt"
	echo "soon gone" >"$L/gone.txt"
	HTAG=$(grep -bo 'class=' "$L/page.html" | cut -d: -f1)
	for p in "a.txt 0:21 1,2,3,4" "a.txt 21:100 1,0,0,0" "page.html 20:1000 1,2,3,3.9" \
		"page.html $HTAG:40 1,2,3,3.7" "scan.dat 16:30 1,2,3,3.8" "long.txt 0:0 1,2,3,3.6" \
		"gone.txt 0:0 1,2,3,3.5" "note 0:100 1,2,3,3.4"; do
		read -r pf pc pv <<<"$p"
		va put "$L/$pf" --space docs --chunk "$pc" --vector "$pv" >/dev/null || fail "text search: put $p"
	done
	rm "$L/gone.txt"
	expect "search with a text query" 0 "RANK +DISTANCE +PATH +CHUNK +STALE +PASSAGE" -- \
		va search "$L" "how is memory pinned?" --space docs -k 10
	grep -Eq "^ +1 +0 +$L/a.txt +0:21 +- +The quick brown fox\.$" <<<"$OUT" &&
		pass "text search: the nearest passage first" || fail "text search: the nearest passage first"
	grep -q "Memory pinning is hard\.$" <<<"$OUT" && pass "text search: whitespace collapsed" ||
		fail "text search: whitespace collapsed"
	LONG=$(grep -o 'long long.*' <<<"$OUT")
	[ "${#LONG}" -le 160 ] && [ "${#LONG}" -ge 150 ] && [ "${LONG: -3}" = ... ] &&
		pass "text search: long passages shortened to 160 characters" ||
		fail "text search: long passages shortened to 160 characters" "${#LONG}: $LONG"
	[ "$(cat "$VX/vexfsd.args")" = "embed --expect-model minilm --format f32" ] &&
		[ "$(cat "$VX/vexfsd.in")" = "how is memory pinned?" ] &&
		pass "text search: vexfsd embed --expect-model MODEL --format f32, the query on its input" ||
		fail "text search: vexfsd embed --expect-model MODEL --format f32, the query on its input" \
			"$(cat "$VX/vexfsd.args" "$VX/vexfsd.in")"
	json_ok "search --json with a text query" va search "$L" "fish" --space docs -k 10 --json
	if python3 -c "
import json, sys
d = json.loads(sys.argv[1]); htag = int(sys.argv[2])
assert d['query'] == 'fish', d
got = {(r['relpath'], r['offset']): r.get('passage') for r in d['results']}
want = {('a.txt', 0): 'The quick brown fox.',
        ('a.txt', 21): 'Memory pinning is hard.',
        ('page.html', 20): 'Fish & chips <3 \"tasty\" \'ok\' \u263a second',
        ('page.html', htag): 'Fish & chips <3 \"t',
        ('scan.dat', 16): 'Pinned memory in the kernel.',
        ('note', 0): 'Sniffed & stripped',
        ('long.txt', 0): ' '.join(['long'] * 100),
        ('gone.txt', 0): None}
assert got == want, (got, want)
assert 'passage' not in [r for r in d['results'] if r['relpath'] == 'gone.txt'][0]
" "$OUT" "$HTAG" 2>"$VX/err"; then
		pass "text search --json: passages (text, HTML stripped and decoded, PDF text, whole, unreadable omitted)"
	else
		OUT="$OUT$(cat "$VX/err")" fail "text search --json: passages (text, HTML stripped and decoded, PDF text, whole, unreadable omitted)"
	fi
	expect "text search: unknown space: exit 4" 4 "space 'nope' does not exist" -- va search "$L" "fish" --space nope
	expect "text search: a space without a model: exit 2" 2 "space 'bare' records no model" -- \
		va search "$L" "fish" --space bare
	expect "text search: the embedder fails: exit 1" 1 "failed \(exit status 3\)" -- \
		va FAKE_VEXFSD=fail search "$L" "fish" --space docs
	grep -q "fake vexfsd: model minilm is not loaded" <<<"$OUT" &&
		pass "text search: the embedder's messages are passed through" ||
		fail "text search: the embedder's messages are passed through"
	expect "text search: dimension mismatch: exit 1" 1 \
		"dimension mismatch: .* returned a vector of 3 values for model 'minilm', but space 'docs' has dimension 4" -- \
		va FAKE_VEXFSD=dim search "$L" "fish" --space docs
	expect "text search: a NaN from the embedder: exit 1" 1 "unusable vector: value 0 is not finite" -- \
		va FAKE_VEXFSD=nan search "$L" "fish" --space docs
	expect "text search: no embedder: exit 1" 1 "cannot run '$VX/missing-vexfsd': No such file" -- \
		va VEXCTL_VEXFSD="$VX/missing-vexfsd" search "$L" "fish" --space docs
	expect "text search: vexfsd from PATH by default" 1 "cannot run 'vexfsd'" -- \
		va VEXCTL_VEXFSD= PATH=/nonexistent search "$L" "fish" --space docs
fi

if [ -z "${VEXCTL_SOURCED:-}" ]; then
	echo "$P passed, $F failed"
	[ "$F" = 0 ]
fi
