"""The web page, health, Prometheus metrics, and the reports of past ``ragtune compare`` runs.

Reports live as folders ``data_dir/reports/<run_id>/`` holding ``report.html`` (self-contained)
and usually ``results.json`` and ``summary.md``. They are served with a sandbox policy so the
report's own scripts run in an opaque origin and cannot reach the page's stored API key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response

from ragtune import __version__
from ragtune.kb import list_kbs
from ragtune.serve.errors import APIError
from ragtune.serve.routes import state

router = APIRouter()
STATIC = Path(__file__).resolve().parent.parent / "static"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
REPORT_FILES = {
    "report.html": "text/html; charset=utf-8",
    "results.json": "application/json",
    "summary.md": "text/markdown; charset=utf-8",
}
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "frame-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
)
LINK_TTL_S = 600
REPORT_CSP = "sandbox allow-scripts allow-popups; default-src 'self' 'unsafe-inline' data: blob:"


@router.get("/", include_in_schema=False)
async def index():
    return FileResponse(
        STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}
    )


@router.get("/health")
async def health(request: Request):
    st = state(request)
    return {
        "status": "ok",
        "version": __version__,
        "auth": st.auth.enabled,
        "knowledge_bases": len(list_kbs(st.settings)),
        "generations_in_flight": st.metrics.value("ragtune_generations_in_flight"),
    }


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request):
    return PlainTextResponse(
        state(request).metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


def _report_summary(folder: Path) -> dict[str, Any]:
    html = folder / "report.html"
    out: dict[str, Any] = {
        "id": folder.name,
        "created": html.stat().st_mtime,
        "files": sorted(f for f in REPORT_FILES if (folder / f).exists()),
        "title": folder.name,
    }
    res = folder / "results.json"
    if res.exists() and res.stat().st_size < 20_000_000:
        try:
            data = json.loads(res.read_text())
        except (OSError, ValueError):
            return out
        if isinstance(data, dict):
            cfg = data.get("config") if isinstance(data.get("config"), dict) else {}
            out["title"] = str(data.get("title") or data.get("name") or cfg.get("name") or folder.name)
            out["task"] = data.get("task") or cfg.get("task")
            modes = data.get("modes") or cfg.get("modes")
            if isinstance(modes, list):
                out["modes"] = [_mode_name(m) for m in modes]
            elif isinstance(modes, dict):
                out["modes"] = list(modes)
    return out


def _mode_name(mode: Any) -> str:
    """A mode of ``results.json`` is a dict (``ModeInfo``: name, family, adapter...); older files hold names."""
    if isinstance(mode, dict):
        return str(mode.get("name") or "?")
    return str(mode)


def list_reports(data_dir: Path) -> list[dict[str, Any]]:
    root = data_dir / "reports"
    if not root.exists():
        return []
    rows = [
        _report_summary(d)
        for d in root.iterdir()
        if d.is_dir() and RUN_ID.match(d.name) and (d / "report.html").exists()
    ]
    return sorted(rows, key=lambda r: r["created"], reverse=True)


@router.get("/v1/reports")
async def reports(request: Request):
    return {"object": "list", "data": await anyio.to_thread.run_sync(list_reports, state(request).data_dir)}


@router.get("/v1/reports/{run_id}")
async def report(run_id: str, request: Request):
    return _report_file(request, run_id, "report.html")


def _signature(secret: bytes, run_id: str, expires: int) -> str:
    return hmac.new(secret, f"{run_id}|{expires}".encode(), hashlib.sha256).hexdigest()[:32]


@router.post("/v1/reports/{run_id}/link")
async def report_link(run_id: str, request: Request):
    """A URL that opens the report for ten minutes without the API key (a browser tab or iframe cannot
    send one). Signed with a secret of this process, for this report only."""
    _report_file(request, run_id, "report.html")  # 404 unless it exists
    expires = int(time.time()) + LINK_TTL_S
    sig = _signature(state(request).link_secret, run_id, expires)
    return {"url": f"/reports/{run_id}/report.html?expires={expires}&sig={sig}", "expires": expires}


@router.get("/reports/{run_id}/{name}", include_in_schema=False)
async def signed_report_file(run_id: str, name: str, request: Request, expires: int = 0, sig: str = ""):
    good = _signature(state(request).link_secret, run_id, expires)
    if expires < time.time() or not hmac.compare_digest(sig, good):
        raise APIError(403, "this report link has expired or is not valid; open the report from the page",
                       "invalid_link")
    return _report_file(request, run_id, name)


@router.get("/v1/reports/{run_id}/{name}")
async def report_file(run_id: str, name: str, request: Request):
    return _report_file(request, run_id, name)


def _report_file(request: Request, run_id: str, name: str) -> Response:
    if not RUN_ID.match(run_id) or name not in REPORT_FILES:
        raise APIError(404, f"no report file {run_id}/{name}; see GET /v1/reports", "report_not_found")
    root = (state(request).data_dir / "reports").resolve()
    path = (root / run_id / name).resolve()
    if path.parent.parent != root or not path.is_file():
        raise APIError(404, f"no report file {run_id}/{name}; see GET /v1/reports", "report_not_found")
    return FileResponse(path, media_type=REPORT_FILES[name], headers={"Content-Security-Policy": REPORT_CSP})
