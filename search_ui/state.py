"""The widgets' state across reruns and page switches, and the values a new session starts with."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from indexer.settings import MODE, K

TOKEN_SOURCES = ("typed", "chunk")  # the Token explorer's text: typed, or the opened chunk
DEFAULTS = {
    "k": K,
    "mode": MODE,
    "token_source": TOKEN_SOURCES[0],
    "token_text": "Tokenization splits unbelievably rare words into wordpieces.",
    "compare_a": "A man is playing a guitar.",
    "compare_b": "Someone plays an instrument.",
    "compare_model": "",  # the second model's folder; the app sets `--compare-model`'s
    "map_size": 2000,
}
PERSISTENT_KEYS = ("query", "k", "mode")
PERSISTENT_PREFIXES = ("filter_", "token_", "compare_", "map_", "concordance_", "why_")
NOTICES = "_notices"  # what was dropped or clamped from a link, shown once
LAST_SEARCH = "_last_search"  # the last query, its mode, filters, vector and hits: the Index page


def keep_widget_state(state: MutableMapping[str, Any]) -> None:
    """Streamlit forgets a widget's value when its page is not shown; re-assigning the values at
    the start of each run keeps the query, filters, texts and open "Why it matched" panels
    across page switches. Only these keys: a button's (kwic_0_0) cannot be assigned."""
    for key in list(state):
        if key in PERSISTENT_KEYS or str(key).startswith(PERSISTENT_PREFIXES):
            state[key] = state[key]
    for key, value in DEFAULTS.items():
        state.setdefault(key, value)


def note(state: MutableMapping[str, Any], message: str) -> None:
    """Say once, at the top of the page, what the app changed of what it was given (a value
    from a link that does not fit this store)."""
    state.setdefault(NOTICES, []).append(message)


def pop_notices(state: MutableMapping[str, Any]) -> list[str]:
    """The notices not shown yet."""
    return state.pop(NOTICES, [])
