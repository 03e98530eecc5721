"""``--until-decisive``: the stopping rule on fixed numbers, and the pool that never holds a training question.

The stopping rule runs on results built from fixed per-item scores (no model): a fake ``answer``
adds the scores a batch's questions are given, so whether the leading interval excludes 0 after
each batch is known by construction.
"""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from ragtune.errors import ConfigError
from ragtune.evaluate.datasets import Doc, Question, split_qa
from ragtune.evaluate.experiment import load_experiment
from ragtune.evaluate.recommend import recommend
from ragtune.evaluate.results import ComparisonResults, ItemRecord
from ragtune.evaluate.stats import summarize
from ragtune.evaluate.until_decisive import hold_back, leading_difference, until_decisive

# Ten first answers where base and rag tie exactly (the same F1 scores in another order).
TIE_BASE, TIE_RAG = [0.2, 0.1] * 5, [0.1, 0.2] * 5


def first_answers(scores: dict[str, list[float]]) -> ComparisonResults:
    res = ComparisonResults.new("fixed", task="qa", config={"split": {"test_questions": 10}}, seed=0)
    res.primary_metric = "token_f1"
    for mode in scores:
        res.add_mode(mode)
    for mode, values in scores.items():
        for i, v in enumerate(values):
            res.add_item(ItemRecord(item_id=f"t{i:03d}", mode=mode, question="q", references=["a"], prediction="p",
                                    scores={"token_f1": v}))
    return summarize(res, n_resamples=300)


def pool_of(n: int) -> list[Question]:
    return [Question(f"p{i:03d}", f"pool question {i}?", ["a"], "d0") for i in range(n)]


class FakeAnswers:
    """Answers a batch in every mode with fixed scores; ``clock`` moves ``seconds_each`` per question."""

    def __init__(self, res: ComparisonResults, score: dict[str, float] | None = None, seconds_each: float = 0.0):
        self.res, self.score, self.seconds_each = res, score, seconds_each
        self.asked: list[list[str]] = []
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def __call__(self, batch: list[Question]) -> None:
        self.asked.append([q.id for q in batch])
        self.now += self.seconds_each * len(batch)
        for k, q in enumerate(batch):
            for mode in self.res.mode_names:
                # A tie by default: the modes swap 0.2 and 0.1 from one question to the next.
                v = self.score[mode] if self.score else (0.2 if (k % 2) == (mode == "rag") else 0.1)
                self.res.add_item(ItemRecord(item_id=q.id, mode=mode, question=q.question, references=["a"],
                                             prediction="p", scores={"token_f1": v}))


def test_a_clear_difference_stops_after_the_first_batch():
    res = first_answers({"base": TIE_BASE, "rag": TIE_RAG})
    assert leading_difference(res)["decided"] is False
    fake = FakeAnswers(res, score={"base": 0.0, "rag": 1.0})
    out = until_decisive(res, pool_of(50), fake, batch=20)
    assert (out.stopped, out.batches, out.added) == ("decided", 1, 20)
    assert fake.asked == [[f"p{i:03d}" for i in range(20)]]
    lead = out.leading
    assert {lead["a"], lead["b"]} == {"base", "rag"} and lead["metric"] == "token_f1"
    assert lead["a"] == "rag" and lead["lo"] > 0 and lead["n"] == 30
    assert "stopped: decided, rag vs base on F1" in out.summary() and "(10 -> 30)" in out.summary()
    assert res.config["until_decisive"]["stopped"] == "decided" and res.config["split"]["added_test_questions"] == 20
    assert len(res.items_for("rag")) == 30  # the first ten answers are kept, only the batch was answered


