"""The store's invariants: SQLite is the truth, FAISS a cache that is rebuilt or caught up."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from store import store as store_module
from store.errors import RecipeMismatchError, StoreError, StoreLockedError
from store.faiss_index import VectorIndex
from store.filters import Filter, FilterError, parse_filter
from store.index_cache import INDEX_FILE
from store.recipe import WRITE_KEYS, Recipe
from store.records import ChunkRecord, DocumentRecord
from store.results import Corpus
from store.store import Store

DIM = 16
RECIPE = Recipe("test-model", "sha256:abc", DIM, "mean", chunk_tokens=256, overlap=32)
ROOT = Path(__file__).resolve().parents[1]


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_docs(n: int, seed: int = 0, chunks: int = 2, prefix: str = "d") -> list[DocumentRecord]:
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        vectors = unit(rng, chunks)
        words = "cats purr" if i % 3 else "dogs bark"
        text = f"document {i}: {words}"
        docs.append(
            DocumentRecord(
                id=f"{prefix}{i}",
                text=text,
                title=f"Title {i}",
                source=f"src/{i}.txt",
                metadata={"year": 2000 + i % 20, "lang": "en" if i % 2 else "de", "n": i},
                chunks=[ChunkRecord(j, 0, len(text), 4, vectors[j]) for j in range(chunks)],
            )
        )
    return docs


def brute_force(docs: list[DocumentRecord], query: np.ndarray, k: int) -> list[tuple[str, float]]:
    best = {d.id: max(float(c.vector @ query) for c in d.chunks) for d in docs}
    return sorted(best.items(), key=lambda item: -item[1])[:k]


def ranking(hits) -> list[tuple[str, float]]:
    return [(h.doc_id, round(h.score, 5)) for h in hits]


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, list[DocumentRecord]]:
    docs = make_docs(300)
    with Store.create(tmp_path / "s", RECIPE, "flat") as store:
        store.upsert(docs)
    return tmp_path / "s", docs


def test_flat_search_equals_numpy_brute_force(filled) -> None:
    folder, docs = filled
    query = unit(np.random.default_rng(9), 1)[0]
    with Store.open(folder) as store:
        hits = store.search(query, None, k=10, mode="dense")
    expected = [(doc_id, round(score, 5)) for doc_id, score in brute_force(docs, query, 10)]
    assert ranking(hits) == expected
    assert len({h.doc_id for h in hits}) == 10, "results are per document"
    assert hits[0].parts["dense"]["rank"] == 1 and hits[0].title and hits[0].text


def damage_file(path: Path, damage: str) -> None:
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(b"not an index")


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage"])
def test_lost_or_damaged_index_file_gives_same_results(filled, damage: str) -> None:
    folder, docs = filled
    query = unit(np.random.default_rng(3), 1)[0]
    with Store.open(folder) as store:
        before = ranking(store.search(query, None, k=10, mode="dense"))
    path = folder / INDEX_FILE
    damage_file(path, damage)
    damaged = path.read_bytes() if path.exists() else None
    with Store.open(folder, writable=True):  # while a writer is active, readers leave the file
        with Store.open(folder) as store:
            assert ranking(store.search(query, None, k=10, mode="dense")) == before
            report = store.verify(100)
            assert report.ok, report
            assert report.warnings, "a damaged index file is reported"
        assert (path.read_bytes() if path.exists() else None) == damaged
    assert VectorIndex.load(path).count == 600, "the writer saved a good file when it closed"


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_reader_saves_the_index_it_rebuilt_when_no_writer_is_active(filled, damage) -> None:
    folder, _ = filled
    path = folder / INDEX_FILE
    damage_file(path, damage)
    with Store.open(folder) as store:
        store.search(unit(np.random.default_rng(3), 1)[0], None, k=3, mode="dense")
        generation = store.generation
    saved = VectorIndex.load(path)
    assert (saved.count, saved.generation) == (600, generation)
    with Store.open(folder) as store:
        assert store.verify(100).warnings == []


def test_index_file_one_generation_behind_is_caught_up(filled) -> None:
    folder, docs = filled
    stale = (folder / INDEX_FILE).read_bytes()
    extra = make_docs(5, seed=7, prefix="new")
    with Store.open(folder, writable=True) as store:
        store.upsert(extra)
        store.delete(["d0", "d1"])
    (folder / INDEX_FILE).write_bytes(stale)  # the file is now two generations behind
    query = extra[3].chunks[0].vector
    with Store.open(folder) as store:
        assert VectorIndex.load(folder / INDEX_FILE).generation < store.generation
        hits = store.search(query, None, k=5, mode="dense")
        assert hits[0].doc_id == "new3"
        everything = {h.doc_id for h in store.search(query, None, k=1000, mode="dense")}
        assert "d0" not in everything and len(everything) == 303
        assert store.verify(100).ok


CRASH_WRITER = """
import os, sys
sys.path.insert(0, {root!r})
from tests.test_store import make_docs, RECIPE
from store.store import Store
from tests.conftest import read_only
store = Store.create({folder!r}, RECIPE, {spec!r})
store.upsert(make_docs(40, seed=5, prefix="crash"))
store.delete(["d7"])
os._exit(0)  # dies after the SQLite commits, before the FAISS file is written
"""


@pytest.mark.parametrize("spec", ["flat", "hnsw", "ivf"])
def test_crash_between_commit_and_rename_leaves_a_consistent_store(tmp_path, spec) -> None:
    folder = tmp_path / "s"
    with Store.create(folder, RECIPE, spec) as store:
        store.upsert(make_docs(300))
    (folder / (INDEX_FILE + ".tmp999")).write_bytes(b"half-written")
    script = CRASH_WRITER.format(root=str(ROOT), folder=str(folder), spec=spec)
    subprocess.run([sys.executable, "-c", script], check=True)
    with Store.open(folder, writable=True) as store:
        report = store.verify(100)
        assert report.ok, report
        assert report.chunks == (300 + 40 - 1) * 2
        query = make_docs(40, seed=5, prefix="crash")[11].chunks[1].vector
        assert store.search(query, None, k=1, mode="dense")[0].doc_id == "crash11"
    assert not list(folder.glob(INDEX_FILE + ".tmp*"))
    assert VectorIndex.load(folder / INDEX_FILE).count == 678


def test_other_recipe_is_refused_naming_both(filled) -> None:
    folder, _ = filled
    other = replace(RECIPE, model="other-model", model_fingerprint="sha256:def", dim=8)
    with pytest.raises(RecipeMismatchError) as error:
        Store.create(folder, other)
    message = str(error.value)
    assert "test-model" in message and "other-model" in message and "sha256:def" in message
    with Store.open(folder) as store:
        with pytest.raises(RecipeMismatchError, match="chunk_tokens"):
            store.check_recipe(replace(RECIPE, chunk_tokens=128), WRITE_KEYS)
        store.check_recipe(replace(RECIPE, chunk_tokens=128))  # queries ignore chunking


def test_a_model_that_moved_is_the_same_model(filled) -> None:
    folder, _ = filled
    moved = replace(RECIPE, model="/new/home/of/test-model")
    with Store.create(folder, moved) as store:  # same fingerprint: accepted, location remembered
        assert store.recipe.model == "/new/home/of/test-model"
    with Store.open(folder) as store:
        assert store.recipe == moved


def test_second_writer_is_refused_clearly(filled) -> None:
    folder, _ = filled
    with Store.open(folder, writable=True):
        with pytest.raises(StoreLockedError, match=f"pid {os.getpid()}"):
            Store.open(folder, writable=True)
        script = (
            f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from store.store import Store\n"
            f"Store.open({str(folder)!r}, writable=True)\n"
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert result.returncode != 0 and "is being written by another process" in result.stderr
        with Store.open(folder) as reader:  # readers are never blocked
            assert reader.stats().documents == 300
    with Store.open(folder, writable=True):
        pass  # released on close


def test_reader_in_another_process_sees_new_documents(filled) -> None:
    folder, _ = filled
    new = make_docs(3, seed=11, prefix="late")
    query = new[1].chunks[0].vector
    with Store.open(folder) as reader:
        assert reader.search(query, None, k=1, mode="dense")[0].doc_id != "late1"
        script = textwrap.dedent(f"""
            import sys; sys.path.insert(0, {str(ROOT)!r})
            from tests.test_store import make_docs
            from store.store import Store
            with Store.open({str(folder)!r}, writable=True) as store:
                store.upsert(make_docs(3, seed=11, prefix="late"))
        """)
        subprocess.run([sys.executable, "-c", script], check=True)
        assert reader.search(query, None, k=1, mode="dense")[0].doc_id == "late1"
        assert reader.stats().documents == 303


def test_a_write_that_fails_midway_leaves_none_of_its_batch_and_the_next_write_works(
    filled, monkeypatch
) -> None:
    folder, docs = filled
    failing = make_docs(5, seed=3, prefix="half")

    real_log = store_module.catalog.log

    def broken_log(db, generation: int, chunk_ids: list[int], op: str) -> None:
        if op == "add":  # the batch's documents and chunks are in by now
            written = db.execute("SELECT count(*) FROM documents WHERE id LIKE 'half%'")
            assert written.fetchone()[0] == len(failing)
            raise sqlite3.OperationalError("disk I/O error")
        real_log(db, generation, chunk_ids, op)

    with Store.open(folder, writable=True) as store:
        generation = store.generation
        with monkeypatch.context() as patch:
            patch.setattr(store_module.catalog, "log", broken_log)
            with pytest.raises(sqlite3.OperationalError):
                store.upsert(failing)
        assert store.generation == generation
        assert store.stats().documents == 300
        held = store.db.execute("SELECT count(*) FROM chunks WHERE doc_id LIKE 'half%'")
        assert held.fetchone()[0] == 0
        store.upsert(failing)
    with Store.open(folder) as reader:
        assert reader.stats().documents == 305
        assert reader.verify(50).ok


OPEN_AND_SEARCH = """
import sys
import numpy as np
from store.store import Store
with Store.open(sys.argv[1]) as store:
    store.search(np.ones(store.dim, np.float32) / store.dim**0.5, "alpha", k=3, mode="hybrid")
