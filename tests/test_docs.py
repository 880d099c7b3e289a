"""The documentation holds together: every relative link in README.md and docs/*.md reaches an
existing file and heading, every docs page is linked from the README, and the README stays short
enough to read in five minutes."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

from bench import run as bench_run

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250
PARSER = MarkdownIt("commonmark").enable("table")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    kept = "".join(c for c in heading.lower() if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings (a repeated one gets -1, -2, ...)."""
    tokens = PARSER.parse(page.read_text())
    seen: Counter[str] = Counter()
    found = set()
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type != "heading_open":
            continue
        text = "".join(c.content for c in inline.children if c.type in ("text", "code_inline"))
        base = slug(text)
        found.add(base if not seen[base] else f"{base}-{seen[base]}")
        seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    """Every link and image target in the page, code blocks and code spans excluded."""
    targets = []
    for token in PARSER.parse(page.read_text()):
        for child in token.children or []:
            if child.type == "link_open":
                targets.append(child.attrs["href"])
            elif child.type == "image":
                targets.append(child.attrs["src"])
    return targets


def relative(target: str) -> bool:
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_reaches_a_file_and_heading(page: Path) -> None:
    checked = [t for t in links(page) if relative(t)]
    for target in checked:
        parts = urlsplit(target)
        path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        assert path.exists(), f"{page.name}: link {target!r}: no file {path}"
        if parts.fragment:
            assert path.suffix == ".md", f"{page.name}: link {target!r}: anchor into a non-page"
            assert unquote(parts.fragment) in anchors(path), (
                f"{page.name}: link {target!r}: {path.name} has no heading with that anchor"
            )


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / urlsplit(t).path).resolve() for t in links(README) if relative(t)}
    unlinked = [p.name for p in PAGES[1:] if p not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_readme_is_short_enough_to_read_in_five_minutes() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"


def test_performance_page_shows_the_latest_bench_results() -> None:
    page = (ROOT / "docs" / "performance.md").read_text()
    shown = re.search(r"<!-- bench:start -->\n(.*?)<!-- bench:end -->", page, re.S)
    assert shown, "docs/performance.md lost its bench markers"
    latest = json.loads((bench_run.RESULTS / "latest.json").read_text())
    assert shown.group(1) == bench_run.markdown(latest), (
        "docs/performance.md differs from bench/results/latest.json: "
        "run `python -m bench.run --render --docs`"
    )


def test_slug_follows_github() -> None:
    assert slug("The store's invariants") == "the-stores-invariants"
    assert slug("12. CPU runtimes: ONNX Runtime fp32 / int8, torch") == (
        "12-cpu-runtimes-onnx-runtime-fp32--int8-torch"
    )
    assert slug("Concordance: a word's senses across the store") == (
        "concordance-a-words-senses-across-the-store"
    )


def test_link_check_numbers_repeated_headings_and_skips_code(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title `x`\n\n## Same\n\n## Same\n\n[a](#same-1) [b](#missing) `[c](#code)`\n\n"
        "```\n# not a heading [d](#block)\n```\n"
    )
    assert anchors(page) == {"title-x", "same", "same-1"}
    assert links(page) == ["#same-1", "#missing"]
