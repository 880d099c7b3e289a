"""The HTTP JSON API over a `LiveCollection`: search, documents, the model's views, and (with a
token) writes. `/openapi.json` describes it; `/docs` shows it in a browser, with no network.

Reads are open to whoever can reach the socket (localhost unless told otherwise) and names it in
the Host header (`host_check`); `POST /documents` and `DELETE /documents/{id}` need
`Authorization: Bearer TOKEN`, and exist only in effect when the server was started with a token.
"""

from __future__ import annotations

import importlib.metadata
import secrets
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
import numpy as np
from fastapi import Depends, FastAPI, Query, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline

from indexer.collection import Collection
from indexer.serving.body_limit import BodyLimitMiddleware
from indexer.serving.host_check import AllowedHosts, HostCheckMiddleware
from indexer.serving.http_errors import ApiError, CatchAllMiddleware, install_error_handlers
from indexer.serving.live_collection import Health, LiveCollection
from indexer.serving.schemas import (
    AddRequest,
    Deleted,
    EmbedRequest,
    EmbedResponse,
    Error,
    ExplainRequest,
    ExplainResponse,
    Mode,
    SearchRequest,
    SearchResponse,
    TokensRequest,
    TokensResponse,
)
from indexer.settings import (
    MAX_BODY_BYTES,
    MAX_FILTERS,
    MAX_K,
    MAX_QUERY_CHARS,
    MODE,
    TOKEN_ENV,
    K,
)
from store.results import Document

DECIMALS = 7  # of vector components in responses, as `semsearch embed` prints them
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "A bad filter, or a text the model cannot take"},
    503: {"model": Error, "description": "Loading (retry after Retry-After seconds)"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Error, "description": "No such id"}}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "No bearer token"},
    403: {"model": Error, "description": "Wrong token, or the server does not write"},
}
bearer = HTTPBearer(
    auto_error=False,
    description=f"The token the server was started with (--token or ${TOKEN_ENV}).",
)


