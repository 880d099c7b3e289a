"""Reading bytes as text, one rule for files, pipes and stdin: UTF-8, a leading byte-order mark
dropped, and every undecodable byte replaced by U+FFFD and counted (never an error). The same
replacement serves for what no store can keep: NUL characters (SQLite's text functions stop at
them) and lone surrogates (they cannot be encoded)."""

from __future__ import annotations

import io
import re
from typing import BinaryIO, TextIO

BINARY_PROBE = 8192  # bytes looked at for NUL bytes
BINARY_SHARE = 0.3  # a text with more undecodable bytes than this share is not text
# surrogateescape keeps an undecodable byte as U+DC80-U+DCFF; other surrogates and NUL come from
# escapes such as "\u0000" and "\ud800" in JSON
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_stream(raw: BinaryIO) -> TextIO:
    """A text view of a byte stream; lines keep undecodable bytes for `clean` to count."""
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")


def clean(text: str) -> tuple[str, int]:
    """`text` with its undecodable bytes, NUL characters and lone surrogates replaced by U+FFFD,
    and their count."""
    count = len(_UNSTORABLE.findall(text))
    return (_UNSTORABLE.sub("\ufffd", text), count) if count else (text, 0)


def decode(data: bytes) -> tuple[str, int]:
    """Bytes as text (a BOM dropped) with undecodable bytes replaced, and their count."""
    return clean(data.decode("utf-8-sig", errors="surrogateescape"))


def looks_binary(head: bytes) -> bool:
    """NUL bytes at the start: a binary file, not text."""
    return b"\0" in head[:BINARY_PROBE]


def mostly_undecodable(replaced: int, size: int) -> bool:
    """More than BINARY_SHARE of the bytes were not UTF-8: binary data, not a text to index."""
    return size > 0 and replaced / size > BINARY_SHARE
