"""Small file helpers shared by the stores, the trainer and the comparison workspace."""

from __future__ import annotations

import os
from pathlib import Path


def dir_size(path: str | Path) -> int:
    """Bytes of every file under ``path`` (0 when it does not exist)."""
    p = Path(path)
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.exists() else 0


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to a hidden temporary file beside ``path``, then rename it into place.

    A reader sees the old file or the new one, never half of it, even if the writer is killed.
    """
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)
