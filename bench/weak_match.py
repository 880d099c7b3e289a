"""Section 12: the UI's weak-match warning, with the shipped model (all-MiniLM-L6-v2): how often
it fires on real questions that have an answer (false alarms: the demo's questions on the
standard-library store, Cranfield's queries on Cranfield) and on nonsense (caught), at the
threshold the UI uses and at others.

    python -m bench.weak_match [STORES_FOLDER]   (the stores are kept there; a temporary folder
                                                  when absent)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import cranfield, require
from indexer import demo_corpus
from indexer.collection import Collection
from indexer.settings import FALLBACK_MODEL, WEAK_MATCH, Settings
from indexer.sources.options import SourceOptions

THRESHOLDS = (0.25, 0.5, 0.75, 0.8, 0.85, 0.9, 0.95)
# What a newcomer asks the standard-library store; each has an answer in it.
DEMO_QUESTIONS = [
    "how do I parse command line arguments",
    "match a regular expression",
    "sorted",
    "sort a list",
    "read a file line by line",
    "current date and time",
    "join two paths",
    "copy a file",
    "run a shell command",
    "serialize an object to json",
    "make an HTTP request",
    "random number between two values",
    "read an environment variable",
    "create a temporary file",
    "compress data with gzip",
    "parse a csv file",
    "hash a string with sha256",
    "start a thread",
    "sleep for a few seconds",
    "deep copy an object",
    "format a string",
    "count items in a list",
    "decode base64",
    "measure execution time of code",
    "log messages to a file",
    "write a unit test",
    "read a configuration file",
    "url encode a string",
    "exit the program",
    "list the files in a directory",
]
# Queries no store here can answer: letters at random, and words that make no question together.
NONSENSE = [
    "xqzv plorth wunk",
    "asdf jkl qwer",
    "zzgrbl fnord",
    "blorp snazzle quib",
    "qwxyz vbnmk",
    "flimflam zorp glee",
    "hrrmpf tzktzk",
    "gloop wibble frang",
    "kjhg fdsa poiu",
    "mnbv cxz lkj",
    "ploosh vrank dree",
    "yupt zeggle morf",
    "wuzzle trinket snorf",
    "grawlix bzzt",
    "oompa zibber",
    "vlem quor snith",
    "trabble frink ozz",
    "nnng hhhk",
    "skree blatto wemp",
    "drozzle fipp",
    "quonk zabber lisp",
    "yibble yabble",
    "frzzt klonk",
    "plimsy vorn gat",
    "xyzzy plugh",
    "purple giraffe whispers tomorrow",
    "banana telescope umbrella song",
    "my grandmother's favourite pudding recipe",
    "who won the football match last night",
    "best beaches in portugal for surfing",
    "how to knit a woolly scarf",
    "elephants dancing on the moon",
    "chocolate cake with raspberry icing",
    "the violin sings of lost socks",
    "which horse will win the derby",
    "lyrics of a sad love song",
    "cheap flights to tokyo in may",
    "how many legs does a spider have",
    "planting tulips in autumn soil",
    "a cat wearing a tiny hat",
    "recipe for vegetable lasagne",
    "yoga poses for a stiff back",
    "ancient egyptian pyramid builders",
    "what colour is a flamingo",
    "learn to play the bagpipes",
    "the wedding dress was ivory silk",
    "penguins sliding down icy hills",
    "my dog ate the birthday candles",
    "opera tickets for saturday evening",
    "grow tomatoes on a balcony",
]


def rates(collection: Collection, queries: list[str]) -> dict[str, float]:
    """The share of `queries` warned about, at each threshold."""
    shares = []
    for query in queries:
        hits = collection.search(query, k=10, mode="hybrid")
        dense = [hit.parts["dense"]["score"] for hit in hits if "dense" in hit.parts]
        shares.append(collection.match_strength(max(dense)) if dense else None)
    said = [share for share in shares if share is not None]
    return {
        f"{threshold:g}": round(sum(share < threshold for share in said) / max(len(said), 1), 3)
        for threshold in THRESHOLDS
    }


def demo_store(folder: Path) -> Collection:
    """The standard-library store with the shipped model, built in `folder` unless it is there."""
    demo = Collection(folder / "demo", Settings(model=FALLBACK_MODEL, device="cpu"), quiet=True)
    if not demo.exists:
        corpus = folder / "stdlib.jsonl"
        demo_corpus.main([str(corpus)])
        demo.add([str(corpus)])
    return demo


def stores(folder: Path) -> tuple[Collection, Collection]:
    """The standard-library store and the Cranfield store with the shipped model, built in
    `folder` unless they are there."""
    demo = demo_store(folder)
    chosen = Settings(model=FALLBACK_MODEL, device="cpu")
    beir = Collection(folder / "cranfield", chosen, quiet=True)
    if not beir.exists:
        beir.add([str(require("cranfield") / "corpus.jsonl")], SourceOptions(id_field="_id"))
    return demo, beir


def run(folder: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="semsearch-weak-") as scratch:
        demo, beir = stores(folder or Path(scratch))
        with demo, beir:
            questions = list(cranfield()[1].values())
            measured = {
                "demo questions (false alarms)": rates(demo, DEMO_QUESTIONS),
                "Cranfield queries (false alarms)": rates(beir, questions),
                "nonsense on the demo store (caught)": rates(demo, NONSENSE),
                "nonsense on Cranfield (caught)": rates(beir, NONSENSE),
            }
    return {
        "threshold": WEAK_MATCH,
        "counts": {
            "demo questions": len(DEMO_QUESTIONS),
            "Cranfield queries": len(questions),
            "nonsense": len(NONSENSE),
        },
        "rates": measured,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(Path(sys.argv[1]) if len(sys.argv) > 1 else None), indent=2))
