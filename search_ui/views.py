"""The app's pages. They only present: searching, explaining and embedding are the Collection's."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import streamlit as st

from indexer.collection import Collection
from indexer.comparison import cosine_matrix
from indexer.embedder import Explanation, TokenView
from indexer.settings import SEARCH_MODES
from search_ui import render
from store.errors import SemsearchError
from store.filters import Filter
from store.ranking import RRF_K
from store.results import Hit

DEFAULT_TEXT = "Tokenization splits unbelievably rare words into wordpieces."
HISTOGRAM_DEPTH = 100
PAGE = 10  # results added by "Show more"
MAX_K = 200
NEIGHBOUR_SAMPLE = 200  # documents whose nearest-neighbour scores are the reference
MIN_REFERENCE = 20  # fewer reference scores than this: no statement about match strength
WEAK_SHARE = 0.05  # a best score below this share of the reference is a weak match
TOKEN_WINDOW = 64  # wordpieces shown at once in the token x token map
COLOUR_BINS = 5  # quantile bins of a numeric field on the map
COLOUR_TOP = 8  # most frequent values of a text field coloured on the map; the rest "(other)"
RRF_HELP = (
    f"hybrid score = Σ 1 / ({RRF_K} + rank) over the dense and the lexical rankings "
    "(reciprocal rank fusion): it rewards documents that rank well in both, and its size says "
    "nothing about similarity."
)
DEFAULTS = {
    "k": 10,
    "token_text": DEFAULT_TEXT,
    "compare_a": "A man is playing a guitar.",
    "compare_b": "Someone plays an instrument.",
    "map_size": 500,
}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
METADATA_WIDGET = "filter_meta."  # + the key; the title widget is filter_title
ACTIVE_FILTERS = "_active_filters"  # the widgets whose filters are set, for the URL
FIELD_NAME = re.compile(r"[\w\-]+(?:\.[\w\-]+)*")  # metadata keys a filter can name


@dataclass
class Context:
    collection: Collection
    has_model: bool  # False: the store's model cannot be loaded, only lexical search works

    @property
    def fingerprint(self) -> str:
        """What cached model outputs are keyed by, besides their texts."""
        recipe = self.collection.recipe
        return f"{recipe.model_fingerprint}/{recipe.pooling}/{recipe.chunk_tokens}"


def html(markup: str) -> None:
    """Show HTML built from escaped text, without any Markdown reading of it."""
    st.html(markup)


def select(doc_id: str, chunk_ord: int, page: str | None = None) -> None:
    st.session_state["doc_id"] = doc_id
    st.session_state["doc_input"] = doc_id
    st.session_state["doc_chunk"] = chunk_ord
    if page:
        st.session_state["page"] = page


# -- what the model says, cached per (model, text): a rerun recomputes nothing unchanged ------


@st.cache_data(show_spinner=False, max_entries=512)
def explanation(_ctx: Context, model: str, query: str, text: str) -> Explanation:
    return _ctx.collection.explain(query, text)


@st.cache_data(show_spinner=False, max_entries=64)
def token_view(_ctx: Context, model: str, text: str) -> TokenView:
    return _ctx.collection.tokens(text)


@st.cache_data(show_spinner=False, max_entries=4)
def neighbour_scores(_ctx: Context, store: str, generation: int) -> list[float]:
    """How well a typical document of this store is matched: the dense score of the nearest
    other document, for a sample of documents (their first chunk as the query)."""
    scores = []
    for row in _ctx.collection.sample(NEIGHBOUR_SAMPLE):
        hits = _ctx.collection.search("", k=2, mode="dense", vector=row["vector"])
        others = [hit.score for hit in hits if hit.doc_id != row["id"]]
        if others:
            scores.append(others[0])
    return sorted(scores)


# -- search ---------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=8)
def field_summary(
    _ctx: Context, store: str, generation: int
) -> tuple[dict[str, dict], dict[str, list]]:
    """Metadata fields and the values of the few-valued ones, once per store generation."""
    fields = {
        key: info for key, info in _ctx.collection.fields().items() if FIELD_NAME.fullmatch(key)
    }
    values = {
        key: _ctx.collection.values(key, 31)
        for key, info in fields.items()
        if info["types"] == ["text"]
    }
    return fields, values


@dataclass
class ActiveFilter:
    """Filters set by one widget, and the value that clears it."""

    widget: str
    filters: list[Filter]
    cleared: object


def filter_widgets(ctx: Context) -> list[ActiveFilter]:
    """Widgets for the metadata fields the store has; returns the filters they set. Metadata keys
    are addressed as `metadata.KEY`, so a key named like a built-in field (source) is reachable."""
    active: list[ActiveFilter] = []
    collection = ctx.collection
    fields, values = field_summary(ctx, str(collection.path), collection.generation)
    with st.expander("Filters", expanded=False):
        title = st.text_input("Title contains", key="filter_title")
        if title:
            active.append(ActiveFilter("filter_title", [Filter("title", "~", title)], ""))
        for key, info in sorted(fields.items()):
            types = set(info["types"])
            widget, field = f"{METADATA_WIDGET}{key}", f"metadata.{key}"
            chosen: list[Filter] = []
            if types <= {"integer", "real"} and info["min"] != info["max"]:
                low, high = info["min"], info["max"]
                cleared: object = (low, high)
                st.session_state.setdefault(widget, cleared)
                span = st.slider(key, low, high, key=widget)
                if span[0] > low:
                    chosen.append(Filter(field, ">=", span[0]))
                if span[1] < high:
                    chosen.append(Filter(field, "<=", span[1]))
            elif types == {"text"} and ISO_DATE.match(info["min"]) and ISO_DATE.match(info["max"]):
                first, last = (date.fromisoformat(info[end][:10]) for end in ("min", "max"))
                cleared = (first, last)
                st.session_state.setdefault(widget, cleared)
                span = st.date_input(key, min_value=first, max_value=last, key=widget)
                if len(span) == 2 and span[0] > first:
                    chosen.append(Filter(field, ">=", span[0].isoformat()))
                if len(span) == 2 and span[1] < last:
                    chosen.append(Filter(field, "<", (span[1] + timedelta(days=1)).isoformat()))
            elif types == {"text"} and info["distinct"] <= 30:
                cleared = []
                picked = st.multiselect(key, values[key], key=widget)
                if picked:
                    chosen.append(Filter(field, "in", tuple(picked)))
            elif types == {"text"}:
                cleared = ""
                text = st.text_input(f"{key} contains", key=widget)
                if text:
                    chosen.append(Filter(field, "~", text))
            if chosen:
                active.append(ActiveFilter(widget, chosen, cleared))
    return active


def clear_filter(widget: str, cleared: object) -> None:
    st.session_state[widget] = cleared


def show_active_filters(active: list[ActiveFilter]) -> None:
    """Every active filter as a button that removes it, visible whatever the panel's state."""
    if not active:
        return
    columns = st.columns(min(len(active), 4) + 1)
    columns[0].caption("Active filters:")
    for number, item in enumerate(active):
        label = " and ".join(str(f) for f in item.filters)
        columns[1 + number % 4].button(
            f"✕ {label}",
            key=f"clear_{item.widget}",
            help="Remove this filter",
            on_click=clear_filter,
            args=(item.widget, item.cleared),
        )


