"""The Compare page: two texts, their pooled cosines under each pooling and the token x token
cosines of a window of each (a long text is shown window by window)."""

from __future__ import annotations

import streamlit as st

from indexer.embedding.comparison import Comparison
from search_ui import charts
from search_ui.context import Context
from search_ui.views.tokens import TOKEN_WINDOW, choose_window


@st.cache_data(show_spinner=False, max_entries=32)
def comparison(_ctx: Context, model: str, a: str, b: str, windows: tuple[int, int]) -> Comparison:
    return _ctx.collection.compare(a, b, windows)


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
    with left:
        window_a = choose_window(ctx, first, "compare_window_a", "Window of A")
    with right:
        window_b = choose_window(ctx, second, "compare_window_b", "Window of B")
    compared = comparison(ctx, ctx.fingerprint, first, second, (window_a, window_b))
    columns = st.columns(len(compared.pooled))
    for column, (pooling, cosine) in zip(columns, compared.pooled.items(), strict=True):
        column.metric(f"Pooled cosine ({pooling})", f"{cosine:.4f}", help="Of the whole texts.")
    shown = slice(0, TOKEN_WINDOW)
    if max(len(compared.a.tokens), len(compared.b.tokens)) > TOKEN_WINDOW:
        st.caption(f"The map shows the first {TOKEN_WINDOW} tokens of each window.")
    st.altair_chart(
        charts.heatmap(
            compared.token_cosines[shown, shown],
            compared.a.tokens[shown],
            compared.b.tokens[shown],
            "token × token cosine (A rows, B columns)",
        ),
        width="stretch",
    )
