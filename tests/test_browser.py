"""The app in a real browser: `semsearch ui` on a free localhost port, headless Chromium (Debian's
package) driven by Playwright.

Also a script for the README's screenshots:  python -m tests.test_browser STORE OUT_DIR QUERY
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import processes_with
from tests.helpers import UI_DOCS as DOCS
from tests.helpers import listening

SEMSEARCH = str(Path(sys.executable).parent / "semsearch")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_SECONDS = 60
STEP_MS = 30_000
READY_MS = 300_000  # the store and its model load after the port opens: minutes on a busy machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# `semsearch ui`'s server with the store's model held back until the file named first exists
GATED_SERVER = """import pathlib, sys, threading
from indexer.collection import Collection
gate, load = pathlib.Path(sys.argv.pop(1)), Collection.load_model
def gated(self):
    while not gate.exists():
        threading.Event().wait(0.1)
    return load(self)
Collection.load_model = gated
from search_ui import server
server.main()
"""


@contextmanager
def serving(store: Path, log: Path | None = None, gate: Path | None = None) -> Iterator[str]:
    """`semsearch ui` on a free port of 127.0.0.1 until the block ends; yields its URL. The
    server's output goes to `log` (else a temporary file); with `gate`, the store's model loads
    only once that file exists."""
    port = free_port()
    command = [SEMSEARCH, "ui", "--store", str(store), "--port", str(port)]
    if gate is not None:  # what `semsearch ui` runs, with the model held back
        address = ["--server.address", "127.0.0.1", "--server.port", str(port)]
        options = [*address, "--server.headless", "true", "--", "--store", str(store)]
        command = [sys.executable, "-c", GATED_SERVER, str(gate), *options]
    with open(log, "w+b") if log else tempfile.TemporaryFile() as output:
        here = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # this checkout's code
        server = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **here}
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_SECONDS
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        output.seek(0)
                        error = output.read().decode(errors="replace")
                        raise RuntimeError(f"the UI did not start: {error}") from None
                    time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
            assert_stopped(port)


def servers_on(port: int) -> list[int]:
    """Pids of processes whose command line serves `port` (a Streamlit left behind)."""
    return processes_with("--server.port", str(port))


def assert_stopped(port: int, seconds: float = 10) -> None:
    """Nothing serves `port` any more, and no process that did is left."""
    deadline = time.monotonic() + seconds
    while (listening(port) or servers_on(port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not listening(port) and not servers_on(port), f"a server is left on port {port}"


def capture(store: Path, out: Path, query: str, expected_title: str) -> list[str]:
    """Search in the browser, wait for results, check a title, screenshot search and tokens."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with serving(store) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(STEP_MS)
            opened(page, url)
            box = page.get_by_label("Query")
            box.fill(query)
            box.press("Enter")
            page.get_by_text(expected_title, exact=False).first.wait_for()
            page.wait_for_timeout(500)
            titles = page.locator("b").all_inner_texts()
            page.screenshot(path=str(out / "search.png"), full_page=False)
            page.get_by_text("Token explorer").first.click()
            page.set_viewport_size({"width": 1280, "height": 2200})  # the app scrolls inside
            page.get_by_text("token × dimension").first.wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out / "tokens.png"))
            return titles
        finally:
            browser.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run does it)")
def test_search_in_a_real_browser(tmp_path, tiny_model_dir) -> None:
    import json

    from indexer.collection import Collection
    from indexer.settings import Settings

    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(doc) + "\n" for doc in DOCS))
    with Collection(tmp_path / "store", Settings(model=str(tiny_model_dir))) as collection:
        collection.add([str(source)])
    started = time.monotonic()
    titles = capture(tmp_path / "store", tmp_path / "shots", "supersonic shock", "Shock waves")
    assert any(title.startswith("1.") for title in titles)
    assert any("Shock waves" in title for title in titles)
    assert (tmp_path / "shots" / "search.png").stat().st_size > 10_000
    assert (tmp_path / "shots" / "tokens.png").stat().st_size > 10_000
    assert time.monotonic() - started < 180


