"""Small document files built in code for the tests (nothing binary is committed): PDFs drawn with
reportlab (encrypted with pypdf, a "scanned" page as a Pillow image), Word, PowerPoint and
OpenDocument files written with python-docx, python-pptx and odfpy, an EPUB and zip bombs written
with zipfile, and e-mail written with the standard library; and hostile files that once hung or
aborted a run (huge space counts, long runs of spaces, deep nesting, NUL in ids, bad dates)."""

from __future__ import annotations

import io
import mailbox
import os
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import reportlab

VERA = os.path.join(os.path.dirname(reportlab.__file__), "fonts", "Vera.ttf")  # has U+FB01
AUTHOR = "Ada Lovelace"
CREATED = datetime(2024, 3, 15, 8, 30, tzinfo=UTC)
HEADER = "ACME Research - Internal Report"
# lines of each page of `pdf`, each page longer than a test window (48 wordpieces); a line-end
# hyphen and a ligature on page 1; a phrase found only at the end of page 3
PAGES = [
    [
        "Fixture Report on Conversion",
        "The conver-",
        "sion of office files is the ﬁrst step.",
        "Scanners, printers and copiers fill the basement of the old library.",
        "Every report is filed twice, once on paper and once on tape.",
        "The archive keeps its ledgers in oak cabinets with brass handles.",
    ],
    [
        "Second page about rivers and lakes.",
        "Bridges cross the wide river where the ferry used to run.",
        "Anglers wait on the shore for trout in the early morning mist.",
        "Reeds grow thick along the banks of the shallow northern lake.",
        "Otters and herons share the quiet water below the weir.",
    ],
    [
        "Third page on airships.",
        "Engineers stretched fabric over a frame of light aluminium girders.",
        "Gas cells filled with hydrogen lifted the long silver hull.",
        "Crowds gathered on the field to watch the ship leave its mast.",
        "Storms over the ocean made every crossing a risky venture.",
        "Last line: the zeppelin hangar at dawn.",
    ],
]
PAGE_THREE = "zeppelin hangar at dawn"


def _canvas(path: Path, title: str | None):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "Vera" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("Vera", VERA))
    drawing = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    if title is not None:
        drawing.setTitle(title)
    drawing.setAuthor(AUTHOR)
    drawing.setDateFormatter(lambda *_: CREATED.strftime("D:%Y%m%d%H%M%S+00'00'"))
    return drawing, A4


def pdf(
    path: Path,
    pages: list[list[str]] = PAGES,
    title: str | None = "Fixture Report",
    image_pages: tuple[int, ...] = (),
    large_title: bool = True,
) -> Path:
    """A PDF of `pages` (lines of text), each page under a running header and over a "Page N of
    M" footer; the pages numbered in `image_pages` (1-based) are an image of text, no text layer.
    With `large_title`, the first line of page 1 is in large type."""
    drawing, (width, height) = _canvas(path, title)
    for number, lines in enumerate(pages, start=1):
        if number in image_pages:
            _image_page(drawing, lines, width, height)
        else:
            drawing.setFont("Vera", 9)
            drawing.drawString(72, height - 40, HEADER)
            drawing.drawCentredString(width / 2, 30, f"Page {number} of {len(pages)}")
            y = height - 100
            for index, line in enumerate(lines):
                large = large_title and (number, index) == (1, 0)
                drawing.setFont("Vera", 18 if large else 12)
                drawing.drawString(72, y, line)
                y -= 24
        drawing.showPage()
    drawing.save()
    return path


def _image_page(drawing, lines: list[str], width: float, height: float) -> None:
    from PIL import Image, ImageDraw, ImageFont
    from reportlab.lib.utils import ImageReader

    image = Image.new("L", (620, 877), 255)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((60, 100 + 40 * row), line, fill=0, font=ImageFont.truetype(VERA, 20))
    drawing.drawImage(ImageReader(image), 0, 0, width=width, height=height)


def scanned_pdf(path: Path) -> Path:
    """A PDF whose every page is an image: what a scanner without OCR makes."""
    return pdf(path, PAGES[:2], "Scanned letter", image_pages=(1, 2))


