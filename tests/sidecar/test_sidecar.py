# SPDX-License-Identifier: GPL-2.0
"""Host tests of the vexfsd sidecar (tools/vexfsd): no VexFS module needed.

Generic netlink encoding, text extraction and byte ranges, chunking,
configuration, the daemon's loop against a fake kernel and backend, and the
systemd unit against what `make install` installs (and `systemd-analyze
verify`, when systemd is installed).

    python3 tests/sidecar/test_sidecar.py [NAME...]

One line per case: `ok NAME`, `FAIL NAME: why` or `skip NAME: why`; then
`N passed, N failed`; exit status 1 if any failed.
"""

import array
import atexit
import errno
import io
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools", "vexfsd"))

from vexfsd import backends, chunk, config, daemon, extract, genl, vexfs  # noqa: E402

LAUNCHER = os.path.join(REPO, "tools", "vexfsd", "bin", "vexfsd")
CASES = []


class Skip(Exception):
    pass


def case(fn):
    CASES.append(fn)
    return fn


def check(cond, why="check failed"):
    if not cond:
        raise AssertionError(why)


def eq(got, want, what="value"):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError(f"{fn.__name__} did not raise {exc.__name__}")


# ---------------------------------------------------------------- generic netlink

@case
def nlattr_round_trip():
    attrs = [(1, genl.u32(0xDEADBEEF)), (2, genl.u64(1 << 40 | 7)), (3, genl.string("docs")),
             (4, b""), (5, b"a"), (6, b"ab"), (7, b"abc"), (8, b"abcd"), (9, b"abcde"),
             (10, genl.string(""))]
    raw = genl.encode_attrs(attrs)
    eq(len(raw) % 4, 0, "stream length alignment")
    eq(len(raw), sum(4 + genl.align4(len(p)) for _, p in attrs), "padded length")
    back = genl.decode_attrs(raw)
    eq(back, dict(attrs), "decoded attributes")
    eq(genl.get_u32(back, 1), 0xDEADBEEF, "u32")
    eq(genl.get_u64(back, 2), 1 << 40 | 7, "u64")
    eq(genl.get_string(back, 3), "docs", "string")
    eq(genl.get_string(back, 10), "", "empty string")
    eq(back[3], b"docs\0", "strings travel NUL-terminated")
    eq(genl.get_u32(back, 99, "none"), "none", "absent attribute")
    # nla_len counts the payload, not the padding
    eq(struct.unpack_from("=H", raw, 8 + 12)[0], 4 + 5, "nla_len of 'docs\\0'")


@case
def nlattr_flags_and_malformed():
    nested = struct.pack("=HH", 8, 0x8000 | 3) + genl.u32(5)
    eq(genl.decode_attrs(nested), {3: genl.u32(5)}, "NLA_F_NESTED masked off")
    raises(ValueError, genl.decode_attrs, struct.pack("=HH", 40, 1) + b"\0" * 4)
    raises(ValueError, genl.decode_attrs, struct.pack("=HH", 2, 1))


def _nlmsg(mtype, flags, seq, payload, pid=0):
    return struct.pack("=IHHII", 16 + len(payload), mtype, flags, seq, pid) + payload


@case
def getfamily_reply_parse():
    # CTRL_CMD_NEWFAMILY (1) as the kernel answers GETFAMILY, then the ACK.
    attrs = genl.encode_attrs([(1, struct.pack("=H", 0x1A)),		# FAMILY_ID u16
                               (2, genl.string("vexfs")),		# FAMILY_NAME
                               (3, genl.u32(1)),			# VERSION
                               (4, genl.u32(0)),			# HDRSIZE
                               (5, genl.u32(19)),			# MAXATTR
                               (6, genl.encode_attrs([(1, genl.encode_attrs(
                                   [(1, genl.u32(1)), (2, genl.u32(0x0A))]))]))])  # OPS nested
    reply = _nlmsg(genl.GENL_ID_CTRL, 0, 5, struct.pack("=BBH", 1, 2, 0) + attrs)
    ack = _nlmsg(genl.NLMSG_ERROR, genl.NLM_F_CAPPED, 5,
                 struct.pack("=i", 0) + struct.pack("=IHHII", 28, 0x10, 5, 5, 0))
    msgs = genl.decode_messages(reply + ack)
    eq(len(msgs), 2, "messages in the datagram")
    check(isinstance(msgs[0], genl.Message) and isinstance(msgs[1], genl.Ack))
    eq((msgs[0].cmd, msgs[0].seq), (1, 5), "reply header")
    eq((msgs[1].seq, msgs[1].error), (5, 0), "ack")
    eq(genl.parse_family_reply(msgs[:1], "vexfs"), 0x1A, "family id")
    e = raises(genl.NotLoaded, genl.parse_family_reply, msgs[:1], "other")
    check("module not loaded" in str(e), str(e))


@case
def error_ack_with_extack():
    req = _nlmsg(0x1A, 5, 9, struct.pack("=BBH", 1, 1, 0) + genl.encode_attrs(
        [(2, genl.string("docs"))]))
    tlv = genl.encode_attrs([(genl.NLMSGERR_ATTR_MSG, genl.string("vexfs: no such space"))])
    capped = _nlmsg(genl.NLMSG_ERROR, genl.NLM_F_CAPPED | genl.NLM_F_ACK_TLVS, 9,
                    struct.pack("=i", -errno.ENOENT) + req[:16] + tlv)
    whole = _nlmsg(genl.NLMSG_ERROR, genl.NLM_F_ACK_TLVS, 9,
                   struct.pack("=i", -errno.ENOENT) + req + tlv)
    for raw in (capped, whole):
        (ack,) = genl.decode_messages(raw)
        eq((ack.seq, ack.error, ack.message), (9, -errno.ENOENT, "vexfs: no such space"), "ack")
    (plain,) = genl.decode_messages(_nlmsg(genl.NLMSG_ERROR, 0, 3,
                                           struct.pack("=i", -errno.EPERM) + req))
    eq((plain.error, plain.message), (-errno.EPERM, None), "ack without extack")


def _request_message(ino=300, dv=7, seq=0):
    # As kmod/auto.c builds it: u64s with nla_put_u64_64bit, so PAD attributes in between.
    attrs = genl.encode_attrs([
        (vexfs.ATTR_DEV, genl.u32(0x800011)), (vexfs.ATTR_SPACE, genl.string("docs")),
        (vexfs.ATTR_SPACE_ID, genl.u32(3)), (18, b""), (vexfs.ATTR_INO, genl.u64(ino)),
        (vexfs.ATTR_GENERATION, genl.u32(0xABCDEF01)), (18, b""),
        (vexfs.ATTR_DATA_VERSION, genl.u64(dv)), (18, b""), (vexfs.ATTR_SIZE, genl.u64(1234)),
        (vexfs.ATTR_HANDLE_TYPE, genl.u32(0x81)),
        (vexfs.ATTR_HANDLE, struct.pack("=3I", ino & 0xFFFFFFFF, ino >> 32, 0xABCDEF01))])
    return _nlmsg(0x1A, 0, seq, struct.pack("=BBH", vexfs.CMD_REQUEST, 1, 0) + attrs)


@case
def request_message_parse():
    (msg,) = genl.decode_messages(_request_message(ino=(5 << 32) | 300, dv=99))
    req = daemon.Request.from_attrs(msg.attrs)
    check(req is not None, "request parsed")
    eq((req.dev, req.space, req.space_id, req.ino, req.generation, req.data_version, req.size,
        req.handle_type), (0x800011, "docs", 3, (5 << 32) | 300, 0xABCDEF01, 99, 1234, 0x81),
       "fields")
    eq(req.handle, struct.pack("=3I", 300, 5, 0xABCDEF01), "handle bytes")
    attrs = dict(msg.attrs)
    del attrs[vexfs.ATTR_HANDLE]
    eq(daemon.Request.from_attrs(attrs), None, "a request without a handle is dropped")


