"""OpenDocument text (.odt), read with zipfile and lxml: content.xml for the text, meta.xml for
the title, author and dates. Like a DOCX it has no pages of its own: one unpaginated text, a
paragraph or heading per line, a table row per line with its cells tab-separated; notes and
annotations left out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from indexer.sources.document_info import authors, dated, iso_text, usable_title
from indexer.sources.extracted import Extracted
from indexer.sources.zip_packages import Package

OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
META = {
    "office": OFFICE[1:-1],
    "dc": "http://purl.org/dc/elements/1.1/",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
}
COUNT_DIGITS = 13  # of a text:s count read: 10**12 spaces are over any budget
_LINES = (f"{TEXT}p", f"{TEXT}h")
_LEFT_OUT = (f"{TEXT}note", f"{OFFICE}annotation", f"{TEXT}soft-page-break")
_CONTAINER_NAMES = (  # elements that hold paragraphs
    "list list-item list-header section index-body table-of-content alphabetical-index "
    "illustration-index bibliography table-index object-index user-index index-title"
)
_CONTAINERS = {f"{TEXT}{name}" for name in _CONTAINER_NAMES.split()}
_ROW_GROUPS = {f"{TABLE}{name}" for name in ("table-header-rows", "table-rows", "table-row-group")}


def read_odt(source: Path | bytes) -> Extracted:
    """The text of an OpenDocument text, its title (dc:title, else its first heading), author
    and dates."""
    with Package(source, "ODT") as package:
        content = package.optional_xml("content.xml")
        meta = package.optional_xml("meta.xml")
    if content is None:
        raise package.corrupt("no content.xml")
    body = content.find(f"{OFFICE}body/{OFFICE}text")
    if body is None:
        raise package.corrupt("not a text document (no office:text)")
    lines: list[str] = []
    headings: list[str] = []
    _walk(body, lines, headings, package)
    title, metadata = _meta(meta)
    title = title or usable_title(headings[0] if headings else None)
    return Extracted(["\n".join(lines)], False, title, metadata)


def _walk(
    container: etree._Element, lines: list[str], headings: list[str], package: Package
) -> None:
    """The lines of the paragraphs, headings and tables in `container`; its runs of spaces are
    spent from `package`'s budget."""
    for element in container:
        if element.tag in _LINES:
            text = _text(element, package)
            if element.tag == f"{TEXT}h" and text.strip():
                headings.append(text.strip())
            lines.append(text)
        elif element.tag == f"{TABLE}table":
            for row in _rows(element):
                cells = []
                for cell in row.iterchildren(f"{TABLE}table-cell"):
                    cell_lines: list[str] = []
                    _walk(cell, cell_lines, headings, package)
                    cells.append(" ".join(cell_lines).strip())
                lines.append("\t".join(cells))
        elif element.tag in _CONTAINERS:
            _walk(element, lines, headings, package)


def _rows(table: etree._Element) -> Iterator[etree._Element]:
    """A table's own rows, also those in row groups (not the rows of tables in its cells)."""
    for child in table:
        if child.tag == f"{TABLE}table-row":
            yield child
        elif child.tag in _ROW_GROUPS:
            yield from _rows(child)


def _text(element: etree._Element, package: Package) -> str:
    """A paragraph's text: text:s as its count of spaces (1 when the count is not a number of
    ASCII digits; the spaces spent from `package`'s budget), text:tab and text:line-break as
    characters, spans and links descended into, notes and annotations left out."""
    parts = [element.text or ""]
    for child in element:
        tag = child.tag
        if tag == f"{TEXT}s":
            count = _count(child.get(f"{TEXT}c", "1"))
            package.spend(count, f"its text:s elements ask for {count:,} spaces")
            parts.append(" " * count)
        elif tag == f"{TEXT}tab":
            parts.append("\t")
        elif tag == f"{TEXT}line-break":
            parts.append("\n")
        elif isinstance(tag, str) and tag not in _LEFT_OUT:
            parts.append(_text(child, package))
        parts.append(child.tail or "")
    return "".join(parts)


def _count(given: str) -> int:
    """A text:s count: 1 when it is not a number of ASCII digits; of a number of more than
    COUNT_DIGITS digits, its first COUNT_DIGITS (already over any budget)."""
    digits = (given.lstrip("0") or "0") if given.isascii() and given.isdigit() else "1"
    return int(digits[:COUNT_DIGITS])


def _meta(meta: etree._Element | None) -> tuple[str | None, dict]:
    """Title and metadata from meta.xml: the initial creator is the author (dc:creator is who
    saved it last)."""
    if meta is None:
        return None, {}

    def get(name: str) -> str | None:
        node = meta.find(f"office:meta/{name}", META)
        return node.text.strip() if node is not None and node.text and node.text.strip() else None

    metadata = {
        "authors": authors(get("meta:initial-creator") or get("dc:creator")),
        **dated(created=iso_text(get("meta:creation-date")), modified=iso_text(get("dc:date"))),
    }
    return usable_title(get("dc:title")), metadata
