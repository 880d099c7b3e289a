"""Hostile but fair input, through the command line: every bad input gets a clear answer naming
the file (and line) and the reason, no wrong result is ever served, and what a store held before
is still there afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from indexer.settings import FALLBACK_MODEL
from store.index_cache import INDEX_FILE
from tests.conftest import read_only
from tests.helpers import (
    SEMSEARCH,
    documents,
    interruptible,
    invoke,
    write_records,
    write_varied_records,
)


def unprivileged(command: list[str]) -> list[str]:
    """`command` run as an ordinary user, so that file permissions apply (root ignores them)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("unshare") is None:
        pytest.skip("running as root without `unshare`: permissions cannot be tested")
    probe = subprocess.run(["unshare", "--user", "--map-user=1000", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces are not available: {probe.stderr.decode().strip()}")
    return ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--", *command]


@pytest.fixture
def model(tiny_model_dir) -> list[str]:
    return ["--model", str(tiny_model_dir)]


@pytest.fixture
def store(tmp_path, model) -> Path:
    """A store of 20 records, indexed with the tiny model."""
    folder = tmp_path / "store"
    source = write_records(tmp_path / "base.jsonl", 20)
    assert invoke("index", str(source), "--store", str(folder), "--quiet", *model).exit_code == 0
    return folder


def search_ids(store: Path, *filters: str) -> list[str]:
    args = [item for expression in filters for item in ("--filter", expression)]
    result = invoke("search", "wings", "--store", str(store), "--mode", "lexical", "--json", *args)
    assert result.exit_code == 0, result.output
    return sorted(hit["id"] for hit in json.loads(result.stdout))


# -- 1. another store's index file ----------------------------------------------------------


def test_another_stores_index_file_gives_no_wrong_hit(tmp_path, model) -> None:
    for name in ("a", "b"):
        source = write_records(tmp_path / f"{name}.jsonl", 300, prefix=name)
        invoke("index", str(source), "--store", str(tmp_path / name), "--quiet", *model)
    shutil.copy(tmp_path / "b" / INDEX_FILE, tmp_path / "a" / INDEX_FILE)
    hits = json.loads(invoke("search", "record 7", "--store", str(tmp_path / "a"), "--json").stdout)
    assert hits and all(hit["id"].startswith("a") for hit in hits)
    report = json.loads(invoke("verify", "--store", str(tmp_path / "a"), "--json").stdout)
    assert report["ok"] and report["warnings"] == [], "the reader replaced the foreign file"


# -- 2. filters compare like with like ------------------------------------------------------


def test_a_number_and_a_string_never_compare(tmp_path, model) -> None:
    rows = [
        {"id": "text7", "text": "wings", "metadata": {"a": {"b": {"c": "7"}}, "year": 1999}},
        {"id": "num700", "text": "wings", "metadata": {"a": {"b": {"c": 700}}, "year": "1999"}},
    ]
    source = tmp_path / "typed.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    store = tmp_path / "store"
    invoke("index", str(source), "--store", str(store), "--quiet", *model)
    assert search_ids(store, "a.b.c>100") == ["num700"], "the text '7' is no number over 100"
    assert search_ids(store, "year<'1000'") == [], "the number 1999 is no text before '1000'"
    assert search_ids(store, 'a.b.c="7"') == ["text7"] and search_ids(store, "a.b.c=7") == []
    assert search_ids(store, "year=1999") == ["text7"]
    assert search_ids(store, "year='1999'") == ["num700"]


# -- 3. an interrupted rebuild --------------------------------------------------------------


def test_a_manifest_ahead_of_its_index_file_is_reported_and_repaired(store) -> None:
    with sqlite3.connect(store / "store.db") as db:  # what a kill after the manifest commit leaves
        db.execute("UPDATE meta SET value = '\"hnsw\"' WHERE key = 'index_spec'")
    report = invoke("verify", "--store", str(store), "--json")
    assert report.exit_code == 1
    problems = json.loads(report.stdout)["problems"]
    assert any("is a flat index but the store is configured for hnsw" in p for p in problems)
    assert invoke("delete", "nothing", "--store", str(store)).exit_code == 0  # any writer repairs
    again = invoke("verify", "--store", str(store), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["index_type"] == "hnsw"


# -- 4, 5, 8. odd entries in a folder -------------------------------------------------------


def test_odd_entries_in_a_folder_are_listed_and_the_run_goes_on(tmp_path, model) -> None:
    folder = tmp_path / "in"
    (folder / "real").mkdir(parents=True)
    (folder / "real" / "a.txt").write_text("Wings generate lift.")
    (folder / "b.txt").write_text("Jets burn fuel.")
    (folder / "secret.txt").write_text("nobody may read this")
    (folder / "secret.txt").chmod(0)
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    (folder / "gone.txt").symlink_to(folder / "nowhere.txt")
    (folder / "linked").symlink_to(folder / "real")  # a second way into real/: walked once
    (folder / "real" / "up").symlink_to(folder)  # a loop back to the top
    os.mkfifo(folder / "pipe.jsonl")  # would block the run forever if it were opened
    store = tmp_path / "store"
    command = [SEMSEARCH, "index", str(folder), "--store", str(store), *model, "--json"]
    result = subprocess.run(unprivileged(command), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    skipped = {
        item["where"].removeprefix(str(folder) + "/"): item for item in summary["skipped_items"]
    }
    assert {where: item["kind"] for where, item in skipped.items()} == {
        "gone.txt": "broken symlink",
        "linked/up": "already walked",
        "loop.txt": "symlink loop",
        "pipe.jsonl": "special file",
        "real": "already walked",
        "secret.txt": "unreadable",
    }
    assert "Permission denied" in skipped["secret.txt"]["reason"]
    assert "FIFO" in skipped["pipe.jsonl"]["reason"]
    assert summary["added"] == 2 and {d[0] for d in documents(store)} == {"b.txt", "linked/a.txt"}


def test_a_named_pipe_given_by_name_is_read_as_json_lines(tmp_path, model) -> None:
    source = write_records(tmp_path / "r.jsonl", 5)
    store = tmp_path / "store"
    shell = f"{SEMSEARCH} index <(cat {source}) --store {store} --model {model[1]} --json"
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 5
    assert [d[0] for d in documents(store)] == [f"r{i}" for i in range(5)]


# -- 6, 7. bytes and CSV --------------------------------------------------------------------


def test_stdin_gets_the_same_rules_as_a_file(tmp_path, model) -> None:
    lines = [b'{"id": "ok", "text": "plain"}', b'{"id": "bad", "text": "caf\xe9 cr\xe8me"}']
    data = b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n"  # with a UTF-8 byte-order mark
    (tmp_path / "same.jsonl").write_bytes(data)
    by_file = invoke(
        "index", str(tmp_path / "same.jsonl"), "--store", str(tmp_path / "f"), "--json", *model
    )
    by_stdin = invoke("index", "-", "--store", str(tmp_path / "s"), "--json", *model, input=data)
    for result, name in ((by_file, str(tmp_path / "same.jsonl")), (by_stdin, "stdin")):
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert (summary["added"], summary["replaced_bytes"]) == (2, 2)
        assert summary["replaced_items"] == [{"where": name, "bytes": 2}]
    assert documents(tmp_path / "f") == documents(tmp_path / "s")
    assert dict((d[0], d[1]) for d in documents(tmp_path / "s"))["bad"] == "caf\ufffd cr\ufffdme"


def test_csv_with_a_bom_and_an_unterminated_quote(tmp_path, model) -> None:
    table = tmp_path / "t.csv"
    rows = '"second row, quoted",2\n"never closed,3\nlost,4\nlost,5\n'
    table.write_bytes(("\ufefftext,id\nfirst row,1\n" + rows).encode())
    result = invoke("index", str(table), "--store", str(tmp_path / "store"), "--json", *model)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["added"] == 2
    assert summary["skipped_items"] == [
        {
            "where": f"{table}:4",
            "kind": "malformed CSV",
            "reason": "unterminated quoted field: lines 4 to 6 (the end of the file) were not read",
        }
    ]


# -- 9. text the model cannot represent -----------------------------------------------------


def test_unknown_wordpieces_and_binary_garbage_are_reported(tmp_path, model) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "long.txt").write_text("x" * 1_000_000)  # one word of a million letters: [UNK]
    garbage = bytes(range(128, 256)) * 40  # no NUL bytes, not UTF-8
    (folder / "garbage.txt").write_bytes(garbage)
    (folder / "fine.txt").write_text("Wings generate lift.")
    result = invoke("index", str(folder), "--store", str(tmp_path / "store"), *model)
    assert result.exit_code == 0
    assert "garbage.txt: not UTF-8 text (100% of its bytes undecodable)" in result.output
    assert "1 documents have a window of nothing but [UNK]" in result.output
    assert "e.g. long.txt" in result.output


# -- 11, 12, 13. stores that cannot be used as they are -------------------------------------


def test_a_read_only_store_can_be_read(store) -> None:
    before = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in store.iterdir())
    store.chmod(0o555)
    for path in store.iterdir():
        path.chmod(0o444)
    try:
        for args in (["search", "record 3"], ["stats"], ["verify"]):
            command = [SEMSEARCH, *args, "--store", str(store)]
            result = subprocess.run(unprivileged(command), capture_output=True, text=True)
            assert result.returncode == 0, (args, result.stderr)
        assert (
            "r3"
            in subprocess.run(
                unprivileged([SEMSEARCH, "search", "record 3", "--store", str(store)]),
                capture_output=True,
                text=True,
            ).stdout
        )
    finally:
        store.chmod(0o755)
        for path in store.iterdir():
            path.chmod(0o644)
    assert (
        sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in store.iterdir()) == before
    )


def test_a_foreign_database_is_never_changed(tmp_path) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    with sqlite3.connect(folder / "store.db") as db:  # a foreign database
        db.execute("CREATE TABLE people (name TEXT)")
        db.execute("INSERT INTO people VALUES ('Ada')")
    before = (folder / "store.db").read_bytes()
    for args in (["search", "x", "--mode", "lexical"], ["stats"], ["verify"], ["repair"]):
        result = invoke(*args, "--store", str(folder))
        assert result.exit_code == 2, args
        assert "not a semsearch store" in result.stderr and "Traceback" not in result.output
    assert (folder / "store.db").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["store.db"]


@pytest.mark.parametrize("damage", ["random", "truncated"])
def test_a_damaged_database_is_a_one_line_error(store, damage) -> None:
    path = store / "store.db"
    invoke("stats", "--store", str(store))  # the WAL is folded into store.db on close
    if damage == "random":
        path.write_bytes(os.urandom(path.stat().st_size))
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    for args in (["search", "record 3", "--mode", "lexical"], ["stats"], ["verify"]):
        result = invoke(*args, "--store", str(store))
        assert result.exit_code == 2, (args, result.output)
        assert "is damaged or not a database" in result.stderr and ".recover" in result.stderr


# -- 14. a model that moved -----------------------------------------------------------------


def test_a_model_is_identified_by_its_weights_not_its_path(tmp_path, tiny_model_dir) -> None:
    first = tmp_path / "models" / "tiny"
    shutil.copytree(tiny_model_dir, first)
    store = tmp_path / "store"
    source = write_records(tmp_path / "r.jsonl", 10)
    invoke("index", str(source), "--store", str(store), "--model", str(first), "--quiet")
    moved = tmp_path / "elsewhere" / "tiny"
    moved.parent.mkdir()
    first.rename(moved)
    lost = invoke("search", "record 3", "--store", str(store))
    assert lost.exit_code == 2 and "give its new location with --model" in lost.stderr
    found = invoke("search", "record 3", "--store", str(store), "--model", str(moved), "--json")
    assert found.exit_code == 0 and json.loads(found.stdout)[0]["id"] == "r3"
    source.write_text(source.read_text() + json.dumps({"id": "new", "text": "more"}) + "\n")
    again = invoke("index", str(source), "--store", str(store), "--model", str(moved), "--json")
    assert json.loads(again.stdout)["added"] == 1, "the same weights: accepted"
    assert invoke("search", "record 3", "--store", str(store)).exit_code == 0, "location updated"


def test_the_shipped_model_by_name_or_by_path(tmp_path) -> None:
    from indexer.embedding.model import fallback_model_path

    store = tmp_path / "store"
    source = write_records(tmp_path / "r.jsonl", 3)
    invoke("index", str(source), "--store", str(store), "--model", FALLBACK_MODEL, "--quiet")
    by_path = invoke(
        "search", "record 1", "--store", str(store), "--model", str(fallback_model_path()), "--json"
    )
    assert by_path.exit_code == 0 and json.loads(by_path.stdout)[0]["id"] == "r1"


# -- 15. numeric options --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--chunk-tokens", "0"],
            "Invalid value for '--chunk-tokens': 0 is not in the range 1<=x<=2147483647",
        ),
        (
            ["--overlap", "-3"],
            "Invalid value for '--overlap': -3 is not in the range 0<=x<=2147483647",
        ),
        (
            ["--commit-every", "0"],
            "Invalid value for '--commit-every': 0 is not in the range 1<=x<=2147483647",
        ),
        (["--batch-tokens", "1"], "batch_tokens 1 is smaller than one window: it must be at least"),
        (["--chunk-tokens", "16"], "overlap 32 must be smaller than chunk_tokens 16"),
    ],
)
def test_numeric_options_are_checked_by_name(tmp_path, model, args, message) -> None:
    source = write_records(tmp_path / "r.jsonl", 3)
    result = invoke("index", str(source), "--store", str(tmp_path / "store"), *model, *args)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "store" / "store.db").exists()


