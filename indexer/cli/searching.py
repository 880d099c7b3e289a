"""`search`: the top-k documents for a query, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from indexer import settings as defaults
from indexer.cli.exit_codes import reports_errors
from indexer.cli.options import at_least, collection, json_option, model_options, store_option


@click.command()
@click.argument("query")
@store_option()
@click.option(
    "-k",
    type=at_least(1),
    default=defaults.K,
    show_default=True,
    help="Number of documents.",
)
@click.option(
    "--mode",
    type=click.Choice(defaults.SEARCH_MODES),
    default=defaults.MODE,
    show_default=True,
    help="dense (vectors), lexical (the Tantivy engine, BM25) or hybrid (reciprocal-rank fusion).",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    help="FIELD OP VALUE, OP one of = != > >= < <= ~ (substring) in (a,b,c); repeatable "
    "(ANDed). Fields: id, source, title, metadata.KEY (or KEY alone).",
)
@model_options
@json_option
@reports_errors
def search(
    query: str,
    store_path: Path | None,
    k: int,
    mode: str,
    filters: tuple[str, ...],
    as_json: bool,
    **given: Any,
) -> None:
    """Top-k documents for QUERY, each with its best chunk (and its page, in a paginated
    document: PDF, slides)."""
    with collection(store_path, quiet=True, **given) as source:
        hits = source.search(query, k=k, mode=mode, filters=list(filters))
    if as_json:
        click.echo(json.dumps([hit.as_dict() for hit in hits], indent=2, ensure_ascii=False))
        return
    if not hits:
        click.echo("no results")
    for rank, hit in enumerate(hits, start=1):
        snippet = " ".join(hit.text.split())[:100]
        click.echo(f"{rank:>3}  {hit.score:8.4f}  {hit.doc_id}  {hit.title or ''}")
        where = f"{hit.page_label} " if hit.page_label else ""
        click.echo(f"     {where}[{hit.start}:{hit.end}] {snippet}")
