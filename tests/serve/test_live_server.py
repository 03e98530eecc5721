"""A real uvicorn server on a loopback port, driven by the official ``openai`` client and by httpx."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from tests.serve.conftest import KB

pytestmark = pytest.mark.slow


def client_for(server, key: str = "no-key-needed"):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=120)


def test_openai_client_lists_models_and_chats(live_server):
    c = client_for(live_server)
    ids = [m.id for m in c.models.list()]
    assert "base" in ids and f"rag:{KB}" in ids
    out = c.chat.completions.create(
        model=f"rag:{KB}", max_tokens=16, messages=[{"role": "user", "content": "Who won Super Bowl 50?"}]
    )
    assert out.choices[0].message.content.strip()
    assert out.usage.completion_tokens <= 16 and out.usage.prompt_tokens > 0
    extra = out.model_extra or {}
    assert len(extra["citations"]) == 2 and extra["ragtune"]["kb"] == KB


def test_openai_client_streams(live_server):
    c = client_for(live_server)
    stream = c.chat.completions.create(
        model="base",
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Name a colour."}],
    )
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces).strip() and finish in ("stop", "length")
    assert usage is not None and 0 < usage.completion_tokens <= 12


def test_openai_client_errors(live_server, keyed_server):
    with pytest.raises(openai.NotFoundError) as e:
        client_for(live_server).chat.completions.create(
            model="rag:missing-kb", messages=[{"role": "user", "content": "hi"}]
        )
    assert "no knowledge base 'missing-kb'" in str(e.value)
    with pytest.raises(openai.AuthenticationError):
        client_for(keyed_server, "sk-wrong").models.list()
    assert [m.id for m in client_for(keyed_server, "sk-test-ro").models.list()]
    r = httpx.post(
        f"{keyed_server.url}/v1/kbs/{KB}/documents",
        headers={"Authorization": "Bearer sk-test-ro"},
        files={"file": ("x.txt", b"text", "text/plain")},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "read_only_key"


def test_requests_are_served_while_an_upload_ingests(live_server):
    """Searches and metadata answer while an ingest runs in its worker thread."""
    url = live_server.url
    text = "\n\n".join(f"Paragraph {i} about the harbour of Quentin Falls and its boats." for i in range(300))
    result = {}

    def upload():
        files = {"file": ("harbour.txt", text.encode(), "text/plain")}
        result["r"] = httpx.post(f"{url}/v1/kbs/{KB}/documents", files=files, timeout=120)

    t = threading.Thread(target=upload)
    t.start()
    served = 0
    with httpx.Client(base_url=url, timeout=30) as h:
        while t.is_alive() or served < 3:
            assert h.get("/health").status_code == 200
            r = h.post(f"/v1/kbs/{KB}/search", json={"query": "Super Bowl 50 champion", "top_k": 1})
            assert r.status_code == 200 and r.json()["data"]
            served += 1
    t.join()
    assert result["r"].status_code == 200 and result["r"].json()["files"][0]["status"] == "added"
    assert served >= 3
    assert httpx.delete(f"{url}/v1/kbs/{KB}/documents/harbour.txt").status_code == 200


def test_a_client_leaving_mid_stream_frees_the_engine(live_server):
    """The abandoned generation stops and releases the engine: the next request is answered."""
    body = {
        "model": "base",
        "stream": True,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper."}],
    }
    with httpx.Client(base_url=live_server.url, timeout=120) as h:
        with h.stream("POST", "/v1/chat/completions", json=body) as r:
            for line in r.iter_lines():
                if '"content": "' in line and '"role"' not in line:
                    break  # one token arrived: leave
        out = h.post(
            "/v1/chat/completions",
            json={"model": "base", "max_tokens": 8, "messages": [{"role": "user", "content": "Say hello."}]},
        )
        assert out.status_code == 200 and out.json()["choices"][0]["message"]["content"]
        deadline = time.monotonic() + 60
        while h.get("/health").json()["generations_in_flight"] != 0:
            assert time.monotonic() < deadline, "a generation was left running"
            time.sleep(0.1)
    # a finished answer is logged; the abandoned one was stopped before it finished, so it is not
    from ragtune.runlog import RunLog

    log = RunLog(live_server.app.state.ragtune.settings.data_dir)
    questions = [log.get(r["id"])["config"]["question"] for r in log.list("ask", limit=500)]
    assert "Say hello." in questions and body["messages"][0]["content"] not in questions
