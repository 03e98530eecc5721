"""Measuring the contenders: metrics, bootstrap intervals, the results record, advice and report.

- ``metrics``: pure scoring functions (SQuAD EM/F1, answer recall, groundedness, retrieval,
  classification, latency), each citing its source.
- ``bootstrap``: percentile and paired bootstrap intervals.
- ``results``: ``ComparisonResults``, the schema of one comparison run (results.json), and its I/O;
  ``items``: the record of one answer; ``machine``: where the numbers were measured.
- ``stats``: the per-mode tables with bootstrap intervals and the paired differences.
- ``recommend``: RAG, fine-tuning, both or base, from the measured numbers.
- ``report``: report.html, summary.md and the terminal summary.
"""

from ragtune.evaluate.bootstrap import bootstrap_ci, paired_bootstrap_diff
from ragtune.evaluate.results import (
    ComparisonResults,
    Estimate,
    FreshnessResult,
    ItemCitation,
    ItemRecord,
    ModeCosts,
    ModeInfo,
    RetrievalQuality,
    RetrievedChunk,
)

__all__ = [
    "ComparisonResults",
    "Estimate",
    "FreshnessResult",
    "ItemCitation",
    "ItemRecord",
    "ModeCosts",
    "ModeInfo",
    "RetrievalQuality",
    "RetrievedChunk",
    "bootstrap_ci",
    "paired_bootstrap_diff",
]
