#!/bin/bash
# Tests of the QEMU harness itself (scripts/vm-exec).
#
#   tests/vm/harness-test.sh [CHECK...]
#
# Runs every check (or only the named ones) and prints `PASS: name` /
# `FAIL: name` for each, then `N passed, M failed`; exits non-zero if any
# failed.  Uses VM_NO_BUILD=1 unless the repo has module sources (kmod/*.c),
# in which case the first check builds and loads vexfs.ko (SKIP if the
# project does not build yet, FAIL if the module does not load); the other
# checks then fall back to VM_NO_BUILD=1 unless it loaded.  An explicit VM_NO_BUILD in
# the environment is respected.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
VM=$REPO/scripts/vm-exec
T=$(mktemp -d "${TMPDIR:-/tmp}/vexfs-harness-test.XXXXXX")
trap 'rm -rf "$T"' EXIT

passed=0
failed=0
skipped=0
only=("$@")

selected() {
	[ ${#only[@]} -eq 0 ] && return 0
	local o
	for o in "${only[@]}"; do [ "$o" = "$1" ] && return 0; done
	return 1
}

# run NAME FUNCTION: FUNCTION returns 0 on success; its output is kept in
# $T/NAME.out and shown on failure.
run() {
	local name=$1 fn=$2 t0 rc
	selected "$name" || return 0
	t0=$EPOCHREALTIME
	"$fn" >"$T/$name.out" 2>&1
	rc=$?
	local dt
	dt=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	if [ $rc = 0 ]; then
		echo "PASS: $name (${dt}s)"
		passed=$((passed + 1))
	elif [ $rc = 77 ]; then
		echo "SKIP: $name ($(tail -n1 "$T/$name.out"))"
		skipped=$((skipped + 1))
	else
		echo "FAIL: $name (${dt}s)"
		sed 's/^/    /' "$T/$name.out" | tail -n 60
		failed=$((failed + 1))
	fi
}

# Expect helpers: print what went wrong and fail.
want_rc() { # EXPECTED ACTUAL WHAT
	if [ "$1" != "$2" ]; then
		echo "expected exit status $1, got $2 ($3)"
		return 1
	fi
}
want_grep() { # PATTERN FILE WHAT
	if ! grep -qE -- "$1" "$2"; then
		echo "missing /$1/ in $3:"
		sed 's/^/  > /' "$2" | tail -n 40
		return 1
	fi
}

if [ -z "${VM_NO_BUILD+set}" ]; then
	if compgen -G "$REPO/kmod/*.c" >/dev/null; then
		export VM_NO_BUILD=0
	else
		export VM_NO_BUILD=1
	fi
fi

# ---------------------------------------------------------------- checks

t_module_load() {
	local rc
	"$VM" -- sh -c 'lsmod | grep -E "^(vexfs|libcrc32c) "; echo "VM_MODULE=$VM_MODULE"' \
		>"$T/mod.out" 2>"$T/mod.err"
	rc=$?
	cat "$T/mod.err"
	if [ $rc = 203 ] && grep -q 'build failed' "$T/mod.err"; then
		# Someone else's code does not build (yet): not a harness failure.
		echo "the project does not build yet"
		return 77
	fi
	want_rc 0 $rc "module build+load" &&
		want_grep '^vexfs ' "$T/mod.out" "lsmod output"
}

t_exit_status() {
	local rc
	"$VM" -- sh -c 'exit 7' >"$T/exit.out" 2>"$T/exit.err"
	rc=$?
	cat "$T/exit.err"
	want_rc 7 $rc "sh -c 'exit 7'" || return 1
	"$VM" -- true >/dev/null 2>"$T/exit.err"
	rc=$?
	cat "$T/exit.err"
	want_rc 0 $rc "true"
}

t_streaming() {
	# Lines must reach our stdout while the command still runs, and stdout
	# and stderr must stay separate.
	local rc first last
	"$VM" -- bash -c 'echo out-1; echo err-1 >&2; sleep 3; echo out-2; echo err-2 >&2' \
		2>"$T/stream.err" | while IFS= read -r line; do
		printf '%s %s\n' "$(date +%s.%N)" "$line"
	done >"$T/stream.out"
	rc=${PIPESTATUS[0]}
	cat "$T/stream.err"
	want_rc 0 "$rc" "streaming command" || return 1
	want_grep ' out-1$' "$T/stream.out" stdout || return 1
	want_grep ' out-2$' "$T/stream.out" stdout || return 1
	want_grep '^err-1$' "$T/stream.err" stderr || return 1
	want_grep '^err-2$' "$T/stream.err" stderr || return 1
	if grep -q err- "$T/stream.out" || grep -q '^out-' "$T/stream.err"; then
		echo "stdout and stderr mixed up"
		return 1
	fi
	first=$(awk '/ out-1$/ {print $1}' "$T/stream.out")
	last=$(awk '/ out-2$/ {print $1}' "$T/stream.out")
	if ! awk -v a="$first" -v b="$last" 'BEGIN { exit !(b - a >= 2) }'; then
		echo "out-1 arrived at $first, out-2 at $last: output was not streamed live"
		return 1
	fi
}

t_disks() {
	local rc
	"$VM" --disk 300M --disk 1G -- bash -c '
		set -- $VM_DISKS
		echo "count $#"
		for d; do echo "size $d $(blockdev --getsize64 "$d")"; done' \
		>"$T/disks.out" 2>"$T/disks.err"
	rc=$?
	cat "$T/disks.err"
	want_rc 0 $rc "disk listing" || return 1
	want_grep '^count 2$' "$T/disks.out" "VM_DISKS" || return 1
	mapfile -t sizes < <(awk '/^size/ {print $3}' "$T/disks.out")
	if [ "${sizes[0]:-}" != $((300 << 20)) ] || [ "${sizes[1]:-}" != $((1 << 30)) ]; then
		echo "wrong sizes/order:"
		cat "$T/disks.out"
		return 1
	fi
	# default: one blank 1 GiB disk
	"$VM" -- bash -c 'set -- $VM_DISKS; echo "count $#"; blockdev --getsize64 $1' \
		>"$T/disks1.out" 2>"$T/disks.err"
	rc=$?
	cat "$T/disks.err"
	want_rc 0 $rc "default disk" || return 1
	want_grep '^count 1$' "$T/disks1.out" "default VM_DISKS" &&
		want_grep "^$((1 << 30))\$" "$T/disks1.out" "default disk size"
}

t_share() {
	local rc d=$T/share
	mkdir -p "$d/sub"
	echo from-host >"$d/sub/in.txt"
	echo remove-me >"$d/gone.txt"
	"$VM" --share "$d" -- bash -c '
		set -e
		[ "$VM_SHARE" = /share ]
		grep -qx from-host /share/sub/in.txt
		echo from-guest >/share/out.txt
		mkdir -p /share/new/deeper && echo deep >/share/new/deeper/f
		rm /share/gone.txt' >"$T/share.out" 2>&1
	rc=$?
	cat "$T/share.out"
	want_rc 0 $rc "share command" || return 1
	[ "$(cat "$d/out.txt" 2>/dev/null)" = from-guest ] || {
		echo "out.txt not copied back"
		ls -lR "$d"
		return 1
	}
	[ "$(cat "$d/new/deeper/f" 2>/dev/null)" = deep ] || {
		echo "new/deeper/f not copied back"
		return 1
	}
	[ ! -e "$d/gone.txt" ] || {
		echo "gone.txt deleted in the guest but still on the host"
		return 1
	}
	[ "$(cat "$d/sub/in.txt")" = from-host ] || return 1
	[ ! -e "$d/lost+found" ] || {
		echo "lost+found leaked into the share"
		return 1
	}
}

t_disk_file_persists() {
	local rc img=$T/persist.img
	truncate -s 256M "$img"
	"$VM" --disk "$img" -- bash -c '
		set -e
		mkfs.ext4 -q -F "$VM_DISKS"
		mkdir -p /mnt/t && mount "$VM_DISKS" /mnt/t
		echo boot-one >/mnt/t/marker
		umount /mnt/t' >"$T/p1.out" 2>&1
	rc=$?
	cat "$T/p1.out"
	want_rc 0 $rc "first boot" || return 1
	"$VM" --disk "$img" -- bash -c '
		set -e
		mkdir -p /mnt/t && mount "$VM_DISKS" /mnt/t
		cat /mnt/t/marker' >"$T/p2.out" 2>&1
	rc=$?
	cat "$T/p2.out"
	want_rc 0 $rc "second boot" &&
		want_grep '^boot-one$' "$T/p2.out" "second boot output"
}

t_power_cut() {
	local rc img=$T/cut.img
	truncate -s 256M "$img"
	"$VM" --disk "$img" -- bash -c '
		set -e
		mkfs.ext4 -q -F "$VM_DISKS"
		mkdir -p /mnt/t && mount "$VM_DISKS" /mnt/t
		echo acknowledged >/mnt/t/synced
		python3 -c "import os; f=os.open(\"/mnt/t/synced\", os.O_RDONLY); os.fsync(f); d=os.open(\"/mnt/t\", os.O_RDONLY); os.fsync(d)"
		echo synced
		echo b >/proc/sysrq-trigger
		sleep 30
		echo after-power-cut' >"$T/cut.out" 2>"$T/cut.err"
	rc=$?
	cat "$T/cut.out" "$T/cut.err"
	want_rc 200 $rc "power cut via sysrq b" || return 1
	want_grep 'guest stopped without reporting a status \(power cut\?\)' "$T/cut.err" stderr || return 1
	want_grep '^synced$' "$T/cut.out" stdout || return 1
	if grep -q after-power-cut "$T/cut.out"; then
		echo "command kept running after the power cut"
		return 1
	fi
	"$VM" --disk "$img" -- bash -c '
		set -e
		mkdir -p /mnt/t && mount "$VM_DISKS" /mnt/t
		cat /mnt/t/synced' >"$T/cut2.out" 2>&1
	rc=$?
	cat "$T/cut2.out"
	want_rc 0 $rc "boot after power cut" &&
		want_grep '^acknowledged$' "$T/cut2.out" "data fsynced before the cut"
}

t_kernel_warning() {
	# A real WARN_ON from a tiny out-of-tree module (needs linux-headers,
	# which scripts/install-deps provides); falls back to a log line.
	local rc rel d=$T/warn
	mkdir -p "$d/src" "$d/share"
	rel=$(. "$REPO/scripts/vm/lib.sh" && vm_resolve_kernel 6.1)
	cat >"$d/src/warnme.c" <<'EOF'
#include <linux/module.h>
#include <linux/kernel.h>
static int __init warnme_init(void)
{
	pr_info("harness-test: triggering WARN_ON\n");
	WARN_ON(1);
	return 0;
}
static void __exit warnme_exit(void) {}
module_init(warnme_init);
module_exit(warnme_exit);
MODULE_LICENSE("GPL");
EOF
	echo 'obj-m := warnme.o' >"$d/src/Kbuild"
	if [ -d "/lib/modules/$rel/build" ] &&
		make -s -C "/lib/modules/$rel/build" M="$d/src" modules >"$d/build.log" 2>&1; then
		cp "$d/src/warnme.ko" "$d/share/"
		cmd='insmod /share/warnme.ko; echo "insmod status $?"'
	else
		echo "(no kernel headers for $rel: using a synthetic WARNING log line)"
		cmd='echo "WARNING: CPU: 0 PID: 1 at harness-test synthetic" >/dev/kmsg'
	fi
	"$VM" --share "$d/share" -- sh -c "$cmd" >"$T/warn.out" 2>"$T/warn.err"
	rc=$?
	cat "$T/warn.out" "$T/warn.err"
	want_rc 201 $rc "kernel WARNING" || return 1
	want_grep 'guest kernel reported a problem: .*WARNING' "$T/warn.err" stderr || return 1
	want_grep '\| .*WARNING: CPU' "$T/warn.err" "offending log lines" || return 1
	want_grep 'full guest kernel log: ' "$T/warn.err" stderr || return 1
	local log
	log=$(sed -n 's/.*full guest kernel log: //p' "$T/warn.err" | tail -n1)
	[ -f "$log" ] || {
		echo "log file $log missing"
		return 1
	}
	want_grep 'WARNING: CPU' "$log" "kept kernel log"
}

t_kernel_panic() {
	local rc
	"$VM" -- sh -c 'echo before-panic; echo c >/proc/sysrq-trigger; sleep 30' \
		>"$T/panic.out" 2>"$T/panic.err"
	rc=$?
	cat "$T/panic.out" "$T/panic.err"
	want_rc 201 $rc "sysrq c" || return 1
	want_grep 'guest kernel reported a problem: .*panic' "$T/panic.err" stderr &&
		want_grep 'Kernel panic' "$T/panic.err" "offending log lines"
}

t_timeout() {
	local rc t0 t1
	t0=$(date +%s)
	"$VM" --timeout 20 -- sh -c 'echo started; sleep 300' >"$T/to.out" 2>"$T/to.err"
	rc=$?
	t1=$(date +%s)
	cat "$T/to.out" "$T/to.err"
	want_rc 202 $rc "--timeout 20" || return 1
	want_grep '^started$' "$T/to.out" stdout || return 1
	want_grep 'timeout' "$T/to.err" stderr || return 1
	if [ $((t1 - t0)) -gt 60 ]; then
		echo "took $((t1 - t0)) s for a 20 s timeout"
		return 1
	fi
	local log
	log=$(sed -n 's/.*full guest kernel log: //p' "$T/to.err" | tail -n1)
	want_grep '^# vm-exec: qemu exit -9' "$log" "log trailer (QEMU killed)"
}

t_kernel_612() {
	local rc
	"$VM" --kernel 6.12 -- uname -r >"$T/612.out" 2>"$T/612.err"
	rc=$?
	cat "$T/612.out" "$T/612.err"
	want_rc 0 $rc "--kernel 6.12" &&
		want_grep '^6\.12\.[0-9]+.*-cloud-amd64$' "$T/612.out" "uname -r"
}

t_usage_errors() {
	local rc
	"$VM" >/dev/null 2>"$T/usage.err"
	rc=$?
	want_rc 203 $rc "no command" || return 1
	"$VM" --bogus -- true >/dev/null 2>"$T/usage.err"
	rc=$?
	want_rc 203 $rc "unknown option" || return 1
	"$VM" --disk /nonexistent/file.img -- true >/dev/null 2>"$T/usage.err"
	rc=$?
	want_rc 203 $rc "missing disk file" &&
		want_grep 'neither a size' "$T/usage.err" stderr
}

# ---------------------------------------------------------------- main

echo "harness-test: repo $REPO, VM_NO_BUILD=$VM_NO_BUILD"
if [ "$VM_NO_BUILD" = 0 ]; then
	run module_build_and_load t_module_load
	if [ ! -s "$T/mod.out" ] || ! grep -q '^vexfs ' "$T/mod.out" 2>/dev/null; then
		echo "harness-test: module unusable; remaining checks use VM_NO_BUILD=1"
		export VM_NO_BUILD=1
	fi
fi
run usage_errors t_usage_errors
run exit_status t_exit_status
run stdout_streaming t_streaming
run vm_disks t_disks
run share_round_trip t_share
run disk_file_persists t_disk_file_persists
run power_cut t_power_cut
run kernel_warning_detected t_kernel_warning
run kernel_panic_detected t_kernel_panic
run timeout t_timeout
run kernel_6_12 t_kernel_612

if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
