"""Function words: words that carry no topic (the, of, which...). One list for everything that
sets them aside: the words a full-text query ranks by, the words a result marks, the page a hit
opens on, a concordance's distinctive neighbours."""

from __future__ import annotations

FUNCTION_WORDS = frozenset(
    "a an and are as at be by for from has have how i in into is it its of on or that the "  # noqa: SIM905
    "their this to was were what when where which who why with".split()
)
