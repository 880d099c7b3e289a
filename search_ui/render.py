"""HTML for the app. Every piece of document text goes through `html.escape` and is
shown with `st.html`, which does not read Markdown: our own marks (chunk boundaries, highlights)
are the only markup. Colours are translucent over the theme's own, so they work in light and dark
mode."""

from __future__ import annotations

import html
import json
import re

import numpy as np

from store.function_words import FUNCTION_WORDS
from store.results import Hit

MARK_STYLE = "background:rgba(250,204,21,0.35);color:inherit;padding:0 1px;border-radius:2px"
BEST_STYLE = "background:rgba(250,204,21,0.25)"
CHUNK_STYLE = "color:rgba(59,130,246,0.95);font-weight:600"
PAGE_STYLE = (  # a page mark: a line of its own under a dashed rule, never run into the text
    "display:block;margin:0.8em 0 0.4em;padding-top:0.2em;"
    "border-top:1px dashed rgba(127,127,127,0.5);font-size:0.8em;opacity:0.7"
)
MUTED_STYLE = "opacity:0.7"
WRAP_STYLE = "overflow-wrap:anywhere"  # a long identifier wraps instead of widening a phone's page
BOX_STYLE = f"white-space:pre-wrap;line-height:1.5;font-family:inherit;color:inherit;{WRAP_STYLE}"
# Streamlit's "Deploy" button is meaningless for a local app; less empty space above the page
APP_STYLE = (
    "<style>[data-testid='stAppDeployButton']{display:none}"
    "[data-testid='stMainBlockContainer']{padding-top:1.5rem}</style>"
)
# drawn first in a run that switches pages: the previous page's elements, faded while the new
# page is computed, are hidden at once instead
HIDE_STALE = "<style>[data-testid='stElementContainer'][data-stale='true']{display:none}</style>"
BEST_CHUNK = "best-chunk"
PHONE_WIDTH = 768  # below this Streamlit lays the sidebar over the page


def escaped(text: str | None) -> str:
    """Text as inert HTML (tags show as text)."""
    return html.escape(text or "")


def block(inner_html: str) -> str:
    """Wrap already-escaped HTML so that markdown leaves it alone."""
    return f'<div style="{BOX_STYLE}">{inner_html}</div>'


def query_terms(query: str) -> list[str]:
    """The query's words worth marking, longest first: not the function words (the, and, for,
    with) that every text holds."""
    words = {w for w in re.findall(r"\w+", query.lower()) if len(w) > 2}
    return sorted(words - FUNCTION_WORDS, key=len, reverse=True)


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


def looks_like_code(text: str) -> bool:
    """Whether a text reads best in a fixed-width font: a fifth of its lines or more indented
    (code, tables laid out with spaces)."""
    lines = [line for line in text.splitlines() if line.strip()]
    indented = sum(line.startswith(("    ", "\t", ">>> ")) for line in lines)
    return bool(lines) and indented >= CODE_SHARE * len(lines)


CODE_SHARE = 0.2
MONO_STYLE = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:0.9em"


def chunked_text(
    text: str,
    chunks: list[dict],
    best: int | None,
    pages: list[int] | None = None,
    fixed_width: bool = False,
) -> str:
    """The whole text with a marker at each chunk start and, in a paginated document, a line
    where each page starts; overlaps underlined, and the best chunk highlighted; in a fixed-width
    font when asked (code)."""
    page_at: dict[int, list[int]] = {}
    for number, offset in enumerate(pages or [], start=1):
        page_at.setdefault(offset, []).append(number)
    edges = (*(c.start for c in chunks), *(c.end for c in chunks), *page_at)
    cuts = sorted({0, len(text), *edges})
    starts = {c.start: c.ord for c in chunks}
    parts = []
    for left, right in zip(cuts, [*cuts[1:], None], strict=True):
        for number in page_at.get(left, []):
            parts.append(f'<span style="{PAGE_STYLE}">p. {number}</span>')
        if right is None:
            break
        if left in starts:
            anchor = f' id="{BEST_CHUNK}"' if starts[left] == best else ""
            parts.append(f'<sup{anchor} style="{CHUNK_STYLE}">[chunk {starts[left]}]</sup>')
        covering = [c for c in chunks if c.start <= left and right <= c.end]
        style = []
        if any(c.ord == best for c in covering):
            style.append(BEST_STYLE)
        if len(covering) > 1:
            style.append("text-decoration:underline dotted rgba(59,130,246,0.95)")
        piece = escaped(text[left:right])
        parts.append(f'<span style="{";".join(style)}">{piece}</span>' if style else piece)
    inner = "".join(parts)
    return block(f'<div style="{MONO_STYLE}">{inner}</div>' if fixed_width else inner)


