"""``ragtune compare --until-decisive``: add test questions in batches until the leading difference is decided.

Two steps, one before any work and one after the first answers are scored::

    split, pool = hold_back(exp, split, questions)     # the questions added later, apart from training
    ...                                                 # knowledge base, training, answers, scores
    outcome = until_decisive(res, pool, answer_batch, batch=20, budget_questions=60)

The pool holds questions of the knowledge base's documents that are in neither split: those the
split left over (``sizes.train_questions`` below what the data has), and, when there are too few
of them, questions taken from the training split *before* training (``decide.reserve``, default
``budget_questions``, else the test size; each document keeps a training question, and a
training size the experiment asks for is never lowered). A pool question never repeats a
training or test question, by id or word for word.

After each batch the per-mode tables and the recommendation are recomputed
(:func:`ragtune.evaluate.recommend.recommend`: its rule, not a second one, says what is decided).
*The leading difference* is the pair of the two best family modes on the primary metric; it is
decided when the recommendation lists that pair as decided *on the primary metric* (its paired
interval excluding 0). Another metric that separates them is reported by the recommendation but
does not stop the loop: looking after every batch at several metrics and stopping at the first
that excludes 0 would call chance differences decided far more often than 5% of the time (the
stopping rule is fixed in advance, on one metric). Looking after every batch at the one metric
does the same on a smaller scale: a tie checked at 95% after each of 9 batches is called decided
at some look far more often than 5% of the time. So the loop stops only when the paired interval
excludes 0 at the confidence that the run's planned looks call for, 1 - 0.05 / looks (Bonferroni
over the looks: the first answers and each batch the pool and the question budget allow; Pocock
1977, "Group sequential methods in the design and analysis of clinical trials", gives a
narrower boundary for equally spaced looks, this one holds for any spacing, such as a minutes
budget's cut batches). The loop stops then, when the pool is empty, or when a budget
(added questions, or minutes spent on added questions) is spent. Answers are cached per mode and
question (``workspace``), so a resumed run answers only questions it has not answered yet.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ragtune.evaluate import formatting as fmt
from ragtune.evaluate.datasets import QASplit, Question, check_no_leak
from ragtune.evaluate.experiment import ExperimentConfig
from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.recommend import recommend
from ragtune.evaluate.results import ComparisonResults, Estimate
from ragtune.evaluate.stats import compare_pair, needed_words, paired_difference, summarize

STOPS = ("decided", "budget", "pool", "nothing-to-decide")
ALPHA = 0.05  # the chance of calling a tie decided, over all the looks of one run


def sequential_confidence(pool: int, batch: int, budget_questions: int | None = None) -> tuple[int, float]:
    """The looks a run can take (the first answers, then one per batch) and the confidence each needs.

    >>> sequential_confidence(91, 12)
    (9, 0.9944444444444445)
    """
    cap = pool if budget_questions is None else min(pool, budget_questions)
    looks = 1 + math.ceil(cap / batch)
    return looks, 1 - ALPHA / looks


def _text(q: Question) -> str:
    return q.question.strip().lower()


def hold_back(exp: ExperimentConfig, split: QASplit, questions: list[Question]) -> tuple[QASplit, list[Question]]:
    """The split (training lowered when questions are reserved) and the pool of questions to add later.

    Without ``decide.until_decisive`` the split comes back unchanged with an empty pool. What was
    held back is written in the returned split's notes.
    """
    if not exp.decide.until_decisive:
        return split, []
    kb_docs = {d.id for d in split.docs}
    used_ids = {q.id for q in split.train + split.test}
    used_texts = {_text(q) for q in split.train + split.test}
    pool: list[Question] = []
    for q in questions:  # what the split left over: documents in the knowledge base, in neither side
        if q.doc_id in kb_docs and q.id not in used_ids and _text(q) not in used_texts:
            pool.append(q)
            used_ids.add(q.id)
            used_texts.add(_text(q))
    rng = random.Random(f"{exp.seed}-until-decisive")
    rng.shuffle(pool)
    d = exp.decide
    target = d.reserve if d.reserve is not None else d.budget_questions or exp.sizes.test_questions
    want = max(0, target - len(pool))
    required = "train_questions" in exp.required_sizes()
    taken = [] if required else _take(split.train, want, rng, keep_one=not exp.data.faq)
    notes = list(split.notes)
    if taken:
        ids = {q.id for q in taken}
        split = replace(split, train=[q for q in split.train if q.id not in ids])
        notes.append(f"--until-decisive: {len(taken)} questions were reserved from training for the added test "
                     f"batches (training keeps {len(split.train)}); they are never trained on")
    elif want and required:
        notes.append(f"--until-decisive: sizes.train_questions={exp.sizes.train_questions} is kept, so no training "
                     f"question was reserved; {len(pool)} spare questions can be added")
    pool += taken
    notes.append(f"--until-decisive: {len(pool)} held-back questions can be added to the {len(split.test)} test "
                 "questions (none of them in the training split)")
    check_no_leak(split.train, split.test + pool)
    return replace(split, notes=notes), pool


def _take(train: list[Question], k: int, rng: random.Random, keep_one: bool) -> list[Question]:
    """Up to ``k`` training questions, one per document in turn; each document keeps one when ``keep_one``."""
    by_doc: dict[str, list[Question]] = {}
    for q in train:
        by_doc.setdefault(q.doc_id or "", []).append(q)
    order = sorted(by_doc)
    rng.shuffle(order)
    taken: list[Question] = []
    while len(taken) < k:
        spare = [doc for doc in order if len(by_doc[doc]) > int(keep_one)]
        if not spare:
            break
        for doc in spare[: k - len(taken)]:
            taken.append(by_doc[doc].pop())
    return taken


def leading_difference(res: ComparisonResults) -> dict[str, Any] | None:
    """The recommendation's entry for the two best family modes on the primary metric, with ``decided``.

    The entry is the recommendation's own (``a``, ``b``, ``metric``, ``diff``, ``lo``, ``hi``, ``n``,
    and ``needed`` when not decided), on the primary metric; None when fewer than two families
    were measured.
    """
    rec = recommend(res)
    pairs = rec.decided + rec.undecided
    modes = list(dict.fromkeys(m for p in pairs for m in (p["a"], p["b"])))
    if len(modes) < 2:
        return None
    primary = res.primary_metric
    a, b = sorted(modes, key=lambda m: -res.metric(m, primary).value)[:2]  # the leader first
    top = {a, b}
    for entries, decided in ((rec.decided, True), (rec.undecided, False)):
        for p in entries:
            if {p["a"], p["b"]} == top and p["metric"] == primary:
                return {**p, "decided": decided}
    c = compare_pair(res, a, b, primary)  # decided on another metric only: the primary one is still open
    if c is None:
        return {"a": a, "b": b, "metric": primary, "decided": False}
    d = c.diff
    return {"a": a, "b": b, "metric": primary, "diff": d.value, "lo": d.lo, "hi": d.hi, "n": d.n,
            "needed": c.needed, "decided": False}


@dataclass
class Outcome:
    """What ``until_decisive`` did: batches and questions added, why it stopped, the leading pair at the end."""

    start_n: int
    looks: int = 1  # planned: the first answers and each batch the pool and the question budget allow
    confidence: float = 0.95  # what the leading interval must reach at a look to stop (sequential_confidence)
    added: int = 0
    batches: int = 0
    pool: int = 0
    stopped: str = ""
    budget: str = ""  # "questions" or "minutes" when a budget stopped it
    leading: dict[str, Any] | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)  # the leading pair after each check

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary()}

    def summary(self) -> str:
        """One line for the report's notes and the terminal."""
        head = (f"--until-decisive: added {self.added} test questions in {self.batches} "
                f"batch{'' if self.batches == 1 else 'es'} ({self.start_n} -> {self.start_n + self.added})")
        lead = self.leading
        pair = f"{lead['a']} vs {lead['b']}" if lead else ""
        if lead and "diff" in lead:
            est = Estimate(lead["diff"], lead["lo"], lead["hi"], lead["n"])
            pair += f" on {metric_info(lead['metric']).label} {fmt.diff(lead['metric'], est)} at n={lead['n']}"
        level = fmt.level(self.confidence)
        if self.stopped == "decided":
            return f"{head}; stopped: decided, {pair} (its {level} interval excludes 0, as {self.looks} looks need)."
        if self.stopped == "nothing-to-decide":
            return f"{head}; stopped: fewer than two families were measured, nothing to decide."
        why = (f"the {self.budget} budget is spent" if self.stopped == "budget"
               else f"the pool of {self.pool} held-back questions is exhausted")
        if lead and lead.get("decided"):  # at 95% at the last look, not at the level the looks need
            return (f"{head}; stopped: {why}; {pair} excludes 0 at 95% but not at the {level} that {self.looks} looks "
                    "need, so it is not decided.")
        needed = lead.get("needed") if lead else None
        more = f"; {needed_words(needed)}" if needed else ""
        return f"{head}; stopped: {why}; {pair} is not decided{more}."


