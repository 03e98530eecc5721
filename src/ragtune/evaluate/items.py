"""The record of one answer of one mode to one test item: prompt, retrieved chunks, citations, scores.

``ItemRecord.from_answer`` builds it from a ``ragtune.types.Answer``; a ``ComparisonResults``
(:mod:`ragtune.evaluate.results`) holds every record of a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any


def known_fields(cls: type, data: dict) -> dict:
    """Only the keys ``cls`` has, so a newer results.json with extra fields still loads."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class RetrievedChunk:
    """A chunk that was put into the prompt, in rank order."""

    chunk_id: str
    text: str
    score: float | None = None
    doc_id: str = ""
    source: str = ""


@dataclass
class ItemCitation:
    """A numbered reference ``[n]`` of an answer and the chunk it points at."""

    number: int
    chunk_id: str
    source: str = ""
    text: str = ""
    cited: bool = True  # the passage supports a sentence of the answer (model-written or attributed)
    method: str = ""  # "model" | "attributed" | "unsupported" | "" (see generate/citations.py)
    spans: list[list[int]] = field(default_factory=list)  # supporting character spans in ``text``


@dataclass
class ItemRecord:
    """One answer of one mode to one test item, with everything needed to trace it.

    ``references`` holds the gold answers (QA) or the one true label (classification);
    ``prediction`` is the answer text or the predicted label. ``scores`` maps metric names
    (see ``metrics.METRICS``) to this item's score; ``gold_ids`` lists the known source ids
    of the answer for retrieval quality. ``tokens`` holds ``prompt_tokens`` and
    ``completion_tokens`` (as ``Answer.usage``); ``extra`` anything else worth keeping (the
    engine timings, the model, adapter and knowledge-base version, label probabilities).
    """

    item_id: str
    mode: str
    question: str
    references: list[str]
    prediction: str
    prompt: str = ""
    retrieved: list[RetrievedChunk] = field(default_factory=list)
    citations: list[ItemCitation] = field(default_factory=list)
    gold_ids: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    latency_ms: float | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    sentences: list[dict[str, Any]] = field(default_factory=list)  # Answer.sentences: support per sentence

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ItemRecord:
        data = known_fields(cls, data)
        data["retrieved"] = [RetrievedChunk(**known_fields(RetrievedChunk, r)) for r in data.get("retrieved", [])]
        data["citations"] = [ItemCitation(**known_fields(ItemCitation, c)) for c in data.get("citations", [])]
        return cls(**data)

    @classmethod
    def from_answer(cls, answer: Any, item_id: str, references: Sequence[str], *,
                    latency_ms: float | None = None, gold_ids: Sequence[str] = (),
                    scores: dict[str, float] | None = None,
                    extra: dict[str, Any] | None = None) -> ItemRecord:
        """Build a record from a ``ragtune.types.Answer`` (hits, citations, prompt, usage, timings).

        The latency defaults to the answer's ``timings["total_ms"]``; the model, adapter,
        knowledge-base version, abstention and engine timings go into ``extra``.
        """
        retrieved = [RetrievedChunk(h.chunk.chunk_id, h.chunk.text, float(h.score), h.chunk.doc_id,
                                    h.chunk.source) for h in answer.hits]
        citations = [ItemCitation(c.number, c.chunk_id, c.source, c.text, c.cited, c.method,
                                  [list(sp) for sp in c.spans]) for c in answer.citations]
        if latency_ms is None:
            t = answer.timings or {}
            latency_ms = t.get("total_ms") or (1000.0 * t["total_s"] if "total_s" in t else None)
        kept = {"model": answer.model, "adapter": answer.adapter, "kb": answer.kb,
                "kb_version": answer.kb_version, "abstained": answer.abstained,
                "timings": dict(answer.timings or {})}
        kept.update(extra or {})
        return cls(item_id=item_id, mode=answer.mode, question=answer.question, references=list(references),
                   prediction=answer.text, prompt=answer.prompt, retrieved=retrieved, citations=citations,
                   gold_ids=list(gold_ids), scores=dict(scores or {}), latency_ms=latency_ms,
                   tokens=dict(answer.usage or {}), extra=kept,
                   sentences=[x.to_dict() for x in getattr(answer, "sentences", [])])
