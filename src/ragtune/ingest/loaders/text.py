"""Plain text (.txt): the whole file is one document, titled by the file name."""

from __future__ import annotations

from pathlib import Path

from ragtune.config import IngestSettings
from ragtune.ingest.loaders.base import decode, normalize_text, whole_file
from ragtune.ingest.loaders.registry import register_loader
from ragtune.types import Document


def load_txt(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    return whole_file(path, normalize_text(decode(path, data)), path.stem, "txt")


register_loader(".txt", load_txt)
