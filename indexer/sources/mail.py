"""E-mail: an .eml file is one message, an .mbox mailbox one document per message. Read with the
standard library's `email` package (policy.default: encoded words and dates decoded).

A message's document is its subject, a blank line, then its body (the plain-text part, else the
HTML one as text); From, To, Cc, Date (ISO text) and Subject are its metadata, and its id is its
Message-ID (else the file, or the mailbox and the message's number). Each attachment of a
supported format (PDF, Office, OpenDocument, EPUB, text) is a document of its own, with the id
`MESSAGE-ID/FILE-NAME`; any other attachment is listed. An mbox is read as a stream, one message
in memory at a time, never opened for writing (the standard `mailbox` module opens it `rb+`):
a message starts at a "From " line at the start or after a blank line, and ">From " in a body is
unescaped (mboxrd). A message over MAX_DOCUMENT_BYTES is listed and the rest is read; so is a
message or attachment that cannot be read for any other reason (nested too deeply for the parser,
a reader's failure: `failures`). An id holding NUL (a Message-ID, an attachment's name) is
cleaned like the text.
"""

from __future__ import annotations

import email
import mimetypes
import re
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage, Message
from pathlib import Path, PurePosixPath
from typing import Any

from indexer.settings import MAX_DOCUMENT_BYTES
from indexer.sources import text_files
from indexer.sources.decoding import clean, decode, mostly_undecodable
from indexer.sources.document_files import DOCUMENT_TYPES, documents_of, read_document
from indexer.sources.document_info import iso
from indexer.sources.extracted import Extracted
from indexer.sources.failures import guarded
from indexer.sources.html_text import html_to_text
from indexer.sources.options import SourceDocument, with_title
from indexer.summary import Skipped

MAIL_TYPES = (".eml", ".mbox")
ATTACHMENT_TYPES = (*DOCUMENT_TYPES, *text_files.TEXT_TYPES)
_FROM_LINE = re.compile(rb"^From \S")
_ESCAPED_FROM = re.compile(rb"^>(>*From )")
_HEADER_ERRORS = (ValueError, TypeError, IndexError, AttributeError, LookupError)
Found = Iterator[SourceDocument | Skipped]


def read_eml(path: Path, name: str, where: str, source: str) -> Found:
    """The message of an .eml file, then its attachments."""
    with open(path, "rb") as handle:
        message = email.message_from_binary_file(handle, policy=policy.default)
    metadata = text_files.file_metadata(path)
    yield from _documents(message, name, where, source, metadata, path.stem)


def read_mbox(path: Path, name: str, where: str, source: str) -> Found:
    """Each message of an mbox with its attachments, in order; an oversized one listed, and a
    file that does not start with a "From " line listed as not an mbox."""
    if not starts_as_mbox(path):
        yield Skipped(where, "not an mbox", "not an mbox: it does not start with a 'From ' line")
        return
    for number, (line, raw) in enumerate(messages(path), start=1):
        place = f"{where}:{line}"
        if raw is None:
            reason = f"a message over the {MAX_DOCUMENT_BYTES:,}-byte limit for one document"
            yield Skipped(place, "too large", reason)
            continue
        yield from guarded(place, _message(raw, f"{name}#{number}", place, source))


def _message(raw: bytes, default_id: str, where: str, source: str) -> Found:
    """The documents of one message of an mbox."""
    message = email.message_from_bytes(raw, policy=policy.default)
    yield from _documents(message, default_id, where, source, {"type": "mbox"}, None)


def starts_as_mbox(path: Path) -> bool:
    """True when the first line that is not blank is a "From " line (or there is none)."""
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                return bool(_FROM_LINE.match(line))
    return True


