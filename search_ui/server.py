"""What `semsearch ui` runs: `python -m search_ui.server [streamlit run options] -- --store PATH
[--model PATH] [--allow-host NAME ...]`. The store and its model start loading in the
background, then Streamlit serves app.py in this process: a page opened while they load is drawn
at once and shows the loading, and one opened later finds them ready.

Every request, the websocket's handshake included, must name this server in its Host header
(`indexer.serving.host_check`, the rule of `semsearch serve`), so that a page of another site
cannot reach the app through DNS rebinding. Streamlit's own `server.allowedHosts` checks only the
websocket and allows every Host when empty, so the check wraps the Starlette app Streamlit builds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from streamlit import config
from streamlit.web import cli
from streamlit.web.server.starlette import starlette_server

from indexer.serving.host_check import AllowedHosts, HostCheckMiddleware
from search_ui import loading

APP = Path(__file__).resolve().parent / "app.py"


def main() -> None:
    options = sys.argv[1:]
    app_args = options[options.index("--") + 1 :] if "--" in options else []
    loading.loader(*loading.arguments(app_args))
    check_hosts(allowed_hosts(app_args))
    # Every widget's value lives in session state (url_state, state.keep_widget_state); `value=`
    # is passed only where it means something else (a select slider is a range when given one).
    quiet = ["--global.disableWidgetStateDuplicationWarning", "true"]
    sys.argv = ["streamlit", "run", *quiet, str(APP), *options]
    cli.main(prog_name="streamlit")


def allowed_hosts(argv: Sequence[str]) -> list[str]:
    """The `--allow-host` values among the app's arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--allow-host", action="append", default=[])
    return parser.parse_known_args(list(argv))[0].allow_host


def check_hosts(allowed: Sequence[str]) -> None:
    """Wrap the app Streamlit's server builds in the Host check, which allows the address in
    `server.address` (read when the server starts, after Streamlit has read its options)."""
    build = starlette_server.create_starlette_app

    def checked(*args: object, **kwargs: object) -> Starlette:
        app = build(*args, **kwargs)
        address = config.get_option("server.address") or ""
        app.add_middleware(HostCheckMiddleware, hosts=AllowedHosts([address], allowed))
        return app

    starlette_server.create_starlette_app = checked


if __name__ == "__main__":
    main()