class _LoopbackSocket(genl.GenlSocket):
    """A GenlSocket whose 'kernel' is a socketpair we write datagrams into."""

    def __init__(self):
        self.version, self.unsolicited_cmds, self.timeout = 1, frozenset((3,)), 2.0
        self._seq, self._pending, self.family_id = 0, [], 0x1A
        self.sock, self.kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)


@case
def transact_keeps_unsolicited():
    s = _LoopbackSocket()
    try:
        # The kernel's answer to seq 1: a REQUEST (seq 0) arrives first, then the
        # REGISTER reply and the ack; a stray ack for another seq is ignored.
        reply = _nlmsg(0x1A, 0, 1, struct.pack("=BBH", 1, 1, 0) + genl.encode_attrs(
            [(vexfs.ATTR_SPACE_ID, genl.u32(3))]))
        ack = _nlmsg(genl.NLMSG_ERROR, genl.NLM_F_CAPPED, 1,
                     struct.pack("=i", 0) + bytes(16))
        stray = _nlmsg(genl.NLMSG_ERROR, genl.NLM_F_CAPPED, 77, struct.pack("=i", 0) + bytes(16))
        for dgram in (_request_message(), stray + reply, ack):
            s.kernel.send(dgram)
        replies = s.request(1, [])
        eq([m.cmd for m in replies], [1], "replies")
        eq(len(s.kernel.recv(4096)) > 16, True, "request sent")
        s.kernel.send(_request_message(ino=301))
        eq([genl.get_u64(m.attrs, vexfs.ATTR_INO) for m in s.receive()], [300, 301],
           "unsolicited messages, in order")
        eq(s.receive(), [], "nothing more")
        s.kernel.send(_nlmsg(genl.NLMSG_ERROR, genl.NLM_F_CAPPED | genl.NLM_F_ACK_TLVS, 2,
                             struct.pack("=i", -errno.EMEDIUMTYPE) + bytes(16) +
                             genl.encode_attrs([(1, genl.string("different model"))])))
        e = raises(OSError, s.request, 1, [])
        eq((e.errno, e.strerror), (errno.EMEDIUMTYPE, "different model"), "negative ack")
    finally:
        s.close()
        s.kernel.close()


@case
def live_netlink_family_lookup():
    try:
        ctrl = genl.GenlSocket("nlctrl", 2)
    except OSError as e:
        raise Skip(f"no generic netlink here: {e}")
    try:
        eq(ctrl.family_id, genl.GENL_ID_CTRL, "nlctrl's id")
        # a string where the policy wants a u32: the kernel's extack message comes back
        e = raises(OSError, ctrl.transact, genl.GENL_ID_CTRL, 3, 1,
                   [(genl.CTRL_ATTR_FAMILY_ID, b"\1")])
        check(e.errno in (errno.EINVAL, errno.ERANGE), f"errno {e.errno}")
        check(e.strerror != os.strerror(errno.EINVAL), f"extack message, got {e.strerror!r}")
    finally:
        ctrl.close()
    try:
        genl.GenlSocket(vexfs.GENL_NAME, vexfs.GENL_VERSION).close()
        raise Skip("the vexfs module is loaded here")
    except genl.NotLoaded as e:
        check("vexfs module not loaded" in str(e), str(e))


# ---------------------------------------------------------------- ioctl ABI, handles

@case
def ioctl_abi_numbers():
    eq(vexfs.IOC_MANAGE, 0xC1A8E701, "MANAGE")
    eq(vexfs.IOC_EMB_ADD, 0xC098E702, "EMB_ADD")
    eq(vexfs.IOC_EMB_GET, 0xC098E703, "EMB_GET")
    eq(vexfs.IOC_AUTO, 0xC120E707, "AUTO")
    raises(ValueError, vexfs.space_info, 0, "x" * 64)


@case
def file_handles_on_host():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.txt")
        with open(path, "wb") as f:
            f.write(b"by handle")
        try:
            htype, handle, mount_id = vexfs.name_to_handle(path)
        except OSError as e:
            raise Skip(f"name_to_handle_at: {e.strerror}")
        eq(vexfs.name_to_handle(d)[2], mount_id, "same mount id")
        mfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fd = vexfs.open_by_handle(mfd, htype, handle, daemon.OPEN_FLAGS)
            except PermissionError:
                raise Skip("no CAP_DAC_READ_SEARCH") from None
            eq(os.read(fd, 100), b"by handle", "content")
            os.close(fd)
            os.unlink(path)
            e = raises(OSError, vexfs.open_by_handle, mfd, htype, handle, daemon.OPEN_FLAGS)
            eq(e.errno, errno.ESTALE, "deleted file")
        finally:
            os.close(mfd)


@case
def system_kernel_on_host_files():
    k = daemon.SystemKernel()
    with tempfile.TemporaryDirectory() as d:
        path = _write(d, "page.html", "<p>hello</p>")
        try:
            htype, handle, mount_id = vexfs.name_to_handle(path)
        except OSError as e:
            raise Skip(f"name_to_handle_at: {e.strerror}")
        dev = os.stat(d).st_dev
        eq(k.mount_identity(d), (dev, mount_id), "mount identity")
        req = daemon.Request(dev, "docs", 3, os.stat(path).st_ino, 0, 1, 12, htype, handle)
        try:
            got = k.read_file(d, req, 100)
        except PermissionError:
            raise Skip("no CAP_DAC_READ_SEARCH") from None
        eq(got, (b"<p>hello</p>", "page.html", None), "content, name, no VexFS data version")
        eq(raises(OSError, k.read_file, d, req, 5).errno, errno.EFBIG, "too big")
        e = raises(OSError, k.submit, d, req, 2, [(0, 12)], array.array("f", [1.0, 0.0]))
        eq(e.errno, errno.ENOTTY, "EMB_ADD on ext4")
        dtype, dhandle, _ = vexfs.name_to_handle(d)
        dreq = daemon.Request(dev, "docs", 3, 0, 0, 1, 0, dtype, dhandle)
        eq(raises(OSError, k.read_file, d, dreq, 100).errno, errno.EINVAL, "a directory")
        req.dev ^= 1
        eq(raises(OSError, k.read_file, d, req, 100).errno, errno.ESTALE, "another volume")
        eq(raises(OSError, k.space_info, d, "docs").strerror, f"{d} is not a VexFS mount",
           "SPACE_INFO off VexFS")


# ---------------------------------------------------------------- extraction

def _words(text):
    return re.findall(r"\w+", text)


def _chunks_map_back(data, chunks, source_text=None):
    """The source bytes of every chunk's range hold its words: exactly (plain text),
    or in order among others (source_text given: markup around them)."""
    check(chunks, "no chunks")
    for c in chunks:
        check(c.length > 0, f"empty range {c}")
        check(c.offset + c.length <= len(data), f"range past the end {c}")
        raw = data[c.offset:c.offset + c.length]
        if source_text is None:
            eq(_words(raw.decode("utf-8", "replace")), _words(c.text),
               f"words of the chunk at {c.offset}+{c.length}")
            continue
        src = iter(_words(source_text(raw)))
        check(all(w in src for w in _words(c.text)),
              f"the words of the chunk at {c.offset}+{c.length} are not in its source")
        eq(_words(source_text(raw))[:1], _words(c.text)[:1], "the range starts at the chunk")


def _prose(n, seed=1):
    rng = random.Random(seed)
    words = ["mémoire", "pinned", "pages", "kernel", "vector", "naïve", "日本語", "search",
             "inode", "écrit", "über", "chunk"]
    paras = []
    while sum(map(len, paras)) < n:
        sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 14))).capitalize()
                     + rng.choice(".!?") for _ in range(rng.randint(1, 6))]
        paras.append(" ".join(sentences))
    return "\n\n".join(paras)


@case
def extract_plain_text_ranges():
    data = _prose(9000).encode()
    kind, tm = extract.extract(data, "notes.txt")
    eq(kind, "text", "kind")
    eq(tm.text, data.decode(), "text")
    _chunks_map_back(data, chunk.chunk_text(tm))


