"""The one front door: a store folder and the model that reads and writes it.

    from indexer import Collection

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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer import pipeline, probes
from indexer.batch.parts import auto_workers
from indexer.embedding.matched_pages import matched_page
from indexer.memory import release_free_memory
from indexer.settings import (
    CONCORDANCE_LIMIT,
    CONCORDANCES_KEPT,
    INDEX,
    MODE,
    NO_ANSWER_MIN,
    NO_ANSWER_QUERIES,
    NO_ANSWER_SAMPLE,
    RECALL_K,
    RECALL_SAMPLE,
    VERIFY_SAMPLE,
    K,
    Settings,
    SparkOptions,
    default_store,
    machine_workers,
)
from indexer.sources.fields import document_from_fields
from indexer.sources.inputs import InputFile, plan_inputs
from indexer.sources.options import SourceOptions
from indexer.sources.positions import POSITIONS_IN, outlived
from indexer.summary import Summary
from indexer.workbench import Workbench
from store.catalog import translated
from store.errors import SemsearchError
from store.filters import Filter, parse_filter
from store.recipe import QUERY_KEYS, WRITE_KEYS, Recipe
from store.results import (
    Chunk,
    Corpus,
    Document,
    Hit,
    MetadataField,
    Rebuilt,
    Recall,
    SampledDocument,
    Stats,
    VerifyReport,
)
from store.store import DB_FILE, Store, store_exists

if TYPE_CHECKING:
    from indexer.concordance.report import Concordance
    from indexer.embedding.embedder import Embedder


CONCORDANCE_KEY = "concordance/"  # cached concordances, by word, limit and layer


class SearchError(SemsearchError):
    """A search that cannot be answered as asked."""


def _store_conditions(method: Callable) -> Callable:
    """SQLite failures that are the store's or the disk's condition (a damaged file, a read-only
    or full disk) become StoreErrors naming the store; anything else stays what it is."""

    @functools.wraps(method)
    def wrapper(self: Collection, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise translated(self.path / DB_FILE, error) or error from None

    return wrapper


class Collection(Workbench):
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
        `quiet`: no warning on stderr when the default model or the runtime falls back.
        `threads`: the runtime's CPU threads (default: every core)."""
        super().__init__(settings, quiet=quiet, threads=threads)
        self.path = Path(path) if path is not None else default_store()
        self._reader: Store | None = None
        self._query_checked = False
        self._derived: dict[str, tuple[int, Any]] = {}  # name -> (generation, value)

    @classmethod
    def of_run(
        cls, run_dir: str | Path, settings: Settings | None = None, **options: Any
    ) -> Collection:
        """The Collection of the store a Spark run (`add_on_spark`) was made for."""
        from indexer.spark.ingest import check_run
        from indexer.spark.run_folder import RunFolder

        manifest = check_run(RunFolder(Path(run_dir)))
        return cls(manifest.identity.store, settings, **options)

    # -- life cycle -----------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    @property
    def exists(self) -> bool:
        """True when the folder holds a store."""
        return store_exists(self.path)

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
    @_store_conditions
    def store_id(self) -> str:
        """The store's identity: another store built in the folder has another one."""
        with self._lock:
            return self._store().store_id

    def _shape(self) -> dict[str, str | int]:
        """Pooling and chunking: the settings' when given (a store refuses other ones), else the
        store's, else the defaults."""
        recipe, given = self.recipe, super()._shape()
        if recipe is None:
            return given
        chosen = self.settings
        return {
            "pooling": chosen.pooling or recipe.pooling,
            "chunk_tokens": chosen.chunk_tokens or recipe.chunk_tokens,
            "overlap": recipe.overlap if chosen.overlap is None else chosen.overlap,
        }

    def _precision(self) -> str:
        """The settings' precision, else the store's (an int8 store is queried in int8), else
        the default."""
        recipe = self.recipe
        return self.settings.precision or (recipe.precision if recipe else super()._precision())

    def _load_embedder(self) -> Embedder:
        """The store's model (from where its recipe says, or from `settings.model`, which must
        hold the same weights), or for a new store the settings' model."""
        from indexer.embedding.embedder import Embedder

        recipe = self.recipe
        if recipe is None or self.settings.model is not None:
            return super()._load_embedder()
        return Embedder.from_recipe(replace(recipe, **self._shape()), **self._model_options())

    @contextmanager
    def _writing(self, recipe: Recipe | None = None) -> Iterator[Store]:
        """A writable store (holding the writer lock) for the duration of one operation. With
        `recipe`: created with it when new (an existing one must match it), and switched to the
        settings' index type when one is set."""
        if recipe is None:
            store = Store.open(self.path, writable=True)
        else:
            store = Store.create(self.path, recipe, self.settings.index or INDEX)
        with store:
            if recipe is not None and self.settings.index not in (None, store.index_spec):
                store.rebuild(self.settings.index)
            yield store

    def _store(self) -> Store:
        """The read-only store, opened on first use, and again when the folder's store was
        replaced (deleted, or another one built there): never the deleted one's answers."""
        if self._reader is not None and self._reader.replaced():
            self._forget_store()
        if self._reader is None:
            self._reader = Store.open(self.path)
        return self._reader

    def _forget_store(self) -> None:
        """Close the read-only store and drop what was derived from it (the model too, when it
        came from the store's recipe: the new store may have another)."""
        self._reader.close()
        self._reader = None
        self._query_checked = False
        self._derived = {}
        if self.settings.model is None:
            self._embedder = None

    def _query_embedder(self) -> Embedder:
        """The model for queries, checked once against the store's recipe (the settings' model
        when there is no store yet)."""
        store = self._store() if self.exists else None  # first: a replaced one drops the model
        embedder = self.embedder
        if store is not None and not self._query_checked:
            store.check_recipe(embedder.recipe, QUERY_KEYS)
            self._query_checked = True
        return embedder

    # -- writing --------------------------------------------------------------------------------

    @_store_conditions
    def add(
        self,
        paths: Sequence[str],
        sources: SourceOptions | None = None,
        progress: bool = False,
        keep_model: bool = True,
    ) -> Summary:
        """Index files, folders (recursively), JSONL, CSV, or `-` (JSONL on stdin). Every path, CSV
        header, the recipe and the writer lock are checked before anything is written; unchanged
        documents (same content hash) are not embedded again. `keep_model=False`: the model is
        let go once the documents are written, before the vector index is built (a lower peak
        for a process that ends with the run; a later use loads it again)."""
        sources = sources or SourceOptions()
        with self._lock:
            plan = plan_inputs(list(paths), sources, never=[self.path])
            workers = self.settings.workers or auto_workers(plan, machine_workers())
            with self._writing(self.embedder.recipe) as store:
                summary = pipeline.run_plan(
                    store,
                    self.embedder,
                    plan,
                    sources,
                    self.settings.commit_every,
                    workers,
                    progress=progress,
                )
                if not keep_model:  # let go before the store's close builds the vector index
                    self._embedder = None
                    release_free_memory()
            summary.outlived = self._delete_outlived(plan)
            return summary

    def _delete_outlived(self, plan: Sequence[Any]) -> list[str]:
        """Delete the documents of the plan's files whose id names a line, row or message the
        file no longer has (`sources.positions`); their ids."""
        read = {
            str(item.path.resolve())
            for item in plan
            if isinstance(item, InputFile) and item.path.suffix.lower() in POSITIONS_IN
        }
        if not read or not self.exists:
            return []
        gone = outlived(self._store().sources(sorted(read)).items())
        if gone:
            self.delete(gone)
        return gone

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
            document_from_fields(
                dict(record), f"record {n}", f"record-{n}", record.get("source"), sources
            )
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
        under `spark.run_folder(store)`, then written to this store by one writer (`ingest`). The
        recipe is checked before any executor starts; a rerun of an unfinished run resumes it.
        With `spark.shards_only`, stop after the shards (nothing stored; finish with `ingest`).
        `embed`: replaces spark.tasks.embed_shards (tests inject failures with it)."""
        from indexer.spark import job, tasks

        with self._lock:
            folder = job.run(
                list(paths),
                sources or SourceOptions(),
                spark,
                self._run_target(),
                self.settings,
                quiet=self.quiet,
                embed=embed or tasks.embed_shards,
            )
            if spark.shards_only:
                from indexer.spark.ingest import check_run

                return check_run(folder).summary()
            embedded = folder.read_manifest()
            summary = self.ingest(folder.path, progress)
            summary.seconds += embedded.seconds
            summary.outlived = self._delete_outlived(
                plan_inputs(list(paths), sources or SourceOptions(), never=[self.path, folder.path])
            )
            return summary

    def _run_target(self) -> Any:
        """What a Spark run is made against: this store (its recipe checked against the
        settings', read-only) or, before it exists, the settings' recipe and no store."""
        from indexer.spark.job import Target

        if not self.exists:
            return Target(self.path, self.embedder.recipe, None, lambda: iter(()))
        store = self._store()
        store.check_recipe(self.embedder.recipe, WRITE_KEYS)
        return Target(self.path, store.recipe, store.store_id, store.stored_documents)

    @_store_conditions
    def ingest(
        self, run_dir: str | Path, progress: bool = False, any_store: bool = False
    ) -> Summary:
        """Write the shards of a finished Spark run (`add_on_spark`) to this store, creating it
        with the run's recipe when new. The whole run folder is checked first: a run that is
        incomplete, damaged, or made against another store is refused before anything is written
        (`any_store`: accept another store when the run left nothing out). Safe to repeat, and to
        rerun after a kill; never replaces a document the store changed after the run read it."""
        from indexer.spark import ingest
        from indexer.spark.run_folder import RunFolder

        folder = RunFolder(Path(run_dir))
        with self._lock:
            manifest = ingest.check_run(folder)
            store_id = self._store().store_id if self.exists else None
            ingest.check_target(manifest, folder, store_id, any_store)
            with self._writing(ingest.recipe_of(manifest)) as store:
                return ingest.ingest(folder, manifest, store, self.settings.commit_every, progress)

    @_store_conditions
    def delete(self, ids: Iterable[str]) -> int:
        """Delete documents by id; returns how many existed."""
        with self._lock, self._writing() as store:
            return store.delete(list(ids))

    @_store_conditions
    def prune(self, dry_run: bool = False) -> list[str]:
        """Delete documents whose source file no longer exists, or whose id names a line, row or
        message their file no longer has; returns their ids."""
        with self._lock:
            stored = self._store().sources().items()
            gone = [
                doc_id
                for doc_id, source in stored
                if source is not None and not Path(source).exists()
            ]
            gone += outlived(stored)
            if gone and not dry_run:
                self.delete(gone)
            return gone

    @_store_conditions
    def rebuild(self, index: str) -> Rebuilt:
        """Rebuild the FAISS index as another type from the stored vectors (no re-embedding)."""
        with self._lock, self._writing() as store:
            built = store.rebuild(index)
            return Rebuilt(built.spec, built.count)

    @_store_conditions
    def repair(self) -> VerifyReport:
        """Rebuild the full-text and FAISS indexes from SQLite; returns the verify report."""
        with self._lock, self._writing() as store:
            return store.repair(VERIFY_SAMPLE)

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
        if vector is None and not query.strip():
            raise SearchError("the query is empty: type what to search for")
        with self._lock:
            if vector is None and mode != "lexical":
                vector = self._query_embedder().embed([query])[0]
            hits = self._store().search(vector, query, k=k, mode=mode, filters=parsed)
            for hit in hits:
                if hit.first_page is not None and hit.last_page != hit.first_page:
                    hit.page = self._matched_page(query, hit, mode)
            return hits

    def _matched_page(self, query: str, hit: Hit, mode: str) -> int:
        """The page of a hit's chunk that holds its match (the chunk spans pages)."""
        starts = self._store().page_starts(hit.doc_id) or [0]
        cosine = mode != "lexical" and bool(query.strip())
        explain = (lambda: self._query_embedder().explain(query, hit.text)) if cosine else None
        return matched_page(query, hit.text, hit.start, starts, explain)

    @_store_conditions
    def count(self, filters: Sequence[str | Filter] = ()) -> int:
        """Documents that every filter holds for (all documents without filters)."""
        with self._lock:
            return self._store().count(parse_filters(filters))

    def _per_generation(self, name: str, compute: Callable[[], Any]) -> Any:
        """`compute()`, cached until the store's generation changes."""
        generation = self.generation
        cached = self._derived.get(name)
        if cached is None or cached[0] != generation:
            self._derived[name] = (generation, compute())
        return self._derived[name][1]

    @_store_conditions
    def no_answer_scores(self) -> list[float]:
        """What a query with no answer in this store scores, sorted: the best dense score of each
        of NO_ANSWER_QUERIES queries made of words from different documents (indexer.probes).
        Needs the model; cached per store generation."""

        def compute() -> list[float]:
            texts = self._store().sample_texts(NO_ANSWER_SAMPLE)
            queries = probes.no_answer_queries(texts, NO_ANSWER_QUERIES)
            if not queries:
                return []
            vectors = self._query_embedder().embed(queries)
            best = [self._store().search(v, None, k=1, mode="dense") for v in vectors]
            return sorted(hits[0].score for hits in best if hits)

        with self._lock:
            return self._per_generation("no_answer_scores", compute)

    def match_strength(self, score: float) -> float | None:
        """The share of queries with no answer here (`no_answer_scores`) that score below a best
        dense `score`; None when too few were made to say. Below WEAK_MATCH, the store probably
        holds no answer: a weak match."""
        reference = self.no_answer_scores()
        if len(reference) < NO_ANSWER_MIN:
            return None
        return probes.share_below(score, reference)

    @_store_conditions
    def example_queries(self, count: int = 3) -> list[str]:
        """A few short first sentences of this store's documents, to show a newcomer what it
        holds. Cached per store generation."""
        with self._lock:
            texts = self._per_generation(
                "example_texts", lambda: self._store().sample_texts(NO_ANSWER_SAMPLE, seed=1)
            )
            return probes.example_queries(texts, count)

    @_store_conditions
    def quantiles(self, key: str, count: int) -> list[float]:
        """`count` + 1 evenly spaced quantiles (min to max) of the numbers a metadata key holds,
        duplicates removed; [] when it holds none. Cached per store generation."""
        with self._lock:
            numbers = self._per_generation(f"numbers:{key}", lambda: self._store().numbers(key))
        if not numbers:
            return []
        steps = np.quantile(numbers, np.linspace(0, 1, count + 1), method="inverted_cdf")
        return sorted({n.item() for n in steps})

    @_store_conditions
    def corpus(self) -> Corpus:
        """What the store holds: `documents`, `sources` (distinct), and `where`: the one source,
        or the folder every source is in (None without sources). Cached per store generation."""
        with self._lock:
            return self._per_generation("corpus", lambda: self._store().corpus())

    @_store_conditions
    def concordance(
        self, word: str, limit: int = CONCORDANCE_LIMIT, layer: int | None = None
    ) -> Concordance:
        """The occurrences of `word` in the store (found through the full-text index, up to
        `limit`, spread evenly when there are more), each with its vector at `layer` (None: the
        last) from the store's model in its chunk's window, grouped by sense (one group when the
        rule finds one sense; `indexer.settings` SENSE_*). Cached per store generation."""
        from indexer.concordance import report

        checked = None if layer is None else self._checked_layer(layer)
        with self._lock:
            result = self._per_generation(
                f"{CONCORDANCE_KEY}{word.strip().lower()}/{limit}/{checked}",
                lambda: report.build(self._store(), self._query_embedder(), word, limit, checked),
            )
            kept = [name for name in self._derived if name.startswith(CONCORDANCE_KEY)]
            for oldest in kept[: max(len(kept) - CONCORDANCES_KEPT, 0)]:
                del self._derived[oldest]
            return result

    # -- reading --------------------------------------------------------------------------------

    @_store_conditions
    def document(self, doc_id: str) -> Document | None:
        """A document (text, title, source, metadata) with its chunks' spans, or None."""
        with self._lock:
            return self._store().document(doc_id)

    @_store_conditions
    def chunk(self, chunk_id: int) -> Chunk | None:
        """One chunk with its document id, span and text, or None."""
        with self._lock:
            return self._store().chunk(chunk_id)

    @_store_conditions
    def chunk_vectors(self, chunk_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vectors of these chunks, by chunk id (missing ids left out)."""
        with self._lock:
            return self._store().chunk_vectors(list(chunk_ids))

    @_store_conditions
    def fields(self) -> dict[str, MetadataField]:
        """Metadata keys with their types, counts, distinct values, min and max."""
        with self._lock:
            return self._store().fields()

    @_store_conditions
    def values(self, key: str, limit: int = 200) -> list[Any]:
        """Distinct values of one metadata key, most frequent first."""
        with self._lock:
            return self._store().values(key, limit)

    @_store_conditions
    def sample(self, size: int) -> list[SampledDocument]:
        """Up to `size` documents (id, title, metadata) with their first chunk's vector."""
        with self._lock:
            return self._store().sample(size)

    @_store_conditions
    def stats(self) -> Stats:
        """Counts, recipe, index type, sizes on disk, and the index's measured recall."""
        with self._lock:
            return replace(self._store().stats(), recall=self.index_recall())

    @_store_conditions
    def index_recall(self) -> Recall:
        """recall@RECALL_K of the FAISS index against an exact scan, on RECALL_SAMPLE stored chunks
        as queries, with its 95% interval; 1.0 for flat. Cached per store generation."""
        with self._lock:
            return self._store().index_recall(RECALL_SAMPLE, RECALL_K)

    @_store_conditions
    def verify(
        self, sample: int = VERIFY_SAMPLE, recall_at_least: float | None = None
    ) -> VerifyReport:
        """Compare SQLite with FAISS and the full-text index; `ok` when all agree. With
        `recall_at_least`, also measure the index's recall and fail below it."""
        with self._lock:
            report = self._store().verify(sample)
            if recall_at_least is not None:
                measured = report.recall = self.index_recall()
                if measured.recall < recall_at_least:
                    report.ok = False
                    report.problems.append(
                        f"{measured.describe()} is below {recall_at_least}: rebuild with a more "
                        "exact index (`semsearch rebuild --index ivf-fp16`, hnsw or flat)"
                    )
            return report

    @_store_conditions
    def export(self, folder: str | Path) -> int:
        """Write the TensorBoard Embedding Projector files; returns the number of vectors."""
        from indexer.export import export_projector

        with self._lock:
            return export_projector(self._store(), Path(folder))


def parse_filters(filters: Sequence[str | Filter]) -> list[Filter]:
    """Filter expressions parsed (Filter objects pass through)."""
    return [item if isinstance(item, Filter) else parse_filter(item) for item in filters]
