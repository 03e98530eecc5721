"""Incremental sync of files into a knowledge base.

A file whose bytes hash to what the store already holds for its path is skipped without
being parsed; a changed file has its chunks replaced; with ``sync=True`` files that are gone
from the given folders are removed, and so is what a link in them led to once the link is
skipped (a link outside its folder is, unless ``ingest.follow_symlinks_outside``). All
changes of one call land as one new version, or none at all: a bad file is reported and
skipped, and an error or Ctrl-C half-way rolls the store back to where it was.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ragtune.config import Settings
from ragtune.embedding import Embedder
from ragtune.errors import IngestError
from ragtune.ingest.chunker import chunk_document, token_counter
from ragtune.ingest.loaders import SkippedFile, file_hash, iter_files, load_file
from ragtune.progress import progress
from ragtune.store.base import Store
from ragtune.types import Chunk, Document


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)      # new sources
    updated: list[str] = field(default_factory=list)    # changed sources
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)    # sources gone from disk (--sync) or deleted
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, one-line reason)
    chunks_added: int = 0
    chunks_removed: int = 0
    version: int | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def to_dict(self) -> dict:
        return {"added": self.added, "updated": self.updated, "unchanged": len(self.unchanged),
                "removed": self.removed, "failed": [{"source": s, "error": e} for s, e in self.failed],
                "chunks_added": self.chunks_added, "chunks_removed": self.chunks_removed,
                "version": self.version, "timings": self.timings}


def _under(source: str, roots: list[Path]) -> bool:
    p = Path(source)
    return any(p == r or r in p.parents for r in roots)


class _LazyChunker:
    """Chunks documents with the embedder's tokenizer, loading it only for the first changed file.

    Loading the embedder (torch, sentence-transformers, the model) takes seconds; a re-sync
    of an unchanged corpus never needs it.
    """

    def __init__(self, embedder: Embedder, settings: Settings):
        self.embedder, self.settings = embedder, settings
        self._args: tuple | None = None

    def __call__(self, doc: Document) -> list[Chunk]:
        if self._args is None:
            c = self.settings.chunking
            budget = min(c.max_tokens, self.embedder.max_seq_length - 2)
            self._args = (token_counter(self.embedder.tokenizer), budget, min(c.overlap_tokens, budget // 2))
        return chunk_document(doc, *self._args)


def _embed_sorted(embedder: Embedder, texts: list[str], batch_size: int, advance) -> np.ndarray:
    """Embed ``texts`` in slices (for the progress bar), longest first across the whole list.

    ``encode`` sorts by length only within one call, so slicing the texts in their file order
    would pad short chunks to long ones in every slice; sorting the whole list first keeps each
    batch's texts of similar length, as one big ``encode`` call would.
    """
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    step = max(batch_size * 4, 256)
    out: np.ndarray | None = None
    for i in range(0, len(order), step):
        idx = order[i:i + step]
        part = embedder.encode([texts[j] for j in idx], batch_size)
        if out is None:
            out = np.empty((len(texts), part.shape[1]), dtype=np.float32)
        out[idx] = part
        advance(len(idx))
    assert out is not None
    return out


def sync_paths(store: Store, embedder: Embedder, paths: list[str | Path], settings: Settings,
               sync: bool = False, show_progress: bool | None = None, note: str = "") -> IngestReport:
    rep = IngestReport()
    t0 = time.perf_counter()
    skipped: list[SkippedFile] = []
    files = list(iter_files(paths, settings.ingest.extensions, settings.ingest.follow_symlinks_outside,
                            skipped.append))
    rep.failed.extend((os.path.abspath(s.path), s.error) for s in skipped)
    known = store.sources()
    chunker = _LazyChunker(embedder, settings)
    chunks: list[Chunk] = []
    hashes: dict[str, str] = {}
    replace: list[str] = []
    seen: set[str] = set()
    with progress(show_progress) as bar:
        task = bar.add_task("reading", total=len(files))
        for f in files:
            src = str(f.resolve())
            seen.add(src)
            try:
                h = file_hash(f)
                if known.get(src) == h:
                    rep.unchanged.append(src)
                    continue
                docs = load_file(f, settings.ingest)
                new = [c for d in docs for c in chunker(d)]
                if not new:
                    raise IngestError(f"{f}: no text to index; check the file has text content")
            except IngestError as e:
                rep.failed.append((src, str(e)))
                continue
            except OSError as e:
                rep.failed.append((src, f"{f}: cannot be read ({e.strerror}); check permissions"))
                continue
            finally:
                bar.advance(task)
            hashes[src] = h
            chunks.extend(new)
            (rep.updated if src in known else rep.added).append(src)
            if src in known:
                replace.append(src)
        if sync:
            roots = [Path(p).resolve() for p in paths if Path(p).is_dir()]
            # also what a link in the folder led to before the link was skipped (e.g. outside it)
            left_out = {str(s.target) for s in skipped if s.target is not None}
            rep.removed = sorted(s for s in known if s not in seen and (_under(s, roots) or s in left_out))
        t1 = time.perf_counter()
        vectors = None
        if chunks:
            task = bar.add_task("embedding", total=len(chunks))
            vectors = _embed_sorted(embedder, [c.text for c in chunks], settings.ingest.batch_size,
                                    lambda n: bar.advance(task, n))
    t2 = time.perf_counter()
    try:
        rep.chunks_removed = store.delete_sources(replace + rep.removed)
        if chunks:
            store.add(chunks, vectors, hashes)
        rep.chunks_added = len(chunks)
        v = store.commit(note or f"ingest +{len(rep.added)} ~{len(rep.updated)} -{len(rep.removed)}")
        rep.version = v.version if v else store.version()
    except BaseException:
        store.rollback()
        raise
    t3 = time.perf_counter()
    rep.timings = {"read_chunk_s": t1 - t0, "embed_s": t2 - t1, "store_s": t3 - t2, "total_s": t3 - t0}
    return rep
