"""Zip packages (DOCX, PPTX, ODT, EPUB) read within limits, and their XML parsed safely.

A package is untrusted: before any part is read, its member count, the sizes its directory
declares and each big member's compression ratio are checked against the limits in
`indexer.settings`; then the parts a reader asks for are inflated in small reads with a real byte
budget, so a member that lies about its size costs no more than the budget (`ZipFile.read` would
inflate up to 1 GiB before noticing). XML is parsed without entities, DTDs or network access.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path
from types import TracebackType

from lxml import etree

from indexer.settings import MAX_UNZIPPED_BYTES, MAX_ZIP_MEMBERS, MAX_ZIP_RATIO
from indexer.sources.extracted import Unreadable

READ_SIZE = 1 << 16
RATIO_FROM = 1 << 20  # members smaller than this are not judged by their ratio
_BROKEN = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError)
SAFE_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)


class Package:
    """A checked zip package of kind `kind` (its name in messages: "DOCX", ...); a context
    manager. Unreadable("corrupt" | "zip bomb" | "encrypted") for one that cannot be used."""

    def __init__(self, source: Path | bytes, kind: str) -> None:
        self.kind = kind
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
        except _BROKEN as error:
            raise self.corrupt(error) from None
        self.left = MAX_UNZIPPED_BYTES
        try:
            self._check(self.zip.infolist())
        except Unreadable:
            self.zip.close()
            raise

    def _check(self, members: list[zipfile.ZipInfo]) -> None:
        if len(members) > MAX_ZIP_MEMBERS:
            raise Unreadable(
                "zip bomb", f"{len(members):,} files inside (limit {MAX_ZIP_MEMBERS:,})"
            )
        declared = sum(member.file_size for member in members)
        if declared > MAX_UNZIPPED_BYTES:
            raise Unreadable("zip bomb", self._too_big(f"declares {declared:,} bytes inflated"))
        for member in members:
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > RATIO_FROM and ratio > MAX_ZIP_RATIO:
                raise Unreadable(
                    "zip bomb",
                    f"{member.filename} inflates {ratio:,.0f} times (limit {MAX_ZIP_RATIO}): a "
                    "zip bomb",
                )
            if member.flag_bits & 0x1:
                raise Unreadable("encrypted", "encrypted, no password")

    def _too_big(self, what: str) -> str:
        return f"{what}, over the {MAX_UNZIPPED_BYTES:,}-byte limit for a {self.kind}: a zip bomb"

    def corrupt(self, error: BaseException | str) -> Unreadable:
        """The error for a damaged or truncated package."""
        return Unreadable("corrupt", f"corrupt or truncated {self.kind} ({error})")

    def names(self) -> set[str]:
        return set(self.zip.namelist())

    def read(self, name: str) -> bytes:
        """A member's bytes, inflated within what is left of the budget; KeyError when absent."""
        parts = []
        try:
            with self.zip.open(name) as member:
                while block := member.read(READ_SIZE):
                    self.spend(len(block), "inflates further")
                    parts.append(block)
        except _BROKEN as error:
            raise self.corrupt(f"{name}: {error}") from None
        return b"".join(parts)

    def spend(self, size: int, what: str) -> None:
        """Count `size` more bytes against the package's budget (what its parts inflate to, and
        what their text expands to, such as an ODT's runs of spaces); Unreadable("zip bomb")
        naming `what` past it."""
        self.left -= size
        if self.left < 0:
            raise Unreadable("zip bomb", self._too_big(what))

    def xml(self, name: str) -> etree._Element:
        """A member parsed as XML; KeyError when absent, Unreadable when it is not XML."""
        try:
            return etree.fromstring(self.read(name), SAFE_XML)
        except etree.XMLSyntaxError as error:
            raise self.corrupt(f"{name}: {error}") from None

    def optional_xml(self, name: str) -> etree._Element | None:
        """A member parsed as XML, or None when the package has no such member."""
        try:
            return self.xml(name)
        except KeyError:
            return None

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> Package:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