def test_semsearch_ui_stopped_by_sigterm_leaves_no_server(tmp_path, tiny_model_dir) -> None:
    from indexer.collection import Collection
    from indexer.settings import Settings

    with Collection(tmp_path / "store", Settings(model=str(tiny_model_dir))) as collection:
        collection.add_records([{"id": "a", "text": "one document"}])
    with serving(tmp_path / "store") as url:  # serving() sends SIGTERM, then checks the port
        assert listening(int(url.rsplit(":", 1)[1]))


class CountingHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with an empty image and counts it."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        CountingHandler.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run does it)")
def test_a_hostile_document_renders_as_text_and_fetches_nothing(tmp_path, tiny_model_dir) -> None:
    import threading

    from playwright.sync_api import sync_playwright

    from indexer.collection import Collection
    from indexer.settings import Settings

    tracker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    threading.Thread(target=tracker.serve_forever, daemon=True).start()
    host = f"http://127.0.0.1:{tracker.server_address[1]}"
    text = (
        f"# Tracked\n\n    indented 'code' & <b>tags</b>\n\n![x]({host}/p.png) "
        f"<img src='{host}/img.png'> **bold** $x^2$\n\n"
        + " ".join(f"filler{i}" for i in range(400))
        + " the needle sentence at the end"
    )
    with Collection(tmp_path / "store", Settings(model=str(tiny_model_dir), chunk_tokens=48)) as c:
        c.add_records([{"id": "hostile", "title": "Hostile", "text": text}])
    try:
        with serving(tmp_path / "store") as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(STEP_MS)
                opened(page, f"{url}/?q=needle&mode=lexical")
                page.get_by_text("1. Hostile").first.wait_for()
                page.get_by_role("button", name="Open document").first.click()
                marker = page.locator("#best-chunk")
                marker.wait_for()
                page.wait_for_timeout(1500)
                shown = re.sub(r"\[chunk \d+\]", "", page.locator("body").inner_text())
                assert f"![x]({host}/p.png) <img src='{host}/img.png'> **bold**" in shown
                assert "# Tracked\n\n    indented 'code' & <b>tags</b>" in shown
                box = marker.bounding_box()
                assert box is not None and 0 <= box["y"] <= 900  # scrolled to the best chunk
                assert "q=needle" in page.url and "page=Document" in page.url
            finally:
                browser.close()
    finally:
        tracker.shutdown()
    assert CountingHandler.requests == []


LONG_ID = "module.submodule.AVeryLongClassNameWithoutAnyBreak." * 3 + "method"
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run does it)"
)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, tiny_model_dir) -> Iterator[str]:
    """`semsearch ui` on the UI tests' documents and one with a long unbroken id and title."""
    import json

    from indexer.collection import Collection
    from indexer.settings import Settings

    folder = tmp_path_factory.mktemp("browser")
    long_one = {"id": LONG_ID, "title": LONG_ID, "text": f"The identifier {LONG_ID} is long."}
    source = folder / "docs.jsonl"
    source.write_text("".join(json.dumps(doc) + "\n" for doc in [*DOCS, long_one]))
    with Collection(folder / "store", Settings(model=str(tiny_model_dir))) as collection:
        collection.add([str(source)])
    with serving(folder / "store") as url:
        yield url


@contextmanager
def browser_page(width: int = 1280, height: int = 800) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(STEP_MS)
            yield page
        finally:
            browser.close()


def opened(page, url: str) -> None:
    """Go to `url` and wait until the app is drawn (the loading page before it)."""
    page.goto(url)
    page.get_by_text("semsearch").first.wait_for()  # drawn at once, while loading
    page.get_by_label("Query").or_(page.get_by_label("Document id")).or_(
        page.get_by_text("Colour by")
    ).or_(
        page.get_by_role("heading", name=re.compile("Token explorer|Compare|Concordance"))
    ).first.wait_for(timeout=READY_MS)


def ask(page, query: str, expected: str) -> None:
    """Search for `query` and wait for `expected`."""
    box = page.get_by_label("Query")
    box.fill(query)
    box.press("Enter")
    page.get_by_text(expected).first.wait_for()


@needs_chromium
def test_back_returns_to_the_previous_search_and_from_a_document(app_url) -> None:
    from playwright.sync_api import expect

    with browser_page() as page:
        opened(page, app_url)
        ask(page, "supersonic shock", "1. Shock waves")
        ask(page, "wings lift pressure", "1. Wings")
        page.go_back()
        expect(page.get_by_label("Query")).to_have_value("supersonic shock")
        page.get_by_text("1. Shock waves").first.wait_for()
        page.get_by_role("button", name="Open document").first.click()
        page.locator("#best-chunk").wait_for()
        page.go_back()
        expect(page.get_by_label("Query")).to_have_value("supersonic shock")
        assert "page=Document" not in page.url