def test_k_must_be_positive(store) -> None:
    result = invoke("search", "x", "--store", str(store), "-k", "-1")
    assert (
        result.exit_code == 2
        and "Invalid value for '-k': -1 is not in the range 1<=x<=2147483647" in result.output
    )


# -- 16. Ctrl-C -----------------------------------------------------------------------------


def test_ctrl_c_says_what_was_stored_and_a_rerun_resumes(tmp_path, model) -> None:
    source = write_varied_records(
        tmp_path / "many.jsonl", 3000, "d", "document", "lorem ipsum ", 40
    )
    store = tmp_path / "store"
    command = [SEMSEARCH, "index", str(source), "--store", str(store), *model]
    command += ["--commit-every", "50"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with read_only(store) as db:
                if db.execute("SELECT count(*) FROM documents").fetchone()[0] >= 200:
                    break
        except sqlite3.OperationalError:
            pass  # the schema is not there yet
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "run the same command again to resume" in err
    stored = int(err.split("interrupted: ")[1].split(" documents")[0])
    assert stored == len(documents(store)) >= 200
    resumed = subprocess.run([*command, "--json"], capture_output=True, text=True, check=True)
    summary = json.loads(resumed.stdout)
    assert (summary["unchanged"], summary["added"]) == (stored, 3000 - stored)


def loaded(pid: int, library: str) -> bool:
    """True once process `pid` has mapped a shared library whose name holds `library`."""
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # the process is gone
        return False


def test_ctrl_c_at_start_up_is_one_line(tmp_path, model) -> None:
    source = write_records(tmp_path / "r.jsonl", 3000)  # a run long enough to still be going
    command = [SEMSEARCH, "index", str(source), "--store", str(tmp_path / "store"), *model]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible
    )
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if loaded(process.pid, "swigfaiss"):  # importing the store's code: still starting up
            break
        time.sleep(0.005)
    assert process.poll() is None, "the run finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err


