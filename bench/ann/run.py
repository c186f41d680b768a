#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
ANN benchmark: the VexFS core's HNSW (bench/ann/ann_bench.c, native build)
against hnswlib and faiss IndexHNSWFlat, on the same synthetic clustered
data, single-threaded, M=16, efConstruction=200, in one run.

    python3 -m venv build/bench-venv
    build/bench-venv/bin/pip install numpy hnswlib faiss-cpu matplotlib
    build/bench-venv/bin/python bench/ann/run.py [--quick] [--sets 100k-384,1m-128]
        [--seeds 100,1,7] [--no-faiss] [--rounds 3]

Writes bench/results/ann-<date>.md and ann-<date>-<set>.png.  The machine
is shared and noisy: compare the ratios of one run, not absolute numbers
across runs.

Recall at a given ef depends on each library's random level draw about as
much as on the library, so --seeds builds both vexfs (ann_bench --seed S)
and hnswlib (random_seed=S) once per seed, measures them side by side, and
ends with a summary across seeds (ratio per seed and geometric mean).
faiss (no seed) is built with the first seed only, or not at all with
--no-faiss.  Default: seed 100 alone, as before.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

from importlib.metadata import version

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BENCH = os.path.join(ROOT, "build", "bench", "ann_bench")
DATA = os.path.join(ROOT, "build", "bench", "data")
RESULTS = os.path.join(ROOT, "bench", "results")
M, EFC, K = 16, 200, 10
EFS = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
TARGETS = [0.90, 0.95, 0.99]

SETS = {
    # name: (n, dim, queries)
    "1m-128": (1_000_000, 128, 1000),
    "100k-384": (100_000, 384, 1000),
}
QUICK = {
    "100k-128": (100_000, 128, 500),
    "20k-384": (20_000, 384, 500),
}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def gen(n, d, nq, seed=7, nclusters=None, latent=24):
    """
    Clustered data of low intrinsic dimension, like real embeddings:
    cluster centres, each point moved along a shared 24-d subspace (scaled
    per cluster), plus a little isotropic noise.  Queries come from the
    same distribution and are not in the base set.
    """
    rng = np.random.default_rng(seed)
    nclusters = nclusters or max(100, n // 1000)
    centers = rng.standard_normal((nclusters, d)).astype(np.float32) * 2.0
    basis = (rng.standard_normal((latent, d)) / np.sqrt(latent)).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, nclusters).astype(np.float32)

    def draw(m):
        out = np.empty((m, d), dtype=np.float32)
        for s in range(0, m, 100_000):
            e = min(m, s + 100_000)
            lab = rng.integers(0, nclusters, e - s)
            z = rng.standard_normal((e - s, latent)).astype(np.float32)
            x = centers[lab] + (z @ basis) * scale[lab, None]
            x += 0.05 * rng.standard_normal((e - s, d)).astype(np.float32)
            out[s:e] = x
        return out

    return draw(n), draw(nq)


def ground_truth(b, q, k=K):
    bn = (b * b).sum(1)
    gt = np.empty((len(q), k), dtype=np.int32)
    for s in range(0, len(q), 200):
        qq = q[s:s + 200]
        best_d = None
        best_i = None
        for c in range(0, len(b), 200_000):
            d = bn[None, c:c + 200_000] - 2.0 * qq @ b[c:c + 200_000].T
            idx = np.argpartition(d, k, axis=1)[:, :k]
            dd = np.take_along_axis(d, idx, 1)
            idx = idx + c
            if best_d is None:
                best_d, best_i = dd, idx
            else:
                cd = np.concatenate([best_d, dd], 1)
                ci = np.concatenate([best_i, idx], 1)
                sel = np.argpartition(cd, k, axis=1)[:, :k]
                best_d = np.take_along_axis(cd, sel, 1)
                best_i = np.take_along_axis(ci, sel, 1)
        order = np.argsort(best_d, 1)
        gt[s:s + 200] = np.take_along_axis(best_i, order, 1)
    return gt


def recall(labels, gt):
    hit = 0
    for a, g in zip(labels, gt):
        hit += len(set(a.tolist()) & set(g.tolist()))
    return hit / (len(gt) * gt.shape[1])


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Hnswlib:
    name = "hnswlib"

    def __init__(self, b, seed=100):
        import hnswlib
        n, d = b.shape
        r0 = rss_bytes()
        t = time.perf_counter()
        self.p = hnswlib.Index(space="l2", dim=d)
        self.p.init_index(max_elements=n, M=M, ef_construction=EFC, random_seed=seed)
        self.p.set_num_threads(1)
        self.p.add_items(b, np.arange(n), num_threads=1)
        self.build_s = time.perf_counter() - t
        self.bytes_per_vector = (rss_bytes() - r0) / n

    def search(self, q, ef):
        self.p.set_ef(max(ef, K))
        t = time.perf_counter()
        lab, _ = self.p.knn_query(q, k=K, num_threads=1)
        return lab, time.perf_counter() - t


