"""Section 8: one very long document. Window preparation (tokenize, cut, model inputs) in seconds
per MB at 1 and 10 MB, and its peak memory; indexing the 1 MB one end to end."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import require
from indexer.collection import Collection
from indexer.embedding.embedder import Embedder
from indexer.settings import FALLBACK_MODEL, Settings

SIZES_MB = (1, 10)


def long_text(megabytes: int) -> str:
    """Real English (WordNet glosses), one paragraph per line, `megabytes` long."""
    lines, size = [], 0
    with open(require("wordnet") / "corpus.jsonl") as handle:
        while size < megabytes * 1_000_000:
            for line in handle:
                gloss = json.loads(line)["text"]
                lines.append(gloss)
                size += len(gloss) + 1
                if size >= megabytes * 1_000_000:
                    break
            handle.seek(0)
    return "\n".join(lines)


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))


def run(embedder: Embedder) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for megabytes in SIZES_MB:
        text = long_text(megabytes)
        Path("/proc/self/clear_refs").write_text("5")  # start a new VmHWM
        before = rss_mb()[0]
        started = time.perf_counter()
        prepared = embedder.prepare([text])
        seconds = time.perf_counter() - started
        result[f"{megabytes} MB"] = {
            "prepare_seconds_per_mb": round(seconds / megabytes, 3),
            "windows": len(prepared.windows[0]),
            "prepare_peak_mb_above_start": round(rss_mb()[1] - before, 1),
        }
        del prepared
    with tempfile.TemporaryDirectory(prefix="semsearch-long-") as folder:
        (Path(folder) / "book.txt").write_text(long_text(1))
        settings = Settings(model=FALLBACK_MODEL, device="cpu")
        started = time.perf_counter()
        with Collection(Path(folder) / "store", settings, quiet=True) as collection:
            summary = collection.add([str(Path(folder) / "book.txt")])
        result["1 MB"]["index_seconds_per_mb"] = round(time.perf_counter() - started, 1)
        result["1 MB"]["chunks"] = summary.chunks
    return result
