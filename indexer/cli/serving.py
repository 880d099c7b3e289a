"""`serve` (the HTTP JSON API) and `mcp` (MCP tools over stdio): a store for other programs."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from indexer import settings as defaults
from indexer.cli.exit_codes import reports_errors
from indexer.cli.options import (
    at_least,
    collection,
    existing_store,
    listen_options,
    model_options,
    store_option,
)


@click.command()
@store_option()
@listen_options(
    defaults.SERVE_HOST,
    defaults.SERVE_PORT,
    any_port=True,
    host_note=" Another one without --token prints a warning: anyone who reaches it can read "
    "every document.",
)
@click.option(
    "--token",
    envvar=defaults.TOKEN_ENV,
    show_envvar=True,
    help="Allow writes (POST /documents, DELETE /documents/ID) to requests that carry "
    "'Authorization: Bearer TOKEN'. Without one the server is read-only. ASCII letters, digits "
    "and punctuation only. Prefer the variable: other users of the machine can see a command "
    "line.",
)
@click.option(
    "--threads",
    type=at_least(1),
    help="CPU threads of the model (default: every core; 1 can be faster on a busy machine).",
)
@model_options
@reports_errors
def serve(
    store_path: Path | None,
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    token: str | None,
    threads: int | None,
    **given: Any,
) -> None:
    """Serve a store over HTTP until SIGTERM or Ctrl-C: search, documents, embeddings, and
    writes with --token. The API is described at /openapi.json and browsable at /docs."""
    from indexer.serving import http_server
    from indexer.serving.host_check import AllowedHosts
    from indexer.serving.http_api import create_app
    from indexer.serving.live_collection import LiveCollection

    defaults.check_token(token)
    store = existing_store(store_path)
    reader = collection(store, threads=threads, **given)
    viewer = collection(store, quiet=True, threads=threads, **given)
    writer = collection(store, quiet=True, threads=threads, **given) if token else None
    live = LiveCollection(reader, writer, viewer=viewer)
    sock = http_server.bind(host, port)
    if not token and not http_server.is_loopback(sock):
        click.echo(
            f"semsearch serve: WARNING: listening on {host}, beyond this machine, without a "
            "token: anyone who can reach the port can read every document of the store",
            err=True,
        )
    hosts = AllowedHosts([host, sock.getsockname()[0]], allowed_hosts)
    app = create_app(live, token=token, hosts=hosts)
    http_server.run(app, sock, stop_when=lambda: live.start_failure is not None)
    if live.start_failure is not None:
        raise live.start_failure


@click.command("mcp")
@store_option()
@click.option(
    "--allow-add",
    is_flag=True,
    help="Also offer the `add` tool, with which the assistant writes documents to the store.",
)
@model_options
@reports_errors
def mcp_command(store_path: Path | None, allow_add: bool, **given: Any) -> None:
    """Serve a store to an assistant over MCP on stdin/stdout: tools `search` and
    `get_document` (and `add` with --allow-add). Nothing but the protocol goes to stdout."""
    with contextlib.redirect_stdout(sys.stderr):  # the protocol's stream until it starts
        from indexer.serving.mcp_tools import build_server

        source = collection(existing_store(store_path), **given)
        server = build_server(source, allow_add=allow_add)
    with source:
        server.run(transport="stdio")
