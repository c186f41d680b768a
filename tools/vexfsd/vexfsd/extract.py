# SPDX-License-Identifier: GPL-2.0
"""Text extraction with a map from the extracted text back to source bytes.

Kinds, decided by content first and the file name second:
  pdf       starts with "%PDF-": the text pdftotext prints (poppler-utils);
            its byte offsets are offsets into that UTF-8 output, not into
            the PDF file, which has no byte range for a passage of text.
  binary    a NUL byte, or more than 10% of bytes that are not UTF-8, in the
            first 64 KiB: no text (the file then gets zero embeddings, which
            is not an error).
  html      a .htm/.html/.xhtml name, or a document starting with <!doctype
            html> or <html: the text outside tags, without script, style
            and template; block elements separate paragraphs.
  markdown  a .md/.markdown name: kept as plain text.
  text      anything else: UTF-8, invalid bytes replaced by U+FFFD.
"""

import bisect
import codecs
import errno
import html
import html.parser
import re
import subprocess

SNIFF_BYTES = 64 << 10
BINARY_INVALID_RATIO = 0.10	# Latin-1 text has a few percent of invalid UTF-8 bytes at most
LITERAL_PIECE_CHARS = 1024	# bounds the work of one offset lookup in non-ASCII text
HTML_NAMES = (".htm", ".html", ".xhtml")
MARKDOWN_NAMES = (".md", ".markdown")
HTML_START = re.compile(rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.I | re.S)
BOM = codecs.BOM_UTF8


class ExtractError(Exception):
    """The file cannot be turned into text; errno says how (EIO, EOPNOTSUPP)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.errno = code


# How a TextMap piece's characters relate to its source bytes.
SPAN, UTF8, ASCII = 0, 1, 2


class TextMap:
    """Extracted text and, for each character, the source bytes it came from.

    The text is a sequence of pieces (char_start, byte_start, byte_len,
    how).  The characters of a UTF8 piece are exactly the UTF-8 encoding of
    its bytes (ASCII: one byte each, the common case, which needs no
    encoding to find an offset); a SPAN piece stands as a whole for its
    bytes (an HTML entity, an invalid byte sequence shown as U+FFFD, or with
    byte_len 0 a separator the extractor inserted).
    """

    def __init__(self):
        self._parts = []
        self._starts = []	# char_start of each piece, for bisect
        self._pieces = []
        self._length = 0
        self._text = None

    def add(self, text, byte_start, byte_len=None):
        """Append text from byte_start; byte_len None: text is the bytes' UTF-8."""
        if not text:
            return
        if byte_len is not None:
            self._append(text, byte_start, byte_len, SPAN)
            return
        for i in range(0, len(text), LITERAL_PIECE_CHARS):
            part = text[i:i + LITERAL_PIECE_CHARS]
            if part.isascii():
                self._append(part, byte_start, len(part), ASCII)
            else:
                self._append(part, byte_start, len(part.encode()), UTF8)
            byte_start += self._pieces[-1][2]

    def _append(self, text, byte_start, byte_len, how):
        self._starts.append(self._length)
        self._pieces.append((self._length, byte_start, byte_len, how))
        self._parts.append(text)
        self._length += len(text)
        self._text = None

    def add_from(self, source, start, end):
        """Append source's characters [start, end), keeping their byte mapping."""
        i = max(bisect.bisect_right(source._starts, start) - 1, 0)
        while start < end and i < len(source._pieces):
            cstart, bstart, blen, how = source._pieces[i]
            ptext = source._part(i)
            stop = min(end, cstart + len(ptext))
            if how == SPAN:
                self._append(ptext[start - cstart:stop - cstart], bstart, blen, SPAN)
            else:
                self.add(ptext[start - cstart:stop - cstart], source.byte_start(start))
            start = stop
            i += 1

    @property
    def text(self):
        if self._text is None:
            self._text = "".join(self._parts)
            self._parts = [self._text]	# the parts only serve this join
        return self._text

    def __len__(self):
        return self._length

    def _part(self, k):
        cstart = self._pieces[k][0]
        end = self._pieces[k + 1][0] if k + 1 < len(self._pieces) else self._length
        return self.text[cstart:end]

    def _offset(self, i, inclusive):
        k = bisect.bisect_right(self._starts, i) - 1
        cstart, bstart, blen, how = self._pieces[k]
        if how == SPAN:
            return bstart + blen if inclusive else bstart
        n = i - cstart + inclusive
        if how == ASCII:
            return bstart + n
        return bstart + len(self.text[cstart:cstart + n].encode())

    def byte_start(self, i):
        """The first source byte of character i."""
        return self._offset(i, False)

    def byte_end(self, i):
        """One past the last source byte of character i."""
        return self._offset(i, True)

    def span(self, start, end):
        """Characters [start, end) -> (byte offset, byte length) in the source."""
        first = self.byte_start(start)
        return first, self.byte_end(end - 1) - first


