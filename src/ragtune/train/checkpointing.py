"""Activation (gradient) checkpointing switched on and off on a transformers model, LoRA-wrapped or not."""

from __future__ import annotations

import torch

from ragtune.errors import TrainingError


def _hf_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def set_gradient_checkpointing(model: torch.nn.Module, on: bool) -> None:
    """Turn transformers' activation checkpointing on or off for ``model`` (LoRA-wrapped or not).

    Each decoder layer keeps only its input; the rest is recomputed in the backward pass. The
    non-reentrant form (``use_reentrant=False``) restores the RNG state, so dropout draws the same
    masks and the losses and gradients are the ones without it. Frozen embeddings give the first
    layer an input that needs no gradient; ``enable_input_require_grads`` (a hook on the input
    embeddings, which transformers adds itself on enabling, and which is removed here on
    disabling) keeps the LoRA weights of that layer receiving theirs.
    """
    hf = _hf_model(model)
    if not getattr(hf, "supports_gradient_checkpointing", False):
        if on:
            raise TrainingError(f"gradient_checkpointing: {type(hf).__name__} does not support it; "
                                "train with --no-gradient-checkpointing")
        return
    kwargs = {"use_reentrant": False}
    if on:
        if hasattr(hf, "activation_checkpointing_enable"):  # transformers >= 5
            hf.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        if not (getattr(hf, "_require_grads_hooks", None) or getattr(hf, "_require_grads_hook", None)):
            hf.enable_input_require_grads()  # older transformers leave it to the caller
    else:
        if hasattr(hf, "activation_checkpointing_disable"):
            hf.activation_checkpointing_disable()
        else:
            hf.gradient_checkpointing_disable()
        if hasattr(hf, "disable_input_require_grads") and getattr(hf, "_require_grads_hooks", None):
            hf.disable_input_require_grads()
