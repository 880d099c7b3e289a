"""`concordance`: a word's occurrences across a store, grouped by sense."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from indexer import settings as defaults
from indexer.cli.exit_codes import reports_errors
from indexer.cli.options import at_least, collection, json_option, model_options, store_option

CONCORDANCE_HELP = f"""WORD's occurrences in the store (the whole word, any case), grouped by sense.

The occurrences are found through the full-text index; each one's vector is its wordpieces' mean
in its chunk's window, from the store's model. Groups: spherical k-means for k = 2 to
{defaults.SENSE_MAX_GROUPS}; a split counts when its silhouette is at least
{defaults.SENSE_MIN_SILHOUETTE}, its two closest centroids have a cosine of at most
{defaults.SENSE_MAX_CENTROID_COSINE} and its smallest group holds {defaults.SENSE_MIN_GROUP}
occurrences and {defaults.SENSE_MIN_GROUP_SHARE:.0%} of them; the counted split with the best
silhouette wins, else one sense (docs/concordance.md). Each group lists its most typical
occurrences as keyword-in-context lines (document id, chunk, character span) and its distinctive
neighbouring words."""


@click.command(help=CONCORDANCE_HELP)
@click.argument("word")
@store_option()
@click.option(
    "--limit",
    type=at_least(1),
    default=defaults.CONCORDANCE_LIMIT,
    show_default=True,
    help="Occurrences taken; when the store holds more, they are spread evenly over it.",
)
@click.option(
    "--layer",
    type=at_least(0),
    help="Model layer of the occurrence vectors: 0 the embeddings layer, up to the last "
    "(default: the last, the one the store pools).",
)
@model_options
@json_option
@reports_errors
def concordance(
    word: str,
    store_path: Path | None,
    limit: int,
    layer: int | None,
    as_json: bool,
    **given: Any,
) -> None:
    """WORD's occurrences in the store, grouped by sense (help: CONCORDANCE_HELP)."""
    with collection(store_path, quiet=True, **given) as source:
        result = source.concordance(word, limit=limit, layer=layer)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(
        f"{result.word}: {len(result.occurrences)} occurrences from {result.matching_chunks} "
        f"matching chunks, layer {result.layer} of {result.layers}: "
        f"{len(result.groups)} group(s)"
    )
    for group in result.groups:
        words = ", ".join(word for word, _ in group.words) or "-"
        click.echo(f"\ngroup {group.number + 1}: {group.size} occurrences; distinctive: {words}")
        for index in group.typical:
            line = result.occurrences[index]
            click.echo(
                f"  {line.doc_id} #{line.chunk_ord} [{line.start}:{line.end}]  "
                f"{line.left[-40:]:>40} [{line.word}] {line.right[:40]}"
            )
