"""The HTTP engine against a real OpenAI-compatible server: ragtune's own, on a loopback port."""

import pytest

from ragtune.errors import EngineError
from ragtune.generate.base import Generation, GenParams, clear_engines, get_engine
from ragtune.pipeline import Pipeline
from ragtune.registry import resolve
from tests.serve.conftest import make_settings

pytestmark = pytest.mark.slow


def test_http_engine_matches_the_local_engine(keyed_server, settings, monkeypatch):
    monkeypatch.setenv("RT_TEST_KEY", "sk-test-ro")
    s = make_settings(settings.data_dir, f'models.registry.remote={{kind="http", base_url="{keyed_server.url}/v1", '
                                         'model="base", api_key_env="RT_TEST_KEY"}')
    spec = resolve("remote", s)
    assert spec.kind == "http"
    engine = get_engine(spec, s.generation)
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    remote = engine.generate(msgs, GenParams(max_tokens=12))
    pieces = list(engine.stream(msgs, GenParams(max_tokens=12)))
    assert isinstance(pieces[-1], Generation) and "".join(p for p in pieces[:-1] if isinstance(p, str)).strip()
    assert pieces[-1].text == remote.text
    # The server answers `base` with the same greedy model, so the text is the local closed-book answer.
    local = Pipeline(s, log=False).ask("What is the capital of France?", mode="base", max_tokens=12)
    assert remote.text == local.text and remote.completion_tokens > 0


def test_http_engine_errors_are_one_line(keyed_server, settings, monkeypatch):
    clear_engines()
    monkeypatch.setenv("RT_TEST_KEY", "sk-wrong")
    s = make_settings(settings.data_dir, f'models.registry.remote={{kind="http", base_url="{keyed_server.url}/v1", '
                                         'model="base", api_key_env="RT_TEST_KEY"}')
    engine = get_engine(resolve("remote", s), s.generation)
    with pytest.raises(EngineError, match="401") as e:
        engine.generate([{"role": "user", "content": "hi"}], GenParams(max_tokens=4))
    assert "\n" not in str(e.value)
    monkeypatch.delenv("RT_TEST_KEY")
    clear_engines()
    with pytest.raises(EngineError, match=r"needs an API key in \$RT_TEST_KEY"):
        get_engine(resolve("remote", s), s.generation)
