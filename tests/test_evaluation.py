"""`eval`: metrics checked by hand on a tiny BEIR folder, and hybrid search quality on Cranfield."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from indexer.cli.app import cli
from indexer.collection import Collection
from indexer.evaluation import evaluate, mrr_at, ndcg_at, read_qrels, recall_at
from indexer.settings import FALLBACK_MODEL, Settings
from tests.conftest import shared_data
from tests.helpers import write_beir


def test_metrics_by_hand() -> None:
    relevance = {"a": 2, "b": 1, "c": 0}
    assert ndcg_at(["a", "b"], relevance) == pytest.approx(1.0)
    assert ndcg_at(["x", "a"], relevance) == pytest.approx(
        (3 / math.log2(3)) / (3 + 1 / math.log2(3))
    )
    assert recall_at(["b", "c"], relevance) == 0.5
    assert mrr_at(["c", "x", "b"], relevance) == pytest.approx(1 / 3)
    assert mrr_at(["c"], relevance) == 0.0


def test_eval_command_reports_hand_checked_lexical_numbers(tmp_path, tiny_model_dir) -> None:
    beir = write_beir(tmp_path / "beir")
    assert read_qrels(beir / "qrels" / "test.tsv")["q1"] == {"d3": 2, "d1": 1}
    result = CliRunner().invoke(
        cli, ["eval", str(beir), "--model", str(tiny_model_dir), "--json"], catch_exceptions=False
    )
    report = json.loads(result.stdout)
    assert report["queries"] == 2 and set(report) == {"dense", "lexical", "hybrid", "queries"}
    # q1 "cherry": lexical ranks [d3]; DCG 3, IDCG 3 + 1/log2(3). q2 "durian": [d4], none relevant
    assert report["lexical"]["ndcg@10"] == pytest.approx(3 / (3 + 1 / math.log2(3)) / 2, abs=1e-4)
    assert report["lexical"]["recall@100"] == pytest.approx(0.25)
    assert report["lexical"]["mrr@10"] == pytest.approx(0.5)
    assert report["dense"]["recall@100"] == pytest.approx(1.0)  # 4 documents: all retrieved
    table = CliRunner().invoke(cli, ["eval", str(beir), "--model", str(tiny_model_dir)])
    assert "nDCG@10" in table.stdout and "hybrid" in table.stdout


def test_hybrid_beats_dense_and_lexical_on_cranfield(tmp_path) -> None:
    folder = shared_data("cranfield")
    with Collection(tmp_path / "store", Settings(model=FALLBACK_MODEL)) as collection:
        report = evaluate(collection, folder)
    dense, lexical, hybrid = (report[m]["ndcg@10"] for m in ("dense", "lexical", "hybrid"))
    print(f"Cranfield nDCG@10: dense {dense:.4f} lexical {lexical:.4f} hybrid {hybrid:.4f}")
    assert report["queries"] == 225
    assert hybrid > dense and hybrid > lexical
    assert dense >= 0.35 and lexical >= 0.30, "close to the reference points 0.368 / 0.327"
