"""Checkpoints that a killed run can never leave half-written, and that resume bit-for-bit.

A checkpoint is a folder ``checkpoints/step-0000042/`` holding

- ``trainable.safetensors``: the parameters being trained (the LoRA matrices, or every weight),
- ``best.safetensors``: the best-validation copy of them, when early stopping keeps one,
- ``optimizer.pt`` and ``scheduler.pt``,
- ``rng-<rank>.pt``: Python, NumPy and torch random states of each process (dropout, sampling),
- ``state.json``: step, epoch, position in the epoch's data order, losses so far, early-stopping
  counters and the settings that must match on resume.

Everything is written into ``.tmp-step-.../`` first and renamed into place with ``os.replace``,
which is atomic on one filesystem: a crash leaves either the whole checkpoint or none.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ragtune.errors import TrainingError

STATE = "state.json"


def checkpoint_dir(root: Path, step: int) -> Path:
    return Path(root) / f"step-{step:07d}"


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a folder without ``state.json`` is not one)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if p.is_dir() and (p / STATE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def clean_partial(root: Path) -> None:
    """Remove temp folders left by a run killed in the middle of writing a checkpoint."""
    for p in Path(root).glob(".tmp-step-*"):
        shutil.rmtree(p, ignore_errors=True)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().to("cpu", copy=True).contiguous()
            for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in tensors]
    if missing:
        raise TrainingError(
            f"checkpoint lacks {len(missing)} trained weights (e.g. {missing[0]}); use --overwrite"
        )
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t)


def begin(root: Path, step: int) -> Path:
    """The temp folder a checkpoint is written into (main process only)."""
    tmp = Path(root) / f".tmp-step-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def write_main(tmp: Path, model: torch.nn.Module, optimizer: Any, scheduler: Any, state: dict[str, Any],
               best: dict[str, torch.Tensor] | None) -> None:
    """The parts every process shares (identical on all ranks), written by the main process."""
    from safetensors.torch import save_file

    save_file(trainable_state(model), str(tmp / "trainable.safetensors"))
    if best is not None:
        save_file(best, str(tmp / "best.safetensors"))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    (tmp / STATE).write_text(json.dumps(state, indent=1), encoding="utf-8")


def write_rng(tmp: Path, rank: int) -> None:
    torch.save(rng_state(), tmp / f"rng-{rank}.pt")


def commit(root: Path, tmp: Path, step: int, keep: int) -> Path:
    """Rename the finished temp folder into place, then drop all but the newest ``keep``."""
    final = checkpoint_dir(root, step)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(ckpt: Path) -> dict[str, Any]:
    return json.loads((Path(ckpt) / STATE).read_text(encoding="utf-8"))


def restore(ckpt: Path, model: torch.nn.Module, optimizer: Any, scheduler: Any, rank: int
            ) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """Load a checkpoint into the live objects; returns its state and the best weights if kept."""
    from safetensors.torch import load_file

    ckpt = Path(ckpt)
    load_trainable(model, load_file(str(ckpt / "trainable.safetensors")))
    optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=False))
    rng_file = ckpt / f"rng-{rank}.pt"
    if not rng_file.exists():
        raise TrainingError(
            f"{ckpt} has no random state for process {rank}; resume with the same number of processes"
        )
    set_rng_state(torch.load(rng_file, weights_only=False))
    best_file = ckpt / "best.safetensors"
    best = load_file(str(best_file)) if best_file.exists() else None
    return read_state(ckpt), best
