"""Turn a run's measured numbers into advice: RAG, fine-tuning, both, or the base model.

The rules, applied in this order (each reason in the output quotes the numbers it used):

1. Quality first. On the run's primary metric (token F1 for QA, macro-F1 for
   classification), take the best mode of each family (base, rag, fine-tuning, both). The
   family of the best mode leads. Another family *ties* with it unless it is clearly worse:
   the paired-bootstrap interval of the difference on the same items lies wholly above 0
   (falling back to non-overlapping intervals, and to the point values when there are no
   intervals at all).
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

Nothing here is canned: with other numbers the same rules give other advice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ragtune.errors import DataError
from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.report import format as fmt
from ragtune.evaluate.results import FAMILIES, ComparisonResults, Estimate, FreshnessResult
from ragtune.evaluate.stats import paired_difference

CHOICES = ("rag", "fine-tuning", "both", "base")
_COMPLEXITY = {"base": 0, "rag": 1, "fine-tuning": 2, "both": 3}
_FRESHNESS_MARGIN = 0.05  # without intervals, 5 points of new-fact accuracy count as "clearly below"


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


def _significance(results: ComparisonResults, leader: str, other: str, metric: str,
                  lead_est: Estimate, other_est: Estimate) -> tuple[bool, str]:
    """Whether ``other`` is clearly worse than ``leader``, and the evidence as words."""
    diff = paired_difference(results, leader, other, metric)
    if diff is not None and diff.has_ci and diff.n > 1:
        worse = diff.lo > 0
        words = (f"paired difference {fmt.diff(metric, diff)} on {diff.n} shared items "
                 f"({'excludes' if worse else 'includes'} 0)")
        return worse, words
    if lead_est.has_ci and other_est.has_ci:
        worse = other_est.hi < lead_est.lo
        return worse, f"intervals {'do not overlap' if worse else 'overlap'}"
    return other_est.value < lead_est.value, "no intervals: point values compared"


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

    # Rule 1: quality.
    order = sorted(best, key=lambda fam: best[fam][1].value, reverse=True)
    leader = order[0]
    lead_mode, lead_est = best[leader]
    tied = [leader]
    lines = []
    for fam in order[1:]:
        mode, est = best[fam]
        worse, words = _significance(results, lead_mode, mode, metric, lead_est, est)
        if not worse:
            tied.append(fam)
        lines.append(f"{fam} ({mode}) {fmt.estimate(metric, est)}: {words}"
                     f"{'' if worse else ', so it ties'}")
    items = f"{lead_est.n} item{'' if lead_est.n == 1 else 's'}"
    head = (f"Task quality ({label}, {items}): {leader} leads with {lead_mode} at "
            f"{fmt.estimate(metric, lead_est)}")
    reasons.append(head + ("; " + "; ".join(lines) if lines else "; no other family was measured") + ".")
    rules.append("quality")

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
        return _finish(results, Recommendation("base", reasons, mode, metric, rules), best)

    # Rule 4: cheapest among the tied.
    choice = tied[0]
    if len(tied) > 1:
        setups = {fam: _family_setup(results, best[fam][0]) for fam in tied}
        if all(v is not None for v in setups.values()):
            choice = min(tied, key=lambda fam: (setups[fam], _COMPLEXITY[fam]))
            listed = ", ".join(f"{fam} {fmt.seconds(setups[fam])}" for fam in tied)
            reasons.append(f"{', '.join(tied)} are within noise of each other on {label}; "
                           f"{choice} is the cheapest to set up ({listed}).")
            rules.append("cheapest-setup")
        else:
            choice = min(tied, key=lambda fam: _COMPLEXITY[fam])
            reasons.append(f"{', '.join(tied)} are within noise of each other on {label} and set-up times "
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
    return _finish(results, rec, best)


def _retrain_words(f: FreshnessResult) -> str:
    if f.retrain_s is None:
        return ""
    reached = (f" and reached {fmt.pct(f.metric, f.new_after_retrain)} on the new facts"
               if f.new_after_retrain else "")
    return f" (retraining took {fmt.seconds(f.retrain_s)}{reached})"


def _finish(results: ComparisonResults, rec: Recommendation,
            best: dict[str, tuple[str, Estimate]]) -> Recommendation:
    """Add the latency, size and update-cost context of the chosen mode (rule 5)."""
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
    return rec


__all__ = ["CHOICES", "FAMILIES", "Recommendation", "recommend"]
