"""Text to vectors with a BERT encoder: chunked, batched by a token budget, pooled, normalized."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tokenizers import Encoding

from indexer.embedding import tokenization
from indexer.embedding.chunking import Window
from indexer.embedding.model import LoadedModel, ModelLoadError, load_model
from indexer.embedding.pooling import (
    position_weights,
    unit_rows,
    weighted_mean,
    weighted_mean_host,
)
from indexer.embedding.preparation import Prepared, Preparer
from indexer.embedding.runtime import on_host
from indexer.embedding.tokenization import Tokens
from indexer.embedding.views import Explanation, TokenView, window_positions
from indexer.settings import (
    BATCH_TOKENS,
    CHUNK_TOKENS,
    DEVICE,
    OVERLAP,
    POOLING,
    POOLINGS,
    PRECISION,
    RUNTIME,
    check_batch_tokens,
    check_choice,
    check_window,
)
from store.errors import SemsearchError
from store.recipe import Recipe

if TYPE_CHECKING:
    import torch


@dataclass
class EmbeddedChunk:
    """One window of a text and its L2-normalized vector."""

    window: Window
    vector: np.ndarray


class ModelMismatchError(SemsearchError):
    """The model found is not the one whose vectors a store holds."""


class TextTooLongError(SemsearchError):
    """A text longer than one window where one window is needed (the per-token view)."""


class Embedder:
    """A loaded model plus the recipe that turns text into vectors."""

    def __init__(
        self,
        loaded: LoadedModel,
        pooling: str = POOLING,
        chunk_tokens: int = CHUNK_TOKENS,
        overlap: int = OVERLAP,
        batch_tokens: int | None = None,
    ) -> None:
        check_choice("pooling", pooling, POOLINGS)
        check_window(chunk_tokens, overlap, loaded.max_positions)
        batch_tokens = batch_tokens or BATCH_TOKENS[loaded.device_type]
        check_batch_tokens(batch_tokens, chunk_tokens)
        self.loaded = loaded
        self.pooling = pooling
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap
        self.batch_tokens = batch_tokens
        self.preparer = Preparer(
            loaded.backend_tokenizer,
            chunk_tokens,
            overlap,
            pooling,
            (loaded.facts.cls_id, loaded.facts.sep_id, loaded.facts.unk_id),
        )
        self._tokenizer = self.preparer.tokenizer
        # bf16 matrix units want aligned shapes (measured: 18% faster padded to 8 on AMX), and
        # oneDNN compiles and keeps a kernel for every bf16 input shape: padding the rows too
        # bounds their number (a 117k-document run held 410 MB of kernels for unpadded rows).
        # fp32 is faster unpadded. Padding is masked, so vectors do not change.
        self._pad_multiple = 8 if loaded.precision == "bf16" else 1
        facts = loaded.facts
        self._cls_id, self._sep_id, self._pad_id = facts.cls_id, facts.sep_id, facts.pad_id

    @classmethod
    def load(
        cls,
        model: str | None = None,
        *,
        device: str = DEVICE,
        precision: str = PRECISION,
        pooling: str = POOLING,
        chunk_tokens: int = CHUNK_TOKENS,
        overlap: int = OVERLAP,
        batch_tokens: int | None = None,
        quiet: bool = False,
        threads: int | None = None,
        runtime: str = RUNTIME,
    ) -> Embedder:
        """Load a model by hub id or folder (None: the default, with the shipped fallback)."""
        loaded = load_model(model, device, precision, quiet=quiet, threads=threads, runtime=runtime)
        return cls(loaded, pooling, chunk_tokens, overlap, batch_tokens)

    @classmethod
    def from_recipe(
        cls,
        recipe: Recipe,
        model: str | None = None,
        precision: str | None = None,
        **options: Any,
    ) -> Embedder:
        """An embedder that reproduces a store's recipe, loading the weights from `model` (where
        they are now) or the recipe's hint, at `precision` (None: the recipe's); ModelMismatchError
        for other weights. The runtime is the options' (fp32 runtimes make the same vectors)."""
        location = model or recipe.model
        try:
            embedder = cls.load(
                location,
                pooling=recipe.pooling,
                chunk_tokens=recipe.chunk_tokens,
                overlap=recipe.overlap,
                precision=precision or recipe.precision,
                **options,
            )
        except ModelLoadError as error:
            raise ModelLoadError(
                f"{error}. The store's vectors were made by the model with fingerprint "
                f"{recipe.model_fingerprint}; if it moved, give its new location with --model"
            ) from None
        if embedder.loaded.fingerprint != recipe.model_fingerprint:
            raise ModelMismatchError(
                f"model {location} has weights {embedder.loaded.fingerprint}, but the store was "
                f"built with {recipe.model} ({recipe.model_fingerprint})"
            )
        tokenizer = embedder.loaded.tokenizer_fingerprint
        if recipe.tokenizer_fingerprint not in ("", tokenizer):
            raise ModelMismatchError(
                f"model {location} has the store's weights but another tokenizer ({tokenizer}); "
                f"the store was built with the tokenizer {recipe.tokenizer_fingerprint} of "
                f"{recipe.model}"
            )
        return embedder

    def with_pooling(self, pooling: str) -> Embedder:
        """The same model and chunking with another pooling."""
        return Embedder(self.loaded, pooling, self.chunk_tokens, self.overlap, self.batch_tokens)

    @property
    def dim(self) -> int:
        return self.loaded.dim

    @property
    def recipe(self) -> Recipe:
        """Everything that determines a vector, for a store's manifest."""
        return Recipe(
            model=self.loaded.model_id,
            model_fingerprint=self.loaded.fingerprint,
            dim=self.dim,
            pooling=self.pooling,
            chunk_tokens=self.chunk_tokens,
            overlap=self.overlap,
            runtime=self.loaded.runtime.name,
            precision=self.loaded.precision,
            tokenizer_fingerprint=self.loaded.tokenizer_fingerprint,
            distilled=self.loaded.distilled,
        )

    # -- tokens and windows ---------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str], parallel: bool = True) -> list[Tokens]:
        """Wordpieces of each whole text, without special tokens, truncation or padding (with
        their word indices when the pooling needs them). `parallel=False` keeps to the calling
        thread (no tokenizer thread pool)."""
        return self.preparer.tokenize(texts, parallel)

    def windows(self, tokens: Tokens) -> list[Window]:
        """The windows a tokenized text is cut into."""
        return self.preparer.windows(tokens)

    def prepare(self, texts: Sequence[str], parallel: bool = True) -> Prepared:
        """Tokenize and cut every text into windows with their model inputs (no model needed).
        `parallel`: as for `tokenize`."""
        return self.preparer.prepare(texts, parallel)

    # -- vectors --------------------------------------------------------------------------------

    def embed_prepared(self, prepared: Prepared) -> list[list[EmbeddedChunk]]:
        """Run the model over prepared windows: every window of every text with its vector."""
        vectors = iter(self._encode(prepared))
        return [
            [EmbeddedChunk(w, next(vectors)) for w in text_windows]
            for text_windows in prepared.windows
        ]

    def embed_chunks(self, texts: Sequence[str]) -> list[list[EmbeddedChunk]]:
        """Every window of every text with its vector; all windows share length-sorted batches."""
        return self.embed_prepared(self.prepare(texts))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (n, dim) L2-normalized vectors. A text longer than one window gets the
        normalized, token-weighted mean of its windows' vectors."""
        result = np.zeros((len(texts), self.dim), np.float32)
        for row, chunks in enumerate(self.embed_chunks(texts)):
            if len(chunks) == 1:
                result[row] = chunks[0].vector
            else:
                weights = np.array([max(c.window.n_tokens, 1) for c in chunks], np.float32)
                mean = (np.stack([c.vector for c in chunks]) * weights[:, None]).sum(axis=0)
                result[row] = mean / np.linalg.norm(mean)
        return result

    def _batches(self, lengths: list[int]) -> Iterator[list[int]]:
        """Indices sorted longest first, grouped so that padded size stays within the budget."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batch: list[int] = []
        for index in order:
            if batch and lengths[batch[0]] * (len(batch) + 1) > self.batch_tokens:
                yield batch
                batch = []
            batch.append(index)
        if batch:
            yield batch

    def _encode(self, prepared: Prepared) -> np.ndarray:
        """Pooled, normalized vectors of the prepared windows, in their order. The results stay
        on the device until one copy at the end (no synchronisation per batch)."""
        lengths = np.diff(prepared.bounds)
        if not len(lengths):
            return np.zeros((0, self.dim), np.float32)
        order, pooled, host = [], [], []
        for batch in self._batches(lengths.tolist()):
            ids, mask, weights = self._pad(prepared, batch)
            hidden = self._forward(ids, mask)[: len(batch)]
            if isinstance(hidden, np.ndarray) or hidden.device.type == "cpu":
                # pooled in numpy on this thread (pooling.py: why)
                host.append(unit_rows(weighted_mean_host(on_host(hidden), weights[: len(batch)])))
            else:
                pooled.append(_pooled_on_device(hidden, weights[: len(batch)]))
            order += batch
        out = np.empty((len(lengths), self.dim), np.float32)
        out[order] = np.concatenate(host) if host else _gathered(pooled)
        return out

    def _pad(self, prepared: Prepared, batch: list[int]) -> tuple[np.ndarray, ...]:
        """ids, attention mask and pooling weights of some windows, padded to one width (and in
        bf16 to a few row counts: the extra rows attend to one pad token and are dropped)."""
        bounds = prepared.bounds
        width = int(max(bounds[i + 1] - bounds[i] for i in batch))
        rows = self._rows(len(batch), width)
        width += -width % self._pad_multiple
        ids = np.full((rows, width), self._pad_id, dtype=np.int64)
        mask = np.zeros((rows, width), dtype=np.int64)
        mask[len(batch) :, 0] = 1
        weights = None if prepared.weights is None else np.zeros((rows, width), np.float32)
        for row, window in enumerate(batch):
            start, end = bounds[window], bounds[window + 1]
            ids[row, : end - start] = prepared.ids[start:end]
            mask[row, : end - start] = 1
            if weights is not None:
                weights[row, : end - start] = prepared.weights[start:end]
        weights = mask.astype(np.float32) if weights is None else weights
        return ids, mask, weights

    def _rows(self, count: int, width: int) -> int:
        """Rows of a padded batch. In bf16 a partial batch takes the next power of two (a full
        one keeps its size), rounded to a multiple of 8: a few shapes per width, whatever the
        corpus, so oneDNN's kernels stop multiplying (117k WordNet documents in bf16: peak RSS
        905 MB with rows padded to 8, 862 MB like this; 20k documents: 799 MB)."""
        if self._pad_multiple == 1:
            return count
        full = max(self.batch_tokens // width, count)
        rows = min(1 << max(count - 1, 0).bit_length(), full)
        return rows + (-rows % self._pad_multiple)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray | torch.Tensor:
        """Last hidden layer as float32, (batch, seq, dim), from the model's runtime (a host
        array, or a tensor on the model's device)."""
        return self.loaded.runtime.hidden(ids, mask)

    # -- looking inside -------------------------------------------------------------------------

    def text_windows(self, text: str) -> list[Window]:
        """The windows `text` is cut into, as a store cuts a document (no model needed)."""
        return self.windows(self.tokenize([text], parallel=False)[0])

    def one_window(self, text: str) -> tuple[Encoding, np.ndarray]:
        """The wordpieces of a text at most one window long and its model input, (1, n + 2)
        ids with [CLS] and [SEP]; TextTooLongError for a longer text."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        limit = self.loaded.max_positions - 2
        if len(encoding.ids) > limit:
            raise TextTooLongError(
                f"text has {len(encoding.ids)} wordpieces; one window holds at most {limit}: "
                "look at one chunk of it instead"
            )
        return encoding, np.array([[self._cls_id, *encoding.ids, self._sep_id]], np.int64)

    def window_ids(self, span: np.ndarray) -> np.ndarray:
        """A window's model input: its wordpiece ids between [CLS] and [SEP]."""
        return np.concatenate([[self._cls_id], span, [self._sep_id]]).astype(np.int64)

    def token_embeddings(self, text: str, window: int | None = None) -> TokenView:
        """Every position's vector from the last layer, with its wordpiece and character offsets:
        of the whole text, which must fit one window (TextTooLongError), or of its window number
        `window` (`text_windows`), for a text of any length."""
        if window is None:
            encoding, ids = self.one_window(text)
            hidden = on_host(self._forward(ids, np.ones_like(ids)))[0]
            return TokenView(text, *window_positions(text, encoding), vectors=hidden)
        tokens = tokenization.tokenize(self._tokenizer, [text], parallel=False, words=True)[0]
        cut = self.windows(tokens)[window]
        first, last = cut.token_start, cut.token_end
        ids = self.window_ids(tokens.ids[first:last])[None, :]
        hidden = on_host(self._forward(ids, np.ones_like(ids)))[0]
        return TokenView(
            text=text,
            tokens=["[CLS]", *(self._tokenizer.id_to_token(int(i)) for i in ids[0, 1:-1]), "[SEP]"],
            offsets=[
                (cut.start, cut.start),
                *map(tuple, tokens.offsets[first:last].tolist()),
                (cut.end, cut.end),
            ],
            word_ids=[None, *(int(w) for w in tokens.word_ids[first:last]), None],
            vectors=hidden,
        )

    def explain(self, query: str, text: str) -> Explanation:
        """Each position's exact share of the cosine between `query` and `text`.

        With weights w_t, hidden states h_t and W = sum(w), the pooled vector is p = sum(w_t h_t)/W,
        so cos(q, p) = sum_t w_t (q . h_t) / (W |p|) for a unit query q: one forward pass."""
        query_vector = self.embed([query])[0].astype(np.float64)
        view = self.token_embeddings(text)
        weights = np.array(position_weights(self.pooling, view.word_ids), np.float64)
        hidden = view.vectors.astype(np.float64)
        pooled = (weights[:, None] * hidden).sum(axis=0) / weights.sum()
        shares = weights * (hidden @ query_vector) / (weights.sum() * np.linalg.norm(pooled))
        return Explanation(view.tokens, view.offsets, shares, float(shares.sum()))


def _pooled_on_device(hidden: torch.Tensor, weights: np.ndarray) -> torch.Tensor:
    """Unit weighted means of a batch's hidden states, on their device (no copy back)."""
    import torch.nn.functional as F

    from indexer.embedding.torch_runtime import to_device

    return F.normalize(weighted_mean(hidden, to_device(weights, hidden.device)), dim=-1)


def _gathered(pooled: list[torch.Tensor]) -> np.ndarray:
    """Pooled batches from the device, in one copy."""
    import torch

    return torch.cat(pooled).cpu().numpy()
