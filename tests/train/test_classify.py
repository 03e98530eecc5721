"""Classification: data checks, class weights, the label set stored with the model, both methods learning."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ragtune.errors import DataError, ModelNotFoundError
from ragtune.evaluate import metrics as M
from ragtune.train.classify import (
    Classifier,
    class_weights,
    classification_metrics,
    label_set,
    normalise_rows,
    train_classifier,
)
from ragtune.train.data import LabeledText

SPORT = [
    "the striker scored a late goal",
    "our team won the football final",
    "the tennis match went to five sets",
    "he ran the marathon in record time",
    "the goalkeeper saved a penalty",
    "a basketball player dunked",
    "the cyclist won the mountain stage",
    "fans cheered as the batsman hit a six",
    "the boxer won on points",
    "the swimmer broke the world record",
    "the coach picked a new squad for the cup",
    "the referee showed a red card",
    "she served an ace to win the set",
    "the rugby side scored a try",
]
COOKING = [
    "simmer the onions in butter",
    "bake the bread for forty minutes",
    "whisk the eggs with sugar",
    "season the soup with salt and pepper",
    "knead the dough until smooth",
    "roast the chicken with garlic",
    "chop the carrots into small cubes",
    "fry the fish in olive oil",
    "stir the risotto slowly",
    "grate cheese over the pasta",
    "marinate the beef overnight",
    "add flour to thicken the sauce",
    "peel and slice the apples for the pie",
    "steam the rice for twenty minutes",
]


def _rows(texts: list[str], label: str) -> list[dict[str, str]]:
    return [{"text": t, "label": label} for t in texts]


def test_class_weights_are_inverse_frequency_and_average_to_one():
    labels = ["a"] * 6 + ["b"] * 3 + ["c"]
    w = class_weights(labels, ["a", "b", "c"])
    assert w == pytest.approx([10 / 18, 10 / 9, 10 / 3])
    by_label = dict(zip(["a", "b", "c"], w, strict=True))
    assert np.mean([by_label[x] for x in labels]) == pytest.approx(1.0)
    assert class_weights(["x", "y", "x", "y"], ["x", "y"]) == [1.0, 1.0]


def test_rows_in_every_shape_and_their_errors():
    given = [{"text": " hi ", "label": "pos"}, ("bad", "neg"), LabeledText("f.jsonl:7", "ok", "pos")]
    rows = normalise_rows(given, "train")
    assert [(r.where, r.text, r.label) for r in rows] == [
        ("train:1", "hi", "pos"), ("train:2", "bad", "neg"), ("f.jsonl:7", "ok", "pos")
    ]
    with pytest.raises(DataError, match=r"^train:3: the text is empty"):
        normalise_rows([("a", "x"), ("b", "y"), ("  ", "x")], "train")
    with pytest.raises(DataError, match=r"data\.jsonl:4: the text is empty"):
        normalise_rows([LabeledText("data.jsonl:4", "", "x")], "train")
    with pytest.raises(DataError, match="every row has the label 'pos'"):
        label_set(normalise_rows([("a", "pos"), ("b", "pos")], "train"))
    with pytest.raises(DataError, match=r"val:1: label 'meh' is not in the training data"):
        train = normalise_rows([("a", "pos"), ("b", "neg")], "train")
        label_set(train, normalise_rows([("c", "meh")], "val"))


def test_one_class_is_refused_before_any_model_loads(tmp_path):
    with pytest.raises(DataError, match="two classes"):
        train_classifier(_rows(SPORT, "sport"), [], tmp_path / "m", method="embedder")
    assert not (tmp_path / "m" / "labels.json").exists()


def test_metrics_accuracy_and_macro_f1():
    m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx({"a": 2 / 3, "b": 0.8})
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_metrics_are_the_comparison_reports_scores_and_zero_without_rows():
    y_true, y_pred = [0, 0, 1, 2, 2, 2], [0, 2, 1, 2, 2, 0]  # every class, a wrong one and a right one
    labels = ["neg", "neu", "pos"]
    m = classification_metrics(y_true, y_pred, labels)
    named_true, named_pred = [labels[i] for i in y_true], [labels[i] for i in y_pred]
    assert m["f1"] == M.per_class_f1(named_true, named_pred, labels)
    assert m["macro_f1"] == pytest.approx(M.macro_f1(named_true, named_pred, labels))
    assert m["accuracy"] == M.accuracy(named_true, named_pred)
    assert classification_metrics([], [], labels) == {"accuracy": 0.0, "macro_f1": 0.0, "n": 0,
                                                      "f1": {"neg": 0.0, "neu": 0.0, "pos": 0.0}}


def test_training_never_imports_evaluation():
    code = ("import sys, ragtune.train.classify, ragtune.train.classifier; "
            "print(sorted(m for m in sys.modules if m.startswith('ragtune.evaluate')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_embedder_classifier_learns_and_round_trips_its_labels(tmp_path):
    train = _rows(SPORT[:10], "sport") + _rows(COOKING[:10], "cooking")
    val = _rows(SPORT[10:], "sport") + _rows(COOKING[10:], "cooking")
    metrics = train_classifier(train, val, tmp_path / "clf", method="embedder", head_steps=150)
    assert metrics["val_accuracy"] > 0.9, metrics
    assert metrics["labels"] == ["cooking", "sport"]

    info = json.loads((tmp_path / "clf" / "labels.json").read_text())
    assert info["labels"] == ["cooking", "sport"] and info["method"] == "embedder"
    assert info["class_counts"] == {"cooking": 10, "sport": 10}
    clf = Classifier.load(tmp_path / "clf")
    assert clf.labels == ["cooking", "sport"]
    unseen = ["the midfielder passed the ball", "fry the garlic until golden"]
    assert clf.predict(unseen) == ["sport", "cooking"]
    proba = clf.predict_proba(["a goal in the last minute", "a pinch of salt", "the cup final"])
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert proba[0, 1] > 0.5 and proba[1, 0] > 0.5
    with pytest.raises(DataError, match="text 2 is empty"):
        clf.predict(["fine", ""])


def test_loading_an_unfinished_folder_is_refused(tmp_path):
    (tmp_path / "adapter").mkdir()
    with pytest.raises(ModelNotFoundError, match="labels.json"):
        Classifier.load(tmp_path)


@pytest.mark.slow
def test_llm_classifier_loss_falls_and_reloads(tmp_path):
    from ragtune.train.config import TrainConfig

    train = _rows(SPORT[:4], "sport") + _rows(COOKING[:4], "cooking")
    # One micro-batch holding the whole set: every step sees the same data, so the loss must fall.
    cfg = TrainConfig(lr=2e-3, batch_size=8, max_steps=6, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                      threads=1, seed=0, precision="fp32")
    metrics = train_classifier(train, [], tmp_path / "llm", method="llm", cfg=cfg, progress=False)
    assert metrics["steps"] == 6
    assert metrics["final_loss"] < 0.5 * metrics["first_loss"], metrics

    info = json.loads((tmp_path / "llm" / "labels.json").read_text())
    assert info["labels"] == ["cooking", "sport"] and info["method"] == "llm"
    assert (tmp_path / "llm" / "adapter" / "adapter_config.json").exists()
    clf = Classifier.load(tmp_path / "llm")
    # The trained rows themselves: six steps on them must have taught the head at least these.
    assert clf.predict([r["text"] for r in train]) == [r["label"] for r in train]
    assert clf.predict_proba(["stir the soup"]).shape == (1, 2)
