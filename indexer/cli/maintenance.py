"""Looking after a store: delete, prune, stats, verify, repair, rebuild, export."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from indexer import settings as defaults
from indexer.cli.exit_codes import reports_errors
from indexer.cli.options import at_least, collection, json_option, store_option


@click.command()
@click.argument("ids", nargs=-1, required=True)
@store_option()
@reports_errors
def delete(ids: tuple[str, ...], store_path: Path | None) -> None:
    """Delete documents by id."""
    with collection(store_path) as target:
        deleted = target.delete(ids)
    click.echo(f"deleted {deleted} of {len(ids)}")


def _a_number(value: float | None) -> float | None:
    """--recall nan would pass every check (nothing compares below nan): refused."""
    if value is not None and math.isnan(value):
        raise click.BadParameter("nan is not a recall; give a number from 0 to 1")
    return value


@click.command("prune")
@store_option()
@click.option("--dry-run", is_flag=True, help="List what would be removed.")
@json_option
@reports_errors
def prune_command(store_path: Path | None, dry_run: bool, as_json: bool) -> None:
    """Remove documents whose source file no longer exists, and records or messages numbered by
    their place in a file (no id field, no Message-ID) whose line, row or message is gone."""
    with collection(store_path) as target:
        gone = target.prune(dry_run)
    if as_json:
        click.echo(json.dumps({"deleted": 0 if dry_run else len(gone), "ids": gone}))
    else:
        verb = "would delete" if dry_run else "deleted"
        click.echo(f"{verb} {len(gone)} document(s)" + "".join(f"\n  {i}" for i in gone))


@click.command()
@store_option()
@json_option
@reports_errors
def stats(store_path: Path | None, as_json: bool) -> None:
    """Documents, chunks, wordpieces, recipe, index type, sizes, and the index's recall@10
    measured against an exact scan (cached per store generation)."""
    with collection(store_path) as source:
        result = source.stats()
    shown = result.as_dict()
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    shown["recall"] = result.recall.describe()
    for key, value in shown.items():
        click.echo(f"{key:>12}: {json.dumps(value) if isinstance(value, dict) else value}")


@click.command()
@store_option()
@click.option(
    "--sample",
    type=at_least(0),
    default=defaults.VERIFY_SAMPLE,
    help=f"Vectors compared one by one (default {defaults.VERIFY_SAMPLE}).",
)
@click.option(
    "--recall",
    type=click.FloatRange(0, 1),
    callback=lambda _context, _option, value: _a_number(value),
    is_flag=False,
    flag_value=defaults.RECALL_THRESHOLD,
    help="Also measure the index's recall@10 against an exact scan and fail below this "
    f"(alone: {defaults.RECALL_THRESHOLD}).",
)
@json_option
@reports_errors
def verify(store_path: Path | None, sample: int, recall: float | None, as_json: bool) -> None:
    """Check SQLite against FAISS and the full-text index; exit 0 when consistent, 1 when not."""
    with collection(store_path) as source:
        report_ = source.verify(sample, recall)
    if as_json:
        click.echo(json.dumps(report_.as_dict(), indent=2))
    else:
        click.echo("ok" if report_.ok else "NOT OK")
        if report_.recall is not None:
            click.echo(f"  {report_.recall.describe()}")
        for line in report_.problems + report_.warnings:
            click.echo(f"  {line}")
    sys.exit(0 if report_.ok else 1)


@click.command()
@store_option()
@reports_errors
def repair(store_path: Path | None) -> None:
    """Rebuild the full-text and FAISS indexes from SQLite (and upgrade an older store)."""
    with collection(store_path) as target:
        result = target.repair()
    click.echo("repaired: " + ("ok" if result.ok else "; ".join(result.problems)))
    sys.exit(0 if result.ok else 1)


@click.command()
@store_option()
@click.option(
    "--index", type=click.Choice(defaults.INDEXES), required=True, help="The new index type."
)
@reports_errors
def rebuild(store_path: Path | None, index: str) -> None:
    """Rebuild the FAISS index with another type, from the stored vectors (no re-embedding)."""
    with collection(store_path) as target:
        built = target.rebuild(index)
    click.echo(f"rebuilt: {built.index_type}, {built.vectors} vectors")


@click.command()
@store_option()
@click.option(
    "--projector",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for vectors.tsv and metadata.tsv (TensorBoard Embedding Projector).",
)
@reports_errors
def export(store_path: Path | None, projector: Path) -> None:
    """Export chunk vectors and their labels for the Embedding Projector."""
    with collection(store_path) as source:
        count = source.export(projector)
    click.echo(f"wrote {count} vectors to {projector}")
