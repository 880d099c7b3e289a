"""Sections 1 and 2: embedding throughput against sentence-transformers, bf16, and the seed's
architecture with random weights (its weights cannot be downloaded here)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from bench import common
from bench.common import (
    SEED_NOTE,
    cranfield,
    dense_ndcg,
    indexed_text,
    interleaved,
    matmul_flops,
    median,
    read_corpus,
    require,
    split,
)
from indexer.embedding.embedder import Embedder
from indexer.embedding.model import fallback_model_path, ready_for_inference
from indexer.settings import FALLBACK_MODEL

SLICES = 4


def wordpieces(embedder: Embedder, texts: list[str]) -> int:
    """Positions the model runs over: every window's wordpieces plus [CLS] and [SEP]."""
    return sum(w.n_tokens + 2 for e in embedder.tokenize(texts) for w in embedder.windows(e))


def throughput(seconds: list[float], slices: list, tokens: list[int]) -> dict[str, float]:
    docs = [len(s) / t for s, t in zip(slices, seconds, strict=True)]
    toks = [n / t for n, t in zip(tokens, seconds, strict=True)]
    return {
        "docs_per_s": round(median(docs)),
        "tokens_per_s": round(median(toks)),
        "seconds": round(sum(seconds), 2),
    }


def flops_per_token(config: dict[str, int], mean_length: float) -> float:
    """Forward FLOPs per position: the dense layers plus attention over `mean_length` positions."""
    hidden, inner = config["hidden_size"], config["intermediate_size"]
    per_layer = 4 * hidden * hidden + 2 * hidden * inner + 2 * mean_length * hidden
    return 2.0 * config["num_hidden_layers"] * per_layer


def truncated_wordpieces(embedder: Embedder, texts: list[str], limit: int) -> int:
    """Positions a model that truncates at `limit` runs over (sentence-transformers)."""
    return sum(min(len(e.ids) + 2, limit) for e in embedder.tokenize(texts))


def compare_on(texts: list[str], variants: dict, ours: Embedder, st_limit: int) -> dict[str, Any]:
    slices = split(texts, SLICES)
    tokens = [wordpieces(ours, list(s)) for s in slices]
    st_tokens = [truncated_wordpieces(ours, list(s), st_limit) for s in slices]
    seconds, outputs = interleaved(variants, slices)
    result = {
        name: throughput(seconds[name], slices, st_tokens if "sentence" in name else tokens)
        for name in variants
    }
    base = seconds.get("sentence-transformers fp32")
    for name in variants:
        if base is not None:
            ratios = [b / t for b, t in zip(base, seconds[name], strict=True)]
            result[name]["ratio_vs_sentence_transformers"] = round(median(ratios), 3)
    result["_vectors"] = {name: np.concatenate(out) for name, out in outputs.items()}
    result["_tokens"] = sum(tokens)
    return result


def wordnet_texts() -> list[str]:
    """The first 20,000 WordNet documents as `semsearch index` embeds them."""
    return [
        indexed_text(r)
        for r in read_corpus(require("wordnet") / "corpus.jsonl", common.WORDNET_DOCS)
    ]


def run(wordnet: list[str]) -> dict[str, Any]:
    """Section 1: ours (fp32, bf16) vs sentence-transformers on WordNet and Cranfield."""
    from sentence_transformers import SentenceTransformer

    docs, queries, qrels = cranfield()
    cran_texts = [indexed_text(r) for r in docs]
    ours = Embedder.load(FALLBACK_MODEL, device="cpu")
    ours_bf16 = Embedder.load(FALLBACK_MODEL, device="cpu", precision="bf16")
    st = SentenceTransformer(str(fallback_model_path()), device="cpu")
    variants = {
        "ours fp32": lambda s: ours.embed(list(s)),
        "sentence-transformers fp32": lambda s: st.encode(list(s), normalize_embeddings=True),
        "ours bf16": lambda s: ours_bf16.embed(list(s)),
    }
    report: dict[str, Any] = {}
    for corpus, texts in (("wordnet", wordnet), ("cranfield", cran_texts)):
        result = compare_on(texts, variants, ours, st.max_seq_length)
        vectors = result.pop("_vectors")
        result["documents"], result["tokens"] = len(texts), result.pop("_tokens")
        fits = [
            i for i, e in enumerate(ours.tokenize(texts)) if len(e.ids) <= st.max_seq_length - 2
        ]
        cosines = np.sum(
            vectors["ours fp32"][fits] * vectors["sentence-transformers fp32"][fits], 1
        )
        result["equal_vectors"] = {
            "checked": len(fits),
            "min_cosine": round(float(cosines.min()), 7),
            "skipped_longer_than_st_max_seq_length": len(texts) - len(fits),
        }
        if corpus == "cranfield":
            ids = [r["_id"] for r in docs]
            fp32 = dense_ndcg(
                ids, vectors["ours fp32"], queries, ours.embed(list(queries.values())), qrels
            )
            bf16 = dense_ndcg(
                ids, vectors["ours bf16"], queries, ours_bf16.embed(list(queries.values())), qrels
            )
            result["ndcg@10"] = {
                "fp32": round(fp32, 4),
                "bf16": round(bf16, 4),
                "bf16_loss": round(fp32 - bf16, 4),
            }
        result["_fp32_vectors"] = vectors["ours fp32"]
        report[corpus] = result
    return report


def seed_architecture(wordnet: list[str]) -> dict[str, Any]:
    """Section 2: the seed model's exact shape with random weights, fp32 and bf16, and the fraction
    of the machine's measured matrix-multiply rate it reaches."""
    tokenizer = AutoTokenizer.from_pretrained(fallback_model_path())  # the same uncased vocabulary
    embedders = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = BertModel(BertConfig(**common.SEED_CONFIG), add_pooling_layer=False)
        loaded = ready_for_inference(model, tokenizer, "random L-6 H-256 A-4", "cpu", precision)
        embedders[precision] = Embedder(loaded)
    texts = wordnet[:10_000]
    slices = split(texts, SLICES)
    tokens = [wordpieces(embedders["fp32"], list(s)) for s in slices]
    variants = {
        p: (lambda chosen: lambda s: chosen.embed(list(s)))(e) for p, e in embedders.items()
    }
    seconds, _ = interleaved(variants, slices)
    mean_length = sum(tokens) / len(texts)
    result: dict[str, Any] = {
        "note": SEED_NOTE,
        "documents": len(texts),
        "mean_positions": round(mean_length, 1),
    }
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        speed = throughput(seconds[precision], slices, tokens)
        limit = matmul_flops(dtype)
        used = flops_per_token(common.SEED_CONFIG, mean_length) * speed["tokens_per_s"]
        result[precision] = {
            **speed,
            "matmul_gflops": round(limit / 1e9, 1),
            "model_gflops": round(used / 1e9, 1),
            "fraction_of_limit": round(used / limit, 3),
        }
    return result
