"""The embedding recipe a store records: everything that determines a stored vector."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from store.errors import DamagedStoreError

QUERY_KEYS = (
    "model_fingerprint",
    "tokenizer_fingerprint",
    "dim",
    "pooling",
    "normalize",
    "precision",
)
WRITE_KEYS = (*QUERY_KEYS, "chunk_tokens", "overlap")
# A store made before runtimes and precisions were recorded was made by torch in fp32 or bf16.
LEGACY = {"runtime": "torch", "precision": "fp32"}


def vector_kind(precision: str) -> str:
    """What may share a store: fp32 and bf16 vectors, from torch or ONNX Runtime, agree to cosine
    0.9999 or better (make bench) and count as one kind; int8 vectors (min cosine about 0.98)
    are another."""
    return "int8" if precision == "int8" else "float"


@dataclass(frozen=True)
class Recipe:
    """How a store's vectors were made. `model` is where the weights were found (a hub id, a folder
    or the shipped fallback's name): a hint for loading them again. The weights themselves are
    identified by `model_fingerprint`, so a model that moved is still the same model."""

    model: str
    model_fingerprint: str
    dim: int
    pooling: str
    chunk_tokens: int
    overlap: int
    normalize: bool = True
    runtime: str = LEGACY["runtime"]  # what made the store's first vectors: torch | onnxruntime
    precision: str = LEGACY["precision"]  # fp32 | bf16 | int8
    # "" in a store made before tokenizers were recorded: taken from the next write's model
    tokenizer_fingerprint: str = ""
    distilled: dict[str, Any] | None = None  # a distilled model's teacher and training, as data

    @property
    def max_length(self) -> int:
        """Positions of the longest window: its wordpieces plus [CLS] and [SEP]."""
        return self.chunk_tokens + 2

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "max_length": self.max_length}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """The recipe saved by `to_dict`; DamagedStoreError when a field is missing (`normalize`,
        `runtime` and `precision` may be: older stores lack them)."""
        names = [f.name for f in fields(cls)]
        optional = ("normalize", "tokenizer_fingerprint", "distilled", *LEGACY)
        missing = [name for name in names if name not in optional and name not in data]
        if missing:
            raise DamagedStoreError(f"the store's recipe lacks {', '.join(missing)}")
        return cls(**{name: data[name] for name in names if name in data})

    def describe(self) -> str:
        """One line for messages."""
        return (
            f"model {self.model} ({self.model_fingerprint}{self._tokenizer_note}), {self.dim}-d, "
            f"pooling {self.pooling}, "
            f"chunks of {self.chunk_tokens} wordpieces overlapping {self.overlap}, "
            f"{self.precision} on {self.runtime}"
            + (f", distilled from {self.distilled['teacher']}" if self.distilled else "")
        )

    @property
    def _tokenizer_note(self) -> str:
        return f", tokenizer {self.tokenizer_fingerprint}" if self.tokenizer_fingerprint else ""

    def differences(self, other: Recipe, keys: tuple[str, ...] = WRITE_KEYS) -> list[str]:
        """Names of the `keys` in which `other` differs (precisions: in their vector_kind)."""

        def value(recipe: Recipe, key: str) -> Any:
            found = getattr(recipe, key)
            return vector_kind(found) if key == "precision" else found

        def unknown(key: str) -> bool:  # an older store does not know its tokenizer
            return key == "tokenizer_fingerprint" and "" in (
                self.tokenizer_fingerprint,
                other.tokenizer_fingerprint,
            )

        return [key for key in keys if not unknown(key) and value(self, key) != value(other, key)]
