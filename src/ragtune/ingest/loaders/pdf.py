"""PDF (.pdf): one document per page with text, id ``PATH#page=N`` (1-based), through pypdf."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from ragtune.config import IngestSettings
from ragtune.errors import IngestError
from ragtune.ingest.loaders.base import base_meta, make_doc, normalize_text, one_line
from ragtune.ingest.loaders.registry import register_loader
from ragtune.types import Document


def load_pdf(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
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


def _read_pdf(path: Path, data: bytes, fix: str) -> list[Document]:
    import pypdf  # a core dependency, imported on the first PDF only: it adds ~0.1 s to start-up
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
            raise IngestError(f"{path}: the PDF is encrypted in a way pypdf cannot open ({one_line(e)}); "
                              "decrypt it first (e.g. qpdf --decrypt)") from None
        raise IngestError(f"{path}: unreadable or corrupt PDF ({one_line(e)}); {fix}") from None
    try:
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except Exception:  # broken info dictionary: the title is optional
        title = ""
    title = title or path.stem
    src = str(path.resolve())
    base = base_meta(path, "pdf")
    docs = []
    for n, page in enumerate(pages, start=1):
        try:
            text = normalize_text(page.extract_text() or "")
        except Exception as e:
            raise IngestError(f"{path}: page {n} cannot be read ({one_line(e)}); {fix}") from None
        if text:
            meta = dict(base, page=n, pages=len(pages))
            docs.append(make_doc(f"{src}#page={n}", src, text, title, meta))
    if not docs:
        raise IngestError(
            f"{path}: no extractable text in {len(pages)} page(s) (a scanned image?); run OCR first "
            "(e.g. ocrmypdf) or remove it"
        )
    return docs


register_loader(".pdf", load_pdf)