# -- 17. messages ---------------------------------------------------------------------------


def test_json_groups_skips_by_kind_and_the_store_never_indexes_itself(tmp_path, model) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    rows = [{"id": "same", "text": f"copy {i}"} for i in range(4)]
    (folder / "dupes.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows) + '{"id": "x", "text": "unterminated\n{]\n'
    )
    store = folder / "store"  # inside the folder being indexed
    for _ in range(2):
        result = invoke("index", str(folder), "--store", str(store), "--json", *model)
        summary = json.loads(result.stdout)
        assert summary["skipped_by_kind"] == {"duplicate id": 3, "invalid JSON": 2}
        assert not [s for s in summary["skipped_items"] if "store" in Path(s["where"]).parts]
    reasons = [s["reason"] for s in summary["skipped_items"] if s["kind"] == "invalid JSON"]
    assert reasons == [
        "invalid JSON: Invalid control character at column 34",
        "invalid JSON: Expecting property name enclosed in double quotes at column 2",
    ]


def test_stats_counts_each_wordpiece_once(tmp_path, tiny_model_dir) -> None:
    from indexer.collection import Collection
    from indexer.settings import Settings

    text = " ".join(f"word{i}" for i in range(300))
    (tmp_path / "long.txt").write_text(text)
    settings = Settings(model=str(tiny_model_dir), chunk_tokens=48, overlap=8)
    with Collection(tmp_path / "store", settings) as collection:
        collection.add([str(tmp_path / "long.txt")])
        stats = collection.stats()
        assert stats.wordpieces == len(collection.embedder.tokenize([text])[0])
        assert stats.wordpieces_embedded == stats.wordpieces + 8 * (stats.chunks - 1)