print(" ".join(name for name in ("pandas", "torch") if name in sys.modules))
"""


def test_opening_and_searching_a_store_imports_neither_pandas_nor_torch(filled) -> None:
    folder, _ = filled  # each costs every command's start half a second or more
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", OPEN_AND_SEARCH, str(folder)]
    imported = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == ""


@pytest.mark.parametrize("spec", ["hnsw", "ivf", "ivf-fp16", "ivf-sq8", "ivf-pq"])
@pytest.mark.parametrize("exact_scan_max", [20_000, 0])
def test_filter_matching_3_of_10000_chunks_returns_those_3(
    tmp_path, spec, exact_scan_max, monkeypatch
) -> None:
    monkeypatch.setattr(store_module, "EXACT_SCAN_MAX", exact_scan_max)  # 0: the IDSelector path
    docs = make_docs(5000, chunks=2)
    for doc in docs[1234], docs[77], docs[4999]:
        doc.metadata["rare"] = "yes"
    with Store.create(tmp_path / "s", RECIPE, spec) as store:
        store.upsert(docs)
        assert store.stats().index_type == spec
        hits = store.search(
            unit(np.random.default_rng(1), 1)[0],
            None,
            k=10,
            filters=[Filter("rare", "=", "yes")],
            mode="dense",
        )
        assert sorted(h.doc_id for h in hits) == ["d1234", "d4999", "d77"]
        lang = store.search(
            docs[8].chunks[0].vector, None, k=10, filters=[parse_filter("lang=de")], mode="dense"
        )
        assert len(lang) == 10 and all(h.metadata["lang"] == "de" for h in lang)
        assert lang[0].doc_id == "d8"


def test_upsert_replaces_and_delete_removes_chunks_everywhere(filled) -> None:
    folder, docs = filled
    changed = make_docs(1, seed=99, chunks=3)[0]  # id d0, new text and three new chunks
    changed.text = "zeppelin airship"
    for chunk in changed.chunks:
        chunk.text = "zeppelin airship"
    with Store.open(folder, writable=True) as store:
        old_chunk_ids = [c.id for c in store.document("d0").chunks]
        assert store.upsert([changed]) == {"added": 0, "updated": 1}
        doc = store.document("d0")
        assert doc.text == "zeppelin airship" and len(doc.chunks) == 3
        assert not set(old_chunk_ids) & {c.id for c in doc.chunks}
        assert [h.doc_id for h in store.search(None, "zeppelin", k=10, mode="lexical")] == ["d0"]
        assert store.search(docs[0].chunks[0].vector, None, k=1, mode="dense")[0].doc_id != "d0"
        assert store.search(changed.chunks[2].vector, None, k=1, mode="dense")[0].doc_id == "d0"
        assert store.verify(100).ok
        assert store.delete(["d0", "missing"]) == 1
        assert store.document("d0") is None
        assert store.search(None, "zeppelin", k=10, mode="lexical") == []
        assert "d0" not in {
            h.doc_id for h in store.search(changed.chunks[2].vector, None, k=300, mode="dense")
        }
        assert store.verify(100).ok
    with Store.open(folder) as store:
        assert store.verify(100).ok and store.stats().chunks == 598


@pytest.mark.parametrize(
    "value",
    ["O'Brien", 'say "hi"', "100%", "a; DROP TABLE documents; --", "' OR 1=1 --", "%_"],
)
def test_filter_values_are_data(tmp_path, value: str) -> None:
    docs = make_docs(20)
    docs[4].metadata["name"] = value
    docs[5].title = value
    docs[6].text = f"quoted {value} here"
    for chunk in docs[6].chunks:
        chunk.end = len(docs[6].text)
    with Store.create(tmp_path / "s", RECIPE, "flat") as store:
        store.upsert(docs)
        query = docs[0].chunks[0].vector
        assert [
            h.doc_id
            for h in store.search(
                query, None, k=10, filters=[Filter("name", "=", value)], mode="dense"
            )
        ] == ["d4"]
        assert [
            h.doc_id
            for h in store.search(
                query, None, k=10, filters=[Filter("title", "~", value)], mode="dense"
            )
        ] == ["d5"]
        assert (
            store.search(
                query, None, k=10, filters=[Filter("name", "in", (value, "x"))], mode="dense"
            )[0].doc_id
            == "d4"
        )
        lexical = store.search(None, value, k=10, mode="lexical")
        if re.search(r"[^\W_]", value):  # words are searched as words, operators as text
            assert lexical[0].doc_id == "d6" and value in lexical[0].text
        else:
            assert lexical == []
        assert store.stats().documents == 20


def test_filter_expressions_parse_and_bad_ones_say_why() -> None:
    assert parse_filter("year>=2015") == Filter("year", ">=", 2015)
    assert parse_filter("lang in en, de") == Filter("lang", "in", ("en", "de"))
    assert parse_filter('title~"a, b"') == Filter("title", "~", '"a, b"')
    assert parse_filter('code="007"') == Filter("code", "=", "007")
    assert parse_filter("date<2021-01-01") == Filter("date", "<", "2021-01-01")
    assert parse_filter("author.name=Ann") == Filter("author.name", "=", "Ann")
    for bad in ["year", "=3", "year=", "x in ", "bad field=1", "year>>2", "a==b"]:
        with pytest.raises(FilterError):
            parse_filter(bad)


def test_range_and_membership_filters(filled) -> None:
    folder, docs = filled
    query = docs[0].chunks[0].vector
    with Store.open(folder) as store:
        hits = store.search(
            query,
            None,
            k=500,
            filters=[parse_filter("year>=2018"), parse_filter("n<100")],
            mode="dense",
        )
        expected = {d.id for d in docs if d.metadata["year"] >= 2018 and d.metadata["n"] < 100}
        assert {h.doc_id for h in hits} == expected
        assert (
            store.search(query, None, k=10, filters=[parse_filter("lang=fr")], mode="dense") == []
        )
        both = store.search(query, "dogs", k=5, mode="hybrid", filters=[parse_filter("lang=de")])
        assert len(both) == 5 and all(h.metadata["lang"] == "de" for h in both)
        assert all(set(h.parts) <= {"dense", "lexical"} for h in both)


def test_rebuild_changes_index_type_without_reembedding(filled) -> None:
    folder, docs = filled
    query = docs[10].chunks[1].vector
    with Store.open(folder, writable=True) as store:
        for spec in ["hnsw", "ivf-sq8", "flat"]:
            store.rebuild(spec)
            assert store.stats().index_type == spec
            assert store.search(query, None, k=1, mode="dense")[0].doc_id == "d10"
            assert store.verify(100).ok
        with pytest.raises(StoreError, match="unknown index type"):
            store.rebuild("annoy")


def test_open_without_a_store_says_what_to_run(tmp_path) -> None:
    with pytest.raises(StoreError, match="semsearch index"):
        Store.open(tmp_path / "nowhere")


def test_stats_and_metadata_fields(filled) -> None:
    folder, _ = filled
    with Store.open(folder) as store:
        stats = store.stats()
        assert (stats.documents, stats.chunks, stats.wordpieces_embedded) == (300, 600, 2400)
        assert stats.wordpieces == 2400 - RECIPE.overlap * 300  # consecutive windows overlap
        assert stats.bytes["store.db"] > 0 and stats.recipe == RECIPE.to_dict()
        fields = store.fields()
        assert fields["year"].min == 2000 and fields["year"].max == 2019
        assert set(store.values("lang")) == {"en", "de"}
        json.dumps(stats.as_dict())


def test_the_corpus_names_the_one_source_or_the_folder_every_source_is_in(tmp_path) -> None:
    docs = make_docs(3)
    for doc, source in zip(docs, ["/data/a/x.txt", "/data/a/b/y.pdf", None], strict=True):
        doc.source = source
    with Store.create(tmp_path / "s", RECIPE, "flat") as store:
        store.upsert(docs[:1])
        assert store.corpus() == Corpus(documents=1, sources=1, where="/data/a/x.txt")
        store.upsert(docs[1:])
        assert store.corpus() == Corpus(documents=3, sources=2, where="/data/a")


def test_auto_index_switches_to_ivf_and_retrains_as_the_store_grows(tmp_path, monkeypatch) -> None:
    from store import faiss_index, index_types

    monkeypatch.setattr(index_types, "AUTO_FLAT_MAX", 500)
    with Store.create(tmp_path / "s", RECIPE) as store:
        store.upsert(make_docs(200))
        assert store.stats().index_type == "flat"
        store.upsert(make_docs(300, seed=1, prefix="b"))  # 1,000 chunks
        assert store.stats().index_type == index_types.AUTO_LARGE
        small_lists = faiss_index.faiss.extract_index_ivf(store.cache.current().index).nlist
        store.upsert(make_docs(4000, seed=2, prefix="c"))  # 9,000 chunks: the lists are outgrown
        grown = faiss_index.faiss.extract_index_ivf(store.cache.current().index).nlist
        assert grown > 2 * small_lists
        assert store.verify(100).ok
        query = make_docs(4000, seed=2, prefix="c")[123].chunks[0].vector
        assert store.search(query, None, k=1, mode="dense")[0].doc_id == "c123"


@pytest.mark.parametrize("spec", ["ivf", "ivf-fp16", "ivf-sq8", "ivf-pq"])
def test_ivf_store_with_too_few_vectors_searches_exactly_until_it_can_train(tmp_path, spec) -> None:
    with Store.create(tmp_path / "s", RECIPE, spec) as store:
        store.upsert(make_docs(5))
        assert store.stats().index_type == "flat"
        assert (
            store.search(make_docs(5)[3].chunks[1].vector, None, k=1, mode="dense")[0].doc_id
            == "d3"
        )
        store.upsert(make_docs(320, seed=4, prefix="more"))  # 650 chunks: PQ can train
        assert store.stats().index_type == spec and store.verify(100).ok


def test_misuse_of_the_store_api_is_refused_clearly(filled) -> None:
    folder, docs = filled
    with Store.open(folder) as reader:
        with pytest.raises(StoreError, match="open read-only"):
            reader.delete(["d1"])
        with pytest.raises(StoreError, match="unknown mode 'fuzzy'"):
            reader.search(docs[0].chunks[0].vector, "x", k=10, mode="fuzzy")
        with pytest.raises(StoreError, match="hybrid search needs query text"):
            reader.search(docs[0].chunks[0].vector, None, k=10, mode="hybrid")
    wrong = make_docs(1, prefix="w")[0]
    wrong.chunks[0].vector = np.zeros(DIM + 1, np.float32)
    with Store.open(folder, writable=True) as store, pytest.raises(StoreError, match="shape"):
        store.upsert([wrong])
    with Store.open(folder) as store:
        assert store.document("w0") is None and store.stats().documents == 300


def snapshot(folder: Path) -> dict:
    """What a store holds, independent of the chunk ids it happened to allocate."""
    with Store.open(folder) as store:
        db = store.db
        documents = db.execute(
            "SELECT id, source, title, text, metadata, content_hash FROM documents ORDER BY id"
        ).fetchall()
        chunks = db.execute(
            'SELECT doc_id, ord, start, "end", n_tokens, vector FROM chunks ORDER BY doc_id, ord'
        ).fetchall()
        hits = {
            word: [h.doc_id for h in store.search(None, word, k=1000, mode="lexical")]
            for word in ("cats", "dogs", "zeppelin", "document")
        }
        log = db.execute(
            "SELECT l.generation, l.op, count(*) FROM index_log l GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        live = db.execute(
            "SELECT count(*) FROM index_log l JOIN chunks c ON c.id = l.chunk_id WHERE op = 'add'"
        ).fetchone()[0]
        return {"documents": documents, "chunks": chunks, "hits": hits, "log": log, "live": live}


def test_batched_writes_equal_one_document_at_a_time(tmp_path) -> None:
    first, replacements = make_docs(60, seed=1), make_docs(30, seed=2, chunks=3)
    for doc in replacements:
        doc.text = f"zeppelin {doc.text}"
        for chunk in doc.chunks:
            chunk.end = len(doc.text)
    replacements += make_docs(5, seed=3, prefix="new")
    replacements = [replace(doc, content_hash="") for doc in replacements]  # hash the new text
    stores = {"batched": tmp_path / "batched", "single": tmp_path / "single"}
    for name, folder in stores.items():
        with (
            Store.open(folder, writable=True)
            if folder.exists()
            else Store.create(folder, RECIPE, "flat") as store
        ):
            if name == "batched":
                store.upsert(first)
                store.upsert(replacements)
                store.delete(["d3", "d40", "nope"])
            else:  # one generation per document: the log is grouped differently
                for doc in first:
                    store.upsert([doc])
                for doc in replacements:
                    store.upsert([doc])
                for doc_id in ("d3", "d40", "nope"):
                    store.delete([doc_id])
            store.flush = lambda: None  # keep the index log as written, for the comparison
    batched, single = snapshot(stores["batched"]), snapshot(stores["single"])
    for key in ("documents", "chunks", "hits", "live"):
        assert batched[key] == single[key], key
    assert len(batched["documents"]) == 60 + 5 - 2
    assert batched["hits"]["zeppelin"] and "d3" not in batched["hits"]["zeppelin"]
    added = lambda log: sum(n for _, op, n in log if op == "add")  # noqa: E731
    removed = lambda log: sum(n for _, op, n in log if op == "del")  # noqa: E731
    assert added(batched["log"]) == added(single["log"]) == 60 * 2 + 30 * 3 + 5 * 2
    assert removed(batched["log"]) == removed(single["log"]) == 30 * 2 + 3 + 2  # d3 had 3 chunks
    for folder in stores.values():
        with Store.open(folder) as store:
            assert store.verify(100).ok


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (id TEXT PRIMARY KEY, source TEXT, title TEXT, text TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}', content_hash TEXT NOT NULL, indexed_at TEXT NOT NULL);
CREATE TABLE chunks (id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, ord INTEGER,
    start INTEGER, "end" INTEGER, n_tokens INTEGER, text TEXT NOT NULL, vector BLOB NOT NULL,
    UNIQUE (doc_id, ord));
CREATE TABLE index_log (generation INTEGER, chunk_id INTEGER, op TEXT);
CREATE VIRTUAL TABLE chunks_fts USING FTS5 (text, tokenize='porter', content=chunks);
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
END;
"""