@needs_chromium
def test_the_page_says_what_loads_then_draws_the_app_and_the_server_logs_no_stale_part(
    tmp_path, tiny_model_dir
) -> None:
    from playwright.sync_api import expect

    from indexer.collection import Collection
    from indexer.settings import Settings

    with Collection(tmp_path / "store", Settings(model=str(tiny_model_dir))) as collection:
        collection.add_records(DOCS)
    gate, log = tmp_path / "model may load", tmp_path / "server.log"
    with serving(tmp_path / "store", log, gate) as url, browser_page() as page:
        page.goto(url)
        loading = page.get_by_text(re.compile(r"Loading the model… \(\d+ s\)"))
        loading.wait_for(timeout=READY_MS)
        expect(page.get_by_text(str((tmp_path / "store").resolve()))).to_be_visible()
        assert page.get_by_label("Query").count() == 0  # no query box before the model is there
        said = loading.inner_text()
        page.wait_for_function(  # the seconds go on counting
            "said => document.body.innerText.includes('Loading the model') && "
            "!document.body.innerText.includes(said)",
            arg=said,
        )
        gate.touch()
        page.get_by_label("Query").wait_for(timeout=READY_MS)
        expect(page.get_by_text("Loading the model")).to_have_count(0)
        ask(page, "supersonic shock", "1. Shock waves")
    assert "does not exist anymore" not in log.read_text()  # Streamlit's "fragment ..." line


THREE_CARDS_ABOVE_800_PX = """[...document.querySelectorAll('button')]
    .filter(button => button.innerText.includes('Open document'))
    .filter(button => button.getBoundingClientRect().bottom <= 800).length >= 3"""


@needs_chromium
def test_the_query_box_has_the_cursor_and_three_results_fit_above_the_fold(app_url) -> None:
    with browser_page(1280, 800) as page:
        opened(page, f"{app_url}/?mode=lexical")  # no weak-match line: the cards' size alone
        page.wait_for_function("document.activeElement?.getAttribute('aria-label') === 'Query'")
        page.keyboard.type("engines wings shock")
        page.keyboard.press("Enter")
        page.get_by_text("3. ").first.wait_for()
        # The cards draw one after another: wait until three whole ones stand above the fold.
        page.wait_for_function(THREE_CARDS_ABOVE_800_PX)


MAP_WIDER_THAN_300_PX = """[...document.querySelectorAll("[data-testid='stVegaLiteChart']")]
    .slice(-1).some(map => map.getBoundingClientRect().width > 300)"""


@needs_chromium
def test_at_phone_width_nothing_overflows_and_the_sidebar_closes_after_a_choice(app_url) -> None:
    with browser_page(390, 844) as page:
        opened(page, f"{app_url}/?q=identifier&mode=lexical")
        page.get_by_text("1. module.submodule").first.wait_for()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide"
        sidebar = "document.querySelector(\"[data-testid='stSidebar']\").dataset.collapsed"
        page.get_by_test_id("stExpandSidebarButton").click()
        page.wait_for_function(f"{sidebar} === 'false'")
        page.get_by_test_id("stSidebar").get_by_text("Index", exact=True).click()
        page.get_by_text("Colour by").wait_for()
        page.wait_for_function(f"{sidebar} === 'true'")  # closed by itself after the choice
        page.wait_for_function(MAP_WIDER_THAN_300_PX)  # the legend lies below the map, not beside
        assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run does it)")
