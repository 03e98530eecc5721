"""Answering test questions again under a changed condition, and the paired drop it causes.

The claim experiments (learning curve, knowledge-base quality, versatility) reuse the main
comparison's modes, trained models and answers, and change one thing: the model's training
data, the knowledge base, or the topic. Each answer is cached in the workspace under a
fingerprint of that condition, so a rerun answers only what changed. A drop is measured
*paired*: the same question, once in each condition, and the bootstrap interval of the mean
per-question difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragtune.evaluate import metrics as M
from ragtune.evaluate.datasets import Question
from ragtune.evaluate.modes import QA_TABLE
from ragtune.evaluate.results import Estimate
from ragtune.evaluate.workspace import fingerprint
from ragtune.progress import progress

if TYPE_CHECKING:
    from ragtune.evaluate.qa import QARunner


def answer_again(qa: QARunner, label: str, mode: str, questions: list[Question], trained: dict[str, Any],
                 kb: str = "docs") -> dict[str, str]:
    """``mode``'s answer (text) to each question, with ``trained`` models and knowledge base ``kb``."""
    row = QA_TABLE[mode]
    fp = fingerprint(label, qa.mode_fp(row, trained), qa.ws.stage_fp(f"kb-{kb}") if row.retrieves else None)
    cache = f"{label}-{mode}"
    cached = qa.ws.cached_answers(cache, fp)
    out: dict[str, str] = {}
    with progress(qa.show) as bar:
        task = bar.add_task(f"{label}: {mode}", total=len(questions))
        for q in questions:
            if q.id in cached:
                out[q.id] = cached[q.id]["prediction"]
            else:
                a = qa.ask(row, q.question, trained, kb=kb)
                qa.ws.save_answer(cache, fp, q.id, {"prediction": a.text, "question": q.question})
                out[q.id] = a.text
            bar.advance(task)
    return out


def item_score(prediction: str, golds: list[str], metric: str) -> float:
    """The per-question score ``metric`` (a string metric: exact_match, token_f1, answer_recall)."""
    scores = M.qa_scores(prediction, golds)
    return scores.get(metric, scores["token_f1"])


def score_metric(metric: str) -> str:
    """The metric the claim experiments score with: the primary one when it needs no model, else token F1."""
    return metric if metric in ("exact_match", "token_f1", "answer_recall") else "token_f1"


def scores_of(answers: dict[str, str], questions: list[Question], metric: str) -> list[float]:
    return [item_score(answers[q.id], q.answers, metric) for q in questions]


def paired_diff(after: list[float], before: list[float], seed: int) -> Estimate:
    """Mean of ``after - before`` per question, with its bootstrap interval (negative: a drop)."""
    if len(after) != len(before):
        raise ValueError(f"{len(after)} scores after but {len(before)} before: a paired drop needs the same questions")
    return Estimate.of([a - b for a, b in zip(after, before, strict=True)], seed=seed)


def main_scores(qa: QARunner, mode: str, questions: list[Question], metric: str) -> list[float] | None:
    """``mode``'s per-question scores in the main comparison (its answers, already scored), or None."""
    by_id = {it.item_id: it for it in qa.res.items_for(mode)}
    if not all(q.id in by_id for q in questions):
        return None
    return [item_score(by_id[q.id].prediction, q.answers, metric) for q in questions]
