"""The HTTP engine asks again after a 429/5xx answer or a timeout, streamed or not, a bounded number of times;
a stream is never asked again once part of its answer has gone out. Against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragtune.config import load_settings
from ragtune.errors import EngineError
from ragtune.generate.base import Generation, GenParams
from ragtune.generate.http import HttpEngine
from ragtune.registry import ModelSpec

MSGS = [{"role": "user", "content": "Who won?"}]


class Script:
    """What the server does for each request, in order (the last step repeats): a status code to answer
    with, "ok" (the answer Denver Broncos), "slow" (nothing for 2 s, then ok) or "cut" (the first piece
    of a stream, then nothing)."""

    def __init__(self, *steps: int | str):
        self.steps, self.seen = list(steps), 0

    def next(self) -> int | str:
        self.seen += 1
        return self.steps[min(self.seen, len(self.steps)) - 1]


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet test output
            pass

        def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            stream = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["stream"]
            step = script.next()
            if isinstance(step, int):
                return self._send(step, json.dumps({"error": {"message": f"busy ({step})"}}).encode())
            if step == "slow":
                time.sleep(2)
            if not stream:
                return self._send(200, json.dumps({"choices": [{"message": {"content": "Denver Broncos"},
                                                                "finish_reason": "stop"}]}).encode())
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for piece in ("Denver", " Broncos"):
                self.wfile.write(f"data: {json.dumps({'choices': [{'delta': {'content': piece}}]})}\n\n".encode())
                self.wfile.flush()
                if step == "cut":
                    time.sleep(2)
                    return
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler


@contextmanager
def serve(script: Script) -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/v1"
    finally:
        srv.shutdown()
        srv.server_close()


def _engine(url: str, timeout: float = 10.0) -> HttpEngine:
    return HttpEngine(ModelSpec("remote", "http", base_url=url, model="m"), load_settings(env={}).generation,
                      timeout=timeout, retries=2, backoff=0.01)


def _streamed(engine: HttpEngine) -> tuple[list[str], Generation]:
    out = list(engine.stream(MSGS, GenParams(max_tokens=8)))
    return out[:-1], out[-1]


@pytest.mark.parametrize("busy", [503, 429])
def test_two_busy_answers_then_the_answer(busy):
    script = Script(busy, busy, "ok")
    with serve(script) as url:
        assert _engine(url).generate(MSGS, GenParams(max_tokens=8)).text == "Denver Broncos"
        assert script.seen == 3
        script.seen = 0
        pieces, gen = _streamed(_engine(url))
    assert pieces == ["Denver", " Broncos"] and gen.text == "Denver Broncos" and script.seen == 3


@pytest.mark.parametrize("how", ["generate", "stream"])
def test_an_endpoint_that_always_fails_gives_up_in_one_line(how):
    script = Script(500)
    with serve(script) as url:
        engine = _engine(url)
        with pytest.raises(EngineError) as e:
            engine.generate(MSGS, GenParams()) if how == "generate" else _streamed(engine)
    assert script.seen == 3  # the first try and two retries, no more
    assert str(e.value) == (f"endpoint {url} failed: HTTP 500 (busy (500)); check base_url, the model name and the key")


def test_a_stream_that_times_out_before_its_first_byte_is_asked_again():
    script = Script("slow", "ok")
    with serve(script) as url:
        pieces, gen = _streamed(_engine(url, timeout=0.5))
    assert gen.text == "Denver Broncos" and script.seen == 2


def test_a_stream_cut_after_its_first_piece_is_not_asked_again():
    script = Script("cut", "ok")
    got: list[str] = []
    with serve(script) as url:
        with pytest.raises(EngineError, match=r"^endpoint \S+ failed: .*check base_url"):
            for piece in _engine(url, timeout=0.5).stream(MSGS, GenParams(max_tokens=8)):
                got.append(piece)
    assert got == ["Denver"] and script.seen == 1  # the piece went out once; no second request repeats it
