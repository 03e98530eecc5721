"""The engine contract and the factory that builds the configured engine for a model.

Engines are found by name in the table of ``ragtune.generate.registry``, where the built-ins
register like third parties; this module imports none of them.

An engine takes chat messages and returns text. It renders the messages with the model's
own chat template into the exact prompt string it feeds the model (``render``), so
``--show-prompt`` and the run log show what the model really saw.
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
    timings: dict[str, float] = field(default_factory=dict)  # prompt_ms, decode_ms, total_ms, decode_tok_s


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
