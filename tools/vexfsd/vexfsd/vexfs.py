# SPDX-License-Identifier: GPL-2.0
"""The VexFS interfaces the sidecar uses (include/uapi/linux/vexfs.h).

ioctls by struct packing (MANAGE SPACE_INFO / SPACE_CREATE, EMB_ADD,
EMB_GET for the data version, AUTO STATUS), file handles through libc by
ctypes (Python binds neither open_by_handle_at nor name_to_handle_at), and
the generic netlink protocol's numbers.  Every call raises OSError with the
kernel's errno.
"""

import ctypes
import fcntl
import os
import struct

MAGIC = 0xE7
NAME_MAX = 64
MODEL_MAX = 64
MODEL_VERSION_MAX = 32
BATCH_MAX = 65536			# chunks per EMB_ADD
BATCH_BYTES_MAX = 64 << 20		# vector bytes per EMB_ADD

METRICS = {"l2": 1, "cosine": 2, "ip": 3}
METRIC_NAMES = {v: k for k, v in METRICS.items()}
ELEM_F32 = 1

SPACE_INFO = struct.Struct("<8I64s64s32s6Q2I6Q")
MANAGE_HEAD = struct.Struct("<4I64sQ2I")
MANAGE_TAIL = struct.Struct("<4Q")
CHUNK = struct.Struct("<3Q2I")
EMB = struct.Struct("<2I64s2I3Q2IQ4Q")
AUTO = struct.Struct("<4I64s4QIiQ128s4Q")
MANAGE_SIZE = MANAGE_HEAD.size + SPACE_INFO.size + MANAGE_TAIL.size
assert SPACE_INFO.size == 296 and MANAGE_SIZE == 424
assert CHUNK.size == 32 and EMB.size == 152 and AUTO.size == 288

OP_SPACE_CREATE, OP_SPACE_INFO = 1, 3
EMB_REPLACE_ALL = 0x1
AUTO_STATUS = 3


def _iowr(nr, size):
    return (3 << 30) | (size << 16) | (MAGIC << 8) | nr


IOC_MANAGE = _iowr(1, MANAGE_SIZE)
IOC_EMB_ADD = _iowr(2, EMB.size)
IOC_EMB_GET = _iowr(3, EMB.size)
IOC_AUTO = _iowr(7, AUTO.size)
assert IOC_MANAGE == 0xC1A8E701 and IOC_EMB_ADD == 0xC098E702

# Generic netlink: family, commands and attributes.
GENL_NAME = "vexfs"
GENL_VERSION = 1
CMD_REGISTER, CMD_UNREGISTER, CMD_REQUEST, CMD_DONE = 1, 2, 3, 4
(ATTR_DEV, ATTR_SPACE, ATTR_SPACE_ID, ATTR_MODEL, ATTR_MODEL_VERSION, ATTR_WINDOW,
 ATTR_TIMEOUT_MS, ATTR_INO, ATTR_GENERATION, ATTR_DATA_VERSION, ATTR_SIZE, ATTR_HANDLE_TYPE,
 ATTR_HANDLE, ATTR_ERRNO, ATTR_MESSAGE, ATTR_DIM, ATTR_METRIC) = range(1, 18)
# ATTR_PAD (18) pads the kernel's u64 attributes: decoders skip it.

SPACE_FIELDS = ("space_id", "dim", "elem_type", "metric", "hnsw_m",
                "hnsw_ef_construction", "hnsw_ef_search", "flags", "name",
                "model", "model_version", "vector_count", "indexed_count",
                "pending_count", "index_bytes", "bytes_per_vector",
                "create_time_ns", "max_level", "loaded")


def _cstr(raw):
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def _field(text, room, what):
    """A NUL-terminated name field: refused (not truncated) if it does not fit."""
    raw = text.encode()
    if len(raw) >= room:
        raise ValueError(f"{what} {text!r} is longer than {room - 1} bytes")
    return raw


def _manage(fd, op, name, space=bytes(SPACE_INFO.size)):
    buf = bytearray(MANAGE_HEAD.pack(MANAGE_SIZE, op, 0, 0, _field(name, NAME_MAX, "space name"),
                                     0, 0, 0))
    buf += space + MANAGE_TAIL.pack(0, 0, 0, 0)
    fcntl.ioctl(fd, IOC_MANAGE, buf)
    raw = bytes(buf[MANAGE_HEAD.size:MANAGE_HEAD.size + SPACE_INFO.size])
    info = dict(zip(SPACE_FIELDS, SPACE_INFO.unpack(raw)))
    for key in ("name", "model", "model_version"):
        info[key] = _cstr(info[key])
    return info


def space_info(fd, name):
    """MANAGE SPACE_INFO -> dict of struct vexfs_space_info (metric as a number)."""
    return _manage(fd, OP_SPACE_INFO, name)


