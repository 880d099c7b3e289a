"""The document formats people keep (PDF, Word, PowerPoint, OpenDocument, EPUB, e-mail): what is
read from each, which page a hit is on, and every file that cannot be read listed with its reason
while the run goes on. Every file is built in code (tests/document_fixtures.py)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli.app import cli
from indexer.sources import inputs, mail, zip_packages
from indexer.sources.html_text import html_to_text
from indexer.sources.inputs import InputFile, read_file
from indexer.sources.options import SourceDocument, SourceOptions
from indexer.summary import Skipped
from tests import document_fixtures as make
from tests.conftest import read_only


def read(path: Path) -> tuple[list[SourceDocument], list[Skipped]]:
    """What reading one file gives: its documents and what it left out."""
    found = list(read_file(InputFile(path, path.name), SourceOptions()))
    return (
        [item for item in found if isinstance(item, SourceDocument)],
        [item for item in found if isinstance(item, Skipped)],
    )


def page(doc: SourceDocument, number: int) -> str:
    """The text of page `number` (1-based) of a paginated document."""
    ends = [*doc.pages[1:], len(doc.text)]
    return doc.text[doc.pages[number - 1] : ends[number - 1]].strip()


def test_a_pdf_is_read_page_by_page_with_its_title_authors_and_dates(tmp_path) -> None:
    [doc], skipped = read(make.pdf(tmp_path / "report.pdf"))
    assert not skipped
    assert doc.id == "report.pdf" and doc.title == "Fixture Report"
    assert doc.metadata["authors"] == ["Ada Lovelace"]
    assert doc.metadata["created"] == "2024-03-15T08:30:00+00:00"
    assert (doc.metadata["type"], doc.metadata["page_count"]) == ("pdf", 3)
    assert len(doc.pages) == 3
    assert page(doc, 3).startswith("Third page on airships.")
    assert page(doc, 3).endswith("the zeppelin hangar at dawn.")
    assert "Bridges cross" in page(doc, 2) and "zeppelin" not in page(doc, 2)


def test_pdf_text_has_words_joined_ligatures_decoded_and_no_running_heads(tmp_path, tiny) -> None:
    [doc], _ = read(make.pdf(tmp_path / "report.pdf"))
    assert "The conversion of office files is the first step." in doc.text
    assert not {"\ufffe", "\x02", "\ufb01", "\r"} & set(doc.text)
    assert make.HEADER not in doc.text and "Page 2 of 3" not in doc.text
    assert "[UNK]" not in tiny.loaded.tokenizer.tokenize(doc.text)


def test_a_pdf_page_without_text_is_listed_and_the_other_pages_are_indexed(tmp_path) -> None:
    pages = [*make.PAGES, ["Fourth page, the last."]]
    [doc], [note] = read(make.pdf(tmp_path / "mixed.pdf", pages, image_pages=(2,)))
    assert note.where.endswith("mixed.pdf") and note.kind == "pages without text"
    assert note.reason.startswith("page 2 of 4: no text layer: scanned? OCR is not done")
    assert page(doc, 2) == "" and page(doc, 3).startswith("Third page on airships.")


def test_unreadable_pdfs_are_listed_with_their_reason(tmp_path) -> None:
    original = make.pdf(tmp_path / "original.pdf")
    (tmp_path / "fake.pdf").write_text("not a PDF at all")
    cases = {
        make.encrypted_pdf(tmp_path / "locked.pdf"): ("encrypted", "encrypted, no password"),
        make.scanned_pdf(tmp_path / "scan.pdf"): (
            "no text layer",
            "no text layer: scanned? OCR is not done",
        ),
        make.truncated(original, tmp_path / "half.pdf"): ("corrupt", "corrupt or truncated PDF"),
        tmp_path / "fake.pdf": ("corrupt", "corrupt or truncated PDF"),
    }
    for path, (kind, reason) in cases.items():
        docs, [skipped] = read(path)
        assert not docs and skipped.kind == kind and skipped.reason.startswith(reason), path
        assert skipped.where == str(path)
    [opened], _ = read(make.encrypted_pdf(tmp_path / "owner-only.pdf", user_password=""))
    assert "Fixture Report on Conversion" in opened.text  # encrypted, but no password needed


def test_titles_come_from_the_metadata_else_the_first_heading_else_the_file_name(tmp_path) -> None:
    junk = make.pdf(tmp_path / "junk.pdf", title="Microsoft Word - draft.docx")
    assert read(junk)[0][0].title == "Fixture Report on Conversion"  # the line in large type
    lines = [["Body text of an even size, line after line, all of it alike."] * 4] * 2
    plain = make.pdf(tmp_path / "plain-name.pdf", lines, title="untitled", large_title=False)
    assert read(plain)[0][0].title == "plain-name"
    untitled = make.docx(tmp_path / "untitled.docx", title=None)
    assert read(untitled)[0][0].title == "Heading of the Word file"


def test_word_text_has_content_controls_and_insertions_but_no_deletions(tmp_path) -> None:
    [doc], _ = read(make.docx(tmp_path / "word.docx"))
    assert doc.title == "Fixture Word Document" and doc.pages is None
    assert doc.metadata["authors"] == ["Ada Lovelace"]
    assert doc.metadata["created"] == "2024-03-15T08:30:00+00:00"
    lines = doc.text.split("\n")
    assert lines[:2] == ["Heading of the Word file", "Glaciers carve valleys over many centuries."]
    assert "Name\tValue" in lines and "alpha\t1" in lines
    assert "Text before the tracked changes. Inserted words." in lines
    assert "Inside a content control." in lines and "Deleted words" not in doc.text


def test_a_table_inside_a_table_cell_is_read_once(tmp_path) -> None:
    import docx

    document = docx.Document()
    outer = document.add_table(rows=1, cols=2)
    outer.cell(0, 0).text = "outer cell"
    outer.cell(0, 1).add_table(rows=1, cols=1).cell(0, 0).text = "inner words"
    document.save(str(tmp_path / "nested.docx"))
    [doc], _ = read(tmp_path / "nested.docx")
    assert doc.text.count("inner words") == 1 and "outer cell\t" in doc.text


def test_slides_are_pages_in_order_with_tables_and_speaker_notes(tmp_path) -> None:
    [doc], _ = read(make.pptx(tmp_path / "deck.pptx"))
    assert doc.title == "Fixture Deck" and len(doc.pages) == 3
    assert page(doc, 1) == "Deck title slide\nA subtitle about volcanoes"
    assert page(doc, 2) == "Bullets\nLava flows downhill slowly"
    assert page(doc, 3) == ("Table slide\nName\tValue\nbeta\t2\nSpeaker notes mention the caldera.")


def test_opendocument_text_keeps_its_spaces_tabs_breaks_and_tables(tmp_path) -> None:
    [doc], _ = read(make.odt(tmp_path / "text.odt"))
    assert doc.title == "Fixture OpenDocument" and doc.pages is None
    assert doc.metadata["authors"] == ["Ada Lovelace"]
    assert doc.metadata["created"] == "2024-03-15T08:30:00+00:00"
    assert doc.text == (
        "Heading of the ODT\nDeserts bloom after rain.\tafter a tab\nand   spaces\ngamma\t3"
    )


def test_an_ebook_is_its_chapters_in_reading_order(tmp_path) -> None:
    [doc], _ = read(make.epub(tmp_path / "book.epub"))
    assert doc.title == "Fixture Book" and doc.pages is None
    assert doc.metadata["authors"] == ["Ada Lovelace", "Mary Shelley"]
    assert doc.metadata["created"] == "2024-03-15"
    order = [doc.text.index(f"Chapter {n}") for n in ("One", "Two", "Three")]
    assert order == sorted(order)
    assert "Table of contents" not in doc.text and "hidden" not in doc.text


def test_a_message_and_its_pdf_attachment_are_documents_of_their_own(tmp_path) -> None:
    attached = make.pdf(tmp_path / "attached.pdf").read_bytes()
    (message, attachment), _ = read(make.eml(tmp_path / "note.eml", ("Bericht März.pdf", attached)))
    assert message.id == "report-1@example.org"
    assert message.title == "Quarterly report 1 — Grüße"
    assert message.text.startswith("Quarterly report 1 — Grüße\n\nHello Bob,")
    assert {key: message.metadata[key] for key in ("from", "to", "date", "attachments")} == {
        "from": "Zoë Example <zoe@example.org>",
        "to": ["Bob <bob@example.com>", "carol@example.net"],
        "date": "2024-03-16T08:30:00+00:00",
        "attachments": ["Bericht März.pdf"],
    }
    assert attachment.id == "report-1@example.org/Bericht März.pdf"
    assert attachment.metadata["attached_to"] == "report-1@example.org"
    assert len(attachment.pages) == 3 and page(attachment, 3).startswith("Third page on airships.")


def test_attachments_of_other_types_are_listed(tmp_path) -> None:
    docs, [skipped] = read(make.eml(tmp_path / "photo.eml", ("photo.png", b"\x89PNG\x00")))
    assert [doc.id for doc in docs] == ["report-1@example.org"]
    assert skipped.where == f"{tmp_path / 'photo.eml'}/photo.png"
    assert skipped.kind == "unsupported attachment"


def test_an_mbox_is_one_document_per_message_and_is_never_written(tmp_path) -> None:
    box = make.mbox(tmp_path / "box.mbox")
    before = (box.read_bytes(), box.stat().st_mtime_ns)
    docs, skipped = read(box)
    assert not skipped
    assert [doc.id for doc in docs] == [f"report-{n}@example.org" for n in (10, 11, 12)]
    assert all(doc.text.endswith("\nFrom the desk of Zoë.") for doc in docs)  # >From unescaped
    assert docs[1].metadata["date"] == "2024-03-26T08:30:00+00:00"
    assert (box.read_bytes(), box.stat().st_mtime_ns) == before


def test_a_file_named_mbox_that_is_not_one_is_listed(tmp_path) -> None:
    fake = tmp_path / "notes.mbox"
    fake.write_text("Dear diary,\n\nFrom today on I keep notes.\n")
    assert read(fake) == (
        [],
        [Skipped(str(fake), "not an mbox", "not an mbox: it does not start with a 'From ' line")],
    )


def test_an_oversized_message_is_listed_and_the_rest_of_the_mbox_is_read(
    tmp_path, monkeypatch
) -> None:
    box = make.mbox(tmp_path / "box.mbox", count=1)
    second_from_line = box.read_bytes().count(b"\n") + 1
    with open(box, "ab") as handle:  # a second message, with a big attachment, then a third
        big = make.message(2, ("big.pdf", b"%PDF" + b"x" * 6000)).as_bytes()
        handle.write(b"From zoe@example.org Sat Mar 16 08:30:00 2024\n" + big + b"\n")
        handle.write(b"From zoe@example.org Sun Mar 17 08:30:00 2024\n")
        handle.write(make.message(3).as_bytes() + b"\n")
    monkeypatch.setattr(mail, "MAX_DOCUMENT_BYTES", 4000)
    docs, [skipped] = read(box)
    assert [doc.id for doc in docs] == ["report-10@example.org", "report-3@example.org"]
    assert skipped.where == f"{box}:{second_from_line}"
    assert skipped.kind == "too large" and "4,000-byte limit" in skipped.reason


def test_damaged_and_oversized_zip_packages_are_refused_before_they_are_parsed(
    tmp_path, monkeypatch
) -> None:
    word = make.docx(tmp_path / "word.docx")
    for name in ("other.docx", "other.epub"):
        with zipfile.ZipFile(tmp_path / name, "w") as package:
            package.writestr("readme.txt", "a zip, but not of this format")
    cases = {
        tmp_path / "other.docx": ("corrupt", "corrupt or truncated DOCX (no word/document.xml)"),
        tmp_path / "other.epub": ("corrupt", "(no package document (META-INF/container.xml))"),
        make.truncated(word, tmp_path / "half.docx"): ("corrupt", "corrupt or truncated DOCX"),
        make.lying_zip(tmp_path / "lying.docx"): ("corrupt", "Bad CRC-32"),  # inflates further
        make.zip_bomb(tmp_path / "ratio.docx", 3 << 20): ("zip bomb", "times (limit 500)"),
    }
    for path, (kind, reason) in cases.items():
        docs, [skipped] = read(path)
        assert not docs and skipped.kind == kind and reason in skipped.reason, (path, skipped)
    monkeypatch.setattr(zip_packages, "MAX_UNZIPPED_BYTES", 1 << 20)
    docs, [skipped] = read(make.zip_bomb(tmp_path / "big.docx", 2 << 20))
    assert skipped.kind == "zip bomb" and "1,048,576-byte limit for a DOCX" in skipped.reason
    members = len(zipfile.ZipFile(word).namelist())
    monkeypatch.setattr(zip_packages, "MAX_ZIP_MEMBERS", members - 1)
    assert read(word)[1][0].reason == f"{members} files inside (limit {members - 1})"


def test_a_package_that_reads_one_part_over_and_over_is_stopped_at_the_limit(
    tmp_path, monkeypatch
) -> None:
    deck = make.pptx(tmp_path / "deck.pptx")
    looping = tmp_path / "looping.pptx"
    with zipfile.ZipFile(deck) as source, zipfile.ZipFile(looping, "w") as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "ppt/presentation.xml":  # slide 1, listed 500 times
                start = data.index(b"<p:sldId ")
                first = data[start : data.index(b"/>", start) + 2]
                data = data.replace(first, first * 500)
            target.writestr(member, data)
    declared = sum(member.file_size for member in zipfile.ZipFile(looping).infolist())
    monkeypatch.setattr(zip_packages, "MAX_UNZIPPED_BYTES", declared + 10_000)
    docs, [skipped] = read(looping)
    assert not docs and skipped.kind == "zip bomb" and "inflates further" in skipped.reason


def test_a_file_over_the_size_limit_is_listed_without_being_opened(tmp_path, monkeypatch) -> None:
    path = make.pdf(tmp_path / "huge.pdf")
    monkeypatch.setattr(inputs, "MAX_DOCUMENT_BYTES", 1000)
    docs, [skipped] = read(path)
    assert not docs and skipped.kind == "too large"
    assert (
        skipped.reason
        == f"{path.stat().st_size:,} bytes, over the 1,000-byte limit for one document"
    )


def test_html_keeps_inline_elements_on_their_line_and_drops_scripts() -> None:
    title, text = html_to_text(
        "<html><head><title>T</title><script>x()</script></head>"
        "<body><p>Hello <b>Bob</b>,</p><p>see the <a href='#'>attached</a> &amp; enjoy.</p>"
        "</body></html>"
    )
    assert (title, text) == ("T", "Hello Bob,\n\nsee the attached & enjoy.")


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    return make.every_format(tmp_path_factory.mktemp("papers"))


def semsearch(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_a_folder_of_every_format_indexes_and_a_phrase_on_page_3_is_found_on_page_3(
    library, tmp_path, tiny_model_dir
) -> None:
    store = str(tmp_path / "store")
    model = ("--model", str(tiny_model_dir), "--chunk-tokens", "48", "--overlap", "8")
    result = semsearch("index", str(library), "--store", store, "--json", *model)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["added"] == 10  # 5 files, a message and its attachment, 3 messages
    reasons = {Path(s["where"]).name: s["reason"] for s in summary["skipped_items"]}
    assert reasons == {
        "locked.pdf": "encrypted, no password",
        "scan.pdf": "no text layer: scanned? OCR is not done",
        "half.docx": "corrupt or truncated DOCX (File is not a zip file)",
    }
    found = semsearch("search", make.PAGE_THREE, "--store", store, "--mode", "lexical", "--json")
    hits = {hit["id"]: hit for hit in json.loads(found.stdout)}
    assert (hits["report.pdf"]["page"], hits["report.pdf"]["last_page"]) == (3, 3)
    assert hits["report-1@example.org/attached.pdf"]["page"] == 3
    table = semsearch("search", make.PAGE_THREE, "--store", store, "--mode", "lexical", "-k", "1")
    assert "p. 3 [" in table.stdout
    by_author = semsearch(
        "search", "day", "--store", store, "--json", "--filter", "authors~shelley"
    )
    assert [hit["id"] for hit in json.loads(by_author.stdout)] == ["book.epub"]
    with read_only(Path(store)) as db:
        rows = db.execute(
            "SELECT d.pages, c.page, c.last_page FROM documents d JOIN chunks c ON c.doc_id = d.id "
            "WHERE d.id = 'book.epub'"
        ).fetchall()
    assert rows and all(row == (None, None, None) for row in rows)  # chapters are not pages

    again = json.loads(semsearch("index", str(library), "--store", store, "--json").stdout)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 10)
