"""The storage contract: what the knowledge base, retrievers, ingest and the faces call on a store.

A backend is a class registered by name (``store/registry.py``) and built as ``cls(root, dim)``:
``root`` is the knowledge base's folder (a server-backed store may keep only a pointer there),
``dim`` the embedder's vector size. It then has to implement :class:`Store`, nothing more.

Filters are data, not a query language: ``{"source": "/docs/a.txt"}`` keeps the chunks of one
file, ``{"doc_id": ["a#0", "b#0"]}`` the chunks of either document, and several fields must all
match. Only :data:`FILTER_FIELDS` can be filtered on; :func:`check_filters` checks a filter and
puts it in the one shape every backend receives, and the backend alone turns it into its own
query language::

    >>> check_filters({"title": "Paris", "page": "3", "doc_id": ["a", "b"]})
    {'title': ['Paris'], 'page': [3], 'doc_id': ['a', 'b']}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypedDict

import numpy as np

from ragtune.errors import KnowledgeBaseError
from ragtune.types import Chunk

FILTER_FIELDS = ("chunk_id", "doc_id", "page", "source", "title")
"""The chunk fields a filter can name; ``page`` takes whole numbers, the others strings."""

Filters = Mapping[str, str | int | list[str] | list[int]]
"""A filter as callers write it: field -> one value (equality) or a list of values (any of them)."""


@dataclass
class StoreVersion:
    """One committed change-set of a knowledge base."""

    version: int
    time: float
    added: int = 0
    removed: int = 0
    note: str = ""
    backend: dict = field(default_factory=dict)  # backend-specific pointer, e.g. the Lance table version


class DocumentInfo(TypedDict):
    """One source file of a version, as ``Store.documents`` lists it."""

    source: str
    title: str
    chunks: int  # chunks of this file
    documents: int  # documents (distinct doc_id) of this file: rows of a JSONL/CSV file, else 1
    file_hash: str
    ingested_at: float


def check_filters(filters: Filters | None) -> dict[str, list[str] | list[int]]:
    """``filters`` as field -> list of allowed values; a field or value that cannot be used is one line."""
    out: dict[str, list[str] | list[int]] = {}
    if filters is None:
        return out
    if not isinstance(filters, Mapping):
        raise KnowledgeBaseError(f"filters must be a mapping of field -> value, got {type(filters).__name__}")
    for key, value in filters.items():
        if key not in FILTER_FIELDS:
            raise KnowledgeBaseError(
                f"cannot filter on {key!r}; use one of {', '.join(FILTER_FIELDS)} or --where SQL"
            )
        values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
        if not values:
            raise KnowledgeBaseError(f"filter {key!r} has an empty list of values; give at least one")
        out[key] = [_page(v) for v in values] if key == "page" else [_text(key, v) for v in values]
    return out


def _page(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise KnowledgeBaseError(f"filter 'page' takes whole numbers, got {v!r}")
    try:
        return int(v)
    except ValueError:
        raise KnowledgeBaseError(f"filter 'page' takes whole numbers, got {v!r}") from None


def _text(key: str, v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise KnowledgeBaseError(f"filter {key!r} takes strings, got {v!r}")
    return str(v)


class Store(Protocol):
    """Chunks with vectors and a full-text index, changed in transactions that make versions.

    Writes (``add``/``delete_sources``) are staged and become visible together at ``commit``;
    a crash before ``commit`` leaves the previous version as the current one, and ``rollback``
    drops what is staged. Reads take ``version`` (None for the current one); a version that
    does not exist is a ``KnowledgeBaseError``.

    Searches take ``filters`` (see :func:`check_filters`, which every backend calls) and return
    ``(chunk, score)`` pairs, best first: cosine similarity for ``search_dense``, the backend's
    full-text score (BM25-like, higher is better) for ``search_text``.

    ``where`` is a backend-specific escape hatch, not part of the portable contract: a raw
    filter in the backend's own query language, ANDed with ``filters``. ``where_language``
    names that language (``"LanceDB SQL"`` for the Lance backend) or is None when the backend
    has none; callers refuse ``where`` for such a backend, and the backend itself raises
    ``KnowledgeBaseError`` if it gets one anyway, never ignores it.
    """

    where_language: ClassVar[str | None]

    # ---- writing (staged until commit) ----
    def add(self, chunks: list[Chunk], vectors: np.ndarray, file_hashes: dict[str, str]) -> None:
        """Stage ``chunks`` with their ``vectors`` (one row each, ``dim`` wide); ``file_hashes``: source -> hash."""

    def delete_sources(self, sources: list[str]) -> int:
        """Stage the removal of every chunk of these source paths; returns how many chunks that is."""

    def commit(self, note: str = "") -> StoreVersion | None:
        """Make the staged writes the new current version; None (and no version) when nothing changed."""

    def rollback(self) -> None:
        """Drop the staged writes; the current version stays what it was."""

    # ---- versions ----
    def version(self) -> int:
        """The current version's number (0 for a new, empty store)."""

    def versions(self) -> list[StoreVersion]:
        """Every committed version, oldest first."""

    # ---- reading ----
    def search_dense(self, vector: np.ndarray, k: int, filters: Filters | None = None,
                     version: int | None = None, *, where: str | None = None) -> list[tuple[Chunk, float]]:
        """The ``k`` chunks whose vectors have the highest cosine with ``vector``, that cosine as the score
        (the retriever takes it as a hit's similarity to the question)."""

    def search_text(self, query: str, k: int, filters: Filters | None = None,
                    version: int | None = None, *, where: str | None = None) -> list[tuple[Chunk, float]]:
        """The ``k`` best full-text matches of ``query`` (none for a blank query or an empty store)."""

    def vectors_for(self, chunk_ids: list[str], version: int | None = None) -> np.ndarray:
        """The stored vectors of ``chunk_ids``, one row each, in that order."""

    def sources(self, version: int | None = None) -> dict[str, str]:
        """Source path -> file hash of every file in the version (what incremental sync compares)."""

    def documents(self, version: int | None = None) -> list[DocumentInfo]:
        """One entry per source file, sorted by source."""

    def all_chunks(self, version: int | None = None) -> list[Chunk]:
        """Every chunk of the version, ordered by source, document and position."""

    def count(self, version: int | None = None) -> int:
        """How many chunks the version holds."""


def check_where(store: Store, where: str | None) -> None:
    """Refuse a raw ``where`` for a backend that has no query language for it (one line)."""
    if where and getattr(store, "where_language", None) is None:
        raise KnowledgeBaseError(
            f"this knowledge base's store ({type(store).__name__}) takes no raw --where filter; "
            f"use --filter key=value on {', '.join(FILTER_FIELDS)}"
        )


def check_vectors(chunks: list[Chunk], vectors: np.ndarray, dim: int) -> None:
    """Refuse vectors that do not match the chunks one to one at the store's width (one line)."""
    if vectors.shape != (len(chunks), dim):
        raise KnowledgeBaseError(f"got vectors of shape {vectors.shape} for {len(chunks)} chunks of dim {dim}")
