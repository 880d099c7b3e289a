"""`semsearch serve`: a real server on a free localhost port (`--port 0`, the port read from its
`serving on` line), asked by a real HTTP client, over stores of the tiny random BERT."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from indexer import settings as defaults
from indexer.cli.app import cli
from indexer.collection import Collection
from indexer.serving import http_server
from indexer.serving.http_api import create_app
from indexer.serving.live_collection import WARM_UP_QUERY, LiveCollection
from store.results import BestChunk, ChunkSpan, Document, HitView
from tests.helpers import ODD_ID, SEMSEARCH, eventually, listening, make_store
from tests.helpers import SERVED_DOCS as DOCS
from tests.helpers import SERVER_START_SECONDS as START_SECONDS

TOKEN = "s3cret-token"


class Served:
    """`semsearch serve` in a child process on a free port, ready to answer."""

    def __init__(self, *args: str, stdout: Path) -> None:
        self.stdout = stdout
        with stdout.open("w") as output:
            self.process = subprocess.Popen(
                [SEMSEARCH, "serve", "--port", "0", *args],
                stdout=output,
                stderr=subprocess.PIPE,
                text=True,
            )
        self.lines: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        announced = eventually(self._announced, "the serving on line")
        self.url = announced.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.client = httpx.Client(base_url=self.url, timeout=60)
        eventually(self._ready, "the store to load")

    def _pump(self) -> None:  # drain stderr, so that the server never blocks on a full pipe
        for line in self.process.stderr:
            self.lines.append(line)

    def _announced(self) -> str | None:
        if self.process.poll() is not None:
            pytest.fail(f"the server ended: {''.join(self.lines)}")
        return next((line for line in self.lines if line.startswith("serving on ")), None)

    def _ready(self) -> bool:
        return self.client.get("/health").status_code == 200

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send `signum` (unless it ended), wait for the exit status; then nothing listens on
        the port and stdout held nothing."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        assert not listening(self.port), f"something still listens on {self.port}"
        assert self.stdout.read_text() == ""
        return code


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_model_dir) -> Path:
    """A store that no test writes."""
    return make_store(tmp_path_factory.mktemp("served") / "store", tiny_model_dir)


@pytest.fixture(scope="module")
def server(store, tmp_path_factory) -> Iterator[Served]:
    """A read-only server (no token)."""
    served = Served("--store", str(store), stdout=tmp_path_factory.mktemp("out") / "stdout")
    yield served
    assert served.stop() == 0


@pytest.fixture(scope="module")
def writable(tmp_path_factory, tiny_model_dir) -> Iterator[tuple[Served, Path]]:
    """A server started with a token, over a store of its own."""
    store = make_store(tmp_path_factory.mktemp("writable") / "store", tiny_model_dir)
    served = Served(
        "--store", str(store), "--token", TOKEN, stdout=tmp_path_factory.mktemp("out") / "stdout"
    )
    yield served, store
    assert served.stop() == 0


def in_process_search(store: Path, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    with Collection(store) as reader:
        return [hit.as_dict() for hit in reader.search(*args, **kwargs)]


# -- reading ------------------------------------------------------------------------------------


def test_health_names_generation_counts_and_model(server, tiny_model_dir) -> None:
    health = server.client.get("/health").json()
    assert health["status"] == "ready" and health["writable"] is False
    assert (health["documents"], health["chunks"], health["dim"]) == (4, 4, 32)
    assert health["generation"] >= 1 and health["model"] == str(tiny_model_dir)


@pytest.mark.parametrize("mode", defaults.SEARCH_MODES)
def test_search_by_url_and_by_body_gives_the_hits_of_search_json(server, store, mode) -> None:
    by_url = server.client.get(
        "/search", params={"q": "shock wave", "k": 3, "mode": mode, "filter": ["year>=1955"]}
    )
    by_body = server.client.post(
        "/search", json={"query": "shock wave", "k": 3, "mode": mode, "filters": ["year>=1955"]}
    )
    assert by_url.status_code == by_body.status_code == 200
    assert by_url.json() == by_body.json()
    expected = in_process_search(store, "shock wave", k=3, mode=mode, filters=["year>=1955"])
    assert by_url.json()["hits"] == json.loads(json.dumps(expected))
    assert {hit["id"] for hit in by_url.json()["hits"]} <= {"docs/shocks.txt", ODD_ID, "plain"}


def test_search_defaults_are_the_settings(server) -> None:
    answer = server.client.get("/search", params={"q": "flow"}).json()
    assert (answer["k"], answer["mode"], answer["filters"]) == (defaults.K, defaults.MODE, [])
    assert len(answer["hits"]) == len(DOCS)  # fewer documents than k


def test_repeated_filters_all_hold(server) -> None:
    answer = server.client.get(
        "/search", params={"q": "walls", "mode": "lexical", "filter": ["lang=en", "year<1960"]}
    )
    assert [hit["id"] for hit in answer.json()["hits"]] == ["plain"]


@pytest.mark.parametrize("doc_id", ["docs/shocks.txt", "plain", ODD_ID])
def test_documents_are_found_by_ids_with_slashes_and_reserved_characters(server, doc_id) -> None:
    encoded = quote(doc_id, safe="")  # what a client should send
    answer = server.client.get(f"/documents/{encoded}")
    assert answer.status_code == 200
    document = answer.json()
    assert document["id"] == doc_id and document["metadata"]["year"] > 1900
    assert document["chunks"][0]["start"] == 0 and document["text"].endswith(".")
    assert document["pages"] is None  # text is not paginated
    if "/" in doc_id and doc_id.isascii() and "?" not in doc_id:  # also readable as a path
        assert server.client.get(f"/documents/{doc_id}").json() == document


def test_embed_gives_the_stores_vectors(server, store) -> None:
    answer = server.client.post("/embed", json={"texts": ["shock waves", "lift"]}).json()
    with Collection(store) as reader:
        expected = reader.embed(["shock waves", "lift"])
    assert answer["dim"] == 32 and len(answer["vectors"]) == 2
    for got, want in zip(answer["vectors"], expected, strict=True):
        assert got == pytest.approx(want.tolist(), abs=1e-6)


def test_tokens_by_wordpiece_and_by_word(server) -> None:
    text = "Unbelievably tokenized"
    pieces = server.client.post("/tokens", json={"text": text}).json()["tokens"]
    words = server.client.post("/tokens", json={"text": text, "words": True}).json()["tokens"]
    assert pieces[0]["token"] == "[CLS]" and pieces[-1]["token"] == "[SEP]"
    assert len(pieces) > len(words) + 2 and all(len(p["vector"]) == 32 for p in pieces)
    assert [w["token"] for w in words] == ["Unbelievably", "tokenized"]
    assert [(w["start"], w["end"]) for w in words] == [(0, 12), (13, 22)]


def test_explain_of_a_hits_chunk_sums_to_its_dense_score(server) -> None:
    hit = server.client.get("/search", params={"q": "heat", "k": 1, "mode": "dense"}).json()
    best = hit["hits"][0]
    why = server.client.post("/explain", json={"query": "heat", "chunk_id": best["chunk"]["id"]})
    shares = [token["share"] for token in why.json()["tokens"]]
    assert why.json()["cosine"] == pytest.approx(best["score"], abs=1e-5)
    assert sum(shares) == pytest.approx(why.json()["cosine"], abs=1e-9)
    by_text = server.client.post("/explain", json={"query": "heat", "text": best["chunk"]["text"]})
    assert by_text.json() == why.json()


def test_many_clients_at_once_get_the_answers_of_one_at_a_time(server) -> None:
    queries = [f"{word} flow" for word in ("shock", "lift", "heat", "wall")] * 10
    alone = {
        query: server.client.get("/search", params={"q": query, "mode": "hybrid"}).json()
        for query in set(queries)
    }

    def ask(query: str) -> tuple[str, int, Any]:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            answer = client.get("/search", params={"q": query, "mode": "hybrid"})
            return query, answer.status_code, answer.json()

    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(ask, queries))
    assert all(status == 200 and answer == alone[q] for q, status, answer in together)


def test_the_http_schemas_are_the_stores_result_types(tmp_path) -> None:
    schema = create_app(LiveCollection(Collection(tmp_path / "store"))).openapi()
    shapes = schema["components"]["schemas"]
    for shape in (HitView, BestChunk, Document, ChunkSpan):
        assert list(shapes[shape.__name__]["properties"]) == [f.name for f in fields(shape)]
    get_document = schema["paths"]["/documents/{doc_id}"]["get"]["responses"]["200"]
    assert get_document["content"]["application/json"]["schema"]["$ref"].endswith("/Document")
    assert shapes["SearchResponse"]["properties"]["hits"]["items"]["$ref"].endswith("/HitView")
    assert "Where each page starts" in shapes["Document"]["properties"]["pages"]["description"]


def test_openapi_describes_every_endpoint_and_docs_need_no_network(server) -> None:
    schema = server.client.get("/openapi.json").json()
    assert {path: sorted(ops) for path, ops in schema["paths"].items()} == {
        "/health": ["get"],
        "/search": ["get", "post"],
        "/documents/{doc_id}": ["delete", "get"],
        "/embed": ["post"],
        "/tokens": ["post"],
        "/explain": ["post"],
        "/documents": ["post"],
    }
    assert schema["paths"]["/documents"]["post"]["security"] == [{"HTTPBearer": []}]
    page = server.client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assets = [part.split('"')[0] for part in page.text.split('src="')[1:]]
    assets += [part.split('"')[0] for part in page.text.split('href="')[1:]]
    assert assets and all(asset.startswith("/") for asset in assets), assets  # nothing remote
    assert all(server.client.get(asset).status_code == 200 for asset in assets)


# -- errors ---------------------------------------------------------------------------------------


def error_of(answer: httpx.Response) -> tuple[int, str]:
    assert answer.headers["content-type"] == "application/json"
    assert "Traceback" not in answer.text
    return answer.status_code, answer.json()["error"]


def test_a_bad_filter_is_400_with_the_reason(server) -> None:
    answer = server.client.get("/search", params={"q": "x", "filter": "garbage"})
    assert error_of(answer) == (400, "bad_request")
    assert "FIELD OP VALUE" in answer.json()["message"]


def test_a_text_longer_than_a_window_is_400(server) -> None:
    answer = server.client.post("/tokens", json={"text": "word " * 600})
    assert error_of(answer) == (400, "bad_request")
    assert "one window holds at most" in answer.json()["message"]


def test_an_embed_request_over_the_character_budget_is_422_saying_the_limit(server) -> None:
    texts = ["x" * defaults.MAX_TEXT_CHARS] * (
        defaults.MAX_EMBED_CHARS // defaults.MAX_TEXT_CHARS + 1
    )
    answer = server.client.post("/embed", json={"texts": texts})
    assert error_of(answer) == (422, "invalid_request")
    assert answer.json()["message"].startswith("texts: ")
    assert f"at most {defaults.MAX_EMBED_CHARS:,}" in answer.json()["message"]


@pytest.mark.parametrize(
    ("path", "what"),
    [("/documents/nope", "document"), ("/documents/", "document"), ("/nowhere", "route")],
)
def test_unknown_ids_and_routes_are_404(server, path, what) -> None:
    assert error_of(server.client.get(path)) == (404, "not_found")


def test_an_unknown_chunk_is_404(server) -> None:
    answer = server.client.post("/explain", json={"query": "x", "chunk_id": 999_999})
    assert error_of(answer) == (404, "not_found")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "x", "k": 0}, "k"),
        ({"q": "x", "k": defaults.MAX_K + 1}, "k"),
        ({"q": "x", "mode": "fuzzy"}, "mode"),
        ({"q": ""}, "q"),
        ({"q": "x" * (defaults.MAX_QUERY_CHARS + 1)}, "q"),
        ({"q": "x", "filter": ["a=1"] * (defaults.MAX_FILTERS + 1)}, "filter"),
    ],
)
def test_requests_outside_the_bounds_are_422_naming_the_field(server, params, field) -> None:
    answer = server.client.get("/search", params=params)
    assert error_of(answer) == (422, "invalid_request")
    assert answer.json()["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("body", "start"),
    [
        (b'{"query": "x", "k": ', "body: "),
        (b'{"query": "x", "size": 3}', "size: "),
        (b'{"k": 3}', "query: "),
    ],
)
def test_malformed_bodies_are_422(server, body, start) -> None:
    answer = server.client.post(
        "/search", content=body, headers={"content-type": "application/json"}
    )
    assert error_of(answer) == (422, "invalid_request")
    assert answer.json()["message"].startswith(start)


def test_explain_needs_exactly_one_of_chunk_and_text(server) -> None:
    answer = server.client.post("/explain", json={"query": "x", "chunk_id": 1, "text": "y"})
    assert error_of(answer) == (422, "invalid_request")


def test_bodies_over_the_limit_are_413_with_or_without_a_length(server) -> None:
    declared = defaults.MAX_BODY_BYTES + 1
    head = f"POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {declared}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(head.encode())  # answered before the body is sent, let alone read
        status, _, body = sock.makefile("rb").read().decode().partition("\r\n\r\n")
    assert status.startswith("HTTP/1.1 413 ") and json.loads(body)["error"] == "too_large"

    piece = b" " * 65536  # JSON whitespace, sent without a Content-Length: counted as it comes
    pieces = defaults.MAX_BODY_BYTES // len(piece) + 2
    answer = server.client.post("/embed", content=(piece for _ in range(pieces)))
    assert error_of(answer) == (413, "too_large")
    assert server.client.get("/health").status_code == 200  # and the server goes on


def test_a_wrong_method_is_405(server) -> None:
    assert error_of(server.client.delete("/search")) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:{port}", "127.0.0.1", "127.0.0.1:{port}", "[::1]:{port}"]
)
def test_requests_naming_this_machine_are_answered(server, host) -> None:
    named = {"Host": host.format(port=server.port)}
    assert server.client.get("/documents/plain", headers=named).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "localhost.evil.example", "127.0.0.1.nip.io"]
)
def test_requests_naming_another_host_are_refused(server, host) -> None:
    named = {"Host": host.format(port=server.port)}
    for answer in (
        server.client.get("/documents/plain", headers=named),
        server.client.get("/search", params={"q": "shock"}, headers=named),
        server.client.post("/embed", json={"texts": ["x"]}, headers=named),
    ):
        assert error_of(answer) == (403, "host_not_allowed")
        assert "DNS rebinding" in answer.json()["message"]
        assert f"--allow-host {host.split(':')[0]}" in answer.json()["message"]


def status_by_host(app: Any, host: str) -> int:
    """The status of GET /openapi.json (which needs no store loaded) with this Host header."""

    async def ask() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return (await client.get("/openapi.json", headers={"Host": host})).status_code

    return anyio.run(ask)


def test_allow_host_adds_names_and_star_allows_every_host(store, monkeypatch) -> None:
    apps = []

    def run(app: Any, sock: socket.socket, **_: Any) -> None:
        apps.append(app)
        sock.close()

    monkeypatch.setattr(http_server, "run", run)
    for options in (
        ["--allow-host", "docs.example", "--allow-host", "Wiki.Example"],
        ["--allow-host", "*"],
        ["--host", "0.0.0.0"],
    ):
        given = ["serve", "--store", str(store), "--port", "0", *options]
        assert CliRunner().invoke(cli, given).exit_code == 0
    named, every, everywhere = apps
    assert status_by_host(named, "docs.example") == status_by_host(named, "wiki.example:80") == 200
    assert status_by_host(named, "evil.example") == 403
    assert status_by_host(every, "evil.example:8700") == 200
    # on every interface, any IP address (a rebinding page can only send a name), no other name
    assert status_by_host(everywhere, "192.0.2.7:8700") == 200
    assert status_by_host(everywhere, "evil.example") == 403


def test_a_server_without_a_token_does_not_write(server, store) -> None:
    answer = server.client.post(
        "/documents",
        json={"records": [{"id": "new", "text": "x"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert error_of(answer) == (403, "writes_disabled")
    assert error_of(server.client.delete("/documents/plain")) == (403, "writes_disabled")
    assert server.client.get("/health").json()["documents"] == len(DOCS)


# -- writing --------------------------------------------------------------------------------------


def test_writes_need_the_token(writable) -> None:
    served, _ = writable
    body = {"records": [{"id": "tokened", "text": "Jets compress air and burn fuel."}]}
    for headers, expected in [
        ({}, (401, "unauthorized")),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, (401, "unauthorized")),
        ({"Authorization": "Bearer wrong"}, (403, "forbidden")),
        ({"Authorization": "Bearer s3cret-tökén".encode("latin-1")}, (403, "forbidden")),
    ]:
        assert error_of(served.client.post("/documents", json=body, headers=headers)) == expected
    assert served.client.get("/documents/tokened").status_code == 404


@pytest.mark.parametrize("token", ["s3cret-tökén", "two words", "tab\there"])
def test_a_token_a_client_cannot_send_as_is_is_refused_at_start(store, monkeypatch, token) -> None:
    started = []
    monkeypatch.setattr(http_server, "run", lambda *args, **_: started.append(args))
    for given in (["--token", token], []):
        result = CliRunner().invoke(
            cli,
            ["serve", "--store", str(store), "--port", "0", *given],
            env={defaults.TOKEN_ENV: token},
        )
        assert result.exit_code == 2
        assert result.output.startswith("Error: the token (--token or $SEMSEARCH_TOKEN) may ")
        assert len(result.output.splitlines()) == 1 and token not in result.output
    assert started == []


def test_added_documents_are_found_and_deleted_ones_are_gone(writable) -> None:
    served, _ = writable
    auth = {"Authorization": f"Bearer {TOKEN}"}
    records = [
        {"id": "jets/turbo", "title": "Turbojets", "text": "Turbojets compress air and burn fuel."},
        {"id": "jets/ram", "text": "Ramjets have no compressor.", "metadata": {"year": 1949}},
    ]
    added = served.client.post("/documents", json={"records": records}, headers=auth)
    assert added.status_code == 200 and added.json()["added"] == 2
    again = served.client.post("/documents", json={"records": records}, headers=auth)
    assert again.json()["unchanged"] == 2  # not embedded again
    found = served.client.get(
        "/search", params={"q": "ramjets compressor", "mode": "lexical"}
    ).json()["hits"]
    assert found[0]["id"] == "jets/ram" and found[0]["metadata"] == {"year": 1949}
    assert served.client.delete("/documents/jets/turbo", headers=auth).json() == {
        "id": "jets/turbo",
        "deleted": True,
    }
    assert error_of(served.client.get("/documents/jets/turbo")) == (404, "not_found")
    assert error_of(served.client.delete("/documents/jets/turbo", headers=auth)) == (
        404,
        "not_found",
    )


def test_a_record_without_an_id_is_refused_not_numbered(writable) -> None:
    served, _ = writable
    answer = served.client.post(
        "/documents",
        json={"records": [{"text": "no id"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert error_of(answer) == (422, "invalid_request")
    assert answer.json()["message"] == "records.0.id: Field required"


def test_the_server_picks_up_what_semsearch_index_writes_while_it_runs(writable, tmp_path) -> None:
    served, store = writable
    before = served.client.get("/health").json()["generation"]
    records = tmp_path / "nightly.jsonl"
    records.write_text(json.dumps({"id": "nightly", "text": "Hypersonic scramjets at dawn."}))
    done = subprocess.run(
        [SEMSEARCH, "index", str(records), "--store", str(store), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    def found() -> bool:
        hits = served.client.get("/search", params={"q": "scramjets", "mode": "lexical"})
        return hits.status_code == 200 and [h["id"] for h in hits.json()["hits"]] == ["nightly"]

    eventually(found, "the new document")
    eventually(
        lambda: (h := served.client.get("/health").json())["generation"] > before and h,
        "the new generation in /health",
    )
    with Collection(store) as reader:  # the server converges on what the store holds
        settled = eventually(
            lambda: (
                (h := served.client.get("/health").json())["generation"] == reader.generation and h
            ),
            "/health at the store's generation",
        )
        assert settled["documents"] == reader.stats().documents
    dense = served.client.get("/search", params={"q": "hypersonic scramjets", "k": 10}).json()
    assert "nightly" in [hit["id"] for hit in dense["hits"]]  # the index caught up too


def test_a_store_replaced_while_served_is_served_and_the_deleted_one_is_not(
    tmp_path, tiny_model_dir
) -> None:
    store = make_store(tmp_path / "store", tiny_model_dir)
    served = Served("--store", str(store), "--token", TOKEN, stdout=tmp_path / "stdout")
    try:
        before = served.client.get("/health").json()
        shutil.rmtree(store)
        make_store(store, tiny_model_dir, [{"id": "rebuilt", "text": "Rotors of helicopters."}])
        eventually(
            lambda: served.client.get("/documents/rebuilt").status_code == 200, "the new store"
        )
        auth = {"Authorization": f"Bearer {TOKEN}"}
        posted = {"records": [{"id": "posted", "text": "Gliders ride thermals."}]}
        assert served.client.post("/documents", json=posted, headers=auth).status_code == 200
        assert served.client.get("/documents/posted").status_code == 200
        for doc in DOCS:
            gone = served.client.get(f"/documents/{quote(doc['id'], safe='')}")
            assert error_of(gone) == (404, "not_found")
        for mode in defaults.SEARCH_MODES:
            hits = served.client.get("/search", params={"q": "shock flow walls", "mode": mode})
            assert {hit["id"] for hit in hits.json()["hits"]} <= {"rebuilt", "posted"}
        health = eventually(
            lambda: (h := served.client.get("/health").json())["documents"] == 2 and h,
            "the new store in /health",
        )
        assert health["status"] == "ready" and health["store_id"] != before["store_id"]
    finally:
        assert served.stop() == 0


# -- starting and stopping ----------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_lets_the_request_in_flight_finish_then_exits_0(
    store, tmp_path, signum
) -> None:
    served = Served("--store", str(store), stdout=tmp_path / "stdout")
    try:
        body = json.dumps({"query": "shock", "k": 2}).encode()
        head = (
            f"POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", served.port), timeout=60) as sock:
            sock.sendall(head + body[:5])  # the request has begun: the server waits for the rest
            served.process.send_signal(signum)
            eventually(lambda: not listening(served.port), "the port to refuse new connections")
            sock.sendall(body[5:])
            answer = sock.makefile("rb").read().decode()
        assert answer.startswith("HTTP/1.1 200 ")
        assert len(json.loads(answer.split("\r\n\r\n", 1)[1])["hits"]) == 2
        served.process.wait(timeout=60)
    finally:
        code = served.stop()  # only waits, unless the test failed before the server ended
    assert code == 0
    assert "Traceback" not in "".join(served.lines)


def test_a_model_that_cannot_load_stops_the_server_with_the_reason(store, tmp_path) -> None:
    moved = str(tmp_path / "moved-model")
    done = subprocess.run(
        [SEMSEARCH, "serve", "--store", str(store), "--port", "0", "--model", moved],
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 2
    assert "serving on http://127.0.0.1:" in done.stderr
    assert done.stderr.splitlines()[-1].startswith(f"Error: cannot load model {moved!r}: ")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_no_store_and_a_port_in_use_are_one_line_errors(tmp_path, store) -> None:
    missing = CliRunner().invoke(cli, ["serve", "--store", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no store at" in missing.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = CliRunner().invoke(cli, ["serve", "--store", str(store), "--port", port])
    assert busy.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.output


def test_listening_beyond_this_machine_without_a_token_warns(store, monkeypatch) -> None:
    served = []

    def run(app: Any, sock: socket.socket, **_: Any) -> None:
        served.append(sock.getsockname())
        sock.close()

    monkeypatch.setattr(http_server, "run", run)
    public = ["serve", "--store", str(store), "--host", "0.0.0.0", "--port", "0"]
    without = CliRunner().invoke(cli, public)
    local = CliRunner().invoke(cli, ["serve", "--store", str(store), "--port", "0"])
    tokened = CliRunner().invoke(cli, public, env={defaults.TOKEN_ENV: TOKEN})
    assert without.exit_code == local.exit_code == tokened.exit_code == 0
    assert "WARNING" in without.output and "read every document" in without.output
    assert "WARNING" not in local.output and "WARNING" not in tokened.output
    assert [address[0] for address in served] == ["0.0.0.0", "127.0.0.1", "0.0.0.0"]


# -- loading --------------------------------------------------------------------------------------


class GatedCollection(Collection):
    """A Collection whose loads (the server's warm-up search) wait until `gate` is open."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def search(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if query == WARM_UP_QUERY:
            self.waiting.set()
            assert self.gate.wait(START_SECONDS)
            self.waiting.clear()
        return super().search(query, *args, **kwargs)


@contextmanager
def in_process(live: LiveCollection) -> Iterator[httpx.Client]:
    """The app on uvicorn in a thread of this process, on a free port, until the block ends."""
    sock = http_server.bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(live), log_level="warning", lifespan="on")
    server = http_server.Server(config, stop_when=lambda: False)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        eventually(lambda: listening(port), "the server to listen")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        live.reader.gate.set()
        server.should_exit = True
        thread.join(START_SECONDS)
        assert not thread.is_alive() and not listening(port)


