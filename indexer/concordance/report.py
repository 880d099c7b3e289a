"""A word's concordance: its occurrences in the store, each with its contextual vector (its
wordpieces' mean at a layer of the store's own model, in its chunk's window), grouped by sense;
each group with its size, most typical occurrences, distinctive neighbouring words, and every
occurrence's place on a 2-D map (PCA)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.concordance import occurrences
from indexer.concordance.occurrences import Occurrence
from indexer.concordance.senses import Senses, group_senses, unit_rows
from indexer.embedding.layers import last_layer_windows, layer_count, window_layers
from indexer.settings import (
    DISTINCTIVE_WORDS,
    NEIGHBOUR_WORDS,
    TYPICAL_LINES,
    check_layer,
)
from store.function_words import FUNCTION_WORDS

if TYPE_CHECKING:
    from indexer.embedding.embedder import Embedder
    from store.store import Store


@dataclass
class Group:
    """One sense: its occurrences (indices into Concordance.occurrences), the most typical
    first, and its distinctive neighbouring words with their share of its occurrences."""

    number: int
    members: list[int]
    typical: list[int]
    words: list[tuple[str, float]]

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class Concordance:
    """Occurrences of `word` (document order), their groups and map positions."""

    word: str
    layer: int  # 0: embeddings layer, `layers`: the last
    layers: int
    matching_chunks: int  # chunks the full-text index matched (the word's stem)
    occurrences: list[Occurrence]
    labels: list[int]  # each occurrence's group
    points: np.ndarray  # (n, 2) PCA of the occurrence vectors
    groups: list[Group]
    senses: Senses

    def as_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready values: groups numbered from 1, their typical lines, and
        every occurrence with its group and map position."""
        return {
            "word": self.word,
            "layer": self.layer,
            "layers": self.layers,
            "matching_chunks": self.matching_chunks,
            "occurrences": len(self.occurrences),
            "groups": [
                {
                    "group": group.number + 1,
                    "size": group.size,
                    "distinctive_words": [{"word": w, "share": s} for w, s in group.words],
                    "typical": [self.occurrences[i].as_dict() for i in group.typical],
                }
                for group in self.groups
            ],
            "trials": self.senses.trail(),
            "all": [
                {**o.as_dict(), "group": label + 1, "x": float(x), "y": float(y)}
                for o, label, (x, y) in zip(self.occurrences, self.labels, self.points, strict=True)
            ],
        }


def build(
    store: Store, embedder: Embedder, word: str, limit: int, layer: int | None
) -> Concordance:
    """The concordance of `word` in `store` with the store's embedder, at `layer` (None: the
    last)."""
    layers = layer_count(embedder)
    check_layer(layer, layers)
    chosen = layers if layer is None else layer
    checked = occurrences.checked_word(word)
    found, matching = occurrences.find(store, checked, limit, NEIGHBOUR_WORDS)
    vectors = occurrence_vectors(store, embedder, found, chosen)
    senses = group_senses(vectors)
    labels = senses.labels.tolist()
    unit = unit_rows(vectors)
    groups = []
    for number in range(senses.count):
        members = [i for i, label in enumerate(labels) if label == number]
        closeness = unit[members] @ senses.centroids[number]
        typical = [members[i] for i in np.argsort(-closeness, kind="stable")[:TYPICAL_LINES]]
        words = distinctive(found, labels, number, checked)
        groups.append(Group(number, members, typical, words))
    return Concordance(
        word=checked,
        layer=chosen,
        layers=layers,
        matching_chunks=matching,
        occurrences=found,
        labels=labels,
        points=plane(unit),
        groups=groups,
        senses=senses,
    )


def occurrence_vectors(
    store: Store, embedder: Embedder, found: list[Occurrence], layer: int
) -> np.ndarray:
    """(n, dim) float32: each occurrence's wordpieces averaged at `layer`, from one forward pass
    over its chunk's window."""
    chunk_ids = sorted({o.chunk_id for o in found})
    windows = occurrences.windows(store, embedder, chunk_ids)
    order = list(windows)
    wanted: dict[int, list[int]] = {}
    for index, occurrence in enumerate(found):
        wanted.setdefault(occurrence.chunk_id, []).append(index)
    result = np.zeros((len(found), embedder.dim), np.float32)
    ids = [windows[c].ids for c in order]
    if layer == layer_count(embedder):  # the last: the runtime's, no torch weights needed
        passes = last_layer_windows(embedder, ids)
    else:
        passes = ((i, states[layer]) for i, states in window_layers(embedder, ids))
    for position, states in passes:
        chunk_id = order[position]
        for index in wanted[chunk_id]:
            pieces = windows[chunk_id].positions(found[index].start, found[index].end)
            if pieces:  # a word the tokenizer kept no wordpiece of stays a zero vector
                result[index] = states[pieces].mean(axis=0)
    return result


def distinctive(
    found: list[Occurrence], labels: list[int], number: int, word: str
) -> list[tuple[str, float]]:
    """The neighbouring words most over-represented in group `number`: share of its occurrences
    that have the word nearby minus that share in the other groups (alone: its share)."""
    inside = Counter(
        w for o, g in zip(found, labels, strict=True) if g == number for w in set(o.neighbours)
    )
    outside = Counter(
        w for o, g in zip(found, labels, strict=True) if g != number for w in set(o.neighbours)
    )
    size, word_lower = labels.count(number), word.lower()
    rest = len(labels) - size
    scored = [
        (near, count / size - (outside[near] / rest if rest else 0.0), count / size)
        for near, count in inside.items()
        if count >= 2 and near != word_lower and near not in FUNCTION_WORDS and not near.isdigit()
    ]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return [(near, round(share, 3)) for near, _, share in scored[:DISTINCTIVE_WORDS]]


def plane(unit: np.ndarray) -> np.ndarray:
    """The rows' first two principal components (zeros for fewer than 2 rows)."""
    points = np.zeros((len(unit), 2), np.float32)
    if len(unit) >= 2:
        centred = unit - unit.mean(axis=0)
        _, _, axes = np.linalg.svd(centred, full_matrices=False)
        points[:, : min(2, len(axes))] = centred @ axes[:2].T
    return points
