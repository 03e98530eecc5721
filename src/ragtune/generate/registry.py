"""The engine table: engine name -> class, and which engine ``engine = "auto"`` picks per model kind.

The built-in engines (llama.cpp, transformers, HTTP) register here exactly as a third-party
one does::

    from ragtune.generate import register_engine

    @register_engine("mine", auto_for=("mine-kind",))
    class MyEngine:
        name = "mine"
        def __init__(self, spec, settings, adapter=None): ...
        # render / generate / stream of ragtune.generate.Engine

Then ``generation.engine = "mine"`` (``[generation] engine`` in ragtune.toml, ``--set
generation.engine=mine``) builds it through :func:`ragtune.generate.get_engine`. Every engine
is built as ``cls(spec, settings, adapter)`` and refuses, with one line, what it cannot load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from ragtune.errors import ConfigError

ENGINES: dict[str, type] = {}
AUTO: dict[str, str] = {}  # model kind (ModelSpec.kind) -> the engine name "auto" picks for it

T = TypeVar("T", bound=type)


def register_engine(name: str, cls: type | None = None, auto_for: Sequence[str] = (),
                    replace: bool = False) -> Callable[[T], T] | type:
    """Put ``cls`` in the table under ``name``; without ``cls``, a class decorator that does it.

    ``auto_for`` lists the model kinds for which ``engine = "auto"`` picks this engine. A name
    (or a model kind) that already has another engine is refused unless ``replace=True``, so
    two packages cannot silently take the same name.
    """
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name) or name == "auto":
        raise ConfigError(f"register_engine: {name!r} is not an engine name; pass one like 'llama.cpp'")

    def put(c: T) -> T:
        if not isinstance(c, type):
            raise ConfigError(f"register_engine: {c!r} is not a class; pass a class built as cls(spec, settings, "
                              "adapter)")
        old = ENGINES.get(name)
        if old is not None and old is not c and not replace:
            raise ConfigError(f"register_engine: {name!r} is already {old.__module__}.{old.__qualname__}; "
                              "pass replace=True to take it over")
        for kind in auto_for:
            taken = AUTO.get(kind)
            if taken is not None and taken != name and not replace:
                raise ConfigError(f"register_engine: engine 'auto' already picks {taken!r} for {kind} models; "
                                  "pass replace=True to take it over")
        ENGINES[name] = c
        AUTO.update({kind: name for kind in auto_for})
        return c

    return put if cls is None else put(cls)


def engine_class(name: str) -> type:
    """The class registered as ``name``; an unknown name is one line naming the known ones."""
    cls = ENGINES.get(name)
    if cls is None:
        known = ", ".join(repr(n) for n in ENGINES) or "none"
        raise ConfigError(f"generation.engine: {name!r} is not a known engine; use 'auto' or one of {known}")
    return cls


def auto_engine(kind: str) -> str | None:
    """The engine name ``engine = "auto"`` picks for models of ``kind``; None where none is registered."""
    return AUTO.get(kind)
