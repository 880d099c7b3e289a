"""The batch job on Spark (local[2], a tiny random BERT) builds exactly the store the local job
builds from the same inputs, resumes, retries, and refuses what the local job refuses."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from indexer.collection import Collection
from indexer.settings import Settings, SparkOptions
from indexer.spark.run_folder import RunFolder
from store.errors import RecipeMismatchError
from store.store import DB_FILE
from tests import document_fixtures as make

SEMSEARCH = str(Path(sys.executable).parent / "semsearch")

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
if shutil.which("java") is None:
    pytest.skip(
        "Java is not installed (make java installs Debian's openjdk-17)", allow_module_level=True
    )

QUERIES = ["text about rivers", "number seven", "a long story", "metadata and titles"]


@pytest.fixture(scope="session")
def spark():
    """One local Spark with two cores; `local[2,2]` lets a failed task be retried once."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers run this interpreter, as the job's
    session = (
        SparkSession.builder.master("local[2,2]")
        .appName("semsearch tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder of every input kind, with a bad line, an empty and a repeated document."""
    folder = tmp_path_factory.mktemp("inputs")
    lines = [
        json.dumps(
            {
                "id": f"doc{i}",
                "title": f"title {i}" if i % 3 == 0 else None,
                "text": f"text number {i} about rivers " + "and a long story " * (i % 17),
                "metadata": {"year": 1950 + i, "kind": "even" if i % 2 == 0 else "odd"},
            }
        )
        for i in range(40)
    ]
    lines[5] = "{not json"
    lines[9] = json.dumps({"id": "empty", "text": "   "})
    lines[12] = json.dumps({"id": "doc3", "text": "a repeated id"})
    lines[20] = '{"id": "odd", "text": "a \\ud800, a \\u0000 NUL", "metadata": {"v": NaN}}'
    (folder / "docs.jsonl").write_text("\n".join(lines) + "\n")
    notes = folder / "notes"
    notes.mkdir()
    for i in range(6):
        (notes / f"note{i}.md").write_text(f"# Note {i}\n\n" + "metadata and titles " * (i * 9))
    (notes / "picture.png").write_bytes(b"\x89PNG\x00\x00")
    (folder / "table.csv").write_text("id,text,year\nc1,number seven,1999\nc2,a csv row,2001\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "id": ["p1", "p2", "p3"],
                "text": ["a parquet row about rivers", None, "number seven again"],
                "year": [1960, 1961, 1962],
            }
        ),
        folder / "table.parquet",
    )
    return folder


@pytest.fixture(scope="module")
def settings(tiny_model_dir) -> Settings:
    return Settings(
        model=str(tiny_model_dir), device="cpu", commit_every=7, chunk_tokens=48, overlap=8
    )


@pytest.fixture(scope="module")
def local_store(tmp_path_factory, inputs, settings) -> tuple[Path, dict]:
    """The local job's store of `inputs`, and its summary."""
    folder = tmp_path_factory.mktemp("local") / "store"
    with Collection(folder, settings, quiet=True) as local:
        summary = local.add([str(inputs)])
    return folder, summary.as_dict()


def spark_options(run_dir: Path, **given) -> SparkOptions:
    return SparkOptions(master="local[2,2]", run_dir=run_dir, shards=3, **given)


def editable_inputs(tmp_path: Path, inputs: Path) -> tuple[Path, Path, Path]:
    """A store folder, a run folder and a copy of the inputs that a test may edit."""
    edited = tmp_path / "inputs"
    shutil.copytree(inputs, edited)
    return tmp_path / "store", tmp_path / "run", edited