@case
def extract_markdown_and_bom():
    data = extract.BOM + b"# Title\n\nSome *markdown* with `code`.\n"
    kind, tm = extract.extract(data, "README.md")
    eq(kind, "markdown", "kind")
    eq(tm.text, "# Title\n\nSome *markdown* with `code`.\n", "BOM dropped")
    (c,) = chunk.chunk_text(tm)
    eq((c.offset, c.length), (3, len(data) - 4), "range skips the BOM and the final newline")


@case
def extract_invalid_utf8():
    data = b"caf\xe9 au lait, \xff\xfe un \xc3\xa9t\xc3\xa9 tr\xc3\xa8s chaud et long " * 40
    kind, tm = extract.extract(data)
    eq(kind, "text", "a few invalid bytes are still text")
    check("\ufffd" in tm.text and "été" in tm.text, "replaced and decoded")
    _chunks_map_back(data, chunk.chunk_text(tm, 100, 20))
    i = tm.text.index("\ufffd")
    eq(tm.span(i, i + 1), (3, 1), "a replaced byte maps to itself")


HTML_DOC = """<!DOCTYPE html>
<html><head><title>Pinning &amp; paging</title>
<style>body { color: red; } .secret { }</style>
<script>var hidden = "scriptword";</script></head>
<body><h1>Memory&nbsp;pinning</h1>
<p>The kernel pins pages with <b>get_user_pages</b>&#8212;and unpins them later.
Caf&eacute; na&iuml;ve &#x263A; text.</p>
<!-- a comment with commentword -->
<ul><li>First item</li><li>Second item</li></ul>
<p>%s</p>
</body></html>"""


@case
def extract_html_ranges():
    data = (HTML_DOC % _prose(3000)).encode()
    kind, tm = extract.extract(data, "")
    eq(kind, "html", "sniffed kind")
    for gone in ("scriptword", "color", "commentword", "<b>", "DOCTYPE"):
        check(gone not in tm.text, f"{gone!r} extracted")
    for kept in ("Pinning & paging", "Memory\xa0pinning", "get_user_pages\u2014and", "Café naïve ☺"):
        check(kept in tm.text, f"{kept!r} missing")
    i = tm.text.index("&")
    eq(data[tm.byte_start(i):tm.byte_end(i)], b"&amp;", "entity maps to its source")
    strip = lambda raw: __import__("html").unescape(re.sub(r"<[^>]*>", " ", raw.decode()))
    chunks = chunk.chunk_text(tm, 300, 60)
    _chunks_map_back(data, chunks, strip)
    first = chunks[0]
    eq(data[first.offset:first.offset + 8], b"Pinning ", "first chunk starts at the title text")
    eq(extract.extract(b"<p>x</p>", "page.HTML")[0], "html", "by name")
    eq(extract.extract(b"", "page.html")[1].text, "", "empty HTML")


def _tiny_pdf(text):
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


@case
def extract_pdf():
    if not shutil.which("pdftotext"):
        raise Skip("pdftotext not installed (poppler-utils)")
    kind, tm = extract.extract(_tiny_pdf("How is kernel memory pinned"), "paper.pdf")
    eq(kind, "pdf", "kind")
    (c,) = chunk.chunk_text(tm)
    eq(c.text, "How is kernel memory pinned", "text")
    eq((c.offset, c.length), (0, len(c.text)), "offsets into pdftotext's output")
    e = raises(extract.ExtractError, extract.extract, b"%PDF-1.4\ngarbage", "x.pdf")
    eq(e.errno, errno.EIO, "broken PDF")


@case
def extract_pdf_without_pdftotext():
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = "/nonexistent"
    try:
        e = raises(extract.ExtractError, extract.extract, _tiny_pdf("x"), "a.pdf")
    finally:
        os.environ["PATH"] = path
    eq(e.errno, errno.EOPNOTSUPP, "errno")
    check("poppler-utils" in str(e), str(e))


@case
def extract_binary():
    for data in (b"\x7fELF\x02\x01\x01\0\0\0" + bytes(range(256)) * 4,
                 bytes(random.Random(3).randrange(128, 256) for _ in range(4096)),
                 "UTF-16 text".encode("utf-16")):
        kind, tm = extract.extract(data, "notes.txt")
        eq(kind, "binary", f"kind of {data[:8]!r}")
        eq(chunk.chunk_text(tm), [], "no chunks")
    eq(chunk.chunk_text(extract.extract(b"")[1]), [], "empty file: no chunks")
    eq(chunk.chunk_text(extract.extract(b" \n\t\n ")[1]), [], "blank file: no chunks")


# ---------------------------------------------------------------- chunking

def _check_chunks(tm, chunks, size, overlap):
    text = tm.text
    prev = None
    covered = bytearray(len(text))
    pos = 0
    for c in chunks:
        check(c.text and c.text == c.text.strip() and "  " not in c.text, f"chunk text {c}")
        check(c.length > 0, "length 0 would mean the whole file")
        # find the chunk's characters: it starts at a non-space at or after pos
        start = pos
        while True:
            start = text.index(c.text.split()[0], start)
            span = tm.span(start, start + 1)
            if span[0] == c.offset:
                break
            start += 1
        end = start
        for w in c.text.split():
            end = text.index(w, end) + len(w)
        eq(tm.span(start, end), (c.offset, c.length), "range of the chunk's characters")
        check(end - start <= size, f"chunk of {end - start} characters > {size}")
        for i in range(start, end):
            covered[i] = 1
        if prev:
            check(c.offset > prev.offset, "offsets grow")
            check(c.offset + c.length > prev.offset + prev.length, "ends grow")
        prev, pos = c, start + 1
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    eq(missing[:5], [], "characters in no chunk")


@case
def chunk_short_text_is_one_chunk():
    tm = extract.decode_utf8("  \n Just a short note.  \n".encode())
    (c,) = chunk.chunk_text(tm)
    eq((c.text, c.offset, c.length), ("Just a short note.", 4, 18), "chunk")


@case
def chunk_prefers_paragraphs_then_sentences_then_words():
    para = "alpha " * 100 + "\n\n" + "beta " * 100		# break at the paragraph
    c = chunk.chunk_text(extract.decode_utf8(para.encode()), 1000, 100)
    eq(c[0].text, ("alpha " * 100).strip(), "paragraph break")
    sent = ("word " * 60 + "end. ") * 4			# no paragraphs: at a sentence end
    c = chunk.chunk_text(extract.decode_utf8(sent.encode()), 400, 50)
    check(c[0].text.endswith("end."), f"sentence break: {c[0].text[-20:]!r}")
    words = "abcdefghi " * 100					# only spaces: at a word
    c = chunk.chunk_text(extract.decode_utf8(words.encode()), 95, 20)
    check(all(w == "abcdefghi" for ch in c for w in ch.text.split()), "words kept whole")
    solid = "x" * 2500						# no boundary at all: hard cuts
    c = chunk.chunk_text(extract.decode_utf8(solid.encode()))
    eq([(x.offset, x.length) for x in c], [(0, 1000), (800, 1000), (1600, 900)], "hard cuts")


@case
def chunk_overlap_and_coverage():
    for seed, size, overlap in ((1, 1000, 200), (2, 300, 0), (3, 200, 150), (4, 50, 10),
                                (5, 1000, 999)):
        tm = extract.decode_utf8(_prose(6000, seed).encode())
        chunks = chunk.chunk_text(tm, size, overlap)
        _check_chunks(tm, chunks, size, overlap)
        if overlap >= 20:
            check(all(b.offset < a.offset + a.length for a, b in zip(chunks, chunks[1:])),
                  f"consecutive chunks overlap ({size}/{overlap})")
    eq(chunk.CHUNK_SIZE, 1000, "documented default size")
    eq(chunk.CHUNK_OVERLAP, 200, "documented default overlap")
    raises(ValueError, chunk.chunk_text, extract.decode_utf8(b"x"), 100, 100)


