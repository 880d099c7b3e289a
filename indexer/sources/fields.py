"""A document from the fields of one record: a JSON object, a table row, or a dict given to the
Python API. The same rule for every record, wherever it comes from, and every value made one the
store can keep (`values`)."""

from __future__ import annotations

from typing import Any

from indexer.sources.options import SourceDocument, SourceOptions, with_title
from indexer.sources.values import Counts, TooDeep
from indexer.summary import Skipped


def document_from_fields(
    record: Any,
    where: str,
    default_id: str,
    source: str | None,
    options: SourceOptions,
    replaced: int = 0,
    file: str = "",
) -> SourceDocument | Skipped:
    """A document from one record (a JSON object, a table row, a dict given to the Python API)."""
    if not isinstance(record, dict):
        return Skipped(where, "not an object", f"a JSON {type(record).__name__}, not an object")
    text = record.get(options.text_field)
    if not isinstance(text, str):
        return Skipped(where, "no text field", f"no string field {options.text_field!r}")
    metadata = record.get(options.metadata_field) or {}
    if not isinstance(metadata, dict):
        metadata = {options.metadata_field: metadata}
    counts = Counts(replaced=replaced)
    try:
        metadata = counts.json(metadata)
    except TooDeep as error:
        return Skipped(where, "metadata too deep", str(error))
    title = record.get(options.title_field)
    title = counts.text(str(title)) if title not in (None, "") else None
    doc_id = record.get(options.id_field)
    doc_id = counts.text(str(doc_id)) if doc_id not in (None, "") else default_id
    text = with_title(title, counts.text(text))
    return SourceDocument(
        doc_id, text, title, source, metadata, counts.replaced, where, file or where, counts.nulled
    )
