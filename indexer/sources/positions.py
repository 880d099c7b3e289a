"""Ids made from a position in a file: a record without an id is `NAME#N` for its line (JSON
lines, CSV) or row (Parquet), and a message without a Message-ID is `NAME#N` for its place in
an mbox (its attachments `NAME#N/FILE`). Such an id names that position only while the file has
it: once the file holds fewer lines, rows or messages, the ids past its end have outlived their
records, and re-indexing or pruning deletes them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from indexer.sources import mail
from indexer.sources.decoding import text_stream

POSITION = re.compile(r"(?P<name>.*)#(?P<number>[0-9]+)(/.*)?", re.S)


def _lines(path: Path) -> int:
    with open(path, "rb") as raw:
        return sum(1 for _ in text_stream(raw))


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def _messages(path: Path) -> int:
    return sum(1 for _ in mail.messages(path)) if mail.starts_as_mbox(path) else 0


POSITIONS_IN = {".jsonl": _lines, ".csv": _lines, ".parquet": _rows, ".mbox": _messages}


def positions_in(path: Path) -> int | None:
    """How many lines, rows or messages the file at `path` holds now; None when it holds no
    positional ids or cannot be read (then nothing of it counts as outlived)."""
    count = POSITIONS_IN.get(path.suffix.lower())
    if count is None:
        return None
    try:
        return count(path)
    except (OSError, pa.ArrowException):
        return None


def outlived(documents: Iterable[tuple[str, str | None]]) -> list[str]:
    """The ids among (id, source) that name a position past the end of their source file."""
    counts: dict[str, int | None] = {}
    gone = []
    for doc_id, source in documents:
        match = POSITION.fullmatch(doc_id)
        if source is None or match is None:
            continue
        path = Path(source)
        if not match["name"].replace("\\", "/").endswith(path.name):
            continue  # a user's own id that happens to hold a '#'
        if source not in counts:
            counts[source] = positions_in(path) if path.is_file() else None
        held = counts[source]
        if held is not None and int(match["number"]) > held:
            gone.append(doc_id)
    return gone
