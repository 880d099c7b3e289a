"""Indexing with worker processes (tiny random BERT): the same store as one process makes, a
kill -9 at any point loses and repeats nothing, and a worker that dies is a named skip.

Kept light at the top: a worker process imports this module to run `crash_on_hostile`."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.batch import parts, workers
from indexer.batch.examined import Examined
from indexer.collection import Collection
from indexer.settings import Settings
from tests.helpers import write_varied_records

SEMSEARCH = str(Path(sys.executable).parent / "semsearch")
HOSTILE = "hostile.txt"


def crash_on_hostile(part: parts.Part) -> Examined:
    """In a worker: die at once (as a reader crashing the interpreter would) on the hostile file."""
    if part.label.endswith(HOSTILE):
        os._exit(1)
    return workers._examine(part)


def jsonl(path: Path, count: int, prefix: str) -> Path:
    return write_varied_records(path, count, prefix, f"{prefix} text", "word ", 70)


def mixed_inputs(folder: Path) -> list[str]:
    """Files read in parts (one cut in line ranges), with a bad line, an empty text, a repeated
    id, a text file and an unsupported one."""
    folder.mkdir()
    big = jsonl(folder / "a.jsonl", 400, "a")
    with big.open("a") as handle:
        handle.write('{"id": "bad", "text": \n')
        handle.write('{"id": "empty", "text": "   "}\n')
        handle.write('{"id": "a3", "text": "a repeated id"}\n')
        handle.write('{"id": "last", "text": "no newline at the end"}')
    jsonl(folder / "b.jsonl", 30, "b")
    (folder / "note.txt").write_text("Notes\n\nA plain text file about wings.")
    (folder / "picture.bmp").write_bytes(b"BM")
    return [str(folder)]


def snapshot(store: Path) -> dict:
    """Everything a store holds that a run decides, in chunk id order (not when it was written)."""
    from tests.conftest import read_only

    with read_only(store) as db:
        docs = db.execute(
            "SELECT id, source, title, text, metadata, content_hash, pages FROM documents "
            "ORDER BY rowid"
        ).fetchall()
        chunks = db.execute(
            'SELECT id, doc_id, ord, start, "end", n_tokens, page, last_page FROM chunks '
            "ORDER BY id"
        ).fetchall()
        vectors = db.execute("SELECT vector FROM chunks ORDER BY id").fetchall()
        fulltext = db.execute("SELECT count(*) FROM chunks_fts").fetchone()
    return {
        "documents": docs,
        "chunks": chunks,
        "fulltext": fulltext,
        "vectors": np.stack([np.frombuffer(v, "<f4") for (v,) in vectors]),
    }


def test_worker_processes_make_the_same_store_as_one_process(
    tmp_path, tiny_model_dir, monkeypatch
) -> None:
    monkeypatch.setattr(parts, "PART_BYTES", 4_000)  # a.jsonl is read in several line ranges
    inputs = mixed_inputs(tmp_path / "in")
    results = {}
    for count in (1, 3):
        settings = Settings(model=str(tiny_model_dir), device="cpu", commit_every=25, workers=count)
        with Collection(tmp_path / f"store{count}", settings, quiet=True) as collection:
            summary = collection.add(inputs).as_dict()
            again = collection.add(inputs).as_dict()
        results[count] = (summary, again, snapshot(tmp_path / f"store{count}"))
    (one, one_again, one_store), (many, many_again, many_store) = results[1], results[3]
    for summary in (one, many):
        summary.pop("seconds")
    assert many == one
    assert one["added"] == 400 + 1 + 30 + 1  # a.jsonl's `last`, note.txt; `a3` once
    assert {s["kind"] for s in one["skipped_items"]} >= {"invalid JSON", "duplicate id"}
    assert any(s["where"].endswith("a.jsonl:401") for s in one["skipped_items"])
    assert many_again["unchanged"] == one_again["unchanged"] == one["added"]
    assert many_again["added"] == 0
    assert many_store["documents"] == one_store["documents"]
    assert many_store["chunks"] == one_store["chunks"]
    assert many_store["fulltext"] == one_store["fulltext"]
    np.testing.assert_allclose(many_store["vectors"], one_store["vectors"], atol=1e-6)


def test_a_worker_that_dies_is_named_in_the_skip_report_and_the_run_goes_on(
    tmp_path, tiny_model_dir, monkeypatch
) -> None:
    monkeypatch.setattr(workers._Pool, "submit", lambda pool, part: _submit(pool, part))
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c", "d"):
        jsonl(folder / f"{name}.jsonl", 20, name)
    (folder / HOSTILE).write_text("whatever its reader would choke on")
    settings = Settings(model=str(tiny_model_dir), device="cpu", workers=2)
    with Collection(tmp_path / "store", settings, quiet=True) as collection:
        summary = collection.add([str(folder)])
    assert summary.added == 80
    crashed = [s for s in summary.skipped if s.kind == workers.CRASHED]
    assert [Path(s.where).name for s in crashed] == [HOSTILE]
    assert "worker process reading it died" in crashed[0].reason


def _submit(pool, part):
    return pool.executor.submit(crash_on_hostile, part)


def _descendants(pid: int) -> set[int]:
    """Every living process below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _stored(store: Path) -> int:
    from tests.conftest import read_only

    try:
        with read_only(store) as db:
            return db.execute("SELECT count(*) FROM documents").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # no database yet


def _wait_for(condition, what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_kill_9_at_random_points_with_workers_then_resume_loses_and_repeats_nothing(
    tmp_path, tiny_model_dir
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in "abcdef":
        jsonl(folder / f"{name}.jsonl", 500, name)
    store = tmp_path / "store"
    command = [SEMSEARCH, "index", str(folder), "--store", str(store), "--quiet"]
    command += ["--model", str(tiny_model_dir), "--commit-every", "50", "--workers", "2"]
    chance = random.Random(os.getpid())
    for low, high in ((50, 1200), (1300, 2800)):
        point = chance.randrange(low, high)
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        try:
            started = (point, process)
            _wait_for(lambda s=started: _stored(store) >= s[0] or s[1].poll() is not None, "rows")
            assert process.poll() is None, process.stderr.read()
            below = _descendants(process.pid)
            assert below, "the run has its worker processes"
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stderr.close()
        _wait_for(lambda below=below: not _living(below), "the workers to exit")
    resumed = subprocess.run([*command, "--json"], capture_output=True, text=True, check=True)
    summary = json.loads(resumed.stdout)
    assert summary["unchanged"] + summary["added"] == 3000
    assert summary["unchanged"] >= 1300
    from tests.conftest import read_only

    with read_only(store) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM documents")]
        per_doc = db.execute("SELECT doc_id, count(*) FROM chunks GROUP BY doc_id").fetchall()
    assert sorted(ids) == sorted(f"{n}{i}" for n in "abcdef" for i in range(500))
    assert len(per_doc) == 3000 and all(count == 1 for _, count in per_doc)


def _living(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie waiting to be reaped has stopped)."""
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living
