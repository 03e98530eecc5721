"""GGUF adapter export and merge.

The fast tests check the file layout against hand-computed tensors; the slow ones load the
GGUF adapter into llama.cpp and compare the adapter's effect on the logits with PEFT's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ragtune.errors import ModelNotFoundError, TrainingError
from ragtune.train.export import (
    export_gguf_adapter,
    llama_permute,
    merge_adapter,
    pair_lora_tensors,
    read_adapter_config,
    verify_gguf_adapter,
)

HIDDEN, KV_DIM = 576, 192  # SmolLM2-135M: 9 heads, 3 kv heads, head_dim 64
PROMPT = (
    "Question: What is the capital of France?\nAnswer: The capital of France is Paris, "
    "a city on the river Seine."
)


def _fake_adapter(folder: Path, config: dict, ranks: dict[str, int], seed=0) -> dict[str, torch.Tensor]:
    """A PEFT-style adapter folder for layer 0 of the bundled model, without loading the model."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    out_dims = {"q_proj": HIDDEN, "k_proj": KV_DIM, "down_proj": HIDDEN}
    in_dims = {"q_proj": HIDDEN, "k_proj": HIDDEN, "down_proj": 1536}
    tensors = {}
    for mod, r in ranks.items():
        part = "mlp" if mod == "down_proj" else "self_attn"
        prefix = f"base_model.model.model.layers.0.{part}.{mod}"
        tensors[f"{prefix}.lora_A.weight"] = torch.randn(r, in_dims[mod], generator=g)
        tensors[f"{prefix}.lora_B.weight"] = torch.randn(out_dims[mod], r, generator=g)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    base = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "bias": "none", "target_modules": list(ranks)}
    (folder / "adapter_config.json").write_text(json.dumps({**base, **config}))
    return tensors


def _read_gguf(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    import gguf

    reader = gguf.GGUFReader(str(path))
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    # GGUFReader gives tensors in numpy order (the reverse of ggml's ne), as the writer received them.
    tensors = {t.name: np.array(t.data) for t in reader.tensors}
    return fields, tensors


def test_permutation_interleaves_rotary_halves():
    # One head of dim 4: HF rows [x0, x1, y0, y1] become llama.cpp rows [x0, y0, x1, y1].
    rows = np.arange(8, dtype=np.float32).reshape(8, 1)  # two heads
    assert llama_permute(rows, 2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_gguf_layout_names_shapes_alpha_and_permuted_b(tmp_path, base_spec):
    tensors = _fake_adapter(tmp_path / "ad", {}, {"q_proj": 8, "k_proj": 8, "down_proj": 8})
    out = export_gguf_adapter(tmp_path / "ad", base_spec, tmp_path / "ad.gguf")
    fields, got = _read_gguf(out)
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["general.architecture"] == "llama"
    assert fields["adapter.lora.alpha"] == pytest.approx(16.0)
    assert sorted(got) == sorted(
        f"blk.0.{t}.weight.lora_{ab}" for t in ("attn_q", "attn_k", "ffn_down") for ab in "ab"
    )
    p = "base_model.model.model.layers.0"
    # A is written as PEFT stores it (r, in) -> ggml ne (in, r); B as (out, r) -> ne (r, out).
    q_a = tensors[f"{p}.self_attn.q_proj.lora_A.weight"].numpy()
    np.testing.assert_array_equal(got["blk.0.attn_q.weight.lora_a"], q_a)
    q_b = tensors[f"{p}.self_attn.q_proj.lora_B.weight"].numpy()
    k_b = tensors[f"{p}.self_attn.k_proj.lora_B.weight"].numpy()
    np.testing.assert_array_equal(got["blk.0.attn_q.weight.lora_b"], llama_permute(q_b, 9))
    np.testing.assert_array_equal(got["blk.0.attn_k.weight.lora_b"], llama_permute(k_b, 3))
    assert not np.array_equal(got["blk.0.attn_q.weight.lora_b"], q_b)  # the permutation did something
    np.testing.assert_array_equal(
        got["blk.0.ffn_down.weight.lora_b"], tensors[f"{p}.mlp.down_proj.lora_B.weight"].numpy()
    )


def test_rank_alpha_patterns_and_rslora_are_folded_into_b(tmp_path, base_spec):
    # q: rank 4 (rank_pattern), alpha 16 -> PEFT scale 16/sqrt(4) = 8 under rsLoRA; llama.cpp 16/4 = 4.
    # down: rank 8, alpha 32 (alpha_pattern) -> PEFT 32/sqrt(8); llama.cpp 16/8.
    cfg = {"rank_pattern": {"q_proj": 4}, "alpha_pattern": {"down_proj": 32}, "use_rslora": True}
    tensors = _fake_adapter(tmp_path / "ad", cfg, {"q_proj": 4, "down_proj": 8})
    _, got = _read_gguf(export_gguf_adapter(tmp_path / "ad", base_spec, tmp_path / "ad.gguf"))
    p = "base_model.model.model.layers.0"
    q_b = tensors[f"{p}.self_attn.q_proj.lora_B.weight"].numpy()
    np.testing.assert_allclose(got["blk.0.attn_q.weight.lora_b"], llama_permute(q_b, 9) * (8 / 4), rtol=1e-6)
    d_b = tensors[f"{p}.mlp.down_proj.lora_B.weight"].numpy()
    np.testing.assert_allclose(
        got["blk.0.ffn_down.weight.lora_b"], d_b * ((32 / np.sqrt(8)) / (16 / 8)), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"use_dora": True}, "DoRA"),
        ({"peft_type": "IA3"}, "IA3"),
        ({"modules_to_save": ["score"]}, "modules_to_save"),
        ({"bias": "all"}, "bias"),
    ],
)
def test_unsupported_adapters_are_refused_with_the_reason(tmp_path, config, fragment):
    _fake_adapter(tmp_path / "ad", config, {"q_proj": 8})
    with pytest.raises(TrainingError, match=fragment):
        read_adapter_config(tmp_path / "ad")