@case
def chunk_html_ranges_distinct():
    data = ("<p>" + "&amp; " * 400 + "</p>").encode()
    chunks = chunk.chunk_text(extract.extract_html(data), 5, 4)
    ranges = [(c.offset, c.length) for c in chunks]
    eq(len(set(ranges)), len(ranges), "no duplicate ranges (EMB_ADD would say EEXIST)")


# ---------------------------------------------------------------- configuration

EXAMPLE = os.path.join(REPO, "tools", "vexfsd", "vexfsd.toml.example")


def _write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


@case
def config_example_and_defaults():
    cfg = config.load(EXAMPLE)
    eq(cfg["mounts"], [{"path": "/mnt/corpus", "spaces": ["minilm"]}], "mounts")
    for key, value in config.DEFAULTS.items():
        if key != "mounts":
            eq(cfg[key], value, f"example's {key} is the default")


@case
def config_errors():
    with tempfile.TemporaryDirectory() as d:
        for text, why in (("windw = 3", "unknown setting"), ("window = 0", "window"),
                          ("window = true", "window"),
                          ("chunk_size = 100\nchunk_overlap = 100", "chunk_overlap"),
                          ("log_format = 'xml'", "log_format"),
                          ("mounts = [{path = 'rel', spaces = ['a']}]", "absolute"),
                          ("mounts = [{path = '/m', spaces = []}]", "spaces"),
                          ("mounts = [{path = '/m', spaces = ['.hidden']}]", "space names"),
                          ("mounts = [{path = '/m', spaces = ['%s']}]" % ("x" * 64), "names"),
                          ("[backend]\nurl = 'x'", "backend"), ("window = ", "")):
            e = raises(config.ConfigError, config.load, _write(d, "c.toml", text))
            check(why in str(e), f"{text!r}: {e}")
        e = raises(config.ConfigError, config.load, os.path.join(d, "missing.toml"))
        check("missing.toml" in str(e), str(e))


@case
def config_cli_overrides():
    from vexfsd.__main__ import parse_args
    with tempfile.TemporaryDirectory() as d:
        path = _write(d, "c.toml", "window = 8\nbatch_size = 32\nmounts = [{path='/a', "
                      "spaces=['x']}]\n[backend]\nbackend = 'http'\nurl = 'http://h'\n"
                      "model = 'm'\n")
        args = parse_args(["run", "--config", path, "--mount", "/mnt/one", "--space", "s1",
                           "--space", "s2", "--mount", "/mnt/two", "--space", "t",
                           "--window", "4", "--backend", "builtin", "--dim", "16",
                           "--log-format", "text", "--adopt"])
        cfg = config.apply_flags(config.load(args.config), args)
    eq(cfg["mounts"], [{"path": "/mnt/one", "spaces": ["s1", "s2"]},
                       {"path": "/mnt/two", "spaces": ["t"]}], "mounts replaced")
    eq((cfg["window"], cfg["batch_size"], cfg["log_format"], cfg["adopt"]),
       (4, 32, "text", True), "settings")
    eq(cfg["backend"], {"backend": "builtin", "url": "http://h", "model": "m", "dim": 16},
       "backend table")
    for argv in (["run", "--space", "x"], ["run", "--mount", "/m"]):
        try:
            with open(os.devnull, "w") as null:
                saved, sys.stderr = sys.stderr, null
                try:
                    parse_args(argv)
                finally:
                    sys.stderr = saved
            raise AssertionError(f"{argv} accepted")
        except SystemExit as e:
            eq(e.code, 2, f"{argv}")


# ---------------------------------------------------------------- the daemon

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeBackend:
    name, model, model_version, dim, metric = "fake", "fake-model", "3", 4, "cosine"

    def __init__(self):
        self.calls = []
        self.fail = None
        self.on_embed = None
        self.closed = False

    def embed(self, texts):
        self.calls.append(list(texts))
        if self.on_embed:
            self.on_embed(texts)
        if self.fail:
            raise self.fail
        return [[float(len(t)), 1.0, 0.0, -1.0] for t in texts]

    def close(self):
        self.closed = True


class FakeFile:
    def __init__(self, data, name="", dv=1, error=None):
        self.data, self.name, self.dv, self.error = data, name, dv, error


class FakeChannel:
    def __init__(self, kernel):
        self.kernel = kernel
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        self.inbox = []
        self.registered = None
        self.unregistered = False
        self.closed = False
        self.fail = None

    def fileno(self):
        return self.r

    def register(self, dev, space, model, model_version, window, timeout_ms):
        if self.kernel.register_error:
            raise self.kernel.register_error
        self.registered = (dev, space, model, model_version, window, timeout_ms)
        return {"space_id": 3, "dim": self.kernel.info["dim"], "metric": 2}

    def unregister(self, dev, space):
        self.unregistered = True

    def done(self, req, err, message):
        self.kernel.dones.append((req.ino, req.data_version, err, message))
        if self.kernel.during_done:	# a request read while waiting for DONE's ack
            self.inbox.append(self.kernel.request(self.kernel.during_done.pop()))

    def push(self, req):
        self.inbox.append(req)
        os.write(self.w, b"x")

    def has_pending(self):
        return bool(self.inbox)

    def receive(self):
        if self.fail:
            raise self.fail
        try:
            os.read(self.r, 4096)
        except BlockingIOError:
            pass
        out, self.inbox = self.inbox, []
        return out

    def close(self):
        self.closed = True
        os.close(self.r)
        os.close(self.w)


class FakeKernel:
    """Files by inode number, one space, and what the daemon asked of it."""

    def __init__(self, **info):
        self.info = {"dim": 4, "model": "fake-model", "model_version": "3", "metric": 2, **info}
        self.files = {}
        self.identity = (0x800011, 42)
        self.channels = []
        self.adds = []
        self.dones = []
        self.reads = []
        self.register_error = None
        self.during_done = []

    def mount_identity(self, path):
        return self.identity

    def space_info(self, path, space):
        return dict(self.info, name=space)

    def auto_status(self, path, space):
        return {"stale": len(self.files), "failed": 0}

    def channel(self):
        ch = FakeChannel(self)
        self.channels.append(ch)
        return ch

    def read_file(self, path, req, max_bytes):
        self.reads.append(req.ino)
        f = self.files[req.ino]
        if f.error:
            raise OSError(f.error, os.strerror(f.error))
        if len(f.data) > max_bytes:
            raise OSError(errno.EFBIG, "too big")
        return f.data, f.name, f.dv

    def submit(self, path, req, dim, ranges, vectors):
        f = self.files.get(req.ino)
        if f is None or f.dv != req.data_version:
            raise OSError(errno.ESTALE, os.strerror(errno.ESTALE))
        check(len(vectors) == len(ranges) * dim and vectors.typecode == "f", "vector buffer")
        check(all(ln > 0 for _, ln in ranges), "no whole-file ranges")
        self.adds.append((req.ino, req.data_version, list(ranges), list(vectors)))

    def request(self, ino):
        f = self.files[ino]
        return daemon.Request(self.identity[0], "docs", 3, ino, 1, f.dv, len(f.data), 0x81,
                              struct.pack("=3I", ino, 0, 1))

    def send(self, *inos):
        for ino in inos:
            self.channels[-1].push(self.request(ino))


def _daemon(kernel=None, backend=None, **settings):
    cfg = config.validate(dict(config.DEFAULTS, mounts=[{"path": "/mnt/docs",
                                                         "spaces": ["docs"]}],
                               backend={"backend": "fake"}, **settings))
    log = io.StringIO()
    clock = Clock()
    d = daemon.Daemon(cfg, backend or FakeBackend(), kernel or FakeKernel(),
                      daemon.Log("json", "debug", log), clock)
    d.start()
    return d, d.kernel, d.backend, clock, log


def _events(log, event="file"):
    return [e for e in map(json.loads, log.getvalue().splitlines()) if e["event"] == event]


