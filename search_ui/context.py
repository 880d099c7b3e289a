"""What every page shares: the Collection and whether its model loads, and the model's outputs
cached per (model, text), so that a rerun recomputes nothing that did not change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from indexer.embedding.chunking import Window
from indexer.embedding.views import Explanation, TokenView
from indexer.settings import DEFAULT_MODEL, FALLBACK_MODEL
from search_ui.state import note
from store.recipe import Recipe
from store.results import Document

if TYPE_CHECKING:
    from indexer.collection import Collection
    from indexer.workbench import Workbench


@dataclass
class Context:
    collection: Collection
    has_model: bool  # False: the store's model cannot be loaded, only lexical search works

    @property
    def fingerprint(self) -> str:
        """What cached model outputs are keyed by, besides their texts."""
        return model_key(self.collection)


def model_key(bench: Workbench) -> str:
    """What a model's cached outputs are keyed by, besides their texts (the store's model, or a
    second one beside it)."""
    recipe = bench.recipe
    return f"{recipe.model_fingerprint}/{recipe.pooling}/{recipe.chunk_tokens}/{recipe.overlap}"


def html(markup: str) -> None:
    """Show HTML built from escaped text, without any Markdown reading of it."""
    st.html(markup)


def script(markup: str) -> None:
    """Our own script (never any document text) in the page."""
    st.html(markup, unsafe_allow_javascript=True)


def model_description(recipe: Recipe, why_fallback: bool = True) -> str:
    """The store's model in words, saying (when `why_fallback`) why it is the offline fallback
    (Markdown)."""
    described = f"model `{recipe.model}` · {recipe.dim}-d · {recipe.pooling} pooling"
    if recipe.model == FALLBACK_MODEL and why_fallback:
        described += (
            f" — all-MiniLM-L6-v2, the offline fallback shipped with semsearch: the default "
            f"`{DEFAULT_MODEL}` could not be downloaded"
        )
    return described


def about(ctx: Context) -> str:
    """What is being searched: the corpus and the model, in one line (Markdown)."""
    corpus = ctx.collection.corpus()
    where = f" from `{corpus.where}`" if corpus.where else ""
    if corpus.sources > 1:
        where = f" from {corpus.sources:,} sources" + (
            f" in `{corpus.where}`" if corpus.where else ""
        )
    described = model_description(ctx.collection.recipe, why_fallback=False)  # the sidebar says why
    return f"{corpus['documents']:,} documents{where} · {described}"


def select(doc_id: str, chunk_ord: int, page: str | None = None) -> None:
    """Open a document at a chunk (and a page): the Token explorer then shows that chunk."""
    st.session_state["doc_id"] = doc_id
    st.session_state["token_source"] = "chunk"
    st.session_state["doc_input"] = doc_id
    st.session_state["doc_chunk"] = chunk_ord
    if page:
        st.session_state["page"] = page


@st.cache_data(show_spinner=False, max_entries=512)
def explanation(_ctx: Context, model: str, query: str, text: str) -> Explanation:
    return _ctx.collection.explain(query, text)


@st.cache_data(show_spinner=False, max_entries=64)
def token_view(_bench: Workbench, model: str, text: str) -> TokenView:
    return _bench.tokens(text)


@st.cache_data(show_spinner=False, max_entries=64)
def text_windows(_bench: Workbench, model: str, text: str) -> list[Window]:
    """The windows a text is cut into, as the store cuts a document."""
    return _bench.windows(text)


def opened_chunk(doc: Document) -> int | None:
    """The chunk of the opened document the state points at (from a result or a link), or None;
    a chunk the document does not have is said and dropped."""
    chunk = st.session_state.get("doc_chunk")
    if chunk is None or doc.id != st.session_state.get("doc_id"):
        return None
    if not 0 <= chunk < len(doc.chunks):
        note(st.session_state, f"{doc.id} has no chunk {chunk}: showing it from the start.")
        st.session_state["doc_chunk"] = None
        return None
    return chunk
