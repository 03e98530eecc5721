"""Knowledge bases over HTTP: list, create, inspect, upload (upsert), delete documents, search.

Writes take the KB's write lock in a worker thread, so a KB has one writer at a time while
questions keep being answered from its last committed version; readers never see half an
ingest. Uploading or deleting needs a read-write key.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from ragtune.errors import KnowledgeBaseError, RagtuneError
from ragtune.kb import KnowledgeBase, check_name, list_kbs, open_kb
from ragtune.serve.auth import require_write
from ragtune.serve.errors import APIError
from ragtune.serve.routes import principal, state
from ragtune.serve.routes.chat import display_source
from ragtune.serve.state import ServerState
from ragtune.serve.uploads import Upload, doc_id, ingest_uploads, safe_name, uploads_dir
from ragtune.store import check_filters

router = APIRouter(prefix="/v1/kbs")
MAX_FILES = 100


def _kb(st: ServerState, name: str) -> KnowledgeBase:
    try:
        check_name(name)
    except KnowledgeBaseError as e:
        raise APIError(400, str(e), "invalid_kb_name", "kb") from e
    if name not in list_kbs(st.settings):
        have = ", ".join(list_kbs(st.settings)) or "none yet"
        raise APIError(
            404,
            f"there is no knowledge base {name!r} (have: {have}); create it with POST /v1/kbs "
            "or upload with ?create=true",
            "kb_not_found",
            "kb",
        )
    return open_kb(st.settings, name)


def _documents(st: ServerState, kb: KnowledgeBase) -> list[dict[str, Any]]:
    return [
        {
            "id": doc_id(d["source"]),
            "name": Path(d["source"]).name,
            "source": display_source(st, d["source"]),
            "title": d["title"],
            "documents": d["documents"],
            "chunks": d["chunks"],
            "ingested_at": d["ingested_at"],
        }
        for d in kb.store.documents()
    ]


def _info(st: ServerState, kb: KnowledgeBase, documents: bool, versions: bool) -> dict[str, Any]:
    info = kb.info()
    info.pop("path", None)
    out: dict[str, Any] = {"object": "kb", **info}
    if documents:
        out["documents_list"] = _documents(st, kb)
    if versions:
        out["versions_list"] = [
            {
                "version": v.version,
                "time": v.time,
                "added": v.added,
                "removed": v.removed,
                "note": st.public_path(v.note),
            }
            for v in reversed(kb.store.versions())
        ]
    return out


@router.get("")
async def list_knowledge_bases(request: Request):
    st = state(request)

    def work():
        return [_info(st, open_kb(st.settings, n), False, False) for n in list_kbs(st.settings)]

    return {"object": "list", "data": await anyio.to_thread.run_sync(work)}


class CreateKB(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field("", max_length=2000)


@router.post("", status_code=201)
async def create_knowledge_base(body: CreateKB, request: Request):
    st = state(request)
    require_write(principal(request))
    if body.name in list_kbs(st.settings):
        raise APIError(
            409, f"knowledge base {body.name!r} already exists; pick another name", "kb_exists", "name"
        )
    try:
        check_name(body.name)
    except KnowledgeBaseError as e:
        raise APIError(400, str(e), "invalid_kb_name", "name") from e

    def work():
        with st.kb_write_lock(body.name):
            kb = KnowledgeBase.create(st.settings, body.name, body.description)
            return _info(st, kb, False, False)

    return await anyio.to_thread.run_sync(work)


@router.get("/{kb}")
async def get_knowledge_base(kb: str, request: Request, documents: bool = True, versions: bool = True):
    """Stats and current version; with the list of documents and of versions unless turned off."""
    st = state(request)
    kbo = _kb(st, kb)
    return await anyio.to_thread.run_sync(_info, st, kbo, documents, versions)


@router.get("/{kb}/documents")
async def list_documents(kb: str, request: Request):
    st = state(request)
    kbo = _kb(st, kb)
    return {"object": "list", "data": await anyio.to_thread.run_sync(_documents, st, kbo)}


@router.post("/{kb}/documents")
async def upload_documents(kb: str, request: Request, create: bool = False):
    """Multipart upload of one or more files (any field name); each replaces the earlier file of its name."""
    st = state(request)
    require_write(principal(request))
    t0 = time.perf_counter()
    if create and kb not in list_kbs(st.settings):
        try:
            check_name(kb)
        except KnowledgeBaseError as e:
            raise APIError(400, str(e), "invalid_kb_name", "kb") from e

        def make():
            with st.kb_write_lock(kb):
                KnowledgeBase.create(st.settings, kb, exist_ok=True)

        await anyio.to_thread.run_sync(make)
    _kb(st, kb)
    limit = int(st.settings.serve.max_upload_mb * 1024 * 1024)
    form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES, max_part_size=limit)
    try:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise APIError(
                400,
                "no file in the request: send multipart/form-data with one or more file fields, "
                "e.g. curl -F file=@notes.md",
                "no_files",
                "files",
            )
        uploads, names = [], set()
        exts = st.settings.ingest.extensions
        for f in files:
            name = safe_name(f.filename, f.content_type, exts)
            if name in names:
                raise APIError(
                    400, f"two uploaded files are both named {name!r}; rename one", "duplicate_name"
                )
            names.add(name)
            uploads.append(Upload(name, await f.read(), f.filename or ""))
    finally:
        await form.close()
    m = st.metrics
    try:
        res = await anyio.to_thread.run_sync(ingest_uploads, st.settings, kb, uploads, st.kb_write_lock(kb))
    except RagtuneError:
        m.inc("ragtune_ingest_total", {"kb": kb, "op": "upload", "result": "error"})
        raise
    rep = res.report
    ok = rep.added or rep.updated or rep.unchanged
    m.inc("ragtune_ingest_total", {"kb": kb, "op": "upload", "result": "ok" if ok else "failed"})
    m.inc("ragtune_ingest_documents_total", {"kb": kb, "change": "added"}, len(rep.added))
    m.inc("ragtune_ingest_documents_total", {"kb": kb, "change": "updated"}, len(rep.updated))
    m.inc("ragtune_ingest_chunks_total", {"kb": kb, "change": "added"}, rep.chunks_added)
    m.inc("ragtune_ingest_chunks_total", {"kb": kb, "change": "removed"}, rep.chunks_removed)
    m.observe("ragtune_ingest_duration_seconds", time.perf_counter() - t0, {"kb": kb})
    if not ok:
        reasons = "; ".join(f["error"] or f["name"] for f in res.files)
        raise APIError(400, f"nothing was ingested: {reasons}", "ingest_failed", "files")
    return {
        "object": "kb.ingest",
        "kb": kb,
        "version": rep.version,
        "files": res.files,
        "chunks_added": rep.chunks_added,
        "chunks_removed": rep.chunks_removed,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _find_source(st: ServerState, kbo: KnowledgeBase, key: str) -> str:
    """A document by its API id, its source as listed, or its file name when that is unique."""
    rows = kbo.store.documents()
    for d in rows:
        src = d["source"]
        if key in (doc_id(src), display_source(st, src)):
            return src
    by_name = [d["source"] for d in rows if Path(d["source"]).name == key]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise APIError(
            409,
            f"{key!r} names {len(by_name)} documents; delete by id (GET /v1/kbs/{kbo.name}/documents)",
            "ambiguous_document",
            "id",
        )
    raise APIError(
        404,
        f"no document {key!r} in knowledge base {kbo.name!r}; see GET /v1/kbs/{kbo.name}/documents",
        "document_not_found",
        "id",
    )


@router.delete("/{kb}/documents/{key:path}")
async def delete_document(kb: str, key: str, request: Request):
    """Remove a document (a new KB version; older versions stay queryable with ``as_of``)."""
    st = state(request)
    require_write(principal(request))
    kbo = _kb(st, kb)

    def work():
        with st.kb_write_lock(kb):
            src = _find_source(st, kbo, key)
            rep = kbo.delete_source(src)
            path = Path(src)
            if path.parent == uploads_dir(st.settings, kb):
                path.unlink(missing_ok=True)
            return src, rep

    try:
        src, rep = await anyio.to_thread.run_sync(work)
    except RagtuneError:
        st.metrics.inc("ragtune_ingest_total", {"kb": kb, "op": "delete", "result": "error"})
        raise
    st.metrics.inc("ragtune_ingest_total", {"kb": kb, "op": "delete", "result": "ok"})
    st.metrics.inc("ragtune_ingest_documents_total", {"kb": kb, "change": "removed"})
    st.metrics.inc("ragtune_ingest_chunks_total", {"kb": kb, "change": "removed"}, rep.chunks_removed)
    return {
        "object": "kb.document.deleted",
        "id": doc_id(src),
        "source": display_source(st, src),
        "deleted": True,
        "version": rep.version,
        "chunks_removed": rep.chunks_removed,
    }


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int | None = Field(None, ge=1, le=100)
    mode: Literal["dense", "bm25", "hybrid"] | None = None
    filters: dict[str, str] | None = None
    as_of: int | None = Field(None, ge=0)


@router.post("/{kb}/search")
async def search(kb: str, body: SearchRequest, request: Request):
    st = state(request)
    kbo = _kb(st, kb)
    try:
        check_filters(body.filters)
    except RagtuneError as e:
        raise APIError(400, str(e), "invalid_request", "filters") from e

    def work():
        hits = kbo.search(body.query, k=body.top_k, mode=body.mode, filters=body.filters, as_of=body.as_of)
        return hits, dict(kbo.retriever.last_timings)

    hits, timings = await anyio.to_thread.run_sync(work)
    data = []
    for rank, h in enumerate(hits, 1):
        d = h.to_dict()
        d["source"], d["doc_id"] = display_source(st, d["source"]), display_source(st, d["doc_id"])
        data.append({"rank": rank, **d})
    return {"object": "list", "kb": kb, "query": body.query, "data": data, "timings": timings}