@case
def daemon_registers_with_its_model():
    d, k, b, clock, log = _daemon(window=32, timeout_ms=5000)
    eq(k.channels[0].registered, (0x800011, "docs", "fake-model", "3", 32, 5000), "REGISTER")
    (reg,) = _events(log, "registered")
    eq((reg["space"], reg["stale"]), ("docs", 0), "log line")
    d.shutdown()
    check(k.channels[0].unregistered and k.channels[0].closed, "unregistered and closed")
    check(b.closed, "backend closed")


@case
def daemon_refuses_other_models():
    for info, adopt, why in (({"model": "all-MiniLM-L6-v2"}, False, "is for model"),
                             ({"dim": 384}, True, "dimension 384"),
                             ({"model": ""}, False, "records no model"),
                             ({"model_version": "2"}, False, "version")):
        e = raises(daemon.Refused, _daemon, FakeKernel(**info), adopt=adopt)
        check(why in str(e), f"{info}: {e}")
    d, k, *_ = _daemon(FakeKernel(model=""), adopt=True)
    check(k.channels[0].registered, "--adopt serves a space without a model")
    d.shutdown()
    k = FakeKernel()
    k.register_error = OSError(errno.EMEDIUMTYPE, "vexfs: the space records a different model")
    e = raises(daemon.Refused, _daemon, k)
    check("different model" in str(e), f"the kernel's refusal: {e}")
    k = FakeKernel()
    k.register_error = OSError(errno.ENODEV, "no read-write vexfs volume")
    eq(raises(OSError, _daemon, k).errno, errno.ENODEV, "other errors at start are fatal")


@case
def daemon_batches_across_files():
    k = FakeKernel()
    k.files = {10: FakeFile(b"small file one"), 11: FakeFile(b"small file two", dv=5),
               12: FakeFile(_prose(5000, 7).encode(), "big.md"),
               13: FakeFile(b"<html><body><p>web &amp; page</p></body></html>")}
    d, k, b, clock, log = _daemon(k, batch_size=4)
    k.send(10, 11, 12, 13)
    d.step(0)
    check(all(len(c) <= 4 for c in b.calls), f"batches of at most 4: {list(map(len, b.calls))}")
    check(len(b.calls[0]) == 4 and b.calls[0][:2] == ["small file one", "small file two"],
          "the first batch mixes files")
    clock.now += 0.05		# the tail waits batch_wait_ms for company
    d.step(0)
    eq(sorted(a[0] for a in k.adds), [10, 11, 12, 13], "every file submitted")
    eq(k.dones, [], "no DONE on success")
    adds = {a[0]: a for a in k.adds}
    eq(adds[11][1], 5, "expect_version = the request's data version")
    eq(adds[13][2], [(15, 14)], "HTML range covers 'web &amp; page'")
    big = chunk.chunk_text(extract.decode_utf8(k.files[12].data))
    eq(adds[12][2], [(c.offset, c.length) for c in big], "the big file's chunks")
    eq(adds[12][3][:4], [float(len(big[0].text)), 1.0, 0.0, -1.0], "vectors in chunk order")
    eq(sum(map(len, b.calls)), len(big) + 3, "each chunk embedded once")
    lines = _events(log)
    eq(len(lines), 4, "one log line per file")
    for line in lines:
        for key in ("ts", "level", "event", "mount", "space", "ino", "dv", "chunks", "bytes",
                    "ms", "errno"):
            check(key in line, f"{key} missing from {line}")
        eq(line["errno"], 0, "errno")
    d.shutdown()


@case
def daemon_waits_to_fill_a_batch():
    k = FakeKernel()
    k.files = {1: FakeFile(b"alone"), 2: FakeFile(b"company")}
    d, k, b, clock, _ = _daemon(k, batch_size=64, batch_wait_ms=50)
    k.send(1)
    d.step(0)
    eq(b.calls, [], "not embedded before batch_wait_ms")
    check(0 < d._timeout() <= 0.05, f"wakes up for the batch: {d._timeout()}")
    clock.now += 0.03
    k.send(2)
    d.step(0)
    eq(b.calls, [], "still waiting")
    clock.now += 0.02
    d.step(0)
    eq(b.calls, [["alone", "company"]], "one batch for both")
    d.shutdown()


@case
def daemon_empty_and_binary_files_clear_embeddings():
    k = FakeKernel()
    k.files = {1: FakeFile(b""), 2: FakeFile(b"\0\1\2binary" * 100), 3: FakeFile(b"  \n  ")}
    d, k, b, *_ = _daemon(k)
    k.send(1, 2, 3)
    d.step(0)
    eq(sorted((a[0], a[2]) for a in k.adds), [(1, []), (2, []), (3, [])], "zero-chunk EMB_ADDs")
    eq((b.calls, k.dones), ([], []), "no model call, no DONE")
    d.shutdown()


@case
def daemon_file_changed_during_embedding():
    k = FakeKernel()
    k.files = {7: FakeFile(b"text that changes", dv=3)}
    d, k, b, clock, log = _daemon(k, batch_wait_ms=0)
    b.on_embed = lambda texts: setattr(k.files[7], "dv", 4)	# a write meanwhile
    k.send(7)
    d.step(0)
    eq(k.adds, [], "not stored")
    eq(k.dones, [(7, 3, errno.ESTALE, "EMB_ADD: " + os.strerror(errno.ESTALE))], "DONE ESTALE")
    eq(_events(log)[0]["error"], "ESTALE", "logged")
    b.on_embed = None
    k.send(7)			# the kernel sends it again at the new version
    d.step(0)
    eq([(a[0], a[1]) for a in k.adds], [(7, 4)], "stored at the new version")
    d.shutdown()


@case
def daemon_file_changed_or_gone_before_reading():
    k = FakeKernel()
    k.files = {1: FakeFile(b"x", dv=2), 2: FakeFile(b"y", error=errno.ESTALE)}
    d, k, b, *_ = _daemon(k)
    req = k.request(1)
    req.data_version = 1		# the kernel sent version 1; the file is at 2 now
    k.channels[0].push(req)
    k.send(2)
    d.step(0)
    eq(sorted((x[0], x[2]) for x in k.dones), [(1, errno.ESTALE), (2, errno.ESTALE)], "DONEs")
    eq(b.calls, [], "nothing embedded")
    d.shutdown()


@case
def daemon_per_file_errors_reported_once():
    k = FakeKernel()
    k.files = {1: FakeFile(b"secret", error=errno.EACCES), 2: FakeFile(b"x" * 100),
               3: FakeFile(b"%PDF-1.4\nnot really a pdf"), 4: FakeFile(b"fine")}
    d, k, b, clock, log = _daemon(k, max_file_bytes=50, batch_wait_ms=0)
    k.send(1, 2, 3, 4)
    for _ in range(3):
        d.step(0)
        clock.now += 1
    got = {ino: err for ino, _, err, _ in k.dones}
    eq(len(k.dones), 3, "one DONE per failed file")
    eq((got[1], got[2]), (errno.EACCES, errno.EFBIG), "errnos")
    check(got[3] in (errno.EIO, errno.EOPNOTSUPP), f"broken PDF: {got[3]}")
    check(all(msg for *_, msg in k.dones), "each DONE has a message")
    eq(k.reads.count(1), 1, "the unreadable file is read once")
    eq([a[0] for a in k.adds], [4], "the good file still goes through")
    levels = {e["ino"]: e["level"] for e in _events(log)}
    eq((levels[1], levels[4]), ("warning", "info"), "log levels")
    d.shutdown()


