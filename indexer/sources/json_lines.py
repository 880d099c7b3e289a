"""Documents that are JSON lines: one object per line, read as a stream (a file of any size costs
the memory of one line), each named by its file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from indexer.sources.decoding import clean
from indexer.sources.fields import document_from_fields
from indexer.sources.options import SourceDocument, SourceOptions
from indexer.summary import Skipped


def read_jsonl(
    handle: TextIO, name: str, source: str | None, options: SourceOptions, first_line: int = 1
) -> Iterator[SourceDocument | Skipped]:
    """One document per JSON object line; bad lines are reported with file and line number
    (`first_line`: the number of the handle's first line, when it starts inside a file)."""
    for number, raw in enumerate(handle, start=first_line):
        where = f"{name}:{number}"
        line, replaced = clean(raw)
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            place = "column" if error.msg.endswith(" at") else "at column"  # "starting at", ...
            reason = f"invalid JSON: {error.msg} {place} {error.colno}"
            yield Skipped(where, "invalid JSON", reason)
            continue
        except RecursionError:
            yield Skipped(where, "invalid JSON", "invalid JSON: nested too deeply to read")
            continue
        yield document_from_fields(
            record, where, f"{name}#{number}", source, options, replaced, name
        )
