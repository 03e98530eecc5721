"""Generation: engines behind one protocol, the prompt templates, and citation mapping."""

from ragtune.generate.base import Engine, Generation, GenParams, get_engine

__all__ = ["Engine", "GenParams", "Generation", "get_engine"]
