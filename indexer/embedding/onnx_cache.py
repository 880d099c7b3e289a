"""The cache of exported ONNX graphs: one file per weights fingerprint and precision, with a
sidecar that says what the file must be (its fingerprint, exporter versions, size and sha256).
Files are written to a temporary name and renamed, so a reader never sees half a file; a file
that does not match its sidecar is reported damaged, and rebuilt over by the caller."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

FORMAT = "1"  # bump when the export recipe changes: older files are then rebuilt
SUBFOLDER = "onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # every cached graph's inputs
OUTPUT = "last_hidden_state"  # and its output


class CacheUnwritable(OSError):
    """The cache folder cannot be created or written."""


@dataclass(frozen=True)
class GraphKey:
    """What an exported graph is: the weights it holds, its precision and how it was made."""

    fingerprint: str  # indexer.embedding.model.weights_fingerprint
    precision: str  # fp32 | int8

    @property
    def stem(self) -> str:
        return f"{self.fingerprint.removeprefix('sha256:')}-{self.precision}"

    def metadata(self) -> dict[str, str]:
        """Written into the graph's metadata_props and the sidecar; all must match on reading."""
        return {
            "semsearch.format": FORMAT,
            "semsearch.weights_fingerprint": self.fingerprint,
            "semsearch.precision": self.precision,
            "semsearch.exporter": f"torch {version('torch')}, onnxscript {version('onnxscript')}",
        }


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class GraphCache:
    """The ONNX graphs under one folder (settings.cache_folder()/onnx)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: GraphKey) -> Path:
        return self.folder / f"{key.stem}.onnx"

    def _sidecar(self, key: GraphKey) -> Path:
        return self.folder / f"{key.stem}.json"

    def find(self, key: GraphKey) -> tuple[Path | None, str | None]:
        """(the graph's path, None) when a sound file is cached; (None, None) when there is none;
        (None, what is wrong) when one is there but damaged or made otherwise."""
        graph, sidecar = self.path(key), self._sidecar(key)
        if not graph.exists() and not sidecar.exists():
            return None, None
        try:
            expected = json.loads(sidecar.read_text())
            if expected.get("metadata") != key.metadata():
                return None, "made for other weights or by another exporter version"
            if graph.stat().st_size != expected.get("bytes"):
                return None, "its size differs from the one written"
            if file_sha256(graph) != expected.get("sha256"):
                return None, "its sha256 differs from the one written"
        except (OSError, ValueError, AttributeError) as error:
            return None, f"{type(error).__name__}: {error}"
        return graph, None

    def write(self, key: GraphKey, build: Callable[[Path], None]) -> Path:
        """Build the graph with `build(path)` into a temporary file, then rename it and its
        sidecar into place; CacheUnwritable when the folder cannot take it."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{key.stem}.")
            os.close(handle)
        except OSError as error:
            raise CacheUnwritable(f"{self.folder}: {error.strerror or error}") from error
        scratch = Path(temporary)
        try:
            build(scratch)
            facts = {
                "metadata": key.metadata(),
                "bytes": scratch.stat().st_size,
                "sha256": file_sha256(scratch),
            }
            os.replace(scratch, self.path(key))
            write_atomically(self._sidecar(key), json.dumps(facts, indent=1))
        except OSError as error:  # e.g. a full disk: the graph cannot be kept
            raise CacheUnwritable(f"{self.folder}: {error.strerror or error}") from error
        finally:
            scratch.unlink(missing_ok=True)
        return self.path(key)


def write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
