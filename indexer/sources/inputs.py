"""The paths a user gives, planned once and read in order: folders, files, named pipes and stdin.

`plan_inputs` walks every folder once and lists what there is to read (and what walking left
out), checking before anything is written what would stop a run: a missing path, a table without
its text column. `read_inputs` then reads the plan in order; the Spark job hands the same plan's
files to its executors, which read each with `read_file`. Paths:

- a folder is walked (`walking`); its files are read by their extension;
- a file is read by its extension: text (.txt .md .markdown .rst .html .htm) and document files
  (.pdf .docx .pptx .odt .epub: `document_files`), one document each, not read when over
  MAX_DOCUMENT_BYTES; e-mail (.eml, .mbox: `mail`), one document per message and attachment; or
  records (.jsonl, .csv, .parquet: one document per line or row);
- `-` (stdin) and a named pipe, such as `<(zcat docs.jsonl.gz)`, are read as JSON lines.

Readers yield `SourceDocument`s and, for anything they cannot use, `Skipped` records naming the
file (and line) and the reason, so that nothing disappears without being counted. One file that
cannot be read is listed and the run goes on.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from indexer.settings import MAX_DOCUMENT_BYTES
from indexer.sources import mail, tables, text_files
from indexer.sources.decoding import (
    BINARY_PROBE,
    decode,
    looks_binary,
    mostly_undecodable,
    text_stream,
)
from indexer.sources.document_files import DOCUMENT_TYPES, read_document
from indexer.sources.json_lines import read_jsonl
from indexer.sources.options import SourceDocument, SourceError, SourceOptions
from indexer.sources.walking import walk
from indexer.summary import Skipped

STDIN = "-"
WHOLE_FILE_TYPES = (*text_files.TEXT_TYPES, *DOCUMENT_TYPES, ".eml")  # one document per file
READABLE_TYPES = (*WHOLE_FILE_TYPES, ".jsonl", *tables.TABLE_TYPES, ".mbox")


@dataclass(frozen=True)
class InputFile:
    """One regular file to read: `path` to open, `name` for ids (its path relative to the folder
    given, or the path given), `shown` for messages (default: `path`, as given or walked; a Spark
    executor opens the absolute path and names the file as the driver was given it)."""

    path: Path
    name: str
    shown: str = ""

    @property
    def label(self) -> str:
        return self.shown or str(self.path)


@dataclass(frozen=True)
class InputStream:
    """stdin (`-`) or a named pipe given by name: read once, as JSON lines."""

    name: str


Input = InputFile | InputStream


def plan_inputs(
    paths: Sequence[str], options: SourceOptions, never: Sequence[Path] = ()
) -> list[Input | Skipped]:
    """What there is to read, in order, and what walking left out, each at its place. SourceError
    for a missing path or a table without its text column, before anything is written. `never`:
    folders not to enter (the store's own, a Spark run's)."""
    plan: list[Input | Skipped] = []
    for raw in paths:
        if raw == STDIN:
            plan.append(InputStream(STDIN))
            continue
        path = Path(raw)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise SourceError(f"{raw}: no such file or folder") from None
        except OSError as error:
            plan.append(Skipped(raw, "unreadable", f"unreadable ({error.strerror or error})"))
            continue
        if stat.S_ISDIR(mode):
            for item in walk(path, options, never):
                plan.append(item if isinstance(item, Skipped) else InputFile(item[1], item[0]))
        elif stat.S_ISREG(mode):
            plan.append(InputFile(path, os.path.normpath(raw)))
        else:
            plan.append(InputStream(raw))
    for item in plan:
        if isinstance(item, InputFile):
            _check_table(item, options)
    return plan


def _check_table(item: InputFile, options: SourceOptions) -> None:
    """The columns of a CSV or Parquet file (any other file: nothing to check)."""
    suffix, shown = item.path.suffix.lower(), str(item.path)
    try:
        if suffix == ".csv":
            with open(item.path, "rb") as raw:
                header = tables.csv_header(text_stream(raw))
            tables.check_columns(header, f"{shown}:1", options, "CSV")
        elif suffix == ".parquet" and (columns := tables.parquet_columns(item.path)) is not None:
            tables.check_columns(columns, shown, options, "Parquet file")
    except OSError:
        return  # listed as unreadable when it is read


def read_inputs(
    plan: Sequence[Input | Skipped], options: SourceOptions
) -> Iterator[SourceDocument | Skipped]:
    """Every document of the plan, in order, and a Skipped for each thing left out."""
    for item in plan:
        if isinstance(item, Skipped):
            yield item
        elif isinstance(item, InputFile):
            yield from read_file(item, options)
        elif item.name == STDIN:
            yield from read_jsonl(text_stream(sys.stdin.buffer), "stdin", None, options)
        else:
            yield from _read_stream(Path(item.name), item.name, options)


def _read_stream(
    path: Path, name: str, options: SourceOptions
) -> Iterator[SourceDocument | Skipped]:
    """A named pipe or device given by name, read as JSON lines."""
    try:
        with open(path, "rb") as raw:
            yield from read_jsonl(text_stream(raw), name, None, options)
    except OSError as error:
        yield Skipped(name, "unreadable", f"unreadable ({error.strerror or error})")


def read_file(item: InputFile, options: SourceOptions) -> Iterator[SourceDocument | Skipped]:
    """Documents of one file, by its extension; an unreadable one is listed."""
    path, name, label = item.path, item.name, item.label
    suffix = path.suffix.lower()
    if suffix not in READABLE_TYPES:
        yield Skipped(label, "unsupported file type", f"unsupported file type {suffix or '(none)'}")
        return
    try:
        source = str(path.resolve())
        if suffix in WHOLE_FILE_TYPES and (size := path.stat().st_size) > MAX_DOCUMENT_BYTES:
            reason = f"{size:,} bytes, over the {MAX_DOCUMENT_BYTES:,}-byte limit for one document"
            yield Skipped(label, "too large", reason)
        elif suffix == ".parquet":
            yield from tables.read_parquet(path, name, source, options)
        elif suffix in DOCUMENT_TYPES:
            metadata = text_files.file_metadata(path)
            yield from read_document(path, suffix, name, label, source, metadata, path.stem)
        elif suffix == ".eml":
            yield from mail.read_eml(path, name, label, source)
        elif suffix == ".mbox":
            yield from mail.read_mbox(path, name, label, source)
        else:
            yield from _read_text_or_records(path, item, source, options)
    except OSError as error:
        yield Skipped(label, "unreadable", f"unreadable ({error.strerror or error})")


def _read_text_or_records(
    path: Path, item: InputFile, source: str, options: SourceOptions
) -> Iterator[SourceDocument | Skipped]:
    """A text file's document, or the records of a JSON lines or CSV file; a binary one listed."""
    suffix = path.suffix.lower()
    with open(path, "rb") as raw:
        if looks_binary(raw.peek(BINARY_PROBE)):
            yield Skipped(item.label, "binary file", "binary file (NUL bytes)")
            return
        if suffix == ".jsonl":
            yield from read_jsonl(text_stream(raw), item.name, source, options)
        elif suffix == ".csv":
            yield from tables.read_csv(text_stream(raw), item.name, source, options)
        else:
            yield from _read_text(raw.read(), item, source)


def _read_text(data: bytes, item: InputFile, source: str) -> Iterator[SourceDocument | Skipped]:
    text, replaced = decode(data)
    if mostly_undecodable(replaced, len(data)):
        share = f"{replaced / len(data):.0%}"
        yield Skipped(
            item.label, "binary file", f"not UTF-8 text ({share} of its bytes undecodable)"
        )
        return
    path = item.path
    title, body = text_files.extract(text, path.suffix.lower(), path.stem)
    metadata = text_files.file_metadata(path)
    yield SourceDocument(item.name, body, title, source, metadata, replaced, item.label, item.label)
