"""The full-text engine beside SQLite: a cache that follows every write, is caught up or rebuilt
from SQLite, is checked by verify, and never shows a chunk SQLite does not hold."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from store import full_text_cache
from store import store as store_module
from store.filters import parse_filter
from store.full_text import ENGINE_FOLDER, FullTextIndex
from store.recipe import Recipe
from store.records import ChunkRecord, DocumentRecord
from store.store import Store
from tests.conftest import read_only

DIM = 8
RECIPE = Recipe("test-model", "sha256:abc", DIM, "mean", chunk_tokens=256, overlap=32)
ROOT = Path(__file__).resolve().parents[1]
VOCABULARY = (
    "river bank water stone bridge money loan credit flow current storm harbour ship sail "
    "engine wing flight pressure boundary layer heat metal crack fatigue"
)
WORDS = VOCABULARY.split()

MAKE_DOCS = '''
import numpy as np
from store.records import ChunkRecord, DocumentRecord

def make_docs(n, seed=0, prefix="d", dim=8, words=None):
    """Documents of two chunks, each a few words drawn from WORDS, with random unit vectors."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        parts = [" ".join(rng.choice(words, size=int(rng.integers(3, 9)))) for _ in range(2)]
        text = parts[0] + ". " + parts[1]
        spans = [(0, len(parts[0])), (len(parts[0]) + 2, len(text))]
        vectors = rng.normal(size=(2, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks = [ChunkRecord(j, a, b, 4, vectors[j]) for j, (a, b) in enumerate(spans)]
        meta = {"n": i, "group": "even" if i % 2 == 0 else "odd"}
        docs.append(DocumentRecord(id=f"{prefix}{i}", text=text, title=f"T{i}",
                                   source=f"src/{prefix}{i}.txt", metadata=meta, chunks=chunks))
    return docs
'''
namespace: dict = {}
exec(MAKE_DOCS, namespace)  # the same documents here and in the writer processes below


def make_docs(n: int, seed: int = 0, prefix: str = "d") -> list[DocumentRecord]:
    return namespace["make_docs"](n, seed, prefix, DIM, WORDS)


def document(doc_id: str, text: str) -> DocumentRecord:
    vector = np.ones(DIM, np.float32) / np.sqrt(DIM)
    return DocumentRecord(doc_id, text, chunks=[ChunkRecord(0, 0, len(text), 4, vector)])


def lexical(store: Store, text: str, k: int = 10, filters=None) -> list[tuple[str, int, float]]:
    hits = store.search(None, text, k=k, mode="lexical", filters=filters)
    return [(h.doc_id, h.chunk_id, round(h.score, 4)) for h in hits]


def chunk_ids(folder: Path) -> list[int]:
    with read_only(folder) as db:
        return [row[0] for row in db.execute("SELECT id FROM chunks ORDER BY id")]


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    with Store.create(tmp_path / "s", RECIPE, "flat") as store:
        store.upsert(make_docs(200))
    return tmp_path / "s"


QUERIES = ["river bank", "metal fatigue crack", "ship sailing in a storm", "heat", "pressure"]


def answers(folder: Path) -> list:
    query_vector = make_docs(1, seed=99)[0].chunks[0].vector
    with Store.open(folder) as store:
        found = [lexical(store, q) for q in QUERIES]
        for q in QUERIES:
            hits = store.search(query_vector, q, k=10, mode="hybrid")
            found.append([(h.doc_id, h.chunk_id, round(h.score, 6), h.parts) for h in hits])
    return found


def damage_engine(folder: Path, how: str) -> None:
    engine = folder / ENGINE_FOLDER
    if how == "deleted":
        for path in engine.iterdir():
            path.unlink()
        engine.rmdir()
    elif how == "garbage":
        (engine / "meta.json").write_text("{not json")
    elif how == "truncated":
        for path in engine.iterdir():
            if path.name != "meta.json":
                path.write_bytes(path.read_bytes()[:7])


@pytest.mark.parametrize("how", ["deleted", "garbage", "truncated"])
def test_a_lost_or_damaged_engine_is_rebuilt_and_answers_the_same(filled, how) -> None:
    before = answers(filled)
    assert before[0] and all(before)
    damage_engine(filled, how)
    assert answers(filled) == before  # a reader rebuilt it (no writer active) and saved it
    assert FullTextIndex.open(filled / ENGINE_FOLDER).chunk_ids().tolist() == chunk_ids(filled)


def test_lexical_search_folds_case_and_accents_and_stems(tmp_path) -> None:
    with Store.create(tmp_path / "s", RECIPE) as store:
        store.upsert([document("a", "The CAFÉ was crowded"), document("b", "Runners running")])
        assert [hit[0] for hit in lexical(store, "cafe")] == ["a"]
        assert [hit[0] for hit in lexical(store, "café")] == ["a"]
        assert [hit[0] for hit in lexical(store, "runs")] == ["b"]
        assert lexical(store, "...") == []  # no words: nothing to look up


def test_updates_deletes_and_relocations_are_reflected_in_the_engine(tmp_path) -> None:
    folder = tmp_path / "s"
    with Store.create(folder, RECIPE) as store:
        store.upsert([document("a", "zebra crossing"), document("b", "zebra herd")])
        assert {hit[0] for hit in lexical(store, "zebra")} == {"a", "b"}
        store.upsert([document("a", "giraffe neck")])  # an update: new chunks
        assert [hit[0] for hit in lexical(store, "zebra")] == ["b"]
        assert [hit[0] for hit in lexical(store, "giraffe")] == ["a"]
        store.delete(["b"])  # what prune does for a file that is gone
        assert lexical(store, "zebra") == []
        store.relocate({"a": "elsewhere/a.txt"})
    engine = FullTextIndex.open(folder / ENGINE_FOLDER)  # the folder itself followed
    assert engine.chunk_ids().tolist() == chunk_ids(folder)
    with Store.open(folder) as store:
        assert engine.generation == store.generation
        assert store.verify(10)["ok"]


@pytest.mark.parametrize("engine_filter_max", [20_000, 0])  # ids to the engine, or fetch more
def test_filtered_lexical_search_returns_min_k_matching_documents(
    tmp_path, engine_filter_max, monkeypatch
) -> None:
    monkeypatch.setattr(store_module, "ENGINE_FILTER_MAX", engine_filter_max)
    common = [document(f"c{i}", "storm storm storm warning") for i in range(300)]
    story = "a long account of a storm at sea, told again "
    rare = [document(f"r{i}", f"{story} {i} " * 5) for i in range(3)]
    for doc in rare:
        doc.metadata = {"kind": "rare"}
    with Store.create(tmp_path / "s", RECIPE) as store:
        store.upsert(common + rare)
        unfiltered = lexical(store, "storm", k=10)
        assert not {hit[0] for hit in unfiltered} & {"r0", "r1", "r2"}  # they rank below 10
        only_rare = [parse_filter("kind=rare")]
        assert {hit[0] for hit in lexical(store, "storm", 10, only_rare)} == {"r0", "r1", "r2"}
        assert len(lexical(store, "storm", 2, only_rare)) == 2
        assert lexical(store, "storm", 10, [parse_filter("kind=none")]) == []


def test_verify_finds_a_missing_or_extra_chunk_in_the_engine_and_repair_mends_it(filled) -> None:
    ids = chunk_ids(filled)
    engine = FullTextIndex.open(filled / ENGINE_FOLDER)
    state = engine.state
    engine.apply([(10**9, "ghost", "river ghost")], [ids[5]], state)  # same generation
    engine.close()
    with Store.open(filled) as store:
        report = store.verify(10)
    assert not report["ok"]
    assert any("1 chunks missing" in p and f"[{ids[5]}]" in p for p in report["problems"])
    assert any("1 chunks SQLite does not hold" in p for p in report["problems"])
    with Store.open(filled, writable=True) as store:
        assert store.repair(10)["ok"]
    assert FullTextIndex.open(filled / ENGINE_FOLDER).chunk_ids().tolist() == ids


def test_a_store_made_before_the_engine_is_upgraded_on_open_with_one_line(filled, capsys) -> None:
    before = answers(filled)
    damage_engine(filled, "deleted")  # as a store made before this change: no engine folder
    with sqlite3.connect(filled / "store.db") as db:
        db.execute("DELETE FROM meta WHERE key = 'full_text'")
    capsys.readouterr()
    with Store.open(filled, writable=True) as store:
        assert store.stats()["full_text"]["engine"] == "tantivy"
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1 and "building the full-text index of 400 chunks" in lines[0]
    assert (filled / ENGINE_FOLDER / "meta.json").is_file()
    assert answers(filled) == before
    assert capsys.readouterr().err == ""  # built once


def test_a_reader_catches_up_in_memory_while_a_writer_holds_the_store(filled) -> None:
    with Store.open(filled, writable=True) as writer, Store.open(filled) as reader:
        assert lexical(reader, "quokka") == [] and lexical(writer, "quokka") == []
        on_disk = FullTextIndex.open(filled / ENGINE_FOLDER).generation
        writer.upsert([document("q", "a quokka smiles")])  # fewer chunks than LAG_CHUNKS:
        writer.delete(["d3"])  # the engine on disk is not committed
        assert FullTextIndex.open(filled / ENGINE_FOLDER).generation == on_disk
        assert [hit[0] for hit in lexical(reader, "quokka")] == ["q"]
        assert reader.verify(5)["ok"]


def test_a_writer_commits_its_engine_every_lag_chunks_and_when_it_closes(
    filled, monkeypatch
) -> None:
    monkeypatch.setattr(full_text_cache, "LAG_CHUNKS", 3)
    on_disk = lambda: FullTextIndex.open(filled / ENGINE_FOLDER).generation  # noqa: E731
    with Store.open(filled, writable=True) as writer:
        writer.delete(["d1"])  # the first write brings up the engine it found
        assert on_disk() == writer.generation
        writer.upsert([document("a", "one quokka"), document("b", "two quokkas")])
        assert on_disk() == writer.generation - 1, "2 chunks added: under the lag"
        writer.upsert([document("c", "three quokkas")])
        assert on_disk() == writer.generation, "3 chunks added: committed"
        writer.upsert([document("d", "a fourth quokka")])
        assert on_disk() < writer.generation
    with Store.open(filled) as reader:
        assert on_disk() == reader.generation, "committed when the writer closed"
        assert sorted(hit[0] for hit in lexical(reader, "quokka")) == ["a", "b", "c", "d"]


WRITER = """
import sys, time
sys.path.insert(0, {root!r})
{make_docs}
from store.store import Store
words = {words!r}
with Store.open({folder!r}, writable=True) as store:
    for round_ in range(10_000):
        store.upsert(make_docs(20, seed=round_, prefix="d", words=words))  # replaces: new chunks
        store.delete(["d" + str(round_ % 20)])
        print(round_, flush=True)
"""


def start_writer(folder: Path) -> subprocess.Popen:
    script = WRITER.format(root=str(ROOT), make_docs=MAKE_DOCS, words=WORDS, folder=str(folder))
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


def test_kill_9_during_writes_leaves_a_store_that_verify_passes_after_the_next_open(
    filled,
) -> None:
    writer = start_writer(filled)
    try:
        for _ in range(3):  # three rounds committed: it is in the middle of writing
            assert writer.stdout.readline(), "the writer died"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    with Store.open(filled) as store:
        report = store.verify(20)
        assert report["ok"], report
    with Store.open(filled, writable=True) as store:
        assert store.verify(20)["ok"]
        assert lexical(store, "river")


def test_a_reader_during_writes_never_sees_a_chunk_sqlite_does_not_hold(filled) -> None:
    writer = start_writer(filled)
    try:
        assert writer.stdout.readline(), "the writer died"
        deadline = time.monotonic() + 60
        searches = 0
        with Store.open(filled) as reader:
            while searches < 40 and time.monotonic() < deadline:
                with reader.db.atomic():  # one snapshot: the search and the check below
                    for query in QUERIES:
                        for hit in reader.search(None, query, k=10, mode="lexical"):
                            held = reader.chunk(hit.chunk_id)
                            assert held is not None and held["doc_id"] == hit.doc_id
                            assert hit.text == held["text"]
                searches += 1
        assert searches == 40
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()


def test_the_ranking_rule_is_recorded_in_the_manifest(filled) -> None:
    with read_only(filled) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'full_text'").fetchone()
    rule = json.loads(row[0])
    assert rule["bm25"] == {"k1": 1.2, "b": 0.75} and "stemmer" in rule["analyzer"]


def test_a_new_store_builds_its_engine_without_a_word(tmp_path, capsys) -> None:
    with Store.create(tmp_path / "s", RECIPE) as store:
        store.upsert(make_docs(5))
        assert lexical(store, "river bank")
    assert capsys.readouterr().err == ""


def one_chunk(doc_id: str, text: str) -> DocumentRecord:
    vector = np.ones(DIM, np.float32) / np.sqrt(DIM)
    return DocumentRecord(id=doc_id, text=text, chunks=[ChunkRecord(0, 0, len(text), 4, vector)])


def test_function_words_do_not_rank_a_query_that_has_other_words(tmp_path) -> None:
    texts = {
        "wedge": "a wedge",
        "the": "the the the of the in the flow of the air at the edge of the plate",
    }
    with Store.create(tmp_path / "s", RECIPE) as store:
        store.upsert([one_chunk(doc_id, text) for doc_id, text in texts.items()])
    with Store.open(tmp_path / "s") as store:
        hits = store.search(None, "the shock of the wedge", k=10, mode="lexical")
        assert [hit.doc_id for hit in hits] == ["wedge"]  # "the" and "of" add nothing
        alone = store.search(None, "of the", k=10, mode="lexical")
        assert [hit.doc_id for hit in alone] == ["the"]  # a query of function words keeps them
