"""llama.cpp contexts (``serve.parallel``): a second generation decodes beside a long one in its own
context, and the pinned thread budget is split between the two while both decode."""

from __future__ import annotations

import threading

import pytest

from ragtune.config import load_settings
from ragtune.errors import ConfigError
from ragtune.generate.base import GenParams, get_engine
from ragtune.registry import resolve

LONG = [{"role": "user", "content": "Count from 1 to 1000, separated by commas: 1, 2, 3,"}]
SHORT = [{"role": "user", "content": "Name a fruit."}]


@pytest.mark.slow
def test_a_second_context_decodes_beside_a_long_generation_with_half_the_threads():
    import llama_cpp

    s = load_settings(env={}, overrides=["generation.threads=2"])
    eng = get_engine(resolve("smollm2-135m-instruct"), s.generation)
    eng.use_contexts(2)
    try:
        assert eng.contexts == 2 and eng.parallel == 2
        started, finished, out = threading.Event(), [], {}

        def long():
            for piece in eng.stream(LONG, GenParams(max_tokens=150)):
                started.set()
                if not isinstance(piece, str):
                    out["long"] = piece
            finished.append("long")

        th = threading.Thread(target=long)
        th.start()
        assert started.wait(120)
        out["short"] = eng.generate(SHORT, GenParams(max_tokens=4))
        finished.append("short")
        th.join(300)
        assert finished == ["short", "long"] and out["long"].finish_reason == "length"
        assert out["long"].timings["context"] == 0.0 and out["long"].timings["threads"] == 2.0  # began alone
        assert out["short"].timings["context"] == 1.0 and out["short"].timings["threads"] == 1.0  # beside it
        assert llama_cpp.llama_n_threads(eng.llm.ctx) == 2  # the long one took both back when alone again
        alone = eng.generate(SHORT, GenParams(max_tokens=4))
        assert alone.text == out["short"].text and alone.timings["context"] == 0.0  # greedy: same text
    finally:
        eng.use_contexts(1)
    assert eng.contexts == 2 and eng.parallel == 1  # loaded contexts stay; one is handed out
    assert eng.generate(SHORT, GenParams(max_tokens=4)).timings["threads"] == 2.0


def test_the_number_of_contexts_is_checked():
    s = load_settings(env={}, overrides=["generation.threads=2"])
    eng = get_engine(resolve("smollm2-135m-instruct"), s.generation)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigError, match="serve.parallel"):
            eng.use_contexts(bad)
    with pytest.raises(ConfigError, match="serve.parallel"):
        load_settings(env={}, overrides=["serve.parallel=0"])
