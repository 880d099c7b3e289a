"""Where each position looks: the attention weights of one window, per layer and head.

The store's model runs with fused (SDPA) attention, which never forms the weights. Asking for
them switches the model to eager attention for that one pass and back (the caller holds the
Workbench's lock), so indexing and search keep the fast path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from indexer.embedding.views import window_positions

if TYPE_CHECKING:
    import torch

    from indexer.embedding.embedder import Embedder

EAGER = "eager"


@dataclass
class AttentionView:
    """Attention of one window: `weights[layer, head, i, j]` is how much position i attends
    to position j (each row sums to 1)."""

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    weights: np.ndarray  # (layers, heads, n, n) float32

    def of(self, layer: int, head: int | None = None) -> np.ndarray:
        """(n, n) weights of one layer (0-based) and head; `head` None: the mean of its heads."""
        chosen = self.weights[layer]
        return chosen.mean(axis=0) if head is None else chosen[head]


def attention_weights(embedder: Embedder, ids: torch.Tensor) -> torch.Tensor:
    """(layers, heads, n, n) float32 attention of one window's ids (1, n), by an eager pass."""
    import torch

    model, device = embedder.loaded.model, embedder.loaded.device
    previous = model.config._attn_implementation
    model.set_attn_implementation(EAGER)
    try:
        with torch.inference_mode():
            output = model(
                input_ids=ids.to(device),
                attention_mask=torch.ones_like(ids, device=device),
                token_type_ids=torch.zeros_like(ids, device=device),
                output_attentions=True,
            )
    finally:
        model.set_attn_implementation(previous)
    return torch.stack(output.attentions)[:, 0].float()


def attention_view(embedder: Embedder, text: str) -> AttentionView:
    """The attention weights of a text at most one window long, [CLS] and [SEP] included."""
    import torch

    encoding, ids = embedder.one_window(text)
    tokens, offsets, _ = window_positions(text, encoding)
    weights = attention_weights(embedder, torch.from_numpy(ids)).cpu().numpy()
    return AttentionView(text, tokens, offsets, weights)