def encrypted_pdf(path: Path, user_password: str = "secret") -> Path:
    """A PDF encrypted with AES-256 (an empty user password: opens without one)."""
    from pypdf import PdfWriter

    source = pdf(path.with_name(path.name + ".plain"), PAGES[:1])
    writer = PdfWriter(clone_from=str(source))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    with open(path, "wb") as handle:
        writer.write(handle)
    source.unlink()
    return path


def docx(path: Path, title: str | None = "Fixture Word Document") -> Path:
    """A Word document: core properties, a Heading 1, paragraphs, a table, and XML python-docx
    cannot write: a content control, a tracked insertion and a tracked deletion."""
    import docx as python_docx
    from docx.oxml import parse_xml

    document = python_docx.Document()
    properties = document.core_properties
    properties.title = title or ""
    properties.author = AUTHOR
    properties.created = CREATED
    properties.modified = CREATED
    document.add_heading("Heading of the Word file", level=1)
    document.add_paragraph("Glaciers carve valleys over many centuries.")
    table = document.add_table(rows=2, cols=2)
    for row, values in enumerate([["Name", "Value"], ["alpha", "1"]]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    last = document.add_paragraph("Text before the tracked changes.")
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    inserted = "<w:r><w:t> Inserted words.</w:t></w:r>"
    deleted = "<w:r><w:delText> Deleted words.</w:delText></w:r>"
    last._p.append(parse_xml(f'<w:ins {w} w:id="1" w:author="E">{inserted}</w:ins>'))
    last._p.append(parse_xml(f'<w:del {w} w:id="2" w:author="E">{deleted}</w:del>'))
    controlled = "<w:p><w:r><w:t>Inside a content control.</w:t></w:r></w:p>"
    control = parse_xml(f"<w:sdt {w}><w:sdtContent>{controlled}</w:sdtContent></w:sdt>")
    document.element.body.insert(len(document.element.body) - 1, control)  # before w:sectPr
    document.save(str(path))
    return path


def pptx(path: Path) -> Path:
    """A deck of three slides: a title slide, bullets, a table with speaker notes."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = "Fixture Deck"
    deck.core_properties.author = AUTHOR
    first = deck.slides.add_slide(deck.slide_layouts[0])
    first.shapes.title.text = "Deck title slide"
    first.placeholders[1].text = "A subtitle about volcanoes"
    second = deck.slides.add_slide(deck.slide_layouts[1])
    second.shapes.title.text = "Bullets"
    second.placeholders[1].text_frame.text = "Lava flows downhill slowly"
    third = deck.slides.add_slide(deck.slide_layouts[5])
    third.shapes.title.text = "Table slide"
    table = third.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for row, values in enumerate([["Name", "Value"], ["beta", "2"]]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    third.notes_slide.notes_text_frame.text = "Speaker notes mention the caldera."
    deck.save(str(path))
    return path


def odt(path: Path) -> Path:
    """An OpenDocument text: meta title and author, a heading, a paragraph with a tab, a line
    break and three spaces (text:s), and a table."""
    from odf import dc, meta, table, text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Fixture OpenDocument"))
    document.meta.addElement(meta.InitialCreator(text=AUTHOR))
    document.meta.addElement(meta.CreationDate(text="2024-03-15T08:30:00"))
    document.text.addElement(text.H(outlinelevel=1, text="Heading of the ODT"))
    paragraph = text.P(text="Deserts bloom after rain.")
    paragraph.addElement(text.Tab())
    paragraph.addText("after a tab")
    paragraph.addElement(text.LineBreak())
    paragraph.addText("and")
    paragraph.addElement(text.S(c=3))
    paragraph.addText("spaces")
    document.text.addElement(paragraph)
    grid = table.Table(name="T1")
    row = table.TableRow()
    for value in ("gamma", "3"):
        cell = table.TableCell()
        cell.addElement(text.P(text=value))
        row.addElement(cell)
    grid.addElement(row)
    document.text.addElement(grid)
    document.save(str(path))
    return path


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 3, 15, 8, 30, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


CHAPTERS = [
    ("Chapter One", "It was a bright cold day in April."),
    ("Chapter Two", "Call me Ishmael, said the sailor."),
    ("Chapter Three", "In a hole in the ground there lived a hobbit."),
]


def epub(path: Path, chapters: list[tuple[str, str]] = CHAPTERS) -> Path:
    """An EPUB 3 book: two authors, a nav document out of the reading order, three chapters
    (title, HTML of its paragraph) in a spine order other than the manifest's, the second with a
    script and a style."""
    opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="uid">urn:uuid:1</dc:identifier><dc:title>Fixture Book</dc:title>
    <dc:creator>{AUTHOR}</dc:creator><dc:creator>Mary Shelley</dc:creator>
    <dc:date>2024-03-15</dc:date>
  </metadata>
  <manifest>
    <item id="c3" href="text/ch3.xhtml" media-type="application/xhtml+xml"/>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="c1" href="text/ch1.xhtml" media-type="application/xhtml+xml"/>
    <item id="c2" href="text/ch2.xhtml" media-type="application/xhtml+xml"/>
  </manifest>
  <spine><itemref idref="nav"/><itemref idref="c1"/><itemref idref="c2"/><itemref idref="c3"/>
  </spine>
</package>"""
    container = (
        '<?xml version="1.0"?><container version="1.0" '
        'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
        '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>"
    )
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("mimetype", "application/epub+zip")
        package.writestr(_member("META-INF/container.xml"), container)
        package.writestr(_member("OEBPS/content.opf"), opf)
        package.writestr(_member("OEBPS/nav.xhtml"), _xhtml("Contents", "<p>Table of contents</p>"))
        for number, (title, body) in enumerate(chapters, start=1):
            extra = "<script>var hidden = 1;</script><style>p {}</style>" if number == 2 else ""
            page = _xhtml(title, f"<h1>{title}</h1><p>{body}</p>{extra}")
            package.writestr(_member(f"OEBPS/text/ch{number}.xhtml"), page)
    return path


def _xhtml(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
        f"<head><title>{title}</title></head><body>{body}</body></html>"
    )


def zip_bomb(path: Path, inflated: int) -> Path:
    """A DOCX-shaped zip whose document part inflates to `inflated` bytes of spaces (about 1000
    times its size in the file); its sizes are declared honestly."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package,
        package.open(_member("word/document.xml"), "w") as member,
    ):
        for _ in range(inflated // (1 << 16)):
            member.write(b" " * (1 << 16))
    return path


def lying_zip(path: Path, real: int = 5_000_000, declared: int = 1000) -> Path:
    """A DOCX-shaped zip whose one member says it inflates to `declared` bytes and inflates to
    `real` (both size fields patched)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(_member("word/document.xml"), b"A" * real)
    data = bytearray(buffer.getvalue())
    directory = data.rfind(b"PK\x01\x02")
    for at in (22, directory + 24):  # the local header's and the central directory's size
        assert data[at : at + 4] == real.to_bytes(4, "little")
        data[at : at + 4] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def truncated(source: Path, path: Path) -> Path:
    """The first half of `source`."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def message(number: int, attachment: tuple[str, bytes] | None = None) -> EmailMessage:
    """A message with a non-ASCII sender and subject, two recipients, a fixed Message-ID, plain
    and HTML bodies, and optionally an attachment (file name, bytes)."""
    mail = EmailMessage()
    mail["From"] = "Zoë Example <zoe@example.org>"
    mail["To"] = "Bob <bob@example.com>, carol@example.net"
    mail["Date"] = format_datetime(CREATED.replace(day=15 + number))
    mail["Subject"] = f"Quarterly report {number} — Grüße"
    mail["Message-ID"] = f"<report-{number}@example.org>"
    mail.set_content(f"Hello Bob,\n\nthe body of message {number} is about tides.\n")
    mail.add_alternative(f"<p>Hello <b>Bob</b>, message {number}</p>", subtype="html")
    if attachment is not None:
        name, data = attachment
        kind = "pdf" if name.endswith(".pdf") else "octet-stream"
        mail.add_attachment(data, maintype="application", subtype=kind, filename=name)
    return mail


def eml(path: Path, attachment: tuple[str, bytes] | None = None) -> Path:
    path.write_bytes(message(1, attachment).as_bytes())
    return path


def mbox(path: Path, count: int = 3, first: int = 10) -> Path:
    """An mbox of `count` messages numbered from `first`, written by the standard library; each
    body has a line starting "From ", which the mailbox escapes as ">From "."""
    box = mailbox.mbox(str(path))
    for number in range(first, first + count):
        mail = message(number)
        body = mail.get_body(("plain",))
        body.set_content(body.get_content() + "From the desk of Zoë.\n")
        box.add(mailbox.mboxMessage(mail))
    box.flush()
    box.close()
    return path


def every_format(
    folder: Path, pages: list[list[str]] = PAGES, image_pages: tuple[int, ...] = ()
) -> Path:
    """`folder` holding a file of each format, as a new user's papers/ might: a PDF of `pages`,
    a Word, a PowerPoint, an OpenDocument file, an EPUB, an e-mail with the PDF attached
    (attached.pdf) and an mbox of three messages; and in bad/ three files that cannot be read: an
    encrypted PDF, a scanned one and a truncated DOCX."""
    folder.mkdir(parents=True, exist_ok=True)
    report = pdf(folder / "report.pdf", pages, image_pages=image_pages)
    docx(folder / "word.docx")
    pptx(folder / "deck.pptx")
    odt(folder / "text.odt")
    epub(folder / "book.epub")
    eml(folder / "note.eml", ("attached.pdf", report.read_bytes()))
    mbox(folder / "box.mbox")
    bad = folder / "bad"
    bad.mkdir()
    encrypted_pdf(bad / "locked.pdf")
    scanned_pdf(bad / "scan.pdf")
    whole = docx(bad / "whole.docx")
    truncated(whole, bad / "half.docx")
    whole.unlink()
    return folder


# -- hostile files --------------------------------------------------------------------------

TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"


def odt_with_spaces(path: Path, count: str) -> Path:
    """A minimal OpenDocument text whose one paragraph is "before", a text:s of `count` spaces
    (the attribute as given), "after"."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        f'xmlns:text="{TEXT_NS}"><office:body><office:text>'
        f'<text:p>before<text:s text:c="{count}"/>after</text:p>'
        "</office:text></office:body></office:document-content>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        package.writestr(_member("content.xml"), content)
    return path


def docx_with_spaces(path: Path, spaces: int) -> Path:
    """A Word document whose one paragraph is "before", `spaces` spaces, "after" (a few KB on
    disk for 900 KB of spaces)."""
    import docx as python_docx

    document = python_docx.Document()
    document.add_paragraph("before" + " " * spaces + "after")
    document.save(str(path))
    return path


def nested_divs(depth: int, text: str) -> str:
    """`text` inside `depth` nested <div> elements."""
    return "<div>" * depth + text + "</div>" * depth


def html_mail(path: Path, html: str, message_id: str = "<html@example.org>") -> Path:
    """An .eml whose only body is `html`."""
    mail = EmailMessage()
    mail["Subject"], mail["Message-ID"] = "An HTML letter", message_id
    mail.set_content(html, subtype="html")
    path.write_bytes(mail.as_bytes())
    return path


def nested_multiparts(depth: int, text: str) -> bytes:
    """A message whose plain-text `text` lies `depth` multipart/mixed parts deep."""
    part = f"Content-Type: text/plain\r\n\r\n{text}\r\n"
    for level in range(depth):
        boundary = f"b{level}"
        part = (
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\n{part}\r\n--{boundary}--\r\n"
        )
    return (
        f"Subject: deep\r\nMessage-ID: <deep@example.org>\r\nMIME-Version: 1.0\r\n{part}".encode()
    )


def mail_with_nul(path: Path) -> Path:
    """An .eml with a NUL in its Message-ID and in the name of its text attachment."""
    mail = EmailMessage()
    mail["Subject"], mail["Message-ID"] = "Null and void", "<nul\x00id@example.org>"
    mail.set_content("The letter about tides.\n")
    mail.add_attachment(
        b"The attached note about tides.\n", maintype="text", subtype="plain", filename="a\x00b.txt"
    )
    path.write_bytes(mail.as_bytes())
    return path


def pdf_created(path: Path, creation_date: str) -> Path:
    """The fixture PDF with its CreationDate set to `creation_date` as given."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=pdf(path))
    writer.add_metadata({"/CreationDate": creation_date})
    writer.write(path)
    return path


def latin1_named(folder: Path, text: str) -> Path:
    """A text file in `folder` named "café.txt" in Latin-1: a name that is not valid UTF-8."""
    name = os.fsencode(folder) + b"/caf\xe9.txt"
    with open(name, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Path(os.fsdecode(name))
