"""The statistics of a comparison run: per-mode tables with bootstrap intervals, and paired differences.

Everything here reads the item records of a :class:`ComparisonResults` and writes only its
derived tables (``metrics``, ``classification``, a missing ``tokens_per_s``), so the numbers can
always be recomputed from the answers::

    add_context_reliance(res)            # optional: answer_changed vs. the closed-book counterpart
    summarize(res)                       # per-mode table with bootstrap CIs, latency, confusion matrices
    paired_difference(res, "rag", "ft", "token_f1")   # Estimate of mean(rag) - mean(ft)
    compare_pair(res, "rag", "ft", "token_f1")        # decided or not, and how many questions would decide it
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ragtune.errors import DataError
from ragtune.evaluate import metrics as M
from ragtune.evaluate.bootstrap import bootstrap_ci, paired_bootstrap_diff
from ragtune.evaluate.results import ClassificationDetail, ComparisonResults, Estimate, ItemRecord


def add_context_reliance(res: ComparisonResults, counterparts: dict[str, str] | None = None) -> int:
    """Score how often each retrieval mode's answer differs from its closed-book counterpart.

    The closed-book answer of the same weights is the answer "with the retrieved text
    removed", so no extra generation is needed: by default every rag-family mode is
    compared with "base" and "ft+rag" with "ft" (when those modes ran). Adds
    ``answer_changed`` and ``no_context_overlap_f1`` to the item scores; returns how many
    items were scored. Call it before :func:`summarize`.
    """
    if counterparts is None:
        counterparts = {m.name: "base" for m in res.modes if m.family == "rag"}
        if "ft+rag" in res.mode_names:
            counterparts["ft+rag"] = "ft"
    counted = 0
    for mode, closed in counterparts.items():
        if closed not in res.mode_names:
            continue
        without = {it.item_id: it.prediction for it in res.items_for(closed)}
        for it in res.items_for(mode):
            if it.item_id in without:
                reliance = M.answer_changed(M.strip_citations(it.prediction), without[it.item_id])
                it.scores["answer_changed"] = float(reliance.changed)
                it.scores["no_context_overlap_f1"] = reliance.overlap_f1
                it.extra.setdefault("context_counterpart", closed)
                counted += 1
    return counted


def summarize(res: ComparisonResults, n_resamples: int = 1000, confidence: float = 0.95) -> ComparisonResults:
    """Compute the per-mode metric table (with bootstrap CIs) from the item records; returns ``res``.

    Each per-item score becomes its mean with an interval over the items that have it;
    latency becomes p50 (with an interval), p95 and mean; for classification, accuracy
    and macro-F1 (bootstrapped over items) and the confusion matrix. A mode's decode
    tokens/s is filled from the items' engine timings when the runner did not set it.
    Entries the runner set directly for metrics without item scores are kept.
    """
    boot = {"n_resamples": n_resamples, "confidence": confidence, "seed": res.seed}
    for mode in res.mode_names:
        items = res.items_for(mode)
        if not items:
            continue
        table = res.metrics.setdefault(mode, {})
        if res.task == "classification":
            table.update(_classification_metrics(res, mode, items, boot))
        names = sorted({k for it in items for k in it.scores})
        for name in names:
            values = [it.scores[name] for it in items if it.scores.get(name) is not None]
            if values and not (res.task == "classification" and name == "correct"):
                table[name] = Estimate.of(values, **boot)
        speeds = [it.extra["timings"]["decode_tok_s"] for it in items
                  if it.extra.get("timings", {}).get("decode_tok_s")]
        if speeds and (mode not in res.costs or res.costs[mode].tokens_per_s is None):
            res.set_costs(mode, tokens_per_s=float(np.mean(speeds)))
        latencies = [it.latency_ms for it in items if it.latency_ms is not None]
        if latencies:
            summary = M.latency_summary(latencies)
            table["latency_p50_ms"] = Estimate.of(latencies, stat=np.median, **boot)
            table["latency_p95_ms"] = Estimate(summary["p95"], n=len(latencies))
            table["latency_mean_ms"] = Estimate(summary["mean"], n=len(latencies))
    return res


def _classification_metrics(res: ComparisonResults, mode: str, items: list[ItemRecord],
                            boot: dict) -> dict[str, Estimate]:
    labels = res.labels()
    y_true = [str(it.references[0]) for it in items]
    y_pred = [str(it.prediction) for it in items]
    extra = sorted(set(y_true + y_pred) - set(labels))
    labels = labels + extra  # invalid generations stay visible as their own column
    res.classification[mode] = ClassificationDetail(
        labels=labels, matrix=M.confusion_matrix(y_true, y_pred, labels),
        per_class_f1={str(k): v for k, v in M.per_class_f1(y_true, y_pred, labels).items()})
    code = {label: i for i, label in enumerate(labels)}
    pairs = np.array([[code[t], code[p]] for t, p in zip(y_true, y_pred, strict=True)])
    correct = (pairs[:, 0] == pairs[:, 1]).astype(float)
    classes = range(len(labels) - len(extra))
    return {
        "accuracy": Estimate.of(correct, **boot),
        "macro_f1": Estimate.of(pairs, stat=_macro_f1_stat(classes, len(labels)), **boot),
    }


def paired_scores(res: ComparisonResults, mode_a: str, mode_b: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Scores of two modes on the items both answered, aligned by item id."""
    def scores(mode: str) -> dict[str, float]:
        return {it.item_id: it.scores[metric] for it in res.items_for(mode)
                if it.scores.get(metric) is not None}

    a, b = scores(mode_a), scores(mode_b)
    shared = sorted(a.keys() & b.keys())
    return np.array([a[i] for i in shared], dtype=float), np.array([b[i] for i in shared], dtype=float)


