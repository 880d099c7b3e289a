"""Files made to hang or abort the indexer, through `semsearch index`: each one either is read
(in time and memory that grow with its size) or is skipped with one line naming it and the
reason; the run exits 0 and every other document of the run is stored intact."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli.app import cli
from indexer.sources import document_files
from indexer.sources.inputs import READERS, InputFile, plan_inputs
from indexer.sources.options import SourceOptions
from indexer.spark.tasks import read_rows
from tests import document_fixtures as make
from tests.conftest import read_only

GOOD = "A good note about the tides of the northern harbour."


@pytest.fixture
def folder(tmp_path) -> Path:
    """A folder holding one good text file, for the hostile file to sit beside."""
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "good.txt").write_text(GOOD, encoding="utf-8")
    return papers


def index(folder: Path, store: Path, model_dir: Path, *extra: str):
    result = CliRunner().invoke(
        cli,
        ["index", str(folder), "--store", str(store), "--model", str(model_dir), *extra],
        catch_exceptions=False,
    )
    assert "Traceback" not in result.output
    return result


def stored(store: Path) -> dict[str, tuple[str, dict]]:
    """id -> (text, metadata) of every stored document."""
    with read_only(store) as db:
        rows = db.execute("SELECT id, text, metadata FROM documents").fetchall()
    return {doc_id: (text, json.loads(metadata)) for doc_id, text, metadata in rows}


def skipped_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("skipped ")]


def assert_skipped_beside_good(
    folder: Path, store: Path, model_dir: Path, hostile: Path, reason: str
) -> None:
    """The run exits 0, lists the hostile file once with `reason` (a regular expression), and
    stores the good file intact and nothing else."""
    result = index(folder, store, model_dir)
    assert result.exit_code == 0, result.output
    (line,) = skipped_lines(result.stderr)
    assert re.fullmatch(f"skipped {re.escape(str(hostile))}: {reason}", line), line
    assert "added 1," in result.output and "skipped 1;" in result.output
    assert {doc_id: text for doc_id, (text, _) in stored(store).items()} == {"good.txt": GOOD}


def test_an_odt_space_count_in_other_digits_is_one_space(folder, tmp_path, tiny_model_dir):
    make.odt_with_spaces(folder / "digits.odt", "\u00b2")  # SUPERSCRIPT TWO: isdigit(), no int()
    result = index(folder, tmp_path / "store", tiny_model_dir)
    assert result.exit_code == 0, result.output
    assert skipped_lines(result.stderr) == []
    documents = stored(tmp_path / "store")
    assert documents["digits.odt"][0] == "before after"
    assert documents["good.txt"][0] == GOOD


@pytest.mark.parametrize(
    ("count", "shown"), [("300000000", "300,000,000"), ("9" * 5000, "9,999,999,999,999")]
)
def test_an_odt_asking_for_millions_of_spaces_is_a_zip_bomb(
    folder, tmp_path, tiny_model_dir, count, shown
) -> None:
    hostile = make.odt_with_spaces(folder / "spaces.odt", count)
    assert hostile.stat().st_size < 1000
    reason = f"its text:s elements ask for {shown} spaces, over the .*-byte limit .*zip bomb"
    assert_skipped_beside_good(folder, tmp_path / "store", tiny_model_dir, hostile, reason)


def test_long_runs_of_spaces_in_html_and_word_are_read_whole(folder, tmp_path, tiny_model_dir):
    (folder / "spaces.html").write_text("<p>before" + " " * 500_000 + "after</p>\n")
    make.docx_with_spaces(folder / "spaces.docx", 900_000)
    assert (folder / "spaces.docx").stat().st_size < 50_000
    result = index(folder, tmp_path / "store", tiny_model_dir)
    assert result.exit_code == 0, result.output
    assert skipped_lines(result.stderr) == []
    documents = stored(tmp_path / "store")
    assert documents["spaces.html"][0] == "before" + " " * 500_000 + "after"
    assert documents["spaces.docx"][0] == "before" + " " * 900_000 + "after"
    assert documents["good.txt"][0] == GOOD


def test_50000_nested_divs_are_read_in_html_epub_and_html_mail(folder, tmp_path, tiny_model_dir):
    deep = make.nested_divs(50_000, "the deepest word")
    (folder / "deep.html").write_text(f"<html><body>{deep}<p>after the divs</p></body></html>")
    chapters = [*make.CHAPTERS[:2], ("Chapter Three", deep)]
    make.epub(folder / "deep.epub", chapters)
    make.html_mail(folder / "deep.eml", f"<p>Dear reader,</p>{deep}")
    result = index(folder, tmp_path / "store", tiny_model_dir)
    assert result.exit_code == 0, result.output
    assert skipped_lines(result.stderr) == []
    documents = stored(tmp_path / "store")
    assert documents["deep.html"][0] == "the deepest word\n\nafter the divs"
    assert documents["deep.epub"][0].endswith("Chapter Three\n\nthe deepest word")
    assert documents["html@example.org"][0] == "An HTML letter\n\nDear reader,\n\nthe deepest word"
    assert documents["good.txt"][0] == GOOD


def test_html_ending_in_open_comments_and_tags_keeps_its_text(folder, tmp_path, tiny_model_dir):
    """What is still open at the end is dropped, as HTML5 ends a document (the standard
    library's own end re-read the rest for each "<": minutes for these 200 KB)."""
    (folder / "comments.html").write_text("<p>kept words</p>" + "<!--" * 50_000)
    (folder / "tags.html").write_text("<p>kept words</p>" + "</" * 100_000)
    result = index(folder, tmp_path / "store", tiny_model_dir)
    assert result.exit_code == 0, result.output
    documents = stored(tmp_path / "store")
    assert documents["comments.html"][0] == documents["tags.html"][0] == "kept words"
    assert documents["good.txt"][0] == GOOD


def test_a_message_of_3000_nested_multiparts_is_listed_and_its_mailbox_goes_on(
    folder, tmp_path, tiny_model_dir
) -> None:
    hostile = folder / "deep.eml"
    hostile.write_bytes(make.nested_multiparts(3000, "at the bottom"))
    assert_skipped_beside_good(
        folder, tmp_path / "store", tiny_model_dir, hostile, "nested too deeply to read"
    )
    hostile.unlink()
    box = make.mbox(folder / "box.mbox", count=2)
    with open(box, "ab") as handle:  # a third message, nested too deeply, between the two
        handle.write(b"\nFrom deep@example.org Sat Mar 16 08:30:00 2024\n")
        handle.write(make.nested_multiparts(3000, "at the bottom").replace(b"\r\n", b"\n"))
    with open(box, "ab") as handle:
        handle.write(b"\n" + make.mbox(tmp_path / "last.mbox", count=1, first=12).read_bytes())
    result = index(folder, tmp_path / "store2", tiny_model_dir)
    assert result.exit_code == 0, result.output
    (line,) = skipped_lines(result.stderr)
    assert re.fullmatch(rf"skipped {re.escape(str(box))}:\d+: nested too deeply to read", line)
    ids = set(stored(tmp_path / "store2"))
    assert ids == {"good.txt", *(f"report-{n}@example.org" for n in (10, 11, 12))}


def test_nul_in_a_message_id_and_an_attachment_name_is_replaced_and_counted(
    folder, tmp_path, tiny_model_dir
) -> None:
    hostile = make.mail_with_nul(folder / "nul.eml")
    result = index(folder, tmp_path / "store", tiny_model_dir, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["added"] == 3 and summary["skipped"] == 0
    replaced = {item["where"] for item in summary["replaced_items"]}
    assert replaced == {str(hostile), f"{hostile}/a\ufffdb.txt"}
    documents = stored(tmp_path / "store")
    assert set(documents) == {
        "good.txt",
        "nul\ufffdid@example.org",
        "nul\ufffdid@example.org/a\ufffdb.txt",
    }
    assert documents["nul\ufffdid@example.org/a\ufffdb.txt"][0].endswith("about tides.")


def test_a_pdf_dated_25_hours_east_is_read_without_its_date(folder, tmp_path, tiny_model_dir):
    make.pdf_created(folder / "dated.pdf", "D:20240315083000+25'00'")
    result = index(folder, tmp_path / "store", tiny_model_dir)
    assert result.exit_code == 0, result.output
    assert skipped_lines(result.stderr) == []
    text, metadata = stored(tmp_path / "store")["dated.pdf"]
    assert make.PAGE_THREE in text and "created" not in metadata
    assert metadata["page_count"] == len(make.PAGES)


def test_a_file_name_that_is_not_utf8_is_listed_with_its_bytes_escaped(
    folder, tmp_path, tiny_model_dir
) -> None:
    make.latin1_named(folder, "A note about tides in a Latin-1 name.")
    shown = folder / "caf\\xe9.txt"  # the name's byte 0xE9 as the skip names it
    reason = "its name is not valid UTF-8, which no store can keep: rename it to index it"
    assert_skipped_beside_good(folder, tmp_path / "store", tiny_model_dir, shown, re.escape(reason))


def test_a_reader_that_fails_is_a_listed_skip_naming_the_error(
    folder, tmp_path, tiny_model_dir, monkeypatch
) -> None:
    def broken(source):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(document_files.DOCUMENT_READERS, ".odt", broken)
    hostile = make.odt(folder / "text.odt")
    reason = re.escape("the reader failed (ZeroDivisionError: division by zero)")
    assert_skipped_beside_good(folder, tmp_path / "store", tiny_model_dir, hostile, reason)


def test_index_help_names_every_suffix_read() -> None:
    result = CliRunner().invoke(cli, ["index", "--help"], terminal_width=60)
    assert result.exit_code == 0
    named = set(re.findall(r"\.\w+", result.output))
    assert set(READERS) <= named


def test_spark_executors_and_driver_list_hostile_files_as_a_local_run_does(folder) -> None:
    """Spark's driver plans with `plan_inputs` and its executors read with `read_rows`: no JVM
    is needed to see that both list what the local run lists."""
    make.latin1_named(folder, "A note about tides in a Latin-1 name.")
    deep = folder / "deep.eml"
    deep.write_bytes(make.nested_multiparts(3000, "at the bottom"))
    plan = plan_inputs([str(folder)], SourceOptions())
    files = [item for item in plan if isinstance(item, InputFile)]
    assert [item.name for item in files] == ["deep.eml", "good.txt"]
    (name_skip,) = [item for item in plan if not isinstance(item, InputFile)]
    assert name_skip.where == f"{folder}/caf\\xe9.txt" and name_skip.kind == "name not UTF-8"
    options = asdict(SourceOptions())  # as the driver hands them to its executors
    rows = {
        item.name: list(read_rows(i, str(item.path), item.label, item.name, options))
        for i, item in enumerate(files)
    }
    (deep_row,) = rows["deep.eml"]
    assert (deep_row[0], deep_row[-3], deep_row[-2]) == (
        "skipped",
        "nested too deeply",
        "nested too deeply to read",
    )
    (good_row,) = rows["good.txt"]
    assert good_row[0] == "document" and good_row[4] == GOOD
