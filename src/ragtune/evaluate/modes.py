"""The contenders of a QA comparison, as a table: what each mode is and how it answers.

Each row says which side of the debate the mode stands for (``family``), which closed-book mode
it is measured against for context reliance (``closed_book``: the same weights without the
retrieved text), which trained contender answers (``model``), and the ``Pipeline.ask``
arguments that make it answer that way. A new variant is a new row; nothing parses mode names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The baseline prompt of the rag/plain variant: the usual "answer from the context" instruction.
PLAIN_SYSTEM = "Use the following context to answer the question."


@dataclass(frozen=True)
class QAMode:
    name: str
    family: str  # base | rag | fine-tuning | both (see results.FAMILIES)
    description: str
    ask: str  # the Pipeline mode it answers with: base | rag | ft | ft+rag | raft
    model: str | None = None  # the trained contender that answers: "ft" | "raft"
    closed_book: str | None = None  # the mode without retrieval it is compared with
    options: dict[str, Any] = field(default_factory=dict)  # more Pipeline.ask arguments (top_k, retrieval, reader)
    system: str | None = None  # a replacement system prompt
    few_shot: bool = False  # worked examples from the training split before the question
    variant: bool = False  # listed under ``variants`` rather than ``modes``

    @property
    def retrieves(self) -> bool:
        return self.ask in ("rag", "ft+rag", "raft")


_MODES = [
    QAMode("base", "base", "closed-book: the base model alone", "base"),
    QAMode("rag", "rag", "retrieval (hybrid) + the base model (with the shipped reader adapter where it fits the "
           "model: [reader] adapter), answer cites passages", "rag", closed_book="base"),
    QAMode("ft", "fine-tuning", "LoRA on the documents + training questions, closed-book", "ft", model="ft"),
    QAMode("ft+rag", "both", "the ft model with retrieval", "ft+rag", model="ft", closed_book="ft"),
    QAMode("raft", "both", "LoRA trained RAFT-style on retrieved passages with distractors, with retrieval",
           "raft", model="raft"),
    QAMode("rag/base", "rag", "RAG with the base model alone, no reader adapter ([reader] adapter = none)", "rag",
           closed_book="base", options={"reader_adapter": "none"}, variant=True),
    QAMode("rag/top1", "rag", "RAG with only the best passage in the prompt", "rag", closed_book="base",
           options={"top_k": 1}, variant=True),
    QAMode("rag/few-shot", "rag", "RAG with worked examples from the training split before the question", "rag",
           closed_book="base", few_shot=True, variant=True),
    QAMode("rag/plain", "rag", "RAG with a plain prompt (no instruction to answer briefly and cite): what the "
           "short-answer prompt of `rag` adds", "rag", closed_book="base", options={"reader": "plain"},
           system=PLAIN_SYSTEM, variant=True),
    QAMode("rag/whole", "rag", "RAG reading the whole retrieved chunks (reader plain, on the base model)", "rag",
           closed_book="base", options={"reader": "plain"}, variant=True),
    QAMode("rag/focus", "rag", "RAG reading only the passage sentence that best matches the question (reader "
           "focus, 1 sentence, on the base model; rag's reader adapter reads the same sentence)", "rag",
           closed_book="base", options={"reader": "focus", "focus_sentences": 1}, variant=True),
    QAMode("rag/dense", "rag", "RAG with dense retrieval only", "rag", closed_book="base",
           options={"retrieval": "dense"}, variant=True),
    QAMode("rag/bm25", "rag", "RAG with BM25 retrieval only", "rag", closed_book="base",
           options={"retrieval": "bm25"}, variant=True),
]
QA_TABLE: dict[str, QAMode] = {m.name: m for m in _MODES}
QA_MODES = tuple(m.name for m in _MODES if not m.variant)
QA_VARIANTS = tuple(m.name for m in _MODES if m.variant)


def qa_mode(name: str) -> QAMode:
    """The row of ``name``; experiments are validated against the table when they load."""
    try:
        return QA_TABLE[name]
    except KeyError:
        raise ValueError(f"mode {name!r} is not a QA mode; use {', '.join(QA_TABLE)}") from None
