"""Running headers and footers: the lines a paginated document repeats at the top or bottom of
its pages ("ACME Research - Internal Report", "Page 3 of 9"), which would otherwise be indexed on
every page and dominate what its chunks say.

Only the first and last EDGE non-empty lines of each page are candidates. A line counts by its
shape (digit runs as '#', spaces collapsed, lower case), so "Page 3 of 9" and "Page 4 of 9" are one
shape. A shape is a header or footer when it stands on at least SHARE of the pages with text, or of
the odd or of the even pages (books alternate left and right running heads), or when it is a bare
page number ("12", "- 12 -", "Page 3 of 9", "xii"). Documents of fewer than MIN_PAGES pages with
text are left as they are.
"""

from __future__ import annotations

import re
from collections import Counter

EDGE = 2
SHARE = 0.6
MIN_PAGES = 3
_PAGE_NUMBER = re.compile(r"^(page )?[-–— ]*(#|[ivxlcdm]+)[-–— ]*( (of|/) #)?$")


def shape(line: str) -> str:
    """What a line looks like with its numbers left out."""
    return re.sub(r"\d+", "#", " ".join(line.split())).lower()


def _edges(page: str) -> list[int]:
    """Indexes of the first and last EDGE non-empty lines of a page."""
    filled = [i for i, line in enumerate(page.split("\n")) if line.strip()]
    return sorted(set(filled[:EDGE] + filled[-EDGE:]))


def repeated_shapes(pages: list[str]) -> set[str]:
    """The shapes of the header and footer lines of `pages`."""
    with_text = [(number, page) for number, page in enumerate(pages) if page.strip()]
    if len(with_text) < MIN_PAGES:
        return set()
    counts: Counter[str] = Counter()
    by_side: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    for number, page in with_text:
        lines = page.split("\n")
        shapes = {shape(lines[i]) for i in _edges(page)}
        counts.update(shapes)
        by_side[number % 2].update(shapes)
    found = {s for s in counts if _PAGE_NUMBER.match(s)}
    found |= {s for s, n in counts.items() if n >= max(2, SHARE * len(with_text))}
    for side, counter in enumerate(by_side):
        total = sum(1 for number, _ in with_text if number % 2 == side)
        if total >= MIN_PAGES:
            found |= {s for s, n in counter.items() if n >= max(2, SHARE * total)}
    return found


def strip_repeated_lines(pages: list[str]) -> None:
    """Remove the header and footer lines from `pages`, in place (only at the pages' edges)."""
    shapes = repeated_shapes(pages)
    if not shapes:
        return
    for number, page in enumerate(pages):
        lines = page.split("\n")
        dropped = {i for i in _edges(page) if shape(lines[i]) in shapes}
        if dropped:
            pages[number] = "\n".join(line for i, line in enumerate(lines) if i not in dropped)
