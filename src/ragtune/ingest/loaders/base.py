"""What every loader builds on: the ``Loader`` signature, reading and decoding bytes, making documents.

A loader is any callable ``(path, data, settings) -> list[Document]``: ``data`` is the whole
file, already read within ``ingest.max_file_mb``. It builds every document before returning,
so a file with one bad row is rejected whole, and it raises ``IngestError`` with one line
``PATH: what is wrong; what to do`` for a file it cannot read. Built-in and third-party loaders
use the helpers here alike.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragtune.config import IngestSettings
from ragtune.errors import IngestError
from ragtune.types import Document

Loader = Callable[[Path, bytes, IngestSettings], list[Document]]

_BINARY_SNIFF_BYTES = 8192
_UTF8_BOM = b"\xef\xbb\xbf"
# Known binary signatures, for a message that says what the file is.
_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF-", "a PDF"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a zip archive (or .docx/.xlsx/.epub)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
    (b"\x7fELF", "an executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document"),
]


def normalize_text(text: str) -> str:
    """Light clean-up: unify newlines, drop control characters, collapse runs of spaces on each
    line, and keep paragraph breaks (at most one blank line in a row)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[\x00-\x08\x0e-\x1f\x7f]", "", text)
    lines = (re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def read_bytes(path: Path, settings: IngestSettings) -> bytes:
    """The whole file, or one line on a missing, unreadable, empty or too large (``ingest.max_file_mb``) file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise IngestError(f"{path}: no such file; check the path") from None
    except OSError as e:
        raise IngestError(f"{path}: cannot read it ({e.strerror}); check its permissions") from None
    if path.is_dir():
        raise IngestError(f"{path}: is a folder, not a file; pass it to ingest as a folder")
    limit = settings.max_file_mb * 1024 * 1024
    if st.st_size > limit:
        raise IngestError(
            f"{path}: {st.st_size / 1024 / 1024:.1f} MB is larger than ingest.max_file_mb = "
            f"{settings.max_file_mb:g}; split the file or raise ingest.max_file_mb"
        )
    if st.st_size == 0:
        raise IngestError(f"{path}: the file is empty; add some text or remove it")
    try:
        return path.read_bytes()
    except OSError as e:
        raise IngestError(f"{path}: cannot read it ({e.strerror}); check its permissions") from None


def check_not_binary(path: Path, data: bytes) -> None:
    head = data[:_BINARY_SNIFF_BYTES]
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise IngestError(f"{path}: this is {what}, not text; remove it or convert it to text first")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(
            f"{path}: the file is UTF-16, not UTF-8; convert it: iconv -f UTF-16 -t UTF-8 '{path}' > out.txt"
        )
    if b"\x00" in head:
        raise IngestError(
            f"{path}: looks like a binary file (NUL bytes in the first 8 KiB), not text; remove it "
            "or convert it to text first"
        )


def decode(path: Path, data: bytes) -> str:
    """Decode UTF-8 (a BOM is stripped); a wrong encoding names the byte offset and the fix."""
    check_not_binary(path, data)
    skip = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        raise IngestError(
            f"{path}: not valid UTF-8 (byte 0x{data[skip + e.start]:02x} at offset {skip + e.start}); "
            f"convert it, e.g. iconv -f latin1 -t UTF-8 '{path}' > out{path.suffix}"
        ) from None
    if not text.strip():
        raise IngestError(f"{path}: the file has only whitespace; add some text or remove it")
    return text


def base_meta(path: Path, source_type: str) -> dict[str, Any]:
    """The metadata every document carries: its ``source_type`` and the file's modification time."""
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat(timespec="seconds")
    return {"source_type": source_type, "mtime": mtime}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_doc(doc_id: str, source: str, text: str, title: str, meta: dict[str, Any]) -> Document:
    return Document(doc_id=doc_id, source=source, text=text, title=title, content_hash=sha256_text(text),
                    metadata=meta)


def whole_file(path: Path, text: str, title: str, source_type: str) -> list[Document]:
    """One document for the whole file, its id the absolute resolved path."""
    if not text:
        raise IngestError(f"{path}: no text found in the file; check its content or remove it")
    src = str(path.resolve())
    return [make_doc(src, src, text, title, base_meta(path, source_type))]


def one_line(e: Exception) -> str:
    """A third-party exception as one short line, for inside an ``IngestError`` message."""
    return f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
