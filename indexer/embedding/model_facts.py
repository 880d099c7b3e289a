"""What a model folder's files determine (the weights fingerprint, the sizes, the fast tokenizer
as transformers builds it), recorded in the cache by the digest of those files, so that a later
start on ONNX Runtime needs neither transformers nor the torch weights (seconds saved at every
`semsearch` command). A record that cannot be read is ignored and written again."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property
from importlib.metadata import version
from pathlib import Path

from tokenizers import Tokenizer

from indexer.embedding.onnx_cache import file_sha256, write_atomically

FORMAT = 1  # bump when a field changes: older records are then ignored and rewritten
# The fingerprint hashes transformers' config and the tokenizer is transformers' conversion: a
# record made by other versions of them is ignored (and made again by a full load).
MADE_BY = ("transformers", "tokenizers")
SUBFOLDER = "models"
# The files transformers reads to build a BERT and its tokenizer (other weights formats a hub
# folder may also hold, e.g. tf_model.h5, are never read, so they do not count).
MODEL_FILE_SUFFIXES = (".json", ".txt", ".safetensors", ".bin", ".model")
TEXT_FIELDS = ("fingerprint", "tokenizer_json")


@dataclass(frozen=True)
class ModelFacts:
    """The facts of one model that a store's recipe and the embedder need."""

    fingerprint: str  # indexer.embedding.model.weights_fingerprint
    dim: int
    max_positions: int
    cls_id: int
    sep_id: int
    pad_id: int
    unk_id: int
    tokenizer_json: str  # the fast tokenizer, serialised by the tokenizers library

    @cached_property
    def tokenizer_fingerprint(self) -> str:
        """sha256 over what turns text into wordpieces (normalizer, pre-tokenizer, vocabulary and
        its model, added tokens): a folder with the same weights and another tokenizer (say,
        lowercasing off) makes other vectors, so it is another model."""
        return tokenizer_fingerprint(self.tokenizer_json)

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The fast tokenizer, parsed once (checking a record parses it; the model then uses it)."""
        return Tokenizer.from_str(self.tokenizer_json)


TOKENIZER_PARTS = ("normalizer", "pre_tokenizer", "model", "added_tokens")


def tokenizer_fingerprint(tokenizer_json: str) -> str:
    """sha256 of the parts of a serialised fast tokenizer that decide the wordpieces, as canonical
    JSON (so a change of the library's formatting or of unrelated settings does not count)."""
    parsed = json.loads(tokenizer_json)
    parts = {part: parsed.get(part) for part in TOKENIZER_PARTS}
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def folder_digest(folder: Path) -> str:
    """sha256 over the names and sha256s of the model files in `folder` (links followed)."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.suffix not in MODEL_FILE_SUFFIXES or not path.is_file():
            continue
        digest.update(f"{path.name}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


class FactsCache:
    """Model facts under one folder (settings.cache_folder()/models), one JSON file per digest."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, digest: str) -> Path:
        return self.folder / f"{digest}.json"

    def find(self, digest: str) -> ModelFacts | None:
        """The facts recorded for these files; None when there are none or they cannot be read."""
        try:
            record = json.loads(self.path(digest).read_text())
            if record.pop("format") != FORMAT or record.pop("made_by") != _made_by():
                return None
            facts = ModelFacts(**record)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None
        for name, value in asdict(facts).items():
            if type(value) is not (str if name in TEXT_FIELDS else int):
                return None
        try:
            vocabulary = facts.tokenizer.get_vocab_size(with_added_tokens=True)
        except Exception:  # noqa: BLE001 (the tokenizers library raises plain Exception)
            return None  # a damaged record: the model is loaded in full and the record rewritten
        ids = (facts.cls_id, facts.sep_id, facts.pad_id, facts.unk_id)
        if not all(0 <= i < vocabulary for i in ids) or facts.dim < 1 or facts.max_positions < 3:
            return None
        return facts

    def write(self, digest: str, facts: ModelFacts) -> None:
        """Record `facts` (temporary file, then rename); OSError when the folder cannot take it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"format": FORMAT, "made_by": _made_by(), **asdict(facts)}
        write_atomically(self.path(digest), json.dumps(record))


def _made_by() -> dict[str, str]:
    return {package: version(package) for package in MADE_BY}
