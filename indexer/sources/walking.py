"""Walking a folder for the files to index, listing everything met that is not indexed.

The rule for symlinks: they are followed, to files and to folders alike, and each folder is
walked once, under the first path that reaches it (entries are taken in sorted order); reaching
it again, through a loop or a second link, is listed and not entered. Broken links, special files
(FIFOs, sockets, devices) and unreadable entries are listed too. Hidden files and folders (names
starting with a dot) and the folders of the run itself (the store's, a Spark run's) are never
entered.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from indexer.sources.options import SourceOptions
from indexer.summary import Skipped

_SPECIAL = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def walk(
    root: Path, options: SourceOptions, never: Sequence[Path] = ()
) -> Iterator[tuple[str, Path] | Skipped]:
    """(path relative to `root`, path) of each file the globs let through, sorted, each folder's
    files before its subfolders; a Skipped for anything left out but hidden names and the folders
    `never` to enter."""
    excluded = {_identity(folder) for folder in never} - {None}
    walked = {_identity(root)}
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            yield Skipped(str(folder), "unreadable", f"unreadable folder ({_reason(error)})")
            continue
        folders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative, path = prefix + entry.name, Path(entry.path)
            try:
                info = os.stat(path)  # follows symlinks
            except OSError as error:
                yield _unusable(path, entry, error)
                continue
            if stat.S_ISDIR(info.st_mode):
                identity = (info.st_dev, info.st_ino)
                if identity in excluded:
                    continue
                if identity in walked:
                    reason = "the same folder as one already walked (reached again by a symlink)"
                    yield Skipped(str(path), "already walked", reason)
                    continue
                walked.add(identity)
                folders.append((path, relative + "/"))
            elif stat.S_ISREG(info.st_mode):
                if _wanted(relative, options):
                    yield relative, path
            else:
                kind = _SPECIAL.get(stat.S_IFMT(info.st_mode), "not a regular file")
                yield Skipped(str(path), "special file", f"{kind}, not a file to read")
        stack.extend(reversed(folders))


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _wanted(relative: str, options: SourceOptions) -> bool:
    if options.include and not any(fnmatch.fnmatch(relative, g) for g in options.include):
        return False
    return not any(fnmatch.fnmatch(relative, g) for g in options.exclude)


def _unusable(path: Path, entry: os.DirEntry, error: OSError) -> Skipped:
    if error.errno == errno.ELOOP:
        return Skipped(str(path), "symlink loop", "a symlink that leads back to itself")
    if entry.is_symlink() and error.errno == errno.ENOENT:
        return Skipped(
            str(path), "broken symlink", f"a symlink to {os.readlink(path)}, which is gone"
        )
    return Skipped(str(path), "unreadable", f"unreadable ({_reason(error)})")


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
