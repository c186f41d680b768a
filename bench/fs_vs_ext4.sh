#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark: VexFS vs ext4 on identical virtual disks in ONE guest run.
# fio sequential write/read of 1 GiB, 4 KiB random read/write, and
# create/stat/unlink of N empty files in one directory.  Reports ratios
# (vexfs / ext4, higher is better for vexfs).  Not a test: no assertions.
#
#   bench/fs_vs_ext4.sh [--files N] [--kernel 6.1|6.12]
# Writes bench/results/fs-vs-ext4-<kernel>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=100000
KERNEL=6.1
while [ $# -gt 0 ]; do
	case $1 in
	--files) FILES=$2; shift 2 ;;
	--kernel) KERNEL=$2; shift 2 ;;
	*) echo "usage: $0 [--files N] [--kernel 6.1|6.12]" >&2; exit 2 ;;
	esac
done
mkdir -p bench/results build/bench
out=build/bench/share
rm -rf "$out"; mkdir -p "$out"
scripts/vm-exec --kernel "$KERNEL" --disk 4G --disk 4G --mem 2048 --timeout 5400 \
	--share "$out" -- python3 bench/fs_bench_guest.py --files "$FILES"
res=bench/results/fs-vs-ext4-$KERNEL.md
{
	echo "# VexFS vs ext4 ($KERNEL guest, QEMU TCG, $(date -u +%Y-%m-%d))"
	echo
	echo "Command: \`bench/fs_vs_ext4.sh --files $FILES --kernel $KERNEL\`"
	echo
	cat "$out/results.md"
} >"$res"
cat "$res"
