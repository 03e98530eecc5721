"""Turning a sentence-transformers folder into ONNX files, once, locally, and caching them.

Nothing comes from a hub: the bundled folder's own weights are traced with ``torch.onnx.export``
(the transformer, its pooling and the L2 normalisation in one graph, eager attention so that
ONNX Runtime's BERT optimiser can fuse it), then

- ``model.onnx``: that graph optimised by ``onnxruntime.transformers.optimizer`` (fused attention,
  GELU and layer norms) for BERT-type models, by ONNX Runtime's generic passes otherwise. The
  optimised graph is kept only if it gives the same vectors as the plain export on sample texts.
- ``model-int8.onnx``: ``model.onnx`` with dynamic int8 quantisation of its matrix products
  (weights per output channel, activations per batch), made on first use of ``onnx-int8``.

The files live in ``$RAGTUNE_CACHE_DIR/onnx/<fingerprint>/`` (default ``~/.cache/ragtune``, beside the
dequantised GGUF copies), keyed by the model's fingerprint; ``stamp.json`` records the source files'
sizes and times and the versions that made them, and a mismatch re-exports. Files are written under
temporary names and renamed into place, so two processes exporting at once both end with whole files.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

from ragtune.embedding.folder import StFolder
from ragtune.embedding.onnx_runner import OnnxRunner, OnnxTokenizer
from ragtune.errors import ModelNotFoundError
from ragtune.modeling import cache_root

EXPORT_VERSION = 1  # bump when the graph changes; older cached files are then re-made
FP32, INT8 = "model.onnx", "model-int8.onnx"
_SAMPLES = ["What is the capital of France?",
            "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region "
            "in France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway.", "ok"]


def cache_dir(fingerprint: str) -> Path:
    return cache_root() / "onnx" / fingerprint


def _stamp(folder: StFolder) -> dict:
    import onnxruntime

    files = sorted(p for p in folder.path.rglob("*") if p.is_file())
    return {"export": EXPORT_VERSION, "onnxruntime": onnxruntime.__version__,
            "source": str(folder.path), "files": [[str(p.relative_to(folder.path)), p.stat().st_size,
                                                   p.stat().st_mtime_ns] for p in files]}


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_onnx(folder: StFolder, fingerprint: str, int8: bool) -> tuple[Path, dict[str, float]]:
    """The cached ONNX file for ``folder`` (exported now if missing or stale) and what making it took."""
    d = cache_dir(fingerprint)
    d.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(folder)
    stamp_path = d / "stamp.json"
    try:
        fresh = json.loads(stamp_path.read_text()) == stamp
    except (OSError, ValueError):
        fresh = False
    made: dict[str, float] = {}
    if not fresh or not (d / FP32).exists() or (int8 and not (d / INT8).exists()):
        print(f"preparing the embedder for ONNX Runtime, once: its files are cached in {d}", file=sys.stderr)
    if not fresh or not (d / FP32).exists():
        (d / INT8).unlink(missing_ok=True)
        t = time.perf_counter()
        _export_fp32(folder, d / FP32)
        made["export_s"] = time.perf_counter() - t
        _write_atomic(stamp_path, lambda p: p.write_text(json.dumps(stamp)))
    if int8 and not (d / INT8).exists():
        t = time.perf_counter()
        _write_atomic(d / INT8, lambda p: _quantise(d / FP32, p))
        made["quantise_s"] = time.perf_counter() - t
    return d / (INT8 if int8 else FP32), made


def _export_fp32(folder: StFolder, target: Path) -> None:
    if not folder.plain or folder.pooling not in ("mean", "cls"):
        raise ModelNotFoundError(
            f"embedder {folder.path} has modules {'+'.join(folder.modules)} with {folder.pooling} pooling; the ONNX "
            "backends export a transformer with mean or CLS pooling only: set embedding.backend = torch")
    raw = target.with_name(f".raw.{uuid.uuid4().hex[:8]}.onnx")
    try:
        _trace(folder, raw)
        _write_atomic(target, lambda p: _optimise(folder, raw, p))
    finally:
        raw.unlink(missing_ok=True)


def _trace(folder: StFolder, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(folder.path), attn_implementation="eager", local_files_only=True).eval()
    cls_pool = folder.pooling == "cls"
    cfg = AutoConfig.from_pretrained(str(folder.path), local_files_only=True)
    with_types = getattr(cfg, "type_vocab_size", 0) > 0

    class Pooled(torch.nn.Module):
        """The transformer + pooling + L2 normalisation, as sentence-transformers computes them."""

        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kw = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            h = self.m(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
            if cls_pool:
                e = h[:, 0]
            else:
                w = attention_mask.unsqueeze(-1).to(h.dtype)
                e = (h * w).sum(1) / w.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(e, p=2, dim=1)

    feeds = OnnxTokenizer(folder)(_SAMPLES[:2])
    ids, mask, types = (torch.from_numpy(feeds[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    args = (ids, mask, types) if with_types else (ids, mask)
    names = ["input_ids", "attention_mask", "token_type_ids"][:len(args)]
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled().eval(), args, str(out), input_names=names, output_names=["embedding"],
                          dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)


def _optimise(folder: StFolder, raw: Path, out: Path) -> None:
    """Fuse the graph for ONNX Runtime; keep the fused graph only where it gives the raw graph's vectors."""
    import onnxruntime as ort
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(str(folder.path), local_files_only=True)
    if cfg.model_type == "bert":
        from onnxruntime.transformers.optimizer import optimize_model

        opt = optimize_model(str(raw), model_type="bert", num_heads=cfg.num_attention_heads,
                             hidden_size=cfg.hidden_size, opt_level=1)
        opt.save_model_to_file(str(out))
    else:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = str(out)
        ort.InferenceSession(str(raw), so, providers=["CPUExecutionProvider"])
    if _agreement(raw, out, folder) < 0.99999:
        out.write_bytes(raw.read_bytes())


def _agreement(a: Path, b: Path, folder: StFolder) -> float:
    """The lowest cosine between the vectors of two graphs on the sample texts."""
    va, vb = (OnnxRunner(p, folder).run(_SAMPLES, threads=1) for p in (a, b))
    return float(np.min(np.sum(va * vb, axis=1)))


def _quantise(src: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice on the root logger ("consider pre-processing")
    try:
        quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)
