# SPDX-License-Identifier: GPL-2.0
"""Splitting extracted text into overlapping chunks with source byte ranges.

A chunk holds at most `size` characters (default 1000) and starts about
`overlap` characters (default 200) before the previous one ended, so a
passage cut by a boundary is whole in one of the two.  A chunk ends, in
order of preference, at the last paragraph break, sentence end or space in
the second half of its window, else exactly at `size`; the next one starts
at a word.  Chunks never begin or end with whitespace and are never empty;
a text shorter than `size` is one chunk.

Each chunk carries (offset, length), the range of source bytes its text
came from (extract.TextMap); from one chunk to the next, offsets never
decrease, each chunk brings text the previous one did not have, and no two
chunks have the same range.  The kernel's whole-file form (offset 0,
length 0) is never produced.

Chunk.text is the chunk with runs of whitespace collapsed to one space,
the form the model sees.
"""

import re
from dataclasses import dataclass

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200

_PARAGRAPH = re.compile(r"\n[ \t\r\v]*\n|\f")
_SENTENCE = re.compile(r"[.!?\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*\s")
_SPACE = re.compile(r"\s")
_NON_SPACE = re.compile(r"\S")


@dataclass(frozen=True)
class Chunk:
    text: str
    offset: int
    length: int


def _skip_space(text, i):
    m = _NON_SPACE.search(text, i)
    return m.start() if m else len(text)


def _break(text, start, size, need):
    """Where the chunk starting at start ends (exclusive): past text[need],
    the first character the previous chunk did not have."""
    if start + size >= len(text):
        return len(text)
    lo, hi = max(start + size // 2, need + 1), start + size
    for pattern in (_PARAGRAPH, _SENTENCE, _SPACE):
        last = None
        for last in pattern.finditer(text, lo, hi):
            pass
        if last:
            return last.end()
    return hi


def _next_start(text, start, end, overlap):
    """Where the chunk after [start, end) starts: overlap back, moved to a word."""
    at = max(end - overlap, start + 1)
    if 0 < at < end and not text[at - 1].isspace() and not text[at].isspace():
        space = _SPACE.search(text, at, end)	# mid-word: go to the next word
        if space:
            at = space.end()
    return _skip_space(text, at)


def chunk_text(textmap, size=CHUNK_SIZE, overlap=CHUNK_OVERLAP):
    """TextMap -> list of Chunk.  0 <= overlap < size."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"chunk size {size} / overlap {overlap}: need 0 <= overlap < size")
    text = textmap.text
    chunks = []
    start = need = _skip_space(text, 0)
    while start < len(text):
        end = _break(text, start, size, need)
        last = end
        while text[last - 1].isspace():	# end > start, and text[start] is not a space
            last -= 1
        offset, length = textmap.span(start, last)
        # Tiny chunks inside one multi-character piece could share a range: the
        # kernel refuses duplicates (EEXIST).
        if not chunks or (offset, length) != (chunks[-1].offset, chunks[-1].length):
            chunks.append(Chunk(" ".join(text[start:last].split()), offset, length))
        need = _skip_space(text, end)
        if need >= len(text):
            break
        # Overlap, unless a run of whitespace longer than a chunk lies between.
        start = max(_next_start(text, start, end, overlap), need + 1 - size)
        start = _skip_space(text, start)
    return chunks
