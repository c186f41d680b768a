# SPDX-License-Identifier: GPL-2.0
"""End-to-end ingest through VexFS vs the same backend embedding the same chunks directly.

Runs INSIDE a scripts/vm-exec guest (bench/auto/run.sh starts it), with build/pyenv's python
for the minilm backend.  Per round, interleaved:

  direct  read every corpus file from tmpfs, extract + chunk it with vexfsd's own code and
          embed the chunks with the backend in batches of 64, in this process;
  ingest  with `vexfsd run` registered (model loaded) and the directory under an automatic
          embedding policy, `cp -r` the corpus into VexFS and `vexctl wait` until nothing is
          stale: copy, queue, netlink, open by handle, extract, chunk, embed, EMB_ADD.

Prints a Markdown table (files/s, MB/s of text, chunks) and the ratio direct time / ingest
time per round: at least 0.9 means the filesystem path costs at most ~10% over embedding.

The kernel links new vectors into the space's HNSW graph in the background once additions pause
(docs/ARCHITECTURE.md): searches find them by exact scan meanwhile.  Before each phase the bench
waits until nothing is pending, so that neither phase pays for the other's indexing, and reports
how long the index took to settle after each ingest (searchable all along, graph-indexed then).
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools", "vexfsd"))
from vexfsd import backends, chunk, extract, vexfs  # noqa: E402

MNT = "/mnt/bench"
CORPUS = "/tmp/corpus"
BATCH = 64

WORDS = ("the filesystem stores vectors beside files so that search by meaning needs no second "
         "database kernel module transaction commit crash power cut checksum block device "
         "embedding model sentence transformer token chunk overlap passage query answer "
         "retrieval augmented generation agent memory document paper report invoice contract "
         "recipe garden galaxy network router packet congestion window pasta tomato compost "
         "rose telescope nebula planet orbit latency throughput benchmark ratio measured side "
         "by side under emulation with care and patience every morning in spring").split()


def make_corpus(n, kb, seed):
    """n Markdown files of about kb KiB of pseudo-English, deterministic."""
    rnd = random.Random(seed)
    shutil.rmtree(CORPUS, ignore_errors=True)
    os.makedirs(CORPUS)
    total = 0
    for i in range(n):
        paras, size = [f"# Document {i}\n"], 0
        while size < kb * 1024:
            sent = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 20)))
            para = ". ".join(sent[j:j + 90] for j in range(0, len(sent), 90)).capitalize() + ".\n"
            paras.append(para)
            size += len(para) + 1
        text = "\n".join(paras)
        with open(f"{CORPUS}/doc{i:05d}.md", "w") as f:
            f.write(text)
        total += len(text.encode())
    return total


def direct(backend):
    """The same work without the filesystem: extract, chunk, embed in batches."""
    texts, nchunks = [], 0
    for name in sorted(os.listdir(CORPUS)):
        with open(os.path.join(CORPUS, name), "rb") as f:
            data = f.read()
        _, tmap = extract.extract(data, name)
        for c in chunk.chunk_text(tmap):
            texts.append(c.text)
            if len(texts) == BATCH:
                backend.embed(texts)
                nchunks += len(texts)
                texts = []
    if texts:
        backend.embed(texts)
        nchunks += len(texts)
    return nchunks


def settle_index(mfd, space):
    """Wait until the space's background linking has nothing left; seconds waited."""
    t0 = time.perf_counter()
    while vexfs.space_info(mfd, space)["pending_count"]:
        time.sleep(0.2)
    return time.perf_counter() - t0


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit(f"`{' '.join(cmd)}` exited {r.returncode}: {r.stderr.strip()[-500:]}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="minilm")
    ap.add_argument("--files", type=int, default=24)
    ap.add_argument("--kb", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default=os.environ.get("VM_DISKS", "").split()[0])
    ap.add_argument("--window", type=int, help="vexfsd --window (default: vexfsd's)")
    ap.add_argument("--no-model-process", action="store_true",
                    help="run the sidecar's model in its own process (vexfsd --no-model-process)")
    ap.add_argument("--profile", action="store_true",
                    help="run the sidecar under cProfile and print where its time went")
    args = ap.parse_args()

    nbytes = make_corpus(args.files, args.kb, 1)
    run(["mkfs.vexfs", "-f", "-q", args.device])
    os.makedirs(MNT, exist_ok=True)
    run(["mount", "-t", "vexfs", args.device, MNT])
    run(["vexfsd", "init-space", MNT, "bench", "--backend", args.backend], timeout=600)
    backend = backends.make_backend({"backend": args.backend})
    backend.embed(["warm up"])
    log = open("/tmp/vexfsd.log", "w")
    prog = ["vexfsd"]
    if args.profile:
        prog = [sys.executable, "-m", "cProfile", "-o", "/tmp/vexfsd.prof", "-m", "vexfsd"]
    sidecar = subprocess.Popen(prog + ["run", "--mount", MNT, "--space", "bench",
                                "--backend", args.backend, "--log-format", "json",
                                "--log-level", "warning"]
                               + ["--no-model-process"] * args.no_model_process
                               + (["--window", str(args.window)] if args.window else []),
                               stdout=log, stderr=subprocess.STDOUT,
                               env=dict(os.environ, PYTHONPATH=os.path.join(REPO, "tools",
                                                                            "vexfsd")))
    # registered once STATUS counts it (the model is loaded before REGISTER)
    mfd = os.open(MNT, os.O_RDONLY)
    while not vexfs.auto_status(mfd, "bench")["sidecars"]:
        if sidecar.poll() is not None:
            sys.exit("vexfsd exited: " + open("/tmp/vexfsd.log").read()[-500:])
        time.sleep(0.5)

    rows, ratios, settles = [], [], []
    for r in range(args.rounds):
        settle_index(mfd, "bench")
        t0 = time.perf_counter()
        nchunks = direct(backend)
        t_direct = time.perf_counter() - t0

        dest = f"{MNT}/round{r}"
        os.mkdir(dest)
        run(["vexctl", "auto", dest, "--space", "bench"])
        t0 = time.perf_counter()
        run(["cp", "-r", f"{CORPUS}/.", dest])
        run(["vexctl", "wait", dest, "--timeout", "3000"], timeout=3100)
        t_ingest = time.perf_counter() - t0
        settles.append(settle_index(mfd, "bench"))

        for what, t in (("direct (same backend, same chunks)", t_direct),
                        ("ingest (cp + vexctl wait)", t_ingest)):
            rows.append(f"| {r + 1} | {what} | {t:.1f} | {args.files / t:.2f} | "
                        f"{nbytes / t / 1e6:.3f} | {nchunks / t:.1f} |")
        ratios.append(t_direct / t_ingest)
        print(f"round {r + 1}: direct {t_direct:.1f}s ingest {t_ingest:.1f}s "
              f"ratio {ratios[-1]:.3f}, index settled {settles[-1]:.1f}s later",
              file=sys.stderr, flush=True)

    os.close(mfd)
    sidecar.terminate()
    try:
        sidecar.wait(60)
    except subprocess.TimeoutExpired:
        print("vexfsd did not exit within 60 s of SIGTERM; killed", file=sys.stderr)
        sidecar.kill()
        sidecar.wait()
    subprocess.run(["umount", MNT])
    if args.profile:
        import pstats
        st = pstats.Stats("/tmp/vexfsd.prof", stream=sys.stderr)
        st.sort_stats("tottime").print_stats(25)
        st.sort_stats("cumulative").print_stats(r"vexfsd/(daemon|vexfs)\.py", 30)
    print(f"Backend `{args.backend}` ({backend.model}), {args.files} files, "
          f"{nbytes / 1e6:.2f} MB of text, {nchunks} chunks (1000 characters, overlap 200), "
          f"batches of {BATCH}.\n")
    print("| round | path | seconds | files/s | MB/s | chunks/s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\n**Ingest throughput / direct throughput: median {statistics.median(ratios):.3f}** "
          f"(rounds: {', '.join(f'{x:.3f}' for x in ratios)}).")
    print(f"\nAfter `vexctl wait` returned, the new vectors were searchable at once (exact scan "
          f"of the pending ones) and fully linked into the HNSW graph after another "
          f"{', '.join(f'{x:.1f}' for x in settles)} s (per round).")


if __name__ == "__main__":
    main()