@case
def daemon_backend_down_backs_off():
    k = FakeKernel()
    k.files = {1: FakeFile(b"one"), 2: FakeFile(b"two")}
    d, k, b, clock, log = _daemon(k, batch_wait_ms=0)
    b.fail = RuntimeError("connection refused")
    k.send(1)
    d.step(0)
    eq(k.dones, [(1, 1, errno.EAGAIN, "embedding backend: connection refused")], "DONE EAGAIN")
    eq(d.backoff_until - clock.now, daemon.BACKOFF_FIRST, "backing off")
    k.send(1, 2)		# the kernel sends them again
    d.step(0)
    eq(len(b.calls), 1, "no model call while backing off")
    check(abs(d._timeout() - 1.0) < 1e-9, f"sleeps until the backoff ends: {d._timeout()}")
    clock.now += 1.0
    d.step(0)
    eq(len(b.calls), 2, "retried after the backoff")
    eq(d.backoff_until - clock.now, 2.0, "doubled")
    for _ in range(10):
        clock.now = d.backoff_until
        k.send(1)
        d.step(0)
    eq(d.backoff_delay, daemon.BACKOFF_MAX, "capped")
    b.fail = None
    clock.now = d.backoff_until
    k.send(1, 2)
    d.step(0)
    eq(sorted(a[0] for a in k.adds), [1, 2], "embedded once the model is back")
    eq(d.backoff_delay, 0.0, "backoff reset")
    check(all(e == errno.EAGAIN for _, _, e, _ in k.dones), "only EAGAINs: no file failed")
    (first,) = _events(log, "backend_error")[:1]
    eq(first["retry_s"], 1.0, "logged with the delay")
    d.shutdown()


@case
def daemon_serves_requests_read_during_an_ack():
    k = FakeKernel()
    k.files = {1: FakeFile(b"", error=errno.EACCES), 2: FakeFile(b"next")}
    d, k, b, clock, _ = _daemon(k, batch_wait_ms=0)
    k.during_done = [2]
    k.send(1)
    d.step(0)
    eq(d._timeout(), 0.0, "no sleeping on a request already read")
    d.step(0)
    eq([a[0] for a in k.adds], [2], "served without a readable socket")
    d.shutdown()


@case
def daemon_resent_request_is_coalesced():
    k = FakeKernel()
    k.files = {1: FakeFile(b"same", dv=1)}
    d, k, b, clock, _ = _daemon(k)
    k.send(1)
    d.step(0)
    k.send(1)		# the timeout passed: the same version again
    d.step(0)
    clock.now += 1
    d.step(0)
    eq((len(k.adds), sum(map(len, b.calls)), k.dones), (1, 1, []), "embedded once")
    k.files[1] = FakeFile(b"old text", dv=2)
    k.send(1)
    d.step(0)
    k.files[1] = FakeFile(b"new text", dv=3)
    k.send(1)		# a newer version replaces the queued one
    d.step(0)
    clock.now += 1
    d.step(0)
    eq([(a[0], a[1]) for a in k.adds[1:]], [(1, 3)], "only the newest version stored")
    eq(b.calls[-1], ["new text"], "the old version never reached the model")
    d.shutdown()


@case
def daemon_reconnects():
    k = FakeKernel()
    k.files = {1: FakeFile(b"after reconnect")}
    d, k, b, clock, log = _daemon(k, batch_wait_ms=0)
    first = k.channels[0]
    first.fail = OSError(errno.ECONNRESET, "reset")
    os.write(first.w, b"x")
    d.step(0)
    check(first.closed and d.regs[0].channel is None, "dropped the broken socket")
    k.register_error = OSError(errno.ENODEV, "no volume")
    clock.now += 1
    d.step(0)
    eq(len(k.channels), 2, "tried again")
    eq(_events(log, "register_failed")[0]["retry_s"], 2.0, "and backs off")
    k.register_error = None
    clock.now += 2
    d.step(0)
    check(k.channels[-1].registered, "registered again")
    k.send(1)
    d.step(0)
    eq([a[0] for a in k.adds], [1], "serving again")
    k.identity = (0x800011, 43)		# unmounted and mounted again
    clock.now = d.next_check
    d.step(0)
    check(k.channels[-1].closed, "a new mount: old registration dropped")
    clock.now += 1
    d.step(0)
    check(k.channels[-1].registered and not k.channels[-1].closed, "registered on the new mount")
    d.shutdown()


@case
def daemon_shutdown_finishes_or_answers():
    k = FakeKernel()
    k.files = {1: FakeFile(b"queued one"), 2: FakeFile(b"queued two")}
    d, k, b, *_ = _daemon(k)
    k.send(1, 2)
    d.step(0)
    eq(b.calls, [], "waiting for a batch")
    d.shutdown()
    eq(sorted(a[0] for a in k.adds), [1, 2], "finished at shutdown")
    check(k.channels[0].unregistered and k.channels[0].closed, "unregistered")
    # the model is down: what is in progress is answered EAGAIN
    k = FakeKernel()
    k.files = {1: FakeFile(b"queued one")}
    d, k, b, *_ = _daemon(k)
    b.fail = RuntimeError("down")
    k.send(1)
    d.step(0)
    d.shutdown()
    eq([(x[0], x[2]) for x in k.dones], [(1, errno.EAGAIN)], "EAGAIN")
    # a second signal: no more model calls
    k = FakeKernel()
    k.files = {1: FakeFile(b"queued one")}
    d, k, b, *_ = _daemon(k)
    k.send(1)
    d.step(0)
    d.forced = True
    d.shutdown()
    eq((b.calls, [(x[0], x[2], x[3]) for x in k.dones]),
       ([], [(1, errno.EAGAIN, "vexfsd is stopping")]), "forced")


@case
def daemon_sigterm_stops_run():
    k = FakeKernel()
    k.files = {1: FakeFile(b"in flight")}
    cfg = config.validate(dict(config.DEFAULTS, backend={"backend": "fake"},
                               mounts=[{"path": "/mnt/docs", "spaces": ["docs"]}]))
    log = io.StringIO()
    d = daemon.Daemon(cfg, FakeBackend(), k, daemon.Log("text", "info", log))
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))

    def first_request():
        k.send(1)
        timer.start()
    threading.Timer(0.1, first_request).start()
    try:
        eq(d.run(), daemon.EXIT_OK, "exit status")
    finally:
        timer.cancel()
        for s, h in old.items():
            signal.signal(s, h)
    eq([a[0] for a in k.adds], [1], "served before stopping")
    check(k.channels[0].unregistered, "unregistered")
    lines = log.getvalue().splitlines()
    check(lines[-1].split()[1:3] == ["info", "stopped"], f"text log: {lines[-1]!r}")
    check(any(" file " in ln and " ino=1 " in ln for ln in lines), "file line in text form")


# ---------------------------------------------------------------- the model process

class FakeModelProcess(FakeBackend):
    """An asynchronous backend as the daemon sees ModelProcess: answers arrive
    on a pipe when the test says so (answer()), or at once with auto."""

    def __init__(self):
        super().__init__()
        self.r, self.w = os.pipe()
        self.sent = []			# batches not answered yet
        self.answers = []		# their outcomes, in order
        self.starts = 1
        self.auto = False

    def fileno(self):
        return self.r

    def send(self, texts):
        self.calls.append(list(texts))
        self.sent.append(list(texts))

    def answer(self, error=None):
        texts = self.sent.pop(0)
        self.answers.append(error or [[float(len(t)), 1.0, 0.0, -1.0] for t in texts])
        os.write(self.w, b"x")

    def poll(self, timeout=0.0):
        while self.auto and self.sent:
            self.answer()
        return bool(self.answers)

    def receive(self):
        os.read(self.r, 1)
        return [self.answers.pop(0)]

    def close(self):
        super().close()
        os.close(self.r)
        os.close(self.w)