def test_requests_get_503_while_the_model_and_index_load(tmp_path, tiny_model_dir) -> None:
    store = make_store(tmp_path / "store", tiny_model_dir)
    reader = GatedCollection(store)
    live = LiveCollection(reader, load_wait_seconds=0.1)
    with in_process(live) as client:
        eventually(reader.waiting.is_set, "the load to begin")
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "loading"
        answer = client.get("/search", params={"q": "shock"})
        assert error_of(answer) == (503, "loading") and int(answer.headers["Retry-After"]) >= 1
        reader.gate.set()
        eventually(lambda: client.get("/health").status_code == 200, "the load to end")
        assert client.get("/search", params={"q": "shock"}).status_code == 200


def test_requests_get_503_while_a_new_generation_loads(tmp_path, tiny_model_dir) -> None:
    store = make_store(tmp_path / "store", tiny_model_dir)
    reader = GatedCollection(store)
    reader.gate.set()
    live = LiveCollection(reader, watch_seconds=0.05, load_wait_seconds=0.1)
    with in_process(live) as client:
        eventually(lambda: client.get("/health").status_code == 200, "the first load")
        before = client.get("/health").json()["generation"]
        reader.gate.clear()
        make_store(store, tiny_model_dir, [{"id": "later", "text": "Rotors of helicopters."}])
        eventually(reader.waiting.is_set, "the new generation's load to begin")
        assert client.get("/health").json()["status"] == "loading"
        assert error_of(client.get("/search", params={"q": "rotors"})) == (503, "loading")
        reader.gate.set()
        eventually(lambda: client.get("/health").json()["generation"] > before, "the reload")
        hits = client.get("/search", params={"q": "rotors", "mode": "lexical"}).json()["hits"]
        assert [hit["id"] for hit in hits] == ["later"]


