from ragtune.config import load_settings
from ragtune.generate.citations import build_citations, cited_numbers
from ragtune.generate.prompts import base_messages, rag_messages
from ragtune.types import Chunk, Hit


def _hits(n):
    return [Hit(Chunk(f"c{i}", f"d{i}", f"/src/{i}.txt", f"text number {i}"), 1.0 / (i + 1)) for i in range(n)]


def test_cited_numbers_in_order_and_grouped():
    assert cited_numbers("Paris [2]. Also [1, 3] and again [2].") == [2, 1, 3]
    assert cited_numbers("no citations here") == []


def test_citations_map_numbers_to_chunks_and_ignore_invented_ones():
    hits = _hits(3)
    hits[1].chunk.text = "The capital of Xandria is Port Ulm."
    cits = build_citations("Port Ulm is the capital of Xandria [2] [7].", hits)
    assert [c.number for c in cits] == [1, 2, 3]
    assert [c.cited for c in cits] == [False, True, False]
    assert cits[1].method == "model"
    assert cits[1].chunk_id == "c1" and cits[1].source == "/src/1.txt"


def test_rag_prompt_numbers_passages_in_rank_order():
    p = load_settings(env={}).prompts
    msgs = rag_messages("What?", _hits(2), p)
    assert msgs[0] == {"role": "system", "content": p.system}
    assert "[1] text number 0\n\n[2] text number 1" in msgs[-1]["content"]
    assert msgs[-1]["content"].endswith("Question: What?")


def test_templates_are_overridable_and_few_shot_turns_precede_question():
    p = load_settings(env={}, overrides=['prompts.rag_template="Q={question} C={context}"',
                                         'prompts.context_item="<{n}:{source}> {text}"']).prompts
    msgs = rag_messages("Why?", _hits(1), p, examples=[("ex q", "ex a")])
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[-1]["content"] == "Q=Why? C=<1:/src/0.txt> text number 0"
    assert base_messages("Why?", p)[-1]["content"] == "Question: Why?"
