"""Every error of the HTTP API as JSON, `{"error": CODE, "message": TEXT}`, with a status a client
can act on, and never a traceback:

    400 bad_request       a semsearch error the request caused (a bad filter, a text too long)
    401 unauthorized      a write without `Authorization: Bearer TOKEN`
    403 forbidden         a wrong token; writes_disabled: the server was started without one
    404 not_found         no such document, chunk or route
    413 too_large         the body is over the limit
    422 invalid_request   the request does not fit the schema (`detail` lists each problem)
    503 loading           the store or the model is loading (Retry-After says when to retry);
        store_busy        another process holds the store's writer lock; unavailable: the
                          store cannot be served now (damaged, deleted: the message says why)
    500 internal          a bug: logged once with its traceback, the client gets no details
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from indexer.serving.live_collection import NotReady
from store.errors import (
    DamagedStoreError,
    MissingStoreError,
    SemsearchError,
    StoreError,
    StoreLockedError,
)

log = logging.getLogger(__name__)
LOCKED_RETRY_SECONDS = 5  # a store's writer usually commits within seconds
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


class ApiError(Exception):
    """An error an endpoint answers with: status, stable code, message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status, headers=headers)


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(seconds)))}


def install_error_handlers(app: FastAPI) -> None:
    """Map each kind of error to its status and JSON body (the most specific class wins)."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(NotReady)
    async def not_ready(_: Request, error: NotReady) -> JSONResponse:
        return error_response(503, error.code, str(error), retry_after(error.retry_after))

    @app.exception_handler(StoreLockedError)
    async def locked(_: Request, error: StoreLockedError) -> JSONResponse:
        return error_response(503, "store_busy", str(error), retry_after(LOCKED_RETRY_SECONDS))

    @app.exception_handler(DamagedStoreError)
    @app.exception_handler(MissingStoreError)
    async def unavailable(_: Request, error: StoreError) -> JSONResponse:
        return error_response(503, "unavailable", str(error))

    @app.exception_handler(SemsearchError)
    async def bad_request(_: Request, error: SemsearchError) -> JSONResponse:
        return error_response(400, "bad_request", str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        detail = [{key: p[key] for key in ("type", "loc", "msg") if key in p} for p in problems]
        first = problems[0] if problems else {}
        where = "body" if first.get("type") == "json_invalid" else _field(first.get("loc", ()))
        message = first.get("msg", "invalid request")
        return error_response(
            422, "invalid_request", f"{where}: {message}" if where else message, detail=detail
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail), error.headers)


def _field(location: tuple | list) -> str:
    """`k` for ("query", "k"), `records.0.id` for ("body", "records", 0, "id")."""
    return ".".join(str(part) for part in location[1:])


class CatchAllMiddleware:
    """An unexpected exception is logged once, with its traceback, and answered with a JSON 500
    that carries no detail. (An `exception_handler(Exception)` would run in Starlette's outermost
    middleware, which re-raises after answering, so the server would log it twice.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if started:  # too late for a 500: the server drops the connection
                raise
            response = error_response(500, "internal", "internal server error; see the server log")
            await response(scope, receive, send)
