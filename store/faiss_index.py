"""The FAISS side of a store: index specs, building from batches, the tagged file, searching.

The file is `MAGIC`, one JSON header line (store id, generation, spec, dim, count, checksum of
the ids), then the index as `faiss.write_index` streams it, so what it reflects travels in the same
atomic rename, and a file from another store is recognised as foreign.
`flat` and `hnsw` are wrapped in an `IndexIDMap2` keyed by chunk id; IVF indexes keep the chunk
ids themselves (IndexIDMap's removal assumes a sub-index that shifts its rows, which IVF does not).
"""

from __future__ import annotations

import errno
import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import faiss
import numpy as np

from store import id_checksum
from store.errors import StoreError

MAGIC = b"SEMSEARCH-FAISS 2\n"
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256  # recall@10 0.99 at 100k (96 gave 0.93), 0.3 ms a query


class IndexFileError(StoreError):
    """The index file is missing, truncated, damaged or another store's."""


def ivf_lists(count: int, training: int) -> int:
    """Number of IVF lists: about 4 sqrt(count), with at least 39 training points per list."""
    return max(1, min(int(4 * math.sqrt(max(count, 1))), training // 39))


def ivf_nprobe(nlist: int) -> int:
    """Lists probed per query."""
    return max(1, min(nlist, 8 + nlist // 12))


class VectorIndex:
    """A FAISS index over L2-normalized vectors (inner product = cosine), keyed by chunk id."""

    def __init__(
        self, index: faiss.Index, spec: str, generation: int, store_id: str | None = None
    ) -> None:
        self.index = index
        self.spec = spec
        self.generation = generation
        self.store_id = store_id  # the store it was built from

    @classmethod
    def empty(
        cls, spec: str, dim: int, training: np.ndarray | None = None, count: int | None = None
    ) -> VectorIndex:
        """An empty index of a concrete spec; IVF ones are trained on `training` and sized for
        `count` vectors (default: as many as the training sample)."""
        if spec == "flat":
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif spec == "hnsw":
            base = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            base.hnsw.efSearch = HNSW_EF_SEARCH
            index = faiss.IndexIDMap2(base)
        elif spec.startswith("ivf"):
            if training is None or len(training) == 0:
                raise ValueError("an IVF index needs training vectors")
            nlist = ivf_lists(count or len(training), len(training))
            bits = 8 if len(training) >= 256 * 39 else 4  # PQ codebooks need 39 points a centroid
            code = {
                "ivf": "Flat",
                "ivf-fp16": "SQfp16",
                "ivf-sq8": "SQ8",
                "ivf-pq": f"PQ{_pq_parts(dim)}x{bits}",
            }[spec]
            index = faiss.index_factory(dim, f"IVF{nlist},{code}", faiss.METRIC_INNER_PRODUCT)
            if spec in ("ivf-fp16", "ivf-sq8"):
                # encode the vectors, not their residuals: training then needs no second copy of
                # the sample (-145 MB at 100k x 384), for recall@10 0.968 instead of 0.970
                index.by_residual = False
            index.train(np.ascontiguousarray(training, dtype=np.float32))
            index.nprobe = ivf_nprobe(nlist)
        else:
            raise ValueError(f"not a concrete index type: {spec!r}")
        return cls(index, spec, generation=0)

    @classmethod
    def build(
        cls,
        spec: str,
        dim: int,
        batches: Iterable[tuple[np.ndarray, np.ndarray]],
        training: Callable[[], np.ndarray] | None,
        generation: int,
        store_id: str,
        count: int | None = None,
    ) -> VectorIndex:
        """A new index filled from (ids, vectors) batches. `training` gives the IVF training
        sample, which is let go once trained, before the vectors are added (a lower peak)."""
        built = cls.empty(spec, dim, training() if training else None, count)
        for ids, vectors in batches:
            built.add(ids, vectors)
        built.generation = generation
        built.store_id = store_id
        return built

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def outgrown(self, count: int) -> bool:
        """True for an IVF index with less than half the lists `count` vectors call for."""
        if not self.spec.startswith("ivf"):
            return False
        return ivf_lists(count, count) > 2 * faiss.extract_index_ivf(self.index).nlist

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )

    def remove(self, ids: np.ndarray) -> bool:
        """Remove ids; False when this index type cannot remove (HNSW): rebuild it instead."""
        if not len(ids):
            return True
        if self.spec == "hnsw":
            return False
        self.index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))
        return True

    def ids(self) -> np.ndarray:
        """Every chunk id held, sorted."""
        if isinstance(self.index, faiss.IndexIDMap2):
            return np.sort(faiss.vector_to_array(self.index.id_map))
        ivf = faiss.extract_index_ivf(self.index)
        lists = ivf.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(lists.nlist)
            if lists.list_size(i)
        ]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def id_checksum(self) -> int:
        """The checksum of the ids held (`store.id_checksum`)."""
        return id_checksum.checksum(self.ids())

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        """The stored (possibly compressed) vector of one chunk id."""
        if not isinstance(self.index, faiss.IndexIDMap2):
            ivf = faiss.extract_index_ivf(self.index)
            if ivf.direct_map.no():
                ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        return self.index.reconstruct(int(chunk_id))

    def expected_reconstruction(self, vectors: np.ndarray) -> np.ndarray:
        """What `reconstruct` should give for these stored vectors: themselves, or for IVF codes
        their encode-decode round trip."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if isinstance(self.index, faiss.IndexIDMap2):
            return vectors
        return self.index.sa_decode(self.index.sa_encode(vectors))

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for one query, optionally only among `allowed` chunk ids."""
        k = min(k, self.count)
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        selector = (
            faiss.IDSelectorBatch(np.asarray(allowed, np.int64)) if allowed is not None else None
        )
        if self.spec == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k), sel=selector)
        elif self.spec.startswith("ivf"):
            nprobe = faiss.extract_index_ivf(self.index).nprobe
            params = faiss.SearchParametersIVF(nprobe=nprobe, sel=selector)
        else:
            params = faiss.SearchParameters(sel=selector)
        scores, ids = self.index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def save(self, path: Path) -> None:
        """Write to a temporary file, fsync, and rename over `path` atomically. FAISS streams
        into the file, so saving costs no second copy of the index in memory."""
        header = json.dumps(
            {
                "store_id": self.store_id,
                "generation": self.generation,
                "spec": self.spec,
                "dim": self.dim,
                "count": self.count,
                "id_checksum": self.id_checksum(),
            }
        ).encode()
        temporary = path.with_name(path.name + f".tmp{os.getpid()}")
        try:
            with open(temporary, "wb") as handle:
                handle.write(MAGIC + header + b"\n")
                faiss.write_index(self.index, faiss.PyCallbackIOWriter(handle.write))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            meaning = "the disk is full" if error.errno == errno.ENOSPC else error.strerror
            raise IndexFileError(
                f"{path} could not be written ({meaning}); the documents are stored, and the "
                "index is rebuilt from them when there is room"
            ) from None

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read a file written by `save`; IndexFileError when it is missing, damaged or does not
        hold what its header says."""
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below, after FAISS streams it
        except FileNotFoundError:
            raise IndexFileError(f"{path} does not exist") from None
        with handle:
            if handle.read(len(MAGIC)) != MAGIC:
                raise IndexFileError(f"{path} is not a semsearch FAISS file")
            try:
                header = json.loads(handle.readline(4096))
                index = faiss.read_index(faiss.PyCallbackIOReader(handle.read))
                loaded = cls(index, header["spec"], int(header["generation"]), header["store_id"])
                expected = (header["count"], header["dim"], header["id_checksum"])
            except (ValueError, RuntimeError, KeyError, TypeError) as error:
                raise IndexFileError(f"{path} is damaged: {error}") from None
        if (loaded.count, loaded.dim, loaded.id_checksum()) != expected:
            raise IndexFileError(f"{path} does not hold what its header says")
        return loaded


def _pq_parts(dim: int) -> int:
    """PQ sub-quantizers: 4 dimensions each where that divides the dimension."""
    for parts in (dim // 4, dim // 8, dim // 2, dim):
        if parts and dim % parts == 0:
            return parts
    return dim
