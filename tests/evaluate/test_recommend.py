"""Each recommendation outcome follows from synthetic numbers, and every reason quotes them."""

from __future__ import annotations

import re

import pytest

from ragtune.errors import DataError
from ragtune.evaluate.recommend import Recommendation, recommend
from ragtune.evaluate.results import ComparisonResults


def check_reasons_quote_numbers(rec: Recommendation, res: ComparisonResults, mode: str) -> None:
    assert rec.reasons
    for reason in rec.reasons:
        assert re.search(r"\d", reason), reason
    est = res.metric(mode, res.primary_metric)
    assert f"{100 * est.value:.1f}" in rec.reasons[0]


def test_rag_clearly_best(make_qa):
    res = make_qa({"base": 0.05, "rag": 0.6, "ft": 0.15})
    rec = recommend(res)
    assert rec.choice == "rag" and rec.best_mode == "rag"
    assert "clear-winner" in rec.rules
    check_reasons_quote_numbers(rec, res, "rag")
    assert "excludes 0" in rec.reasons[0]


def test_fine_tuning_clearly_best(make_qa):
    res = make_qa({"base": 0.05, "rag": 0.2, "ft": 0.7})
    rec = recommend(res)
    assert rec.choice == "fine-tuning" and rec.best_mode == "ft"
    check_reasons_quote_numbers(rec, res, "ft")


def test_both_clearly_best(make_qa):
    res = make_qa({"base": 0.05, "rag": 0.35, "ft": 0.3, "raft": 0.75})
    rec = recommend(res)
    assert rec.choice == "both" and rec.best_mode == "raft"
    check_reasons_quote_numbers(rec, res, "raft")


def test_base_when_nothing_helps(make_qa):
    res = make_qa({"base": 0.3, "rag": 0.3, "ft": 0.3})
    rec = recommend(res)
    assert rec.choice == "base"
    assert "base-ties" in rec.rules
    assert any(r.startswith("The base model") and "within noise" in r for r in rec.reasons)


def test_tie_goes_to_the_cheaper_setup_either_way(make_qa):
    rates = {"base": 0.05, "rag": 0.5, "ft": 0.5}
    rec = recommend(make_qa(rates))
    assert rec.choice == "rag" and "cheapest-setup" in rec.rules
    assert "12.0 s" in " ".join(rec.reasons)
    # same quality, but this time training was the cheaper set-up: the advice follows the numbers
    rec = recommend(make_qa(rates, setup={"rag": 900.0, "ft": 60.0}))
    assert rec.choice == "fine-tuning" and "cheapest-setup" in rec.rules
    assert "15.0 min" in " ".join(rec.reasons)


def test_freshness_sets_aside_a_tied_family_that_cannot_update(make_qa):
    rates = {"base": 0.05, "rag": 0.5, "ft": 0.5}
    rec = recommend(make_qa(rates, setup={"rag": 900.0, "ft": 60.0},
                             freshness={"rag": (0.1, 0.9), "ft": (0.1, 0.1)}))
    assert rec.choice == "rag"
    assert "freshness" in rec.rules
    text = " ".join(rec.reasons)
    assert "90.0%" in text and "10.0%" in text


def test_clear_fine_tuning_win_keeps_a_freshness_caveat(make_qa):
    res = make_qa({"base": 0.05, "rag": 0.2, "ft": 0.7}, freshness={"rag": (0.1, 0.9), "ft": (0.1, 0.1)})
    rec = recommend(res)
    assert rec.choice == "fine-tuning"
    assert "freshness-caveat" in rec.rules
    assert any(r.startswith("Caveat") and "5.0 min" in r for r in rec.reasons)  # the retrain time


def test_classification_fine_tuning_wins(make_cls):
    res = make_cls({"zero-shot": 0.4, "rag": 0.55, "ft": 0.9})
    rec = recommend(res)
    assert rec.choice == "fine-tuning" and rec.metric == "macro_f1"
    check_reasons_quote_numbers(rec, res, "ft")


def test_classification_rag_wins(make_cls):
    res = make_cls({"zero-shot": 0.3, "rag": 0.85, "ft": 0.4})
    assert recommend(res).choice == "rag"


def test_falls_back_to_intervals_without_items(make_qa):
    res = make_qa({"base": 0.05, "rag": 0.6, "ft": 0.15})
    res.items.clear()  # only the metric table is left: paired differences are impossible
    rec = recommend(res)
    assert rec.choice == "rag"
    assert "do not overlap" in rec.reasons[0]


def test_needs_a_summarised_metric():
    res = ComparisonResults.new("empty", task="qa")
    res.add_mode("rag")
    with pytest.raises(DataError, match="summarize"):
        recommend(res)


def test_round_trip(make_qa):
    rec = recommend(make_qa({"base": 0.05, "rag": 0.6, "ft": 0.15}))
    assert Recommendation.from_dict(rec.to_dict()) == rec


def test_base_when_it_is_simply_best(make_qa):
    rec = recommend(make_qa({"base": 0.6, "rag": 0.1, "ft": 0.1}))
    assert rec.choice == "base" and rec.best_mode == "base"
    assert any("scored best" in r for r in rec.reasons)
