"""A 500 body names no exception type and no absolute path; the server log keeps the detail.

An engine's error keeps its message, with each path cut to the file's name; a bug, even one
that strikes mid-stream, is an incident id whose traceback is in the server log.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from ragtune.errors import EngineError
from ragtune.serve.app import create_app
from ragtune.serve.errors import from_ragtune, without_paths
from tests.serve.conftest import make_settings
from tests.serve.test_api import assert_openai_error

ASK = {"model": "base", "messages": [{"role": "user", "content": "Who won Super Bowl 50?"}], "max_tokens": 4}


def test_absolute_paths_are_cut_to_file_names_and_urls_are_kept():
    e = EngineError("llama.cpp could not load model /home/me/models/q4.gguf: Failed to load model from file: "
                    "/home/me/models/q4.gguf; check the file is a valid GGUF")
    err = from_ragtune(e)
    assert (err.status, err.code) == (500, "engine_error")
    assert err.message == ("llama.cpp could not load model q4.gguf: Failed to load model from file: q4.gguf; "
                           "check the file is a valid GGUF")
    assert without_paths("transformers could not load /srv/hf/smollm/: no config.json") == (
        "transformers could not load smollm/: no config.json")
    url = "endpoint http://127.0.0.1:8080/v1 failed: 503 Service Unavailable; check the server"
    assert without_paths(url) == url


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", ASK),
    ("/v1/chat/completions", {**ASK, "stream": True}),  # fails before the first byte: a real status
    ("/v1/completions", {"model": "base", "prompt": "Super Bowl 50 was won by", "max_tokens": 4}),
])
def test_a_model_file_that_cannot_load_is_a_500_naming_the_file_not_its_path(tmp_path, path, body):
    model = tmp_path / "models" / "broken.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF" + bytes(range(256)) * 8)  # the magic, then junk
    app = create_app(make_settings(tmp_path / "data", f"models.generator={model}"))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post(path, json=body)
    err = assert_openai_error(r, 500, "engine_error")
    assert err["type"] == "server_error"
    assert "llama.cpp could not load" in err["message"] and "broken.gguf" in err["message"], err
    assert str(tmp_path) not in r.text and "/models/" not in r.text


def test_a_bug_mid_stream_is_an_error_event_with_an_incident_id_only(settings, monkeypatch, caplog):
    import ragtune.serve.routes.chat as chat

    def answer_then_bug(run, pool):  # the first token goes out, then a bug naming a path
        async def events():
            yield "The Broncos"
            raise OSError(2, "No such file or directory", "/srv/ragtune/private/notes.txt")

        return events()

    monkeypatch.setattr(chat, "iterate_in_thread", answer_then_bug)
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/chat/completions", json={**ASK, "stream": True})
    assert r.status_code == 200  # the headers were gone when the bug struck
    events = [json.loads(line.removeprefix("data: ")) for line in r.text.splitlines() if line.startswith("data: {")]
    assert events[1]["choices"][0]["delta"] == {"content": "The Broncos"}
    err = events[-1]["error"]
    assert (err["type"], err["code"]) == ("server_error", "internal_error")
    assert err["message"].startswith("generation failed (incident ") and "bug in ragtune" in err["message"]
    assert r.text.rstrip().endswith("data: [DONE]")
    for secret in ("OSError", "No such file", "/srv", "notes.txt"):
        assert secret not in r.text
    incident = re.search(r"incident (\w+)", err["message"]).group(1)
    [record] = [rec for rec in caplog.records if incident in rec.getMessage()]
    assert record.exc_info[1].filename == "/srv/ragtune/private/notes.txt"  # the log keeps the detail