def test_a_difference_decided_at_95_percent_at_one_look_waits_for_the_level_the_looks_need():
    """Looking after every batch at 95% calls ties decided too often; the stop needs 1 - 0.05 / looks."""
    pattern = [1.0] * 14 + [0.0] * 4 + [0.5] * 22  # rag minus base: +0.5 on 14 of 40, -0.5 on 4 (z about 2.5)
    res = first_answers({"base": [0.5] * 40, "rag": pattern})
    assert leading_difference(res)["decided"] is True  # 95% excludes 0 at the first look

    def answer(batch: list[Question]) -> None:  # the same pattern goes on: more questions decide it
        for q in batch:
            i = int(q.id[1:])
            for mode, v in (("base", 0.5), ("rag", pattern[i % 40])):
                res.add_item(ItemRecord(item_id=q.id, mode=mode, question=q.question, references=["a"],
                                        prediction="p", scores={"token_f1": v}))

    out = until_decisive(res, pool_of(200), answer, batch=20)
    assert (out.looks, round(out.confidence, 4)) == (11, 0.9955)
    first = out.rounds[0]
    assert first["decided"] is True and first["decided_sequential"] is False  # the old rule stopped here
    assert out.stopped == "decided" and out.batches >= 1 and out.rounds[-1]["decided_sequential"] is True
    assert "99.5% interval excludes 0, as 11 looks need" in out.summary()


def test_a_pair_at_95_percent_but_not_at_the_level_of_the_looks_is_reported_as_not_decided():
    # 40 first answers with z about 2.4, then ties: the mean and its standard error shrink alike, so the
    # 95% interval keeps excluding 0 and the 99.5% one (11 looks) never does.
    pattern = [1.0] * 14 + [0.0] * 4 + [0.5] * 22
    res = first_answers({"base": [0.5] * 40, "rag": pattern})
    out = until_decisive(res, pool_of(200), FakeAnswers(res, score={"base": 0.5, "rag": 0.5}), batch=20)
    assert out.stopped == "pool" and out.leading["decided"] is True and out.leading["decided_sequential"] is False
    assert "excludes 0 at 95% but not at the 99.5% that 11 looks need, so it is not decided" in out.summary()
    rec = recommend(res)
    assert "sequential" in rec.rules
    assert any(r.startswith("Not decided after 11 looks: rag vs base on F1") for r in rec.reasons), rec.reasons


def test_a_tie_runs_until_the_pool_is_exhausted():
    res = first_answers({"base": TIE_BASE, "rag": TIE_RAG})
    fake = FakeAnswers(res)
    out = until_decisive(res, pool_of(45), fake, batch=20)
    assert (out.stopped, out.batches, out.added) == ("pool", 3, 45)
    assert [len(b) for b in fake.asked] == [20, 20, 5]
    assert len({q for b in fake.asked for q in b}) == 45  # no question is answered twice
    assert len(out.rounds) == 4 and not any(r["decided"] for r in out.rounds)
    assert "the pool of 45 held-back questions is exhausted" in out.summary()
    assert re.search(r"(base vs rag|rag vs base) on F1 .* at n=55 is not decided; about [\d,]+ questions",
                     out.summary())


def test_the_question_budget_is_honoured():
    res = first_answers({"base": TIE_BASE, "rag": TIE_RAG})
    fake = FakeAnswers(res)
    out = until_decisive(res, pool_of(100), fake, batch=20, budget_questions=30)
    assert (out.stopped, out.budget, out.added) == ("budget", "questions", 30)
    assert [len(b) for b in fake.asked] == [20, 10]
    assert "the questions budget is spent" in out.summary()


def test_the_minutes_budget_cuts_the_last_batch_to_what_fits():
    res = first_answers({"base": TIE_BASE, "rag": TIE_RAG})
    fake = FakeAnswers(res, seconds_each=1.0)  # one second per added question
    out = until_decisive(res, pool_of(100), fake, batch=20, budget_minutes=0.5, clock=fake.clock)
    assert (out.stopped, out.budget) == ("budget", "minutes")
    assert [len(b) for b in fake.asked] == [20, 10] and fake.now <= 30


