"""The batch job on Spark, up to the shards of embedded chunks (`ingest` writes them to a store).

    driver:    check the inputs, list their files, write the store's (id, content_hash) pairs
    executors: read each file with the local job's readers; drop empty, repeated and unchanged
               documents (an anti-join on the pairs); group the rest by shard (a hash of the id);
               embed each shard with our own chunking and model into RUN_DIR/shards
    driver:    record counts and everything left out in RUN_DIR/manifest.json

A run folder belongs to one run (its inputs, source options, recipe and store). Started again
before it was ingested, the run resumes: complete shard files are kept, the others are embedded.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from indexer import spark_tasks
from indexer.documents import SourceError, SourceOptions
from indexer.settings import SHARDS_PER_CORE, SparkOptions
from indexer.shards import RunDir
from indexer.sources import STDIN
from indexer.summary import Skipped, Summary
from indexer.walking import walk
from store import catalog
from store.errors import SemsearchError
from store.recipe import Recipe

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

EMBEDDING, EMBEDDED, INGESTED = "embedding", "embedded", "ingested"
STORED_SCHEMA = pa.schema([("id", pa.string()), ("content_hash", pa.string())])
FILES_SCHEMA = "file_index int, path string, name string"
EXPORT_BATCH = 50_000
PANDAS_WARNING = "PySpark does not yet fully support pandas"


class SparkJobError(SemsearchError):
    """A Spark run that cannot start or go on (no pyspark or Java, a run folder in use)."""


@dataclass(frozen=True)
class RunIdentity:
    """What makes two runs the same run: a rerun with the same identity resumes."""

    inputs: list[str]
    sources: dict[str, Any]
    recipe: dict[str, Any]
    store: str
    store_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_inputs(paths: list[str]) -> None:
    """Executors read files by path: stdin and named pipes cannot be shared with them."""
    for raw in paths:
        if raw == STDIN:
            raise SourceError("stdin (-) cannot be read on Spark: give files or folders")
        try:
            mode = os.stat(raw).st_mode
        except OSError:
            continue  # reported by check_sources
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise SourceError(f"{raw}: a named pipe or device cannot be read on Spark")


def list_files(
    paths: list[str], sources: SourceOptions, store: Path | None
) -> tuple[list[tuple[int, str, str]], list[tuple[int, Skipped]]]:
    """(file_index, path, name) of every input file in the local job's order, and what walking
    left out, each at its place in that order."""
    files: list[tuple[int, str, str]] = []
    skipped: list[tuple[int, Skipped]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for item in walk(path, sources, store):
                index = len(files) + len(skipped)
                if isinstance(item, Skipped):
                    skipped.append((index, item))
                else:
                    files.append((index, str(item[1].absolute()), item[0]))
        else:
            files.append((len(files) + len(skipped), str(path.absolute()), os.path.normpath(raw)))
    return files, skipped


def export_stored(db_path: Path | None, run: RunDir) -> None:
    """RUN_DIR/stored.parquet: the (id, content_hash) of every stored document (none for a store
    that does not exist here)."""
    run.path.mkdir(parents=True, exist_ok=True)
    temporary = run.stored_path.with_suffix(".tmp")
    with pq.ParquetWriter(temporary, STORED_SCHEMA) as writer:
        if db_path is not None and db_path.is_file():
            db = catalog.open_readonly(db_path)
            try:
                cursor = db.execute("SELECT id, content_hash FROM documents")
                while rows := cursor.fetchmany(EXPORT_BATCH):
                    ids, hashes = zip(*rows, strict=True)
                    writer.write_table(
                        pa.table({"id": ids, "content_hash": hashes}, schema=STORED_SCHEMA)
                    )
            finally:
                db.close()
    os.replace(temporary, run.stored_path)


def prepare_run(
    run: RunDir, identity: RunIdentity, shards: int | None, db_path: Path | None
) -> dict[str, Any]:
    """The run's manifest: the unfinished one of the same run (resumed), or a new one. An
    unfinished run of anything else is refused rather than overwritten."""
    manifest = run.read_manifest()
    if manifest is not None and manifest.get("status") != INGESTED:
        if manifest.get("identity") == identity.as_dict():
            return manifest
        raise SparkJobError(
            f"{run.path} holds an unfinished run of other inputs, options or store "
            f"({manifest.get('status')}); finish it with `semsearch ingest {run.path}`, or "
            "give another --run-dir (or delete that folder)"
        )
    if run.shard_folder.exists():
        shutil.rmtree(run.shard_folder)
    export_stored(db_path, run)
    manifest = {
        "version": 1,
        "identity": identity.as_dict(),
        "status": EMBEDDING,
        "shards": shards,
        "shard_counts": {},
    }
    run.write_manifest(manifest)
    return manifest


def session(options: SparkOptions) -> tuple[SparkSession, bool]:
    """The active Spark session, else a new one on `options.master`; True when made here (and to
    be stopped here)."""
    try:
        from pyspark.errors import PySparkException
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkJobError(
            "--spark needs pyspark: pip install 'semsearch[spark]' (and Java 17+)"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(options.master).appName("semsearch index")
    for key, value in options.conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except PySparkException as error:  # e.g. JAVA_GATEWAY_EXITED: no Java
        raise SparkJobError(
            f"Spark did not start on {options.master} ({error}); is Java 17+ installed?"
        ) from None
    return spark, True


def run_shards(
    spark: SparkSession,
    run: RunDir,
    manifest: dict[str, Any],
    files: list[tuple[int, str, str]],
    walked: list[tuple[int, Skipped]],
    sources: SourceOptions,
    plan: spark_tasks.EmbedPlan,
    embed: Callable = spark_tasks.embed_shards,
) -> dict[str, Any]:
    """Embed the changed documents of `files` into the shards not yet complete; returns the
    manifest, now EMBEDDED, with counts and everything left out. `embed`: makes the function
    that mapInArrow runs (spark_tasks.embed_shards)."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # PySpark 4 warns about pandas 3 on every mapInArrow call; this job uses Arrow, not pandas
    warnings.filterwarnings("ignore", PANDAS_WARNING, FutureWarning)
    started = time.perf_counter()
    shards = manifest["shards"] or SHARDS_PER_CORE * spark.sparkContext.defaultParallelism
    manifest["shards"] = shards
    options = asdict(sources)
    listing = spark.createDataFrame(files, FILES_SCHEMA)
    parts = max(1, min(len(files), spark.sparkContext.defaultParallelism * 4))
    rows = spark.createDataFrame(
        listing.repartition(parts).rdd.flatMap(
            lambda f: spark_tasks.read_rows(f.file_index, f.path, f.name, options)
        ),
        spark_tasks.ROW_SCHEMA,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        notes = (
            rows.filter((F.col("kind") != "document") | (F.col("replaced") > 0))
            .select(
                "kind", "file_index", "position", "where", "file", "replaced", "skip_kind", "reason"
            )
            .collect()
        )
        first = Window.partitionBy("id").orderBy("file_index", "position")
        ranked = (
            rows.filter(F.col("kind") == "document")
            .withColumn("rank", F.row_number().over(first))
            .withColumn("first_where", F.first("where").over(first))
        )
        duplicates = (
            ranked.filter(F.col("rank") > 1)
            .select("file_index", "position", "where", "id", "first_where")
            .collect()
        )
        unique = ranked.filter(F.col("rank") == 1).drop("rank", "first_where")
        stored = spark.read.parquet(str(run.stored_path))
        manifest["unchanged"] = unique.join(stored, ["id", "content_hash"], "left_semi").count()
        done = [int(shard) for shard in manifest["shard_counts"]]
        statuses = (
            unique.join(stored, ["id", "content_hash"], "left_anti")
            .withColumn("shard", F.pmod(F.xxhash64("id"), F.lit(shards)).cast("int"))
            .filter(~F.col("shard").isin(done))
            .select(
                "shard",
                "file_index",
                "position",
                "id",
                "text",
                "title",
                "source",
                "metadata",
                "content_hash",
            )
            .repartitionByRange(shards, "shard")  # one shard per task: hash partitioning
            # of the shard numbers put 3 of 4 shards in one task (measured, 20k WordNet)
            .sortWithinPartitions("shard", "file_index", "position")
            .mapInArrow(embed(plan), spark_tasks.STATUS_SCHEMA)
            .collect()
        )
    finally:
        rows.unpersist()
    for status in statuses:
        manifest["shard_counts"][str(status["shard"])] = status.asDict()
    manifest["left_out"] = _left_out(notes, duplicates, walked)
    manifest["status"] = EMBEDDED
    manifest["seconds"] = round(time.perf_counter() - started, 3)
    for leftover in run.shard_folder.glob(".shard-*"):  # files of failed task attempts
        leftover.unlink()
    run.write_manifest(manifest)
    return manifest


def _left_out(notes: list, duplicates: list, walked: list[tuple[int, Skipped]]) -> dict:
    """Skipped items in input order, and bytes replaced per file, as the local job lists them."""
    skipped: list[tuple[tuple[int, int], Skipped]] = [((i, -1), item) for i, item in walked]
    replaced: dict[str, int] = {}
    for note in sorted(notes, key=lambda n: (n["file_index"], n["position"])):
        place = (note["file_index"], note["position"])
        if note["replaced"]:
            origin = note["file"] or note["where"]
            replaced[origin] = replaced.get(origin, 0) + note["replaced"]
        if note["kind"] == "skipped":
            skipped.append((place, Skipped(note["where"], note["skip_kind"], note["reason"])))
        elif note["kind"] == "empty":
            skipped.append((place, Skipped(note["where"], "empty document", "empty document")))
    for row in duplicates:
        reason = f"duplicate id {row['id']!r} (first at {row['first_where']})"
        skipped.append(
            ((row["file_index"], row["position"]), Skipped(row["where"], "duplicate id", reason))
        )
    skipped.sort(key=lambda pair: pair[0])
    return {"skipped": [asdict(item) for _, item in skipped], "replaced": replaced}


def summary_of(manifest: dict[str, Any]) -> Summary:
    """What the embedding part of a run did, as an index run's Summary (nothing stored yet)."""
    counts = manifest.get("shard_counts", {}).values()
    left_out = manifest.get("left_out", {})
    return Summary(
        unchanged=manifest.get("unchanged", 0),
        chunks=sum(c["chunks"] for c in counts),
        tokens=sum(c["tokens"] for c in counts),
        seconds=manifest.get("seconds", 0.0),
        skipped=[Skipped(**item) for item in left_out.get("skipped", [])],
        replaced=dict(left_out.get("replaced", {})),
        unknown_only=[doc_id for c in counts for doc_id in c["unknown_only"]],
    )


def recipe_of(manifest: dict[str, Any]) -> Recipe:
    return Recipe.from_dict(manifest["identity"]["recipe"])


def finished(run: RunDir) -> dict[str, Any]:
    """The manifest of a run whose shards are all written; SparkJobError otherwise."""
    manifest = run.read_manifest()
    if manifest is None or manifest.get("status") not in (EMBEDDED, INGESTED):
        state = "no manifest" if manifest is None else f"status {manifest.get('status')!r}"
        raise SparkJobError(
            f"{run.path} is not a finished Spark run ({state}); run the same `semsearch index "
            "... --spark` command again to complete it"
        )
    return manifest
