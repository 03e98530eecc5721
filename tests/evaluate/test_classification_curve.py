"""The classification task's learning curve: heads trained on nested, seeded shares, scored on the same texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.config import load_settings
from ragtune.evaluate.classification import ClassificationRunner, split_val
from ragtune.evaluate.datasets import Labeled
from ragtune.evaluate.experiment import load_experiment
from ragtune.evaluate.learning_curve import ClassifierCurve, nested_subsets
from ragtune.evaluate.report.charts import learning_curve_chart
from ragtune.evaluate.report.claims import data_requirements
from ragtune.evaluate.results import ComparisonResults, ItemRecord
from ragtune.evaluate.workspace import Workspace

SENTIMENT = Path(__file__).resolve().parents[2] / "examples" / "sentiment" / "data"
SECTION_KEYS = {"metric", "n_test", "n_train_full", "fractions", "flat", "points"}  # the QA curve's shape too
POINT_KEYS = {"mode", "fraction", "n_train", "score", "vs_smallest", "vs_rag"}
LABELS = ("neg", "pos")
TRAIN = [Labeled(f"tr{i}", f"text {i}", LABELS[i % 2]) for i in range(16)]
TEST = [Labeled(f"te{i}", f"test {i}", LABELS[i % 2]) for i in range(10)]
MAIN_RIGHT = {"zero-shot": 3, "rag": 6, "ft": 9, "ft/embedder": 7}  # test texts each mode gets right, the first k


def _exp(seed=0, **curve):
    return load_experiment(data={"name": "cls", "task": "classification", "seed": seed, "variants": ["ft/embedder"],
                                 "data": {"train": "train.jsonl", "test": "test.jsonl"},
                                 "learning_curve": {"enabled": True, "fractions": [0.25, 0.5, 1.0], **curve}})


def _answer(t: Labeled, right: bool) -> str:
    return t.label if right else LABELS[1 - LABELS.index(t.label)]


class StubRunner:
    """A classification runner whose main answers are fixed and whose head, trained on n texts, gets the first
    n // 2 test texts right (ft/embedder: one fewer): the numbers of every point are known."""

    def __init__(self, exp):
        self.exp = exp
        self.res = ComparisonResults.new("cls", "classification", seed=exp.seed)
        self.calls: list[tuple[str, list[str], str]] = []
        for mode, k in MAIN_RIGHT.items():
            self.res.add_mode(mode)
            for i, t in enumerate(TEST):
                self.res.add_item(ItemRecord(t.id, mode, t.text, [t.label], _answer(t, i < k)))

    def curve_labels(self, mode, subset, test, tag):
        self.calls.append((mode, [r.id for r in subset], tag))
        k = len(subset) // 2 - (mode == "ft/embedder")
        return {t.id: _answer(t, i < k) for i, t in enumerate(test)}


def test_heads_train_on_nested_seeded_shares_and_reuse_the_main_answers_at_full_size():
    runner = StubRunner(_exp())
    section = ClassifierCurve(runner).run(TRAIN, TEST)
    expected = nested_subsets(TRAIN, [0.25, 0.5, 1.0], seed=0)
    # Only the smaller shares are trained (100% is the main comparison's own head), each head on the same subset.
    assert [(m, tag) for m, _, tag in runner.calls] == [("ft", "curve25"), ("ft/embedder", "curve25"),
                                                       ("ft", "curve50"), ("ft/embedder", "curve50")]
    assert [ids for _, ids, _ in runner.calls[::2]] == [[r.id for r in expected[f]] for f in (0.25, 0.5)]
    quarter, half = runner.calls[0][1], runner.calls[2][1]
    assert len(quarter) == 4 and len(half) == 8 and half[:4] == quarter
    # The same seed trains on the same subsets; another seed on others.
    again = StubRunner(_exp())
    ClassifierCurve(again).run(TRAIN, TEST)
    assert again.calls == runner.calls
    other = StubRunner(_exp(seed=5))
    ClassifierCurve(other).run(TRAIN, TEST)
    assert [ids for _, ids, _ in other.calls] != [ids for _, ids, _ in runner.calls]
    assert section["fractions"] == [0.25, 0.5, 1.0]


