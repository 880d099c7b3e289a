"""The Token explorer: every wordpiece's (or word's) vector of a text, as a table, a heatmap, a
PCA map and a token x token cosine map. A long text is shown window by window, cut as the store
cuts a document. With a second model (search_ui.second_model), every view of it follows the
store's model's, with widgets of its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from indexer.embedding.comparison import cosine_matrix
from indexer.embedding.views import TokenView
from search_ui import charts, render, second_model
from search_ui.context import Context, html, opened_chunk, text_windows
from search_ui.second_model import Shown
from search_ui.state import TOKEN_SOURCES
from search_ui.views import layers
from store.errors import SemsearchError

TOKEN_WINDOW = 64  # positions shown at once in the maps
HEATMAP_DIMS = 64  # dimensions in the token x dimension heatmap at first
DIMENSION_LABELS = 8  # every 8th dimension is labelled: numbers in order need no more
SOURCE_NAMES = {"typed": "Type a text", "chunk": "Chunk of the opened document"}


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
    beside = second_model.chosen(ctx)
    source = st.radio(
        "Text",
        TOKEN_SOURCES,
        format_func=SOURCE_NAMES.__getitem__,
        horizontal=True,
        key="token_source",
    )
    if source == "typed":
        text = st.text_area("Text", key="token_text")
    else:
        text = opened_chunk_text(ctx)
        if text is None:
            st.info("Open a document from the search results first.")
            return
        html(render.block(render.escaped(text)))
    if not text.strip():
        st.info("Type some text to see its tokens.")
        return
    level = st.radio("Level", ["wordpiece", "word"], horizontal=True, key="token_level")
    text = chosen_window(ctx, text)
    if beside is None:
        model_views(Shown(ctx.collection), text, level)
        return
    for shown in (Shown(ctx.collection), second_model.second(beside)):
        st.divider()
        second_model.heading(shown)
        model_views(shown, text, level)


def model_views(shown: Shown, text: str, level: str) -> None:
    """Every view of one model of the text: its tokens at a layer as a table, heatmap, PCA map
    and cosine map, a token's trajectory and, on request, the attention."""
    try:
        view, layer = layers.chosen_layer_view(shown, text)
    except SemsearchError as error:
        st.error(str(error))
        return
    labels, vectors, frame = token_table(view, level)
    st.caption(
        f"{len(view.tokens)} wordpieces ([CLS] and [SEP] included) · {len(view.words().words)}"
        f" words · {vectors.shape[1]} dimensions (layer {layer})"
    )
    vector_table(frame, vectors, shown.key)
    shown_labels, shown_vectors = map_window(labels, vectors, shown.key)
    dims, dims_key = vectors.shape[1], "token_dims" + shown.key
    st.session_state[dims_key] = min(st.session_state.get(dims_key, HEATMAP_DIMS), dims)
    shown_dims = st.slider("Dimensions in the heatmap", min(8, dims), dims, key=dims_key)
    st.altair_chart(
        charts.heatmap(
            shown_vectors[:, :shown_dims],
            shown_labels,
            [str(i) for i in range(shown_dims)],
            "token × dimension" + shown.title,
            label_every=DIMENSION_LABELS,
        ),
        width="stretch",
    )
    st.altair_chart(
        charts.scatter(charts.pca_2d(vectors), labels, None, "PCA of token vectors" + shown.title),
        width="stretch",
    )
    st.altair_chart(
        charts.heatmap(
            cosine_matrix(shown_vectors, shown_vectors),
            shown_labels,
            shown_labels,
            "token × token cosine" + shown.title,
        ),
        width="stretch",
    )
    layers.trajectory_section(shown, text)
    layers.attention_section(shown, text)


def chosen_window(ctx: Context, text: str) -> str:
    """The text of the window chosen of a text longer than one (cut as the store cuts a
    document), for every view of the page; a short text whole."""
    windows = text_windows(ctx.collection, ctx.fingerprint, text)
    cut = windows[choose_window(ctx, text, "token_window", "Window")]
    return text if len(windows) == 1 else text[cut.start : cut.end]


def choose_window(ctx: Context, text: str, key: str, label: str) -> int:
    """For a text longer than one window, a choice of its windows (cut as the store cuts a
    document); the window number (0 for a short text)."""
    windows = text_windows(ctx.collection, ctx.fingerprint, text)
    if len(windows) == 1:
        return 0
    if not 0 <= st.session_state.get(key, 0) < len(windows):
        st.session_state[key] = 0
    recipe = ctx.collection.recipe
    return st.selectbox(
        label,
        range(len(windows)),
        key=key,
        format_func=lambda n: (
            f"{n + 1} of {len(windows)}: wordpieces {windows[n].token_start}–"
            f"{windows[n].token_end}, characters {windows[n].start:,}–{windows[n].end:,}"
        ),
        help=f"A long text is cut as the store cuts a document: windows of "
        f"{recipe.chunk_tokens} wordpieces, each overlapping the next by {recipe.overlap}.",
    )


def vector_table(frame: pd.DataFrame, vectors: np.ndarray, key: str = "") -> None:
    """The first dimensions of each vector (all of them when asked), and a CSV of all. `key`
    ends the widgets' keys (a second model's)."""
    whole = st.checkbox("Show whole vectors", key="token_whole" + key)
    shown = vectors.shape[1] if whole else min(8, vectors.shape[1])
    table = pd.concat(
        [frame, pd.DataFrame(vectors[:, :shown], columns=[f"d{i}" for i in range(shown)])], axis=1
    )
    st.dataframe(table, hide_index=True, height=240)
    full = pd.concat(
        [frame, pd.DataFrame(vectors, columns=[f"d{i}" for i in range(vectors.shape[1])])], axis=1
    )
    st.download_button(
        "Download vectors (CSV)",
        full.to_csv(index=False),
        "token_vectors.csv",
        "text/csv",
        key="download_tokens" + key,
    )


def map_window(
    labels: list[str], vectors: np.ndarray, key: str = ""
) -> tuple[list[str], np.ndarray]:
    """The TOKEN_WINDOW positions the maps show, from where the user slides them (`key` ends
    the slider's key)."""
    first = 0
    if len(labels) > TOKEN_WINDOW:
        last_first, from_key = len(labels) - TOKEN_WINDOW, "token_from" + key
        st.session_state[from_key] = min(st.session_state.get(from_key, 0), last_first)
        first = st.slider(
            f"Maps show {TOKEN_WINDOW} of the {len(labels)} tokens, from",
            0,
            last_first,
            key=from_key,
        )
    window = slice(first, first + TOKEN_WINDOW)
    return labels[window], vectors[window]


def opened_chunk_text(ctx: Context) -> str | None:
    doc_id = st.session_state.get("doc_id")
    if not doc_id:
        return None
    doc = ctx.collection.document(doc_id)
    if doc is None:
        return None
    chunk = ctx.collection.chunk(doc.chunks[opened_chunk(doc) or 0].id)
    return chunk.text if chunk else None
