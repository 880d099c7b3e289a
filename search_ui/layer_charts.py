"""Charts of the model's insides (Altair): a token's trajectory through the layers and attention
drawn as lines between tokens."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from search_ui.charts import LABEL_PX, ROW_PX

LINES_PER_TOKEN = 3  # strongest attention targets drawn from each token
LINE_FLOOR = 0.05  # weights below this are not drawn


def trajectory(
    to_final: np.ndarray, to_others: np.ndarray, token: str, title_end: str = ""
) -> alt.Chart:
    """Per layer: the token's cosine to its own last-layer vector and its mean cosine to the
    other tokens (`title_end` ends the title: which model)."""
    layers = np.arange(len(to_final))
    frame = pd.DataFrame(
        {
            "layer": np.concatenate([layers, layers]),
            "cosine": np.concatenate([to_final, to_others]),
            "to": ["its own last-layer vector"] * len(layers)
            + ["the other tokens (mean)"] * len(layers),
        }
    )
    return (
        alt.Chart(frame, title=f"“{token}” through the layers (0: embeddings){title_end}")
        .mark_line(point=True)
        .encode(
            x=alt.X("layer:O"),
            y=alt.Y("cosine:Q", scale=alt.Scale(domain=[min(0.0, float(frame.cosine.min())), 1])),
            color=alt.Color("to:N", title="cosine to"),
            tooltip=["layer", "to", alt.Tooltip("cosine:Q", format=".3f")],
        )
    )


def attention_lines(weights: np.ndarray, tokens: list[str], title: str) -> alt.Chart:
    """Tokens in two columns, a line from each token (left) to the tokens it attends to most
    (right), as opaque as the weight."""
    rows = []
    for source in range(len(tokens)):
        for target in np.argsort(-weights[source])[:LINES_PER_TOKEN]:
            weight = float(weights[source, target])
            if weight >= LINE_FLOOR:
                rows.append((source, int(target), weight, tokens[source], tokens[int(target)]))
    lines = pd.DataFrame(rows, columns=["from", "to", "weight", "token", "attends to"])
    lines["x"], lines["x2"] = 0.0, 1.0
    words = pd.DataFrame(
        {
            "position": list(range(len(tokens))) * 2,
            "token": tokens * 2,
            "x": [0.0] * len(tokens) + [1.0] * len(tokens),
            "align": ["right"] * len(tokens) + ["left"] * len(tokens),
        }
    )
    height = max(200, ROW_PX * len(tokens))
    y_scale = alt.Scale(domain=[-0.5, len(tokens) - 0.5], reverse=True)
    x_scale = alt.Scale(domain=[-0.4, 1.4])
    drawn = (
        alt.Chart(lines)
        .mark_rule(color="#2563eb")
        .encode(
            x=alt.X("x:Q", scale=x_scale, axis=None),
            x2="x2:Q",
            y=alt.Y("from:Q", scale=y_scale, axis=None),
            y2="to:Q",
            opacity=alt.Opacity("weight:Q", scale=alt.Scale(domain=[0, 1]), legend=None),
            tooltip=["token", "attends to", alt.Tooltip("weight:Q", format=".3f")],
        )
    )
    left = (
        alt.Chart(words[words.x == 0.0])
        .mark_text(align="right", dx=-4, fontSize=LABEL_PX)
        .encode(x=alt.X("x:Q", scale=x_scale), y=alt.Y("position:Q", scale=y_scale), text="token")
    )
    right = (
        alt.Chart(words[words.x == 1.0])
        .mark_text(align="left", dx=4, fontSize=LABEL_PX)
        .encode(x=alt.X("x:Q", scale=x_scale), y=alt.Y("position:Q", scale=y_scale), text="token")
    )
    return alt.layer(drawn, left, right, title=title).properties(height=height)
