# SPDX-License-Identifier: GPL-2.0
"""The VexFS vector ioctls from Python (include/uapi/linux/vexfs.h), for tests.

Plain struct packing + ctypes buffers for the user pointers; no numpy.
Every call raises OSError with the kernel's errno on failure.

The convenient calls (space_create, emb_add, search...) build well-formed requests;
manage, emb_call and search_call also let a test set what the kernel must check
itself (size, flags, reserved fields, counts, raw user pointers).
"""

import ctypes
import fcntl
import os
import struct

MAGIC = 0xE7
NAME_MAX = 64
DIM_MAX, BATCH_MAX, BATCH_BYTES_MAX, K_MAX, EF_MAX = 8192, 65536, 64 << 20, 4096, 10000

METRICS = {"l2": 1, "cosine": 2, "ip": 3}

SPACE_INFO = struct.Struct("<8I64s64s32s6Q2I6Q")
MANAGE_HEAD = struct.Struct("<4I64sQ2I")
MANAGE_TAIL = struct.Struct("<4Q")
CHUNK = struct.Struct("<3Q2I")
EMB = struct.Struct("<2I64s2I3Q2IQ4Q")
RESULT = struct.Struct("<4Q4I")
SEARCH = struct.Struct("<2I64s4I3Q2I4Q")

MANAGE_SIZE = MANAGE_HEAD.size + SPACE_INFO.size + MANAGE_TAIL.size
assert SPACE_INFO.size == 296 and MANAGE_SIZE == 424
assert CHUNK.size == 32 and EMB.size == 152
assert RESULT.size == 48 and SEARCH.size == 152

OP_SPACE_CREATE, OP_SPACE_DROP, OP_SPACE_INFO, OP_SPACE_LIST = 1, 2, 3, 4
OP_INDEX_BUILD, OP_INDEX_REBUILD, OP_SET_EF = 5, 6, 7
OP_DIR_SET_SPACE, OP_DIR_GET_SPACE = 8, 9

EMB_REPLACE_ALL = 0x1
EMB_ALL_SPACES = 0x2
EMB_AFTER = 0x4
CHUNK_STALE = 0x1
SEARCH_EXACT, SEARCH_PATHS, SEARCH_NO_STALE = 0x1, 0x2, 0x4


def iowr(nr, size):
    return (3 << 30) | (size << 16) | (MAGIC << 8) | nr


IOC_MANAGE = iowr(1, MANAGE_SIZE)
IOC_EMB_ADD = iowr(2, EMB.size)
IOC_EMB_GET = iowr(3, EMB.size)
IOC_EMB_UPDATE = iowr(4, EMB.size)
IOC_EMB_DELETE = iowr(5, EMB.size)
IOC_SEARCH = iowr(6, SEARCH.size)
assert IOC_MANAGE == 0xC1A8E701 and IOC_SEARCH == 0xC098E706

SPACE_FIELDS = ("space_id", "dim", "elem_type", "metric", "hnsw_m",
                "hnsw_ef_construction", "hnsw_ef_search", "flags", "name",
                "model", "model_version", "vector_count", "indexed_count",
                "pending_count", "index_bytes", "bytes_per_vector",
                "create_time_ns", "max_level", "loaded")


def _cstr(b):
    return b.split(b"\0", 1)[0].decode()


def _name(s):
    return s.encode() if isinstance(s, str) else s


class Buf:
    """A ctypes buffer (bytes, or a size in zero bytes) and its address, for the __u64
    pointer fields of hand-made requests."""

    def __init__(self, data_or_size):
        if isinstance(data_or_size, int):
            self.b = ctypes.create_string_buffer(max(data_or_size, 1))
        else:
            self.b = ctypes.create_string_buffer(bytes(data_or_size), max(len(data_or_size), 1))
        self.addr = ctypes.addressof(self.b)

    def raw(self, n=None):
        return self.b.raw if n is None else self.b.raw[:n]


def _ptr(buf):
    """A user pointer: None is NULL, an int is taken as it is, else a ctypes buffer."""
    if buf is None:
        return 0
    return buf if isinstance(buf, int) else ctypes.addressof(buf)


def unpack_space(raw):
    v = SPACE_INFO.unpack(raw)
    d = dict(zip(SPACE_FIELDS, v[:19]))
    for k in ("name", "model", "model_version"):
        d[k] = _cstr(d[k])
    return d


def pack_space(dim=0, metric="l2", m=0, efc=0, ef=0, name="", model="",
               version="", elem_type=1, flags=0, reserved=(0,) * 6):
    metric = METRICS.get(metric, metric)
    return SPACE_INFO.pack(0, dim, elem_type, metric, m, efc, ef, flags,
                           _name(name), _name(model), _name(version),
                           0, 0, 0, 0, 0, 0, 0, 0, *reserved)


