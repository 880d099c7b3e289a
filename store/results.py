"""What the store returns: search hits, documents, chunks, metadata fields, a sample, what it
holds, its stats, what a check or a rebuild found. One dataclass per shape, defined once: the
facade returns them, `as_dict()` is the JSON the CLI prints, and the HTTP and MCP schemas are
built from the same classes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np


class Result:
    """A result shape: `as_dict()` is its JSON. Pydantic, building the HTTP and MCP schemas from
    it, reads a field's docstring as the field's description."""

    __pydantic_config__ = {"use_attribute_docstrings": True}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # every subclass is a dataclass

    def __getitem__(self, key: str) -> Any:
        """`result["documents"]` reads `result.documents`: code written when results were dicts
        (the README's Python example among it) keeps working."""
        if key not in {item.name for item in fields(self)}:
            raise KeyError(key)
        return getattr(self, key)


@dataclass
class BestChunk(Result):
    """The best chunk of a hit: its id, place in the document, character span and text."""

    id: int
    ord: int
    start: int
    end: int
    text: str


@dataclass
class HitView(Result):
    """One document, represented by its best chunk (the fields of `semsearch search --json`)."""

    id: str
    """The document's id (GET /documents/{id})."""
    title: str | None
    source: str | None
    score: float
    page: int | None
    """The 1-based page (slide) holding the match: of the best chunk's pages, the one with most of
    the query's words, else the largest share of the cosine; null: not paginated."""
    first_page: int | None
    """The page the best chunk starts on."""
    last_page: int | None
    """The page the best chunk ends on."""
    chunk: BestChunk
    metadata: dict[str, Any]
    parts: dict[str, dict[str, int | float]]
    """Each mode's rank and score of this document (two for hybrid)."""


VIEW_AS_IS = (
    "title",
    "source",
    "score",
    "page",
    "first_page",
    "last_page",
    "metadata",
    "parts",
)  # in a HitView


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

    def view(self) -> HitView:
        """The hit as programs see it: its best chunk nested."""
        chunk = BestChunk(self.chunk_id, self.chunk_ord, self.start, self.end, self.text)
        same = {name: getattr(self, name) for name in VIEW_AS_IS}
        return HitView(id=self.doc_id, chunk=chunk, **same)

    def as_dict(self) -> dict[str, Any]:
        """The JSON of `view()`."""
        return self.view().as_dict()


@dataclass
class ChunkSpan(Result):
    """Where a chunk of a document is: its span, wordpiece count and pages (no text, no vector)."""

    id: int
    ord: int
    start: int
    end: int
    n_tokens: int
    page: int | None = None
    last_page: int | None = None


@dataclass
class Document(Result):
    """A stored document with its chunks' spans."""

    id: str
    source: str | None
    title: str | None
    text: str
    pages: list[int] | None
    """Where each page starts in `text` (character offsets); null: not paginated."""
    metadata: dict[str, Any]
    content_hash: str
    indexed_at: str
    chunks: list[ChunkSpan]


@dataclass
class Chunk(Result):
    """One stored chunk: its document, span, wordpiece count, pages and text (no vector)."""

    id: int
    doc_id: str
    ord: int
    start: int
    end: int
    n_tokens: int
    page: int | None
    last_page: int | None
    text: str


@dataclass
class MetadataField(Result):
    """What one metadata key holds across the store: its JSON types, how many values, how many
    distinct ones, the least and the greatest."""

    types: list[str]
    count: int
    distinct: int
    min: Any
    max: Any


@dataclass
class SampledDocument:
    """A document of a sample: id, title, metadata and its first chunk's vector."""

    id: str
    title: str | None
    metadata: dict[str, Any]
    vector: np.ndarray


@dataclass
class Corpus(Result):
    """What the store holds, in brief: `documents`, `sources` (distinct), and `where`: the one
    source, or the folder every source is in (None without sources)."""

    documents: int
    sources: int
    where: str | None


@dataclass(frozen=True)
class Recall:
    """recall@k with its 95% confidence interval, over `queries` sampled chunk vectors."""

    recall: float
    low: float
    high: float
    k: int
    queries: int
    index_type: str
    generation: int
    store_id: str
    by_construction: bool = False  # an exact (flat) index: nothing was measured

    def describe(self) -> str:
        """One line for people."""
        if self.by_construction:
            return f"recall@{self.k} 1.0 ({self.index_type}: exact by construction)"
        return (
            f"recall@{self.k} {self.recall:.3f} (95% CI {self.low:.3f}-{self.high:.3f}, "
            f"{self.queries} stored chunks as queries, {self.index_type})"
        )


@dataclass
class Stats(Result):
    """Counts, recipe, index type and sizes on disk, and (from the facade) the index's measured
    recall. `wordpieces` counts each wordpiece of the documents once; `wordpieces_embedded` counts
    those the windows' overlaps repeat."""

    store: str
    documents: int
    chunks: int
    wordpieces: int
    wordpieces_embedded: int
    generation: int
    recipe: dict[str, Any]
    index_spec: str
    index_type: str
    full_text: dict[str, Any]  # the full-text engine's analyzer and BM25 rule
    dim: int
    bytes: dict[str, int]  # file name -> size
    recall: Recall | None = None


@dataclass
class VerifyReport(Result):
    """What `verify` found: `ok` when SQLite, FAISS and the full-text index agree; `problems`
    (what needs repair) and `warnings` (what is rebuilt on open); and, when asked for, the
    index's measured recall."""

    ok: bool
    problems: list[str]
    warnings: list[str]
    documents: int
    chunks: int
    faiss_vectors: int
    index_type: str
    dim: int
    generation: int
    index_file_generation: int | None
    full_text_chunks: int
    full_text_generation: int | None
    sampled_vectors: int
    recall: Recall | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report's JSON (`recall` only when it was measured)."""
        found = asdict(self)
        if self.recall is None:
            del found["recall"]
        return found


@dataclass
class Rebuilt(Result):
    """What a rebuild wrote: the index type and how many vectors it holds."""

    index_type: str
    vectors: int
