"""Every layer of the model, not only the last: the embeddings layer (0) and each transformer
layer's hidden states, for one text (`LayerView`) or for many windows in batches. The store's
pooling always uses the last layer; these are for looking inside.

The forward passes that return every layer are here and only here (`forward_layers`), so that
another runtime can answer them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from indexer.embedding.runtime import on_host
from indexer.embedding.views import TokenView, window_positions

if TYPE_CHECKING:
    import torch

    from indexer.embedding.embedder import Embedder


@dataclass
class LayerView:
    """One window's vectors at every layer: `vectors[0]` the embeddings layer, `vectors[-1]`
    the last hidden layer (what the store pools)."""

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]
    vectors: np.ndarray  # (layers + 1, n_positions, dim) float32

    @property
    def layers(self) -> int:
        """Transformer layers (the embeddings layer not counted)."""
        return self.vectors.shape[0] - 1

    def at(self, layer: int) -> TokenView:
        """The token view of one layer (0: embeddings; negative counts from the last)."""
        return TokenView(self.text, self.tokens, self.offsets, self.word_ids, self.vectors[layer])

    def trajectory(self, position: int) -> dict[str, np.ndarray]:
        """How one position's vector travels through the layers: at each layer its cosine to its
        own last-layer vector (`to_final`, layers + 1), to every position at that layer
        (`to_each`, layers + 1 by positions; itself 1) and their mean over the other positions
        (`to_others`)."""
        unit = self.vectors / np.maximum(
            np.linalg.norm(self.vectors, axis=-1, keepdims=True), 1e-12
        )
        own = unit[:, position]
        to_each = np.einsum("ld,lnd->ln", own, unit)
        others = np.delete(to_each, position, axis=1)
        to_others = others.mean(axis=1) if others.shape[1] else np.zeros(len(own))
        return {"to_final": own @ own[-1], "to_each": to_each, "to_others": to_others}


def layer_count(embedder: Embedder) -> int:
    """The model's transformer layers (the embeddings layer not counted)."""
    return embedder.loaded.layers


def forward_layers(embedder: Embedder, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(layers + 1, batch, seq, dim) float32: the embeddings layer and every hidden layer."""
    import torch

    model, device = embedder.loaded.model, embedder.loaded.device
    with torch.inference_mode():
        output = model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            token_type_ids=torch.zeros_like(ids, device=device),
            output_hidden_states=True,
        )
    return torch.stack(output.hidden_states).float()


def layer_view(embedder: Embedder, text: str) -> LayerView:
    """Every layer's vectors of a text at most one window long, [CLS] and [SEP] included."""
    import torch

    encoding, ids = embedder.one_window(text)
    ids_tensor = torch.from_numpy(ids)
    states = forward_layers(embedder, ids_tensor, torch.ones_like(ids_tensor))[:, 0].cpu().numpy()
    return LayerView(text, *window_positions(text, encoding), vectors=states)


def window_layers(
    embedder: Embedder, windows: Sequence[np.ndarray]
) -> Iterator[tuple[int, np.ndarray]]:
    """Each window's ids (with [CLS] and [SEP]) through the model, longest first in batches
    within the embedder's token budget: (index into `windows`, (layers + 1, n, dim) array)."""
    import torch

    for batch, ids, mask in _batches(embedder, windows):
        states = forward_layers(embedder, torch.from_numpy(ids), torch.from_numpy(mask))
        states = states.cpu().numpy()
        for row, index in enumerate(batch):
            yield index, states[:, row, : len(windows[index])]


def last_layer_windows(
    embedder: Embedder, windows: Sequence[np.ndarray]
) -> Iterator[tuple[int, np.ndarray]]:
    """As `window_layers`, but only the last layer, (n, dim), from the embedder's runtime (ONNX
    Runtime on a CPU): the vectors the store pooled, without the torch weights' every-layer pass."""
    for batch, ids, mask in _batches(embedder, windows):
        states = on_host(embedder.loaded.runtime.hidden(ids, mask))
        for row, index in enumerate(batch):
            yield index, states[row, : len(windows[index])]


def _batches(
    embedder: Embedder, windows: Sequence[np.ndarray]
) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """Longest first, as many windows as the token budget takes: (their indices, padded int64
    ids, mask)."""
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
    start = 0
    while start < len(order):
        width = len(windows[order[start]])
        count = max(1, embedder.batch_tokens // max(width, 1))
        batch = order[start : start + count]
        ids = np.zeros((len(batch), width), np.int64)
        mask = np.zeros((len(batch), width), np.int64)
        for row, index in enumerate(batch):
            ids[row, : len(windows[index])] = windows[index]
            mask[row, : len(windows[index])] = 1
        yield batch, ids, mask
        start += len(batch)