def manage(fd, op, name="", space=None, list_count=0, list_ptr=0, size=None,
           flags=0, reserved=(0,) * 4):
    buf = bytearray(MANAGE_HEAD.pack(MANAGE_SIZE if size is None else size, op, flags, list_count,
                                     _name(name), list_ptr, 0, 0))
    buf += space if space is not None else bytes(SPACE_INFO.size)
    buf += MANAGE_TAIL.pack(*reserved)
    fcntl.ioctl(fd, IOC_MANAGE, buf)
    head = MANAGE_HEAD.unpack_from(buf, 0)
    info = unpack_space(bytes(buf[MANAGE_HEAD.size:MANAGE_HEAD.size + SPACE_INFO.size]))
    return {"name": _cstr(head[4]), "list_filled": head[6], "list_total": head[7],
            "space": info}


def space_create(fd, name, dim, metric="l2", **kw):
    return manage(fd, OP_SPACE_CREATE, name,
                  pack_space(dim=dim, metric=metric, name=name, **kw))["space"]


def space_info(fd, name):
    return manage(fd, OP_SPACE_INFO, name)["space"]


def space_drop(fd, name):
    manage(fd, OP_SPACE_DROP, name)


def space_list(fd, room=64):
    arr = ctypes.create_string_buffer(SPACE_INFO.size * max(room, 1))
    r = manage(fd, OP_SPACE_LIST, list_count=room, list_ptr=ctypes.addressof(arr))
    return [unpack_space(arr.raw[i * SPACE_INFO.size:(i + 1) * SPACE_INFO.size])
            for i in range(r["list_filled"])], r["list_total"]


def index_build(fd, name, rebuild=False):
    return manage(fd, OP_INDEX_REBUILD if rebuild else OP_INDEX_BUILD, name)["space"]


def dir_set_space(dirfd, name):
    manage(dirfd, OP_DIR_SET_SPACE, name)


def dir_get_space(dirfd):
    return manage(dirfd, OP_DIR_GET_SPACE)["name"]


def _floats(vectors):
    flat = [float(x) for v in vectors for x in v]
    return ctypes.create_string_buffer(struct.pack(f"<{len(flat)}f", *flat), 4 * len(flat) or 1)


def _emb_call(fd, req, space, dim, count, chunks_buf, vec_buf, flags=0,
              expect=0, size=None, reserved=(0,) * 4):
    buf = bytearray(EMB.pack(EMB.size if size is None else size, flags, _name(space), dim, count,
                             _ptr(chunks_buf), _ptr(vec_buf), expect, 0, 0, 0, *reserved))
    fcntl.ioctl(fd, req, buf)
    v = EMB.unpack(bytes(buf))
    return {"dim": v[3], "filled": v[8], "total": v[9], "data_version": v[10]}


def _chunks(chunks):
    raw = b"".join(CHUNK.pack(off, ln, 0, 0, 0) for off, ln in chunks)
    return ctypes.create_string_buffer(raw, len(raw) or 1)


def emb_call(fd, req, space="", chunks=(), vectors=None, dim=0, flags=0, expect=0,
             count=None, size=None, reserved=(0,) * 4, chunks_ptr=None, vectors_ptr=None):
    """One EMB_* request (req: IOC_EMB_ADD...) as given, for tests of what the kernel rejects.

    chunks: (offset, length) pairs; vectors: one flat list of floats (None: no buffer);
    count defaults to len(chunks); chunks_ptr/vectors_ptr (an int) replace the buffers'
    addresses.  Returns what the kernel wrote back, as _emb_call."""
    return _emb_call(fd, req, space, dim, len(chunks) if count is None else count,
                     _chunks(chunks) if chunks_ptr is None else chunks_ptr,
                     (_floats([vectors]) if vectors is not None else None)
                     if vectors_ptr is None else vectors_ptr,
                     flags, expect, size, reserved)


def emb_add(fd, space, vectors, chunks=None, replace=False, expect=0):
    """vectors: list of lists; chunks: list of (offset, length), default whole file."""
    chunks = chunks or [(0, 0)] * len(vectors)
    dim = len(vectors[0]) if vectors else 0
    return _emb_call(fd, IOC_EMB_ADD, space, dim, len(vectors), _chunks(chunks),
                     _floats(vectors), EMB_REPLACE_ALL if replace else 0, expect)


def emb_update(fd, space, vectors, chunks, expect=0):
    dim = len(vectors[0]) if vectors else 0
    return _emb_call(fd, IOC_EMB_UPDATE, space, dim, len(vectors), _chunks(chunks),
                     _floats(vectors), 0, expect)


def emb_delete(fd, space, chunks=(), all_spaces=False):
    buf = _chunks(chunks) if chunks else None
    return _emb_call(fd, IOC_EMB_DELETE, space, 0, len(chunks), buf, None,
                     EMB_ALL_SPACES if all_spaces else 0)


