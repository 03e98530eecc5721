"""Pipeline names as the API's ``model`` field: what each one means and which exist.

=========================  =====================================================
``base``                   the generator alone, closed-book
``base:MODEL``             another generator from the registry, closed-book
``rag:KB``                 the generator with retrieval from knowledge base KB
``ft:MODEL``               a model trained with ``ragtune train``, closed-book
``ft+rag:MODEL:KB``        that model with retrieval
``raft:MODEL:KB``          a RAFT-trained model with retrieval
``classify:MODEL``         a classifier, for ``POST /v1/classify`` only
=========================  =====================================================
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragtune.config import Settings
from ragtune.errors import RagtuneError
from ragtune.kb import list_kbs
from ragtune.names import NAME_RE
from ragtune.pipeline import find_trained
from ragtune.registry import ALIASES, BUNDLED, resolve
from ragtune.serve.errors import APIError

FORMS = "base, base:MODEL, rag:KB, ft:MODEL, ft+rag:MODEL:KB or raft:MODEL:KB"


@dataclass(frozen=True)
class PipelineRef:
    """A parsed pipeline name: the arguments of ``Pipeline.ask_stream``."""

    id: str
    mode: str
    model: str | None = None
    kb: str | None = None


def parse(name: str) -> PipelineRef:
    """``"ft+rag:squad-sft:squad"`` -> ``PipelineRef(mode="ft+rag", model="squad-sft", kb="squad")``."""
    parts = (name or "").strip().split(":")
    mode, args = parts[0], parts[1:]
    shape = {"base": (0, 1), "rag": (1, 1), "ft": (1, 1), "ft+rag": (2, 2), "raft": (2, 2)}.get(mode)
    if shape is None or not shape[0] <= len(args) <= shape[1] or not all(NAME_RE.match(a) for a in args):
        raise APIError(
            404,
            f"the model {name!r} does not exist: name a pipeline as {FORMS} (see GET /v1/models)",
            "model_not_found",
            "model",
        )
    if mode == "base":
        return PipelineRef(name, "base", args[0] if args else None)
    if mode == "rag":
        return PipelineRef(name, "rag", None, args[0])
    if mode == "ft":
        return PipelineRef(name, "ft", args[0])
    return PipelineRef(name, mode, args[0], args[1])


def trained_models(settings: Settings) -> list[dict[str, Any]]:
    """Finished models under ``data_dir/models/``: those with ``ragtune_model.json`` (``ragtune train``)
    and bare classifier folders with ``labels.json`` (the ones ``ragtune compare`` trains)."""
    root = Path(settings.data_dir) / "models"
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []:
        f = folder / "ragtune_model.json"
        if f.exists():
            try:
                info = json.loads(f.read_text())
            except (OSError, ValueError):
                continue  # being written right now, or damaged: not offered
        elif (folder / "labels.json").exists():
            f, info = folder / "labels.json", {"recipe": "classify", "task": "classify"}
        else:
            continue  # an unfinished run
        if not NAME_RE.match(folder.name):
            continue
        recipe = str(info.get("recipe") or "")
        classifier = info.get("task") == "classify" or "classif" in recipe.lower()
        created = int(info.get("created") or f.stat().st_mtime)
        out.append(
            {
                "name": folder.name,
                "recipe": recipe,
                "classifier": classifier,
                "created": created,
                "root": str(folder),
            }
        )
    return out


def list_pipelines(settings: Settings) -> list[dict[str, Any]]:
    """The OpenAI ``/v1/models`` entries: every pipeline that can answer right now."""
    kbs = list_kbs(settings)
    now = int(time.time())
    rows: list[tuple[str, str, str | None, str | None]] = [("base", "base", None, None)]
    rows += [(f"rag:{kb}", "rag", None, kb) for kb in kbs]
    classifiers = []
    for m in trained_models(settings):
        if m["classifier"]:
            classifiers.append(m)
            continue
        rows.append((f"ft:{m['name']}", "ft", m["name"], None))
        for kb in kbs:
            if "raft" in m["recipe"].lower():
                rows.append((f"raft:{m['name']}:{kb}", "raft", m["name"], kb))
            rows.append((f"ft+rag:{m['name']}:{kb}", "ft+rag", m["name"], kb))
    data = [
        {
            "id": pid,
            "object": "model",
            "created": now,
            "owned_by": "ragtune",
            "ragtune": {"mode": mode, "model": model, "kb": kb, "task": "chat"},
        }
        for pid, mode, model, kb in rows
    ]
    data += [
        {
            "id": f"classify:{m['name']}",
            "object": "model",
            "created": m["created"],
            "owned_by": "ragtune",
            "ragtune": {"mode": "classify", "model": m["name"], "kb": None, "task": "classify"},
        }
        for m in classifiers
    ]
    return data


def check_exists(settings: Settings, ref: PipelineRef) -> None:
    """Fail with a 404 in OpenAI's shape before any work starts, naming what is missing."""
    if ref.kb is not None and ref.kb not in list_kbs(settings):
        have = ", ".join(list_kbs(settings)) or "none yet"
        raise APIError(
            404,
            f"the model {ref.id!r} does not exist: there is no knowledge base {ref.kb!r} "
            f"(have: {have}); see GET /v1/models",
            "model_not_found",
            "model",
        )
    if ref.mode in ("ft", "ft+rag", "raft") and any(
        m["name"] == ref.model and m["classifier"] for m in trained_models(settings)
    ):
        raise APIError(
            400,
            f"{ref.model!r} is a classifier, not a chat model; use POST /v1/classify with "
            f"model classify:{ref.model}",
            "not_a_chat_model",
            "model",
        )
    if ref.mode in ("ft", "ft+rag", "raft") and find_trained(settings, ref.model or "") is None:
        raise APIError(
            404,
            f"the model {ref.id!r} does not exist: there is no trained model {ref.model!r}; "
            "see GET /v1/models or ragtune models list",
            "model_not_found",
            "model",
        )
    if ref.mode == "base" and ref.model:
        # registry names only: a path here would let a client make the server load any file
        named = (
            ref.model in settings.models.registry
            or ALIASES.get(ref.model.lower(), ref.model.lower()) in BUNDLED
        )
        try:
            spec = resolve(ref.model, settings) if named else None
        except RagtuneError:
            spec = None
        if not named or spec is None or spec.kind not in ("gguf", "hf", "http"):
            raise APIError(
                404,
                f"the model {ref.id!r} does not exist: {ref.model!r} is not a generator in the registry",
                "model_not_found",
                "model",
            )
