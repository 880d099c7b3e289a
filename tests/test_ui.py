"""The Streamlit app through streamlit.testing's AppTest, on a real store (tiny random BERT)."""

from __future__ import annotations

import html
import json
import os
import re
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from indexer.collection import Collection
from indexer.settings import Settings
from search_ui import loading
from search_ui.charts import QUERY_COLOUR
from search_ui.render import BEST_STYLE, MARK_STYLE, PAGE_STYLE
from tests import document_fixtures as make
from tests.helpers import UI_DOCS as DOCS

APP = str(Path(__file__).resolve().parents[1] / "search_ui" / "app.py")


@pytest.fixture(scope="module")
def ui_store(tmp_path_factory, tiny_model_dir) -> Path:
    folder = tmp_path_factory.mktemp("ui")
    source = folder / "docs.jsonl"
    source.write_text("".join(json.dumps(doc) + "\n" for doc in DOCS))
    with Collection(folder / "store", Settings(model=str(tiny_model_dir))) as collection:
        collection.add([str(source)])
    return folder / "store"


def session(store: Path, monkeypatch, params: dict[str, str] | None = None) -> AppTest:
    """A new browser session on `store`, opened on a URL with `params`, once the server has
    loaded the store and its model (before that a first visit shows the loading page)."""
    monkeypatch.setenv("SEMSEARCH_STORE", str(store))
    assert loading.loader(store.resolve(), None).done.wait(120)
    test = AppTest.from_file(APP, default_timeout=60)
    test.query_params.update(params or {})
    test.run()
    assert not test.exception
    return test


@pytest.fixture
def app(ui_store, monkeypatch) -> AppTest:
    return session(ui_store, monkeypatch)


def markdown(test: AppTest) -> str:
    """Everything the page shows as Markdown or HTML."""
    return "\n".join(element.value for element in [*test.markdown, *test.get("html")])


def markdown_only(test: AppTest) -> str:
    """What the page passes through Markdown: never document text."""
    return "\n".join(element.value for element in test.markdown)


def search(test: AppTest, query: str, mode: str = "dense") -> AppTest:
    test.radio(key="mode").set_value(mode)
    test.text_input(key="query").input(query).run()
    assert not test.exception
    return test


def test_without_a_store_the_page_says_what_to_run(tmp_path, monkeypatch) -> None:
    test = session(tmp_path / "none", monkeypatch)
    assert "no store at" in test.error[0].value
    assert "semsearch index" in markdown(test) and "make demo" in markdown(test)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_each_mode_returns_titled_results(app, mode) -> None:
    search(app, "supersonic shock waves", mode)
    text = markdown(app)
    assert "Shock waves" in text
    if mode == "lexical":
        assert "1. Shock waves" in text
        assert f'<mark style="{MARK_STYLE}">Supersonic</mark>' in text
    if mode == "hybrid":
        assert "dense #" in text and "lexical #" in text


def test_filter_that_matches_nothing_says_so(app) -> None:
    app.text_input(key="filter_title").input("no such title")
    search(app, "engines")
    assert app.warning[0].value == "No document matches these filters."


def test_metadata_filters_are_built_from_the_store(app) -> None:
    assert app.select_slider(key="filter_meta.year").value == (1950, 1980)
    app.multiselect(key="filter_meta.lang").set_value(["de"])
    search(app, "engines")
    assert "1. Shock waves" in markdown(app) and "Jet engines" not in markdown(app)


def test_document_view_shows_chunks_and_highlights_best(app) -> None:
    search(app, "lift", "lexical")
    app.button(key="open_1").click().run()
    assert app.sidebar.radio(key="page").value == "Document"
    text = markdown(app)
    assert "[chunk 0]</sup>" in text and BEST_STYLE in text
    assert "Wings generate lift" in text
    assert any("scrollIntoView" in element.value for element in app.get("html"))


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
    assert metrics["Documents"] == str(len(DOCS)) and metrics["Dimension"] == "32"
    assert any("raw cosines" in c.value for c in app.caption)
    assert not app.exception


def test_document_html_is_rendered_as_text(app) -> None:
    search(app, "unsafe markup", "lexical")
    text = markdown(app)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert" not in text
    assert "&lt;b&gt;bold&lt;/b&gt; title" in text and "<b>bold</b>" not in text
    app.button(key="open_1").click().run()
    assert "<script>alert" not in markdown(app) and "&lt;script&gt;alert" in markdown(app)


def test_date_metadata_gets_a_date_range_filter(app) -> None:
    from datetime import date

    app.date_input(key="filter_meta.published").set_value((date(1955, 1, 1), date(1965, 12, 31)))
    search(app, "engines")
    text = markdown(app)
    assert "1. Wings" in text and "Jet engines" not in text and "Shock waves" not in text


def test_document_text_is_inert_everywhere_and_the_best_chunk_wholly_marked(app, ui_store) -> None:
    search(app, "indented heading", "lexical")
    assert "Heading" not in markdown_only(app) and "indented" not in markdown_only(app)
    app.button(key="open_1").click().run()
    assert "filler" not in markdown_only(app)  # no document text goes through Markdown
    body = next(e.value for e in app.get("html") if "[chunk 0]" in e.value)
    assert "# Heading\n\n    indented &#x27;code&#x27; &amp; &lt;tags&gt;" in body
    assert "![pixel](http://127.0.0.1:9/pixel.png) &lt;img src=" in body
    assert "<img" not in body and "<h1" not in body and "<strong" not in body
    with Collection(ui_store) as collection:
        document = collection.document("markdown")
    best = document.chunks[app.session_state["doc_chunk"]]
    marked = re.findall(rf'<span style="{re.escape(BEST_STYLE)}[^"]*">(.*?)</span>', body, re.S)
    chunk_text = document.text[best.start : best.end]
    assert html.unescape("".join(marked)) == chunk_text  # across its blank lines


