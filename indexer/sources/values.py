"""What a document's fields may hold, one rule for every reader: text without NUL characters or
lone surrogates (each replaced by U+FFFD and counted, as undecodable bytes are), and metadata that
is valid JSON: NaN and ±Infinity become null (counted), durations a number of seconds, dates and
times ISO text, decimals numbers, bytes text, and at most MAX_DEPTH levels of nesting."""

from __future__ import annotations

import datetime
import decimal
import math
from dataclasses import dataclass
from typing import Any

from indexer.sources.decoding import clean

MAX_DEPTH = 64  # nesting levels of metadata kept (SQLite's JSON functions stop at 1000)


class TooDeep(ValueError):
    """Metadata nested deeper than MAX_DEPTH levels."""


@dataclass
class Counts:
    """What cleaning changed: characters replaced, non-finite numbers stored as null."""

    replaced: int = 0
    nulled: int = 0

    def text(self, value: str) -> str:
        """`value` with NUL and lone surrogates replaced (and counted)."""
        cleaned, count = clean(value)
        self.replaced += count
        return cleaned

    def json(self, value: Any, depth: int = 0) -> Any:
        """`value` as a JSON value the store can keep (see the module's rule)."""
        if depth > MAX_DEPTH:
            raise TooDeep(f"metadata nested deeper than {MAX_DEPTH} levels")
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float | decimal.Decimal):
            number = float(value)
            if math.isfinite(number):
                return number
            self.nulled += 1
            return None
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, datetime.timedelta):
            return value.total_seconds()
        if isinstance(value, datetime.date | datetime.time):
            return value.isoformat()
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", errors="replace"))
        if isinstance(value, dict):
            return {self.text(str(k)): self.json(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.json(v, depth + 1) for v in value]
        return self.text(str(value))
