"""Reader adapters: a small LoRA that teaches a generator to read retrieved passages.

The bundled 135M generator finds the right passage but cannot pick the answer out of it (plain
top-3 RAG: token F1 about 10 on unseen SQuAD questions). A reader adapter is a LoRA trained once,
with ``ragtune train raft``, on public reading-comprehension questions, never on the user's data:
it changes *how* the model reads a prompt of numbered passages, not *what* it knows. It is the
answer-generation half of RAG, like a stronger reader model, and every knowledge base benefits
from it without training.

ragtune ships one, for the bundled SmolLM2-135M-Instruct GGUF (``reader_data/``: the adapter as
GGUF f16, its manifest and the licence of its training data). ``[reader] adapter`` chooses:

- ``auto`` (default): the shipped adapter when the generator is the model it was trained for and
  the engine is llama.cpp; otherwise none (a user's own model answers as it is);
- ``none``: never (the ``rag/base`` variant of ``compare`` measures this);
- a path to a GGUF LoRA adapter file (with a ``.json`` manifest beside it, or none).

A reader adapter always reads the prompt it was trained on, which its manifest names (``reader``:
``plain``, whole chunks, or ``focus`` with its number of sentences; ``ragtune train raft --reader``),
so ``[reader] method`` does not apply while one is in use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ragtune.errors import ConfigError
from ragtune.registry import ModelSpec

DATA_DIR = Path(__file__).with_name("reader_data")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ReaderAdapter:
    """A GGUF LoRA reader and what it was trained for."""

    name: str
    path: Path
    base_fingerprint: str | None  # None: a user's adapter, trusted to fit the model it is used with
    trained_on: str = ""
    method: str = "plain"  # the reader whose prompt it was trained on (generate/reader.py)
    focus_sentences: int = 1  # with method focus

    def fits(self, spec: ModelSpec) -> bool:
        return self.base_fingerprint is None or spec.kind == "gguf" and spec.fingerprint() == self.base_fingerprint


def shipped() -> list[ReaderAdapter]:
    """The reader adapters inside the package (one per line of ``reader_data/manifest.json``)."""
    f = DATA_DIR / MANIFEST
    if not f.exists():
        return []
    out = []
    for entry in json.loads(f.read_text(encoding="utf-8"))["adapters"]:
        path = DATA_DIR / entry["file"]
        if path.exists():
            shown = entry.get("reader", {"method": "plain"})
            out.append(ReaderAdapter(entry["name"], path, entry["base_fingerprint"], entry.get("trained_on", ""),
                                     shown["method"], shown.get("focus_sentences", 1)))
    return out


def _from_path(value: str) -> ReaderAdapter:
    """A user's GGUF adapter; a ``.json`` beside it may name its reader (``{"reader": {"method": "focus",
    "focus_sentences": 3}}``, as a ``ragtune train raft --reader focus`` model records it)."""
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(f"reader.adapter {value!r} is not a file; give a GGUF LoRA adapter, 'auto' or 'none'")
    meta = path.with_suffix(".json")
    shown = json.loads(meta.read_text(encoding="utf-8")).get("reader", {}) if meta.is_file() else {}
    return ReaderAdapter(path.stem, path, None, method=shown.get("method", "plain"),
                         focus_sentences=shown.get("focus_sentences", 1))


def adapter_setting(configured: str, reader: str | None, asked: str | None) -> str:
    """The ``[reader] adapter`` value one answer runs under.

    An adapter asked for by the caller wins; otherwise a reader asked for by name reads with the bare
    model, since an adapter reads only the prompt it was trained on (so ``--reader focus|plain`` and the
    ``rag/focus``, ``rag/whole`` and ``rag/plain`` variants measure that reader, not the adapter)::

        >>> adapter_setting("auto", None, None), adapter_setting("auto", "focus", None)
        ('auto', 'none')
        >>> adapter_setting("auto", "focus", "auto"), adapter_setting("auto", "plain", None)
        ('auto', 'none')
    """
    if asked is not None:
        return asked
    return "none" if reader is not None else configured


def choose_reader_adapter(setting: str, spec: ModelSpec, engine: str) -> ReaderAdapter | None:
    """The reader adapter for ``spec`` under ``[reader] adapter = setting``, or None.

    ``engine`` is the engine kind that will answer (a GGUF LoRA needs llama.cpp).
    """
    if setting == "none":
        return None
    if setting != "auto":
        adapter = _from_path(setting)
        if engine != "llama.cpp":
            raise ConfigError(f"reader.adapter {setting!r} is a GGUF LoRA and needs the llama.cpp engine; "
                              f"the generator {spec.name!r} runs on {engine}; set reader.adapter = 'none'")
        return adapter
    if engine != "llama.cpp" or spec.kind != "gguf":
        return None
    return next((a for a in shipped() if a.fits(spec)), None)