def test_a_metadata_key_named_like_a_built_in_field_is_filterable(app, ui_store) -> None:
    app.multiselect(key="filter_meta.source").set_value(["1958 report"])
    search(app, "notes")
    assert "1. Markdown notes" in markdown(app) and "2. " not in markdown(app)
    with Collection(ui_store) as collection:
        hits = collection.search("notes", filters=["metadata.source~1958"])
        assert [hit.doc_id for hit in hits] == ["markdown"]
        assert collection.search("notes", filters=["source~1958"]) == []  # the file path


def test_active_filters_show_with_counts_and_can_be_removed(app) -> None:
    app.multiselect(key="filter_meta.lang").set_value(["en"])
    search(app, "engines", "lexical")
    assert any(c.value.startswith("1 of 4 documents matching the filters") for c in app.caption)
    assert app.multiselect(key="filter_meta.lang").options == ["en (4)", "de (1)"]
    clear = app.button(key="clear_filter_meta.lang")
    assert clear.label == "✕ lang: en"
    clear.click().run()
    assert app.multiselect(key="filter_meta.lang").value == []
    assert not [b for b in app.button if b.key and b.key.startswith("clear_")]


def test_the_url_keeps_query_mode_filters_page_and_document(ui_store, monkeypatch) -> None:
    first = session(ui_store, monkeypatch)
    first.multiselect(key="filter_meta.lang").set_value(["de"])
    search(first, "supersonic", "lexical")
    first.button(key="open_1").click().run()
    shared = dict(first.query_params)
    assert shared["q"] == ["supersonic"] or shared["q"] == "supersonic"

    reloaded = session(  # a new session opened on that URL
        ui_store,
        monkeypatch,
        {key: value[0] if isinstance(value, list) else value for key, value in shared.items()},
    )
    assert reloaded.sidebar.radio(key="page").value == "Document"
    assert reloaded.text_input(key="doc_input").value == "shocks"
    reloaded.sidebar.radio(key="page").set_value("Search").run()
    assert reloaded.text_input(key="query").value == "supersonic"
    assert reloaded.radio(key="mode").value == "lexical"
    assert reloaded.multiselect(key="filter_meta.lang").value == ["de"]
    assert "1. Shock waves" in markdown(reloaded)


def test_open_explanations_are_not_recomputed_on_a_rerun(app, monkeypatch) -> None:
    calls = []
    original = Collection.explain

    def counted(self, query, hit):
        calls.append(query)
        return original(self, query, hit)

    monkeypatch.setattr(Collection, "explain", counted)
    search(app, "why these five explanations")
    for rank in range(1, 6):
        app.toggle(key=f"why_{rank}").set_value(True)
    app.run()
    assert len(calls) == 5
    app.number_input(key="k").set_value(5).run()  # a rerun that changes nothing explained
    app.sidebar.radio(key="page").set_value("Index").run()
    app.sidebar.radio(key="page").set_value("Search").run()
    assert len(calls) == 5 and not app.exception


def test_token_explorer_says_when_empty_windows_long_text_and_caches(app, monkeypatch) -> None:
    calls = []
    original = Collection.tokens
    monkeypatch.setattr(
        Collection,
        "tokens",
        lambda self, text, layer=None: calls.append(text) or original(self, text, layer),
    )
    app.sidebar.radio(key="page").set_value("Token explorer").run()
    app.text_area(key="token_text").input("   ").run()
    assert any("Type some text" in info.value for info in app.info)
    words = " ".join(f"word{i}" for i in range(40))
    app.text_area(key="token_text").input(words).run()
    assert app.slider(key="token_from").max > 0  # more wordpieces than one map shows
    app.slider(key="token_dims").set_value(16).run()
    app.slider(key="token_from").set_value(10).run()
    assert calls.count(words) == 1 and not app.exception


def test_queries_with_no_answer_take_each_word_from_another_document() -> None:
    from indexer.probes import no_answer_queries, share_below

    texts = ["apple banana cherry", "delta echo foxtrot", "golf hotel india", "juliet kilo lima"]
    document_of = {word: n for n, text in enumerate(texts) for word in text.split()}
    queries = no_answer_queries(texts, 50)
    assert len(queries) == 50 and len(set(queries)) > 25
    for query in queries:
        words = query.split()
        assert 2 <= len(words) <= 4 and len({document_of[w] for w in words}) == len(words)
    reference = sorted(0.5 + 0.01 * i for i in range(40))
    assert share_below(0.31, reference) == 0.0
    assert share_below(0.70, reference) == 0.5
    assert share_below(0.99, reference) == 1.0


def test_map_colours_any_field_and_shows_the_query_and_its_hits(app) -> None:
    from search_ui.views.index import COLOUR_TOP, colour_groups

    years = colour_groups(list(range(1900, 2000)), "year")
    assert len(set(years.groups)) == 5 and years.groups[0] == "1900 – 1920"
    assert years.groups[-1].endswith("1999") and years.sequential
    skewed = colour_groups([1] * 40 + [2, 3] * 20 + list(range(4, 300)), "lines")
    lows = [float(label.split(" – ")[0]) for label in skewed.order]
    assert lows == sorted(lows) and len(lows) >= 3  # the legend in numeric order
    words = colour_groups([f"w{i % 20}" for i in range(100)] + [None], "word")
    assert not words.sequential and set(words.groups) == set(words.order)
    assert len(words.order) == COLOUR_TOP + 2 and words.order[-2:] == ["(other)", "(none)"]
    search(app, "wings")
    app.sidebar.radio(key="page").set_value("Index").run()
    app.selectbox(key="map_colour").set_value("year").run()
    assert not app.exception
    import pyarrow as pa

    chart = app.get("vega_lite_chart")[-1].proto
    roles = {
        role
        for dataset in chart.datasets
        for role in pa.ipc.open_stream(dataset.data.data).read_all().column("role").to_pylist()
    }
    assert roles == {"document", "hit", "query"}
    documents, last_query, _ = json.loads(chart.spec)["layer"]
    colours = documents["encoding"]["color"]["scale"]
    lows = [float(label.split(" – ")[0]) for label in colours["domain"]]
    assert lows == sorted(lows) and len(lows) > 2
    assert QUERY_COLOUR not in colours["range"]  # the query's colour is no group's
    assert last_query["encoding"]["shape"]["legend"] is not None  # the query is in a legend
    app.text_input(key="map_find").input("WING").run()
    assert any(c.value.startswith("1 of the 5 documents on the map match") for c in app.caption)


