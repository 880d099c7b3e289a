"""HTML for the app. Every piece of document text goes through `html.escape` and is
shown with `st.html`, which does not read Markdown: our own marks (chunk boundaries, highlights)
are the only markup. Colours are translucent over the theme's own, so they work in light and dark
mode."""

from __future__ import annotations

import html
import json
import re

import numpy as np

MARK_STYLE = "background:rgba(250,204,21,0.35);color:inherit;padding:0 1px;border-radius:2px"
BEST_STYLE = "background:rgba(250,204,21,0.25)"
CHUNK_STYLE = "color:rgba(59,130,246,0.95);font-weight:600"
PAGE_STYLE = (
    "display:block;margin:0.6em 0 0.2em;border-top:1px dashed rgba(127,127,127,0.5);"
    "font-size:0.8em;opacity:0.7"
)
MUTED_STYLE = "opacity:0.7"
BOX_STYLE = "white-space:pre-wrap;line-height:1.6;font-family:inherit;color:inherit"
# Streamlit's "Deploy" button, meaningless for a local app
HIDE_DEPLOY = "<style>[data-testid='stAppDeployButton']{display:none}</style>"
BEST_CHUNK = "best-chunk"


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


def chunked_text(
    text: str, chunks: list[dict], best: int | None, pages: list[int] | None = None
) -> str:
    """The whole text with a marker at each chunk start and, in a paginated document, a line
    where each page starts; overlaps underlined, and the best chunk highlighted."""
    page_at: dict[int, list[int]] = {}
    for number, offset in enumerate(pages or [], start=1):
        page_at.setdefault(offset, []).append(number)
    edges = (*(c["start"] for c in chunks), *(c["end"] for c in chunks), *page_at)
    cuts = sorted({0, len(text), *edges})
    starts = {c["start"]: c["ord"] for c in chunks}
    parts = []
    for left, right in zip(cuts, [*cuts[1:], None], strict=True):
        for number in page_at.get(left, []):
            parts.append(f'<span style="{PAGE_STYLE}">p. {number}</span>')
        if right is None:
            break
        if left in starts:
            anchor = f' id="{BEST_CHUNK}"' if starts[left] == best else ""
            parts.append(f'<sup{anchor} style="{CHUNK_STYLE}">[chunk {starts[left]}]</sup>')
        covering = [c for c in chunks if c["start"] <= left and right <= c["end"]]
        style = []
        if any(c["ord"] == best for c in covering):
            style.append(BEST_STYLE)
        if len(covering) > 1:
            style.append("text-decoration:underline dotted rgba(59,130,246,0.95)")
        piece = escaped(text[left:right])
        parts.append(f'<span style="{";".join(style)}">{piece}</span>' if style else piece)
    return block("".join(parts))


def scroll_to_best(key: str) -> str:
    """Our own script (no document text in it): scroll the best chunk's marker into view.
    `key` makes it differ per document, so that it runs again for each one."""
    return (
        f"<script>/* {escaped(key)} */ setTimeout(() => document.getElementById("
        f"'{BEST_CHUNK}')?.scrollIntoView({{block: 'center'}}), 300);</script>"
    )


def metadata_table(metadata: dict) -> str:
    """A compact key / value table, every key and value escaped."""
    rows = "".join(
        f'<tr><td style="{MUTED_STYLE};padding:0 8px 0 0">{escaped(str(key))}</td>'
        f"<td>{escaped(_short(value))}</td></tr>"
        for key, value in metadata.items()
    )
    return f'<table style="font-size:0.85em;border:none">{rows}</table>'


def _short(value: object, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + " …"