def scroll_to_best(key: str) -> str:
    """Our own script (no document text in it): scroll the best chunk's marker into view.
    `key` makes it differ per document, so that it runs again for each one."""
    return (
        f"<script>/* {escaped(key)} */ setTimeout(() => document.getElementById("
        f"'{BEST_CHUNK}')?.scrollIntoView({{block: 'center'}}), 300);</script>"
    )


def hit_heading(rank: int, hit: Hit, fused: bool, link: str) -> str:
    """A result's first line: rank and title (a link to `link`, the document), then, muted, how
    it ranked (each ranking's rank when `fused`, else its score), its id and page; every exact
    score in the tooltip."""
    exact = " · ".join(
        f"{name}: rank {part['rank']}, score {part['score']:.6g}"
        for name, part in hit.parts.items()
    )
    if fused:
        ranked = " · ".join(f"{name} #{part['rank']}" for name, part in hit.parts.items())
    else:
        ranked = " · ".join(_score(name, part["score"]) for name, part in hit.parts.items())
    where = " · ".join(escaped(x) for x in (hit.doc_id, hit.page_label) if x)
    return (
        f'<div style="{WRAP_STYLE}"><b><a href="{escaped(link)}" target="_self">'
        f"{rank}. {escaped(hit.title or hit.doc_id)}</a></b> "
        f'<span title="{escaped(exact)}" style="{MUTED_STYLE};font-size:0.85em">'
        f"{escaped(ranked)} · {where}</span></div>"
    )


def _score(mode: str, score: float) -> str:
    """A ranking's own score in words: a cosine to 3 places, BM25 to one (a word most documents
    hold weighs almost nothing: said so instead of 2.04e-06)."""
    if mode != "lexical":
        return f"cosine {score:.3f}"
    return f"BM25 {score:.1f}" if score >= 0.05 else "BM25 ≈ 0 (words most documents hold)"


def hit_card(rank: int, hit: Hit, fused: bool, snippet_html: str, link: str) -> str:
    """A result's heading (its title a link to `link`), its snippet (already escaped) and its
    metadata in one block."""
    card = hit_heading(rank, hit, fused, link) + block(snippet_html)
    return card + (metadata_line(hit.metadata) if hit.metadata else "")


def metadata_line(metadata: dict) -> str:
    """Metadata as one muted line of key: value pairs as a person reads them, every key and value
    escaped."""
    pairs = " · ".join(
        f"{escaped(str(key))}: {escaped(_short(readable(str(key), value), 60))}"
        for key, value in metadata.items()
    )
    return f'<div style="{MUTED_STYLE};font-size:0.85em;{WRAP_STYLE}">{pairs}</div>'


ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
SIZE_KEYS = frozenset({"bytes", "size"})