def test_a_picked_map_document_lists_its_nearest_documents() -> None:
    import numpy as np

    from search_ui.views.index import neighbours

    class Shown:
        def __init__(self) -> None:
            self.buttons: list[str] = []

        def caption(self, text: str) -> None:
            pass

        def button(self, label: str, **_: object) -> None:
            self.buttons.append(label)

    sample = [{"id": name, "title": name.upper()} for name in ("a", "b", "c")]
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    shown = Shown()
    neighbours(shown, sample, vectors, "a")
    assert [label.split(" · ")[0] for label in shown.buttons] == ["C", "B"]


@pytest.mark.parametrize(
    ("params", "widget", "expected"),
    [
        ({"q": "jet", "f.meta.year": "[0,5]"}, "filter_meta.year", (1950, 1980)),
        ({"q": "jet", "f.meta.year": "[1955,99999]"}, "filter_meta.year", (1955, 1980)),
        ({"q": "jet", "f.meta.year": "[1e400,2]"}, "filter_meta.year", (1950, 1980)),
        (
            {"q": "jet", "f.meta.year": '{"dates": ["1960-01-01", "1961-01-01"]}'},
            "filter_meta.year",
            (1950, 1980),
        ),
        (
            {"q": "jet", "f.meta.published": '{"dates": ["1800-01-01", "1801-01-01"]}'},
            "filter_meta.published",
            None,
        ),
        ({"q": "jet", "f.meta.lang": '["en", "klingon"]'}, "filter_meta.lang", ["en"]),
    ],
)
def test_a_link_whose_filters_do_not_fit_the_store_is_fitted_with_a_notice(
    ui_store, monkeypatch, params, widget, expected
) -> None:
    test = session(ui_store, monkeypatch, params)
    assert any("did not fit this store" in notice.value for notice in test.info), test.info
    if widget == "filter_meta.published":  # cleared to the store's own range
        dates = test.date_input(key=widget)
        assert tuple(dates.value) == (dates.min, dates.max)
    elif widget == "filter_meta.lang":
        assert test.multiselect(key=widget).value == expected
    else:
        assert tuple(test.select_slider(key=widget).value) == expected


def test_a_link_to_a_chunk_or_k_that_does_not_exist_opens_with_a_notice(
    ui_store, monkeypatch
) -> None:
    test = session(ui_store, monkeypatch, {"page": "Token explorer", "doc": "jets", "chunk": "999"})
    test.radio(key="token_source").set_value("chunk").run()
    assert not test.exception
    assert any("has no chunk 999" in notice.value for notice in test.info)
    many = session(ui_store, monkeypatch, {"q": "jet", "k": "100000"})
    assert many.number_input(key="k").value == 200
    assert any("showing 200" in notice.value for notice in many.info)


def test_the_query_box_and_controls_are_drawn_before_the_search_runs(ui_store, monkeypatch):
    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the search failed")

    monkeypatch.setenv("SEMSEARCH_STORE", str(ui_store))
    assert loading.loader(ui_store.resolve(), None).done.wait(120)
    monkeypatch.setattr(Collection, "search", failing)
    test = AppTest.from_file(APP, default_timeout=60)
    test.query_params.update({"q": "jet", "k": "200", "mode": "lexical"})
    test.run()
    assert "the search failed" in test.exception[0].value  # the search ran after these:
    assert test.text_input(key="query").value == "jet"
    assert test.number_input(key="k").value == 200 and test.radio(key="mode").value == "lexical"


def url_of(test: AppTest) -> dict[str, str]:
    """The query string the app wrote, as a browser would reload it."""
    return {k: v[0] if isinstance(v, list) else v for k, v in dict(test.query_params).items()}


def test_filters_stay_in_the_url_of_a_document_view_across_reloads(ui_store, monkeypatch) -> None:
    shared = {"q": "supersonic", "page": "Document", "doc": "shocks", "f.meta.lang": '["de"]'}
    view = session(ui_store, monkeypatch, shared)
    for _ in range(2):  # reload, twice
        assert url_of(view)["f.meta.lang"] == '["de"]'
        view = session(ui_store, monkeypatch, url_of(view))
        assert view.text_input(key="doc_input").value == "shocks"
    view.sidebar.radio(key="page").set_value("Search").run()
    assert view.multiselect(key="filter_meta.lang").value == ["de"]
    assert "1. Shock waves" in markdown(view) and "Jet engines" not in markdown(view)


def test_hybrid_is_the_default_mode_of_the_page_and_the_facade(app) -> None:
    import inspect

    from indexer.settings import MODE

    assert MODE == "hybrid" and app.radio(key="mode").value == MODE
    assert inspect.signature(Collection.search).parameters["mode"].default == MODE