class Faiss:
    name = "faiss"

    def __init__(self, b):
        import faiss
        faiss.omp_set_num_threads(1)
        n, d = b.shape
        r0 = rss_bytes()
        t = time.perf_counter()
        self.idx = faiss.IndexHNSWFlat(d, M)
        self.idx.hnsw.efConstruction = EFC
        self.idx.add(b)
        self.build_s = time.perf_counter() - t
        self.bytes_per_vector = (rss_bytes() - r0) / n

    def search(self, q, ef):
        self.idx.hnsw.efSearch = max(ef, K)
        t = time.perf_counter()
        _, lab = self.idx.search(q, K)
        return lab, time.perf_counter() - t


class Vexfs:
    """ann_bench --serve: builds, then answers "ef N" with a JSON line."""
    name = "vexfs"

    def __init__(self, bpath, qpath, gtpath, out_json, nq, seed=100):
        self.cmd = [BENCH, "--base", bpath, "--query", qpath, "--gt", gtpath,
                    "--m", str(M), "--efc", str(EFC), "--k", str(K),
                    "--ef", str(EFS[0]), "--exact-queries", str(min(nq, 20)),
                    "--seed", str(seed), "--json", out_json, "--serve"]
        log("  " + " ".join(self.cmd))
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        for line in self.proc.stdout:
            log("  | " + line.rstrip())
            if line.startswith("ready"):
                break
        with open(out_json) as f:
            self.info = json.load(f)
        self.build_s = self.info["build_s"]
        self.bytes_per_vector = self.info["bytes_per_vector"]

    def search(self, q, ef):
        self.proc.stdin.write(f"ef {ef}\n")
        self.proc.stdin.flush()
        r = json.loads(self.proc.stdout.readline())
        return r, len(q) / r["qps"]

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def measure(libs, q, gt, rounds):
    """Interleave the libraries per ef, several rounds; keep each one's
    best time, so a burst of load from other users hits all of them."""
    best = {lib.name: {} for lib in libs}
    rec = {lib.name: {} for lib in libs}
    for rnd in range(rounds):
        for i, ef in enumerate(EFS):
            order = libs[(i + rnd) % len(libs):] + libs[:(i + rnd) % len(libs)]
            for lib in order:
                lab, el = lib.search(q, ef)
                if isinstance(lab, dict):
                    rec[lib.name][ef] = lab["recall"]
                else:
                    rec[lib.name][ef] = recall(lab, gt)
                old = best[lib.name].get(ef)
                best[lib.name][ef] = el if old is None else min(old, el)
        log(f"  round {rnd + 1}/{rounds} done")
    out = {}
    for lib in libs:
        out[lib.name] = {
            "build_s": lib.build_s, "bytes_per_vector": lib.bytes_per_vector,
            "runs": [{"ef": ef, "recall": rec[lib.name][ef],
                      "qps": len(q) / best[lib.name][ef]} for ef in EFS]}
    return out


def qps_at(runs, target):
    """QPS at a recall target, interpolated (log QPS) between the two
    ef values around it; None when no ef reaches it."""
    pts = sorted((r["recall"], r["qps"]) for r in runs)
    best = None
    for r in runs:
        if r["recall"] >= target:
            best = r["qps"] if best is None else max(best, r["qps"])
    if best is None:
        return None
    below = [p for p in pts if p[0] < target]
    above = [p for p in pts if p[0] >= target]
    if below and above:
        (r0, q0), (r1, q1) = below[-1], min(above, key=lambda p: p[0])
        if r1 > r0:
            f = (target - r0) / (r1 - r0)
            return float(np.exp(np.log(q0) + f * (np.log(q1) - np.log(q0))))
    return best


