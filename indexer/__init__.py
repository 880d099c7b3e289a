"""Reading documents, embedding them with a BERT encoder, and writing them to a store.

    from indexer import Collection, Settings, SemsearchError

Also here: the types the facade returns (`Hit`, `Document`, `Stats`, `VerifyReport`...) and every
error type, each a `SemsearchError`. The names below are imported on first use, so that reading
the settings does not load the model's libraries or FAISS.
"""

# ruff: noqa: F401 - the facade's names imported for type checkers only
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers; at run time `__getattr__` imports each name on first use
    from indexer.collection import Collection
    from indexer.distillation.job import distill
    from indexer.distillation.training import TrainingPlan
    from indexer.settings import Settings, SparkOptions
    from indexer.sources.options import SourceOptions
    from indexer.workbench import Workbench
    from store.errors import SemsearchError

FACADE = {
    "indexer.collection": ["Collection"],
    "indexer.workbench": ["Workbench"],
    "indexer.settings": ["Settings", "SparkOptions"],
    "indexer.sources.options": ["SourceOptions"],
    "indexer.distillation.job": ["distill"],
    "indexer.distillation.training": ["TrainingPlan"],
}
RESULTS = {  # what the facade's methods return
    "store.results": [
        "Chunk",
        "ChunkSpan",
        "Corpus",
        "Document",
        "Hit",
        "HitView",
        "MetadataField",
        "Rebuilt",
        "Recall",
        "SampledDocument",
        "Stats",
        "VerifyReport",
    ],
    "store.recipe": ["Recipe"],
    "indexer.summary": ["Summary"],
    "indexer.concordance.report": ["Concordance"],
    "indexer.embedding.comparison": ["Comparison"],
    "indexer.embedding.views": ["Explanation", "TokenView"],
}
ERRORS = {  # SemsearchError and every subclass: what `except` can name
    "store.errors": [
        "SemsearchError",
        "StoreError",
        "RecipeMismatchError",
        "StoreLockedError",
        "DamagedStoreError",
        "MissingStoreError",
    ],
    "store.faiss_index": ["IndexFileError"],
    "store.full_text": ["EngineFolderError"],
    "store.filters": ["FilterError"],
    "indexer.settings": ["SettingsError"],
    "indexer.collection": ["SearchError"],
    "indexer.sources.options": ["SourceError"],
    "indexer.export": ["ExportError"],
    "indexer.concordance.occurrences": ["ConcordanceError"],
    "indexer.embedding.model": ["ModelLoadError"],
    "indexer.embedding.embedder": ["ModelMismatchError", "TextTooLongError"],
    "indexer.embedding.runtime": ["RuntimeUnavailableError"],
    "indexer.embedding.onnx_runtime": ["GraphLoadError"],
    "indexer.embedding.onnx_export": ["GraphExportError"],
    "indexer.spark.run_folder": ["RunFolderError"],
    "indexer.spark.job": ["SparkJobError"],
    "indexer.serving.http_server": ["CannotListen"],
    "indexer.serving.live_collection": ["NotReady"],
    "indexer.distillation.corpus": ["DistillationError"],
}
_EXPORTS = {
    name: module
    for table in (FACADE, RESULTS, ERRORS)
    for module, names in table.items()
    for name in names
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'indexer' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