LONG_TEXT = " ".join(f"word{i}" for i in range(400))  # more wordpieces than one window holds


def test_long_texts_are_shown_window_by_window_in_tokens_and_compare(app) -> None:
    app.sidebar.radio(key="page").set_value("Token explorer").run()
    app.text_area(key="token_text").input(LONG_TEXT).run()
    windows = app.selectbox(key="token_window")
    assert len(windows.options) > 1 and not app.error and not app.exception
    first = list(app.dataframe[0].value["token"])
    windows.set_value(1).run()
    assert list(app.dataframe[0].value["token"]) != first and not app.error
    app.sidebar.radio(key="page").set_value("Compare").run()
    app.text_area(key="compare_a").input(LONG_TEXT).run()
    assert len(app.selectbox(key="compare_window_a").options) > 1
    app.selectbox(key="compare_window_a").set_value(1).run()
    assert not app.error and not app.exception and len(app.metric) == 2


def chart_titles(test: AppTest) -> list[str]:
    titles = []
    for chart in test.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title") or spec.get("layer", [{}])[0].get("title") or {}  # or layered
        titles.append(title if isinstance(title, str) else title.get("text", ""))
    return titles


def test_the_index_page_shows_the_last_query_even_a_lexical_one(app) -> None:
    search(app, "wings", "hybrid")
    search(app, "supersonic flow", "lexical")
    app.sidebar.radio(key="page").set_value("Index").run()
    assert any("“supersonic flow” (lexical)" in title for title in chart_titles(app))
    assert not any("wings" in title for title in chart_titles(app))


