"""The Host header check of both servers (`serve` and `ui`): a request is answered only when it
names this server, so that a web page cannot read it through DNS rebinding (its own domain name
pointed at 127.0.0.1). As Jupyter and Datasette do.

Allowed: localhost, 127.0.0.1, ::1, the address the server listens on (as given, and as bound),
any IP address when it listens on every interface (a rebinding page can only send a name), and
the names given with `--allow-host` (`*`: every Host). The port is not compared. Other requests
get 403 with a JSON error, websocket handshakes included.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
ANY_HOST = "*"


class AllowedHosts:
    """The Host names a server answers to."""

    def __init__(self, listening_on: Iterable[str], allowed: Iterable[str] = ()) -> None:
        """`listening_on`: the address as given and as bound; `allowed`: --allow-host values."""
        listening = {_normal(host) for host in listening_on}
        self.any = ANY_HOST in allowed
        self.any_address = any(_is_unspecified(host) for host in listening)
        self.names = frozenset(LOCAL_NAMES) | listening | {_normal(name) for name in allowed}

    def refusal(self, host_header: str | None) -> str | None:
        """Why a request with this Host header is refused; None when it is allowed."""
        if self.any:
            return None
        if not host_header:
            return "the request has no Host header"
        try:
            host = urlsplit(f"//{host_header}").hostname
        except ValueError:
            host = None
        if host is None:
            return f"the Host header {host_header!r} is not a host name"
        if host in self.names or (self.any_address and _is_address(host)):
            return None
        return (
            f"this server does not answer to Host {host!r} (a page of another site may be "
            f"asking through DNS rebinding); start it with --allow-host {host} to allow it"
        )


class HostCheckMiddleware:
    """Refuse HTTP requests and websocket handshakes whose Host is not allowed: 403, JSON."""

    def __init__(self, app: ASGIApp, hosts: AllowedHosts) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            refusal = self.hosts.refusal(Headers(scope=scope).get("host"))
            if refusal is not None:
                response = JSONResponse({"error": "host_not_allowed", "message": refusal}, 403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _normal(host: str) -> str:
    """A host as urlsplit gives a Host header's: lower case, an IPv6 address without brackets."""
    return host.strip().lower().removeprefix("[").removesuffix("]")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_unspecified(host: str) -> bool:
    return _is_address(host) and ipaddress.ip_address(host).is_unspecified