@case
def daemon_reads_files_while_the_model_embeds():
    k = FakeKernel()
    k.files = {i: FakeFile(f"text {i}".encode()) for i in range(1, 8)}
    b = FakeModelProcess()
    d, k, b, clock, log = _daemon(k, b, batch_size=2, batch_wait_ms=0)
    k.send(1, 2, 3, 4, 5, 6)
    d.step(0)
    eq(sorted(k.reads), [1, 2, 3, 4, 5, 6], "every file read while the model works")
    eq(b.sent, [["text 1", "text 2"], ["text 3", "text 4"]], "two batches handed over")
    eq((d.queued, k.adds), (2, []), "the rest waits for the model")
    eq(d._timeout(), d.next_check - clock.now, "sleeps on the model's pipe, not the queue")
    b.answer()
    d.step(0)
    eq([a[0] for a in k.adds], [1, 2], "answered files stored")
    eq(b.sent[-1], ["text 5", "text 6"], "the next batch handed over at once")
    # file 3 changes while its batch is with the model: that answer is not stored
    k.files[3] = FakeFile(b"text 3 again", dv=2)
    k.send(3)
    d.step(0)
    b.answer()
    d.step(0)
    eq([a[0] for a in k.adds], [1, 2, 4], "the old text of file 3 never stored")
    # a batch the model fails on: its files are answered EAGAIN, the others go on
    b.answer(error=RuntimeError("out of memory"))
    d.step(0)
    eq(sorted((x[0], x[2]) for x in k.dones), [(5, errno.EAGAIN), (6, errno.EAGAIN)],
       "the failed batch's files")
    eq(d.backoff_until - clock.now, daemon.BACKOFF_FIRST, "backing off")
    clock.now = d.backoff_until
    k.send(7)
    d.step(0)
    b.auto = True			# stopping: what is queued and in flight is finished
    d.shutdown()
    eq(sorted(a[0] for a in k.adds), [1, 2, 3, 4, 7], "drained at shutdown")
    (add3,) = [a for a in k.adds if a[0] == 3]
    eq((add3[1], add3[3][0]), (2, float(len("text 3 again"))), "file 3 at its new version")
    eq(k.dones[2:], [], "nothing else failed")


def _model_process(dim=4):
    from vexfsd.worker import ModelProcess
    return ModelProcess({"backend": "builtin", "dim": dim})


@case
def model_process_embeds_as_in_process():
    from vexfsd.backends import make_backend
    m = _model_process(16)
    try:
        ref = make_backend({"backend": "builtin", "dim": 16})
        eq(m.info(), ref.info(), "the same model, version, dimension and metric")
        texts = ["how is memory pinned", "compost and tomatoes", ""]
        for got, want in zip(m.embed(texts), ref.embed(texts)):
            check(max(abs(x - y) for x, y in zip(got, want)) < 1e-6, "same vectors")
        # batches larger than the pipes, sent before any answer is read
        big = [f"word{i} " * 300 for i in range(600)]
        for _ in range(3):
            m.send(big)
        for _ in range(3):
            (out,) = m.receive()
            eq(len(out), len(big), "a whole batch answered")
        eq(m.in_flight, 0, "nothing left in flight")
    finally:
        m.close()


class _FailingBackend(backends.Backend):
    """Fails on the text "fail" and takes a minute over "slow"; for the model
    process tests (forked, so the registration below reaches the child)."""

    name, model, model_version, dim, metric = "failing", "failing-model", "", 2, "cosine"

    def __init__(self, cfg):
        if cfg.get("refuse"):
            raise RuntimeError("no model files here")
        self.cold = cfg.get("cold")

    def warm_up(self):
        if self.cold:
            raise RuntimeError("the model cannot run")

    def embed(self, texts):
        if "fail" in texts:
            raise RuntimeError("cannot embed that")
        if "slow" in texts:
            time.sleep(60)
        return [[1.0, float(len(t))] for t in texts]



@case
def model_process_errors_and_restarts():
    from vexfsd import worker
    backends.BACKENDS["failing"] = _FailingBackend
    try:
        for cfg, why in (({"refuse": True}, "no model files here"),
                         ({"cold": True}, "the model cannot run")):
            e = raises(backends.BackendError, worker.ModelProcess, {"backend": "failing", **cfg})
            check(why in str(e), f"the child's reason at start: {e}")
        m = worker.ModelProcess({"backend": "failing"})
        try:
            for texts in (["a"], ["fail"], ["ccc"]):
                m.send(texts)
            got = [m.receive()[0] for _ in range(3)]
            eq(got[0], [array.array("f", [1.0, 1.0])], "first batch")
            check(isinstance(got[1], backends.BackendError) and "cannot embed" in str(got[1]),
                  f"the failing batch: {got[1]!r}")
            eq(got[2], [array.array("f", [1.0, 3.0])], "the batch after it goes on")
            os.kill(m.pid, signal.SIGTERM)	# ignored: the daemon decides when it stops
            eq(m.embed(["dd"]), [array.array("f", [1.0, 2.0])], "SIGTERM ignored")
            m.send(["x"])
            m.send(["slow"])	# surely still in flight when the kill comes
            os.kill(m.pid, signal.SIGKILL)
            outs = []
            while len(outs) < 2:	# "x" may have been answered before the kill
                outs += m.receive()
            eq(len(outs), 2, "one outcome per batch")
            check(isinstance(outs[-1], backends.BackendError) and "signal 9" in str(outs[-1]),
                  f"the batches still in flight fail, saying how: {outs}")
            eq(m.in_flight, 0, "nothing left in flight")
            eq(m.embed(["zz"]), [array.array("f", [1.0, 2.0])], "the next send restarts it")
            eq(m.starts, 2, "started twice")
            pid = m.pid
        finally:
            m.close()
        raises(ChildProcessError, os.waitpid, pid, 0)	# reaped by close()
    finally:
        del backends.BACKENDS["failing"]


@case
def model_process_keeps_no_daemon_descriptors():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    m = _model_process()
    try:
        mine = os.readlink(f"/proc/self/fd/{sock.fileno()}")
        theirs = {os.readlink(f"/proc/{m.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{m.pid}/fd")}
        check(mine not in theirs, f"the child closed the daemon's socket: {theirs}")
    finally:
        m.close()
        sock.close()


@case
def daemon_restarts_a_dead_model_process():
    k = FakeKernel(model="vexfs-builtin-hash", model_version="1")
    k.files = {1: FakeFile(b"first"), 2: FakeFile(b"second")}
    d, k, b, clock, log = _daemon(k, _model_process(), batch_wait_ms=0)
    try:
        k.send(1)
        for _ in range(50):
            d.step(0.1)
            if k.adds:
                break
        eq([a[0] for a in k.adds], [1], "embedded by the model process")
        os.kill(b.pid, signal.SIGKILL)
        k.send(2)
        for _ in range(100):		# the death is seen before or after file 2 is sent
            d.step(0.1)
            if len(k.adds) == 2:
                break
            if k.dones and clock.now < d.backoff_until:
                clock.now = d.backoff_until
                k.send(2)		# the kernel sends it again
        eq([a[0] for a in k.adds], [1, 2], "a new model process embeds the rest")
        for ino, _, err, msg in k.dones:
            eq((ino, err), (2, errno.EAGAIN), "only file 2 answered, with EAGAIN")
            check("exited (signal 9)" in msg, msg)
        eq(b.starts, 2, "restarted once")
    finally:
        d.shutdown()
    eq(b.pid, None, "stopped with the daemon")


# ---------------------------------------------------------------- command line

def _vexfsd(*args, stdin=b""):
    env = dict(os.environ, VEXFSD_PYTHON=sys.executable)
    return subprocess.run([LAUNCHER, *args], input=stdin, capture_output=True, env=env,
                          timeout=60)


