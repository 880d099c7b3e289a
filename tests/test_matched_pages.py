"""A hit's page is the page holding the match, not merely the first page of its chunk: a person
opening "p. 3" finds the words there."""

from __future__ import annotations

import json

from indexer.collection import Collection
from indexer.embedding.matched_pages import matched_page, query_stems
from indexer.settings import Settings
from tests import document_fixtures as make
from tests.helpers import invoke

PAGES = [
    ["Aircraft design", "An introduction to the shape of wings."],
    ["Weather", "Notes on the clouds over the field."],
    ["Engines", "The rocket nozzle walls are cooled by the fuel."],
]


def test_a_phrase_on_the_third_page_of_a_one_chunk_pdf_is_on_page_3(tmp_path, tiny_model_dir):
    (tmp_path / "papers").mkdir()
    paper = make.pdf(tmp_path / "papers" / "report.pdf", PAGES, large_title=False)
    store = str(tmp_path / "store")
    indexed = invoke("index", str(paper.parent), "--store", store, "--model", str(tiny_model_dir))
    assert indexed.exit_code == 0, indexed.output
    for mode in ("hybrid", "lexical"):
        result = invoke(
            "search", "rocket nozzle cooling", "--store", store, "--mode", mode, "--json"
        )
        hit = json.loads(result.stdout)[0]
        assert (hit["page"], hit["first_page"], hit["last_page"]) == (3, 1, 3), mode
    table = invoke("search", "rocket nozzle cooling", "--store", store)
    assert "p. 3" in table.stdout
    with Collection(tmp_path / "store", Settings(model=str(tiny_model_dir))) as collection:
        hit = collection.search("the clouds", mode="dense")[0]
        assert hit.page == 2 and hit.page_label == "p. 2"  # "the" says nothing; "clouds" does


def test_without_a_word_in_common_the_page_with_most_of_the_cosine_wins() -> None:
    from indexer.embedding.views import Explanation

    text = "alpha beta gamma delta"
    shares = Explanation(
        ["a", "b", "g", "d"], [(0, 5), (6, 10), (11, 16), (17, 22)], [0.1, 0.1, 0.5, 0.2], 0.9
    )
    assert matched_page("zzz", text, 100, [0, 50, 111], lambda: shares) == 3
    assert matched_page("zzz", text, 100, [0, 50, 111], None) == 2  # no cosine: the first page
    assert query_stems("How do the wings work?") == ["do", "wing", "work"]
