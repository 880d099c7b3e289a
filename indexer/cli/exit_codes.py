"""The exit codes of `semsearch`, and the one place that turns errors into them.

    0 done; 1 done but something was skipped and --strict was given (or verify found a problem);
    2 a usage, input or configuration error, with a one-line message; 130 interrupted (Ctrl-C).

Any other failure is a bug and keeps its traceback. This module imports nothing at its top but the
standard library: the console script reads it before anything else, so that Ctrl-C while the
libraries load is answered too.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_SKIPPED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def reports_errors(command: Callable) -> Callable:
    """A semsearch error becomes one line on stderr and exit code 2; Ctrl-C exits 130. Anything
    else is a bug and keeps its traceback."""

    import click

    from indexer.summary import IndexInterrupted
    from store.errors import SemsearchError

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SemsearchError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(EXIT_USAGE)
        except IndexInterrupted as interrupted:
            summary = interrupted.summary
            click.echo(
                f"\ninterrupted: {summary.stored} documents of this run are safely stored "
                f"({summary.added} added, {summary.updated} updated, {summary.unchanged} "
                "unchanged); run the same command again to resume",
                err=True,
            )
            sys.exit(EXIT_INTERRUPTED)
        except KeyboardInterrupt:
            click.echo("\ninterrupted; nothing was written", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper
