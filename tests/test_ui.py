"""The Streamlit app through streamlit.testing's AppTest, on a real store (tiny random BERT)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from indexer.collection import Collection
from indexer.settings import Settings

APP = str(Path(__file__).resolve().parents[1] / "search_ui" / "app.py")
DOCS = [
    {
        "id": "jets",
        "title": "Jet engines",
        "text": "Turbojet engines compress air and burn fuel.",
        "metadata": {"year": 1950, "lang": "en", "published": "1950-03-01"},
    },
    {
        "id": "wings",
        "title": "Wings",
        "text": "Wings generate lift from a pressure difference.",
        "metadata": {"year": 1960, "lang": "en", "published": "1960-07-15"},
    },
    {
        "id": "shocks",
        "title": "Shock waves",
        "text": "Supersonic flow forms oblique shock waves.",
        "metadata": {"year": 1970, "lang": "de", "published": "1970-01-20"},
    },
    {
        "id": "xss",
        "title": "<b>bold</b> title",
        "text": "<script>alert(1)</script> unsafe markup",
        "metadata": {"year": 1980, "lang": "en", "published": "1980-12-31"},
    },
]


@pytest.fixture(scope="module")
def ui_store(tmp_path_factory, tiny_model_dir) -> Path:
    folder = tmp_path_factory.mktemp("ui")
    source = folder / "docs.jsonl"
    source.write_text("".join(json.dumps(doc) + "\n" for doc in DOCS))
    with Collection(folder / "store", Settings(model=str(tiny_model_dir))) as collection:
        collection.add([str(source)])
    return folder / "store"


@pytest.fixture
def app(ui_store, monkeypatch) -> AppTest:
    monkeypatch.setenv("SEMSEARCH_STORE", str(ui_store))
    test = AppTest.from_file(APP, default_timeout=60)
    test.run()
    assert not test.exception
    return test


def markdown(test: AppTest) -> str:
    return "\n".join(element.value for element in test.markdown)


def search(test: AppTest, query: str, mode: str = "dense") -> AppTest:
    test.radio(key="mode").set_value(mode)
    test.text_input(key="query").input(query).run()
    assert not test.exception
    return test


def test_without_a_store_the_page_says_what_to_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SEMSEARCH_STORE", str(tmp_path / "none"))
    test = AppTest.from_file(APP, default_timeout=60).run()
    assert not test.exception
    assert "no store at" in test.error[0].value
    assert "semsearch index" in markdown(test) and "make demo" in markdown(test)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_each_mode_returns_titled_results(app, mode) -> None:
    search(app, "supersonic shock waves", mode)
    text = markdown(app)
    assert "Shock waves" in text
    if mode == "lexical":
        assert "1. Shock waves" in text
        assert (
            '<mark style="background:#fde68a;padding:0 1px;border-radius:2px">Supersonic</mark>'
            in text
        )
    if mode == "hybrid":
        assert any("dense #" in c.value and "lexical #" in c.value for c in app.caption)


def test_filter_that_matches_nothing_says_so(app) -> None:
    app.text_input(key="filter_title").input("no such title")
    search(app, "engines")
    assert app.warning[0].value == "No document matches these filters."


def test_metadata_filters_are_built_from_the_store(app) -> None:
    assert app.slider(key="filter_year").value == (1950, 1980)
    app.multiselect(key="filter_lang").set_value(["de"])
    search(app, "engines")
    assert "1. Shock waves" in markdown(app) and "Jet engines" not in markdown(app)


def test_document_view_shows_chunks_and_highlights_best(app) -> None:
    search(app, "lift", "lexical")
    app.button(key="open_1").click().run()
    assert app.sidebar.radio(key="page").value == "Document"
    text = markdown(app)
    assert "[chunk 0]</sup>" in text and "background:#fef3c7" in text
    assert "Wings generate lift" in text


def test_why_it_matched_shares_sum_to_the_score(app) -> None:
    search(app, "jet engines burn fuel")
    app.toggle(key="why_1").set_value(True).run()
    caption = next(c.value for c in app.caption if c.value.startswith("token shares sum"))
    shares, cosine, stored = map(float, re.findall(r"-?\d+\.\d+", caption))
    assert shares == cosine and abs(cosine - stored) < 2e-4
    assert "token" in app.dataframe[0].value.columns


def test_token_explorer_on_a_word_split_into_wordpieces(app) -> None:
    app.sidebar.radio(key="page").set_value("Token explorer").run()
    app.text_area(key="token_text").input("Tokenization of unbelievably long words").run()
    table = app.dataframe[0].value
    tokens = list(table["token"])
    assert (
        tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and any(t.startswith("##") for t in tokens)
    )
    assert {"start", "end", "norm", "d0"} <= set(table.columns)
    app.radio(key="token_level").set_value("word").run()
    assert list(app.dataframe[0].value["token"]) == [
        "Tokenization",
        "of",
        "unbelievably",
        "long",
        "words",
    ]
    app.checkbox(key="token_whole").check().run()
    assert f"d{31}" in app.dataframe[0].value.columns
    assert not app.exception


def test_compare_view_shows_the_pooled_cosines_of_both_poolings(app, ui_store) -> None:
    app.sidebar.radio(key="page").set_value("Compare").run()
    shown = {m.label: float(m.value) for m in app.metric}
    with Collection(ui_store) as collection:
        expected = collection.compare(
            app.text_area(key="compare_a").value, "Someone plays an instrument."
        )
    assert shown == {
        f"Pooled cosine ({pooling})": pytest.approx(cosine, abs=1e-4)
        for pooling, cosine in expected.pooled.items()
    }
    assert not app.exception


def test_index_page_shows_counts_and_last_query_scores(app) -> None:
    search(app, "wings")
    app.sidebar.radio(key="page").set_value("Index").run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Documents"] == "4" and metrics["Dimension"] == "32"
    assert any("raw cosines" in c.value for c in app.caption)
    assert not app.exception


def test_document_html_is_rendered_as_text(app) -> None:
    search(app, "unsafe markup", "lexical")
    text = markdown(app)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>" not in text
    assert "&lt;b&gt;bold&lt;/b&gt; title" in text and "<b>bold</b>" not in text
    app.button(key="open_1").click().run()
    assert "<script>" not in markdown(app) and "&lt;script&gt;" in markdown(app)


def test_date_metadata_gets_a_date_range_filter(app) -> None:
    from datetime import date

    app.date_input(key="filter_published").set_value((date(1955, 1, 1), date(1965, 12, 31)))
    search(app, "engines")
    text = markdown(app)
    assert "1. Wings" in text and "Jet engines" not in text and "Shock waves" not in text
