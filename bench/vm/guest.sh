#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Guest side of bench/vm/run.sh: the kernel's ioctl search and the core in
# userspace, one after the other on the same data in the same guest.
set -eu
cd "$(dirname "$0")/../.."
data=$1 k=$2 efs=$3 m=$4 efc=$5
dev=${VM_DISKS%% *}
mkfs.vexfs -f -q "$dev"
mkdir -p /mnt/b
mount -t vexfs "$dev" /mnt/b
echo "== kernel (VECTOR_SEARCH ioctl)"
python3 bench/vm/load.py /mnt/b bench "$data/base.fvecs" 200 "$m" "$efc"
"$data/ioctl_search" /mnt/b bench "$data/query.fvecs" "$k" "$efs"
echo "== core in userspace (bench/ann/ann_bench)"
"$data/ann_bench" --base "$data/base.fvecs" --query "$data/query.fvecs" \
	--m "$m" --efc "$efc" --k "$k" --ef "$efs"
umount /mnt/b
