"""PDF files, read with pypdfium2 (PDFium's text layer), one page at a time.

PDFium is not thread-safe, so everything here runs in the thread that calls `read_pdf` (the
pipeline's reader thread, or a Spark worker process), and each page and its text are closed in
that thread as soon as their text is taken: only one page's PDFium objects are alive at a time.
PDFium joins a word hyphenated at a line end and leaves a marker in place of the hyphen (U+FFFE,
or U+0002), which the tokenizer would make [UNK]: `clean` removes it, with other control
characters, and decodes the Latin ligatures. Running headers and footers are removed
(`repeated_lines`). No OCR: a page without a text layer has no text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from indexer.sources.document_info import authors, dated, usable_title
from indexer.sources.extracted import Extracted, Unreadable, pages_note
from indexer.sources.repeated_lines import strip_repeated_lines

TITLE_PAGES = 2  # pages searched for a title in large type when the metadata has none
TITLE_SIZE = 1.25  # times the page's median character size: large type
_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
    }
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")  # \x02, \ufffe: hyphens
_DATE = re.compile(
    r"^D?:?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:([Zz+\-])\s*(\d{2})?'?(\d{2})?'?)?"
)
NO_TEXT = "no text layer: scanned? OCR is not done"


def read_pdf(source: Path | bytes) -> Extracted:
    """The pages of a PDF, its title (Title, else the largest type on its first pages), authors
    and dates. Unreadable when it is encrypted, damaged or has no text at all."""
    import pypdfium2 as pdfium

    pdf = _open(source)
    try:
        info = pdf.get_metadata_dict(skip_empty=True)
        title = usable_title(info.get("Title"))
        pages: list[str] = []
        damaged: list[int] = []
        for index in range(len(pdf)):
            try:
                page = pdf[index]
            except pdfium.PdfiumError:
                damaged.append(index + 1)
                pages.append("")
                continue
            try:
                textpage = page.get_textpage()
                try:
                    pages.append(clean(textpage.get_text_range()))
                    if title is None and index < TITLE_PAGES:
                        title = _title_by_size(textpage)
                finally:
                    textpage.close()
            except pdfium.PdfiumError:
                damaged.append(index + 1)
                pages.append("")
            finally:
                page.close()
    finally:
        pdf.close()
    blank = [n for n, text in enumerate(pages, start=1) if not text.strip() and n not in damaged]
    if len(blank) + len(damaged) == len(pages):
        raise (
            Unreadable("no text layer", NO_TEXT)
            if blank
            else Unreadable("corrupt", "corrupt PDF: no page can be read")
        )
    strip_repeated_lines(pages)
    left_out = []
    if blank:
        left_out.append(("pages without text", pages_note(blank, len(pages), NO_TEXT)))
    if damaged:
        left_out.append(("damaged pages", pages_note(damaged, len(pages), "cannot be read")))
    metadata = {
        "authors": authors(info.get("Author")),
        "page_count": len(pages),
        **dated(created=pdf_date(info.get("CreationDate")), modified=pdf_date(info.get("ModDate"))),
    }
    return Extracted(pages, True, title, metadata, left_out)


def _open(source: Path | bytes):  # -> pypdfium2.PdfDocument
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        return pdfium.PdfDocument(source)
    except pdfium.PdfiumError as error:
        if error.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise Unreadable("encrypted", "encrypted, no password") from None
        if error.err_code == pdfium_c.FPDF_ERR_SECURITY:
            raise Unreadable("encrypted", "encrypted by an unsupported security handler") from None
        raise Unreadable("corrupt", f"corrupt or truncated PDF ({error})") from None


def clean(text: str) -> str:
    """PDFium's text of a page as plain text: line ends as LF, its hyphen markers and other
    control characters removed, ligatures (U+FB00-FB06) decoded."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).translate(_LIGATURES)


def pdf_date(raw: str | None) -> str | None:
    """A PDF date ("D:20240315083000+01'00'", "D:2024") as ISO text; None when it is not one
    (a month 13, a zone 24 hours or more away)."""
    match = _DATE.match((raw or "").strip())
    if not raw or not match:
        return None
    year, month, day, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    try:
        zone = None
        if sign in ("Z", "z"):
            zone = UTC
        elif sign:
            offset = timedelta(hours=int(zone_hours or 0), minutes=int(zone_minutes or 0))
            zone = timezone(offset if sign == "+" else -offset)  # ValueError from 24 hours on
        value = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=zone,
        )
    except ValueError:
        return None
    return value.isoformat(timespec="seconds")


def _title_by_size(textpage) -> str | None:  # textpage: pypdfium2.PdfTextPage
    """The line in the largest type on the page, when that type is clearly larger than the
    page's text (TITLE_SIZE times its median character size)."""
    import pypdfium2.raw as pdfium_c

    lines: list[tuple[float, list[str]]] = []
    sizes: list[float] = []
    line: list[str] = []
    line_size = 0.0
    for index in range(textpage.count_chars()):
        char = chr(pdfium_c.FPDFText_GetUnicode(textpage, index))
        if char in "\r\n":
            if line:
                lines.append((line_size, line))
            line, line_size = [], 0.0
            continue
        if not char.isspace():
            size = pdfium_c.FPDFText_GetFontSize(textpage, index)
            sizes.append(size)
            line_size = max(line_size, size)
        line.append(char)
    if line:
        lines.append((line_size, line))
    if not sizes:
        return None
    median = sorted(sizes)[len(sizes) // 2]
    size, biggest = max(lines, key=lambda item: item[0])
    return usable_title(clean("".join(biggest))) if size >= TITLE_SIZE * median else None
