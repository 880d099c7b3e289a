"""Section 16: the concordance of a new word on the demo store (the standard library's
documentation, the shipped model): the first word a session asks (the model loads with it),
then words not asked before in the same session, each once.

    python -m bench.concordance [STORES_FOLDER]   (the demo store is kept there; a temporary
                                                   folder when absent)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import median
from bench.weak_match import demo_store

FIRST = "value"
WORDS = ("set", "key", "file", "class", "return", "path", "thread")
TARGET_S = 5.0


def run(folder: Path | None = None) -> dict[str, Any]:
    """Seconds of each word's concordance, asked in turn of one Collection."""
    with (
        tempfile.TemporaryDirectory(prefix="semsearch-concordance-") as scratch,
        demo_store(folder or Path(scratch)) as demo,
    ):
        started = time.perf_counter()
        demo.concordance(FIRST)
        first = time.perf_counter() - started
        seconds, occurrences = {}, {}
        for word in WORDS:
            started = time.perf_counter()
            found = demo.concordance(word)
            seconds[word] = round(time.perf_counter() - started, 2)
            occurrences[word] = len(found.occurrences)
    return {
        "first_word_s": round(first, 2),
        "new_words_s": seconds,
        "occurrences": occurrences,
        "median_s": round(median(list(seconds.values())), 2),
        "target_s": TARGET_S,
    }


def markdown(section: dict[str, Any]) -> str:
    """The section's lines for latest.md."""
    words = ", ".join(f"{w} {s} s" for w, s in section["new_words_s"].items())
    return (
        "### 16. Concordance of a new word (demo store, all-MiniLM-L6-v2)\n\n"
        f"Median {section['median_s']} s over words not asked before ({words}; target "
        f"{section['target_s']:g} s); the session's first word, with the model's load: "
        f"{section['first_word_s']} s."
    )


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]) if len(sys.argv) > 1 else None), indent=2))
