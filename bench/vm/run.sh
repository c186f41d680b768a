#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Kernel overhead of vector search: inside one QEMU guest, the same data is
# searched through the VECTOR_SEARCH ioctl (vexfs.ko) and by the same core
# compiled in userspace (bench/ann/ann_bench).  Both run under TCG, so only
# their ratio means anything.  Writes bench/results/vm-search-<date>.md.
#
#   bench/vm/run.sh [--n 20000] [--dim 128] [--queries 200] [--kernel 6.1]
#   bench/vm/run.sh --report LOG [same options]   only rewrite the page from a log
set -eu
cd "$(dirname "$0")/../.."
n=20000 dim=128 nq=200 kernel=6.1 k=10 efs=10,20,40,80,160 m=16 efc=200 log=
while [ $# -gt 0 ]; do
	case $1 in
	--n) n=$2 && shift 2 ;;
	--dim) dim=$2 && shift 2 ;;
	--queries) nq=$2 && shift 2 ;;
	--kernel) kernel=$2 && shift 2 ;;
	--report) log=$2 && shift 2 ;;
	*) echo "usage: $0 [--n N] [--dim D] [--queries Q] [--kernel K] [--report LOG]" >&2 && exit 2 ;;
	esac
done

run_vm() {
	local data size
	make -s tools
	data=$(mktemp -d /var/tmp/vexfs-vmbench.XXXXXX)
	# The binaries travel with the data (the guest sees build/bin only), and
	# are portable: the guest's CPU (QEMU -cpu max) is not the host's.
	gcc -std=gnu11 -O3 -g -Icore -Iinclude -D_GNU_SOURCE -o "$data/ann_bench" \
		bench/ann/ann_bench.c core/vx_index.c core/vx_hnsw.c core/vx_distance.c \
		core/vx_distance_simd.c core/platform/vx_user.c -lm -lpthread
	gcc -std=gnu11 -O2 -g -Iinclude -Iinclude/uapi -o "$data/ioctl_search" \
		bench/vm/ioctl_search.c build/lib/libvexfs.a
	python3 bench/vm/gen.py "$data" "$n" "$dim" "$nq"
	size=$(((n * dim * 4 * 3) / 1048576 + 512))M
	# the log stays outside the shared directory, which vm-exec mirrors back
	scripts/vm-exec --kernel "$kernel" --disk "$size" --mem 3072 --share "$data" \
		--timeout 5400 -- bash bench/vm/guest.sh /share "$k" "$efs" "$m" "$efc" | tee "$log"
	rm -rf "$data"
}

if [ -z "$log" ]; then
	mkdir -p build/bench
	log=build/bench/vm-search-$(date +%Y%m%d-%H%M%S).log
	run_vm
fi
res=bench/results/vm-search-$(date +%Y-%m-%d).md
{
	echo "# Kernel overhead of vector search ($(date +%Y-%m-%d))"
	echo
	echo "One QEMU TCG guest (kernel $kernel, 2 vCPUs sharing one TCG thread), $n x $dim float32"
	echo "clustered (bench/vm/gen.py), $nq queries, k=$k, M=$m, ef_construction=$efc, single thread."
	echo "The same core searches the same data through the VECTOR_SEARCH ioctl and natively in"
	echo "userspace in the same guest; absolute times are TCG's, only the ratios mean anything."
	echo "Recall: the ioctl's HNSW search against the ioctl's exact search; userspace: against its"
	echo "own exact search."
	echo
	echo "Command: \`bench/vm/run.sh --n $n --dim $dim --queries $nq --kernel $kernel\`"
	echo
	echo '```'
	grep -E '^(==|kernel:|ioctl|build:|exact|ef |data:)' "$log" || true
	echo '```'
	echo
	echo "| ef | ioctl QPS | userspace QPS | ioctl / userspace | ioctl recall | userspace recall |"
	echo "|---|---|---|---|---|---|"
	python3 - "$log" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
k = {int(a): (float(b), float(c)) for a, b, c in re.findall(r"ioctl ef +(\d+): recall@\d+ ([\d.]+), +([\d.]+) QPS", t)}
u = {int(a): (float(b), float(c)) for a, b, c in re.findall(r"^ef +(\d+): recall@\d+ ([\d.]+), +([\d.]+) QPS", t, re.M)}
for ef in sorted(k):
    if ef in u:
        print(f"| {ef} | {k[ef][1]:.0f} | {u[ef][1]:.0f} | {k[ef][1] / u[ef][1]:.2f}x | {k[ef][0]:.3f} | {u[ef][0]:.3f} |")
PY
} >"$res"
echo "wrote $res (log $log)"
