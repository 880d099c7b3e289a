"""The batch job on Spark, up to the shards of embedded chunks (`ingest` writes them to a store).

    driver:    plan the inputs (one walk), fix the run's identity and shard count, write the
               store's (id, content_hash, source) to the run folder
    executors: read each file with the local job's readers; drop empty, repeated and unchanged
               documents (an anti-join on the stored pairs); group the rest by shard (a hash of
               the id); embed each shard with our own chunking and model into RUN_DIR/shards
    driver:    record every shard's counts and checksum, and everything left out, in the manifest

A run folder belongs to one run (its inputs and what they hold, source options, recipe and
store). Started again before it was ingested, the run resumes: complete shard files are kept,
the others are embedded. If the inputs changed since, the old run is stale and starts anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from indexer import documents
from indexer.settings import SHARDS_PER_CORE, Settings, SparkOptions
from indexer.sources.inputs import STDIN, Input, InputFile, plan_inputs
from indexer.sources.options import SourceError, SourceOptions
from indexer.spark import tasks
from indexer.spark.run_folder import (
    EMBEDDED,
    EMBEDDING,
    INGESTED,
    MOVED_SCHEMA,
    STORED_SCHEMA,
    Manifest,
    RunFolder,
    RunFolderError,
    RunIdentity,
    Shard,
    file_sha256,
)
from indexer.summary import Skipped
from store.recipe import Recipe

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FILES_SCHEMA = "file_index int, path string, shown string, name string"
PANDAS_WARNING = "PySpark does not yet fully support pandas"


class SparkJobError(RunFolderError):
    """A Spark run that cannot start or go on (no pyspark or Java, a run folder in use)."""


@dataclass(frozen=True)
class Target:
    """The store a run is made against, as the facade hands it over: its folder, the recipe to
    embed with, its id (None: no store yet) and its stored documents, page by page."""

    folder: Path
    recipe: Recipe
    store_id: str | None
    stored: Callable[[], Iterator[list[tuple[str, str, str | None]]]]


def run(
    paths: Sequence[str],
    sources: SourceOptions,
    spark: SparkOptions,
    target: Target,
    settings: Settings,
    quiet: bool = False,
    embed: Callable = tasks.embed_shards,
) -> RunFolder:
    """Embed the changed documents of `paths` into the shards of the run folder; returns it, its
    manifest EMBEDDED. `embed`: makes the function mapInArrow runs (tests inject failures)."""
    _check_paths(paths)
    folder = RunFolder(spark.run_folder(target.folder))
    plan = plan_inputs(paths, sources, never=[target.folder, folder.path])
    identity = RunIdentity(
        inputs=[str(Path(p).absolute()) for p in paths],
        sources=asdict(sources),
        recipe=target.recipe.to_dict(),
        store=str(target.folder.absolute()),
        store_id=target.store_id,
        contents=_contents(plan),
    )
    manifest = resumable(folder, identity)
    if manifest is not None and manifest.status == EMBEDDED:
        return folder
    session, own = _session(spark, quiet)
    try:
        if manifest is None:
            shards = spark.shards or SHARDS_PER_CORE * session.sparkContext.defaultParallelism
            manifest = _start(folder, identity, shards, target)
        plan_for_tasks = tasks.EmbedPlan(
            str(folder.path.absolute()),
            manifest.run_id,
            manifest.recipe,
            settings.model,
            settings.device,
            settings.runtime,
            settings.precision,
            settings.batch_tokens,
        )
        _embed(session, folder, manifest, plan, sources, embed(plan_for_tasks))
    finally:
        if own:
            session.stop()
    return folder


def _check_paths(paths: Sequence[str]) -> None:
    """Executors read files by path: stdin and named pipes cannot be shared with them."""
    for raw in paths:
        if raw == STDIN:
            raise SourceError("stdin (-) cannot be read on Spark: give files or folders")
        try:
            mode = os.stat(raw).st_mode
        except OSError:
            continue  # reported when the inputs are planned
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise SourceError(f"{raw}: a named pipe or device cannot be read on Spark")


def _contents(plan: list[Input | Skipped]) -> str:
    """A digest of every input file's path, size and modification time."""
    digest = hashlib.sha256()
    for item in plan:
        if isinstance(item, InputFile):
            try:
                info = os.stat(item.path)
                facts = [str(item.path.absolute()), info.st_size, info.st_mtime_ns]
            except OSError:
                facts = [str(item.path.absolute()), None, None]
            digest.update(json.dumps(facts).encode())
    return digest.hexdigest()


def resumable(folder: RunFolder, identity: RunIdentity) -> Manifest | None:
    """The unfinished run of this identity in `folder` (resumed), or None for a new run. An
    unfinished run of another command is refused rather than overwritten; one of this command
    whose inputs have changed since is stale, and discarded."""
    manifest = folder.read_manifest()
    if manifest is None or manifest.status == INGESTED:
        return None
    if manifest.identity == identity:
        return manifest
    if manifest.identity.same_command(identity):
        return None  # the inputs changed: its shards hold old content
    raise SparkJobError(
        f"{folder.path} holds an unfinished run of other inputs, options or store "
        f"({manifest.status}); finish it with `semsearch ingest {folder.path}`, or "
        "give another --run-dir (or delete that folder)"
    )