def emb_get(fd, space="", vectors=True, room=None):
    """Returns (chunks, vectors): chunks as dicts, vectors as lists of floats."""
    if room is None:
        room = _emb_call(fd, IOC_EMB_GET, space, 0, 0, None, None)["total"]
    cbuf = ctypes.create_string_buffer(CHUNK.size * max(room, 1))
    info = _emb_call(fd, IOC_EMB_GET, space, 0, room, cbuf, None)
    dim = info["dim"]
    vbuf = ctypes.create_string_buffer(4 * dim * max(room, 1)) if vectors else None
    if vectors:
        info = _emb_call(fd, IOC_EMB_GET, space, 0, room, cbuf, vbuf)
    chunks, vecs = [], []
    for i in range(info["filled"]):
        off, ln, dv, fl, _ = CHUNK.unpack_from(cbuf.raw, i * CHUNK.size)
        chunks.append({"offset": off, "length": ln, "data_version": dv,
                       "stale": bool(fl & CHUNK_STALE)})
        if vectors:
            vecs.append(list(struct.unpack_from(f"<{dim}f", vbuf.raw, 4 * dim * i)))
    return chunks, vecs, info


def search_call(dirfd, space, query, k, ef=0, flags=SEARCH_PATHS, dim=None, size=None,
                reserved0=0, reserved=(0,) * 4, paths_size=None, query_ptr=None,
                results_ptr=None):
    """One SEARCH request with the fields as given, for tests of what the kernel rejects.

    paths_size defaults to 4 KiB a result (at most 16 MiB) with SEARCH_PATHS, else 0 (no
    buffer); dim defaults to len(query); query_ptr/results_ptr (an int) replace the
    buffers' addresses.  Results are dicts; "path" is None where none was returned."""
    q = _floats([query])
    res = ctypes.create_string_buffer(RESULT.size * max(k, 1))
    if paths_size is None:
        paths_size = min(k * 4096, 16 << 20) if flags & SEARCH_PATHS else 0
    pbuf = ctypes.create_string_buffer(paths_size) if paths_size else None
    buf = bytearray(SEARCH.pack(SEARCH.size if size is None else size, flags, _name(space),
                                len(query) if dim is None else dim, k, ef, 0,
                                _ptr(q) if query_ptr is None else query_ptr,
                                _ptr(res) if results_ptr is None else results_ptr,
                                _ptr(pbuf), paths_size, reserved0, *reserved))
    fcntl.ioctl(dirfd, IOC_SEARCH, buf)
    count = SEARCH.unpack(bytes(buf))[6]
    out = []
    for i in range(count):
        ino, gen, off, ln, dist, fl, poff, plen = RESULT.unpack_from(res.raw, i * RESULT.size)
        out.append({"ino": ino, "generation": gen, "offset": off, "length": ln,
                    "distance": struct.unpack("<f", struct.pack("<I", dist))[0],
                    "stale": bool(fl & CHUNK_STALE),
                    "path": pbuf.raw[poff:poff + plen].decode(errors="replace")
                    if pbuf is not None and plen else None})
    return out


def search(dirfd, space, query, k, ef=0, exact=False, paths=True,
           no_stale=False, paths_size=1 << 16):
    flags = (SEARCH_EXACT if exact else 0) | (SEARCH_PATHS if paths else 0) | \
        (SEARCH_NO_STALE if no_stale else 0)
    out = search_call(dirfd, space, query, k, ef, flags, paths_size=paths_size if paths else 0)
    for r in out:
        if r["path"] is None:
            del r["path"]
    return out


def open_dir(path):
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


# ---- automatic embeddings (VEXFS_IOC_AUTO) ----

AUTO = struct.Struct("<4I64s4QIiQ128s4Q")
assert AUTO.size == 288
IOC_AUTO = iowr(7, AUTO.size)
AUTO_SET, AUTO_GET, AUTO_STATUS, AUTO_PENDING, AUTO_MARK = 1, 2, 3, 4, 5
AUTO_OFF, AUTO_INHERITED = 0x1, 0x2


def auto_call(fd, op, name="", flags=0, size=None, reserved0=0, reserved=(0,) * 4):
    """One VEXFS_IOC_AUTO request; returns the struct the kernel wrote back as a dict."""
    buf = bytearray(AUTO.pack(AUTO.size if size is None else size, op, flags, reserved0,
                              _name(name), 0, 0, 0, 0, 0, 0, 0, b"", *reserved))
    fcntl.ioctl(fd, IOC_AUTO, buf)
    v = AUTO.unpack(bytes(buf))
    return {"flags": v[2], "name": _cstr(v[4]), "stale": v[5], "failed": v[6],
            "in_flight": v[7], "embedded": v[8], "sidecars": v[9], "last_errno": v[10],
            "last_error_ino": v[11], "last_error": _cstr(v[12])}
