"""What a sentence-transformers folder says about its model, read from its JSON files alone.

The vector size, the token budget and the pooling are known without loading torch: ``kb create``
records the dimension from here (it used to load the model, 10-18 s, for one number), and the
ONNX backend builds its graph from the pooling this describes::

    >>> from ragtune.registry import resolve
    >>> f = read_folder(resolve("minilm-l6").path)
    >>> (f.dim, f.max_seq_length, f.pooling)
    (384, 256, 'mean')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ragtune.errors import ModelNotFoundError

_POOLING_KEYS = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
                 "pooling_mode_max_tokens": "max", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
                 "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}


@dataclass(frozen=True)
class StFolder:
    """The parts of a sentence-transformers folder that the backends need."""

    path: Path
    modules: tuple[str, ...]  # module class names in order, e.g. ('Transformer', 'Pooling', 'Normalize')
    dim: int | None  # None when a module we do not read (a Dense layer without config) decides it
    max_seq_length: int
    pooling: str  # 'mean', 'cls', ... or '+'-joined when several are on
    do_lower_case: bool

    @property
    def plain(self) -> bool:
        """A transformer, one pooling and an optional normalisation: what the ONNX export covers."""
        return self.modules in (("Transformer", "Pooling"), ("Transformer", "Pooling", "Normalize"))


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"{path}: cannot be read as JSON ({e}); reinstall or fix the model folder") from None


@lru_cache(maxsize=16)
def read_folder(path: str | Path) -> StFolder:
    root = Path(path)
    if not root.is_dir():
        raise ModelNotFoundError(f"embedder folder {root} does not exist; check models.embedder")
    mods = _json(root / "modules.json")
    entries = mods if isinstance(mods, list) else [{"type": "Transformer", "path": ""}, {"type": "Pooling",
                                                                                        "path": "1_Pooling"}]
    names = tuple(str(m.get("type", "")).rsplit(".", 1)[-1] for m in entries)
    pooling, dim = "mean", None
    for m in entries:
        kind = str(m.get("type", "")).rsplit(".", 1)[-1]
        cfg = _json(root / str(m.get("path", "")) / "config.json") if m.get("path") else {}
        if kind == "Pooling":
            on = [v for k, v in _POOLING_KEYS.items() if cfg.get(k)] or [str(cfg.get("pooling_mode", "mean"))]
            pooling = "+".join(on)
            dim = int(cfg["word_embedding_dimension"]) * len(on) if "word_embedding_dimension" in cfg else None
        elif kind == "Dense":
            dim = int(cfg["out_features"]) if "out_features" in cfg else None
        elif kind not in ("Transformer", "Normalize"):
            dim = None
    st_cfg = _json(root / "sentence_bert_config.json")
    max_len = int(st_cfg.get("max_seq_length") or 256)
    return StFolder(root, names, dim, max_len, pooling, bool(st_cfg.get("do_lower_case", False)))
