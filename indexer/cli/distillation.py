"""`distill`: teach the student model to reproduce a teacher's vectors on your own documents."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from indexer import settings as defaults
from indexer.cli.exit_codes import EXIT_INTERRUPTED, reports_errors
from indexer.cli.options import json_option, source_options, sources_from


def shown_default(name: str, kind: Any, default: Any, help: str) -> Any:
    """A click option of type `kind` whose default is shown in --help."""
    return click.option(name, type=kind, default=default, show_default=True, help=help)


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="The model folder to write (it must not exist); use it with --model FOLDER.",
)
@click.option(
    "--teacher",
    default=defaults.DISTILL_TEACHER,
    show_default=True,
    help="Hub id or folder of the sentence-embedding BERT whose mean-pooled vectors are learnt "
    "(the default is the shipped all-MiniLM-L6-v2).",
)
@click.option(
    "--student",
    help="Hub id or folder of the BERT-family encoder to teach "
    f"(default {defaults.DEFAULT_MODEL}).",
)
@shown_default(
    "--init",
    click.Choice(defaults.DISTILL_INITS),
    defaults.DISTILL_INIT,
    "Where the student's weights start: its own, or the teacher's reduced to the student's "
    "shape (same vocabulary needed; the student's targets are then the teacher dimensions kept).",
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    help=f"Training time (default {defaults.DISTILL_MINUTES:g} when --steps is not given).",
)
@click.option(
    "--steps",
    type=click.IntRange(min=0),
    help="Training steps (deterministic with --seed; with --minutes, whichever ends first).",
)
@shown_default(
    "--batch",
    click.IntRange(min=1),
    defaults.DISTILL_BATCH,
    "Texts per step.",
)
@shown_default(
    "--learning-rate",
    click.FloatRange(min=0, min_open=True),
    defaults.DISTILL_LEARNING_RATE,
    "AdamW's peak learning rate (after the warm-up, decaying linearly to the budget's end).",
)
@shown_default(
    "--seed",
    int,
    defaults.DISTILL_SEED,
    "Seed of the held-out split, the spans and the batches' order.",
)
@shown_default(
    "--text-tokens",
    click.IntRange(min=8),
    defaults.DISTILL_TEXT_TOKENS,
    "Wordpieces per training text: documents are cut into windows this long, and a short "
    "span is cut from each as a stand-in query.",
)
@click.option(
    "--max-texts",
    type=click.IntRange(min=2),
    help="Train on at most this many texts (an even sample; default: all).",
)
@click.option(
    "--device",
    help=f"auto (cuda when present), cpu, cuda, cuda:1 ... (default {defaults.DEVICE}).",
)
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: every core).")
@source_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
@json_option
@reports_errors
def distill(paths: tuple[str, ...], out: Path, quiet: bool, as_json: bool, **given: Any) -> None:
    """Teach a small BERT to embed like a sentence-embedding teacher, on your own documents
    (read as `index` reads them; a store folder gives its chunks), and write it as a model
    folder for `--model`.

    The student learns to reproduce the teacher's normalised mean-pooled vectors (reduced to
    its width by a PCA fitted on your texts), so its recipe stays plain mean pooling. The
    held-out agreement (mean cosine to the teacher on texts not trained on) is printed as it
    trains. Interrupted? Run the same command again: it resumes from the last checkpoint, kept
    in .OUT.distilling beside the output."""
    from indexer.distillation.job import distill as run
    from indexer.distillation.job import work_folder
    from indexer.distillation.training import TrainingPlan

    sources = sources_from(given)
    minutes, steps = given.pop("minutes"), given.pop("steps")
    if minutes is None and steps is None:
        minutes = defaults.DISTILL_MINUTES
    plan = TrainingPlan(
        steps=steps,
        seconds=None if minutes is None else minutes * 60,
        batch=given.pop("batch"),
        learning_rate=given.pop("learning_rate"),
        seed=given.pop("seed"),
    )
    progress = not quiet and not as_json and sys.stderr.isatty()
    try:
        manifest = run(
            list(paths),
            out,
            plan,
            sources=sources,
            teacher_model=given.pop("teacher"),
            student_model=given.pop("student"),
            init=given.pop("init"),
            text_tokens=given.pop("text_tokens"),
            max_texts=given.pop("max_texts"),
            device=given.pop("device") or defaults.DEVICE,
            threads=given.pop("threads"),
            progress=progress,
        )
    except KeyboardInterrupt:
        click.echo(
            f"\ninterrupted: run the same command again to resume (training steps are "
            f"checkpointed in {work_folder(out)})",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
        return
    for item in manifest["corpus"]["skipped"]:
        click.echo(f"skipped {item}", err=True)
    if not quiet:
        training, agreement = manifest["training"], manifest["agreement"]
        click.echo(
            f"wrote {out}: {training['steps']} steps in {training['seconds']:.0f}s on "
            f"{manifest['corpus']['train']} texts; held-out agreement with "
            f"{manifest['teacher']['model']} {agreement['before']:.4f} -> {agreement['after']:.4f}"
        )
