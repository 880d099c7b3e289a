"""The Document page: a document's fields and its whole text with chunk and page boundaries, the
best chunk highlighted and scrolled into view."""

from __future__ import annotations

import streamlit as st

from search_ui import render
from search_ui.context import Context, html, opened_chunk, script, select


def document_page(ctx: Context) -> None:
    st.header("Document")
    if st.session_state.get("query"):
        st.button(
            "← Back to results",
            key="back_to_results",
            on_click=lambda: st.session_state.update(page="Search"),
        )
    st.session_state.setdefault("doc_input", st.session_state.get("doc_id", ""))
    doc_id = st.text_input("Document id", key="doc_input")
    if not doc_id:
        st.info("Open a document from the search results, or type its id or words of it.")
        return
    doc = ctx.collection.document(doc_id)
    if doc is None:
        suggestions(ctx, doc_id)
        return
    best = opened_chunk(doc)
    html(f"<h3>{render.escaped(doc.title or doc_id)}</h3>")
    left, right = st.columns(2)
    left.caption("Id (copy with the button at its right)")
    left.code(doc_id, language=None)
    if doc.source:
        right.caption("Source")
        right.code(doc["source"], language=None)
    pages = f"{len(doc['pages'])} pages · " if doc["pages"] else ""
    chunks = len(doc["chunks"])
    st.caption(
        f"{pages}{chunks} chunk{'s' if chunks != 1 else ''} · "
        f"{sum(c['n_tokens'] for c in doc['chunks']):,} wordpieces · indexed "
        f"{render.readable('indexed', doc['indexed_at'])}"
    )
    if doc.metadata:
        html(render.metadata_table(doc.metadata))
    if best is not None:
        st.caption(f"Highlighted: chunk {best}, the best match for the last query.")
    code = st.toggle(
        "Fixed-width font", value=render.looks_like_code(doc["text"]), key=f"mono_{doc_id}"
    )
    html(render.chunked_text(doc["text"], doc["chunks"], best, doc["pages"], code))
    if best is not None:
        script(render.scroll_to_best(f"{doc_id}#{best}"))


SUGGESTIONS = 8


def suggestions(ctx: Context, typed: str) -> None:
    """No document has the id typed: the documents whose words match it best, one click each."""
    hits = ctx.collection.search(typed, k=SUGGESTIONS, mode="lexical")
    if not hits:
        st.warning(f"No document has the id {typed!r} or its words.")
        return
    st.caption(f"No document has the id {typed!r}; these hold its words:")
    for number, hit in enumerate(hits):
        st.button(
            f"{hit.title or hit.doc_id} ({hit.doc_id})",
            key=f"suggested_{number}",
            on_click=select,
            args=(hit.doc_id, hit.chunk_ord),
        )
