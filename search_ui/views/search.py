"""The Search page: query, mode, k and filters; each result with its best chunk, and why it
matched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from indexer.settings import SEARCH_MODES
from search_ui import render
from search_ui.context import Context, explanation, html, select
from search_ui.filters import ACTIVE_FILTERS, filter_widgets, show_active_filters
from search_ui.state import note
from store.ranking import RRF_K
from store.results import Hit

PAGE = 10  # results added by "Show more"
MAX_K = 200
MIN_REFERENCE = 20  # fewer reference scores than this: no statement about match strength
WEAK_SHARE = 0.05  # a best score below this share of the reference is a weak match
RRF_HELP = (
    f"hybrid score = Σ 1 / ({RRF_K} + rank) over the dense and the lexical rankings "
    "(reciprocal rank fusion): it rewards documents that rank well in both, and its size says "
    "nothing about similarity."
)


def more_results() -> None:
    st.session_state["k"] = min(MAX_K, int(st.session_state["k"]) + PAGE)


def fit_k(state: dict) -> None:
    """k within 1..MAX_K (a link may ask for more), said once when changed."""
    k = state.get("k", 1)
    fitted = min(max(int(k), 1), MAX_K)
    if fitted != k:
        note(state, f"{k} results is more than this page shows at once: showing {fitted}.")
        state["k"] = fitted


def search_page(ctx: Context) -> None:
    st.header("Search")
    query = st.text_input("Query", key="query", placeholder="Ask in your own words…")
    left, right = st.columns([1, 3])
    fit_k(st.session_state)
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
    if vector is not None:  # for the Index page's histogram and map
        st.session_state["last_query"] = query
        st.session_state["last_filters"] = filters
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
    reference = ctx.collection.neighbour_scores()
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
            f"{render.escaped(hit.doc_id)} · {hit.page_label + ' · ' if hit.page_label else ''}"
            f"chunk {hit.chunk_ord} [{hit.start}:{hit.end}]"
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
