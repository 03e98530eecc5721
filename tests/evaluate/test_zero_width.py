"""A metric on which every item scores the same has a one-point interval: shown as that, not as evidence."""

from ragtune.evaluate import formatting as fmt
from ragtune.evaluate.results import Estimate


def test_constant_metric_is_written_as_no_interval():
    est = Estimate.of([1.0] * 24)
    assert est.zero_width
    text = fmt.estimate("answer_changed", est)
    assert "[100" not in text and "all 24 alike" in text
    assert "all 24 alike" in fmt.pct("answer_changed", est)


def test_varied_metric_keeps_its_interval():
    est = Estimate.of([0.0, 1.0] * 12)
    assert not est.zero_width
    assert "[" in fmt.estimate("answer_changed", est)


def test_one_item_says_so():
    assert "one item" in fmt.estimate("token_f1", Estimate.of([0.4]))