def test_token_heatmaps_give_each_row_label_a_row_and_pca_labels_do_not_overlap(app) -> None:
    from search_ui.charts import ROW_PX, spaced_labels

    app.sidebar.radio(key="page").set_value("Token explorer").run()
    app.text_area(key="token_text").input(" ".join(f"term{i}" for i in range(30))).run()
    tokens = len(app.dataframe[0].value)
    specs = [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")]
    cosines = next(s for s in specs if (s.get("title") or {}).get("text") == "token × token cosine")
    assert cosines["encoding"]["y"]["axis"]["labelOverlap"] is False
    assert cosines["encoding"]["x"]["axis"]["labelOverlap"] == "greedy"  # thinned if crowded
    assert cosines["width"] == "container" and cosines["height"] == {"step": ROW_PX}
    assert len(cosines["encoding"]["x"]["axis"]["values"]) == tokens
    import numpy as np

    crowded = np.array([[0.0, 0.0], [0.001, 0.0], [1.0, 1.0]])
    assert spaced_labels(crowded, ["alpha", "alphb", "far"]) == [True, False, True]


def test_a_page_switch_hides_the_previous_page_while_the_new_one_draws(app) -> None:
    from search_ui.render import HIDE_STALE

    def hides(test: AppTest) -> bool:
        return any(element.value == HIDE_STALE for element in test.get("html"))

    app.sidebar.radio(key="page").set_value("Compare").run()
    assert hides(app)
    app.text_area(key="compare_b").input("Someone plays a cello.").run()  # the same page
    assert not hides(app)


def test_a_skewed_numeric_field_is_filtered_on_a_quantile_scale(
    tmp_path, tiny_model_dir, monkeypatch
):
    lines = [1] * 30 + [2] * 20 + list(range(3, 40)) + [800, 1532]
    with Collection(tmp_path / "store", Settings(model=str(tiny_model_dir))) as collection:
        collection.add_records(
            [
                {"id": f"d{n}", "text": f"document {n}", "metadata": {"lines": v}}
                for n, v in enumerate(lines)
            ]
        )
    test = session(tmp_path / "store", monkeypatch)
    slider = test.select_slider(key="filter_meta.lines")
    steps = [float(option.replace(",", "")) for option in slider.options]
    assert steps[0] == 1 and steps[-1] == 1532
    assert sum(step <= 39 for step in steps) > 0.9 * len(steps)  # small ranges can be picked
    slider.set_range(1, 2).run()
    test.text_input(key="query").input("document").run()
    assert any(
        c.value.startswith(
            f"the 10 closest of {lines.count(1) + lines.count(2)} documents matching"
        )
        for c in test.caption
    )


def test_a_hybrid_hit_shows_each_rankings_rank_and_the_exact_scores_on_hover() -> None:
    from search_ui.render import hit_heading
    from store.results import Hit

    hit = Hit(
        "d",
        0.03,
        1,
        parts={"dense": {"rank": 2, "score": 0.5}, "lexical": {"rank": 8, "score": 1.2e-6}},
    )
    heading = hit_heading(1, hit, fused=True, link="?doc=d")
    assert "dense #2 · lexical #8 · d" in heading and "lexical: rank 8, score 1.2e-06" in heading
    lexical = Hit("d", 15.4, 1, parts={"lexical": {"rank": 1, "score": 15.4}})
    assert "BM25 15.4 · d</span>" in hit_heading(1, lexical, fused=False, link="?doc=d")


def test_revisiting_the_token_explorer_logs_no_widget_warning(app, caplog, monkeypatch) -> None:
    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    for page in ("Token explorer", "Compare", "Token explorer", "Index", "Token explorer"):
        app.sidebar.radio(key="page").set_value(page).run()
    app.slider(key="token_dims").set_value(16).run()
    app.sidebar.radio(key="page").set_value("Index").run()
    app.sidebar.radio(key="page").set_value("Token explorer").run()
    assert not app.exception
    assert "created with a default value" not in caplog.text


def app_store(test: AppTest) -> Path:
    return Path(os.environ["SEMSEARCH_STORE"])


def test_the_page_says_what_is_searched_and_offers_example_queries(app) -> None:
    from indexer.settings import FALLBACK_MODEL
    from search_ui.context import model_description
    from store.recipe import Recipe

    about = app.caption[0].value
    assert about.startswith(f"{len(DOCS)} documents from `") and "docs.jsonl" in about
    examples = [b for b in app.button if b.key and b.key.startswith("example_")]
    assert examples
    examples[0].click().run()
    assert app.text_input(key="query").value == examples[0].label and "1. " in markdown(app)
    fallback = Recipe(FALLBACK_MODEL, "f" * 16, 384, "mean", 256, 32)
    assert "the offline fallback" in model_description(fallback)
    assert "offline fallback" not in about  # the tiny test model is named as it is
    assert about.endswith(model_description(Collection(app_store(app)).recipe))


@pytest.mark.parametrize(("share", "warned"), [(0.1, True), (0.9, False)])
def test_the_weak_match_warning_shows_only_below_the_threshold(app, monkeypatch, share, warned):
    from indexer.settings import WEAK_MATCH

    monkeypatch.setattr(Collection, "match_strength", lambda self, score: share)
    search(app, "jet engines", "hybrid")
    assert bool(app.warning) is warned and (share < WEAK_MATCH) is warned
    said = (
        app.warning[0].value if warned else next(c.value for c in app.caption if "of 5" in c.value)
    )
    assert f"is closer than the best result of {share:.0%} of made-up queries" in said


def test_concordance_page_groups_escaped_context_lines_that_open_their_document(app) -> None:
    app.sidebar.radio(key="page").set_value("Concordance").run()
    hint = next(info.value for info in app.info if "Type a word" in info.value)
    suggested = hint.split("e.g. ")[1].rstrip(".")  # a word of this store, not "bank"
    assert any(suggested in f"{doc['title']} {doc['text']}".lower() for doc in DOCS)
    app.text_input(key="concordance_word").input("UNSAFE").run()
    assert not app.exception
    assert [s.value for s in app.subheader] == ["Group 1 · 1 occurrences"]
    line = next(e.value for e in app.get("html") if "<mark" in e.value)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; " in line and "<script>" not in line
    assert ">unsafe</mark>" in line and "> markup</span>" in line
    assert "&lt;script&gt;" not in markdown_only(app) and "<script>" not in markdown(app)
    app.button(key="kwic_0_0").click().run()
    assert app.sidebar.radio(key="page").value == "Document"
    assert app.text_input(key="doc_input").value == "xss"


def test_a_concordance_link_opens_the_word_and_back_to_search_forgets_it(
    ui_store, monkeypatch
) -> None:
    first = session(ui_store, monkeypatch)
    first.sidebar.radio(key="page").set_value("Concordance").run()
    first.text_input(key="concordance_word").input("UNSAFE").run()
    shared = {k: v[0] if isinstance(v, list) else v for k, v in first.query_params.items()}
    assert shared["word"] == "UNSAFE" and shared["page"] == "Concordance"
    opened = session(ui_store, monkeypatch, shared)
    assert opened.text_input(key="concordance_word").value == "UNSAFE"
    assert [s.value for s in opened.subheader] == ["Group 1 · 1 occurrences"]
    opened.query_params.clear()  # Back to the first visit's URL
    opened.run()
    assert opened.sidebar.radio(key="page").value == "Search"
    assert opened.session_state["concordance_word"] == ""


def test_a_concordance_link_with_two_words_says_so_and_nothing_breaks(ui_store, monkeypatch):
    opened = session(ui_store, monkeypatch, {"page": "Concordance", "word": "two words"})
    assert "one word" in opened.error[0].value and not opened.exception


def test_concordance_page_says_when_the_model_weights_cannot_load(app, monkeypatch) -> None:
    from indexer.embedding.model import ModelLoadError

    def failing(self) -> int:
        raise ModelLoadError("/models/tiny: cannot load the model's weights (no such file)")

    monkeypatch.setattr(Collection, "layer_count", property(failing))
    app.sidebar.radio(key="page").set_value("Concordance").run()
    assert "cannot load the model's weights" in app.error[0].value and not app.exception


def test_concordance_page_says_when_the_word_is_absent_or_not_one_word(app) -> None:
    app.sidebar.radio(key="page").set_value("Concordance").run()
    app.text_input(key="concordance_word").input("zeppelin").run()
    assert "does not occur" in app.warning[0].value
    app.text_input(key="concordance_word").input("two words").run()
    assert "one word" in app.error[0].value and not app.exception


def test_token_explorer_shows_any_layer_a_trajectory_and_attention_on_request(
    app, monkeypatch
) -> None:
    calls = []
    original = Collection.attention
    monkeypatch.setattr(
        Collection, "attention", lambda self, text: calls.append(text) or original(self, text)
    )
    app.sidebar.radio(key="page").set_value("Token explorer").run()
    last = app.dataframe[0].value["d0"].tolist()
    assert any("(layer 2)" in c.value for c in app.caption)
    app.select_slider(key="token_layer").set_value(0).run()
    assert any("(layer 0)" in c.value for c in app.caption)
    assert app.dataframe[0].value["d0"].tolist() != last
    charts_before = len(app.get("vega_lite_chart"))
    assert calls == []  # no attention pass until asked
    app.toggle(key="token_attention").set_value(True).run()
    app.selectbox(key="token_att_head").set_value(2).run()
    assert len(calls) == 1 and len(app.get("vega_lite_chart")) == charts_before + 2
    assert not app.exception


def test_index_page_shows_the_measured_recall(app) -> None:
    app.sidebar.radio(key="page").set_value("Index").run()
    table = app.table[0].value
    row = table[table.iloc[:, 0] == "recall (measured)"]
    assert row.iloc[0, 1] == "recall@10 1.0 (flat: exact by construction)"


@pytest.fixture(scope="module")
def pdf_store(tmp_path_factory, tiny_model_dir) -> Path:
    """A store of one three-page PDF, in windows shorter than its pages."""
    folder = tmp_path_factory.mktemp("pdf-ui")
    report = make.pdf(folder / "report.pdf")
    settings = Settings(model=str(tiny_model_dir), chunk_tokens=48, overlap=8)
    with Collection(folder / "store", settings, quiet=True) as collection:
        collection.add([str(report)])
    return folder / "store"


def test_a_hit_in_a_pdf_names_its_page_and_the_document_marks_each_page(
    pdf_store, monkeypatch
) -> None:
    test = session(pdf_store, monkeypatch)
    search(test, make.PAGE_THREE, "lexical")
    assert "report.pdf · p. 3</span>" in markdown(test)
    test.button(key="open_1").click().run()
    text = markdown(test)
    for number in (1, 2, 3):
        assert f'<span style="{PAGE_STYLE}">p. {number}</span>' in text
    assert text.index(">p. 3</span>") < text.index(make.PAGE_THREE)
    assert any(caption.value.startswith("3 pages · ") for caption in test.caption)


def test_a_missing_store_is_tried_again_only_once_its_folder_changes(tmp_path) -> None:
    path = (tmp_path / "later").resolve()
    first = loading.loader(path, None)
    assert first.done.wait(60) and "no store at" in first.store_error
    assert loading.loader(path, None) is first  # every rerun: no new attempt, no loading page
    path.mkdir()
    (path / "store.db").write_bytes(b"")
    assert loading.loader(path, None) is not first


def test_after_a_start_from_the_cache_the_layer_views_weights_load_in_the_background(
    tmp_path, tiny_model_dir
) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(doc) + "\n" for doc in DOCS[:2]))
    with Collection(tmp_path / "store", Settings(model=str(tiny_model_dir))) as collection:
        collection.add([str(source)])  # the model's facts and graph are cached from here on
    path = (tmp_path / "store").resolve()
    loader = loading.loader(path, None)
    assert loader.done.wait(120) and loader.model_error is None
    for thread in threading.enumerate():
        if thread.name == f"load {path}":
            thread.join(120)  # the loading thread goes on after the first search is possible
    assert loader.collection.embedder.loaded._model is not None, "the torch weights are loaded"