def content(folder: Path) -> dict:
    """Everything a store holds that a user can read, in comparable form."""
    db = sqlite3.connect(f"file:{folder / DB_FILE}?mode=ro", uri=True)
    try:
        documents = db.execute(
            "SELECT id, text, title, source, metadata, content_hash, pages FROM documents "
            "ORDER BY id"
        ).fetchall()
        chunks = db.execute(
            'SELECT id, doc_id, ord, start, "end", n_tokens, page, last_page, vector FROM chunks '
            "ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    return {"documents": documents, "chunks": chunks}


def assert_same_store(built: Path, expected: Path) -> None:
    ours, theirs = content(built), content(expected)
    assert ours["documents"] == theirs["documents"]
    assert [c[:-1] for c in ours["chunks"]] == [c[:-1] for c in theirs["chunks"]]
    for mine, other in zip(ours["chunks"], theirs["chunks"], strict=True):
        a, b = np.frombuffer(mine[-1], "<f4"), np.frombuffer(other[-1], "<f4")
        np.testing.assert_allclose(a, b, atol=1e-5)
    with Collection(built, quiet=True) as a, Collection(expected, quiet=True) as b:
        assert a.verify().ok, a.verify()
        for query in QUERIES:
            assert [h.doc_id for h in a.search(query)] == [h.doc_id for h in b.search(query)]


def model_loads(run_dir: Path) -> tuple[int, int]:
    """(model loads, distinct worker processes) over the run's shards."""
    shards = RunFolder(run_dir).read_manifest().done.values()
    return sum(s.loaded for s in shards), len({s.pid for s in shards})


def test_spark_builds_the_local_store_then_adds_nothing_then_replaces_a_change(
    spark, tmp_path, inputs, settings, local_store
) -> None:
    expected, local_summary = local_store
    folder, run_dir = tmp_path / "store", tmp_path / "run"
    with Collection(folder, settings, quiet=True) as target:
        summary = target.add_on_spark([str(inputs)], spark_options(run_dir))
    assert_same_store(folder, expected)
    for key in (
        "added",
        "updated",
        "unchanged",
        "chunks",
        "tokens",
        "skipped_items",
        "replaced_items",
        "nulled_items",
        "skipped_by_kind",
    ):
        assert summary.as_dict()[key] == local_summary[key], key
    assert {"invalid JSON", "empty document", "duplicate id", "no text field"} <= set(
        summary.as_dict()["skipped_by_kind"]
    )
    assert summary.as_dict()["nulled_numbers"] == 1  # the NaN; its NUL and surrogate replaced
    assert sum(summary.replaced.values()) == 2
    loads, workers = model_loads(run_dir)
    assert loads == workers >= 1  # once per Python worker, reused for its other shards

    with Collection(folder, settings, quiet=True) as target:
        again = target.add_on_spark([str(inputs)], spark_options(run_dir))
    assert (again.added, again.updated, again.chunks) == (0, 0, 0)
    assert again.unchanged == summary.added
    assert_same_store(folder, expected)

    note = inputs / "notes" / "note2.md"
    before, times = note.read_text(), os.stat(note)
    note.write_text("# Note 2\n\nnow about something else")  # edited in place, then restored
    try:
        with Collection(folder, settings, quiet=True) as target:
            third = target.add_on_spark([str(inputs)], spark_options(run_dir))
            assert (third.added, third.updated) == (0, 1)
            document = target.document("notes/note2.md")
    finally:
        note.write_text(before)
        os.utime(note, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert "something else" in document.text
    assert len(document.chunks) == 1


def test_spark_reads_every_document_format_into_the_local_store(spark, tmp_path, settings) -> None:
    pages = [*make.PAGES, ["A last page."]]
    folder = make.every_format(tmp_path / "papers", pages, image_pages=(2,))
    with Collection(tmp_path / "local", settings, quiet=True) as target:
        local = target.add([str(folder)]).as_dict()
    with Collection(tmp_path / "spark", settings, quiet=True) as target:
        distributed = target.add_on_spark([str(folder)], spark_options(tmp_path / "run")).as_dict()
    assert_same_store(tmp_path / "spark", tmp_path / "local")
    for key in ("added", "chunks", "skipped_items"):
        assert distributed[key] == local[key], key
    kinds = {"pages without text", "encrypted", "no text layer", "corrupt"}
    assert kinds <= set(distributed["skipped_by_kind"])
    with Collection(tmp_path / "spark", quiet=True) as built:
        stored = built.document("report.pdf")
    assert len(stored.pages) == 4  # the page starts and the chunks' pages came through
    assert stored.chunks[-1].last_page == 4


def test_a_task_failing_on_its_first_attempt_is_retried_to_the_same_store(
    spark, tmp_path, inputs, settings, local_store
) -> None:
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    folder, run_dir = tmp_path / "store", tmp_path / "run"
    with Collection(folder, settings, quiet=True) as target:
        target.add_on_spark([str(inputs)], spark_options(run_dir), embed=failing_first_attempt)
    assert list(run_dir.glob("failed-*"))  # some tasks did fail once
    assert_same_store(folder, local_store[0])
    assert not list((run_dir / "shards").glob(".shard-*"))  # the failed attempt's file is gone


def failing_first_attempt(plan):
    """embed_shards, except that each task's first attempt dies after writing some rows."""
    from indexer.spark.tasks import embed_shards

    embed = embed_shards(plan)

    def task(batches):
        from pyspark import TaskContext

        context = TaskContext.get()
        if context.attemptNumber() == 0:
            for _ in embed(iter([next(batches)])):
                Path(plan.run_dir, f"failed-{context.partitionId()}").touch()
                raise RuntimeError("injected failure on the first attempt")
        yield from embed(batches)

    return task


def test_an_ingest_killed_midway_then_rerun_stores_every_document_once(
    spark, tmp_path, inputs, settings, local_store
) -> None:
    folder, run_dir = tmp_path / "store", tmp_path / "run"
    with Collection(folder, settings, quiet=True) as target:
        shards_only = target.add_on_spark([str(inputs)], spark_options(run_dir, shards_only=True))
    assert shards_only.stored == 0 and not folder.joinpath(DB_FILE).exists()
    killer = (
        "import os, signal, sys\n"
        "from store.store import Store\n"
        "from indexer.cli.app import cli\n"
        "original, calls = Store.upsert, []\n"
        "def upsert(self, documents):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 3:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return original(self, documents)\n"
        "Store.upsert = upsert\n"
        "cli(sys.argv[1:])\n"
    )
    command = [sys.executable, "-c", killer, "ingest", str(run_dir), "--commit-every", "7", "-q"]
    killed = subprocess.run(command, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert 0 < len(content(folder)["documents"]) < len(content(local_store[0])["documents"])

    rerun = subprocess.run(
        [str(Path(sys.executable).parent / "semsearch"), "ingest", str(run_dir), "--json"],
        capture_output=True,
        text=True,
    )
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["added"] + report["unchanged"] >= len(content(local_store[0])["documents"])
    assert_same_store(folder, local_store[0])


def test_a_recipe_mismatch_is_refused_before_any_executor_starts(
    spark, tmp_path, inputs, settings
) -> None:
    folder = tmp_path / "store"
    with Collection(folder, settings, quiet=True) as target:
        target.add_records([{"id": "a", "text": "one document"}])
    other = Settings(model=settings.model, device="cpu", chunk_tokens=40, overlap=8)
    jobs_before = len(spark.sparkContext.statusTracker().getJobIdsForGroup())
    with (
        Collection(folder, other, quiet=True) as target,
        pytest.raises(RecipeMismatchError) as refused,
    ):
        target.add_on_spark([str(inputs)], spark_options(tmp_path / "run"))
    assert "chunks of 48" in str(refused.value) and "chunks of 40" in str(refused.value)
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup()) == jobs_before
    assert not (tmp_path / "run").exists()


# -- a run folder is a sealed unit: checked whole before anything is written ------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, spark, inputs, settings) -> Path:
    """A shards-only run of `inputs` made with no store yet: a run folder to copy and damage."""
    base = tmp_path_factory.mktemp("finished")
    with Collection(base / "store", settings, quiet=True) as target:
        target.add_on_spark([str(inputs)], spark_options(base / "run", shards_only=True))
    return base / "run"


def ingest_cli(run_dir: Path, store: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [SEMSEARCH, "ingest", str(run_dir), "--store", str(store), "--json", *extra]
    return subprocess.run(command, capture_output=True, text=True)


def refused(result: subprocess.CompletedProcess, message: str, store: Path) -> None:
    """A one-line refusal naming the problem, and nothing written."""
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not store.joinpath(DB_FILE).exists()


def test_a_damaged_or_incomplete_run_folder_is_refused_before_any_write(
    tmp_path, finished_run, local_store
) -> None:
    def copy() -> Path:
        folder = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        shutil.copytree(finished_run, folder)
        return folder

    store = tmp_path / "store"
    shards = sorted(p.name for p in (finished_run / "shards").glob("shard-*.parquet"))
    assert len(shards) >= 2
    missing = copy()
    (missing / "shards" / shards[0]).unlink()
    refused(ingest_cli(missing, store), f"shard files are missing ({shards[0]} first)", store)
    gone = copy()
    shutil.rmtree(gone / "shards")
    refused(ingest_cli(gone, store), "the run is incomplete", store)
    truncated = copy()
    path = truncated / "shards" / shards[1]
    path.write_bytes(path.read_bytes()[:200])
    refused(ingest_cli(truncated, store), "is not the file this run wrote", store)
    swapped = copy()  # two shards of the same run exchanged: each a stranger in its place
    a, b = swapped / "shards" / shards[0], swapped / "shards" / shards[1]
    data = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(data)
    refused(ingest_cli(swapped, store), "is not the file this run wrote", store)
    for damage, message in [
        ("not json", "manifest.json is damaged"),
        ("[1, 2]", "a JSON list, not an object"),
        ('{"version": 2}', "manifest.json is damaged"),
    ]:
        broken = copy()
        (broken / "manifest.json").write_text(damage)
        refused(ingest_cli(broken, store), message, store)
    edited = copy()
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["to_embed"] += 1
    (edited / "manifest.json").write_text(json.dumps(manifest))
    refused(ingest_cli(edited, store), "the shards hold", store)

    strays = copy()  # stray files beside the listed shards are never read
    (strays / "shards" / "shard-abc.parquet").write_bytes(b"garbage")
    shutil.copy(strays / "shards" / shards[0], strays / "shards" / "shard-00001-copy.parquet")
    result = ingest_cli(strays, store)
    assert result.returncode == 0, result.stderr
    assert_same_store(store, local_store[0])


def test_a_shard_of_another_run_is_refused(
    spark, tmp_path, finished_run, inputs, tiny_model_dir
) -> None:
    other_run, store = tmp_path / "other", tmp_path / "store"
    other = Settings(
        model=str(tiny_model_dir), device="cpu", chunk_tokens=48, overlap=8, pooling="spark-nlp"
    )
    with Collection(tmp_path / "other-store", other, quiet=True) as target:
        target.add_on_spark([str(inputs)], spark_options(other_run, shards_only=True))
    mixed = tmp_path / "mixed"
    shutil.copytree(finished_run, mixed)
    name = sorted(p.name for p in (mixed / "shards").glob("shard-*.parquet"))[0]
    shutil.copy(other_run / "shards" / name, mixed / "shards" / name)
    refused(ingest_cli(mixed, store), "is not the file this run wrote", store)


def test_a_run_made_against_another_store_is_refused(
    spark, tmp_path, inputs, settings, local_store
) -> None:
    made_for = tmp_path / "x"
    shutil.copytree(local_store[0], made_for)  # a store that already holds every document
    with Collection(made_for, settings, quiet=True) as target:
        target.add_records([{"id": "extra", "text": "one more document about rivers"}])
        summary = target.add_on_spark(
            [str(inputs)], spark_options(tmp_path / "run", shards_only=True)
        )
    assert summary.unchanged > 0  # the run leaves out what x held
    other = tmp_path / "y"
    refused(ingest_cli(tmp_path / "run", other), "was made against store", other)
    refused(ingest_cli(tmp_path / "run", other, "--any-store"), "this store would miss them", other)
    assert ingest_cli(tmp_path / "run", made_for).returncode == 0


def test_an_input_edited_after_an_unfinished_run_makes_a_new_run(
    spark, tmp_path, inputs, settings
) -> None:
    folder, run_dir, edited = editable_inputs(tmp_path, inputs)
    with Collection(folder, settings, quiet=True) as target:
        target.add_on_spark([str(edited)], spark_options(run_dir, shards_only=True))
    note = edited / "notes" / "note4.md"
    note.write_text("# Note 4\n\nedited after the run was embedded")
    with Collection(folder, settings, quiet=True) as target:
        target.add_on_spark([str(edited)], spark_options(run_dir))
        document = target.document("notes/note4.md")
    assert "edited after the run" in document.text


def test_an_older_run_never_replaces_what_the_store_wrote_since(
    spark, tmp_path, inputs, settings
) -> None:
    folder, run_dir, edited = editable_inputs(tmp_path, inputs)
    with Collection(folder, settings, quiet=True) as target:
        target.add([str(edited)])
    (edited / "notes" / "note1.md").write_text("# Note 1\n\nthe version of the run")
    with Collection(folder, settings, quiet=True) as target:
        target.add_on_spark([str(edited)], spark_options(run_dir, shards_only=True))
    (edited / "notes" / "note1.md").write_text("# Note 1\n\nthe newer version, indexed later")
    with Collection(folder, settings, quiet=True) as target:
        assert target.add([str(edited)]).updated == 1
    result = ingest_cli(run_dir, folder)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped_by_kind"]["newer in store"] == 1 and report["updated"] == 0
    with Collection(folder, settings, quiet=True) as target:
        assert "newer version" in target.document("notes/note1.md").text


def test_a_killed_run_resumed_with_other_parallelism_keeps_its_complete_shards(
    spark, tmp_path, inputs, settings, local_store
) -> None:
    folder, run_dir = tmp_path / "store", tmp_path / "run"
    with Collection(folder, settings, quiet=True) as target:
        target.add_on_spark([str(inputs)], spark_options(run_dir, shards_only=True))
    # what kill -9 leaves after some shard files were renamed: the manifest still says
    # "embedding" and lists none of them; one file never got its rename
    manifest = json.loads((run_dir / "manifest.json").read_text())
    kept = sorted((run_dir / "shards").glob("shard-*.parquet"))
    kept[-1].rename(kept[-1].with_name(f".{kept[-1].name}.attempt"))
    manifest.update(status="embedding", done={}, to_embed=None)
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    before = {p.name: p.stat().st_mtime_ns for p in kept[:-1]}
    resumed = SparkOptions(master="local[2,2]", run_dir=run_dir, shards=7)  # other parallelism
    with Collection(folder, settings, quiet=True) as target:
        target.add_on_spark([str(inputs)], resumed)
    after = sorted((run_dir / "shards").glob("shard-*.parquet"))
    assert len(after) == len(kept)  # the manifest's shard count, not 7
    assert {p.name: p.stat().st_mtime_ns for p in after if p.name in before} == before
    assert not list((run_dir / "shards").glob(".shard-*"))
    assert_same_store(folder, local_store[0])


def test_a_run_folder_inside_an_input_folder_is_not_read_as_input(
    spark, tmp_path, inputs, settings, local_store
) -> None:
    given = tmp_path / "inputs"
    shutil.copytree(inputs, given)
    run_dir = given / "run"
    for _ in range(2):  # the second run finds the first one's folder among the inputs
        with Collection(tmp_path / "store", settings, quiet=True) as target:
            summary = target.add_on_spark([str(given)], spark_options(run_dir))
        assert not any(str(run_dir) in item.where for item in summary.skipped)
    ids_and_hashes = [(doc[0], doc[5]) for doc in content(tmp_path / "store")["documents"]]
    assert ids_and_hashes == [(doc[0], doc[5]) for doc in content(local_store[0])["documents"]]


def test_spark_treats_a_copy_and_a_taken_id_as_the_local_job_does(
    spark, tmp_path, settings
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        (folder / "same.txt").write_text("the same words about wings")
    (one / "README.md").write_text("alpha wings")
    (two / "README.md").write_text("beta nozzles")
    with Collection(tmp_path / "store", settings, quiet=True) as store:
        store.add([str(one)])
        summary = store.add_on_spark([str(two)], spark_options(tmp_path / "run")).as_dict()
    assert summary["added"] == 0 and summary["moved"] == 0 and summary["unchanged"] == 1
    assert summary["skipped_by_kind"] == {"id taken": 1}
    assert str((one / "README.md").resolve()) in summary["skipped_items"][0]["reason"]
    db = sqlite3.connect(f"file:{tmp_path / 'store' / DB_FILE}?mode=ro", uri=True)
    with closing(db):
        rows = db.execute("SELECT id, source, text FROM documents ORDER BY id").fetchall()
    assert rows == [
        ("README.md", str((one / "README.md").resolve()), "alpha wings"),
        ("same.txt", str((one / "same.txt").resolve()), "the same words about wings"),
    ]
