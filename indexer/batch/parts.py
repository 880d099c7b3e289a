"""A run's plan cut into parts that worker processes read independently, and reading one part.

A part is a whole file, or a range of whole lines of a JSON lines file larger than PART_BYTES
(the corpora people index are often one big JSONL file). A range is cut just after a newline
and knows the number of its first line, so its documents get the same ids, `where` and skip
messages as when the file is read whole. Skipped plan entries and streams (stdin, named pipes)
stay with the indexing process: a stream can be read only once, in order.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from indexer.sources.decoding import BINARY_PROBE, looks_binary, text_stream
from indexer.sources.inputs import Input, InputFile, read_file
from indexer.sources.json_lines import read_jsonl
from indexer.sources.options import SourceDocument, SourceOptions
from indexer.summary import Skipped

PART_BYTES = 1 << 20  # ~7,000 WordNet glosses: enough work to pay for sending it to a process
# Workers left unset: below this much input, starting them costs more than they save
AUTO_MIN_BYTES = 4 * PART_BYTES
_BOM = b"\xef\xbb\xbf"  # kept inside a file (only its first line loses it): never cut before one


@dataclass(frozen=True)
class LineRange:
    """Bytes `start:end` of a JSON lines file: whole lines, the first being line `first_line`,
    `lines` of them."""

    file: InputFile
    start: int
    end: int
    first_line: int
    lines: int

    @property
    def label(self) -> str:
        return f"{self.file.label}:{self.first_line}-{self.first_line + self.lines - 1}"


Part = InputFile | LineRange


def auto_workers(plan: Sequence[Input | Skipped], cores: int) -> int:
    """Worker processes for a plan when the user chose none: one per core for AUTO_MIN_BYTES of
    files or more, else none (1: the indexing process reads everything itself)."""
    total = 0
    for item in plan:
        if isinstance(item, InputFile):
            with contextlib.suppress(OSError):  # read_file says why
                total += item.path.stat().st_size
        if total >= AUTO_MIN_BYTES:
            return cores
    return 1


def parts(plan: Sequence[Input | Skipped]) -> Iterator[Input | Skipped | LineRange]:
    """The plan with every JSON lines file over PART_BYTES cut into line ranges, in order."""
    for item in plan:
        if isinstance(item, InputFile) and item.path.suffix.lower() == ".jsonl":
            yield from _line_ranges(item)
        else:
            yield item


def _line_ranges(item: InputFile) -> Iterator[InputFile | LineRange]:
    """Ranges of about PART_BYTES of whole lines; the file itself when it is small, binary or
    unreadable (then `read_file` says why)."""
    try:
        raw = open(item.path, "rb")  # noqa: SIM115 - closed below, after the ranges are yielded
    except OSError:
        yield item
        return
    with raw:
        if looks_binary(raw.peek(BINARY_PROBE)):
            yield item
            return
        start, line, block = 0, 1, raw.read(PART_BYTES)
        if len(block) < PART_BYTES:
            yield item
            return
        while block:
            cut = _cut(block, raw)
            if cut == 0:  # one line longer than the block: read on to its end
                more = raw.read(PART_BYTES)
                if more:
                    block += more
                    continue
                cut = len(block)
            piece, block = block[:cut], block[cut:]
            lines = _lines(piece)
            yield LineRange(item, start, start + cut, line, lines)
            start, line = start + cut, line + lines
            if len(block) < PART_BYTES:
                block += raw.read(PART_BYTES)


def _cut(block: bytes, raw: io.BufferedReader) -> int:
    """Where to end a range within `block`: just after its last newline that is not followed by
    a byte-order mark (0: none). At the end of the file, the whole block."""
    if not raw.peek(1):
        return len(block)
    cut = block.rfind(b"\n") + 1
    while cut and _bom_at(block, cut, raw):
        cut = block.rfind(b"\n", 0, cut - 1) + 1
    return cut


def _bom_at(block: bytes, cut: int, raw: io.BufferedReader) -> bool:
    following = block[cut : cut + len(_BOM)]
    if len(following) < len(_BOM):
        following += raw.peek(len(_BOM))[: len(_BOM) - len(following)]
    return following == _BOM


def _lines(data: bytes) -> int:
    """Lines as a text stream counts them (newline="": \\n, \\r\\n and a lone \\r each end one)."""
    ends = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    return ends + (not data.endswith((b"\n", b"\r")))


def read_part(part: Part, options: SourceOptions) -> Iterator[SourceDocument | Skipped]:
    """The documents of a part, and a Skipped for each thing left out, in order."""
    if isinstance(part, InputFile):
        yield from read_file(part, options)
        return
    file = part.file
    try:
        with open(file.path, "rb") as raw:
            raw.seek(part.start)
            data = raw.read(part.end - part.start)
        source = str(file.path.resolve())
    except OSError as error:
        yield Skipped(part.label, "unreadable", f"unreadable ({error.strerror or error})")
        return
    handle = text_stream(io.BytesIO(data))
    yield from read_jsonl(handle, file.name, source, options, part.first_line)
