"""The Compare page: two texts, their token x token cosines and pooled cosines under each
pooling."""

from __future__ import annotations

import streamlit as st

from search_ui import charts
from search_ui.context import Context
from store.errors import SemsearchError


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
        charts.heatmap(
            comparison.token_cosines,
            comparison.a.tokens,
            comparison.b.tokens,
            "token × token cosine (A rows, B columns)",
        ),
        width="stretch",
    )
