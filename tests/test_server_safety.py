"""The UI server (`semsearch ui`) answers only requests that name it: a page of another site that
points its own domain name at 127.0.0.1 (DNS rebinding) gets neither pages nor the websocket.
Asked with raw HTTP requests, as a hostile page's browser would send them."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.collection import Collection
from indexer.settings import Settings
from tests.conftest import processes_with

SEMSEARCH = str(Path(sys.executable).parent / "semsearch")
START_SECONDS = 120  # the UI imports Streamlit and starts loading the model on a busy machine
STREAM = "/_stcore/stream"  # Streamlit's websocket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, path: str, host: str, headers: dict[str, str] | None = None) -> str:
    """The status line of a GET sent as is (Host included), on a new connection."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return sock.makefile("rb").readline().decode().strip()


def handshake(port: int, host: str, origin: str) -> str:
    """The status line of a websocket handshake on Streamlit's stream, as a browser sends it."""
    key = base64.b64encode(os.urandom(16)).decode()
    upgrade = {
        "Origin": origin,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": "streamlit",
    }
    lines = [f"GET {STREAM} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in upgrade.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return sock.makefile("rb").readline().decode().strip()


@pytest.fixture(scope="module")
def ui_port(tmp_path_factory, tiny_model_dir) -> Iterator[int]:
    """`semsearch ui --allow-host docs.example` on a free port, stopped at the end."""
    store = tmp_path_factory.mktemp("ui-safety") / "store"
    with Collection(store, Settings(model=str(tiny_model_dir))) as collection:
        collection.add_records([{"id": "a", "text": "Shock waves on a wedge."}])
    port = free_port()
    server = subprocess.Popen(
        [SEMSEARCH, "ui", "--store", str(store), "--port", str(port)]
        + ["--allow-host", "docs.example"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _healthy(port):
            assert server.poll() is None, "the UI server ended"
            assert time.monotonic() < deadline, "the UI server did not start"
            time.sleep(0.5)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        assert not processes_with("--server.port", str(port)), "a UI server is left"


def _healthy(port: int) -> bool:
    try:
        return request(port, "/_stcore/health", f"127.0.0.1:{port}").split()[1] == "200"
    except (OSError, IndexError):
        return False


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("evil.example:{port}", "http://evil.example:{port}"),  # a rebinding page
        ("evil.example", "http://evil.example"),
        ("127.0.0.1:{port}", "http://evil.example"),  # another site's page, cross-origin
    ],
)
def test_the_websocket_refuses_another_sites_host_or_origin(ui_port, host, origin) -> None:
    status = handshake(ui_port, host.format(port=ui_port), origin.format(port=ui_port))
    assert status.startswith("HTTP/1.1 403 "), status


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "docs.example"])
def test_the_websocket_opens_for_this_machine_and_allowed_hosts(ui_port, host) -> None:
    named = host.format(port=ui_port)
    origin = f"http://{named}"
    assert handshake(ui_port, named, origin).startswith("HTTP/1.1 101 ")


def test_pages_refuse_another_sites_host_and_answer_this_machine(ui_port) -> None:
    for path in ("/", "/_stcore/health", "/_stcore/host-config"):
        assert request(ui_port, path, "evil.example").startswith("HTTP/1.1 403 ")
        assert request(ui_port, path, f"localhost:{ui_port}").startswith("HTTP/1.1 200 ")
