"""The Streamlit app. Run with `semsearch ui --store PATH` (or `make ui`), which binds to
127.0.0.1. The store comes from `-- --store PATH`, else $SEMSEARCH_STORE, else ./semsearch-store;
`-- --model PATH` says where the store's model is now if it moved."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import streamlit as st

from indexer.collection import Collection
from indexer.settings import SEARCH_MODES, Settings, default_store
from search_ui import render, url_state
from search_ui.context import Context
from search_ui.filters import ACTIVE_FILTERS
from search_ui.state import keep_widget_state, pop_notices
from search_ui.views import compare, concordance, document, index, search, tokens
from store.errors import SemsearchError, StoreError

PAGES = {
    "Search": search.search_page,
    "Document": document.document_page,
    "Token explorer": tokens.token_page,
    "Compare": compare.compare_page,
    "Concordance": concordance.concordance_page,
    "Index": index.index_page,
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store")
    parser.add_argument("--model")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known


@st.cache_resource(show_spinner="Loading the store's model…")
def open_collection(path: str, model: str | None) -> tuple[Collection, str | None]:
    """One Collection per store for every session (it serialises its calls), with its model loaded
    once; the model's error, if it cannot be loaded (then only lexical search works)."""
    collection = Collection(path, Settings(model=model), quiet=True)
    collection.stats()  # a missing or damaged store is reported now, not on the first query
    try:
        collection.load_model()
    except SemsearchError as error:
        return collection, str(error)
    return collection, None


def main() -> None:
    st.set_page_config(page_title="semsearch", layout="wide")
    st.html(render.HIDE_DEPLOY)
    url_state.restore(st.session_state, st.query_params.to_dict(), PAGES, SEARCH_MODES)
    keep_widget_state(st.session_state)
    args = arguments()
    path = Path(args.store) if args.store else default_store()
    try:
        collection, model_error = open_collection(str(path.resolve()), args.model)
    except StoreError as error:
        st.title("semsearch")
        st.error(str(error))
        st.markdown(
            "Build a store first, then open it:\n\n"
            f"```\nsemsearch index PATH... --store {path}\nsemsearch ui --store {path}\n```\n\n"
            "or run `make demo` for the Python standard library's documentation."
        )
        return
    recipe = collection.recipe
    with st.sidebar:
        st.title("semsearch")
        page = st.radio("Page", list(PAGES), key="page")
        st.caption(f"Store `{path}` · generation {collection.generation}")
        st.caption(f"Model `{recipe.model}` · {recipe.dim}-d · {recipe.pooling} pooling")
        if model_error:
            st.error(
                f"The store's model cannot be loaded ({model_error}); only lexical search works."
            )
    notices = st.container()
    PAGES[page](Context(collection, model_error is None))
    for message in pop_notices(st.session_state):
        notices.info(message)
    wanted = url_state.current(st.session_state, st.session_state.get(ACTIVE_FILTERS, []))
    if wanted != st.query_params.to_dict():
        st.query_params.from_dict(wanted)


main()
