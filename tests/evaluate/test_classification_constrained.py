"""Prompting classifiers answer with a label: the label set constrains zero-shot and rag, and the
share of answers that still are not a label is reported per mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.config import load_settings
from ragtune.evaluate.classification import INVALID, ClassificationRunner, answer_label
from ragtune.evaluate.compare import run_comparison
from ragtune.evaluate.experiment import load_experiment
from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.results import ComparisonResults
from ragtune.evaluate.workspace import Workspace

SENTIMENT = Path(__file__).resolve().parents[2] / "examples" / "sentiment" / "data"
LABELS = ["great", "other"]


@pytest.mark.parametrize("answer, expected", [
    ("great", "great"), ("Great.", "great"), ("  OTHER \n", "other"), ("other!", "other"),
    ("Great, other.", INVALID), ("This customer's message", INVALID), ("", INVALID), ("grea", INVALID),
])
def test_an_answer_is_a_label_or_invalid(answer, expected):
    assert answer_label(answer, LABELS) == expected


def test_label_spelling_is_kept():
    assert answer_label("positive", ["Positive", "Negative"]) == "Positive"


def _two_label_data(folder: Path, n_train: int, n_test: int) -> dict:
    """Real tweets relabelled great (positive) / other (negative, neutral): the issue's two-label setup."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, n in (("train", n_train), ("test", n_test)):
        rows = [json.loads(line) for line in (SENTIMENT / f"{split}.jsonl").read_text().splitlines() if line.strip()]
        pos = [r for r in rows if r["label"] == "positive"][: n // 2]
        rest = [r for r in rows if r["label"] != "positive"][: n - len(pos)]
        out = folder / f"{split}.jsonl"
        out.write_text("".join(json.dumps({"text": r["text"], "label": "great" if r["label"] == "positive"
                                           else "other"}) + "\n" for r in pos + rest))
        paths[split] = str(out)
    return paths


def test_invalid_share_is_reported_with_a_note(tmp_path):
    paths = _two_label_data(tmp_path / "data", 4, 4)
    exp = load_experiment(data={"name": "two-labels", "task": "classification", "modes": ["zero-shot"],
                                "data": paths})
    res = ComparisonResults.new(exp.name, "classification")
    runner = ClassificationRunner(exp, load_settings(env={}, data_dir=tmp_path / "rt"), Workspace(tmp_path / "ws"), res)
    runner.labels = LABELS
    runner.report_invalid("zero-shot", [False, True, False, False])
    est = res.metric("zero-shot", "invalid_share")
    assert est.value == pytest.approx(0.25) and est.n == 4 and est.has_ci
    assert len(res.notes) == 1 and res.notes[0].startswith("zero-shot: 1 of 4 answers were not a label")
    assert metric_info("invalid_share").higher_is_better is False
    runner.report_invalid("rag", [False, False])
    assert res.metric("rag", "invalid_share").value == 0.0 and len(res.notes) == 1  # no note when all are labels


@pytest.mark.slow
def test_zero_shot_and_rag_never_answer_outside_the_labels(tmp_path):
    paths = _two_label_data(tmp_path / "data", 8, 8)
    exp = load_experiment(data={"name": "two-labels", "task": "classification", "modes": ["zero-shot", "rag"],
                                "data": paths, "sizes": {"train_examples": 8, "test_examples": 8,
                                                         "demonstrations": 2}})
    settings = load_settings(env={}, data_dir=tmp_path / "rt")
    res, _ = run_comparison(exp, settings, show_progress=False)
    assert res.config["split"]["labels"] == LABELS
    for mode in ("zero-shot", "rag"):
        items = res.items_for(mode)
        assert len(items) == 8
        assert all(it.prediction in LABELS and it.extra["raw"] in LABELS for it in items), \
            [it.extra["raw"] for it in items]
        assert res.metric(mode, "invalid_share").value == 0.0
        assert res.mode(mode).params["decoding"] == "constrained to the labels"
        assert res.config["threads"][mode]["threads"] >= 1 and all(it.extra["threads"] >= 1 for it in items)
    assert not any("not a label" in n for n in res.notes)