def test_section_has_the_qa_shape_and_the_fixed_numbers():
    section = ClassifierCurve(StubRunner(_exp())).run(TRAIN, TEST)
    assert set(section) == SECTION_KEYS
    assert section["metric"] == "accuracy" and section["n_test"] == 10 and section["n_train_full"] == 16
    assert {m: e["value"] for m, e in section["flat"].items()} == {"zero-shot": 0.3, "rag": 0.6}
    assert all(set(p) == POINT_KEYS for p in section["points"])
    got = {(p["mode"], p["fraction"]): (p["n_train"], p["score"]["value"], p["vs_rag"]["value"],
                                        p["vs_smallest"]["value"]) for p in section["points"]}
    approx = {k: tuple(pytest.approx(x) for x in v) for k, v in {
        ("ft", 0.25): (4, 0.2, -0.4, 0.0), ("ft", 0.5): (8, 0.4, -0.2, 0.2), ("ft", 1.0): (16, 0.9, 0.3, 0.7),
        ("ft/embedder", 0.25): (4, 0.1, -0.5, 0.0), ("ft/embedder", 0.5): (8, 0.3, -0.3, 0.2),
        ("ft/embedder", 1.0): (16, 0.7, 0.1, 0.6)}.items()}
    assert got == approx
    # The section round-trips through results.json and feeds the claim card and the chart.
    res = ComparisonResults.new("cls", "classification")
    res.add_mode("ft")
    res.learning_curve = section
    back = ComparisonResults.from_json(res.to_json())
    assert back.learning_curve == json.loads(json.dumps(section))
    claim = data_requirements(back)
    assert claim.verdict != "not measured" and any("zero-shot 30.0" in e for e in claim.evidence)
    assert learning_curve_chart(back).startswith("data:image/png;base64,")


def test_a_share_with_one_label_is_left_out_with_a_note():
    train = [Labeled("a", "x", "neg")] + TRAIN  # a one-text share holds one label
    runner = StubRunner(_exp(fractions=[0.01, 1.0]))
    section = ClassifierCurve(runner).run(train, TEST)
    assert section["fractions"] == [1.0] and not runner.calls
    assert any("holds one label only" in n for n in runner.res.notes)


def test_curve_is_off_unless_enabled_and_needs_a_trained_head():
    assert ClassifierCurve(StubRunner(_exp(enabled=False))).run(TRAIN, TEST) is None
    assert ClassifierCurve(StubRunner(_exp(modes=["ft+rag"]))).run(TRAIN, TEST) is None


def test_validation_split_keeps_every_label_it_checks_in_training():
    rows = [Labeled("0", "t", "rare")] + TRAIN[:9]
    tr, val = split_val(rows, 3)
    assert {r.label for r in val} <= {r.label for r in tr} and "rare" in {r.label for r in tr}
    assert sorted(r.id for r in tr + val) == sorted(r.id for r in rows)


def _sentiment(folder: Path, n: int, split: str) -> str:
    rows = [json.loads(x) for x in (SENTIMENT / f"{split}.jsonl").read_text().splitlines() if x.strip()]
    out = folder / f"{split}.jsonl"
    by_label = {lab: [r for r in rows if r["label"] == lab][: n // 3] for lab in ("negative", "neutral", "positive")}
    out.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n"
                           for trio in zip(*by_label.values(), strict=False) for r in trio))
    return str(out)


@pytest.mark.slow
def test_embedder_head_curve_end_to_end(tmp_path):
    """The real runner: an embedder head on a handful of tweets, again on half of them; the curve reuses its work."""
    data = tmp_path / "data"
    data.mkdir()
    exp = load_experiment(data={"name": "cls", "task": "classification", "modes": ["ft"],
                                "data": {"train": _sentiment(data, 24, "train"), "test": _sentiment(data, 9, "test")},
                                "sizes": {"train_examples": 24, "test_examples": 9},
                                "train": {"classifier": "embedder"},
                                "learning_curve": {"enabled": True, "fractions": [0.5, 1.0]}})
    settings = load_settings(env={}, data_dir=tmp_path / "rt")
    ws = Workspace(tmp_path / "ws")
    res = ComparisonResults.new(exp.name, "classification")
    runner = ClassificationRunner(exp, settings, ws, res, show_progress=False)
    runner.run()
    lc = res.learning_curve
    assert set(lc) == SECTION_KEYS and lc["fractions"] == [0.5, 1.0] and lc["flat"] == {}
    half, full = lc["points"]
    assert (half["mode"], half["n_train"], full["n_train"]) == ("ft", 12, 24)
    right = [float(it.prediction == it.references[0]) for it in res.items_for("ft")]
    assert full["score"]["value"] == pytest.approx(sum(right) / len(right))  # the main head's own answers
    assert "vs_rag" not in half and (ws.root / "stages" / "train-classifier-embedder-curve50.json").is_file()
    stage = (ws.root / "stages" / "train-classifier-embedder-curve50.json").read_text()
    # A rerun on the same workspace trains nothing again and gives the same curve.
    again = ComparisonResults.new(exp.name, "classification")
    ClassificationRunner(exp, settings, ws, again, show_progress=False).run()
    assert again.learning_curve == lc
    assert (ws.root / "stages" / "train-classifier-embedder-curve50.json").read_text() == stage
