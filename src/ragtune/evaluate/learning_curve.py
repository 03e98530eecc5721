"""The learning curve: how the fine-tuned contenders' accuracy grows with their labelled training data.

"Fine-tuning needs a lot of high-quality, task-specific data": the ft and raft contenders are
trained again on nested shares of the training questions (12.5%, 25%, 50% by default; 100% is
the main comparison's own model and answers, reused), one seed, each smaller set contained in
the larger, and every point is scored on the same held-out test questions. ``ft+rag`` answers
with each ft model. RAG needs no labelled data: rag and base are flat lines (their main
scores). Each point carries its paired difference to rag on the same questions, so the report
can say where, if anywhere, fine-tuning catches up.

A classification experiment has the same curve (``ClassifierCurve``): its trained heads (``ft``,
``ft/embedder``) trained again on nested shares of the labelled texts, scored on the same test
texts; zero-shot and rag are the flat lines. Both write the same results.json section
(``curve_section``).

    >>> [len(s) for s in nested_subsets(list(range(8)), [0.25, 0.5, 1.0], seed=0).values()]
    [2, 4, 8]
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeVar

from ragtune.evaluate.datasets import Labeled, Question
from ragtune.evaluate.reanswer import answer_again, main_scores, paired_diff, score_metric, scores_of
from ragtune.evaluate.results import Estimate, ItemRecord
from ragtune.evaluate.training import ft_contender, raft_contender

if TYPE_CHECKING:
    from ragtune.evaluate.classification import ClassificationRunner
    from ragtune.evaluate.qa import QARunner

T = TypeVar("T")
TRAINED = {"ft": "ft", "ft+rag": "ft", "raft": "raft"}  # curve mode -> the contender it is trained as
CLS_HEADS = ("ft", "ft/embedder")  # the trained classifiers of a classification experiment
CLS_FLAT = ("zero-shot", "rag")  # ... and the modes that need no training: the flat lines


def nested_subsets(items: list[T], fractions: list[float], seed: int) -> dict[float, list[T]]:
    """One seeded order of ``items``; each fraction takes its first ``ceil(f * n)`` (at least one).

    Every smaller subset is a prefix of every larger one, so the curve adds data and changes
    nothing else; the same seed gives the same subsets.
    """
    order = list(items)
    random.Random(seed).shuffle(order)
    return {f: order[:max(1, math.ceil(f * len(order)))] for f in sorted(fractions)}


def point(mode: str, fraction: float, n_train: int, scores: list[float], rag: list[float] | None,
          smallest: list[float], seed: int) -> dict[str, Any]:
    """One point of the curve: its score, its paired difference to rag (when rag answered the same
    questions) and to the same mode at the smallest share (what the added data bought)."""
    out: dict[str, Any] = {"mode": mode, "fraction": fraction, "n_train": n_train,
                           "score": asdict(Estimate.of(scores, seed=seed)),
                           "vs_smallest": asdict(paired_diff(scores, smallest, seed))}
    if rag is not None:
        out["vs_rag"] = asdict(paired_diff(scores, rag, seed))
    return out


def curve_section(metric: str, n_test: int, n_train_full: int, fractions: list[float],
                  flat: dict[str, dict[str, Any]], points: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``learning_curve`` section of results.json, the same for every task: the metric, the test
    and full training sizes, the shares, the flat lines (untrained modes) and one ``point`` per
    mode and share."""
    return {"metric": metric, "n_test": n_test, "n_train_full": n_train_full, "fractions": fractions,
            "flat": flat, "points": points}


