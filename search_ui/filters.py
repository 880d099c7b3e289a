"""The search page's filters: a widget for each metadata field the store has, and the active
filters shown above the results, each removable with one click."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import streamlit as st

from search_ui.context import Context
from search_ui.state import note
from search_ui.url_state import CLEARED
from store.filters import Filter, metadata_field

if TYPE_CHECKING:
    from indexer.collection import Collection

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
METADATA_WIDGET = "filter_meta."  # + the key; the title widget is filter_title
QUANTILE_STEPS = 100  # a numeric filter's slider steps through percentiles, so a skewed field's
# small values can be picked (lines 1-1532: half the documents have at most a dozen)


@st.cache_data(show_spinner=False, max_entries=8)
def field_summary(
    _ctx: Context, store: str, generation: int
) -> tuple[dict[str, dict], dict[str, dict[str, int]]]:
    """Metadata fields, and the values of the few-valued ones with how many documents hold
    each, once per store generation."""
    collection = _ctx.collection
    fields = {key: info for key, info in collection.fields().items() if metadata_field(key)}
    values = {
        key: collection.values(key, 31) for key, info in fields.items() if info["types"] == ["text"]
    }
    counts = {
        key: {v: collection.count([Filter(metadata_field(key), "in", (v,))]) for v in found}
        for key, found in values.items()
        if len(found) <= 30
    }
    return fields, counts


@dataclass
class ActiveFilter:
    """Filters set by one widget, the value that clears it, and what they do in words."""

    widget: str
    filters: list[Filter]
    cleared: object
    label: str


def filter_widgets(ctx: Context) -> list[ActiveFilter]:
    """Widgets for the metadata fields the store has; returns the filters they set. Metadata keys
    are addressed as `metadata.KEY`, so a key named like a built-in field (source) is reachable."""
    active: list[ActiveFilter] = []
    collection = ctx.collection
    fields, values = field_summary(ctx, str(collection.path), collection.generation)
    with st.expander("Filters", expanded=False):
        title = st.text_input("Title contains", key="filter_title")
        if title:
            label = f"title contains “{title}”"
            active.append(ActiveFilter("filter_title", [Filter("title", "~", title)], "", label))
        for key, info in sorted(fields.items()):
            types = set(info.types)
            widget, field = f"{METADATA_WIDGET}{key}", metadata_field(key)
            chosen: list[Filter] = []
            label = ""
            if types <= {"integer", "real"} and info["min"] != info["max"]:
                cleared, chosen = _number_filter(collection, key, widget, field)
                low, high = st.session_state[widget]
                label = f"{key} {low:g}–{high:g}"
            elif types == {"text"} and ISO_DATE.match(info["min"]) and ISO_DATE.match(info["max"]):
                first, last = (date.fromisoformat(info[end][:10]) for end in ("min", "max"))
                cleared = (first, last)
                _fit(widget, cleared, lambda v, lo=first, hi=last: _date_range(v, lo, hi))
                span = st.date_input(key, min_value=first, max_value=last, key=widget)
                if len(span) == 2 and span[0] > first:
                    chosen.append(Filter(field, ">=", span[0].isoformat()))
                if len(span) == 2 and span[1] < last:
                    chosen.append(Filter(field, "<", (span[1] + timedelta(days=1)).isoformat()))
                label = f"{key} {span[0]} – {span[-1]}"
            elif types == {"text"} and key in values:
                cleared = []
                known = values[key]
                _fit(widget, cleared, lambda v, known=list(known): _known(v, known))
                picked = st.multiselect(
                    key,
                    list(known),
                    key=widget,
                    format_func=lambda v, known=known: f"{v} ({known[v]:,})",
                )
                if picked:
                    chosen.append(Filter(field, "in", tuple(picked)))
                label = f"{key}: {', '.join(picked)}"
            elif types <= {"text", "array"}:  # a list (authors, recipients): any item contains
                cleared = ""
                _fit(widget, cleared, lambda v: v if isinstance(v, str) else None)
                text = st.text_input(
                    f"{key} contains",
                    key=widget,
                    help="Whole words, case-insensitive: “io” finds “io.open”, never "
                    "“multiprocessing.connection”.",
                )
                if text:
                    chosen.append(Filter(field, "~", text))
                label = f"{key} contains “{text}”"
            if chosen:
                active.append(ActiveFilter(widget, chosen, cleared, label))
    return active


def _number_filter(
    collection: Collection, key: str, widget: str, field: str
) -> tuple[object, list[Filter]]:
    """A range whose steps are the field's percentiles (so a skewed field's small values can be
    picked), a link's own bounds among them; returns the cleared value and the filters set."""
    steps = collection.quantiles(key, QUANTILE_STEPS)
    low, high = steps[0], steps[-1]
    _fit(widget, (low, high), lambda v: _number_range(v, low, high))
    span = st.select_slider(
        key,
        sorted({*steps, *st.session_state[widget]}),
        value=(low, high),  # only says it is a range: the value is the state's (see _fit)
        key=widget,
        format_func=lambda v: f"{v:,g}",
        help="The steps are percentiles of the stored values: as many documents between each "
        "step and the next.",
    )
    chosen = [Filter(field, ">=", span[0])] if span[0] > low else []
    if span[1] < high:
        chosen.append(Filter(field, "<=", span[1]))
    return (low, high), chosen


