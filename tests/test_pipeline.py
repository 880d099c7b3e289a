"""The batch job's stages: order, one transaction per batch, errors and skips (tiny random BERT)."""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import pytest

from indexer import pipeline
from indexer.collection import Collection
from indexer.settings import Settings
from store.errors import StoreError
from store.store import Store
from tests.conftest import read_only
from tests.helpers import write_varied_records


def corpus(path: Path, count: int, prefix: str = "doc") -> Path:
    return write_varied_records(path, count, prefix, "text number", "word ", 30)


@pytest.fixture
def tiny_settings(tiny_model_dir) -> Settings:
    return Settings(model=str(tiny_model_dir), device="cpu", commit_every=10)


def test_documents_are_written_in_input_order_one_transaction_per_batch(
    tmp_path, tiny_settings, monkeypatch
) -> None:
    monkeypatch.setattr(pipeline, "ROUND_CHARS", 2_000)  # several batches share a round
    with Collection(tmp_path / "store", tiny_settings) as collection:
        summary = collection.add([str(corpus(tmp_path / "in.jsonl", 95))])
        assert (summary.added, summary.chunks) == (95, 95)
        assert collection.generation == 10, "95 documents in batches of 10"
    with read_only(tmp_path / "store") as db:
        order = [row[0] for row in db.execute("SELECT doc_id FROM chunks ORDER BY id")]
    assert order == [f"doc{i}" for i in range(95)]


def test_a_failing_write_stops_every_stage_and_keeps_what_was_committed(
    tmp_path, tiny_settings, monkeypatch
) -> None:
    real_upsert = Store.upsert
    calls = []

    def failing(store, records):
        calls.append(len(records))
        if len(calls) == 3:
            raise StoreError("disk full (simulated)")
        return real_upsert(store, records)

    monkeypatch.setattr(Store, "upsert", failing)
    source = corpus(tmp_path / "in.jsonl", 200)
    with Collection(tmp_path / "store", tiny_settings) as collection:
        with pytest.raises(StoreError, match="disk full"):
            collection.add([str(source)])
        assert collection.count() == 20 and collection.verify().ok
    monkeypatch.setattr(Store, "upsert", real_upsert)
    with Collection(tmp_path / "store", tiny_settings) as collection:
        summary = collection.add([str(source)])
    assert (summary.unchanged, summary.added) == (20, 180)


def test_an_add_that_lets_its_model_go_frees_it_and_the_next_search_loads_it_again(
    tmp_path, tiny_settings
) -> None:
    with Collection(tmp_path / "store", tiny_settings) as collection:
        model = weakref.ref(collection.embedder)
        collection.add([str(corpus(tmp_path / "in.jsonl", 30))], keep_model=False)
        assert model() is None, "nothing holds the model after the run: its memory is free"
        hits = collection.search("text number 7", k=3, mode="dense")  # embeds the query
        assert len(hits) == 3


def test_skipped_empty_and_repeated_documents_are_counted(tmp_path, tiny_settings) -> None:
    lines = [
        {"id": "a", "text": "first"},
        {"id": "b", "text": "   "},
        {"id": "a", "text": "again"},
        {"id": "c", "text": "third"},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines) + "{broken\n")
    with Collection(tmp_path / "store", tiny_settings) as collection:
        summary = collection.add([str(source)])
    assert summary.added == 2
    assert [(Path(s.where).name, s.kind) for s in summary.skipped] == [
        ("in.jsonl:2", "empty document"),
        ("in.jsonl:3", "duplicate id"),
        ("in.jsonl:5", "invalid JSON"),
    ]
    assert summary.skipped[1].reason.endswith("in.jsonl:1)")