def readable(key: str, value: object) -> str:
    """A metadata value as a person reads it: lists joined, a timestamp as its date (and minute
    when not midnight), a size in bytes as kB/MB."""
    if isinstance(value, list):
        return ", ".join(readable(key, item) for item in value)
    if isinstance(value, str) and ISO_TIME.match(value):
        return value[:10] if value[11:19] in ("00:00:00", "00:00") else value[:16].replace("T", " ")
    if key.lower() in SIZE_KEYS and isinstance(value, int) and not isinstance(value, bool):
        return _size(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _size(count: int) -> str:
    size, unit = float(count), "bytes"
    for bigger in ("kB", "MB", "GB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{count:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"


def focus_query() -> str:
    """Our own script: put the cursor in the query box when nothing else has it (a first visit),
    as soon as the box is there, without scrolling to it (Back restores where the list was)."""
    return (
        "<script>(function focusQuery(tries) {"
        " const box = document.querySelector('input[aria-label=\"Query\"]');"
        " const free = !document.activeElement || document.activeElement === document.body;"
        " if (box && free) { box.focus({preventScroll: true}); } else if (!box && tries > 0) {"
        " setTimeout(() => focusQuery(tries - 1), 100); } })(20);</script>"
    )


def remember_scroll(key: str) -> str:
    """Our own script for the Search page, `key` a hex digest naming its list of results: the
    scroll position is saved whenever the user clicks or types there (before a click opens
    another page) and restored when the list is drawn again (Back, or back to results). The page
    goes on drawing after this script (a redrawn container, panels opening, the list growing):
    each change in the page puts the saved place back, until the user scrolls, clicks or types
    (from then on their place is saved, even when the saved one was never reached), or leaves the
    Search page."""
    if not re.fullmatch(r"[0-9a-f]+", key):
        raise ValueError(f"not a hex digest: {key!r}")
    return (
        f"<script>(function () {{ const key = 'semsearch-scroll:{key}';"
        " const scroller = () => {"
        " let box = document.querySelector(\"[data-testid='stMainBlockContainer']\");"
        " while (box && box !== document.body && !['auto', 'scroll'].includes("
        "getComputedStyle(box).overflowY)) { box = box.parentElement; }"
        " return (!box || box === document.body) ? document.scrollingElement : box; };"
        " const onSearch = () => "
        "(new URLSearchParams(location.search).get('page') || 'Search') === 'Search';"
        " window.semsearchScroll = null;"  # nothing saved until the position is restored
        " if (!window.semsearchScrollSaver) { window.semsearchScrollSaver = () => {"
        " const at = window.semsearchScroll;"
        " if (at && onSearch()) { sessionStorage.setItem(at, String(scroller().scrollTop)); }"
        " };"
        " document.addEventListener('pointerdown', window.semsearchScrollSaver, true);"
        " document.addEventListener('keydown', window.semsearchScrollSaver, true); }"
        " window.semsearchRestoring?.abort();"  # an earlier drawing's, if still waiting
        " const saved = Number(sessionStorage.getItem(key) || 0);"
        " if (saved <= 0) { window.semsearchScroll = key; return; }"
        " const restoring = new AbortController();"
        " window.semsearchRestoring = restoring;"
        " const keeper = new MutationObserver(() => restore());"
        " restoring.signal.addEventListener('abort', () => keeper.disconnect());"
        " const stop = () => { restoring.abort();"  # the user acts: the place is theirs now
        " if (onSearch()) { window.semsearchScroll = key; window.semsearchScrollSaver(); } };"
        " for (const kind of ['wheel', 'touchmove', 'keydown', 'pointerdown']) {"
        " document.addEventListener(kind, stop, {capture: true, signal: restoring.signal}); }"
        " function restore() {"
        " if (!onSearch()) { restoring.abort(); return; }"
        " const box = scroller();"
        " if (saved > box.scrollHeight - box.clientHeight) { return; }"  # not tall enough yet
        " if (box.scrollTop !== saved) { box.scrollTop = saved; }"
        " window.semsearchScroll = key; }"
        " keeper.observe(document.body, {childList: true, subtree: true, attributes: true});"
        " restore();"
        " })();</script>"
    )


def close_sidebar_on_phone(page: str) -> str:
    """Our own script: on a narrow screen, where the sidebar lies over the page, close it once a
    page is chosen there. `page` makes it differ per page, so that it runs for each choice."""
    return (
        f"<script>/* {escaped(page)} */ if (window.innerWidth < {PHONE_WIDTH}) {{"
        " document.querySelector(\"[data-testid='stSidebarCollapseButton'] button\")"
        "?.click(); }</script>"
    )


def metadata_table(metadata: dict) -> str:
    """A compact key / value table, every key and value escaped."""
    rows = "".join(
        f'<tr><td style="{MUTED_STYLE};padding:0 8px 0 0">{escaped(str(key))}</td>'
        f"<td>{escaped(_short(readable(str(key), value)))}</td></tr>"
        for key, value in metadata.items()
    )
    return f'<table style="font-size:0.85em;border:none">{rows}</table>'


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + " …"
