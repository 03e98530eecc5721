"""The llama.cpp prompt cache: a prompt that starts with a saved prefix reads only the rest, says how many
tokens it restored, and answers exactly as from an empty cache, seeded samples included (a sample at
temperature 1 changes with the smallest change of the logits: llama-cpp-python's own prefix reuse,
which cuts the KV cache back instead of restoring it, gave another poem for the same seed)."""

from __future__ import annotations

import pytest

from ragtune.config import load_settings
from ragtune.generate.base import GenParams
from ragtune.generate.llamacpp import LlamaCppEngine
from ragtune.generate.prompt_cache import MIN_PREFIX, PrefixCache
from ragtune.generate.prompts import rag_messages
from ragtune.registry import resolve
from ragtune.types import Chunk, Hit

PASSAGES = [
    ("Super Bowl 50 was an American football game. The Denver Broncos defeated the Carolina Panthers 24-10 "
     "to earn their third Super Bowl title.", "Which team won Super Bowl 50?"),
    ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region "
     "in France.", "What region did the Normans give their name to?"),
    ("Warsaw is the capital and largest city of Poland. It stands on the Vistula River.",
     "On which river does Warsaw stand?"),
]
GREEDY, SAMPLED = GenParams(max_tokens=12), GenParams(max_tokens=12, temperature=1.0, seed=1)


def _messages(s, text: str, question: str):
    hit = Hit(chunk=Chunk(chunk_id="c1", doc_id="d1", source="d1.txt", text=text), score=1.0)
    return rag_messages(question, [hit], s.prompts)


@pytest.fixture(scope="module")
def engines():
    s = load_settings(env={}, overrides=["generation.threads=2"])
    spec = resolve("smollm2-135m-instruct")
    # two engines of their own (get_engine shares one per model)
    return s, LlamaCppEngine(spec, s.generation), LlamaCppEngine(spec, s.generation)


def _from_empty(eng: LlamaCppEngine, messages, params: GenParams):
    eng._contexts[0].prefixes = PrefixCache()  # nothing saved: the whole prompt is read
    g = eng.generate(messages, params)
    assert g.cached_tokens == 0
    return g


def test_rag_prompts_restore_the_shared_prefix_and_answer_as_from_an_empty_cache(engines):
    s, eng, ref = engines
    eng._contexts[0].prefixes = PrefixCache()  # nothing saved by the tests before
    prompts = [_messages(s, t, q) for t, q in PASSAGES]
    tokens = [eng._tokens(eng.render(m)) for m in prompts]
    shared = next(i for i, (a, b) in enumerate(zip(tokens[0], tokens[1], strict=False)) if a != b)
    assert shared >= MIN_PREFIX  # the system prompt and the template's head
    seen = []
    for messages in prompts + prompts[:1]:
        for params in (GREEDY, SAMPLED):
            got, want = eng.generate(messages, params), _from_empty(ref, messages, params)
            assert got.text == want.text and got.prompt_tokens == want.prompt_tokens
            seen.append(got.cached_tokens)
    # the 1st prompt: nothing to share; its sampled twin shares it whole and saves all but its last 2 tokens
    # (a read of one token would change the logits); the 2nd prompt restores nothing of it and saves the
    # common head; every later one restores it
    assert seen[:3] == [0, 0, 0] and seen[3] == shared and all(c >= shared for c in seen[4:])
    assert seen[-1] == len(tokens[0]) - 2  # the 1st prompt again: all but its last 2 tokens restored


def test_a_conversation_restores_the_prompt_of_the_turn_before_last(engines):
    s, eng, ref = engines
    eng._contexts[0].prefixes = PrefixCache()  # nothing saved by the tests before
    msgs = [{"role": "system", "content": s.prompts.base_system}]
    cached, first_prompt = [], None
    for question in ("Name a large city in Poland.", "Which river flows through it?", "And in which country?"):
        msgs.append({"role": "user", "content": question})
        got, want = eng.generate(msgs, GREEDY), _from_empty(ref, msgs, GREEDY)
        assert got.text == want.text
        cached.append(got.cached_tokens)
        first_prompt = first_prompt or eng._tokens(eng.render(msgs))
        msgs.append({"role": "assistant", "content": got.text})
    # turn 2 reads turn 1's prompt afresh and saves it (the answer's tokens were read one at a time, so
    # their cells are not what reading them inside a prompt gives); turn 3 restores it
    assert cached == [0, 0, len(first_prompt)]


def test_prompts_that_alternate_between_two_system_prompts_both_use_the_cache(engines):
    """``compare`` interleaves its modes, so one engine answers closed-book and RAG prompts in turn."""
    from ragtune.generate.prompts import base_messages

    s, eng, ref = engines
    eng._contexts[0].prefixes = PrefixCache()  # nothing saved by the tests before
    cached = []
    for text, question in PASSAGES:
        for messages in (base_messages(question, s.prompts), _messages(s, text, question)):
            got, want = eng.generate(messages, GREEDY), _from_empty(ref, messages, GREEDY)
            assert got.text == want.text
            cached.append(got.cached_tokens)
    # each kind saves its head when it meets its own kind again (the 3rd and 4th prompts), then restores it
    assert cached[:4] == [0, 0, 0, 0] and all(c >= MIN_PREFIX for c in cached[4:])
