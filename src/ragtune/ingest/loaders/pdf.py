"""PDF (.pdf): one document per page with text, id ``PATH#page=N`` (1-based), through pypdf.

A PDF of more than ``ingest.pdf_max_pages`` pages is skipped in one line before any page is
read: first by the count it declares, then by walking its page tree with a bounded count
(the declared count can lie, and a tree that shares or loops its nodes can list a million
pages in a few kilobytes).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

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
        return _read_pdf(path, data, fix, settings.pdf_max_pages)
    finally:
        log.setLevel(old_level)


def _too_many_pages(reader: Any, limit: int) -> str | None:
    """Why the PDF has more than ``limit`` pages, or None; visits at most ``2 * limit`` nodes."""
    tree = reader.trailer["/Root"].get_object()["/Pages"].get_object()
    declared = tree.get("/Count")
    if isinstance(declared, int) and declared > limit:
        return f"declares {declared} pages"  # checked first: nothing else is read
    pages = inner = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        kids = node.get("/Kids") if hasattr(node, "get") else None
        if kids is None:
            pages += 1
        else:
            inner += 1
            if inner > limit:  # more branches than pages allowed: shared or looping nodes
                return f"has a page tree of more than {limit} nodes"
            stack.extend(k.get_object() for k in kids.get_object())
        # in a well-formed tree every node still to visit holds at least one page of its own
        if pages + len(stack) > limit:
            return f"has more than {limit} pages"
    return None


def _read_pdf(path: Path, data: bytes, fix: str, max_pages: int) -> list[Document]:
    import pypdf  # a core dependency, imported on the first PDF only: it adds ~0.1 s to start-up
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(
                f"{path}: the PDF is encrypted with a password; remove it (e.g. qpdf --decrypt "
                f"--password=PASS in.pdf out.pdf) and ingest the copy"
            )
        if why := _too_many_pages(reader, max_pages):
            raise IngestError(
                f"{path}: the PDF {why}, over the limit ingest.pdf_max_pages = {max_pages}; split it "
                "(e.g. qpdf --split-pages) or raise ingest.pdf_max_pages"
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
