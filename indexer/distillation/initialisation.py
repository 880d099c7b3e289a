"""A student that starts from the teacher's own weights, reduced in width: the residual stream
keeps the teacher's hidden dimensions with the most energy, the most important attention heads
and feed-forward units are kept, and evenly spaced layers are taken when the student has fewer.
An approximation (layer norms and merged heads do not reduce exactly) that training then
corrects; far closer to the teacher than random."""

from __future__ import annotations

import math

import numpy as np
import torch

from indexer.distillation.corpus import DistillationError

BASIS_TEXTS = 128  # texts whose hidden states (every layer, every token) choose the dimensions


def hidden_basis(
    teacher: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], width: int
) -> torch.Tensor:
    """(width, teacher width): a selection of the teacher's hidden dimensions, those with the
    most energy (mean square over every layer and real token of `batches`: ids, mask). Kept
    coordinates, not rotated axes: a layer norm's scale and shift then carry over exactly
    (measured on MiniLM and Cranfield: agreement 0.51 to the teacher's vectors cut the same way,
    against 0.35 through a rotation to principal axes and 0.32 through the first 256 dims)."""
    size = teacher.config.hidden_size
    energy = torch.zeros(size, dtype=torch.float64)
    teacher.eval()
    device = next(teacher.parameters()).device
    with torch.inference_mode():
        for ids, mask in batches:
            states = teacher(
                input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True
            )
            keep = mask.bool().to(device)
            for layer in states.hidden_states:
                energy += layer[keep].to("cpu", torch.float64).square().sum(0)
    kept = energy.argsort(descending=True)[:width].sort().values
    basis = torch.zeros(width, size)
    basis[torch.arange(width), kept] = 1.0
    return basis


def shrink(teacher: torch.nn.Module, student: torch.nn.Module, basis: torch.Tensor) -> None:
    """Load `student` (a BERT of the same vocabulary, narrower or as wide, no more layers) with
    the teacher's weights reduced to its shape through `basis` (student width, teacher width)."""
    source, target = teacher.config, student.config
    if target.vocab_size != source.vocab_size:
        raise DistillationError(
            f"the student's vocabulary ({target.vocab_size}) is not the teacher's "
            f"({source.vocab_size}): it cannot start from the teacher's weights"
        )
    if (
        target.num_hidden_layers > source.num_hidden_layers
        or target.hidden_size > source.hidden_size
    ):
        raise DistillationError(
            "a student wider or deeper than its teacher cannot start from the teacher's weights"
        )
    t = {k: v.detach().to("cpu", torch.float32) for k, v in teacher.state_dict().items()}
    p = basis
    norm_scale = math.sqrt(source.hidden_size / target.hidden_size)
    new: dict[str, torch.Tensor] = {}

    def norm(to: str, frm: str) -> None:
        new[f"{to}.weight"] = (p**2) @ t[f"{frm}.weight"] * norm_scale
        new[f"{to}.bias"] = p @ t[f"{frm}.bias"]

    positions = target.max_position_embeddings
    new["embeddings.word_embeddings.weight"] = t["embeddings.word_embeddings.weight"] @ p.T
    new["embeddings.position_embeddings.weight"] = (
        t["embeddings.position_embeddings.weight"][:positions] @ p.T
    )
    new["embeddings.token_type_embeddings.weight"] = (
        t["embeddings.token_type_embeddings.weight"][: target.type_vocab_size] @ p.T
    )
    norm("embeddings.LayerNorm", "embeddings.LayerNorm")
    layers = np.linspace(0, source.num_hidden_layers - 1, target.num_hidden_layers).round()
    for mine, theirs in enumerate(int(x) for x in layers):
        a, b = f"encoder.layer.{mine}.", f"encoder.layer.{theirs}."
        heads = _head_rows(t, b, source, target.hidden_size)
        scale = math.sqrt(
            (target.hidden_size / target.num_attention_heads)
            / (source.hidden_size / source.num_attention_heads)
        )
        for name, factor in (("query", scale), ("key", 1.0), ("value", 1.0)):
            weight = t[f"{b}attention.self.{name}.weight"][heads]
            new[f"{a}attention.self.{name}.weight"] = factor * weight @ p.T
            new[f"{a}attention.self.{name}.bias"] = (
                factor * t[f"{b}attention.self.{name}.bias"][heads]
            )
        new[f"{a}attention.output.dense.weight"] = (
            p @ t[f"{b}attention.output.dense.weight"][:, heads]
        )
        new[f"{a}attention.output.dense.bias"] = p @ t[f"{b}attention.output.dense.bias"]
        norm(f"{a}attention.output.LayerNorm", f"{b}attention.output.LayerNorm")
        units = _top_units(t, b, target.intermediate_size)
        new[f"{a}intermediate.dense.weight"] = t[f"{b}intermediate.dense.weight"][units] @ p.T
        new[f"{a}intermediate.dense.bias"] = t[f"{b}intermediate.dense.bias"][units]
        new[f"{a}output.dense.weight"] = p @ t[f"{b}output.dense.weight"][:, units]
        new[f"{a}output.dense.bias"] = p @ t[f"{b}output.dense.bias"]
        norm(f"{a}output.LayerNorm", f"{b}output.LayerNorm")
    missing, _ = student.load_state_dict(new, strict=False)
    left = [name for name in missing if not name.startswith("pooler.")]
    if left:
        raise DistillationError(f"the student is not a BERT this can start: no {left[0]}")


def _head_rows(t: dict[str, torch.Tensor], prefix: str, source, width: int) -> torch.Tensor:
    """Rows of the query/key/value projections to keep: the teacher's heads in order of
    importance (value rows' norm times output columns' norm), as many as fill `width`."""
    size = source.hidden_size // source.num_attention_heads
    value = t[f"{prefix}attention.self.value.weight"].reshape(source.num_attention_heads, -1)
    output = t[f"{prefix}attention.output.dense.weight"].T.reshape(source.num_attention_heads, -1)
    importance = value.norm(dim=1) * output.norm(dim=1)
    needed = math.ceil(width / size)
    chosen = sorted(importance.argsort(descending=True)[:needed].tolist())
    rows = torch.cat([torch.arange(h * size, (h + 1) * size) for h in chosen])
    return rows[:width]


def _top_units(t: dict[str, torch.Tensor], prefix: str, count: int) -> torch.Tensor:
    """The `count` feed-forward units with the largest in-weight norm times out-weight norm."""
    importance = t[f"{prefix}intermediate.dense.weight"].norm(dim=1) * t[
        f"{prefix}output.dense.weight"
    ].norm(dim=0)
    return importance.argsort(descending=True)[:count].sort().values
