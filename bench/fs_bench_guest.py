#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Guest side of bench/fs_vs_ext4.sh: same workloads on ext4 and vexfs."""
import argparse, json, os, subprocess, time

def sh(*a, **kw):
    return subprocess.run(a, check=True, capture_output=True, text=True, **kw).stdout

def fio(mnt, name, rw, bs, size, runtime=None):
    args = ["fio", "--name=" + name, "--directory=" + mnt, "--rw=" + rw, "--bs=" + bs,
            "--size=" + size, "--ioengine=psync", "--end_fsync=1", "--output-format=json",
            "--filename=fio.dat"]
    if runtime:
        args += ["--time_based", "--runtime=%d" % runtime]
    j = json.loads(sh(*args))["jobs"][0]
    side = "write" if "write" in rw else "read"
    return j[side]["bw_bytes"] / 1e6, j[side]["iops"]

def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")

def meta(mnt, n):
    d = os.path.join(mnt, "many")
    os.mkdir(d)
    names = [os.path.join(d, "f%07d" % i) for i in range(n)]
    t = time.perf_counter()
    for p in names:
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
    os.sync()
    create = n / (time.perf_counter() - t)
    drop_caches()
    t = time.perf_counter()
    for p in names:
        os.stat(p)
    stat = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for p in names:
        os.unlink(p)
    os.sync()
    unlink = n / (time.perf_counter() - t)
    return create, stat, unlink

def run(fs, dev, mnt, files):
    if fs == "ext4":
        sh("mkfs.ext4", "-q", "-F", dev)
    else:
        sh("mkfs.vexfs", "-q", "-f", dev)
    os.makedirs(mnt, exist_ok=True)
    sh("mount", "-t", fs, dev, mnt)
    r = {}
    r["seq write MB/s"] = fio(mnt, "sw", "write", "1M", "1G")[0]
    drop_caches()
    r["seq read MB/s"] = fio(mnt, "sr", "read", "1M", "1G")[0]
    drop_caches()
    r["4k rand read IOPS"] = fio(mnt, "rr", "randread", "4k", "1G", 30)[1]
    r["4k rand write IOPS"] = fio(mnt, "rw", "randwrite", "4k", "1G", 30)[1]
    os.unlink(os.path.join(mnt, "fio.dat"))
    c, s, u = meta(mnt, files)
    r["create files/s"], r["stat files/s"], r["unlink files/s"] = c, s, u
    sh("umount", mnt)
    return r

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100000)
    a = ap.parse_args()
    disks = os.environ["VM_DISKS"].split()
    ext4 = run("ext4", disks[0], "/mnt/ext4", a.files)
    vex = run("vexfs", disks[1], "/mnt/vexfs", a.files)
    lines = ["| workload | ext4 | vexfs | ratio vexfs/ext4 |", "|---|---|---|---|"]
    for k in ext4:
        lines.append("| %s | %.1f | %.1f | %.2fx |" % (k, ext4[k], vex[k], vex[k] / ext4[k]))
    text = "\n".join(lines) + "\n\n(%d files for the metadata workloads; 1 GiB fio files, psync)\n" % a.files
    print(text)
    with open("/share/results.md", "w") as f:
        f.write(text)

main()
