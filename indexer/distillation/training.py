"""The training loop: the student's mean-pooled, normalised vectors pulled towards the teacher's
(cosine to each target, and the batch's similarities to the teacher's), AdamW with warm-up, a step
or time budget, held-out agreement printed as it goes, and atomic checkpoints to resume from."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from indexer.distillation.corpus import DistillationError
from indexer.settings import DISTILL_BATCH, DISTILL_LEARNING_RATE, DISTILL_SEED, DISTILL_WARMUP

CHECKPOINT = "checkpoint.pt"
EVAL_BATCH = 64


@dataclass(frozen=True)
class TrainingPlan:
    """How long and how a student trains. `steps` or `seconds` (or both: whichever ends first);
    the learning rate warms up over `warmup` steps, then decays linearly to zero over the step
    budget (a time budget alone: over the time, so only a step budget is deterministic)."""

    steps: int | None = None
    seconds: float | None = None
    batch: int = DISTILL_BATCH
    learning_rate: float = DISTILL_LEARNING_RATE
    warmup: int = DISTILL_WARMUP
    seed: int = DISTILL_SEED
    similarity_weight: float = 1.0  # weight of the batch-similarity loss beside the cosine loss
    freeze_embeddings: bool = True  # the word embedding table: most of the weights, little gain
    checkpoint_seconds: float = 120.0
    report_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.steps is None and self.seconds is None:
            raise DistillationError("give a budget: a number of steps or of minutes")
        if self.batch < 1 or self.learning_rate <= 0 or self.warmup < 0:
            raise DistillationError(
                "batch and learning rate must be positive, warm-up not negative"
            )


@dataclass
class Outcome:
    """What a finished training run did."""

    steps: int
    seconds: float
    final_loss: float
    agreement_before: float
    agreement_after: float
    history: list[dict[str, float]]


class Batches:
    """Student inputs of the training texts, in a seeded order per epoch (so a resumed run
    continues with the batches it would have had)."""

    def __init__(self, ids: list[np.ndarray], pad_id: int, batch: int, seed: int) -> None:
        self.ids, self.pad_id, self.batch, self.seed = ids, pad_id, min(batch, len(ids)), seed
        self.per_epoch = max(1, len(ids) // self.batch)
        self._epoch, self._order = -1, np.arange(0)

    def rows(self, step: int) -> np.ndarray:
        """The text indices of batch `step` (0-based)."""
        epoch, position = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = np.random.default_rng([self.seed, epoch]).permutation(len(self.ids))
        return self._order[position * self.batch : (position + 1) * self.batch]

    def padded(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return pad([self.ids[i] for i in rows], self.pad_id)


def pad(pieces: list[np.ndarray], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ids and attention mask of some inputs, padded to the longest."""
    width = max(len(p) for p in pieces)
    ids = np.full((len(pieces), width), pad_id, np.int64)
    mask = np.zeros((len(pieces), width), np.int64)
    for row, piece in enumerate(pieces):
        ids[row, : len(piece)] = piece
        mask[row, : len(piece)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def pooled(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The normalised mean of the last hidden layer over every position of each input (the
    store's `mean` pooling, [CLS] and [SEP] included)."""
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return F.normalize((hidden * weights).sum(1) / weights.sum(1), dim=-1)


def agreement(
    model: torch.nn.Module,
    ids: list[np.ndarray],
    targets: torch.Tensor,
    pad_id: int,
    device: torch.device,
) -> float:
    """Mean cosine between the student's vectors and the targets of `ids`."""
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(ids), EVAL_BATCH):
            batch_ids, mask = pad(ids[start : start + EVAL_BATCH], pad_id)
            vectors = pooled(model, batch_ids.to(device), mask.to(device))
            total += (vectors * targets[start : start + len(vectors)].to(device)).sum().item()
    model.train(was_training)
    return total / max(len(ids), 1)


def train(
    model: torch.nn.Module,
    batches: Batches,
    targets: np.ndarray,
    held_ids: list[np.ndarray],
    held_targets: np.ndarray,
    plan: TrainingPlan,
    work: Path,
    run_key: dict[str, Any],
    device: torch.device,
    progress: bool = False,
) -> Outcome:
    """Train `model` in place on `batches` towards `targets` (rows by text index) within the
    plan's budget, resuming from `work`'s checkpoint when it was made by the same run
    (`run_key`), and checkpointing there as it goes."""
    torch.manual_seed(plan.seed)
    model.to(device)
    model.train()
    if plan.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    trained = [weight for weight in model.parameters() if weight.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=plan.learning_rate, weight_decay=0.01)
    all_targets = torch.from_numpy(np.ascontiguousarray(targets))
    held = torch.from_numpy(np.ascontiguousarray(held_targets))
    state = _resume(work, run_key, model, optimizer)
    step, spent = state["step"], state["seconds"]
    history: list[dict[str, float]] = state["history"]
    before = state["agreement_before"]
    if before is None:
        before = agreement(model, held_ids, held, batches.pad_id, device)
        history.append({"step": 0, "seconds": 0.0, "agreement": round(before, 4)})
    _say(f"held-out agreement {before:.4f} at step {step} ({len(held_ids)} texts)", progress)
    loss_value = state["loss"]
    started = time.monotonic() - spent
    last_checkpoint = last_report = time.monotonic()
    bar = tqdm(
        total=plan.steps if plan.steps is not None else round(plan.seconds or 0),
        initial=step if plan.steps is not None else round(spent),
        desc="distilling",
        unit=" step" if plan.steps is not None else " s",
        disable=not progress,
        file=sys.stderr,
    )
    try:
        with bar:
            while not _spent(plan, step, time.monotonic() - started):
                for group in optimizer.param_groups:
                    group["lr"] = _rate(plan, step, time.monotonic() - started)
                rows = batches.rows(step)
                ids, mask = batches.padded(rows)
                student = pooled(model, ids.to(device), mask.to(device))
                teacher = all_targets[torch.from_numpy(rows)].to(device)
                loss = (1 - (student * teacher).sum(-1)).mean()
                if plan.similarity_weight:
                    loss = loss + plan.similarity_weight * F.mse_loss(
                        student @ student.T, teacher @ teacher.T
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trained, 1.0)
                optimizer.step()
                step += 1
                loss_value = float(loss.item())
                now = time.monotonic()
                bar.set_postfix(loss=f"{loss_value:.4f}", step=step, refresh=False)
                bar.update(1 if plan.steps is not None else round(now - started) - bar.n)
                if now - last_report >= plan.report_seconds:
                    value = agreement(model, held_ids, held, batches.pad_id, device)
                    history.append(
                        {
                            "step": step,
                            "seconds": round(now - started, 1),
                            "agreement": round(value, 4),
                        }
                    )
                    bar.write(f"step {step}: loss {loss_value:.4f}, held-out agreement {value:.4f}")
                    last_report = now
                if now - last_checkpoint >= plan.checkpoint_seconds:
                    _checkpoint(
                        work,
                        run_key,
                        model,
                        optimizer,
                        step,
                        now - started,
                        loss_value,
                        before,
                        history,
                    )
                    last_checkpoint = time.monotonic()
    except KeyboardInterrupt:  # keep what was learnt: a rerun resumes from here
        elapsed = time.monotonic() - started
        _checkpoint(work, run_key, model, optimizer, step, elapsed, loss_value, before, history)
        raise
    seconds = time.monotonic() - started
    after = agreement(model, held_ids, held, batches.pad_id, device)
    history.append({"step": step, "seconds": round(seconds, 1), "agreement": round(after, 4)})
    _say(f"held-out agreement {after:.4f} after {step} steps (before: {before:.4f})", progress)
    _checkpoint(work, run_key, model, optimizer, step, seconds, loss_value, before, history)
    return Outcome(step, seconds, loss_value, before, after, history)


def _say(line: str, progress: bool) -> None:
    if progress:
        tqdm.write(line, file=sys.stderr)


def _spent(plan: TrainingPlan, step: int, seconds: float) -> bool:
    return (plan.steps is not None and step >= plan.steps) or (
        plan.seconds is not None and seconds >= plan.seconds
    )


def _rate(plan: TrainingPlan, step: int, seconds: float) -> float:
    """Linear warm-up, then linear decay to zero over the budget (steps, else time)."""
    warm = min(1.0, (step + 1) / max(plan.warmup, 1))
    left = 1 - (step / plan.steps if plan.steps is not None else seconds / plan.seconds)
    return plan.learning_rate * warm * max(left, 0.02)


def _resume(
    work: Path, run_key: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """The state saved in `work`'s checkpoint (weights and optimizer restored), or a fresh start.
    DistillationError when the checkpoint is another run's or cannot be read."""
    fresh = {
        "step": 0,
        "seconds": 0.0,
        "loss": float("nan"),
        "agreement_before": None,
        "history": [],
    }
    path = work / CHECKPOINT
    if not path.exists():
        return fresh
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as error:
        raise DistillationError(
            f"{path}: the checkpoint cannot be read ({error}); delete {work} to start over"
        ) from None
    if saved.get("key") != _plain(run_key):
        raise DistillationError(
            f"{path} was made by another run (other teacher, student, texts or settings); "
            f"delete {work} to start over, or give the same options to resume it"
        )
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["rng"])
    return {key: saved[key] for key in fresh}


def _checkpoint(
    work: Path,
    run_key: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    seconds: float,
    loss: float,
    before: float,
    history: list[dict[str, float]],
) -> None:
    """The run's state, written under a temporary name and renamed over the last checkpoint:
    a failed write (a full disk) leaves the last complete one and says so."""
    path, partial = work / CHECKPOINT, work / (CHECKPOINT + ".partial")
    state = {
        "key": _plain(run_key),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "step": step,
        "seconds": seconds,
        "loss": loss,
        "agreement_before": before,
        "history": history,
    }
    try:
        torch.save(state, partial)
        os.replace(partial, path)
    except (OSError, RuntimeError) as error:
        partial.unlink(missing_ok=True)
        kept = "the last complete checkpoint is kept" if path.exists() else "no checkpoint yet"
        raise DistillationError(
            f"{path}: cannot write the checkpoint at step {step} ({error}); {kept}: free some "
            "space and run the same command again to resume"
        ) from None


def _plain(run_key: dict[str, Any]) -> dict[str, Any]:
    """The run key as plain values (what `torch.load(weights_only=True)` reads back)."""
    return {
        key: (asdict(value) if hasattr(value, "__dataclass_fields__") else value)
        for key, value in run_key.items()
    }