class GatedModel(Collection):
    """A Collection whose model, asked for a text's vectors, waits until `gate` is open."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def _query_embedder(self) -> Any:
        self.waiting.set()
        assert self.gate.wait(START_SECONDS)
        return super()._query_embedder()


def test_a_search_answers_while_a_big_embedding_is_in_flight(tmp_path, tiny_model_dir) -> None:
    store = make_store(tmp_path / "store", tiny_model_dir)
    reader, viewer = GatedCollection(store), GatedModel(store)
    reader.gate.set()
    live = LiveCollection(reader, viewer=viewer)
    budget = defaults.MAX_EMBED_CHARS // defaults.MAX_TEXT_CHARS
    texts = ["Supersonic flow. " * (defaults.MAX_TEXT_CHARS // 17)] * budget  # the most allowed
    try:
        with in_process(live) as client, ThreadPoolExecutor(1) as pool:
            eventually(lambda: client.get("/health").status_code == 200, "the load")
            embedding = pool.submit(client.post, "/embed", json={"texts": texts})
            eventually(viewer.waiting.is_set, "the embedding to start")
            found = client.get("/search", params={"q": "shock wave"})
            assert found.status_code == 200 and found.json()["hits"]
            assert not embedding.done()  # the search did not wait for it
            viewer.gate.set()
            answer = embedding.result(timeout=START_SECONDS)
            assert answer.status_code == 200 and len(answer.json()["vectors"]) == budget
    finally:
        viewer.gate.set()
