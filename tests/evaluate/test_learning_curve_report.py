"""The report draws the learning curve beside the data-requirements card and says where fine-tuning catches up."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from ragtune.evaluate.report import render_report
from ragtune.evaluate.report.charts import learning_curve_chart
from ragtune.evaluate.report.html import catch_up
from ragtune.evaluate.report.palette import color_of
from ragtune.evaluate.results import Estimate


def E(value, lo, hi, n=40):
    return vars(Estimate(value, lo, hi, n))


def _points(mode, rows):
    """rows: (fraction, n_train, score, vs_rag or None)."""
    out = []
    for f, n, s, d in rows:
        p = {"mode": mode, "fraction": f, "n_train": n, "score": E(s, s - 0.05, s + 0.05),
             "vs_smallest": E(s - rows[0][2], s - rows[0][2] - 0.05, s - rows[0][2] + 0.05)}
        if d is not None:
            p["vs_rag"] = E(d, d - 0.05, d + 0.05)
        out.append(p)
    return out


def _curve(with_rag=True):
    """ft: clearly below rag until the full set, then level; ft+rag: level from the smallest share, above at 100%."""
    ft = [(0.25, 10, 0.10, -0.30), (0.5, 20, 0.20, -0.20), (1.0, 40, 0.39, -0.01)]
    both = [(0.25, 10, 0.42, 0.02), (0.5, 20, 0.45, 0.05), (1.0, 40, 0.50, 0.10)]
    if not with_rag:
        ft = [(f, n, s, None) for f, n, s, _ in ft]
        both = [(f, n, s, None) for f, n, s, _ in both]
    flat = {"base": E(0.05, 0.0, 0.1)} | ({"rag": E(0.4, 0.3, 0.5)} if with_rag else {})
    return {"metric": "token_f1", "n_test": 40, "n_train_full": 40, "fractions": [0.25, 0.5, 1.0],
            "flat": flat, "points": _points("ft", ft) + _points("ft+rag", both)}


@pytest.fixture
def results(make_qa):
    return make_qa({"base": 0.05, "rag": 0.5, "ft": 0.15, "ft+rag": 0.5}, n=40)


def _card(page: str) -> str:
    start = page.index('id="claim-data-requirements"')
    end = page.find('<div class="claim"', start)
    return page[start:end if end > 0 else None]


def test_report_draws_the_curve_in_the_data_requirements_card(results, tmp_path):
    results.learning_curve = _curve()
    page = render_report(results, tmp_path)["html"].read_text(encoding="utf-8")
    card = _card(page)
    assert '<figure class="learning-curve" id="learning-curve"><img class="chart" src="data:image/png;base64,' in card
    assert ('alt="Learning curve: F1 of each fine-tuned mode against its labelled training data, with 95% '
            'intervals; base and rag as flat lines"') in card
    caption = card[card.index("<figcaption>"):card.index("</figcaption>")]
    assert "paired on the same 40 test questions" in caption
    assert ("ft catches up at 100% of the training data (40 labelled questions): from there on it is no longer "
            "clearly below rag (-1.0 [-6.0, +4.0])") in caption
    assert ("ft+rag is level with rag already at the smallest share, 25% of the training data (10 labelled "
            "questions) (+2.0 [-3.0, +7.0]), and clearly above it at 100% of the training data") in caption
    assert page.count('id="learning-curve"') == 1


def test_no_curve_without_the_section(results, tmp_path):
    assert results.learning_curve is None
    page = render_report(results, tmp_path)["html"].read_text(encoding="utf-8")
    assert 'id="learning-curve"' not in page and "Learning curve:" not in page
    assert "catches up" not in page
    assert learning_curve_chart(results) is None


def test_chart_draws_each_mode_in_its_own_colour(results):
    """Markers and lines of ft and ft+rag, and rag's flat line, carry the modes' palette colours."""
    from matplotlib.image import imread

    results.learning_curve = _curve()
    uri = learning_curve_chart(results)
    png = base64.b64decode(uri.split(",", 1)[1])
    assert png.startswith(b"\x89PNG")
    pixels = imread(io.BytesIO(png))[..., :3]
    for mode in ("ft", "ft+rag", "rag", "base"):
        rgb = np.array([int(color_of(results, mode)[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).max(axis=-1) < 0.02).sum() > 20, mode


def test_catch_up_says_when_a_mode_never_catches_up_and_when_rag_is_missing(results):
    lc = _curve()
    lc["points"] = [p for p in lc["points"] if p["mode"] == "ft"]
    lc["points"][-1]["vs_rag"] = E(-0.1, -0.15, -0.05)
    results.learning_curve = lc
    assert ("ft does not catch up: with 100% of the training data (40 labelled questions) it is still clearly "
            "below rag (-10.0 [-15.0, -5.0])") in catch_up(results)
    # Level, then clearly below again: it has not caught up, the last share decides.
    lc["points"][0]["vs_rag"] = E(0.0, -0.05, 0.05)
    assert "ft does not catch up" in catch_up(results)
    results.learning_curve = _curve(with_rag=False)
    assert catch_up(results).startswith("rag was not run")
    results.learning_curve = None
    assert catch_up(results) == ""


def test_catch_up_says_when_a_mode_is_above_rag_from_the_start(results):
    lc = _curve()
    for p in lc["points"]:
        p["vs_rag"] = E(0.2, 0.1, 0.3)
    results.learning_curve = lc
    text = catch_up(results)
    assert ("ft is clearly above rag already at the smallest share, 25% of the training data (10 labelled "
            "questions) (+20.0 [+10.0, +30.0]);") in text
    assert "and clearly above it" not in text


def test_classification_report_draws_its_curve_in_texts(make_cls, tmp_path):
    res = make_cls({"zero-shot": 0.4, "rag": 0.6, "ft": 0.85})
    lc = _curve()
    lc["metric"], lc["flat"] = "accuracy", {"zero-shot": E(0.4, 0.3, 0.5), "rag": E(0.6, 0.5, 0.7)}
    lc["points"] = [p for p in lc["points"] if p["mode"] == "ft"]
    res.learning_curve = lc
    card = _card(render_report(res, tmp_path)["html"].read_text(encoding="utf-8"))
    assert "zero-shot and rag as flat lines" in card
    assert "paired on the same 40 test texts" in card and "(40 labelled texts)" in card
