"""Long texts are handled before any work (issue 10, item 8): counted, skipped or cut, never a late failure."""

from __future__ import annotations

import pytest
from tests.conftest import KNOWLEDGE

from ragtune.config import load_settings
from ragtune.errors import DataError
from ragtune.evaluate.classification import truncate
from ragtune.evaluate.datasets import Question
from ragtune.evaluate.experiment import load_experiment
from ragtune.evaluate.qa import QARunner
from ragtune.evaluate.results import ComparisonResults
from ragtune.evaluate.training import ft_contender, long_questions
from ragtune.evaluate.workspace import Workspace
from ragtune.kb import list_kbs

LONG = "Why " + "is the harbour wall so very long and old " * 40 + "?"


@pytest.fixture(scope="module")
def tokenizer():
    from ragtune.modeling import load_tokenizer
    from ragtune.registry import resolve

    return load_tokenizer(resolve("smollm2-135m-instruct"))


def test_truncate_cuts_a_long_text_to_max_seq_len_tokens(tokenizer):
    cut = truncate(LONG, tokenizer, 64)
    assert len(tokenizer(cut, add_special_tokens=False)["input_ids"]) <= 64
    assert LONG.startswith(cut[:50]) and len(cut) < len(LONG)
    assert truncate("short text", tokenizer, 64) == "short text"


def _exp(train=None):
    return load_experiment(data={"name": "long", "task": "qa", "modes": ["base", "ft"],
                                 "data": {"corpus": str(KNOWLEDGE / "corpus.jsonl"),
                                          "questions": str(KNOWLEDGE / "qa.jsonl")},
                                 "sizes": {"docs": 2, "test_questions": 2, "train_questions": 2},
                                 "train": {"max_seq_len": 48, **(train or {})}})


def test_long_training_questions_are_counted_before_training(tmp_path):
    s = load_settings(env={}, data_dir=str(tmp_path / "data"))
    exp = _exp()
    assert exp.train.config("ft").skip_long  # a comparison skips long examples by default
    qs = [Question("short", "Who?", ["Ada."]), Question("long", LONG, ["Yes."])]
    c = ft_contender("ft", qs, exp.train.config("ft"), None)
    assert long_questions(s, c) == ["long"]
    runner = QARunner(exp, s, Workspace(tmp_path / "ws"), ComparisonResults.new("long", "qa", config={}))
    runner.check_lengths(c)
    assert runner.notes == ["ft: 1 of 2 training examples are longer than max_seq_len 48 tokens and were skipped "
                            "(raise train.max_seq_len to keep them)"]


def test_with_skip_long_off_a_long_question_fails_before_any_work(tmp_path):
    s = load_settings(env={}, data_dir=str(tmp_path / "data"))
    exp = _exp({"max_seq_len": 8, "skip_long": False})
    runner = QARunner(exp, s, Workspace(tmp_path / "ws"), ComparisonResults.new("long", "qa", config={}))
    with pytest.raises(DataError, match=r"^ft: training question '.+' \(and \d+ more\) is longer than max_seq_len 8 "
                                        r"tokens; raise train.max_seq_len or set train.skip_long = true$"):
        runner.run()
    assert list_kbs(s) == []  # failed before the knowledge base was built


def test_classification_texts_are_cut_to_fit_and_counted(tmp_path):
    from ragtune.evaluate.classification import ClassificationRunner
    from ragtune.evaluate.datasets import Labeled

    exp = load_experiment(data={"name": "cls", "task": "classification", "data": {"train": "t.jsonl",
                                                                                  "test": "e.jsonl"},
                                "train": {"max_seq_len": 32}})
    s = load_settings(env={}, data_dir=str(tmp_path / "data"))
    res = ComparisonResults.new("cls", "classification", config={})
    runner = ClassificationRunner(exp, s, Workspace(tmp_path / "ws"), res)
    rows = [Labeled("a", "great product", "great"), Labeled("b", LONG, "other")]
    out = runner.fit_lengths(rows, exp.train.config("ft"))
    assert out[0] == rows[0] and len(out[1].text) < len(LONG) and out[1].label == "other"
    assert res.notes[0].startswith("ft: 1 of 2 training texts are longer than max_seq_len 32 tokens and were cut")