def paired_difference(res: ComparisonResults, mode_a: str, mode_b: str, metric: str, confidence: float = 0.95,
                      n_resamples: int = 1000) -> Estimate | None:
    """Paired-bootstrap interval of mean(metric of a) - mean(metric of b), None without shared items.

    Classification macro-F1 is not an item score; its difference is bootstrapped over the
    shared items' (true, predicted) pairs of both modes.
    """
    boot = {"seed": res.seed, "confidence": confidence, "n_resamples": n_resamples}
    if res.task == "classification" and metric in ("macro_f1", "accuracy"):
        return _paired_classification(res, mode_a, mode_b, metric, boot)
    a, b = paired_scores(res, mode_a, mode_b, metric)
    if len(a) == 0:
        return None
    point, lo, hi = paired_bootstrap_diff(a, b, **boot)
    return Estimate(point, lo, hi, len(a))


def questions_to_decide(mean_diff: float, sd_diff: float, confidence: float = 0.95,
                        power: float = 0.8) -> int | None:
    """Paired questions needed to decide a difference of ``mean_diff`` whose per-question sd is ``sd_diff``.

    The standard normal-approximation sample size for a test of a mean paired difference
    (Chow, Shao & Wang 2008, "Sample Size Calculations in Clinical Research", 2nd ed., section
    3.1, applied to the per-question differences; Card et al. 2020, "With Little Power Comes
    Great Responsibility", on why NLP comparisons need it)::

        n = ((z[1 - alpha/2] + z[power]) * sd / mean) ** 2,  rounded up

    so that with ``n`` questions a two-sided ``confidence`` interval excludes 0 with
    probability ``power`` when the true difference is ``mean_diff``. None when there is no
    difference to decide (``mean_diff`` is 0). Example: a 10-point difference with sd 50 points
    needs 197 questions at 95% / 80%.
    """
    if not 0.0 < confidence < 1.0 or not 0.0 < power < 1.0:
        raise DataError(f"confidence and power must be between 0 and 1, got {confidence} and {power}")
    if not math.isfinite(mean_diff) or not math.isfinite(sd_diff) or mean_diff == 0:
        return None
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2) + NormalDist().inv_cdf(power)
    return max(2, math.ceil((z * abs(sd_diff) / abs(mean_diff)) ** 2 - 1e-9))


PRACTICAL_LIMIT = 100_000  # items past which "about N would decide" is read as: a tie in practice


def needed_words(needed: int, unit: str = "questions") -> str:
    """The power estimate in words: "about 310 questions would decide a difference of this size".

    Past ``PRACTICAL_LIMIT`` the number itself says nothing useful (a +0.1-point difference needs
    millions), so the words say that the difference is a tie for practical purposes.

    >>> needed_words(1941123)
    'more than 100,000 questions would be needed to decide a difference this small: a tie in practice'
    """
    if needed > PRACTICAL_LIMIT:
        return (f"more than {PRACTICAL_LIMIT:,} {unit} would be needed to decide a difference this small: "
                "a tie in practice")
    return f"about {needed:,} {unit} would decide a difference of this size"


@dataclass
class PairedComparison:
    """Mode ``a`` against mode ``b`` on ``metric``: the difference ``diff`` (a minus b) and what it decides.

    ``evidence`` says how it was judged: "paired" (paired-bootstrap interval of the difference),
    "intervals" (no shared items: the two modes' own intervals) or "points" (no intervals at
    all). ``sign`` is +1 when the evidence decides for ``a`` (the interval excludes 0 above it,
    or the intervals do not overlap), -1 when it decides for ``b``, 0 when it does not decide.
    ``needed`` is :func:`questions_to_decide` for a difference of this size (paired evidence only).
    """

    a: str
    b: str
    metric: str
    diff: Estimate
    evidence: str
    sign: int = 0
    needed: int | None = None

    @property
    def decided(self) -> bool:
        return self.sign != 0