def test_the_trajectory_token_follows_a_text_that_gets_shorter(app) -> None:
    app.sidebar.radio(key="page").set_value("Token explorer").run()
    app.text_area(key="token_text").input(" ".join(f"word{i}" for i in range(30))).run()
    app.selectbox(key="token_position").set_value(40).run()
    app.text_area(key="token_text").input("short").run()
    assert not app.exception and app.selectbox(key="token_position").value == 1


def test_a_second_concordance_word_and_back_from_its_document_draw_without_error(app) -> None:
    app.sidebar.radio(key="page").set_value("Concordance").run()
    app.text_input(key="concordance_word").input("unsafe").run()
    app.text_input(key="concordance_word").input("markup").run()
    assert not app.exception and [s.value for s in app.subheader] == ["Group 1 · 1 occurrences"]
    concordance_url = dict(app.query_params)
    app.button(key="kwic_0_0").click().run()
    assert not app.exception and app.text_input(key="doc_input").value == "xss"
    app.query_params.clear()  # Back to the Concordance page's URL
    app.query_params.update(
        {k: v[0] if isinstance(v, list) else v for k, v in concordance_url.items()}
    )
    app.run()
    assert not app.exception and app.sidebar.radio(key="page").value == "Concordance"
    assert [s.value for s in app.subheader] == ["Group 1 · 1 occurrences"]


@pytest.mark.parametrize("name", ["k", "chunk"])
def test_a_link_with_a_unicode_digit_opens_with_a_notice(ui_store, monkeypatch, name) -> None:
    test = session(ui_store, monkeypatch, {"page": "Document", "doc": "jets", name: "²"})
    assert any("is not a whole number" in notice.value for notice in test.info)
    assert test.text_input(key="doc_input").value == "jets"


def test_a_link_with_an_unknown_mode_says_it_is_ignored(ui_store, monkeypatch) -> None:
    test = session(ui_store, monkeypatch, {"q": "jet", "mode": "fuzzy"})
    assert any("mode 'fuzzy' is not one of" in notice.value for notice in test.info)
    assert test.radio(key="mode").value == "hybrid"


def test_the_url_carries_the_token_explorer_and_compare_texts(ui_store, monkeypatch) -> None:
    first = session(ui_store, monkeypatch)
    first.sidebar.radio(key="page").set_value("Token explorer").run()
    first.text_area(key="token_text").input("A river bank").run()
    shared = {k: v[0] if isinstance(v, list) else v for k, v in first.query_params.items()}
    assert shared["text"] == "A river bank"
    opened = session(ui_store, monkeypatch, shared)
    assert opened.text_area(key="token_text").value == "A river bank"
    assert any("wordpieces" in c.value for c in opened.caption)
    opened.sidebar.radio(key="page").set_value("Compare").run()
    opened.text_area(key="compare_b").input("A savings bank").run()
    shared = {k: v[0] if isinstance(v, list) else v for k, v in opened.query_params.items()}
    assert shared["b"] == "A savings bank" and "a" not in shared  # the default A stays out
    compared = session(ui_store, monkeypatch, shared)
    assert compared.text_area(key="compare_b").value == "A savings bank"
    assert compared.text_area(key="compare_a").value == "A man is playing a guitar."


