"""The model's side of the front door: embed texts, look at their tokens, compare two texts,
explain a score, with no store needed.

    from indexer import Settings, Workbench

    bench = Workbench(Settings(precision="bf16"))
    vectors = bench.embed(["shock waves", "boundary layers"])

A `Collection` is a Workbench with a store: its model is the store's. The model is loaded on
first use and once; calls are serialised, so one Workbench may be shared between threads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.settings import CHUNK_TOKENS, OVERLAP, POOLING, PRECISION, Settings, check_layer
from store.results import Hit

if TYPE_CHECKING:
    from indexer.embedding.attention import AttentionView
    from indexer.embedding.chunking import Window
    from indexer.embedding.comparison import Comparison
    from indexer.embedding.embedder import Embedder
    from indexer.embedding.layers import LayerView
    from indexer.embedding.views import Explanation, TokenView
    from store.recipe import Recipe


class Workbench:
    """A model loaded with the settings, for embedding and looking inside."""

    def __init__(
        self, settings: Settings | None = None, *, quiet: bool = False, threads: int | None = None
    ) -> None:
        """`quiet`: no warning on stderr when the default model or the runtime falls back.
        `threads`: the runtime's CPU threads (default: every core)."""
        self.settings = settings or Settings()
        self.quiet = quiet
        self.threads = threads
        self._embedder: Embedder | None = None
        self._lock = threading.RLock()

    def close(self) -> None:
        """Let go of what is open (a Workbench holds nothing but the model)."""

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder:
        """The model with its recipe, loaded once."""
        with self._lock:
            if self._embedder is None:
                self._embedder = self._load_embedder()
            return self._embedder

    def load_model(self) -> Embedder:
        """Load the model now (otherwise it is loaded on first use)."""
        return self.embedder

    @property
    def recipe(self) -> Recipe:
        """Everything that determines this model's vectors (its name, weights, pooling,
        chunking and, for a distilled model, its teacher)."""
        return self.embedder.recipe

    def beside(self, folder: str | Path) -> Workbench:
        """Another model, from a folder a user names (say, one `semsearch distill` wrote), with
        this one's pooling, chunking, device, runtime and precision, to see what each makes of
        the same texts. The folder is checked before it is loaded (a one-line ModelLoadError
        when it is missing, not a BERT-family encoder, without safetensors weights, or with a
        manifest that cannot be read) and never runs remote code."""
        from safetensors import SafetensorError

        from indexer.embedding.model import ModelLoadError
        from indexer.embedding.model_folder import check_model_folder

        checked = check_model_folder(folder)
        settings = replace(
            self.settings, model=str(checked.path), precision=self._precision(), **self._shape()
        )
        other = Workbench(settings, quiet=True, threads=self.threads)
        try:
            other.load_model()
        except (OSError, ValueError, RuntimeError, SafetensorError) as error:  # broken weights
            reason = (str(error).strip() or type(error).__name__).splitlines()[0]
            raise ModelLoadError(f"{checked.path}: cannot load the model ({reason})") from None
        return other

    def _model_options(self) -> dict[str, str | int | bool | None]:
        """Where and how the model runs, from the settings."""
        chosen = self.settings
        return {
            "device": chosen.device,
            "runtime": chosen.runtime,
            "precision": self._precision(),
            "batch_tokens": chosen.batch_tokens,
            "quiet": self.quiet,
            "threads": self.threads,
        }

    def _precision(self) -> str:
        """The settings' precision, else the default."""
        return self.settings.precision or PRECISION

    def _shape(self) -> dict[str, str | int]:
        """Pooling and chunking: the settings', else the defaults."""
        chosen = self.settings
        return {
            "pooling": chosen.pooling or POOLING,
            "chunk_tokens": chosen.chunk_tokens or CHUNK_TOKENS,
            "overlap": OVERLAP if chosen.overlap is None else chosen.overlap,
        }

    def _load_embedder(self) -> Embedder:
        """The settings' model with `_shape`'s pooling and chunking."""
        from indexer.embedding.embedder import Embedder

        return Embedder.load(self.settings.model, **self._shape(), **self._model_options())

    def _query_embedder(self) -> Embedder:
        """The model that embeds queries (a Collection checks it against its store)."""
        return self.embedder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Pooled, normalized vectors of `texts`, one row each."""
        with self._lock:
            return self._query_embedder().embed(list(texts))

    def windows(self, text: str) -> list[Window]:
        """The windows `text` is cut into, as the store cuts a document (at least one)."""
        with self._lock:
            return self.embedder.text_windows(text)

    def tokens(self, text: str, layer: int | None = None) -> TokenView:
        """Every position's vector of a text at most one window long, with offsets, at `layer`
        (0: the embeddings layer; None: the last hidden layer, the one the store pools)."""
        if layer is not None:
            return self.layers(text).at(self._checked_layer(layer))
        with self._lock:
            return self.embedder.token_embeddings(text)

    def layers(self, text: str) -> LayerView:
        """Every layer's vectors of a text at most one window long (embeddings layer first)."""
        from indexer.embedding.layers import layer_view

        with self._lock:
            return layer_view(self.embedder, text)

    def attention(self, text: str) -> AttentionView:
        """The attention weights of a text at most one window long, per layer and head (one
        eager-attention pass, made only when asked)."""
        from indexer.embedding.attention import attention_view

        with self._lock:
            return attention_view(self.embedder, text)

    def load_torch_weights(self) -> None:
        """Load the torch weights that the layer and attention views run on now (a start from
        the cache runs without them, on ONNX Runtime)."""
        self.embedder.loaded.model  # noqa: B018 (loads them)

    @property
    def layer_count(self) -> int:
        """The model's transformer layers: `layer` runs from 0 (embeddings) to this."""
        from indexer.embedding.layers import layer_count

        return layer_count(self.embedder)

    def _checked_layer(self, layer: int) -> int:
        """`layer` when it is one of the model's (0 to `layer_count`)."""
        check_layer(layer, self.layer_count)
        return layer

    def compare(self, a: str, b: str, windows: tuple[int, int] = (0, 0)) -> Comparison:
        """Pooled cosines of two texts, and token-by-token cosines of one window of each (see
        `windows`; a short text's only one by default)."""
        from indexer.embedding.comparison import compare

        with self._lock:
            return compare(self.embedder, a, b, windows)

    def explain(self, query: str, hit: Hit | str) -> Explanation:
        """Each token's exact share of the cosine between `query` and a hit's chunk (or a text)."""
        text = hit.text if isinstance(hit, Hit) else hit
        with self._lock:
            return self._query_embedder().explain(query, text)
