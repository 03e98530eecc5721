"""MaxScore pruning for a top-k BM25 search (Turtle & Flood, "Query evaluation: strategies and
optimizations", Information Processing & Management 31(6), 1995).

A term's BM25 contribution ``idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))`` is
below ``idf * (k1 + 1)`` whatever the document: that is the term's upper bound. Once some
``k`` documents are known to score at least ``theta``, a document whose terms all come from a
set of query terms whose upper bounds sum to less than ``theta`` cannot enter the top ``k``.
So only documents holding at least one of the other ("essential") terms need scoring, and the
rare terms, which are the essential ones, match few documents. The answer is the exact top
``k`` (ties ordered as the full search orders them), only cheaper.

The PostgreSQL store (``pg_text.py``) uses it in two passes: the rarest terms first (a small
``budget`` of documents), whose ``k``-th score is ``theta``; then, when the essential terms
are more than those, a second pass over the documents matching any essential term.
"""

from __future__ import annotations

import math


def idf(n_docs: float, df: float) -> float:
    """BM25's idf as Lucene and Tantivy compute it (always positive)."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def upper_bound(term_idf: float, k1: float) -> float:
    """The most one term can add to a document's BM25 score (tf saturates below ``k1 + 1``)."""
    return term_idf * (k1 + 1)


def first_pass(dfs: dict[str, int], budget: int) -> list[str]:
    """The rarest terms whose document frequencies sum to at most ``budget`` (at least the rarest one)."""
    out, total = [], 0
    for term in sorted((t for t, d in dfs.items() if d > 0), key=lambda t: (dfs[t], t)):
        if out and total + dfs[term] > budget:
            break
        out.append(term)
        total += dfs[term]
    return out


def essential(bounds: dict[str, float], theta: float) -> list[str]:
    """The terms a document must hold to reach ``theta``: all but the longest run of the lowest
    upper bounds whose sum stays below ``theta`` (``theta`` 0 or less keeps every term)."""
    ordered = sorted(bounds, key=lambda t: (bounds[t], t))
    limit = theta - 1e-9 * abs(theta)  # a margin for the database summing the same floats in another order
    total, cut = 0.0, 0
    for term in ordered:
        if total + bounds[term] >= limit:
            break
        total += bounds[term]
        cut += 1
    return ordered[cut:]