def messages(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line of its "From " line, bytes) of each message of an mbox; None for the bytes of one
    over MAX_DOCUMENT_BYTES (the rest of it is read past, not kept)."""
    lines: list[bytes] = []
    size, start, blank_before = 0, 0, True
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if blank_before and _FROM_LINE.match(line):
                if start:
                    yield start, _joined(lines, size)
                lines, size, start = [], 0, number
                blank_before = False
                continue
            blank_before = line in (b"\n", b"\r\n")
            if start:
                size += len(line)
                if size <= MAX_DOCUMENT_BYTES:
                    lines.append(_ESCAPED_FROM.sub(rb"\1", line))
                else:
                    lines = []
    if start:
        yield start, _joined(lines, size)


def _joined(lines: list[bytes], size: int) -> bytes | None:
    if size > MAX_DOCUMENT_BYTES:
        return None
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines.pop()  # the blank line before the next "From "
    return b"".join(lines)


def _documents(
    message: EmailMessage,
    default_id: str,
    where: str,
    source: str,
    metadata: dict[str, Any],
    name: str | None,
) -> Found:
    """A message's document, then one for each attachment of a supported format."""
    fields = _fields(message)
    doc_id = fields.get("message_id") or default_id
    attachments = list(message.iter_attachments())
    names = _names(attachments)
    about = {**metadata, **fields}
    if names:
        about["attachments"] = names
    subject = fields.get("subject")
    body = Extracted([with_title(subject, _body(message))], False, subject)
    yield from documents_of(body, doc_id, where, source, about, name)
    sender = {key: fields[key] for key in ("from", "date") if key in fields}
    for part, file_name in zip(attachments, names, strict=True):
        place = f"{where}/{clean(file_name)[0]}"  # its id is cleaned, and counted, as a document's
        found = {**sender, "attached_to": doc_id}
        attachment = _attachment(part, file_name, f"{doc_id}/{file_name}", place, source, found)
        yield from guarded(place, attachment)


def _fields(message: Message) -> dict[str, Any]:
    """From, To, Cc, Date, Subject and Message-ID, those the message has."""
    found: dict[str, Any] = {}
    for key, header in (("from", "From"), ("subject", "Subject"), ("message_id", "Message-ID")):
        value = _header(message, header)
        if value:
            found[key] = value.strip("<> ") if key == "message_id" else value
    for key, header in (("to", "To"), ("cc", "Cc")):
        value = _addresses(message, header)
        if value:
            found[key] = value
    date = _date(message)
    if date:
        found["date"] = date
    return found


def _header(message: Message, name: str) -> str | None:
    """A header's decoded text; its raw text when it cannot be decoded."""
    try:
        value = message[name]
        return None if value is None else " ".join(str(value).split())
    except _HEADER_ERRORS:
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
        return None if raw is None else " ".join(raw.split())


def _addresses(message: Message, name: str) -> list[str]:
    try:
        header = message[name]
        return [] if header is None else [str(address) for address in header.addresses]
    except _HEADER_ERRORS:
        text = _header(message, name)
        return [text] if text else []


def _date(message: Message) -> str | None:
    try:
        header = message["Date"]
        when = None if header is None else header.datetime
    except _HEADER_ERRORS:
        return None
    return None if when is None else iso(when)


def _body(message: EmailMessage) -> str:
    """The plain-text body, else the HTML one as text; '' when there is none."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _part_text(part)
    return html_to_text(text)[1] if part.get_content_subtype() == "html" else text


def _part_text(part: EmailMessage) -> str:
    """A text part decoded by its charset; as UTF-8 when the charset is unknown."""
    try:
        return part.get_content()
    except (LookupError, UnicodeError):
        return (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")


def _names(attachments: list[EmailMessage]) -> list[str]:
    """A file name for each attachment: its own (folders left out), else one made from its
    number and type; a name repeated in the message gets its number."""
    names: list[str] = []
    for number, part in enumerate(attachments, start=1):
        given = (part.get_filename() or "").replace("\\", "/")
        name = PurePosixPath(given).name
        if not name:
            guessed = mimetypes.guess_extension(part.get_content_type()) or ""
            name = f"attachment-{number}{guessed}"
        names.append(f"{number}-{name}" if name in names else name)
    return names


def _attachment(
    part: EmailMessage, name: str, doc_id: str, where: str, source: str, metadata: dict[str, Any]
) -> Found:
    """The document of one attachment, or why it has none."""
    suffix = PurePosixPath(name).suffix.lower()
    kind = part.get_content_type()
    if part.is_multipart() or suffix not in ATTACHMENT_TYPES:
        reason = f"attachment of type {kind} ({suffix or 'no extension'}): not a supported format"
        yield Skipped(where, "unsupported attachment", reason)
        return
    data = part.get_payload(decode=True) or b""
    metadata = {"type": suffix.lstrip("."), "bytes": len(data), **metadata}
    stem = PurePosixPath(name).stem
    if suffix in DOCUMENT_TYPES:
        yield from read_document(data, suffix, doc_id, where, source, metadata, stem)
        return
    text, replaced = decode(data)
    if mostly_undecodable(replaced, len(data)):
        yield Skipped(where, "binary file", f"a {suffix} attachment that is not UTF-8 text")
        return
    title, body = text_files.extract(text, suffix, stem)
    extracted = Extracted([body], False, title, replaced=replaced)
    yield from documents_of(extracted, doc_id, where, source, metadata, stem)
