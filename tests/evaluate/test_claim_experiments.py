"""The claim experiments: nested training subsets, degraded knowledge bases, deleted facts, and the verdict rules."""

from __future__ import annotations

import json

import pytest
from tests.conftest import KNOWLEDGE, squad_paragraphs, squad_questions

from ragtune.errors import ConfigError
from ragtune.evaluate.datasets import Doc, Question
from ragtune.evaluate.experiment import load_experiment
from ragtune.evaluate.freshness import delete_docs
from ragtune.evaluate.kb_quality import DUP_SUFFIX, with_distractors, without_gold
from ragtune.evaluate.learning_curve import nested_subsets
from ragtune.evaluate.report.claims import (
    CONTRADICTED,
    NOT_DECIDED,
    SUPPORTED,
    data_needs_rule,
    data_requirements,
    kb_dependence_rule,
    removed_facts_rule,
    versatility_rule,
)
from ragtune.evaluate.results import ComparisonResults, Estimate
from ragtune.evaluate.versatility import second_topic
from ragtune.kb import KnowledgeBase


def test_subsets_are_nested_seeded_and_sized():
    items = list(range(40))
    subs = nested_subsets(items, [1.0, 0.125, 0.5, 0.25], seed=3)
    assert list(subs) == [0.125, 0.25, 0.5, 1.0] and [len(s) for s in subs.values()] == [5, 10, 20, 40]
    sizes = list(subs.values())
    for small, large in zip(sizes, sizes[1:], strict=False):
        assert large[:len(small)] == small  # the smaller set is contained in the larger, in order
    assert sorted(subs[1.0]) == items
    assert nested_subsets(items, [0.25], seed=3) == {0.25: subs[0.25]}  # same seed, same subset
    assert nested_subsets(items, [0.25], seed=4)[0.25] != subs[0.25]
    assert len(nested_subsets(items[:3], [0.1], seed=0)[0.1]) == 1  # never empty


def _kb_data():
    rows = squad_paragraphs(6)
    docs = [Doc(r["id"], r["title"], r["text"]) for r in rows]
    qs = [Question(q["id"], q["question"], q["answers"], q["doc_id"]) for q in squad_questions({d.id for d in docs})]
    return docs, qs


def test_degraded_kb_lacks_exactly_the_removed_gold_passages():
    docs, qs = _kb_data()
    kept, removed, affected = without_gold(docs, qs, share=0.5, seed=0)
    assert removed and {d.id for d in kept} == {d.id for d in docs} - set(removed)
    assert {q.id for q in affected} == {q.id for q in qs if q.doc_id in removed}
    assert all(q.doc_id not in {d.id for d in kept} for q in affected)
    assert without_gold(docs, qs, share=0.5, seed=0)[1] == removed


def test_distractors_are_other_topic_passages_and_one_fact_changes():
    docs, qs = _kb_data()
    others = [Doc(f"b{i}", "", f"An unrelated passage number {i}.") for i in range(5)]
    full, added = with_distractors(docs, qs, others, n_other=3, share=0.5, seed=0)
    assert full[:len(docs)] == docs and full[len(docs):] == added
    assert sum(d.id.startswith("other~") for d in added) == 3
    dups = [d for d in added if d.id.endswith(DUP_SUFFIX)]
    assert dups
    by_id = {d.id: d for d in docs}
    for dup in dups:
        gold = by_id[dup.id.removesuffix(DUP_SUFFIX)]
        assert dup.text != gold.text and len(dup.text.split()) >= len(gold.text.split()) - 10


def test_a_deleted_fact_is_not_retrievable(settings, tmp_path):
    docs, _ = _kb_data()
    folder = tmp_path / "kb"
    folder.mkdir()
    for d in docs[:4]:
        (folder / f"{d.id.replace(':', '_')}.txt").write_text(d.text, encoding="utf-8")
    kb = KnowledgeBase.create(settings, "fresh")
    kb.ingest([folder], show_progress=False)
    gone = docs[1]
    query = gone.text[:200]
    assert any(gone.id.replace(":", "_") in h.chunk.source for h in kb.search(query, k=3))
    assert delete_docs(kb, folder, [gone.id]) > 0
    hits = kb.search(query, k=10)
    assert hits and not any(gone.id.replace(":", "_") in h.chunk.source for h in hits)
    assert not (folder / f"{gone.id.replace(':', '_')}.txt").exists()


