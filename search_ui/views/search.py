"""The Search page: query, mode, k and filters; each result with its best chunk, and why it
matched."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
import streamlit as st

from indexer.settings import MAX_QUERY_CHARS, SEARCH_MODES, WEAK_MATCH
from search_ui import render
from search_ui.context import Context, about, explanation, html, script, select
from search_ui.filters import filter_widgets, show_active_filters
from search_ui.state import LAST_SEARCH, note
from search_ui.url_state import ACTIVE_FILTERS, document_link
from store.filters import Filter
from store.ranking import RRF_K
from store.results import Hit

PAGE = 10  # results added by "Show more"
MAX_K = 200
SNIPPET = 220  # characters of the best chunk on a result card
EXAMPLES = 3
RRF_HELP = (
    f"hybrid score = Σ 1 / ({RRF_K} + rank) over the dense and the lexical rankings "
    "(reciprocal rank fusion): it rewards documents that rank well in both, and its size says "
    "nothing about similarity."
)
MODE_HELP = (
    "hybrid (the default): both rankings fused, the best of the three here; dense: cosine of the "
    "query's vector with each chunk's; lexical: BM25 over the words. " + RRF_HELP
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
    st.caption(about(ctx))
    asked, many, how = st.columns([4.2, 1.1, 2.7], vertical_alignment="bottom")
    query = asked.text_input("Query", key="query", placeholder="Ask in your own words…")
    script(render.focus_query())
    fit_k(st.session_state)
    k = many.number_input("Results", min_value=1, max_value=MAX_K, key="k")
    modes = list(SEARCH_MODES) if ctx.has_model else ["lexical"]
    if st.session_state.get("mode") not in modes:
        st.session_state["mode"] = modes[-1]
    mode = how.radio("Mode", modes, horizontal=True, key="mode", help=MODE_HELP)
    active = filter_widgets(ctx)
    st.session_state[ACTIVE_FILTERS] = [item.widget for item in active]
    show_active_filters(active)
    filters = [f for item in active for f in item.filters]
    if not query.strip():
        examples(ctx)
        return
    if len(query) > MAX_QUERY_CHARS:
        st.info(
            f"The query is {len(query):,} characters long: its first {MAX_QUERY_CHARS:,} are "
            "searched (the limit of every way to search a store)."
        )
        query = query[:MAX_QUERY_CHARS]
    collection = ctx.collection
    hits, vector = run_search(ctx, query, int(k), mode, filters)
    if not hits:
        st.warning("No document matches these filters." if filters else "No results.")
        return
    shown = [hit for hit in hits if not unrelated(hit)]
    matching = collection.count(filters)
    strength = match_strength(ctx, hits, bool(filters)) if vector is not None else None
    if strength and strength[0]:
        st.warning(f"Weak match: {strength[1]}. This store may hold no answer to the query.")
    st.caption(
        result_count(len(hits), int(k), mode, matching, bool(filters))
        + (f" · {strength[1]}." if strength and not strength[0] else ""),
        help=RRF_HELP if mode == "hybrid" else None,
    )
    for rank, hit in enumerate(shown, start=1):
        show_hit(ctx, rank, hit, query, mode)
    if len(shown) < len(hits):
        left_out = len(hits) - len(shown)
        st.caption(
            f"{left_out} more {'document has' if left_out == 1 else 'documents have'} a negative "
            "cosine to the query and no query word: unrelated, not shown."
        )
    more = len(hits) == int(k) if mode == "lexical" else len(hits) < matching
    if more and len(shown) == len(hits) and int(k) < MAX_K:
        st.button(f"Show {PAGE} more", key="more", on_click=more_results)


def unrelated(hit: Hit) -> bool:
    """A hit the dense ranking found only because it ranks every document: a negative cosine
    and no query word."""
    dense = hit.parts.get("dense")
    return dense is not None and dense["score"] < 0 and "lexical" not in hit.parts


def result_count(found: int, k: int, mode: str, matching: int, filtered: bool) -> str:
    """How many results, of what, in words: dense and hybrid rank every (filtered) document; a
    lexical search finds only those that hold a query word."""
    noun = "document" if matching == 1 else "documents"
    among = f"{matching:,} {noun}" + (" matching the filters" if filtered else "")
    if mode == "lexical" and found < k:
        return f"{found:,} of {among} hold a query word · lexical (BM25)"
    if mode == "lexical":
        return f"the {found:,} best by BM25 of the documents holding a query word ({among})"
    return f"the {found:,} closest of {among} · {mode}"


def query_words(query: str) -> set[str]:
    """The query's words as the full-text index matches them (lower case, whole words)."""
    return set(re.findall(r"\w+", query.lower()))


