"""Option groups shared by several commands, and how their values become a Collection.

Options that set a `Settings` field default to None and are passed on only when given, so every
default stays in `indexer.settings`; help texts are built from it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from indexer import settings as defaults
from indexer.collection import Collection
from indexer.settings import Settings, default_store
from indexer.sources.options import SourceOptions
from store.errors import StoreError
from store.store import store_exists

SOURCE_DEFAULTS = SourceOptions()
STORE_HELP = f"Store folder (default: ${defaults.STORE_ENV}, else ./{defaults.STORE_FOLDER})."


def at_least(minimum: int) -> click.IntRange:
    """A count a user types: at least `minimum`, at most MAX_COUNT (a larger number is a one-line
    error, never an overflow deep inside)."""
    return click.IntRange(minimum, defaults.MAX_COUNT)


def store_option(help_text: str = STORE_HELP) -> Callable:
    """--store, the store folder (`store_path`)."""
    return click.option("--store", "store_path", type=click.Path(path_type=Path), help=help_text)


def listen_options(host: str, port: int, any_port: bool = False, host_note: str = "") -> Callable:
    """--host and --port: where a server listens (by default on this machine only). `any_port`:
    0 picks a free port. --allow-host (`allowed_hosts`): Host names it answers to besides its
    own address."""
    port_help = "; 0 picks a free one (the `serving on` line says which)." if any_port else "."
    return lambda command: _options(
        command,
        [
            click.option(
                "--host",
                default=host,
                show_default=True,
                help=f"Address to listen on; the default serves this machine only.{host_note}",
            ),
            click.option(
                "--port",
                type=click.IntRange(0 if any_port else 1, 65535),
                default=port,
                show_default=True,
                help=f"Port to listen on{port_help}",
            ),
            click.option(
                "--allow-host",
                "allowed_hosts",
                multiple=True,
                metavar="NAME",
                help="Also answer requests whose Host header is NAME (repeatable; * allows "
                "every one). By default only localhost, 127.0.0.1, ::1 and the --host address: "
                "a web page of another site is refused even if its domain name points here.",
            ),
        ],
    )


def report_options(command: Callable) -> Callable:
    """--strict, --quiet, --json: how a run reports what it did."""
    return _options(
        command,
        [
            click.option("--strict", is_flag=True, help="Exit 1 when anything was skipped."),
            click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary."),
            json_option,
        ],
    )


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)


def _options(command: Callable, options: list[Callable]) -> Callable:
    for option in reversed(options):
        command = option(command)
    return command


def model_options(command: Callable) -> Callable:
    """--model, --device, --runtime, --precision, --batch-tokens: where and how the model runs."""
    return _options(
        command,
        [
            click.option(
                "--model",
                help=f"Hub id or local folder of a BERT-family encoder. Default: the store's "
                f"model, else {defaults.DEFAULT_MODEL}, falling back to the shipped "
                f"{defaults.FALLBACK_MODEL} when it cannot be loaded. For an existing store, "
                "where its model is now (the weights must be the same).",
            ),
            click.option(
                "--device",
                help="auto (cuda when present), cpu, cuda, cuda:1 ... "
                f"(default {defaults.DEVICE}).",
            ),
            click.option(
                "--runtime",
                type=click.Choice(defaults.RUNTIMES),
                help="What runs the model: onnxruntime (CPU only; its graph is exported from the "
                "weights once and cached in $SEMSEARCH_CACHE, else $XDG_CACHE_HOME/semsearch) or "
                f"torch (default {defaults.RUNTIME}: onnxruntime on a CPU, torch on CUDA and for "
                "bf16; fp32 vectors are the same from both, so they may share a store).",
            ),
            click.option(
                "--precision",
                type=click.Choice(defaults.PRECISIONS),
                help="bf16 (torch) is faster on GPUs and CPUs with bf16 units (slower on others); "
                "int8 (onnxruntime) quantizes the model's weights for speed at a measured quality "
                "loss (docs/performance.md: about 0.006 nDCG@10 on Cranfield with MiniLM) and "
                "cannot share a store with fp32/bf16 vectors "
                f"(default: the store's, else {defaults.PRECISION}).",
            ),
            click.option(
                "--batch-tokens",
                type=at_least(1),
                help="Padded wordpieces per forward pass (default by device: "
                + ", ".join(f"{d} {n}" for d, n in defaults.BATCH_TOKENS.items())
                + "; at least --chunk-tokens + 2).",
            ),
        ],
    )


def recipe_options(command: Callable) -> Callable:
    """--pooling, --chunk-tokens, --overlap, --index: how a new store's vectors are made."""
    return _options(
        command,
        [
            click.option(
                "--pooling",
                type=click.Choice(defaults.POOLINGS),
                help="mean: every position incl. [CLS]/[SEP]; spark-nlp: first wordpiece of "
                "each word, special tokens dropped "
                f"(default: the store's, else {defaults.POOLING}).",
            ),
            click.option(
                "--chunk-tokens",
                type=at_least(1),
                help=f"Wordpieces per window (default: the store's, else {defaults.CHUNK_TOKENS}).",
            ),
            click.option(
                "--overlap",
                type=at_least(0),
                help="Wordpieces shared by consecutive windows, less than --chunk-tokens; with 0 "
                "a word cut by a window boundary is whole in neither chunk, and lexical search "
                f"misses it (default: the store's, else {defaults.OVERLAP}).",
            ),
            click.option(
                "--index",
                type=click.Choice(defaults.INDEXES),
                help=f"FAISS index type (default: the store's, else {defaults.INDEX}: "
                f"{defaults.INDEX_HELP}). Changing it rebuilds the index without re-embedding.",
            ),
        ],
    )


def source_options(command: Callable) -> Callable:
    """How documents and their fields are found in the inputs."""
    d = SOURCE_DEFAULTS
    return _options(
        command,
        [
            click.option("--include", multiple=True, help="Glob of files to take from folders."),
            click.option("--exclude", multiple=True, help="Glob of files to leave out."),
            click.option("--id-field", help=f"Key / column of ids (default {d.id_field})."),
            click.option("--text-field", help=f"Key / column of text (default {d.text_field})."),
            click.option(
                "--title-field",
                help=f"Key / column of titles, put before the text (default {d.title_field}).",
            ),
            click.option(
                "--metadata-field",
                help=f"JSONL key of a metadata object (default {d.metadata_field}).",
            ),
            click.option(
                "--metadata-column",
                "metadata_columns",
                multiple=True,
                help="CSV column kept as metadata (repeatable; default: every other column).",
            ),
        ],
    )


def collection(
    store_path: Path | None, quiet: bool = False, threads: int | None = None, **given: Any
) -> Collection:
    """A Collection on `--store` (or the default folder) with the settings given."""
    return Collection(
        store_path or default_store(),
        Settings().with_overrides(**given),
        quiet=quiet,
        threads=threads,
    )


def existing_store(store_path: Path | None) -> Path:
    """The store folder given (or the default one); StoreError when it holds no store."""
    store = store_path or default_store()
    if not store_exists(store):
        raise StoreError(f"no store at {store}; create one with `semsearch index`")
    return store


def sources_from(given: dict[str, Any]) -> SourceOptions:
    fields = {
        "id_field": given.pop("id_field"),
        "text_field": given.pop("text_field"),
        "title_field": given.pop("title_field"),
        "metadata_field": given.pop("metadata_field"),
        "metadata_columns": list(given.pop("metadata_columns")) or None,
        "include": list(given.pop("include")),
        "exclude": list(given.pop("exclude")),
    }
    return SourceOptions(**{k: v for k, v in fields.items() if v is not None})
