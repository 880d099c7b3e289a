"""EPUB e-books, read with zipfile, lxml for the package document and `html_text` for the
chapters (EbookLib is AGPL-licensed and is not used). The text is the chapters in reading order
(the spine), a blank line between two; chapters are not pages, so it is unpaginated. Items kept
out of the reading order (linear="no"), the table of contents (the nav document) and anything
that is not XHTML are left out."""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote

from indexer.sources.document_info import authors, dated, iso_text, usable_title
from indexer.sources.extracted import Extracted
from indexer.sources.html_text import html_to_text
from indexer.sources.zip_packages import Package

OPF = "{http://www.idpf.org/2007/opf}"
DC = "{http://purl.org/dc/elements/1.1/}"
CHAPTER_TYPES = ("application/xhtml+xml", "text/html")


def read_epub(source: Path | bytes) -> Extracted:
    """The chapters of an e-book, its title (dc:title, else its first chapter's), authors and
    dates (dc:date as created, dcterms:modified). Chapters the spine names but the file lacks
    are listed."""
    with Package(source, "EPUB") as package:
        container = package.optional_xml("META-INF/container.xml")
        rootfile = None if container is None else container.find(".//{*}rootfile")
        opf_name = "" if rootfile is None else rootfile.get("full-path", "")
        opf = package.optional_xml(opf_name) if opf_name else None
        if opf is None:
            raise package.corrupt(f"no package document ({opf_name or 'META-INF/container.xml'})")
        title, metadata = _metadata(opf)
        folder = posixpath.dirname(opf_name)
        manifest = {item.get("id"): item for item in opf.iter(f"{OPF}item")}
        chapters: list[str] = []
        headings: list[str | None] = []
        missing: list[str] = []
        for ref in opf.iter(f"{OPF}itemref"):
            item = manifest.get(ref.get("idref"))
            if item is None or ref.get("linear") == "no":
                continue
            if "nav" in (item.get("properties") or "").split():
                continue
            if item.get("media-type") not in CHAPTER_TYPES:
                continue
            name = posixpath.normpath(posixpath.join(folder, unquote(item.get("href", ""))))
            try:
                html = package.read(name).decode("utf-8", errors="replace")
            except KeyError:
                missing.append(name)
                continue
            heading, text = html_to_text(html)
            chapters.append(text)
            headings.append(heading)
    left_out = [
        ("missing chapter", f"{name}: in the reading order, not in the file") for name in missing
    ]
    first = next((usable_title(h) for h in headings if usable_title(h)), None)
    return Extracted(chapters, False, title or first, metadata, left_out)


def _metadata(opf) -> tuple[str | None, dict]:  # opf: the package document's root element
    """Title and metadata (every dc:creator, dates) of the package document."""
    found = opf.find(f"{OPF}metadata")
    if found is None:
        return None, {}
    created = modified = None
    for date in found.iter(f"{DC}date"):  # EPUB 2: opf:event="publication" | "modification"
        if date.get(f"{OPF}event") == "modification":
            modified = modified or iso_text(date.text)
        else:
            created = created or iso_text(date.text)
    for meta in found.iter(f"{OPF}meta"):
        if meta.get("property") == "dcterms:modified":
            modified = iso_text(meta.text) or modified
    metadata = {
        "authors": authors(*(creator.text for creator in found.iter(f"{DC}creator"))),
        **dated(created=created, modified=modified),
    }
    return usable_title(found.findtext(f"{DC}title")), metadata
