"""Which documents a run stores, and what it stores for each: the same rules for the local job and
for Spark. An empty document and a repeated id are skipped and listed; an unchanged one (the same
content hash as stored) is counted and not embedded again; every other one becomes a
`DocumentRecord` with its embedded chunks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from indexer.sources.options import SourceDocument
from indexer.sources.pages import page_span
from indexer.summary import Skipped
from store.records import ChunkRecord, DocumentRecord

if TYPE_CHECKING:
    from indexer.embedding.embedder import EmbeddedChunk

EMPTY = "empty document"
DUPLICATE = "duplicate id"


def is_empty(text: str) -> bool:
    """Nothing but whitespace: nothing to embed."""
    return not text.strip()


def empty(where: str) -> Skipped:
    return Skipped(where, EMPTY, EMPTY)


def duplicate(where: str, doc_id: str, first: str) -> Skipped:
    """A document whose id an earlier document of the run already had (at `first`)."""
    return Skipped(where, DUPLICATE, f"duplicate id {doc_id!r} (first at {first})")


def record(
    doc: SourceDocument,
    digest: str,
    chunks: list[EmbeddedChunk],
    metadata_json: str | None = None,
) -> DocumentRecord:
    """What the store keeps of an embedded document; each chunk with the pages it spans
    (`metadata_json`: its metadata encoded already, `store.records.encode_metadata`)."""
    return DocumentRecord(
        id=doc.id,
        text=doc.text,
        title=doc.title,
        source=doc.source,
        metadata=doc.metadata,
        chunks=[
            ChunkRecord(
                c.window.ord,
                c.window.start,
                c.window.end,
                c.window.n_tokens,
                c.vector,
                *page_span(doc.pages, c.window.start, c.window.end),
            )
            for c in chunks
        ],
        content_hash=digest,
        pages=doc.pages,
        metadata_json=metadata_json,
    )
