"""The distilled model folder: the student's weights (safetensors) and tokenizer, the projection
of the teacher's vectors when there was one, and the manifest; written under a temporary name and
renamed, so that a folder is either whole or absent and an existing one is never touched."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.distillation.corpus import DistillationError
from indexer.distillation.manifest import MANIFEST
from indexer.distillation.projection import Projection

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

PROJECTION = "projection.npy"  # (student dim, teacher dim) float32


def refuse_existing(out: Path) -> None:
    """DistillationError when `out` exists: a distilled model never replaces anything."""
    if out.exists() or out.is_symlink():
        raise DistillationError(
            f"{out} already exists: give another --out (nothing was written to it)"
        )


def write(
    out: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    manifest: dict[str, Any],
    projection: Projection | None,
) -> None:
    """Write the model folder `out` whole (DistillationError when it appeared meanwhile or the
    disk refuses; nothing is left half-written)."""
    refuse_existing(out)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.writing-", dir=out.parent))
    try:
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        if projection is not None:
            np.save(partial / PROJECTION, projection.components, allow_pickle=False)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        os.rename(partial, out)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        if out.exists():
            raise DistillationError(
                f"{out} appeared while the model was written; it is untouched"
            ) from None
        raise DistillationError(f"{out}: cannot write the model folder ({error})") from None
