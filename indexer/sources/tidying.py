"""The one whitespace rule for extracted text (document pages, HTML): line ends as LF, no spaces
or tabs before them, at most one blank line in a row, nothing blank at either end. Line by line,
so its cost is linear in the text's length however long a run of spaces is."""

from __future__ import annotations

import re

_BLANK_LINES = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """`text` under the module's rule."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", lines).strip()
