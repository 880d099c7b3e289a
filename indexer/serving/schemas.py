"""What requests carry and responses return, for the HTTP API and the MCP tools. Every bound on
what a client sends comes from `indexer.settings`; the OpenAPI schema is built from these models
and, for what the store returns (a hit, a document), from its dataclasses in `store.results`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from indexer.settings import (
    MAX_EMBED_CHARS,
    MAX_FILTERS,
    MAX_K,
    MAX_QUERY_CHARS,
    MAX_RECORDS,
    MAX_TEXT_CHARS,
    MAX_TEXTS,
    MODE,
    SEARCH_MODES,
    K,
)
from store.results import HitView

Mode = Literal[SEARCH_MODES]  # type: ignore[valid-type]
Query = Annotated[
    str, Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for.")
]
TopK = Annotated[int, Field(ge=1, le=MAX_K, description="Number of documents.")]
FilterText = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]
Filters = Annotated[
    list[FilterText],
    Field(
        max_length=MAX_FILTERS,
        description="FIELD OP VALUE, all of which hold; OP one of = != > >= < <= ~ (substring) "
        'or "FIELD in a,b,c". Fields: id, source, title, metadata.KEY (or KEY alone).',
    ),
]
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]


class Request(BaseModel):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class SearchRequest(Request):
    query: Query
    k: TopK = K
    mode: Mode = MODE
    filters: Filters = []


class SearchResponse(BaseModel):
    query: str
    mode: Mode
    k: int
    filters: list[str]
    hits: list[HitView]


class EmbedRequest(Request):
    texts: list[Text] = Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"At most {MAX_EMBED_CHARS:,} characters together.",
    )

    @field_validator("texts")
    @classmethod
    def within_budget(cls, texts: list[str]) -> list[str]:
        total = sum(len(text) for text in texts)
        if total > MAX_EMBED_CHARS:
            raise ValueError(
                f"the texts hold {total:,} characters together; one request may send at most "
                f"{MAX_EMBED_CHARS:,}: split them over several requests"
            )
        return texts


class EmbedResponse(BaseModel):
    dim: int
    vectors: list[list[float]] = Field(description="Pooled, L2-normalized; one per text.")


class TokensRequest(Request):
    text: Text = Field(description="At most one window of the model.")
    words: bool = Field(False, description="Group wordpieces into words.")


class Token(BaseModel):
    token: str
    start: int
    end: int
    vector: list[float]


class TokensResponse(BaseModel):
    tokens: list[Token]


class ExplainRequest(Request):
    """Explain a stored chunk (`chunk_id`, from a hit) or a `text`: exactly one of them."""

    query: Query
    chunk_id: int | None = None
    text: Text | None = None

    @model_validator(mode="after")
    def one_target(self) -> ExplainRequest:
        if (self.chunk_id is None) == (self.text is None):
            raise ValueError("give exactly one of chunk_id and text")
        return self


class Share(BaseModel):
    token: str
    start: int
    end: int
    share: float


class ExplainResponse(BaseModel):
    cosine: float = Field(description="The sum of the shares.")
    tokens: list[Share] = Field(description="Each position's exact share of the cosine.")


class Record(Request):
    """A document to store, as `Collection.add_records` takes it."""

    id: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    text: str
    title: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = {}


class AddRequest(Request):
    records: list[Record] = Field(min_length=1, max_length=MAX_RECORDS)


class Deleted(BaseModel):
    id: str
    deleted: bool


class Error(BaseModel):
    """Every error: a stable code for programs, a message for people."""

    error: str
    message: str
    detail: list[dict[str, Any]] | None = None
