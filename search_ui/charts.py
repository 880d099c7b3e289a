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


def document_map(
    frame: pd.DataFrame, colour_title: str, order: list[str], sequential: bool
) -> alt.Chart:
    """Documents (x, y, id, label, group, role, found) as points that zoom and pan with the
    mouse and can be picked by a click (the selection `pick`), coloured by `group` in `order` (a
    sequential palette for ordered bins, else a categorical one); the last query (role "query",
    a diamond) and its results (role "hit", rings) in a colour neither palette has, with their
    own legend. Documents `found` by a search on the map are ringed and (the first FOUND_LABELS)
    labelled. Legends lie below the map, so that a phone's narrow map keeps its width."""
    pick = alt.selection_point(name="pick", fields=["id"], on="click")
    zoom = alt.selection_interval(name="zoom", bind="scales")
    legend = {"orient": "bottom", "direction": "horizontal", "columns": 3, "labelLimit": 180}
    documents = frame[frame["role"] == "document"]
    points = (
        alt.Chart(documents)
        .mark_circle(opacity=0.75)
        .encode(
            size=alt.condition("datum.found", alt.value(160), alt.value(45)),
            stroke=alt.condition("datum.found", alt.value("#111827"), alt.value(None)),
            x=alt.X("x:Q", title=None),
            y=alt.Y("y:Q", title=None),
            color=alt.Color(
                "group:N",
                title=colour_title,
                scale=alt.Scale(domain=order, range=palette(order, sequential)),
                legend=alt.Legend(**legend),
            ),
            tooltip=["label", "id", "group"],
        )
        .add_params(pick, zoom)
    )
    marked = frame[frame["role"] != "document"].assign(
        mark=lambda f: f["role"].map({"query": QUERY_LABEL, "hit": HITS_LABEL})
    )
    last_query = (
        alt.Chart(marked)
        .mark_point(size=260, strokeWidth=2.5, color=QUERY_COLOUR)
        .encode(
            x="x:Q",
            y="y:Q",
            shape=alt.Shape(
                "mark:N",
                title="last query",
                scale=alt.Scale(domain=[QUERY_LABEL, HITS_LABEL], range=["diamond", "circle"]),
                legend=alt.Legend(**legend),
            ),
            fill=alt.condition(
                f"datum.mark == '{QUERY_LABEL}'", alt.value(QUERY_COLOUR), alt.value(None)
            ),
            tooltip=["label", "id", "mark"],
        )
    )
    found = (
        alt.Chart(documents[documents["found"]].head(FOUND_LABELS))
        .mark_text(dy=-11, fontSize=LABEL_PX)
        .encode(x="x:Q", y="y:Q", text="label")
    )
    return alt.layer(points, last_query, found).resolve_scale(
        color="independent", shape="independent"
    )


FOUND_LABELS = 30  # documents found on the map that get their title written beside them


QUERY_COLOUR = "#dc2626"  # red: in neither palette below
QUERY_LABEL, HITS_LABEL = "the query", "its results"
CATEGORIES = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#eeca3b", "#9d755d"]
SEQUENCE = ["#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39"]  # viridis, no ends
UNSET = {"(none)": "#6b7280", "(other)": "#bab0ac", "document": "#4c78a8"}


def palette(order: list[str], sequential: bool) -> list[str]:
    """A colour for each group in `order`: ordered bins from dark to light along SEQUENCE, else
    CATEGORIES in turn; the groups of UNSET in their grey (or, for "document", blue)."""
    named = [group for group in order if group not in UNSET]
    if sequential and len(named) > 1:
        picks = np.linspace(0, len(SEQUENCE) - 1, len(named)).round().astype(int)
        colours = [SEQUENCE[i] for i in picks]
    else:
        colours = [CATEGORIES[i % len(CATEGORIES)] for i in range(len(named))]
    chosen = dict(zip(named, colours, strict=True))
    return [chosen.get(group) or UNSET[group] for group in order]


