# SPDX-License-Identifier: GPL-2.0
"""A minimal generic netlink client on a raw AF_NETLINK socket.

Just what the sidecar protocol needs (include/uapi/linux/vexfs.h): resolve a
family by name, send a command and collect its replies and acknowledgement
(errors carry the kernel's extended-ack message), and receive the messages
the kernel sends unasked.  Netlink is host-endian, hence "=" formats.
"""

import errno
import os
import selectors
import socket
import struct

NETLINK_GENERIC = 16
SO_RCVBUFFORCE = 33		# Linux; not exported by the socket module
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10		# error acks echo only the request's header
NETLINK_EXT_ACK = 11		# error acks carry a message (NLMSGERR_ATTR_MSG)

NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200

NLMSG_ERROR = 2

NLMSGERR_ATTR_MSG = 1

GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2

NLA_TYPE_MASK = 0x3FFF		# drops NLA_F_NESTED and NLA_F_NET_BYTEORDER

NLMSGHDR = struct.Struct("=IHHII")	# len, type, flags, seq, pid
GENLMSGHDR = struct.Struct("=BBH")	# cmd, version, reserved
NLATTR = struct.Struct("=HH")		# len, type
ERRHDR = struct.Struct("=i")

RCVBUF = 8 << 20		# far more than a full window of requests (~150 bytes each)
RECV_SIZE = 1 << 20		# one datagram; the kernel's are a page or two


class NotLoaded(OSError):
    """The generic netlink family does not exist: its module is not loaded."""


def align4(n):
    return (n + 3) & ~3


# Attribute payloads, as the kernel's nla_get_*() and nla_strscpy() read them.
def u32(value):
    return struct.pack("=I", value)


def u64(value):
    return struct.pack("=Q", value)


def string(value):
    """A NUL-terminated string attribute (NLA_NUL_STRING / NLA_STRING)."""
    return value.encode() + b"\0"


def encode_attrs(attrs):
    """attrs: (type, payload bytes) pairs -> the attribute stream, each padded to 4 bytes."""
    out = bytearray()
    for atype, payload in attrs:
        out += NLATTR.pack(NLATTR.size + len(payload), atype)
        out += payload
        out += bytes(align4(len(out)) - len(out))
    return bytes(out)


def decode_attrs(buf):
    """The attribute stream -> {type: payload bytes} (the last one wins on repeats)."""
    attrs = {}
    off = 0
    while off + NLATTR.size <= len(buf):
        alen, atype = NLATTR.unpack_from(buf, off)
        if alen < NLATTR.size or off + alen > len(buf):
            raise ValueError(f"malformed netlink attribute at offset {off}")
        attrs[atype & NLA_TYPE_MASK] = bytes(buf[off + NLATTR.size:off + alen])
        off += align4(alen)
    return attrs


def get_u32(attrs, atype, default=None):
    return struct.unpack("=I", attrs[atype][:4])[0] if atype in attrs else default


def get_u16(attrs, atype, default=None):
    return struct.unpack("=H", attrs[atype][:2])[0] if atype in attrs else default


def get_u64(attrs, atype, default=None):
    return struct.unpack("=Q", attrs[atype][:8])[0] if atype in attrs else default


def get_string(attrs, atype, default=None):
    if atype not in attrs:
        return default
    return attrs[atype].split(b"\0", 1)[0].decode(errors="replace")


class Message:
    """One generic netlink message: nlmsghdr fields, genl command and attributes."""

    def __init__(self, mtype, flags, seq, pid, cmd, version, attrs):
        self.type, self.flags, self.seq, self.pid = mtype, flags, seq, pid
        self.cmd, self.version, self.attrs = cmd, version, attrs


class Ack:
    """An NLMSG_ERROR: error 0 acknowledges request seq, else a negative errno."""

    def __init__(self, seq, error, message):
        self.seq, self.error, self.message = seq, error, message


def encode_message(mtype, flags, seq, cmd, version, attrs):
    body = GENLMSGHDR.pack(cmd, version, 0) + encode_attrs(attrs)
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), mtype, flags, seq, 0) + body


def _decode_error(buf, off, length, flags, seq):
    (err,) = ERRHDR.unpack_from(buf, off)
    orig = off + ERRHDR.size
    # An error echoes the whole request unless capped; a success, its header only.
    echoed = NLMSGHDR.size
    if err and not flags & NLM_F_CAPPED:
        echoed = align4(NLMSGHDR.unpack_from(buf, orig)[0])
    text = None
    if flags & NLM_F_ACK_TLVS:
        text = get_string(decode_attrs(buf[orig + echoed:off + length]), NLMSGERR_ATTR_MSG)
    return Ack(seq, err, text)