def plot(name, results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for lib, res in results.items():
        xs = [r["recall"] for r in res["runs"]]
        ys = [r["qps"] for r in res["runs"]]
        ax.plot(xs, ys, marker="o", label=lib)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (1 thread)")
    ax.set_title(f"{name}: M={M}, efConstruction={EFC}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{model}, {os.cpu_count()} CPUs (shared), {mem:.0f} GiB RAM, "
            f"Linux {platform.release()}, Python {platform.python_version()}")


def fmt(x, unit=""):
    return "n/a" if x is None else f"{x:,.0f}{unit}"


def gmean(xs):
    xs = [x for x in xs if x]
    return float(np.exp(np.mean(np.log(xs)))) if xs else None


def summary(name, per_seed):
    """Across seeds: vexfs/hnswlib ratio per seed and target, geometric
    mean; build time ratio; mean recall (and geometric mean QPS) per ef."""
    seeds = list(per_seed)
    lines = [f"## {name}: summary over seeds {', '.join(map(str, seeds))}", "",
             "vexfs QPS / hnswlib QPS at each recall@10 target, both built "
             "with the same level-draw seed:", "",
             "| target | " + " | ".join(f"seed {s}" for s in seeds) +
             " | geometric mean |",
             "|---:|" + "---:|" * (len(seeds) + 1)]
    for t in TARGETS:
        rs = []
        for s in seeds:
            v = qps_at(per_seed[s]["vexfs"]["runs"], t)
            h = qps_at(per_seed[s]["hnswlib"]["runs"], t)
            rs.append(v / h if v and h else None)
        g = gmean(rs)
        lines.append(f"| {t:.2f} | " + " | ".join(
            "n/a" if r is None else f"{r:.2f}x" for r in rs) +
            f" | **{'n/a' if g is None else f'{g:.2f}x'}** |")
    bs = [per_seed[s]["vexfs"]["build_s"] / per_seed[s]["hnswlib"]["build_s"]
          for s in seeds]
    lines.append("| build time | " + " | ".join(f"{r:.2f}x" for r in bs) +
                 f" | **{gmean(bs):.2f}x** |")
    libs = ["vexfs", "hnswlib"]
    lines += ["", "(build time: vexfs / hnswlib, lower is faster)", "",
              f"Per ef, mean recall@10 / geometric mean QPS over the {len(seeds)} seeds:",
              "", "| ef | " + " | ".join(libs) + " | recall vexfs - hnswlib |",
              "|---:|" + "---|" * len(libs) + "---:|"]
    for i, ef in enumerate(EFS):
        rec = {lib: float(np.mean([per_seed[s][lib]["runs"][i]["recall"] for s in seeds]))
               for lib in libs}
        qps = {lib: gmean([per_seed[s][lib]["runs"][i]["qps"] for s in seeds])
               for lib in libs}
        lines.append(f"| {ef} | " + " | ".join(
            f"{rec[lib]:.4f} / {qps[lib]:,.0f}" for lib in libs) +
            f" | {rec['vexfs'] - rec['hnswlib']:+.4f} |")
    lines.append("")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sets")
    ap.add_argument("--sets", help="comma separated subset of set names")
    ap.add_argument("--out", help="report path")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved search rounds (best kept)")
    ap.add_argument("--seeds", default="100",
                    help="comma separated level-draw seeds, each used by "
                    "both vexfs and hnswlib (default 100)")
    ap.add_argument("--no-faiss", action="store_true", help="skip faiss")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    multi = len(seeds) > 1
    sets = QUICK if a.quick else SETS
    names = a.sets.split(",") if a.sets else list(sets)
    for n in names:
        if n not in sets:
            sys.exit(f"unknown set {n}; have {', '.join(sets)}")
    os.makedirs(DATA, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    log("building ann_bench")
    subprocess.run(["make", "-C", os.path.join(ROOT, "bench", "ann")], check=True)
    if not a.no_faiss:
        import faiss
    import hnswlib
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    report = a.out or os.path.join(RESULTS, f"ann-{stamp}.md")
    lines = [f"# ANN benchmark {stamp}", "",
             "VexFS core HNSW (`bench/ann/ann_bench.c`, gcc -O3 -march=native) vs "
             f"hnswlib {version('hnswlib')}" +
             ("" if a.no_faiss else f" and faiss {faiss.__version__} IndexHNSWFlat") +
             f"; single thread, M={M}, efConstruction={EFC}, k={K}, L2.", "",
             f"Machine: {machine()}.", "",
             "Command: `" + " ".join([os.path.relpath(sys.executable, ROOT)] +
                                   [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]) + "`", "",
             ] + ([f"Level-draw seeds: {', '.join(map(str, seeds))}; for each, "
                   "vexfs (`ann_bench --seed S`) and hnswlib (`random_seed=S`) are "
                   "built and measured side by side, ratios are to hnswlib of the "
                   "same seed" + ("" if a.no_faiss else
                                  "; faiss (no seed) is built with the first seed only") +
                   ".", ""] if multi else []) + [
             "Searches: the indexes stay built and each ef is run "
             "round-robin across the libraries for several rounds, best time "
             "kept (the machine is shared); recall@10 against exact ground truth "
             "computed with numpy.", "",
             f"Load average at start: {os.getloadavg()}", ""]
    for name in names:
        n, d, nq = sets[name]
        bpath = os.path.join(DATA, f"{name}-base.npy")
        qpath = os.path.join(DATA, f"{name}-query.npy")
        gpath = os.path.join(DATA, f"{name}-gt.npy")
        if not (os.path.exists(bpath) and os.path.exists(gpath)):
            log(f"{name}: generating {n} x {d}")
            b, q = gen(n, d, nq)
            np.save(bpath, b)
            np.save(qpath, q)
            log(f"{name}: ground truth")
            np.save(gpath, ground_truth(b, q))
        b = np.load(bpath)
        q = np.load(qpath)
        gt = np.load(gpath)
        per_seed = {}
        for si, seed in enumerate(seeds):
            tag = f"{name}-s{seed}" if multi else name
            title = f"{name} seed {seed}" if multi else name
            log(f"{title}: vexfs build")
            vx = Vexfs(bpath, qpath, gpath, os.path.join(DATA, f"{tag}-vexfs.json"),
                       nq, seed)
            cmd = vx.cmd
            log(f"{title}: hnswlib build")
            libs = [vx, Hnswlib(b, seed)]
            if si == 0 and not a.no_faiss:
                log(f"{title}: faiss build")
                libs.append(Faiss(b))
            log(f"{title}: searches, {a.rounds} interleaved rounds")
            results = measure(libs, q, gt, a.rounds)
            vx.close()
            vxi = vx.info
            del libs
            per_seed[seed] = results
            png = report[:-3] + f"-{tag}.png"
            plot(title, results, png)
            with open(os.path.join(DATA, f"{tag}-results.json"), "w") as f:
                json.dump(results, f, indent=1)

            lines += [f"## {title}: {n:,} x {d} float32, {nq} queries", "",
                      f"C bench: `{' '.join(os.path.relpath(c, ROOT) if c.startswith('/') else c for c in cmd)}`",
                      "", f"![recall vs QPS]({os.path.basename(png)})", "",
                      "| | build s | bytes/vector | " +
                      " | ".join(f"QPS @ {t:.2f}" for t in TARGETS) + " |",
                      "|---|---:|---:|" + "---:|" * len(TARGETS)]
            ref = {t: qps_at(results["hnswlib"]["runs"], t) for t in TARGETS}
            for lib, res in results.items():
                row = [lib, f"{res['build_s']:.1f}", f"{res['bytes_per_vector']:.0f}"]
                for t in TARGETS:
                    v = qps_at(res["runs"], t)
                    r = f" ({v / ref[t]:.2f}x)" if v and ref[t] else ""
                    row.append(fmt(v) + r)
                lines.append("| " + " | ".join(row) + " |")
            hb = results["hnswlib"]["build_s"]
            lines += ["", "Build time vs hnswlib: " + ", ".join(
                          f"{lib} {results[lib]['build_s'] / hb:.2f}x"
                          for lib in results if lib != "hnswlib") +
                      " (lower is faster).",
                      "", "Per ef (recall@10 / QPS):", "",
                      "| ef | " + " | ".join(results) + " |",
                      "|---:|" + "---|" * len(results)]
            for i, ef in enumerate(EFS):
                lines.append(f"| {ef} | " + " | ".join(
                    f"{res['runs'][i]['recall']:.4f} / {res['runs'][i]['qps']:,.0f}"
                    for res in results.values()) + " |")
            lines += ["", f"Exact scan (vexfs, {vxi['kernels']}): {vxi['exact_ms']:.2f} ms/query = "
                      f"{vxi['exact_gbs']:.2f} GB/s of vectors; this machine's sequential "
                      f"read bandwidth (1 thread): {vxi['mem_gbs']:.2f} GB/s.",
                      f"vexfs bytes/vector is the index's own accounting (vx_index_get_stats); "
                      f"its RSS growth was {vxi.get('rss_bytes_per_vector', 0):.0f} B/vector. "
                      "hnswlib" + ("" if a.no_faiss else " and faiss") +
                      ": RSS growth during build.", ""]
            if multi:
                lines += [f"Load average after this seed: {os.getloadavg()}", ""]
            # written after every seed, so a cut-short run keeps what it has
            tail = summary(name, per_seed) if multi else []
            with open(report, "w") as f:
                f.write("\n".join(lines + tail +
                                  [f"Load average at end: {os.getloadavg()}", ""]))
            log(f"{title}: done, report {report}")
        if multi:
            lines += summary(name, per_seed)
    log("done")


if __name__ == "__main__":
    main()
