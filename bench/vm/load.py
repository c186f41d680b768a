#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Guest: store base.fvecs in a VexFS space, FILES files x N/FILES chunks.

    load.py MOUNT SPACE BASE.fvecs FILES M EFC
Row r goes to file f{r // per}, chunk offset r % per, length 1.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/vm"))
import vexfs_ioctl as vx  # noqa: E402


def main():
    mnt, space, base, nfiles, m, efc = sys.argv[1:7]
    nfiles, m, efc = int(nfiles), int(m), int(efc)
    rows = []
    with open(base, "rb") as f:
        while True:
            h = f.read(4)
            if not h:
                break
            dim = struct.unpack("<i", h)[0]
            rows.append(list(struct.unpack(f"<{dim}f", f.read(4 * dim))))
    per = (len(rows) + nfiles - 1) // nfiles
    d = vx.open_dir(mnt)
    vx.space_create(d, space, dim, m=m, efc=efc)
    t = time.time()
    for i in range(nfiles):
        part = rows[i * per:(i + 1) * per]
        if not part:
            break
        p = os.path.join(mnt, f"f{i:05d}")
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b"x" * per)
        vx.emb_add(fd, space, part, chunks=[(j, 1) for j in range(len(part))])
        os.close(fd)
    t_add = time.time() - t
    t = time.time()
    info = vx.index_build(d, space)
    t_build = time.time() - t
    os.sync()
    print(f"kernel: stored {len(rows)} x {dim} in {t_add:.1f} s, index build {t_build:.1f} s, "
          f"{info['index_bytes'] / max(1, info['vector_count']):.0f} B/vector in the index, "
          f"{info['indexed_count']} linked")


main()
