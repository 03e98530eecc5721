"""A tiny random llama (a few hundred KB) and toy data, so loop tests run in seconds."""

from __future__ import annotations

import torch

from ragtune.train.data import Example


def tiny_llama(seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      tie_word_embeddings=True)
    return LlamaForCausalLM(cfg)


def toy_examples(n: int = 8, seed: int = 0) -> list[Example]:
    """Sequences with a learnable pattern: the answer repeats the prompt's first tokens."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        k = 4 + i % 3
        prompt = torch.randint(3, 64, (k,), generator=g).tolist()
        answer = prompt[:3] + [2]
        out.append(Example(prompt + answer, [-100] * k + answer, f"toy:{i + 1}"))
    return out
