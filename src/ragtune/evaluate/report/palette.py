"""One colour per mode, the same in every chart, table and card of a report.

Colours go by the mode's place in the run (``results.mode_names``), from the Okabe-Ito
colour-blind-safe set followed by Tableau's, so two modes of one family (ft+rag and raft)
never share a colour. Past the list's end the colours repeat with a hatch in charts.
"""

from __future__ import annotations

from ragtune.evaluate.results import ComparisonResults

PALETTE = ("#7f7f7f", "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#8c564b",
           "#bcbd22", "#17becf", "#9467bd", "#f0e442")
_BASE = "#7f7f7f"


def mode_colors(results: ComparisonResults) -> dict[str, str]:
    """``{mode: "#rrggbb"}``: the base mode grey, the others the next unused colour in run order."""
    out: dict[str, str] = {}
    rest = iter([c for c in PALETTE if c != _BASE] * (1 + len(results.mode_names) // len(PALETTE)))
    for mode in results.mode_names:
        grey_free = _BASE not in out.values()
        out[mode] = _BASE if results.mode(mode).family == "base" and grey_free else next(rest)
    return out

def color_of(results: ComparisonResults, mode: str) -> str:
    return mode_colors(results).get(mode, _BASE)
