"""RAG with the bundled models on real SQuAD paragraphs: retrieval quality, grounded answers, live updates."""

import pytest
from tests.conftest import squad_paragraphs, squad_questions

from ragtune.evaluate.metrics import answer_recall as contains_answer
from ragtune.evaluate.metrics import token_f1
from ragtune.kb import KnowledgeBase
from ragtune.pipeline import Pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def squad_kb(tmp_path_factory):
    from ragtune.config import load_settings

    root = tmp_path_factory.mktemp("squad")
    docs = root / "docs"
    docs.mkdir()
    paras = squad_paragraphs(30, title="Super Bowl 50")
    for r in paras:
        (docs / f"{r['id'].replace(':', '_')}.txt").write_text(r["text"], encoding="utf-8")
    s = load_settings(env={}, data_dir=str(root / "data"), generation__max_tokens=32)
    kb = KnowledgeBase.create(s, "squad")
    kb.ingest([docs])
    return s, kb, docs, squad_questions({r["id"] for r in paras})


def _mean_f1(answers, sample) -> float:
    """Mean token F1 of ``answers`` against the gold answers of ``sample``, in order."""
    return sum(token_f1(a.text, q["answers"]) for a, q in zip(answers, sample, strict=True)) / len(sample)


def test_retrieval_recall_on_real_questions(squad_kb):
    s, kb, _, qs = squad_kb
    qs = qs[:60]
    recall = {}
    for mode in ("dense", "bm25", "hybrid"):
        found = 0
        for q in qs:
            gold = q["doc_id"].replace(":", "_")
            found += any(gold in h.chunk.source for h in kb.search(q["question"], k=5, mode=mode))
        recall[mode] = found / len(qs)
    # Golden numbers on this subset (60 questions, 30 paragraphs of one article), measured 2026-11-25:
    # dense 1.00, bm25 0.90, hybrid 0.98 recall@5.
    assert recall == pytest.approx({"dense": 1.0, "bm25": 0.9, "hybrid": 0.983}, abs=0.02)


def test_rag_beats_closed_book_and_cites(squad_kb):
    s, kb, _, qs = squad_kb
    # two threads pinned: greedy text can change with the thread count (a load-dependent choice otherwise)
    s = s.model_copy(update={"generation": s.generation.model_copy(update={"threads": 2})})
    pipe = Pipeline(s, log=False)
    # 24 questions, scored by token F1. The default reader reads the one passage sentence that best matches
    # the question (chosen on the tune split, benchmarks/RESULTS.md); on this article nearly every sentence
    # shares "Super Bowl 50" with the question, and on its first 8 questions the one sentence was never the
    # answer's (rag and base both 0 of 8 right; F1 6.2 against 6.7). Measured 2026-12-07 on the first 24
    # (Zen 3, 2 threads): F1 10.6 for rag against 5.6 for base (3 sentences: 22.0), answer recall 1 against 0.
    sample = qs[:24]
    rag = [pipe.ask(q["question"], mode="rag", kb="squad") for q in sample]
    base = [pipe.ask(q["question"], mode="base") for q in sample]
    f1 = [_mean_f1(run, sample) for run in (rag, base)]
    assert f1[0] > f1[1], f1
    a = rag[0]
    assert a.prompt.startswith("<|im_start|>system") and sample[0]["question"] in a.prompt
    assert len(a.citations) == len(a.hits) == s.retrieval.top_k
    assert a.citations[0].chunk_id == a.hits[0].chunk.chunk_id
    assert a.kb_version == 1 and a.timings["decode_tok_s"] > 0


def test_answers_cite_the_gold_passage_without_model_written_markers(squad_kb):
    s, kb, _, qs = squad_kb
    pipe = Pipeline(s, log=False)
    # 40 questions: on this topic-dense article the reader adapter holds the gold answer in about 1 answer of 5
    # (4 of qs[8:28] on 2026-12-06), and the citation check below needs enough right answers to mean something
    sample = qs[8:28] + qs[48:68]
    answers = [pipe.ask(q["question"], mode="rag", kb="squad") for q in sample]
    # citations do not depend on the model writing [n]: answers that hold the gold answer cite a passage holding it
    right = [(a, q) for a, q in zip(answers, sample, strict=True) if contains_answer(a.text, q["answers"])]
    assert len(right) >= 6
    cited_gold = sum(any(c.cited and contains_answer(c.text, q["answers"]) for c in a.citations) for a, q in right)
    assert cited_gold >= 0.8 * len(right)
    a = right[0][0]
    c = next(c for c in a.citations if c.cited)
    assert c.method in ("model", "attributed") and c.spans and a.reader == "adapter:smollm2-135m-reader"
    assert {"retrieve_ms", "prompt_ms", "decode_ms", "cite_ms"} <= set(a.timings)


