"""Trained models as named folders in the data folder: ``<data_dir>/models/NAME/``.

::

    models/NAME/
      adapter/             LoRA weights (peft save_pretrained), or
      model/               full weights (safetensors) after full fine-tuning
      tokenizer/           the tokenizer trained with (chat template included)
      checkpoints/         only while training; removed when the run finishes
      exports/             merged HF folder, GGUF adapter ... when exported
      ragtune_model.json   what this is (written last: a folder without it is an unfinished run)

``ragtune_model.json`` records the name, recipe, task, base model (name, kind, path, fingerprint),
label set, the SHA-256 of the training data, metrics, the training config, creation time, size
on disk and the paths of exports, so a number in a report can be traced to the exact weights.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragtune.errors import ModelNotFoundError, TrainingError
from ragtune.files import atomic_write_text, dir_size  # dir_size re-exported for callers
from ragtune.names import check_name
from ragtune.registry import ModelSpec, resolve
from ragtune.train import export
from ragtune.train import ollama as ollama_file
from ragtune.train.model_io import load_causal_lm

INFO_FILE = "ragtune_model.json"


@dataclass
class ModelInfo:
    name: str
    recipe: str
    task: str  # "generate" | "classify"
    weights: str  # "lora" | "full" | "embedder-head"
    base_model: dict[str, Any]
    path: str
    labels: list[str] | None = None
    training_data_sha256: str = ""
    training_data: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0
    size_bytes: int = 0
    exports: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def folder(self) -> Path:
        return Path(self.path)

    @property
    def adapter_dir(self) -> Path | None:
        d = self.folder / "adapter"
        return d if d.is_dir() else None


def check_model_name(name: str) -> str:
    return check_name(name, "model", TrainingError)


def models_root(settings: Any) -> Path:
    return Path(settings.data_dir) / "models"


def model_dir(settings: Any, name: str) -> Path:
    return models_root(settings) / check_model_name(name)


def check_name_free(settings: Any, name: str, overwrite: bool = False, resume: bool = False) -> Path:
    """Raise the error ``begin_model`` would, without touching anything (for a check before slow work).

    A finished model is never replaced without ``overwrite``; an unfinished one (a killed run)
    is continued with ``resume`` or replaced with ``overwrite``.
    """
    folder = model_dir(settings, name)
    finished = (folder / INFO_FILE).exists()
    if folder.exists() and overwrite and not resume:
        return folder
    if finished and resume:
        raise TrainingError(f"model {name!r} already finished training; use --overwrite to train it again")
    elif finished:
        raise TrainingError(
            f"a model named {name!r} already exists; choose another --name or pass --overwrite"
        )
    elif folder.exists() and not resume and any(folder.iterdir()):
        raise TrainingError(
            f"an unfinished run named {name!r} is in {folder}; pass --resume to continue it or --overwrite"
        )
    elif resume and not (folder / "checkpoints").is_dir():
        raise TrainingError(f"--resume: nothing to resume for {name!r} (no checkpoints in {folder})")
    return folder


def begin_model(settings: Any, name: str, overwrite: bool = False, resume: bool = False) -> Path:
    """The folder a run trains into, after checking the name against what is already there."""
    folder = check_name_free(settings, name, overwrite, resume)
    if folder.exists() and overwrite and not resume:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_weights(model: Any, tokenizer: Any, folder: Path, full: bool) -> Path:
    """Write LoRA adapter weights (``adapter/``) or full weights (``model/``), plus the tokenizer."""
    folder = Path(folder)
    target = folder / ("model" if full else "adapter")
    if target.exists():
        shutil.rmtree(target)
    model.save_pretrained(str(target), safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(folder / "tokenizer"))
    return target


def finish_model(settings: Any, name: str, *, recipe: str, task: str, weights: str, base_spec: Any,
                 metrics: dict[str, Any], config: dict[str, Any], data_sha256: str = "",
                 data_files: list[str] | None = None, labels: list[str] | None = None,
                 extra: dict[str, Any] | None = None, keep_checkpoints: bool = False) -> ModelInfo:
    """Write ``ragtune_model.json`` (last, atomically) once the weights are in place."""
    folder = model_dir(settings, name)
    if not keep_checkpoints:
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    info = ModelInfo(
        name=name, recipe=recipe, task=task, weights=weights,
        base_model={"name": base_spec.name, "kind": base_spec.kind, "path": base_spec.path,
                    "fingerprint": base_spec.fingerprint()},
        path=str(folder.resolve()), labels=labels, training_data_sha256=data_sha256,
        training_data=[str(Path(f).expanduser().resolve()) for f in data_files or []],
        metrics=metrics, config=config, created=time.time(), extra=extra or {},
    )
    _write(folder, info)
    return info


def _write(folder: Path, info: ModelInfo) -> None:
    own = folder / INFO_FILE
    info.size_bytes = dir_size(folder) - (own.stat().st_size if own.exists() else 0)
    atomic_write_text(own, json.dumps(info.to_dict(), indent=2, default=str) + "\n")


def _read(folder: Path) -> ModelInfo:
    data = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    known = set(ModelInfo.__dataclass_fields__)
    info = ModelInfo(**{k: v for k, v in data.items() if k in known})
    info.path = str(folder.resolve())  # the data folder may have moved
    return info


def list_models(settings: Any) -> list[ModelInfo]:
    """Finished models, by name (unfinished runs are not models yet)."""
    root = models_root(settings)
    if not root.is_dir():
        return []
    return [_read(p) for p in sorted(root.iterdir()) if (p / INFO_FILE).exists()]


def load_model_info(settings: Any, name: str) -> ModelInfo:
    folder = model_dir(settings, name)
    if not (folder / INFO_FILE).exists():
        known = ", ".join(m.name for m in list_models(settings)) or "none yet"
        hint = " (an unfinished run: --resume it)" if folder.is_dir() else ""
        raise ModelNotFoundError(f"no trained model named {name!r}{hint}; known: {known}")
    return _read(folder)


def delete_model(settings: Any, name: str) -> int:
    """Remove a model folder (finished or not); returns the bytes freed."""
    folder = model_dir(settings, name)
    if not folder.exists():
        raise ModelNotFoundError(f"no trained model named {name!r}; see `ragtune models list`")
    size = dir_size(folder)
    shutil.rmtree(folder)
    return size


def record_export(settings: Any, name: str, kind: str, path: str | Path) -> ModelInfo:
    """Note an export (``gguf-adapter``, ``merged`` ...) in the model's record, and refresh its size."""
    info = load_model_info(settings, name)
    info.exports[kind] = str(Path(path).resolve())
    _write(info.folder, info)
    return info


