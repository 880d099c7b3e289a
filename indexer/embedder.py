"""Text to vectors with a BERT encoder: chunked, batched by a token budget, pooled, normalized."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Encoding, Tokenizer

from indexer.chunking import Window, windows
from indexer.model import LoadedModel, ModelLoadError, load_model
from indexer.pooling import position_weights, weighted_mean
from indexer.settings import (
    BATCH_TOKENS,
    CHUNK_TOKENS,
    DEVICE,
    OVERLAP,
    POOLING,
    POOLINGS,
    PRECISION,
    SettingsError,
)
from store.errors import SemsearchError
from store.recipe import Recipe


@dataclass
class EmbeddedChunk:
    """One window of a text and its L2-normalized vector."""

    window: Window
    vector: np.ndarray


@dataclass
class TokenView:
    """The last hidden layer of one window, position by position ([CLS] and [SEP] included)."""

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]
    vectors: np.ndarray  # (n_positions, dim) float32

    def words(self) -> WordView:
        """Wordpieces grouped back into the words they came from, each word's vector their mean."""
        groups: dict[int, list[int]] = {}
        for position, word in enumerate(self.word_ids):
            if word is not None:
                groups.setdefault(word, []).append(position)
        pieces = list(groups.values())
        offsets = [(self.offsets[p[0]][0], self.offsets[p[-1]][1]) for p in pieces]
        vectors = (
            np.stack([self.vectors[p].mean(axis=0) for p in pieces])
            if pieces
            else (np.zeros((0, self.vectors.shape[1]), np.float32))
        )
        return WordView([self.text[a:b] for a, b in offsets], offsets, pieces, vectors)


@dataclass
class WordView:
    """Words of a text with their wordpiece positions and mean vectors."""

    words: list[str]
    offsets: list[tuple[int, int]]
    pieces: list[list[int]]
    vectors: np.ndarray


@dataclass
class Explanation:
    """Each position's exact share of cosine(query, text); the shares sum to `cosine`."""

    tokens: list[str]
    offsets: list[tuple[int, int]]
    shares: np.ndarray  # float64, one per position
    cosine: float


class ModelMismatchError(SemsearchError):
    """The model found is not the one whose vectors a store holds."""


class TextTooLongError(SemsearchError):
    """A text longer than one window where one window is needed (the per-token view)."""


