"""The Token explorer's look through the model: any layer's vectors, a token's trajectory
through the layers, and the attention weights of the window (one eager pass, only when asked)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from indexer.embedding.attention import AttentionView
from indexer.embedding.layers import LayerView
from indexer.embedding.views import TokenView
from search_ui import charts, layer_charts
from search_ui.context import model_key, token_view
from search_ui.second_model import Shown

if TYPE_CHECKING:
    from indexer.workbench import Workbench

ATTENTION_WINDOW = 128  # positions drawn at once in the attention charts
AVERAGE = "average of the heads"
TRAJECTORY_TOKENS = 64  # tokens in the layer x token cosine map


@st.cache_data(show_spinner=False, max_entries=32)
def layer_view(_bench: Workbench, model: str, text: str) -> LayerView:
    return _bench.layers(text)


@st.cache_data(show_spinner=False, max_entries=16)
def attention_view(_bench: Workbench, model: str, text: str) -> AttentionView:
    return _bench.attention(text)


def chosen_layer_view(shown: Shown, text: str) -> tuple[TokenView, int]:
    """The token view at the layer picked on the page (the last by default: the pooled one) and
    that layer."""
    bench, key = shown.bench, "token_layer" + shown.key
    last = bench.layer_count
    if st.session_state.get(key, last + 1) > last:  # new, or a model with fewer layers
        st.session_state[key] = last
    layer = st.select_slider(
        "Layer (0: embeddings; the last is the one the store pools)",
        list(range(last + 1)),
        key=key,
    )
    if layer == last:
        return token_view(bench, model_key(bench), text), layer
    return layer_view(bench, model_key(bench), text).at(layer), layer


def trajectory_section(shown: Shown, text: str) -> None:
    """One token's cosine, layer by layer, to its own last-layer vector and to the others."""
    view = layer_view(shown.bench, model_key(shown.bench), text)
    labels = [f"{i}: {token}" for i, token in enumerate(view.tokens)]
    key = "token_position" + shown.key
    if st.session_state.get(key, len(labels)) >= len(labels):  # a shorter text
        st.session_state[key] = min(1, len(labels) - 1)
    position = st.selectbox(
        "Trajectory of the token",
        range(len(labels)),
        format_func=labels.__getitem__,
        key=key,
    )
    path = view.trajectory(position)
    st.altair_chart(  # one under the other: each as wide as the page
        layer_charts.trajectory(
            path["to_final"], path["to_others"], view.tokens[position], shown.title
        ),
        width="stretch",
    )
    drawn = slice(0, TRAJECTORY_TOKENS)
    st.altair_chart(
        charts.heatmap(
            path["to_each"][:, drawn],
            [f"layer {layer}" for layer in range(len(path["to_each"]))],
            view.tokens[drawn],
            f"cosine of “{view.tokens[position]}” to each token, layer by layer{shown.title}",
        ),
        width="stretch",
    )


def attention_section(shown: Shown, text: str) -> None:
    """Attention of one layer and head (or their average) as a heatmap and as lines."""
    asked = "Show attention (one extra pass with eager attention)"
    if not st.toggle(asked, key="token_attention" + shown.key):
        return
    view = attention_view(shown.bench, model_key(shown.bench), text)
    layers, heads = view.weights.shape[:2]
    left, right = st.columns(2)
    layer_key, head_key = "token_att_layer" + shown.key, "token_att_head" + shown.key
    if st.session_state.get(layer_key, 1) > layers:  # a second model with fewer layers
        st.session_state[layer_key] = 1
    if st.session_state.get(head_key, AVERAGE) not in (AVERAGE, *range(1, heads + 1)):
        st.session_state[head_key] = AVERAGE
    layer = left.selectbox("Attention layer", range(1, layers + 1), key=layer_key)
    head = right.selectbox("Head", [AVERAGE, *range(1, heads + 1)], key=head_key)
    weights = view.of(layer - 1, None if head == AVERAGE else head - 1)
    first = 0
    if len(view.tokens) > ATTENTION_WINDOW:
        last_start = len(view.tokens) - ATTENTION_WINDOW
        from_key = "token_att_from" + shown.key
        if st.session_state.get(from_key, 0) > last_start:  # a shorter text
            st.session_state[from_key] = last_start
        first = st.slider(
            f"Attention shows {ATTENTION_WINDOW} of the {len(view.tokens)} positions, from",
            0,
            last_start,
            key=from_key,
        )
    drawn = slice(first, first + ATTENTION_WINDOW)
    tokens, part = view.tokens[drawn], weights[drawn, drawn]
    which = "heads averaged" if head == AVERAGE else f"head {head}"
    st.caption(
        f"Layer {layer}, {which}: row i is how position i spreads its attention over the "
        "window (each row of the whole window sums to 1). Lines: each token's strongest "
        f"{layer_charts.LINES_PER_TOKEN} targets of at least {layer_charts.LINE_FLOOR}."
    )
    st.altair_chart(
        charts.heatmap(part, tokens, tokens, f"attention: from (row) → to (column){shown.title}"),
        width="stretch",
    )
    st.altair_chart(
        layer_charts.attention_lines(
            part, tokens, f"strongest attention of each token{shown.title}"
        ),
        width="stretch",
    )
