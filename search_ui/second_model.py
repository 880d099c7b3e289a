"""The second model that the Compare and Token explorer pages show beside the store's: a model
folder (one `semsearch distill` wrote, say), named by `semsearch ui --compare-model FOLDER` or
typed in the page (the URL's `model2`), loaded once per folder and state of its files. The folder
is untrusted input: whatever is wrong with it is one line in the page."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from search_ui.context import Context
from search_ui.loading import folder_state
from store.errors import SemsearchError

if TYPE_CHECKING:
    from indexer.workbench import Workbench
    from store.recipe import Recipe

KEY = "compare_model"  # the box's widget key (kept across pages: state.PERSISTENT_PREFIXES)
OPTION = "--compare-model"


@dataclass(frozen=True)
class Shown:
    """A model whose views a page draws: the store's, or the second one with its own widgets
    (`key` ends their keys) and charts (`title` ends their titles)."""

    bench: Workbench
    name: str = "Store's model"
    key: str = ""
    title: str = ""


def second(bench: Workbench) -> Shown:
    return Shown(bench, "Second model", "_second", " · second model")


def argument(argv: Sequence[str]) -> str:
    """The folder given with `--compare-model` among the app's arguments ("" when none)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(OPTION, default="")
    return parser.parse_known_args(list(argv))[0].compare_model


@st.cache_resource(show_spinner=False, max_entries=4)
def _loaded(
    _bench: Workbench, model: str, folder: str, files: list[tuple[str, int]] | None
) -> Workbench | str:
    """The model of `folder` beside `_bench`'s (keyed by the store's model, the folder and its
    files' modification times), or why it cannot be used, in one line."""
    try:
        return _bench.beside(folder)
    except SemsearchError as error:
        return str(error).splitlines()[0]


def _files(folder: str) -> list[tuple[str, int]] | None:
    """The folder's files and their modification times (None when it cannot be listed)."""
    try:
        return folder_state(Path(folder).expanduser())
    except (OSError, ValueError):
        return None


def chosen(ctx: Context) -> Workbench | None:
    """The box naming a second model, and that model loaded; None when the box is empty or the
    folder cannot be used (the page then says why, in one line)."""
    folder = st.text_input(
        "Second model (optional): a model folder to show beside the store's",
        key=KEY,
        placeholder="models/my-small-bert",
        help="A BERT-family model folder with safetensors weights, such as one "
        "`semsearch distill` wrote: its results are shown beside the store's model's.",
    ).strip()
    if not folder:
        return None
    with st.spinner("Loading the second model…"):
        loaded = _loaded(ctx.collection, ctx.fingerprint, folder, _files(folder))
    if isinstance(loaded, str):
        st.error(f"The second model cannot be used: {loaded}")
        return None
    return loaded


def description(recipe: Recipe) -> str:
    """A model by name and, when `semsearch distill` made it, its teacher (Markdown; the names
    come from a folder and its manifest, so they are shown as code, never read as Markdown)."""
    described = f"`{_plain(recipe.model)}`"
    facts = recipe.distilled
    if facts:
        described += (
            f", distilled from the teacher `{_plain(str(facts['teacher']))}` (student start "
            f"`{_plain(str(facts['student_start']))}`, {_number(facts['steps'])} steps, "
            f"held-out agreement {_number(facts['held_out_agreement'])})"
        )
    return described


def heading(shown: Shown) -> None:
    """Which model the views below are of, by name."""
    st.markdown(f"**{shown.name}**: {description(shown.bench.recipe)}")


def _number(value: object) -> str:
    """A number of a manifest as people read it; anything else as code."""
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"`{_plain(str(value))}`"


def _plain(text: str) -> str:
    """`text` fit for inline code: no backtick ends it, no line break splits it."""
    return " ".join(text.replace("`", "'").split())
