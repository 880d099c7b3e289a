"""Word (.docx) and PowerPoint (.pptx) files: Office Open XML packages, read with zipfile and lxml.

The XML is walked directly rather than through python-docx, whose API leaves out paragraphs inside
content controls (w:sdt) and the text of tracked insertions (w:ins). A DOCX has no pages (where
they break depends on the program that lays it out), so it is one unpaginated text: paragraphs in
document order, a table row per line with its cells tab-separated, deleted text and field codes
left out. A PPTX has one page per slide: its title, the other shapes top to bottom and left to
right (their order in the file is drawing order), tables row by row, then the speaker notes.
Metadata comes from docProps/core.xml: title, creator, created and modified dates.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from lxml import etree

from indexer.sources.document_info import authors, dated, iso_text, usable_title
from indexer.sources.extracted import Extracted, pages_note
from indexer.sources.zip_packages import Package

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
CORE = {
    "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
}
# run content that is not running text: deleted text, Office's fallback copy of a text box (it
# would double it), field codes, and the properties of paragraphs and runs
_SKIPPED = {f"{W}del", MC_FALLBACK, f"{W}instrText", f"{W}delInstrText", f"{W}pPr", f"{W}rPr"}
_CONTAINERS = {f"{W}sdt", f"{W}sdtContent", f"{W}ins", f"{W}customXml", f"{W}smartTag"}
_TITLE_PLACEHOLDERS = ("title", "ctrTitle")


# -- the package ----------------------------------------------------------------------------


def _core(package: Package) -> tuple[str | None, dict]:
    """Title and metadata (authors, created, modified) from docProps/core.xml."""
    root = package.optional_xml("docProps/core.xml")
    if root is None:
        return None, {}

    def get(name: str) -> str | None:
        node = root.find(name, CORE)
        return node.text.strip() if node is not None and node.text and node.text.strip() else None

    created, modified = iso_text(get("dcterms:created")), iso_text(get("dcterms:modified"))
    metadata = {"authors": authors(get("dc:creator")), **dated(created=created, modified=modified)}
    return usable_title(get("dc:title")), metadata


def _relationships(package: Package, part: str) -> dict[str, tuple[str, str]]:
    """A part's relationships: id -> (type, the target part's name)."""
    folder, name = posixpath.split(part)
    root = package.optional_xml(posixpath.join(folder, "_rels", f"{name}.rels"))
    found = {}
    for rel in [] if root is None else root.iter(f"{RELATIONSHIPS}Relationship"):
        if rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
        found[rel.get("Id")] = (rel.get("Type", "").rsplit("/", 1)[-1], posixpath.normpath(path))
    return found


def _main_part(package: Package, default: str) -> str:
    """The part the package's own relationships name as the document (nearly always `default`)."""
    for kind, part in _relationships(package, "").values():
        if kind == "officeDocument":
            return part
    return default


# -- Word -----------------------------------------------------------------------------------


def read_docx(source: Path | bytes) -> Extracted:
    """The text of a Word document, its title (core title, else its first Heading 1 or Title
    paragraph), authors and dates."""
    with Package(source, "DOCX") as package:
        title, metadata = _core(package)
        headings = _heading_styles(package)
        main = _main_part(package, "word/document.xml")
        root = package.optional_xml(main)
        if root is None:
            raise package.corrupt(f"no {main}")
        body = root.find(f"{W}body")
        if body is None:
            raise package.corrupt("a document without a body")
    first_heading: list[str] = []

    def paragraph(element: etree._Element) -> str:
        text = "".join(_runs(element))
        style = element.find(f"{W}pPr/{W}pStyle")
        named = "" if style is None else style.get(f"{W}val")
        if not first_heading and text.strip() and named in headings:
            first_heading.append(text.strip())
        return text

    def lines_of(container: etree._Element) -> list[str]:
        lines = []
        for element in container:
            if element.tag == f"{W}p":
                lines.append(paragraph(element))
            elif element.tag == f"{W}tbl":
                for row in element.iterchildren(f"{W}tr"):
                    cells = row.iterchildren(f"{W}tc")
                    lines.append("\t".join(" ".join(lines_of(c)).strip() for c in cells))
            elif element.tag in _CONTAINERS:
                lines += lines_of(element)
        return lines

    text = "\n".join(lines_of(body))
    title = title or usable_title(first_heading[0] if first_heading else None)
    return Extracted([text], False, title, metadata)


def _runs(element: etree._Element) -> list[str]:
    """The text pieces of a paragraph: its runs, also inside insertions, links and fields; tabs
    and line breaks as characters; the paragraphs of a text box in it on lines of their own."""
    parts = []
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIPPED or tag == f"{W}p":
            continue
        if tag == f"{W}t":
            parts.append(child.text or "")
        elif tag == f"{W}tab":
            parts.append("\t")
        elif tag in (f"{W}br", f"{W}cr"):
            parts.append("\n")
        elif tag == f"{W}noBreakHyphen":
            parts.append("-")
        elif tag == f"{W}txbxContent":  # a text box: its paragraphs on lines of their own
            parts += ["\n" + "".join(_runs(p)) for p in child.iter(f"{W}p")]
        elif len(child):
            parts += _runs(child)
    return parts


