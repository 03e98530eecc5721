"""The embedding backends: name -> class, the built-ins registered as a third party would be.

A backend runs one sentence-transformers folder (``cls(folder: StFolder, fingerprint)``, the
fingerprint keying whatever it caches) and implements
:class:`Backend`. ``embedding.backend`` in the settings picks one by name; ``auto`` (the default)
is the first of :data:`AUTO` whose package is installed: :data:`DEFAULT` with the ``onnx`` extra,
else ``torch``.

``vectors`` names what a backend's vectors agree with. Two backends with the same ``vectors``
give vectors whose cosine on the same text stayed above :data:`MIX_COSINE` on real SQuAD
paragraphs and questions (tests/embed/test_backends.py measures it), so a knowledge base built
with one can be searched and extended with the other. Measured on the 2,523 chunks of the 2,067
SQuAD dev paragraphs and 500 questions against torch fp32: onnx 1.00000 everywhere, torch-bf16
0.99996 at the lowest; onnx-int8 0.9957 on average but 0.9892 at the lowest, 3 chunks below 0.99
(a text's int8 vector also moves a little with the texts batched beside it: dynamic quantisation
scales each batch's activations together), so int8 vectors are their own kind::

    >>> sorted((name, cls.vectors) for name, cls in BACKENDS.items())
    [('onnx', 'float'), ('onnx-int8', 'int8'), ('torch', 'float'), ('torch-bf16', 'float')]
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

from ragtune.embedding.folder import StFolder
from ragtune.errors import ConfigError, missing_extra

MIX_COSINE = 0.99
"""Backends whose vectors of the same texts have a cosine above this may share a knowledge base."""

DEFAULT = "onnx-int8"
"""What ``auto`` means when its package is there: the fastest backend whose retrieval quality on the
500-question SQuAD set stayed within 0.01 of torch fp32 on recall@10 and MRR@10
(benchmarks/bench_quality.py --backends; benchmarks/RESULTS.md)."""

AUTO = (DEFAULT, "onnx", "torch")
"""What ``auto`` tries, fastest first (measured: benchmarks/bench_ingest.py, bench_search.py). bf16 is
left out: it is fast only on CPUs with native bfloat16 (AVX512-BF16, AMX), so it is chosen by name."""


class Backend(Protocol):
    """Encodes texts with one model to L2-normalised float32 vectors (rows), in the order given."""

    name: ClassVar[str]
    vectors: ClassVar[str]  # backends with the same value may mix vectors in one knowledge base
    package: ClassVar[str | None]  # the importable module it needs beyond the base install, if any
    extra: ClassVar[str | None]  # the ragtune extra that installs it

    def __init__(self, folder: StFolder, fingerprint: str) -> None: ...

    def encode(self, texts: list[str], batch_size: int, threads: int) -> np.ndarray:
        """A batch on ``threads`` threads (0: every core)."""

    def embed_query(self, text: str) -> np.ndarray:
        """One text on one thread, as fast as the backend can; equal to ``encode([text])[0]``."""

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face tokenizer (the chunker counts tokens with it)."""


BACKENDS: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register_backend(name: str, replace: bool = False) -> Callable[[T], T]:
    """A class decorator that puts a backend in :data:`BACKENDS` under ``name``."""

    def put(cls: T) -> T:
        old = BACKENDS.get(name)
        if old is not None and old is not cls and not replace:
            raise ConfigError(f"register_backend: {name!r} is already {old.__module__}.{old.__qualname__}; "
                              "pass replace=True to take it over")
        cls.name = name
        BACKENDS[name] = cls
        return cls

    return put


def available(name: str) -> bool:
    """Whether the package that backend ``name`` needs is installed (without importing it)."""
    pkg = backend_class(name).package
    return pkg is None or importlib.util.find_spec(pkg) is not None


def resolve_backend(name: str) -> str:
    """``auto`` -> the default (or the fallback without its package); another name must be known and its
    package installed (else one line naming the extra that installs it)."""
    if name == "auto":
        return next(b for b in AUTO if available(b))
    cls = backend_class(name)
    if not available(name):
        raise missing_extra(cls.package, cls.extra)
    return name


def backend_class(name: str) -> type:
    cls = BACKENDS.get(name)
    if cls is None:
        known = ", ".join(repr(n) for n in ["auto", *BACKENDS])
        raise ConfigError(f"embedding.backend: {name!r} is not a backend; use one of {known}")
    return cls


def fastest_mixing(recorded: str) -> str:
    """What ``auto`` runs for a knowledge base built with ``recorded``: the first of :data:`AUTO` that is
    installed and whose vectors mix with the recorded backend's, else the recorded backend itself."""
    return next((b for b in AUTO if available(b) and mixable(b, recorded)), recorded)


def mixable(a: str, b: str) -> bool:
    """Whether vectors of backends ``a`` and ``b`` may share a knowledge base (see the module doc)."""
    return backend_class(a).vectors == backend_class(b).vectors
