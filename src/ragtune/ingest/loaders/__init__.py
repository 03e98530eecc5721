"""File loaders: paths in, ``Document``s out, or one clear ``IngestError`` line per bad file.

One module per format, each registering its loader in the table of :mod:`.registry`, the
same way a third-party loader does (:func:`register_loader`); :func:`load_file` reads
through that table. A loader reads the whole file and builds every document before
returning, so a file with one bad row is rejected whole and never half-ingested. Error
messages follow ``PATH: what is wrong; what to do``.

Document ids are stable across runs, so re-ingesting replaces instead of duplicating:

- a whole file (.txt, .md, .html): its absolute resolved path;
- a PDF page: ``PATH#page=N`` (1-based);
- a JSON/JSONL/CSV row: ``PATH#ID`` from the id field/column (``ingest.json_id_field``), else
  ``PATH#row=N`` with N the line number (JSONL, CSV) or item number (JSON array).
"""

# The built-in formats, imported for their registration; this order is the order of the table.
from ragtune.ingest.loaders import text, markdown, html_page, pdf, json_rows, csv_rows  # noqa: F401, I001
from ragtune.ingest.loaders.base import Loader, base_meta, decode, make_doc, normalize_text, read_bytes, whole_file
from ragtune.ingest.loaders.json_rows import json_depth
from ragtune.ingest.loaders.registry import LOADERS, load_file, register_loader
from ragtune.ingest.loaders.walk import SkippedFile, file_hash, iter_files

__all__ = [
    "LOADERS", "Loader", "SkippedFile", "base_meta", "decode", "file_hash", "iter_files", "json_depth",
    "load_file", "make_doc", "normalize_text", "read_bytes", "register_loader", "whole_file",
]
