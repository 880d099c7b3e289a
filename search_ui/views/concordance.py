"""The Concordance page: a word's occurrences across the store grouped by sense, each group with
its size, distinctive neighbouring words and most typical keyword-in-context lines (each opens its
document), and a map of every occurrence coloured by group."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from indexer.concordance.occurrences import Occurrence
from indexer.concordance.report import Concordance
from indexer.settings import CONCORDANCE_LIMIT, SENSE_MAX_CENTROID_COSINE, SENSE_MIN_SILHOUETTE
from search_ui import charts, render
from search_ui.context import Context, html, select
from store.errors import SemsearchError

KWIC_STYLE = "display:flex;font-family:monospace;font-size:0.85em;white-space:pre;line-height:2.4"
# the left context ends at the word and is cut on its left; the right one is cut on its right
LEFT_STYLE = "flex:1;display:flex;justify-content:flex-end;overflow:hidden"
RIGHT_STYLE = "flex:1;overflow:hidden;text-overflow:ellipsis"


def concordance_page(ctx: Context) -> None:
    st.header("Concordance")
    if not ctx.has_model:
        st.error("The store's model is not available.")
        return
    word = st.text_input("Word (the whole word, any case)", key="concordance_word")
    try:
        last = ctx.collection.layer_count  # loads the torch weights if the start did without
    except SemsearchError as error:
        st.error(str(error))
        return
    st.session_state.setdefault("concordance_layer", last)
    st.session_state.setdefault("concordance_limit", CONCORDANCE_LIMIT)
    left, right = st.columns(2)
    limit = left.number_input(
        "Occurrences at most (spread over the store when there are more)",
        min_value=2,
        max_value=5000,
        key="concordance_limit",
    )
    layer = right.select_slider(
        "Layer (0: embeddings; the sense rule is tuned on the last)",
        list(range(last + 1)),
        key="concordance_layer",
    )
    if not word.strip():
        example = example_word(ctx)
        st.info(
            "Type a word to see its occurrences grouped by sense"
            + (f", e.g. {example}." if example else ".")
        )
        return
    try:
        with st.spinner("Embedding the chunks that hold the word…"):
            result = ctx.collection.concordance(word, limit=int(limit), layer=layer)
    except SemsearchError as error:
        st.error(str(error))
        return
    if not result.occurrences:
        st.warning(f"“{result.word}” does not occur in this store (as a whole word).")
        return
    summary(result)
    for group in result.groups:
        st.subheader(f"Group {group.number + 1} · {group.size} occurrences")
        words = ", ".join(f"{w} ({share:.0%})" for w, share in group.words)
        st.caption(f"Distinctive neighbouring words: {words or '—'}")
        for rank, index in enumerate(group.typical):
            kwic_line(result.occurrences[index], f"kwic_{group.number}_{rank}")
    occurrences_map(result)
    with st.expander("Every occurrence"):
        st.dataframe(occurrence_table(result), hide_index=True)


def example_word(ctx: Context) -> str | None:
    """A word this store holds, to suggest: the first long word of its first example query."""
    for sentence in ctx.collection.example_queries(1):
        for word in re.findall(r"[^\W\d_]{5,}", sentence):
            return word.lower()
    return None


def summary(result: Concordance) -> None:
    """How many occurrences, and how the sense rule decided on the number of groups."""
    st.caption(
        f"{len(result.occurrences)} occurrences of “{result.word}” from "
        f"{result.matching_chunks} chunks the full-text index matched · layer {result.layer} of "
        f"{result.layers} · {len(result.groups)} group(s). Rule: a split into k groups counts "
        f"when its silhouette is ≥ {SENSE_MIN_SILHOUETTE} and its two closest centroids have a "
        f"cosine ≤ {SENSE_MAX_CENTROID_COSINE}; else one sense."
    )
    if result.senses.trials:
        with st.expander("Splits tried"):
            st.dataframe(pd.DataFrame(result.senses.trail()), hide_index=True)


def kwic_line(occurrence: Occurrence, key: str) -> None:
    """One keyword-in-context line (escaped) with a button that opens its document."""
    opens, line = st.columns([1, 6], vertical_alignment="center")
    opens.button(
        f"{occurrence.doc_id} #{occurrence.chunk_ord}",
        key=key,
        on_click=select,
        args=(occurrence.doc_id, occurrence.chunk_ord, "Document"),
        help=f"characters {occurrence.start}–{occurrence.end} of the document",
    )
    with line:
        html(
            f'<div style="{KWIC_STYLE}"><span style="{LEFT_STYLE}"><span>'
            f"{render.escaped(occurrence.left)}</span></span>"
            f'<mark style="{render.MARK_STYLE}">{render.escaped(occurrence.word)}</mark>'
            f'<span style="{RIGHT_STYLE}">{render.escaped(occurrence.right)}</span></div>'
        )


def occurrences_map(result: Concordance) -> None:
    labels = [o.doc_id for o in result.occurrences]
    groups = [f"group {label + 1}" for label in result.labels]
    st.altair_chart(
        charts.scatter(result.points, labels, groups, "PCA of the occurrence vectors"),
        width="stretch",
    )


def occurrence_table(result: Concordance) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {**o.as_dict(), "group": label + 1}
            for o, label in zip(result.occurrences, result.labels, strict=True)
        ]
    )