def test_a_schema_1_store_is_upgraded_by_a_writer(tmp_path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    docs = make_docs(20)
    with sqlite3.connect(folder / "store.db") as db:  # an old store, made by hand
        db.executescript(V1_SCHEMA)
        for key, value in {
            "schema_version": 1,
            "recipe": RECIPE.to_dict(),
            "generation": 1,
        }.items():
            db.execute("INSERT INTO meta VALUES (?, ?)", [key, json.dumps(value)])
        for doc in docs:
            db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    doc.id,
                    doc.source,
                    doc.title,
                    doc.text,
                    json.dumps(doc.metadata),
                    doc.content_hash,
                    "2026-01-01",
                ],
            )
            for chunk in doc.chunks:
                db.execute(
                    'INSERT INTO chunks (doc_id, ord, start, "end", n_tokens, text, vector) '
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        doc.id,
                        chunk.ord,
                        chunk.start,
                        chunk.end,
                        chunk.n_tokens,
                        doc.text,
                        chunk.vector.tobytes(),
                    ],
                )
    with pytest.raises(StoreError, match="semsearch repair"):
        Store.open(folder)  # readers never change a store: they say how to upgrade it
    with Store.open(folder, writable=True) as store:
        store.repair(100)
    with Store.open(folder) as store:
        assert store.verify(100).ok
        found = {h.doc_id for h in store.search(None, "dogs", k=100, mode="lexical")}
        assert found == {doc.id for doc in docs if "dogs" in doc.text}
        assert store.search(docs[7].chunks[1].vector, None, k=1, mode="dense")[0].doc_id == "d7"