def run_search(
    ctx: Context, query: str, k: int, mode: str, filters: list[Filter]
) -> tuple[list[Hit], np.ndarray | None]:
    """The hits of a query and its vector (None in lexical mode), kept as the last search for
    the Index page's histogram and map."""
    vector = ctx.collection.embed([query])[0] if mode != "lexical" else None
    hits = ctx.collection.search(query, k=k, mode=mode, filters=filters, vector=vector)
    st.session_state[LAST_SEARCH] = {
        "query": query,
        "mode": mode,
        "filters": filters,
        "vector": vector,
        "hits": {hit.chunk_id: hit.doc_id for hit in hits},
    }
    return hits, vector


def examples(ctx: Context) -> None:
    """What to type: a few first sentences of this store's documents, one click each."""
    found = ctx.collection.example_queries(EXAMPLES)
    if not found:
        st.info("Type a query to search.")
        return
    st.caption("Type a query, or try one of these first sentences of documents in this store:")
    for number, example in enumerate(found):
        st.button(
            example,
            key=f"example_{number}",
            icon=":material/search:",
            on_click=lambda text=example: st.session_state.update(query=text),
        )


def match_strength(ctx: Context, hits: list[Hit], filtered: bool) -> tuple[bool, str] | None:
    """Whether the best dense score is a weak match (closer than fewer than WEAK_MATCH of the
    best scores of made-up queries this store has no answer to: it probably holds no answer),
    and where it sits among them, in words; None when there is nothing to say."""
    dense = [hit.parts["dense"]["score"] for hit in hits if "dense" in hit.parts]
    share = ctx.collection.match_strength(max(dense)) if dense else None
    if share is None:
        return None
    return share < WEAK_MATCH, (
        f"the best result{' among the filtered documents' if filtered else ''} (cosine "
        f"{max(dense):.3f}) is closer than the best result of {share:.0%} of made-up queries "
        "(random words from this store's documents, which it cannot answer)"
    )


def show_hit(ctx: Context, rank: int, hit: Hit, query: str, mode: str) -> None:
    with st.container(border=True, gap="xxsmall"):
        snippet = render.highlight(hit.text, query, SNIPPET)
        link = document_link(st.session_state, hit.doc_id, hit.chunk_ord)
        html(render.hit_card(rank, hit, mode == "hybrid", snippet, link))
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.button(
                "Open document",
                key=f"open_{rank}",
                icon=":material/description:",
                on_click=select,
                args=(hit.doc_id, hit.chunk_ord, "Document"),
            )
            explain = st.toggle("Why it matched", key=f"why_{rank}")
        if explain:
            why_it_matched(ctx, hit, query)


def why_it_matched(ctx: Context, hit: Hit, query: str) -> None:
    """What ranked the hit: the query words its chunk holds and their BM25 score (lexical), and
    each token of the chunk shaded by its exact share of the cosine with the query (dense; in
    a lexical result, the model's view for comparison)."""
    lexical = hit.parts.get("lexical")
    if lexical is not None:
        held = Counter(w for w in re.findall(r"\w+", hit.text.lower()) if w in query_words(query))
        words = ", ".join(f"{word} ×{count}" for word, count in held.most_common()) or "none"
        st.caption(
            f"BM25 {lexical['score']:.4g} (rank {lexical['rank']} by words): query words in "
            f"this chunk: {words}."
        )
    if not ctx.has_model:
        return
    if "dense" not in hit.parts:
        st.caption("The model's view, for comparison (not what ranked this result):")
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
