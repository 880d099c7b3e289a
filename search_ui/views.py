"""The app's pages. They only present: searching, explaining and embedding are the Collection's."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import streamlit as st

from indexer.collection import Collection
from indexer.comparison import cosine_matrix
from indexer.embedder import TokenView
from indexer.settings import SEARCH_MODES
from search_ui import render
from store.errors import SemsearchError
from store.filters import Filter
from store.results import Hit

DEFAULT_TEXT = "Tokenization splits unbelievably rare words into wordpieces."
HISTOGRAM_DEPTH = 100
DEFAULTS = {
    "k": 10,
    "token_text": DEFAULT_TEXT,
    "compare_a": "A man is playing a guitar.",
    "compare_b": "Someone plays an instrument.",
    "map_size": 500,
}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass
class Context:
    collection: Collection
    has_model: bool  # False: the store's model cannot be loaded, only lexical search works


def html(markup: str) -> None:
    """Show HTML built from escaped text."""
    st.markdown(markup, unsafe_allow_html=True)


def select(doc_id: str, chunk_ord: int, page: str | None = None) -> None:
    st.session_state["doc_id"] = doc_id
    st.session_state["doc_chunk"] = chunk_ord
    if page:
        st.session_state["page"] = page


# -- search ---------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=8)
def field_summary(
    _ctx: Context, store: str, generation: int
) -> tuple[dict[str, dict], dict[str, list]]:
    """Metadata fields and the values of the few-valued ones, once per store generation."""
    fields = _ctx.collection.fields()
    values = {
        key: _ctx.collection.values(key, 31)
        for key, info in fields.items()
        if info["types"] == ["text"]
    }
    return fields, values


def filter_widgets(ctx: Context) -> list[Filter]:
    """Widgets for the metadata fields the store has; returns the filters they set."""
    filters: list[Filter] = []
    collection = ctx.collection
    fields, values = field_summary(ctx, str(collection.path), collection.generation)
    with st.expander("Filters", expanded=False):
        title = st.text_input("Title contains", key="filter_title")
        if title:
            filters.append(Filter("title", "~", title))
        for key, info in sorted(fields.items()):
            types = set(info["types"])
            widget = f"filter_{key}"
            if types <= {"integer", "real"} and info["min"] != info["max"]:
                low, high = info["min"], info["max"]
                st.session_state.setdefault(widget, (low, high))
                chosen = st.slider(key, low, high, key=widget)
                if chosen[0] > low:
                    filters.append(Filter(key, ">=", chosen[0]))
                if chosen[1] < high:
                    filters.append(Filter(key, "<=", chosen[1]))
            elif types == {"text"} and ISO_DATE.match(info["min"]) and ISO_DATE.match(info["max"]):
                first, last = (date.fromisoformat(info[end][:10]) for end in ("min", "max"))
                st.session_state.setdefault(widget, (first, last))
                span = st.date_input(key, min_value=first, max_value=last, key=widget)
                if len(span) == 2 and span[0] > first:
                    filters.append(Filter(key, ">=", span[0].isoformat()))
                if len(span) == 2 and span[1] < last:
                    filters.append(Filter(key, "<", (span[1] + timedelta(days=1)).isoformat()))
            elif types == {"text"} and info["distinct"] <= 30:
                picked = st.multiselect(key, values[key], key=widget)
                if picked:
                    filters.append(Filter(key, "in", tuple(picked)))
            elif types == {"text"}:
                text = st.text_input(f"{key} contains", key=widget)
                if text:
                    filters.append(Filter(key, "~", text))
    return filters


def search_page(ctx: Context) -> None:
    st.header("Search")
    query = st.text_input("Query", key="query", placeholder="Ask in your own words…")
    left, right = st.columns([1, 3])
    k = left.number_input("Results", min_value=1, max_value=100, key="k")
    modes = list(SEARCH_MODES) if ctx.has_model else ["lexical"]
    mode = right.radio("Mode", modes, horizontal=True, key="mode")
    filters = filter_widgets(ctx)
    if not query.strip():
        st.info("Type a query to search.")
        return
    collection = ctx.collection
    vector = collection.embed([query])[0] if mode != "lexical" else None
    hits = collection.search(query, k=int(k), mode=mode, filters=filters, vector=vector)
    if vector is not None:
        dense = collection.search(query, HISTOGRAM_DEPTH, "dense", filters, vector=vector)
        st.session_state["last_scores"] = [hit.score for hit in dense]
        st.session_state["last_query"] = query
    if not hits:
        if filters:
            st.warning("No document matches these filters.")
        else:
            st.warning("No results.")
        return
    st.caption(f"{len(hits)} documents · {mode}")
    for rank, hit in enumerate(hits, start=1):
        show_hit(ctx, rank, hit, query, mode)


def show_hit(ctx: Context, rank: int, hit: Hit, query: str, mode: str) -> None:
    with st.container(border=True):
        html(render.block(f"<b>{rank}. {render.escaped(hit.title or hit.doc_id)}</b>"))
        parts = " · ".join(
            f"{name} #{part['rank']} ({part['score']:.4f})" for name, part in hit.parts.items()
        )
        st.caption(f"score {hit.score:.4f} · {parts}")
        html(
            render.block(
                f'<span style="color:#6b7280">{render.escaped(hit.doc_id)} · '
                f"{render.escaped(hit.source or '')} · chunk {hit.chunk_ord} "
                f"[{hit.start}:{hit.end}]</span>"
            )
        )
        html(render.block(render.highlight(hit.text, query)))
        if hit.metadata:
            metadata = render.escaped(json.dumps(hit.metadata))
            html(render.block(f'<small style="color:#6b7280">{metadata}</small>'))
        left, right = st.columns([1, 4])
        left.button(
            "Open document",
            key=f"open_{rank}",
            on_click=select,
            args=(hit.doc_id, hit.chunk_ord, "Document"),
        )
        if ctx.has_model and right.toggle("Why it matched", key=f"why_{rank}"):
            why_it_matched(ctx, hit, query)


def why_it_matched(ctx: Context, hit: Hit, query: str) -> None:
    """Each token of the chunk shaded by its exact share of the cosine with the query."""
    explanation = ctx.collection.explain(query, hit)
    html(render.shaded_tokens(explanation.tokens, explanation.shares))
    stored = hit.parts.get("dense", {}).get("score")
    st.caption(
        f"token shares sum to {explanation.shares.sum():.4f} = cosine {explanation.cosine:.4f}"
        + (f" (stored chunk score {stored:.4f})" if stored is not None else "")
    )
    top = np.argsort(-explanation.shares)[:10]
    st.dataframe(
        pd.DataFrame(
            {
                "token": [explanation.tokens[i] for i in top],
                "share": [float(explanation.shares[i]) for i in top],
            }
        ),
        hide_index=True,
    )


# -- document -------------------------------------------------------------------------------


def document_page(ctx: Context) -> None:
    st.header("Document")
    doc_id = st.text_input("Document id", value=st.session_state.get("doc_id", ""), key="doc_input")
    if not doc_id:
        st.info("Open a document from the search results, or type its id.")
        return
    doc = ctx.collection.document(doc_id)
    if doc is None:
        st.warning(f"No document with id {doc_id!r}.")
        return
    best = st.session_state.get("doc_chunk") if doc_id == st.session_state.get("doc_id") else None
    html(render.block(f"<h3>{render.escaped(doc['title'] or doc_id)}</h3>"))
    st.caption(
        f"{len(doc['chunks'])} chunks · {sum(c['n_tokens'] for c in doc['chunks'])} "
        f"wordpieces · indexed {doc['indexed_at']}"
    )
    if doc["metadata"]:
        html(render.block(f"<small>{render.escaped(json.dumps(doc['metadata']))}</small>"))
    if best is not None:
        st.caption(f"Highlighted: chunk {best}, the best match for the last query.")
    html(render.chunked_text(doc["text"], doc["chunks"], best))


# -- tokens ---------------------------------------------------------------------------------


def token_table(view: TokenView, level: str) -> tuple[list[str], np.ndarray, pd.DataFrame]:
    if level == "word":
        words = view.words()
        labels, offsets, vectors = words.words, words.offsets, words.vectors
    else:
        labels, offsets, vectors = view.tokens, view.offsets, view.vectors
    frame = pd.DataFrame(
        {
            "token": labels,
            "start": [a for a, _ in offsets],
            "end": [b for _, b in offsets],
            "norm": np.linalg.norm(vectors, axis=1),
        }
    )
    return labels, vectors, frame


def token_page(ctx: Context) -> None:
    st.header("Token explorer")
    if not ctx.has_model:
        st.error("The store's model is not available.")
        return
    source = st.radio(
        "Text", ["Type a text", "Chunk of the opened document"], horizontal=True, key="token_source"
    )
    if source == "Type a text":
        text = st.text_area("Text", key="token_text")
    else:
        text = opened_chunk_text(ctx)
        if text is None:
            st.info("Open a document from the search results first.")
            return
        html(render.block(render.escaped(text)))
    level = st.radio("Level", ["wordpiece", "word"], horizontal=True, key="token_level")
    try:
        view = ctx.collection.tokens(text)
    except SemsearchError as error:
        st.error(str(error))
        return
    labels, vectors, frame = token_table(view, level)
    st.caption(
        f"{len(view.tokens)} wordpieces ([CLS] and [SEP] included) · {len(view.words().words)}"
        f" words · {vectors.shape[1]} dimensions (last hidden layer)"
    )
    whole = st.checkbox("Show whole vectors", key="token_whole")
    shown = vectors.shape[1] if whole else min(8, vectors.shape[1])
    table = pd.concat(
        [frame, pd.DataFrame(vectors[:, :shown], columns=[f"d{i}" for i in range(shown)])], axis=1
    )
    st.dataframe(table, hide_index=True)
    full = pd.concat(
        [frame, pd.DataFrame(vectors, columns=[f"d{i}" for i in range(vectors.shape[1])])], axis=1
    )
    st.download_button(
        "Download vectors (CSV)",
        full.to_csv(index=False),
        "token_vectors.csv",
        "text/csv",
        key="download_tokens",
    )
    dims = st.slider(
        "Dimensions in the heatmap",
        8,
        vectors.shape[1],
        min(64, vectors.shape[1]),
        key="token_dims",
    )
    st.altair_chart(
        render.heatmap(
            vectors[:, :dims], labels, [str(i) for i in range(dims)], "token × dimension"
        ),
        width="stretch",
    )
    left, right = st.columns(2)
    left.altair_chart(
        render.scatter(render.pca_2d(vectors), labels, None, "PCA of token vectors"),
        width="stretch",
    )
    right.altair_chart(
        render.heatmap(cosine_matrix(vectors, vectors), labels, labels, "token × token cosine"),
        width="stretch",
    )


def opened_chunk_text(ctx: Context) -> str | None:
    doc_id = st.session_state.get("doc_id")
    if not doc_id:
        return None
    doc = ctx.collection.document(doc_id)
    if doc is None:
        return None
    chunk = ctx.collection.chunk(doc["chunks"][st.session_state.get("doc_chunk") or 0]["id"])
    return chunk["text"] if chunk else None


def compare_page(ctx: Context) -> None:
    st.header("Compare two texts")
    if not ctx.has_model:
        st.error("The store's model is not available.")
        return
    left, right = st.columns(2)
    first = left.text_area("Text A", key="compare_a")
    second = right.text_area("Text B", key="compare_b")
    if not first.strip() or not second.strip():
        st.info("Type two texts.")
        return
    try:
        comparison = ctx.collection.compare(first, second)
    except SemsearchError as error:
        st.error(str(error))
        return
    columns = st.columns(len(comparison.pooled))
    for column, (pooling, cosine) in zip(columns, comparison.pooled.items(), strict=True):
        column.metric(f"Pooled cosine ({pooling})", f"{cosine:.4f}")
    st.altair_chart(
        render.heatmap(
            comparison.token_cosines,
            comparison.a.tokens,
            comparison.b.tokens,
            "token × token cosine (A rows, B columns)",
        ),
        width="stretch",
    )


# -- index ----------------------------------------------------------------------------------


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
            ]
            + [
                (f"size of {name}", f"{size / 1e6:.2f} MB") for name, size in stats["bytes"].items()
            ],
            columns=["", "value"],
        )
    )
    scores = st.session_state.get("last_scores")
    if scores:
        st.altair_chart(
            render.histogram(
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
    groups = [key for key, info in fields.items() if info["distinct"] <= 20]
    size = st.slider("Documents in the map", 50, 2000, step=50, key="map_size")
    colour_by = st.selectbox("Colour by", ["(none)", *sorted(groups)], key="map_colour")
    sample = ctx.collection.sample(size)
    if len(sample) < 2:
        st.info("Too few documents for a map.")
        return
    points = render.pca_2d(np.stack([row["vector"] for row in sample]))
    colours = None if colour_by == "(none)" else [str(r["metadata"].get(colour_by)) for r in sample]
    labels = [row["title"] or row["id"] for row in sample]
    st.altair_chart(
        render.scatter(points, labels, colours, "PCA map of documents (first chunk)"),
        width="stretch",
    )
