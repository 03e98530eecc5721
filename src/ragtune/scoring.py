"""Classification scores over label lists: accuracy, per-class F1, macro-F1, the confusion matrix.

On the ground floor because training (a classifier's validation numbers) and evaluation (the
comparison tables) both need them, and neither layer imports the other;
``ragtune.evaluate.metrics`` re-exports them with the other metrics.

Example:
    >>> macro_f1(["pos", "neg", "pos"], ["pos", "pos", "pos"])
    0.4
"""

from __future__ import annotations

from collections.abc import Sequence

from ragtune.errors import DataError


def _check_labels(y_true: Sequence, y_pred: Sequence) -> None:
    if len(y_true) != len(y_pred):
        raise DataError(f"{len(y_true)} true labels but {len(y_pred)} predictions: they must pair up")
    if len(y_true) == 0:
        raise DataError("no labelled items to score")


def _label_set(y_true: Sequence, y_pred: Sequence, labels: Sequence | None) -> list:
    if labels is not None:
        return list(labels)
    return sorted(set(y_true) | set(y_pred), key=str)


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Share of items whose predicted label equals the true label."""
    _check_labels(y_true, y_pred)
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)


def per_class_f1(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> dict:
    """F1 = 2TP / (2TP + FP + FN) for each label, 0 where a label is never true nor predicted.

    Matches scikit-learn's ``f1_score(average=None, zero_division=0)``. Without ``labels``
    the label set is every value seen in either list (sorted), as scikit-learn does.
    """
    _check_labels(y_true, y_pred)
    out = {}
    for label in _label_set(y_true, y_pred, labels):
        tp = sum(t == label and p == label for t, p in zip(y_true, y_pred, strict=True))
        fp = sum(t != label and p == label for t, p in zip(y_true, y_pred, strict=True))
        fn = sum(t == label and p != label for t, p in zip(y_true, y_pred, strict=True))
        denom = 2 * tp + fp + fn
        out[label] = 2 * tp / denom if denom else 0.0
    return out


def macro_f1(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> float:
    """Unweighted mean of the per-class F1 scores (scikit-learn ``average="macro"``).

    Macro-F1 weighs a rare class like a common one, so a classifier that always predicts the
    majority label scores low even when its accuracy looks good.
    """
    scores = per_class_f1(y_true, y_pred, labels)
    return sum(scores.values()) / len(scores)


def confusion_matrix(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> list[list[int]]:
    """Counts with rows = true label and columns = predicted label, in the order of ``labels``.

    Raises DataError for a value outside ``labels`` (map invalid generations to an explicit
    label such as "(invalid)" first, so they stay visible instead of vanishing).
    """
    _check_labels(y_true, y_pred)
    order = _label_set(y_true, y_pred, labels)
    index = {label: i for i, label in enumerate(order)}
    matrix = [[0] * len(order) for _ in order]
    for t, p in zip(y_true, y_pred, strict=True):
        for value in (t, p):
            if value not in index:
                raise DataError(f"label {value!r} is not in the label set {order}: add it or map it first")
        matrix[index[t]][index[p]] += 1
    return matrix
