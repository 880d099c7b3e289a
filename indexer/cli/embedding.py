"""`embed` and `tokens`: what the model makes of a text, with a store's recipe or the model
options alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from indexer.cli.exit_codes import reports_errors
from indexer.cli.options import at_least, collection, existing_store, model_options, store_option
from indexer.settings import Settings
from indexer.workbench import Workbench

RECIPE_HELP = "Use this store's recipe (model, pooling)."


@click.command()
@click.argument("texts", nargs=-1, required=True)
@store_option(RECIPE_HELP)
@model_options
@reports_errors
def embed(texts: tuple[str, ...], store_path: Path | None, **given: Any) -> None:
    """Print one JSON array of floats (the pooled, normalized vector) per TEXT."""
    with _model_collection(store_path, given) as source:
        vectors = source.embed(list(texts))
    for vector in vectors:
        click.echo(json.dumps([round(float(x), 7) for x in vector]))


@click.command()
@click.argument("text")
@store_option(RECIPE_HELP)
@click.option("--words", is_flag=True, help="Group wordpieces into words.")
@click.option(
    "--layer",
    type=at_least(0),
    help="Model layer: 0 the embeddings layer, up to the last (default: the last, the one "
    "every pooling uses).",
)
@model_options
@reports_errors
def tokens(
    text: str, store_path: Path | None, words: bool, layer: int | None, **given: Any
) -> None:
    """Print the per-token embeddings of TEXT as JSON: token, start, end, vector."""
    with _model_collection(store_path, given) as source:
        view = source.tokens(text, layer=layer)
    if words:
        grouped = view.words()
        rows = zip(grouped.words, grouped.offsets, grouped.vectors, strict=True)
    else:
        rows = zip(view.tokens, view.offsets, view.vectors, strict=True)
    click.echo(
        json.dumps(
            [
                {"token": token, "start": a, "end": b, "vector": [round(float(x), 7) for x in v]}
                for token, (a, b), v in rows
            ]
        )
    )


def _model_collection(store_path: Path | None, given: dict[str, Any]) -> Workbench:
    """A store's recipe when --store is given (it must exist), else the model options alone."""
    if store_path is None:
        return Workbench(Settings().with_overrides(**given))
    return collection(existing_store(store_path), **given)
