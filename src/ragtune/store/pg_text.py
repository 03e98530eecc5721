"""Full-text search of the PostgreSQL backend: BM25 from per-version term statistics, pruned with MaxScore.

Chunks are matched on their stored ``tsvector`` (English stemming and stop words, under a GIN
index) and scored with BM25 over the OR of the query's lexemes, from the statistics the version
keeps (``pg_sql.py`` says how and why not ``ts_rank``). A search reads the query's statistics
first (``query_stats``), then scores the chunks that hold its rarest lexemes and, when MaxScore
(``maxscore.py``) says chunks without them could still reach the top k, those holding any lexeme
that can (``top_k``): the exact top k, scoring only the chunks that can be in it. With a budget
(``[store] text_candidates``; ``auto``: by the version's size, ``budget``) the first pass scores about
that many chunks and stops there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ragtune.store import maxscore, pg_sql
from ragtune.types import Chunk

# (lexemes, their idf, the lexemes a scored chunk must hold) -> the best chunks with their BM25 scores
Score = Callable[[list[str], list[float], list[str]], list[tuple[Chunk, float]]]

# ``[store] text_candidates = "auto"``: 2000 chunks scored below LARGE chunks, 1000 from there. Measured
# with benchmarks/bench_store.py (RESULTS.md, "Stores"; shared_buffers 4GB): at 1M chunks 1000 took the
# hybrid p50 from 53.5 to 12.3 ms (2000 scored chunks, heap pages scattered over a table and indexes that
# outgrow the buffers, cost 5x the time of 1000) for a top-10 overlap with exact BM25 of 0.829 against
# 0.848; at 500k (24.8 against 25.2 ms) and 100k chunks the two cost the same and 2000 is truer (0.881
# against 0.836, 0.974 against 0.890). LARGE lies between 500k and 1M; a server with smaller buffers
# meets the cliff sooner (set a number then).
AUTO_SMALL, AUTO_LARGE, LARGE = 2000, 1000, 750_000


def budget(setting: int | str, n_chunks: float) -> int:
    """The chunks a search scores at most: the setting, or for ``"auto"`` what the version's size calls for.

    >>> budget("auto", 500_000), budget("auto", 1_000_000), budget(0, 1_000_000)
    (2000, 1000, 0)
    """
    if setting == "auto":
        return AUTO_LARGE if n_chunks >= LARGE else AUTO_SMALL
    return int(setting)


def query_stats(cur: Any, sql: Any, query: str, version: int) -> tuple[float, float, dict[str, int]] | None:
    """The version's chunk count, average length and the df of each lexeme of ``query`` found in it
    (``sql``: ``pg_sql.TEXT_STATS`` filled in); None when no lexeme of the query is in any chunk."""
    cur.execute(sql, [query, version, version])
    rows = cur.fetchall()
    dfs = {lex: int(df) for _, _, lex, df in rows if lex is not None and df > 0}
    if not dfs:
        return None
    return float(rows[0][0]), float(rows[0][1]), dfs


def top_k(score: Score, n: float, dfs: dict[str, int], k: int, budget: int,
          first_pass: int) -> list[tuple[Chunk, float]]:
    """The ``k`` best chunks by BM25: ``score`` first the chunks of the rarest lexemes (about ``budget``,
    or ``first_pass`` with no budget), then, with no budget, those MaxScore cannot rule out."""
    idfs = {t: maxscore.idf(n, df) for t, df in dfs.items()}
    lexemes, weights = list(idfs), list(idfs.values())
    first = maxscore.first_pass(dfs, budget or first_pass)
    hits = score(lexemes, weights, first)
    theta = hits[k - 1][1] if len(hits) >= k else 0.0
    need = maxscore.essential({t: maxscore.upper_bound(w, pg_sql.K1) for t, w in idfs.items()}, theta)
    if budget or set(need) <= set(first):
        return hits  # the budget's chunks, or no chunk outside them can reach the k-th score
    return score(lexemes, weights, need)


def tsquery(match: list[str]) -> str:
    """The OR of ``match`` (the database's own lexemes) as a tsquery, each lexeme quoted."""
    return " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in match)
