"""Citations that do not depend on the model writing ``[n]``.

After generation each sentence of the answer is aligned with the sentences of the retrieved
passages: the share of the sentence's content words found in a passage sentence (the lexical
"unigram precision against the evidence" check of attribution work: Rashkin et al. 2021, AIS;
Dziri et al. 2022), optionally rescued by the embedder's cosine when the overlap is weaker (the
retrieval-based attribution of Gao et al. 2023, RARR / ALCE, without an NLI model). A sentence
whose best span passes the thresholds of ``[citations]`` gets that passage, with the span's
character offsets in the chunk. Given the question, the words an answer sentence merely repeats
from it are the topic, not the claim: among the spans that pass, the one holding most of the
sentence's *other* words wins, so "The Super Bowl 50 MVP was Von Miller" is attributed by "Von
Miller", not by the "Super Bowl 50" every passage shares. Markers the model wrote itself are checked the same way: a
marker whose passage does not support its sentence is reported as unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ragtune.config import CitationSettings
from ragtune.text import content_tokens, normalize_answer, sentence_spans
from ragtune.types import Citation, Hit, SentenceSupport

_MARK = re.compile(r"\[(\d{1,3})(?:\s*,\s*(\d{1,3}))*\]")

Embed = Callable[[list[str]], np.ndarray]  # texts -> unit vectors, one row each


def cited_numbers(answer: str) -> list[int]:
    """Passage numbers cited in ``answer``, in order of first appearance: "[2] and [1, 3]" -> [2, 1, 3]."""
    seen: list[int] = []
    for m in _MARK.finditer(answer):
        for n in re.findall(r"\d+", m.group(0)):
            if int(n) not in seen:
                seen.append(int(n))
    return seen


@dataclass
class _Span:
    passage: int  # 1-based passage number
    start: int
    end: int
    tokens: frozenset[str]
    text: str


def _passage_spans(hits: Sequence[Hit]) -> list[_Span]:
    out = []
    for n, h in enumerate(hits, start=1):
        text = h.chunk.text
        for s, e in sentence_spans(text):
            toks = frozenset(content_tokens(text[s:e]))
            if toks:
                out.append(_Span(n, s, e, toks, text[s:e]))
    return out


def _exact_span(chunk_text: str, sentence: str) -> tuple[int, int] | None:
    """Where the sentence (without its end punctuation) occurs verbatim in the chunk, ignoring case."""
    needle = sentence.strip().rstrip(".!?").strip()
    if len(needle) < 3:
        return None
    i = chunk_text.lower().find(needle.lower())
    return (i, i + len(needle)) if i >= 0 else None


@dataclass
class _Best:
    span: _Span
    overlap: float
    similarity: float | None
    new: float = 0.0  # share of the sentence's words not taken from the question found in the span


def _align(tokens: set[str], sentence: str, spans: list[_Span], cfg: CitationSettings,
           embed: Embed | None, span_vecs: dict[int, np.ndarray],
           given: frozenset[str] = frozenset()) -> dict[int, _Best]:
    """The best-supporting span of each passage for one answer sentence (only passages that support it).

    ``given`` are the question's words: the thresholds count every word, the choice between
    passing spans counts first the words the sentence adds to the question.
    """
    new = tokens - given
    best: dict[int, _Best] = {}
    weak = []
    for i, sp in enumerate(spans):
        overlap = len(tokens & sp.tokens) / len(tokens)
        if overlap >= cfg.min_overlap:
            fresh = len(new & sp.tokens) / len(new) if new else 0.0
            cur = best.get(sp.passage)
            if cur is None or (fresh, overlap) > (cur.new, cur.overlap):
                best[sp.passage] = _Best(sp, overlap, None, fresh)
        elif embed is not None and overlap >= cfg.similarity_overlap:
            weak.append((i, overlap))
    if weak and embed is not None:
        need = [i for i, _ in weak if i not in span_vecs]
        if need:
            vecs = embed([sentence] + [spans[i].text for i in need])
            for i, v in zip(need, vecs[1:], strict=True):
                span_vecs[i] = v
            qv = vecs[0]
        else:
            qv = embed([sentence])[0]
        for i, overlap in weak:
            sim = float(span_vecs[i] @ qv)
            sp = spans[i]
            if sim >= cfg.min_similarity and sp.passage not in best:
                best[sp.passage] = _Best(sp, overlap, sim, len(new & sp.tokens) / len(new) if new else 0.0)
    return best


def attribute(answer: str, hits: Sequence[Hit], cfg: CitationSettings | None = None,
              embed: Embed | None = None, no_answer: str = "", question: str = ""
              ) -> tuple[list[Citation], list[SentenceSupport]]:
    """Citations for ``answer`` over ``hits`` (numbered 1..n as in the prompt) and each sentence's support.

    Every passage gets a ``Citation``; ``cited`` is True when it supports at least one sentence,
    ``method`` says whether the model wrote the marker or ragtune attributed it. With
    ``cfg.attribute`` off only the model's own markers are checked. ``question`` (optional) lets
    the choice between supporting spans look past the words the answer repeats from it.
    """
    cfg = cfg or CitationSettings()
    spans = _passage_spans(hits)
    given = frozenset(content_tokens(question)) if question else frozenset()
    span_vecs: dict[int, np.ndarray] = {}
    cites = [Citation(n, h.chunk.chunk_id, h.chunk.doc_id, h.chunk.source, h.chunk.text, h.score, cited=False)
             for n, h in enumerate(hits, start=1)]
    skip = normalize_answer(no_answer) if no_answer else ""
    sentences: list[SentenceSupport] = []
    for s, e in sentence_spans(answer):
        raw = answer[s:e]
        written = [n for n in cited_numbers(raw) if 1 <= n <= len(hits)]
        plain = " ".join(_MARK.sub(" ", raw).split())
        sup = SentenceSupport(s, e, raw, written=written)
        sentences.append(sup)
        tokens = set(content_tokens(plain))
        if not tokens or (skip and normalize_answer(plain) == skip):
            sup.unsupported_markers = list(written)
            continue
        best = _align(tokens, plain, spans, cfg, embed, span_vecs, given)
        sup.unsupported_markers = [n for n in written if n not in best]
        chosen = next((n for n in written if n in best), None)
        method = "model"
        if chosen is None and cfg.attribute and best:
            # the span holding most of what the sentence adds; ties go to the better-ranked passage
            chosen = max(best, key=lambda n: (best[n].new, best[n].overlap, best[n].similarity or 0.0, -n))
            method = "attributed"
        if chosen is None:
            continue
        b = best[chosen]
        sup.citation, sup.method, sup.overlap, sup.similarity = chosen, method, b.overlap, b.similarity
        c = cites[chosen - 1]
        span = _exact_span(c.text, plain) or (b.span.start, b.span.end)
        c.cited = True
        c.method = "model" if method == "model" or c.method == "model" else "attributed"
        c.spans.append(span)
        c.sentences.append(len(sentences) - 1)
        c.support = max(c.support, b.overlap)
    for sup in sentences:
        for n in sup.unsupported_markers:
            if not cites[n - 1].cited:
                cites[n - 1].method = "unsupported"
    return cites, sentences


def build_citations(answer: str, hits: list[Hit], cfg: CitationSettings | None = None,
                    embed: Embed | None = None, no_answer: str = "", question: str = "") -> list[Citation]:
    """One citation per retrieved passage, attributed as in :func:`attribute`."""
    return attribute(answer, hits, cfg, embed, no_answer, question)[0]