def test_the_leading_pair_is_the_top_two_not_any_decided_pair():
    # rag beats base clearly, but rag and ft (the two best) tie: the leading difference is not decided.
    res = first_answers({"base": [0.0] * 10, "rag": TIE_RAG, "ft": TIE_BASE})
    lead = leading_difference(res)
    assert {lead["a"], lead["b"]} == {"rag", "ft"} and lead["decided"] is False
    fake = FakeAnswers(res, score={"base": 0.0, "rag": 0.9, "ft": 0.1})
    out = until_decisive(res, pool_of(40), fake, batch=10)
    assert out.stopped == "decided" and out.batches == 1 and out.leading["a"] == "rag"


def test_a_pair_that_only_another_metric_separates_is_not_decided():
    # F1 (primary) ties exactly; semantic similarity separates rag from base clearly. The recommendation
    # names the separation, but the stopping rule looks at the primary metric only.
    res = ComparisonResults.new("fixed", task="qa", config={"split": {"test_questions": 10}}, seed=0)
    res.primary_metric = "token_f1"
    sim = {"base": [0.1, 0.2] * 5, "rag": [0.8, 0.9] * 5}
    for mode, f1 in (("base", TIE_BASE), ("rag", TIE_RAG)):
        res.add_mode(mode)
        for i, v in enumerate(f1):
            res.add_item(ItemRecord(item_id=f"t{i:03d}", mode=mode, question="q", references=["a"], prediction="p",
                                    scores={"token_f1": v, "semantic_similarity": sim[mode][i]}))
    res = summarize(res, n_resamples=300)
    assert any({p["a"], p["b"]} == {"rag", "base"} and p["metric"] == "semantic_similarity"
               for p in recommend(res).decided)
    lead = leading_difference(res)
    assert lead["decided"] is False and lead["metric"] == "token_f1" and lead["lo"] < 0 < lead["hi"]
    out = until_decisive(res, pool_of(4), FakeAnswers(res), batch=4)
    assert out.stopped == "pool" and out.added == 4


def test_one_family_has_nothing_to_decide():
    out = until_decisive(first_answers({"base": TIE_BASE}), pool_of(10), FakeAnswers(None), batch=5)
    assert (out.stopped, out.added) == ("nothing-to-decide", 0)


# ---- the pool ---------------------------------------------------------------------------------

def squad(n_docs: int = 6, per_doc: int = 8) -> tuple[list[Doc], list[Question]]:
    docs = [Doc(f"d{i}", f"title {i}", f"text {i}") for i in range(n_docs)]
    qs = [Question(f"q{i}-{j}", f"question {j} about doc {i}?", [f"a{j}"], f"d{i}")
          for i in range(n_docs) for j in range(per_doc)]
    return docs, qs


def experiment(decide: dict | None = None, sizes: dict | None = None, faq: bool = False):
    data = {"faq": "faq.jsonl"} if faq else {"corpus": "c.jsonl", "questions": "q.jsonl"}
    return load_experiment(data={"name": "t", "task": "qa", "data": data, "sizes": sizes or {"test_questions": 12},
                                 **({"decide": decide} if decide is not None else {})})


def split_of(exp, docs, qs, faq=False):
    return split_qa(docs, qs, n_docs=exp.sizes.docs, n_test=exp.sizes.test_questions,
                    n_train=exp.sizes.train_questions, seed=exp.seed, faq_mode=faq, required=exp.required_sizes())


def assert_apart(split, pool):
    train_ids, train_texts = {q.id for q in split.train}, {q.question.lower() for q in split.train}
    test_ids = {q.id for q in split.test}
    assert not {q.id for q in pool} & (train_ids | test_ids)
    assert not {q.question.lower() for q in pool} & train_texts


def test_when_training_takes_every_spare_question_a_pool_is_reserved_before_training():
    docs, qs = squad()
    exp = experiment({"until_decisive": True, "reserve": 10})
    split = split_of(exp, docs, qs)
    assert len(split.train) + len(split.test) == len(qs)  # the split gives training everything else
    held, pool = hold_back(exp, split, qs)
    assert len(pool) == 10 and len(held.train) == len(split.train) - 10 and held.test == split.test
    assert_apart(held, pool)
    assert {q.doc_id for q in held.train} == {d.id for d in docs}  # every document keeps a training question
    assert any("10 questions were reserved from training" in n for n in held.notes)
    # Without the flag nothing changes.
    plain, none = hold_back(experiment(), split, qs)
    assert plain is split and none == []


