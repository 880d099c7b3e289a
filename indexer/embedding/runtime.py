"""The engine under the embedder: what turns padded token ids into last hidden states. ONNX
Runtime on a CPU by default, torch on CUDA and for bf16 (settings.resolve_runtime). When the ONNX
graph cannot be exported or loaded, `auto` in fp32 falls back to torch with one warning line; an
explicit `onnxruntime`, and int8 (which only ONNX Runtime runs), fail instead."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol

import numpy as np

from indexer.settings import SettingsError, resolve_runtime
from store.errors import SemsearchError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel


class Runtime(Protocol):
    """Runs the encoder: `name` is what a store's recipe records."""

    name: str
    precision: str

    def hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray | torch.Tensor:
        """(batch, seq, dim) float32 last hidden states of int64 (batch, seq) ids and mask: a
        host array (ONNX Runtime) or a tensor on the model's device (torch)."""
        ...


def on_host(hidden: np.ndarray | torch.Tensor) -> np.ndarray:
    """A runtime's hidden states as a float32 host array."""
    if isinstance(hidden, np.ndarray):
        return hidden
    return hidden.float().cpu().numpy()


class RuntimeUnavailableError(SemsearchError):
    """The runtime a precision needs cannot run here."""


def start_runtime(
    model: PreTrainedModel,
    fingerprint: str,
    device: torch.device,
    precision: str,
    runtime: str,
    threads: int | None = None,
    quiet: bool = False,
) -> Runtime:
    """The runtime `runtime` means for this device and precision, ready to run `model`."""
    from indexer.embedding import onnx_runtime
    from indexer.embedding.onnx_export import GraphExportError
    from indexer.embedding.torch_runtime import TorchRuntime

    chosen = resolve_runtime(runtime, device.type, precision)
    if chosen == "torch":
        return TorchRuntime(model, device, precision)

    def warn(message: str) -> None:
        if not quiet:
            print(f"semsearch: WARNING: {message}", file=sys.stderr)

    try:
        return onnx_runtime.start(model, fingerprint, precision, threads, warn)
    except (ImportError, GraphExportError, onnx_runtime.GraphLoadError) as error:
        if precision == "int8":
            raise RuntimeUnavailableError(
                f"precision int8 needs onnxruntime, which cannot run this model: {error}"
            ) from error
        if runtime == "onnxruntime":
            raise SettingsError(f"runtime onnxruntime cannot run this model: {error}") from error
        warn(f"ONNX Runtime unavailable ({error}); running the model with torch instead")
        return TorchRuntime(model, device, precision)
