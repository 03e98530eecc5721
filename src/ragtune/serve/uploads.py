"""Uploaded files: safe names on disk, and an ingest that leaves nothing behind when it fails.

A client's file name is never used as a path. Its last component is reduced to letters,
digits, ``.``, ``_`` and ``-`` (or replaced by a generated name when nothing is left) and the
file is written under ``data_dir/uploads/<kb>/``. The same client name maps to the same file,
so uploading ``faq.md`` again replaces the earlier version of that document (upsert by source).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ragtune.config import Settings
from ragtune.ingest.sync import IngestReport
from ragtune.kb import check_name, open_kb
from ragtune.serve.errors import APIError

CONTENT_TYPES = {
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/html": ".html",
    "application/pdf": ".pdf",
    "application/json": ".json",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "text/csv": ".csv",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(client_name: str | None, content_type: str | None, extensions: list[str]) -> str:
    """``"../../etc/My Notes.MD"`` -> ``"My_Notes.md"``; a name with nothing usable gets a generated stem."""
    base = PurePosixPath((client_name or "").replace("\\", "/")).name
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem, dot, ext = base.rpartition(".")
    stem, ext = (stem, "." + ext.lower()) if dot else (base, "")
    if not ext:
        ext = CONTENT_TYPES.get((content_type or "").split(";")[0].strip().lower(), "")
    if ext not in extensions:
        raise APIError(
            415,
            f"cannot ingest {client_name or 'a file without a name'!r}: the type {ext or 'unknown'} "
            f"is not one of {', '.join(extensions)}",
            "unsupported_file_type",
            "files",
        )
    stem = _UNSAFE.sub("_", stem).strip("._-")[:100]
    if not stem:
        stem = "upload-" + uuid.uuid4().hex[:12]
    return stem + ext


def uploads_dir(settings: Settings, kb: str) -> Path:
    return Path(settings.data_dir).resolve() / "uploads" / check_name(kb)


def doc_id(source: str) -> str:
    """The API's id for a source document: short, stable, and not a path."""
    return "doc-" + hashlib.sha256(source.encode()).hexdigest()[:16]


@dataclass
class Upload:
    name: str  # the safe name
    data: bytes
    client_name: str = ""


@dataclass
class UploadResult:
    report: IngestReport
    files: list[dict] = field(default_factory=list)


def ingest_uploads(settings: Settings, kb: str, uploads: list[Upload], lock: threading.Lock) -> UploadResult:
    """Write the files and ingest them as one new KB version; on failure, put the old files back.

    Runs in a worker thread under the KB's write lock. The store keeps the KB at its previous
    version if the ingest fails; this keeps the files on disk in step with it.
    """
    root = uploads_dir(settings, kb)
    with lock:
        kbo = open_kb(settings, kb)
        root.mkdir(parents=True, exist_ok=True)
        placed: list[tuple[Path, Path | None]] = []  # (file, backup of what it replaced)
        try:
            for up in uploads:
                path = root / up.name
                if path.resolve().parent != root:  # cannot happen with safe names; never write outside
                    raise APIError(400, f"refusing the file name {up.client_name!r}", "invalid_file_name")
                backup = None
                if path.exists():
                    backup = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.bak")
                    os.replace(path, backup)
                placed.append((path, backup))
                tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
                tmp.write_bytes(up.data)
                os.replace(tmp, path)
            report = kbo.ingest([p for p, _ in placed], show_progress=False)
        except BaseException:
            _restore(placed, {str(p.resolve()) for p, _ in placed})
            raise
        failed = {s for s, _ in report.failed}
        _restore(placed, failed)
        files = []
        for up, (path, _) in zip(uploads, placed, strict=True):
            src = str(path.resolve())
            status = (
                "added"
                if src in report.added
                else "updated"
                if src in report.updated
                else "unchanged"
                if src in report.unchanged
                else "failed"
            )
            error = next((e for s, e in report.failed if s == src), None)
            files.append(
                {
                    "id": doc_id(src),
                    "name": up.name,
                    "filename": up.client_name,
                    "status": status,
                    "error": error.replace(str(root) + "/", "") if error else None,
                }
            )
        return UploadResult(report, files)


def _restore(placed: list[tuple[Path, Path | None]], undo: set[str]) -> None:
    """Put back the replaced files of the sources in ``undo``; drop the other backups."""
    for path, backup in placed:
        if str(path.resolve()) in undo:
            if backup is not None:
                os.replace(backup, path)
            else:
                path.unlink(missing_ok=True)
        elif backup is not None:
            backup.unlink(missing_ok=True)