def test_spare_questions_form_the_pool_and_training_is_left_as_it_is():
    docs, qs = squad()
    exp = experiment({"until_decisive": True, "budget_questions": 5}, sizes={"test_questions": 12,
                                                                              "train_questions": 20})
    split = split_of(exp, docs, qs)
    held, pool = hold_back(exp, split, qs)
    assert held.train == split.train and len(pool) == len(qs) - 32
    assert_apart(held, pool)
    assert not any("reserved" in n for n in held.notes)


def test_a_training_size_the_experiment_asks_for_is_not_lowered_by_the_reserve():
    docs, qs = squad(n_docs=3, per_doc=4)
    exp = experiment({"until_decisive": True, "reserve": 5}, sizes={"test_questions": 4, "train_questions": 8})
    split = split_of(exp, docs, qs)
    held, pool = hold_back(exp, split, qs)
    assert held.train == split.train and pool == []
    assert any("sizes.train_questions=8 is kept" in n for n in held.notes)


def test_a_pool_question_never_repeats_a_training_question_word_for_word():
    docs, qs = squad()
    exp = experiment({"until_decisive": True}, sizes={"test_questions": 12, "train_questions": 20})
    split = split_of(exp, docs, qs)
    spare = next(q for q in qs if q not in split.train and q not in split.test)
    twin = Question("twin", split.train[0].question.upper(), ["x"], spare.doc_id)
    _, pool = hold_back(exp, split, qs + [twin])
    assert "twin" not in {q.id for q in pool} and spare.id in {q.id for q in pool}


def test_faq_questions_are_reserved_too():
    docs = [Doc(f"f{i}", f"question {i}?", f"question {i}?\n\nanswer {i}") for i in range(30)]
    qs = [Question(f"q-f{i}", f"question {i}?", [f"answer {i}"], f"f{i}") for i in range(30)]
    exp = experiment({"until_decisive": True}, sizes={"test_questions": 8}, faq=True)
    split = split_of(exp, docs, qs, faq=True)
    held, pool = hold_back(exp, split, qs)
    assert len(pool) == 8 and len(held.train) == 30 - 16
    assert_apart(held, pool)


def test_the_added_questions_never_include_training_questions():
    """The whole path: hold back, then add every pool question; none was ever a training question."""
    docs, qs = squad(n_docs=8)
    exp = experiment({"until_decisive": True, "reserve": 24, "batch": 8})
    held, pool = hold_back(exp, split_of(exp, docs, qs), qs)
    res = first_answers({"base": TIE_BASE, "rag": TIE_RAG})
    fake = FakeAnswers(res)
    out = until_decisive(res, pool, fake, batch=exp.decide.batch)
    asked = {q for b in fake.asked for q in b}
    assert out.added == 24 and len(asked) == 24
    assert not asked & {q.id for q in held.train} and not asked & {q.id for q in held.test}


# ---- configuration and the command --------------------------------------------------------------

def test_decide_loads_from_the_experiment_and_a_budget_needs_the_flag():
    exp = experiment({"until_decisive": True, "budget_minutes": 15, "budget_questions": 60, "batch": 10})
    assert (exp.decide.budget_minutes, exp.decide.budget_questions, exp.decide.batch) == (15, 60, 10)
    with pytest.raises(ConfigError, match="budget_questions needs decide.until_decisive"):
        experiment({"budget_questions": 60})
    with pytest.raises(ConfigError, match="for qa experiments"):
        load_experiment(data={"name": "c", "task": "classification", "data": {"train": "a", "test": "b"},
                              "decide": {"until_decisive": True}})


