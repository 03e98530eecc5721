"""``POST /v1/embeddings``: the vectors the knowledge bases use, in OpenAI's shape.

``model`` names a knowledge base (``KB`` or ``rag:KB``): the text is embedded with the embedder
that KB was built with, so a client gets exactly the vectors the KB searches. Any other
``model`` (for example ``default``) uses ``models.embedder`` of the server's config. The vectors
are L2-normalised float32, as stored; ``encoding_format: "base64"`` sends them as little-endian
float32 bytes, as OpenAI does; ``dimensions`` is refused (no truncation is offered).
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ragtune.embedding import get_embedder
from ragtune.kb import list_kbs, open_kb
from ragtune.registry import resolve
from ragtune.serve.errors import APIError
from ragtune.serve.routes import state

router = APIRouter()


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    input: str | list[str] = Field(...)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


def _embedder(settings, model: str):
    name = model.removeprefix("rag:")
    if name in list_kbs(settings):
        return open_kb(settings, name).embedder
    return get_embedder(resolve(settings.models.embedder, settings), settings.embedding.backend)


@router.post("/v1/embeddings")
async def embeddings(req: EmbeddingRequest, request: Request):
    texts = [req.input] if isinstance(req.input, str) else req.input
    if not texts or len(texts) > 256 or any(not isinstance(t, str) or not t for t in texts):
        raise APIError(400, "input: 1 to 256 non-empty strings (token arrays are not supported)",
                       "invalid_request", "input")
    if req.dimensions is not None:
        raise APIError(400, "dimensions is not supported: the vectors have the embedder's own size",
                       "unsupported_parameter", "dimensions")
    st = state(request)
    emb = await anyio.to_thread.run_sync(_embedder, st.settings, req.model)
    vecs = await anyio.to_thread.run_sync(emb.encode, texts)
    data: list[dict[str, Any]] = []
    for i, v in enumerate(vecs):
        value = base64.b64encode(v.astype("<f4").tobytes()).decode() if req.encoding_format == "base64" else \
            [float(x) for x in v]
        data.append({"object": "embedding", "index": i, "embedding": value})
    n = sum(len(t.split()) for t in texts)  # an estimate: the embedder's tokens are not counted
    return {"object": "list", "data": data, "model": req.model, "usage": {"prompt_tokens": n, "total_tokens": n}}
