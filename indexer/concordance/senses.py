"""Grouping a word's occurrence vectors by sense, with the number of groups chosen from the data
and one sense a valid answer. The rule and its constants are in `indexer.settings` (SENSE_*)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import faiss
import numpy as np

from indexer.settings import (
    SENSE_MAX_CENTROID_COSINE,
    SENSE_MAX_GROUPS,
    SENSE_MIN_GROUP,
    SENSE_MIN_GROUP_SHARE,
    SENSE_MIN_SILHOUETTE,
    SENSE_SEED,
)

KMEANS_ITERATIONS = 25
KMEANS_RESTARTS = 3
SILHOUETTE_ROWS = 2000  # points whose silhouette is averaged (each against all)


@dataclass
class Trial:
    """One split tried: k groups, their silhouette, the cosine of the two closest centroids,
    the smallest group's size, and whether the rule accepts it."""

    k: int
    silhouette: float
    closest_centroids: float
    smallest: int
    accepted: bool


@dataclass
class Senses:
    """Each occurrence's group (0 the largest), the groups' unit centroids, and the trials."""

    labels: np.ndarray  # (n,) int
    centroids: np.ndarray  # (groups, dim) unit rows
    trials: list[Trial]

    @property
    def count(self) -> int:
        return len(self.centroids)

    def trail(self) -> list[dict[str, Any]]:
        return [asdict(trial) for trial in self.trials]


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def spherical_kmeans(unit: np.ndarray, k: int, seed: int = SENSE_SEED) -> np.ndarray:
    """Labels of spherical k-means (FAISS) on unit rows."""
    kmeans = faiss.Kmeans(
        unit.shape[1],
        k,
        spherical=True,
        min_points_per_centroid=1,
        niter=KMEANS_ITERATIONS,
        nredo=KMEANS_RESTARTS,
        seed=seed,
    )
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # a few hundred points: threads only wait for each other
    try:
        kmeans.train(np.ascontiguousarray(unit))
        _, labels = kmeans.index.search(np.ascontiguousarray(unit), 1)
    finally:
        faiss.omp_set_num_threads(threads)
    return labels[:, 0].astype(np.int64)


def silhouette(unit: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance (0 for a point alone in its group), over at most
    SILHOUETTE_ROWS points spread evenly (each against every point), so memory stays bounded."""
    groups = np.unique(labels)
    if len(groups) < 2:
        return 0.0
    rows = np.unique(np.linspace(0, len(unit) - 1, min(len(unit), SILHOUETTE_ROWS)).astype(int))
    distance = 1.0 - unit[rows] @ unit.T
    member = (labels[:, None] == groups[None, :]).astype(np.float32)
    sizes = member.sum(axis=0)
    totals = distance @ member  # (rows, groups): summed distance to each group
    own = np.searchsorted(groups, labels[rows])
    picked = np.arange(len(rows))
    own_size = sizes[own]
    inner = totals[picked, own] / np.maximum(own_size - 1, 1)
    means = totals / sizes
    means[picked, own] = np.inf
    outer = means.min(axis=1)
    scores = (outer - inner) / np.maximum(np.maximum(outer, inner), 1e-12)
    return float(np.where(own_size > 1, scores, 0.0).mean())


def centroids(unit: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """The unit mean of each group's rows."""
    return unit_rows(np.stack([unit[labels == g].mean(axis=0) for g in range(count)]))


def by_size(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered so that group 0 is the largest (ties: first seen)."""
    sizes = np.bincount(labels)
    order = sorted(range(len(sizes)), key=lambda g: (-sizes[g], g))
    renumber = np.empty(len(sizes), np.int64)
    renumber[order] = np.arange(len(sizes))
    return renumber[labels]


def group_senses(vectors: np.ndarray) -> Senses:
    """Split the occurrences into senses by the rule (SENSE_* settings): try k = 2..max, keep
    the accepted split with the best silhouette, else one group."""
    unit = unit_rows(vectors)
    n = len(unit)
    smallest_allowed = max(SENSE_MIN_GROUP, math.ceil(SENSE_MIN_GROUP_SHARE * n))
    trials, best = [], None
    for k in range(2, min(SENSE_MAX_GROUPS, n // smallest_allowed) + 1):
        labels = by_size(spherical_kmeans(unit, k))
        found = len(np.unique(labels))
        centres = centroids(unit, labels, found)
        cosines = centres @ centres.T
        np.fill_diagonal(cosines, -1.0)
        trial = Trial(
            k=k,
            silhouette=round(silhouette(unit, labels), 4),
            closest_centroids=round(float(cosines.max()), 4),
            smallest=int(np.bincount(labels).min()),
            accepted=False,
        )
        trial.accepted = (
            found == k
            and trial.silhouette >= SENSE_MIN_SILHOUETTE
            and trial.closest_centroids <= SENSE_MAX_CENTROID_COSINE
            and trial.smallest >= smallest_allowed
        )
        trials.append(trial)
        if trial.accepted and (best is None or trial.silhouette > best[0].silhouette):
            best = (trial, labels, centres)
    if best is None:
        labels = np.zeros(n, np.int64)
        return Senses(labels, centroids(unit, labels, 1) if n else unit[:0], trials)
    return Senses(best[1], best[2], trials)
