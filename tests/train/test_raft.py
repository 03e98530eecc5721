from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ragtune.config import PromptSettings, ReaderSettings
from ragtune.errors import DataError
from ragtune.generate.reader import reader_messages
from ragtune.train.data import QAItem
from ragtune.train.raft import build_rows, find_oracles, nearest_distractors
from ragtune.types import Chunk, Hit


def bow_embed(texts):
    """Bag-of-words vectors (a stand-in for the embedder): shared words -> higher cosine."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().replace("?", " ").replace(".", " ").split():
            out[i, sum(map(ord, w)) % 256] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def corpus(n=30):
    return [Chunk(f"c{i}", f"/d/corpus.jsonl#doc{i}", "/d/corpus.jsonl", f"Fact {i}: item{i} weighs {100 + i} grams.")
            for i in range(n)]


def items(n=30):
    return [QAItem(f"qa.jsonl:{i + 1}", "qa", f"How much does item{i} weigh?", f"{100 + i} grams", doc_id=f"doc{i}")
            for i in range(n)]


def test_exactly_the_configured_share_of_oracles_is_dropped():
    for p, expected in [(0.2, 6), (0.0, 0), (1.0, 30), (0.5, 15)]:
        rows = build_rows(items(), corpus(), bow_embed, k=3, p_drop=p, seed=1)
        assert sum(r.oracle_position is None for r in rows) == expected
    a = build_rows(items(), corpus(), bow_embed, p_drop=0.2, seed=1)
    b = build_rows(items(), corpus(), bow_embed, p_drop=0.2, seed=2)
    assert [r.oracle_position is None for r in a] != [r.oracle_position is None for r in b]


def test_dropped_rows_never_show_the_oracle_or_the_answer():
    rows = build_rows(items(), corpus(), bow_embed, k=3, p_drop=0.5, seed=0)
    for r in rows:
        assert len(r.passages) == 4 and len({c.chunk_id for c in r.passages}) == 4
        ids = [c.chunk_id for c in r.passages]
        if r.oracle_position is None:
            assert r.oracle_id not in ids
            assert all(r.answer not in c.text for c in r.passages)
            assert r.messages[-1]["content"] == r.answer  # the paper: answer from memory
        else:
            assert ids[r.oracle_position - 1] == r.oracle_id
            assert ids.count(r.oracle_id) == 1
            assert r.messages[-1]["content"] == f"{r.answer} [{r.oracle_position}]"
            assert f"[{r.oracle_position}] {r.passages[r.oracle_position - 1].text}" in r.messages[-2]["content"]


def test_oracle_position_is_shuffled():
    rows = build_rows(items(), corpus(), bow_embed, k=3, p_drop=0.0, seed=0)
    counts = Counter(r.oracle_position for r in rows)
    assert set(counts) == {1, 2, 3, 4} and max(counts.values()) < 20


def test_abstain_variant_and_prompt_shape():
    p = PromptSettings(no_answer="NOPE")
    rows = build_rows(items(), corpus(), bow_embed, p_drop=1.0, prompts=p, dropped_answer="abstain")
    assert {r.messages[-1]["content"] for r in rows} == {"NOPE"}
    assert rows[0].messages[0] == {"role": "system", "content": p.system}
    assert rows[0].messages[1]["content"].endswith(f"Question: {rows[0].question}")


def _long_corpus(n=12):
    return [Chunk(f"c{i}", f"/d/corpus.jsonl#doc{i}", "/d/corpus.jsonl",
                  f"The museum opened in {1900 + i}. Its garden covers {10 + i} acres. "
                  f"The curator of gallery{i} is Ann{i}. Tickets cost {5 + i} euros.") for i in range(n)]


def test_focus_reader_rows_show_what_rag_sends_and_cite_only_a_kept_answer():
    chunks = _long_corpus()
    qs = [QAItem(f"qa.jsonl:{i + 1}", "qa", f"Who is the curator of gallery{i}?", f"Ann{i}", doc_id=f"doc{i}")
          for i in range(12)]
    # a question whose words point at another sentence than the one with the answer
    qs.append(QAItem("qa.jsonl:13", "qa", "How many acres does the garden of the museum cover?", "Ann3",
                     doc_id="doc3"))
    reader = ReaderSettings(method="focus", focus_sentences=1)
    rows = build_rows(qs, chunks, bow_embed, k=2, p_drop=0.0, seed=0, reader=reader)
    for r in rows[:12]:
        # exactly the prompt `ask --reader focus` sends for these passages
        assert r.messages[:-1] == reader_messages(r.question, [Hit(c, 0.0) for c in r.passages], PromptSettings(),
                                                  reader)
        user = r.messages[-2]["content"]
        assert f"The curator of gallery{r.question.split('gallery')[1][:-1]} is" in user
        assert "Tickets cost" not in user and "museum opened" not in user  # one sentence, not the chunk
        assert r.messages[-1]["content"] == f"{r.answer} [{r.oracle_position}]"
    odd = rows[12]
    assert "Ann3" not in odd.messages[-2]["content"] and odd.oracle_position is None
    assert odd.messages[-1]["content"] == "Ann3"  # no citation of a passage that does not show the answer
    plain = build_rows(qs, chunks, bow_embed, k=2, p_drop=0.0, seed=0)
    assert "Tickets cost" in plain[0].messages[-2]["content"]


def test_distractors_are_the_nearest_other_chunks():
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    c = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.8, 0.2], [0.7, 0.3]], dtype=np.float32)
    assert nearest_distractors(q, c, [0], 2) == [[1, 3]]
    assert nearest_distractors(q, c, [0], 2, skip=lambda qi, j: j == 1) == [[3, 4]]


def test_oracles_found_by_chunk_id_doc_id_or_context():
    chunks = corpus(3)
    its = [QAItem("f:1", "qa", "q", "a", chunk_id="c2"), QAItem("f:2", "qa", "q", "a", doc_id="doc1"),
           QAItem("f:3", "qa", "q", "a", context="A new passage."),
           QAItem("f:4", "qa", "q", "a", context="A new passage.")]
    idx, out = find_oracles(its, chunks)
    assert idx == [2, 1, 3, 3] and len(out) == 4 and out[3].text == "A new passage."
    with pytest.raises(DataError, match="f:9: cannot find"):
        find_oracles([QAItem("f:9", "qa", "q", "a", doc_id="nope")], chunks)
    with pytest.raises(DataError, match="not prompt rows"):
        find_oracles([QAItem("f:5", "prompt", "q", "a")], chunks)


def test_raft_tokens_train_only_the_cited_answer(tokenizer):
    from ragtune.train.raft import build_examples

    rows = build_rows(items(6), corpus(6), bow_embed, k=2, p_drop=0.0, seed=0)
    ex = build_examples(rows[:1], tokenizer)[0]
    trained = [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != -100]
    assert tokenizer.decode(trained) == f"{rows[0].answer} [{rows[0].oracle_position}]<|im_end|>\n"
