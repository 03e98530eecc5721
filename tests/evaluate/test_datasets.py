"""Splits never leak, sizes are honoured, and experiment files fail at load with the field name."""

import pytest
from tests.conftest import KNOWLEDGE, ROOT

from ragtune.errors import ConfigError, DataError
from ragtune.evaluate.datasets import (
    Labeled,
    Question,
    check_no_leak,
    load_corpus_and_questions,
    split_qa,
    stratified,
)
from ragtune.evaluate.experiment import load_experiment


def test_squad_split_keeps_test_questions_out_of_training_and_shares_paragraphs():
    docs, qs = load_corpus_and_questions(KNOWLEDGE / "corpus.jsonl", KNOWLEDGE / "qa.jsonl")
    split = split_qa(docs, qs, n_docs=10, n_test=20, n_train=40, seed=3)
    assert len(split.docs) == 10 and len(split.test) == 20 and len(split.train) <= 40
    doc_ids = {d.id for d in split.docs}
    assert {q.doc_id for q in split.test} <= doc_ids and {q.doc_id for q in split.train} <= doc_ids
    test_q = {q.question.lower() for q in split.test}
    assert not test_q & {q.question.lower() for q in split.train}
    assert not {q.id for q in split.test} & {q.id for q in split.train}
    # Fine-tuning sees the test questions' paragraphs through their other questions.
    assert {q.doc_id for q in split.test} & {q.doc_id for q in split.train}
    # The same seed gives the same split; another seed another one.
    again = split_qa(docs, qs, n_docs=10, n_test=20, n_train=40, seed=3)
    assert [q.id for q in again.test] == [q.id for q in split.test]
    other = split_qa(docs, qs, n_docs=10, n_test=20, n_train=40, seed=4)
    assert [q.id for q in other.test] != [q.id for q in split.test]


def test_faq_split_keeps_every_entry_in_the_knowledge_base():
    faq = ROOT / "examples" / "support" / "data" / "faq.jsonl"
    docs, qs = load_corpus_and_questions(None, None, faq=faq)
    split = split_qa(docs, qs, n_docs=None, n_test=16, n_train=60, seed=0, faq_mode=True)
    assert len(split.docs) == len(docs) == 121
    assert len(split.test) == 16 and len(split.train) == 60
    assert not {q.id for q in split.test} & {q.id for q in split.train}


def test_leak_check_catches_a_shared_question():
    a = Question("1", "Who won?", ["x"])
    b = Question("2", "who won? ", ["y"])
    with pytest.raises(DataError, match="also in the training set"):
        check_no_leak([a], [b])


def test_stratified_sample_keeps_label_shares():
    rows = [Labeled(str(i), f"t{i}", "neg" if i < 60 else "pos" if i < 90 else "neu") for i in range(100)]
    sample = stratified(rows, 20, seed=0)
    labels = [r.label for r in sample]
    assert (labels.count("neg"), labels.count("pos"), labels.count("neu")) == (12, 6, 2)


@pytest.mark.parametrize("override, needle", [
    ("task=translation", "task: 'translation' is not allowed"),
    ("modes=['rag', 'telepathy']", "mode 'telepathy' is not available for task qa"),
    ("sizes.test_questions=0", "sizes.test_questions"),
    ("train.lr=-1", "train.lr"),
    ("name=../x", "name"),
])
def test_bad_experiment_values_fail_at_load(override, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("(", r"\(")):
        load_experiment(ROOT / "examples" / "knowledge" / "experiment.toml", [override])


def test_shipped_experiments_load():
    for name in ("knowledge", "support", "sentiment"):
        exp = load_experiment(ROOT / "examples" / name / "experiment.toml")
        assert exp.name == name and exp.modes
        for p in (exp.data.corpus, exp.data.questions, exp.data.faq, exp.data.train, exp.data.test):
            assert p is None or exp.path(p).is_file()
