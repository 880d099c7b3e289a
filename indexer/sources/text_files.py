"""Documents that are whole files: plain text, Markdown, reStructuredText and HTML."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexer.sources.html_text import html_to_text

TEXT_TYPES = (".txt", ".md", ".markdown", ".rst", ".html", ".htm")


def extract(text: str, suffix: str, stem: str) -> tuple[str, str]:
    """(title, body) of a text file: an HTML <title> or heading, a markdown heading, else the
    name. HTML loses its scripts and styles (`html_text`)."""
    if suffix in (".html", ".htm"):
        title, body = html_to_text(text)
        return title or stem, body
    if suffix in (".md", ".markdown"):
        match = re.search(r"^#\s+(.+)$", text, re.M)
        return (match.group(1).strip() if match else stem), text
    return stem, text


def file_metadata(path: Path) -> dict[str, Any]:
    """type, bytes and modification time of a file."""
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds")
    return {"type": path.suffix.lower().lstrip("."), "bytes": stat.st_size, "modified": modified}
