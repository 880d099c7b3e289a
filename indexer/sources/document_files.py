"""Documents from files of a document format (PDF, Word, PowerPoint, OpenDocument, EPUB), on disk
or attached to an e-mail: the reader chosen by extension, and the document made of what it read.

Every reader gives its text page by page (`Extracted`); the pages are tidied (line ends as LF,
trailing spaces dropped, no run of blank lines) and joined with a blank line between two, and a
paginated format records where each page starts. A file a reader cannot use (encrypted, damaged,
a zip bomb, without a text layer), or whose reader fails in any other way, becomes a `Skipped`
with the reason (`failures`), and what a reader left out of a document it did read (pages without
text) is listed as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from indexer.sources.ebooks import read_epub
from indexer.sources.extracted import Extracted
from indexer.sources.failures import guarded
from indexer.sources.office import read_docx, read_pptx
from indexer.sources.opendocument import read_odt
from indexer.sources.options import SourceDocument
from indexer.sources.pages import join_pages
from indexer.sources.pdf_files import read_pdf
from indexer.sources.tidying import tidy
from indexer.sources.values import Counts
from indexer.summary import Skipped

DOCUMENT_READERS: dict[str, Callable[[Path | bytes], Extracted]] = {
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".pptx": read_pptx,
    ".odt": read_odt,
    ".epub": read_epub,
}
DOCUMENT_TYPES = tuple(DOCUMENT_READERS)


def read_document(
    data: Path | bytes,
    suffix: str,
    doc_id: str,
    where: str,
    source: str | None,
    metadata: dict[str, Any],
    name: str,
) -> Iterator[SourceDocument | Skipped]:
    """The document in `data` (a path or the file's bytes) of type `suffix`, or why not; its
    metadata is `metadata` with what the file says about itself, its title the file's own, else
    `name`."""

    def read() -> Iterator[SourceDocument | Skipped]:
        extracted = DOCUMENT_READERS[suffix](data)
        yield from documents_of(extracted, doc_id, where, source, metadata, name)

    yield from guarded(where, read())


def documents_of(
    extracted: Extracted,
    doc_id: str,
    where: str,
    source: str | None,
    metadata: dict[str, Any],
    name: str | None,
) -> Iterator[SourceDocument | Skipped]:
    """What `extracted` left out, listed, then its document (titled `name` when it has no title
    of its own). An id (an e-mail's Message-ID, an attachment's name) is cleaned like the text:
    NUL and lone surrogates replaced and counted."""
    for kind, reason in extracted.left_out:
        yield Skipped(where, kind, reason)
    counts = Counts(replaced=extracted.replaced)
    doc_id = counts.text(doc_id)
    text, starts = join_pages(counts.text(tidy(page)) for page in extracted.pages)
    title = extracted.title or name
    yield SourceDocument(
        doc_id,
        text,
        counts.text(title) if title else title,
        source,
        counts.json({**metadata, **extracted.metadata}),
        counts.replaced,
        where,
        where,
        counts.nulled,
        starts if extracted.paginated else None,
    )
