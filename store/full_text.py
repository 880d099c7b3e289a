"""The full-text engine of a store: a Tantivy index of chunk text, ranked by BM25.

One engine document per chunk: its text (analysed, frequencies only, not stored), its chunk id (a
fast field, read back without touching the document store) and its document id (a raw term, for
filters); nothing else, so that BM25's document count and mean length are the chunks' own.
`state.json` beside Tantivy's files says what the engine reflects: the store it belongs to, the
generation, the checksum of the chunk ids, and the ranking rule. It is written (atomically) after
each commit, so the content is never older than the state says; a commit whose state was never
written is replayed from the log, which is safe because applying a change twice leaves the same
engine (added chunk ids are deleted first).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tantivy
from tantivy import Filter, Occur, Query, TextAnalyzerBuilder, Tokenizer

from store.errors import StoreError
from store.function_words import FUNCTION_WORDS

ENGINE_FOLDER = "fulltext.tantivy"
ANALYZER_NAME = "semsearch"
STATE_FILE = "state.json"
MAX_TOKEN_BYTES = 40  # longer tokens (hashes, base64) are dropped, as Tantivy's default does
# What decides a lexical score, recorded in the store's manifest and the engine's state: an engine
# whose rule differs is rebuilt. Tantivy's BM25 constants are fixed (the same as SQLite FTS5's).
RANKING = {
    "engine": "tantivy",
    "index_format": tantivy.__version__.split("index_format ")[-1],
    "unit": "chunk",
    "analyzer": "simple tokenizer (unicode alphanumeric runs), remove tokens over "
    f"{MAX_TOKEN_BYTES} bytes, lowercase, ASCII folding, English (Snowball) stemmer",
    "bm25": {"k1": 1.2, "b": 0.75},
    "query": "a chunk matches any query term; function words (the, of, which...) are left out "
    "of a query that has other words",
}
WRITER_HEAP = 64_000_000  # bytes a writer buffers before it writes a segment
BUILD_HEAP = 128_000_000


class EngineFolderError(StoreError):
    """The engine folder is missing, damaged, or written by an incompatible Tantivy."""


def analyzer() -> tantivy.TextAnalyzer:
    """The one analyzer rule for indexing and querying chunk text."""
    return (
        TextAnalyzerBuilder(Tokenizer.simple())
        .filter(Filter.remove_long(MAX_TOKEN_BYTES))
        .filter(Filter.lowercase())
        .filter(Filter.ascii_fold())
        .filter(Filter.stemmer("english"))
        .build()
    )


def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", tokenizer_name=ANALYZER_NAME, index_option="freq")
    builder.add_integer_field("chunk_id", indexed=True, fast=True)
    builder.add_text_field("doc_id", tokenizer_name="raw", index_option="basic")
    return builder.build()


class FullTextIndex:
    """A Tantivy index of chunks: on disk in an engine folder, or in memory (`path` None)."""

    def __init__(self, index: tantivy.Index, path: Path | None) -> None:
        self.index = index
        self.path = path
        self.schema = index.schema
        self._analyzer = analyzer()
        index.register_tokenizer(ANALYZER_NAME, self._analyzer)
        self._function_terms = {t for w in FUNCTION_WORDS for t in self._analyzer.analyze(w)}
        index.config_reader("Manual")
        self._writer: tantivy.IndexWriter | None = None
        self.state: dict[str, Any] | None = self._read_state()  # before the commit it describes
        self.searcher = index.searcher()

    @classmethod
    def open(cls, path: Path) -> FullTextIndex:
        """The engine in `path`; EngineFolderError when there is none or it cannot be read."""
        try:
            if not (path / "meta.json").is_file():
                raise EngineFolderError(f"{path} holds no full-text index")
            engine = cls(tantivy.Index.open(str(path)), path)
        except (ValueError, OSError) as error:  # a folder this user may not enter, too
            raise EngineFolderError(f"{path} cannot be read ({error})") from None
        return engine

    @classmethod
    def create(cls, path: Path | None) -> FullTextIndex:
        """A new, empty engine in `path` (replacing what is there), or in memory."""
        if path is not None:
            if path.exists():
                shutil.rmtree(path)
            path.mkdir(parents=True)
        return cls(tantivy.Index(schema(), path=None if path is None else str(path)), path)

    # -- what it reflects -------------------------------------------------------------------

    def _read_state(self) -> dict[str, Any] | None:
        if self.path is None:
            return getattr(self, "state", None)
        try:
            state = json.loads((self.path / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _write_state(self, state: dict[str, Any]) -> None:
        if self.path is not None:
            temporary = self.path / f"{STATE_FILE}.tmp"
            temporary.write_text(json.dumps(state))
            os.replace(temporary, self.path / STATE_FILE)
        self.state = state

    @property
    def generation(self) -> int:
        return -1 if self.state is None else int(self.state.get("generation", -1))

    @property
    def count(self) -> int:
        """Chunks held."""
        return self.searcher.num_docs

    def reload(self) -> None:
        """See the latest commit (another process's too)."""
        self.state = self._read_state()
        self.index.reload()
        self.searcher = self.index.searcher()

    # -- writing ----------------------------------------------------------------------------

    def apply(
        self,
        added: Iterable[tuple[int, str, str]],
        removed: Sequence[int],
        state: dict[str, Any],
        heap: int = WRITER_HEAP,
        fresh: bool = False,
    ) -> None:
        """Remove chunks by id, add (chunk id, document id, text) rows (replacing any held
        under the same id, unless the engine is `fresh`: then they stream), in one commit; then
        record `state`."""
        if self._writer is None:
            self._writer = self.index.writer(heap_size=heap, num_threads=1)
        writer = self._writer
        ids = [int(i) for i in removed]
        if not fresh:
            added = list(added)
            ids += [row[0] for row in added]
        for start in range(0, len(ids), 10_000):
            part = ids[start : start + 10_000]
            writer.delete_documents_by_query(Query.term_set_query(self.schema, "chunk_id", part))
        for chunk_id, doc_id, text in added:
            writer.add_document(tantivy.Document(text=text, chunk_id=chunk_id, doc_id=doc_id))
        writer.commit()
        self._write_state(state)
        self.reload()

    def close(self) -> None:
        """Let the writer finish its merges and release the engine's lock."""
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None

    # -- reading ----------------------------------------------------------------------------

    def terms(self, text: str) -> list[str]:
        """The distinct analysed terms of `text` a query ranks by: without the function words,
        unless it has no other (they are in nearly every chunk, add little to a score, and make
        a search at a million chunks read most of the index)."""
        terms = list(dict.fromkeys(self._analyzer.analyze(text)))
        return [t for t in terms if t not in self._function_terms] or terms

    def query(self, terms: list[str], doc_ids: list[str] | None = None) -> Query:
        """Chunks holding any of `terms` (BM25 summed), only of `doc_ids` when given (a filter
        that adds nothing to the score)."""
        query = Query.boolean_query(
            [(Occur.Should, Query.term_query(self.schema, "text", t, "freq")) for t in terms]
        )
        if doc_ids is None:
            return query
        allowed = Query.const_score_query(Query.term_set_query(self.schema, "doc_id", doc_ids), 0.0)
        return Query.boolean_query([(Occur.Must, query), (Occur.Must, allowed)])

    def search(self, query: Query, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, scores) of the best `limit` chunks, best first."""
        hits = self.searcher.search(query, limit, count=False).hits
        if not hits:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        ids = self.searcher.fast_field_values("chunk_id", [address for _, address in hits])
        return np.array(ids, np.int64), np.array([score for score, _ in hits], np.float32)

    def chunk_ids(self) -> np.ndarray:
        """Every chunk id held, sorted."""
        hits = self.searcher.search(Query.all_query(), max(self.searcher.num_docs, 1)).hits
        ids = np.array(
            self.searcher.fast_field_values("chunk_id", [address for _, address in hits]),
            np.int64,
        )
        return np.sort(ids)

    def size_on_disk(self) -> int:
        if self.path is None:
            return 0
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
