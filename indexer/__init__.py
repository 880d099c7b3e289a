"""Reading documents, embedding them with a BERT encoder, and writing them to a store.

    from indexer import Collection, Settings, SemsearchError

The names below are imported on first use, so that reading the settings does not load the model's
libraries or FAISS.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from indexer.collection import Collection
    from indexer.distillation.job import distill
    from indexer.distillation.training import TrainingPlan
    from indexer.settings import Settings, SparkOptions
    from indexer.sources.options import SourceOptions
    from indexer.workbench import Workbench
    from store.errors import SemsearchError

_EXPORTS = {
    "Collection": "indexer.collection",
    "Workbench": "indexer.workbench",
    "Settings": "indexer.settings",
    "SparkOptions": "indexer.settings",
    "SourceOptions": "indexer.sources.options",
    "SemsearchError": "store.errors",
    "distill": "indexer.distillation.job",
    "TrainingPlan": "indexer.distillation.training",
}
__all__ = [
    "Collection",
    "SemsearchError",
    "Settings",
    "SourceOptions",
    "SparkOptions",
    "TrainingPlan",
    "Workbench",
    "distill",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'indexer' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