def more_results() -> None:
    st.session_state["k"] = min(MAX_K, int(st.session_state["k"]) + PAGE)


def search_page(ctx: Context) -> None:
    st.header("Search")
    query = st.text_input("Query", key="query", placeholder="Ask in your own words…")
    left, right = st.columns([1, 3])
    k = left.number_input("Results", min_value=1, max_value=MAX_K, key="k")
    modes = list(SEARCH_MODES) if ctx.has_model else ["lexical"]
    mode = right.radio(
        "Mode",
        modes,
        horizontal=True,
        key="mode",
        help="dense: cosine of the query's vector with each chunk's; lexical: BM25 over the "
        f"words; hybrid: {RRF_HELP}",
    )
    active = filter_widgets(ctx)
    st.session_state[ACTIVE_FILTERS] = [item.widget for item in active]
    show_active_filters(active)
    filters = [f for item in active for f in item.filters]
    if not query.strip():
        st.info("Type a query to search.")
        return
    collection = ctx.collection
    vector = collection.embed([query])[0] if mode != "lexical" else None
    hits = collection.search(query, k=int(k), mode=mode, filters=filters, vector=vector)
    if vector is not None:
        dense = collection.search(query, HISTOGRAM_DEPTH, "dense", filters, vector=vector)
        st.session_state["last_scores"] = [hit.score for hit in dense]
        st.session_state["last_query"] = query
        st.session_state["last_vector"] = vector
        st.session_state["last_hits"] = {hit.chunk_id: hit.doc_id for hit in hits}
    if not hits:
        st.warning("No document matches these filters." if filters else "No results.")
        return
    matching = collection.count(filters)
    st.caption(
        f"{len(hits)} of {matching:,} matching documents · {mode}",
        help=RRF_HELP if mode == "hybrid" else None,
    )
    if vector is not None:
        match_strength(ctx, hits)
    for rank, hit in enumerate(hits, start=1):
        show_hit(ctx, rank, hit, query, mode)
    if len(hits) < matching and int(k) < MAX_K:
        st.button(f"Show {PAGE} more", key="more", on_click=more_results)


