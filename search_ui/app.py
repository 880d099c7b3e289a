"""The Streamlit app. Run with `semsearch ui --store PATH` (or `make ui`), which binds to
127.0.0.1. The store comes from `-- --store PATH`, else $SEMSEARCH_STORE, else ./semsearch-store;
`-- --model PATH` says where the store's model is now if it moved.

The page is drawn before anything heavy is imported: the store and its model load in the
background (search_ui/loading.py) and the page says what is loading until they are ready; the
same run then draws the app."""

from __future__ import annotations

import sys

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from indexer.settings import SEARCH_MODES
from search_ui import loading, render, second_model, url_state
from search_ui.context import Context, model_description, script
from search_ui.state import DEFAULTS, keep_widget_state, pop_notices

PAGES = ("Search", "Document", "Token explorer", "Compare", "Concordance", "Index")
PAGE_CHOSEN = "_page_chosen"  # a page was picked in the sidebar: on a phone, close it
PAGE_DRAWN = "_page_drawn"  # the page the last run drew


PROGRESS_SECONDS = 1.0  # how often the loading page says again how long it has loaded


def wait_for(loader: loading.Loader, place: DeltaGenerator) -> None:
    """While the store and its model load: what is loading and for how long, said again every
    PROGRESS_SECONDS in `place`, which is cleared once they are ready (this run then draws the
    app). The run itself waits: a `run_every` fragment's last tick, sent by the browser after
    the app replaced it, made Streamlit log that the fragment does not exist anymore."""
    while not loader.done.is_set():
        with place.container():
            st.title("semsearch")
            st.caption(f"Store `{loader.path}`")
            st.info(f"{loader.phase}… ({loader.seconds:.0f} s)", icon=":material/hourglass_top:")
        loader.done.wait(PROGRESS_SECONDS)
    place.empty()


def no_store(loader: loading.Loader) -> None:
    st.title("semsearch")
    st.error(loader.store_error)
    st.markdown(
        "Build a store first, then open it:\n\n"
        f"```\nsemsearch index PATH... --store {loader.path}\n"
        f"semsearch ui --store {loader.path}\n```\n\n"
        "or run `make demo` for the Python standard library's documentation."
    )


def sidebar(loader: loading.Loader) -> str:
    """The page chooser and what is open; returns the page."""
    collection = loader.collection
    with st.sidebar:
        st.title("semsearch")
        page = st.radio(
            "Page", PAGES, key="page", on_change=lambda: st.session_state.update({PAGE_CHOSEN: 1})
        )
        st.caption(f"Store `{loader.path}` · generation {collection.generation}")
        st.caption(model_description(collection.recipe))
        if loader.model_error:
            st.error(
                f"The store's model cannot be loaded ({loader.model_error}); "
                "only lexical search works."
            )
    if st.session_state.pop(PAGE_CHOSEN, None):
        script(render.close_sidebar_on_phone(page))
    return page


def main() -> None:
    st.set_page_config(page_title="semsearch", layout="wide")
    st.html(render.APP_STYLE)
    DEFAULTS[second_model.KEY] = second_model.argument(sys.argv[1:])  # a new session's
    url_state.restore(st.session_state, st.query_params.to_dict(), PAGES, SEARCH_MODES)
    keep_widget_state(st.session_state)
    loader = loading.loader(*loading.arguments(sys.argv[1:]))
    wait_for(loader, st.empty())  # every run, so that the elements after it keep their places
    if loader.failure:
        raise loader.failure
    if loader.store_error:
        no_store(loader)
        return
    from search_ui.views import (  # after the first draw
        compare,
        concordance,
        document,
        index,
        search,
        tokens,
    )

    routes = {
        "Search": search.search_page,
        "Document": document.document_page,
        "Token explorer": tokens.token_page,
        "Compare": compare.compare_page,
        "Concordance": concordance.concordance_page,
        "Index": index.index_page,
    }
    switching = st.empty()  # every run, so that the elements after it keep their places
    if st.session_state.get("page", PAGES[0]) != st.session_state.get(PAGE_DRAWN):
        switching.html(render.HIDE_STALE)  # no faded remains of the previous page
    page = sidebar(loader)
    st.session_state[PAGE_DRAWN] = page
    publish_url()  # now, not after the page's work: Back right after a change goes back one
    notices = st.container()
    routes[page](Context(loader.collection, loader.model_error is None))
    for message in pop_notices(st.session_state):
        notices.info(message)
    publish_url()  # what the page changed (a filter set, a value that did not fit)
    if page == "Search":  # last: after the results it scrolls back to
        script(render.remember_scroll(url_state.search_view(st.session_state)))


def publish_url() -> None:
    """The address bar says the widgets' state: a new entry in the browser's history when it
    did not (the widgets hold the values of this run's changes before the script starts)."""
    wanted = url_state.current(st.session_state)
    if wanted != st.query_params.to_dict():
        st.query_params.from_dict(wanted)
        url_state.written(st.session_state, wanted)


main()
