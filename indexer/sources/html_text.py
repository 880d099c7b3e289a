"""HTML as text, one rule for HTML files, e-book chapters and HTML e-mail: scripts, styles and the
head dropped, block elements on lines of their own, inline elements kept on their line."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup

_DROPPED = ["script", "style", "noscript", "template", "head", "title"]
_BLOCKS = re.compile(
    r"^(p|div|li|tr|h[1-6]|blockquote|pre|section|article|header|footer|aside|nav|table|ul|ol|dl|"
    r"dt|dd|hr|figure|figcaption|address)$"
)


def html_to_text(html: str) -> tuple[str | None, str]:
    """(title, text) of an HTML document: its <title>, else its first h1, h2 or h3 (None when it
    has neither), and its visible text."""
    soup = BeautifulSoup(html, "html.parser")
    named = soup.find("title") or soup.find(["h1", "h2", "h3"])
    title = named.get_text(" ", strip=True) if named else ""
    for tag in soup(_DROPPED):
        tag.decompose()
    for line_break in soup.find_all("br"):
        line_break.replace_with("\n")
    for block in soup.find_all(_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after("\t")
    text = soup.get_text("").replace("\xa0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n\s*\n+", "\n\n", text)
    return title or None, text.strip()
