"""What an index run did: counts, and every thing left out or altered, with where and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Skipped:
    """Something not indexed: where it was (file, or file:line), what kind of problem, and the
    whole reason."""

    where: str
    kind: str  # a short category, e.g. "invalid JSON", "duplicate id"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Summary:
    """What a run did. `skipped` lists each thing left out; `replaced` each input whose
    undecodable bytes (or NUL characters, lone surrogates) were replaced; `nulled` each input
    whose metadata held NaN or Infinity, stored as null; `unknown_only` the documents with a
    window of nothing but [UNK] (text the vocabulary cannot represent: indexed, but its vector
    says little)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    moved: int = 0  # unchanged documents whose source is a new path now (their folder moved)
    chunks: int = 0
    tokens: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    replaced: dict[str, int] = field(default_factory=dict)  # where -> characters replaced
    nulled: dict[str, int] = field(default_factory=dict)  # where -> NaN/Infinity stored as null
    unknown_only: list[str] = field(default_factory=list)
    # ids made from a line, row or message number that the file no longer has (deleted)
    outlived: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def stored(self) -> int:
        """Documents written by this run (added or updated)."""
        return self.added + self.updated

    @property
    def replaced_bytes(self) -> int:
        return sum(self.replaced.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "moved": self.moved,
            "skipped": len(self.skipped),
            "skipped_by_kind": dict(Counter(item.kind for item in self.skipped)),
            "skipped_items": [
                {"where": s.where, "kind": s.kind, "reason": s.reason} for s in self.skipped
            ],
            "chunks": self.chunks,
            "tokens": self.tokens,
            "replaced_bytes": self.replaced_bytes,
            "replaced_items": [{"where": w, "bytes": n} for w, n in self.replaced.items()],
            "nulled_numbers": sum(self.nulled.values()),
            "nulled_items": [{"where": w, "numbers": n} for w, n in self.nulled.items()],
            "unknown_only": self.unknown_only,
            "outlived": self.outlived,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
        }


class IndexInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; `summary` says what was safely stored before it."""

    def __init__(self, summary: Summary) -> None:
        super().__init__(f"interrupted after {summary.stored} documents were stored")
        self.summary = summary
