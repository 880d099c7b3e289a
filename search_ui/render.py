"""HTML and charts for the app. Every piece of document text goes through `html.escape`."""

from __future__ import annotations

import html
import re

import altair as alt
import numpy as np
import pandas as pd

MARK_STYLE = "background:#fde68a;padding:0 1px;border-radius:2px"
BOX_STYLE = "white-space:pre-wrap;line-height:1.6"


def escaped(text: str | None) -> str:
    """Text as inert HTML (tags show as text)."""
    return html.escape(text or "")


def block(inner_html: str) -> str:
    """Wrap already-escaped HTML so that markdown leaves it alone."""
    return f'<div style="{BOX_STYLE}">{inner_html}</div>'


def query_terms(query: str) -> list[str]:
    return sorted(
        {w for w in re.findall(r"\w+", query.lower()) if len(w) > 2}, key=len, reverse=True
    )


def highlight(text: str, query: str, limit: int | None = 400) -> str:
    """Escaped snippet of `text` with the query's words (and words starting with them) marked."""
    text = " ".join(text.split())
    if limit and len(text) > limit:
        text = text[:limit] + " …"
    terms = query_terms(query)
    if not terms:
        return escaped(text)
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\w*", re.I)
    pieces, last = [], 0
    for match in pattern.finditer(text):
        pieces += [
            escaped(text[last : match.start()]),
            f'<mark style="{MARK_STYLE}">{escaped(match.group(0))}</mark>',
        ]
        last = match.end()
    pieces.append(escaped(text[last:]))
    return "".join(pieces)


def shaded_tokens(tokens: list[str], shares: np.ndarray) -> str:
    """Each token as a chip shaded by its share: green for positive, red for negative."""
    peak = float(np.abs(shares).max()) or 1.0
    chips = []
    for token, share in zip(tokens, shares, strict=True):
        alpha = abs(float(share)) / peak
        colour = f"rgba(22,163,74,{alpha:.2f})" if share >= 0 else f"rgba(220,38,38,{alpha:.2f})"
        chips.append(
            f'<span title="{float(share):+.4f}" style="background:{colour};padding:1px 3px;'
            f'margin:1px;border-radius:3px;display:inline-block">{escaped(token)}</span>'
        )
    return "<div>" + "".join(chips) + "</div>"


def chunked_text(text: str, chunks: list[dict], best: int | None) -> str:
    """The whole text with a marker at each chunk start, overlaps underlined, and the best
    chunk highlighted."""
    cuts = sorted({0, len(text), *(c["start"] for c in chunks), *(c["end"] for c in chunks)})
    starts = {c["start"]: c["ord"] for c in chunks}
    parts = []
    for left, right in zip(cuts, cuts[1:], strict=False):
        if left in starts:
            parts.append(f'<sup style="color:#2563eb;font-weight:600">[chunk {starts[left]}]</sup>')
        covering = [c for c in chunks if c["start"] <= left and right <= c["end"]]
        style = []
        if any(c["ord"] == best for c in covering):
            style.append("background:#fef3c7")
        if len(covering) > 1:
            style.append("text-decoration:underline dotted #2563eb")
        piece = escaped(text[left:right])
        parts.append(f'<span style="{";".join(style)}">{piece}</span>' if style else piece)
    return block("".join(parts))


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows (zeros when there are fewer than 2 rows)."""
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:2].T
    return np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))


def heatmap(matrix: np.ndarray, rows: list[str], columns: list[str], title: str) -> alt.Chart:
    """A labelled heatmap; labels that repeat (tokens) are numbered so each stays distinct."""
    row_labels, column_labels = _distinct(rows), _distinct(columns)
    frame = pd.DataFrame(
        [
            (r, c, float(matrix[i, j]))
            for i, r in enumerate(row_labels)
            for j, c in enumerate(column_labels)
        ],
        columns=["row", "column", "value"],
    )
    return (
        alt.Chart(frame, title=title)
        .mark_rect()
        .encode(
            x=alt.X("column:N", sort=column_labels, title=None),
            y=alt.Y("row:N", sort=row_labels, title=None),
            color=alt.Color(
                "value:Q", scale=alt.Scale(scheme="redblue", domainMid=0, reverse=True)
            ),
            tooltip=["row", "column", alt.Tooltip("value:Q", format=".3f")],
        )
    )


def _distinct(labels: list[str]) -> list[str]:
    if len(set(labels)) == len(labels):
        return labels
    return [f"{i}:{label}" for i, label in enumerate(labels)]


def scatter(
    points: np.ndarray, labels: list[str], colour: list[str] | None, title: str
) -> alt.Chart:
    frame = pd.DataFrame(
        {
            "x": points[:, 0],
            "y": points[:, 1],
            "label": labels,
            "group": colour or ["all"] * len(labels),
        }
    )
    base = alt.Chart(frame, title=title).encode(x="x:Q", y="y:Q", tooltip=["label", "group"])
    dots = base.mark_circle(size=60).encode(color="group:N")
    return (
        dots + base.mark_text(dy=-9, fontSize=10).encode(text="label")
        if len(labels) <= 60
        else dots
    )


def histogram(scores: list[float], title: str) -> alt.Chart:
    frame = pd.DataFrame({"score": scores})
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(x=alt.X("score:Q", bin=alt.Bin(maxbins=40)), y="count()")
    )
