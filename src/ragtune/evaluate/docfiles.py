"""How a comparison's documents become a knowledge base: one text file per document, named after its id.

One file per document, so an update re-embeds only what changed; the file's stem (the id made
safe for a file name) is how retrieved chunks and gold documents are matched.
"""

from __future__ import annotations

import re
from pathlib import Path

from ragtune.evaluate.datasets import Doc
from ragtune.types import Hit


def safe_name(doc_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", doc_id)[:100]


def write_docs(folder: Path, docs: list[Doc], texts: dict[str, str] | None = None) -> None:
    """Write (or rewrite, when the text changed) one file per document."""
    folder.mkdir(parents=True, exist_ok=True)
    for d in docs:
        text = (texts or {}).get(d.id, d.text)
        f = folder / f"{safe_name(d.id)}.txt"
        if not f.exists() or f.read_text(encoding="utf-8") != text:
            f.write_text(text, encoding="utf-8")


def doc_of(hit: Hit) -> str:
    """The (safe) document id a retrieved chunk comes from."""
    return Path(hit.chunk.source).stem
