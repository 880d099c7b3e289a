"""How the concordance's sense rule (settings SENSE_*) does on WordNet glosses: a store of every
gloss holding the words, each word's concordance with the shipped model, the splits tried and
the groups found, for the words the threshold was tuned on and for held-out ones.

    python -m bench.senses [--limit N] [--store FOLDER]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

from bench.common import require
from indexer.collection import Collection
from indexer.settings import CONCORDANCE_LIMIT, FALLBACK_MODEL, Settings

TUNING = {  # word: the senses WordNet's glosses use it in often
    "bank": 2,
    "bass": 2,
    "crane": 2,
    "spring": 2,
    "cell": 2,
    "seal": 2,
    "pitch": 2,
    "scale": 2,
    "club": 2,
    "oxygen": 1,
    "violin": 1,
    "wheat": 1,
    "protein": 1,
    "nitrogen": 1,
}
HELD_OUT = {"plant": 2, "palm": 2, "carbon": 1, "river": 1, "piano": 1}


def build(folder: Path, words: list[str]) -> None:
    """A store of every WordNet gloss (title and text) that holds one of `words`."""
    wanted = re.compile(r"(?<!\w)(" + "|".join(words) + r")(?!\w)", re.I)
    records = []
    with (require("wordnet") / "corpus.jsonl").open() as lines:
        for line in lines:
            gloss = json.loads(line)
            if wanted.search(f"{gloss['title']} {gloss['text']}"):
                records.append({"id": gloss["_id"], "title": gloss["title"], "text": gloss["text"]})
    with Collection(folder, Settings(model=FALLBACK_MODEL), quiet=True) as collection:
        collection.add_records(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=CONCORDANCE_LIMIT)
    parser.add_argument("--store", type=Path, help="reuse (or build) the store in this folder")
    args = parser.parse_args()
    words = {**TUNING, **HELD_OUT}
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.store or Path(scratch) / "store"
        if not (folder / "store.db").exists():
            build(folder, list(words))
        print("| word | set | senses | occurrences | groups (sizes) | k: silhouette / closest |")
        print("|---|---|---|---|---|---|")
        with Collection(folder, quiet=True) as collection:
            for word, senses in words.items():
                result = collection.concordance(word, limit=args.limit)
                sizes = ", ".join(str(group.size) for group in result.groups)
                trials = "; ".join(
                    f"{t.k}: {t.silhouette:.3f} / {t.closest_centroids:.3f}"
                    + (" ✓" if t.accepted else "")
                    for t in result.senses.trials
                )
                part = "tuning" if word in TUNING else "held out"
                print(
                    f"| {word} | {part} | {senses} | {len(result.occurrences)} | "
                    f"{len(result.groups)} ({sizes}) | {trials} |"
                )


if __name__ == "__main__":
    main()
