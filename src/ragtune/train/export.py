"""Export a trained LoRA adapter: as a GGUF adapter for llama.cpp, or merged into a Hugging Face folder.

The GGUF adapter lets the quantised base answer with the fine-tune at llama.cpp speed, without
merging. Three details decide whether it works, all taken from llama.cpp's own
``convert_lora_to_gguf.py`` / ``convert_hf_to_gguf.py``:

1. Names: ``model.layers.3.self_attn.q_proj`` becomes ``blk.3.attn_q.weight`` through gguf's
   HF->GGUF tensor name map; A and B get the suffixes ``.lora_a`` / ``.lora_b``.
2. Shapes: PEFT's ``lora_A`` is ``(r, in)`` and ``lora_B`` is ``(out, r)``. GGUF stores dims
   reversed, so written as they are they become ggml ``ne = (in, r)`` and ``(r, out)``, which is
   what llama.cpp checks (``a.ne[0] == W.ne[0]``, ``b.ne[1] == W.ne[1]``, ``a.ne[1] == b.ne[0]``).
3. Rotary layout: when a llama model is converted to GGUF, the rows of ``q_proj`` and ``k_proj``
   are permuted (``LlamaModel.permute``: within each head, interleave the two rotary halves).
   ``delta_W = B @ A``, so permuting the rows of ``delta_W`` is permuting the rows of ``B``:
   q's ``lora_b`` gets the permutation with ``n_head``, k's with ``n_head_kv``. Skip it and the
   adapter still loads, but its q/k updates land on the wrong rotary dimensions.

llama.cpp scales every pair by ``alpha / rank`` with one ``adapter.lora.alpha``; PEFT may use a
per-module rank/alpha (``rank_pattern``/``alpha_pattern``) or rsLoRA (``alpha / sqrt(r)``). Any
difference is folded into ``lora_b`` so that llama.cpp applies exactly PEFT's scale.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.errors import ModelNotFoundError, TrainingError, missing_extra
from ragtune.gguf_header import gguf_metadata
from ragtune.registry import ModelSpec
from ragtune.train.model_io import load_causal_lm

# transformers model_type -> GGUF architecture whose q/k rows llama.cpp permutes.
_LLAMA_LIKE = {"llama", "mistral"}
_PEFT_PREFIX = "base_model.model."


# --------------------------------------------------------------------------- adapter reading
def read_adapter_config(adapter_dir: Path) -> dict[str, Any]:
    """The adapter's ``adapter_config.json``, refused early if llama.cpp cannot apply it."""
    adapter_dir = Path(adapter_dir)
    cfg_path = adapter_dir / "adapter_config.json"
    if not cfg_path.exists():
        raise ModelNotFoundError(f"{adapter_dir} has no adapter_config.json; pass a folder a LoRA run saved")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    peft_type = str(cfg.get("peft_type", "LORA")).upper()
    refusal = None
    if peft_type != "LORA":
        refusal = f"peft_type {peft_type} cannot be exported; only plain LoRA adapters can"
    elif cfg.get("use_dora"):
        refusal = "DoRA adapters cannot run in llama.cpp; merge it with merge_adapter"
    elif cfg.get("fan_in_fan_out"):
        refusal = "fan_in_fan_out (Conv1D) adapters are not supported; merge it with merge_adapter"
    elif cfg.get("modules_to_save"):
        refusal = (f"modules_to_save {cfg['modules_to_save']} are full modules, not LoRA pairs, and a GGUF "
                   "adapter cannot carry them; merge with merge_adapter instead")
    elif str(cfg.get("bias", "none")) != "none":
        refusal = f"LoRA bias={cfg['bias']!r} cannot be exported; train with bias='none'"
    elif "lora_alpha" not in cfg or "r" not in cfg:
        refusal = "adapter_config.json lacks lora_alpha or r; re-save the adapter with peft"
    if refusal:
        raise TrainingError(f"{adapter_dir}: {refusal}")
    return cfg


