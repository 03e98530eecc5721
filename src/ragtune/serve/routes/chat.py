"""``POST /v1/chat/completions`` and ``GET /v1/models``, shaped like OpenAI's so its clients work unchanged.

The answer's citations travel in two extra fields OpenAI clients ignore: ``citations`` (the
numbered passages: source, chunk id, excerpt, score, and the whole chunk text) and ``ragtune``
(pipeline, knowledge-base version, timings, whether the pipeline abstained). In a stream they
come with the last chunk, the one that carries ``finish_reason``.

The whole conversation reaches the model (``ragtune.generate.conversation``: earlier turns as chat
turns, oldest dropped first when too long, ``ragtune.trimmed_messages`` says how many); a RAG
follow-up is searched with its standalone rewrite (``ragtune.search_query``, from
``Pipeline.search_query``, the same as ``ragtune ask --chat``).

With ``serve.parallel`` N > 1 the llama.cpp engine decodes up to N answers at once, each in its
own context, so a short answer does not wait behind a long one while a context is free.

Sampling: ``temperature``, ``top_p``, ``seed``, ``stop``, ``max_tokens``, ``presence_penalty`` and
``frequency_penalty`` are honoured; a request with none of them decodes greedily (the server's
``[generation]`` settings), and ``temperature > 0`` without ``seed`` draws a fresh seed.
``response_format`` ``json_object`` / ``json_schema`` decode under a llama.cpp grammar. ``tools``
are refused with a 400 (unless ``tool_choice`` is ``"none"``, which asks for no tool call).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ragtune.errors import RagtuneError
from ragtune.generate.conversation import Conversation, ConversationError
from ragtune.serve import pipelines
from ragtune.serve.errors import APIError, error_body, from_ragtune, internal_error
from ragtune.serve.routes import state
from ragtune.serve.state import ServerState
from ragtune.serve.streaming import iterate_in_thread
from ragtune.store import check_filters
from ragtune.types import Answer

router = APIRouter()


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's request, plus ragtune's retrieval knobs (``top_k``, ``retrieval``, ``filters``, ``as_of``)."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    n: int = Field(1, ge=1, le=1, description="one answer per request")
    top_k: int | None = Field(None, ge=1, le=50)
    retrieval: Literal["dense", "bm25", "hybrid"] | None = None
    filters: dict[str, str] | None = None
    as_of: int | None = Field(None, ge=0)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None


def _json_schema(rf: dict[str, Any] | None) -> dict | None:
    """The schema a ``response_format`` asks for: None (free text), ``{"type": "object"}`` or the schema."""
    kind = (rf or {}).get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise APIError(400, 'response_format.json_schema.schema: a JSON schema object is required, as in '
                           '{"type": "json_schema", "json_schema": {"name": "x", "schema": {...}}}',
                           "invalid_request", "response_format")
        return schema
    raise APIError(400, f"response_format.type {kind!r} is not supported; use text, json_object or json_schema",
                   "invalid_request", "response_format")


def sampling_of(req: ChatRequest) -> dict[str, Any]:
    """The request's sampling as ``GenParams`` overrides (None: the server's setting)."""
    if req.tools and req.tool_choice != "none":
        raise APIError(400, "tools are not supported by this server (the bundled models do not call tools); "
                       'send the request without tools, or with tool_choice "none"', "unsupported_parameter",
                       "tools")
    stop = [req.stop] if isinstance(req.stop, str) else req.stop
    if stop is not None and (len(stop) > 4 or not all(stop)):
        raise APIError(400, "stop: up to 4 non-empty strings", "invalid_request", "stop")
    seed = req.seed
    if seed is None and req.temperature:
        seed = random.randrange(2**31)  # sampling without a seed: a different draw each time, as OpenAI
    return {"temperature": req.temperature, "top_p": req.top_p, "seed": seed, "stop": stop,
            "presence_penalty": req.presence_penalty, "frequency_penalty": req.frequency_penalty,
            "json_schema": _json_schema(req.response_format), "trim_history": True}


def conversation_of(req: ChatRequest) -> Conversation:
    try:
        return Conversation.parse([m.model_dump() for m in req.messages])
    except ConversationError as e:
        raise APIError(400, str(e), "invalid_request", "messages") from e


def display_source(st: ServerState, source: str) -> str:
    """A source path relative to the data folder when it lives there (uploads), so paths do not leak."""
    return st.public_path(source)


def citations_of(st: ServerState, answer: Answer) -> list[dict[str, Any]]:
    out = []
    for c in answer.citations:
        hit = answer.hits[c.number - 1] if 0 < c.number <= len(answer.hits) else None
        out.append(
            {
                "number": c.number,
                "chunk_id": c.chunk_id,
                "doc_id": display_source(st, c.doc_id),
                "source": display_source(st, c.source),
                "title": hit.chunk.title if hit else "",
                "text": c.text,
                "chunk_text": hit.chunk.text if hit else c.text,
                "score": c.score,
                "cited": c.cited,
                "method": c.method,
                "spans": [list(sp) for sp in c.spans],
            }
        )
    return out


def openai_usage(prompt: int, completion: int, cached: int) -> dict:
    """OpenAI's ``usage`` object (chat and text completions alike)."""
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


