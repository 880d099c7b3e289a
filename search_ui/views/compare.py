"""The Compare page: two texts, their pooled cosines under each pooling and the token x token
cosines of a window of each (a long text is shown window by window). With a second model
(search_ui.second_model), its cosines beside the store's model's and its map below."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from indexer.embedding.comparison import Comparison
from search_ui import charts, second_model
from search_ui.context import Context, model_key, text_windows
from search_ui.second_model import Shown
from search_ui.views.tokens import TOKEN_WINDOW, choose_window

if TYPE_CHECKING:
    from indexer.workbench import Workbench


@st.cache_data(show_spinner=False, max_entries=32)
def comparison(
    _bench: Workbench, model: str, a: str, b: str, windows: tuple[int, int]
) -> Comparison:
    return _bench.compare(a, b, windows)


def compare_page(ctx: Context) -> None:
    st.header("Compare two texts")
    if not ctx.has_model:
        st.error("The store's model is not available.")
        return
    beside = second_model.chosen(ctx)
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
    models = [Shown(ctx.collection)]
    if beside is not None:
        models.append(second_model.second(beside))
    compared = {}
    for shown, column in zip(models, st.columns(len(models)), strict=True):
        with column:
            if beside is not None:
                second_model.heading(shown)
            windows = (fitted(shown, first, window_a), fitted(shown, second, window_b))
            if windows != (window_a, window_b):
                st.caption("This model cuts the texts into fewer windows: its last is shown.")
            key = model_key(shown.bench)
            compared[shown] = comparison(shown.bench, key, first, second, windows)
            pooled_cosines(compared[shown], compared[models[0]] if shown != models[0] else None)
    for shown, each in compared.items():
        token_map(each, shown.title)


def fitted(shown: Shown, text: str, window: int) -> int:
    """The window chosen, or the model's last when its tokens cut the text into fewer (a second
    model with another tokenizer)."""
    return min(window, len(text_windows(shown.bench, model_key(shown.bench), text)) - 1)


def pooled_cosines(compared: Comparison, store_model: Comparison | None = None) -> None:
    """The two whole texts' cosine under each pooling, side by side (a second model's with its
    change from the store's model's)."""
    columns = st.columns(len(compared.pooled))
    for column, (pooling, cosine) in zip(columns, compared.pooled.items(), strict=True):
        if store_model is None:
            column.metric(f"Pooled cosine ({pooling})", f"{cosine:.4f}", help="Of the whole texts.")
            continue
        change = cosine - store_model.pooled[pooling]
        column.metric(
            f"Pooled cosine ({pooling})",
            f"{cosine:.4f}",
            f"{change:+.4f} from the store's model",
            delta_color="off",
            help="Of the whole texts.",
        )


def token_map(compared: Comparison, title_end: str) -> None:
    """The token x token cosines of the windows compared (the first TOKEN_WINDOW of each)."""
    shown = slice(0, TOKEN_WINDOW)
    if max(len(compared.a.tokens), len(compared.b.tokens)) > TOKEN_WINDOW:
        st.caption(f"The map shows the first {TOKEN_WINDOW} tokens of each window.")
    st.altair_chart(
        charts.heatmap(
            compared.token_cosines[shown, shown],
            compared.a.tokens[shown],
            compared.b.tokens[shown],
            "token × token cosine (A rows, B columns)" + title_end,
        ),
        width="stretch",
    )
