"""How a comparison's documents become a knowledge base: one text file per document, named after its id.

One file per document, so an update re-embeds only what changed; the file's stem (the id made
safe for a file name) is how retrieved chunks and gold documents are matched. Ids are never cut
into collisions: an id too long for a file name keeps a short hash of the whole id, and two ids
that would still share a file (``a:b`` and ``a_b``, or ids differing only in letter case) fail
the run before any work instead of losing a document.

    >>> safe_name("squad:Super_Bowl_50:3")
    'squad_Super_Bowl_50_3'
    >>> len(safe_name("x" * 150))
    100
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ragtune.errors import DataError
from ragtune.evaluate.datasets import Doc
from ragtune.types import Hit

MAX_STEM = 100  # characters of a file name's stem, hash included
_HASH = 12  # hex digits of SHA-1 kept when an id is changed


def safe_name(doc_id: str) -> str:
    """The file stem of ``doc_id``: unsafe characters become ``_``; a long id is cut and keeps a hash of it."""
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", doc_id)
    if len(clean) <= MAX_STEM:
        return clean
    digest = hashlib.sha1(doc_id.encode("utf-8")).hexdigest()[:_HASH]
    return f"{clean[: MAX_STEM - _HASH - 1]}~{digest}"


def hashed(doc_id: str) -> bool:
    """Whether the stem of ``doc_id`` carries a hash (names written before hashes were cut short)."""
    return "~" in safe_name(doc_id)


def check_unique(docs: list[Doc]) -> None:
    """Fail when two documents would be written to one file (also on file systems that ignore case)."""
    seen: dict[str, str] = {}
    for d in docs:
        key = safe_name(d.id).casefold()
        if key in seen and seen[key] != d.id:
            raise DataError(f"documents {seen[key]!r} and {d.id!r} map to one file name ({safe_name(d.id)}.txt); "
                            "give them ids that differ in letters, digits, '_', '.' or '-', not only in other "
                            "characters or letter case")
        if key in seen:
            raise DataError(f"document id {d.id!r} appears twice in the corpus; ids must be unique")
        seen[key] = d.id


def write_docs(folder: Path, docs: list[Doc], texts: dict[str, str] | None = None) -> None:
    """Write (or rewrite, when the text changed) one file per document."""
    check_unique(docs)
    folder.mkdir(parents=True, exist_ok=True)
    for d in docs:
        text = (texts or {}).get(d.id, d.text)
        f = folder / f"{safe_name(d.id)}.txt"
        if not f.exists() or f.read_text(encoding="utf-8") != text:
            f.write_text(text, encoding="utf-8")


def doc_of(hit: Hit) -> str:
    """The (safe) document id a retrieved chunk comes from."""
    return Path(hit.chunk.source).stem
