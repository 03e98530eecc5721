"""The plain data that flows between stages: documents, chunks, hits, answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Document:
    """One source unit after loading: a file, a PDF page range, or one JSONL/CSV row.

    ``doc_id`` is stable for the same source (path plus row or page key), so re-ingesting
    the same file replaces its chunks instead of duplicating them. ``content_hash`` is the
    SHA-256 of the text and decides whether the document changed.
    """

    doc_id: str
    source: str
    text: str
    title: str = ""
    content_hash: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    """A piece of a document small enough for the embedder and the prompt."""

    chunk_id: str
    doc_id: str
    source: str
    text: str
    index: int = 0
    title: str = ""
    page: int | None = None
    content_hash: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Hit:
    """A retrieved chunk with its score and, when known, its rank in each retriever."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    similarity: float | None = None  # cosine of query and chunk vectors, for relevance cut-offs

    def to_dict(self) -> dict[str, Any]:
        d = self.chunk.to_dict()
        d.update(score=self.score, dense_score=self.dense_score, bm25_score=self.bm25_score,
                 similarity=self.similarity)
        return d


@dataclass
class Citation:
    """A numbered reference ``[n]`` in an answer, mapped to the chunk it points at."""

    number: int
    chunk_id: str
    doc_id: str
    source: str
    text: str
    score: float
    cited: bool = True  # the answer text actually contains [n]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """A generated answer with everything needed to trace where it came from."""

    text: str
    mode: str
    question: str
    prompt: str = ""
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    model: str = ""
    adapter: str | None = None
    kb: str | None = None
    kb_version: int | None = None
    abstained: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "mode": self.mode,
            "question": self.question,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "retrieved": [h.to_dict() for h in self.hits],
            "model": self.model,
            "adapter": self.adapter,
            "kb": self.kb,
            "kb_version": self.kb_version,
            "prompt": self.prompt,
            "timings": self.timings,
            "usage": self.usage,
        }