def decode_messages(buf):
    """One received datagram -> a list of Message and Ack (NOOP/DONE/OVERRUN skipped)."""
    out = []
    off = 0
    while off + NLMSGHDR.size <= len(buf):
        mlen, mtype, flags, seq, pid = NLMSGHDR.unpack_from(buf, off)
        if mlen < NLMSGHDR.size or off + mlen > len(buf):
            raise ValueError(f"malformed netlink message at offset {off}")
        body = off + NLMSGHDR.size
        if mtype == NLMSG_ERROR:
            out.append(_decode_error(buf, body, mlen - NLMSGHDR.size, flags, seq))
        elif mtype >= 0x10:		# below are the netlink control types
            cmd, version, _ = GENLMSGHDR.unpack_from(buf, body)
            attrs = decode_attrs(buf[body + GENLMSGHDR.size:off + mlen])
            out.append(Message(mtype, flags, seq, pid, cmd, version, attrs))
        off += align4(mlen)
    return out


class GenlSocket:
    """A generic netlink socket talking to one family.

    Non-blocking: fileno() goes into a selector; receive() returns the
    unsolicited messages (those the kernel sends unasked: a command in
    `unsolicited_cmds`, or a sequence number no request of ours is waiting
    for).  request() blocks until its acknowledgement and keeps unsolicited
    messages that arrive meanwhile for receive().
    """

    def __init__(self, family, version, unsolicited_cmds=(), timeout=10.0):
        self.version = version
        self.unsolicited_cmds = frozenset(unsolicited_cmds)
        self.timeout = timeout
        self._seq = 0
        self._pending = []
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  NETLINK_GENERIC)
        try:
            self._setup()
            self.family_id = resolve_family(self, family)
        except BaseException:
            self.sock.close()
            raise

    def _setup(self):
        try:	# FORCE may exceed net.core.rmem_max, but needs CAP_NET_ADMIN
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except PermissionError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
            try:
                self.sock.setsockopt(SOL_NETLINK, opt, 1)
            except OSError:		# older kernels: plain errnos, whole echoes
                pass
        self.sock.bind((0, 0))
        self.sock.setblocking(False)

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()

    def _next_seq(self):
        self._seq = self._seq % 0x7FFFFFFF + 1	# never 0, which the kernel's own messages use
        return self._seq

    def _recv(self, wait):
        """One datagram's messages; [] if none is ready (and wait is False).

        ENOBUFS (the kernel dropped messages: the receive buffer overflowed)
        propagates; the dropped requests are resent after their timeout."""
        if wait:
            with selectors.DefaultSelector() as sel:
                sel.register(self.sock, selectors.EVENT_READ)
                if not sel.select(self.timeout):
                    raise OSError(errno.ETIMEDOUT, "no answer from the kernel")
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return []
        return decode_messages(data)

    def transact(self, mtype, cmd, version, attrs):
        """Send one request with NLM_F_ACK; return its reply messages.

        Raises OSError(errno, the kernel's extack message or strerror) on a
        negative acknowledgement."""
        seq = self._next_seq()
        self.sock.send(encode_message(mtype, NLM_F_REQUEST | NLM_F_ACK, seq, cmd, version, attrs))
        replies = []
        while True:
            try:
                msgs = self._recv(wait=True)
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                continue
            for msg in msgs:
                if isinstance(msg, Ack):
                    if msg.seq != seq:
                        continue
                    if msg.error:
                        code = -msg.error
                        raise OSError(code, msg.message or os.strerror(code))
                    return replies
                if msg.seq == seq and msg.cmd not in self.unsolicited_cmds:
                    replies.append(msg)
                else:
                    self._pending.append(msg)

    def request(self, cmd, attrs):
        """A command of this socket's family -> its reply messages."""
        return self.transact(self.family_id, cmd, self.version, attrs)

    def has_pending(self):
        """Unsolicited messages were read while waiting for an ack: receive() them
        now, the selector will not report them."""
        return bool(self._pending)

    def receive(self):
        """Every unsolicited message available now, without blocking."""
        out, self._pending = self._pending, []
        while True:
            try:
                msgs = self._recv(wait=False)
            except OSError:
                self._pending = out + self._pending	# not lost with the error
                raise
            if not msgs:
                return out
            out += [m for m in msgs if isinstance(m, Message)]


def resolve_family(gsock, name):
    """CTRL_CMD_GETFAMILY -> the family's id; NotLoaded if there is none."""
    try:
        replies = gsock.transact(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1,
                                 [(CTRL_ATTR_FAMILY_NAME, string(name))])
    except FileNotFoundError:
        replies = []
    return parse_family_reply(replies, name)


def parse_family_reply(replies, name):
    for msg in replies:
        if get_string(msg.attrs, CTRL_ATTR_FAMILY_NAME) == name:
            return get_u16(msg.attrs, CTRL_ATTR_FAMILY_ID)
    raise NotLoaded(errno.ENOENT, f"{name} module not loaded (no generic netlink family {name!r})")
