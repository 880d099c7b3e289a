"""uvicorn on one socket: `serving on http://HOST:PORT` on stderr once it listens, a clean stop on
SIGTERM or SIGINT (in-flight requests finish, the port is closed, exit status 0).

The socket is bound here, to exactly one address: given `localhost` and port 0, asyncio would bind
IPv4 and IPv6 on two different random ports. Port 0 picks a free port; the line says which.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp

from indexer.settings import GRACEFUL_SECONDS
from store.errors import SemsearchError

KEEP_ALIVE_SECONDS = 5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CannotListen(SemsearchError):
    """The address cannot be bound (in use, not this machine's, no permission)."""


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to the first address `host` resolves to."""
    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as error:
        if sock is not None:
            sock.close()
        raise CannotListen(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


def is_loopback(sock: socket.socket) -> bool:
    """True when the socket is bound to this machine's own address (127.0.0.1, ::1)."""
    return ipaddress.ip_address(sock.getsockname()[0]).is_loopback


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Server(uvicorn.Server):
    """uvicorn's server, announcing its address once it listens, and stopping when `stop_when()`
    turns true."""

    def __init__(self, config: uvicorn.Config, stop_when: Callable[[], bool]) -> None:
        super().__init__(config)
        self.stop_when = stop_when

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            print(f"serving on {url(self.servers[0].sockets[0])}", file=sys.stderr, flush=True)

    async def on_tick(self, counter: int) -> bool:
        return await super().on_tick(counter) or self.stop_when()


def run(
    app: ASGIApp,
    sock: socket.socket,
    stop_when: Callable[[], bool] = lambda: False,
    graceful_seconds: float = GRACEFUL_SECONDS,
) -> None:
    """Serve `app` on the bound socket until SIGTERM, SIGINT or `stop_when()`, then close it."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # a line per request on stdout, and its cost
        lifespan="on",
        timeout_graceful_shutdown=int(graceful_seconds),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
    )
    messages = logging.StreamHandler(sys.stderr)  # loads, reloads, bugs: one line each
    messages.setFormatter(logging.Formatter("semsearch serve: %(levelname)s: %(message)s"))
    logger = logging.getLogger("indexer.serving")
    logger.addHandler(messages)
    logger.setLevel(logging.INFO)
    # uvicorn stops on these signals, then sends them again to the handlers it found: keep
    # those harmless, or the process would die of its own SIGTERM after a clean stop.
    previous = {signum: signal.signal(signum, lambda *_: None) for signum in STOP_SIGNALS}
    try:
        Server(config, stop_when).run(sockets=[sock])
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
        logger.removeHandler(messages)
        sock.close()
