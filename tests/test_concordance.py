"""A word's concordance: occurrences found through the full-text index, vectors from the store's
own windows, groups by the sense rule (tiny random BERT; the acceptance test with the shipped
model on WordNet glosses)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer.collection import Collection
from indexer.concordance import occurrences
from indexer.concordance.occurrences import ConcordanceError
from indexer.concordance.senses import group_senses
from indexer.embedding.layers import window_layers
from indexer.settings import FALLBACK_MODEL, SENSE_MAX_CENTROID_COSINE, Settings
from tests.conftest import shared_data

LONG = " ".join(
    ("the bank of the river" if i % 7 == 0 else f"word{i}") for i in range(400)
)  # many windows that overlap, the word in some overlaps
DOCS = [
    {"id": "money", "text": "Bank deposits earn interest; the BANK lends money."},
    {"id": "others", "text": "Two banks and a riverbank, bank's books, bank-notes."},
    {"id": "none", "text": "Nothing about it here at all."},
    {"id": "long", "text": LONG},
]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory, tiny_model_dir) -> Path:
    folder = tmp_path_factory.mktemp("concordance") / "store"
    settings = Settings(model=str(tiny_model_dir), chunk_tokens=48, overlap=16)
    with Collection(folder, settings, quiet=True) as collection:
        collection.add_records(DOCS)
    return folder


def test_every_occurrence_is_the_whole_word_as_written_in_any_case(store_path) -> None:
    with Collection(store_path, quiet=True) as collection:
        result = collection.concordance("bank", limit=1000)
        texts = {doc["id"]: doc["text"] for doc in DOCS}
        found = [(o.doc_id, o.start) for o in result.occurrences]
        expected = [
            (doc_id, match.start())
            for doc_id, text in texts.items()
            for match in re.finditer(r"(?<!\w)bank(?!\w)", text, re.I)
        ]
        assert sorted(found) == sorted(expected)  # once each, overlaps of windows included
        for o in result.occurrences:
            text = texts[o.doc_id]
            assert text[o.start : o.end] == o.word and o.word.lower() == "bank"
            assert re.sub(r"\s+", " ", text[: o.start]).endswith(o.left)
            assert re.sub(r"\s+", " ", text[o.end :]).startswith(o.right)
            chunk = collection.chunk(o.chunk_id)
            assert chunk.doc_id == o.doc_id and chunk.start <= o.start < chunk.end
        assert {o.word for o in result.occurrences} == {"Bank", "BANK", "bank"}


def test_occurrence_vectors_come_from_the_windows_the_store_embedded(store_path) -> None:
    with Collection(store_path, quiet=True) as collection:
        found, _ = occurrences.find(collection._store(), "bank", 1000, 4)
        chunk_ids = sorted({o.chunk_id for o in found})
        embedder = collection._query_embedder()
        windows = occurrences.windows(collection._store(), embedder, chunk_ids)
        stored = collection.chunk_vectors(chunk_ids)
        assert len(chunk_ids) > 4  # several windows of the long document
        for index, states in window_layers(embedder, [windows[c].ids for c in chunk_ids]):
            pooled = states[-1].mean(axis=0)
            pooled /= np.linalg.norm(pooled)
            np.testing.assert_allclose(pooled, stored[chunk_ids[index]], atol=1e-5)


def test_more_occurrences_than_the_limit_are_spread_over_the_store(store_path) -> None:
    with Collection(store_path, quiet=True) as collection:
        every = collection.concordance("word1", limit=1000).occurrences
        assert len(every) == 1
        taken = collection.concordance("the", limit=12)
        assert len(taken.occurrences) == 12
        starts = [o.start for o in taken.occurrences if o.doc_id == "long"]
        assert min(starts) < len(LONG) * 0.2 and max(starts) > len(LONG) * 0.8


def test_the_concordance_is_cached_per_store_generation(store_path, tmp_path, monkeypatch) -> None:
    from indexer.concordance import report

    copy = tmp_path / "store"
    shutil.copytree(store_path, copy)
    calls = []
    original = report.build
    monkeypatch.setattr(report, "build", lambda *a: calls.append(a[2]) or original(*a))
    with Collection(copy, quiet=True) as collection:
        first = collection.concordance("bank")
        assert collection.concordance("Bank") is first and len(calls) == 1
        collection.concordance("bank", layer=0)
        assert len(calls) == 2
        collection.add_records([{"id": "new", "text": "A bank again."}])
        again = collection.concordance("bank")
        assert len(calls) == 3 and len(again.occurrences) == len(first.occurrences) + 1


def test_a_collection_keeps_only_the_latest_concordances(store_path, monkeypatch) -> None:
    import indexer.collection

    monkeypatch.setattr(indexer.collection, "CONCORDANCES_KEPT", 2)
    with Collection(store_path, quiet=True) as collection:
        first, the = collection.concordance("bank"), collection.concordance("the")
        assert collection.concordance("bank") is first
        collection.concordance("river")
        assert collection.concordance("the") is the
        assert collection.concordance("bank") is not first  # dropped, computed again


def test_a_word_not_in_the_store_has_no_groups_and_a_phrase_is_refused(store_path) -> None:
    with Collection(store_path, quiet=True) as collection:
        empty = collection.concordance("zeppelin")
        assert empty.occurrences == [] and empty.groups == []
        assert json.loads(json.dumps(empty.as_dict()))["occurrences"] == 0
        with pytest.raises(ConcordanceError, match="one word"):
            collection.concordance("river bank")


class OneChunk:
    """A store of one chunk, cut inside words at both ends of its span."""

    document = "riverbank bank banks"
    span = (5, 19)  # "bank bank bank": the first and last are parts of longer words

    def chunks_with_word(self, word: str) -> list[int]:
        return [1]

    def chunk_contexts(self, chunk_ids: list[int], margin: int) -> list[dict]:
        start, end = self.span
        return [
            {"id": 1, "doc_id": "d", "title": None, "ord": 0, "start": start, "end": end}
            | {"context_start": 0, "context": self.document}
        ]


def test_a_word_cut_at_the_edge_of_a_window_is_not_taken_for_the_whole_word() -> None:
    found, matching = occurrences.find(OneChunk(), "bank", 10, 2)
    assert matching == 1 and [(o.start, o.end) for o in found] == [(10, 14)]
    assert found[0].neighbours == ["riverbank", "banks"]


def test_the_sense_rule_finds_one_group_in_one_cloud_and_two_in_two() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=64)
    one = base + rng.normal(scale=0.35, size=(120, 64))
    assert group_senses(one).count == 1
    other = rng.normal(size=64)
    two = np.concatenate([one[:60], other + rng.normal(scale=0.35, size=(60, 64))])
    senses = group_senses(two)
    assert senses.count == 2 and sorted(np.bincount(senses.labels)) == [60, 60]
    accepted = [t for t in senses.trials if t.accepted]
    assert accepted and all(t.closest_centroids <= SENSE_MAX_CENTROID_COSINE for t in accepted)


# -- acceptance: WordNet glosses with the shipped model ----------------------------------------

SENSE_WORDS = {
    "money": {"money", "financial", "banking", "deposit", "deposits", "loan", "account", "federal"},
    "river": {"river", "slope", "sloping", "land", "steep", "shore", "side", "water"},
}
ONE_SENSE = "oxygen"
OTHERS_EVERY = 1000  # one gloss in this many besides those holding the words


@pytest.fixture(scope="module")
def wordnet_store(tmp_path_factory) -> Path:
    """Every WordNet gloss holding `bank` or `oxygen`, and a spread of the others."""
    corpus = shared_data("wordnet") / "corpus.jsonl"
    wanted = re.compile(rf"(?<!\w)(bank|{ONE_SENSE})(?!\w)", re.I)
    records = []
    with corpus.open() as lines:
        for number, line in enumerate(lines):
            gloss = json.loads(line)
            if wanted.search(f"{gloss['title']} {gloss['text']}") or number % OTHERS_EVERY == 0:
                records.append({"id": gloss["_id"], "title": gloss["title"], "text": gloss["text"]})
    folder = tmp_path_factory.mktemp("wordnet") / "store"
    with Collection(folder, Settings(model=FALLBACK_MODEL), quiet=True) as collection:
        collection.add_records(records)
    return folder


def sense_of(lines: list[str]) -> set[str]:
    words = {w for line in lines for w in re.findall(r"\w+", line.lower())}
    return {sense for sense, cues in SENSE_WORDS.items() if words & cues}


def test_bank_has_a_river_side_and_a_money_group_and_oxygen_one(wordnet_store) -> None:
    with Collection(wordnet_store, quiet=True) as collection:
        bank = collection.concordance("bank")
        assert len(bank.groups) >= 2
        typical = [
            [f"{bank.occurrences[i].left} {bank.occurrences[i].right}" for i in g.typical]
            for g in bank.groups
        ]
        senses = [sense_of(lines) for lines in typical]
        assert any(s == {"money"} for s in senses) and any("river" in s for s in senses), typical
        for o in bank.occurrences:
            text = collection.document(o.doc_id).text
            assert text[o.start : o.end] == o.word and o.word.lower() == "bank"
        oxygen = collection.concordance(ONE_SENSE)
        assert len(oxygen.groups) == 1 and oxygen.groups[0].size == len(oxygen.occurrences) > 50


def test_silhouette_is_the_textbook_one_with_cosine_distance() -> None:
    from indexer.concordance.senses import silhouette, unit_rows

    rng = np.random.default_rng(1)
    unit = unit_rows(rng.normal(size=(40, 8)) + np.repeat(rng.normal(size=(2, 8)), 20, axis=0))
    labels = np.repeat([0, 1], 20)
    labels[0] = 5  # a group of one scores 0
    distance = 1 - unit.astype(np.float64) @ unit.T
    scores = []
    for i, own in enumerate(labels):
        same = (labels == own) & (np.arange(40) != i)
        if not same.any():
            scores.append(0.0)
            continue
        inner = distance[i, same].mean()
        outer = min(distance[i, labels == g].mean() for g in set(labels) - {own})
        scores.append((outer - inner) / max(outer, inner))
    assert silhouette(unit, labels) == pytest.approx(np.mean(scores), abs=1e-5)


def test_last_layer_occurrences_come_from_the_runtime_and_match_every_layer_pass(
    store_path,
) -> None:
    from indexer.embedding.layers import last_layer_windows

    with Collection(store_path, quiet=True) as collection:
        found, _ = occurrences.find(collection._store(), "bank", 1000, 4)
        chunk_ids = sorted({o.chunk_id for o in found})
        embedder = collection._query_embedder()
        windows = [
            occurrences.windows(collection._store(), embedder, chunk_ids)[c].ids for c in chunk_ids
        ]
        every = dict(window_layers(embedder, windows))
        for index, states in last_layer_windows(embedder, windows):
            np.testing.assert_allclose(states, every[index][-1], atol=1e-4)
