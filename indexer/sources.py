"""Reading documents from files, folders, JSONL, CSV and stdin.

Readers yield `SourceDocument`s and, for anything they cannot use, `Skipped` records naming the
file (and line) and the reason, so that nothing disappears without being counted.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bs4 import BeautifulSoup

from indexer.summary import Skipped
from store.errors import SemsearchError

TEXT_TYPES = (".txt", ".md", ".markdown", ".rst", ".html", ".htm")
RECORD_TYPES = (".jsonl", ".csv")
BINARY_PROBE = 8192
_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?$")

csv.field_size_limit(sys.maxsize)


class SourceError(SemsearchError):
    """Input that stops a run before anything is written (missing path, missing CSV column)."""


@dataclass
class SourceOptions:
    """How to find documents and fields in the inputs."""

    id_field: str = "id"
    text_field: str = "text"
    title_field: str = "title"
    metadata_field: str = "metadata"
    metadata_columns: list[str] | None = None  # CSV: None = every other column
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)


@dataclass
class SourceDocument:
    """A document as read: its indexed text is the title, a blank line, then the text, when the
    title comes from a separate field."""

    id: str
    text: str
    title: str | None
    source: str | None
    metadata: dict[str, Any]
    replaced: int = 0  # undecodable bytes replaced by U+FFFD
    where: str = ""  # file, or file:line, for messages


def check_sources(paths: list[str], options: SourceOptions) -> None:
    """Raise SourceError for a missing path or a CSV without the text column, before any write."""
    for raw in paths:
        if raw == "-":
            continue
        path = Path(raw)
        if not path.exists():
            raise SourceError(f"{raw}: no such file or folder")
        files = [path] if path.is_file() else [p for _, p in _walk(path, options)]
        for file in files:
            if file.suffix.lower() == ".csv":
                _check_csv_header(file, options)


def _check_csv_header(path: Path, options: SourceOptions) -> None:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        header = next(csv.reader(handle), [])
    if options.text_field not in header:
        raise SourceError(
            f"{path}:1: CSV has no text column {options.text_field!r} (columns: "
            f"{', '.join(header) or 'none'}); name it with --text-field"
        )
    missing = [c for c in options.metadata_columns or [] if c not in header]
    if missing:
        raise SourceError(f"{path}:1: CSV has no metadata column(s) {', '.join(missing)}")


def read_sources(paths: list[str], options: SourceOptions) -> Iterator[SourceDocument | Skipped]:
    """Every document of every path, in order, and a Skipped for each thing left out."""
    for raw in paths:
        if raw == "-":
            yield from read_jsonl(sys.stdin, "stdin", None, options)
            continue
        path = Path(raw)
        if path.is_file():
            yield from read_file(path, os.path.normpath(raw), options)
            continue
        for relative, file in _walk(path, options):
            yield from read_file(file, relative, options)


def _walk(root: Path, options: SourceOptions) -> Iterator[tuple[str, Path]]:
    """(path relative to root, path) of files under root that the globs let through, sorted."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            file = Path(folder) / name
            relative = file.relative_to(root).as_posix()
            if options.include and not any(fnmatch.fnmatch(relative, g) for g in options.include):
                continue
            if any(fnmatch.fnmatch(relative, g) for g in options.exclude):
                continue
            yield relative, file


def read_file(
    path: Path, relative: str, options: SourceOptions
) -> Iterator[SourceDocument | Skipped]:
    """Documents of one file, by its extension."""
    suffix = path.suffix.lower()
    if suffix not in TEXT_TYPES + RECORD_TYPES:
        yield Skipped(
            str(path), "unsupported file type", f"unsupported file type {suffix or '(none)'}"
        )
        return
    data = path.read_bytes()
    if b"\0" in data[:BINARY_PROBE]:
        yield Skipped(str(path), "binary file", "binary file (NUL bytes)")
        return
    text, replaced = decode(data)
    if suffix == ".jsonl":
        yield from read_jsonl(io.StringIO(text), relative, str(path.resolve()), options, replaced)
    elif suffix == ".csv":
        csv_text = io.StringIO(text, newline="")
        yield from read_csv(csv_text, relative, str(path.resolve()), options, replaced)
    else:
        title, body = extract(text, suffix, path.stem)
        source = str(path.resolve())
        yield SourceDocument(
            relative, body, title, source, file_metadata(path), replaced, str(path)
        )


