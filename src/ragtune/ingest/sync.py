"""Incremental sync of files into a knowledge base.

A file whose bytes hash to what the store already holds for its path is skipped without
being parsed; a changed file has its chunks replaced; with ``sync=True`` files that are gone
from the given folders are removed, and so is what a link in them led to once the link is
skipped (a link outside its folder is, unless ``ingest.follow_symlinks_outside``). All
changes of one call land as one new version, or none at all: a bad file is reported and
skipped, and an error or Ctrl-C half-way rolls the store back to where it was.

Reading and embedding overlap: a reader thread hashes, loads and chunks the files and hands the
chunks over a bounded queue, while this thread embeds them. Chunks are embedded in windows of
a few batches, each window sorted by length (longest first) so that a batch pads its texts to
similar lengths; the vectors are put back in the chunks' order.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
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


def length_buckets(texts: list[str], size: int) -> list[list[int]]:
    """Positions of ``texts`` in buckets of ``size``, longest first, so each bucket holds texts of
    similar length (a batch is padded to its longest text)::

        >>> length_buckets(["a", "ccc", "bb", "dddd"], 2)
        [[3, 1], [2, 0]]
    """
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[i:i + size] for i in range(0, len(order), size)]


def _embed_window(embedder: Embedder, texts: list[str], batch_size: int) -> np.ndarray:
    """Vectors of ``texts`` in their order, embedded in length-sorted batches."""
    out = np.empty((len(texts), embedder.dim), dtype=np.float32)
    for idx in length_buckets(texts, batch_size):
        out[idx] = embedder.encode([texts[j] for j in idx], batch_size)
    return out


_DONE = object()


class _Reader(threading.Thread):
    """Hashes, loads and chunks files on its own thread, putting each file's chunks on a bounded queue.

    What it decides (unchanged, failed, added, updated) goes into the report; the queue's end is
    ``_DONE``, or the exception that stopped it, which the embedding side raises in its thread.
    """

    def __init__(self, files: list[Path], known: dict[str, str], chunker: _LazyChunker, settings: Settings,
                 rep: IngestReport, advance: Callable[[], None], depth: int = 64):
        super().__init__(name="ragtune-ingest-reader", daemon=True)
        self.files, self.known, self.chunker, self.settings, self.rep = files, known, chunker, settings, rep
        self.advance = advance
        self.out: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.hashes: dict[str, str] = {}
        self.replace: list[str] = []
        self.seen: set[str] = set()
        self.busy_s = 0.0

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        t0 = time.perf_counter()
        try:
            for f in self.files:
                if self.stop.is_set():
                    return
                new = self._read(f)
                if new and not self._put(new):
                    return
        except BaseException as e:  # handed to the embedding thread, which raises it
            self._put(e)
            return
        finally:
            self.busy_s = time.perf_counter() - t0
        self._put(_DONE)

    def _read(self, f: Path) -> list[Chunk] | None:
        rep, known = self.rep, self.known
        src = str(f.resolve())
        self.seen.add(src)
        try:
            h = file_hash(f)
            if known.get(src) == h:
                rep.unchanged.append(src)
                return None
            docs = load_file(f, self.settings.ingest)
            new = [c for d in docs for c in self.chunker(d)]
            if not new:
                raise IngestError(f"{f}: no text to index; check the file has text content")
        except IngestError as e:
            rep.failed.append((src, str(e)))
            return None
        except OSError as e:
            rep.failed.append((src, f"{f}: cannot be read ({e.strerror}); check permissions"))
            return None
        finally:
            self.advance()
        self.hashes[src] = h
        (rep.updated if src in known else rep.added).append(src)
        if src in known:
            self.replace.append(src)
        return new


def _read_and_embed(reader: _Reader, embedder: Embedder, batch_size: int,
                    on_chunks: Callable[[int], None], on_embedded: Callable[[int], None]) -> tuple[
                        list[Chunk], np.ndarray | None, float]:
    """Run ``reader`` and embed what it hands over, a window of a few batches at a time."""
    window = max(batch_size * 8, 256)
    chunks: list[Chunk] = []
    parts: list[np.ndarray] = []
    embedded = 0
    embed_s = 0.0

    def flush(upto: int) -> None:
        nonlocal embedded, embed_s
        t = time.perf_counter()
        parts.append(_embed_window(embedder, [c.text for c in chunks[embedded:upto]], batch_size))
        embed_s += time.perf_counter() - t
        on_embedded(upto - embedded)
        embedded = upto

    reader.start()
    try:
        while True:
            item = reader.out.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            chunks.extend(item)
            on_chunks(len(item))
            while len(chunks) - embedded >= window:
                flush(embedded + window)
        if len(chunks) > embedded:
            flush(len(chunks))
    finally:
        reader.stop.set()
        reader.join()
    return chunks, (np.concatenate(parts) if parts else None), embed_s


class _EmbeddingBar:
    """The "embedding" progress task, added with the first chunks; its total grows as files are read."""

    def __init__(self, bar):
        self.bar, self.task, self.total = bar, None, 0

    def more(self, n: int) -> None:
        self.total += n
        if self.task is None:
            self.task = self.bar.add_task("embedding", total=self.total)
        else:
            self.bar.update(self.task, total=self.total)

    def done(self, n: int) -> None:
        self.bar.advance(self.task, n)


def check_paths(paths: list[str | Path]) -> None:
    """Fail now on a path that is neither a file nor a folder (the loaders' own one-line error), so a
    typo is reported before the store or the embedder is loaded."""
    for p in paths:
        q = Path(p).expanduser()
        if not (q.is_file() or q.is_dir()):
            list(iter_files([p], []))


def sync_paths(store: Store, embedder: Embedder, paths: list[str | Path], settings: Settings,
               sync: bool = False, show_progress: bool | None = None, note: str = "") -> IngestReport:
    rep = IngestReport()
    t0 = time.perf_counter()
    skipped: list[SkippedFile] = []
    files = list(iter_files(paths, settings.ingest.extensions, settings.ingest.follow_symlinks_outside,
                            skipped.append))
    rep.failed.extend((os.path.abspath(s.path), s.error) for s in skipped)
    t_list = time.perf_counter()
    known = store.sources()
    chunker = _LazyChunker(embedder, settings)
    with progress(show_progress) as bar:
        reading = bar.add_task("reading", total=len(files))
        reader = _Reader(files, known, chunker, settings, rep, lambda: bar.advance(reading))
        shown = _EmbeddingBar(bar)
        chunks, vectors, embed_s = _read_and_embed(reader, embedder, settings.ingest.batch_size,
                                                   shown.more, shown.done)
        hashes, replace = reader.hashes, reader.replace
        if sync:
            roots = [Path(p).resolve() for p in paths if Path(p).is_dir()]
            # also what a link in the folder led to before the link was skipped (e.g. outside it)
            left_out = {str(s.target) for s in skipped if s.target is not None}
            rep.removed = sorted(s for s in known if s not in reader.seen and (_under(s, roots) or s in left_out))
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
    # read_chunk_s: the reader thread's time (listing included); embed_s: time in encode. They overlap,
    # so together they can exceed read_embed_s, the wall time of both.
    rep.timings = {"read_chunk_s": reader.busy_s + (t_list - t0), "embed_s": embed_s, "read_embed_s": t2 - t_list,
                   "store_s": t3 - t2, "total_s": t3 - t0}
    return rep
