"""Chat completions with the bundled model: JSON and streamed, and knowledge updates through the API."""

from __future__ import annotations

import json

import pytest

from tests.serve.conftest import KB

pytestmark = pytest.mark.slow

QUESTION = "Which team won Super Bowl 50?"


def ask(client, model: str, question: str, **extra) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": 16, **extra}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def sse(lines) -> list[dict | str]:
    events = []
    for line in lines:
        if line.startswith("data: "):
            data = line[len("data: ") :]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_chat_json_answer_with_citations_and_usage(client):
    out = ask(client, f"rag:{KB}", QUESTION)
    assert out["object"] == "chat.completion" and out["model"] == f"rag:{KB}"
    assert out["id"].startswith("chatcmpl-")
    choice = out["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"].strip()
    assert choice["finish_reason"] in ("stop", "length")
    u = out["usage"]
    assert u["prompt_tokens"] > 50 and 0 < u["completion_tokens"] <= 16
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    cites = out["citations"]
    assert len(cites) == 2  # retrieval.top_k=2 in the test settings
    for c in cites:
        assert {"number", "source", "chunk_id", "text", "chunk_text", "score", "cited"} <= set(c)
        assert c["source"].endswith("superbowl.jsonl") and c["chunk_text"].startswith(c["text"].rstrip("."))
    assert "Super Bowl" in cites[0]["chunk_text"]
    meta = out["ragtune"]
    assert meta["mode"] == "rag" and meta["kb"] == KB and meta["kb_version"] >= 1
    assert meta["timings"]["total_ms"] > 0


def test_usage_counts_the_prompt_tokens_restored_from_the_cache_and_the_answer_does_not_change(client):
    outs = [ask(client, f"rag:{KB}", QUESTION) for _ in range(3)]  # the 2nd saves the shared prefix at the latest
    cached = [o["usage"]["prompt_tokens_details"]["cached_tokens"] for o in outs]
    assert 0 < cached[2] < outs[2]["usage"]["prompt_tokens"]
    assert len({o["choices"][0]["message"]["content"] for o in outs}) == 1


def test_chat_stream_sends_deltas_then_citations_then_done(client):
    body = {
        "model": f"rag:{KB}",
        "stream": True,
        "max_tokens": 12,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": "ignored"}, {"role": "user", "content": QUESTION}],
    }
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse(r.iter_lines())
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len({c["id"] for c in chunks}) == 1 and all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.strip()
    final = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(final) == 1 and len(final[0]["citations"]) == 2
    assert final[0]["ragtune"]["usage"]["completion_tokens"] <= 12
    usage = chunks[-1]
    assert (
        usage["choices"] == []
        and usage["usage"]["completion_tokens"] == final[0]["ragtune"]["usage"]["completion_tokens"]
    )
    m = client.get("/metrics").text
    assert 'ragtune_tokens_total{kind="completion",mode="rag"}' in m
    assert "ragtune_time_to_first_token_seconds_count" in m


def test_upload_then_ask_then_delete_then_ask(client):
    """A document added through the API answers the very next request; deleted, it no longer does."""
    q = "When is the Zorblax lantern festival held in Quentin Falls?"
    fact = (
        b"# Zorblax lantern festival\n\nThe Zorblax lantern festival is held every June in Quentin Falls. "
        b"Thousands of paper lanterns float down the Quentin river on the first Saturday of June.\n"
    )
    before = ask(client, f"rag:{KB}", q)
    assert not any("zorblax" in c["source"] for c in before["citations"])
    up = client.post(f"/v1/kbs/{KB}/documents", files={"file": ("zorblax.md", fact, "text/markdown")})
    assert up.status_code == 200 and up.json()["files"][0]["status"] == "added"
    after = ask(client, f"rag:{KB}", q)
    assert after["ragtune"]["kb_version"] == up.json()["version"]
    assert after["citations"][0]["source"] == f"uploads/{KB}/zorblax.md"
    assert "Zorblax" in after["citations"][0]["chunk_text"]
    assert not after["ragtune"]["abstained"]
    gone = client.delete(f"/v1/kbs/{KB}/documents/zorblax.md")
    assert gone.status_code == 200 and gone.json()["version"] == up.json()["version"] + 1
    again = ask(client, f"rag:{KB}", q)
    assert again["ragtune"]["kb_version"] == gone.json()["version"]
    assert not any("zorblax" in c["source"] for c in again["citations"])
    old = ask(client, f"rag:{KB}", q, as_of=up.json()["version"])  # the earlier version still has it
    assert old["citations"][0]["source"] == f"uploads/{KB}/zorblax.md"