def match_strength(ctx: Context, hits: list[Hit]) -> None:
    """Where the best dense score sits among this store's nearest-neighbour scores; a warning
    when it is below nearly all of them (the store probably holds no answer)."""
    collection = ctx.collection
    reference = neighbour_scores(ctx, str(collection.path), collection.generation)
    best = max(hit.parts.get("dense", {}).get("score", hit.score) for hit in hits)
    if len(reference) < MIN_REFERENCE:
        return
    below = share_below(best, reference)
    text = (
        f"best dense score {best:.3f}: higher than {below:.0%} of the scores this store's "
        f"documents get from their nearest neighbour (median {reference[len(reference) // 2]:.3f})"
    )
    if below < WEAK_SHARE:
        st.warning(f"Weak match — {text}. The store may hold no answer to this query.")
    else:
        st.caption(text.capitalize() + ".")


def share_below(score: float, reference: list[float]) -> float:
    """The share of the sorted `reference` scores that are lower than `score`."""
    return float(np.searchsorted(reference, score)) / len(reference)


def show_hit(ctx: Context, rank: int, hit: Hit, query: str, mode: str) -> None:
    with st.container(border=True):
        parts = " · ".join(
            f"{name} #{part['rank']} ({part['score']:.4f})" for name, part in hit.parts.items()
        )
        html(
            f"<b>{rank}. {render.escaped(hit.title or hit.doc_id)}</b> "
            f'<span style="{render.MUTED_STYLE};font-size:0.85em">score {hit.score:.4f}'
            f"{' · ' + render.escaped(parts) if mode == 'hybrid' else ''} · "
            f"{render.escaped(hit.doc_id)} · chunk {hit.chunk_ord} [{hit.start}:{hit.end}]"
            "</span>"
        )
        html(render.block(render.highlight(hit.text, query)))
        if hit.metadata:
            html(render.metadata_table(hit.metadata))
        left, right = st.columns([1, 4])
        left.button(
            "Open document",
            key=f"open_{rank}",
            on_click=select,
            args=(hit.doc_id, hit.chunk_ord, "Document"),
        )
        if ctx.has_model and right.toggle("Why it matched", key=f"why_{rank}"):
            why_it_matched(ctx, hit, query)


def why_it_matched(ctx: Context, hit: Hit, query: str) -> None:
    """Each token of the chunk shaded by its exact share of the cosine with the query."""
    explained = explanation(ctx, ctx.fingerprint, query, hit.text)
    html(render.shaded_tokens(explained.tokens, explained.shares))
    stored = hit.parts.get("dense", {}).get("score")
    st.caption(
        f"token shares sum to {explained.shares.sum():.4f} = cosine {explained.cosine:.4f}"
        + (f" (stored chunk score {stored:.4f})" if stored is not None else "")
    )
    top = np.argsort(-explained.shares)[:10]
    st.dataframe(
        pd.DataFrame(
            {
                "token": [explained.tokens[i] for i in top],
                "share": [float(explained.shares[i]) for i in top],
            }
        ),
        hide_index=True,
    )


# -- document -------------------------------------------------------------------------------


def document_page(ctx: Context) -> None:
    st.header("Document")
    st.session_state.setdefault("doc_input", st.session_state.get("doc_id", ""))
    doc_id = st.text_input("Document id", key="doc_input")
    if not doc_id:
        st.info("Open a document from the search results, or type its id.")
        return
    doc = ctx.collection.document(doc_id)
    if doc is None:
        st.warning(f"No document with id {doc_id!r}.")
        return
    best = st.session_state.get("doc_chunk") if doc_id == st.session_state.get("doc_id") else None
    html(f"<h3>{render.escaped(doc['title'] or doc_id)}</h3>")
    left, right = st.columns(2)
    left.caption("Id (copy with the button at its right)")
    left.code(doc_id, language=None)
    if doc["source"]:
        right.caption("Source")
        right.code(doc["source"], language=None)
    st.caption(
        f"{len(doc['chunks'])} chunks · {sum(c['n_tokens'] for c in doc['chunks'])} "
        f"wordpieces · indexed {doc['indexed_at']}"
    )
    if doc["metadata"]:
        html(render.metadata_table(doc["metadata"]))
    if best is not None:
        st.caption(f"Highlighted: chunk {best}, the best match for the last query.")
    html(render.chunked_text(doc["text"], doc["chunks"], best))
    if best is not None:
        st.html(render.scroll_to_best(f"{doc_id}#{best}"), unsafe_allow_javascript=True)


