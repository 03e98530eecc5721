"""Finding the files to ingest: folders walked in a stable order, links by the symlink policy."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ragtune.errors import IngestError

_log = logging.getLogger(__name__)


def norm_ext(ext: str) -> str:
    """``"MD"``, ``".md"`` and ``" .Md"`` all become ``".md"``."""
    ext = ext.strip().lower()
    return ext if ext.startswith(".") else "." + ext


@dataclass(frozen=True)
class SkippedFile:
    """A file or link found in a folder and left out, with the one line that says why."""

    path: Path  # as found in the folder: the link, not what it points to
    error: str
    target: Path | None = None  # where a link outside the folder points


def _log_skip(skipped: SkippedFile) -> None:
    _log.warning("skipped %s", skipped.error)


def iter_files(paths: list[str | Path], extensions: list[str], follow_outside: bool = False,
               on_skip: Callable[[SkippedFile], None] | None = None) -> Iterator[Path]:
    """Yield the files to ingest, each once, in a stable order.

    Files named directly are yielded whatever their extension (``load_file`` then says clearly
    why it cannot read them); folders are walked recursively in sorted order, skipping hidden
    files and folders (``.git``, ``.ragtune``) and keeping only ``extensions``.

    A symbolic link in a folder is followed only when its target lies inside that folder, or
    anywhere with ``follow_outside`` (``ingest.follow_symlinks_outside``). A link outside, a
    broken link and a link loop go to ``on_skip`` (default: a logged warning), one line each.
    """
    wanted = {norm_ext(e) for e in extensions}
    seen: set[Path] = set()
    skip = on_skip or _log_skip

    def once(p: Path) -> bool:
        key = p.resolve()
        if key in seen:
            return False
        seen.add(key)
        return True

    for raw in paths:
        root = Path(raw).expanduser()
        if root.is_file():
            if once(root):
                yield root
        elif root.is_dir():
            yield from (p for p in _walk(root, wanted, follow_outside, skip) if once(p))
        elif root.is_symlink():
            raise IngestError(f"{raw}: a symbolic link that leads to no file (broken or a loop); fix or "
                              "remove the link")
        else:
            raise IngestError(f"{raw}: no such file or folder; check the path")


def _walk(root: Path, wanted: set[str], follow_outside: bool,
          skip: Callable[[SkippedFile], None]) -> Iterator[Path]:
    """The wanted files under ``root``, top-down in sorted order, without recursion.

    Every folder is walked once, by its real path, so links to folders cannot loop.
    """
    top = root.resolve()
    visited = {top}
    stack: list[tuple[Path, tuple[Path, ...]]] = [(root, (top,))]  # (folder, real folders down to it)
    while stack:
        folder, chain = stack.pop()
        subfolders = []
        for p in _list(folder, skip):
            real = _follow(p, top, chain, wanted, follow_outside, skip) if p.is_symlink() else chain[-1] / p.name
            if real is None:
                continue
            if real.is_dir():
                if real not in visited:
                    visited.add(real)
                    subfolders.append((p, (*chain, real)))
            elif p.suffix.lower() in wanted and real.is_file():
                yield p
        stack.extend(reversed(subfolders))


def _list(folder: Path, skip: Callable[[SkippedFile], None]) -> list[Path]:
    """The entries of ``folder`` that are not hidden, sorted by name."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if not e.name.startswith("."))
    except OSError as e:
        skip(SkippedFile(folder, f"{folder}: cannot list the folder ({e.strerror}); check its permissions"))
        return []
    return [folder / name for name in names]


def _follow(link: Path, top: Path, chain: tuple[Path, ...], wanted: set[str], follow_outside: bool,
            skip: Callable[[SkippedFile], None]) -> Path | None:
    """Where ``link`` leads when the symlink policy allows following it; else None (reported)."""
    try:
        real = Path(os.path.realpath(link, strict=True))
    except OSError as e:
        if e.errno == errno.ELOOP:
            skip(SkippedFile(link, f"{link}: a symbolic link loop (the links point at each other); remove "
                                   "or fix the link"))
        elif link.suffix.lower() in wanted:
            skip(SkippedFile(link, f"{link}: a broken symbolic link (its target does not exist); remove or "
                                   "fix the link"))
        return None
    if real in chain:
        skip(SkippedFile(link, f"{link}: a symbolic link loop (it points to {real}, a folder that holds "
                               "it); remove the link"))
        return None
    if not (real.is_relative_to(top) or follow_outside):
        if real.is_dir() or link.suffix.lower() in wanted:
            skip(SkippedFile(link, f"{link}: a symbolic link to {real}, outside the folder {top}; "
                                   "set ingest.follow_symlinks_outside = true to follow it", real))
        return None
    return real


def file_hash(path: Path) -> str:
    """SHA-256 hex of the file's bytes, read in 1 MiB blocks (memory stays flat on big files)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

