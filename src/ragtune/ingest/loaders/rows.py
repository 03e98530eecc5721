"""Rows to documents, shared by the JSON, JSONL and CSV loaders.

A row's id is ``PATH#ID`` from the id field/column (``ingest.json_id_field``), else
``PATH#row=N`` with N the line number (JSONL, CSV) or item number (JSON array).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragtune.config import IngestSettings
from ragtune.errors import IngestError
from ragtune.ingest.loaders.base import base_meta, make_doc, normalize_text
from ragtune.types import Document

Row = tuple[str, int, dict[str, Any]]  # (where, for messages; row number; fields)


def names(keys: Any) -> str:
    """Field or column names for a one-line message: a line break inside a name becomes a space."""
    return ", ".join(" ".join(str(k).split()) for k in keys)


def rows_to_docs(
    path: Path, rows: list[Row], text_key: str, setting: str,
    settings: IngestSettings, source_type: str,
) -> list[Document]:
    """Turn parsed rows ``(where, row_number, fields)`` into documents, all or nothing."""
    if not rows:
        raise IngestError(f"{path}: no rows found; add rows or remove the file")
    src = str(path.resolve())
    base = base_meta(path, source_type)
    docs: list[Document] = []
    ids: dict[str, str] = {}
    for where, row, obj in rows:
        if text_key not in obj or obj[text_key] is None:
            fields = names(obj) or "none"
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
        docs.append(make_doc(doc_id, src, text, title, meta))
    return docs
