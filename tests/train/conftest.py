"""Shared fixtures for the training tests: the bundled model, loaded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def base_spec():
    from ragtune.registry import resolve

    return resolve("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def tokenizer(base_spec):
    """The bundled model's tokenizer (the first call writes the float32 cache, ~20 s once a machine)."""
    from ragtune.train.model_io import load_tokenizer

    return load_tokenizer(base_spec)
