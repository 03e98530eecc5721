from __future__ import annotations

import json

import pytest

from ragtune.config import load_settings
from ragtune.errors import DataError
from ragtune.train.synth import build_examples, generate_dataset, parse_pair, reject_reason
from ragtune.types import Chunk

SOURCE = "The Trelling bridge opened in 1847. It was designed by Mara Oduya, an engineer from Quenvik."


@pytest.mark.parametrize("q, a, reason", [
    ("Who designed the Trelling bridge?", "Mara Oduya", None),
    ("When did the bridge open?", "in 1847.", None),  # case and punctuation do not matter
    ("Who designed the bridge?", "the  MARA oduya", None),  # articles and spacing neither
    ("Who designed the bridge?", "Mara Oduyan", "answer not in source"),  # whole words only
    ("Who designed the bridge?", "John Smith", "answer not in source"),
    ("Who designed the bridge", "Mara Oduya", "not a question"),
    ("Who designed it?", "", "empty answer"),
    ("Who designed it?", "The", "empty answer"),
    ("Where is Quenvik from?", "Quenvik", "answer given in the question"),
    ("What happened?",
     "The Trelling bridge opened in 1847 It was designed by Mara Oduya an engineer from Quenvik",
     "answer too long"),
])
def test_filter_keeps_only_answers_found_in_the_source(q, a, reason):
    assert reject_reason(q, a, SOURCE) == reason


def test_parse_pair_reads_the_generators_format():
    assert parse_pair("Question: Who?\nAnswer: Ada.") == ("Who?", "Ada.")
    assert parse_pair("**Question:** Who?\n**Answer:** Ada") == ("Who?", "Ada")
    assert parse_pair("Q: Who?\nA: Ada") == ("Who?", "Ada")
    assert parse_pair("Who? Ada.") is None


def _fake_generator(replies):
    calls = []

    def generate(messages, temperature, seed, max_tokens):
        calls.append((messages[-1]["content"], temperature, seed))
        return replies[len(calls) - 1]

    return generate, calls


def test_build_examples_keeps_good_pairs_and_records_why_others_went():
    chunks = [Chunk("c1", "d1", "s.txt", SOURCE), Chunk("c2", "d2", "s.txt", "Pell keeps a brass awl.")]
    gen, calls = _fake_generator([
        "Question: Who designed the Trelling bridge?\nAnswer: Mara Oduya",
        "Question: Who designed the Trelling bridge?\nAnswer: Mara Oduya",  # same pair again
        "Question: What does Pell keep?\nAnswer: a golden spoon",
        "I cannot do that.",
    ])
    rep = build_examples(chunks, gen, per_chunk=2, seed=5, progress=False)
    assert [(r["question"], r["answer"], r["chunk_id"]) for r in rep.kept] == [
        ("Who designed the Trelling bridge?", "Mara Oduya", "c1")]
    assert rep.kept[0]["context"] == SOURCE
    assert rep.reasons == {"duplicate": 1, "answer not in source": 1, "unparsed": 1}
    assert [(t, s) for _, t, s in calls] == [(0.0, 5), (0.8, 6), (0.0, 5), (0.8, 6)]
    assert SOURCE in calls[0][0]


def test_generate_dataset_writes_an_editable_jsonl(tmp_path):
    settings = load_settings(env={})
    gen, _ = _fake_generator(["Question: When did the bridge open?\nAnswer: 1847"])
    rep = generate_dataset(settings, [Chunk("c1", "d1", "s.txt", SOURCE)], tmp_path / "qa.jsonl", per_chunk=1,
                           generate=gen, progress=False)
    rows = [json.loads(x) for x in (tmp_path / "qa.jsonl").read_text().splitlines()]
    assert rows == rep.kept and rows[0]["answer"] == "1847"
    from ragtune.train.data import load_qa

    assert load_qa(tmp_path / "qa.jsonl")[0].context == SOURCE  # the file is valid SFT/RAFT input
    bad, _ = _fake_generator(["nothing useful"])
    with pytest.raises(DataError, match="no usable pair"):
        generate_dataset(settings, [Chunk("c1", "d1", "s.txt", SOURCE)], tmp_path / "qa2.jsonl", per_chunk=1,
                         generate=bad, progress=False)
    assert (tmp_path / "qa2.rejected.jsonl").exists()


def test_round_trip_drops_pairs_the_generator_cannot_answer_back():
    chunks = [Chunk("c1", "d1", "s.txt", SOURCE)]
    replies = iter([
        "Question: Who designed the Trelling bridge?\nAnswer: Mara Oduya",
        "It was Mara Oduya [1].",  # the round trip gives the answer back: kept
        "Question: When did the Trelling bridge open?\nAnswer: 1847",
        "I don't know.",  # not answered back: dropped
    ])
    prompts_seen = []

    def gen(messages, temperature, seed, max_tokens):
        prompts_seen.append(messages[-1]["content"])
        return next(replies)

    rep = build_examples(chunks, gen, per_chunk=2, roundtrip=True, progress=False)
    assert [r["answer"] for r in rep.kept] == ["Mara Oduya"] and rep.reasons == {"failed round trip": 1}
    assert prompts_seen[1].endswith("Who designed the Trelling bridge?") and SOURCE in prompts_seen[1]
