"""The Token explorer's look through the model: any layer's vectors, a token's trajectory
through the layers, and the attention weights of the window (one eager pass, only when asked)."""

from __future__ import annotations

import streamlit as st

from indexer.embedding.attention import AttentionView
from indexer.embedding.layers import LayerView
from indexer.embedding.views import TokenView
from search_ui import charts, layer_charts
from search_ui.context import Context, token_view

ATTENTION_WINDOW = 128  # positions drawn at once in the attention charts
AVERAGE = "average of the heads"
TRAJECTORY_TOKENS = 64  # tokens in the layer x token cosine map


@st.cache_data(show_spinner=False, max_entries=32)
def layer_view(_ctx: Context, model: str, text: str) -> LayerView:
    return _ctx.collection.layers(text)


@st.cache_data(show_spinner=False, max_entries=16)
def attention_view(_ctx: Context, model: str, text: str) -> AttentionView:
    return _ctx.collection.attention(text)


def chosen_layer_view(ctx: Context, text: str) -> tuple[TokenView, int]:
    """The token view at the layer picked on the page (the last by default: the store's) and
    that layer."""
    last = ctx.collection.layer_count
    st.session_state.setdefault("token_layer", last)
    layer = st.select_slider(
        "Layer (0: embeddings; the last is the one the store pools)",
        list(range(last + 1)),
        key="token_layer",
    )
    if layer == last:
        return token_view(ctx, ctx.fingerprint, text), layer
    return layer_view(ctx, ctx.fingerprint, text).at(layer), layer


def trajectory_section(ctx: Context, text: str) -> None:
    """One token's cosine, layer by layer, to its own last-layer vector and to the others."""
    view = layer_view(ctx, ctx.fingerprint, text)
    labels = [f"{i}: {token}" for i, token in enumerate(view.tokens)]
    if st.session_state.get("token_position", len(labels)) >= len(labels):  # a shorter text
        st.session_state["token_position"] = min(1, len(labels) - 1)
    position = st.selectbox(
        "Trajectory of the token",
        range(len(labels)),
        format_func=labels.__getitem__,
        key="token_position",
    )
    path = view.trajectory(position)
    st.altair_chart(  # one under the other: each as wide as the page
        layer_charts.trajectory(path["to_final"], path["to_others"], view.tokens[position]),
        width="stretch",
    )
    shown = slice(0, TRAJECTORY_TOKENS)
    st.altair_chart(
        charts.heatmap(
            path["to_each"][:, shown],
            [f"layer {layer}" for layer in range(len(path["to_each"]))],
            view.tokens[shown],
            f"cosine of “{view.tokens[position]}” to each token, layer by layer",
        ),
        width="stretch",
    )


def attention_section(ctx: Context, text: str) -> None:
    """Attention of one layer and head (or their average) as a heatmap and as lines."""
    if not st.toggle("Show attention (one extra pass with eager attention)", key="token_attention"):
        return
    view = attention_view(ctx, ctx.fingerprint, text)
    layers, heads = view.weights.shape[:2]
    left, right = st.columns(2)
    layer = left.selectbox("Attention layer", range(1, layers + 1), key="token_att_layer")
    head = right.selectbox("Head", [AVERAGE, *range(1, heads + 1)], key="token_att_head")
    weights = view.of(layer - 1, None if head == AVERAGE else head - 1)
    first = 0
    if len(view.tokens) > ATTENTION_WINDOW:
        last_start = len(view.tokens) - ATTENTION_WINDOW
        if st.session_state.get("token_att_from", 0) > last_start:  # a shorter text
            st.session_state["token_att_from"] = last_start
        first = st.slider(
            f"Attention shows {ATTENTION_WINDOW} of the {len(view.tokens)} positions, from",
            0,
            last_start,
            key="token_att_from",
        )
    shown = slice(first, first + ATTENTION_WINDOW)
    tokens, part = view.tokens[shown], weights[shown, shown]
    which = "heads averaged" if head == AVERAGE else f"head {head}"
    st.caption(
        f"Layer {layer}, {which}: row i is how position i spreads its attention over the "
        "window (each row of the whole window sums to 1). Lines: each token's strongest "
        f"{layer_charts.LINES_PER_TOKEN} targets of at least {layer_charts.LINE_FLOOR}."
    )
    st.altair_chart(
        charts.heatmap(part, tokens, tokens, "attention: from (row) → to (column)"),
        width="stretch",
    )
    st.altair_chart(
        layer_charts.attention_lines(part, tokens, "strongest attention of each token"),
        width="stretch",
    )
