"""`make bench`: every comparison interleaved in one process, medians and ratios, written to
bench/results/latest.json and latest.md (and with --docs, the results in docs/performance.md).

    python -m bench.run [--only embedding,seed,indexing,pipeline,capacity,latency,memory,quality,
                               gpu,long,spark,pdf,serve,runtimes,weak,fulltext,distill,
                               concordance]
                        [--quick] [--docs] [--stores DIR]
    python -m bench.run --render [--docs]    # the markdown again from latest.json, nothing run
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import (
    common,
    concordance,
    cpu_capacity,
    distillation,
    embedding,
    full_text,
    gpu,
    indexing,
    latency,
    long_documents,
    pdf_reading,
    pipeline,
    quality,
    runtimes,
    serving,
    spark,
    weak_match,
)
from bench.common import cranfield, machine
from indexer.embedding.embedder import Embedder
from indexer.settings import FALLBACK_MODEL

SECTIONS = (
    "embedding",
    "seed",
    "indexing",
    "pipeline",
    "capacity",
    "latency",
    "memory",
    "quality",
    "gpu",
    "long",
    "spark",
    "pdf",
    "serve",
    "runtimes",
    "weak",
    "fulltext",
    "distill",
    "concordance",
)
RESULTS = Path(__file__).resolve().parent / "results"
PERFORMANCE_PAGE = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
QUERIES = 200


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def targets(report: dict[str, Any]) -> list[list[Any]]:
    """Each target of the benchmark issue with the measured number and whether it is met."""
    rows = []

    def add(name: str, value: float | None, goal: str, met: bool | None) -> None:
        status = "n/a" if met is None else ("met" if met else "**missed**")
        rows.append([name, "-" if value is None else value, goal, status])

    emb = report.get("embedding", {}).get("wordnet")
    if emb:
        fp32 = emb["ours fp32"]["ratio_vs_sentence_transformers"]
        bf16 = emb["ours bf16"]["ratio_vs_sentence_transformers"]
        add("embedding fp32 vs sentence-transformers (WordNet)", fp32, ">= 1.2x", fp32 >= 1.2)
        add("embedding bf16 vs sentence-transformers (WordNet)", bf16, ">= 2x", bf16 >= 2)
        loss = report["embedding"]["cranfield"]["ndcg@10"]["bf16_loss"]
        add("bf16 Cranfield nDCG@10 loss", loss, "<= 0.005", loss <= 0.005)
    e2e = report.get("indexing")
    if e2e:
        add(
            "end-to-end fp32 vs txtai",
            e2e["ours fp32"]["ratio_vs_txtai"],
            ">= 1.7x",
            e2e["ours fp32"]["ratio_vs_txtai"] >= 1.7,
        )
        add(
            "end-to-end bf16 vs txtai",
            e2e["ours bf16"]["ratio_vs_txtai"],
            ">= 1.7x",
            e2e["ours bf16"]["ratio_vs_txtai"] >= 1.7,
        )
        ratio = e2e["ours fp32"]["ratio_vs_pure_embedding"]
        add("end-to-end vs pure embedding (fp32)", ratio, ">= 0.9x", ratio >= 0.9)
    flow = report.get("pipeline", {}).get("fp32")
    if flow:
        value = flow["end_to_end_vs_pure"]
        add("CPU end-to-end vs pure embedding (seed, fp32)", value, ">= 0.95x", value >= 0.95)
        value = flow["end_to_end_vs_sentence_transformers"]
        add("CPU end-to-end vs sentence-transformers encode", value, ">= 1.15x", value >= 1.15)
    memory = report.get("memory", {})
    for precision in ("fp32", "bf16"):
        if precision in memory:
            value = memory[precision]["rss_ratio"]
            add(f"peak RSS 117k / 10k ({precision})", value, "<= 1.10", value <= 1.10)
    graphics = report.get("gpu", {})
    if "skipped" in graphics:
        add("GPU targets", None, "need a CUDA machine", None)
    for precision in ("fp32", "bf16"):
        if precision in graphics:
            row = graphics[precision]
            value = row["end_to_end_vs_pure"]
            add(f"GPU end-to-end vs pure embedding ({precision})", value, ">= 0.6x", value >= 0.6)
            value = row["pure_vs_best_sentence_transformers"]
            add(f"GPU pure embedding vs best ST ({precision})", value, ">= 2.5x", value >= 2.5)
    pdf = report.get("pdf", {}).get("indexing")
    if pdf:
        value = pdf["reader_vs_model"]
        add("PDF folder: reader stage / model time (CPU)", value, "< 1", value < 1)
    cpu = report.get("runtimes", {})
    if cpu.get("seed", {}).get("end_to_end"):
        e2e = cpu["seed"]["end_to_end"]
        value = e2e["ORT fp32 (default)"]["index_vs_sentence_transformers"]
        add("CPU index (default, seed) vs ST encode", value, ">= 2.0x", value >= 2.0)
        value = e2e["ORT fp32 (default)"]["index_vs_pure"]
        add("CPU index (default, seed) vs our pure embedding", value, ">= 0.95x", value >= 0.95)
        value = e2e["ORT int8"]["index_vs_sentence_transformers"]
        add("CPU index (int8, seed) vs ST encode", value, ">= 3.5x", value >= 3.5)
        value = cpu["seed"]["embedding"]["ORT fp32 (default)"]["min_cosine_vs_torch_fp32"]
        add("default vectors vs torch fp32 (min cosine)", value, ">= 0.99999", value >= 0.99999)
        value = cpu["seed"]["latency"]["ORT fp32 (default)"]["p50_speedup_vs_torch"]
        add("query embedding p50 vs torch (seed)", value, ">= 2x", value >= 2)
    if cpu.get("minilm", {}).get("int8_quality"):
        loss = cpu["minilm"]["int8_quality"]["loss"]["cranfield_ndcg@10"]
        add("int8 Cranfield nDCG@10 loss (MiniLM)", loss, "report (<= 0.01)", loss <= 0.01)
    lat = report.get("latency")
    if lat:
        largest = max(latency.SIZES)
        best = min(
            (r["p50_ms"], spec)
            for spec, r in lat[str(largest)].items()
            if "p50_ms" in r and r["recall@10"] >= latency.TARGET_RECALL
        )
        add(
            f"p50 at {largest:,} with recall@10 >= 0.95 (best: {best[1]})",
            best[0],
            "<= 10 ms",
            best[0] <= latency.TARGET_P50_MS,
        )
    served = report.get("serve")
    if served:
        load = served["load"]
        for mode, gap in load["p50_gap_ms"].items():
            add(
                f"served p50 - in-process p50, {served['clients']} clients, {mode}",
                gap,
                f"<= {serving.TARGET_GAP_MS} ms",
                gap <= serving.TARGET_GAP_MS,
            )
        errors = sum(row["errors"] for row in load["rows"].values())
        add("searches not answered under load", errors, "0", errors == 0)
        big = served["large"]
        recall = big["served"]["recall@10"]
        add(
            f"served dense p50 at {big['vectors']:,} ({big['index']}, recall@10 {recall})",
            big["served"]["p50_ms"],
            "<= 10 ms, recall >= 0.95",
            big["served"]["p50_ms"] <= latency.TARGET_P50_MS and recall >= latency.TARGET_RECALL,
        )
    warning = report.get("weak")
    if warning:
        at = f"{warning['threshold']:g}"
        for name, rates in warning["rates"].items():
            caught = name.startswith("nonsense")
            value = rates[at]
            add(
                f"weak match on {name}",
                value,
                "> 0.8" if caught else "< 0.1",
                value > 0.8 if caught else value < 0.1,
            )
    return rows


def markdown(report: dict[str, Any]) -> str:
    machines = report.get("measured_on", {})
    parts = [
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"torch {report['machine']['torch']} ({report['machine']['torch_threads']} threads). "
        f"Command: `make bench` ({report['seconds']:.0f} s). Medians of interleaved runs. "
        "Measured: "
        + ", ".join(
            f"{k} {v}" + (f" on {machines[k]}" if k in machines else "")
            for k, v in report.get("measured_at", {}).items()
        )
        + "."
    ]
    parts.append("### Targets\n\n" + table(["target", "measured", "goal", ""], targets(report)))
    if "embedding" in report:
        rows = []
        for corpus in ("wordnet", "cranfield"):
            section = report["embedding"][corpus]
            for name in ("ours fp32", "sentence-transformers fp32", "ours bf16"):
                row = section[name]
                rows.append(
                    [
                        corpus,
                        name,
                        row["docs_per_s"],
                        row["tokens_per_s"],
                        row.get("ratio_vs_sentence_transformers", "-"),
                    ]
                )
        section = report["embedding"]
        parts.append(
            "### 1. Embedding throughput (all-MiniLM-L6-v2 weights, 2 CPU threads)\n\n"
            + table(["corpus", "embedder", "docs/s", "tokens/s", "x sentence-transformers"], rows)
            + f"\n\nVectors equal to sentence-transformers: min cosine "
            f"{section['wordnet']['equal_vectors']['min_cosine']} (WordNet, "
            f"{section['wordnet']['equal_vectors']['checked']} texts), "
            f"{section['cranfield']['equal_vectors']['min_cosine']} (Cranfield, "
            f"{section['cranfield']['equal_vectors']['checked']} texts within its 256-token "
            f"limit). Cranfield dense nDCG@10: fp32 {section['cranfield']['ndcg@10']['fp32']}, "
            f"bf16 {section['cranfield']['ndcg@10']['bf16']}."
        )
    if "seed" in report:
        seed = report["seed"]
        rows = [
            [
                p,
                seed[p]["docs_per_s"],
                seed[p]["tokens_per_s"],
                seed[p]["model_gflops"],
                seed[p]["matmul_gflops"],
                seed[p]["fraction_of_limit"],
            ]
            for p in ("fp32", "bf16")
        ]
        parts.append(
            "### 2. Seed architecture (L-6 H-256 A-4, random weights)\n\n"
            + table(
                ["precision", "docs/s", "tokens/s", "model GFLOP/s", "matmul GFLOP/s", "fraction"],
                rows,
            )
            + f"\n\n{seed['note']}; {seed['documents']} WordNet documents, "
            f"{seed['mean_positions']} positions each on average."
        )
    if "indexing" in report:
        e2e = report["indexing"]
        rows = [
            [
                name,
                e2e[name]["seconds_median"],
                e2e[name]["docs_per_s"],
                e2e[name].get("ratio_vs_txtai", "-"),
            ]
            for name in ("ours fp32", "txtai fp32", "ours bf16")
        ]
        parts.append(
            f"### 3. End-to-end indexing, {e2e['documents']:,} WordNet documents "
            "(files to a verified store)\n\n"
            + table(["indexer", "seconds", "docs/s", "x txtai"], rows)
            + f"\n\nOurs end-to-end / pure embedding (fp32): "
            f"{e2e['ours fp32']['ratio_vs_pure_embedding']}."
        )
    if "latency" in report:
        lat = report["latency"]
        rows = []
        for size in latency.SIZES:
            for spec, row in lat[str(size)].items():
                if "skipped" in row:
                    rows.append([f"{size:,}", spec, "-", "-", "-", "-", row["skipped"]])
                else:
                    rows.append(
                        [
                            f"{size:,}",
                            spec,
                            row["build_s"],
                            row["p50_ms"],
                            row["p99_ms"],
                            row["search_p50_ms"],
                            row["recall@10"],
                        ]
                    )
        store = lat["store_100k"]
        parts.append(
            f"### 4. Query latency, {lat['queries']} Cranfield queries, embedding included "
            f"(embedding alone: p50 {lat['embed_p50_ms']} ms)\n\n"
            + table(
                ["vectors", "index", "build s", "p50 ms", "p99 ms", "search p50 ms", "recall@10"],
                rows,
            )
            + "\n\nThrough `Store.search` at 100k chunks (FAISS + SQLite, embedding included), "
            "with the recall@10 the store reports (`semsearch stats`: 200 of its own chunks as "
            "queries) beside the recall@10 measured above with the Cranfield queries:\n\n"
            + table(
                ["index", "p50 ms", "p99 ms", "reported recall@10 (95% CI)", "measured recall@10"],
                [
                    [
                        spec,
                        r["p50_ms"],
                        r["p99_ms"],
                        f"{r['reported_recall@10']} ({r['reported_recall_ci'][0]}-"
                        f"{r['reported_recall_ci'][1]})"
                        if "reported_recall@10" in r
                        else "- (measured before stores reported it)",
                        lat[str(latency.SIZES[0])].get(spec, {}).get("recall@10", "-"),
                    ]
                    for spec, r in store.items()
                ],
            )
            + f"\n\n{lat['auto_advice']}."
        )
    if "pipeline" in report:
        parts.append(
            "### 3b. End-to-end vs pure embedding vs sentence-transformers, seed architecture\n\n"
            + pipeline_table(report["pipeline"])
        )
    if "capacity" in report:
        parts.append(capacity_text(report["capacity"]))
    if "memory" in report:
        rows = [
            [
                precision,
                run["documents"],
                run["peak_rss_mb"],
                run["index_faiss_mb"],
                run["store_bytes_per_document"],
                run["seconds"],
            ]
            for precision in ("fp32", "bf16")
            for run in report["memory"].get(precision, {}).get("runs", [])
        ]
        ratios = ", ".join(
            f"{p} {report['memory'][p]['rss_ratio']}"
            for p in ("fp32", "bf16")
            if p in report["memory"]
        )
        note = f"Peak RSS at 117k / at 10k: {ratios}."
        earlier = {int(k): v for k, v in report["memory"].items() if k.isdigit()}
        if not rows and earlier:  # a result from before precisions and store sizes were recorded
            rows = [
                ["fp32", n, v["peak_rss_mb"], v["index_faiss_mb"], "-", v["seconds"]]
                for n, v in sorted(earlier.items())
            ]
            note = (
                "An earlier format of this section (fp32 only, no store sizes): "
                "`python -m bench.run --only memory` measures it again (about an hour on 2 cores)."
            )
        parts.append(
            "### 5. Peak memory and store size of `semsearch index` (all-MiniLM-L6-v2, CPU)\n\n"
            + table(
                ["precision", "documents", "peak RSS MB", "index.faiss MB", "store bytes/doc", "s"],
                rows,
            )
            + f"\n\n{note}"
        )
    if "quality" in report:
        qual = report["quality"]
        reference = qual["reference"]["cranfield_ndcg@10"]
        rows = [
            [
                mode,
                qual["cranfield"][mode]["ndcg@10"],
                reference[mode],
                qual["cranfield"][mode]["recall@100"],
                qual["cranfield"][mode]["mrr@10"],
            ]
            for mode in ("dense", "lexical", "hybrid")
        ]
        parts.append(
            "### 6. Quality (all-MiniLM-L6-v2 weights)\n\n"
            + table(["Cranfield mode", "nDCG@10", "reference", "recall@100", "MRR@10"], rows)
            + f"\n\nSTS Benchmark test Spearman: {qual['sts_test_spearman']} "
            f"(reference {qual['reference']['sts_test_spearman']})."
        )
    if "distill" in report:
        parts.append(distillation.markdown(report["distill"]))
    if "concordance" in report:
        parts.append(concordance.markdown(report["concordance"]))
    if "gpu" in report:
        graphics = report["gpu"]
        body = (
            f"skipped: {graphics['skipped']}; "
            "run `python -m bench.run --only gpu` on a CUDA machine"
            if "skipped" in graphics
            else f"{graphics['gpu']}.\n\n" + pipeline_table(graphics)
        )
        parts.append("### 7. GPU: all of WordNet, seed architecture\n\n" + body)
    if "long" in report:
        rows = [
            [
                size,
                row["prepare_seconds_per_mb"],
                row["windows"],
                row["prepare_peak_mb_above_start"],
                row.get("index_seconds_per_mb", "-"),
            ]
            for size, row in report["long"].items()
        ]
        parts.append(
            "### 8. One long document (WordNet glosses as one text, all-MiniLM-L6-v2, CPU)\n\n"
            + table(
                ["size", "preparation s/MB", "windows", "preparation peak MB", "index s/MB"],
                rows,
            )
        )
    if "spark" in report:
        section = report["spark"]
        rows = [
            [
                name,
                row["seconds"],
                row["docs_per_s"],
                row["session_s"] or "-",
                row["model_share"] or "-",
                section["spark_vs_local"].get(name, "-"),
            ]
            for name, row in section["rows"].items()
        ]
        parts.append(
            f"### 9. Spark: {section['documents']:,} WordNet documents, fp32 CPU\n\n"
            f"{section['note']}. Job seconds include the ingest; Spark's start-up is timed apart: "
            f"{section['first_start_s']} s for the first session (the JVM starts), and the "
            "column below for a new session once the JVM is up.\n\n"
            + table(
                ["job", "seconds", "docs/s", "session s", "task time in model", "local / this"],
                rows,
            )
            + f"\n\nIngest (the single writer): {section['ingest_docs_per_s']:,} docs/s."
        )
    if "pdf" in report:
        parts.append(
            "### 10. Reading PDFs: pypdfium2 and pypdf, and a folder of PDFs\n\n"
            + pdf_text(report["pdf"])
        )
    if "serve" in report:
        parts.append(serving_markdown(report["serve"]))
    if "runtimes" in report:
        parts.append(
            "### 12. CPU runtimes: ONNX Runtime fp32 / int8, torch, sentence-transformers, "
            f"fastembed\n\n{report['runtimes']['note']} (seed).\n\n"
            + runtimes.summary(report["runtimes"])
        )
    if "fulltext" in report:
        parts.append(
            "### 14. The full-text engine (Tantivy) against SQLite FTS5, same store and queries, "
            "interleaved\n\n" + full_text.summary(report["fulltext"])
        )
    if "weak" in report:
        warning = report["weak"]
        counts = ", ".join(f"{count} {name}" for name, count in warning["counts"].items())
        thresholds = list(next(iter(warning["rates"].values())))
        parts.append(
            "### 13. The weak-match warning (all-MiniLM-L6-v2, hybrid search)\n\n"
            f"Share of queries warned about when the best dense score is below a share of the "
            f"scores of queries with no answer; the UI uses {warning['threshold']:g}. {counts}.\n\n"
            + table(
                ["queries", *thresholds],
                [[name, *rates.values()] for name, rates in warning["rates"].items()],
            )
        )
    return "\n\n".join(parts) + "\n"


def pdf_text(section: dict[str, Any]) -> str:
    """The extraction table per file, then the folder indexed end to end."""
    rows = [
        [
            name,
            row["pages"],
            row["pypdfium2_pages_per_s"],
            row["pypdf_pages_per_s"],
            row["ratio"],
            row["word_agreement"],
        ]
        for name, row in section["extraction"].items()
    ]
    flow = section["indexing"]
    return (
        f"{section['note']}.\n\n"
        + table(["PDFs", "pages", "pypdfium2 pages/s", "pypdf pages/s", "x", "same words"], rows)
        + f"\n\nIndexing the {flow['documents']} articles ({flow['pages']} pages, seed "
        f"architecture, fp32 CPU): {flow['seconds']} s, {flow['docs_per_s']} docs/s, "
        f"{flow['pages_per_s']} pages/s. Reader stage (extract, tokenize, cut windows) "
        f"{flow['reader_stage_s']} s against the model's {flow['model_s']} s on the same "
        f"documents: {flow['reader_vs_model']} of it."
    )


def serving_markdown(section: dict[str, Any]) -> str:
    load = section["load"]
    rows = [
        [name, row["p50_ms"], row["p99_ms"], row["per_s"], row["errors"]]
        for name, row in load["rows"].items()
    ]
    big = section["large"]
    probes = [
        [
            nprobe + (" (the index's own)" if row["own"] else ""),
            row["search_p50_ms"],
            row["recall@10"],
        ]
        for nprobe, row in big["nprobe"]["rows"].items()
    ]
    return (
        f"### 11. `semsearch serve`: {section['searches']:,} searches per row from "
        f"{section['clients']} clients at once, Cranfield ({load['documents']:,} documents, "
        f"all-MiniLM-L6-v2, {section['threads']} model thread; medians of "
        f"{load.get('rounds', 1)} interleaved rounds)\n\n"
        + table(["path", "p50 ms", "p99 ms", "searches/s", "errors"], rows)
        + "\n\nServed p50 minus in-process p50 (median of the rounds' gaps): "
        + ", ".join(f"{mode} {gap} ms" for mode, gap in load["p50_gap_ms"].items())
        + f".\n\nAt {big['vectors']:,} vectors ({big['index']}, one client, embedding included, "
        f"{big['queries']} Cranfield queries): served p50 {big['served']['p50_ms']} ms / p99 "
        f"{big['served']['p99_ms']} ms, recall@10 {big['served']['recall@10']}; in-process p50 "
        f"{big['in_process']['p50_ms']} ms; the query's embedding alone p50 "
        f"{big['embed_p50_ms']} ms. The same index file (nlist {big['nprobe']['nlist']}) at other "
        "nprobes, FAISS alone:\n\n" + table(["nprobe", "search p50 ms", "recall@10"], probes)
    )


def capacity_text(section: dict[str, Any]) -> str:
    capacity, process = section["capacity"], section["process"]
    rows = [
        [name, row["seconds"], f"{row['docs_per_s']:,}", f"{row['vs_main']}x"]
        for name, row in capacity["rows"].items()
    ]
    return (
        f"### 3c. The CPU side's capacity: `Collection.add` of {capacity['documents']:,} WordNet "
        f"glosses with a 1-layer, 32-wide BERT ({capacity['cores']} cores)\n\n"
        + table(["code", "seconds", "docs/s", "vs main"], rows)
        + f"\n\nThe whole `semsearch index` process of {process['documents']:,} glosses against "
        f"our pure embedding of them, seed architecture ({process['note']}): "
        f"{process['process_vs_pure']}x (process {process['process_s']} s, pure "
        f"{process['pure_s']} s).\n"
    )


def pipeline_table(section: dict[str, Any]) -> str:
    """Rows of every variant for each precision, then the ratios."""
    rows, notes = [], []
    for precision in ("fp32", "bf16"):
        if precision not in section:
            continue
        result = section[precision]
        for name, row in result["rows"].items():
            rows.append([precision, name, row["seconds"], row["docs_per_s"]])
        notes.append(
            f"{precision}: end to end / {result['best_pure']} {result['end_to_end_vs_pure']}, "
            f"end to end / {result['best_sentence_transformers']} "
            f"{result['end_to_end_vs_sentence_transformers']}, {result['best_pure']} / "
            f"{result['best_sentence_transformers']} {result['pure_vs_best_sentence_transformers']}"
        )
    return (
        f"{section['documents']:,} WordNet documents on {section['device']}; {section['note']}.\n\n"
        + table(["precision", "variant", "seconds", "docs/s"], rows)
        + "\n\nRatios (medians of interleaved rounds, x faster): "
        + "; ".join(notes)
        + "."
    )


def public(value: Any) -> Any:
    """The report without working data (keys starting with `_`)."""
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items() if not str(k).startswith("_")}
    return value


def write_performance_page(text: str) -> None:
    """Put `text` between the bench markers of docs/performance.md."""
    page = PERFORMANCE_PAGE.read_text()
    updated = re.sub(
        r"(<!-- bench:start -->\n).*?(<!-- bench:end -->)",
        lambda m: m.group(1) + text + m.group(2),
        page,
        flags=re.S,
    )
    PERFORMANCE_PAGE.write_text(updated)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections: {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, to check that the benchmarks run (the numbers mean little; written to "
        "bench/results/quick.*, never merged into latest.*)",
    )
    parser.add_argument(
        "--docs",
        action="store_true",
        help="also replace the results in docs/performance.md with this run's",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="run nothing: write bench/results/latest.md (and with --docs, the results in "
        "docs/performance.md) again from bench/results/latest.json",
    )
    parser.add_argument(
        "--stores",
        type=Path,
        help="folder where the weak-match and concordance sections keep the stores they build, "
        "to reuse them (default: a temporary folder)",
    )
    args = parser.parse_args(argv)
    if args.render:
        text = markdown(json.loads((RESULTS / "latest.json").read_text()))
        (RESULTS / "latest.md").write_text(text)
        if args.docs:
            write_performance_page(text)
        return
    chosen = [s.strip() for s in args.only.split(",")]
    if args.quick:
        common.WORDNET_DOCS, indexing.REPEATS, indexing.MEMORY_SIZES = 2_000, 1, (1_000, 2_000)
        pdf_reading.REPEATS, pdf_reading.INDEX_REPEATS = 1, 1
        pdf_reading.ARTICLES, pdf_reading.INDEXED, pdf_reading.PAGES = 2, 1, 4
        runtimes.EMBED_DOCS, runtimes.INDEX_DOCS, runtimes.QUERIES = 1_000, 1_000, 30
        pipeline.REPEATS = spark.REPEATS = cpu_capacity.REPEATS = 1
        cpu_capacity.CAPACITY_DOCS, cpu_capacity.PROCESS_DOCS = 5_000, 2_000
        latency.SIZES, latency.SPECS = (5_000, 20_000), ("flat", "hnsw", "ivf-fp16")
        serving.SEARCHES, serving.LARGE = 200, 20_000
        distillation.MINUTES, distillation.TEXTS, distillation.WORDNET_GLOSSES = 0.5, 1_000, 300
    started = time.perf_counter()
    report: dict[str, Any] = {"machine": machine()}
    wordnet = (
        embedding.wordnet_texts() if {"embedding", "seed", "latency", "serve"} & set(chosen) else []
    )
    fp32_wordnet_vectors = None
    if "embedding" in chosen:
        print("bench: 1. embedding throughput", flush=True)
        report["embedding"] = embedding.run(wordnet)
        fp32_wordnet_vectors = report["embedding"]["wordnet"]["_fp32_vectors"]
    if "seed" in chosen:
        print("bench: 2. seed architecture", flush=True)
        report["seed"] = embedding.seed_architecture(wordnet)
    if "indexing" in chosen:
        print("bench: 3. end-to-end indexing", flush=True)
        pure = report.get("embedding", {}).get("wordnet", {}).get("ours fp32", {})
        report["indexing"] = indexing.end_to_end(pure.get("docs_per_s", float("nan")))
    embedder = None
    if {"latency", "quality", "long", "serve"} & set(chosen):
        embedder = Embedder.load(FALLBACK_MODEL, device="cpu", quiet=True)
    if "pipeline" in chosen:
        print("bench: 3b. end to end vs pure embedding (seed architecture)", flush=True)
        report["pipeline"] = pipeline.compare("cpu", common.WORDNET_DOCS, ("fp32", "bf16"))
    if "capacity" in chosen:
        print("bench: 3c. CPU-side capacity (tiny BERT), the whole index process", flush=True)
        report["capacity"] = cpu_capacity.run()
    if "latency" in chosen:
        print("bench: 4. query latency", flush=True)
        if fp32_wordnet_vectors is None:
            fp32_wordnet_vectors = embedder.embed(wordnet)
        queries = list(cranfield()[1].values())[:QUERIES]
        report["latency"] = latency.run(np.asarray(fp32_wordnet_vectors), embedder, queries)
    if "memory" in chosen:
        print("bench: 5. peak memory", flush=True)
        report["memory"] = indexing.peak_memory()
    if "quality" in chosen:
        print("bench: 6. quality", flush=True)
        report["quality"] = quality.run(embedder)
    if "gpu" in chosen:
        print("bench: 7. GPU", flush=True)
        report["gpu"] = gpu.run()
    if "long" in chosen:
        print("bench: 8. one long document", flush=True)
        report["long"] = long_documents.run(embedder)
    if "spark" in chosen:
        print("bench: 9. Spark local[N] vs the local job", flush=True)
        report["spark"] = spark.run(common.WORDNET_DOCS)
    if "pdf" in chosen:
        print("bench: 10. reading PDFs", flush=True)
        report["pdf"] = pdf_reading.run()
    if "serve" in chosen:
        print("bench: 11. semsearch serve", flush=True)
        if fp32_wordnet_vectors is None:
            fp32_wordnet_vectors = embedder.embed(wordnet)
        report["serve"] = serving.run(np.asarray(fp32_wordnet_vectors), embedder)
    if "runtimes" in chosen:
        print("bench: 12. CPU runtimes", flush=True)
        report["runtimes"] = runtimes.run()
    if "weak" in chosen:
        print("bench: 13. the weak-match warning", flush=True)
        report["weak"] = weak_match.run(args.stores)
    if "fulltext" in chosen:
        print("bench: 14. the full-text engine", flush=True)
        report["fulltext"] = full_text.run(full_text.QUICK_SIZES if args.quick else full_text.SIZES)
    if "distill" in chosen:
        print("bench: 15. distillation on Cranfield + WordNet", flush=True)
        report["distill"] = distillation.run(distillation.MINUTES, texts=distillation.TEXTS)
    if "concordance" in chosen:
        print("bench: 16. concordance of a new word on the demo store", flush=True)
        report["concordance"] = concordance.run(args.stores)
    report["seconds"] = time.perf_counter() - started
    report = public(report)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report["measured_at"] = {section: stamp for section in chosen if section in report}
    cpu = f"{report['machine']['cpu']} ({report['machine']['cores']} cores)"
    report["measured_on"] = {section: cpu for section in report["measured_at"]}
    name = "quick" if args.quick else "latest"  # a quick run's numbers mean little: kept apart
    previous = RESULTS / f"{name}.json"
    if set(SECTIONS) - set(chosen) and previous.exists() and not args.quick:  # keeps the others
        earlier = json.loads(previous.read_text())
        report = {
            **earlier,
            **report,
            "seconds": earlier.get("seconds", 0.0),
            "measured_at": {**earlier.get("measured_at", {}), **report["measured_at"]},
            "measured_on": {
                **{  # sections from before machines were recorded per section
                    section: f"{earlier['machine']['cpu']} ({earlier['machine']['cores']} cores)"
                    for section in earlier.get("measured_at", {})
                },
                **earlier.get("measured_on", {}),
                **report["measured_on"],
            },
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
    if args.docs:
        write_performance_page(text)


if __name__ == "__main__":
    main()
