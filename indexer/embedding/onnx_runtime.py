"""The encoder on ONNX Runtime's CPU provider: a graph exported once from the loaded weights and
cached by their fingerprint (see onnx_cache), run with the session options measured fastest on a
small shared CPU (make bench): sequential execution, one inter-op thread, `threads` intra-op
threads, and no spinning of idle threads between runs (they would steal the core the tokenizer,
SQLite and FAISS use in the same process)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.embedding.onnx_cache import (
    INPUTS,
    OUTPUT,
    SUBFOLDER,
    CacheUnwritable,
    GraphCache,
    GraphKey,
)
from indexer.settings import cache_folder
from store.errors import SemsearchError

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class GraphLoadError(SemsearchError):
    """ONNX Runtime could not load a graph, or it holds other weights than expected."""


def _load_errors() -> tuple[type[Exception], ...]:
    """What InferenceSession raises for a file it cannot use (its own classes, not OSError)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return (
        state.Fail,
        state.InvalidArgument,
        state.InvalidGraph,
        state.InvalidProtobuf,
        state.NoSuchFile,
        state.NotImplemented,
        state.RuntimeException,
    )


class OnnxRuntime:
    """Last hidden states from an ONNX Runtime session on the CPU."""

    name = "onnxruntime"

    def __init__(self, session, precision: str) -> None:
        self._session = session
        self.precision = precision

    @classmethod
    def open(cls, path: Path, key: GraphKey, threads: int) -> OnnxRuntime:
        """A session on the graph at `path`; GraphLoadError when it cannot be loaded or its
        metadata names other weights than `key`'s."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except _load_errors() as error:
            raise GraphLoadError(f"{path}: {str(error).strip().splitlines()[0]}") from error
        found = session.get_modelmeta().custom_metadata_map
        if any(found.get(name) != value for name, value in key.metadata().items()):
            raise GraphLoadError(f"{path}: its metadata names other weights or another export")
        return cls(session, key.precision)

    def hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(batch, seq, dim) float32 last hidden states of int64 ids and attention mask."""
        feed = {INPUTS[0]: ids, INPUTS[1]: mask, INPUTS[2]: np.zeros_like(ids)}
        return self._session.run([OUTPUT], feed)[0]


def open_cached(fingerprint: str, precision: str, threads: int | None) -> OnnxRuntime | None:
    """A session on the cached graph of these weights; None when no sound one is cached (`start`
    then exports it, saying what was wrong)."""
    try:
        key = GraphKey(fingerprint, precision)
        path, _ = GraphCache(cache_folder() / SUBFOLDER).find(key)
        if path is None:
            return None
        return OnnxRuntime.open(path, key, threads or os.cpu_count() or 1)
    except (ImportError, GraphLoadError):  # `start` says why, or falls back to torch
        return None


def start(
    model: PreTrainedModel,
    fingerprint: str,
    precision: str,
    threads: int | None,
    warn: Callable[[str], None],
) -> OnnxRuntime:
    """The cached graph of these weights, exported first when missing or damaged (`warn` says
    so once); with a cache folder that cannot be written, a graph for this process only.
    GraphExportError or GraphLoadError when no graph can be made and loaded."""
    from indexer.embedding.onnx_export import export_graph

    key = GraphKey(fingerprint, precision)
    threads = threads or os.cpu_count() or 1
    cache = GraphCache(cache_folder() / SUBFOLDER)
    path, problem = cache.find(key)
    if path is not None:
        try:
            return OnnxRuntime.open(path, key, threads)
        except GraphLoadError as error:
            problem = str(error)
    if problem is not None:
        warn(f"the cached ONNX graph {cache.path(key)} is damaged ({problem}); exporting it again")
    metadata = key.metadata()
    try:
        path = cache.write(key, lambda target: export_graph(model, precision, metadata, target))
    except CacheUnwritable as error:
        warn(f"cannot write the ONNX cache ({error}); exporting for this process only")
        with tempfile.TemporaryDirectory(prefix="semsearch-onnx-") as scratch:
            path = Path(scratch) / cache.path(key).name
            export_graph(model, precision, metadata, path)
            return OnnxRuntime.open(path, key, threads)
    return OnnxRuntime.open(path, key, threads)
