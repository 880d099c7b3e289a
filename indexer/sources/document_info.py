"""What a document says about itself, made usable: a title worth showing (the junk producers write,
such as "untitled" or "Microsoft Word - x.docx", left out), authors as a list, dates as ISO text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_JUNK_TITLE = re.compile(
    r"^(untitled|\(?unspecified\)?|unknown|none|document\d*|title|slide \d+|"
    r"powerpoint presentation|microsoft (word|powerpoint|excel) - .*|"
    r".*\.(docx?|pptx?|xlsx?|odt|pdf|tex|dvi|indd|qxd|rtf))$",
    re.I,
)
_JUNK_AUTHOR = re.compile(r"^(\(?unknown\)?|\(?anonymous\)?|\(?unspecified\)?|none)$", re.I)
_AUTHOR_SEPARATOR = re.compile(r";|\n|\band\b")


def usable_title(title: str | None) -> str | None:
    """`title` with its whitespace collapsed; None when empty or producer junk."""
    if not title:
        return None
    title = " ".join(title.split())
    return None if not title or _JUNK_TITLE.match(title) else title


def authors(*names: str | None) -> list[str]:
    """Every author named, each field split at ';', 'and' and line breaks; junk left out."""
    found: list[str] = []
    for raw in names:
        for part in _AUTHOR_SEPARATOR.split(raw or ""):
            name = " ".join(part.split()).strip(",")
            if name and not _JUNK_AUTHOR.match(name) and name not in found:
                found.append(name)
    return found


def iso(value: datetime) -> str:
    """A datetime as ISO text to the second; a naive one is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def iso_text(raw: str | None) -> str | None:
    """A W3C date ('2024-03-15', '2024-03-15T08:30:00Z') as ISO text; None when empty or not a
    date."""
    if not raw or not raw.strip():
        return None
    raw = raw.strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return iso(value) if ("T" in raw or " " in raw) else value.date().isoformat()


def dated(**dates: str | None) -> dict[str, str]:
    """The dates that are known, by name."""
    return {name: value for name, value in dates.items() if value}