def heatmap(
    matrix: np.ndarray,
    rows: list[str],
    columns: list[str],
    title: str,
    label_every: int = 1,
) -> alt.Chart:
    """A labelled heatmap as wide as its container, ROW_PX per row so that every row label shows
    apart from the next; every `label_every`-th column label when they fit across, else as many
    as fit without overlapping. Labels that repeat (tokens) are numbered so each stays
    distinct."""
    row_labels, column_labels = _distinct(rows), _distinct(columns)
    frame = pd.DataFrame(
        [
            (r, c, float(matrix[i, j]))
            for i, r in enumerate(row_labels)
            for j, c in enumerate(column_labels)
        ],
        columns=["row", "column", "value"],
    )
    labels = {"labelFontSize": LABEL_PX, "labelLimit": 140}
    return (
        alt.Chart(frame, title=alt.Title(title, anchor="start"))
        .mark_rect()
        .encode(
            x=alt.X(
                "column:N",
                sort=column_labels,
                title=None,
                axis=alt.Axis(
                    **labels,
                    labelOverlap="greedy",
                    labelAngle=-90,
                    values=column_labels[::label_every],
                ),
            ),
            y=alt.Y(
                "row:N", sort=row_labels, title=None, axis=alt.Axis(**labels, labelOverlap=False)
            ),
            color=alt.Color(
                "value:Q", scale=alt.Scale(scheme="redblue", domainMid=0, reverse=True)
            ),
            tooltip=["row", "column", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width="container", height=alt.Step(ROW_PX))  # the plot's own rows
    )


LABEL_PX = 11  # an axis label's font size
ROW_PX = 22  # a heatmap's row: room for one label with space around it


def _distinct(labels: list[str]) -> list[str]:
    if len(set(labels)) == len(labels):
        return labels
    return [f"{i}:{label}" for i, label in enumerate(labels)]


def scatter(
    points: np.ndarray, labels: list[str], colour: list[str] | None, title: str
) -> alt.Chart:
    """Points with their labels, a label left out where it would overlap one already placed
    (every label shows on hover)."""
    frame = pd.DataFrame(
        {
            "x": points[:, 0],
            "y": points[:, 1],
            "label": labels,
            "group": colour or ["all"] * len(labels),
            "shown": spaced_labels(points, labels),
        }
    )
    fill = alt.Scale(zero=False, nice=False)  # the points span the plot, as spaced_labels assumes
    base = alt.Chart(frame, title=title).encode(
        x=alt.X("x:Q", scale=fill), y=alt.Y("y:Q", scale=fill), tooltip=["label", "group"]
    )
    dots = base.mark_circle(size=60).encode(color=alt.Color("group:N", legend=None))
    text = base.transform_filter("datum.shown").mark_text(dy=-9, fontSize=10).encode(text="label")
    return (dots + text).properties(height=SCATTER_HEIGHT)


SCATTER_HEIGHT = 360
SCATTER_PX = (700, 220)  # the plot area a scatter is assumed to have (on a laptop) for its labels
CHAR_PX, LINE_PX = 6, 14  # a 10-pixel label: its width per character, its height (and a gap)


def spaced_labels(points: np.ndarray, labels: list[str]) -> list[bool]:
    """Which labels to draw: in order, each that does not overlap one drawn before, on a plot of
    SCATTER_PX pixels."""
    span = np.ptp(points, axis=0)
    pixels = (points - points.min(axis=0)) / np.where(span > 0, span, 1) * SCATTER_PX
    placed: list[tuple[float, float, float]] = []  # centre x, y and half width
    shown = []
    for (x, y), label in zip(pixels, labels, strict=True):
        half = CHAR_PX * len(label) / 2
        free = all(abs(x - px) > half + ph or abs(y - py) > LINE_PX for px, py, ph in placed)
        if free:
            placed.append((x, y, half))
        shown.append(free)
    return shown


def histogram(scores: list[float], title: str) -> alt.Chart:
    frame = pd.DataFrame({"score": scores})
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(x=alt.X("score:Q", bin=alt.Bin(maxbins=40)), y="count()")
    )
