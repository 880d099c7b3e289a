"""A model folder a user names while semsearch runs (the UI's second model): untrusted input,
checked before anything loads it. A folder that is missing, is not a BERT-family encoder, holds
its weights only in pickle files, or has a distillation manifest that cannot be read is a
one-line ModelLoadError; loading itself then reads only safetensors and never remote code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.distillation.manifest import FORMAT, MANIFEST, recipe_facts
from indexer.embedding.model import ENCODERS, ModelLoadError

SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")  # whole, or sharded


@dataclass(frozen=True)
class ModelFolder:
    """A checked model folder and what its distillation manifest says (None: not distilled)."""

    path: Path
    distilled: dict[str, Any] | None


def check_model_folder(name: str | Path) -> ModelFolder:
    """The folder `name` when it holds a BERT-family encoder in safetensors; ModelLoadError,
    one line naming the folder and the reason, otherwise."""
    path = Path(name).expanduser()
    try:
        folder, exists = path.is_dir(), path.exists()
    except OSError as error:  # a name too long, say
        raise ModelLoadError(f"{path}: cannot be opened ({error.strerror})") from None
    if not folder:
        raise ModelLoadError(f"{path}: {'is not a folder' if exists else 'no such folder'}")
    path = path.resolve()
    kind = _model_type(path)
    if kind not in ENCODERS:
        raise ModelLoadError(
            f"{path}: a {kind} model, not a BERT-family encoder ({', '.join(ENCODERS)})"
        )
    if not any((path / weights).is_file() for weights in SAFETENSORS):
        raise ModelLoadError(
            f"{path}: no model.safetensors (weights in pickle files such as pytorch_model.bin "
            "are never loaded)"
        )
    return ModelFolder(path, _distilled(path))


def _model_type(path: Path) -> str:
    """The `model_type` of a folder's config.json ("decoder" for a decoder)."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: no config.json, so not a model folder") from None
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path}/config.json cannot be read ({error})") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}/config.json is not a model configuration")
    return "decoder" if config.get("is_decoder") else str(config.get("model_type", "untyped"))


def _distilled(path: Path) -> dict[str, Any] | None:
    """The facts a store's recipe records of a model `semsearch distill` wrote (its teacher,
    start, steps, agreement); None when the folder has no manifest."""
    file = path / MANIFEST
    if not file.exists():
        return None
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{file} cannot be read ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelLoadError(f"{file} is not a manifest of `semsearch distill` ({FORMAT})")
    try:
        return recipe_facts(manifest)
    except (KeyError, TypeError) as error:
        raise ModelLoadError(f"{file} is incomplete (no {error})") from None
