"""Claims in the words of the task: a classification run is not about knowledge held in the weights.

The debate claims (``claims.key_differences``) are written for question answering, where RAG and
fine-tuning are two places to keep facts. In a classification run the two sides are labelled
examples shown in the prompt (in-context kNN) and a classifier trained on them, so the claims
that speak of knowledge are restated for that, with the same evidence and verdicts.
"""

from __future__ import annotations

from ragtune.evaluate.report.claims import Claim

CLASSIFICATION_CLAIMS = {
    "knowledge-source": "RAG labels a text from similar labelled examples retrieved into the prompt; a "
                        "trained classifier learns the labels from the training set into its weights.",
    "model-size": "A trained classifier adds a small head (and adapter) beside the model; RAG keeps the "
                  "model unchanged and stores the labelled examples in an index beside it.",
    "setup-complexity": "RAG needs only an index of the labelled examples; a classifier needs a training run.",
}
# Evidence lines written for QA, by how they begin, and how a classification run says them.
CLASSIFICATION_EVIDENCE = (
    ("Weights: ", "Trained classifier: "),
    ("Retrieval against the closed-book model: ", "Retrieved examples against the model without them: "),
    ("Training against the base model: ", "The trained classifier against the prompted model: "),
    ("Retrieved text made answers measurably worse than the closed-book model's.",
     "Retrieved labelled examples made the labels measurably worse than the model without them."),
    ("Training made answers measurably worse than the base model's.",
     "The trained classifier was measurably worse than the prompted model."),
    ("Retrieved text did not measurably improve answers over the closed-book model.",
     "Retrieved labelled examples did not measurably improve the labels over the model without them."),
    ("Training did not measurably put the knowledge into the weights (no clear gain over the base model).",
     "The trained classifier did not measurably beat the prompted model (no clear gain over zero-shot)."),
)


def _reword(line: str) -> str:
    for old, new in CLASSIFICATION_EVIDENCE:
        if line.startswith(old):
            return new + line[len(old):]
    return line


def for_task(claims: list[Claim], task: str) -> list[Claim]:
    """``claims`` reworded for ``task`` (question answering keeps the debate's own words)."""
    if task != "classification":
        return claims
    for c in claims:
        c.claim = CLASSIFICATION_CLAIMS.get(c.key, c.claim)
        c.evidence = [_reword(e) for e in c.evidence]
    return claims
