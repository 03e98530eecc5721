"""The store table: backend name -> class, and :func:`open_store`, which builds through it.

The built-in LanceDB backend registers here exactly as a third-party one does::

    from ragtune.store import register_store

    @register_store("mine")
    class MyStore:
        where_language = None          # no raw query language: --where is refused
        def __init__(self, root, dim): ...
        # ... the methods of ragtune.store.Store

Then ``store.backend = "mine"`` (``[store] backend`` in ragtune.toml, ``--set store.backend=mine``)
makes new knowledge bases use it; an existing knowledge base remembers the backend it was
created with. A backend on a server takes its address as a keyword, ``cls(root, dim, url=...)``,
from ``store.url`` (the built-in ``postgres`` backend, ``ragtune kb create NAME --store URL``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ragtune.errors import ConfigError
from ragtune.store.base import Store

STORES: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register_store(name: str, cls: type | None = None, replace: bool = False) -> Callable[[T], T] | type:
    """Put ``cls`` in the table under ``name``; without ``cls``, a class decorator that does it.

    A name that already has another class is refused unless ``replace=True``, so two packages
    cannot silently take the same backend name.
    """
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        raise ConfigError(f"register_store: {name!r} is not a backend name; pass one like 'lance'")

    def put(c: T) -> T:
        if not isinstance(c, type):
            raise ConfigError(f"register_store: {c!r} is not a class; pass a class built as cls(root, dim)")
        old = STORES.get(name)
        if old is not None and old is not c and not replace:
            raise ConfigError(f"register_store: {name!r} is already {old.__module__}.{old.__qualname__}; "
                              "pass replace=True to take it over")
        STORES[name] = c
        return c

    return put if cls is None else put(cls)


def store_class(name: str) -> type:
    """The class registered as ``name``; an unknown name is one line naming the known ones."""
    cls = STORES.get(name)
    if cls is None:
        known = ", ".join(repr(n) for n in STORES) or "none"
        raise ConfigError(f"store.backend: {name!r} is not a known store backend; use one of {known}")
    return cls


def takes_url(name: str) -> bool:
    """Whether backend ``name`` lives on a server and is built with ``url=``."""
    return "url" in inspect.signature(store_class(name)).parameters


def open_store(name: str, root: str | Path, dim: int, url: str | None = None, **options) -> Store:
    """A store of backend ``name`` for the knowledge base in ``root`` with ``dim``-wide vectors.

    ``url`` is the server of a server-backed backend (``cls(root, dim, url=url)``); a backend
    that keeps its data in ``root`` is built as ``cls(root, dim)`` and never receives one.
    ``options`` are settings of ``[store]`` (``index_threshold=...``), each given only to a
    backend whose constructor takes it, so one call fits every backend.
    """
    cls = store_class(name)
    params = inspect.signature(cls).parameters
    kw = {k: v for k, v in options.items() if k in params and v is not None}
    return cls(Path(root), dim, **kw) if url is None else cls(Path(root), dim, url=url, **kw)