def test_a_schema_2_store_is_upgraded_in_place_and_gains_page_numbers(tmp_path) -> None:
    folder = tmp_path / "old"
    docs = make_docs(10)
    with Store.create(folder, RECIPE, "flat") as store:
        store.upsert(docs)
    with sqlite3.connect(folder / "store.db") as db:  # the store as schema 2 left it
        db.execute("ALTER TABLE documents DROP COLUMN pages")
        db.execute("ALTER TABLE chunks DROP COLUMN page")
        db.execute("ALTER TABLE chunks DROP COLUMN last_page")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="semsearch repair"):
        Store.open(folder)
    first, second = unit(np.random.default_rng(3), 2)
    text = "page one text\n\npage two text"
    paged = DocumentRecord(
        "paged",
        text,
        pages=[0, 15],
        chunks=[ChunkRecord(0, 0, 13, 3, first, 1, 1), ChunkRecord(1, 5, 28, 5, second, 1, 2)],
    )
    with Store.open(folder, writable=True) as store:  # a writer upgrades it, keeping every row
        store.upsert([paged])
    with Store.open(folder) as store:
        assert store.verify(100).ok
        old = store.document("d3")
        assert old.text == docs[3].text and old.pages is None
        assert [(c.page, c.last_page) for c in old.chunks] == [(None, None)] * 2
        new = store.document("paged")
        assert new.pages == [0, 15]
        assert [(c.page, c.last_page) for c in new.chunks] == [(1, 1), (1, 2)]
        hit = store.search(second, None, k=1, mode="dense")[0]
        assert (hit.doc_id, hit.page, hit.last_page) == ("paged", 1, 2)
        assert hit.as_dict()["page"] == 1


