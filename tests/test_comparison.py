"""Comparing two texts with the real shipped model: what a person checks on the Compare page."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.embedding.comparison import compare
from indexer.embedding.embedder import Embedder

GUITAR = "A man is playing a guitar."
PARAPHRASE = "Someone plays an instrument."
UNRELATED = "The stock market fell sharply on Tuesday."


def test_paraphrase_scores_far_above_an_unrelated_sentence(shipped: Embedder) -> None:
    paraphrase, unrelated = (
        compare(shipped, GUITAR, PARAPHRASE),
        compare(shipped, GUITAR, UNRELATED),
    )
    for pooling in ("mean", "spark-nlp"):
        assert paraphrase.pooled[pooling] > unrelated.pooled[pooling] + 0.4, pooling
        a, b = shipped.with_pooling(pooling).embed([GUITAR, PARAPHRASE])
        assert paraphrase.pooled[pooling] == pytest.approx(float(a @ b), abs=1e-6)


def test_token_cosines_pair_guitar_with_instrument(shipped: Embedder) -> None:
    result = compare(shipped, GUITAR, PARAPHRASE)
    assert result.token_cosines.shape == (len(result.a.tokens), len(result.b.tokens))
    guitar = result.a.tokens.index("guitar")
    assert result.b.tokens[int(np.argmax(result.token_cosines[guitar]))] == "instrument"


def test_a_text_compared_with_itself(shipped: Embedder) -> None:
    same = compare(shipped, GUITAR, GUITAR)
    assert same.pooled == pytest.approx({"mean": 1.0, "spark-nlp": 1.0}, abs=1e-5)
    np.testing.assert_allclose(np.diag(same.token_cosines), 1.0, atol=1e-5)