# -- tokens ---------------------------------------------------------------------------------


def token_table(view: TokenView, level: str) -> tuple[list[str], np.ndarray, pd.DataFrame]:
    if level == "word":
        words = view.words()
        labels, offsets, vectors = words.words, words.offsets, words.vectors
    else:
        labels, offsets, vectors = view.tokens, view.offsets, view.vectors
    frame = pd.DataFrame(
        {
            "token": labels,
            "start": [a for a, _ in offsets],
            "end": [b for _, b in offsets],
            "norm": np.linalg.norm(vectors, axis=1),
        }
    )
    return labels, vectors, frame


def token_page(ctx: Context) -> None:
    st.header("Token explorer")
    if not ctx.has_model:
        st.error("The store's model is not available.")
        return
    source = st.radio(
        "Text", ["Type a text", "Chunk of the opened document"], horizontal=True, key="token_source"
    )
    if source == "Type a text":
        text = st.text_area("Text", key="token_text")
    else:
        text = opened_chunk_text(ctx)
        if text is None:
            st.info("Open a document from the search results first.")
            return
        html(render.block(render.escaped(text)))
    if not text.strip():
        st.info("Type some text to see its tokens.")
        return
    level = st.radio("Level", ["wordpiece", "word"], horizontal=True, key="token_level")
    try:
        view = token_view(ctx, ctx.fingerprint, text)
    except SemsearchError as error:
        st.error(str(error))
        return
    labels, vectors, frame = token_table(view, level)
    st.caption(
        f"{len(view.tokens)} wordpieces ([CLS] and [SEP] included) · {len(view.words().words)}"
        f" words · {vectors.shape[1]} dimensions (last hidden layer)"
    )
    whole = st.checkbox("Show whole vectors", key="token_whole")
    shown = vectors.shape[1] if whole else min(8, vectors.shape[1])
    table = pd.concat(
        [frame, pd.DataFrame(vectors[:, :shown], columns=[f"d{i}" for i in range(shown)])], axis=1
    )
    st.dataframe(table, hide_index=True)
    full = pd.concat(
        [frame, pd.DataFrame(vectors, columns=[f"d{i}" for i in range(vectors.shape[1])])], axis=1
    )
    st.download_button(
        "Download vectors (CSV)",
        full.to_csv(index=False),
        "token_vectors.csv",
        "text/csv",
        key="download_tokens",
    )
    first = 0
    if len(labels) > TOKEN_WINDOW:
        first = st.slider(
            f"Maps show {TOKEN_WINDOW} of the {len(labels)} tokens, from",
            0,
            len(labels) - TOKEN_WINDOW,
            key="token_from",
        )
    window = slice(first, first + TOKEN_WINDOW)
    shown_labels, shown_vectors = labels[window], vectors[window]
    dims = st.slider(
        "Dimensions in the heatmap",
        8,
        vectors.shape[1],
        min(64, vectors.shape[1]),
        key="token_dims",
    )
    st.altair_chart(
        render.heatmap(
            shown_vectors[:, :dims],
            shown_labels,
            [str(i) for i in range(dims)],
            "token × dimension",
        ),
        width="stretch",
    )
    left, right = st.columns(2)
    left.altair_chart(
        render.scatter(render.pca_2d(vectors), labels, None, "PCA of token vectors"),
        width="stretch",
    )
    right.altair_chart(
        render.heatmap(
            cosine_matrix(shown_vectors, shown_vectors),
            shown_labels,
            shown_labels,
            "token × token cosine",
        ),
        width="stretch",
    )


def opened_chunk_text(ctx: Context) -> str | None:
    doc_id = st.session_state.get("doc_id")
    if not doc_id:
        return None
    doc = ctx.collection.document(doc_id)
    if doc is None:
        return None
    chunk = ctx.collection.chunk(doc["chunks"][st.session_state.get("doc_chunk") or 0]["id"])
    return chunk["text"] if chunk else None


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
        render.heatmap(
            comparison.token_cosines,
            comparison.a.tokens,
            comparison.b.tokens,
            "token × token cosine (A rows, B columns)",
        ),
        width="stretch",
    )


# -- index ----------------------------------------------------------------------------------


