#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Clustered synthetic float32 vectors as .fvecs (no numpy needed).

    gen.py OUTDIR N DIM NQ [SEED]  ->  OUTDIR/base.fvecs, OUTDIR/query.fvecs
"""
import random
import struct
import sys


def main():
    out, n, dim, nq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    centres = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(max(8, n // 500))]
    head = struct.pack("<i", dim)
    row = struct.Struct(f"<{dim}f")
    for name, count in (("base", n), ("query", nq)):
        with open(f"{out}/{name}.fvecs", "wb") as f:
            for _ in range(count):
                c = rng.choice(centres)
                f.write(head + row.pack(*[x + rng.gauss(0, 0.35) for x in c]))


main()
