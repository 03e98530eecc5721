"""Inputs keep their identity and sizes are honoured (issue 10, items 1 and 2).

Document ids become file names without ever colliding (a long id keeps a hash of itself), two
ids that would still share a file fail the run, and every size an experiment asks for is given
or the run fails before any work, saying what the data allows.
"""

from __future__ import annotations

import json

import pytest
from tests.conftest import KNOWLEDGE

from ragtune.config import load_settings
from ragtune.errors import DataError
from ragtune.evaluate.datasets import Doc, Question, split_qa
from ragtune.evaluate.docfiles import check_unique, doc_of, safe_name
from ragtune.evaluate.experiment import QUICK_OVERRIDES, load_experiment
from ragtune.evaluate.qa import QARunner
from ragtune.evaluate.results import ComparisonResults
from ragtune.evaluate.workspace import Workspace
from ragtune.kb import list_kbs, open_kb

PREFIX = "news/2024/an-article-about-the-harbour-and-the-city-council-meeting-on-tuesday-" * 2  # 156 chars
LONG_A, LONG_B = PREFIX[:140] + "#para-01", PREFIX[:140] + "#para-02"


def test_long_ids_sharing_a_prefix_get_different_file_names():
    assert len(LONG_A) == len(LONG_B) == 148
    a, b = safe_name(LONG_A), safe_name(LONG_B)
    assert a != b and len(a) == len(b) == 100
    assert safe_name("squad:Super_Bowl_50:3") == "squad_Super_Bowl_50_3"  # short ids keep their old names
    assert safe_name(LONG_A) == a  # stable: the same id always gives the same file


def test_two_ids_that_would_share_a_file_fail_in_one_line():
    with pytest.raises(DataError, match=r"'a:b' and 'a_b' map to one file name \(a_b\.txt\)"):
        check_unique([Doc("a:b", "", "one"), Doc("a_b", "", "two")])
    with pytest.raises(DataError, match="one file name"):
        check_unique([Doc("Intro", "", "one"), Doc("intro", "", "two")])  # case-blind file systems
    with pytest.raises(DataError, match="appears twice"):
        check_unique([Doc("x", "", "one"), Doc("x", "", "two")])


def _runner(tmp_path, sizes=None, data=None):
    exp = load_experiment(data={"name": "ids", "task": "qa", "modes": ["base", "rag"],
                                "data": data or {"corpus": str(KNOWLEDGE / "corpus.jsonl"),
                                                 "questions": str(KNOWLEDGE / "qa.jsonl")},
                                "sizes": sizes or {}})
    s = load_settings(env={}, data_dir=str(tmp_path / "data"))
    res = ComparisonResults.new(exp.name, exp.task, config={}, seed=exp.seed)
    return QARunner(exp, s, Workspace(tmp_path / "ws"), res, show_progress=False), s


def test_colliding_ids_keep_both_documents_through_the_kb_build(tmp_path):
    runner, s = _runner(tmp_path)
    docs = [Doc(LONG_A, "", "The harbour master reported that the north pier reopened on Monday morning."),
            Doc(LONG_B, "", "The council voted to paint the lighthouse bright green before the summer festival.")]
    info = runner.build_kb("docs", tmp_path / "ws" / "docs", docs)
    assert info["chunks"] >= 2
    kb = open_kb(s, "docs")
    for d, query in ((docs[0], "north pier reopened"), (docs[1], "lighthouse painted green")):
        hits = kb.search(query, k=1, mode="bm25")
        assert doc_of(hits[0]) == safe_name(d.id)  # each document is there and matches its own gold id
        assert hits[0].chunk.text in d.text


def test_an_impossible_size_fails_before_any_work(tmp_path):
    runner, s = _runner(tmp_path, sizes={"docs": 3, "test_questions": 6, "train_questions": 500})
    with pytest.raises(DataError, match=r"^sizes\.train_questions=500 but the data allows at most \d+ training "
                                        r"questions beside 6 test questions \(docs=3\); set sizes\.train_questions="):
        runner.run()
    assert list_kbs(s) == [] and not (tmp_path / "ws" / "docs").exists()  # nothing was built


def _squad(n_docs=6):
    docs = [Doc(f"d{i}", "", f"text {i}") for i in range(n_docs)]
    qs = [Question(f"q{i}-{j}", f"question {j} about {i}?", ["a"], f"d{i}") for i in range(n_docs)
          for j in range(2 + i % 3)]  # 2, 3 or 4 questions per document
    return docs, qs


def test_sizes_are_honoured_and_nothing_is_dropped():
    docs, qs = _squad()
    # A fair share of one question per document gives 6; the rest comes from documents with spare questions.
    split = split_qa(docs, qs, n_docs=None, n_test=9, n_train=None, seed=0, required={"test_questions"})
    assert len(split.test) == 9 and len(split.train) == len(qs) - 9 and split.notes == []
    # Questions the test split does not need go to training, none are lost.
    split = split_qa(docs, qs, n_docs=None, n_test=2, n_train=None, seed=0)
    assert len(split.test) == 2 and len(split.train) == len(qs) - 2
    split = split_qa(docs, qs, n_docs=None, n_test=2, n_train=5, seed=0, required={"train_questions"})
    assert len(split.train) == 5


def test_a_default_size_the_data_lacks_is_lowered_and_noted():
    docs, qs = _squad()
    with pytest.raises(DataError, match=r"sizes\.test_questions=40 but the data allows at most 12 held-out"):
        split_qa(docs, qs, n_docs=None, n_test=40, n_train=None, seed=0, required={"test_questions"})
    split = split_qa(docs, qs, n_docs=None, n_test=40, n_train=None, seed=0)  # 40 is the default
    assert len(split.test) == 12
    assert split.notes == ["sizes.test_questions: 12 instead of 40, all the data has (held-out questions (docs=6))"]


def test_quick_sizes_are_lowered_but_a_users_override_is_required():
    quick = load_experiment(data={"name": "q", "task": "qa", "data": {"faq": "f.jsonl"}}, overrides=QUICK_OVERRIDES)
    assert quick.required_sizes() == set()
    mine = load_experiment(data={"name": "q", "task": "qa", "data": {"faq": "f.jsonl"}, "sizes": {"docs": 9}},
                           overrides=[*QUICK_OVERRIDES, "sizes.train_questions=3"])
    assert mine.required_sizes() == {"train_questions"}  # docs=9 was overridden by --quick's docs=4


def test_a_run_writes_its_adjusted_sizes_into_the_notes(tmp_path):
    faq = tmp_path / "faq.jsonl"
    faq.write_text("".join(json.dumps({"id": f"f{i}", "question": f"How do I do thing {i}?",
                                       "answer": f"Press button {i}."}) + "\n" for i in range(5)))
    runner, _ = _runner(tmp_path, data={"faq": str(faq)})
    runner.run()  # sizes.test_questions is the default 40; the file has 5 entries
    assert "sizes.test_questions: 5 instead of 40" in " ".join(runner.res.notes)
