"""The Streamlit app. Run with `semsearch ui --store PATH` (or `make ui`), which binds to
127.0.0.1. The store comes from `-- --store PATH`, else $SEMSEARCH_STORE, else ./store."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

import streamlit as st

from indexer.embedder import Embedder
from indexer.model import ModelLoadError
from search_ui import views
from store.store import Store, StoreError

PAGES = {
    "Search": views.search_page,
    "Document": views.document_page,
    "Token explorer": views.token_page,
    "Compare": views.compare_page,
    "Index": views.index_page,
}


def store_path() -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known.store or os.environ.get("SEMSEARCH_STORE") or "store"


@st.cache_resource(show_spinner=False)
def open_store(path: str) -> tuple[Store, threading.Lock]:
    """One read-only store per path for every session, with a lock so one thread uses it at once."""
    return Store.open(path), threading.Lock()


@st.cache_resource(show_spinner="Loading the store's model…")
def load_embedder(model: str, fingerprint: str, recipe: tuple) -> Embedder:
    """The model recorded in the store's manifest, loaded once."""
    return Embedder.from_recipe(dict(recipe), quiet=True)


PERSISTENT_PREFIXES = ("query", "k", "mode", "filter_", "token_", "compare_", "map_")


def keep_widget_state() -> None:
    """Streamlit forgets a widget's value when its page is not shown; re-assigning the values at
    the start of each run keeps the query, filters and texts across page switches."""
    for key in list(st.session_state):
        if str(key).startswith(PERSISTENT_PREFIXES):
            st.session_state[key] = st.session_state[key]
    for key, value in views.DEFAULTS.items():
        st.session_state.setdefault(key, value)


def main() -> None:
    st.set_page_config(page_title="semsearch", layout="wide")
    keep_widget_state()
    path = store_path()
    try:
        store, lock = open_store(str(Path(path).resolve()))
    except StoreError as error:
        st.title("semsearch")
        st.error(str(error))
        st.markdown(
            "Build a store first, then open it:\n\n"
            f"```\nsemsearch index PATH... --store {path}\nsemsearch ui --store {path}\n```\n\n"
            "or run `make demo` for the Python standard library's documentation."
        )
        return
    recipe = store.recipe
    embedder, model_error = None, None
    try:
        embedder = load_embedder(
            recipe["model"], recipe["model_fingerprint"], tuple(sorted(recipe.items()))
        )
    except (ModelLoadError, ValueError) as error:
        model_error = str(error)
    with st.sidebar:
        st.title("semsearch")
        page = st.radio("Page", list(PAGES), key="page")
        with lock:
            st.caption(f"Store `{path}` · generation {store.generation}")
        st.caption(f"Model `{recipe['model']}` · {recipe['dim']}-d · {recipe['pooling']} pooling")
        if model_error:
            st.error(
                f"The store's model cannot be loaded ({model_error}); only lexical search works."
            )
    PAGES[page](views.Context(store, lock, embedder))


main()
