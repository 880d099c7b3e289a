"""The Document page: a document's fields and its whole text with chunk and page boundaries, the
best chunk highlighted and scrolled into view."""

from __future__ import annotations

import streamlit as st

from search_ui import render
from search_ui.context import Context, html, opened_chunk, script


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
    best = opened_chunk(doc)
    html(f"<h3>{render.escaped(doc.title or doc_id)}</h3>")
    left, right = st.columns(2)
    left.caption("Id (copy with the button at its right)")
    left.code(doc_id, language=None)
    if doc.source:
        right.caption("Source")
        right.code(doc.source, language=None)
    pages = f"{len(doc.pages)} pages · " if doc.pages else ""
    st.caption(
        f"{pages}{len(doc.chunks)} chunks · {sum(c.n_tokens for c in doc.chunks)} "
        f"wordpieces · indexed {doc.indexed_at}"
    )
    if doc.metadata:
        html(render.metadata_table(doc.metadata))
    if best is not None:
        st.caption(f"Highlighted: chunk {best}, the best match for the last query.")
    html(render.chunked_text(doc.text, doc.chunks, best, doc.pages))
    if best is not None:
        script(render.scroll_to_best(f"{doc_id}#{best}"))
