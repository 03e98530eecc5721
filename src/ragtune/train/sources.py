"""Where the documents-based recipes (cpt, synth, raft) get their chunks, and the generator they use.

Chunks come from a knowledge base (``ragtune.kb.kb_chunks``, opened by the caller: the same chunks
RAG retrieves, so both approaches see the same text) or from files, loaded and chunked exactly
like ``ragtune ingest`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ragtune.embedding import get_embedder
from ragtune.errors import DataError
from ragtune.generate import GenParams, get_engine
from ragtune.ingest import chunk_document, token_counter
from ragtune.registry import resolve
from ragtune.train.data import load_documents
from ragtune.types import Chunk

Message = dict[str, str]
GenerateFn = Callable[[list[Message], float, int, int], str]  # (messages, temperature, seed, max_tokens)


def chunks_from_paths(settings: Any, paths: Sequence[str | Path],
                      count_tokens: Callable[[str], int] | None = None) -> list[Chunk]:
    """Load files like ``ragtune ingest`` and chunk them with ``[chunking]`` and the embedder's tokenizer."""
    docs = load_documents(list(paths), settings)
    if count_tokens is None:
        count_tokens = token_counter(get_embedder(resolve(settings.models.embedder, settings)).tokenizer)
    out: list[Chunk] = []
    for d in docs:
        out += chunk_document(d, count_tokens, settings.chunking.max_tokens, settings.chunking.overlap_tokens)
    return out


def load_chunks(settings: Any, kb_chunks: Callable[[], list[Chunk]] | None = None,
                paths: Sequence[str | Path] | None = None,
                count_tokens: Callable[[str], int] | None = None) -> list[Chunk]:
    """The chunks of a knowledge base (``kb_chunks``, a loader the caller gives) or of files."""
    if bool(kb_chunks) == bool(paths):
        raise DataError("give the documents either as --kb NAME or as files/folders, not both or neither")
    return kb_chunks() if kb_chunks else chunks_from_paths(settings, paths or [], count_tokens)


def make_generate(settings: Any, model: str | None = None) -> GenerateFn:
    """The configured generator (llama.cpp for GGUF) as a plain function, for data generation."""
    engine = get_engine(resolve(model or settings.models.generator, settings), settings.generation)

    def generate(messages: list[Message], temperature: float = 0.0, seed: int = 0,
                 max_tokens: int = 256) -> str:
        params = GenParams(max_tokens=max_tokens, temperature=temperature, top_p=1.0, seed=seed)
        return engine.generate(messages, params).text.strip()

    return generate
