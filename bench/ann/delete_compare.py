#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
Recall and QPS after removing a share of the vectors: the core's HNSW
(ann_bench --delete, which frees the nodes and repairs the graph) against
hnswlib (mark_deleted: the node stays in the graph and in memory, searches
route through it and filter it out).  Same data, same ids removed (a fixed
hash of the id), ground truth by exact search over what is left.

  python3 bench/ann/delete_compare.py [--n 100000] [--dim 128] [--delete 30]

Needs numpy and hnswlib (pip) and build/bench/ann_bench (make -C bench/ann).
"""
import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import hnswlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def load_gen():
    spec = importlib.util.spec_from_file_location("ann_run", os.path.join(HERE, "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--delete", type=int, default=30, help="percent removed")
    ap.add_argument("--ef", default="16,32,64,128")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--seed", type=int, default=100)
    a = ap.parse_args()
    efs = [int(x) for x in a.ef.split(",")]
    run = load_gen()
    base, query = run.gen(a.n, a.dim, a.nq)
    ids = np.arange(a.n, dtype=np.uint64)
    gone = ((ids * 2654435761) % (1 << 32)) % 100 < a.delete
    left = np.nonzero(~gone)[0]
    gt = left[run.ground_truth(base[left], query, 10)]
    with tempfile.TemporaryDirectory() as tmp:
        bp, qp = os.path.join(tmp, "b.npy"), os.path.join(tmp, "q.npy")
        np.save(bp, base)
        np.save(qp, query)
        out = subprocess.run([os.path.join(ROOT, "build/bench/ann_bench"), "--base", bp, "--query", qp,
                              "--m", str(a.m), "--efc", str(a.efc), "--seed", str(a.seed),
                              "--delete", str(a.delete), "--ef", a.ef, "--exact-queries", "5",
                              "--repeat", "3"], check=True, capture_output=True, text=True).stdout
    print(out, end="")
    ours = {int(m.group(1)): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"ef\s+(\d+): recall@10 ([\d.]+),\s+(\d+) QPS", out)}

    p = hnswlib.Index(space="l2", dim=a.dim)
    p.init_index(max_elements=a.n, M=a.m, ef_construction=a.efc, random_seed=a.seed)
    p.set_num_threads(1)
    t = time.time()
    p.add_items(base, np.arange(a.n))
    print(f"hnswlib build {time.time() - t:.1f} s")
    t = time.time()
    for i in np.nonzero(gone)[0]:
        p.mark_deleted(int(i))
    print(f"hnswlib mark_deleted {int(gone.sum())} in {time.time() - t:.2f} s (memory stays)")
    theirs = {}
    for ef in efs:
        p.set_ef(ef)
        best = None
        for _ in range(3):
            t = time.perf_counter()
            labels, _ = p.knn_query(query, k=10, num_threads=1)
            dt = time.perf_counter() - t
            best = dt if best is None or dt < best else best
        hit = sum(len(set(labels[i]) & set(gt[i])) for i in range(len(query)))
        theirs[ef] = (hit / (10 * len(query)), len(query) / best)
    print(f"\n{a.n} x {a.dim}, {a.delete}% removed, M {a.m}, efc {a.efc}, seed {a.seed}")
    print("| ef | vexfs recall | vexfs QPS | hnswlib recall | hnswlib QPS |")
    print("|---|---|---|---|---|")
    for ef in efs:
        o, h = ours.get(ef, (float("nan"), 0)), theirs[ef]
        print(f"| {ef} | {o[0]:.4f} | {o[1]:,.0f} | {h[0]:.4f} | {h[1]:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
