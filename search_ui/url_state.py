"""The app's state in the URL's query string: query, mode, k, page, open document, filters, the
Token explorer's and Compare's texts and second model, and the Concordance page's word, so that a
reload, Back, or a link someone shares opens the same view (docs/ui.md lists the parameters).

    ?q=shock+waves&mode=hybrid&k=10&page=Document&doc=jets&chunk=0&f.meta.year=[1955,1965]
    ?page=Concordance&word=bank
    ?page=Token+explorer&text=A+river+bank      ?page=Compare&a=One+text&b=Another
    ?page=Compare&model2=models/my-small-bert

Filter widgets are stored by name (`f.KEY` for the widget `filter_KEY`) with their value as JSON;
date ranges as {"dates": [first, last]}.

The app writes the URL at the end of every run (each change is a new entry in the browser's
history) and reads it at the start of every run: when it is not the URL the app wrote last (a new
session, Back or Forward, an edited address), the widgets take its values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import date
from typing import Any
from urllib.parse import urlencode

from search_ui.state import DEFAULTS, TOKEN_SOURCES, note

SIMPLE = {"query": "q", "mode": "mode", "page": "page", "doc_id": "doc"}
SIMPLE["concordance_word"] = "word"  # the Concordance page's word
TEXTS = {"token_text": "text", "compare_a": "a", "compare_b": "b"}  # kept only when not default
TEXTS["token_source"] = "source"  # the Token explorer's text: typed, or the opened chunk
TEXTS["compare_model"] = "model2"  # the second model's folder (Compare, Token explorer)
NUMBERS = {"k": "k", "doc_chunk": "chunk"}  # whole numbers, 0 or more (k: 1 or more)
FILTER_WIDGET, FILTER_PARAM = "filter_", "f."
WRITTEN = "_url_written"  # the query string this app wrote last
ACTIVE_FILTERS = "_active_filters"  # the filter widgets that are set, for the URL
CLEARED = None  # the value of a filter widget the URL does not name: its store's full range


def restore(
    state: MutableMapping[str, Any],
    params: Mapping[str, str],
    pages: Iterable[str],
    modes: Iterable[str],
) -> bool:
    """Before any widget is drawn: unless `params` is the query string this app wrote last, put
    its values into the widgets' state; what it does not name returns to a new session's value
    (after Back, nothing of the later view stays). Values that are not valid for their widget are
    ignored. Returns whether the state was changed."""
    params = dict(params)
    if state.get(WRITTEN) == params:
        return False
    pages = list(pages)
    if WRITTEN in state:
        _forget(state, pages[0])
    state[WRITTEN] = params
    allowed = {"page": set(pages), "mode": set(modes), "token_source": set(TOKEN_SOURCES)}
    for key, name in {**SIMPLE, **TEXTS}.items():
        value = params.get(name)
        if value is None:
            continue
        if key in allowed and value not in allowed[key]:
            shown = " or ".join(sorted(allowed[key]))
            note(state, f"The link's {name} {value[:40]!r} is not one of {shown}: ignored.")
            continue
        state[key] = value
    for key, name in NUMBERS.items():
        number = whole_number(params.get(name))
        if number is not None and (key != "k" or number > 0):
            state[key] = number
        elif name in params:
            note(state, f"The link's {name} {params[name][:40]!r} is not a whole number: ignored.")
    if "doc_id" in state:
        state["doc_input"] = state["doc_id"]
    restored = []
    for name, raw in params.items():
        if name.startswith(FILTER_PARAM):
            decoded = _decode(raw)
            if decoded is not None:
                widget = FILTER_WIDGET + name[len(FILTER_PARAM) :]
                state[widget] = decoded
                restored.append(widget)
    state[ACTIVE_FILTERS] = restored  # until the Search page says which are set
    return True


def whole_number(value: str | None) -> int | None:
    """`value` as a whole number when it is one written in ASCII digits (a Unicode digit such as
    "²" passes str.isdigit() but not int()); else None."""
    if value is None or not (value.isascii() and value.isdecimal()):
        return None
    return int(value) if len(value) <= 18 else 10**18  # int() refuses 4,300 digits and more


def _forget(state: MutableMapping[str, Any], first_page: str) -> None:
    """Every value the URL carries back to a new session's (the widgets' values set, not
    deleted: a widget keeps showing a value that is deleted from its state)."""
    state.update({"query": "", "doc_input": "", "concordance_word": "", "page": first_page})
    state.update({key: DEFAULTS[key] for key in ("k", "mode", *TEXTS)})
    for key in ("doc_id", "doc_chunk"):
        state.pop(key, None)
    for key in [k for k in state if str(k).startswith(FILTER_WIDGET)]:
        state[key] = CLEARED


def current(state: Mapping[str, Any]) -> dict[str, str]:
    """The query string for this state: the simple values that are set and the widgets of the
    active filters."""
    params = {}
    for key, name in {**SIMPLE, **NUMBERS}.items():
        value = state.get(key)
        if value not in (None, ""):
            params[name] = str(value)
    for key, name in TEXTS.items():
        if state.get(key, DEFAULTS[key]) != DEFAULTS[key]:
            params[name] = state[key]
    for widget in state.get(ACTIVE_FILTERS, []):
        if state.get(widget) is not CLEARED:
            params[FILTER_PARAM + widget[len(FILTER_WIDGET) :]] = _encode(state[widget])
    return params


def search_view(state: Mapping[str, Any]) -> str:
    """What names a list of results (its query, mode, k and filters) as a short hex digest: a
    name for it in the browser that holds no text of the query."""
    params = current(state)
    view = {n: v for n, v in params.items() if n in ("q", "mode", "k") or n.startswith("f.")}
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:16]


def document_link(state: Mapping[str, Any], doc_id: str, chunk: int) -> str:
    """A link (a query string) to a document at a chunk, keeping the rest of this view (Back
    from it returns to these results)."""
    params = {**current(state), "page": "Document", "doc": doc_id, "chunk": str(chunk)}
    return "?" + urlencode(params)


def written(state: MutableMapping[str, Any], params: dict[str, str]) -> None:
    """Remember the query string the app is writing, so that the next run knows it as its own."""
    state[WRITTEN] = params


def _encode(value: Any) -> str:
    if isinstance(value, tuple | list) and value and all(isinstance(v, date) for v in value):
        return json.dumps({"dates": [v.isoformat() for v in value]})
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _decode(raw: str) -> Any:
    """A widget value from the URL, or None when it is not one a filter widget takes."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict) and isinstance(value.get("dates"), list):
        try:
            return tuple(date.fromisoformat(v) for v in value["dates"])
        except (TypeError, ValueError):
            return None
    if isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value):
        return tuple(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return value if isinstance(value, str) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