def compare_pair(res: ComparisonResults, mode_a: str, mode_b: str, metric: str) -> PairedComparison | None:
    """Whether ``mode_a`` and ``mode_b`` differ on ``metric`` beyond noise; None when either lacks it.

    On shared items the paired-bootstrap interval decides and the power estimate comes from
    the paired differences' mean and sd (for classification macro-F1, which is not an item
    score, from the width of the paired interval). Without shared items the two intervals
    decide when they do not overlap.
    """
    diff = paired_difference(res, mode_a, mode_b, metric)
    if diff is not None and diff.has_ci and diff.n > 1:
        sign = 1 if diff.lo > 0 else -1 if diff.hi < 0 else 0
        a, b = paired_scores(res, mode_a, mode_b, metric)
        if len(a) > 1:
            sd = float(np.std(a - b, ddof=1))
        else:  # not an item score: the interval's half-width is about z standard errors
            sd = (diff.hi - diff.lo) / (2 * NormalDist().inv_cdf(0.975)) * math.sqrt(diff.n)
        return PairedComparison(mode_a, mode_b, metric, diff, "paired", sign,
                                questions_to_decide(diff.value, sd))
    ea, eb = res.metric(mode_a, metric), res.metric(mode_b, metric)
    if ea is None or eb is None:
        return None
    point = Estimate(ea.value - eb.value, n=min(ea.n, eb.n))
    if ea.has_ci and eb.has_ci:
        sign = 1 if ea.lo > eb.hi else -1 if eb.lo > ea.hi else 0
        return PairedComparison(mode_a, mode_b, metric, point, "intervals", sign)
    return PairedComparison(mode_a, mode_b, metric, point, "points")


def _paired_classification(res: ComparisonResults, mode_a: str, mode_b: str, metric: str,
                           boot: dict) -> Estimate | None:
    labels = res.labels()
    rows_a = {it.item_id: it for it in res.items_for(mode_a)}
    rows_b = {it.item_id: it for it in res.items_for(mode_b)}
    shared = sorted(rows_a.keys() & rows_b.keys())
    if not shared:
        return None
    classes = range(len(labels))
    seen = {str(r.references[0]) for r in rows_a.values()} | {str(r.prediction) for r in rows_a.values()}
    seen |= {str(r.prediction) for r in rows_b.values()}
    labels = labels + sorted(seen - set(labels))
    code = {label: i for i, label in enumerate(labels)}
    rows = np.array([[code[str(rows_a[i].references[0])], code[str(rows_a[i].prediction)],
                      code[str(rows_b[i].prediction)]] for i in shared])
    if metric == "accuracy":
        stat_a = lambda arr: float(np.mean(arr[:, 0] == arr[:, 1]))  # noqa: E731
        stat_b = lambda arr: float(np.mean(arr[:, 0] == arr[:, 2]))  # noqa: E731
    else:
        f1 = _macro_f1_stat(classes, len(labels))
        stat_a = lambda arr: f1(arr[:, [0, 1]])  # noqa: E731
        stat_b = lambda arr: f1(arr[:, [0, 2]])  # noqa: E731
    point, lo, hi = bootstrap_ci(rows, stat=lambda arr: stat_a(arr) - stat_b(arr), **boot)
    return Estimate(point, lo, hi, len(shared))


def _macro_f1_stat(classes: Iterable[int], n_labels: int) -> Callable[[np.ndarray], float]:
    """A vectorised macro-F1 over an (n, 2) array of (true, predicted) label codes.

    The average runs over the codes in ``classes`` (the task's classes; codes beyond them are
    invalid predictions, which only count as errors). bincount keeps 1000 resamples fast.
    """
    used = np.zeros(n_labels, dtype=bool)
    used[list(classes)] = True

    def stat(arr: np.ndarray) -> float:
        t, p = arr[:, 0].astype(int), arr[:, 1].astype(int)
        cm = np.bincount(t * n_labels + p, minlength=n_labels * n_labels).reshape(n_labels, n_labels)
        tp = np.diag(cm)
        denom = 2 * tp + (cm.sum(axis=0) - tp) + (cm.sum(axis=1) - tp)
        f1 = np.divide(2 * tp, denom, out=np.zeros(n_labels), where=denom > 0)
        return float(f1[used].mean())

    return stat
