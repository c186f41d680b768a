#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Crash tests: cut the guest's power in the middle of a write- and fsync-heavy
# workload, boot again on the same disk image, check that fsck is clean before
# mounting, and verify every fsync'd file byte for byte.  Runs on the HOST.
#
#   tests/vm/crash_test.sh [--iterations N] [--kernel K] [--seed S]
#                          [--size SIZE] [--dirsync] [--keep] [--workdir DIR]
#
# Each iteration boots twice (scripts/vm-exec):
#   1. mkfs (first iteration only), mount, tests/vm/crash_workload.py run:
#      a workload that logs every durability promise to a second raw disk
#      (the "log disk", O_DIRECT|O_DSYNC) and a thread that cuts the power
#      (sysrq b) after a random delay.  vm-exec must exit 200 (power cut).
#   2. tests/vm/crash_workload.py verify: fsck.vexfs -n before mounting,
#      mount, check every logged promise, read everything, umount, fsck.
# The state carries over from iteration to iteration (the same image).  The
# last iteration runs the workload with no fsync at all (--mode nosync) and
# only checks that the volume mounts, reads and checks clean.
#
# Prints PASS:/FAIL: lines and a final `N passed, M failed`; exits 1 if
# anything failed.  Images of a failed run are kept (path printed).
set -u

repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
vm_exec=$repo/scripts/vm-exec
iterations=${CRASH_ITERATIONS:-6}
kernel=6.1
seed=${CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
size=1G
dirsync=
keep=0
workdir=

while [ $# -gt 0 ]; do
	case $1 in
	--iterations) iterations=$2 && shift 2 ;;
	--kernel) kernel=$2 && shift 2 ;;
	--seed) seed=$2 && shift 2 ;;
	--size) size=$2 && shift 2 ;;
	--dirsync) dirsync=--dirsync && shift ;;
	--keep) keep=1 && shift ;;
	--workdir) workdir=$2 && shift 2 ;;
	-h | --help)
		sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "crash_test: unknown option $1" >&2
		exit 2
		;;
	esac
done
if ! [[ $iterations =~ ^[0-9]+$ ]] || [ "$iterations" -lt 1 ]; then
	echo "crash_test: --iterations must be >= 1" >&2
	exit 2
fi

if [ -z "$workdir" ]; then
	workdir=$(mktemp -d "${TMPDIR:-/var/tmp}/vexfs-crash.XXXXXX")
else
	mkdir -p "$workdir"
fi
img=$workdir/disk.img
logimg=$workdir/log.img
rm -f "$img" "$logimg"
truncate -s "$size" "$img"
truncate -s 64M "$logimg"

passed=0
failed=0
pass() {
	echo "PASS: $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}
# Count the guest's PASS:/FAIL: lines in FILE.
count_guest() {
	local p f
	p=$(grep -c '^PASS: ' "$1")
	f=$(grep -c '^FAIL: ' "$1")
	passed=$((passed + p))
	failed=$((failed + f))
}

echo "crash_test: $iterations iterations, kernel $kernel, seed $seed, images in $workdir"
t_start=$(date +%s)
out=$workdir/out
for ((i = 1; i <= iterations; i++)); do
	mode=fsync
	[ "$i" -eq "$iterations" ] && [ "$iterations" -gt 1 ] && mode=nosync
	iseed=$((seed + i * 7919))
	# delays spread over 0.3 .. ~12 s, including very early cuts
	RANDOM=$iseed
	r1=$RANDOM r2=$RANDOM
	if [ "$mode" = nosync ]; then
		# let plenty of unsynced data pile up first
		ms=$((3000 + r2 % 6000))
		delay=$((ms / 1000)).$(printf '%03d' $((ms % 1000)))
	elif [ $((r1 % 100)) -lt 15 ]; then
		delay=$(printf '0.%03d' $((300 + r2 % 700)))
	else
		ms=$((1000 + r2 % 11000))
		delay=$((ms / 1000)).$(printf '%03d' $((ms % 1000)))
	fi
	mkfs=
	[ "$i" -eq 1 ] && mkfs=--mkfs
	echo "== iteration $i: mode=$mode delay=${delay}s seed=$iseed"

	t0=$(date +%s)
	"$vm_exec" --kernel "$kernel" --disk "$img" --disk "$logimg" --timeout 300 -- \
		python3 tests/vm/crash_workload.py run --iter "$i" $mkfs --seed "$iseed" \
		--delay "$delay" --mode "$mode" $dirsync >"$out" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL): |^crash_iter|vexfs' "$out" | tail -n 30
	count_guest "$out"
	case $rc in
	200) pass "crash_iter${i}_power_cut (after ${delay}s, boot $(($(date +%s) - t0))s)" ;;
	201) fail "crash_iter${i}_power_cut: the guest kernel logged a problem during the workload:" &&
		grep -iE 'vm-exec|warning|bug|oops' "$out" | tail -n 20 ;;
	*) fail "crash_iter${i}_power_cut: vm-exec exited $rc instead of 200 (power cut)" &&
		tail -n 20 "$out" ;;
	esac

	t0=$(date +%s)
	"$vm_exec" --kernel "$kernel" --disk "$img" --disk "$logimg" --timeout 600 -- \
		python3 tests/vm/crash_workload.py verify --iter "$i" >"$out" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL): ' "$out"
	count_guest "$out"
	case $rc in
	0 | 1) ;;
	201) fail "crash_iter${i}_verify_boot: the guest kernel logged a problem during verify:" &&
		grep -iE 'vm-exec|warning|bug|oops' "$out" | tail -n 20 ;;
	*) fail "crash_iter${i}_verify_boot: vm-exec exited $rc" && tail -n 20 "$out" ;;
	esac
	if [ "$rc" = 1 ] || [ "$rc" -ge 2 ]; then
		grep -E 'vexfs|vm-exec' "$out" | tail -n 20
	fi
	echo "   (verify boot $(($(date +%s) - t0))s)"
done

echo "crash_test: $(($(date +%s) - t_start))s, seed $seed"
if [ "$failed" -eq 0 ] && [ "$keep" = 0 ]; then
	rm -rf "$workdir"
else
	echo "crash_test: images kept in $workdir (disk.img, log.img)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
