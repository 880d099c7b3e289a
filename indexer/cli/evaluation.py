"""`eval`: retrieval quality on a BEIR folder, for each search mode."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import click

from indexer import settings as defaults
from indexer.cli.exit_codes import reports_errors
from indexer.cli.options import (
    collection,
    json_option,
    model_options,
    recipe_options,
    store_option,
)
from indexer.evaluation import evaluate


@click.command("eval")
@click.argument("beir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@store_option("Store to index the corpus into, or reuse if it exists (default: a temporary one).")
@click.option(
    "--split", default=defaults.BEIR_SPLIT, show_default=True, help="qrels/<split>.tsv to judge by."
)
@model_options
@recipe_options
@json_option
@reports_errors
def eval_command(
    beir: Path, store_path: Path | None, split: str, as_json: bool, **given: Any
) -> None:
    """Quality on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv): nDCG@10
    (gain 2^g - 1), recall@100 and MRR@10 for dense, lexical and hybrid search. Corpus and
    queries are embedded by one model, with the options given."""
    with tempfile.TemporaryDirectory(prefix="semsearch-eval-") as scratch:
        target = store_path or Path(scratch) / "store"
        with collection(target, quiet=as_json, **given) as source:
            result = evaluate(source, beir, split)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{result['queries']} queries")
    click.echo(f"{'mode':<8} {'nDCG@10':>8} {'R@100':>8} {'MRR@10':>8}")
    for mode in defaults.SEARCH_MODES:
        row = result[mode]
        click.echo(
            f"{mode:<8} {row['ndcg@10']:>8.4f} {row['recall@100']:>8.4f} {row['mrr@10']:>8.4f}"
        )
