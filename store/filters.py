"""Filters on document fields and metadata, compiled to parameterized SQL.

Expression syntax (one condition per expression; several are ANDed):
  field=value   field!=value   field>value   field>=value   field<value   field<=value
  field~text    (substring, case-insensitive)
  field in a,b,c   (membership)
`field` is `id`, `source`, `title`, or a metadata key (`a.b` for nested keys). Values that look
like numbers compare as numbers; ISO dates compare as text, which orders them correctly. Quote a
value ("...") to keep it text or to include commas.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

COLUMNS = {"id": "d.id", "source": "d.source", "title": "d.title"}
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "~", "in")
_FIELD = r"[A-Za-z_][\w\-]*(?:\.[\w\-]+)*"
_EXPRESSION = re.compile(rf"^\s*({_FIELD})\s*(?:(!=|>=|<=|=|>|<|~)|\s(in)\s)\s*(.*?)\s*$", re.S)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


class FilterError(ValueError):
    """A filter expression that cannot be understood."""


@dataclass(frozen=True)
class Filter:
    """`field op value`; for `in`, value is a tuple."""

    field: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if not re.fullmatch(_FIELD, self.field):
            raise FilterError(f"bad field name {self.field!r}")
        if self.op not in OPERATORS:
            raise FilterError(f"unknown operator {self.op!r}; use one of {' '.join(OPERATORS)}")


def _value(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if _NUMBER.match(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    return text


def _split_list(text: str) -> tuple:
    parts = re.findall(r'"[^"]*"|\'[^\']*\'|[^,]+', text)
    return tuple(_value(part.strip()) for part in parts if part.strip())


def parse_filter(expression: str) -> Filter:
    """Parse one expression such as `year>=2020` or `lang in en,de`."""
    match = _EXPRESSION.match(expression)
    if not match:
        raise FilterError(
            f"cannot parse filter {expression!r}: expected FIELD OP VALUE with OP one of "
            f"{' '.join(OPERATORS)}, e.g. year>=2020 or lang in en,de"
        )
    field, op, in_op, raw = match.groups()
    if in_op:
        values = _split_list(raw)
        if not values:
            raise FilterError(f"filter {expression!r}: 'in' needs at least one value")
        return Filter(field, "in", values)
    if raw == "":
        raise FilterError(f"filter {expression!r} has no value")
    if raw[0] in "=<>!~":
        raise FilterError(
            f"filter {expression!r}: the value {raw!r} starts with an operator; quote it if meant"
        )
    return Filter(field, op, raw if op == "~" else _value(raw))


def _field_sql(field: str) -> tuple[str, list]:
    if field in COLUMNS:
        return COLUMNS[field], []
    path = "$" + "".join(f'."{part}"' for part in field.split("."))
    return "json_extract(d.metadata, ?)", [path]


def compile_filters(filters: list[Filter]) -> tuple[str, list]:
    """SQL condition over `documents d` that every filter holds, and its parameters."""
    clauses, params = [], []
    for item in filters:
        column, column_params = _field_sql(item.field)
        if item.op == "in":
            marks = ", ".join("?" for _ in item.value)
            clauses.append(f"{column} IN ({marks})")
            params += column_params + list(item.value)
        elif item.op == "~":
            clauses.append(f"instr(lower(CAST({column} AS TEXT)), lower(?)) > 0")
            params += column_params + [str(item.value)]
        elif item.op == "!=":
            clauses.append(f"({column} IS NULL OR {column} != ?)")
            params += column_params + column_params + [item.value]
        else:
            clauses.append(f"{column} {item.op} ?")
            params += column_params + [item.value]
    return (" AND ".join(clauses) or "1"), params


def describe(filters: list[Filter]) -> str:
    """Filters as text, for messages."""
    return " AND ".join(f"{f.field} {f.op} {json.dumps(f.value)}" for f in filters)
