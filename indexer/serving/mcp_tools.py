"""The store as MCP tools, for an assistant: `search`, `get_document`, and `add` when allowed.

Tools run in worker threads over one Collection, which serialises them; the model loads on the
first search. A semsearch error (a bad filter, an unknown id) reaches the assistant as the tool's
error message; anything else is a bug, which the SDK reports without its text.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from indexer.collection import Collection
from indexer.serving.schemas import Filters, Mode, Query, Record, SearchResponse
from indexer.settings import MAX_K, MAX_RECORDS, MODE, K
from store.errors import SemsearchError
from store.results import Document

T = TypeVar("T")
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
INSTRUCTIONS = (
    "Semantic search over the user's own indexed documents. Call `search` with a question or "
    "keywords; each hit has the document id, title and its best passage. Call `get_document` "
    "with a hit's id for the whole text."
)


def build_server(collection: Collection, allow_add: bool = False) -> MCPServer:
    """The MCP server over `collection`; `allow_add` also offers the `add` tool, which writes."""
    server = MCPServer(
        "semsearch",
        version=importlib.metadata.version("semsearch"),
        instructions=INSTRUCTIONS,
        log_level="WARNING",  # on stderr; a failed tool call is the assistant's to read
    )

    @server.tool(annotations=READ_ONLY)
    def search(
        query: Query,
        k: Annotated[int, Field(ge=1, le=MAX_K, description="Number of documents.")] = K,
        mode: Mode = MODE,
        filters: Filters = [],  # noqa: B006 - validated into a new list per call
    ) -> SearchResponse:
        """Find the documents most relevant to a query (dense: by meaning, lexical: by words,
        hybrid: both); each hit carries its best passage (`chunk.text`) and its id."""
        hits = answered(collection.search, query, k=k, mode=mode, filters=filters)
        return SearchResponse(
            query=query,
            mode=mode,
            k=k,
            filters=filters,
            hits=[hit.view() for hit in hits],
        )

    @server.tool(annotations=READ_ONLY)
    def get_document(id: str) -> Document:  # noqa: A002 - the name the assistant sees
        """The whole document with this id (from a search hit): text, title, metadata."""
        found = answered(collection.document, id)
        if found is None:
            raise ToolError(f"no document with id {id!r}")
        return found

    if allow_add:

        @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=False))
        def add(
            records: Annotated[list[Record], Field(min_length=1, max_length=MAX_RECORDS)],
        ) -> dict[str, Any]:
            """Store documents (id, text, and optionally title, source, metadata). A document
            with an id already stored replaces it. Returns what was added, updated, skipped."""
            summary = answered(collection.add_records, [record.model_dump() for record in records])
            return summary.as_dict()

    return server


def answered(method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`method(...)`, with a semsearch error turned into the tool error the assistant reads."""
    try:
        return method(*args, **kwargs)
    except SemsearchError as error:
        raise ToolError(str(error)) from error