def decode(data: bytes) -> tuple[str, int]:
    """UTF-8 text (a BOM dropped) and the number of undecodable bytes replaced by U+FFFD."""
    try:
        return data.decode("utf-8-sig"), 0
    except UnicodeDecodeError:
        text = data.decode("utf-8-sig", errors="replace")
        return text, text.count("\ufffd")


def extract(text: str, suffix: str, stem: str) -> tuple[str, str]:
    """(title, body) of a text file: an HTML <title> or <h1>, a markdown heading, else the name."""
    if suffix in (".html", ".htm"):
        soup = BeautifulSoup(text, "html.parser")
        heading = soup.find(["title", "h1"])
        title = heading.get_text(" ", strip=True) if heading else stem
        for tag in soup(["script", "style", "noscript", "template", "title"]):
            tag.decompose()
        return title, re.sub(r"\n\s*\n+", "\n\n", soup.get_text("\n")).strip()
    if suffix in (".md", ".markdown"):
        match = re.search(r"^#\s+(.+)$", text, re.M)
        return (match.group(1).strip() if match else stem), text
    return stem, text


def file_metadata(path: Path) -> dict[str, Any]:
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds")
    return {"type": path.suffix.lower().lstrip("."), "bytes": stat.st_size, "modified": modified}


def with_title(title: str | None, text: str) -> str:
    """The indexed text of a record: its title, a blank line, then its text."""
    return f"{title}\n\n{text}" if title else text


def read_jsonl(
    handle: TextIO, relative: str, source: str | None, options: SourceOptions, replaced: int = 0
) -> Iterator[SourceDocument | Skipped]:
    """One document per JSON object line; bad lines are reported with file and line number."""
    for number, line in enumerate(handle, start=1):
        where = f"{relative}:{number}"
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            yield Skipped(
                where, "invalid JSON", f"invalid JSON ({error.msg} at column {error.colno})"
            )
            continue
        line_replaced = line.count("\ufffd") if replaced else 0
        yield from_record(record, where, f"{relative}#{number}", source, options, line_replaced)


def from_record(
    record: Any,
    where: str,
    default_id: str,
    source: str | None,
    options: SourceOptions,
    replaced: int = 0,
) -> SourceDocument | Skipped:
    """A document from one record (a JSON object or a dict given to the Python API)."""
    if not isinstance(record, dict):
        return Skipped(where, "not an object", f"a JSON {type(record).__name__}, not an object")
    text = record.get(options.text_field)
    if not isinstance(text, str):
        return Skipped(where, "no text field", f"no string field {options.text_field!r}")
    metadata = record.get(options.metadata_field) or {}
    if not isinstance(metadata, dict):
        metadata = {options.metadata_field: metadata}
    title = record.get(options.title_field)
    title = str(title) if title not in (None, "") else None
    doc_id = record.get(options.id_field)
    doc_id = str(doc_id) if doc_id not in (None, "") else default_id
    return SourceDocument(doc_id, with_title(title, text), title, source, metadata, replaced, where)


def read_csv(
    handle: TextIO, relative: str, source: str | None, options: SourceOptions, replaced: int = 0
) -> Iterator[SourceDocument | Skipped]:
    """One document per row; metadata from the other (or the named) columns, numbers as numbers."""
    reader = csv.reader(handle)
    header = next(reader, [])
    if options.text_field not in header:
        raise SourceError(f"{relative}:1: CSV has no text column {options.text_field!r}")
    reserved = {options.id_field, options.text_field, options.title_field}
    columns = options.metadata_columns or [c for c in header if c not in reserved]
    for row in reader:
        where = f"{relative}:{reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield Skipped(
                where, "wrong field count", f"{len(row)} fields, the header has {len(header)}"
            )
            continue
        values = dict(zip(header, row, strict=True))
        title = values.get(options.title_field) or None
        doc_id = values.get(options.id_field) or f"{relative}#{reader.line_num}"
        metadata = {c: _cell(values[c]) for c in columns if values.get(c, "") != ""}
        text = with_title(title, values[options.text_field])
        row_replaced = text.count("\ufffd") if replaced else 0
        yield SourceDocument(doc_id, text, title, source, metadata, row_replaced, where)


def _cell(value: str) -> Any:
    if _NUMBER.match(value):
        return float(value) if "." in value else int(value)
    return value
