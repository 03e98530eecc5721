"""Running an exported embedding graph: the folder's tokenizer (Rust ``tokenizers``, no torch) feeding
an ONNX Runtime session, one session per thread count.

Tokenisation matches sentence-transformers': each text stripped (lower-cased when the folder says
so), special tokens added, truncated at ``max_seq_length``, padded to the longest text of the batch.
The folder's ``tokenizer.json`` may carry its own fixed padding and truncation (MiniLM's pads
everything to 128); both are replaced by those rules.

Sessions do not spin: ONNX Runtime's worker threads otherwise busy-wait between operators, which on
a shared 2-core machine takes the core other processes need.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from ragtune.embedding.folder import StFolder
from ragtune.errors import missing_extra


def require_ort():
    try:
        import onnxruntime
    except ImportError:
        raise missing_extra("onnxruntime", "onnx") from None
    return onnxruntime


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class OnnxTokenizer:
    """Texts -> int64 arrays of ``input_ids``, ``attention_mask``, ``token_type_ids``."""

    def __init__(self, folder: StFolder):
        from tokenizers import Tokenizer

        self.folder = folder
        tok = Tokenizer.from_file(str(folder.path / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(max_length=folder.max_seq_length)
        pad = _pad_token(folder.path)
        pad_id = tok.token_to_id(pad) if pad else None
        tok.enable_padding(pad_id=pad_id or 0, pad_token=pad or "[PAD]")
        self.tok = tok

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        texts = [t.strip().lower() if self.folder.do_lower_case else t.strip() for t in texts]
        enc = self.tok.encode_batch(texts) if len(texts) > 1 else [self.tok.encode(texts[0])]
        return {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}


class FastTokenizer:
    """The folder's Rust tokenizer in the shape the chunker reads from a Hugging Face fast tokenizer
    (``is_fast``, ``backend_tokenizer``; ``encode``/``decode`` without special tokens), so that counting
    and cutting chunks needs neither transformers nor torch (importing them costs seconds)."""

    is_fast = True

    def __init__(self, folder: StFolder):
        from tokenizers import Tokenizer

        self.backend_tokenizer = Tokenizer.from_file(str(folder.path / "tokenizer.json"))
        self.backend_tokenizer.no_truncation()
        self.backend_tokenizer.no_padding()
        self.model_max_length = folder.max_seq_length

    def encode(self, text: str, add_special_tokens: bool = False, verbose: bool = False) -> list[int]:
        return self.backend_tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: list[int]) -> str:
        return self.backend_tokenizer.decode(ids)


def _pad_token(path: Path) -> str | None:
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        try:
            pad = json.loads((path / name).read_text(encoding="utf-8")).get("pad_token")
        except (OSError, ValueError):
            continue
        if isinstance(pad, dict):
            pad = pad.get("content")
        if isinstance(pad, str):
            return pad
    return None


class OnnxRunner:
    """One ONNX graph of an embedder, with a session for each thread count asked for."""

    def __init__(self, model: Path, folder: StFolder):
        self.model, self.folder = model, folder
        self.tokenize = OnnxTokenizer(folder)
        self._sessions: dict[int, object] = {}
        self._lock = threading.Lock()

    def session(self, threads: int):
        n = threads or usable_cpus()
        with self._lock:
            s = self._sessions.get(n)
            if s is None:
                ort = require_ort()
                so = ort.SessionOptions()
                so.intra_op_num_threads = n
                so.inter_op_num_threads = 1
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                so.add_session_config_entry("session.intra_op.allow_spinning", "0")
                so.log_severity_level = 3
                s = ort.InferenceSession(str(self.model), so, providers=["CPUExecutionProvider"])
                self._sessions[n] = s
        return s

    def run(self, texts: list[str], threads: int) -> np.ndarray:
        """Vectors of ``texts`` as one batch (the graph pools and normalises)."""
        s = self.session(threads)
        feeds = self.tokenize(texts)
        wanted = {i.name for i in s.get_inputs()}
        out = s.run(None, {k: v for k, v in feeds.items() if k in wanted})[0]
        return np.asarray(out, dtype=np.float32)
