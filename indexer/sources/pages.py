"""Pages of a paginated document (PDF pages, slides): joined into one text with where each page
starts, and which pages a span of that text covers. Page numbers are 1-based and those of the
file: a page without text keeps its place."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

PAGE_BREAK = "\n\n"  # between two pages of the joined text


def join_pages(pages: Iterable[str]) -> tuple[str, list[int]]:
    """The pages as one text, a blank line between two, and the offset where each starts."""
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for text in pages:
        if starts:
            parts.append(PAGE_BREAK)
            offset += len(PAGE_BREAK)
        starts.append(offset)
        parts.append(text)
        offset += len(text)
    return "".join(parts), starts


def page_span(starts: list[int] | None, start: int, end: int) -> tuple[int | None, int | None]:
    """The first and last page of the text span start:end; (None, None) when not paginated."""
    if not starts:
        return None, None
    first = bisect_right(starts, start)
    return first, max(first, bisect_right(starts, end - 1))
