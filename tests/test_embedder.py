"""The embedder: exact pooling, batch independence, chunking, explanations, model resolution."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
import torch

from indexer.embedding.embedder import Embedder, TextTooLongError
from indexer.embedding.model import ModelLoadError, hub_reachable, load_model
from indexer.embedding.tokenization import untruncated
from indexer.settings import DEFAULT_MODEL, FALLBACK_MODEL, SettingsError
from tests.conftest import shared_data, tiny_loaded

TEXTS = [
    "Hi.",
    "The quick brown fox jumps over the lazy dog while the farmer sleeps in the afternoon sun.",
    " ".join(["Supersonic flow over a slender wedge produces an attached oblique shock."] * 12),
    "Unbelievably, tokenization splits rare words into several wordpieces.",
]


def reference_mean_pooling(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """The textbook recipe: tokenize with padding, forward, masked mean, L2 normalize."""
    tokenizer, model = embedder.loaded.tokenizer, embedder.loaded.model
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_mean_pooling_equals_plain_reference_across_lengths(shipped: Embedder) -> None:
    ours = shipped.embed(TEXTS)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, reference_mean_pooling(shipped, TEXTS), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_vector_does_not_depend_on_batch_companions_or_order(shipped: Embedder) -> None:
    alone = shipped.embed([TEXTS[1]])[0]
    together = shipped.embed(TEXTS[::-1])
    np.testing.assert_allclose(together[len(TEXTS) - 2], alone, atol=1e-5)
    reordered = shipped.embed([TEXTS[2], TEXTS[1], TEXTS[0]])
    np.testing.assert_allclose(reordered[1], alone, atol=1e-5)


def test_token_budget_limits_padded_batch_size(tiny: Embedder, monkeypatch) -> None:
    shapes = []
    forward = tiny._forward
    monkeypatch.setattr(
        tiny, "_forward", lambda ids, mask: shapes.append(ids.shape) or forward(ids, mask)
    )
    texts = [" ".join(["word"] * n) for n in (40, 3, 25, 10, 40, 7, 33)]
    vectors = tiny.embed(texts)
    assert all(rows * width <= tiny.batch_tokens for rows, width in shapes)
    assert sum(rows for rows, _ in shapes) == len(texts)
    widths = [width for _, width in shapes]
    assert widths == sorted(widths, reverse=True), "batches go longest first"
    np.testing.assert_allclose(vectors[0], vectors[4], atol=1e-6)


def test_long_document_windows_cover_every_wordpiece_with_exact_overlap(shipped: Embedder) -> None:
    words = [
        f"word{i % 97} aerodynamic-{i}" if i % 7 == 0 else f"token{i % 13}" for i in range(5000)
    ]
    text = " ".join(words)
    tokens = shipped.tokenize([text])[0]
    encoding = untruncated(shipped.loaded.tokenizer.backend_tokenizer).encode(
        text, add_special_tokens=False
    )
    assert tokens.ids.tolist() == encoding.ids
    windows = shipped.windows(tokens)
    n = len(tokens)
    assert n > 5000 and len(windows) > 20
    assert windows[0].token_start == 0 and windows[-1].token_end == n
    covered = np.zeros(n, bool)
    ids, word_ids, pieces = encoding.ids, encoding.word_ids, encoding.tokens
    starts_inside_a_word = 0
    for window in windows:
        first = window.token_start
        assert 0 < window.n_tokens <= shipped.chunk_tokens
        covered[first : window.token_end] = True
        assert window.start == encoding.offsets[first][0] == tokens.offsets[first][0]
        assert window.end == encoding.offsets[window.token_end - 1][1]
        piece_ids = shipped.tokenize([text[window.start : window.end]])[0].ids.tolist()
        if first > 0 and word_ids[first] == word_ids[first - 1]:
            # the window starts inside a word: its text starts with that word's later pieces
            starts_inside_a_word += 1
            assert pieces[first].startswith("##")
            assert piece_ids[0] != ids[first]
        else:  # its text tokenizes back to the window's own wordpieces
            assert piece_ids[:5] == ids[first : first + 5]
    assert starts_inside_a_word < len(windows) // 2
    for before, after in zip(windows, windows[1:], strict=False):
        assert before.token_end - after.token_start == shipped.overlap
    assert covered.all()
    chunks = shipped.embed_chunks([text])[0]
    assert [c.window for c in chunks] == windows
    assert all(abs(np.linalg.norm(c.vector) - 1) < 1e-5 for c in chunks)


def test_explain_shares_sum_to_the_cosine(shipped: Embedder) -> None:
    query, text = "jet engine noise", "Turbojet engines make unbelievably loud noise at take-off."
    explanation = shipped.explain(query, text)
    expected = float(shipped.embed([query])[0] @ shipped.embed([text])[0])
    assert explanation.cosine == pytest.approx(expected, abs=1e-5)
    assert explanation.shares.sum() == pytest.approx(expected, abs=1e-5)
    assert explanation.tokens[0] == "[CLS]" and explanation.tokens[-1] == "[SEP]"
    top = explanation.tokens[int(np.argmax(explanation.shares))]
    assert top in {"engine", "engines", "noise", "loud", "##jet", "turbo"}


def test_spark_nlp_pooling_matches_hand_computation(shipped: Embedder) -> None:
    spark = Embedder(shipped.loaded, pooling="spark-nlp")
    text = "Unbelievably tokenized sentences"
    view = shipped.token_embeddings(text)
    assert len(view.tokens) > len(text.split()) + 2, "a word must split into several wordpieces"
    first_pieces = [view.words().pieces[w][0] for w in range(3)]
    by_hand = view.vectors[first_pieces].mean(axis=0)
    by_hand /= np.linalg.norm(by_hand)
    np.testing.assert_allclose(spark.embed([text])[0], by_hand, atol=1e-5)
    shares = spark.explain("belief", text).shares
    assert shares[0] == 0 and shares[-1] == 0, "[CLS] and [SEP] carry no weight"


def test_token_view_groups_wordpieces_into_words(shipped: Embedder) -> None:
    text = "Tokenization unbelievably works"
    view = shipped.token_embeddings(text)
    assert view.vectors.shape == (len(view.tokens), 384)
    for token, (start, end) in zip(view.tokens[1:-1], view.offsets[1:-1], strict=True):
        assert text[start:end].lower() == token.removeprefix("##")
    words = view.words()
    assert words.words == ["Tokenization", "unbelievably", "works"]
    assert len(words.pieces[1]) > 1
    np.testing.assert_allclose(
        words.vectors[1], view.vectors[words.pieces[1]].mean(axis=0), atol=1e-6
    )


def test_token_view_refuses_text_longer_than_a_window(tiny: Embedder) -> None:
    with pytest.raises(TextTooLongError, match="one window holds at most 126"):
        tiny.token_embeddings("word " * 200)


def test_recipe_records_everything_that_shapes_a_vector(shipped: Embedder) -> None:
    recipe = shipped.recipe
    assert recipe.model == FALLBACK_MODEL
    assert recipe.model_fingerprint.startswith("sha256:")
    assert (recipe.dim, recipe.pooling, recipe.chunk_tokens, recipe.overlap) == (
        384,
        "mean",
        256,
        32,
    )
    assert tiny_loaded().fingerprint == tiny_loaded().fingerprint != shipped.loaded.fingerprint


def test_bad_recipe_options_are_refused(tiny: Embedder) -> None:
    with pytest.raises(SettingsError, match="exceeds the model's 128 positions"):
        Embedder(tiny.loaded, chunk_tokens=200)
    with pytest.raises(SettingsError, match="overlap"):
        Embedder(tiny.loaded, chunk_tokens=48, overlap=48)
    with pytest.raises(SettingsError, match="pooling must be one of mean, spark-nlp"):
        Embedder(tiny.loaded, pooling="max")
    with pytest.raises(SettingsError, match="at least chunk_tokens \\+ 2 = 50"):
        Embedder(tiny.loaded, chunk_tokens=48, overlap=8, batch_tokens=10)


def test_bf16_vectors_stay_close_to_fp32() -> None:
    texts = TEXTS[:3]
    fp32 = Embedder(tiny_loaded("fp32"), chunk_tokens=100, overlap=8).embed(texts)
    bf16 = Embedder(tiny_loaded("bf16"), chunk_tokens=100, overlap=8).embed(texts)
    assert bf16.dtype == np.float32
    assert (np.sum(fp32 * bf16, axis=1) > 0.99).all()


def test_default_model_falls_back_to_shipped_one_when_hub_unreachable(
    monkeypatch, tmp_path, capsys
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert not hub_reachable()
    loaded = load_model(None, "cpu", "fp32")
    assert loaded.model_id == FALLBACK_MODEL and loaded.fell_back and loaded.dim == 384
    err = capsys.readouterr().err
    assert DEFAULT_MODEL in err and FALLBACK_MODEL in err and "WARNING" in err


def test_named_model_that_cannot_load_is_a_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model.*local hub cache"):
        load_model("no-such-org/no-such-model", "cpu", "fp32")


def test_model_loads_from_a_local_folder(tmp_path) -> None:
    loaded = tiny_loaded()
    loaded.model.save_pretrained(tmp_path)
    loaded.tokenizer.save_pretrained(tmp_path)
    again = load_model(str(tmp_path), "cpu", "fp32")
    assert again.fingerprint == loaded.fingerprint and again.model_id == str(tmp_path)


def test_sts_benchmark_spearman_with_shipped_model(shipped: Embedder) -> None:
    folder = shared_data("stsbenchmark")
    pairs = []
    with open(folder / "sts-test.csv", encoding="utf-8") as handle:
        for fields in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            pairs.append((float(fields[4]), fields[5], fields[6]))
    scores, first, second = zip(*pairs, strict=True)
    a, b = shipped.embed(list(first)), shipped.embed(list(second))
    cosines = np.sum(a * b, axis=1)
    spearman = pd.Series(cosines).corr(pd.Series(scores), method="spearman")
    assert len(pairs) == 1379
    assert spearman >= 0.80, f"STS-B test Spearman {spearman:.3f} < 0.80"