def test_the_content_hash_of_an_unpaginated_document_does_not_change_with_pages() -> None:
    plain = DocumentRecord("a", "some text", "T", metadata={"k": 1})
    paged = DocumentRecord("a", "some text", "T", metadata={"k": 1}, pages=[0])
    repaged = DocumentRecord("a", "some text", "T", metadata={"k": 1}, pages=[0, 5])
    digest = hashlib.sha256(json.dumps(["some text", "T", {"k": 1}], sort_keys=True).encode())
    assert plain.content_hash == digest.hexdigest()  # stores made before pages keep their hashes
    assert len({plain.content_hash, paged.content_hash, repaged.content_hash}) == 3


def test_another_stores_index_file_is_never_searched(tmp_path) -> None:
    a_docs, b_docs = make_docs(300, seed=1), make_docs(300, seed=2)
    for name, docs in (("a", a_docs), ("b", b_docs)):
        with Store.create(tmp_path / name, RECIPE, "flat") as store:
            store.upsert(docs)  # the same generation, count, dimension and chunk ids
    (tmp_path / "a" / INDEX_FILE).write_bytes((tmp_path / "b" / INDEX_FILE).read_bytes())
    query = b_docs[5].chunks[0].vector
    with Store.open(tmp_path / "a") as store:
        report = store.verify(100)
        assert report.ok and any("another store" in w for w in report.warnings)
        expected = [(doc_id, round(score, 5)) for doc_id, score in brute_force(a_docs, query, 10)]
        assert ranking(store.search(query, None, k=10, mode="dense")) == expected