@dataclass
class Prepared:
    """Texts cut into windows and turned into model inputs, ready for the forward pass."""

    windows: list[list[Window]]  # per text
    inputs: list[tuple[list[int], list[float]]]  # per window: ids with [CLS]/[SEP], weights
    unknown_only: list[int]  # indices of texts with a window that is nothing but [UNK]

    @property
    def tokens(self) -> int:
        return sum(w.n_tokens for text in self.windows for w in text)


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
        if pooling not in POOLINGS:
            raise SettingsError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        if chunk_tokens + 2 > loaded.max_positions:
            raise SettingsError(
                f"chunk_tokens {chunk_tokens} + [CLS]/[SEP] exceeds the model's "
                f"{loaded.max_positions} positions (at most {loaded.max_positions - 2})"
            )
        if not 0 <= overlap < chunk_tokens:
            raise SettingsError(
                f"overlap must be at least 0 and smaller than chunk_tokens {chunk_tokens}, "
                f"not {overlap}"
            )
        batch_tokens = batch_tokens or BATCH_TOKENS[loaded.device.type]
        if batch_tokens < chunk_tokens + 2:
            raise SettingsError(
                f"batch_tokens {batch_tokens} is smaller than one window: it must be at least "
                f"chunk_tokens + 2 = {chunk_tokens + 2}"
            )
        self.loaded = loaded
        self.pooling = pooling
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap
        self.batch_tokens = batch_tokens
        self._tokenizer = _untruncated(loaded.tokenizer.backend_tokenizer)
        # bf16 matrix units want aligned shapes (measured: 18% faster padded to 8 on AMX);
        # fp32 is faster unpadded. Padding is masked, so vectors do not change.
        self._pad_multiple = 8 if loaded.precision == "bf16" else 1
        tokenizer = loaded.tokenizer
        self._cls_id, self._sep_id, self._pad_id, self._unk_id = (
            tokenizer.cls_token_id,
            tokenizer.sep_token_id,
            tokenizer.pad_token_id or 0,
            tokenizer.unk_token_id,
        )

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
    ) -> Embedder:
        """Load a model by hub id or folder (None: the default, with the shipped fallback)."""
        loaded = load_model(model, device, precision, quiet=quiet, threads=threads)
        return cls(loaded, pooling, chunk_tokens, overlap, batch_tokens)

    @classmethod
    def from_recipe(cls, recipe: Recipe, model: str | None = None, **options: Any) -> Embedder:
        """An embedder that reproduces a store's recipe, loading the weights from `model` (where
        they are now) or the recipe's hint; ModelMismatchError for other weights."""
        location = model or recipe.model
        try:
            embedder = cls.load(
                location,
                pooling=recipe.pooling,
                chunk_tokens=recipe.chunk_tokens,
                overlap=recipe.overlap,
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
        )

    # -- tokens and windows ---------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str]) -> list[Encoding]:
        """Wordpieces of each whole text, without special tokens, truncation or padding."""
        return self._tokenizer.encode_batch(list(texts), add_special_tokens=False)

    def windows(self, encoding: Encoding) -> list[Window]:
        """The windows a tokenized text is cut into."""
        return windows(encoding.offsets, self.chunk_tokens, self.overlap)

    def prepare(self, texts: Sequence[str]) -> Prepared:
        """Tokenize and cut every text into windows with their model inputs (no model needed)."""
        per_text, inputs, unknown_only = [], [], []
        for number, encoding in enumerate(self.tokenize(texts)):
            ids, word_ids = encoding.ids, encoding.word_ids  # each access copies the whole list
            text_windows = windows(encoding.offsets, self.chunk_tokens, self.overlap)
            per_text.append(text_windows)
            for window in text_windows:
                span = ids[window.token_start : window.token_end]
                inputs.append(
                    (
                        [self._cls_id, *span, self._sep_id],
                        position_weights(
                            self.pooling,
                            [None, *word_ids[window.token_start : window.token_end], None],
                        ),
                    )
                )
                if span and all(token == self._unk_id for token in span):
                    unknown_only.append(number)
        return Prepared(per_text, inputs, sorted(set(unknown_only)))

    # -- vectors --------------------------------------------------------------------------------

    def vectors(self, prepared: Prepared) -> list[list[EmbeddedChunk]]:
        """Run the model over prepared windows: every window of every text with its vector."""
        vectors = iter(self._encode(prepared.inputs))
        return [
            [EmbeddedChunk(w, next(vectors)) for w in text_windows]
            for text_windows in prepared.windows
        ]

    def embed_chunks(self, texts: Sequence[str]) -> list[list[EmbeddedChunk]]:
        """Every window of every text with its vector; all windows share length-sorted batches."""
        return self.vectors(self.prepare(texts))

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

    def _encode(self, inputs: list[tuple[list[int], list[float]]]) -> np.ndarray:
        """Pooled, normalized vectors for (ids, weights) windows, returned in input order. The
        results stay on the device until one copy at the end (no synchronisation per batch)."""
        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        order, pooled = [], []
        for batch in self._batches([len(ids) for ids, _ in inputs]):
            ids, mask, weights = self._pad([inputs[i] for i in batch])
            hidden = self._forward(ids, mask)
            device_weights = weights.to(hidden.device, non_blocking=True)
            pooled.append(F.normalize(weighted_mean(hidden, device_weights), dim=-1))
            order += batch
        out = np.empty((len(inputs), self.dim), np.float32)
        out[order] = torch.cat(pooled).cpu().numpy()
        return out

    def _pad(self, rows: list[tuple[list[int], list[float]]]) -> tuple[torch.Tensor, ...]:
        width = max(len(ids) for ids, _ in rows)
        width += -width % self._pad_multiple
        ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        weights = np.zeros((len(rows), width), dtype=np.float32)
        for row, (row_ids, row_weights) in enumerate(rows):
            ids[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1
            weights[row, : len(row_ids)] = row_weights
        return torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(weights)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last hidden layer as float32, (batch, seq, dim)."""
        device = self.loaded.device
        with torch.inference_mode():
            output = self.loaded.model(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                token_type_ids=torch.zeros_like(ids, device=device),
            )
        return output.last_hidden_state.float()

    # -- looking inside -------------------------------------------------------------------------

    def token_embeddings(self, text: str) -> TokenView:
        """Every position's vector from the last layer, with its wordpiece and character offsets."""
        encoding = self.tokenize([text])[0]
        limit = self.loaded.max_positions - 2
        if len(encoding.ids) > limit:
            raise TextTooLongError(
                f"text has {len(encoding.ids)} wordpieces; one window holds at most {limit}: "
                "look at one chunk of it instead"
            )
        ids_tensor = torch.tensor([[self._cls_id, *encoding.ids, self._sep_id]])
        hidden = self._forward(ids_tensor, torch.ones_like(ids_tensor))[0].cpu().numpy()
        return TokenView(
            text=text,
            tokens=["[CLS]", *encoding.tokens, "[SEP]"],
            offsets=[(0, 0), *encoding.offsets, (len(text), len(text))],
            word_ids=[None, *encoding.word_ids, None],
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


def _untruncated(tokenizer: Tokenizer) -> Tokenizer:
    """A copy of the fast tokenizer with truncation and padding off (some ship with them on)."""
    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_truncation()
    copy.no_padding()
    return copy
