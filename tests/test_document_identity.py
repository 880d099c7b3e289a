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


def index_json(*args: str) -> dict:
    result = invoke("index", *args, "--json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_a_copy_of_a_folder_never_takes_the_originals_record(tmp_path, tiny_model_dir) -> None:
    original = tmp_path / "original"
    original.mkdir()
    (original / "a.txt").write_text("Wings generate lift.")
    store, model = str(tmp_path / "store"), ["--model", str(tiny_model_dir)]
    index_json(str(original), "--store", store, *model)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    again = index_json(str(copy), "--store", store, *model)
    assert again["unchanged"] == 1 and again["moved"] == 0
    assert stored_ids(Path(store)) == {"a.txt": str((original / "a.txt").resolve())}
    shutil.rmtree(copy)
    pruned = invoke("prune", "--store", store, "--json")
    assert pruned.exit_code == 0 and json.loads(pruned.stdout)["ids"] == []
    assert list(stored_ids(Path(store))) == ["a.txt"]


def test_an_id_another_existing_file_holds_is_refused_naming_both(tmp_path, tiny_model_dir) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for folder, words in ((one, "alpha wings"), (two, "beta nozzles")):
        folder.mkdir()
        (folder / "README.md").write_text(words)
    (one / "report.txt").write_text("the quarterly report on wings")
    mail = tmp_path / "mail.eml"
    mail.write_text(
        "From: a@example.com\nSubject: hello\nMessage-ID: <report.txt>\n\nA mail about nozzles.\n"
    )
    store, model = str(tmp_path / "store"), ["--model", str(tiny_model_dir)]
    first = index_json(str(one), "--store", store, *model)
    assert first["added"] == 2
    later = index_json(str(two), str(mail), "--store", store, *model)
    assert later["added"] == 0 and later["skipped_by_kind"] == {"id taken": 2}
    reasons = [item["reason"] for item in later["skipped_items"]]
    assert str((one / "README.md").resolve()) in reasons[0] and "two/README.md" in str(
        later["skipped_items"][0]["where"]
    )
    assert str((one / "report.txt").resolve()) in reasons[1]
    assert stored_ids(Path(store)) == {
        "README.md": str((one / "README.md").resolve()),
        "report.txt": str((one / "report.txt").resolve()),
    }
    with read_only(Path(store)) as db:
        assert db.execute("SELECT text FROM documents WHERE id = 'README.md'").fetchone() == (
            "alpha wings",
        )
    together = index_json(str(one), str(two), "--store", str(tmp_path / "other"), *model)
    assert together["skipped_by_kind"] == {"duplicate id": 1}
    assert "one/README.md" in together["skipped_items"][0]["reason"]


def test_ids_made_from_line_numbers_never_outlive_their_lines(tmp_path, tiny_model_dir) -> None:
    records = tmp_path / "notes.jsonl"
    lines = [json.dumps({"text": f"note {n} about wings"}) for n in range(1, 5)]
    records.write_text("\n".join(lines) + "\n")
    table = tmp_path / "table.csv"
    table.write_text("text\nfirst row\nsecond row\nthird row\n")
    store, model = str(tmp_path / "store"), ["--model", str(tiny_model_dir)]
    assert index_json(str(records), str(table), "--store", store, *model)["added"] == 7
    records.write_text("\n".join(lines[1:]) + "\n")  # the first line removed
    table.write_text("text\nfirst row\nsecond row\n")
    again = index_json(str(records), str(table), "--store", store, *model)
    assert sorted(again["outlived"]) == [f"{records}#4", f"{table}#4"]
    with read_only(Path(store)) as db:
        texts = dict(db.execute("SELECT id, text FROM documents").fetchall())
    assert texts == {
        f"{records}#1": "note 2 about wings",
        f"{records}#2": "note 3 about wings",
        f"{records}#3": "note 4 about wings",
        f"{table}#2": "first row",
        f"{table}#3": "second row",
    }
    records.write_text(lines[0] + "\n")  # shrunk again, then pruned without re-indexing
    pruned = invoke("prune", "--store", store, "--json")
    assert sorted(json.loads(pruned.stdout)["ids"]) == [f"{records}#2", f"{records}#3"]
