"""Markdown (.md, .markdown): one document, titled by its first ``# heading``."""

from __future__ import annotations

import re
from pathlib import Path

from ragtune.config import IngestSettings
from ragtune.ingest.loaders.base import decode, normalize_text, whole_file
from ragtune.ingest.loaders.registry import register_loader
from ragtune.types import Document

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


def load_md(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    text = normalize_text(decode(path, data))
    return whole_file(path, text, _markdown_title(text) or path.stem, "md")


register_loader([".md", ".markdown"], load_md)