def load_trained_causal_lm(settings: Any, name: str) -> tuple[Any, Any, ModelInfo]:
    """``(model, tokenizer, info)`` of a fine-tuned generator, for transformers inference.

    LoRA adapters are applied on top of the recorded base (resolved by name if its file moved).
    """
    import torch

    info = load_model_info(settings, name)
    if info.task != "generate":
        raise ModelNotFoundError(
            f"model {name!r} is a {info.task} model; use `ragtune classify --model {name}`"
        )
    if info.weights == "full":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(str(info.folder / "model"), dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(info.folder / "tokenizer"))
    else:
        from peft import PeftModel

        b = info.base_model
        spec = ModelSpec(b["name"], b["kind"], b["path"]) if b.get("path") and Path(b["path"]).exists() \
            else resolve(b["name"], settings)
        base, tok = load_causal_lm(spec)
        model = PeftModel.from_pretrained(base, str(info.folder / "adapter"))
    model.eval()
    return model, tok, info


VERIFY_PROMPT = (
    "<|im_start|>user\nWhich team won Super Bowl 50, and where was it played?<|im_end|>\n<|im_start|>assistant\n"
)


def base_spec_of(settings: Any, info: ModelInfo) -> Any:
    """The base a model was trained on: its recorded file if still there, else its name."""
    b = info.base_model
    if b.get("path") and Path(b["path"]).exists():
        return ModelSpec(b["name"], b["kind"], b["path"])
    return resolve(b["name"], settings)


def export_model(settings: Any, name: str, *, gguf: bool = True, merged: bool = False,
                 verify: bool = False, ollama: bool = False, ollama_template: Path | None = None) -> ModelInfo:
    """Export a LoRA model: a GGUF adapter for llama.cpp (on a GGUF base) and/or a merged HF folder.

    ``verify`` compares the adapter's effect on the logits in llama.cpp and in transformers+PEFT
    (``export.verify_gguf_adapter``) and records the result under ``metrics["gguf_verify"]``.
    """
    info = load_model_info(settings, name)
    if info.weights != "lora" or info.adapter_dir is None or info.task != "generate":
        raise TrainingError(f"model {name!r} has no LoRA adapter of a generator to export ({info.weights})")
    base = base_spec_of(settings, info)
    out = info.folder / "exports"
    if gguf:
        if base.kind != "gguf":
            raise TrainingError(f"a GGUF adapter needs a GGUF base; {base.name!r} is {base.kind}: use --merged")
        path = export.export_gguf_adapter(info.adapter_dir, base, out / "adapter.gguf")
        info = record_export(settings, name, "gguf-adapter", path)
        if verify:
            info.metrics["gguf_verify"] = export.verify_gguf_adapter(base, info.adapter_dir, path, VERIFY_PROMPT)
            _write(info.folder, info)
    if merged:
        path = export.merge_adapter(base, info.adapter_dir, out / "merged")
        info = record_export(settings, name, "merged", path)
    if ollama:  # the Modelfile names the GGUF base and the GGUF adapter (see train/ollama.py)
        adapter = info.exports.get("gguf-adapter")
        if base.kind != "gguf" or not adapter or not Path(adapter).is_file():
            raise TrainingError(f"--ollama needs the GGUF adapter of a GGUF base: ragtune models export {name} --gguf "
                                "--ollama")
        path = ollama_file.write_modelfile(base.local_path, Path(adapter), out / "Modelfile", settings.generation,
                                           template_file=ollama_template)
        info = record_export(settings, name, "ollama-modelfile", path)
    return info
