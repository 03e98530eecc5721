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
    """A retrieved passage numbered ``[n]`` in the prompt, and whether (and how) the answer cites it.

    ``method`` says how the citation was found: ``"model"`` when the answer wrote ``[n]`` itself
    and the passage supports that sentence, ``"attributed"`` when ragtune aligned an answer
    sentence with the passage after generation, ``"unsupported"`` when the model wrote ``[n]`` but
    the passage does not support the sentence it stands in, and ``""`` when it is not cited.
    ``spans`` are (start, end) character offsets into ``text`` (the whole chunk) of the
    supporting text, one per supported answer sentence.
    """

    number: int
    chunk_id: str
    doc_id: str
    source: str
    text: str
    score: float
    cited: bool = True  # the answer is supported by this passage (model-written or attributed)
    method: str = ""
    spans: list[tuple[int, int]] = field(default_factory=list)
    sentences: list[int] = field(default_factory=list)  # indices into Answer.sentences it supports
    support: float = 0.0  # best alignment score of an answer sentence with this passage

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spans"] = [list(s) for s in self.spans]
        return d


@dataclass
class SentenceSupport:
    """One sentence of an answer and the passage that supports it, if any."""

    start: int
    end: int
    text: str
    citation: int | None = None  # the supporting passage's number
    method: str = ""  # "model" | "attributed" | "" (unsupported)
    overlap: float = 0.0  # share of the sentence's content words in the supporting span
    similarity: float | None = None  # embedder cosine of sentence and span, when computed
    written: list[int] = field(default_factory=list)  # markers the model wrote in this sentence
    unsupported_markers: list[int] = field(default_factory=list)  # written markers whose passage does not support it

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
    sentences: list[SentenceSupport] = field(default_factory=list)
    reader: str = ""  # how the answer was drawn from the passages (see generate/reader.py)
    raw_text: str = ""  # the model's text before clean-up, when it differs

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "mode": self.mode,
            "question": self.question,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [x.to_dict() for x in self.sentences],
            "reader": self.reader,
            "raw_answer": self.raw_text,
            "retrieved": [h.to_dict() for h in self.hits],
            "model": self.model,
            "adapter": self.adapter,
            "kb": self.kb,
            "kb_version": self.kb_version,
            "prompt": self.prompt,
            "timings": self.timings,
            "usage": self.usage,
        }
