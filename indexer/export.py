"""Exporting a store's vectors for the TensorBoard Embedding Projector."""

from __future__ import annotations

from pathlib import Path

from store.errors import SemsearchError
from store.store import Store


class ExportError(SemsearchError):
    """The export's files cannot be written where asked."""


def _cell(text: str | None, limit: int = 200) -> str:
    """One TSV cell: tabs and newlines become spaces, long text is cut (it is only a label)."""
    return " ".join((text or "").split())[:limit]


def export_projector(store: Store, folder: Path) -> int:
    """Write `vectors.tsv` (one chunk per row) and `metadata.tsv` (doc id, title, chunk, text
    label); returns the number of rows."""
    try:
        return _write(store, folder)
    except OSError as error:
        raise ExportError(
            f"cannot write the projector files to {folder}: {error.strerror or error}"
        ) from None


def _write(store: Store, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(folder / "vectors.tsv", "w") as vectors, open(folder / "metadata.tsv", "w") as labels:
        labels.write("doc_id\ttitle\tchunk\ttext\n")
        for chunk in store.iter_chunks():
            vectors.write("\t".join(f"{x:.6g}" for x in chunk["vector"]) + "\n")
            labels.write(
                "\t".join(
                    [
                        _cell(chunk["doc_id"]),
                        _cell(chunk["title"]),
                        str(chunk["ord"]),
                        _cell(chunk["text"]),
                    ]
                )
                + "\n"
            )
            count += 1
    return count