def index_page(ctx: Context) -> None:
    st.header("Index")
    stats = ctx.collection.stats()
    fields = ctx.collection.fields()
    recipe = stats["recipe"]
    columns = st.columns(4)
    columns[0].metric("Documents", f"{stats['documents']:,}")
    columns[1].metric("Chunks", f"{stats['chunks']:,}")
    columns[2].metric("Wordpieces", f"{stats['wordpieces']:,}")
    columns[3].metric("Dimension", stats["dim"])
    st.table(
        pd.DataFrame(
            [
                ("model", recipe["model"]),
                ("fingerprint", recipe["model_fingerprint"]),
                ("pooling", recipe["pooling"]),
                ("chunk tokens / overlap", f"{recipe['chunk_tokens']} / {recipe['overlap']}"),
                ("index type", f"{stats['index_type']} (configured: {stats['index_spec']})"),
                ("generation", str(stats["generation"])),
            ]
            + [
                (f"size of {name}", f"{size / 1e6:.2f} MB") for name, size in stats["bytes"].items()
            ],
            columns=["", "value"],
        )
    )
    scores = st.session_state.get("last_scores")
    if scores:
        st.altair_chart(
            render.histogram(
                scores,
                f"Cosines of the top {len(scores)} chunks for “{st.session_state['last_query']}”",
            ),
            width="stretch",
        )
        st.caption(
            f"min {min(scores):.3f} · median {float(np.median(scores)):.3f} · max "
            f"{max(scores):.3f}: raw cosines of a small BERT bunch together; compare ranks, "
            "not absolute scores."
        )
    else:
        st.info("Run a dense or hybrid query to see the distribution of its scores here.")
    document_map_section(ctx, fields)


def document_map_section(ctx: Context, fields: dict[str, dict]) -> None:
    """A PCA map of sampled documents that zooms, pans and opens a document on click, with the
    last query and its results on it; coloured by any metadata field (numbers binned, text: the
    most frequent values)."""
    size = st.slider("Documents in the map", 50, 2000, step=50, key="map_size")
    colour_by = st.selectbox("Colour by", ["(none)", *sorted(fields)], key="map_colour")
    sample = ctx.collection.sample(size)
    if len(sample) < 2:
        st.info("Too few documents for a map.")
        return
    vectors = np.stack([row["vector"] for row in sample])
    basis = render.pca_basis(vectors)
    last_hits = st.session_state.get("last_hits", {})
    hits = ctx.collection.vectors(list(last_hits))
    hit_docs = {chunk_id: last_hits[chunk_id] for chunk_id in hits}
    groups = colour_groups([row["metadata"].get(colour_by) for row in sample], colour_by)
    rows = [
        (row["id"], row["title"] or row["id"], group, "document")
        for row, group in zip(sample, groups, strict=True)
    ] + [(hit_docs[c], hit_docs[c], "result of the last query", "hit") for c in hit_docs]
    points = [vectors] + ([np.stack([hits[c] for c in hit_docs])] if hit_docs else [])
    query = st.session_state.get("last_vector")
    if query is not None:
        rows.append(("", f"query: {st.session_state['last_query']}", "query", "query"))
        points.append(query[None, :])
    frame = pd.DataFrame(rows, columns=["id", "label", "group", "role"])
    projected = render.project(np.concatenate(points), basis)
    frame["x"], frame["y"] = projected[:, 0], projected[:, 1]
    event = st.altair_chart(
        render.document_map(frame, colour_by),
        width="stretch",
        on_select="rerun",
        selection_mode="pick",
        key="document_map",
    )
    st.caption("Scroll to zoom, drag to pan, click a point to pick a document.")
    picked = [point["id"] for point in event.selection.get("pick", []) if point.get("id")]
    if picked:
        st.button(
            f"Open {picked[0]}",
            key="open_from_map",
            on_click=select,
            args=(picked[0], 0, "Document"),
        )


def colour_groups(values: list, field: str) -> list[str]:
    """A colour group per value: numbers in quantile bins, text by its most frequent values."""
    if field == "(none)":
        return ["document"] * len(values)
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers and len(numbers) == len([v for v in values if v is not None]):
        edges = np.quantile(numbers, np.linspace(0, 1, COLOUR_BINS + 1))
        if all(isinstance(v, int) for v in numbers):
            edges = np.round(edges)
        edges = np.unique(edges)
        if len(edges) > 2:
            labels = [f"{low:g} – {high:g}" for low, high in zip(edges, edges[1:], strict=False)]
            return [
                "(none)"
                if v is None
                else labels[min(len(labels) - 1, int(np.searchsorted(edges, v, "right")) - 1)]
                for v in values
            ]
    text = ["(none)" if v is None else str(v) for v in values]
    common = {value for value, _ in Counter(text).most_common(COLOUR_TOP)}
    return [value if value in common else "(other)" for value in text]
