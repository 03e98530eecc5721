"""The engine contract and the factory that picks an engine for a model.

An engine takes chat messages and returns text. It renders the messages with the model's
own chat template into the exact prompt string it feeds the model (``render``), so
``--show-prompt`` and the run log show what the model really saw.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ragtune.config import GenerationSettings
from ragtune.errors import ConfigError, EngineError
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


def _cpu_times() -> tuple[float, float, float] | None:
    """(busy, total) jiffies of the whole machine and this process's own CPU jiffies, from /proc."""
    try:
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return total - idle, total, float(own[11]) + float(own[12])  # utime + stime of every thread


def busy_elsewhere(sample_s: float = 0.25) -> float | None:
    """Cores kept busy by other processes right now (a short /proc sample; None where unknown).

    Our own threads are left out, so a process that just finished heavy work still sees the
    machine as free; the load average would count it for another minute.
    """
    a = _cpu_times()
    if a is None:
        return None
    time.sleep(sample_s)
    b = _cpu_times()
    if b is None or b[1] <= a[1]:
        return None
    cpus = os.cpu_count() or 1
    others = ((b[0] - a[0]) - (b[2] - a[2])) / (b[1] - a[1]) * cpus
    return max(0.0, others)


def free_threads(requested: int = 0) -> int:
    """Threads for CPU inference and training: the setting if given, else the cores not busy now.

    On a 2-core machine with the other core loaded, 2 llama.cpp threads ran 30x slower than 1,
    so cores busy with other processes are left alone.
    """
    if requested:
        return requested
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    others = busy_elsewhere()
    if others is None:
        try:
            others = os.getloadavg()[0]
        except OSError:
            others = 0.0
    return max(1, min(cpus, cpus - int(others + 0.5)))


_cache: dict[tuple, Engine] = {}
_cache_lock = threading.Lock()


def get_engine(spec: ModelSpec, settings: GenerationSettings, adapter: str | None = None) -> Engine:
    """One engine per (model, adapter, engine kind) and process: models load once."""
    kind = settings.engine
    if kind == "auto":
        kind = {"gguf": "llama.cpp", "hf": "transformers", "http": "http"}.get(spec.kind, "")
        if not kind:
            raise ConfigError(f"model {spec.name!r} is a {spec.kind} model, not a generator; "
                              "set models.generator to a .gguf file, a Hugging Face folder or an http endpoint")
    key = (spec, adapter, kind, settings.n_ctx, settings.threads)
    with _cache_lock:
        eng = _cache.get(key)
        if eng is None:
            if kind == "llama.cpp":
                from ragtune.generate.llamacpp import LlamaCppEngine

                if spec.kind != "gguf":
                    raise ConfigError(f"generation.engine=llama.cpp needs a .gguf model, not {spec.kind} {spec.name!r}")
                eng = LlamaCppEngine(spec, settings, adapter)
            elif kind == "transformers":
                from ragtune.generate.hf import TransformersEngine

                eng = TransformersEngine(spec, settings, adapter)
            elif kind == "http":
                from ragtune.generate.http import HttpEngine

                if adapter:
                    raise EngineError("an HTTP endpoint cannot load a local adapter; serve the adapter there instead")
                eng = HttpEngine(spec, settings)
            else:  # pragma: no cover - guarded by the config literal
                raise ConfigError(f"unknown engine {kind!r}")
            _cache[key] = eng
    return eng


def clear_engines() -> None:
    with _cache_lock:
        _cache.clear()
