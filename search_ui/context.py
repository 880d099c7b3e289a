"""What every page shares: the Collection and whether its model loads, and the model's outputs
cached per (model, text), so that a rerun recomputes nothing that did not change."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from indexer.collection import Collection
from indexer.embedding.views import Explanation, TokenView
from search_ui.state import note


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


@st.cache_data(show_spinner=False, max_entries=512)
def explanation(_ctx: Context, model: str, query: str, text: str) -> Explanation:
    return _ctx.collection.explain(query, text)


@st.cache_data(show_spinner=False, max_entries=64)
def token_view(_ctx: Context, model: str, text: str) -> TokenView:
    return _ctx.collection.tokens(text)


def opened_chunk(doc: dict) -> int | None:
    """The chunk of the opened document the state points at (from a result or a link), or None;
    a chunk the document does not have is said and dropped."""
    chunk = st.session_state.get("doc_chunk")
    if chunk is None or doc["id"] != st.session_state.get("doc_id"):
        return None
    if not 0 <= chunk < len(doc["chunks"]):
        note(st.session_state, f"{doc['id']} has no chunk {chunk}: showing it from the start.")
        st.session_state["doc_chunk"] = None
        return None
    return chunk
