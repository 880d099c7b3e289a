"""Section 6: retrieval quality on Cranfield (all three modes) and STS Benchmark Spearman."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import require
from indexer.collection import Collection
from indexer.embedding.embedder import Embedder
from indexer.evaluation import evaluate
from indexer.settings import FALLBACK_MODEL, Settings

REFERENCE = {
    "cranfield_ndcg@10": {"dense": 0.368, "lexical": 0.327, "hybrid": 0.383},
    "sts_test_spearman": 0.820,
}


def sts_spearman(embedder: Embedder) -> float:
    pairs = []
    with open(require("stsbenchmark") / "sts-test.csv", encoding="utf-8") as handle:
        for fields in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            pairs.append((float(fields[4]), fields[5], fields[6]))
    scores, first, second = zip(*pairs, strict=True)
    cosines = np.sum(embedder.embed(list(first)) * embedder.embed(list(second)), axis=1)
    return float(pd.Series(cosines).corr(pd.Series(scores), method="spearman"))


def run(embedder: Embedder) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="semsearch-eval-") as folder:
        chosen = Settings(model=FALLBACK_MODEL, device="cpu")
        with Collection(Path(folder) / "store", chosen, quiet=True) as collection:
            cranfield = evaluate(collection, require("cranfield"))
    return {
        "cranfield": cranfield,
        "sts_test_spearman": round(sts_spearman(embedder), 4),
        "reference": REFERENCE,
    }
