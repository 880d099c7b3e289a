"""What names a stored thing: a document's id never silently takes another source's document, a
copy of a file never moves the original's record, ids made from line numbers never outlive their
lines, and a model is its weights *and* its tokenizer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import read_only
from tests.helpers import invoke


def stored_ids(store: Path) -> dict[str, str]:
    with read_only(store) as db:
        return dict(db.execute("SELECT id, source FROM documents ORDER BY id").fetchall())


def cased_copy(model: Path, to: Path) -> Path:
    """The same weights with a tokenizer that keeps case (another model for every vector)."""
    shutil.copytree(model, to)
    tokenizer = json.loads((to / "tokenizer.json").read_text())
    tokenizer["normalizer"]["lowercase"] = False
    (to / "tokenizer.json").write_text(json.dumps(tokenizer))
    config = json.loads((to / "tokenizer_config.json").read_text())
    config["do_lower_case"] = False
    (to / "tokenizer_config.json").write_text(json.dumps(config))
    return to


def test_the_same_weights_with_another_tokenizer_are_refused(tmp_path, tiny_model_dir) -> None:
    source = tmp_path / "notes.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "Wings Generate Lift"}) + "\n")
    store = str(tmp_path / "store")
    assert (
        invoke("index", str(source), "--store", store, "--model", str(tiny_model_dir)).exit_code
        == 0
    )
    cased = cased_copy(tiny_model_dir, tmp_path / "cased")
    searched = invoke("search", "wings", "--store", store, "--model", str(cased))
    assert searched.exit_code == 2
    assert "tokenizer" in searched.stderr and "\n" not in searched.stderr.strip()
    added = invoke("index", str(source), "--store", store, "--model", str(cased))
    assert added.exit_code == 2 and "tokenizer" in added.stderr
    same = invoke("search", "wings", "--store", store, "--json")
    assert same.exit_code == 0 and json.loads(same.stdout)[0]["id"] == "a"
