"""The Index page: counts, recipe and sizes, the scores of the last query, and a map of the
documents."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import streamlit as st

from search_ui import charts
from search_ui.context import Context, select
from store.recall import Recall

HISTOGRAM_DEPTH = 100
COLOUR_BINS = 5  # quantile bins of a numeric field on the map
COLOUR_TOP = 8  # most frequent values of a text field coloured on the map; the rest "(other)"


def index_page(ctx: Context) -> None:
    st.header("Index")
    stats = ctx.collection.stats()
    fields = ctx.collection.fields()
    recipe = stats["recipe"]
    columns = st.columns(4)
    columns[0].metric("Documents", f"{stats['documents']:,}")
    columns[1].metric("Chunks", f"{stats['chunks']:,}")
    columns[2].metric("Wordpieces", f"{stats['wordpieces']:,}")
    columns[3].metric("Dimension", stats["dim"])
    st.table(
        pd.DataFrame(
            [
                ("model", recipe["model"]),
                ("fingerprint", recipe["model_fingerprint"]),
                ("pooling", recipe["pooling"]),
                ("chunk tokens / overlap", f"{recipe['chunk_tokens']} / {recipe['overlap']}"),
                ("index type", f"{stats['index_type']} (configured: {stats['index_spec']})"),
                ("generation", str(stats["generation"])),
                ("recall (measured)", Recall(**stats["recall"]).describe()),
            ]
            + [
                (f"size of {name}", f"{size / 1e6:.2f} MB") for name, size in stats["bytes"].items()
            ],
            columns=["", "value"],
        )
    )
    scores = last_query_scores(ctx)
    if scores:
        st.altair_chart(
            charts.histogram(
                scores,
                f"Cosines of the top {len(scores)} chunks for “{st.session_state['last_query']}”",
            ),
            width="stretch",
        )
        st.caption(
            f"min {min(scores):.3f} · median {float(np.median(scores)):.3f} · max "
            f"{max(scores):.3f}: raw cosines of a small BERT bunch together; compare ranks, "
            "not absolute scores."
        )
    else:
        st.info("Run a dense or hybrid query to see the distribution of its scores here.")
    document_map_section(ctx, fields)


def last_query_scores(ctx: Context) -> list[float]:
    """The dense scores of the top HISTOGRAM_DEPTH documents for the last dense or hybrid query,
    with its filters (none before one was run)."""
    vector = st.session_state.get("last_vector")
    if vector is None:
        return []
    filters = st.session_state.get("last_filters", [])
    hits = ctx.collection.search("", HISTOGRAM_DEPTH, "dense", filters, vector=vector)
    return [hit.score for hit in hits]


def document_map_section(ctx: Context, fields: dict[str, dict]) -> None:
    """A PCA map of sampled documents that zooms, pans and opens a document on click, with the
    last query and its results on it; coloured by any metadata field (numbers binned, text: the
    most frequent values)."""
    size = st.slider("Documents in the map", 50, 2000, step=50, key="map_size")
    colour_by = st.selectbox("Colour by", ["(none)", *sorted(fields)], key="map_colour")
    sample = ctx.collection.sample(size)
    if len(sample) < 2:
        st.info("Too few documents for a map.")
        return
    vectors = np.stack([row["vector"] for row in sample])
    basis = charts.pca_basis(vectors)
    last_hits = st.session_state.get("last_hits", {})
    hits = ctx.collection.chunk_vectors(list(last_hits))
    hit_docs = {chunk_id: last_hits[chunk_id] for chunk_id in hits}
    groups = colour_groups([row["metadata"].get(colour_by) for row in sample], colour_by)
    rows = [
        (row["id"], row["title"] or row["id"], group, "document")
        for row, group in zip(sample, groups, strict=True)
    ] + [(hit_docs[c], hit_docs[c], "result of the last query", "hit") for c in hit_docs]
    points = [vectors] + ([np.stack([hits[c] for c in hit_docs])] if hit_docs else [])
    query = st.session_state.get("last_vector")
    if query is not None:
        rows.append(("", f"query: {st.session_state['last_query']}", "query", "query"))
        points.append(query[None, :])
    frame = pd.DataFrame(rows, columns=["id", "label", "group", "role"])
    projected = charts.project(np.concatenate(points), basis)
    frame["x"], frame["y"] = projected[:, 0], projected[:, 1]
    event = st.altair_chart(
        charts.document_map(frame, colour_by),
        width="stretch",
        on_select="rerun",
        selection_mode="pick",
        key="document_map",
    )
    st.caption("Scroll to zoom, drag to pan, click a point to pick a document.")
    picked = [point["id"] for point in event.selection.get("pick", []) if point.get("id")]
    if picked:
        st.button(
            f"Open {picked[0]}",
            key="open_from_map",
            on_click=select,
            args=(picked[0], 0, "Document"),
        )


def colour_groups(values: list, field: str) -> list[str]:
    """A colour group per value: numbers in quantile bins, text by its most frequent values."""
    if field == "(none)":
        return ["document"] * len(values)
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers and len(numbers) == len([v for v in values if v is not None]):
        edges = np.quantile(numbers, np.linspace(0, 1, COLOUR_BINS + 1))
        if all(isinstance(v, int) for v in numbers):
            edges = np.round(edges)
        edges = np.unique(edges)
        if len(edges) > 2:
            labels = [f"{low:g} – {high:g}" for low, high in zip(edges, edges[1:], strict=False)]
            return [
                "(none)"
                if v is None
                else labels[min(len(labels) - 1, int(np.searchsorted(edges, v, "right")) - 1)]
                for v in values
            ]
    text = ["(none)" if v is None else str(v) for v in values]
    common = {value for value, _ in Counter(text).most_common(COLOUR_TOP)}
    return [value if value in common else "(other)" for value in text]
