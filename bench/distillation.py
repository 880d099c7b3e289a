"""Section 14: distillation. The seed architecture (L-6 H-256 A-4) taught by the shipped MiniLM on
the Cranfield corpus plus WordNet glosses (no queries, no judgments), from random weights and from
the teacher's weights reduced in width; Cranfield nDCG@10 (dense, hybrid) before and after, beside
the teacher and BM25. Each result is written to the results file as soon as it is known.

    python -m bench.distillation --minutes 15 --out bench/results/distillation.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import indexed_text, read_corpus, require, seed_model_folder
from indexer.collection import Collection
from indexer.distillation.job import distill
from indexer.distillation.training import TrainingPlan
from indexer.evaluation import evaluate
from indexer.settings import FALLBACK_MODEL, Settings

MINUTES = 30.0  # training time per student
TEXTS = 20_000  # training texts (windows of at most 64 wordpieces and spans cut from them)
WORDNET_GLOSSES = 7_000  # beside the whole Cranfield corpus: about TEXTS texts in all
PLAN = {"batch": 16, "warmup": 50, "seed": 0, "report_seconds": 240, "checkpoint_seconds": 300}
INITS = {"random": "student", "teacher-reduced": "teacher"}
RATES = {"random": 5e-4, "teacher-reduced": 2e-4}  # random weights move further


def corpus_file(path: Path) -> Path:
    """The Cranfield documents and the first WORDNET_GLOSSES WordNet glosses as one JSONL."""
    with open(path, "w", encoding="utf-8") as out:
        for record in read_corpus(require("cranfield") / "corpus.jsonl"):
            out.write(json.dumps({"id": f"cran-{record['_id']}", "text": indexed_text(record)}))
            out.write("\n")
        for record in read_corpus(require("wordnet") / "corpus.jsonl", WORDNET_GLOSSES):
            out.write(json.dumps({"id": f"wn-{record['_id']}", "text": indexed_text(record)}))
            out.write("\n")
    return path


def cranfield_ndcg(model: str, folder: Path) -> dict[str, float]:
    """nDCG@10 on the 225 Cranfield questions in every mode, for one model."""
    settings = Settings(model=model, device="cpu")
    with Collection(folder, settings, quiet=True) as collection:
        result = evaluate(collection, require("cranfield"))
    return {mode: result[mode]["ndcg@10"] for mode in ("dense", "lexical", "hybrid")}


def run(minutes: float, results: Path | None = None, texts: int = TEXTS) -> dict[str, Any]:
    """Teacher, BM25, and each student before and after `minutes` of training (CPU)."""
    report: dict[str, Any] = {
        "minutes_per_student": minutes,
        "texts": texts,
        "plan": {**PLAN, "learning_rates": RATES},
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "students": {},
    }

    def save() -> None:
        if results is not None:
            results.write_text(json.dumps(report, indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="semsearch-distill-") as scratch:
        root = Path(scratch)
        inputs = [str(corpus_file(root / "corpus.jsonl"))]
        seed = seed_model_folder(root / "seed")

        def distil(name: str, init: str, stage: str, **budget: Any) -> dict[str, Any]:
            """Distil the student `name` from `init` into the folder for `stage`."""
            return distill(
                inputs,
                root / f"{name}-{stage}",
                TrainingPlan(**budget, learning_rate=RATES[name], **PLAN),
                teacher_model=FALLBACK_MODEL,
                student_model=str(seed),
                init=init,
                max_texts=texts,
                device="cpu",
                progress=True,
            )

        for name, init in INITS.items():
            started = time.perf_counter()
            before = distil(name, init, "before", steps=0)
            report["students"][name] = {
                "agreement_before": before["agreement"]["before"],
                "corpus": before["corpus"],
                "setup_seconds": round(time.perf_counter() - started, 1),
            }
            save()
        for name, init in INITS.items():
            entry = report["students"][name]
            entry["before"] = cranfield_ndcg(str(root / f"{name}-before"), root / f"{name}-b")
            save()
            after = distil(name, init, "after", seconds=minutes * 60)
            entry["training"] = after["training"]
            entry["agreement_after"] = after["agreement"]["after"]
            entry["agreement_history"] = after["agreement"]["history"]
            save()
            entry["after"] = cranfield_ndcg(str(root / f"{name}-after"), root / f"{name}-a")
            save()
        report["teacher"] = cranfield_ndcg(FALLBACK_MODEL, root / "teacher")
        report["bm25"] = report["teacher"]["lexical"]
        report["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        save()
    return report


def markdown(section: dict[str, Any]) -> str:
    """The section's table for latest.md: Cranfield nDCG@10 of each model."""
    rows = [
        "| model | dense nDCG@10 | hybrid nDCG@10 | held-out agreement | steps |",
        "|---|---|---|---|---|",
    ]
    if "teacher" in section:
        teacher = section["teacher"]
        rows.append(
            f"| teacher (all-MiniLM-L6-v2) | {teacher['dense']} | {teacher['hybrid']} | | |"
        )
        rows.append(f"| BM25 | | {section['bm25']} (lexical) | | |")
    for name, entry in section["students"].items():
        for stage in ("before", "after"):
            if stage in entry:
                steps = entry.get("training", {}).get("steps", "") if stage == "after" else 0
                rows.append(
                    f"| seed architecture, {name} start, {stage} | {entry[stage]['dense']} | "
                    f"{entry[stage]['hybrid']} | {entry.get('agreement_' + stage, '')} | {steps} |"
                )
    return (
        f"### 15. Distillation (L-6 H-256 A-4 taught by all-MiniLM-L6-v2 on {section['texts']} "
        f"Cranfield + WordNet texts, {section['minutes_per_student']:g} CPU minutes per student)"
        "\n\n" + "\n".join(rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=MINUTES, help="training time per student")
    parser.add_argument("--texts", type=int, default=TEXTS)
    parser.add_argument("--out", type=Path, help="JSON results file, written as results come")
    args = parser.parse_args()
    print(json.dumps(run(args.minutes, args.out, args.texts), indent=2))


if __name__ == "__main__":
    main()
