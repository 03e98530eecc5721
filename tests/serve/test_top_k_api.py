"""The server refuses top_k < 1 and a blank query with a 400 in OpenAI's error shape (no generation runs)."""

from __future__ import annotations

import pytest

from tests.serve.conftest import KB

QUERY = "Which team won Super Bowl 50?"


def openai_400(r) -> dict:
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    err = body["error"]
    assert err["type"] == "invalid_request_error" and "\n" not in err["message"]
    return err


@pytest.mark.parametrize("top_k", [0, -1])
def test_kb_search_rejects_top_k_below_one(client, top_k):
    err = openai_400(client.post(f"/v1/kbs/{KB}/search", json={"query": QUERY, "top_k": top_k}))
    assert err["param"] == "top_k" and "top_k" in err["message"]


def test_kb_search_default_and_explicit_top_k(client, settings):
    r = client.post(f"/v1/kbs/{KB}/search", json={"query": QUERY, "top_k": None})
    assert r.status_code == 200 and len(r.json()["data"]) == settings.retrieval.top_k
    r = client.post(f"/v1/kbs/{KB}/search", json={"query": QUERY, "top_k": 1})
    assert r.status_code == 200 and len(r.json()["data"]) == 1


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_kb_search_rejects_a_blank_query(client, query):
    err = openai_400(client.post(f"/v1/kbs/{KB}/search", json={"query": query}))
    assert "query" in err["message"]


@pytest.mark.parametrize("top_k", [0, -1])
@pytest.mark.parametrize("stream", [False, True])
def test_chat_rejects_top_k_below_one(client, top_k, stream):
    body = {"model": f"rag:{KB}", "messages": [{"role": "user", "content": QUERY}], "max_tokens": 4,
            "top_k": top_k, "stream": stream}
    err = openai_400(client.post("/v1/chat/completions", json=body))
    assert err["param"] == "top_k" and "top_k" in err["message"]
