"""`semsearch`: the command line, one subcommand per operation of `Collection`.

Options that set a `Settings` field default to None and are passed on only when given, so every
default stays in `indexer.settings`; help texts are built from it.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from indexer import settings as defaults
from indexer.collection import Collection
from indexer.console import EXIT_INTERRUPTED
from indexer.documents import SourceOptions
from indexer.pipeline import IndexInterrupted
from indexer.settings import Settings, SparkOptions, default_store
from indexer.summary import Summary
from store.errors import SemsearchError, StoreError
from store.store import store_exists

EXIT_SKIPPED, EXIT_USAGE = 1, 2
SOURCE_DEFAULTS = SourceOptions()
STORE_HELP = f"Store folder (default: ${defaults.STORE_ENV}, else ./{defaults.STORE_FOLDER})."


def reports_errors(command: Callable) -> Callable:
    """A semsearch error becomes one line on stderr and exit code 2; Ctrl-C exits 130. Anything
    else is a bug and keeps its traceback."""

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


def store_option(required: bool = True) -> Callable:
    help_text = STORE_HELP if required else "Use this store's recipe (model, pooling)."
    return click.option("--store", "store_path", type=click.Path(path_type=Path), help=help_text)


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)


def _options(command: Callable, options: list[Callable]) -> Callable:
    for option in reversed(options):
        command = option(command)
    return command


def model_options(command: Callable) -> Callable:
    """--model, --device, --precision, --batch-tokens: where and how the model runs."""
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
                "--precision",
                type=click.Choice(defaults.PRECISIONS),
                help=f"bf16 is faster on recent CPUs and GPUs (default {defaults.PRECISION}).",
            ),
            click.option(
                "--batch-tokens",
                type=click.IntRange(min=1),
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
                type=click.IntRange(min=1),
                help=f"Wordpieces per window (default: the store's, else {defaults.CHUNK_TOKENS}).",
            ),
            click.option(
                "--overlap",
                type=click.IntRange(min=0),
                help="Wordpieces shared by consecutive windows, less than --chunk-tokens "
                f"(default: the store's, else {defaults.OVERLAP}).",
            ),
            click.option(
                "--index",
                type=click.Choice(defaults.INDEXES),
                help=f"FAISS index type (default: the store's, else {defaults.INDEX}: flat up to "
                "20,000 chunks, then ivf-sq8). Changing it rebuilds the index without "
                "re-embedding.",
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


def collection(store_path: Path | None, quiet: bool = False, **given: Any) -> Collection:
    """A Collection on `--store` (or the default folder) with the settings given."""
    return Collection(
        store_path or default_store(), Settings().with_overrides(**given), quiet=quiet
    )


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="semsearch")
def cli() -> None:
    """Semantic search over your own documents with small BERT, SQLite and FAISS."""


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@store_option()
@model_options
@recipe_options
@click.option(
    "--commit-every",
    type=click.IntRange(min=1),
    help="Documents per transaction, the unit of resuming after a crash "
    f"(default {defaults.COMMIT_EVERY}).",
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
    type=click.IntRange(min=1),
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
@click.option("--strict", is_flag=True, help="Exit 1 when anything was skipped.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
@json_option
@reports_errors
def index(paths: tuple[str, ...], store_path: Path | None, **given: Any) -> None:
    """Index files and folders (.txt .md .rst .html .jsonl .csv .parquet) or JSONL on stdin (`-`).

    Unchanged documents are skipped without embedding; changed ones are replaced. A document's
    id is its id field, else its path relative to the folder given (JSONL/CSV: path#line)."""
    strict, quiet, as_json = given.pop("strict"), given.pop("quiet"), given.pop("as_json")
    sources = sources_from(given)
    spark = spark_options(given, store_path or default_store())
    progress = not quiet and not as_json and sys.stderr.isatty()
    with collection(store_path, quiet=quiet, **given) as target:
        if spark is None:
            summary = target.add(list(paths), sources, progress=progress)
        else:
            summary = target.add_on_spark(list(paths), spark, sources, progress=progress)
    finish(summary, as_json, quiet, strict)


def spark_options(given: dict[str, Any], store: Path) -> SparkOptions | None:
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
        run_dir=run_dir or store / defaults.SPARK_RUN_DIR,
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


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path),
    help="Store folder (default: the store the run was started for).",
)
@click.option(
    "--commit-every",
    type=click.IntRange(min=1),
    help=f"Documents per transaction (default {defaults.COMMIT_EVERY}).",
)
@click.option("--strict", is_flag=True, help="Exit 1 when the run skipped anything.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
@json_option
@reports_errors
def ingest(
    run_dir: Path,
    store_path: Path | None,
    strict: bool,
    quiet: bool,
    as_json: bool,
    **given: Any,
) -> None:
    """Write the shards of a `semsearch index --spark --shards-only` run to a store.

    Documents already stored unchanged are skipped, so a killed ingest is finished by running
    it again."""
    from indexer.shards import RunDir
    from indexer.spark_job import finished

    if store_path is None:
        store_path = Path(finished(RunDir(run_dir))["identity"]["store"])
    progress = not quiet and not as_json and sys.stderr.isatty()
    with collection(store_path, quiet=quiet, **given) as target:
        summary = target.ingest(run_dir, progress=progress)
    finish(summary, as_json, quiet, strict)


def report(summary: Summary) -> None:
    """The human summary of an index run: what was left out, then the counts."""
    for item in summary.skipped:
        click.echo(f"skipped {item}", err=True)
    for where, count in summary.replaced.items():
        click.echo(f"replaced {count} undecodable bytes in {where}", err=True)
    if summary.unknown_only:
        shown = ", ".join(summary.unknown_only[:5])
        click.echo(
            f"{len(summary.unknown_only)} documents have a window of nothing but [UNK] "
            f"(text the model's vocabulary cannot represent), e.g. {shown}",
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


@cli.command()
@click.argument("query")
@store_option()
@click.option(
    "-k",
    type=click.IntRange(min=1),
    default=defaults.K,
    show_default=True,
    help="Number of documents.",
)
@click.option(
    "--mode",
    type=click.Choice(defaults.SEARCH_MODES),
    default=defaults.MODE,
    show_default=True,
    help="dense (vectors), lexical (FTS5 BM25) or hybrid (reciprocal-rank fusion).",
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
    """Top-k documents for QUERY, each with its best chunk."""
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
        click.echo(f"     [{hit.start}:{hit.end}] {snippet}")


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@store_option()
@reports_errors
def delete(ids: tuple[str, ...], store_path: Path | None) -> None:
    """Delete documents by id."""
    with collection(store_path) as target:
        deleted = target.delete(ids)
    click.echo(f"deleted {deleted} of {len(ids)}")


@cli.command("prune")
@store_option()
@click.option("--dry-run", is_flag=True, help="List what would be removed.")
@json_option
@reports_errors
def prune_command(store_path: Path | None, dry_run: bool, as_json: bool) -> None:
    """Remove documents whose source file no longer exists."""
    with collection(store_path) as target:
        gone = target.prune(dry_run)
    if as_json:
        click.echo(json.dumps({"deleted": 0 if dry_run else len(gone), "ids": gone}))
    else:
        verb = "would delete" if dry_run else "deleted"
        click.echo(f"{verb} {len(gone)} document(s)" + "".join(f"\n  {i}" for i in gone))


@cli.command()
@store_option()
@json_option
@reports_errors
def stats(store_path: Path | None, as_json: bool) -> None:
    """Documents, chunks, wordpieces, recipe, index type and sizes."""
    with collection(store_path) as source:
        result = source.stats()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        click.echo(f"{key:>12}: {json.dumps(value) if isinstance(value, dict) else value}")


@cli.command()
@store_option()
@click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Vectors compared one by one.",
)
@json_option
@reports_errors
def verify(store_path: Path | None, sample: int, as_json: bool) -> None:
    """Check SQLite against FAISS and the full-text index; exit 0 when consistent, 1 when not."""
    with collection(store_path) as source:
        report_ = source.verify(sample)
    if as_json:
        click.echo(json.dumps(report_, indent=2))
    else:
        click.echo("ok" if report_["ok"] else "NOT OK")
        for line in report_["problems"] + report_["warnings"]:
            click.echo(f"  {line}")
    sys.exit(0 if report_["ok"] else 1)


@cli.command()
@store_option()
@reports_errors
def repair(store_path: Path | None) -> None:
    """Rebuild the full-text and FAISS indexes from SQLite (and upgrade an older store)."""
    with collection(store_path) as target:
        result = target.repair()
    click.echo("repaired: " + ("ok" if result["ok"] else "; ".join(result["problems"])))
    sys.exit(0 if result["ok"] else 1)


@cli.command()
@store_option()
@click.option(
    "--index", type=click.Choice(defaults.INDEXES), required=True, help="The new index type."
)
@reports_errors
def rebuild(store_path: Path | None, index: str) -> None:
    """Rebuild the FAISS index with another type, from the stored vectors (no re-embedding)."""
    with collection(store_path) as target:
        built = target.rebuild(index)
    click.echo(f"rebuilt: {built['index_type']}, {built['vectors']} vectors")


@cli.command()
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


@cli.command()
@click.argument("texts", nargs=-1, required=True)
@store_option(required=False)
@model_options
@reports_errors
def embed(texts: tuple[str, ...], store_path: Path | None, **given: Any) -> None:
    """Print one JSON array of floats (the pooled, normalized vector) per TEXT."""
    with _model_collection(store_path, given) as source:
        vectors = source.embed(list(texts))
    for vector in vectors:
        click.echo(json.dumps([round(float(x), 7) for x in vector]))


@cli.command()
@click.argument("text")
@store_option(required=False)
@click.option("--words", is_flag=True, help="Group wordpieces into words.")
@model_options
@reports_errors
def tokens(text: str, store_path: Path | None, words: bool, **given: Any) -> None:
    """Print the per-token embeddings of TEXT as JSON: token, start, end, vector."""
    with _model_collection(store_path, given) as source:
        view = source.tokens(text)
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


def _model_collection(store_path: Path | None, given: dict[str, Any]) -> Collection:
    """A store's recipe when --store is given (it must exist), else the model options alone."""
    if store_path is None:
        return Collection.model_only(Settings().with_overrides(**given))
    if not store_exists(store_path):
        raise StoreError(f"no store at {store_path}; create one with `semsearch index`")
    return collection(store_path, **given)


@cli.command()
@store_option()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=defaults.UI_PORT,
    show_default=True,
    help="Port to serve on.",
)
@click.option(
    "--host",
    default=defaults.UI_HOST,
    show_default=True,
    help="Address to bind; the default serves this machine only.",
)
@click.option(
    "--model",
    help="Where the store's model is now, if it moved (default: where the store's recipe says).",
)
def ui(store_path: Path | None, port: int, host: str, model: str | None) -> None:
    """Open the Streamlit app on a store."""
    app = Path(__file__).resolve().parents[1] / "search_ui" / "app.py"
    store = (store_path or default_store()).resolve()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--",
        "--store",
        str(store),
        *(["--model", model] if model else []),
    ]
    click.echo(f"serving {store} on http://{host}:{port}", err=True)
    sys.exit(_run_child(command, {**os.environ, "PYTHONPATH": str(app.parents[1])}))


def _run_child(command: list[str], env: dict[str, str]) -> int:
    """Run a server process that ends with this one: SIGTERM and SIGINT are passed on, and on
    Linux the child is told to stop if this process dies without passing anything on."""
    child = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    return child.wait()


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@cli.command("eval")
@click.argument("beir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path),
    help="Store to index the corpus into, or reuse if it exists (default: a temporary one).",
)
@click.option("--split", default="test", show_default=True, help="qrels/<split>.tsv to judge by.")
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
            result = source.evaluate(beir, split)
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
