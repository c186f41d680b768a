#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# End-to-end automatic-embedding ingest vs the same backend embedding the same
# chunks directly, side by side in one QEMU guest (bench/auto/guest.py).  Both
# run under TCG, so only their ratio means anything.  Writes
# bench/results/auto-ingest-<date>-<time>-<backend>.md.
#
#   bench/auto/run.sh [--backend minilm|builtin] [--files N] [--kb K] [--rounds R] [--kernel 6.1]
#                     [--mttcg] [--profile] [--no-model-process] [--window N]
#
# By default the guest's two vCPUs share one host thread (scripts/vm-exec): the
# ratio then compares CPU cost, as on a one-core machine.  --mttcg gives each vCPU
# a host thread, so copying, the kernel and the sidecar overlap as they do on
# any multi-core machine (6.1 guests only).  --profile runs the sidecar under
# cProfile and prints where its time went (no results file: timings are skewed).
# --no-model-process runs the sidecar's model in the sidecar's own process;
# --window N is the sidecar's (requests in flight).
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=minilm files=24 kb=2 rounds=2 kernel=6.1 mttcg= profile= inproc= window=
while [ $# -gt 0 ]; do
	case $1 in
	--backend) backend=$2 && shift 2 ;;
	--files) files=$2 && shift 2 ;;
	--kb) kb=$2 && shift 2 ;;
	--rounds) rounds=$2 && shift 2 ;;
	--kernel) kernel=$2 && shift 2 ;;
	--mttcg) mttcg=--mttcg && shift ;;
	--profile) profile=--profile && shift ;;
	--no-model-process) inproc=--no-model-process && shift ;;
	--window) window=$2 && shift 2 ;;
	*) echo "usage: $0 [--backend B] [--files N] [--kb K] [--rounds R] [--kernel K] [--mttcg] [--profile] [--no-model-process] [--window N]" >&2 && exit 2 ;;
	esac
done
scripts/install-pyenv >/dev/null
make -s tools
out=bench/results/auto-ingest-$(date +%Y-%m-%d-%H%M)-$backend${mttcg:+-mttcg}${inproc:+-inproc}${window:+-w$window}.md
tmp=$(mktemp)
scripts/vm-exec --pyenv $mttcg --kernel "$kernel" --disk 2G --mem 3072 --timeout 5400 -- \
	build/pyenv/bin/python bench/auto/guest.py --backend "$backend" --files "$files" \
	--kb "$kb" --rounds "$rounds" $profile $inproc ${window:+--window $window} | tee "$tmp"
if [ -n "$profile" ]; then	# profiled timings are not results
	rm -f "$tmp"
	exit 0
fi
{
	echo "# Automatic embedding: end-to-end ingest vs direct embedding ($(date +%Y-%m-%d))"
	echo
	echo "\`bench/auto/run.sh --backend $backend --files $files --kb $kb --rounds $rounds --kernel $kernel${mttcg:+ $mttcg}${inproc:+ $inproc}${window:+ --window $window}\`:"
	if [ -n "$mttcg" ]; then
		echo "one QEMU guest (multi-threaded TCG: 2 vCPUs on their own host threads, $(nproc) host cores), kernel $kernel, the same corpus, the"
	else
		echo "one QEMU guest (TCG, both vCPUs on one host thread, $(nproc) host cores), kernel $kernel, the same corpus, the"
	fi
	echo "same backend object code and chunker, rounds interleaved.  Absolute numbers are"
	echo "emulated and meaningless; the ratio is the result.  Target: ingest >= 0.9x direct."
	echo
	cat "$tmp"
} >"$out"
rm -f "$tmp"
echo "wrote $out"
