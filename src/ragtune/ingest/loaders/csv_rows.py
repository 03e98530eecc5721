"""CSV (.csv): one document per row, the text in ``ingest.csv_text_column``.

The separator is a comma unless the header clearly uses ``;``, tab or ``|``; a value longer
than ``ingest.csv_max_field_mb`` is refused in one line.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragtune.config import IngestSettings
from ragtune.errors import IngestError
from ragtune.ingest.loaders.base import decode
from ragtune.ingest.loaders.registry import register_loader
from ragtune.ingest.loaders.rows import Row, names, rows_to_docs
from ragtune.types import Document

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


def load_csv(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    text = decode(path, data)
    with _csv_field_limit(settings):
        rows = _csv_rows(path, text, settings)
    return rows_to_docs(path, rows, settings.csv_text_column, "ingest.csv_text_column", settings, "csv")


def _csv_rows(path: Path, text: str, settings: IngestSettings) -> list[Row]:
    first_line = text.split("\n", 1)[0]
    # Comma unless the header clearly uses another separator (European spreadsheets use ';').
    delimiter = "," if "," in first_line else next((d for d in ";\t|" if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    col = settings.csv_text_column
    try:
        header = next(reader)
        if col not in header:
            raise IngestError(
                f"{path}: no column '{col}' (columns: {names(header)}); set ingest.csv_text_column "
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


register_loader(".csv", load_csv)
