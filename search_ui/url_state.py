"""The app's state in the URL's query string: query, mode, k, page, open document and filters, so
that a reload, Back, or a link someone shares opens the same view.

    ?q=shock+waves&mode=hybrid&k=10&page=Document&doc=jets&chunk=0&f.year=[1955,1965]

Filter widgets are stored by name (`f.KEY` for the widget `filter_KEY`) with their value as JSON;
date ranges as {"dates": [first, last]}.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import date
from typing import Any

SIMPLE = {"query": "q", "mode": "mode", "k": "k", "page": "page", "doc_id": "doc"}
NUMBERS = {"doc_chunk": "chunk"}
FILTER_WIDGET, FILTER_PARAM = "filter_", "f."
RESTORED = "_url_restored"


def restore(
    state: MutableMapping[str, Any],
    params: Mapping[str, str],
    pages: Iterable[str],
    modes: Iterable[str],
) -> None:
    """Once per browser session: put the URL's values into the widgets' state (before any widget
    is drawn). Values that are not valid for their widget are ignored."""
    if state.get(RESTORED):
        return
    state[RESTORED] = True
    allowed = {"page": set(pages), "mode": set(modes)}
    for key, name in SIMPLE.items():
        value = params.get(name)
        if value is None or (key in allowed and value not in allowed[key]):
            continue
        if key == "k":
            if value.isdigit() and int(value) > 0:
                state["k"] = int(value)
            continue
        state[key] = value
    for key, name in NUMBERS.items():
        value = params.get(name, "")
        if value.isdigit():
            state[key] = int(value)
    if "doc_id" in state:
        state["doc_input"] = state["doc_id"]
    for name, raw in params.items():
        if name.startswith(FILTER_PARAM):
            decoded = _decode(raw)
            if decoded is not None:
                state[FILTER_WIDGET + name[len(FILTER_PARAM) :]] = decoded


def current(state: Mapping[str, Any], filter_widgets: Iterable[str]) -> dict[str, str]:
    """The query string for this state: the simple values that are set and the widgets of the
    active filters."""
    params = {}
    for key, name in {**SIMPLE, **NUMBERS}.items():
        value = state.get(key)
        if value not in (None, ""):
            params[name] = str(value)
    for widget in filter_widgets:
        params[FILTER_PARAM + widget[len(FILTER_WIDGET) :]] = _encode(state[widget])
    return params


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
