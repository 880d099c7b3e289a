"""Values and places nobody planned for, through the command line: text with NUL or lone
surrogates, metadata that is not JSON's, huge numbers in filters, odd Parquet types, damaged files,
a full disk, a moved folder. Each gets a one-line answer (exit 2) or a listed, counted change, never
a traceback, and what the store held is intact."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from indexer.collection import Collection
from store.full_text import ENGINE_FOLDER
from tests.conftest import read_only
from tests.helpers import SEMSEARCH, invoke, write_beir, write_records


@pytest.fixture
def model(tiny_model_dir) -> list[str]:
    return ["--model", str(tiny_model_dir)]


def index_json(tmp_path: Path, lines: list[str], model: list[str], *extra: str):
    """`semsearch index --json` of a JSONL file holding `lines`, into tmp_path/store."""
    source = tmp_path / "input.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke(
        "index", str(source), "--store", str(tmp_path / "store"), "--json", *model, *extra
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def lexical(store: str, query: str, *filters: str) -> list[str]:
    """The ids a lexical `semsearch search --json` finds with these filters."""
    options = [item for expression in filters for item in ("--filter", expression)]
    result = invoke("search", query, "--store", store, "--mode", "lexical", "--json", *options)
    assert result.exit_code == 0, result.output
    return [hit["id"] for hit in json.loads(result.stdout)]


def stored(store: Path, doc_id: str) -> tuple:
    with read_only(store) as db:
        return db.execute(
            "SELECT text, title, metadata FROM documents WHERE id = ?", [doc_id]
        ).fetchone()


def test_nul_and_lone_surrogates_are_replaced_counted_and_served_whole(tmp_path, model) -> None:
    lines = [
        json.dumps({"id": "nul", "text": "before\u0000after harbours"}),
        '{"id": "surrogate", "text": "a \\ud800 b about harbours", "title": "t\\udfff"}',
        json.dumps({"id": "fine", "text": "plain harbours"}),
    ]
    summary = index_json(tmp_path, lines, model)
    assert summary["added"] == 3 and summary["skipped"] == 0
    assert {item["where"]: item["bytes"] for item in summary["replaced_items"]} == {
        str(tmp_path / "input.jsonl"): 3
    }
    store = tmp_path / "store"
    assert stored(store, "nul")[0] == "before\ufffdafter harbours"
    assert stored(store, "surrogate")[:2] == ("t\ufffd\n\na \ufffd b about harbours", "t\ufffd")
    result = invoke("search", "harbours", "--store", str(store), "--mode", "lexical", "--json")
    hits = {hit["id"]: hit for hit in json.loads(result.stdout)}
    assert hits["nul"]["chunk"]["text"] == "before\ufffdafter harbours"  # not cut at the NUL
    assert invoke("delete", "nul", "--store", str(store)).exit_code == 0
    after = invoke("search", "before", "--store", str(store), "--mode", "lexical", "--json")
    assert json.loads(after.stdout) == []
    assert invoke("verify", "--store", str(store)).exit_code == 0


def test_non_finite_numbers_in_metadata_are_stored_as_null_and_filters_work(
    tmp_path, model
) -> None:
    lines = [
        '{"id": "a", "text": "river banks", "metadata": {"v": NaN, "w": -Infinity, "year": 1990}}',
        '{"id": "b", "text": "river mouths", "metadata": {"v": 2.5, "year": 2001}}',
    ]
    summary = index_json(tmp_path, lines, model)
    assert summary["added"] == 2 and summary["nulled_numbers"] == 2
    store = tmp_path / "store"
    assert json.loads(stored(store, "a")[2]) == {"v": None, "w": None, "year": 1990}
    assert lexical(str(store), "river", "year>2000") == ["b"]
    every = invoke("search", "river", "--store", str(store), "--json", "--mode", "lexical")
    # strict JSON: no bare NaN anywhere
    json.loads(every.stdout, parse_constant=lambda name: pytest.fail(f"bare {name}"))


def test_huge_and_infinite_numbers_in_filters_are_answered_in_one_line(tmp_path, model) -> None:
    index_json(tmp_path, [json.dumps({"id": "a", "text": "wings", "metadata": {"n": 5}})], model)
    store = str(tmp_path / "store")
    assert lexical(store, "wings", "n<99999999999999999999") == ["a"]
    infinite = invoke("search", "wings", "--store", store, "--filter", "n<1e400")
    assert infinite.exit_code == 2 and "is not a finite number" in infinite.stderr


def test_metadata_keys_with_dots_and_spaces_are_filtered_when_quoted(tmp_path, model) -> None:
    record = {
        "id": "a",
        "text": "wings",
        "metadata": {"a.b": 1, "first name": "Ada", "a": {"b": 2}},
    }
    index_json(tmp_path, [json.dumps(record)], model)
    store = str(tmp_path / "store")

    assert lexical(store, "wings", 'metadata."a.b"=1') == ["a"]  # the key "a.b"
    assert lexical(store, "wings", "a.b=2") == ["a"]  # the nested key b of a
    assert lexical(store, "wings", 'metadata."a.b"=2') == []
    assert lexical(store, "wings", '"first name"~ada') == ["a"]


def test_in_takes_a_quarter_of_a_million_values(tmp_path, model) -> None:
    index_json(tmp_path, [json.dumps({"id": "a", "text": "wings"})], model)
    with Collection(tmp_path / "store", quiet=True) as store:
        from store.filters import Filter

        many = tuple(f"id{i}" for i in range(250_001)) + ("a",)
        assert store.count([Filter("id", "in", many)]) == 1


def test_an_empty_query_is_a_one_line_error(tmp_path, model) -> None:
    index_json(tmp_path, [json.dumps({"id": "a", "text": "wings"})], model)
    for mode in ("dense", "hybrid", "lexical"):
        result = invoke("search", "   ", "--store", str(tmp_path / "store"), "--mode", mode)
        assert result.exit_code == 2 and "the query is empty" in result.stderr


def test_deeply_nested_json_is_a_listed_line_and_the_rest_is_stored(tmp_path, model) -> None:
    lines = [
        json.dumps({"id": "ok", "text": "kept"}),
        "[" * 100_000,
        json.dumps({"id": "deep", "text": "x", "metadata": {"m": json.loads("[" * 70 + "]" * 70)}}),
    ]
    summary = index_json(tmp_path, lines, model)
    assert summary["added"] == 1
    where = {item["where"]: item["reason"] for item in summary["skipped_items"]}
    source = str(tmp_path / "input.jsonl")
    assert where[f"{source}:2"] == "invalid JSON: nested too deeply to read"
    assert "nested deeper than 64 levels" in where[f"{source}:3"]


def test_parquet_durations_and_out_of_range_timestamps_are_kept_as_json(tmp_path, model) -> None:
    table = pa.table(
        {
            "id": ["a", "b"],
            "text": ["first row", "second row"],
            "took": pa.array([1_500_000, None], pa.duration("us")),
            "when": pa.array([0, 253402300800000000], pa.timestamp("us")),
            "score": [math.nan, 0.5],
        }
    )
    pq.write_table(table, tmp_path / "rows.parquet")
    result = invoke(
        "index",
        str(tmp_path / "rows.parquet"),
        "--store",
        str(tmp_path / "store"),
        "--json",
        *model,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["added"] == 2 and summary["nulled_numbers"] == 1
    first = json.loads(stored(tmp_path / "store", "a")[2])
    second = json.loads(stored(tmp_path / "store", "b")[2])
    assert first == {"took": 1.5, "when": "1970-01-01T00:00:00", "score": None}
    assert second == {"when": "10000-01-01 00:00:00.000000", "score": 0.5}


def test_a_damaged_parquet_file_is_listed_and_the_folder_goes_on(tmp_path, model) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    rows = pa.table({"id": [f"r{i}" for i in range(30)], "text": [f"row {i}" for i in range(30)]})
    pq.write_table(rows, folder / "groups.parquet", row_group_size=10)
    good = (folder / "groups.parquet").read_bytes()
    pq.write_table(rows, tmp_path / "whole.parquet")
    (folder / "truncated.parquet").write_bytes((tmp_path / "whole.parquet").read_bytes()[:300])
    middle = pq.ParquetFile(folder / "groups.parquet").metadata.row_group(1).column(1)
    start = middle.data_page_offset
    damaged = bytearray(good)
    damaged[start : start + 40] = b"\xff" * 40  # the text column of the second row group
    (folder / "groups.parquet").write_bytes(bytes(damaged))
    (folder / "notes.txt").write_text("a note about rows")
    result = invoke("index", str(folder), "--store", str(tmp_path / "store"), "--json", *model)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    where = {item["where"]: item["reason"] for item in summary["skipped_items"]}
    assert "not a readable Parquet file" in where["truncated.parquet"]
    assert "row group 1 unreadable" in where["groups.parquet:rows 11-20"]
    with read_only(tmp_path / "store") as db:
        ids = {row[0] for row in db.execute("SELECT id FROM documents")}
    assert {f"r{i}" for i in (*range(10), *range(20, 30))} <= ids  # the groups around the damage
    assert "notes.txt" in ids and "r10" not in ids


def test_a_moved_folder_keeps_its_documents_when_pruned(tmp_path, model) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a", "b", "c"):
        (docs / f"{name}.txt").write_text(f"document {name} about wings")
    store = str(tmp_path / "store")
    assert invoke("index", str(docs), "--store", store, *model).exit_code == 0
    moved = tmp_path / "moved"
    docs.rename(moved)
    again = json.loads(invoke("index", str(moved), "--store", store, "--json", *model).stdout)
    assert (again["unchanged"], again["moved"], again["added"]) == (3, 3, 0)
    pruned = json.loads(invoke("prune", "--store", store, "--json").stdout)
    assert pruned == {"deleted": 0, "ids": []}
    with read_only(tmp_path / "store") as db:
        sources = {row[0] for row in db.execute("SELECT source FROM documents")}
    assert sources == {str((moved / f"{n}.txt").resolve()) for n in "abc"}


def test_an_export_onto_a_file_is_a_one_line_error(tmp_path, model) -> None:
    index_json(tmp_path, [json.dumps({"id": "a", "text": "wings"})], model)
    (tmp_path / "taken").write_text("not a folder")
    result = invoke(
        "export", "--store", str(tmp_path / "store"), "--projector", str(tmp_path / "taken")
    )
    assert result.exit_code == 2 and "cannot write the projector files" in result.stderr


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"qrels/test.tsv": b"q1\td1\t\xff\xfe1\n"}, "not UTF-8 text"),
        ({"queries.jsonl": b'{"_id": "q1", "text": 7}\n'}, "the query text is not a string"),
        ({"queries.jsonl": b'{"_id": "q1", "text": null}\n'}, "the query text is not a string"),
        ({"qrels/test.tsv": b"query-id\tcorpus-id\tscore\nq1\td1\t99999\n"}, "is above 10"),
        ({"qrels/test.tsv": b"query-id\tcorpus-id\tscore\nq1\td1\t0\n"}, "no relevant document"),
    ],
)
def test_a_malformed_beir_folder_is_a_one_line_error(tmp_path, model, files, message) -> None:
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "wings"}) + "\n")
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "wings"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    for name, data in files.items():
        (beir / name).write_bytes(data)
    result = invoke("eval", str(beir), *model)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_rebuilding_a_small_store_as_ivf_pq_prints_no_warnings(tmp_path, model) -> None:
    source = write_records(tmp_path / "r.jsonl", 500)
    store = str(tmp_path / "store")
    assert invoke("index", str(source), "--store", store, "--quiet", *model).exit_code == 0
    rebuilt = subprocess.run(
        [SEMSEARCH, "rebuild", "--store", store, "--index", "ivf-pq"],
        capture_output=True,
        text=True,
    )
    assert rebuilt.returncode == 0 and rebuilt.stderr == "", rebuilt.stderr
    assert "rebuilt: flat" in rebuilt.stdout  # too few vectors to train PQ codebooks: exact


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB file system of its own (tmpfs), or a skip saying why there is none."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"a small file system cannot be mounted here: {mounted.stderr.decode()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_full_disk_says_disk_full_and_leaves_no_temporary_files(
    tmp_path, small_disk, tiny_model_dir
) -> None:
    source = tmp_path / "big.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": f"d{i}", "text": f"document {i} " + "lorem ipsum " * 60}) + "\n"
            for i in range(3000)
        )
    )
    store = small_disk / "store"
    command = [SEMSEARCH, "index", str(source), "--store", str(store), "--quiet"]
    model = ["--model", str(tiny_model_dir), "--commit-every", "100"]
    result = subprocess.run([*command, *model], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "disk is full" in result.stderr
    assert not [p.name for p in store.iterdir() if ".tmp" in p.name]
    with read_only(store) as db:
        stored_ids = [row[0] for row in db.execute("SELECT id FROM documents ORDER BY rowid")]
    assert stored_ids == [f"d{i}" for i in range(len(stored_ids))]  # whole batches, in order
    search = subprocess.run(
        [SEMSEARCH, "stats", "--store", str(store), "--json"], capture_output=True, text=True
    )
    assert search.returncode == 0, search.stderr  # a reader on the full disk still answers
    assert json.loads(search.stdout)["documents"] == len(stored_ids)
    shutil.rmtree(store / ENGINE_FOLDER)  # a lost full-text engine, rebuilt by the next reader,
    room = os.statvfs(small_disk)  # on a disk with no room left for it
    with open(small_disk / "filler", "wb") as filler:
        os.posix_fallocate(filler.fileno(), 0, room.f_bavail * room.f_frsize)
    lexical = subprocess.run(
        [SEMSEARCH, "search", "lorem", "--store", str(store), "--mode", "lexical", "--json"],
        capture_output=True,
        text=True,
    )
    assert lexical.returncode == 0, lexical.stderr  # built in memory instead, said once
    assert lexical.stderr.count("could not be brought up to date on disk") == 1, lexical.stderr
    assert len(json.loads(lexical.stdout)) == 10
    assert not [p.name for p in store.iterdir() if ".tmp" in p.name]


def test_a_nul_in_an_e_mail_body_is_replaced_and_counted_like_one_in_jsonl(tmp_path, model) -> None:
    from email.message import EmailMessage

    mail = EmailMessage()
    mail["Subject"], mail["Message-ID"] = "Harbours", "<nul@example.org>"
    mail.set_content("before\u0000after harbours\n")
    source = tmp_path / "mail" / "nul.eml"
    source.parent.mkdir()
    source.write_bytes(mail.as_bytes())
    result = invoke(
        "index", str(source.parent), "--store", str(tmp_path / "store"), "--json", *model
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["added"] == 1
    assert {item["where"]: item["bytes"] for item in summary["replaced_items"]} == {str(source): 1}
    with read_only(tmp_path / "store") as db:
        (text,) = db.execute("SELECT text FROM documents").fetchone()
    assert "before\ufffdafter harbours" in text and "\u0000" not in text


def test_numbers_past_any_size_or_not_numbers_are_one_line_errors(tmp_path, model) -> None:
    source = write_records(tmp_path / "r.jsonl", 3)
    store = str(tmp_path / "store")
    assert invoke("index", str(source), "--store", store, *model).exit_code == 0
    for args in (
        ["search", "wings", "-k", str(2**63)],
        ["search", "wings", "-k", "²"],
        ["concordance", "wings", "--limit", str(2**64)],
        ["verify", "--recall", "nan"],
    ):
        result = invoke(*args, "--store", store)
        assert result.exit_code == 2, (args, result.output)
        assert "Error: Invalid value" in result.stderr and "Traceback" not in result.output
    assert "nan is not a recall" in invoke("verify", "--recall", "nan", "--store", store).stderr


def test_a_qrels_grade_in_other_digits_is_a_one_line_error(tmp_path, model) -> None:
    folder = write_beir(tmp_path / "beir")
    qrels = folder / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + "q2\td4\t²\n")
    result = invoke("eval", str(folder), "--store", str(tmp_path / "store"), *model)
    assert result.exit_code == 2 and "test.tsv:5: expected query-id, corpus-id, integer score" in (
        result.stderr
    )


def test_a_negative_grade_counts_as_not_relevant_as_in_trec_eval() -> None:
    from indexer.evaluation import ndcg_at

    judged = {"a": 1, "b": -1}
    assert ndcg_at(["b", "a"], judged) == ndcg_at(["x", "a"], judged) < ndcg_at(["a"], judged)
