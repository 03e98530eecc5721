"""Knowledge bases: named, versioned collections of chunks, one per knowledge source.

Everything lives under ``<data_dir>/kbs/<name>/``: ``kb.json`` (what built it) and the store's
files (for the built-in LanceDB backend: the table and the version record). A KB remembers its
embedder; opening it with another one is an error, since vectors from two models cannot be
compared. It remembers the embedding backend too (``embedding_backend``; ``torch`` for knowledge
bases made before the record): another backend may search and extend it only if its vectors mix
with the recorded one's (``ragtune.embedding.mixable``: cosine above 0.99 on the same texts), so a
KB built with ``torch`` runs its queries through the faster ``onnx``, while ``onnx-int8`` (the
default for new knowledge bases) keeps knowledge bases of its own. It also remembers its store
backend (``store.backend`` when it was created; ``lance`` for knowledge bases made before the
setting existed) and talks to it only through ``Store``.
A server-backed store (``postgres``) keeps its data on the server; kb.json then records the
server's URL without its password (``store_url``), and ``kb.json`` is all there is under the folder.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ragtune.config import Settings
from ragtune.embedding import Embedder, fastest_mixing, get_embedder, mixable, resolve_backend
from ragtune.errors import DataError, KnowledgeBaseError
from ragtune.files import dir_size
from ragtune.ingest.sync import IngestReport, sync_paths
from ragtune.names import check_name as check_kb_name
from ragtune.registry import resolve
from ragtune.retrieve import Retriever
from ragtune.retrieve.retriever import check_query, check_top_k
from ragtune.runlog import RunLog
from ragtune.store import STORES, Filters, Store, copy_version, open_store, public_url, store_class, takes_url
from ragtune.types import Chunk, Hit


def check_name(name: str) -> str:
    return check_kb_name(name, "knowledge base", KnowledgeBaseError)


def kb_root(settings: Settings, name: str) -> Path:
    return Path(settings.data_dir) / "kbs" / check_name(name)


DEFAULT_BACKEND = "lance"  # the store of a kb.json written before kb.json recorded one


class KnowledgeBase:
    """One knowledge base. Use ``KnowledgeBase.create`` / ``KnowledgeBase.open`` (or ``open_kb``)."""

    def __init__(self, settings: Settings, name: str, meta: dict[str, Any]):
        self.settings = settings
        self.name = name
        self.root = kb_root(settings, name)
        self.meta = meta
        self._embedder: Embedder | None = None
        self._store: Store | None = None
        self._retriever: Retriever | None = None

    # ---- lifecycle --------------------------------------------------------------------------
    @classmethod
    def create(cls, settings: Settings, name: str, description: str = "", exist_ok: bool = False) -> KnowledgeBase:
        root = kb_root(settings, name)
        if (root / "kb.json").exists():
            if exist_ok:
                return cls.open(settings, name)
            raise KnowledgeBaseError(f"knowledge base {name!r} already exists; pick another name or delete it first")
        store_class(settings.store.backend)  # an unknown backend fails before anything is loaded or written
        spec = resolve(settings.models.embedder, settings)
        emb = get_embedder(spec, settings.embedding.backend)  # cheap: the size is read from the folder
        meta = {"name": name, "description": description, "created": time.time(),
                "embedder": spec.name, "embedder_path": spec.path, "embedder_fingerprint": spec.fingerprint(),
                "embedding_backend": emb.backend_name, "dim": emb.dim, "chunking": settings.chunking.model_dump()}
        return cls._make(settings, name, meta)

    @classmethod
    def _make(cls, settings: Settings, name: str, meta: dict[str, Any]) -> KnowledgeBase:
        """Open the store of ``settings.store`` for a new knowledge base, then write its kb.json."""
        root = kb_root(settings, name)
        backend = settings.store.backend
        url = settings.store.url if takes_url(backend) else None
        meta = {**meta, "store": backend}
        if url:
            meta["store_url"] = public_url(url)  # the password stays in the URL given, never in kb.json
        fresh = not root.exists()
        root.mkdir(parents=True, exist_ok=True)
        try:
            if url:  # a server is checked now; a local store makes its files when first opened
                open_store(backend, root, int(meta["dim"]), url)
        except BaseException:
            if fresh:
                shutil.rmtree(root, ignore_errors=True)
            raise
        tmp = root / "kb.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1))
        tmp.replace(root / "kb.json")
        return cls(settings, name, meta)

    @classmethod
    def copy(cls, settings: Settings, src: str, dst: str, description: str | None = None) -> KnowledgeBase:
        """A new knowledge base ``dst`` in ``settings.store`` holding the current version of ``src``.

        The embedder record comes along and nothing is re-embedded, so the copy ranks as ``src`` does.
        """
        source = cls.open(settings, src)
        if (kb_root(settings, dst) / "kb.json").exists():
            raise KnowledgeBaseError(f"knowledge base {dst!r} already exists; pick another name or delete it first")
        store_class(settings.store.backend)
        v = source.version()
        keep = ("embedder", "embedder_path", "embedder_fingerprint", "embedding_backend", "dim", "chunking")
        meta = {"name": dst, "description": source.meta.get("description", "") if description is None else description,
                "created": time.time(), **{k: source.meta[k] for k in keep if k in source.meta},
                "copied_from": {"kb": src, "version": v}}
        kb = cls._make(settings, dst, meta)
        try:
            copy_version(source.store, kb.store, v, note=f"copy of {src} version {v}")
        except BaseException:
            # undo only what this copy made: a server-side knowledge base that already held
            # versions (the same name on a shared server) is left as it was
            if kb.store.version() == 0 and hasattr(kb.store, "drop"):
                kb.store.drop()
            shutil.rmtree(kb.root, ignore_errors=True)
            raise
        return kb

    @classmethod
    def open(cls, settings: Settings, name: str) -> KnowledgeBase:
        root = kb_root(settings, name)
        try:
            meta = json.loads((root / "kb.json").read_text())
        except FileNotFoundError:
            have = ", ".join(list_kbs(settings)) or "none yet"
            raise KnowledgeBaseError(
                f"no knowledge base {name!r} in {settings.data_dir} (have: {have}); create it: ragtune kb create {name}"
            ) from None
        return cls(settings, name, meta)

    @staticmethod
    def delete(settings: Settings, name: str) -> None:
        root = kb_root(settings, name)
        if not (root / "kb.json").exists():
            raise KnowledgeBaseError(f"no knowledge base {name!r} to delete")
        kb = _open.pop((str(Path(settings.data_dir).resolve()), name), None) or KnowledgeBase.open(settings, name)
        if hasattr(STORES.get(kb.meta.get("store", DEFAULT_BACKEND)), "drop"):
            kb.store.drop()  # a server-backed store: its data is not under root
        shutil.rmtree(root)

    # ---- parts, loaded lazily ---------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            spec = resolve(self.meta["embedder"], self.settings)
            if spec.fingerprint() != self.meta["embedder_fingerprint"]:
                raise KnowledgeBaseError(
                    f"knowledge base {self.name!r} was built with embedder {self.meta['embedder']} "
                    f"({self.meta['embedder_path']}), whose files have changed; re-create the knowledge base"
                )
            self._embedder = get_embedder(spec, self.embedding_backend())
        return self._embedder

    def embedding_backend(self) -> str:
        """The backend this knowledge base embeds with now: ``embedding.backend`` when set and its vectors
        mix with the recorded backend's (else an error); unset (``auto``), the fastest installed backend
        whose vectors mix with the recorded one's."""
        recorded = self.meta.get("embedding_backend", "torch")  # made before the record: sentence-transformers
        configured = self.settings.embedding.backend
        if configured == "auto":
            return fastest_mixing(recorded)
        use = resolve_backend(configured)
        if not mixable(use, recorded):
            raise KnowledgeBaseError(
                f"knowledge base {self.name!r} was built with embedding backend {recorded}, whose vectors do not "
                f"mix with {use}'s (their cosine on the same texts falls below 0.99); use embedding.backend = "
                f"{recorded} (or auto) for it, or re-create the knowledge base with {use}")
        return use

    @property
    def store(self) -> Store:
        if self._store is None:
            st = self.settings.store
            self._store = open_store(self.meta.get("store", DEFAULT_BACKEND), self.root, int(self.meta["dim"]),
                                     self._store_url(), index_threshold=st.index_threshold,
                                     dense_scan=st.dense_scan, text_candidates=st.text_candidates,
                                     ef_search=st.ef_search)
        return self._store

    def _store_url(self) -> str | None:
        """kb.json's server URL, with the password of ``store.url`` when that names the same server."""
        url = self.meta.get("store_url")
        given = self.settings.store.url
        return given if url and given and public_url(given) == url else url

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            rr = self.settings.models.reranker
            self._retriever = Retriever(self.store, self.embedder, self.settings.retrieval,
                                        resolve(rr, self.settings) if rr else None)
        return self._retriever

    # ---- operations ---------------------------------------------------------------------------
    def _log(self, kind: str, extra: dict[str, Any]):
        return RunLog(self.settings.data_dir).run(kind, {"kb": self.name, **extra}, name=self.name)

    def ingest(self, paths: list[str | Path], sync: bool = False, show_progress: bool | None = None) -> IngestReport:
        with self._log("ingest", {"paths": [str(p) for p in paths], "sync": sync,
                                  "chunking": self.settings.chunking.model_dump(),
                                  "ingest": self.settings.ingest.model_dump()}) as run:
            rep = sync_paths(self.store, self.embedder, paths, self.settings, sync=sync, show_progress=show_progress)
            run.update(rep.to_dict())
        return rep

    def delete_source(self, source: str | Path) -> IngestReport:
        """Remove every chunk of one source file (by its path, as ingested)."""
        src = str(Path(source).resolve())
        known = self.store.sources()
        if src not in known and str(source) in known:
            src = str(source)
        if src not in known:
            raise KnowledgeBaseError(
                f"{source} is not in knowledge base {self.name!r}; see: ragtune kb info {self.name} --documents"
            )
        rep = IngestReport(removed=[src])
        with self._log("delete", {"source": src}) as run:
            try:
                rep.chunks_removed = self.store.delete_sources([src])
                v = self.store.commit(f"delete {src}")
            except BaseException:
                self.store.rollback()
                raise
            rep.version = v.version if v else self.store.version()
            run.update(rep.to_dict())
        return rep

    def search(self, query: str, k: int | None = None, mode: str | None = None, filters: Filters | None = None,
               where: str | None = None, as_of: int | None = None) -> list[Hit]:
        """The ranked chunks for ``query``; ``k=None`` is ``retrieval.top_k``; k < 1 or a blank query is an error.

        ``filters``: field -> value or list of values on ``ragtune.store.FILTER_FIELDS``, e.g.
        ``{"source": "/docs/a.txt"}``. ``where``: a raw filter in the store's own language
        (LanceDB SQL for the built-in backend); a backend without one refuses it.
        """
        check_query(query)
        k = check_top_k(k)
        return self.retriever.search(query, k=k, mode=mode, filters=filters, version=as_of, where=where)

    def version(self) -> int:
        return self.store.version()

    def info(self) -> dict[str, Any]:
        docs = self.store.documents()
        versions = self.store.versions()
        return {"name": self.name, "description": self.meta.get("description", ""),
                "embedder": self.meta["embedder"], "embedding_backend": self.meta.get("embedding_backend", "torch"),
                "dim": self.meta["dim"], "version": versions[-1].version,
                "versions": len(versions), "sources": len(docs), "documents": sum(d["documents"] for d in docs),
                "chunks": self.store.count(), "size_bytes": self._size(), "created": self.meta["created"],
                "path": str(self.root), "store": self.meta.get("store", DEFAULT_BACKEND)}

    def location(self) -> str:
        """Where the chunks live: the folder, or the server (URL without password) and schema."""
        return getattr(self.store, "location", str(self.root))

    def _size(self) -> int:
        size = getattr(self.store, "size_bytes", None)  # a server-backed store knows its own size
        return dir_size(self.root) + (size() if size else 0)


def list_kbs(settings: Settings) -> list[str]:
    base = Path(settings.data_dir) / "kbs"
    return sorted(p.name for p in base.iterdir() if (p / "kb.json").exists()) if base.exists() else []


_open: dict[tuple[str, str], KnowledgeBase] = {}
_open_lock = threading.Lock()


def kb_chunks(settings: Settings, name: str) -> list[Chunk]:
    """Every chunk of the current version of knowledge base ``name``, in a stable order (what the
    documents-based recipes train on: the same chunks RAG retrieves)."""
    chunks = open_kb(settings, name).store.all_chunks()
    if not chunks:
        raise DataError(f"knowledge base {name!r} is empty; add documents: ragtune ingest --kb {name} PATH")
    return chunks


def open_kb(settings: Settings, name: str) -> KnowledgeBase:
    """The process-wide open handle of a knowledge base (keeps its vector cache warm)."""
    key = (str(Path(settings.data_dir).resolve()), name)
    with _open_lock:
        kb = _open.get(key)
        if kb is None or not (kb.root / "kb.json").exists():
            kb = KnowledgeBase.open(settings, name)
            _open[key] = kb
        if kb.settings is not settings:
            kb.settings, kb._retriever = settings, None
    return kb
