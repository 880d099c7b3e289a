"""Every layer of the model and its attention weights (tiny random BERT)."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.settings import Settings, SettingsError
from indexer.workbench import Workbench

TEXT = "The river bank was steep, so the bank moved its offices."


@pytest.fixture(scope="module")
def bench(tiny_model_dir) -> Workbench:
    return Workbench(Settings(model=str(tiny_model_dir)), quiet=True)


def test_last_layer_is_todays_token_view_and_the_embeddings_layer_differs(bench) -> None:
    today = bench.tokens(TEXT)
    view = bench.layers(TEXT)
    assert view.layers == 2 and view.vectors.shape == (3, len(today.tokens), 32)
    assert view.tokens == today.tokens and view.offsets == today.offsets
    last = bench.tokens(TEXT, layer=view.layers)
    np.testing.assert_allclose(last.vectors, today.vectors, atol=1e-5)
    np.testing.assert_allclose(view.at(-1).vectors, today.vectors, atol=1e-5)
    embeddings = bench.tokens(TEXT, layer=0)
    assert np.abs(embeddings.vectors - today.vectors).max() > 1e-2
    assert embeddings.words().words == today.words().words


def test_a_tokens_trajectory_ends_at_its_own_final_vector(bench) -> None:
    view = bench.layers(TEXT)
    path = view.trajectory(3)
    assert path["to_final"].shape == path["to_others"].shape == (3,)
    assert path["to_final"][-1] == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.abs(path["to_others"]) <= 1.0 + 1e-5)
    assert path["to_each"].shape == (3, len(view.tokens))
    np.testing.assert_allclose(path["to_each"][:, 3], 1.0, atol=1e-5)
    others = np.delete(path["to_each"], 3, axis=1).mean(axis=1)
    np.testing.assert_allclose(path["to_others"], others, atol=1e-6)


def test_a_layer_the_model_does_not_have_is_refused(bench) -> None:
    with pytest.raises(SettingsError, match="layer must be 0"):
        bench.tokens(TEXT, layer=3)


def test_attention_rows_sum_to_one_per_head_and_search_keeps_fused_attention(bench) -> None:
    before = bench.embed([TEXT])
    attention = bench.attention(TEXT)
    n = len(attention.tokens)
    assert attention.weights.shape == (2, 2, n, n)
    np.testing.assert_allclose(attention.weights.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(attention.of(1).sum(axis=-1), 1.0, atol=1e-5)
    assert not np.allclose(attention.of(0, 0), attention.of(0, 1))
    assert bench.embedder.loaded.model.config._attn_implementation == "sdpa"
    np.testing.assert_array_equal(bench.embed([TEXT]), before)
