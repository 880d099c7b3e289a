"""Section 10: reading PDFs. Pages per second of semsearch's PDF reader (pypdfium2, with its
clean-up) against pypdf on the same files, interleaved, and how alike their words are; then a
folder of PDFs indexed end to end, with the reader stage's own time (extraction, tokenizing,
windows) beside the model's (the default model's exact architecture, random weights, CPU).

The PDFs are built here with reportlab: two-column articles of WordNet glosses with a running
head and foot, like papers; any PDF under /usr/share/doc is measured too, as a real one."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bench import common
from bench.common import median, require, seed_model_folder
from indexer.collection import Collection
from indexer.embedding.embedder import Embedder
from indexer.settings import Settings
from indexer.sources.inputs import plan_inputs, read_inputs
from indexer.sources.options import SourceDocument, SourceOptions
from indexer.sources.pdf_files import read_pdf

REPEATS = 3
INDEX_REPEATS = 2  # the folder indexed end to end: model time dominates, so fewer rounds
ARTICLES = 10
INDEXED = 4  # articles in the folder indexed end to end
PAGES = 25  # per article, about
PARAGRAPHS_PER_PAGE = 14  # of five glosses, in two columns of 9.5 pt type
SYSTEM_PDFS = Path("/usr/share/doc")
MAX_SYSTEM_PDFS = 4
_WORD = re.compile(r"\w+")
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl"})


def run() -> dict[str, Any]:
    """Both libraries' pages/s per file and over all, their word agreement, and the folder of
    articles indexed end to end with the reader stage / model time ratio."""
    with tempfile.TemporaryDirectory(prefix="semsearch-pdf-") as scratch:
        folder = Path(scratch) / "articles"
        folder.mkdir()
        built = [article(folder / f"article-{n:02d}.pdf", n) for n in range(ARTICLES)]
        system = sorted(SYSTEM_PDFS.rglob("*.pdf"))[:MAX_SYSTEM_PDFS]
        result: dict[str, Any] = {"extraction": extraction(built, system)}
        pages = result["extraction"]["articles (reportlab)"]["pages"]
        indexed = Path(scratch) / "indexed"
        indexed.mkdir()
        for path in built[:INDEXED]:
            shutil.copy(path, indexed / path.name)
        result["indexing"] = indexing(indexed, Path(scratch))
    result["note"] = (
        f"{ARTICLES} two-column reportlab articles of about {PAGES} pages each ({pages} pages, "
        f"WordNet glosses), and {len(system)} PDFs from {SYSTEM_PDFS}; medians of {REPEATS} "
        "interleaved rounds"
    )
    return result


def article(path: Path, seed: int) -> Path:
    """A paper-like PDF: two justified columns, section headings, a running head and foot."""
    from reportlab.lib.enums import TA_JUSTIFY
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph

    width, height = A4
    margin, gap = 50, 20
    column = (width - 2 * margin - gap) / 2
    frames = [
        Frame(margin + i * (column + gap), margin, column, height - 2 * margin) for i in range(2)
    ]

    def decorate(canvas, document) -> None:
        canvas.setFont("Helvetica", 8)
        canvas.drawString(margin, height - 30, f"Journal of Benchmark Studies, vol. {seed}")
        canvas.drawCentredString(width / 2, 25, f"- {document.page} -")

    document = BaseDocTemplate(str(path), pagesize=A4, invariant=1, title=f"Article {seed}")
    document.addPageTemplates([PageTemplate(frames=frames, onPage=decorate)])
    body = ParagraphStyle("body", fontName="Times-Roman", fontSize=9.5, leading=12)
    body.alignment = TA_JUSTIFY
    heading = ParagraphStyle("heading", fontName="Times-Bold", fontSize=12, leading=15)
    glosses = _glosses(seed)
    story = []
    for number in range(PAGES * PARAGRAPHS_PER_PAGE):
        if number % 8 == 0:
            story.append(Paragraph(f"{number // 8 + 1}. {next(glosses)[:60]}", heading))
        story.append(Paragraph(" ".join(next(glosses) for _ in range(5)), body))
    document.build(story)
    return path


def _glosses(seed: int) -> Iterator[str]:
    """WordNet glosses from a place that depends on `seed`, escaped for reportlab, forever."""
    texts = _wordnet()
    start = seed * 5000 % len(texts)
    while True:
        for text in texts[start:] + texts[:start]:
            yield escape(text).capitalize() + "."


@functools.cache
def _wordnet() -> list[str]:
    with open(require("wordnet") / "corpus.jsonl", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def pypdf_pages(path: Path) -> list[str]:
    """pypdf's text of each page, cleaned as ours is: line-end hyphens joined, ligatures
    decoded (a damaged page: empty)."""
    from pypdf import PdfReader

    pages = []
    for page in PdfReader(path).pages:
        text = page.extract_text() or ""
        pages.append(re.sub(r"(\w)-\n(\w)", r"\1\2", text).translate(_LIGATURES))
    return pages


def extraction(built: list[Path], system: list[Path]) -> dict[str, Any]:
    """Pages/s of each library per file (medians of interleaved rounds) and word agreement."""
    readers = {"pypdfium2": lambda path: read_pdf(path).pages, "pypdf": pypdf_pages}
    files = {"articles (reportlab)": built, **{path.name: [path] for path in system}}
    for reader in readers.values():  # imports and first-call set-up, outside the timings
        reader(built[0])
    rows: dict[str, Any] = {}
    for name, paths in files.items():
        seconds: dict[str, list[float]] = {library: [] for library in readers}
        pages: dict[str, list[str]] = {}
        for _ in range(REPEATS):
            for library, reader in readers.items():
                started = time.perf_counter()
                pages[library] = [text for path in paths for text in reader(path)]
                seconds[library].append(time.perf_counter() - started)
        count = len(pages["pypdfium2"])
        rows[name] = {
            "pages": count,
            **{
                f"{library}_pages_per_s": round(count / median(seconds[library]), 1)
                for library in readers
            },
            "ratio": round(median(seconds["pypdf"]) / median(seconds["pypdfium2"]), 1),
            "word_agreement": _agreement(pages["pypdfium2"], pages["pypdf"]),
        }
    return rows


def _agreement(ours: list[str], theirs: list[str]) -> float:
    """Words (lower case) the two texts share, over the larger word count. Ours has no running
    heads, so it is below 1 by their words."""
    a = Counter(_WORD.findall(" ".join(ours).lower()))
    b = Counter(_WORD.findall(" ".join(theirs).lower()))
    return round(sum((a & b).values()) / max(sum(a.values()), sum(b.values()), 1), 4)


def indexing(folder: Path, scratch: Path) -> dict[str, Any]:
    """The folder indexed end to end (docs/s, pages/s), and the reader stage's seconds (read,
    tokenize, cut windows) against the model's on the same documents (medians of rounds)."""
    model = seed_model_folder(scratch / "seed")
    settings = Settings(model=str(model), device="cpu")
    embedder = Embedder.load(str(model), device="cpu", quiet=True)
    options = SourceOptions()
    times: dict[str, list[float]] = {"end to end": [], "reader stage": [], "model": []}
    documents = 0
    for _ in range(INDEX_REPEATS):
        store = scratch / "store"
        shutil.rmtree(store, ignore_errors=True)
        started = time.perf_counter()
        with Collection(store, settings, quiet=True) as collection:
            documents = collection.add([str(folder)], options).added
        times["end to end"].append(time.perf_counter() - started)
        started = time.perf_counter()
        plan = plan_inputs([str(folder)], options)
        read = [doc for doc in read_inputs(plan, options) if isinstance(doc, SourceDocument)]
        prepared = embedder.prepare([doc.text for doc in read], parallel=False)
        times["reader stage"].append(time.perf_counter() - started)
        started = time.perf_counter()
        embedder.embed_prepared(prepared)
        times["model"].append(time.perf_counter() - started)
    seconds = {name: median(values) for name, values in times.items()}
    pages = sum(doc.metadata["page_count"] for doc in read)
    return {
        "documents": documents,
        "pages": pages,
        "seconds": round(seconds["end to end"], 2),
        "docs_per_s": round(documents / seconds["end to end"], 2),
        "pages_per_s": round(pages / seconds["end to end"], 1),
        "reader_stage_s": round(seconds["reader stage"], 2),
        "model_s": round(seconds["model"], 2),
        "reader_vs_model": round(seconds["reader stage"] / seconds["model"], 3),
        "device": "cpu",
        "threads": os.cpu_count(),
        "note": common.SEED_NOTE,
    }
