"""MaxScore's pure parts on fixed numbers (the search it prunes is tested on PostgreSQL against the
unpruned search: tests/store/test_postgres_store.py)."""

from __future__ import annotations

import math

from ragtune.store import maxscore


def test_idf_is_lucenes_and_always_positive():
    assert maxscore.idf(100, 1) == math.log(1 + 99.5 / 1.5)
    assert maxscore.idf(100, 100) > 0


def test_first_pass_takes_the_rarest_terms_within_the_budget_and_always_one():
    dfs = {"common": 900, "rare": 3, "mid": 40, "absent": 0}
    assert maxscore.first_pass(dfs, 50) == ["rare", "mid"]
    assert maxscore.first_pass(dfs, 10) == ["rare"]
    assert maxscore.first_pass({"common": 900}, 10) == ["common"]


def test_essential_drops_the_lowest_bounds_while_their_sum_stays_below_theta():
    bounds = {"the_rare": 9.0, "mid": 4.0, "low": 1.5, "lower": 1.0}
    assert maxscore.essential(bounds, 3.0) == ["mid", "the_rare"]  # 1.0 + 1.5 = 2.5 < 3
    assert maxscore.essential(bounds, 2.5) == ["low", "mid", "the_rare"]  # 2.5 could tie: kept
    assert maxscore.essential(bounds, 0.0) == ["lower", "low", "mid", "the_rare"]
    assert maxscore.essential(bounds, 100.0) == []  # nothing can reach it
