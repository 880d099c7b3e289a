"""The paths a user gives, planned once and read in order: folders, files, named pipes and stdin.

`plan_inputs` walks every folder once and lists what there is to read (and what walking left
out), checking before anything is written what would stop a run: a missing path, a table without
its text column. `read_inputs` then reads the plan in order; the Spark job hands the same plan's
files to its executors, which read each with `read_file`. Paths:

- a folder is walked (`walking`); its files are read by their extension;
- a file is read by its extension, through `READERS`, the one table of the formats read (see
  `formats()`): text and document files (`document_files`) are one document each, not read when
  over MAX_DOCUMENT_BYTES; e-mail (`mail`) one document per message and attachment; records one
  document per line or row;
- `-` (stdin) and a named pipe, such as `<(zcat docs.jsonl.gz)`, are read as JSON lines;
- a file whose name is not valid UTF-8 is listed, not read: no store can keep its name.

Readers yield `SourceDocument`s and, for anything they cannot use, `Skipped` records naming the
file (and line) and the reason, so that nothing disappears without being counted. A reader's
failure of any kind is listed too (`failures`): one file that cannot be read never stops the run.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
from indexer.sources.failures import guarded
from indexer.sources.json_lines import read_jsonl
from indexer.sources.options import SourceDocument, SourceError, SourceOptions
from indexer.sources.walking import walk
from indexer.summary import Skipped

STDIN = "-"
Found = Iterator[SourceDocument | Skipped]


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
    plan = [_utf8_named(item) for item in plan]
    for item in plan:
        if isinstance(item, InputFile):
            _check_table(item, options)
    return plan


def _utf8_named(item: Input | Skipped) -> Input | Skipped:
    """`item`, or a Skipped when its name is not valid UTF-8 (no store can keep it); a name in a
    message shows such bytes as \\xNN."""
    if isinstance(item, Skipped):
        return Skipped(_printable(item.where), item.kind, item.reason)
    name = str(item.path) if isinstance(item, InputFile) else item.name
    if _printable(name) == name:
        return item
    reason = "its name is not valid UTF-8, which no store can keep: rename it to index it"
    return Skipped(_printable(name), "name not UTF-8", reason)


def _printable(name: str) -> str:
    """A path as the OS gave it, with the bytes that are not UTF-8 as \\xNN escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
            stdin = read_jsonl(text_stream(sys.stdin.buffer), "stdin", None, options)
            yield from guarded("stdin", stdin)
        else:
            yield from guarded(item.name, _read_stream(Path(item.name), item.name, options))


def _read_stream(path: Path, name: str, options: SourceOptions) -> Found:
    """A named pipe or device given by name, read as JSON lines."""
    with open(path, "rb") as raw:
        yield from read_jsonl(text_stream(raw), name, None, options)


def read_file(item: InputFile, options: SourceOptions) -> Iterator[SourceDocument | Skipped]:
    """Documents of one file, by its extension (`READERS`); a file that cannot be read, or whose
    reader fails in any way, is listed after what was read of it."""
    reader = READERS.get(item.path.suffix.lower())
    if reader is None:
        suffix = item.path.suffix.lower() or "(none)"
        yield Skipped(item.label, "unsupported file type", f"unsupported file type {suffix}")
        return
    yield from guarded(item.label, _read(item, reader, options))


def _read(item: InputFile, reader: Reader, options: SourceOptions) -> Found:
    source = str(item.path.resolve())
    if reader.whole and (size := item.path.stat().st_size) > MAX_DOCUMENT_BYTES:
        reason = f"{size:,} bytes, over the {MAX_DOCUMENT_BYTES:,}-byte limit for one document"
        yield Skipped(item.label, "too large", reason)
        return
    yield from reader.read(item, source, options)


def _unless_binary(item: InputFile, read: Callable[[BinaryIO], Found]) -> Found:
    """`read` of the opened file, unless NUL bytes at its start say it is binary."""
    with open(item.path, "rb") as raw:
        if looks_binary(raw.peek(BINARY_PROBE)):
            yield Skipped(item.label, "binary file", "binary file (NUL bytes)")
            return
        yield from read(raw)


def _text(item: InputFile, source: str, options: SourceOptions) -> Found:
    return _unless_binary(item, lambda raw: _read_text(raw.read(), item, source))


def _jsonl(item: InputFile, source: str, options: SourceOptions) -> Found:
    return _unless_binary(
        item, lambda raw: read_jsonl(text_stream(raw), item.name, source, options)
    )


def _csv(item: InputFile, source: str, options: SourceOptions) -> Found:
    return _unless_binary(
        item, lambda raw: tables.read_csv(text_stream(raw), item.name, source, options)
    )


def _parquet(item: InputFile, source: str, options: SourceOptions) -> Found:
    return tables.read_parquet(item.path, item.name, source, options)


def _document(item: InputFile, source: str, options: SourceOptions) -> Found:
    path = item.path
    metadata = text_files.file_metadata(path)
    suffix = path.suffix.lower()
    return read_document(path, suffix, item.name, item.label, source, metadata, path.stem)


def _eml(item: InputFile, source: str, options: SourceOptions) -> Found:
    return mail.read_eml(item.path, item.name, item.label, source)


def _mbox(item: InputFile, source: str, options: SourceOptions) -> Found:
    return mail.read_mbox(item.path, item.name, item.label, source)


def _read_text(data: bytes, item: InputFile, source: str) -> Found:
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


@dataclass(frozen=True)
class Reader:
    """How files of one extension are read: `kind` (the formats' group in help texts), `whole`
    (one document held whole: not read when over MAX_DOCUMENT_BYTES) and `read` (item, its
    resolved path, options -> what it holds)."""

    kind: str
    whole: bool
    read: Callable[[InputFile, str, SourceOptions], Found]


READERS: dict[str, Reader] = {  # every extension read, by kind, in the order help texts list them
    **{suffix: Reader("documents", True, _document) for suffix in DOCUMENT_TYPES},
    **{suffix: Reader("text", True, _text) for suffix in text_files.TEXT_TYPES},
    ".eml": Reader("e-mail", True, _eml),
    ".mbox": Reader("e-mail", False, _mbox),
    ".jsonl": Reader("records", False, _jsonl),
    ".csv": Reader("records", False, _csv),
    ".parquet": Reader("records", False, _parquet),
}


def formats() -> str:
    """The extensions read, by kind: "documents (.pdf ...), text (.txt ...), ..."."""
    kinds: dict[str, list[str]] = {}
    for suffix, reader in READERS.items():
        kinds.setdefault(reader.kind, []).append(suffix)
    return ", ".join(f"{kind} ({' '.join(suffixes)})" for kind, suffixes in kinds.items())