class LearningCurve:
    """Runs on the QA runner's settings, workspace and results, after its main comparison."""

    def __init__(self, qa: QARunner):
        self.qa, self.exp = qa, qa.exp
        self.cfg = qa.exp.learning_curve

    def modes(self) -> list[str]:
        return [m for m in self.cfg.modes if m in self.exp.modes]

    def run(self, test: list[Question], trained: dict[str, Any]) -> dict[str, Any] | None:
        qa, exp = self.qa, self.exp
        modes = self.modes()
        if not (self.cfg.enabled and modes and qa.split.train):
            return None
        metric = score_metric(qa.res.primary_metric)
        rag = main_scores(qa, "rag", test, metric) if "rag" in exp.modes else None
        flat = {m: asdict(Estimate.of(s, seed=exp.seed)) for m in ("base", "rag")
                if m in exp.modes and (s := main_scores(qa, m, test, metric)) is not None}
        subsets = nested_subsets(qa.split.train, self.cfg.fractions, exp.seed)
        points = []
        smallest: dict[str, list[float]] = {}
        for fraction, subset in subsets.items():
            models = self.models(fraction, subset, trained, {TRAINED[m] for m in modes})
            for m in modes:
                if fraction >= 1.0 and (s := main_scores(qa, m, test, metric)) is not None:
                    scores = s  # the main comparison's own model and answers
                else:
                    scores = scores_of(answer_again(qa, f"curve-{_pct(fraction)}", m, test, models), test, metric)
                smallest.setdefault(m, scores)
                points.append(point(m, fraction, len(subset), scores, rag, smallest[m], exp.seed))
        qa.notes.append(f"learning curve: {', '.join(modes)} retrained on {len(subsets)} nested shares of the "
                        f"{len(qa.split.train)} training questions ({', '.join(_pct(f) + '%' for f in subsets)})")
        return curve_section(metric, len(test), len(qa.split.train), list(subsets), flat, points)

    def models(self, fraction: float, subset: list[Question], trained: dict[str, Any],
               needed: set[str]) -> dict[str, Any]:
        """The contenders trained on ``subset`` (at 100%: the main comparison's own)."""
        qa, exp = self.qa, self.exp
        if fraction >= 1.0 and all(c in trained for c in needed):
            return trained
        out: dict[str, Any] = {}
        tag = _pct(fraction).replace(".", "_")
        if "ft" in needed:
            out["ft"] = qa.train(ft_contender(f"ft-curve{tag}", subset, exp.train.config("ft", exp.seed),
                                              "docs" if exp.train.cpt_docs else None))
        if "raft" in needed:
            out["raft"] = qa.train(raft_contender(qa.s, f"raft-curve{tag}", subset,
                                                  exp.train.config("raft", exp.seed), "docs",
                                                  **exp.train.raft_options()))
        return out


def _pct(fraction: float) -> str:
    return f"{100 * fraction:g}"


def correct_scores(items: list[ItemRecord], test: list[Labeled]) -> list[float] | None:
    """Per-text accuracy (1.0 when the answer is the true label) in ``test``'s order; None when a text has no answer."""
    by_id = {it.item_id: str(it.prediction) for it in items}
    if not all(t.id in by_id for t in test):
        return None
    return [float(by_id[t.id] == t.label) for t in test]


class ClassifierCurve:
    """The classification task's curve, run by the classification runner after its main comparison.

    Each trained head is trained again, through the same recipe and ``[train]`` config, on every
    share but 100% (the main comparison's own head and answers, reused) of one seeded order of the
    labelled training texts. Macro F1 is not a mean over texts, so the curve scores per-text
    accuracy, whose paired difference to rag on the same texts is exact. rag's flat line uses all
    the labelled texts as its pool of demonstrations.
    """

    def __init__(self, runner: ClassificationRunner):
        self.runner, self.exp = runner, runner.exp
        self.cfg = runner.exp.learning_curve

    def modes(self) -> list[str]:
        return [m for m in self.cfg.modes if m in CLS_HEADS and m in self.exp.all_modes()]

    def run(self, train: list[Labeled], test: list[Labeled]) -> dict[str, Any] | None:
        modes, seed, res = self.modes(), self.exp.seed, self.runner.res
        if not (self.cfg.enabled and modes and train and test):
            return None
        main = {m: s for m in self.exp.all_modes() if (s := correct_scores(res.items_for(m), test)) is not None}
        rag = main.get("rag")
        flat = {m: asdict(Estimate.of(main[m], seed=seed)) for m in CLS_FLAT if m in main}
        subsets = nested_subsets(train, self.cfg.fractions, seed)
        points: list[dict[str, Any]] = []
        smallest: dict[str, list[float]] = {}
        for fraction, subset in list(subsets.items()):
            if len({r.label for r in subset}) < 2:
                res.notes.append(f"learning curve: the {_pct(fraction)}% share ({len(subset)} texts) holds one label "
                                 "only; no classifier can be trained on it, so the share is left out")
                del subsets[fraction]
                continue
            for m in modes:
                if fraction >= 1.0 and m in main:
                    scores = main[m]  # the main comparison's own head and answers
                else:
                    tag = "curve" + _pct(fraction).replace(".", "_")
                    labels = self.runner.curve_labels(m, subset, test, tag)
                    scores = [float(labels[t.id] == t.label) for t in test]
                smallest.setdefault(m, scores)
                points.append(point(m, fraction, len(subset), scores, rag, smallest[m], seed))
        if not points:
            return None
        res.notes.append(f"learning curve: {', '.join(modes)} retrained on {len(subsets)} nested shares of the "
                         f"{len(train)} labelled training texts ({', '.join(_pct(f) + '%' for f in subsets)}), "
                         "scored by accuracy per text; rag's demonstrations come from all of them")
        return curve_section("accuracy", len(test), len(train), list(subsets), flat, points)
