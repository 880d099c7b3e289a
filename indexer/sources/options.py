"""What reading inputs takes and gives: the options that find documents and their fields, and
the documents read, each with where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.errors import SemsearchError


class SourceError(SemsearchError):
    """Input that stops a run before anything is written (missing path, missing CSV column)."""


@dataclass
class SourceOptions:
    """How to find documents and fields in the inputs."""

    id_field: str = "id"
    text_field: str = "text"
    title_field: str = "title"
    metadata_field: str = "metadata"
    metadata_columns: list[str] | None = None  # CSV and Parquet: None = every other column
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)


@dataclass
class SourceDocument:
    """A document as read: its indexed text is the title, a blank line, then the text, when the
    title comes from a separate field. A paginated one (PDF, slides) says where each page starts
    in its text."""

    id: str
    text: str
    title: str | None
    source: str | None
    metadata: dict[str, Any]
    replaced: int = 0  # undecodable bytes (and NUL, lone surrogates) replaced by U+FFFD
    where: str = ""  # file, or file:line, for messages
    file: str = ""  # the file or stream it was read from
    nulled: int = 0  # non-finite numbers (NaN, Infinity) in the metadata, stored as null
    pages: list[int] | None = None  # offsets in `text` where pages start; None: not paginated


def with_title(title: str | None, text: str) -> str:
    """The indexed text of a record: its title, a blank line, then its text."""
    return f"{title}\n\n{text}" if title else text