def test_the_flags_reach_the_experiment_and_the_terminal_says_why_it_stopped(tmp_path, monkeypatch):
    from ragtune.cli import compare as cli
    from ragtune.cli.main import app

    seen = {}

    def fake_run(exp, settings, **kw):
        seen["decide"] = exp.decide
        res = first_answers({"base": TIE_BASE, "rag": TIE_RAG})
        until_decisive(res, pool_of(5), FakeAnswers(res), batch=20)
        res.run_id = "r1"
        return res, {"html": tmp_path / "report.html"}

    monkeypatch.setattr(cli, "run_comparison", fake_run)
    out = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "compare", "--until-decisive",
                                   "--budget-questions", "30", "--budget-minutes", "12"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    d = seen["decide"]
    assert (d.until_decisive, d.budget_questions, d.budget_minutes) == (True, 30, 12)
    assert "--until-decisive: added 5 test questions in 1 batch" in out.output
    assert "the pool of 5 held-back questions is exhausted" in out.output
    out = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "compare", "--json", "--until-decisive"],
                             catch_exceptions=False)
    assert json.loads(out.stdout[out.stdout.index("{"):])["until_decisive"]["stopped"] == "pool"
    # the default experiment (knowledge) turns until_decisive on in its file; a budget without it must fail
    out = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "compare", "--budget-questions", "30",
                                   "-o", "decide.until_decisive=false"])
    assert isinstance(out.exception, ConfigError) and "needs decide.until_decisive" in str(out.exception)


@pytest.mark.slow
def test_quick_run_until_decisive_adds_held_back_questions_and_resumes(tmp_path, monkeypatch):
    """The bundled model, --quick sizes, base and rag only (no training): batches are answered and cached.

    The leading pair is reported undecided (the stopping rule is tested above on fixed numbers), so
    the run adds batches until its question budget: this checks the answering, scoring and caching.
    """
    from ragtune.evaluate import until_decisive as ud

    real = ud.leading_difference
    monkeypatch.setattr(ud, "leading_difference", lambda res: {**real(res), "decided": False})
    from ragtune.cli.compare import example_path
    from ragtune.cli.main import app
    from ragtune.evaluate.datasets import load_corpus_and_questions
    from ragtune.evaluate.experiment import QUICK_OVERRIDES

    extra = ['modes=["base", "rag"]', "learning_curve.enabled=false", "kb_quality.enabled=false",
             "versatility.enabled=false", "sizes.freshness_items=0", "decide.batch=2"]
    args = ["--data-dir", str(tmp_path), "compare", "--quick", "--json", "--until-decisive", "--budget-questions",
            "4"] + [a for o in extra for a in ("-o", o)]
    first = CliRunner().invoke(app, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout[first.stdout.index("{"):])
    grown = out["until_decisive"]
    assert (grown["stopped"], grown["budget"], grown["added"], grown["batches"]) == ("budget", "questions", 4, 2)
    results = json.loads(open(out["report"]["json"]).read())
    ids = {i["item_id"] for i in results["items"] if i["mode"] == "rag"}
    assert len(ids) == 4 + grown["added"]
    assert any("--until-decisive: added" in n for n in results["notes"])
    # None of the answered questions is a training question of the same split.
    exp = load_experiment(example_path("knowledge"), QUICK_OVERRIDES + extra + ["decide.until_decisive=true",
                                                                                "decide.budget_questions=4"])
    docs, qs = load_corpus_and_questions(exp.path(exp.data.corpus), exp.path(exp.data.questions))
    held, _ = hold_back(exp, split_of(exp, docs, qs), qs)
    assert not ids & {q.id for q in held.train}
    # A second run answers nothing new: every answer, added ones included, comes from the workspace.
    answers = tmp_path / "experiments" / "knowledge-quick" / "answers" / "rag.jsonl"
    lines = len(answers.read_text().splitlines())
    again = CliRunner().invoke(app, args, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert len(answers.read_text().splitlines()) == lines == len(ids)
    second = json.loads(again.stdout[again.stdout.index("{"):])["until_decisive"]
    assert (second["added"], second["stopped"]) == (grown["added"], grown["stopped"])

