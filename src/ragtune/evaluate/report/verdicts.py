"""What a debate claim is (:class:`Claim`) and the words its verdict is given in.

Each claim gets the evidence this run measured, written from the numbers, and a verdict from a
small explicit rule (``claims.py``, ``experiment_claims.py``). A claim tested on intervals (a
difference between modes) has three outcomes: "supported" (the interval of the difference
excludes 0 the way the claim says), "contradicted" (it excludes 0 the other way) and "not
decided at this size" (it includes 0: the data cannot tell, and the evidence says about how many
questions would decide a difference of this size). A claim with two such parts is "partly
supported" when one part is supported and the other is not decided or not measured. Claims
judged on measurements without sampling noise (set-up times) or on an evidence rule
(groundedness) keep "supported", "partly supported" and "not supported". "measured" is evidence
without a yes/no question; "not measured" marks a claim whose numbers are missing, which says so
instead of repeating the textbook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

from ragtune.evaluate.results import Estimate
from ragtune.evaluate.stats import questions_to_decide

NOT_MEASURED = "not measured"
SUPPORTED, CONTRADICTED, NOT_DECIDED = "supported", "contradicted", "not decided at this size"


@dataclass
class Claim:
    """One debate claim: an id for the HTML, the topic, the claim, the verdict and the evidence."""

    key: str
    topic: str
    claim: str
    verdict: str = NOT_MEASURED
    evidence: list[str] = field(default_factory=list)


def interval_decision(a: Estimate, b: Estimate) -> tuple[int, int | None]:
    """+1 / -1 when the intervals of ``a`` and ``b`` do not overlap (0 otherwise), and the items that
    would decide a difference of this size: two independent samples, each sd from its interval's width."""
    if not (a.has_ci and b.has_ci):
        gap = a.value - b.value
        return (1 if gap > 0.05 else -1 if gap < -0.05 else 0), None
    sign = 1 if a.lo > b.hi else -1 if b.lo > a.hi else 0
    z = NormalDist().inv_cdf(0.975)
    sds = [(e.hi - e.lo) / (2 * z) * math.sqrt(max(e.n, 1)) for e in (a, b)]
    return sign, questions_to_decide(a.value - b.value, math.hypot(*sds))