def test_missing_adapter_and_unpaired_tensor(tmp_path):
    with pytest.raises(ModelNotFoundError, match="adapter_config.json"):
        read_adapter_config(tmp_path)
    a = torch.zeros(2, 2)
    with pytest.raises(TrainingError, match="missing lora_B"):
        pair_lora_tensors({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": a})
    with pytest.raises(TrainingError, match="not a LoRA"):
        pair_lora_tensors({"base_model.model.model.embed_tokens.weight": a})


# ---------------------------------------------------------------------------------------- slow
@pytest.fixture(scope="module")
def real_adapter(tmp_path_factory, base_spec):
    """A LoRA on every linear layer of the bundled model with random (non-zero) B, so it has an effect.

    Returns the folder and the base+PEFT logits on PROMPT, for comparison with the merged model.
    """
    from peft import LoraConfig, get_peft_model

    from ragtune.train.export import load_base_causal_lm

    torch.manual_seed(0)
    model, tok = load_base_causal_lm(base_spec)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    cfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets, init_lora_weights=False)
    peft_model = get_peft_model(model, cfg).eval()
    folder = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(str(folder))
    ids = tok(PROMPT, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logits = peft_model(input_ids=ids).logits
    return folder, ids, logits


@pytest.fixture(scope="module")
def good_report(real_adapter, base_spec, tmp_path_factory):
    folder, _, _ = real_adapter
    gguf_path = export_gguf_adapter(folder, base_spec, tmp_path_factory.mktemp("gguf") / "adapter.gguf")
    return verify_gguf_adapter(base_spec, folder, gguf_path, PROMPT)


@pytest.mark.slow
def test_gguf_adapter_matches_peft_in_llama_cpp(good_report):
    # The adapter really moves the logits, well above the quantised base's own noise...
    assert good_report["effect_rms_hf"] > 3 * good_report["base_rms_diff"], good_report
    # ...and llama.cpp moves them the same way.
    assert good_report["effect_corr"] > 0.9, good_report
    assert good_report["top1_agreement"] >= 0.8, good_report


@pytest.mark.slow
def test_export_without_rotary_permutation_is_caught(real_adapter, base_spec, tmp_path):
    """Proof that the check can fail: without the q/k row permutation the correlation collapses.

    Uses the q/k pairs of the real adapter alone, so the permutation decides the whole effect.
    """
    from safetensors.torch import load_file, save_file

    folder, _, _ = real_adapter
    qk = tmp_path / "qk"
    qk.mkdir()
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    save_file({k: v for k, v in tensors.items() if ".q_proj." in k or ".k_proj." in k},
              str(qk / "adapter_model.safetensors"))
    cfg = json.loads((folder / "adapter_config.json").read_text())
    (qk / "adapter_config.json").write_text(json.dumps({**cfg, "target_modules": ["q_proj", "k_proj"]}))

    good_path = export_gguf_adapter(qk, base_spec, tmp_path / "good.gguf")
    good = verify_gguf_adapter(base_spec, qk, good_path, PROMPT)
    bad_path = export_gguf_adapter(qk, base_spec, tmp_path / "bad.gguf", permute=False)
    bad = verify_gguf_adapter(base_spec, qk, bad_path, PROMPT)
    assert good["effect_corr"] > 0.9, good
    assert bad["effect_corr"] < 0.6, bad


@pytest.mark.slow
def test_merged_folder_loads_alone_and_matches_peft(real_adapter, base_spec, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, ids, peft_logits = real_adapter
    out = merge_adapter(base_spec, folder, tmp_path / "merged")
    assert (out / "config.json").exists() and list(out.glob("*.safetensors"))
    assert not (out / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert tok(PROMPT, return_tensors="pt")["input_ids"].tolist() == ids.tolist()
    with torch.inference_mode():
        merged_logits = model(input_ids=ids).logits
    torch.testing.assert_close(merged_logits, peft_logits, atol=2e-3, rtol=1e-3)
    with pytest.raises(TrainingError, match="not empty"):
        merge_adapter(base_spec, folder, out)
