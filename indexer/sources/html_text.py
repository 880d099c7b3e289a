"""HTML as text, one rule for HTML files, e-book chapters and HTML e-mail: scripts, styles and the
head dropped, block elements on lines of their own, inline elements kept on their line, table
cells separated by tabs, then the whitespace rule of `tidying`.

Read in one pass over the standard library's HTML tokenizer, with the open elements on a list
(an end tag closes up to its most recent open element of that name; one that matches none is
ignored), so time and memory grow with the input's length, never with how deeply it nests."""

from __future__ import annotations

from collections import Counter
from html import unescape
from html.parser import HTMLParser

from indexer.sources.tidying import tidy

_DROPPED = frozenset({"script", "style", "noscript", "template", "head", "title"})
_BLOCKS = frozenset(
    {"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "section"}
    | {"article", "header", "footer", "aside", "nav", "table", "ul", "ol", "dl", "dt", "dd", "hr"}
    | {"figure", "figcaption", "address"}
)
_CELLS = frozenset({"td", "th"})
_HEADINGS = frozenset({"h1", "h2", "h3"})
_VOID = frozenset(  # elements without an end tag or content
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)


def html_to_text(html: str) -> tuple[str | None, str]:
    """(title, text) of an HTML document: its <title>, else its first h1, h2 or h3 (None when it
    has neither), and its visible text."""
    reader = _TextReader()
    reader.feed(html)
    reader.close()
    title = " ".join(reader.title) or " ".join(reader.heading)
    return title or None, tidy("".join(reader.parts).replace("\xa0", " "))


class _TextReader(HTMLParser):
    """The visible text of a document, and the words of its first <title> and first heading."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.heading: list[str] = []
        self._open: list[str] = []  # the open elements, innermost last
        self._counts: Counter[str] = Counter()  # open elements by name
        self._dropped = 0  # open elements whose content is not text
        self._title_at: int | None = None  # depth of the first <title> while it is open
        self._heading_at: int | None = None  # depth of the first heading while it is open
        self._title_seen = self._heading_seen = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _VOID:
            if not self._dropped and tag == "br":
                self.parts.append("\n")
            elif not self._dropped and tag in _BLOCKS:
                self.parts.append("\n\n")
            return
        if tag == "title" and not self._title_seen:
            self._title_seen, self._title_at = True, len(self._open)
        if tag in _HEADINGS and not self._heading_seen and not self._dropped:
            self._heading_seen, self._heading_at = True, len(self._open)
        self._open.append(tag)
        self._counts[tag] += 1
        if tag in _DROPPED:
            self._dropped += 1
        elif tag in _BLOCKS and not self._dropped:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if not self._counts[tag]:
            return
        while self._close() != tag:
            pass

    def _close(self) -> str:
        """Close the innermost open element; its name."""
        tag = self._open.pop()
        self._counts[tag] -= 1
        if tag in _DROPPED:
            self._dropped -= 1
        elif not self._dropped and tag in _BLOCKS:
            self.parts.append("\n")
        elif not self._dropped and tag in _CELLS:
            self.parts.append("\t")
        if self._title_at == len(self._open):
            self._title_at = None
        if self._heading_at == len(self._open):
            self._heading_at = None
        return tag

    def handle_data(self, data: str) -> None:
        if self._title_at is not None:
            self.title += data.split()
        if self._heading_at is not None and not self._dropped:
            self.heading += data.split()
        if not self._dropped:
            self.parts.append(data)

    def unknown_decl(self, data: str) -> None:
        if data.upper().startswith("CDATA["):  # text, as an HTML parser keeps it
            self.handle_data(data[len("CDATA[") :])

    def close(self) -> None:
        """The end of the document as HTML5 ends it: a tag, comment or declaration still open at
        the end is dropped, the elements still open are closed. (The standard library's own end
        re-reads the rest of the input for each "<" in it: quadratic, fixed in CPython 3.11.13.)"""
        rest, self.rawdata = self.rawdata, ""
        if rest and not rest.startswith("<") and not self.cdata_elem:
            self.handle_data(unescape(rest))  # text held back for a character reference
        super().close()
        while self._open:
            self._close()
