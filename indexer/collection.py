"""The one front door: a store folder and the model that reads and writes it.

    from indexer.collection import Collection

    with Collection("papers") as papers:
        papers.add(["pdf-text/", "notes.jsonl"])
        hits = papers.search("shock waves", k=5, mode="hybrid", filters=["year>=1960"])
        why = papers.explain("shock waves", hits[0])  # each token's exact share of the score

The command line, the UI, `eval` and the benchmarks go through this class. Its defaults live in
`indexer.settings`. The model is loaded on first use and once per Collection: a lexical search or
`stats` never loads it (nor imports torch). Calls are serialised, so one Collection may be shared
between threads.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer import pipeline
from indexer.documents import SourceOptions
from indexer.records import from_record
from indexer.settings import CHUNK_TOKENS, INDEX, MODE, OVERLAP, POOLING, K, Settings, default_store
from indexer.sources import check_sources, read_sources
from indexer.summary import Summary
from store.catalog import translated
from store.errors import StoreError
from store.filters import Filter, parse_filter
from store.recipe import QUERY_KEYS, WRITE_KEYS, Recipe
from store.results import Hit
from store.store import DB_FILE, Store, store_exists

if TYPE_CHECKING:
    from indexer.comparison import Comparison
    from indexer.embedder import Embedder, Explanation, TokenView
    from indexer.settings import SparkOptions


def _store_conditions(method: Callable) -> Callable:
    """SQLite failures that are the store's or the disk's condition (a damaged file, a read-only
    or full disk) become StoreErrors naming the store; anything else stays what it is."""

    @functools.wraps(method)
    def wrapper(self: Collection, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            path = (self.path or Path(".")) / DB_FILE
            raise translated(path, error) or error from None

    return wrapper


class Collection:
    """A store folder and the model that reads and writes it."""

    def __init__(
        self,
        path: str | Path | None = None,
        settings: Settings | None = None,
        *,
        quiet: bool = False,
        threads: int | None = None,
    ) -> None:
        """`path`: the store folder (default $SEMSEARCH_STORE, else ./semsearch-store).
        `quiet`: no warning on stderr when the default model falls back. `threads`: torch's CPU
        threads (default: every core)."""
        self.path: Path | None = Path(path) if path is not None else default_store()
        self.settings = settings or Settings()
        self.quiet = quiet
        self.threads = threads
        self._embedder: Embedder | None = None
        self._reader: Store | None = None
        self._query_checked = False
        self._lock = threading.RLock()

    @classmethod
    def model_only(cls, settings: Settings | None = None, quiet: bool = False) -> Collection:
        """A Collection with no store: embed, tokens and compare with the settings' model."""
        collection = cls(settings=settings, quiet=quiet)
        collection.path = None
        return collection

    # -- life cycle -----------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def exists(self) -> bool:
        """True when the folder holds a store."""
        return self.path is not None and store_exists(self.path)

    @property
    @_store_conditions
    def recipe(self) -> Recipe | None:
        """The store's recipe, or None before anything was added."""
        with self._lock:
            return self._store().recipe if self.exists else None

    @property
    @_store_conditions
    def generation(self) -> int:
        """The store's write counter: it changes with every write, from any process."""
        with self._lock:
            return self._store().generation

    @property
    def embedder(self) -> Embedder:
        """The model with the store's recipe (or the settings' for a new store), loaded once."""
        with self._lock:
            if self._embedder is None:
                self._embedder = self._load_embedder()
            return self._embedder

    def load_model(self) -> Embedder:
        """Load the model now (otherwise it is loaded on first use)."""
        return self.embedder

    def _load_embedder(self) -> Embedder:
        """The store's model (from where its recipe says, or from `settings.model`, which must
        hold the same weights), or for a new store the settings' model. Pooling and chunking: the
        settings' when given (a store refuses other ones), else the store's, else the defaults."""
        from indexer.embedder import Embedder

        chosen, recipe = self.settings, self.recipe
        shape = {
            "pooling": chosen.pooling or (recipe.pooling if recipe else POOLING),
            "chunk_tokens": chosen.chunk_tokens
            or (recipe.chunk_tokens if recipe else CHUNK_TOKENS),
            "overlap": chosen.overlap
            if chosen.overlap is not None
            else (recipe.overlap if recipe else OVERLAP),
        }
        options = {
            "device": chosen.device,
            "precision": chosen.precision,
            "batch_tokens": chosen.batch_tokens,
            "quiet": self.quiet,
            "threads": self.threads,
        }
        if recipe is not None and chosen.model is None:
            return Embedder.from_recipe(replace(recipe, **shape), **options)
        return Embedder.load(chosen.model, **shape, **options)

    @contextmanager
    def _writing(self, recipe: Recipe | None = None) -> Iterator[Store]:
        """A writable store (holding the writer lock) for the duration of one operation. With
        `recipe`: created with it when new (an existing one must match it), and switched to the
        settings' index type when one is set."""
        if self.path is None:
            raise StoreError("this Collection has no store (Collection.model_only)")
        if recipe is None:
            store = Store.open(self.path, writable=True)
        else:
            store = Store.create(self.path, recipe, self.settings.index or INDEX)
        with store:
            if recipe is not None and self.settings.index not in (None, store.index_spec):
                store.rebuild(self.settings.index)
            yield store

    def _store(self) -> Store:
        """The read-only store, opened on first use."""
        if self.path is None:
            raise StoreError("this Collection has no store (Collection.model_only)")
        if self._reader is None:
            self._reader = Store.open(self.path)
        return self._reader

    def _query_embedder(self) -> Embedder:
        """The model for queries, checked once against the store's recipe."""
        embedder = self.embedder
        if not self._query_checked:
            self._store().check_recipe(embedder.recipe, QUERY_KEYS)
            self._query_checked = True
        return embedder

    # -- writing --------------------------------------------------------------------------------

    @_store_conditions
    def add(
        self, paths: Sequence[str], sources: SourceOptions | None = None, progress: bool = False
    ) -> Summary:
        """Index files, folders (recursively), JSONL, CSV, or `-` (JSONL on stdin). Every path, CSV
        header, the recipe and the writer lock are checked before anything is written; unchanged
        documents (same content hash) are not embedded again."""
        sources = sources or SourceOptions()
        with self._lock:
            check_sources(list(paths), sources, self.path)
            return self._index(read_sources(list(paths), sources, self.path), progress)

    @_store_conditions
    def add_records(
        self,
        records: Iterable[Mapping[str, Any]],
        sources: SourceOptions | None = None,
        progress: bool = False,
    ) -> Summary:
        """Index records given as dicts (`id`, `text`, `title`, `metadata`, `source`; the field
        names as in `sources`). A record without an id gets `record-N`."""
        sources = sources or SourceOptions()
        items = (
            from_record(dict(record), f"record {n}", f"record-{n}", record.get("source"), sources)
            for n, record in enumerate(records, start=1)
        )
        with self._lock:
            return self._index(items, progress)

    def _index(self, items: Iterable, progress: bool) -> Summary:
        with self._writing(self.embedder.recipe) as store:
            return pipeline.run(
                store, self.embedder, items, self.settings.commit_every, progress=progress
            )

    @_store_conditions
    def add_on_spark(
        self,
        paths: Sequence[str],
        spark: SparkOptions,
        sources: SourceOptions | None = None,
        progress: bool = False,
        embed: Callable | None = None,
    ) -> Summary:
        """Index like `add`, with reading and embedding done by Spark executors into shard files
        under `spark.run_dir`, then written to this store by one writer (`ingest`). The recipe
        is checked before any executor starts; a rerun of an unfinished run resumes it. With
        `spark.shards_only`, stop after the shards (nothing stored; finish with `ingest`).
        `embed`: replaces spark_tasks.embed_shards (tests inject failures with it)."""
        from indexer import spark_job, spark_tasks
        from indexer.shards import RunDir

        sources = sources or SourceOptions()
        paths = list(paths)
        spark_job.check_inputs(paths)
        with self._lock:
            check_sources(paths, sources, self.path)
            recipe, store_id = self._recipe_for_run(spark.shards_only)
            identity = spark_job.RunIdentity(
                inputs=[str(Path(p).absolute()) for p in paths],
                sources=asdict(sources),
                recipe=recipe.to_dict(),
                store=str(self.path.absolute()),
                store_id=store_id,
            )
            run = RunDir(spark.run_dir)
            manifest = spark_job.prepare_run(run, identity, spark.shards, self.path / DB_FILE)
            if manifest["status"] == spark_job.EMBEDDING:
                files, walked = spark_job.list_files(paths, sources, self.path)
                chosen = self.settings
                plan = spark_tasks.EmbedPlan(
                    str(run.path.absolute()),
                    recipe.to_dict(),
                    chosen.model,
                    chosen.device,
                    chosen.precision,
                    chosen.batch_tokens,
                )
                session, own = spark_job.session(spark)
                try:
                    manifest = spark_job.run_shards(
                        session,
                        run,
                        manifest,
                        files,
                        walked,
                        sources,
                        plan,
                        embed or spark_tasks.embed_shards,
                    )
                finally:
                    if own:
                        session.stop()
            if spark.shards_only:
                return spark_job.summary_of(manifest)
            return self.ingest(run.path, progress)

    def _recipe_for_run(self, shards_only: bool) -> tuple[Recipe, str | None]:
        """The recipe a distributed run embeds with, and the store's id: the store's (created
        now with the settings' model when new), checked against the settings. A shards-only run
        does not create the store: it may be written on another machine."""
        if shards_only and not self.exists:
            return self.embedder.recipe, None
        if shards_only:
            store = self._store()
            store.check_recipe(self.embedder.recipe, WRITE_KEYS)
            return store.recipe, store.store_id
        with self._writing(self.embedder.recipe) as store:
            return store.recipe, store.store_id

    @_store_conditions
    def ingest(self, run_dir: str | Path, progress: bool = False) -> Summary:
        """Write the shards of a finished Spark run (`add_on_spark`) to this store, creating it
        with the run's recipe when new. Safe to repeat, and to rerun after a kill."""
        from indexer import spark_job
        from indexer.ingest import ingest
        from indexer.shards import RunDir

        run = RunDir(Path(run_dir))
        manifest = spark_job.finished(run)
        with self._lock, self._writing(spark_job.recipe_of(manifest)) as store:
            return ingest(run, manifest, store, self.settings.commit_every, progress)

    @_store_conditions
    def delete(self, ids: Iterable[str]) -> int:
        """Delete documents by id; returns how many existed."""
        with self._lock, self._writing() as store:
            return store.delete(list(ids))

    @_store_conditions
    def prune(self, dry_run: bool = False) -> list[str]:
        """Delete documents whose source file no longer exists; returns their ids."""
        with self._lock:
            gone = [
                doc_id
                for doc_id, source in self._store().sources().items()
                if source is not None and not Path(source).exists()
            ]
            if gone and not dry_run:
                self.delete(gone)
            return gone

    @_store_conditions
    def rebuild(self, index: str) -> dict[str, Any]:
        """Rebuild the FAISS index as another type from the stored vectors (no re-embedding)."""
        with self._lock, self._writing() as store:
            built = store.rebuild(index)
            return {"index_type": built.spec, "vectors": built.count}

    @_store_conditions
    def repair(self) -> dict[str, Any]:
        """Rebuild the full-text and FAISS indexes from SQLite; returns the verify report."""
        with self._lock, self._writing() as store:
            return store.repair()

    # -- searching ------------------------------------------------------------------------------

    @_store_conditions
    def search(
        self,
        query: str,
        k: int = K,
        mode: str = MODE,
        filters: Sequence[str | Filter] = (),
        vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """Top-k documents for `query` (dense, lexical or hybrid), each with its best chunk.
        `filters`: expressions such as "year>=1960" (see `store.filters`), all of which hold.
        `vector`: the query's vector when already computed with `embed`."""
        parsed = parse_filters(filters)
        with self._lock:
            if vector is None and mode != "lexical":
                vector = self._query_embedder().embed([query])[0]
            return self._store().search(vector, query, k=k, mode=mode, filters=parsed)

    def explain(self, query: str, hit: Hit | str) -> Explanation:
        """Each token's exact share of the cosine between `query` and a hit's chunk (or a text)."""
        text = hit.text if isinstance(hit, Hit) else hit
        with self._lock:
            return self._query_embedder().explain(query, text)

    @_store_conditions
    def count(self, filters: Sequence[str | Filter] = ()) -> int:
        """Documents that every filter holds for (all documents without filters)."""
        with self._lock:
            return self._store().count_matching(parse_filters(filters))

    # -- reading --------------------------------------------------------------------------------

    @_store_conditions
    def document(self, doc_id: str) -> dict[str, Any] | None:
        """A document (text, title, source, metadata) with its chunks' spans, or None."""
        with self._lock:
            return self._store().get(doc_id)

    @_store_conditions
    def chunk(self, chunk_id: int) -> dict[str, Any] | None:
        """One chunk with its document id, span and text, or None."""
        with self._lock:
            return self._store().chunk(chunk_id)

    @_store_conditions
    def vectors(self, chunk_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vectors of these chunks, by chunk id (missing ids left out)."""
        with self._lock:
            return self._store().chunk_vectors(list(chunk_ids))

    @_store_conditions
    def fields(self) -> dict[str, dict[str, Any]]:
        """Metadata keys with their types, counts, distinct values, min and max."""
        with self._lock:
            return self._store().metadata_fields()

    @_store_conditions
    def values(self, key: str, limit: int = 200) -> list[Any]:
        """Distinct values of one metadata key, most frequent first."""
        with self._lock:
            return self._store().distinct_values(key, limit)

    @_store_conditions
    def sample(self, size: int) -> list[dict[str, Any]]:
        """Up to `size` documents (id, title, metadata) with their first chunk's vector."""
        with self._lock:
            return self._store().sample_documents(size)

    @_store_conditions
    def stats(self) -> dict[str, Any]:
        """Counts, recipe, index type and sizes on disk."""
        with self._lock:
            return self._store().stats()

    @_store_conditions
    def verify(self, sample: int = 100) -> dict[str, Any]:
        """Compare SQLite with FAISS and the full-text index; `ok` when all agree."""
        with self._lock:
            return self._store().verify(sample)

    @_store_conditions
    def export(self, folder: str | Path) -> int:
        """Write the TensorBoard Embedding Projector files; returns the number of vectors."""
        from indexer.export import export_projector

        with self._lock:
            return export_projector(self._store(), Path(folder))

    @_store_conditions
    def evaluate(self, beir: str | Path, split: str = "test") -> dict[str, Any]:
        """nDCG@10, recall@100 and MRR@10 per mode on a BEIR folder, indexing its corpus first
        when this store does not exist yet."""
        from indexer.evaluation import evaluate

        return evaluate(self, Path(beir), split)

    # -- the model ------------------------------------------------------------------------------

    @_store_conditions
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Pooled, normalized vectors of `texts`, as the store's recipe makes them (the settings'
        model when there is no store)."""
        with self._lock:
            embedder = self._query_embedder() if self.exists else self.embedder
            return embedder.embed(list(texts))

    def tokens(self, text: str) -> TokenView:
        """Every position's vector of a text at most one window long, with offsets."""
        with self._lock:
            return self.embedder.token_embeddings(text)

    def compare(self, a: str, b: str) -> Comparison:
        """Token-by-token and pooled cosines of two texts."""
        from indexer.comparison import compare

        with self._lock:
            return compare(self.embedder, a, b)


def parse_filters(filters: Sequence[str | Filter]) -> list[Filter]:
    """Filter expressions parsed (Filter objects pass through)."""
    return [item if isinstance(item, Filter) else parse_filter(item) for item in filters]