def _usage(answer: Answer) -> dict:
    u = answer.usage
    return openai_usage(int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0)),
                        int(u.get("cached_tokens", 0)))


def _extra(ref: pipelines.PipelineRef, answer: Answer, elapsed_s: float, search_query: str | None = None,
           ) -> dict[str, Any]:
    return {
        "search_query": search_query,
        "trimmed_messages": int(answer.timings.get("trimmed_messages", 0)),
        "pipeline": ref.id,
        "mode": answer.mode,
        "kb": answer.kb,
        "kb_version": answer.kb_version,
        "model": answer.model,
        "trained_model": ref.model if ref.mode != "base" else None,
        "abstained": answer.abstained,
        "timings": {**answer.timings, "server_ms": elapsed_s * 1e3},
        "usage": _usage(answer),
        "reader": answer.reader,
        "sentences": [x.to_dict() for x in answer.sentences],
    }


class _Chat:
    """One chat request in flight: its ids, the pipeline's stream, and its accounting."""

    def __init__(self, st: ServerState, req: ChatRequest):
        self.st = st
        self.req = req
        self.ref = pipelines.parse(req.model)
        pipelines.check_exists(st.settings, self.ref)
        conv = conversation_of(req)
        sampling = sampling_of(req)
        try:
            check_filters(req.filters)  # a bad filter is this request's 400, before anything streams
        except RagtuneError as e:
            raise APIError(400, str(e), "invalid_request", "filters") from e
        self.max_tokens = req.max_tokens or req.max_completion_tokens
        kw = dict(
            mode=self.ref.mode,
            kb=self.ref.kb,
            model=self.ref.model,
            top_k=req.top_k,
            retrieval=req.retrieval,
            filters=req.filters,
            as_of=req.as_of,
            max_tokens=self.max_tokens,
            sampling=sampling,
        )
        self.json = sampling["json_schema"] is not None
        self.search_query: str | None = None

        def run():
            self.search_query = st.pipeline.search_query(conv, self.ref.mode)
            yield from st.pipeline.chat_stream(conv, search_query=self.search_query, **kw)

        self.id = "chatcmpl-" + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self.t0 = time.perf_counter()
        self.stream = iterate_in_thread(run, st.generation_pool)
        self.first_token_s: float | None = None
        self.done = False
        st.metrics.add("ragtune_generations_in_flight", 1)

    async def next(self) -> str | Answer:
        item = await anext(self.stream)
        if self.first_token_s is None and isinstance(item, str):
            self.first_token_s = time.perf_counter() - self.t0
        return item

    def text(self, answer: Answer) -> str:
        """The answer; a JSON answer as decoded (the RAG clean-up of free text would alter it)."""
        return (answer.raw_text or answer.text) if self.json else answer.text

    def finish_reason(self, answer: Answer) -> str:
        limit = self.max_tokens or self.st.settings.generation.max_tokens
        return "length" if answer.usage.get("completion_tokens", 0) >= limit else "stop"

    def record(self, answer: Answer) -> None:
        m, mode = self.st.metrics, {"mode": self.ref.mode}
        m.inc("ragtune_tokens_total", {**mode, "kind": "prompt"}, answer.usage.get("prompt_tokens", 0))
        m.inc(
            "ragtune_tokens_total", {**mode, "kind": "completion"}, answer.usage.get("completion_tokens", 0)
        )
        m.observe("ragtune_generation_duration_seconds", time.perf_counter() - self.t0, mode)
        if self.first_token_s is not None:
            m.observe("ragtune_time_to_first_token_seconds", self.first_token_s, mode)

    async def close(self) -> None:
        """Stop the worker (it closes the pipeline's generator, releasing the engine) and account."""
        if not self.done:
            self.done = True
            self.st.metrics.add("ragtune_generations_in_flight", -1)
            await self.stream.aclose()  # runs no await itself, so it completes even in a cancelled scope

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.req.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


