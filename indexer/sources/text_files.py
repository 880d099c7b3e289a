"""Documents that are whole files: plain text, Markdown, reStructuredText and HTML."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

TEXT_TYPES = (".txt", ".md", ".markdown", ".rst", ".html", ".htm")


def extract(text: str, suffix: str, stem: str) -> tuple[str, str]:
    """(title, body) of a text file: an HTML <title> or <h1>, a markdown heading, else the name.
    HTML loses its scripts and styles."""
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
    """type, bytes and modification time of a file."""
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds")
    return {"type": path.suffix.lower().lstrip("."), "bytes": stat.st_size, "modified": modified}
