"""How numbers are written in reports, reasons and the terminal, in one place.

Fractions are shown as points out of 100 with one decimal (as the SQuAD script prints), an
interval as ``[lo, hi]``, sizes in MB or GB and times in s, min or h.
"""

from __future__ import annotations

from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.results import Estimate


def value(metric: str, v: float | None) -> str:
    """One value of ``metric`` in its display unit, "n/a" for None."""
    if v is None:
        return "n/a"
    unit = metric_info(metric).unit
    if unit == "percent":
        return f"{100 * v:.1f}"
    if unit == "cosine":
        return f"{v:.3f}"
    if unit == "ms":
        return f"{v:,.0f}"
    return f"{v:g}"


def estimate(metric: str, est: Estimate | None, with_ci: bool = True) -> str:
    """``23.1 [19.0, 27.2]``: the value and its interval, or the value alone when there is none."""
    if est is None:
        return "n/a"
    text = value(metric, est.value)
    if with_ci and est.zero_width:
        return text + (f" (all {est.n} alike: no interval)" if est.n > 1 else " (one item: no interval)")
    if with_ci and est.has_ci:
        text += f" [{value(metric, est.lo)}, {value(metric, est.hi)}]"
    return text


def pct(metric: str, est: Estimate | None) -> str:
    """``72.0% [65.0, 80.0]`` for a share, for reading inside a sentence."""
    if est is None:
        return "n/a"
    if metric_info(metric).unit != "percent":
        return estimate(metric, est)
    text = f"{value(metric, est.value)}%"
    if est.zero_width:
        return text + (f" (all {est.n} alike: no interval)" if est.n > 1 else " (one item: no interval)")
    if est.has_ci:
        text += f" [{value(metric, est.lo)}, {value(metric, est.hi)}]"
    return text


def diff(metric: str, est: Estimate | None) -> str:
    """A signed difference with its interval: ``+14.8 [+10.1, +19.6]``."""
    if est is None:
        return "n/a"

    def signed(v: float) -> str:
        text = value(metric, abs(v))
        return ("-" if v < 0 and text.strip("0.") else "+") + text

    text = signed(est.value)
    if est.has_ci:
        text += f" [{signed(est.lo)}, {signed(est.hi)}]"
    return text


def nbytes(n: int | float | None) -> str:
    """A size on disk in KB, MB or GB (powers of 1024)."""
    if n is None:
        return "n/a"
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def seconds(s: float | None) -> str:
    """A duration: ``850 ms``, ``14.2 s``, ``5.3 min``, ``1.2 h``."""
    if s is None:
        return "n/a"
    if s < 1:
        return f"{1000 * s:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def ratio(a: float, b: float) -> str:
    """How many times ``a`` is of ``b`` ("12x", "0.3x"), "n/a" when ``b`` is zero."""
    if not b:
        return "n/a"
    r = a / b
    return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x"


def level(confidence: float) -> str:
    """A confidence level in words: 0.95 -> "95%", 0.99444 -> "99.4%"."""
    return f"{100 * confidence:.1f}%".replace(".0%", "%")
