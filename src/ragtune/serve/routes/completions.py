"""``POST /v1/completions``: a raw prompt to a generator, no chat template and no retrieval.

``model`` is ``base`` or ``base:MODEL`` (a generator of the registry); the prompt is fed to
llama.cpp exactly as sent. Sampling is as in ``/v1/chat/completions`` (greedy by default);
``stream``, ``n`` > 1, ``echo``, ``logprobs``, ``suffix`` and ``best_of`` are refused.
"""

from __future__ import annotations

import random
import time
import uuid

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ragtune.errors import RagtuneError
from ragtune.generate.base import GenParams, get_engine
from ragtune.registry import resolve
from ragtune.serve import pipelines
from ragtune.serve.errors import APIError, from_ragtune
from ragtune.serve.routes import state
from ragtune.serve.routes.chat import openai_usage

router = APIRouter()


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    prompt: str = Field(min_length=1)
    max_tokens: int = Field(16, ge=1, le=8192)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    stream: bool = False
    n: int = Field(1, ge=1, le=1, description="one completion per request")
    echo: bool = False
    logprobs: int | None = None
    suffix: str | None = None


def _refuse(req: CompletionRequest) -> None:
    for name, bad in (("stream", req.stream), ("echo", req.echo), ("logprobs", req.logprobs is not None),
                      ("suffix", req.suffix is not None)):
        if bad:
            raise APIError(400, f"{name} is not supported on /v1/completions; leave it out",
                           "unsupported_parameter", name)


@router.post("/v1/completions")
async def completions(req: CompletionRequest, request: Request):
    _refuse(req)
    st = state(request)
    ref = pipelines.parse(req.model)
    if ref.mode != "base":
        raise APIError(400, f"/v1/completions takes a generator (base or base:MODEL), not {req.model!r}; "
                       "use /v1/chat/completions for RAG and trained pipelines", "invalid_request", "model")
    pipelines.check_exists(st.settings, ref)
    stop = [req.stop] if isinstance(req.stop, str) else req.stop
    seed = req.seed if req.seed is not None else (random.randrange(2**31) if req.temperature else None)
    params = GenParams.from_settings(st.settings.generation, max_tokens=req.max_tokens, temperature=req.temperature,
                                     top_p=req.top_p, seed=seed, stop=stop, presence_penalty=req.presence_penalty,
                                     frequency_penalty=req.frequency_penalty)

    def run():
        engine = get_engine(resolve(ref.model or st.settings.models.generator, st.settings), st.settings.generation)
        if not hasattr(engine, "complete"):
            raise APIError(400, f"the {engine.name} engine takes chat messages only; use /v1/chat/completions",
                           "unsupported_parameter", "prompt")
        return engine.complete(req.prompt, params)

    try:
        g = await anyio.to_thread.run_sync(run)
    except RagtuneError as e:
        raise from_ragtune(e) from e
    usage = openai_usage(g.prompt_tokens, g.completion_tokens, g.cached_tokens)
    return {"id": "cmpl-" + uuid.uuid4().hex[:24], "object": "text_completion", "created": int(time.time()),
            "model": req.model, "system_fingerprint": None,
            "choices": [{"index": 0, "text": g.text, "logprobs": None, "finish_reason": g.finish_reason}],
            "usage": usage}
