"""Versatility: one model for many topics by switching knowledge bases, against a model fine-tuned on one.

"RAG is versatile; a model fine-tuned on one topic loses others": a second topic's documents
and questions (``data.second_corpus`` / ``data.second_questions``, the same formats as the
first) are answered

- closed-book by the base model and by the ft model trained on topic A: the difference is
  what fine-tuning on A did to B (forgetting when negative);
- by rag with topic B's own knowledge base: the same base model, only the knowledge source
  switched (no training), against the base model on B, and beside rag's score on topic A.

Every difference is paired on the same topic-B questions.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ragtune.evaluate.datasets import Doc, Question, load_corpus_and_questions
from ragtune.evaluate.reanswer import answer_again, main_scores, paired_diff, score_metric, scores_of
from ragtune.evaluate.results import Estimate

if TYPE_CHECKING:
    from ragtune.evaluate.qa import QARunner

KB = "topic-b"


def second_topic(docs: list[Doc], questions: list[Question], n_questions: int, n_docs: int | None,
                 seed: int) -> tuple[list[Doc], list[Question]]:
    """Topic B's knowledge base and questions: a seeded sample of documents with questions, and of their questions."""
    rng = random.Random(seed)
    asked = {q.doc_id for q in questions if q.doc_id}
    ids = [d.id for d in docs if d.id in asked]
    rng.shuffle(ids)
    keep = set(ids[:n_docs] if n_docs else ids)
    pool = [q for q in questions if q.doc_id in keep]
    rng.shuffle(pool)
    return [d for d in docs if d.id in keep], pool[:n_questions]


class Versatility:
    """Runs on the QA runner's settings, workspace and results, after its main comparison."""

    def __init__(self, qa: QARunner):
        self.qa, self.exp, self.cfg = qa, qa.exp, qa.exp.versatility

    def run(self, test_a: list[Question], trained: dict[str, Any]) -> dict[str, Any] | None:
        qa, exp, cfg = self.qa, self.exp, self.cfg
        if not (cfg.enabled and exp.data.second_corpus):
            return None
        metric = score_metric(qa.res.primary_metric)
        docs, qs = load_corpus_and_questions(exp.path(exp.data.second_corpus), exp.path(exp.data.second_questions))
        docs, qs = second_topic(docs, qs, cfg.questions, cfg.docs, exp.seed)
        if not qs:
            return None
        qa.build_kb(KB, qa.ws.root / KB, docs)
        modes = [m for m in ("base", "ft", "rag") if m in exp.modes]
        b: dict[str, list[float]] = {}
        for m in modes:
            if m == "ft" and "ft" not in trained:
                continue
            b[m] = scores_of(answer_again(qa, "topic-b", m, qs, trained, kb=KB), qs, metric)
        out: dict[str, Any] = {"metric": metric, "n": len(qs), "docs": len(docs),
                               "topic_b": {m: asdict(Estimate.of(s, seed=exp.seed)) for m, s in b.items()},
                               "topic_a": {m: asdict(Estimate.of(s, seed=exp.seed)) for m in modes
                                           if (s := main_scores(qa, m, test_a, metric)) is not None}}
        if "base" in b:
            for m, key in (("ft", "forgetting"), ("rag", "switching")):
                if m in b:
                    out[key] = asdict(paired_diff(b[m], b["base"], exp.seed))  # m - base on topic B
        qa.notes.append(f"versatility: {len(qs)} questions of a second topic ({len(docs)} documents in its own "
                        "knowledge base)")
        return out
