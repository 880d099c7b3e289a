"""The `semsearch` console script: the command line, with Ctrl-C during start-up (importing the
libraries takes a moment) answered like Ctrl-C later: one line and exit status 130."""

from __future__ import annotations

import sys

from indexer.cli.exit_codes import EXIT_INTERRUPTED


def main() -> None:
    try:
        from indexer.cli.app import cli
    except KeyboardInterrupt:
        print("\ninterrupted while starting; nothing was written", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    cli()
