"""`ui`: the Streamlit app in a child process that ends with this one."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import click

from indexer import settings as defaults
from indexer.cli.exit_codes import reports_errors
from indexer.cli.options import listen_options, store_option
from indexer.settings import default_store


@click.command()
@store_option()
@listen_options(defaults.UI_HOST, defaults.UI_PORT)
@click.option(
    "--model",
    help="Where the store's model is now, if it moved (default: where the store's recipe says).",
)
@click.option(
    "--compare-model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A model folder (one `semsearch distill` wrote, say) that the Compare and Token "
    "explorer pages show beside the store's model (default: none; the pages can name one).",
)
@reports_errors
def ui(
    store_path: Path | None,
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    model: str | None,
    compare_model: Path | None,
) -> None:
    """Open the Streamlit app on a store."""
    check_address(host, port)
    package = Path(importlib.util.find_spec("search_ui").origin).parent  # found, not imported
    store = (store_path or default_store()).resolve()
    command = [  # the store and its model start loading as the server starts
        sys.executable,
        "-m",
        "search_ui.server",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--",
        "--store",
        str(store),
        *(["--model", model] if model else []),
        *(["--compare-model", str(compare_model.resolve())] if compare_model else []),
        *[argument for name in allowed_hosts for argument in ("--allow-host", name)],
    ]
    click.echo(f"serving {store} on http://{host}:{port}", err=True)
    sys.exit(_run_child(command, {**os.environ, "PYTHONPATH": str(package.parent)}))


def check_address(host: str, port: int) -> None:
    """A usage error unless a server can listen on `host`:`port` (a resolvable address, a free
    port); a warning on stderr when it would serve beyond this machine."""
    if not host.strip():
        raise click.BadParameter(
            "give an address: 127.0.0.1 serves this machine only, 0.0.0.0 every interface",
            param_hint="--host",
        )
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise click.BadParameter(
            f"{host!r} is not an address here ({error})", param_hint="--host"
        ) from None
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise click.BadParameter(
                f"cannot listen on {host}:{port} ({error.strerror}); is another server there?",
                param_hint="--port",
            ) from None
    if not ipaddress.ip_address(address[0]).is_loopback:
        click.echo(f"warning: {host} serves beyond this machine", err=True)


def _run_child(command: list[str], env: dict[str, str]) -> int:
    """Run a server process that ends with this one: SIGTERM and SIGINT are passed on, and on
    Linux the child is told to stop if this process dies without passing anything on."""
    child = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    return child.wait()


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
