#!/usr/bin/env python3
"""Extract the uncompressed ELF vmlinux from a bzImage, if it has a PVH entry.

    extract-vmlinux.py VMLINUZ VMLINUX

Like the kernel's scripts/extract-vmlinux: find the compressed payload by
its magic, decompress it with the command-line tool, keep the first result
that is a complete ELF file.  Exits 1 (writing nothing) unless that ELF has
the Xen PHYS32_ENTRY note QEMU needs to boot it directly (PVH).
"""

import os
import struct
import subprocess
import sys

FORMATS = [
    (b"\x28\xb5\x2f\xfd", ["zstd", "-dcq"]),
    (b"\x02\x21\x4c\x18", ["lz4", "-dcq"]),
    (b"\xfd7zXZ\x00", ["xz", "-dcq"]),
    (b"\x1f\x8b\x08", ["gzip", "-dcq"]),
]
XEN_ELFNOTE_PHYS32_ENTRY = 18


def complete_elf(data):
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit
        return False
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    end = max(shoff + shentsize * shnum, phoff + phentsize * phnum)
    for i in range(phnum):
        _, _, off, _, _, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        end = max(end, off + filesz)
    return len(data) >= end


def has_pvh_note(data):
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        ptype, _, off, _, _, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        if ptype != 4:  # PT_NOTE
            continue
        pos, stop = off, off + filesz
        while pos + 12 <= stop:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name = data[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    return False


def main():
    src, dst = sys.argv[1], sys.argv[2]
    data = open(src, "rb").read()
    for magic, cmd in FORMATS:
        off = data.find(magic)
        while off >= 0:
            try:
                # Trailing bytes after the stream make the tools complain;
                # the output is still whole, which complete_elf() checks.
                out = subprocess.run(cmd, input=data[off:], capture_output=True).stdout
            except OSError:
                break
            if complete_elf(out):
                if not has_pvh_note(out):
                    print("extract-vmlinux: %s has no PVH entry note" % src, file=sys.stderr)
                    return 1
                with open(dst + ".tmp", "wb") as f:
                    f.write(out)
                os.replace(dst + ".tmp", dst)
                return 0
            off = data.find(magic, off + 1)
    print("extract-vmlinux: no ELF payload found in %s" % src, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
