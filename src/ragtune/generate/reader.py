"""The reader: how an answer is drawn from the retrieved passages.

Small generators find the right passage but cannot pick the answer out of three whole chunks:
they copy the question, talk about "the context", or follow a distractor. Two readers:

- ``plain``: every retrieved chunk, whole, numbered in the prompt (the classic RAG prompt);
- ``focus``: only the passage sentences that best match the question (BM25 of the question's
  content words, Robertson & Zaragoza 2009, with idf over the retrieved sentences, plus the
  embedder's cosine of question and sentence; ties go to the better-ranked passage), kept under
  their passage's number. The model reads a few
  sentences instead of a few hundred tokens, so it reads faster and is distracted less; citations
  are still attributed against the whole chunks.

``clean_answer`` removes what small models add around an answer: a leaked copy of the numbered
context, preambles such as "The answer is" or "According to the context,".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ragtune.config import PromptSettings, ReaderSettings
from ragtune.generate.base import Message
from ragtune.generate.prompts import rag_messages
from ragtune.text import content_tokens, sentence_spans
from ragtune.types import Hit

Embed = Callable[[list[str]], np.ndarray]  # texts -> unit vectors

READERS = ("plain", "focus")


@dataclass(frozen=True)
class Sentence:
    passage: int  # 1-based number of the hit
    start: int
    end: int
    score: float


def rank_sentences(question: str, hits: list[Hit], k1: float = 1.2, embed: Embed | None = None,
                   similarity_weight: float = 0.0) -> list[Sentence]:
    """Passage sentences ranked by BM25 of the question's content words (idf over these sentences).

    With ``embed`` and a ``similarity_weight`` the score is BM25 scaled to [0, 1] by the best
    sentence's, plus the weight times the embedder's cosine of question and sentence (hybrid
    lexical and dense scoring, as in the retriever, at sentence level).
    """
    q = Counter(content_tokens(question))
    units = []
    for n, h in enumerate(hits, start=1):
        for s, e in sentence_spans(h.chunk.text):
            units.append((n, s, e, Counter(content_tokens(h.chunk.text[s:e]))))
    if not units:
        return []
    df = Counter(t for *_, tf in units for t in tf)
    avg = sum(sum(tf.values()) for *_, tf in units) / len(units) or 1.0
    out = []
    for n, s, e, tf in units:
        length = sum(tf.values())
        score = 0.0
        for t in q:
            if tf[t]:
                idf = math.log(1 + (len(units) - df[t] + 0.5) / (df[t] + 0.5))
                score += idf * tf[t] * (k1 + 1) / (tf[t] + k1 * (0.25 + 0.75 * length / avg))
        out.append(Sentence(n, s, e, score))
    if embed is not None and similarity_weight > 0:
        top = max(x.score for x in out) or 1.0
        vecs = embed([question] + [hits[x.passage - 1].chunk.text[x.start:x.end] for x in out])
        sims = vecs[1:] @ vecs[0]
        out = [Sentence(x.passage, x.start, x.end, x.score / top + similarity_weight * float(sim))
               for x, sim in zip(out, sims, strict=True)]
    return sorted(out, key=lambda x: (-x.score, x.passage, x.start))


def focus_hits(question: str, hits: list[Hit], n_sentences: int, embed: Embed | None = None,
               similarity_weight: float = 0.0) -> tuple[list[Hit], list[int]]:
    """The hits cut to their best-matching sentences, and the original numbers of the hits kept.

    The sentences keep their order inside each passage; passages keep their retrieval order.
    """
    ranked = [s for s in rank_sentences(question, hits, embed=embed, similarity_weight=similarity_weight)
              if s.score > 0][:n_sentences]
    if not ranked:
        return hits[:1], [1] if hits else []
    keep: dict[int, list[Sentence]] = {}
    for s in ranked:
        keep.setdefault(s.passage, []).append(s)
    out, numbers = [], []
    for n in sorted(keep):
        h = hits[n - 1]
        text = " ".join(h.chunk.text[s.start:s.end] for s in sorted(keep[n], key=lambda x: x.start))
        out.append(replace(h, chunk=replace(h.chunk, text=text)))
        numbers.append(n)
    return out, numbers


RECORD_KEYS = ("method", "focus_sentences", "similarity_weight")


def reader_record(r: ReaderSettings) -> dict:
    """What a trained reader records of the prompt it was trained on (a RAFT model's info, an adapter's
    ``.json``): ``{"method": "plain"}``, or the focus reader's settings."""
    if r.method != "focus":
        return {"method": "plain"}
    return {"method": "focus", "focus_sentences": r.focus_sentences, "similarity_weight": r.similarity_weight}


def with_record(r: ReaderSettings, record: dict | None) -> ReaderSettings:
    """``r`` set to read the prompt that ``record`` names (no record: plain, as models trained before one)."""
    record = record or {"method": "plain"}
    return r.model_copy(update={k: record[k] for k in RECORD_KEYS if k in record})


def reader_messages(question: str, hits: list[Hit], p: PromptSettings, r: ReaderSettings,
                    examples: list[tuple[str, str]] | None = None, method: str | None = None,
                    embed: Embed | None = None) -> list[Message]:
    """The prompt of the chosen reader (``r.method`` unless ``method`` is given)."""
    method = method or r.method
    if method == "focus":
        kept, numbers = focus_hits(question, hits, r.focus_sentences, embed, r.similarity_weight)
        return rag_messages(question, kept, p, examples, numbers=numbers)
    return rag_messages(question, hits, p, examples)


_LEAK = re.compile(r"\n\s*(\[\d{1,3}\]|context:|question:|passage)", re.IGNORECASE)
# "The answer is:", "The correct answer to this question is", "Answer:" (what follows is the answer)
_ANSWER_IS = re.compile(r"\b(?:the )?(?:correct |short |final )?answer(?: to (?:the|this|your) question)?"
                        r"(?: would be| is)?\s*:\s*|(?:^|(?<=[.!?])\s+)the (?:correct |short |final )?answer"
                        r"(?: to (?:the|this|your) question)? is\s+", re.IGNORECASE)
_PREAMBLE = re.compile(r"^\s*(?:according to|based on|from|in) (?:the )?(?:context|passages?|text)(?: \[\d+\])?"
                       r"\s*[,:]\s*", re.IGNORECASE)


def clean_answer(text: str) -> str:
    """The answer without a leaked copy of the context and without a preamble before it.

    "The context says ... The answer is: X" becomes "X"; when the model repeats itself after a
    second "the answer is", the repetition is dropped.
    """
    m = _LEAK.search(text)
    if m:
        text = text[: m.start()]
    text = text.strip()
    found = list(_ANSWER_IS.finditer(text))
    if found and text[found[0].end():].strip():
        rest = text[found[0].end():]
        again = _ANSWER_IS.search(rest)
        text = (rest[: again.start()] if again and rest[: again.start()].strip() else rest).strip()
    text = _PREAMBLE.sub("", text, count=1).strip() or text
    text = text.strip().strip('"').strip()
    return text[0].upper() + text[1:] if text and text[0].islower() else text
