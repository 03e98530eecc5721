"""The engine contract and the factory that builds the configured engine for a model.

Engines are found by name in the table of ``ragtune.generate.registry``, where the built-ins
register like third parties; this module imports none of them.

An engine takes chat messages and returns text. It renders the messages with the model's
own chat template into the exact prompt string it feeds the model (``render``), so
``--show-prompt`` and the run log show what the model really saw.

``GenParams.choices`` asks for an answer that is exactly one of a few strings (a label set):
llama.cpp decodes under a grammar that allows only them (``choice_grammar``), transformers
scores each choice's likelihood and answers with the likeliest, and an HTTP endpoint is sent
the constraint in the fields vLLM and llama.cpp servers read (other servers may ignore it,
so a caller checks the answer against its choices).

``GenParams.json_schema`` asks for JSON that holds a schema: llama.cpp decodes under the grammar
llama.cpp derives from the schema (``LlamaGrammar.from_json_schema``); other engines refuse it.
``trim_history`` lets a conversation longer than ``n_ctx`` lose its oldest turns (the count is
``Generation.timings["trimmed_messages"]``) rather than fail.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ragtune.config import GenerationSettings
from ragtune.errors import ConfigError, EngineError
from ragtune.generate.registry import auto_engine, engine_class
from ragtune.registry import ModelSpec

Message = dict[str, str]


@dataclass
class GenParams:
    max_tokens: int = 96
    temperature: float = 0.0  # 0 = greedy, so answers are reproducible
    top_p: float = 1.0
    seed: int = 0
    stop: list[str] = field(default_factory=list)
    choices: list[str] | None = None  # answer with exactly one of these (None: free text)
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    json_schema: dict | None = None  # answer with JSON that holds this schema ({"type": "object"}: any object)
    trim_history: bool = False  # too long: drop the oldest turns after the system prompt instead of failing

    @classmethod
    def from_settings(cls, s: GenerationSettings, **override) -> GenParams:
        p = cls(s.max_tokens, s.temperature, s.top_p, s.seed)
        for k, v in override.items():
            if v is not None:
                setattr(p, k, v)
        return p


@dataclass
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    timings: dict[str, float] = field(default_factory=dict)  # prompt_ms, decode_ms, total_ms, decode_tok_s, threads
    choice_logprobs: dict[str, float] = field(default_factory=dict)  # per choice, where the engine scores them
    cached_tokens: int = 0  # of prompt_tokens, read from the engine's prompt cache instead of computed


def check_choices(choices: list[str]) -> list[str]:
    """The choices of a constrained generation, or an error naming what is wrong with them."""
    if not choices or any(not isinstance(c, str) or not c.strip() for c in choices):
        raise EngineError(f"choices must be a non-empty list of non-empty strings, not {choices!r}")
    return list(dict.fromkeys(choices))


def _gbnf_literal(text: str) -> str:
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def choice_grammar(choices: list[str]) -> str:
    """A llama.cpp grammar (GBNF) that matches exactly one of ``choices``.

    >>> choice_grammar(["great", 'say "hi"'])
    'root ::= "great" | "say \\\\"hi\\\\""'
    """
    return "root ::= " + " | ".join(_gbnf_literal(c) for c in check_choices(choices))


class Engine(Protocol):
    name: str

    def render(self, messages: list[Message]) -> str: ...

    def generate(self, messages: list[Message], params: GenParams) -> Generation: ...

    def stream(self, messages: list[Message], params: GenParams) -> Iterator[str | Generation]:
        """Yield text pieces as they are decoded, then one final ``Generation`` with the totals."""
        ...


def last_generation(pieces: Iterator[str | Generation]) -> Generation:
    """Drain an engine's ``stream`` and return its final ``Generation``."""
    out: Generation | None = None
    for piece in pieces:
        if isinstance(piece, Generation):
            out = piece
    if out is None:
        raise EngineError("the engine's stream ended without a result; this is a bug in the engine")
    return out


_cache: dict[tuple, Engine] = {}
_cache_lock = threading.Lock()


def get_engine(spec: ModelSpec, settings: GenerationSettings, adapter: str | None = None) -> Engine:
    """One engine per (model, adapter, engine kind) and process: models load once.

    The engine is ``settings.engine`` looked up in the engine table (``"auto"``: the engine
    registered for the model's kind), built as ``cls(spec, settings, adapter)``.
    """
    kind = settings.engine
    if kind == "auto":
        kind = auto_engine(spec.kind) or ""
        if not kind:
            raise ConfigError(f"model {spec.name!r} is a {spec.kind} model, not a generator; "
                              "set models.generator to a .gguf file, a Hugging Face folder or an http endpoint")
    cls = engine_class(kind)
    key = (spec, adapter, kind, settings.n_ctx, settings.threads)
    with _cache_lock:
        eng = _cache.get(key)
        if eng is None:
            eng = cls(spec, settings, adapter)
            _cache[key] = eng
    return eng


def clear_engines() -> None:
    with _cache_lock:
        _cache.clear()
