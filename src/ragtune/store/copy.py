"""Copying one version of a store into another, through nothing but the ``Store`` protocol.

``ragtune kb copy`` uses it to move a knowledge base between backends (LanceDB to PostgreSQL
and back): the chunks, their stored vectors and file hashes of the version, added in batches
and committed as the destination's next version. Nothing is re-embedded, so the copy ranks
the same way as the original.
"""

from __future__ import annotations

from ragtune.errors import KnowledgeBaseError
from ragtune.store.base import Store, StoreVersion

BATCH = 2000  # chunks per add: bounds the memory of a copy at any size


def copy_version(src: Store, dst: Store, version: int | None = None, note: str = "") -> StoreVersion | None:
    """Add every chunk of ``src``'s ``version`` (the current one for None) to ``dst`` and commit.

    ``dst`` must be empty, so that the copy holds exactly that version; None when it has nothing.
    """
    if dst.count() or dst.version():
        raise KnowledgeBaseError(f"the destination store already holds version {dst.version()} "
                                 f"({dst.count()} chunks); copy into a new, empty knowledge base")
    v = src.version() if version is None else version
    chunks = src.all_chunks(v)
    hashes = src.sources(v)
    try:
        for i in range(0, len(chunks), BATCH):
            part = chunks[i:i + BATCH]
            dst.add(part, src.vectors_for([c.chunk_id for c in part], v), hashes)
        return dst.commit(note or f"copy of version {v}")
    except BaseException:
        dst.rollback()
        raise
