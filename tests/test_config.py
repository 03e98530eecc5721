import pytest

from ragtune.config import load_settings
from ragtune.errors import ConfigError


def test_defaults_are_valid():
    s = load_settings(env={})
    assert s.retrieval.mode == "hybrid"
    assert s.generation.temperature == 0.0
    assert s.models.generator == "smollm2-135m-instruct"


def test_file_env_and_flags_precedence(tmp_path):
    f = tmp_path / "ragtune.toml"
    f.write_text('[retrieval]\ntop_k = 4\nmode = "bm25"\n[generation]\nmax_tokens = 50\n')
    s = load_settings(f, env={"RAGTUNE_RETRIEVAL__TOP_K": "6"}, overrides=["generation.max_tokens=70"])
    assert s.retrieval.top_k == 6  # env beats file
    assert s.retrieval.mode == "bm25"  # file beats default
    assert s.generation.max_tokens == 70  # flag beats file
    s2 = load_settings(f, env={"RAGTUNE_RETRIEVAL__TOP_K": "6"}, overrides=["retrieval.top_k=2"])
    assert s2.retrieval.top_k == 2  # flag beats env


@pytest.mark.parametrize("override, needle", [
    ("retrieval.mode=fuzzy", "retrieval.mode: 'fuzzy' is not allowed; use one of 'dense', 'bm25' or 'hybrid'"),
    ("retrieval.top_k=0", "retrieval.top_k"),
    ("chunking.overlap_tokens=500", "overlap_tokens must be smaller"),
    ("generation.temperature=-1", "generation.temperature"),
    ("retrievl.top_k=3", "retrievl: unknown setting"),
    ("prompts.rag_template=no placeholders", "must contain {context}"),
])
def test_bad_values_fail_at_load_with_field_name(override, needle):
    with pytest.raises(ConfigError) as e:
        load_settings(env={}, overrides=[override])
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_bad_toml_and_missing_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[retrieval\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(f, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


def test_override_syntax_error():
    with pytest.raises(ConfigError, match="expected section.field=value"):
        load_settings(env={}, overrides=["retrieval.top_k"])


def test_http_model_entry_needs_url():
    with pytest.raises(ConfigError, match="base_url"):
        load_settings(env={}, overrides=['models.registry.remote={kind="http"}'])
    s = load_settings(env={}, overrides=['models.registry.remote={kind="http", base_url="http://127.0.0.1:9/v1", '
                                         'model="m", api_key_env="KEY"}'])
    assert s.models.registry["remote"].model == "m"
