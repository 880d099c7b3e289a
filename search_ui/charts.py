"""The app's charts (Altair): heatmaps, scatter plots, histograms and the document map, and the
PCA that places vectors on a plane."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd


def pca_basis(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the rows and their first two principal axes (2 x dim; zeros when fewer
    than 2 rows)."""
    mean = vectors.mean(axis=0)
    axes = np.zeros((2, vectors.shape[1]), dtype=vectors.dtype)
    if len(vectors) >= 2:
        _, _, components = np.linalg.svd(vectors - mean, full_matrices=False)
        axes[: min(2, len(components))] = components[:2]
    return mean, axes


def project(vectors: np.ndarray, basis: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Rows placed on the plane of `basis` (pca_basis of some rows, maybe others)."""
    mean, axes = basis
    return (vectors - mean) @ axes.T


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows."""
    return project(vectors, pca_basis(vectors))


def document_map(frame: pd.DataFrame, colour_title: str) -> alt.Chart:
    """Documents (x, y, id, label, group, role) as points that zoom and pan with the mouse and
    can be picked by a click (the selection `pick`); role "hit" rings the last query's results,
    role "query" is the query itself, a diamond."""
    pick = alt.selection_point(name="pick", fields=["id"], on="click")
    zoom = alt.selection_interval(name="zoom", bind="scales")
    points = (
        alt.Chart(frame[frame["role"] != "query"])
        .mark_circle(opacity=0.75)
        .encode(
            x=alt.X("x:Q", title=None),
            y=alt.Y("y:Q", title=None),
            color=alt.Color("group:N", title=colour_title),
            size=alt.condition("datum.role == 'hit'", alt.value(220), alt.value(45)),
            tooltip=["label", "id", "group", "role"],
        )
        .add_params(pick, zoom)
    )
    query = (
        alt.Chart(frame[frame["role"] == "query"])
        .mark_point(shape="diamond", size=320, filled=True, color="#ef4444")
        .encode(x="x:Q", y="y:Q", tooltip=["label"])
    )
    return alt.layer(points, query)


def heatmap(matrix: np.ndarray, rows: list[str], columns: list[str], title: str) -> alt.Chart:
    """A labelled heatmap; labels that repeat (tokens) are numbered so each stays distinct."""
    row_labels, column_labels = _distinct(rows), _distinct(columns)
    frame = pd.DataFrame(
        [
            (r, c, float(matrix[i, j]))
            for i, r in enumerate(row_labels)
            for j, c in enumerate(column_labels)
        ],
        columns=["row", "column", "value"],
    )
    return (
        alt.Chart(frame, title=title)
        .mark_rect()
        .encode(
            x=alt.X("column:N", sort=column_labels, title=None),
            y=alt.Y("row:N", sort=row_labels, title=None),
            color=alt.Color(
                "value:Q", scale=alt.Scale(scheme="redblue", domainMid=0, reverse=True)
            ),
            tooltip=["row", "column", alt.Tooltip("value:Q", format=".3f")],
        )
    )


def _distinct(labels: list[str]) -> list[str]:
    if len(set(labels)) == len(labels):
        return labels
    return [f"{i}:{label}" for i, label in enumerate(labels)]


def scatter(
    points: np.ndarray, labels: list[str], colour: list[str] | None, title: str
) -> alt.Chart:
    frame = pd.DataFrame(
        {
            "x": points[:, 0],
            "y": points[:, 1],
            "label": labels,
            "group": colour or ["all"] * len(labels),
        }
    )
    base = alt.Chart(frame, title=title).encode(x="x:Q", y="y:Q", tooltip=["label", "group"])
    dots = base.mark_circle(size=60).encode(color="group:N")
    return (
        dots + base.mark_text(dy=-9, fontSize=10).encode(text="label")
        if len(labels) <= 60
        else dots
    )


def histogram(scores: list[float], title: str) -> alt.Chart:
    frame = pd.DataFrame({"score": scores})
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(x=alt.X("score:Q", bin=alt.Bin(maxbins=40)), y="count()")
    )
