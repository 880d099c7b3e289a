"""`distill`: the whole run, from the user's paths to a model folder. The checkpoint is kept in a
work folder beside the output, `.NAME.distilling`, so that running the same command again resumes
(it is removed once the model folder is whole); the teacher's vectors in semsearch's cache."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from indexer.distillation import initialisation, output, teacher, training
from indexer.distillation.corpus import Corpus, DistillationError, build, read_documents
from indexer.distillation.manifest import FORMAT
from indexer.distillation.projection import Projection, fitted
from indexer.embedding.embedder import Embedder
from indexer.embedding.model import (
    ENCODERS,
    load_weights,
    ready_for_inference,
    resolve_device,
    weights_fingerprint,
)
from indexer.settings import (
    DEFAULT_MODEL,
    DEVICE,
    DISTILL_INIT,
    DISTILL_INITS,
    DISTILL_MINUTES,
    DISTILL_TEACHER,
    DISTILL_TEXT_TOKENS,
    cache_folder,
)
from indexer.sources.options import SourceOptions

TEACHER_WINDOW = 256  # the teacher's window (a longer text gets the mean of its windows)


def work_folder(out: Path) -> Path:
    """Where a run keeps what it needs to resume: beside `out`."""
    return out.parent / f".{out.name}.distilling"


def distill(
    paths: Sequence[str],
    out: str | Path,
    plan: training.TrainingPlan | None = None,
    *,
    sources: SourceOptions | None = None,
    teacher_model: str = DISTILL_TEACHER,
    student_model: str | None = None,
    init: str = DISTILL_INIT,
    text_tokens: int = DISTILL_TEXT_TOKENS,
    max_texts: int | None = None,
    device: str = DEVICE,
    threads: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Teach the student (default: the default model) to reproduce the teacher's normalised
    mean-pooled vectors, projected to the student's width, on texts from `paths` (read as
    `index` reads them) within the plan's budget (default: DISTILL_MINUTES); write the model
    folder `out` and return its manifest. `init="teacher"`
    starts the student's architecture from the teacher's weights reduced in width. Running the
    same call again after an interruption resumes from the last checkpoint."""
    out = Path(out)
    output.refuse_existing(out)
    plan = plan or training.TrainingPlan(seconds=DISTILL_MINUTES * 60)
    if init not in DISTILL_INITS:
        raise DistillationError(f"init must be one of {', '.join(DISTILL_INITS)}, not {init!r}")
    target = torch.device(resolve_device(device))
    if target.type == "cpu" and threads:
        torch.set_num_threads(threads)
    work = work_folder(out)
    student_name = student_model or DEFAULT_MODEL
    student, student_tokenizer = _encoder(student_name, "student")
    teacher_weights, teacher_tokenizer = _encoder(teacher_model, "teacher")
    sources = sources or SourceOptions()
    documents, skipped = read_documents(paths, sources, never=[work, out])
    corpus = build(
        documents, student_tokenizer.backend_tokenizer, text_tokens, plan.seed, max_texts, skipped
    )
    _make(work)
    loaded = ready_for_inference(
        teacher_weights,
        teacher_tokenizer,
        teacher_model,
        str(target),
        "fp32",
        threads=threads,
        quiet=True,
    )
    cache = cache_folder() / teacher.SUBFOLDER
    window = min(TEACHER_WINDOW, loaded.max_positions - 2)
    teacher_embedder = Embedder(loaded, chunk_tokens=window, overlap=min(32, window // 4))
    try:
        vectors = teacher.teacher_vectors(teacher_embedder, corpus, cache, progress)
    except OSError as error:
        raise DistillationError(f"{cache}: cannot keep the teacher's vectors ({error})") from None
    train = len(corpus.train)
    if init == "teacher":
        student, basis = _from_teacher(
            teacher_weights, teacher_tokenizer, student, student_tokenizer, corpus
        )
        projection: Projection | None = Projection(basis.numpy(), kind="kept dimensions")
        start_name = f"{teacher_model} reduced to {student_name}'s shape"
    else:
        projection = fitted(vectors[:train], student.config.hidden_size)
        start_name = student_name
    if projection is not None:
        vectors = projection(vectors)
    start = {"model": start_name, "fingerprint": weights_fingerprint(student)}
    for module in student.modules():  # no dropout: short runs learn faster without it
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    teacher_facts = {"model": teacher_model, "fingerprint": loaded.fingerprint}
    run_key = {
        "teacher": teacher_facts["fingerprint"],
        "student_start": start["fingerprint"],
        "corpus": corpus.identity,
        "text_tokens": text_tokens,
        "batch": plan.batch,
        "learning_rate": plan.learning_rate,
        "warmup": plan.warmup,
        "seed": plan.seed,
        "similarity_weight": plan.similarity_weight,
        "freeze_embeddings": plan.freeze_embeddings,
    }
    pad_id = student_tokenizer.pad_token_id or 0
    batches = training.Batches(_ids(student_tokenizer, corpus.train), pad_id, plan.batch, plan.seed)
    outcome = training.train(
        student,
        batches,
        vectors[:train].astype(np.float32),
        _ids(student_tokenizer, corpus.held_out),
        vectors[train:].astype(np.float32),
        plan,
        work,
        run_key,
        target,
        progress,
    )
    student.to("cpu")
    manifest = _manifest(
        teacher_facts, start, projection, corpus, plan, text_tokens, outcome, str(target)
    )
    output.write(out, student, student_tokenizer, manifest, projection)
    shutil.rmtree(work, ignore_errors=True)
    return manifest


def _encoder(name: str, role: str) -> tuple[Any, Any]:
    """The torch weights and tokenizer of a BERT-family encoder; DistillationError otherwise."""
    from indexer.embedding.model import ModelLoadError

    try:
        model, tokenizer = load_weights(name)
    except (ModelLoadError, OSError, ValueError) as error:
        raise DistillationError(f"{role} {name}: {str(error).splitlines()[0]}") from None
    kind = getattr(model.config, "model_type", "?")
    if kind not in ENCODERS or getattr(model.config, "is_decoder", False):
        raise DistillationError(
            f"{role} {name} is a {kind} model, not a BERT-family encoder ({', '.join(ENCODERS)})"
        )
    return model, tokenizer


def _make(work: Path) -> None:
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DistillationError(f"{work}: cannot create the work folder ({error})") from None


def _ids(tokenizer: Any, texts: list[str]) -> list[np.ndarray]:
    """Each text's student input: [CLS] wordpieces [SEP]."""
    encoded = tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    return [np.asarray(ids, np.int64) for ids in encoded]


def _from_teacher(
    teacher_weights: Any,
    teacher_tokenizer: Any,
    student: Any,
    student_tokenizer: Any,
    corpus: Corpus,
) -> tuple[Any, torch.Tensor]:
    """A fresh model of the student's architecture holding the teacher's weights reduced, and
    the teacher dimensions it keeps (the student's targets are those of the teacher's vectors)."""
    from transformers import AutoModel

    if teacher_tokenizer.get_vocab() != student_tokenizer.get_vocab():
        raise DistillationError(
            "the student's vocabulary is not the teacher's: it cannot start from the teacher's "
            "weights (use init student)"
        )
    fresh = AutoModel.from_config(student.config, add_pooling_layer=False)
    sample = _ids(teacher_tokenizer, corpus.train[: initialisation.BASIS_TEXTS])
    pad_id = teacher_tokenizer.pad_token_id or 0
    batches = [training.pad(sample[i : i + 32], pad_id) for i in range(0, len(sample), 32)]
    basis = initialisation.hidden_basis(teacher_weights, batches, student.config.hidden_size)
    initialisation.shrink(teacher_weights, fresh, basis)
    return fresh, basis


def _manifest(
    teacher_facts: dict[str, str],
    start: dict[str, str],
    projection: Any,
    corpus: Corpus,
    plan: training.TrainingPlan,
    text_tokens: int,
    outcome: training.Outcome,
    device: str,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "teacher": teacher_facts,
        "student_start": start,
        "projection": None
        if projection is None
        else {**projection.describe(), "file": output.PROJECTION},
        "corpus": corpus.describe(),
        "training": {
            "steps": outcome.steps,
            "seconds": round(outcome.seconds, 1),
            "final_loss": round(outcome.final_loss, 6),
            "batch": plan.batch,
            "learning_rate": plan.learning_rate,
            "warmup": plan.warmup,
            "seed": plan.seed,
            "frozen_embeddings": plan.freeze_embeddings,
            "text_tokens": text_tokens,
            "device": device,
        },
        "agreement": {
            "before": round(outcome.agreement_before, 4),
            "after": round(outcome.agreement_after, 4),
            "history": outcome.history,
        },
    }
