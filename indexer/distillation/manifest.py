"""The manifest of a distilled model folder: its name, its format, and the facts a store's recipe
carries (imports nothing heavy: the embedder reads it for every recipe)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
FORMAT = "semsearch-distilled/1"


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The distillation manifest of a model folder; None when the folder has none (a model that
    was not distilled by semsearch) or it is not one of ours."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    return manifest


def recipe_facts(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a store's recipe records of a distilled model: its teacher, where the student
    started, the training steps and the held-out agreement reached."""
    return {
        "teacher": manifest["teacher"]["model"],
        "teacher_fingerprint": manifest["teacher"]["fingerprint"],
        "student_start": manifest["student_start"]["model"],
        "steps": manifest["training"]["steps"],
        "held_out_agreement": manifest["agreement"]["after"],
    }
