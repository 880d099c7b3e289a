"""The Index page: counts, recipe and sizes, the scores of the last query, and a map of the
documents."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from indexer.settings import SEARCH_MODES, K
from search_ui import charts
from search_ui.context import Context, select
from search_ui.filters import filter_widgets
from search_ui.state import LAST_SEARCH
from search_ui.url_state import ACTIVE_FILTERS
from search_ui.views.search import run_search
from store.results import MetadataField

HISTOGRAM_DEPTH = 100
COLOUR_BINS = 5  # quantile bins of a numeric field on the map
COLOUR_TOP = 7  # most frequent values of a text field coloured on the map; the rest "(other)"
MAP_STEP, MAP_MOST = 50, 5000  # documents on the map: a choice in these steps up to this many


def index_page(ctx: Context) -> None:
    st.header("Index")
    stats = ctx.collection.stats()
    fields = ctx.collection.fields()
    recipe = stats.recipe
    columns = st.columns(4)
    columns[0].metric("Documents", f"{stats.documents:,}")
    columns[1].metric("Chunks", f"{stats.chunks:,}")
    columns[2].metric("Wordpieces", f"{stats.wordpieces:,}")
    columns[3].metric("Dimension", stats.dim)
    st.table(
        pd.DataFrame(
            [
                ("model", recipe["model"]),
                ("fingerprint", recipe["model_fingerprint"]),
                ("pooling", recipe["pooling"]),
                ("chunk tokens / overlap", f"{recipe['chunk_tokens']} / {recipe['overlap']}"),
                ("index type", f"{stats.index_type} (configured: {stats.index_spec})"),
                ("generation", str(stats.generation)),
                ("recall (measured)", stats.recall.describe()),
            ]
            + [(f"size of {name}", f"{size / 1e6:.2f} MB") for name, size in stats.bytes.items()],
            columns=["", "value"],
        )
    )
    last = last_search(ctx)
    if last is not None:
        scores = last_query_scores(ctx, last)
        st.altair_chart(
            charts.histogram(
                scores,
                f"Dense cosines of the top {len(scores)} chunks for the last query, "
                f"“{last['query']}” ({last['mode']})",
            ),
            width="stretch",
        )
        st.caption(
            f"min {min(scores):.3f} · median {float(np.median(scores)):.3f} · max "
            f"{max(scores):.3f}: raw cosines of a small BERT bunch together; compare ranks, "
            "not absolute scores."
        )
    else:
        st.info("Run a query to see the distribution of its scores here.")
    document_map_section(ctx, fields, last)


def last_search(ctx: Context) -> dict | None:
    """The last search (any mode) with its query's vector, embedded now after a lexical one;
    None before a search, or when the model cannot embed it. A link's query (no search run in
    this session yet) is searched here, with its filters (shown, to be changed here too)."""
    last = st.session_state.get(LAST_SEARCH)
    query = st.session_state.get("query", "")
    if last is None and query.strip() and st.session_state.get("mode") in SEARCH_MODES:
        active = filter_widgets(ctx)
        st.session_state[ACTIVE_FILTERS] = [item.widget for item in active]
        filters = [f for item in active for f in item.filters]
        run_search(ctx, query, int(st.session_state.get("k", K)), st.session_state["mode"], filters)
        last = st.session_state[LAST_SEARCH]
    if last is None or (last["vector"] is None and not ctx.has_model):
        return None
    if last["vector"] is None:
        last["vector"] = ctx.collection.embed([last["query"]])[0]
    return last


def last_query_scores(ctx: Context, last: dict) -> list[float]:
    """The dense scores of the top HISTOGRAM_DEPTH documents for the last query, with its
    filters."""
    hits = ctx.collection.search(
        "", HISTOGRAM_DEPTH, "dense", last["filters"], vector=last["vector"]
    )
    return [hit.score for hit in hits]


def document_map_section(ctx: Context, fields: dict[str, MetadataField], last: dict | None) -> None:
    """A PCA map of sampled documents that zooms, pans and opens a document on click, with the
    last query and its results on it; coloured by any metadata field (numbers in ordered bins,
    text: the most frequent values)."""
    documents = ctx.collection.count()
    size = documents
    if documents > MAP_STEP:
        most = min(documents, MAP_MOST)
        st.session_state["map_size"] = min(st.session_state.get("map_size", most), most)
        size = st.slider("Documents in the map", MAP_STEP, most, step=MAP_STEP, key="map_size")
    left, right = st.columns(2)
    colour_by = left.selectbox("Colour by", ["(none)", *sorted(fields)], key="map_colour")
    find = right.text_input("Find on the map (title or id contains)", key="map_find")
    sample = ctx.collection.sample(size)
    if len(sample) < 2:
        st.info("Too few documents for a map.")
        return
    vectors = np.stack([row.vector for row in sample])
    basis = charts.pca_basis(vectors)
    colouring = colour_groups([row.metadata.get(colour_by) for row in sample], colour_by)
    rows = [
        (row.id, row.title or row.id, group, "document")
        for row, group in zip(sample, colouring.groups, strict=True)
    ]
    points = [vectors]
    if last is not None:
        hits = ctx.collection.chunk_vectors(list(last["hits"]))
        rows += [(last["hits"][c], last["hits"][c], "", "hit") for c in hits]
        rows.append(("", f"query: {last['query']}", "", "query"))
        points += [np.stack(list(hits.values()))] if hits else []
        points.append(last["vector"][None, :])
    frame = pd.DataFrame(rows, columns=["id", "label", "group", "role"])
    projected = charts.project(np.concatenate(points), basis)
    frame["x"], frame["y"] = projected[:, 0], projected[:, 1]
    wanted = find.strip().lower()
    frame["found"] = (
        (frame["role"] == "document")
        & bool(wanted)
        & (
            frame["label"].str.lower().str.contains(wanted, regex=False)
            | frame["id"].str.lower().str.contains(wanted, regex=False)
        )
    )
    if wanted:
        st.caption(
            f"{int(frame['found'].sum()):,} of the {len(sample):,} documents on the map match "
            f"“{find.strip()}” (ringed and labelled)."
        )
    opening = st.container()  # above the map: the picked document's button stays in view
    event = st.altair_chart(
        charts.document_map(frame, colour_by, colouring.order, colouring.sequential),
        width="stretch",
        on_select="rerun",
        selection_mode="pick",
        key="document_map",
    )
    st.caption("Scroll to zoom, drag to pan, click a point to pick a document.")
    picked = [point["id"] for point in event.selection.get("pick", []) if point.get("id")]
    if picked:
        opening.button(
            f"Open {picked[0]}",
            key="open_from_map",
            on_click=select,
            args=(picked[0], 0, "Document"),
        )
        neighbours(opening, sample, vectors, picked[0])


NEIGHBOURS = 5


def neighbours(where: DeltaGenerator, sample: list[dict], vectors: np.ndarray, doc_id: str) -> None:
    """The picked document's nearest documents on the map (cosine of their stored vectors, not
    the map's distance), each a button that opens it."""
    ids = [row["id"] for row in sample]
    if doc_id not in ids:
        return
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    cosines = unit @ unit[ids.index(doc_id)]
    nearest = [i for i in np.argsort(-cosines) if ids[i] != doc_id][:NEIGHBOURS]
    where.caption(f"Nearest to {doc_id} among the documents on the map:")
    for i in nearest:
        where.button(
            f"{sample[i]['title'] or ids[i]} · cosine {cosines[i]:.3f}",
            key=f"neighbour_{ids[i]}",
            type="tertiary",
            on_click=select,
            args=(ids[i], 0, "Document"),
        )


