"""The batch indexing job: read, skip what is unchanged, chunk, embed, commit every N documents."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from indexer.embedder import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP, DEFAULT_TOKEN_BUDGET, Embedder
from indexer.sources import Skipped, SourceDocument, SourceOptions, check_sources, read_sources
from store.catalog import ChunkRecord, DocumentRecord, content_hash
from store.store import Store, store_exists


@dataclass
class IndexOptions:
    """What an index run uses; None means the store's recipe, or the default for a new store."""

    model: str | None = None
    pooling: str | None = None
    chunk_tokens: int | None = None
    overlap: int | None = None
    index_spec: str | None = None
    precision: str = "fp32"
    device: str = "auto"
    token_budget: int = DEFAULT_TOKEN_BUDGET
    commit_every: int = 1000
    sources: SourceOptions = field(default_factory=SourceOptions)


@dataclass
class Summary:
    """What a run did; `skipped` lists each thing left out with its reason."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks: int = 0
    tokens: int = 0
    replaced_bytes: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        reasons = Counter(_reason_kind(s.reason) for s in self.skipped)
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "skipped": len(self.skipped),
            "skipped_by_reason": dict(reasons),
            "skipped_items": [{"where": s.where, "reason": s.reason} for s in self.skipped],
            "chunks": self.chunks,
            "tokens": self.tokens,
            "replaced_bytes": self.replaced_bytes,
            "seconds": round(self.seconds, 3),
        }


def _reason_kind(reason: str) -> str:
    return reason.split(" (")[0].split(":")[0]


def embedder_for_store(folder: Path | None, options: IndexOptions, quiet: bool = False) -> Embedder:
    """The store's recipe when it exists and no model was named; otherwise the options'."""
    recipe = None
    if folder is not None and store_exists(folder):
        with Store.open(folder) as existing:
            recipe = existing.recipe
    common = {
        "device": options.device,
        "precision": options.precision,
        "token_budget": options.token_budget,
        "quiet": quiet,
    }
    if recipe and options.model is None:
        return Embedder.from_recipe(
            {
                **recipe,
                "pooling": options.pooling or recipe["pooling"],
                "chunk_tokens": options.chunk_tokens or recipe["chunk_tokens"],
                "overlap": recipe["overlap"] if options.overlap is None else options.overlap,
            },
            **common,
        )
    return Embedder.load(
        options.model,
        pooling=options.pooling or "mean",
        chunk_tokens=options.chunk_tokens or DEFAULT_CHUNK_TOKENS,
        overlap=DEFAULT_OVERLAP if options.overlap is None else options.overlap,
        **common,
    )


def index_paths(
    folder: str | Path,
    paths: list[str],
    options: IndexOptions | None = None,
    quiet: bool = False,
    embedder: Embedder | None = None,
) -> Summary:
    """Index files, folders, JSONL, CSV or `-` (JSONL on stdin) into the store at `folder`.

    Checks every path and CSV header, the recipe and the writer lock before writing anything;
    unchanged documents (same content hash) are not embedded again; each batch of
    `commit_every` documents is one transaction, so a killed run resumes where it stopped."""
    options = options or IndexOptions()
    folder = Path(folder)
    started = time.perf_counter()
    check_sources(paths, options.sources)
    embedder = embedder or embedder_for_store(folder, options, quiet)
    summary = Summary()
    store = Store.create(folder, embedder.recipe, options.index_spec or "auto")
    try:
        if options.index_spec and store.index_spec != options.index_spec:
            store.rebuild(options.index_spec)
        show = not quiet and sys.stderr.isatty()
        with tqdm(desc="indexing", unit=" doc", disable=not show, file=sys.stderr) as bar:
            for batch in _batches(
                read_sources(paths, options.sources), options.commit_every, summary
            ):
                _write_batch(store, embedder, batch, summary)
                bar.update(len(batch))
                elapsed = time.perf_counter() - started
                bar.set_postfix(tokens_per_s=f"{summary.tokens / elapsed:,.0f}", refresh=False)
    finally:
        store.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _batches(
    items: Iterable[SourceDocument | Skipped], size: int, summary: Summary
) -> Iterable[list[SourceDocument]]:
    """Documents in batches of `size`; skipped, empty and repeated ones go to the summary."""
    seen: dict[str, str] = {}
    batch: list[SourceDocument] = []
    for item in items:
        if isinstance(item, Skipped):
            summary.skipped.append(item)
        elif not item.text.strip():
            summary.skipped.append(Skipped(item.where or item.id, "empty document"))
        elif item.id in seen:
            summary.skipped.append(
                Skipped(
                    item.where or item.id, f"duplicate id {item.id!r} (first at {seen[item.id]})"
                )
            )
        else:
            seen[item.id] = item.where or item.id
            summary.replaced_bytes += item.replaced
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def _write_batch(
    store: Store, embedder: Embedder, batch: list[SourceDocument], summary: Summary
) -> None:
    stored = store.hashes([doc.id for doc in batch])
    changed = [d for d in batch if stored.get(d.id) != content_hash(d.text, d.title, d.metadata)]
    summary.unchanged += len(batch) - len(changed)
    if not changed:
        return
    records = []
    for doc, chunks in zip(changed, embedder.embed_chunks([d.text for d in changed]), strict=True):
        records.append(
            DocumentRecord(
                id=doc.id,
                text=doc.text,
                title=doc.title,
                source=doc.source,
                metadata=doc.metadata,
                chunks=[
                    ChunkRecord(
                        c.window.ord,
                        c.window.start,
                        c.window.end,
                        c.window.n_tokens,
                        doc.text[c.window.start : c.window.end],
                        c.vector,
                    )
                    for c in chunks
                ],
            )
        )
        summary.chunks += len(chunks)
        summary.tokens += sum(c.window.n_tokens for c in chunks)
    counts = store.upsert(records)
    summary.added += counts["added"]
    summary.updated += counts["updated"]


def prune(folder: str | Path, dry_run: bool = False) -> list[str]:
    """Delete documents whose source file no longer exists; returns their ids."""
    with Store.open(folder, writable=not dry_run) as store:
        gone = [
            doc_id
            for doc_id, source in store.sources().items()
            if source is not None and not Path(source).exists()
        ]
        if gone and not dry_run:
            store.delete(gone)
    return gone
