"""Any OpenAI-compatible HTTP endpoint (vLLM, llama.cpp server, Ollama, a hosted API).

The key comes from the environment variable the model entry names, never from a file.
Nothing is called unless the user configured such an endpoint.

``GenParams.choices`` goes out as ``guided_choice`` (vLLM) and ``grammar`` (llama.cpp server).
An endpoint that rejects those fields (HTTP 400/422) is asked again without them, and not sent
them again; an endpoint that ignores them answers free text, so the caller checks the answer.
``GenParams.json_schema`` goes out as OpenAI's ``response_format``.

Connection failures and timeouts are retried (``httpx.HTTPTransport(retries=...)`` retries a
failed connect; a timeout or a 429/5xx answer is retried here, with a short backoff, streamed
or not: a stream only until its first piece of answer has gone out), and an error that remains
is one line naming the endpoint. The loop is ours because httpx retries only connects and the
``openai`` client (which retries) is not a dependency of the package.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator

import httpx

from ragtune.config import GenerationSettings
from ragtune.errors import EngineError
from ragtune.generate.base import Generation, GenParams, Message, check_choices, choice_grammar
from ragtune.generate.registry import register_engine
from ragtune.registry import ModelSpec

RETRY_STATUS = (429, 500, 502, 503, 504)  # answers worth asking again: rate-limited, overloaded, restarting


def _cached(usage: dict) -> int:
    """Prompt tokens the server read from its prompt cache (OpenAI's ``prompt_tokens_details``; vLLM and
    llama.cpp's server report it), 0 where it says nothing."""
    return int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)


@register_engine("http", auto_for=("http",))
class HttpEngine:
    name = "http"

    def __init__(self, spec: ModelSpec, settings: GenerationSettings, adapter: str | None = None,
                 timeout: float = 120.0, retries: int = 2, backoff: float = 0.5):
        if adapter:
            raise EngineError("an HTTP endpoint cannot load a local adapter; serve the adapter there instead")
        self.spec = spec
        self.url = spec.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        if spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise EngineError(f"model {spec.name!r} needs an API key in ${spec.api_key_env}; export it")
            headers["Authorization"] = f"Bearer {key}"
        self.retries, self.backoff = retries, backoff  # attempt n waits backoff * 2**n before the next
        self.client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=10.0),
                                   transport=httpx.HTTPTransport(retries=retries))
        self.constrains = True  # False once the endpoint refused the choice fields

    def render(self, messages: list[Message]) -> str:
        """The endpoint applies its own template; this shows the messages it was sent."""
        return "\n".join(f"<{m['role']}>\n{m['content']}" for m in messages)

    def _body(self, messages: list[Message], params: GenParams, stream: bool) -> dict:
        body = {"model": self.spec.model, "messages": messages, "max_tokens": params.max_tokens,
                "temperature": params.temperature, "top_p": params.top_p, "seed": params.seed, "stream": stream}
        if params.stop:
            body["stop"] = params.stop
        if params.presence_penalty or params.frequency_penalty:
            body["presence_penalty"], body["frequency_penalty"] = params.presence_penalty, params.frequency_penalty
        if params.json_schema is not None:
            body["response_format"] = (
                {"type": "json_object"} if params.json_schema == {"type": "object"}
                else {"type": "json_schema", "json_schema": {"name": "answer", "schema": params.json_schema}})
        if params.choices and self.constrains:
            choices = check_choices(params.choices)
            body["guided_choice"] = choices
            body["grammar"] = choice_grammar(choices)
        return body

    def _refused_choices(self, e: Exception, params: GenParams) -> bool:
        """Whether ``e`` is the endpoint refusing the choice fields; if so, they are not sent again."""
        if (params.choices and self.constrains and isinstance(e, httpx.HTTPStatusError)
                and e.response.status_code in (400, 422)):
            self.constrains = False
            return True
        return False

    def _fail(self, e: Exception) -> EngineError:
        if isinstance(e, httpx.HTTPStatusError):
            detail = ""
            try:
                detail = e.response.json().get("error", {}).get("message", "")
            except (ValueError, AttributeError, httpx.ResponseNotRead):
                pass
            why = f"HTTP {e.response.status_code}" + (f" ({detail})" if detail else "")
        else:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
        return EngineError(f"endpoint {self.spec.base_url} failed: {' '.join(why.split())}; "
                           "check base_url, the model name and the key")

    def _may_retry(self, attempt: int) -> bool:
        """Whether a failed attempt (counted from 0) is followed by another; if so, wait the backoff first."""
        if attempt >= self.retries:
            return False
        time.sleep(self.backoff * 2**attempt)
        return True

    def _post(self, body: dict) -> httpx.Response:
        """POST, retrying timeouts and 429/5xx answers ``self.retries`` times with a short backoff."""
        for attempt in itertools.count():
            try:
                r = self.client.post(self.url, json=body)
            except httpx.TimeoutException:
                if self._may_retry(attempt):
                    continue
                raise
            if r.status_code in RETRY_STATUS and self._may_retry(attempt):
                continue
            r.raise_for_status()
            return r
        raise AssertionError("unreachable")

    def generate(self, messages: list[Message], params: GenParams) -> Generation:
        t0 = time.perf_counter()
        try:
            data = self._post(self._body(messages, params, False)).json()
        except (httpx.HTTPError, ValueError) as e:
            if self._refused_choices(e, params):
                return self.generate(messages, params)
            raise self._fail(e) from e
        t1 = time.perf_counter()
        usage = data.get("usage") or {}
        choice = data["choices"][0]
        return Generation(choice["message"]["content"] or "", usage.get("prompt_tokens", 0),
                          usage.get("completion_tokens", 0), choice.get("finish_reason") or "stop",
                          {"total_ms": (t1 - t0) * 1e3}, cached_tokens=_cached(usage))

    def stream(self, messages: list[Message], params: GenParams) -> Iterator[str | Generation]:
        if params.choices:  # a constrained answer is a few tokens: no need to stream it
            g = self.generate(messages, params)
            yield g.text
            yield g
            return
        t0 = time.perf_counter()
        body = self._body(messages, params, True)
        for attempt in itertools.count():
            pieces: list[str] = []
            finish = "stop"
            usage: dict = {}
            try:
                with self.client.stream("POST", self.url, json=body) as r:
                    if r.status_code in RETRY_STATUS and attempt < self.retries:
                        r.close()  # hand the connection back before waiting
                        self._may_retry(attempt)
                        continue
                    if r.is_error:
                        r.read()  # so that the error line can quote the endpoint's own message
                    r.raise_for_status()
                    for line in r.iter_lines():
                        if not line.startswith("data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            break
                        data = json.loads(payload)
                        usage = data.get("usage") or usage
                        if not data.get("choices"):
                            continue
                        choice = data["choices"][0]
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            pieces.append(piece)
                            yield piece
                        finish = choice.get("finish_reason") or finish
                break
            except httpx.TimeoutException as e:
                # Retried only while no piece has gone out: the caller may have shown the first pieces
                # already, and a second request would repeat or contradict them. After that, the error ends it.
                if not pieces and self._may_retry(attempt):
                    continue
                raise self._fail(e) from e
            except (httpx.HTTPError, ValueError) as e:
                raise self._fail(e) from e
        yield Generation("".join(pieces).strip(), usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                         finish, {"total_ms": (time.perf_counter() - t0) * 1e3}, cached_tokens=_cached(usage))
