"""`semsearch mcp`: the stdio server driven by the MCP SDK's own client (and by hand, to see that
stdout carries nothing but the protocol), over stores of the tiny random BERT."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from mcp import Client, StdioServerParameters

from indexer.cli.app import cli
from indexer.collection import Collection
from store.results import Document
from tests.conftest import processes_with
from tests.helpers import ODD_ID, SEMSEARCH, eventually, make_store
from tests.helpers import SERVED_DOCS as DOCS
from tests.helpers import SERVER_START_SECONDS as START_SECONDS


def stdio(store: Path, *options: str) -> StdioServerParameters:
    """How an assistant starts the server (the child gets a minimal environment plus `env`)."""
    return StdioServerParameters(
        command=SEMSEARCH,
        args=["mcp", "--store", str(store), *options],
        env={"PYTHONPATH": os.environ.get("PYTHONPATH", ""), "HF_HUB_OFFLINE": "1"},
    )


def session(store: Path, *options: str, calls: list[tuple[str, dict[str, Any]]]) -> dict:
    """Start the server, list its tools, make `calls` in order; the tools and the results."""

    async def run() -> dict:
        with anyio.fail_after(START_SECONDS):
            async with Client(stdio(store, *options)) as client:
                tools = {tool.name: tool for tool in (await client.list_tools()).tools}
                results = [await client.call_tool(name, arguments) for name, arguments in calls]
        return {"tools": tools, "results": results}

    outcome = anyio.run(run)
    assert not processes_with("mcp", str(store)), "the MCP server outlived its client"
    return outcome


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_model_dir) -> Path:
    """A store that no test writes."""
    return make_store(tmp_path_factory.mktemp("mcp") / "store", tiny_model_dir)


def test_an_assistant_searches_and_reads_documents(store) -> None:
    outcome = session(
        store,
        calls=[
            ("search", {"query": "shock wave", "k": 2, "filters": ["year>=1955"]}),
            ("search", {"query": "walls", "mode": "lexical", "filters": ["lang=en"]}),
            ("get_document", {"id": ODD_ID}),
        ],
    )
    tools = outcome["tools"]
    assert set(tools) == {"search", "get_document"}  # no add without --allow-add
    assert tools["search"].input_schema["required"] == ["query"]
    assert tools["search"].annotations.read_only_hint is True
    dense, lexical, document = outcome["results"]
    with Collection(store) as reader:
        expected = reader.search("shock wave", k=2, filters=["year>=1955"])
        stored = reader.document(ODD_ID)
    assert not dense.is_error
    assert dense.structured_content["hits"] == json.loads(
        json.dumps([hit.as_dict() for hit in expected])
    )
    assert [hit["id"] for hit in lexical.structured_content["hits"]] == ["plain"]
    assert document.structured_content["id"] == ODD_ID
    assert document.structured_content["text"] == f"{DOCS[2]['title']}\n\n{DOCS[2]['text']}"
    assert document.structured_content == stored.as_dict()  # the facade's Document, as it is
    shown = tools["get_document"].output_schema["properties"]
    assert list(shown) == [field.name for field in fields(Document)]


def test_the_assistant_reads_why_a_call_failed(store) -> None:
    outcome = session(
        store,
        calls=[
            ("get_document", {"id": "nope"}),
            ("search", {"query": "x", "filters": ["garbage"]}),
            ("search", {"query": "x", "k": 0}),
            ("add", {"records": [{"id": "a", "text": "b"}]}),
        ],
    )
    missing, bad_filter, bad_k, no_add = outcome["results"]
    assert all(result.is_error for result in outcome["results"])
    assert missing.content[0].text.endswith("no document with id 'nope'")
    assert "cannot parse filter 'garbage'" in bad_filter.content[0].text
    assert "k" in bad_k.content[0].text and "greater than or equal to 1" in bad_k.content[0].text
    assert "Unknown tool" in no_add.content[0].text


def test_with_allow_add_the_assistant_stores_documents(tmp_path, tiny_model_dir) -> None:
    store = make_store(tmp_path / "store", tiny_model_dir)
    record = {"id": "notes/meeting", "text": "Decided to test the scramjet.", "metadata": {"n": 1}}
    outcome = session(
        store,
        "--allow-add",
        calls=[
            ("add", {"records": [record]}),
            ("search", {"query": "scramjet", "mode": "lexical"}),
        ],
    )
    added, found = outcome["results"]
    assert outcome["tools"]["add"].annotations.read_only_hint is not True
    assert added.structured_content["added"] == 1
    assert [hit["id"] for hit in found.structured_content["hits"]] == ["notes/meeting"]
    with Collection(store) as reader:
        assert reader.document("notes/meeting").metadata == {"n": 1}


def test_a_store_replaced_while_served_is_read_and_the_deleted_one_is_not(
    tmp_path, tiny_model_dir
) -> None:
    store = make_store(tmp_path / "store", tiny_model_dir)

    async def run() -> tuple[Any, list[Any]]:
        with anyio.fail_after(START_SECONDS):
            async with Client(stdio(store)) as client:
                before = await client.call_tool("search", {"query": "walls", "mode": "lexical"})
                shutil.rmtree(store)
                rebuilt = [{"id": "rebuilt", "text": "Rotors and walls of helicopters."}]
                make_store(store, tiny_model_dir, rebuilt)
                after = [
                    await client.call_tool("get_document", {"id": "rebuilt"}),
                    await client.call_tool("get_document", {"id": "plain"}),
                    await client.call_tool("search", {"query": "walls", "mode": "lexical"}),
                    await client.call_tool("search", {"query": "walls", "mode": "dense"}),
                ]
        return before, after

    before, (found, gone, lexical, dense) = anyio.run(run)
    assert not processes_with("mcp", str(store)), "the MCP server outlived its client"
    assert "plain" in [hit["id"] for hit in before.structured_content["hits"]]
    assert found.structured_content["id"] == "rebuilt"
    assert gone.is_error and gone.content[0].text.endswith("no document with id 'plain'")
    for hits in (lexical, dense):
        assert [hit["id"] for hit in hits.structured_content["hits"]] == ["rebuilt"]


def test_stdout_carries_only_the_protocol_and_closing_stdin_ends_it(store) -> None:
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "by-hand", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "search", "arguments": {"query": "heat", "k": 1}},
        },
    ]
    server = subprocess.Popen(
        [SEMSEARCH, "mcp", "--store", str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True)
    reader.start()
    try:
        server.stdin.write("".join(json.dumps(message) + "\n" for message in messages))
        server.stdin.flush()
        eventually(lambda: len(lines) >= 2, "both answers")
        server.stdin.close()
        assert server.wait(timeout=START_SECONDS) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    reader.join(START_SECONDS)
    answers = [json.loads(line) for line in lines]  # every line is a JSON-RPC message
    assert [answer["id"] for answer in answers] == [1, 2]
    assert all(answer["jsonrpc"] == "2.0" for answer in answers)
    assert answers[0]["result"]["serverInfo"]["name"] == "semsearch"
    assert len(answers[1]["result"]["structuredContent"]["hits"]) == 1


def test_without_a_store_it_stops_before_the_protocol(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["mcp", "--store", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert (
        result.output
        == f"Error: no store at {tmp_path / 'none'}; create one with `semsearch index`\n"
    )