def test_concordance_and_attention_in_a_real_browser(tmp_path, tiny_model_dir) -> None:
    from playwright.sync_api import sync_playwright

    from indexer.collection import Collection
    from indexer.settings import Settings

    with Collection(tmp_path / "store", Settings(model=str(tiny_model_dir))) as collection:
        collection.add_records(DOCS)
    with serving(tmp_path / "store") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(STEP_MS)
            page.goto(f"{url}/?page=Concordance")
            box = page.get_by_label("Word (the whole word, any case)")
            box.wait_for(timeout=START_SECONDS * 1000)  # the first run imports the model
            box.fill("unsafe")
            box.press("Enter")
            page.get_by_text("Group 1 · 1 occurrences").first.wait_for()
            page.wait_for_function(  # the lines draw after the group's heading; one line per cell
                "line => document.body.innerText.split(/\\s+/).join(' ').includes(line)",
                arg="<b>bold</b> title <script>alert(1)</script> unsafe markup",
            )
            page.get_by_role("button", name="xss #0").click()
            page.get_by_text("Highlighted: chunk 0").first.wait_for()
            page.goto(f"{url}/?page=Token+explorer")
            page.get_by_text("Show attention").first.click()
            page.get_by_text("heads averaged").first.wait_for()
            charts = "document.querySelectorAll('canvas, svg.marks').length >= 5"
            page.wait_for_function(charts)  # Vega draws after the text: wait, never sample once
        finally:
            browser.close()


if __name__ == "__main__":
    store_arg, out_arg, query_arg = sys.argv[1:4]
    print(capture(Path(store_arg), Path(out_arg), query_arg, "1."))


TWELVE_TOKENS = "The river bank was flooded after the heavy rain yesterday"  # + [CLS], [SEP]
CHART_FACTS = """() => {
  const main = document.querySelector("[data-testid='stMainBlockContainer']");
  const style = getComputedStyle(main);
  const column = main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const boxes = nodes => [...nodes].map(text => {
    const r = text.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom, text.textContent];
  });
  const charts = [...document.querySelectorAll("[data-testid='stVegaLiteChart']")].map(chart => {
    const box = chart.getBoundingClientRect();
    const axes = [...chart.querySelectorAll("g.role-axis")];
    const rows = axes
      .filter(axis => (axis.getAttribute("aria-label") || "").startsWith("Y-axis"))
      .map(axis => axis.querySelectorAll("g.role-axis-label text").length);
    return {
      title: chart.querySelector("g.role-title-text text")?.textContent || "",
      width: box.width,
      height: box.height,
      rows: Math.max(0, ...rows),
      axes: axes.map(axis => boxes(axis.querySelectorAll("g.role-axis-label text"))),
      marks: boxes(chart.querySelectorAll("g.mark-text.role-mark text")),
    };
  });
  return {column, charts};
}"""


def overlapping(labels: list[list]) -> list[tuple[str, str]]:
    """Pairs of drawn labels whose boxes overlap by more than a pixel."""
    pairs = []
    for i, (left, top, right, bottom, text) in enumerate(labels):
        for other in labels[i + 1 :]:
            if min(right, other[2]) - max(left, other[0]) > 1 and (
                min(bottom, other[3]) - max(top, other[1]) > 1
            ):
                pairs.append((text, other[4]))
    return pairs


def assert_charts_readable(page, count: int) -> None:
    """Once `count` charts are drawn as SVG: each wider than 60% of the main column, taller
    than 20 px per labelled row, and no two labels of an axis (or of a chart's text marks)
    overlap."""
    page.wait_for_function(
        "n => document.querySelectorAll(\"[data-testid='stVegaLiteChart'] svg.marks\").length >= n",
        arg=count,
    )
    page.wait_for_timeout(500)  # Vega lays out again once the container's width is known
    facts = page.evaluate(CHART_FACTS)
    assert len(facts["charts"]) >= count
    for chart in facts["charts"]:
        name = chart["title"] or "untitled chart"
        assert chart["width"] > 0.6 * facts["column"], f"{name}: {chart['width']:.0f} px wide"
        assert chart["height"] > 20 * chart["rows"], f"{name}: {chart['height']:.0f} px tall"
        for labels in [*chart["axes"], chart["marks"]]:
            assert not overlapping(labels), f"{name}: labels overlap: {overlapping(labels)}"


@needs_chromium
def test_every_chart_is_drawn_wide_tall_and_with_labels_apart(app_url) -> None:
    from urllib.parse import quote

    text = quote(TWELVE_TOKENS)
    with browser_page(1280, 900) as page:
        opened(page, f"{app_url}/?page=Token+explorer&text={text}")
        page.get_by_text("12 wordpieces").first.wait_for()
        page.get_by_text("Show attention").first.click()
        page.get_by_text("heads averaged").first.wait_for()
        assert_charts_readable(page, 7)
        for width in (1280, 390):  # the token x token map of Compare on a laptop and a phone
            page.set_viewport_size({"width": width, "height": 900})
            opened(page, f"{app_url}/?page=Compare&a={text}&b={quote('A flood on the bank')}")
            page.get_by_text("Pooled cosine").first.wait_for()
            assert_charts_readable(page, 1)


