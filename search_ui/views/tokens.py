"""The Token explorer: every wordpiece's (or word's) vector of a text, as a table, a heatmap, a
PCA map and a token x token cosine map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from indexer.embedding.comparison import cosine_matrix
from indexer.embedding.views import TokenView
from search_ui import charts, render
from search_ui.context import Context, html, opened_chunk
from search_ui.views import layers
from store.errors import SemsearchError

TOKEN_WINDOW = 64  # wordpieces shown at once in the token x token map


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
    if not text.strip():
        st.info("Type some text to see its tokens.")
        return
    level = st.radio("Level", ["wordpiece", "word"], horizontal=True, key="token_level")
    try:
        view, layer = layers.chosen_layer_view(ctx, text)
    except SemsearchError as error:
        st.error(str(error))
        return
    labels, vectors, frame = token_table(view, level)
    st.caption(
        f"{len(view.tokens)} wordpieces ([CLS] and [SEP] included) · {len(view.words().words)}"
        f" words · {vectors.shape[1]} dimensions (layer {layer})"
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
    first = 0
    if len(labels) > TOKEN_WINDOW:
        first = st.slider(
            f"Maps show {TOKEN_WINDOW} of the {len(labels)} tokens, from",
            0,
            len(labels) - TOKEN_WINDOW,
            key="token_from",
        )
    window = slice(first, first + TOKEN_WINDOW)
    shown_labels, shown_vectors = labels[window], vectors[window]
    dims = st.slider(
        "Dimensions in the heatmap",
        8,
        vectors.shape[1],
        min(64, vectors.shape[1]),
        key="token_dims",
    )
    st.altair_chart(
        charts.heatmap(
            shown_vectors[:, :dims],
            shown_labels,
            [str(i) for i in range(dims)],
            "token × dimension",
        ),
        width="stretch",
    )
    left, right = st.columns(2)
    left.altair_chart(
        charts.scatter(charts.pca_2d(vectors), labels, None, "PCA of token vectors"),
        width="stretch",
    )
    right.altair_chart(
        charts.heatmap(
            cosine_matrix(shown_vectors, shown_vectors),
            shown_labels,
            shown_labels,
            "token × token cosine",
        ),
        width="stretch",
    )
    layers.trajectory_section(ctx, text)
    layers.attention_section(ctx, text)


def opened_chunk_text(ctx: Context) -> str | None:
    doc_id = st.session_state.get("doc_id")
    if not doc_id:
        return None
    doc = ctx.collection.document(doc_id)
    if doc is None:
        return None
    chunk = ctx.collection.chunk(doc["chunks"][opened_chunk(doc) or 0]["id"])
    return chunk["text"] if chunk else None