def until_decisive(res: ComparisonResults, pool: list[Question], answer: Callable[[list[Question]], None], *,
                   batch: int, budget_questions: int | None = None, budget_minutes: float | None = None,
                   clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Add ``pool`` questions in batches of ``batch`` until the leading difference is decided.

    ``answer(questions)`` answers and scores new questions in every mode (adding their item
    records to ``res``). A batch is cut to what the question budget leaves, and to what the
    minutes left allow at the measured seconds per question (before the first batch: the
    answers' latencies). Writes the outcome into ``res.config["until_decisive"]``.
    """
    looks, confidence = sequential_confidence(len(pool), batch, budget_questions)
    out = Outcome(start_n=len({it.item_id for it in res.items}), pool=len(pool), looks=looks, confidence=confidence)
    remaining = list(pool)
    per_question = _seconds_per_question(res)
    start = clock()
    while True:
        summarize(res)
        out.leading = leading_difference(res)
        if out.leading is not None:
            out.leading["decided_sequential"] = _decided_at(res, out.leading, confidence)
            out.rounds.append({k: out.leading.get(k) for k in ("a", "b", "metric", "diff", "lo", "hi", "n",
                                                               "decided", "decided_sequential", "needed")})
        size = min(batch, len(remaining))
        if budget_questions is not None:
            size = min(size, budget_questions - out.added)
        if budget_minutes is not None and per_question:
            size = min(size, int((budget_minutes * 60 - (clock() - start)) // per_question))
        if out.leading is None:
            out.stopped = "nothing-to-decide"
        elif out.leading["decided_sequential"]:
            out.stopped = "decided"
        elif not remaining:
            out.stopped = "pool"
        elif size <= 0 or (budget_minutes is not None and clock() - start >= budget_minutes * 60):
            out.stopped = "budget"
            out.budget = ("questions" if budget_questions is not None and out.added >= budget_questions
                          else "minutes")
        if out.stopped:
            break
        take, remaining = remaining[:size], remaining[size:]
        t0 = clock()
        answer(take)
        spent = clock() - t0
        per_question = spent / len(take) if spent > 0 else per_question
        out.added += len(take)
        out.batches += 1
    res.config["until_decisive"] = out.to_dict()
    split = res.config.get("split")
    if isinstance(split, dict):
        split["added_test_questions"] = out.added
    return out


def _decided_at(res: ComparisonResults, lead: dict[str, Any], confidence: float) -> bool:
    """Whether the leading pair's paired interval at ``confidence`` excludes 0 (only a pair decided at 95% can)."""
    if not lead.get("decided"):
        return False
    d = paired_difference(res, lead["a"], lead["b"], lead["metric"], confidence=confidence, n_resamples=4000)
    if d is None or not d.has_ci:  # no shared items: the 95% intervals decided it, nothing finer to ask
        return True
    return d.lo > 0 or d.hi < 0


def _seconds_per_question(res: ComparisonResults) -> float | None:
    """Seconds one question took in all modes together, from the answers' latencies (None without them)."""
    ids = {it.item_id for it in res.items}
    total = sum(it.latency_ms for it in res.items if it.latency_ms is not None)
    return total / 1000 / len(ids) if ids and total else None


__all__ = ["STOPS", "Outcome", "hold_back", "leading_difference", "sequential_confidence", "until_decisive"]