@needs_chromium
def test_a_second_models_charts_are_drawn_as_wide_and_tall_as_the_stores(
    app_url, tiny_model_dir
) -> None:
    from urllib.parse import quote

    text, second = quote(TWELVE_TOKENS), quote(str(tiny_model_dir))  # any model folder will do
    with browser_page(1280, 900) as page:
        opened(page, f"{app_url}/?page=Compare&a={text}&b={quote('A flood')}&model2={second}")
        page.get_by_text("Pooled cosine").nth(3).wait_for()  # each pooling, under each model
        assert_charts_readable(page, 2)
        opened(page, f"{app_url}/?page=Token+explorer&text={text}&model2={second}")
        page.get_by_text("12 wordpieces").nth(1).wait_for()
        assert_charts_readable(page, 10)


@needs_chromium
def test_two_concordance_words_and_back_from_a_line_document_draw_without_error(app_url) -> None:
    with browser_page() as page:
        opened(page, f"{app_url}/?page=Concordance")
        box = page.get_by_label("Word (the whole word, any case)")
        for word in ("unsafe", "markup"):
            box.fill(word)
            box.press("Enter")
            page.get_by_text(f"occurrences of “{word}”").first.wait_for()
        page.get_by_role("button", name="xss #0").click()
        page.get_by_text("Highlighted: chunk 0").first.wait_for()
        page.go_back()
        page.get_by_text("occurrences of “markup”").first.wait_for()
        page.get_by_role("button", name="xss #0").wait_for()
        assert page.get_by_test_id("stException").count() == 0


def in_a_new_browser(page, url: str):
    """A page of a new browser context (no cookies, no session) opened on `url`."""
    other = page.context.browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    other.set_default_timeout(STEP_MS)
    opened(other, url)
    return other


