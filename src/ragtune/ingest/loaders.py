"""File loaders: paths in, ``Document``s out, or one clear ``IngestError`` line per bad file.

One function per format, all behind :func:`load_file`. A loader reads the whole file and
builds every document before returning, so a file with one bad row is rejected whole and
never half-ingested. Error messages follow ``PATH: what is wrong; what to do``.

Document ids are stable across runs, so re-ingesting replaces instead of duplicating:

- a whole file (.txt, .md, .html): its absolute resolved path;
- a PDF page: ``PATH#page=N`` (1-based);
- a JSON/JSONL/CSV row: ``PATH#ID`` from the id field/column (``ingest.json_id_field``), else
  ``PATH#row=N`` with N the line number (JSONL, CSV) or item number (JSON array).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from itertools import accumulate
from pathlib import Path
from typing import Any

from ragtune.config import IngestSettings
from ragtune.errors import IngestError
from ragtune.types import Document

_log = logging.getLogger(__name__)
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


# ---------------------------------------------------------------------------------------------
# Finding files


def _norm_ext(ext: str) -> str:
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
    wanted = {_norm_ext(e) for e in extensions}
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


# ---------------------------------------------------------------------------------------------
# Reading bytes and text


def normalize_text(text: str) -> str:
    """Light clean-up: unify newlines, drop control characters, collapse runs of spaces on each
    line, and keep paragraph breaks (at most one blank line in a row)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[\x00-\x08\x0e-\x1f\x7f]", "", text)
    lines = (re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _read_bytes(path: Path, settings: IngestSettings) -> bytes:
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


def _check_not_binary(path: Path, data: bytes) -> None:
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


def _decode(path: Path, data: bytes) -> str:
    """Decode UTF-8 (a BOM is stripped); a wrong encoding names the byte offset and the fix."""
    _check_not_binary(path, data)
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


# ---------------------------------------------------------------------------------------------
# Formats


def _base_meta(path: Path, source_type: str) -> dict[str, Any]:
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat(timespec="seconds")
    return {"source_type": source_type, "mtime": mtime}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _doc(doc_id: str, source: str, text: str, title: str, meta: dict[str, Any]) -> Document:
    return Document(doc_id=doc_id, source=source, text=text, title=title, content_hash=_sha256(text),
                    metadata=meta)


def _whole_file(path: Path, text: str, title: str, source_type: str) -> list[Document]:
    if not text:
        raise IngestError(f"{path}: no text found in the file; check its content or remove it")
    src = str(path.resolve())
    return [_doc(src, src, text, title, _base_meta(path, source_type))]


def _load_txt(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    return _whole_file(path, normalize_text(_decode(path, data)), path.stem, "txt")


_MD_HEADING = re.compile(r"#\s+(.+?)(?:\s+#+)?\s*")


def _markdown_title(text: str) -> str | None:
    """The first ``# heading`` outside fenced code blocks (a ``# comment`` in code is no title)."""
    fenced = False
    for line in text.split("\n"):
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and (m := _MD_HEADING.fullmatch(line)):
            return m.group(1).strip()
    return None


def _load_md(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    text = normalize_text(_decode(path, data))
    return _whole_file(path, text, _markdown_title(text) or path.stem, "md")


class _HTMLText(HTMLParser):
    """Visible text of an HTML page: block elements become paragraph breaks."""

    SKIP = {"script", "style", "nav", "noscript", "template", "svg"}
    BLOCK = {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre",
        "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "table", "tr",
        "figure", "figcaption", "hr", "form", "fieldset", "address", "details", "summary", "body",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.h1_parts: list[str] = []
        self._skip = 0
        self._pre = 0
        self._in_title = False
        self._in_h1 = False
        self._h1_done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "br":
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        if tag in self.BLOCK:
            self.parts.append("\n\n")
        if tag == "pre":
            self._pre += 1
        if tag == "h1" and not self._h1_done:
            self._in_h1 = True

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        if tag in self.BLOCK:
            self.parts.append("\n\n")
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag == "h1" and self._in_h1:
            self._in_h1, self._h1_done = False, True

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
            return
        if self._skip:
            return
        if not self._pre:
            data = re.sub(r"\s+", " ", data)  # source line wraps are not breaks in HTML
        self.parts.append(data)
        if self._in_h1:
            self.h1_parts.append(data)


def _load_html(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    parser = _HTMLText()
    parser.feed(_decode(path, data))
    parser.close()
    text = normalize_text("".join(parser.parts))
    title = " ".join("".join(parser.title_parts).split()) or " ".join("".join(parser.h1_parts).split())
    return _whole_file(path, text, title or path.stem, "html")


def _load_pdf(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    fix = "repair it (e.g. qpdf) or export it again, or remove it"
    if b"%PDF-" not in data[:1024]:
        raise IngestError(f"{path}: not a PDF file (no %PDF header); {fix}")
    # pypdf logs a warning for every repairable flaw; our one-line error is the report that counts.
    log = logging.getLogger("pypdf")
    old_level = log.level
    log.setLevel(logging.ERROR)
    try:
        return _read_pdf(path, data, fix)
    finally:
        log.setLevel(old_level)


def _one_line(e: Exception) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"


def _read_pdf(path: Path, data: bytes, fix: str) -> list[Document]:
    import pypdf
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(
                f"{path}: the PDF is encrypted with a password; remove it (e.g. qpdf --decrypt "
                f"--password=PASS in.pdf out.pdf) and ingest the copy"
            )
        pages = list(reader.pages)
    except IngestError:
        raise
    except Exception as e:  # pypdf raises many types on damaged files
        if isinstance(e, PyPdfError) and "crypt" in str(e).lower():
            raise IngestError(f"{path}: the PDF is encrypted in a way pypdf cannot open ({_one_line(e)}); "
                              "decrypt it first (e.g. qpdf --decrypt)") from None
        raise IngestError(f"{path}: unreadable or corrupt PDF ({_one_line(e)}); {fix}") from None
    try:
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except Exception:  # broken info dictionary: the title is optional
        title = ""
    title = title or path.stem
    src = str(path.resolve())
    base = _base_meta(path, "pdf")
    docs = []
    for n, page in enumerate(pages, start=1):
        try:
            text = normalize_text(page.extract_text() or "")
        except Exception as e:
            raise IngestError(f"{path}: page {n} cannot be read ({_one_line(e)}); {fix}") from None
        if text:
            meta = dict(base, page=n, pages=len(pages))
            docs.append(_doc(f"{src}#page={n}", src, text, title, meta))
    if not docs:
        raise IngestError(
            f"{path}: no extractable text in {len(pages)} page(s) (a scanned image?); run OCR first "
            "(e.g. ocrmypdf) or remove it"
        )
    return docs


# -- rows: JSON, JSONL, CSV ----------------------------------------------------------------


def _rows_to_docs(
    path: Path, rows: list[tuple[str, int, dict[str, Any]]], text_key: str, setting: str,
    settings: IngestSettings, source_type: str,
) -> list[Document]:
    """Turn parsed rows ``(where, row_number, fields)`` into documents, all or nothing."""
    if not rows:
        raise IngestError(f"{path}: no rows found; add rows or remove the file")
    src = str(path.resolve())
    base = _base_meta(path, source_type)
    docs: list[Document] = []
    ids: dict[str, str] = {}
    for where, row, obj in rows:
        if text_key not in obj or obj[text_key] is None:
            fields = ", ".join(str(k) for k in obj) or "none"
            raise IngestError(
                f"{path}: {where} has no '{text_key}' field (it has: {fields}); set {setting} to the "
                "field that holds the text"
            )
        value = obj[text_key]
        if not isinstance(value, str):
            raise IngestError(
                f"{path}: {where}: '{text_key}' is a {type(value).__name__}, not a string; fix the row or "
                f"set {setting} to a text field"
            )
        text = normalize_text(value)
        if not text:
            raise IngestError(f"{path}: {where}: '{text_key}' is empty; fill it in or remove the row")
        rid = obj.get(settings.json_id_field)
        if rid is None or rid == "":
            doc_id = f"{src}#row={row}"
        elif isinstance(rid, str | int) and not isinstance(rid, bool):
            doc_id = f"{src}#{rid}"
        else:
            raise IngestError(
                f"{path}: {where}: id '{settings.json_id_field}' is a {type(rid).__name__}; use a string or "
                "a number, or set ingest.json_id_field to another field"
            )
        if doc_id in ids:
            raise IngestError(
                f"{path}: {where} repeats the id of {ids[doc_id]} ({rid!r}); ids in "
                f"'{settings.json_id_field}' must be unique, or set ingest.json_id_field to another field"
            )
        ids[doc_id] = where
        title_val = obj.get(settings.json_title_field)
        title = " ".join(str(title_val).split()) if title_val not in (None, "") else path.stem
        meta = {
            k: v for k, v in obj.items()
            if k not in (text_key, settings.json_title_field) and isinstance(v, str | int | float | bool)
        }
        meta.update(base, row=row)
        docs.append(_doc(doc_id, src, text, title, meta))
    return docs


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest in ``text``, outside strings, found without parsing it."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def _parse_json(path: Path, where: str, text: str, settings: IngestSettings) -> Any:
    """``json.loads`` that refuses, in one line, nesting deeper than ``ingest.json_max_depth``.

    The parser recurses once per level, so a file nested 10,000 deep would end in a
    RecursionError; the depth is checked first, from the brackets alone.
    """
    limit = settings.json_max_depth
    fix = "flatten the data or raise ingest.json_max_depth"
    if text.count("[") + text.count("{") > limit and (depth := json_depth(text)) > limit:
        raise IngestError(f"{path}: {where} nests {depth} levels deep, more than ingest.json_max_depth = "
                          f"{limit}; {fix}")
    try:
        return json.loads(text)
    except RecursionError:
        raise IngestError(f"{path}: {where} nests too deep for the JSON parser; {fix}") from None


def _load_json(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    text = _decode(path, data)
    try:
        value = _parse_json(path, "the JSON", text, settings)
    except json.JSONDecodeError as e:
        raise IngestError(
            f"{path}: not valid JSON at line {e.lineno} column {e.colno} ({e.msg}); fix the file"
        ) from None
    items = value if isinstance(value, list) else [value]
    rows = []
    for n, obj in enumerate(items, start=1):
        if not isinstance(obj, dict):
            raise IngestError(
                f"{path}: item {n} is a {type(obj).__name__}, not an object; the file must hold one object "
                "or a list of objects"
            )
        rows.append((f"item {n}", n, obj))
    return _rows_to_docs(path, rows, settings.json_text_field, "ingest.json_text_field", settings, "json")


def _load_jsonl(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    text = _decode(path, data)
    rows = []
    for n, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 is valid in JSON
        if not line.strip():
            continue
        try:
            obj = _parse_json(path, f"line {n}", line, settings)
        except json.JSONDecodeError as e:
            raise IngestError(
                f"{path}: line {n} is not valid JSON ({e.msg} at column {e.colno}); fix or remove that line"
            ) from None
        if not isinstance(obj, dict):
            raise IngestError(
                f"{path}: line {n} is a {type(obj).__name__}, not a JSON object; write one object per line"
            )
        rows.append((f"line {n}", n, obj))
    return _rows_to_docs(path, rows, settings.json_text_field, "ingest.json_text_field", settings, "jsonl")


_CSV_LIMIT_LOCK = threading.Lock()  # csv.field_size_limit is one setting for the whole process


@contextmanager
def _csv_field_limit(settings: IngestSettings) -> Iterator[None]:
    """Parse with the field limit of ``ingest.csv_max_field_mb``, then put the old limit back."""
    limit = int(settings.csv_max_field_mb * 1024 * 1024)
    with _CSV_LIMIT_LOCK:
        old = csv.field_size_limit(limit)
        try:
            yield
        finally:
            csv.field_size_limit(old)


def _load_csv(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    text = _decode(path, data)
    with _csv_field_limit(settings):
        rows = _csv_rows(path, text, settings)
    return _rows_to_docs(path, rows, settings.csv_text_column, "ingest.csv_text_column", settings, "csv")


def _csv_rows(path: Path, text: str, settings: IngestSettings) -> list[tuple[str, int, dict[str, Any]]]:
    first_line = text.split("\n", 1)[0]
    # Comma unless the header clearly uses another separator (European spreadsheets use ';').
    delimiter = "," if "," in first_line else next((d for d in ";\t|" if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    col = settings.csv_text_column
    try:
        header = next(reader)
        if col not in header:
            raise IngestError(
                f"{path}: no column '{col}' (columns: {', '.join(header)}); set ingest.csv_text_column "
                "to the column that holds the text"
            )
        rows = []
        start = reader.line_num + 1
        for values in reader:
            where, line = f"line {start}", start
            start = reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                raise IngestError(
                    f"{path}: {where} has {len(values)} values but the header has {len(header)} columns; "
                    "quote values that contain commas"
                )
            rows.append((where, line, dict(zip(header, values, strict=False))))
    except csv.Error as e:
        if "field limit" in str(e):
            raise IngestError(
                f"{path}: line {reader.line_num} has a value longer than ingest.csv_max_field_mb = "
                f"{settings.csv_max_field_mb:g} MB; split that value or raise ingest.csv_max_field_mb"
            ) from None
        raise IngestError(
            f"{path}: not a valid CSV file near line {reader.line_num} ({e}); fix the file"
        ) from None
    return rows


Loader = Callable[[Path, bytes, IngestSettings], list[Document]]

LOADERS: dict[str, Loader] = {
    ".txt": _load_txt,
    ".md": _load_md,
    ".markdown": _load_md,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".json": _load_json,
    ".jsonl": _load_jsonl,
    ".csv": _load_csv,
}


def load_file(path: Path, settings: IngestSettings) -> list[Document]:
    """Read one file into documents, or raise ``IngestError`` with one line saying what to do.

    The whole file is parsed before anything is returned: one bad row rejects the file.
    """
    path = Path(path)
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        kind = f"'{path.suffix}'" if path.suffix else "(no extension)"
        raise IngestError(
            f"{path}: unsupported file type {kind}; use one of {', '.join(LOADERS)} or convert it to text"
        )
    return loader(path, _read_bytes(path, settings), settings)