@router.post("/v1/chat/completions")
async def chat_completions(req: ChatRequest, request: Request):
    """Answer with the pipeline named by ``model``; ``stream: true`` sends server-sent events."""
    chat = _Chat(state(request), req)
    try:  # the first piece comes before any byte is sent, so early errors get a real status code
        first = await chat.next()
    except BaseException:
        await chat.close()
        raise
    if req.stream:
        return StreamingResponse(
            _events(chat, first),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        item = first
        while not isinstance(item, Answer):
            item = await chat.next()
    finally:
        await chat.close()
    answer = item
    chat.record(answer)
    return JSONResponse(
        {
            "id": chat.id,
            "object": "chat.completion",
            "created": chat.created,
            "model": req.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": chat.text(answer)},
                    "logprobs": None,
                    "finish_reason": chat.finish_reason(answer),
                }
            ],
            "usage": _usage(answer),
            "citations": citations_of(chat.st, answer),
            "ragtune": _extra(chat.ref, answer, time.perf_counter() - chat.t0, chat.search_query),
        }
    )


async def _events(chat: _Chat, first: str | Answer) -> AsyncIterator[str]:
    try:
        yield chat.chunk({"role": "assistant", "content": ""})
        item = first
        while not isinstance(item, Answer):
            if item:
                yield chat.chunk({"content": item})
            item = await chat.next()
        answer = item
        chat.record(answer)
        yield chat.chunk(
            {},
            chat.finish_reason(answer),
            citations=citations_of(chat.st, answer),
            ragtune=_extra(chat.ref, answer, time.perf_counter() - chat.t0, chat.search_query),
        )
        opts = chat.req.stream_options
        if opts is not None and opts.include_usage:
            usage = {
                "id": chat.id,
                "object": "chat.completion.chunk",
                "created": chat.created,
                "model": chat.req.model,
                "choices": [],
                "usage": _usage(answer),
            }
            yield f"data: {json.dumps(usage)}\n\n"
        yield "data: [DONE]\n\n"
    except Exception as e:  # headers are gone: the error travels as an event, as OpenAI does
        err = from_ragtune(e) if isinstance(e, RagtuneError) else internal_error(e, "generation failed")
        chat.st.metrics.inc("ragtune_errors_total", {"route": "/v1/chat/completions", "status": "stream"})
        yield f"data: {json.dumps(error_body(err.status, err.message, err.code))}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        await chat.close()


@router.get("/v1/models")
async def list_models(request: Request):
    """Every pipeline that can answer now: base, rag:KB per knowledge base, ft... per trained model."""
    import anyio

    data = await anyio.to_thread.run_sync(pipelines.list_pipelines, state(request).settings)
    return {"object": "list", "data": data}


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, request: Request):
    import anyio

    data = await anyio.to_thread.run_sync(pipelines.list_pipelines, state(request).settings)
    for m in data:
        if m["id"] == model_id:
            return m
    raise APIError(
        404, f"the model {model_id!r} does not exist; see GET /v1/models", "model_not_found", "model"
    )