def test_a_diverged_copy_of_the_store_gives_no_wrong_hit(tmp_path) -> None:
    with Store.create(tmp_path / "a", RECIPE, "flat") as store:
        store.upsert(make_docs(300))
    shutil.copytree(tmp_path / "a", tmp_path / "copy")  # the same store id, for a while
    for name, seed in (("a", 5), ("copy", 6)):
        with Store.open(tmp_path / name, writable=True) as store:
            store.upsert(make_docs(1, seed=seed, prefix=name))  # the same new chunk ids
    (tmp_path / "a" / INDEX_FILE).write_bytes((tmp_path / "copy" / INDEX_FILE).read_bytes())
    mine = make_docs(1, seed=5, prefix="a")[0].chunks[0].vector
    theirs = make_docs(1, seed=6, prefix="copy")[0].chunks[0].vector
    with Store.open(tmp_path / "a") as store:
        assert store.search(mine, None, k=1, mode="dense")[0].doc_id == "a0"
        assert all(hit.doc_id != "copy0" for hit in store.search(theirs, None, k=20, mode="dense"))


def clustered_docs(n: int, seed: int = 0) -> list[DocumentRecord]:
    """Documents whose vectors are noisy copies of 300 centres: neighbours worth finding."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(300, DIM)).astype(np.float32)
    docs = []
    for i in range(n):
        vector = centres[i % 300] + rng.normal(0, 0.3, DIM).astype(np.float32)
        chunk = ChunkRecord(0, 0, 4, 1, vector / np.linalg.norm(vector))
        docs.append(DocumentRecord(id=f"d{i}", text=f"doc {i}", chunks=[chunk]))
    return docs


def test_the_index_reports_the_recall_it_costs_measured_against_an_exact_scan(tmp_path) -> None:
    docs = clustered_docs(3000)
    measured = {}
    for spec in ("flat", "hnsw", "ivf-sq8", "ivf-pq"):
        with Store.create(tmp_path / spec, RECIPE, spec) as store:
            store.upsert(docs)
        with Store.open(tmp_path / spec) as store:
            measured[spec] = store.index_recall(200, 10)
    assert measured["flat"].recall == 1.0 and measured["flat"].by_construction
    for spec in ("hnsw", "ivf-sq8", "ivf-pq"):
        result = measured[spec]
        assert result.queries == 200 and result.low <= result.recall <= result.high
    assert measured["ivf-pq"].recall < measured["ivf-sq8"].recall <= 1.0
    assert measured["ivf-pq"].high < measured["hnsw"].low  # the gap is more than the noise

    cached = tmp_path / "ivf-pq" / "index.recall.json"
    assert json.loads(cached.read_text())["recall"] == measured["ivf-pq"].recall
    with Store.open(tmp_path / "ivf-pq") as store:
        again = store.index_recall(200, 10)
        assert again == measured["ivf-pq"]  # read back for the same generation
    with Store.open(tmp_path / "ivf-pq", writable=True) as store:
        store.upsert(clustered_docs(50, seed=9)[:1])
    with Store.open(tmp_path / "ivf-pq") as store:
        assert store.index_recall(200, 10).generation == again.generation + 1  # measured anew


def test_a_contains_filter_matches_whole_words(tmp_path) -> None:
    docs = make_docs(4)
    modules = ["multiprocessing.connection", "io.open", "ratio", "IO"]
    for doc, module in zip(docs, modules, strict=True):
        doc.metadata["module"] = module
    with Store.create(tmp_path / "s", RECIPE, "flat") as store:
        store.upsert(docs)
        query = docs[0].chunks[0].vector
        hits = store.search(query, None, k=10, filters=[Filter("module", "~", "io")], mode="dense")
        assert sorted(hit.doc_id for hit in hits) == ["d1", "d3"]


def test_a_store_without_the_chunk_owner_index_is_searched_alike_and_gets_it_at_its_next_write(
    tmp_path,
) -> None:
    docs = make_docs(50)
    with Store.create(tmp_path / "s", RECIPE) as store:
        store.upsert(docs)
    query = docs[7].chunks[0].vector
    with Store.open(tmp_path / "s") as store:
        expected = store.search(query, "alpha", k=5, mode="hybrid")
    db = sqlite3.connect(tmp_path / "s" / "store.db")  # as a store made before the index
    db.execute("DROP INDEX chunk_owners")
    db.commit()
    db.close()
    with Store.open(tmp_path / "s") as store:
        assert store.search(query, "alpha", k=5, mode="hybrid") == expected
    with Store.create(tmp_path / "s", RECIPE):
        pass
    db = sqlite3.connect(f"file:{tmp_path / 's' / 'store.db'}?mode=ro", uri=True)
    found = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunk_owners'").fetchone()
    db.close()
    assert found is not None
