"""The GPU section: on a CUDA machine, the default model's architecture (random weights) on all of
WordNet: ours (end to end and pure embedding, several batch sizes) against sentence-transformers
(batch 32 and 256), fp32 and bf16. Runs with the project's own dependencies only; skipped without
CUDA, saying so."""

from __future__ import annotations

from typing import Any

import torch

from bench import pipeline

BATCH_TOKENS = (16_384, 32_768, 65_536)
ST_BATCH_SIZES = (32, 256)


def run() -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device on this machine"}
    result = pipeline.compare(
        "cuda",
        None,
        ("fp32", "bf16"),
        st_batch_sizes=ST_BATCH_SIZES,
        batch_tokens=BATCH_TOKENS,
    )
    result["gpu"] = torch.cuda.get_device_name()
    return result
