"""``serve.parallel``: N llama.cpp contexts on a real uvicorn server, so a short answer sent while a
long one is generating does not wait for it, and greedy answers stay the same text.

Order, not timings: with one context the short answer must finish after the long one (it waits
for the context), with two it must finish first (the long one still decoding). The long answer
counts to 1000; with one context it runs to its ``max_tokens`` (asserted), several seconds on the
bundled model.
"""

from __future__ import annotations

import threading
from pathlib import Path

import openai
import pytest

from tests.serve.conftest import KB, LiveServer, make_settings

pytestmark = pytest.mark.slow

LONG = [{"role": "user", "content": "Count from 1 to 1000, separated by commas: 1, 2, 3,"}]
LONG_TOKENS = 500
SHORT = [{"role": "user", "content": "Name a fruit."}]


def client_for(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="no-key-needed", max_retries=0, timeout=300)


class LongAnswer:
    """A long streamed answer in a thread: ``started`` once its first token arrived, ``done`` at the end."""

    def __init__(self, server, max_tokens: int = LONG_TOKENS):
        self.server, self.max_tokens = server, max_tokens
        self.started, self.done, self.stopped = threading.Event(), threading.Event(), threading.Event()
        self.finish: str | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            stream = client_for(self.server).chat.completions.create(
                model="base", max_tokens=self.max_tokens, stream=True, messages=LONG)
            for ch in stream:
                if self.stopped.is_set():  # the client goes away; the server stops decoding
                    stream.close()
                    break
                if ch.choices and ch.choices[0].delta.content:
                    self.started.set()
                if ch.choices and ch.choices[0].finish_reason:
                    self.finish = ch.choices[0].finish_reason
        except BaseException as e:  # noqa: BLE001 - re-raised by the test
            self.error = e
        finally:
            self.started.set()
            self.done.set()

    def __enter__(self) -> LongAnswer:
        self.thread.start()
        assert self.started.wait(300) and self.error is None, self.error
        return self

    def stop(self) -> None:
        """Hang up before the end (the test has what it needs)."""
        self.stopped.set()

    def __exit__(self, *exc) -> None:
        self.thread.join(600)
        assert self.error is None, self.error
        if not self.stopped.is_set():
            assert self.finish == "length", "the long answer stopped early; it must run to max_tokens"


@pytest.mark.parametrize("parallel, order", [(1, ["long", "short"]), (2, ["short", "long"])])
def test_a_short_answer_does_not_wait_behind_a_long_one(settings, parallel, order):
    s = make_settings(Path(settings.data_dir), f"serve.parallel={parallel}")
    finished: list[str] = []
    with LiveServer(s) as srv:
        c = client_for(srv)
        c.chat.completions.create(model="base", max_tokens=1, messages=SHORT)  # load the model and its contexts
        long = LongAnswer(srv)
        with long:
            short = c.chat.completions.create(model="base", max_tokens=4, messages=SHORT)
            finished.append("long" if long.done.is_set() else "short")
            finished.append("short" if finished[0] == "long" else "long")
            if finished[0] == "short":
                long.stop()  # the order is known; no need to wait for the rest of the long answer
    assert short.choices[0].message.content
    assert finished == order


def test_greedy_answers_are_the_same_text_with_two_contexts(settings, live_server):
    """The same questions, greedy, answered with one context and, with two, while the first context
    decodes a long answer (the threads then split between them): the same text. ``rag`` answers
    go to the reader adapter's engine, its own contexts; they still share the threads."""
    cases = [("base", "Name a fruit."), (f"rag:{KB}", "Who won Super Bowl 50?")]

    def answers(server):
        c = client_for(server)
        out = []
        for model, q in cases:
            r = c.chat.completions.create(model=model, max_tokens=24, messages=[{"role": "user", "content": q}])
            t = r.model_extra["ragtune"]["timings"]
            out.append((r.choices[0].message.content, t["context"]))
        return out

    one = answers(live_server)  # serve.parallel = 1
    assert {ctx for _, ctx in one} == {0.0}
    s = make_settings(Path(settings.data_dir), "serve.parallel=2")
    with LiveServer(s) as srv:
        client_for(srv).chat.completions.create(model="base", max_tokens=1, messages=SHORT)  # load both contexts
        with LongAnswer(srv, max_tokens=1200) as long:
            two = answers(srv)
            overlapped = not long.done.is_set()
            long.stop()
    assert [text for text, _ in two] == [text for text, _ in one]
    assert overlapped, "the long answer ended before the others; they did not decode side by side"
    assert [ctx for (m, _), (_, ctx) in zip(cases, two, strict=True) if m == "base"] == [1.0]
