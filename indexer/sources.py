"""Reading documents from the paths a user gives: folders, files, named pipes and stdin.

Readers yield `SourceDocument`s and, for anything they cannot use, `Skipped` records naming the
file (and line) and the reason, so that nothing disappears without being counted. One file that
cannot be read is listed and the run goes on. Paths:

- a folder is walked (`walking`); its files are read by their extension;
- a file is read by its extension: text (.txt .md .markdown .rst .html .htm, one document each)
  or records (.jsonl .csv .parquet, one document per line or row);
- `-` (stdin) and a named pipe, such as `<(zcat docs.jsonl.gz)`, are read as JSON lines.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from indexer import records, text_files
from indexer.decoding import BINARY_PROBE, decode, looks_binary, mostly_undecodable, text_stream
from indexer.documents import SourceDocument, SourceError, SourceOptions
from indexer.summary import Skipped
from indexer.walking import walk

STDIN = "-"


def check_sources(paths: list[str], options: SourceOptions, store: Path | None = None) -> None:
    """SourceError for a missing path or a table without its text column, before any write."""
    for raw in paths:
        if raw == STDIN:
            continue
        path = Path(raw)
        if not path.exists():
            raise SourceError(f"{raw}: no such file or folder")
        if path.is_dir():
            for item in walk(path, options, store):
                if isinstance(item, tuple):
                    _check_table(item[1], str(item[1]), options)
        elif path.is_file():
            _check_table(path, os.path.normpath(raw), options)


def _check_table(path: Path, name: str, options: SourceOptions) -> None:
    """The columns of a CSV or Parquet file (any other file: nothing to check)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with open(path, "rb") as raw:
                header = records.csv_header(text_stream(raw))
            records.check_columns(header, f"{name}:1", options, "CSV")
        elif suffix == ".parquet":
            records.check_columns(
                records.parquet_columns(path, name), name, options, "Parquet file"
            )
    except OSError:
        return  # listed as unreadable when it is read


def read_sources(
    paths: list[str], options: SourceOptions, store: Path | None = None
) -> Iterator[SourceDocument | Skipped]:
    """Every document of every path, in order, and a Skipped for each thing left out. `store`:
    the store's folder, never read even inside a folder given."""
    for raw in paths:
        if raw == STDIN:
            yield from records.read_jsonl(text_stream(sys.stdin.buffer), "stdin", None, options)
            continue
        path = Path(raw)
        try:
            mode = os.stat(path).st_mode
        except OSError as error:
            yield Skipped(raw, "unreadable", f"unreadable ({error.strerror or error})")
            continue
        if stat.S_ISDIR(mode):
            for item in walk(path, options, store):
                if isinstance(item, Skipped):
                    yield item
                else:
                    yield from read_file(item[1], item[0], options)
        elif stat.S_ISREG(mode):
            yield from read_file(path, os.path.normpath(raw), options)
        else:
            yield from _read_stream(path, raw, options)


def _read_stream(
    path: Path, name: str, options: SourceOptions
) -> Iterator[SourceDocument | Skipped]:
    """A named pipe or device given by name, read as JSON lines."""
    try:
        with open(path, "rb") as raw:
            yield from records.read_jsonl(text_stream(raw), name, None, options)
    except OSError as error:
        yield Skipped(name, "unreadable", f"unreadable ({error.strerror or error})")


def read_file(path: Path, name: str, options: SourceOptions) -> Iterator[SourceDocument | Skipped]:
    """Documents of one file, by its extension; an unreadable one is listed."""
    suffix = path.suffix.lower()
    if suffix not in text_files.TEXT_TYPES + records.RECORD_TYPES:
        yield Skipped(
            str(path), "unsupported file type", f"unsupported file type {suffix or '(none)'}"
        )
        return
    try:
        if suffix == ".parquet":
            yield from records.read_parquet(path, name, str(path.resolve()), options)
            return
        with open(path, "rb") as raw:
            if looks_binary(raw.peek(BINARY_PROBE)):
                yield Skipped(str(path), "binary file", "binary file (NUL bytes)")
                return
            source = str(path.resolve())
            if suffix == ".jsonl":
                yield from records.read_jsonl(text_stream(raw), name, source, options)
            elif suffix == ".csv":
                yield from records.read_csv(text_stream(raw), name, source, options)
            else:
                yield from _read_text(raw.read(), path, name, source)
    except OSError as error:
        yield Skipped(str(path), "unreadable", f"unreadable ({error.strerror or error})")


def _read_text(
    data: bytes, path: Path, name: str, source: str
) -> Iterator[SourceDocument | Skipped]:
    text, replaced = decode(data)
    if mostly_undecodable(replaced, len(data)):
        share = f"{replaced / len(data):.0%}"
        yield Skipped(
            str(path), "binary file", f"not UTF-8 text ({share} of its bytes undecodable)"
        )
        return
    title, body = text_files.extract(text, path.suffix.lower(), path.stem)
    metadata = text_files.file_metadata(path)
    yield SourceDocument(name, body, title, source, metadata, replaced, str(path), str(path))
