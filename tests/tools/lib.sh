# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Sourced first by tests/tools/test-tools.sh and tests/tools/test-vexctl.sh (when that
# runs on its own): the setup and helpers both share.
#
#   TMP_NAME=name; . "$(dirname "$0")/lib.sh"
#
# Reads the caller's arguments (-k: keep the temporary directory) and TMP_NAME (the
# temporary directory's name).  Sets ROOT, BIN, KEEP, T (a fresh temporary directory,
# removed at exit unless -k), the counters P and F, and the helpers below.

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034  # used by the scripts that source this
BIN=$ROOT/build/bin
KEEP=0
[ "${1:-}" = -k ] && KEEP=1

T=$(mktemp -d "${TMPDIR:-/tmp}/$TMP_NAME.XXXXXX")
cleanup() { if [ "$KEEP" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi; }
trap cleanup EXIT

# pass() always succeeds, so "cond && pass || fail" is a safe if-then-else.
P=0
F=0
pass() { echo "PASS: $1"; P=$((P + 1)); }
fail() {
	echo "FAIL: $1${2:+ -- $2}"
	F=$((F + 1))
	if [ -n "${OUT:-}" ]; then printf '%s\n' "$OUT" | head -20 | sed 's/^/    | /'; fi
}

# run CMD...: sets OUT (stdout+stderr) and RC
run() {
	OUT=$("$@" 2>&1)
	RC=$?
}
# expect NAME RC [REGEX] -- CMD...: exit status RC and output matching REGEX
expect() {
	local name=$1 want=$2 re=""
	shift 2
	if [ "$1" != -- ]; then re=$1; shift; fi
	shift
	run "$@"
	if [ "$RC" != "$want" ]; then
		fail "$name" "exit status $RC, expected $want"
	elif [ -n "$re" ] && ! grep -Eq -- "$re" <<<"$OUT"; then
		fail "$name" "output does not match /$re/"
	else
		pass "$name"
	fi
}
