"""Teacher vectors brought to the student's width by a fixed linear map, so that the student's own
output stays plain mean pooling: the top principal axes of the corpus's teacher vectors (an
uncentred PCA: cosines between texts are what a store ranks by, and centring distorts them; on
Cranfield texts each text's ranking of the others keeps a Spearman 0.999 to the teacher's at 256
of 384 dimensions, against 0.78 centred), or
the teacher's own dimensions that a student started from the teacher's weights keeps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.distillation.corpus import DistillationError


@dataclass(frozen=True)
class Projection:
    """x -> normalise(x @ components.T); `components` (student dim, teacher dim) has orthonormal
    rows. `kind` says where they came from: "pca" or "kept dimensions"."""

    components: np.ndarray
    kind: str = "pca"

    @classmethod
    def fit(cls, vectors: np.ndarray, dim: int) -> Projection:
        """The top `dim` right singular vectors of `vectors` (rows; numpy SVD, float64)."""
        _, _, axes = np.linalg.svd(vectors.astype(np.float64), full_matrices=False)
        return cls(axes[:dim].astype(np.float32))

    @property
    def dims(self) -> tuple[int, int]:
        """(teacher dim, student dim)."""
        return self.components.shape[1], self.components.shape[0]

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        projected = vectors @ self.components.T
        return projected / np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12)

    def describe(self) -> dict[str, int | str]:
        return {"kind": self.kind, "from": self.dims[0], "to": self.dims[1]}


def fitted(vectors: np.ndarray, student_dim: int) -> Projection | None:
    """None when the widths agree (the teacher's vectors are the targets), else a PCA of
    `vectors` to the student's width. DistillationError when the student is the wider, or there
    are fewer texts than dimensions."""
    if vectors.shape[1] == student_dim:
        return None
    if vectors.shape[1] < student_dim or len(vectors) < student_dim:
        raise DistillationError(
            f"the teacher's {vectors.shape[1]}-d vectors cannot be projected to the student's "
            f"{student_dim} dimensions from {len(vectors)} texts (a PCA needs a narrower student "
            f"and at least {student_dim} texts)"
        )
    return Projection.fit(vectors, student_dim)
