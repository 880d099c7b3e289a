"""Items read, examined against the store before the model sees them: each document's content
hash and what the store holds of it, and the changed ones tokenized and cut into windows. This is
the CPU side of a run for one part of its input; it needs no model (no torch), so worker processes
run it (indexer/batch/workers.py) as well as the indexing process itself."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from indexer import documents
from indexer.embedding.preparation import Prepared, Preparer
from indexer.sources.options import SourceDocument
from indexer.summary import Skipped
from store.records import content_hash, encode_metadata
from store.store import Store

CHANGED, UNCHANGED, MOVED = "changed", "unchanged", "moved"
GROUP_ITEMS = 1_000  # items examined together when the indexing process reads them itself


@dataclass
class Examined:
    """Items in input order. Per item: its content hash and state (None for a Skipped or an
    empty document); for a changed document, the index of its text in `prepared` and its
    metadata as the store keeps it (None when it cannot: the store says why)."""

    items: list[SourceDocument | Skipped]
    hashes: list[str | None]
    states: list[str | None]
    inputs: list[int | None]
    prepared: Prepared
    metadata: list[str | None]

    @classmethod
    def skipped(cls, item: Skipped, preparer: Preparer) -> Examined:
        """A part that is one thing left out."""
        return cls([item], [None], [None], [None], preparer.prepare([]), [None])


def examine(
    items: Sequence[SourceDocument | Skipped],
    lookup: Store,
    preparer: Preparer,
    parallel: bool = False,
) -> Examined:
    """Hash every document, compare with what `lookup` stores, and prepare the changed ones'
    model inputs (`parallel`: the tokenizer's own thread pool)."""
    wanted = [
        item
        for item in items
        if isinstance(item, SourceDocument) and not documents.is_empty(item.text)
    ]
    stored = lookup.versions([doc.id for doc in wanted])
    hashes: list[str | None] = []
    states: list[str | None] = []
    inputs: list[int | None] = []
    metadata: list[str | None] = []
    texts: list[str] = []
    examined = list(items)
    for position, item in enumerate(items):
        digest = now = None
        if isinstance(item, SourceDocument) and not documents.is_empty(item.text):
            digest = content_hash(item.text, item.title, item.metadata, item.pages)
            now = stored.get(item.id)
            taken = now is not None and documents.elsewhere(item.source, now.source)
            if taken and now.content_hash != digest:  # another document's id: refused, listed
                examined[position] = documents.collision(item.where or item.id, item.id, now.source)
                digest = None
        hashes.append(digest)
        if digest is None:  # skipped, empty or refused
            states.append(None)
            inputs.append(None)
            metadata.append(None)
        elif now is None or now.content_hash != digest:
            states.append(CHANGED)
            inputs.append(len(texts))
            texts.append(item.text)
            metadata.append(_encoded(item.metadata))
        else:  # unchanged; moved when its stored source is gone, a copy when it still exists
            moved = now.source != item.source and not documents.elsewhere(item.source, now.source)
            states.append(MOVED if moved else UNCHANGED)
            inputs.append(None)
            metadata.append(None)
    prepared = preparer.prepare(texts, parallel)
    return Examined(examined, hashes, states, inputs, prepared, metadata)


def _encoded(metadata: dict) -> str | None:
    try:
        return encode_metadata(metadata)
    except (ValueError, TypeError):
        return None  # the store's check names the document and the reason


def examine_each(
    items: Iterable[SourceDocument | Skipped],
    lookup: Store,
    preparer: Preparer,
    parallel: bool = False,
    group: int = GROUP_ITEMS,
) -> Iterator[Examined]:
    """`items` examined in groups of `group`, in order, as they are read."""
    chunk: list[SourceDocument | Skipped] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= group:
            yield examine(chunk, lookup, preparer, parallel)
            chunk = []
    if chunk:
        yield examine(chunk, lookup, preparer, parallel)