def space_create(fd, name, dim, metric, model, model_version):
    """MANAGE SPACE_CREATE (CAP_SYS_ADMIN), default index parameters -> the space."""
    space = SPACE_INFO.pack(0, dim, ELEM_F32, METRICS[metric], 0, 0, 0, 0,
                            _field(name, NAME_MAX, "space name"),
                            _field(model, MODEL_MAX, "model"),
                            _field(model_version, MODEL_VERSION_MAX, "model version"),
                            *([0] * 14))
    return _manage(fd, OP_SPACE_CREATE, name, space)


def _addr(buf):
    return ctypes.addressof(buf) if len(buf) else 0


def emb_add_replace(fd, space, dim, chunks, vectors, expect_version):
    """EMB_ADD with REPLACE_ALL: the file's embeddings in `space` become exactly these.

    chunks: (offset, length) pairs; vectors: array('f') of len(chunks) * dim
    floats.  Zero chunks clears the file's embeddings.  ESTALE if the file's
    data version is no longer expect_version.  Returns the data version."""
    assert vectors.typecode == "f" and len(vectors) == len(chunks) * dim
    craw = b"".join(CHUNK.pack(off, length, 0, 0, 0) for off, length in chunks)
    cbuf = (ctypes.c_char * len(craw)).from_buffer_copy(craw)
    vbuf = (ctypes.c_char * (len(vectors) * 4)).from_buffer(vectors)
    buf = bytearray(EMB.pack(EMB.size, EMB_REPLACE_ALL, _field(space, NAME_MAX, "space name"),
                             dim, len(chunks), _addr(cbuf), _addr(vbuf), expect_version,
                             0, 0, 0, 0, 0, 0, 0))
    fcntl.ioctl(fd, IOC_EMB_ADD, buf)
    return EMB.unpack(bytes(buf))[10]


def data_version(fd, space):
    """EMB_GET counting only -> the file's current data version."""
    buf = bytearray(EMB.pack(EMB.size, 0, _field(space, NAME_MAX, "space name"),
                             0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    fcntl.ioctl(fd, IOC_EMB_GET, buf)
    return EMB.unpack(bytes(buf))[10]


def auto_status(fd, space):
    """AUTO STATUS -> the space's embedding backlog counters."""
    buf = bytearray(AUTO.pack(AUTO.size, AUTO_STATUS, 0, 0, _field(space, NAME_MAX, "space name"),
                              0, 0, 0, 0, 0, 0, 0, b"", 0, 0, 0, 0))
    fcntl.ioctl(fd, IOC_AUTO, buf)
    v = AUTO.unpack(bytes(buf))
    return {"stale": v[5], "failed": v[6], "in_flight": v[7], "embedded": v[8],
            "sidecars": v[9], "last_errno": v[10], "last_error_ino": v[11],
            "last_error": _cstr(v[12])}


# File handles.  struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[]; }
FILE_HANDLE = struct.Struct("=Ii")
MAX_HANDLE_SZ = 128
AT_FDCWD = -100

_libc = ctypes.CDLL(None, use_errno=True)
_libc.open_by_handle_at.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.name_to_handle_at.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p,
                                    ctypes.POINTER(ctypes.c_int), ctypes.c_int]


def _raise_errno(what):
    code = ctypes.get_errno()
    raise OSError(code, f"{what}: {os.strerror(code)}")


def open_by_handle(mount_fd, handle_type, handle, flags):
    """open_by_handle_at(2): needs CAP_DAC_READ_SEARCH; ESTALE if the file is gone."""
    raw = FILE_HANDLE.pack(len(handle), handle_type) + handle
    buf = ctypes.create_string_buffer(raw, len(raw))
    fd = _libc.open_by_handle_at(mount_fd, buf, flags)
    if fd < 0:
        _raise_errno("open_by_handle_at")
    return fd


def name_to_handle(path, dirfd=AT_FDCWD, flags=0):
    """name_to_handle_at(2) -> (handle_type, handle bytes, mount id).

    The mount id changes whenever the volume is mounted again, which is how
    the daemon notices that a registration's mount went away."""
    buf = ctypes.create_string_buffer(FILE_HANDLE.size + MAX_HANDLE_SZ)
    FILE_HANDLE.pack_into(buf, 0, MAX_HANDLE_SZ, 0)
    mount_id = ctypes.c_int()
    if _libc.name_to_handle_at(dirfd, os.fsencode(path), buf, ctypes.byref(mount_id), flags) < 0:
        _raise_errno("name_to_handle_at")
    nbytes, htype = FILE_HANDLE.unpack_from(buf.raw)
    return htype, buf.raw[FILE_HANDLE.size:FILE_HANDLE.size + nbytes], mount_id.value

