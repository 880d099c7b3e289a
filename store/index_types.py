"""The index types a store can be configured with, and the concrete type each means for a number
of vectors. Light on purpose (no FAISS import): the settings and the command line read it."""

from __future__ import annotations

from store.errors import StoreError

SPECS = ("auto", "flat", "hnsw", "ivf", "ivf-fp16", "ivf-sq8", "ivf-pq")
DEFAULT_SPEC = "auto"
AUTO_FLAT_MAX = 20_000  # flat reads every vector per query: ~13 ms at 100k x 384-d (make bench)
# Half-precision codes: 8-bit ones cap recall@10 at 0.93 for a model whose vectors crowd in a
# narrow cone (the seed architecture's: cosine 0.94 between random texts), fp16 reaches 0.95+
# at the same nprobe, for twice the memory of 8 bits (make bench, section 14); removes in place,
# unlike hnsw.
AUTO_LARGE = "ivf-fp16"
MIN_IVF_TRAINING = 256  # below this, IVF types search exactly (flat) until they can train
MIN_PQ_TRAINING = 16 * 39  # 4-bit PQ codebooks want 39 points per centroid (FAISS warns below)


def check_spec(spec: str) -> str:
    """The spec itself, or StoreError naming the accepted ones."""
    if spec not in SPECS:
        raise StoreError(f"unknown index type {spec!r}; choose one of {', '.join(SPECS)}")
    return spec


def resolve_spec(spec: str, count: int) -> str:
    """The concrete type for `count` vectors: `auto` is `flat` up to AUTO_FLAT_MAX, AUTO_LARGE
    beyond; an IVF type is `flat` while there are too few vectors to train it (more for PQ)."""
    if check_spec(spec) == "auto":
        spec = "flat" if count <= AUTO_FLAT_MAX else AUTO_LARGE
    if spec.startswith("ivf") and count < MIN_IVF_TRAINING:
        return "flat"
    if spec == "ivf-pq" and count < MIN_PQ_TRAINING:
        return "flat"
    return spec
