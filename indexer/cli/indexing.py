"""`index` and `ingest`: documents into a store, locally or through Spark, and the summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from indexer import settings as defaults
from indexer.cli.exit_codes import EXIT_SKIPPED, reports_errors
from indexer.cli.options import (
    at_least,
    collection,
    model_options,
    recipe_options,
    report_options,
    source_options,
    sources_from,
    store_option,
)
from indexer.collection import Collection
from indexer.settings import Settings, SparkOptions
from indexer.sources.inputs import formats
from indexer.summary import Summary


@click.command(
    help=f"""Index files and folders, read by extension: {formats()}; or JSONL on stdin (`-`).

    Unchanged documents are skipped without embedding; changed ones are replaced. A document's
    id is its id field, else its path relative to the folder given (JSONL/CSV: path#line; an
    e-mail: its Message-ID, an attachment MESSAGE-ID/NAME). PDF pages and slides are recorded,
    so hits name their page. Encrypted, damaged and scanned (no text layer) files, zip bombs,
    files over the size limit and files a reader fails on are skipped and listed with the
    reason; the run goes on."""
)
@click.argument("paths", nargs=-1, required=True)
@store_option()
@model_options
@recipe_options
@click.option(
    "--commit-every",
    type=at_least(1),
    help="Documents per transaction, the unit of resuming after a crash "
    f"(default {defaults.COMMIT_EVERY}).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that read, parse and tokenize while the model runs (default: one per core "
    "for inputs of a few MB or more, else 1; 1: all in this process).",
)
@source_options
@click.option(
    "--spark",
    "spark_master",
    metavar="MASTER",
    help="Read and embed on Spark (local[4], spark://host:7077, yarn ...), then write the "
    "store from the shards on this machine. Needs semsearch[spark] and Java 17+.",
)
@click.option(
    "--run-dir",
    type=click.Path(path_type=Path),
    help=f"With --spark: folder of the run's shards and manifest, readable by every executor "
    f"(default STORE/{defaults.SPARK_RUN_DIR}). A rerun of an unfinished run resumes it.",
)
@click.option(
    "--shards",
    type=at_least(1),
    help=f"With --spark: shard files, one embedding task each (default {defaults.SHARDS_PER_CORE}"
    " per core of the cluster).",
)
@click.option(
    "--spark-conf",
    multiple=True,
    metavar="KEY=VALUE",
    help="With --spark: a Spark setting, e.g. spark.task.cpus=2 (repeatable).",
)
@click.option(
    "--shards-only",
    is_flag=True,
    help="With --spark: stop after the shards; `semsearch ingest RUN_DIR` writes them later.",
)
@report_options
@reports_errors
def index(paths: tuple[str, ...], store_path: Path | None, **given: Any) -> None:
    strict, quiet, as_json = given.pop("strict"), given.pop("quiet"), given.pop("as_json")
    sources = sources_from(given)
    spark = spark_options(given)
    progress = not quiet and not as_json and sys.stderr.isatty()
    with collection(store_path, quiet=quiet, **given) as target:
        if spark is None:
            summary = target.add(list(paths), sources, progress=progress, keep_model=False)
        else:
            summary = target.add_on_spark(list(paths), spark, sources, progress=progress)
    finish(summary, as_json, quiet, strict)


def spark_options(given: dict[str, Any]) -> SparkOptions | None:
    """The --spark options (popped from `given`); None without --spark."""
    master, run_dir, shards = given.pop("spark_master"), given.pop("run_dir"), given.pop("shards")
    conf, shards_only = given.pop("spark_conf"), given.pop("shards_only")
    if master is None:
        if run_dir or shards or conf or shards_only:
            raise click.UsageError(
                "--run-dir, --shards, --spark-conf and --shards-only need --spark"
            )
        return None
    settings = {}
    for item in conf:
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--spark-conf")
        settings[key] = value
    return SparkOptions(
        master=master,
        run_dir=run_dir,
        shards=shards,
        conf=settings,
        shards_only=shards_only,
    )


def finish(summary: Summary, as_json: bool, quiet: bool, strict: bool) -> None:
    """Print an index run's summary; exit 1 under --strict when anything was skipped."""
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    elif not quiet:
        report(summary)
    if summary.skipped and strict:
        sys.exit(EXIT_SKIPPED)


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@store_option("Store folder (default: the store the run was made for).")
@click.option(
    "--commit-every",
    type=at_least(1),
    help=f"Documents per transaction (default {defaults.COMMIT_EVERY}).",
)
@click.option(
    "--any-store",
    is_flag=True,
    help="Take a run made against another store, when it left nothing out as unchanged.",
)
@report_options
@reports_errors
def ingest(
    run_dir: Path,
    store_path: Path | None,
    any_store: bool,
    strict: bool,
    quiet: bool,
    as_json: bool,
    **given: Any,
) -> None:
    """Write the shards of a `semsearch index --spark --shards-only` run to a store.

    The run folder is checked whole first: a run that is incomplete, damaged, or made against
    another store is refused before anything is written. Documents already stored unchanged are
    skipped, so a killed ingest is finished by running it again."""
    progress = not quiet and not as_json and sys.stderr.isatty()
    settings = Settings().with_overrides(**given)
    if store_path is None:
        target = Collection.of_run(run_dir, settings, quiet=quiet)
    else:
        target = Collection(store_path, settings, quiet=quiet)
    with target:
        summary = target.ingest(run_dir, progress=progress, any_store=any_store)
    finish(summary, as_json, quiet, strict)


def report(summary: Summary) -> None:
    """The human summary of an index run: what was left out, then the counts."""
    for item in summary.skipped:
        click.echo(f"skipped {item}", err=True)
    for where, count in summary.replaced.items():
        click.echo(
            f"replaced {count} undecodable bytes (or NUL, lone surrogates) in {where}", err=True
        )
    for where, count in summary.nulled.items():
        click.echo(f"stored {count} NaN or Infinity metadata values as null in {where}", err=True)
    if summary.unknown_only:
        shown = ", ".join(summary.unknown_only[:5])
        click.echo(
            f"{len(summary.unknown_only)} documents have a window of nothing but [UNK] "
            f"(text the model's vocabulary cannot represent), e.g. {shown}",
            err=True,
        )
    if summary.outlived:
        click.echo(
            f"deleted {len(summary.outlived)} documents whose line, row or message is no longer "
            f"in their file: {', '.join(summary.outlived[:5])}"
            + (", ..." if len(summary.outlived) > 5 else ""),
            err=True,
        )
    click.echo(
        f"added {summary.added}, updated {summary.updated}, unchanged {summary.unchanged}, "
        f"skipped {len(summary.skipped)}; {summary.chunks} chunks, {summary.tokens} tokens in "
        f"{summary.seconds:.1f}s"
        + (
            f"; {summary.replaced_bytes} undecodable bytes replaced"
            if summary.replaced_bytes
            else ""
        )
    )