def test_cards_show_metadata_as_people_read_it_and_mark_no_function_words() -> None:
    from search_ui.render import highlight, metadata_line

    line = metadata_line(
        {"authors": ["Ada Lovelace", "Charles Babbage"], "bytes": 4166, "year": 1843}
        | {"modified": "2024-05-01T00:00:00+00:00", "sent": "2024-05-01T09:30:12+02:00"}
    )
    assert "authors: Ada Lovelace, Charles Babbage" in line and "bytes: 4.2 kB" in line
    assert "modified: 2024-05-01 ·" in line and "sent: 2024-05-01 09:30" in line
    assert "year: 1843" in line and "[" not in line
    marked = highlight("The flow and the shock waves", "the shock and flow")
    assert marked.count("<mark") == 2 and ">shock</mark>" in marked and ">flow</mark>" in marked


def test_a_lexical_result_explains_its_bm25_words_and_cards_hide_chunk_offsets(app) -> None:
    search(app, "supersonic shock", "lexical")
    assert "chunk 0 [" not in markdown(app) and "BM25" in markdown(app)
    app.toggle(key="why_1").set_value(True).run()
    said = [c.value for c in app.caption]
    assert any(c.startswith("BM25 ") and "shock ×2, supersonic ×1" in c for c in said)  # title too
    assert any("not what ranked this result" in c for c in said)


def test_unrelated_dense_results_are_left_out_and_counted(app, monkeypatch) -> None:
    from store.results import Hit

    def two_hits(self, query, k=10, mode="hybrid", filters=(), vector=None):
        return [
            Hit("jets", 0.4, 1, parts={"dense": {"rank": 1, "score": 0.4}}, title="Jet engines"),
            Hit("wings", -0.1, 2, parts={"dense": {"rank": 2, "score": -0.1}}, title="Wings"),
        ]

    monkeypatch.setattr(Collection, "search", two_hits)
    search(app, "jet", "dense")
    assert "1. Jet engines" in markdown(app) and "2. Wings" not in markdown(app)
    assert any("1 more document has a negative cosine" in c.value for c in app.caption)