def test_updated_document_changes_the_next_answer(squad_kb):
    s, kb, docs, _ = squad_kb
    pipe = Pipeline(s)
    f = docs / "zephyr.txt"
    f.write_text("The Zephyr-9 moon base was founded by Captain Ilse Marrow in 2091.", encoding="utf-8")
    kb.ingest([docs])
    q = "Who founded the Zephyr-9 moon base?"
    first = pipe.ask(q, mode="rag", kb="squad")
    assert "Marrow" in first.text
    f.write_text("The Zephyr-9 moon base was founded by Captain Tomas Okafor in 2091.", encoding="utf-8")
    kb.ingest([docs])
    second = pipe.ask(q, mode="rag", kb="squad")
    assert "Okafor" in second.text and "Marrow" not in second.text
    old = pipe.ask(q, mode="rag", kb="squad", as_of=first.kb_version)
    assert "Marrow" in old.text


def test_abstains_when_nothing_is_relevant(squad_kb):
    s, kb, _, _ = squad_kb
    a = Pipeline(s).ask("How long should sourdough bread proof in the fridge?", mode="rag", kb="squad")
    assert a.abstained and a.text == s.prompts.no_answer and a.prompt == ""


def test_the_reader_adapter_reads_better_than_the_base_model(squad_kb):
    """The shipped reader (trained on other SQuAD articles) against the same model without it, same prompts."""
    from ragtune.generate.reader_adapter import shipped

    s, kb, _, qs = squad_kb
    # two threads pinned: greedy text can change with the thread count (a load-dependent choice otherwise)
    s = s.model_copy(update={"generation": s.generation.model_copy(update={"threads": 2})})
    pipe = Pipeline(s, log=False)
    sample = qs[28:48]
    ad = shipped()[0]
    assert ad.method == "focus"
    with_adapter = [pipe.ask(q["question"], mode="rag", kb="squad") for q in sample]
    # the bare model reads the prompt the adapter reads (a reader asked for by name answers without the adapter)
    without = [pipe.ask(q["question"], mode="rag", kb="squad", reader="focus", focus_sentences=ad.focus_sentences)
               for q in sample]
    assert {a.reader for a in with_adapter} == {"adapter:smollm2-135m-reader"}
    assert {a.reader for a in without} == {"focus"} and without[0].adapter is None
    assert [a.prompt for a in with_adapter] == [a.prompt for a in without]
    plain = pipe.ask(sample[0]["question"], mode="rag", kb="squad", reader_adapter="none", max_tokens=4)
    assert plain.reader == s.reader.method and plain.adapter is None  # rag/base: the configured reader, bare
    f1 = [_mean_f1(run, sample) for run in (with_adapter, without)]
    # Measured 2026-12-07 (Zen 3, 2 threads), reading 1 sentence: 36.2 with the adapter against 18.2 without,
    # on the same prompts (3 sentences, earlier that day: 44.7 against 18.0; against the bare model on whole
    # chunks it was 14.7 vs 7.6 on 2026-12-06). The bar, +10 points, leaves
    # room for another CPU's greedy text.
    assert f1[0] > f1[1] + 0.10, f1


def test_focus_sentences_of_one_answer_override_the_setting(squad_kb):
    """The knowledge example reads 3 sentences in every retrieval mode; its rag/focus variant asks for 1."""
    from ragtune.errors import ConfigError
    from ragtune.generate.reader import focus_hits

    s, kb, _, qs = squad_kb
    pipe = Pipeline(s.model_copy(update={"reader": s.reader.model_copy(update={"method": "focus",
                                                                               "focus_sentences": 3})}))
    q = next(x["question"] for x in qs if len({h.chunk.chunk_id for h in kb.search(x["question"], k=3)}) == 3)
    three = pipe.ask(q, mode="rag", kb="squad", reader_adapter="none", max_tokens=4)
    one = pipe.ask(q, mode="rag", kb="squad", reader_adapter="none", focus_sentences=1, max_tokens=4)
    kept3 = [h.chunk.text for h in focus_hits(q, three.hits, 3)[0]]
    kept1 = [h.chunk.text for h in focus_hits(q, one.hits, 1)[0]]
    assert all(t in three.prompt for t in kept3) and all(t in one.prompt for t in kept1)
    assert sum(len(t) for t in kept3) > sum(len(t) for t in kept1)
    assert len(one.prompt) < len(three.prompt)
    assert three.reader == one.reader == "focus"
    # the shipped reader adapter (rag's default) reads its manifest's 1 sentence, unless the answer asks for more
    ad1 = pipe.ask(q, mode="rag", kb="squad", max_tokens=4)
    ad3 = pipe.ask(q, mode="rag", kb="squad", focus_sentences=3, max_tokens=4)
    assert ad1.reader == ad3.reader == "adapter:smollm2-135m-reader"
    assert all(t in ad1.prompt for t in kept1) and all(t in ad3.prompt for t in kept3)
    assert len(ad1.prompt) < len(ad3.prompt)
    with pytest.raises(ConfigError, match="focus_sentences must be at least 1"):
        pipe.ask(q, mode="rag", kb="squad", focus_sentences=0)
