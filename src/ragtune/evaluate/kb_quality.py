"""Knowledge-base quality: rag, ft+rag and raft answered again with a degraded knowledge base.

"RAG depends on its knowledge base": two degraded copies of the comparison's knowledge base,
each answered by the retrieval modes with the same trained models, and the paired drop
against the intact knowledge base on the same questions:

- ``missing``: the gold passages of a share of the test questions are removed (every question
  whose passage went is scored: the knowledge is simply not there any more);
- ``noisy``: distractors are added: passages from another topic (the second corpus, else
  documents of the corpus left out of the knowledge base) and, for a share of the questions,
  a near-duplicate of the gold passage with one fact changed (its answer swapped for another
  question's answer).

Whether fine-tuned knowledge cushions the loss is the finding: ft+rag and raft hold the facts
in their weights too. The degraded sets are pure functions of the data and the seed (tested).
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

DUP_SUFFIX = "~changed"


def chosen_questions(test: list[Question], share: float, seed: int) -> list[Question]:
    """A seeded share (at least one) of the test questions that have a gold passage."""
    pool = [q for q in test if q.doc_id]
    random.Random(seed).shuffle(pool)
    return pool[:max(1, round(share * len(pool)))] if pool else []


def without_gold(docs: list[Doc], test: list[Question], share: float, seed: int) -> tuple[list[Doc], list[str],
                                                                                            list[Question]]:
    """The knowledge base less the gold passages of a share of the questions.

    Returns the kept documents, the removed ids, and every test question whose gold passage was
    removed (a passage can serve several questions).
    """
    removed = {q.doc_id for q in chosen_questions(test, share, seed)}
    kept = [d for d in docs if d.id not in removed]
    affected = [q for q in test if q.doc_id in removed]
    return kept, sorted(removed), affected


def near_duplicate(doc: Doc, answer: str, replacement: str) -> Doc | None:
    """``doc`` with its fact changed: ``answer`` replaced by ``replacement`` (None when it is not in the text)."""
    if not answer or answer not in doc.text or answer == replacement:
        return None
    return Doc(doc.id + DUP_SUFFIX, doc.title, doc.text.replace(answer, replacement))


def with_distractors(docs: list[Doc], test: list[Question], others: list[Doc], n_other: int, share: float,
                     seed: int) -> tuple[list[Doc], list[Doc]]:
    """The knowledge base plus distractors: ``n_other`` passages of ``others`` and near-duplicates with one fact
    changed for a share of the questions. Returns the whole set and the distractors alone."""
    rng = random.Random(seed)
    pool = [d for d in others if d.id not in {x.id for x in docs}]
    added = [Doc(f"other~{d.id}", d.title, d.text) for d in rng.sample(pool, min(n_other, len(pool)))]
    by_id = {d.id: d for d in docs}
    answers = [q.answers[0] for q in test if q.answers]
    seen: set[str] = set()
    for q in chosen_questions(test, share, seed):
        gold = by_id.get(q.doc_id or "")
        if gold is None or gold.id in seen or not q.answers:
            continue
        swaps = [a for a in answers if a.lower() != q.answers[0].lower()]
        dup = near_duplicate(gold, q.answers[0], rng.choice(swaps)) if swaps else None
        if dup:
            added.append(dup)
            seen.add(gold.id)
    return docs + added, added


class KBQuality:
    """Runs on the QA runner's settings, workspace and results, after its main comparison."""

    def __init__(self, qa: QARunner):
        self.qa, self.exp, self.cfg = qa, qa.exp, qa.exp.kb_quality

    def others(self) -> list[Doc]:
        """Passages of another topic: the second corpus when the experiment has one, else unused corpus documents."""
        exp, qa = self.exp, self.qa
        if exp.data.second_corpus:
            docs, _ = load_corpus_and_questions(exp.path(exp.data.second_corpus), exp.path(exp.data.second_questions))
            return docs
        docs, _ = load_corpus_and_questions(exp.path(exp.data.corpus), exp.path(exp.data.questions),
                                            exp.path(exp.data.faq))
        return [d for d in docs if qa.split.doc(d.id) is None]

    def run(self, test: list[Question], trained: dict[str, Any]) -> dict[str, Any] | None:
        qa, exp, cfg = self.qa, self.exp, self.cfg
        modes = sorted((m for m in cfg.modes if m in exp.modes), key=lambda m: m != "rag")  # rag first
        if not (cfg.enabled and modes):
            return None
        metric = score_metric(qa.res.primary_metric)
        test = test[:cfg.questions] if cfg.questions else test
        kept, removed, affected = without_gold(qa.split.docs, test, cfg.share, exp.seed)
        noisy, added = with_distractors(qa.split.docs, test, self.others(), cfg.other_topic, cfg.share, exp.seed)
        conditions = {"missing": (kept, affected), "noisy": (noisy, test)}
        out: dict[str, Any] = {"metric": metric, "share": cfg.share, "removed_docs": removed,
                               "distractors": {"other_topic": sum(d.id.startswith("other~") for d in added),
                                               "near_duplicates": sum(d.id.endswith(DUP_SUFFIX) for d in added)},
                               "conditions": {}}
        for cond, (docs, qs) in conditions.items():
            if not qs or not docs:
                continue
            kb = f"docs-{cond}"
            qa.build_kb(kb, qa.ws.root / kb, docs)
            rows: dict[str, Any] = {}
            drops: dict[str, list[float]] = {}
            for m in modes:
                before = main_scores(qa, m, qs, metric)
                if before is None:
                    continue
                after = scores_of(answer_again(qa, f"kbq-{cond}", m, qs, trained, kb=kb), qs, metric)
                drops[m] = [a - b for a, b in zip(after, before, strict=True)]
                rows[m] = {"intact": asdict(Estimate.of(before, seed=exp.seed)),
                           "degraded": asdict(Estimate.of(after, seed=exp.seed)),
                           "drop": asdict(paired_diff(after, before, exp.seed))}
                if m != "rag" and "rag" in drops:  # > 0: the mode lost less than rag (its weights cushion)
                    rows[m]["cushion_vs_rag"] = asdict(paired_diff(drops[m], drops["rag"], exp.seed))
            out["conditions"][cond] = {"n": len(qs), "docs": len(docs), "modes": rows}
        qa.notes.append(f"knowledge-base quality: {len(removed)} gold passages removed ({len(affected)} questions); "
                        f"{len(added)} distractors added")
        return out
