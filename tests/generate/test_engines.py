"""The two local engines on the bundled model: same chat template, reproducible greedy text, limits."""

import pytest

from ragtune.config import load_settings
from ragtune.errors import ConfigError, EngineError
from ragtune.generate.base import Generation, GenParams, get_engine
from ragtune.registry import resolve

pytestmark = pytest.mark.slow

MSGS = [{"role": "system", "content": "Answer in a few words."},
        {"role": "user", "content": "Which river flows through Paris?"}]


def test_llamacpp_and_transformers_render_the_same_prompt_and_both_answer():
    s = load_settings(env={})
    spec = resolve("smollm2-135m-instruct")
    llama = get_engine(spec, s.generation)
    hf = get_engine(spec, load_settings(env={}, overrides=["generation.engine=transformers"]).generation)
    assert llama.name == "llama.cpp" and hf.name == "transformers"
    assert llama.render(MSGS) == hf.render(MSGS)
    a = llama.generate(MSGS, GenParams(max_tokens=12))
    b = hf.generate(MSGS, GenParams(max_tokens=12))
    assert a.text and b.text and a.completion_tokens <= 12 and b.completion_tokens <= 12
    assert llama.generate(MSGS, GenParams(max_tokens=12)).text == a.text  # greedy: reproducible
    pieces = list(hf.stream(MSGS, GenParams(max_tokens=12)))
    assert isinstance(pieces[-1], Generation) and "".join(p for p in pieces[:-1]).strip() == b.text


def test_prompt_longer_than_context_is_a_clear_error():
    s = load_settings(env={}, overrides=["generation.n_ctx=256"])
    engine = get_engine(resolve("smollm2-135m-instruct"), s.generation)
    long = [{"role": "user", "content": "word " * 400}]
    with pytest.raises(EngineError, match="more than n_ctx 256"):
        engine.generate(long, GenParams(max_tokens=16))


def test_embedder_is_not_a_generator():
    s = load_settings(env={})
    with pytest.raises(ConfigError, match="not a generator"):
        get_engine(resolve("minilm-l6"), s.generation)


@pytest.mark.parametrize("engine", ["llama.cpp", "transformers"])
def test_engines_apply_and_report_the_thread_policy(engine):
    """A loaded engine takes its policy's current count at each generation and says which it used."""
    from ragtune.threads import ThreadPolicy

    s = load_settings(env={}, overrides=[f"generation.engine={engine}", "generation.threads=1"])
    eng = get_engine(resolve("smollm2-135m-instruct"), s.generation)
    assert eng.policy.report()["source"] == "setting"
    assert eng.generate(MSGS, GenParams(max_tokens=4)).timings["threads"] == 1.0
    eng.policy = ThreadPolicy(2)  # what a re-check that found a second free core would leave
    try:
        assert eng.generate(MSGS, GenParams(max_tokens=4)).timings["threads"] == 2.0
        if engine == "llama.cpp":
            import llama_cpp

            assert llama_cpp.llama_n_threads(eng.llm.ctx) == 2  # applied to the loaded context
    finally:
        eng.policy = ThreadPolicy(1)
        eng.generate(MSGS, GenParams(max_tokens=1))
