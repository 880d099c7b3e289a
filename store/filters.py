"""Filters on document fields and metadata, compiled to parameterized SQL.

Expression syntax (one condition per expression; several are ANDed):
  field=value   field!=value   field>value   field>=value   field<value   field<=value
  field~text    (contains: the text as whole words, case-insensitive; `module~io` finds
                 "io" and "io.open", never "multiprocessing.connection" or "ratio")
  field in a,b,c   (membership)

Fields: `id`, `source` and `title` are the document's own fields; `metadata.KEY` is always a
metadata key (`metadata.source` when a record has a metadata field named like a built-in one), and
any other name is a metadata key too (`year`, `a.b` for nested keys). A key with other characters
(a dot, a space) is written in double quotes: `metadata."a.b"` is the key `a.b`, `"first name"`
the key `first name`; a key that itself holds a double quote cannot be named.

Values are typed: unquoted numbers are numbers, `true`/`false` booleans, anything else (and
anything quoted, "007") text. A metadata value matches only a filter value of its own type, so
`year<"1000"` never matches the number 1999 and `code>100` never matches the text "7". The built-in
fields are text: a number given for them is compared as its text. ISO dates are text, which orders
them correctly. `!=` also matches documents that lack the field or hold another type.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from store.errors import SemsearchError

COLUMNS = {"id": "d.id", "source": "d.source", "title": "d.title"}
METADATA_PREFIX = "metadata."
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "~", "in")
_KEY = r'(?:[\w\-]+|"[^"]*")'  # a word, or anything but a double quote, quoted
_FIELD = rf'(?:[A-Za-z_][\w\-]*|"[^"]*")(?:\.{_KEY})*'
_EXPRESSION = re.compile(rf"^\s*({_FIELD})\s*(?:(!=|>=|<=|=|>|<|~)|\s(in)\s)\s*(.*?)\s*$", re.S)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_JSON_TYPES = {bool: ("true", "false"), int: ("integer", "real"), float: ("integer", "real")}
_INT64 = range(-(2**63), 2**63)


class FilterError(SemsearchError):
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
        values = self.value if self.op == "in" else (self.value,)
        for value in values:
            if isinstance(value, float) and not math.isfinite(value):
                raise FilterError(f"filter on {self.field}: {value} is not a finite number")
        # SQLite compares integers past 64 bits as reals: give them as reals
        fitted = tuple(_sqlite_number(v) for v in values)
        object.__setattr__(self, "value", fitted if self.op == "in" else fitted[0])

    def __str__(self) -> str:
        """The filter as an expression `parse_filter` reads back."""
        if self.op == "in":
            return f"{self.field} in {','.join(_literal(v) for v in self.value)}"
        value = self.value if self.op == "~" else _literal(self.value)
        return f"{self.field}{self.op}{value}"


def _sqlite_number(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return float(value)
    return value


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    plain = text and not _NUMBER.match(text) and text not in ("true", "false")
    return text if plain and re.fullmatch(r"[^\s,\"']+", text) else f'"{text}"'


def _value(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
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


def metadata_field(key: str) -> str | None:
    """The filter field that names the top-level metadata key `key` (quoted when it is not a
    plain word), or None when no field can (the key holds a double quote)."""
    if '"' in key:
        return None
    return METADATA_PREFIX + (key if re.fullmatch(r"[\w\-]+", key) else f'"{key}"')


def metadata_path(field: str) -> str | None:
    """The JSON path of a metadata field, or None for a built-in column."""
    if field in COLUMNS:
        return None
    key = field.removeprefix(METADATA_PREFIX) if field.startswith(METADATA_PREFIX) else field
    parts = [quoted or word for quoted, word in re.findall(r'"([^"]*)"|([\w\-]+)', key)]
    return "$" + "".join(f'."{part}"' for part in parts)


def _typed(value: Any) -> tuple[str, ...]:
    """The JSON types a metadata value must have to be compared with `value`."""
    return _JSON_TYPES.get(type(value), ("text",))


def _condition(field: str, op: str, values: tuple) -> tuple[str, list]:
    """SQL that holds when the field compares true with one of `values` of its own type."""
    path = metadata_path(field)
    if path is None:
        column, wanted = COLUMNS[field], [str(v) for v in values]
        if op == "in":  # any number of values in one parameter, as a JSON array
            return f"{column} IN (SELECT value FROM json_each(?))", [json.dumps(wanted)]
        return f"{column} {op} ?", wanted
    clauses, params = [], []
    for types in dict.fromkeys(_typed(v) for v in values):
        same = [v for v in values if _typed(v) == types]
        type_marks = ", ".join("?" * len(types))
        compare = "IN (SELECT value FROM json_each(?))" if op == "in" else f"{op} ?"
        clauses.append(
            f"(json_type(d.metadata, ?) IN ({type_marks}) "
            f"AND json_extract(d.metadata, ?) {compare})"
        )
        params += [path, *types, path, *([json.dumps(same)] if op == "in" else same)]
    return "(" + " OR ".join(clauses) + ")", params


CONTAINS_FUNCTION = "semsearch_contains"  # the SQL name of `contains`, see `register`


def contains(value: str | None, text: str) -> bool:
    """The rule of `field~text`: `text` is in the value as whole words, case-insensitive: where
    the text begins or ends with a letter or digit, the value holds none next to it."""
    if value is None:
        return False
    before = r"(?<!\w)" if re.match(r"\w", text) else ""
    after = r"(?!\w)" if re.search(r"\w$", text) else ""
    return re.search(before + re.escape(text) + after, value, re.IGNORECASE) is not None


def register(connection: sqlite3.Connection) -> None:
    """Make the filters' SQL functions known to `connection`."""
    connection.create_function(CONTAINS_FUNCTION, 2, contains, deterministic=True)


def compile_filters(filters: list[Filter]) -> tuple[str, list]:
    """SQL condition over `documents d` that every filter holds, and its parameters."""
    clauses, params = [], []
    for item in filters:
        if item.op == "~":
            path = metadata_path(item.field)
            column = COLUMNS[item.field] if path is None else "json_extract(d.metadata, ?)"
            clauses.append(f"{CONTAINS_FUNCTION}(CAST({column} AS TEXT), ?)")
            params += ([] if path is None else [path]) + [str(item.value)]
        elif item.op == "!=":
            sql, sql_params = _condition(item.field, "=", (item.value,))
            clauses.append(f"NOT coalesce({sql}, 0)")
            params += sql_params
        else:
            values = item.value if item.op == "in" else (item.value,)
            sql, sql_params = _condition(item.field, item.op, values)
            clauses.append(sql)
            params += sql_params
    return (" AND ".join(clauses) or "1"), params
