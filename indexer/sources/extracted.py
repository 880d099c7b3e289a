"""What a reader of a document format (PDF, Office, OpenDocument, EPUB, e-mail) gets from one file,
and the error it raises for a file it cannot use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Unreadable(Exception):
    """A file a reader cannot use: `kind` is a short category ("encrypted", "corrupt", ...), the
    message the whole reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass
class Extracted:
    """The text of one document, page by page (one page for a format without pages), its own
    title (None: none worth showing), metadata (authors, dates as ISO text, ...), and what it
    left out (kind, reason), such as pages without text."""

    pages: list[str]
    paginated: bool
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    replaced: int = 0  # undecodable bytes replaced by U+FFFD


def pages_note(numbers: list[int], count: int, what: str, unit: str = "page") -> str:
    """A reason naming some of a document's `count` pages ("pages 3, 7 of 10: <what>; ...")."""
    listed = ", ".join(map(str, numbers))
    return (
        f"{unit}{'' if len(numbers) == 1 else 's'} {listed} of {count}: {what}; the other {unit}s "
        "are indexed"
    )