def decode_utf8(data, base=0):
    """UTF-8 bytes -> TextMap; each invalid sequence becomes one U+FFFD piece."""
    out = TextMap()
    view = memoryview(data)
    pos = len(BOM) if data.startswith(BOM) else 0
    while pos < len(data):
        try:
            text, _ = codecs.utf_8_decode(view[pos:], "strict", True)
            out.add(text, base + pos)
            break
        except UnicodeDecodeError as e:
            out.add(codecs.utf_8_decode(view[pos:pos + e.start], "strict", True)[0], base + pos)
            out.add("\ufffd", base + pos + e.start, e.end - e.start)
            pos += e.end
    return out


def invalid_ratio(sample):
    """Share of bytes in sample that are not valid UTF-8."""
    if not sample:
        return 0.0
    bad = 0
    view = memoryview(sample)
    pos = 0
    while pos < len(sample):
        try:
            codecs.utf_8_decode(view[pos:], "strict", False)	# a cut character at the end is fine
            break
        except UnicodeDecodeError as e:
            bad += e.end - e.start
            pos += e.end
    return bad / len(sample)


def sniff(data, name=""):
    """-> "pdf", "binary", "html", "markdown" or "text"."""
    lower = name.lower()
    head = data[:SNIFF_BYTES]
    if head[:1024].lstrip().startswith(b"%PDF-"):
        return "pdf"
    if b"\0" in head or invalid_ratio(head) > BINARY_INVALID_RATIO:
        return "binary"
    if lower.endswith(HTML_NAMES) or HTML_START.match(head.removeprefix(BOM)):
        return "html"
    if lower.endswith(MARKDOWN_NAMES):
        return "markdown"
    return "text"


class _HTMLText(html.parser.HTMLParser):
    """Collects the text of an HTML document into a TextMap.

    convert_charrefs=False so that data arrives exactly as in the source and
    each entity separately: a position in the document is a byte range."""

    SKIP = frozenset(("script", "style", "template"))
    BLOCK = frozenset(("address", "article", "aside", "blockquote", "br", "dd", "details", "div",
                       "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
                       "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
                       "p", "pre", "section", "summary", "table", "td", "th", "title", "tr",
                       "ul"))
    ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][-.a-zA-Z0-9]*);?")

    def __init__(self, doc):
        super().__init__(convert_charrefs=False)
        self.doc = doc			# TextMap of the decoded document
        self.out = TextMap()
        self.skipping = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", doc.text)]

    def _pos(self):
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def _separator(self, text):
        # A break between blocks: zero source bytes, but the chunker sees it.
        self.out.add(text, self.doc.byte_start(min(self._pos(), len(self.doc) - 1)), 0)

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self._separator("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(self.skipping - 1, 0)
        elif tag in self.BLOCK:
            self._separator("\n\n")

    def handle_data(self, data):
        if not self.skipping:
            start = self._pos()
            self.out.add_from(self.doc, start, start + len(data))

    def _entity(self):
        start = self._pos()
        m = self.ENTITY.match(self.doc.text, start)
        if not m:
            return
        value = html.unescape(m.group())
        if value == m.group():		# unknown entity: the source text stays
            self.out.add_from(self.doc, start, m.end())
            return
        first = self.doc.byte_start(start)
        self.out.add(value, first, self.doc.byte_end(m.end() - 1) - first)

    def handle_entityref(self, name):
        if not self.skipping:
            self._entity()

    def handle_charref(self, name):
        if not self.skipping:
            self._entity()


def extract_html(data):
    doc = decode_utf8(data)
    if not len(doc):
        return doc
    parser = _HTMLText(doc)
    parser.feed(doc.text)
    parser.close()
    return parser.out


def extract_pdf(data, timeout):
    """pdftotext's UTF-8 output as a TextMap over that output's bytes."""
    try:
        proc = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=data,
                              capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise ExtractError(errno.EOPNOTSUPP,
                           "PDF needs pdftotext (Debian package poppler-utils)") from None
    except subprocess.TimeoutExpired:
        raise ExtractError(errno.EIO, f"pdftotext took more than {timeout:g} s") from None
    if proc.returncode:
        why = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ExtractError(errno.EIO, f"pdftotext failed: {why[-1] if why else proc.returncode}")
    return decode_utf8(proc.stdout)


def extract(data, name="", pdf_timeout=60.0):
    """File content -> (kind, TextMap).  Raises ExtractError."""
    kind = sniff(data, name)
    if kind == "pdf":
        return kind, extract_pdf(data, pdf_timeout)
    if kind == "binary":
        return kind, TextMap()
    if kind == "html":
        return kind, extract_html(data)
    return kind, decode_utf8(data)