def typed_into(page, label: str, text: str, word: str) -> None:
    """Type `text` into the text box `label` and leave it (which commits it) until the app has
    it in the URL: typed again when a rerun redrew the box before the app got it (a busy
    machine)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        page.get_by_role("textbox", name=label).fill(text)
        page.get_by_role("textbox", name=label).press("Tab")
        try:
            page.wait_for_function(
                "word => location.search.includes(word)", arg=word, timeout=STEP_MS // 3
            )
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{text!r} typed into {label} never reached the URL: {page.url}")


def sidebar_page(page, name: str) -> None:
    page.get_by_test_id("stSidebar").get_by_text(name, exact=True).click()


@needs_chromium
def test_a_shared_url_opens_the_same_view_in_a_new_browser(app_url) -> None:
    from playwright.sync_api import expect

    with browser_page() as page:
        opened(page, f'{app_url}/?mode=lexical&f.meta.lang=["de"]')
        ask(page, "supersonic", "1. Shock waves")
        shared = in_a_new_browser(page, page.url)  # Search with a filter
        expect(shared.get_by_label("Query")).to_have_value("supersonic")
        shared.get_by_text("1. Shock waves").first.wait_for()
        shared.get_by_role("button", name="metadata.lang in de").or_(
            shared.get_by_role("button", name="lang: de")
        ).first.wait_for()

        sidebar_page(page, "Index")  # Index with the query
        page.get_by_text("for the last query, “supersonic”").first.wait_for()
        shared = in_a_new_browser(page, page.url)
        shared.get_by_text("for the last query, “supersonic”").first.wait_for()

        sidebar_page(page, "Search")
        page.get_by_role("button", name="Open document").first.click()  # Document
        page.locator("#best-chunk").wait_for()
        shared = in_a_new_browser(page, page.url)
        expect(shared.get_by_label("Document id")).to_have_value("shocks")
        shared.locator("#best-chunk").wait_for()

        sidebar_page(page, "Token explorer")  # the opened chunk, then a typed text
        page.get_by_text("Type a text").click()
        page.get_by_role("textbox", name="Text", exact=True).fill(TWELVE_TOKENS)
        page.get_by_role("textbox", name="Text", exact=True).press("Control+Enter")
        page.get_by_text("12 wordpieces").first.wait_for()
        shared = in_a_new_browser(page, page.url)
        expect(shared.get_by_role("textbox", name="Text", exact=True)).to_have_value(TWELVE_TOKENS)
        shared.get_by_text("12 wordpieces").first.wait_for()

        sidebar_page(page, "Compare")
        page.get_by_text("Pooled cosine").first.wait_for()
        typed_into(page, "Text A", "A river bank", "river")
        typed_into(page, "Text B", "A savings bank", "savings")
        shared = in_a_new_browser(page, page.url)
        expect(shared.get_by_label("Text A")).to_have_value("A river bank")
        expect(shared.get_by_label("Text B")).to_have_value("A savings bank")

        sidebar_page(page, "Concordance")
        box = page.get_by_label("Word (the whole word, any case)")
        box.fill("unsafe")
        box.press("Enter")
        page.get_by_text("Group 1 · 1 occurrences").first.wait_for()
        shared = in_a_new_browser(page, page.url)
        shared.get_by_text("Group 1 · 1 occurrences").first.wait_for()


SCROLLER = """(() => {
  let box = document.querySelector("[data-testid='stMainBlockContainer']");
  while (box && box !== document.body && !['auto', 'scroll'].includes(
    getComputedStyle(box).overflowY)) { box = box.parentElement; }
  return (!box || box === document.body) ? document.scrollingElement : box;
})()"""


# The place the list was at when the user clicked: Playwright's click scrolls its button into
# view first when the page grew since (an open panel's table drawn late on a busy machine).
SCROLL_AT_CLICK = f"""document.addEventListener('pointerdown',
  () => {{ window.scrollAtClick = {SCROLLER}.scrollTop; }}, {{capture: true, once: true}})"""


def third_document_and_back(page, shown_after_back: str) -> float:
    """Open the third result's document, then Back until `shown_after_back` is on the page; the
    list's scroll position at the click (read at pointerdown, when the app saves it)."""
    page.evaluate(SCROLL_AT_CLICK)
    page.get_by_role("button", name="Open document").nth(2).click()
    page.locator("#best-chunk").wait_for()
    before = page.evaluate("window.scrollAtClick")
    page.go_back()
    page.get_by_text(shown_after_back).first.wait_for()
    return before


def back_at(page, before: float) -> None:
    """Wait until the list is scrolled back to within 100 px of `before`."""
    page.wait_for_function(
        f"Math.abs({SCROLLER}.scrollTop - {before}) <= 100", polling=100, timeout=STEP_MS
    )


@needs_chromium
def test_back_from_a_document_keeps_the_scroll_position_and_open_panels(app_url) -> None:
    with browser_page(1280, 500) as page:
        opened(page, f"{app_url}/?mode=dense&k=10")
        ask(page, "engines", "6. ")  # every document: a page taller than the window
        page.get_by_text("Why it matched").nth(1).click()
        page.get_by_text("token shares sum to").first.wait_for()
        page.mouse.move(640, 300)
        page.mouse.wheel(0, 400)
        page.wait_for_function(f"{SCROLLER}.scrollTop > 300")
        before = third_document_and_back(page, "token shares sum to")  # the panel is open again
        assert before > 300
        back_at(page, before)


@needs_chromium
def test_back_returns_to_where_the_user_scrolled_when_the_saved_place_no_longer_fits(
    app_url,
) -> None:
    with browser_page(1280, 500) as page:
        opened(page, f"{app_url}/?mode=dense&k=10")
        ask(page, "engines", "6. ")
        page.evaluate(f"{SCROLLER}.scrollTop = {SCROLLER}.scrollHeight")  # the list's end
        page.get_by_role("button", name="Open document").last.click()
        page.locator("#best-chunk").wait_for()
        page.set_viewport_size({"width": 1280, "height": 900})  # that place is now past the end
        page.go_back()
        page.get_by_text("6. ").first.wait_for()
        page.mouse.move(640, 450)
        page.mouse.wheel(0, -5000)  # the user takes over: to the top, then a little down
        page.wait_for_function(f"{SCROLLER}.scrollTop === 0")
        page.mouse.wheel(0, 250)
        page.wait_for_function(f"{SCROLLER}.scrollTop > 150")
        back_at(page, third_document_and_back(page, "6. "))
