"""What a store holds for one document: its fields, its chunks with their vectors, and the
content hash that says whether a document changed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


@dataclass
class ChunkRecord:
    """One window of a document: character span `start:end`, wordpiece count and unit vector;
    in a paginated document, the 1-based pages it starts and ends on."""

    ord: int
    start: int
    end: int
    n_tokens: int
    vector: np.ndarray
    page: int | None = None
    last_page: int | None = None


@dataclass
class DocumentRecord:
    """A document to store, with all its chunks."""

    id: str
    text: str
    title: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    chunks: list[ChunkRecord] = field(default_factory=list)
    content_hash: str = ""  # computed from text, title, metadata and pages when not given
    pages: list[int] | None = None  # where each page starts in `text`; None: not paginated
    metadata_json: str | None = None  # encode_metadata(metadata), when the caller made it

    def __post_init__(self) -> None:
        if not self.content_hash:
            self.content_hash = content_hash(self.text, self.title, self.metadata, self.pages)


def encode_metadata(metadata: dict[str, Any]) -> str:
    """Metadata as the store keeps it; ValueError for NaN or Infinity, TypeError for what JSON
    cannot hold."""
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False, allow_nan=False)


def content_hash(
    text: str, title: str | None, metadata: dict[str, Any], pages: list[int] | None = None
) -> str:
    """sha256 of what a document says: text, title, metadata and, for a paginated document, where
    its pages start (the same text cut into other pages gives its chunks other page numbers, so it
    is stored again). An unpaginated document's hash is what it was before pages existed."""
    said = [text, title, metadata] if pages is None else [text, title, metadata, pages]
    payload = json.dumps(said, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class StoredVersion(NamedTuple):
    """What the store holds of a document now: its content hash, source and when it was written."""

    content_hash: str
    source: str | None
    indexed_at: str
