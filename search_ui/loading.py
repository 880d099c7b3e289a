"""The store and its model, loaded in the background: the page is drawn at once and says what is
loading. One Loader per (store, model) serves every session of the server. `semsearch ui`
starts it before the server opens its port (search_ui/server.py); otherwise the first page
starts it. This module imports nothing heavy: the loader's thread imports the facade (numpy,
FAISS, pandas) and the model's libraries (torch)."""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from indexer.settings import Settings, default_store
from store.errors import SemsearchError, StoreError

if TYPE_CHECKING:
    from indexer.collection import Collection

OPENING, LOADING_MODEL, CALIBRATING, READY = (
    "Opening the store",
    "Loading the model",
    "Calibrating the weak-match warning",
    "Ready",
)


def arguments(argv: Sequence[str]) -> tuple[Path, str | None]:
    """The store (`--store PATH`, else $SEMSEARCH_STORE, else ./semsearch-store) and where its
    model is now if it moved (`--model PATH`), from the app's arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store")
    parser.add_argument("--model")
    known, _ = parser.parse_known_args(list(argv))
    return (Path(known.store) if known.store else default_store()).resolve(), known.model


class Loader:
    """Opens the store, loads its model and computes what the first search needs, in a thread.
    `phase` says what it is doing; `done` is set when it is finished, whatever the outcome."""

    def __init__(self, path: Path, model: str | None) -> None:
        self.path, self.model = path, model
        self.folder = folder_state(path)  # what the store folder held when loading began
        self.phase = OPENING
        self.started = time.monotonic()
        self.collection: Collection | None = None  # set once the store is open
        self.store_error: str | None = None  # the store cannot be opened: nothing works
        self.model_error: str | None = None  # the model cannot be loaded: lexical search only
        self.failure: BaseException | None = None  # anything else: raised in the page
        self.done = threading.Event()
        threading.Thread(target=self._load, name=f"load {path}", daemon=True).start()

    def _load(self) -> None:
        try:
            from indexer.collection import Collection

            collection = Collection(self.path, Settings(model=self.model), quiet=True)
            collection.stats()  # a missing or damaged store is reported now
            self.collection = collection
            self.phase = LOADING_MODEL
            try:
                collection.load_model()
            except SemsearchError as error:
                self.model_error = str(error)
            else:
                self.phase = CALIBRATING
                collection.no_answer_scores()
        except StoreError as error:
            self.store_error = str(error)
        except BaseException as error:  # kept for the page, which raises it
            self.failure = error
        finally:
            self.phase = READY
            self.done.set()
        self._warm_layers()

    def _warm_layers(self) -> None:
        """After the first search is possible: the torch weights that the layer, trajectory,
        attention and concordance views run on (a start from the cache skips them), so that the
        first visit to those pages does not wait for them."""
        if self.collection is None or self.model_error is not None or self.failure is not None:
            return
        try:
            self.collection.load_torch_weights()
        except SemsearchError:
            return  # the pages that need the weights load them again and show the error

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


_loaders: dict[tuple[Path, str | None], Loader] = {}
_guard = threading.Lock()


def folder_state(path: Path) -> list[tuple[str, int]] | None:
    """The files of a store folder and their modification times; None when it is no folder."""
    if not path.is_dir():
        return None
    found = []
    for entry in path.iterdir():
        try:
            found.append((entry.name, entry.stat().st_mtime_ns))
        except FileNotFoundError:  # removed meanwhile (SQLite's side files come and go)
            continue
    return sorted(found)


def loader(path: Path, model: str | None) -> Loader:
    """The Loader of this store and model, started on first use; started again when the store
    could not be opened and its folder has changed since (it may be a store now)."""
    with _guard:
        current = _loaders.get((path, model))
        stale = current is not None and current.done.is_set() and current.store_error
        if current is None or (stale and folder_state(path) != current.folder):
            current = _loaders[(path, model)] = Loader(path, model)
        return current
