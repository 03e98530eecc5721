"""Generation: engines behind one protocol, the prompt templates, and citation mapping.

Importing the package registers the built-in engines (llama.cpp, transformers, HTTP) in the
engine table, the same way a third-party package registers its own with ``register_engine``.
"""

from ragtune.generate import hf, http, llamacpp  # noqa: F401 - the built-ins register themselves on import
from ragtune.generate.base import Engine, Generation, GenParams, clear_engines, get_engine
from ragtune.generate.registry import ENGINES, engine_class, register_engine

__all__ = ["ENGINES", "Engine", "GenParams", "Generation", "clear_engines", "engine_class", "get_engine",
           "register_engine"]