def _load_adapter_tensors(adapter_dir: Path) -> dict[str, Any]:
    st = adapter_dir / "adapter_model.safetensors"
    if st.exists():
        from safetensors.torch import load_file

        return load_file(str(st), device="cpu")
    binf = adapter_dir / "adapter_model.bin"
    if binf.exists():
        import torch

        return torch.load(str(binf), map_location="cpu", weights_only=True)
    raise ModelNotFoundError(f"{adapter_dir} has no adapter_model.safetensors; pass a LoRA run folder")


def _pattern_value(module: str, pattern: dict[str, Any], default: Any) -> Any:
    """PEFT's rule for rank_pattern/alpha_pattern: a key matches the end of the module name."""
    for key, value in (pattern or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def pair_lora_tensors(tensors: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{hf_weight_name: (A, B)}`` from PEFT's flat state dict, refusing anything that is not a pair."""
    pairs: dict[str, dict[str, Any]] = {}
    for key, t in tensors.items():
        m = re.match(r"^(.*)\.lora_([AB])(?:\.[^.]+)?\.weight$", key)
        if not m:
            raise TrainingError(
                f"adapter tensor {key!r} is not a LoRA A/B matrix (trained embeddings or extra modules?); "
                "merge with merge_adapter instead"
            )
        name = m.group(1)
        name = name[len(_PEFT_PREFIX):] if name.startswith(_PEFT_PREFIX) else name
        pairs.setdefault(name + ".weight", {})[m.group(2)] = t
    out = {}
    for name, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise TrainingError(f"adapter tensor pair for {name} is missing lora_{'B' if 'A' in ab else 'A'}")
        out[name] = (ab["A"], ab["B"])
    return out


# --------------------------------------------------------------------------- base model facts
def base_hparams(base_spec: ModelSpec) -> dict[str, Any]:
    """Architecture, layer and head counts of the base, from the GGUF header or config.json.

    The head counts must be those the base's GGUF conversion used, because the q/k row
    permutation of the adapter has to match the one baked into the base weights.
    """
    path = base_spec.local_path
    if base_spec.kind == "gguf" or path.suffix == ".gguf":
        arch = gguf_metadata(path, {"general.architecture"}).get("general.architecture")
        keys = {f"{arch}.attention.head_count", f"{arch}.attention.head_count_kv", f"{arch}.block_count"}
        meta = gguf_metadata(path, keys)
        n_head = meta.get(f"{arch}.attention.head_count")
        n_kv = meta.get(f"{arch}.attention.head_count_kv") or n_head
        n_layer = meta.get(f"{arch}.block_count")
        if arch is None or n_head is None or n_layer is None:
            raise TrainingError(f"base {base_spec.name!r}: {path} has no architecture, head or block count in its "
                                "GGUF header; give the Hugging Face folder of the model instead")
        return {"arch": arch, "n_head": int(n_head), "n_head_kv": int(n_kv), "n_layer": int(n_layer)}
    cfg_path = path / "config.json"
    if not cfg_path.exists():
        raise ModelNotFoundError(f"base model {base_spec.name!r}: {cfg_path} is missing")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    model_type = cfg.get("model_type", "")
    arch = "llama" if model_type in _LLAMA_LIKE else model_type
    n_head = int(cfg["num_attention_heads"])
    return {
        "arch": arch,
        "n_head": n_head,
        "n_head_kv": int(cfg.get("num_key_value_heads") or n_head),
        "n_layer": int(cfg["num_hidden_layers"]),
    }


def llama_permute(rows: np.ndarray, n_head: int) -> np.ndarray:
    """The row permutation llama.cpp's converter applies to q/k weights (``LlamaModel.permute``).

    HF stores each head's rotary dims as two halves [x0..x{d/2-1}, y0..]; llama.cpp wants them
    interleaved [x0, y0, x1, y1, ...]. Works on any matrix whose rows are the projection outputs.
    """
    out_dim = rows.shape[0]
    return (
        rows.reshape(n_head, 2, out_dim // n_head // 2, *rows.shape[1:])
        .swapaxes(1, 2)
        .reshape(rows.shape)
    )


# --------------------------------------------------------------------------- GGUF export
def export_gguf_adapter(
    adapter_dir: Path,
    base_spec: ModelSpec,
    out_path: Path,
    *,
    dtype: str = "f32",
    permute: bool = True,
) -> Path:
    """Write the PEFT LoRA adapter in ``adapter_dir`` as a llama.cpp LoRA GGUF at ``out_path``.

    ``dtype`` is ``f32`` (default; the adapter is small) or ``f16``. ``permute=False`` exists
    only to prove, in tests, that the rotary permutation matters; never use it for real.
    The file is written to a temporary name and renamed, so a crash leaves no half file.
    """
    import gguf

    adapter_dir, out_path = Path(adapter_dir), Path(out_path)
    if dtype not in ("f32", "f16"):
        raise TrainingError(f"GGUF adapter dtype {dtype!r} is not supported; use 'f32' or 'f16'")
    cfg = read_adapter_config(adapter_dir)
    hp = base_hparams(base_spec)
    if hp["arch"] != "llama":
        raise TrainingError(
            f"base {base_spec.name!r} has architecture {hp['arch']!r}; GGUF adapter export supports "
            "llama-type models only: use merge_adapter for others"
        )
    alpha = float(cfg["lora_alpha"])
    if alpha <= 0:
        raise TrainingError(f"{adapter_dir}: lora_alpha must be positive, got {alpha}")
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, hp["n_layer"])
    np_dtype = np.float32 if dtype == "f32" else np.float16

    written: list[tuple[str, np.ndarray]] = []
    for hf_name, (a, b) in sorted(pair_lora_tensors(_load_adapter_tensors(adapter_dir)).items()):
        gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight",))
        if gguf_name is None:
            raise TrainingError(f"adapter targets {hf_name}, which has no llama.cpp tensor; merge instead")
        if gguf_name.startswith(("token_embd", "output.")):
            raise TrainingError(f"adapter targets {hf_name} (embeddings/lm head); only attention/MLP export")
        a = a.float().numpy()
        b = b.float().numpy()
        module = hf_name[: -len(".weight")]
        rank = a.shape[0]
        m_rank = int(_pattern_value(module, cfg.get("rank_pattern") or {}, cfg["r"]))
        if m_rank != rank:
            raise TrainingError(f"{hf_name}: lora_A has rank {rank} but adapter_config says {m_rank}")
        m_alpha = float(_pattern_value(module, cfg.get("alpha_pattern") or {}, alpha))
        peft_scale = m_alpha / (math.sqrt(rank) if cfg.get("use_rslora") else rank)
        llama_scale = alpha / rank
        if not math.isclose(peft_scale, llama_scale, rel_tol=1e-9):
            b = b * (peft_scale / llama_scale)
        if permute and gguf_name.endswith("attn_q.weight"):
            b = llama_permute(b, hp["n_head"])
        elif permute and gguf_name.endswith("attn_k.weight"):
            b = llama_permute(b, hp["n_head_kv"])
        written.append((gguf_name + ".lora_a", np.ascontiguousarray(a, dtype=np_dtype)))
        written.append((gguf_name + ".lora_b", np.ascontiguousarray(b, dtype=np_dtype)))
    if not written:
        raise TrainingError(f"{adapter_dir} holds no LoRA tensors")

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out_path.name + ".", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes it private (0600); the adapter is an ordinary shared file
    try:
        writer = gguf.GGUFWriter(tmp, arch="llama")
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        writer.add_name(adapter_dir.name)
        for name, arr in written:
            writer.add_tensor(name, arr)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path


# --------------------------------------------------------------------------- loading helpers
def load_base_causal_lm(base_spec: ModelSpec):
    """A fresh float32 transformers copy of the base and its tokenizer (via the cached HF copy of a GGUF)."""
    import torch

    model, tok = load_causal_lm(base_spec, torch.float32)
    model.eval()
    return model, tok


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = x.astype(np.float64).ravel() - x.mean()
    y = y.astype(np.float64).ravel() - y.mean()
    denom = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else 0.0


def _llama_cpp_logits(model_path: str, ids: list[int], lora_path: str | None, n_threads: int) -> np.ndarray:
    try:
        from llama_cpp import Llama
    except ImportError as e:
        raise missing_extra("llama-cpp-python", "llama") from e
    kw: dict[str, Any] = {"lora_path": lora_path} if lora_path else {}
    llm = Llama(
        model_path=model_path, n_ctx=max(64, len(ids) + 8), logits_all=True, n_threads=n_threads,
        n_threads_batch=n_threads, verbose=False, seed=0, **kw,
    )
    try:
        llm.reset()
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


def verify_gguf_adapter(
    base_spec: ModelSpec,
    adapter_dir: Path,
    gguf_adapter: Path,
    prompt: str,
    *,
    n_threads: int = 1,
) -> dict[str, float]:
    """Check that llama.cpp applies the GGUF adapter the way PEFT applies the original.

    Four sets of logits over every position of ``prompt`` (same token ids everywhere):
    (a) transformers base, (b) transformers + PEFT, (c) llama.cpp base, (d) llama.cpp + GGUF adapter.
    The llama.cpp base is quantised, so raw logits differ a little from (a); what must agree
    is the adapter's *effect*: ``corr(b - a, d - c)`` over positions x vocabulary. Also reports
    the last-position correlation and how often (b) and (d) pick the same top-1 token.
    """
    import torch
    from peft import PeftModel

    if base_spec.kind != "gguf":
        raise TrainingError(f"verify needs a GGUF base for llama.cpp; {base_spec.name!r} is {base_spec.kind}")
    model, tok = load_base_causal_lm(base_spec)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    if not ids:
        raise TrainingError("verify_gguf_adapter needs a non-empty prompt")
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir))
    peft_model.eval()
    x = torch.tensor([ids])
    try:
        with torch.inference_mode():
            with peft_model.disable_adapter():
                a = peft_model(input_ids=x).logits[0].float().numpy()
            b = peft_model(input_ids=x).logits[0].float().numpy()
    finally:
        peft_model.unload()
    c = _llama_cpp_logits(str(base_spec.local_path), ids, None, n_threads)
    d = _llama_cpp_logits(str(base_spec.local_path), ids, str(gguf_adapter), n_threads)
    vocab = min(a.shape[1], c.shape[1])
    a, b, c, d = a[:, :vocab], b[:, :vocab], c[:, :vocab], d[:, :vocab]
    eff_hf, eff_cpp = b - a, d - c
    return {
        "n_tokens": len(ids),
        "effect_corr": _pearson(eff_hf, eff_cpp),
        "effect_corr_last": _pearson(eff_hf[-1], eff_cpp[-1]),
        "top1_agreement": float((b.argmax(-1) == d.argmax(-1)).mean()),
        "base_top1_agreement": float((a.argmax(-1) == c.argmax(-1)).mean()),
        # The quantised base's own deviation: effects much smaller than this are lost in its noise.
        "base_rms_diff": float(np.sqrt(((a - c) ** 2).mean())),
        "effect_rms_hf": float(np.sqrt((eff_hf**2).mean())),
        "effect_rms_llama_cpp": float(np.sqrt((eff_cpp**2).mean())),
    }


# --------------------------------------------------------------------------- merge
def merge_adapter(base_spec: ModelSpec, adapter_dir: Path, out_dir: Path) -> Path:
    """A standalone Hugging Face folder (safetensors, config, tokenizer) with the adapter merged in.

    Loadable by ``AutoModelForCausalLM.from_pretrained(out_dir)`` with no peft installed.
    Built in a temporary sibling folder and renamed, so ``out_dir`` is never half-written.
    """
    from peft import PeftModel

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if not (adapter_dir / "adapter_config.json").exists():
        raise ModelNotFoundError(f"{adapter_dir} has no adapter_config.json; pass a folder a LoRA run saved")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise TrainingError(f"{out_dir} exists and is not empty; choose a new folder or delete it")
    model, tok = load_base_causal_lm(base_spec)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", suffix=".tmp", dir=out_dir.parent))
    try:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir

