"""Turn a run's measured numbers into advice: RAG, fine-tuning, both, or the base model.

The rules, applied in this order (each reason in the output quotes the numbers it used):

1. Quality first, on every answer-quality metric the task has (QA: the primary metric, token
   F1, exact match, answer recall, semantic similarity; classification: macro-F1 and
   accuracy). Take the best mode of each family (base, rag, fine-tuning, both) on the primary
   metric. A family is *clearly worse* than another when, on some metric, the paired-bootstrap
   interval of their difference on the same items excludes 0 (falling back to non-overlapping
   intervals, and to the point values of the primary metric when there are no intervals at
   all). When metrics disagree, the first one in the order above decides, except that
   semantic similarity always comes last: it rewards fluent wrong answers, so it never
   outvotes a metric whose interval separates. The families no other family beats clearly
   are *tied*; the one with the best primary value among them leads.
2. Freshness, when the run measured it. Among the tied families, drop any whose accuracy on
   the new facts after the knowledge update is clearly below the best tied family's (same
   test on their intervals, or 5 points without intervals). A user who runs this experiment
   has knowledge that changes.
3. The base model wins if it is still tied: neither retrieval nor fine-tuning measurably
   helped, so adding either buys nothing on this data.
4. Otherwise the cheapest tied family wins: the smallest measured set-up time, and when
   set-up times are missing the fewest moving parts (rag < fine-tuning < both).
5. Context: the chosen mode's latency, disk footprint and update cost against the others,
   and a caveat when a family dropped in step 2 was better on the task itself.

Every pair of family-best modes is then listed as decided (on which metrics) or not decided,
with a power estimate for the undecided ones: "rag vs ft is not decided at n=40; about 310
questions would decide a difference of this size" (:func:`ragtune.evaluate.stats.questions_to_decide`,
95% two-sided, 80% power, from the paired differences of the primary metric). A quick run
(``config["quick"]``) says that it is not for decisions. After ``--until-decisive`` a leading pair whose
interval excludes 0 at 95% but not at the level the run's looks need is said to be not decided
(``until_decisive.sequential_confidence``).

Nothing here is canned: with other numbers the same rules give other advice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ragtune.errors import DataError
from ragtune.evaluate import formatting as fmt
from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.results import FAMILIES, ComparisonResults, Estimate, FreshnessResult
from ragtune.evaluate.stats import PairedComparison, compare_pair, needed_words

CHOICES = ("rag", "fine-tuning", "both", "base")
_COMPLEXITY = {"base": 0, "rag": 1, "fine-tuning": 2, "both": 3}
_FRESHNESS_MARGIN = 0.05  # without intervals, 5 points of new-fact accuracy count as "clearly below"
QUALITY_METRICS = {"qa": ("token_f1", "exact_match", "answer_recall", "semantic_similarity"),
                   "classification": ("macro_f1", "accuracy")}
_WEAKEST = "semantic_similarity"  # rewards fluent wrong answers: decides only when nothing else does


@dataclass
class Recommendation:
    """The advice and why: ``choice`` is one of rag | fine-tuning | both | base.

    ``best_mode`` is the mode to use within that family (for example "rag/top1"); ``metric``
    is the metric the quality rule compared.
    """

    choice: str
    reasons: list[str]
    best_mode: str | None = None
    metric: str = ""
    rules: list[str] = field(default_factory=list)  # which rule decided, for tests and debugging
    decided: list[dict[str, Any]] = field(default_factory=list)  # {a, b, metric, diff, lo, hi, n}: a beats b
    undecided: list[dict[str, Any]] = field(default_factory=list)  # {a, b, metric, diff, lo, hi, n, needed}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recommendation:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _clearly_below(low: Estimate, high: Estimate, margin: float = 0.0) -> bool:
    """``low`` is below ``high`` beyond noise: non-overlapping intervals, or a margin without them."""
    if low.has_ci and high.has_ci:
        return low.hi < high.lo
    return low.value < high.value - margin


def _best_per_family(results: ComparisonResults, metric: str) -> dict[str, tuple[str, Estimate]]:
    best: dict[str, tuple[str, Estimate]] = {}
    for mode in results.modes:
        est = results.metric(mode.name, metric)
        if est is None:
            continue
        if mode.family not in best or est.value > best[mode.family][1].value:
            best[mode.family] = (mode.name, est)
    return best


def quality_metrics(results: ComparisonResults) -> list[str]:
    """The answer-quality metrics of the task that some mode has, in the order they decide conflicts.

    The primary metric comes first and semantic similarity last, whatever the primary metric is.
    """
    names = [results.primary_metric] + [m for m in QUALITY_METRICS.get(results.task, ()) if m != results.primary_metric]
    present = [m for m in names if any(m in table for table in results.metrics.values())]
    return sorted(present, key=lambda m: m == _WEAKEST)


def _words(c: PairedComparison) -> str:
    """The evidence of one comparison as words, naming whether it decides."""
    if c.evidence == "paired":
        return (f"paired difference {fmt.diff(c.metric, c.diff)} on {c.diff.n} shared items "
                f"({'excludes' if c.decided else 'includes'} 0)")
    if c.evidence == "intervals":
        return f"intervals {'do not overlap' if c.decided else 'overlap'}"
    return "no intervals: point values compared"


@dataclass
class _Judgement:
    """``a`` against ``b`` over the quality metrics: ``sign`` +1 (a clearly better), -1, or 0 (tie)."""

    a: str
    b: str
    sign: int
    by: PairedComparison | None  # the comparison that decided (the primary one when none did)
    comparisons: list[PairedComparison]
    conflict: PairedComparison | None = None  # a decided comparison the other way, outranked by ``by``


def _judge(results: ComparisonResults, a: str, b: str, metrics: list[str]) -> _Judgement:
    comps = [c for m in metrics if (c := compare_pair(results, a, b, m)) is not None]
    decided = [c for c in comps if c.decided]
    primary = comps[0] if comps else None  # the first metric in the order of authority
    if not decided:
        if primary is not None and all(c.evidence == "points" for c in comps):
            sign = (primary.diff.value > 0) - (primary.diff.value < 0)
            return _Judgement(a, b, sign, primary, comps)
        return _Judgement(a, b, 0, primary, comps)
    by = decided[0]  # ``metrics`` is in the order of authority
    conflict = next((c for c in decided if c.sign != by.sign), None)
    return _Judgement(a, b, by.sign, by, comps, conflict)


def _against_leader(results: ComparisonResults, j: _Judgement, fam: str, beaten_by: dict[str, _Judgement]) -> str:
    """Why family ``fam`` (mode ``j.b``) ties with the leader (``j.a``) or not, for the first reason."""
    metric = results.primary_metric
    primary = next((c for c in j.comparisons if c.metric == metric), None)  # what the reader compares first
    text = _words(primary) if primary is not None else f"no {metric_info(metric).label}"
    if j.sign > 0 and j.by is not None and j.by is not primary:
        text += (f", but {metric_info(j.by.metric).label} separates them: {_words(j.by)}")
    if j.conflict is not None:
        text += _conflict_words(j)
    if j.sign > 0:
        return text
    if j.sign < 0:
        return text + " (the families beat each other in a cycle: the primary metric's order is kept)"
    other = beaten_by.get(fam)
    if other is not None and other.a != j.a:
        return (text + f", so it ties with the leader, but {other.a} is clearly better on "
                f"{metric_info(other.by.metric).label} ({_words(other.by)})")
    return text + ", so it ties"


def _conflict_words(j: _Judgement) -> str:
    c, by = j.conflict, j.by
    why = (" (semantic similarity rewards fluent wrong answers)" if c.metric == _WEAKEST
           else " (it comes first in the order of the metrics)")
    return (f"; {metric_info(c.metric).label} points the other way ({_words(c)}) but "
            f"{metric_info(by.metric).label} decides{why}")


def _flip(c: PairedComparison, a: str) -> Estimate:
    """The difference of ``c`` as ``a`` minus the other mode."""
    if c.a == a:
        return c.diff
    d = c.diff
    return Estimate(-d.value, None if d.hi is None else -d.hi, None if d.lo is None else -d.lo, d.n)


def _entry(c: PairedComparison, a: str, b: str) -> dict[str, Any]:
    """``c`` as data for results.json, the difference taken as ``a`` minus ``b``."""
    d = _flip(c, a)
    return {"a": a, "b": b, "metric": c.metric, "diff": d.value, "lo": d.lo, "hi": d.hi, "n": d.n}


def not_decided_words(c: PairedComparison) -> str:
    """ "rag vs ft is not decided at n=40; about 310 questions would decide a difference of this size (...)". """
    label = metric_info(c.metric).label
    head = f"{c.a} vs {c.b} is not decided at n={c.diff.n}"
    if c.evidence != "paired":
        return f"{head} ({label} {fmt.diff(c.metric, c.diff)}, no paired items for a power estimate)"
    if c.needed is None:
        return f"{head}: there is no difference on {label} ({fmt.diff(c.metric, c.diff)})"
    if c.needed <= c.diff.n:
        return (f"{head}: the interval only just includes 0 ({label} {fmt.diff(c.metric, c.diff)}); "
                f"by the normal approximation about {c.needed} questions would decide a difference of "
                "this size, so a few more may")
    return f"{head}; {needed_words(c.needed)} ({label} {fmt.diff(c.metric, c.diff)})"


def _decisions(results: ComparisonResults, rec: Recommendation, order: list[str],
               best: dict[str, tuple[str, Estimate]], judged: dict[tuple[str, str], _Judgement]) -> None:
    """List every family pair as decided (on which metrics) or not decided (with the power estimate)."""
    done, open_ = [], []
    for i, fa in enumerate(order):
        for fb in order[i + 1:]:
            j = judged[(fa, fb)]
            a, b = (j.a, j.b) if j.sign >= 0 else (j.b, j.a)
            wins = [c for c in j.comparisons if c.decided and c.sign == j.sign] if j.sign else []
            if wins:
                rec.decided += [_entry(c, a, b) for c in wins]
                done.append(f"{a} over {b} on " + ", ".join(
                    f"{metric_info(c.metric).label} {fmt.diff(c.metric, _flip(c, a))}" for c in wins))
            elif j.by is not None and j.sign == 0:
                c = j.by
                rec.undecided.append({**_entry(c, c.a, c.b), "needed": c.needed})
                open_.append(not_decided_words(c))
    if done:
        rec.reasons.append("Decided at 95% (the interval of the difference excludes 0): " + "; ".join(done) + ".")
    if open_:
        rec.reasons.append("Not decided: " + "; ".join(open_) + ".")


def _sequential_caveat(results: ComparisonResults, rec: Recommendation) -> None:
    """After ``--until-decisive``: a leading pair whose 95% interval excludes 0 only at 95% is not decided.

    The run looked at that pair after every batch; over its looks only the stricter level the
    looks need (``until_decisive.sequential_confidence``) keeps the chance of a chance difference
    called decided at 5%, so the 95% decision above does not stand on its own.
    """
    ud = results.config.get("until_decisive") or {}
    lead = ud.get("leading") or {}
    if not lead.get("decided") or lead.get("decided_sequential", True):
        return
    level = fmt.level(ud.get("confidence", 0.95))
    rec.reasons.append(f"Not decided after {ud.get('looks')} looks: {lead['a']} vs {lead['b']} on "
                       f"{metric_info(lead['metric']).label} excludes 0 at 95%, but --until-decisive looked at it "
                       f"{ud.get('looks')} times as questions were added, and at the {level} that many looks need "
                       "its interval includes 0; read that 95% decision as not decided.")
    rec.rules.append("sequential")


def _family_setup(results: ComparisonResults, mode: str) -> float | None:
    costs = results.costs.get(mode)
    return costs.setup_s if costs else None


def _freshness_of(results: ComparisonResults, mode: str) -> FreshnessResult | None:
    for f in results.freshness:
        if f.mode == mode and f.new_after is not None:
            return f
    return None


def recommend(results: ComparisonResults) -> Recommendation:
    """Apply the rules in the module docstring to ``results`` (summarised first).

    Raises DataError when no mode has a value for the primary metric.
    """
    metric = results.primary_metric
    label = metric_info(metric).label
    best = _best_per_family(results, metric)
    if not best:
        raise DataError(f"no mode has a '{metric}' score: run ragtune.evaluate.stats.summarize(results) before "
                        "recommending")
    rules: list[str] = []
    reasons: list[str] = []

    # Rule 1: quality, on every metric of the task.
    metrics = quality_metrics(results)
    order = sorted(best, key=lambda fam: best[fam][1].value, reverse=True)
    judged: dict[tuple[str, str], _Judgement] = {}
    for i, fa in enumerate(order):
        for fb in order[i + 1:]:
            judged[(fa, fb)] = _judge(results, best[fa][0], best[fb][0], metrics)
    beaten_by: dict[str, _Judgement] = {}
    for (fa, fb), j in judged.items():
        if j.sign != 0:
            loser = fb if j.sign > 0 else fa
            beaten_by.setdefault(loser, j if j.sign > 0 else _judge(results, j.b, j.a, metrics))
    tied = [fam for fam in order if fam not in beaten_by] or order[:1]  # a cycle: the primary metric leads
    leader = tied[0]
    lead_mode, lead_est = best[leader]
    lines = []
    for fam in order:
        if fam == leader:
            continue
        mode, est = best[fam]
        j = _judge(results, lead_mode, mode, metrics)
        lines.append(f"{fam} ({mode}) {fmt.estimate(metric, est)}: {_against_leader(results, j, fam, beaten_by)}")
    items = f"{lead_est.n} item{'' if lead_est.n == 1 else 's'}"
    head = (f"Task quality ({label}, {items}): {lead_mode} leads (family {leader}) at "
            f"{fmt.estimate(metric, lead_est)}")
    reasons.append(head + ("; " + "; ".join(lines) if lines else "; no other family was measured") + ".")
    rules.append("quality")
    if leader != order[0]:
        rules.append("decided-on-another-metric")

    # Rule 2: freshness among the tied families.
    fresh_all = {fam: f for fam in best if (f := _freshness_of(results, best[fam][0])) is not None}
    measured = {fam: f for fam, f in fresh_all.items() if fam in tied}
    dropped: list[str] = []
    if measured:
        top = max(measured, key=lambda fam: measured[fam].new_after.value)
        for fam, f in measured.items():
            if fam != top and _clearly_below(f.new_after, measured[top].new_after, _FRESHNESS_MARGIN):
                dropped.append(fam)
                reasons.append(
                    f"Freshness: after the knowledge update {fam} ({f.mode}) answered "
                    f"{fmt.pct(f.metric, f.new_after)} of the new facts against "
                    f"{fmt.pct(f.metric, measured[top].new_after)} for {top} ({measured[top].mode}), "
                    f"so {fam} is set aside.")
        if dropped:
            rules.append("freshness")
        tied = [fam for fam in tied if fam not in dropped]

    # Rule 3: base still tied -> nothing measurably helped.
    if "base" in tied:
        mode, est = best["base"]
        others = [f"{fam} {fmt.estimate(metric, best[fam][1])}" for fam in order if fam != "base"]
        where = "scored best" if tied == ["base"] else "is within noise of the best"
        reasons.append(
            f"The base model ({mode}, {fmt.estimate(metric, est)}) {where} "
            f"({', '.join(others) or 'no other family'}): adding retrieval or training buys nothing "
            "measurable on this data.")
        rules.append("base-ties")
        return _finish(results, Recommendation("base", reasons, mode, metric, rules), best, order, judged)

    # Rule 4: cheapest among the tied.
    choice = tied[0]
    if len(tied) > 1:
        on = ", ".join(metric_info(m).label for m in metrics)
        setups = {fam: _family_setup(results, best[fam][0]) for fam in tied}
        if all(v is not None for v in setups.values()):
            choice = min(tied, key=lambda fam: (setups[fam], _COMPLEXITY[fam]))
            listed = ", ".join(f"{fam} {fmt.seconds(setups[fam])}" for fam in tied)
            reasons.append(f"{', '.join(tied)} are within noise of each other on {on}; "
                           f"{choice} is the cheapest to set up ({listed}).")
            rules.append("cheapest-setup")
        else:
            choice = min(tied, key=lambda fam: _COMPLEXITY[fam])
            reasons.append(f"{', '.join(tied)} are within noise of each other on {on} and set-up times "
                           f"were not all measured; {choice} has the fewest moving parts.")
            rules.append("fewest-parts")
    else:
        rules.append("clear-winner")
    rec = Recommendation(choice, reasons, best[choice][0], metric, rules)

    # Rule 5 (context): a family set aside for freshness was better on the task itself, or the
    # chosen family itself cannot follow updates as well as another one.
    for fam in dropped:
        if best[fam][1].value > best[choice][1].value:
            reasons.append(f"Caveat: {fam} scored higher on {label} ({fmt.estimate(metric, best[fam][1])}) "
                           f"but cannot follow knowledge updates{_retrain_words(fresh_all[fam])}.")
    if choice in fresh_all and fresh_all:
        top = max(fresh_all, key=lambda fam: fresh_all[fam].new_after.value)
        mine = fresh_all[choice]
        if top != choice and _clearly_below(mine.new_after, fresh_all[top].new_after, _FRESHNESS_MARGIN):
            reasons.append(f"Caveat: after a knowledge update {choice} answered "
                           f"{fmt.pct(mine.metric, mine.new_after)} of the new facts against "
                           f"{fmt.pct(mine.metric, fresh_all[top].new_after)} for {top}: "
                           f"plan to retrain when the knowledge changes{_retrain_words(mine)}.")
            rules.append("freshness-caveat")
    return _finish(results, rec, best, order, judged)


def _retrain_words(f: FreshnessResult) -> str:
    if f.retrain_s is None:
        return ""
    reached = (f" and reached {fmt.pct(f.metric, f.new_after_retrain)} on the new facts"
               if f.new_after_retrain else "")
    return f" (retraining took {fmt.seconds(f.retrain_s)}{reached})"


def _finish(results: ComparisonResults, rec: Recommendation, best: dict[str, tuple[str, Estimate]],
            order: list[str], judged: dict[tuple[str, str], _Judgement]) -> Recommendation:
    """Add the decided and undecided differences, then the chosen mode's latency, size and update cost."""
    _decisions(results, rec, order, best, judged)
    _sequential_caveat(results, rec)
    chosen = rec.best_mode
    others = [(fam, mode) for fam, (mode, _) in best.items() if mode != chosen]
    lat = results.metric(chosen, "latency_p50_ms") if chosen else None
    if lat is not None:
        parts = [f"{mode} {fmt.value('latency_p50_ms', est.value)} ms" for _, mode in others
                 if (est := results.metric(mode, "latency_p50_ms")) is not None]
        median = fmt.value("latency_p50_ms", lat.value)
        rec.reasons.append(f"Latency: {chosen} answers in {median} ms at the median"
                           + (f" (against {', '.join(parts)})." if parts else "."))
    costs = results.costs.get(chosen) if chosen else None
    if costs is not None and costs.added_bytes():
        parts = [f"{mode} {fmt.nbytes(c.added_bytes())}" for _, mode in others
                 if (c := results.costs.get(mode)) is not None and c.added_bytes()]
        rec.reasons.append(f"Disk: {chosen} adds {fmt.nbytes(costs.added_bytes())} to the base model"
                           + (f" (against {', '.join(parts)})." if parts else "."))
    fresh = _freshness_of(results, chosen) if chosen else None
    if fresh is not None and (fresh.update_s is not None or fresh.retrain_s is not None):
        how = (f"a knowledge-base update took {fmt.seconds(fresh.update_s)}" if fresh.update_s is not None
               else f"a retrain took {fmt.seconds(fresh.retrain_s)}")
        rec.reasons.append(f"Updates: for {chosen} {how}; new-fact accuracy after it "
                           f"{fmt.pct(fresh.metric, fresh.new_after_retrain or fresh.new_after)}.")
    if results.config.get("quick"):
        n = len(dict.fromkeys(it.item_id for it in results.items))
        rec.reasons.append(f"Quick run ({n} test items): it checks that the set-up works and is not for "
                           "decisions; run without --quick for numbers to decide on.")
        rec.rules.append("quick")
    return rec


__all__ = ["CHOICES", "FAMILIES", "QUALITY_METRICS", "Recommendation", "not_decided_words", "quality_metrics",
           "recommend"]
