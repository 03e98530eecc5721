"""Issue 13 with the official ``openai`` client on a real uvicorn server: conversations, sampling,
structured output, tools, embeddings, raw completions and the forwarded-header bypass."""

from __future__ import annotations

import json

import httpx
import numpy as np
import openai
import pytest

from tests.serve.conftest import KB, LiveServer, make_settings

pytestmark = pytest.mark.slow


def client_for(server, key: str = "no-key-needed"):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=120)


def test_conversation_reaches_the_model(live_server):
    """The answer to "What is my name?" needs the first turn; without it the model cannot know."""
    c = client_for(live_server)
    name = "Zorbalina"
    turns = [{"role": "user", "content": f"My name is {name}."},
             {"role": "assistant", "content": f"Nice to meet you, {name}!"},
             {"role": "user", "content": "What is my name?"}]
    out = c.chat.completions.create(model="base", max_tokens=16, messages=turns)
    assert name in out.choices[0].message.content
    alone = c.chat.completions.create(model="base", max_tokens=16, messages=turns[-1:])
    assert name not in alone.choices[0].message.content
    assert out.usage.prompt_tokens > alone.usage.prompt_tokens


def test_long_conversation_is_trimmed_oldest_first(live_server, settings):
    c = client_for(live_server)
    filler = "This is an old turn about nothing in particular. " * 40
    turns = []
    for i in range(12):
        turns += [{"role": "user", "content": f"{filler} ({i})"}, {"role": "assistant", "content": "Noted."}]
    turns.append({"role": "user", "content": "Say hello."})
    out = c.chat.completions.create(model="base", max_tokens=8, messages=turns)
    assert out.model_extra["ragtune"]["trimmed_messages"] > 0
    assert out.usage.prompt_tokens + 8 <= settings.generation.n_ctx  # it answered instead of failing


def test_streaming_a_conversation(live_server):
    c = client_for(live_server)
    stream = c.chat.completions.create(
        model="base", max_tokens=10, stream=True,
        messages=[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a fruit."}])
    pieces = [ch.choices[0].delta.content or "" for ch in stream if ch.choices]
    assert "".join(pieces).strip()


def test_seeds_decide_sampling(live_server):
    c = client_for(live_server)

    def ask(seed):
        return c.chat.completions.create(model="base", max_tokens=16, temperature=1.0, seed=seed,
                                         messages=[{"role": "user", "content": "Write a short poem."}]
                                         ).choices[0].message.content

    a1, a2 = ask(1), ask(1)
    others = {ask(s) for s in (2, 3, 4)}
    assert a1 == a2
    assert others - {a1}, "different seeds at temperature 1.0 all gave the seed-1 answer"
    greedy = [c.chat.completions.create(model="base", max_tokens=12, messages=[
        {"role": "user", "content": "Write a short poem."}]).choices[0].message.content for _ in range(2)]
    assert greedy[0] == greedy[1]  # no sampling parameters: greedy, reproducible


def test_json_object_and_schema(live_server):
    c = client_for(live_server)
    out = c.chat.completions.create(
        model="base", max_tokens=48, response_format={"type": "json_object"}, frequency_penalty=1.0,
        messages=[{"role": "user", "content": 'Reply with a JSON object like {"colour": "red"}.'}])
    assert isinstance(json.loads(out.choices[0].message.content), dict)
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    out = c.chat.completions.create(
        model="base", max_tokens=48,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
        messages=[{"role": "user", "content": "Describe a person as JSON."}])
    data = json.loads(out.choices[0].message.content)
    assert set(data) == {"name", "age"} and isinstance(data["name"], str) and isinstance(data["age"], int)


def test_tools_are_refused_clearly(live_server):
    c = client_for(live_server)
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="base", max_tokens=8, tools=tools,
                                  messages=[{"role": "user", "content": "Weather in Paris?"}])
    assert "tools are not supported" in str(e.value)
    out = c.chat.completions.create(model="base", max_tokens=8, tools=tools, tool_choice="none",
                                    messages=[{"role": "user", "content": "Say hi."}])
    assert out.choices[0].message.tool_calls is None and out.choices[0].message.content


def test_wrong_types_and_ranges_are_400(live_server):
    c = client_for(live_server)
    for bad in ({"temperature": "hot"}, {"temperature": 3.0}, {"top_p": 0}, {"stop": ["a"] * 5},
                {"response_format": {"type": "yaml"}}):
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model="base", messages=[{"role": "user", "content": "hi"}], **bad)
        assert e.value.status_code == 400 and e.value.body["type"] == "invalid_request_error", bad


def test_embeddings_are_the_kbs_vectors(live_server, settings):
    from ragtune.kb import open_kb

    c = client_for(live_server)
    texts = ["Who won Super Bowl 50?", "Denver Broncos"]
    out = c.embeddings.create(model=KB, input=texts)
    got = np.array([d.embedding for d in out.data], dtype=np.float32)
    want = open_kb(settings, KB).embedder.encode(texts)
    assert got.shape == want.shape and np.allclose(got, want, atol=1e-6)
    b64 = c.embeddings.create(model=f"rag:{KB}", input=texts[0])  # the client decodes base64 itself
    # one text alone: int8 scales each batch's activations together, so a text's vector is compared with
    # the embedder's vector of the same batch (float backends give the same either way)
    alone = open_kb(settings, KB).embedder.encode(texts[:1])[0]
    assert np.allclose(np.array(b64.data[0].embedding), alone, atol=1e-6)


def test_raw_completion(live_server):
    c = client_for(live_server)
    out = c.completions.create(model="base", prompt="The capital of France is", max_tokens=6)
    assert out.choices[0].text.strip() and out.usage.completion_tokens <= 6
    with pytest.raises(openai.BadRequestError):
        c.completions.create(model=f"rag:{KB}", prompt="x", max_tokens=2)


def test_forwarded_for_does_not_rotate_the_failed_key_bucket(settings):
    s = make_settings(settings.data_dir, 'serve.api_keys=["sk-right"]', "serve.rate_limit_per_minute=5")
    with LiveServer(s) as srv:
        codes = [httpx.get(f"{srv.url}/v1/models", headers={"Authorization": "Bearer sk-guess",
                                                            "X-Forwarded-For": f"10.0.{i // 250}.{i % 250}"}
                           ).status_code for i in range(12)]
    assert 429 in codes and set(codes) <= {401, 429}


def test_forwarded_for_is_believed_from_a_named_proxy(settings):
    s = make_settings(settings.data_dir, 'serve.api_keys=["sk-right"]', "serve.rate_limit_per_minute=3",
                      'serve.trusted_proxies=["127.0.0.1"]')
    with LiveServer(s) as srv:
        codes = [httpx.get(f"{srv.url}/v1/models", headers={"Authorization": "Bearer sk-guess",
                                                            "X-Forwarded-For": f"10.0.0.{i}"}).status_code
                 for i in range(8)]
    assert codes == [401] * 8  # each forwarded client has its own bucket behind a trusted proxy


def test_langchain_chat_openai(live_server):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=live_server.url + "/v1", api_key="no-key-needed", model="base", max_tokens=16,
                     max_retries=0, temperature=0)
    name = "Zorbalina"
    out = llm.invoke([("human", f"My name is {name}."), ("ai", f"Nice to meet you, {name}!"),
                      ("human", "What is my name?")])
    assert name in out.content
