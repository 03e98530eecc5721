"""A small error hierarchy. Every message names the bad value and the fix, on one line.

The CLI turns any ``RagtuneError`` into that one line and a non-zero exit; a traceback
means a bug in ragtune, never a user mistake.
"""

from __future__ import annotations


class RagtuneError(Exception):
    """Base of every error ragtune raises on purpose."""

    exit_code = 1


class ConfigError(RagtuneError):
    """A setting is missing or has a value that is not allowed."""

    exit_code = 2


class ModelNotFoundError(RagtuneError):
    """A model name or path resolves to nothing usable."""


class KnowledgeBaseError(RagtuneError):
    """A knowledge base does not exist, already exists, or cannot be opened."""


class IngestError(RagtuneError):
    """One input file cannot be read; the rest of the batch goes on."""


class DataError(RagtuneError):
    """Training or evaluation data is malformed (the message names the file and line)."""


class EngineError(RagtuneError):
    """A generation engine failed or is missing its optional dependency."""


class TrainingError(RagtuneError):
    """A training run cannot start or continue."""


def missing_extra(package: str, extra: str) -> EngineError:
    """The error for an optional dependency that is not installed."""
    return EngineError(f"the optional package '{package}' is not installed: pip install 'ragtune[{extra}]'")
