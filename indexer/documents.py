"""Which documents a run stores, and what it stores for each: the same rules for the local job and
for Spark. An empty document and a repeated id are skipped and listed; an unchanged one (the same
content hash as stored) is counted and not embedded again, and so is a copy of a stored file; an id
that the store holds for another file, which still exists, is refused and listed; every other one
becomes a `DocumentRecord` with its embedded chunks."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from indexer.sources.options import SourceDocument
from indexer.sources.pages import page_span
from indexer.summary import Skipped
from store.records import ChunkRecord, DocumentRecord

if TYPE_CHECKING:
    from indexer.embedding.embedder import EmbeddedChunk

EMPTY = "empty document"
DUPLICATE = "duplicate id"
COLLISION = "id taken"


def is_empty(text: str) -> bool:
    """Nothing but whitespace: nothing to embed."""
    return not text.strip()


def empty(where: str) -> Skipped:
    return Skipped(where, EMPTY, EMPTY)


def duplicate(where: str, doc_id: str, first: str) -> Skipped:
    """A document whose id an earlier document of the run already had (at `first`)."""
    return Skipped(where, DUPLICATE, f"duplicate id {doc_id!r} (first at {first})")


def elsewhere(source: str | None, stored_source: str | None) -> bool:
    """The stored document of an id came from another file, which still exists: the new one is a
    copy (same content) or another document with the same id (a collision), never a move."""
    return (
        source is not None
        and stored_source is not None
        and stored_source != source
        and os.path.exists(stored_source)
    )


def collision(where: str, doc_id: str, stored_source: str) -> Skipped:
    """A document whose id the store holds for another document from another, existing file."""
    return Skipped(
        where,
        COLLISION,
        f"id {doc_id!r} is already stored from {stored_source}, which still exists: not replaced "
        "(give one of them another id, or delete the stored one first)",
    )


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