def _start(folder: RunFolder, identity: RunIdentity, shards: int, target: Target) -> Manifest:
    """A new run: the folder emptied of any earlier run, the store's documents as the run sees
    them written, and the manifest with the shard count fixed for every later attempt."""
    for leftover in (folder.shard_folder, folder.moved_path):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()
    folder.path.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC).isoformat(timespec="microseconds")
    temporary = folder.stored_path.with_suffix(".tmp")
    with pq.ParquetWriter(temporary, STORED_SCHEMA) as writer:
        for rows in target.stored():
            ids, hashes, stored_sources = zip(*rows, strict=True)
            columns = {"id": ids, "content_hash": hashes, "source": stored_sources}
            writer.write_table(pa.table(columns, schema=STORED_SCHEMA))
    os.replace(temporary, folder.stored_path)
    manifest = Manifest(uuid.uuid4().hex, identity, EMBEDDING, shards, started_at)
    folder.write_manifest(manifest)
    return manifest


def _session(options: SparkOptions, quiet: bool) -> tuple[SparkSession, bool]:
    """The active Spark session, else a new one on `options.master`; True when made here (and to
    be stopped here)."""
    try:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkJobError(
            "--spark needs pyspark: pip install 'semsearch[spark]' (and Java 17+)"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkJobError("Spark needs Java 17+: none was found (no java on PATH, no JAVA_HOME)")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(options.master).appName("semsearch index")
    if quiet:
        builder = builder.config("spark.ui.showConsoleProgress", "false")
    for key, value in options.conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except (PySparkException, Py4JError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SparkJobError(f"Spark did not start on master {options.master!r}: {first}") from None
    return spark, True


def _embed(
    spark: SparkSession,
    folder: RunFolder,
    manifest: Manifest,
    plan: list[Input | Skipped],
    sources: SourceOptions,
    task: Callable,
) -> None:
    """Embed the changed documents of the plan into the shards not yet complete; the manifest,
    written EMBEDDED at the end, gets every shard's counts and checksum and what was left out."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # PySpark 4 warns about pandas 3 on every mapInArrow call; this job uses Arrow, not pandas
    warnings.filterwarnings("ignore", PANDAS_WARNING, FutureWarning)
    started = time.perf_counter()
    _adopt_leftovers(folder, manifest)
    files = [
        (index, str(item.path.absolute()), item.label, item.name)
        for index, item in enumerate(plan)
        if isinstance(item, InputFile)
    ]
    walked = [(index, item) for index, item in enumerate(plan) if isinstance(item, Skipped)]
    options = asdict(sources)
    listing = spark.createDataFrame(files, FILES_SCHEMA)
    parts = max(1, min(len(files), spark.sparkContext.defaultParallelism * 4))
    rows = spark.createDataFrame(
        listing.repartition(parts).rdd.flatMap(
            lambda f: tasks.read_rows(f.file_index, f.path, f.shown, f.name, options)
        ),
        tasks.ROW_SCHEMA,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        notes = (
            rows.filter(
                (F.col("kind") != "document") | (F.col("replaced") > 0) | (F.col("nulled") > 0)
            )
            .select(
                "kind",
                "file_index",
                "position",
                "where",
                "file",
                "replaced",
                "nulled",
                "skip_kind",
                "reason",
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
        stored = spark.read.parquet(str(folder.stored_path))
        copies, collisions = _elsewhere(unique, stored)
        same = stored.select("id", "content_hash", F.col("source").alias("stored_source"))
        unchanged = unique.join(same, ["id", "content_hash"], "inner")
        manifest.unchanged = unchanged.count()
        moved = (
            unchanged.filter(~F.col("source").eqNullSafe(F.col("stored_source")))
            .select("id", "source")
            .collect()
        )
        moved = [(row["id"], row["source"]) for row in moved if row["id"] not in copies]
        _write_moved(folder, manifest, moved)
        changed = unique.join(
            stored.select("id", "content_hash"), ["id", "content_hash"], "left_anti"
        )
        if collisions:
            refused = spark.createDataFrame([(doc_id,) for _, doc_id, _ in collisions], "id string")
            changed = changed.join(refused, ["id"], "left_anti")
        seen = stored.select("id", F.col("content_hash").alias("seen_hash"))
        to_embed = changed.join(seen, ["id"], "left").withColumn(
            "shard", F.pmod(F.xxhash64("id"), F.lit(manifest.shards)).cast("int")
        )
        manifest.to_embed = to_embed.count()
        statuses = (
            to_embed.filter(~F.col("shard").isin(list(manifest.done)))
            .select(
                "shard",
                "file_index",
                "position",
                "id",
                "text",
                "title",
                "source",
                "metadata",
                "pages",
                "content_hash",
                "seen_hash",
            )
            .repartitionByRange(manifest.shards, "shard")  # one shard per task: hash
            # partitioning of the shard numbers put 3 of 4 shards in one task (20k WordNet)
            .sortWithinPartitions("shard", "file_index", "position")
            .mapInArrow(task, tasks.STATUS_SCHEMA)
            .collect()
        )
    finally:
        rows.unpersist()
    for status in statuses:
        counts = status.asDict()
        shard = int(counts.pop("shard"))
        manifest.done[shard] = Shard(**counts, sha256=file_sha256(folder.shard_path(shard)))
    refusals = [(place, skip) for place, _, skip in collisions]
    manifest.skipped, manifest.replaced, manifest.nulled = _left_out(
        notes, duplicates, walked + refusals
    )
    manifest.status = EMBEDDED
    manifest.seconds = round(time.perf_counter() - started, 3)
    for leftover in folder.shard_folder.glob(".shard-*"):  # files of failed task attempts
        leftover.unlink()
    folder.write_manifest(manifest)


def _adopt_leftovers(folder: RunFolder, manifest: Manifest) -> None:
    """Keep the complete shard files of this run, those an interrupted attempt left included
    (recorded now), and remove every other file in the shard folder: never two files for one
    shard, never a file of another run."""
    present = set()
    for path in folder.shard_files():
        found = folder.leftover_shard(path, manifest)
        if found is None:
            path.unlink()
            continue
        shard, counts = found
        present.add(shard)
        if shard not in manifest.done or manifest.done[shard].sha256 != counts.sha256:
            manifest.done[shard] = counts
    for shard in set(manifest.done) - present:
        del manifest.done[shard]
    for partial in folder.shard_folder.glob(".shard-*"):
        partial.unlink()
    folder.write_manifest(manifest)


def _write_moved(folder: RunFolder, manifest: Manifest, moved: list[tuple[str, str]]) -> None:
    """Unchanged documents whose source is another path now (their folder was moved)."""
    ids = [doc_id for doc_id, _ in moved]
    table = pa.table({"id": ids, "source": [s for _, s in moved]}, schema=MOVED_SCHEMA)
    pq.write_table(table, folder.moved_path)
    manifest.moved = len(moved)
    manifest.moved_sha256 = file_sha256(folder.moved_path)


def _elsewhere(
    unique: DataFrame, stored: DataFrame
) -> tuple[set[str], list[tuple[tuple[int, int], str, Skipped]]]:
    """Documents whose id the store holds from another file that still exists (`documents.
    elsewhere`, decided here on the driver): the ids of copies (same content: the original keeps
    its record) and, at their places, the refused ones (another document under the same id)."""
    from pyspark.sql import functions as F

    rows = (
        unique.join(
            stored.select(
                "id",
                F.col("content_hash").alias("stored_hash"),
                F.col("source").alias("stored_source"),
            ),
            ["id"],
        )
        .filter(F.col("source") != F.col("stored_source"))  # both set and different
        .select(
            "id",
            "where",
            "file_index",
            "position",
            "source",
            "content_hash",
            "stored_hash",
            "stored_source",
        )
        .collect()
    )
    copies, collisions = set(), []
    for row in rows:
        if not documents.elsewhere(row["source"], row["stored_source"]):
            continue
        if row["content_hash"] == row["stored_hash"]:
            copies.add(row["id"])
        else:
            place = (row["file_index"], row["position"])
            refusal = documents.collision(row["where"], row["id"], row["stored_source"])
            collisions.append((place, row["id"], refusal))
    return copies, collisions


def _left_out(
    notes: list, duplicates: list, placed: list[tuple[int | tuple[int, int], Skipped]]
) -> tuple[list[Skipped], dict[str, int], dict[str, int]]:
    """Skipped items in input order, and characters replaced and numbers nulled per file, as the
    local job lists them. `placed`: skips known before reading (at a file's index) or decided
    against the store (at a document's place)."""
    skipped: list[tuple[tuple[int, int], Skipped]] = [
        (place if isinstance(place, tuple) else (place, -1), item) for place, item in placed
    ]
    replaced: dict[str, int] = {}
    nulled: dict[str, int] = {}
    for note in sorted(notes, key=lambda n: (n["file_index"], n["position"])):
        place = (note["file_index"], note["position"])
        origin = note["file"] or note["where"]
        if note["replaced"]:
            replaced[origin] = replaced.get(origin, 0) + note["replaced"]
        if note["nulled"]:
            nulled[origin] = nulled.get(origin, 0) + note["nulled"]
        if note["kind"] == "skipped":
            skipped.append((place, Skipped(note["where"], note["skip_kind"], note["reason"])))
        elif note["kind"] == "empty":
            skipped.append((place, documents.empty(note["where"])))
    for row in duplicates:
        place = (row["file_index"], row["position"])
        skipped.append((place, documents.duplicate(row["where"], row["id"], row["first_where"])))
    skipped.sort(key=lambda pair: pair[0])
    return [item for _, item in skipped], replaced, nulled
