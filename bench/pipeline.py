"""Section 3b (CPU) and the GPU section: the whole `Collection.add` against our pure embedding of
the same texts and against sentence-transformers' bare `encode`, with the default model's exact
architecture (random weights), interleaved in one process."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench import common
from bench.common import median, seed_model_folder, wordnet_subset
from indexer.collection import Collection
from indexer.embedding.embedder import Embedder
from indexer.settings import Settings
from indexer.sources.options import SourceOptions

REPEATS = 3
ST_BATCH_SIZES = (32,)  # sentence-transformers' default


def sentence_transformer(folder: Path, device: str, precision: str) -> Any:
    """sentence-transformers on the same model folder (mean pooling, as ours)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device=device)
    return model.to(torch.bfloat16) if precision == "bf16" else model


def compare(
    device: str,
    documents: int | None,
    precisions: tuple[str, ...],
    st_batch_sizes: tuple[int, ...] = ST_BATCH_SIZES,
    batch_tokens: tuple[int | None, ...] = (None,),
    repeats: int = REPEATS,
) -> dict[str, Any]:
    """Seconds and documents per second of each variant (medians of `repeats` interleaved rounds),
    and the ratios the targets are stated in."""
    with tempfile.TemporaryDirectory(prefix="semsearch-pipeline-") as scratch:
        folder = seed_model_folder(Path(scratch) / "seed")
        corpus = Path(scratch) / "wordnet.jsonl"
        texts = wordnet_subset(corpus, documents)
        result: dict[str, Any] = {
            "documents": len(texts),
            "device": device,
            "note": common.SEED_NOTE,
        }
        for precision in precisions:
            result[precision] = _compare_precision(
                device, precision, folder, corpus, texts, st_batch_sizes, batch_tokens, repeats
            )
    return result


def _compare_precision(
    device: str,
    precision: str,
    folder: Path,
    corpus: Path,
    texts: list[str],
    st_batch_sizes: tuple[int, ...],
    batch_tokens: tuple[int | None, ...],
    repeats: int,
) -> dict[str, Any]:
    store = corpus.parent / "store"
    settings = Settings(model=str(folder), device=device, precision=precision)
    ours = {
        size: Embedder.load(str(folder), device=device, precision=precision, batch_tokens=size)
        for size in batch_tokens
    }
    st = sentence_transformer(folder, device, precision)

    def end_to_end() -> None:
        shutil.rmtree(store, ignore_errors=True)
        with Collection(store, settings, quiet=True) as collection:
            summary = collection.add([str(corpus)], SourceOptions(id_field="_id"))
        if summary.added != len(texts):
            raise RuntimeError(f"bench: {summary.added} of {len(texts)} documents indexed")

    variants = {"end to end": end_to_end}
    for size, embedder in ours.items():
        name = "pure embedding" + (f" (batch tokens {size or 'default'})" if len(ours) > 1 else "")
        variants[name] = lambda chosen=embedder: chosen.embed(texts)
    for size in st_batch_sizes:
        variants[f"sentence-transformers (batch {size})"] = lambda size=size: st.encode(
            texts, batch_size=size, normalize_embeddings=True
        )
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            _synchronize(device)
            started = time.perf_counter()
            run()
            _synchronize(device)
            seconds[name].append(time.perf_counter() - started)
    rows = {
        name: {"seconds": round(median(t), 2), "docs_per_s": round(len(texts) / median(t))}
        for name, t in seconds.items()
    }
    pure = min((n for n in seconds if n.startswith("pure")), key=lambda n: median(seconds[n]))
    best_st = min(
        (n for n in seconds if n.startswith("sentence")), key=lambda n: median(seconds[n])
    )

    def ratio(faster: str, slower: str) -> float:
        """Median over rounds of slower's seconds / faster's: how many times faster."""
        pairs = zip(seconds[faster], seconds[slower], strict=True)
        return round(median([b / a for a, b in pairs]), 3)

    return {
        "rows": rows,
        "end_to_end_vs_pure": ratio("end to end", pure),
        "end_to_end_vs_sentence_transformers": ratio("end to end", best_st),
        "pure_vs_best_sentence_transformers": ratio(pure, best_st),
        "best_pure": pure,
        "best_sentence_transformers": best_st,
    }


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