@case
def cli_help_version_embed():
    r = _vexfsd("--version")
    eq(r.returncode, 0, "--version")
    check(r.stdout.startswith(b"vexfsd "), r.stdout)
    for sub in ([], ["run"], ["embed"], ["init-space"]):
        r = _vexfsd(*sub, "--help")
        eq(r.returncode, 0, f"{sub} --help")
    r = _vexfsd("embed", "--backend", "builtin", "--dim", "8", stdin=b"how is memory pinned\n")
    eq(r.returncode, 0, f"embed: {r.stderr!r}")
    vec = json.loads(r.stdout)
    eq(len(vec), 8, "dimension")
    r2 = _vexfsd("embed", "--backend", "builtin", "--dim", "8", "--format", "f32",
                 "how is", "memory  pinned")
    eq(list(struct.unpack("<8f", r2.stdout)), [struct.unpack("<f", struct.pack("<f", x))[0]
                                               for x in vec], "f32 = json, args = stdin")
    eq(_vexfsd("embed", "--backend", "builtin", stdin=b"  \n").returncode, 2, "empty text")
    # as vexctl search runs it
    from vexfsd.backends import make_backend
    model = make_backend({"backend": "builtin", "dim": 8}).model
    r = _vexfsd("embed", "--backend", "builtin", "--dim", "8", "--expect-model", model,
                "--format", "f32", stdin=b"how is memory pinned")
    eq(r.stdout, r2.stdout, "--expect-model with the backend's model")
    r = _vexfsd("embed", "--backend", "builtin", "--expect-model", "all-MiniLM-L6-v2",
                stdin=b"query")
    eq((r.returncode, r.stdout), (2, b""), "another model")
    check(b"all-MiniLM-L6-v2" in r.stderr, r.stderr)


@case
def cli_run_errors():
    r = _vexfsd("run", "--backend", "builtin")
    eq(r.returncode, 2, "no mounts")
    check(b"no_mounts" in r.stderr, r.stderr)
    with tempfile.TemporaryDirectory() as d:
        r = _vexfsd("run", "--backend", "builtin", "--mount", d, "--space", "docs")
        eq(r.returncode, 2, "not a VexFS mount")
        check(b"not a VexFS mount" in r.stderr, r.stderr)
        bad = _write(d, "bad.toml", "window = 0\n")
        r = _vexfsd("run", "--config", bad)
        eq(r.returncode, 2, "bad configuration")
        r = _vexfsd("init-space", d, "docs", "--backend", "builtin")
        eq(r.returncode, 1, "init-space off VexFS")
        check(b"not a VexFS mount" in r.stderr, r.stderr)


# ---------------------------------------------------------------- the systemd unit

UNIT = os.path.join(REPO, "tools", "vexfsd", "vexfsd.service")
_installed = []


def _make_install():
    """The root of `make install` into a temporary DESTDIR (made once, removed at exit)."""
    if not _installed:
        if not shutil.which("make") or not shutil.which("flock"):
            raise Skip("make or flock is not installed")
        root = tempfile.mkdtemp(prefix="vexfsd-install.")
        atexit.register(shutil.rmtree, root, True)
        # under the lock scripts/vm-exec builds with: one make at a time in the tree
        lock = os.path.join(REPO, "build", ".vm-build.lock")
        os.makedirs(os.path.dirname(lock), exist_ok=True)
        r = subprocess.run(["flock", lock, "make", "-s", "-C", REPO, "install",
                            f"DESTDIR={root}"], capture_output=True, text=True, timeout=900)
        if r.returncode:
            raise AssertionError(f"make install DESTDIR={root}: status {r.returncode}: "
                                 f"{(r.stdout + r.stderr).strip()[-500:]}")
        _installed.append(root)
    return _installed[0]


def _unit_service():
    """The [Service] section of the unit: {key: [values]}."""
    section, keys = None, {}
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]":
                key, _, value = line.partition("=")
                keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def _exec_start():
    """ExecStart's argv (no prefixes such as '-' or '+')."""
    cmds = _unit_service().get("ExecStart", [])
    eq(len(cmds), 1, "ExecStart= lines")
    return shlex.split(cmds[0].lstrip("-@:+!"))


@case
def systemd_unit_runs_what_make_install_installs():
    argv = _exec_start()
    root = _make_install()
    program = root + argv[0]
    installed = sorted(os.path.join(dp, n)[len(root):] for dp, _, names in os.walk(root)
                       for n in names if n == "vexfsd")
    check(os.path.isabs(argv[0]) and os.path.isfile(program) and os.access(program, os.X_OK),
          f"ExecStart runs {argv[0]}; `make install` installs vexfsd as {installed}")
    from vexfsd.__main__ import parse_args
    try:
        args = parse_args(argv[1:])
    except SystemExit as e:	# argparse's usage error: its message went to stderr
        raise AssertionError(f"vexfsd does not accept ExecStart's arguments {argv[1:]}: "
                             f"status {e.code}") from None
    eq(args.command, "run", "ExecStart's command")
    eq(args.config, config.DEFAULT_PATH, "ExecStart's configuration file")
    # The installed copy runs its own package with those options: a configuration naming a
    # directory that is no VexFS mount is refused (a usage error would exit 2 too: the
    # message tells them apart).
    with tempfile.TemporaryDirectory() as d:
        cfg = _write(d, "vexfsd.toml", f"mounts = [{{path = '{d}', spaces = ['docs']}}]\n"
                     "[backend]\nbackend = 'builtin'\n")
        env = {k: v for k, v in os.environ.items() if k not in ("VEXFSD_PYTHON", "PYTHONPATH")}
        r = subprocess.run([program] + [cfg if a == args.config else a for a in argv[1:]],
                           capture_output=True, env=env, timeout=60)
    eq(r.returncode, daemon.EXIT_USAGE, f"installed vexfsd on a directory ({r.stderr!r})")
    check(b"not a VexFS mount" in r.stderr, r.stderr)
    # what the unit promises and vexfsd relies on (docs/VEXFSD.md, systemd)
    svc = _unit_service()
    eq(svc.get("Type"), ["simple"], "Type (vexfsd does not fork)")
    eq(svc.get("RestartPreventExitStatus"), [str(daemon.EXIT_USAGE)],
       "RestartPreventExitStatus (vexfsd's status for configuration errors)")
    check(svc.get("KillSignal", ["SIGTERM"])[-1] in ("SIGTERM", "SIGINT"),
          f"KillSignal {svc.get('KillSignal')}: vexfsd stops cleanly on SIGTERM or SIGINT")
    families = " ".join(svc.get("RestrictAddressFamilies", [])).split()
    check("AF_NETLINK" in families and "AF_INET" in families,
          f"RestrictAddressFamilies {families}: generic netlink and the http backend")
    caps = " ".join(svc.get("CapabilityBoundingSet", [])).split()
    for cap in ("CAP_SYS_ADMIN", "CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE"):
        check(cap in caps, f"CapabilityBoundingSet {caps} lacks {cap}")


@case
def systemd_unit_verifies():
    if not shutil.which("systemd-analyze"):
        raise Skip("systemd-analyze is not installed (package systemd)")
    argv = _exec_start()
    root = _make_install()
    with open(UNIT) as f:
        text = f.read()
    # systemd-analyze checks that ExecStart's program exists: the one installed into DESTDIR
    line = re.search(r"(?m)^ExecStart=.*$", text).group(0)
    text = text.replace(line, line.replace(argv[0], root + argv[0], 1))
    with tempfile.TemporaryDirectory() as d:
        unit = _write(d, "vexfsd.service", text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", unit], capture_output=True,
                           text=True, timeout=120)
    out = (r.stdout + r.stderr).strip()
    # Parse errors are only warnings (status 0): any line about this unit is a failure.
    # Lines about other units (the system's own) are not this test's business.
    ours = [ln for ln in out.splitlines() if "vexfsd" in ln]
    check(r.returncode == 0 and not ours,
          f"systemd-analyze verify, status {r.returncode}: " + " | ".join(ours or [out[-500:]]))


def main(argv):
    names = set(argv)
    passed = failed = 0
    for fn in CASES:
        if names and fn.__name__ not in names:
            continue
        try:
            fn()
        except Skip as e:
            print(f"skip {fn.__name__}: {e}")
            continue
        except Exception as e:
            failed += 1
            where = traceback.extract_tb(e.__traceback__)[-1]
            print(f"FAIL {fn.__name__}: {type(e).__name__}: {e} (line {where.lineno})")
            continue
        passed += 1
        print(f"ok {fn.__name__}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
