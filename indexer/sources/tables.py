"""Documents that are table rows: CSV and Parquet, read as streams (a file of any size costs the
memory of one row or batch), each named by its file and line, or Parquet row."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from indexer.sources.decoding import clean
from indexer.sources.fields import document_from_fields
from indexer.sources.options import SourceDocument, SourceError, SourceOptions
from indexer.summary import Skipped

TABLE_TYPES = (".csv", ".parquet")
PARQUET_BATCH = 1024
_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?$")

csv.field_size_limit(sys.maxsize)


# -- CSV ------------------------------------------------------------------------------------


def csv_header(handle: TextIO) -> list[str]:
    """The header row (an empty list for an empty file)."""
    return [clean(cell)[0] for cell in next(csv.reader(handle), [])]


def check_columns(header: list[str], name: str, options: SourceOptions, kind: str) -> None:
    """SourceError naming the file unless the text column and named metadata columns exist."""
    if options.text_field not in header:
        raise SourceError(
            f"{name}: {kind} has no text column {options.text_field!r} (columns: "
            f"{', '.join(header) or 'none'}); name it with --text-field"
        )
    missing = [column for column in options.metadata_columns or [] if column not in header]
    if missing:
        raise SourceError(f"{name}: {kind} has no metadata column(s) {', '.join(missing)}")


def read_csv(
    handle: TextIO, name: str, source: str | None, options: SourceOptions
) -> Iterator[SourceDocument | Skipped]:
    """One document per row; metadata from the other (or the named) columns, numbers as numbers.
    A malformed row is skipped with its line; an unterminated quote, which would swallow the rest
    of the file into one field, is reported with the lines it covers."""
    reader = csv.reader(handle, strict=True)
    header = [clean(cell)[0] for cell in next(reader, [])]
    check_columns(header, f"{name}:1", options, "CSV")
    reserved = {options.id_field, options.text_field, options.title_field}
    columns = options.metadata_columns or [c for c in header if c not in reserved]
    while True:
        first = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if str(error) == "unexpected end of data":
                yield Skipped(
                    f"{name}:{first}",
                    "malformed CSV",
                    f"unterminated quoted field: lines {first} to {reader.line_num} (the end of "
                    "the file) were not read",
                )
                return
            yield Skipped(f"{name}:{first}", "malformed CSV", f"malformed CSV row ({error})")
            continue
        where = f"{name}:{first}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            reason = f"{len(row)} fields, the header has {len(header)}"
            yield Skipped(where, "wrong field count", reason)
            continue
        cells, replaced = zip(*(clean(cell) for cell in row), strict=True)
        values = dict(zip(header, cells, strict=True))
        record = {
            options.id_field: values.get(options.id_field) or None,
            options.text_field: values[options.text_field],
            options.title_field: values.get(options.title_field) or None,
            options.metadata_field: {
                c: _cell(values[c]) for c in columns if values.get(c, "") != ""
            },
        }
        yield document_from_fields(
            record, where, f"{name}#{first}", source, options, sum(replaced), name
        )


def _cell(value: str) -> Any:
    if _NUMBER.match(value):
        return float(value) if "." in value else int(value)
    return value


# -- Parquet --------------------------------------------------------------------------------


def parquet_columns(path: Path) -> list[str] | None:
    """The column names of a Parquet file; None when it cannot be read (it is listed as
    unreadable when read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except pa.ArrowException:
        return None


def read_parquet(
    path: Path, name: str, source: str | None, options: SourceOptions
) -> Iterator[SourceDocument | Skipped]:
    """One document per row, read a row group at a time. Metadata: the metadata column (a struct,
    a map or a JSON object as text) and the other (or the named) columns. An unreadable file is
    listed; a damaged row group is listed with its rows, and the groups around it are read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except pa.ArrowException as error:
        yield Skipped(name, "unreadable", f"not a readable Parquet file ({error})")
        return
    header = list(table.schema_arrow.names)
    check_columns(header, name, options, "Parquet file")
    reserved = {options.id_field, options.text_field, options.title_field, options.metadata_field}
    columns = options.metadata_columns or [c for c in header if c not in reserved]
    number = 0
    for group in range(table.num_row_groups):
        size = table.metadata.row_group(group).num_rows
        try:
            rows = [
                row
                for batch in table.iter_batches(PARQUET_BATCH, row_groups=[group])
                for row in _python_rows(batch)
            ]
        except (pa.ArrowException, OSError) as error:
            where = f"{name}:rows {number + 1}-{number + size}"
            yield Skipped(where, "unreadable", f"Parquet row group {group} unreadable ({error})")
            number += size
            continue
        for row in rows:
            number += 1
            metadata = _json_object(row.get(options.metadata_field))
            metadata.update({c: row[c] for c in columns if row.get(c) is not None})
            record = {**row, options.metadata_field: metadata}
            where = f"{name}:row {number}"
            yield document_from_fields(record, where, f"{name}#{number}", source, options, 0, name)


def _python_rows(batch: Any) -> list[dict[str, Any]]:
    """A record batch as Python rows; a value Python cannot hold (a timestamp past year 9999)
    becomes Arrow's text for it."""
    try:
        return batch.to_pylist()
    except (OverflowError, ValueError):
        columns = {name: _python_values(batch.column(name)) for name in batch.schema.names}
        rows = zip(*columns.values(), strict=True)
        return [dict(zip(columns, values, strict=True)) for values in rows]


def _python_values(column: Any) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return column.to_pylist()
    except (OverflowError, ValueError):
        values = []
        for index in range(len(column)):
            try:
                values.append(column[index].as_py())
            except (OverflowError, ValueError):
                values.append(pc.cast(column.slice(index, 1), pa.string())[0].as_py())
        return values


def _json_object(value: Any) -> dict[str, Any]:
    """A metadata column's value as a dict: a struct, a map, or a JSON object as text."""
    if isinstance(value, list) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        value = dict(value)  # a Parquet map
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return {"metadata": value}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return {} if value is None else {"metadata": value}