def test_second_topic_is_a_seeded_sample_of_documents_and_their_questions():
    docs = [Doc(json.loads(x)["id"], "", json.loads(x)["text"]) for x in (KNOWLEDGE / "second_corpus.jsonl").open()]
    qs = [Question(r["id"], r["question"], r["answers"], r["doc_id"])
          for r in map(json.loads, (KNOWLEDGE / "second_qa.jsonl").open())]
    kb, asked = second_topic(docs, qs, n_questions=5, n_docs=8, seed=0)
    assert len(kb) == 8 and len(asked) == 5 and {q.doc_id for q in asked} <= {d.id for d in kb}
    assert second_topic(docs, qs, 5, 8, 0) == (kb, asked)


def E(value, lo, hi, n=20):
    return Estimate(value, lo, hi, n)


def test_data_needs_rule():
    below = E(-0.2, -0.3, -0.1)
    level = E(-0.02, -0.1, 0.05)
    grew = E(0.15, 0.05, 0.25)
    assert data_needs_rule([below, below, below], grew) == SUPPORTED  # never catches up
    assert data_needs_rule([below, below, level], grew) == SUPPORTED  # catches up only with more data
    assert data_needs_rule([level, level, level], E(0.0, -0.05, 0.05)) == NOT_DECIDED
    assert data_needs_rule([E(0.1, 0.05, 0.2), level], E(0.0, -0.05, 0.05)) == CONTRADICTED  # level at once
    assert data_needs_rule([level, E(0.1, 0.02, 0.2)], grew) == "partly supported"


def test_kb_dependence_rule():
    drop, none, gain = E(-0.2, -0.3, -0.1), E(0.0, -0.1, 0.1), E(0.1, 0.05, 0.2)
    assert kb_dependence_rule(drop, drop) == SUPPORTED
    assert kb_dependence_rule(drop, none) == "partly supported"
    assert kb_dependence_rule(none, none) == NOT_DECIDED
    assert kb_dependence_rule(gain, drop) == CONTRADICTED


def test_versatility_rule():
    up, flat, down = E(0.3, 0.2, 0.4), E(0.0, -0.1, 0.1), E(-0.1, -0.2, -0.05)
    assert versatility_rule(up, down) == SUPPORTED
    assert versatility_rule(up, flat) == "partly supported"
    assert versatility_rule(flat, flat) == NOT_DECIDED
    assert versatility_rule(down, flat) == CONTRADICTED
    assert versatility_rule(flat, up) == CONTRADICTED


def test_removed_facts_rule():
    assert removed_facts_rule(E(0.8, 0.6, 0.95), E(0.05, 0.0, 0.15))[0] == SUPPORTED
    assert removed_facts_rule(E(0.05, 0.0, 0.15), E(0.8, 0.6, 0.95))[0] == CONTRADICTED
    verdict, needed = removed_facts_rule(E(0.3, 0.1, 0.5, 10), E(0.2, 0.0, 0.4, 10))
    assert verdict == NOT_DECIDED and needed and needed > 10


def test_data_requirements_card_quotes_its_numbers():
    res = ComparisonResults.new("fixed", task="qa")
    pts = [{"mode": "ft", "fraction": f, "n_train": n, "score": vars(E(s, s - 0.05, s + 0.05)),
            "vs_rag": vars(E(d, d - 0.05, d + 0.05)), "vs_smallest": vars(E(g, g - 0.05, g + 0.05))}
           for f, n, s, d, g in ((0.25, 10, 0.1, -0.3, 0.0), (0.5, 20, 0.2, -0.2, 0.1), (1.0, 40, 0.39, -0.01, 0.29))]
    res.learning_curve = {"metric": "token_f1", "points": pts, "flat": {"rag": vars(E(0.4, 0.3, 0.5))}}
    claim = data_requirements(ComparisonResults.from_json(res.to_json()))  # the section round-trips
    text = " ".join(claim.evidence)
    assert claim.verdict == SUPPORTED
    assert "at 100% of the data (40 labelled questions)" in text and "rag 40.0 [30.0, 50.0]" in text


def test_sections_switch_off_and_need_their_data():
    exp = load_experiment(KNOWLEDGE.parent / "experiment.toml", ["learning_curve.enabled=false"])
    assert not exp.learning_curve.enabled and exp.kb_quality.enabled and exp.versatility.enabled
    with pytest.raises(ConfigError, match="second_corpus"):
        load_experiment(data={"name": "x", "task": "qa", "data": {"corpus": "c.jsonl", "questions": "q.jsonl"},
                              "versatility": {"enabled": True}})
    with pytest.raises(ConfigError, match="fractions"):
        load_experiment(KNOWLEDGE.parent / "experiment.toml", ["learning_curve.fractions=[0, 0.5]"])
