"""The gate every request passes: size limits, authentication, rate limit, local-only checks, metrics.

A plain ASGI middleware rather than a Starlette ``BaseHTTPMiddleware``: it must count the bytes
of a body as they arrive (a chunked upload has no Content-Length) and it must not buffer
streamed answers.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragtune.serve.auth import host_is_local
from ragtune.serve.errors import APIError
from ragtune.serve.state import ServerState

PUBLIC = ("/health", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/", "/reports/")  # /reports/ links carry their own signature
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MB = 1024 * 1024


class BodyTooLarge(StarletteHTTPException):
    """Raised while a body is read; an HTTPException so FastAPI's body parser lets it through."""

    def __init__(self, limit_mb: float, what: str):
        super().__init__(
            413,
            f"the {what} is larger than the limit of {limit_mb:g} MB; "
            f"send less or raise serve.max_{'upload' if what == 'upload' else 'request'}_mb",
        )


def is_upload(method: str, path: str) -> bool:
    return method == "POST" and path.startswith("/v1/kbs/") and path.endswith("/documents")


def is_public(path: str) -> bool:
    return path == "/" or path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return v.decode("latin-1")
    return None


class Gate:
    def __init__(self, app: ASGIApp, state: ServerState):
        self.app = app
        self.state = state

    def _check(self, scope: Scope) -> APIError | None:
        """Refuse the request before it runs, or record who sent it in ``scope['state']``."""
        st = self.state
        method, path = scope["method"], scope["path"]
        client = (scope.get("client") or (None, None))[0]
        if not st.auth.enabled:
            if not host_is_local(_header(scope, b"host")):
                return APIError(
                    403,
                    "this server has no API key configured and answers requests for localhost "
                    "only; set serve.api_keys to serve other host names",
                    "local_only",
                )
            origin = _header(scope, b"origin")
            if origin and method not in SAFE_METHODS and not self._same_origin(scope, origin):
                return APIError(
                    403,
                    f"cross-site request from {origin} refused; add it to serve.cors_origins "
                    "or configure serve.api_keys",
                    "cross_site",
                )
        if is_public(path):
            return None
        try:
            principal = st.auth.authenticate(_header(scope, b"authorization"), client)
        except APIError as e:
            # failed attempts spend a bucket of the client's address, so keys cannot be guessed at speed
            wait = st.limiter.check(f"failed-{client}") if e.status == 401 else 0.0
            return self._too_many(wait) if wait else e
        scope.setdefault("state", {})["principal"] = principal
        wait = st.limiter.check(principal.key_id if st.auth.enabled else f"ip-{client}")
        return self._too_many(wait) if wait else None

    def _too_many(self, wait: float) -> APIError:
        self.state.metrics.inc("ragtune_rate_limited_total")
        per_minute = self.state.settings.serve.rate_limit_per_minute
        return APIError(
            429,
            f"rate limit of {per_minute} requests a minute reached; retry in {wait:.1f} s",
            "rate_limit_exceeded",
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )

    def _same_origin(self, scope: Scope, origin: str) -> bool:
        if origin in self.state.settings.serve.cors_origins:
            return True
        return urlsplit(origin).netloc.lower() == (_header(scope, b"host") or "").lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        m = self.state.metrics
        t0 = time.perf_counter()
        status = 500
        m.add("ragtune_requests_in_flight", 1)

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            error = self._check(scope)
            if error is None:
                error, receive = self._limit_body(scope, receive)
            if error is not None:
                await error.response()(scope, receive, send_and_record)
            else:
                await self.app(scope, receive, send_and_record)
        finally:
            m.add("ragtune_requests_in_flight", -1)
            route = scope.get("route")
            label = getattr(route, "path", None) or ("public" if is_public(scope["path"]) else "unmatched")
            labels = {"method": scope["method"], "route": label}
            m.inc("ragtune_requests_total", {**labels, "status": str(status)})
            m.observe("ragtune_request_duration_seconds", time.perf_counter() - t0, labels)
            if status >= 400:
                m.inc("ragtune_errors_total", {"route": label, "status": str(status)})

    def _limit_body(self, scope: Scope, receive: Receive) -> tuple[APIError | None, Receive]:
        s = self.state.settings.serve
        upload = is_upload(scope["method"], scope["path"])
        limit_mb = s.max_upload_mb if upload else s.max_request_mb
        limit = int(limit_mb * MB)
        what = "upload" if upload else "request body"
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                if int(length) > limit:
                    return APIError(413, BodyTooLarge(limit_mb, what).detail, "request_too_large"), receive
            except ValueError:
                return APIError(400, "the Content-Length header is not a number", "invalid_request"), receive
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit_mb, what)
            return message

        return None, counted
