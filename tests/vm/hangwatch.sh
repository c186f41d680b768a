#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Debugging aid, run inside a guest: COMMAND with hung tasks reported
# instead of panicking, and the block layer's state dumped when one shows
# up (which requests are in flight, dispatched, waiting for a tag), so a
# stalled write can be told from a lock held too long.
#
#   scripts/vm-exec --disk 2G --mem 2048 --timeout 3000 -- \
#       bash tests/vm/hangwatch.sh python3 tests/vm/vector_suite.py --only recall
#
# HANGWATCH_SECS (default 30): hung_task_timeout_secs.  After the third
# report the guest is crashed on purpose (sysrq-c), so the run ends.
set -u
secs=${HANGWATCH_SECS:-30}
sysctl -qw kernel.hung_task_panic=0 kernel.hung_task_timeout_secs="$secs" kernel.hung_task_warnings=-1
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
dev=$(basename "${VM_DISKS%% *}")
(
	n=0
	while sleep 15; do
		dmesg | grep -q "blocked for more" || continue
		n=$((n + 1))
		echo "=== hangwatch: hung task report $n at uptime $(cut -d' ' -f1 /proc/uptime)"
		echo "inflight (reads writes): $(cat "/sys/block/$dev/inflight")"
		for f in "/sys/kernel/debug/block/$dev/state" "/sys/kernel/debug/block/$dev"/hctx*/{busy,dispatch,tags,state,dispatched,queued,run}; do
			[ -e "$f" ] || continue
			echo "== $f"
			head -40 "$f"
		done
		echo w >/proc/sysrq-trigger	# every blocked task's stack
		dmesg -c >/dev/null
		if [ "$n" -ge 3 ]; then
			echo l >/proc/sysrq-trigger
			sleep 5
			echo c >/proc/sysrq-trigger
		fi
	done
) &
"$@"
