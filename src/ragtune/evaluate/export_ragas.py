"""The answers of a QA comparison as a dataset evaluation tools read (``ragtune report RUN_ID --ragas PATH``).

One JSONL row per (mode, question), with the column names of RAGAS's dataset (``question``,
``answer``, ``contexts``, ``ground_truth``; ``ground_truths`` for its older releases). RAGAS
0.2 and later rename these to ``user_input``, ``response``, ``retrieved_contexts`` and
``reference`` themselves when ``evaluate`` is given a Hugging Face dataset, and ignore the
other columns (``mode``, ``id``)::

    ds = datasets.load_dataset("json", data_files="answers.jsonl")["train"]
    ragas.evaluate(ds.filter(lambda r: r["mode"] == "rag"), metrics=[...])

``answer`` is the answer without its citation markers ("[1]"), as ragtune's own metrics score it;
``contexts`` are the retrieved chunks put into the prompt, in rank order (empty for closed-book
modes); ``ground_truth`` is the first gold answer and ``ground_truths`` all of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ragtune.errors import DataError
from ragtune.evaluate.metrics import strip_citations
from ragtune.evaluate.results import ComparisonResults
from ragtune.files import atomic_write_text

COLUMNS = ("id", "mode", "question", "answer", "contexts", "ground_truth", "ground_truths")


def answer_text(prediction: str) -> str:
    """The answer without citation markers, and without the space they leave before punctuation."""
    return re.sub(r"\s+([.,;:!?])", r"\1", strip_citations(prediction))


def ragas_rows(res: ComparisonResults) -> list[dict[str, Any]]:
    """One row per stored answer, in the order of the results (mode by mode)."""
    if res.task != "qa":
        raise DataError(f"run {res.run_id} is a {res.task} comparison; --ragas exports the answers of a qa "
                        "comparison (question, answer, contexts, ground truth)")
    return [{"id": it.item_id, "mode": it.mode, "question": it.question, "answer": answer_text(it.prediction),
             "contexts": [r.text for r in it.retrieved], "ground_truth": it.references[0] if it.references else "",
             "ground_truths": list(it.references)} for it in res.items]


def write_ragas(res: ComparisonResults, path: str | Path) -> int:
    """Write the rows of ``res`` to ``path`` as JSONL (whole or not at all); returns how many."""
    rows = ragas_rows(res)
    out = Path(path).expanduser()
    if out.is_dir():
        raise DataError(f"--ragas {out} is a folder; give a file name, e.g. {out / 'answers.jsonl'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)