def create_app(
    live: LiveCollection, *, token: str | None = None, hosts: AllowedHosts | None = None
) -> FastAPI:
    """The app. `token`: the bearer token writes need (None: the server does not write; `live`
    then has no writer). `hosts`: the Host names it answers to (default: this machine's). The app
    keeps `live` current while it runs (its lifespan)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # noqa: ANN202
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(live.keep_current)
            yield
            tasks.cancel_scope.cancel()

    app = FastAPIOffline(
        title="semsearch",
        version=importlib.metadata.version("semsearch"),
        description="Semantic search over one store. Errors are JSON: `error` (a stable code) "
        "and `message`. Writes need `Authorization: Bearer TOKEN`.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=MAX_BODY_BYTES)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(HostCheckMiddleware, hosts=hosts or AllowedHosts(()))  # the outermost
    install_error_handlers(app)

    async def allowed_to_write(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> None:
        if token is None:
            raise ApiError(
                403,
                "writes_disabled",
                f"this server was started without a token (--token or ${TOKEN_ENV}): it does "
                "not write",
            )
        if credentials is None:
            raise ApiError(
                401,
                "unauthorized",
                "send the header 'Authorization: Bearer TOKEN'",
                {"WWW-Authenticate": "Bearer"},
            )
        # bytes: compare_digest refuses non-ASCII text, and a header may carry any latin-1
        if not secrets.compare_digest(credentials.credentials.encode(), token.encode()):
            raise ApiError(403, "forbidden", "wrong token")

    writer = [Depends(allowed_to_write)]

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health(response: Response) -> Health:
        """What the server holds: ready (200), or loading or failed (503, with a message)."""
        current = live.health
        if current.status != "ready":
            response.status_code = 503
        return current

    @app.get("/search", response_model=SearchResponse, responses=READ_ERRORS)
    async def search_by_url(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS)],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = K,
        mode: Mode = MODE,
        filter: Annotated[  # noqa: A002 - the parameter's name in the URL
            list[str], Query(max_length=MAX_FILTERS, description="Repeatable; all hold.")
        ] = [],  # noqa: B006 - FastAPI copies it
    ) -> dict[str, Any]:
        """The top-k documents for `q`, each with its best chunk (as `semsearch search --json`)."""
        return await search(SearchRequest(query=q, k=k, mode=mode, filters=filter))

    @app.post("/search", response_model=SearchResponse, responses=READ_ERRORS)
    async def search(request: SearchRequest) -> dict[str, Any]:
        """The top-k documents for `query`, each with its best chunk."""
        asked = request.model_dump()
        hits = await live.read(Collection.search, **asked)
        return {**asked, "hits": [hit.as_dict() for hit in hits]}

    @app.get(
        "/documents/{doc_id:path}", response_model=Document, responses={**READ_ERRORS, **NOT_FOUND}
    )
    async def document(doc_id: str) -> Document:
        """A document: text, title, source, metadata, and its chunks' spans. The id may contain
        slashes; encode other reserved characters (`%2F` works for a slash too)."""
        found = await live.read(Collection.document, doc_id)
        if found is None:
            raise ApiError(404, "not_found", f"no document with id {doc_id!r}")
        return found

    @app.post("/embed", response_model=EmbedResponse, responses=READ_ERRORS)
    async def embed(request: EmbedRequest) -> dict[str, Any]:
        """The store's model's vector of each text (a long text: the mean of its windows)."""
        vectors = await live.view(Collection.embed, request.texts)
        return {"dim": vectors.shape[1], "vectors": rounded(vectors)}

    @app.post("/tokens", response_model=TokensResponse, responses=READ_ERRORS)
    async def tokens(request: TokensRequest) -> dict[str, Any]:
        """Every position's vector of a text at most one window long, with its character span."""
        view = await live.view(Collection.tokens, request.text)
        words = view.words() if request.words else None
        labels, offsets, vectors = (
            (words.words, words.offsets, words.vectors)
            if words is not None
            else (view.tokens, view.offsets, view.vectors)
        )
        return {
            "tokens": [
                {"token": label, "start": start, "end": end, "vector": vector}
                for label, (start, end), vector in zip(
                    labels, offsets, rounded(vectors), strict=True
                )
            ]
        }

    @app.post("/explain", response_model=ExplainResponse, responses={**READ_ERRORS, **NOT_FOUND})
    async def explain(request: ExplainRequest) -> dict[str, Any]:
        """Each token's exact share of the cosine between the query and a stored chunk (a hit's
        `chunk.id`) or a text."""
        text = request.text
        if request.chunk_id is not None:
            chunk = await live.read(Collection.chunk, request.chunk_id)
            if chunk is None:
                raise ApiError(404, "not_found", f"no chunk with id {request.chunk_id}")
            text = chunk.text
        why = await live.view(Collection.explain, request.query, text)
        return {
            "cosine": why.cosine,
            "tokens": [
                {"token": token, "start": start, "end": end, "share": float(share)}
                for token, (start, end), share in zip(
                    why.tokens, why.offsets, why.shares, strict=True
                )
            ],
        }

    @app.post("/documents", dependencies=writer, responses={**READ_ERRORS, **WRITE_ERRORS})
    async def add(request: AddRequest) -> dict[str, Any]:
        """Store documents (a changed one replaces its old version; an unchanged one is not
        embedded again). Returns what the write did, as `semsearch index --json`."""
        records = [record.model_dump() for record in request.records]
        summary = await live.write(Collection.add_records, records)
        return summary.as_dict()

    @app.delete(
        "/documents/{doc_id:path}",
        dependencies=writer,
        response_model=Deleted,
        responses={**READ_ERRORS, **WRITE_ERRORS, **NOT_FOUND},
    )
    async def delete(doc_id: str) -> dict[str, Any]:
        """Delete one document."""
        known = await live.read(Collection.document, doc_id) is not None
        if not known or not await live.write(Collection.delete, [doc_id]):
            raise ApiError(404, "not_found", f"no document with id {doc_id!r}")
        return {"id": doc_id, "deleted": True}

    return app


def rounded(vectors: np.ndarray) -> list[list[float]]:
    """float32 rows as short decimal lists."""
    return np.round(vectors.astype(np.float64), DECIMALS).tolist()