def _heading_styles(package: Package) -> set[str]:
    """The ids of the styles named "heading 1" and "Title" (Word translates the ids, as
    "berschrift1" in German, but not the names of its built-in styles)."""
    ids = {"Heading1", "Title"}
    styles = package.optional_xml("word/styles.xml")
    for style in [] if styles is None else styles.iter(f"{W}style"):
        name = style.find(f"{W}name")
        if name is not None and name.get(f"{W}val", "").lower() in ("heading 1", "title"):
            ids.add(style.get(f"{W}styleId", ""))
    return ids


# -- PowerPoint -----------------------------------------------------------------------------


def read_pptx(source: Path | bytes) -> Extracted:
    """One page per slide, the deck's title (core title, else its first slide title), authors
    and dates. A slide part missing from the file is listed and keeps its page, without text."""
    with Package(source, "PPTX") as package:
        title, metadata = _core(package)
        main = _main_part(package, "ppt/presentation.xml")
        presentation = package.optional_xml(main)
        if presentation is None:
            raise package.corrupt(f"no {main}")
        slides = _relationships(package, main)
        pages, first_title, missing = [], None, []
        for number, slide_id in enumerate(presentation.iter(f"{P}sldId"), start=1):
            kind, part = slides.get(slide_id.get(f"{R}id"), ("", ""))
            try:
                slide = package.xml(part) if kind == "slide" else None
            except KeyError:
                slide = None
            if slide is None:
                missing.append(number)
                pages.append("")
                continue
            heading, text = _slide_text(slide)
            notes = [
                _notes_text(package, notes_part)
                for notes_kind, notes_part in _relationships(package, part).values()
                if notes_kind == "notesSlide"
            ]
            pages.append("\n".join(filter(None, [text, *notes])))
            first_title = first_title or usable_title(heading)
    left_out = []
    if missing:
        reason = pages_note(missing, len(pages), "missing from the file", "slide")
        left_out.append(("missing slides", reason))
    metadata["page_count"] = len(pages)
    return Extracted(pages, True, title or first_title, metadata, left_out)


def _slide_text(slide: etree._Element) -> tuple[str | None, str]:
    """(title, text) of a slide: the title first, then its shapes in reading order."""
    placed: list[tuple[tuple[int, int], str]] = []
    titles: list[str] = []
    tree = slide.find(f"{P}cSld/{P}spTree")
    if tree is not None:
        _shapes(tree, placed, titles)
    ordered = [text for _, text in sorted(placed, key=lambda item: item[0])]
    return (titles[0] if titles else None), "\n".join(titles[:1] + ordered)


def _shapes(tree: etree._Element, placed: list, titles: list[str]) -> None:
    for shape in tree:
        if shape.tag == f"{P}grpSp":
            _shapes(shape, placed, titles)
        elif shape.tag == f"{P}sp":
            body = shape.find(f"{P}txBody")
            text = _paragraphs(body) if body is not None else ""
            if not text.strip():
                continue
            placeholder = shape.find(f"{P}nvSpPr/{P}nvPr/{P}ph")
            kind = None if placeholder is None else placeholder.get("type")
            if kind in _TITLE_PLACEHOLDERS and not titles:
                titles.append(text)
                continue
            placed.append((_position(shape.find(f"{P}spPr/{A}xfrm/{A}off")), text))
        elif shape.tag == f"{P}graphicFrame":
            rows = [
                "\t".join(_paragraphs(cell.find(f"{A}txBody")) for cell in row.iter(f"{A}tc"))
                for row in shape.iter(f"{A}tr")
            ]
            if rows:
                placed.append((_position(shape.find(f"{P}xfrm/{A}off")), "\n".join(rows)))


def _position(offset: etree._Element | None) -> tuple[int, int]:
    """(top, left) of a shape; (0, 0) when the slide does not say (its layout places it)."""
    if offset is None:
        return 0, 0
    return _number(offset.get("y")), _number(offset.get("x"))


def _number(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _paragraphs(body: etree._Element | None) -> str:
    """The text of a DrawingML text body, a paragraph per line."""
    if body is None:
        return ""
    return "\n".join(
        "".join("\n" if el.tag == f"{A}br" else (el.text or "") for el in p.iter(f"{A}t", f"{A}br"))
        for p in body.iterchildren(f"{A}p")
    )


def _notes_text(package: Package, part: str) -> str:
    """The speaker notes: the body placeholder of the notes slide."""
    try:
        notes = package.xml(part)
    except KeyError:
        return ""
    texts = []
    for shape in notes.iter(f"{P}sp"):
        placeholder = shape.find(f"{P}nvSpPr/{P}nvPr/{P}ph")
        if placeholder is not None and placeholder.get("type") == "body":
            texts.append(_paragraphs(shape.find(f"{P}txBody")))
    return "\n".join(t for t in texts if t.strip())
