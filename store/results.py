"""What a search returns: one hit per document, represented by its best chunk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Hit:
    """One document in a result list, represented by its best chunk."""

    doc_id: str
    score: float
    chunk_id: int
    title: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    chunk_ord: int = 0
    start: int = 0
    end: int = 0
    text: str = ""  # the best chunk's text
    # the 1-based page holding the match (None: not paginated): the best chunk's first page
    # until the indexer finds where in the chunk the match is (indexer.embedding.matched_pages)
    page: int | None = None
    first_page: int | None = None  # the page the best chunk starts on
    last_page: int | None = None  # and the page it ends on
    parts: dict[str, dict[str, float]] = field(default_factory=dict)  # mode -> rank, score

    @property
    def page_label(self) -> str:
        """Where the match is, for people: "p. 7", or "" when not paginated."""
        return "" if self.page is None else f"p. {self.page}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "score": self.score,
            "page": self.page,
            "first_page": self.first_page,
            "last_page": self.last_page,
            "chunk": {
                "id": self.chunk_id,
                "ord": self.chunk_ord,
                "start": self.start,
                "end": self.end,
                "text": self.text,
            },
            "metadata": self.metadata,
            "parts": self.parts,
        }
