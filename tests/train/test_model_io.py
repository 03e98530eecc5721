from __future__ import annotations

import pytest
import torch

from ragtune.errors import ModelNotFoundError
from ragtune.registry import ModelSpec
from ragtune.train.model_io import autocast_dtype, chat_segments, hf_model_dir


class _PlainTemplate:
    """A tokenizer stand-in whose template renders ``<role>content</role>`` pairs."""

    chat_template = "plain"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        out = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages)
        return out + ("<assistant>" if add_generation_prompt else "")


def test_precision_names_map_to_dtypes(monkeypatch):
    monkeypatch.delenv("RAGTUNE_PRECISION", raising=False)
    assert autocast_dtype("fp32") is None
    assert autocast_dtype("bf16") is torch.bfloat16
    monkeypatch.setenv("RAGTUNE_PRECISION", "fp32")
    assert autocast_dtype("auto") is None
    assert autocast_dtype("bf16") is torch.bfloat16  # an explicit choice beats the environment


def test_chat_segments_cover_the_whole_conversation_and_mark_only_replies():
    msgs = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"},
    ]
    segs = chat_segments(_PlainTemplate(), msgs)
    assert "".join(t for t, _ in segs) == _PlainTemplate().apply_chat_template(msgs)
    assert [t for t, trained in segs if trained] == ["A1</assistant>", "A2</assistant>"]


def test_real_template_segments(tokenizer):
    msgs = [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Ada."}]
    segs = chat_segments(tokenizer, msgs)
    assert segs[-1] == ("Ada.<|im_end|>\n", True)
    assert segs[0][0].endswith("<|im_start|>assistant\n") and not segs[0][1]


def test_embedders_cannot_be_fine_tuned_as_causal_lms():
    with pytest.raises(ModelNotFoundError, match="cannot be fine-tuned"):
        hf_model_dir(ModelSpec("e", "sentence-transformers", "/tmp"))


@pytest.mark.slow
def test_cached_copy_gives_the_same_logits_as_the_gguf(base_spec):
    from pathlib import Path

    from transformers import AutoModelForCausalLM

    from ragtune.train.model_io import load_causal_lm

    model, tok = load_causal_lm(base_spec)
    p = Path(base_spec.path)
    ref = AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name)
    ids = tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(**ids).logits, ref(**ids).logits, atol=1e-5)
