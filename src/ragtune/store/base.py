"""The storage contract. A server-backed store only has to implement these methods."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ragtune.types import Chunk


@dataclass
class StoreVersion:
    """One committed change-set of a knowledge base."""

    version: int
    time: float
    added: int = 0
    removed: int = 0
    note: str = ""
    backend: dict = field(default_factory=dict)  # backend-specific pointer, e.g. the Lance table version


class Store(Protocol):
    """Chunks with vectors and a full-text index, changed in transactions that make versions.

    Writes (``add``/``delete_*``) are staged and become visible together at ``commit``; a crash
    before ``commit`` leaves the previous version as the current one. Reads take ``version``
    (None for the current one).
    """

    def add(self, chunks: list[Chunk], vectors: np.ndarray, file_hashes: dict[str, str]) -> None: ...

    def delete_sources(self, sources: list[str]) -> int: ...

    def commit(self, note: str = "") -> StoreVersion | None: ...

    def rollback(self) -> None: ...

    def search_dense(self, vector: np.ndarray, k: int, where: str | None = None,
                     version: int | None = None) -> list[tuple[Chunk, float]]: ...

    def search_text(self, query: str, k: int, where: str | None = None,
                    version: int | None = None) -> list[tuple[Chunk, float]]: ...

    def vectors_for(self, chunk_ids: list[str], version: int | None = None) -> np.ndarray: ...

    def sources(self, version: int | None = None) -> dict[str, str]: ...

    def all_chunks(self, version: int | None = None) -> list[Chunk]: ...

    def count(self, version: int | None = None) -> int: ...

    def version(self) -> int: ...

    def versions(self) -> list[StoreVersion]: ...
