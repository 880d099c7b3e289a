"""The `semsearch` command group: one subcommand per operation of the `Collection` facade."""

from __future__ import annotations

import click

from indexer.cli import (
    distillation,
    embedding,
    evaluation,
    exploration,
    indexing,
    maintenance,
    searching,
    serving,
    ui_process,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="semsearch")
def cli() -> None:
    """Semantic search over your own documents with small BERT, SQLite and FAISS."""


for command in (
    indexing.index,
    indexing.ingest,
    searching.search,
    maintenance.delete,
    maintenance.prune_command,
    maintenance.stats,
    maintenance.verify,
    maintenance.repair,
    maintenance.rebuild,
    maintenance.export,
    embedding.embed,
    embedding.tokens,
    exploration.concordance,
    ui_process.ui,
    serving.serve,
    serving.mcp_command,
    evaluation.eval_command,
    distillation.distill,
):
    cli.add_command(command)