def _fit(widget: str, cleared: object, fitted: Callable[[Any], Any]) -> None:
    """Before a filter widget is drawn: its value (from the URL, or an earlier generation of the
    store) made to fit the widget, or cleared; what changed is said once."""
    value = st.session_state.get(widget, CLEARED)
    if value is CLEARED:
        value = cleared
    fit = fitted(value)
    if fit is None:
        fit = cleared
    if fit != value:
        shown = widget.removeprefix(METADATA_WIDGET)
        note(
            st.session_state,
            f"The filter on {shown} did not fit this store ({value!r}): "
            f"{'cleared' if fit == cleared else f'changed to {fit!r}'}.",
        )
    st.session_state[widget] = fit


def _number_range(value: Any, low: float, high: float) -> tuple | None:
    """Two finite numbers clamped into [low, high], in order; None when `value` is not that or
    lies wholly outside."""
    if not (isinstance(value, list | tuple) and len(value) == 2):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    if not all(math.isfinite(v) for v in value) or max(value) < low or min(value) > high:
        return None
    first, last = sorted(min(max(v, low), high) for v in value)
    if isinstance(low, int) and isinstance(high, int):  # a slider of whole numbers
        return round(first), round(last)
    return float(first), float(last)


def _date_range(value: Any, first: date, last: date) -> tuple | None:
    """One or two dates clamped into [first, last]; None when `value` is not that or lies wholly
    outside."""
    if not (isinstance(value, list | tuple) and 1 <= len(value) <= 2):
        return None
    if not all(isinstance(v, date) for v in value) or max(value) < first or min(value) > last:
        return None
    return tuple(sorted(min(max(v, first), last) for v in value))


def _known(value: Any, known: list) -> list | None:
    """The values of `value` the widget offers; None when `value` is not a list of them."""
    if not isinstance(value, list):
        return None
    return [v for v in value if v in known]


def clear_filters(items: list[ActiveFilter]) -> None:
    for item in items:
        st.session_state[item.widget] = item.cleared


def show_active_filters(active: list[ActiveFilter]) -> None:
    """Every active filter as a button that removes it, and one that removes them all, visible
    whatever the panel's state."""
    if not active:
        return
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.caption("Active filters:", width="content")
        for item in active:
            st.button(
                f"✕ {item.label}",
                key=f"clear_{item.widget}",
                help="Remove this filter: " + " and ".join(str(f) for f in item.filters),
                on_click=clear_filters,
                args=([item],),
            )
        if len(active) > 1:
            st.button(
                "Clear all",
                key="clear_all",
                type="tertiary",
                on_click=clear_filters,
                args=(active,),
            )
