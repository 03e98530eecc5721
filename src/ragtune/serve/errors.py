"""Errors in OpenAI's JSON shape, so OpenAI clients show the message instead of a parse failure.

Every error response of the server is ``{"error": {"message", "type", "param", "code"}}`` with
a one-line message that names the problem and the fix, like the rest of ragtune. A 500 never
shows an exception type or an absolute path (they help an attacker, not the client): a bug's
500 says only its incident id, whose traceback is in the server log; an engine's 500 keeps its
message with each path cut to the file's name.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragtune.errors import ConfigError, EngineError, KnowledgeBaseError, ModelNotFoundError, RagtuneError

_log = logging.getLogger("ragtune.serve")
# An absolute file path (not the path of a URL: no word character, '.', ':', '/' or '~' before it)
_ABS_PATH = re.compile(r"(?<![\w.:/~])/(?:[^\s/'\"(),;:]+/)+(?=[^\s/'\"(),;:])")

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    501: "server_error",
    503: "server_error",
}


class APIError(Exception):
    """An error the API answers with ``status`` and OpenAI's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code, self.param)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": param,
            "code": code,
        }
    }


def without_paths(message: str) -> str:
    """``message`` with every absolute file path cut to the file's name::

        >>> without_paths("could not load /home/me/models/x.gguf: bad magic; see http://host/v1/docs")
        'could not load x.gguf: bad magic; see http://host/v1/docs'
    """
    return _ABS_PATH.sub("", message)


def internal_error(e: BaseException, what: str = "internal error") -> APIError:
    """The 500 of a bug: logged with its traceback under a new incident id, which is all the body says."""
    incident = uuid.uuid4().hex[:12]
    _log.error("%s, incident %s", what, incident, exc_info=e)
    return APIError(500, f"{what} (incident {incident}); this is a bug in ragtune: report it with the server "
                    "log lines of this incident", "internal_error")


def from_ragtune(e: RagtuneError) -> APIError:
    """The HTTP status for an error ragtune raised on purpose (a user mistake unless it says otherwise)."""
    msg = str(e)
    if isinstance(e, ModelNotFoundError):
        return APIError(404, msg, "model_not_found")
    if isinstance(e, KnowledgeBaseError) and msg.startswith("no knowledge base"):
        return APIError(404, msg, "kb_not_found")
    if isinstance(e, KnowledgeBaseError) and "being changed by another process" in msg:
        return APIError(409, msg, "kb_busy")
    if isinstance(e, EngineError) and "n_ctx" not in msg:
        return APIError(500, without_paths(msg), "engine_error")  # model files are named by their paths
    return APIError(400, msg, "config_error" if isinstance(e, ConfigError) else None)


def _validation_message(e: RequestValidationError) -> tuple[str, str | None]:
    first = e.errors()[0] if e.errors() else {}
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        return f"the request body is not valid JSON ({detail}); send a JSON object", None
    loc = [str(p) for p in first.get("loc", []) if p != "body"]
    field = ".".join(loc) or None
    msg = first.get("msg", "invalid request").removeprefix("Value error, ")
    if first.get("type") == "missing":
        return f"{field}: this field is required", field
    return (f"{field}: {msg}" if field else msg), field


def install(app: FastAPI) -> None:
    """Turn every error the app can raise into OpenAI's shape."""

    @app.exception_handler(APIError)
    async def _api(_: Request, e: APIError) -> JSONResponse:
        return e.response()

    @app.exception_handler(RagtuneError)
    async def _ragtune(_: Request, e: RagtuneError) -> JSONResponse:
        return from_ragtune(e).response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        msg, param = _validation_message(e)
        return APIError(400, msg, "invalid_request", param).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        if e.status_code == 404:
            msg = f"{request.method} {request.url.path} does not exist; see GET /v1/models and the README"
        elif e.status_code == 405:
            msg = f"{request.method} is not allowed on {request.url.path}"
        else:
            msg = str(e.detail)
        code = {413: "request_too_large"}.get(e.status_code)
        return JSONResponse(
            error_body(e.status_code, msg, code),
            status_code=e.status_code,
            headers=getattr(e, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        return internal_error(e).response()