def test_a_query_longer_than_the_limit_is_searched_in_part_with_a_notice(app) -> None:
    from indexer.settings import MAX_QUERY_CHARS

    search(app, "shock " * (MAX_QUERY_CHARS // 5), "lexical")
    assert any(f"its first {MAX_QUERY_CHARS:,} are searched" in i.value for i in app.info)
    assert "1. Shock waves" in markdown(app)


def test_an_index_link_with_a_query_shows_its_scores_with_its_filters(ui_store, monkeypatch):
    params = {"page": "Index", "q": "supersonic flow", "mode": "lexical", "f.meta.lang": '["en"]'}
    test = session(ui_store, monkeypatch, params)
    assert any("“supersonic flow” (lexical)" in title for title in chart_titles(test))
    assert not any("Run a query" in info.value for info in test.info)
    assert test.session_state["_last_search"]["filters"]  # the link's filter applies


def test_a_document_id_that_does_not_exist_lists_documents_holding_its_words(app) -> None:
    app.sidebar.radio(key="page").set_value("Document").run()
    app.text_input(key="doc_input").input("turbojet").run()
    app.button(key="suggested_0").click().run()
    assert app.text_input(key="doc_input").value == "jets"
    assert any(c.value.startswith("1 chunk · ") for c in app.caption)


def test_the_token_explorer_opens_on_the_chunk_of_the_opened_document(app) -> None:
    search(app, "supersonic shock", "lexical")
    app.button(key="open_1").click().run()
    app.sidebar.radio(key="page").set_value("Token explorer").run()
    assert app.radio(key="token_source").value == "chunk"
    assert any("Supersonic flow forms oblique shock waves." in e.value for e in app.get("html"))
    assert app.query_params["source"] in ("chunk", ["chunk"])


TEACHER = "teacher-minilm"  # the teacher the second model's manifest names


@pytest.fixture(scope="module")
def distilled_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """A second tiny BERT (other random weights, the same tokenizer) with the manifest that
    `semsearch distill` writes beside its weights."""
    import shutil

    import torch
    from transformers import BertConfig, BertModel

    from indexer.distillation.manifest import FORMAT, MANIFEST

    folder = tmp_path_factory.mktemp("distilled") / "student"
    shutil.copytree(tiny_model_dir, folder)
    torch.manual_seed(1)
    BertModel(BertConfig.from_pretrained(folder), add_pooling_layer=False).save_pretrained(folder)
    manifest = {
        "format": FORMAT,
        "teacher": {"model": TEACHER, "fingerprint": "sha256:teacher"},
        "student_start": {"model": "tiny-random-bert", "fingerprint": "sha256:start"},
        "training": {"steps": 12},
        "agreement": {"before": 0.1, "after": 0.75},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_compare_shows_each_models_cosines_side_by_side_and_names_both(
    ui_store, distilled_dir, monkeypatch
) -> None:
    from indexer.workbench import Workbench

    test = session(ui_store, monkeypatch, {"page": "Compare", "model2": str(distilled_dir)})
    assert not test.error
    a, b = test.text_area(key="compare_a").value, test.text_area(key="compare_b").value
    with Collection(ui_store) as collection:
        store_model = collection.compare(a, b).pooled
        recipe = collection.recipe
    shape = {"pooling": recipe.pooling, "chunk_tokens": recipe.chunk_tokens}
    with Workbench(Settings(model=str(distilled_dir), overlap=recipe.overlap, **shape)) as bench:
        second = bench.compare(a, b).pooled
    shown = [float(metric.value) for metric in test.metric]
    assert shown == pytest.approx([*store_model.values(), *second.values()], abs=1e-4)
    assert shown[2:] != pytest.approx(shown[:2], abs=1e-3)  # the two models differ
    changes = [float(metric.delta.split()[0]) for metric in test.metric[2:]]
    assert changes == pytest.approx([shown[2] - shown[0], shown[3] - shown[1]], abs=2e-4)
    names = markdown(test)
    assert f"`{recipe.model}`" in names and f"`{distilled_dir}`" in names
    assert f"distilled from the teacher `{TEACHER}`" in names
    titles = chart_titles(test)
    assert titles == [
        "token × token cosine (A rows, B columns)",
        "token × token cosine (A rows, B columns) · second model",
    ]
    assert url_of(test)["model2"] == str(distilled_dir) and not test.exception


def test_token_explorer_shows_the_second_models_views_with_their_own_layer(
    app, distilled_dir
) -> None:
    app.sidebar.radio(key="page").set_value("Token explorer").run()
    app.text_input(key="compare_model").input(str(distilled_dir)).run()
    assert not app.error and f"distilled from the teacher `{TEACHER}`" in markdown(app)
    first, second = (frame.value for frame in app.dataframe)
    assert list(first["token"]) == list(second["token"])  # the same tokenizer
    assert first["d0"].tolist() != second["d0"].tolist()  # other weights
    titles = chart_titles(app)
    for title in ("token × dimension", "PCA of token vectors", "token × token cosine"):
        assert title in titles and f"{title} · second model" in titles
    assert any("through the layers" in t and t.endswith("· second model") for t in titles)
    app.select_slider(key="token_layer_second").set_value(0).run()
    layers = [c.value[c.value.rindex("(") :] for c in app.caption if "(layer" in c.value]
    assert layers == ["(layer 2)", "(layer 0)"] and not app.exception


@pytest.mark.parametrize(
    ("problem", "said"),
    [
        ("missing", "no such folder"),
        ("not BERT", "a gpt2 model, not a BERT-family encoder"),
        ("pickle weights", "no model.safetensors"),
        ("damaged weights", "cannot load the model"),
        ("unreadable manifest", "manifest.json cannot be read"),
    ],
)
def test_a_second_model_folder_that_cannot_be_used_is_one_line_in_the_page(
    app, tmp_path, distilled_dir, problem, said
) -> None:
    import shutil

    folder = tmp_path / "model"
    if problem != "missing":
        shutil.copytree(distilled_dir, folder)
    if problem == "not BERT":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    elif problem == "pickle weights":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif problem == "damaged weights":
        (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    elif problem == "unreadable manifest":
        (folder / "manifest.json").write_text("{not json")
    app.sidebar.radio(key="page").set_value("Compare").run()
    app.text_input(key="compare_model").input(str(folder)).run()
    [error] = app.error
    assert str(folder) in error.value and said in error.value and "\n" not in error.value
    assert len(app.metric) == 2 and not app.exception  # the store's model's cosines still show


def test_the_servers_second_model_opens_in_a_new_session_and_a_missing_one_is_refused(
    ui_store, distilled_dir, tmp_path, monkeypatch
) -> None:
    import socket
    import sys

    from indexer.cli import ui_process
    from search_ui import second_model
    from tests.helpers import invoke

    commands = []
    monkeypatch.setattr(ui_process, "_run_child", lambda command, env: commands.append(command))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    given = ["ui", "--store", str(ui_store), "--port", port, "--compare-model"]
    missing = invoke(*given, str(tmp_path / "none"))
    assert missing.exit_code == 2 and "does not exist" in missing.output and not commands
    assert invoke(*given, str(distilled_dir)).exit_code == 0
    app_args = commands[0][commands[0].index("--") + 1 :]
    assert second_model.argument(app_args) == str(distilled_dir)

    monkeypatch.setattr(sys, "argv", ["app.py", *app_args])
    test = session(ui_store, monkeypatch, {"page": "Compare"})
    assert len(test.metric) == 4 and f"`{distilled_dir}`" in markdown(test)
    assert "model2" not in url_of(test)  # the server's own choice needs no parameter


def test_a_second_model_that_cuts_a_long_text_into_fewer_windows_shows_its_last(
    app, tmp_path
) -> None:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path / "words-only"  # a vocabulary of special tokens: one [UNK] per word
    folder.mkdir()
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(2)
    config = BertConfig(vocab_size=5, hidden_size=32, num_hidden_layers=2, num_attention_heads=2)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    app.sidebar.radio(key="page").set_value("Compare").run()
    app.text_input(key="compare_model").input(str(folder)).run()
    app.text_area(key="compare_a").input(LONG_TEXT).run()
    windows = app.selectbox(key="compare_window_a")
    windows.set_value(len(windows.options) - 1).run()  # the store's last: beyond the other's
    assert not app.error and len(app.metric) == 4
    assert any("fewer windows: its last is shown" in c.value for c in app.caption)
    assert not app.exception


def test_a_result_title_is_a_link_that_opens_its_document(app, ui_store, monkeypatch) -> None:
    from urllib.parse import parse_qsl

    search(app, "supersonic shock", "lexical")
    cards = [e.value for e in app.get("html") if 'target="_self"' in e.value]
    link = re.search(r'<a href="\?([^"]*)" target="_self">', cards[0])
    assert link, cards[0]
    params = dict(parse_qsl(html.unescape(link.group(1))))
    assert params["page"] == "Document" and params["q"] == "supersonic shock"
    opened = session(ui_store, monkeypatch, params)
    assert opened.text_input(key="doc_input").value == params["doc"]


def test_a_contains_filter_matches_whole_words(app) -> None:
    app.text_input(key="filter_title").set_value("note")
    search(app, "notes", "lexical")
    assert "1. " not in markdown(app)
    app.text_input(key="filter_title").set_value("NOTES")
    search(app, "notes", "lexical")
    assert "Markdown notes" in markdown(app)