@dataclass
class Colouring:
    """A colour group per document, the groups in legend order, and whether they are ordered
    bins of numbers (a sequential palette) or values (a categorical one)."""

    groups: list[str]
    order: list[str]
    sequential: bool


def colour_groups(values: list, field: str) -> Colouring:
    """A colour group per value: numbers in quantile bins (in order), text by its most frequent
    values (most frequent first); then "(other)" and "(none)"."""
    if field == "(none)":
        return Colouring(["document"] * len(values), ["document"], False)
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers and len(numbers) == len([v for v in values if v is not None]):
        edges = np.quantile(numbers, np.linspace(0, 1, COLOUR_BINS + 1))
        if all(isinstance(v, int) for v in numbers):
            edges = np.round(edges)
        edges = np.unique(edges)
        if len(edges) > 2:
            bins = [f"{low:g} – {high:g}" for low, high in zip(edges, edges[1:], strict=False)]
            groups = [
                "(none)"
                if v is None
                else bins[min(len(bins) - 1, int(np.searchsorted(edges, v, "right")) - 1)]
                for v in values
            ]
            return Colouring(groups, bins + ["(none)"] * ("(none)" in groups), True)
    text = ["(none)" if v is None else str(v) for v in values]
    common = [value for value, _ in Counter(t for t in text if t != "(none)").most_common()]
    common = common[:COLOUR_TOP]
    groups = [value if value in common or value == "(none)" else "(other)" for value in text]
    order = common + [extra for extra in ("(other)", "(none)") if extra in groups]
    return Colouring(groups, order, False)
