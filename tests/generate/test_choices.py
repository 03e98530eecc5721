"""Constrained answers (``GenParams.choices``): the grammar, each engine's way of keeping to the choices."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragtune.config import load_settings
from ragtune.errors import EngineError
from ragtune.generate.base import GenParams, check_choices, choice_grammar, get_engine
from ragtune.generate.http import HttpEngine
from ragtune.registry import ModelSpec, resolve

LABELS = ["great", "other"]
TWEETS = [  # real tweets from examples/sentiment/data/test.jsonl
    "@united service by staff was great as usual.",
    "#DeflateGate. #SuperBowlXLIX. #TomBrady. #Patriots. #Colts. #GoSeahawks. about sums it up.",
    "A self driving car ? Whaaattt ?!",
    "@USAirways US 728. Nope, not getting off. 3 hours in the plane. 4 pilot announcements.",
]


def classify(text: str, labels: list[str]) -> list[dict[str, str]]:
    return [{"role": "system", "content": f"Classify the customer's message. Labels: {', '.join(labels)}."},
            {"role": "user", "content": f"Message: {text}\nLabel:"}]


def test_grammar_is_an_alternation_of_escaped_literals():
    assert choice_grammar(["great", "other"]) == 'root ::= "great" | "other"'
    assert choice_grammar(['say "hi"', "a\\b", "two\nlines"]) == r'root ::= "say \"hi\"" | "a\\b" | "two\nlines"'
    assert choice_grammar(["x", "x"]) == 'root ::= "x"'  # duplicates once


@pytest.mark.parametrize("bad", [[], [""], ["great", "  "]])
def test_empty_choices_are_one_clear_error(bad):
    with pytest.raises(EngineError, match="non-empty list of non-empty strings"):
        check_choices(bad)


# ---- HTTP: a loopback OpenAI-compatible server that records what it was sent -------------------

class _Server:
    def __init__(self, refuse_choice_fields: bool, answer: str):
        self.bodies: list[dict] = []
        self.refuse_all = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                if outer.refuse_all or (refuse_choice_fields and ("guided_choice" in body or "grammar" in body)):
                    self._send(400, {"error": {"message": "Unrecognized request argument supplied: guided_choice"}})
                    return
                self._send(200, {"choices": [{"message": {"content": answer}, "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 9, "completion_tokens": 1}})

            def _send(self, status, data):
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    made = []

    def make(refuse: bool, answer: str = "great") -> _Server:
        made.append(_Server(refuse, answer))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _engine(url: str) -> HttpEngine:
    return HttpEngine(ModelSpec("remote", "http", base_url=url, model="m"), load_settings(env={}).generation)


def test_http_sends_the_choices_in_the_fields_servers_read(server_factory):
    srv = server_factory(refuse=False)
    g = _engine(srv.url).generate(classify(TWEETS[0], LABELS), GenParams(max_tokens=4, choices=LABELS))
    assert g.text == "great"
    assert srv.bodies[0]["guided_choice"] == LABELS
    assert srv.bodies[0]["grammar"] == 'root ::= "great" | "other"'


def test_http_endpoint_that_refuses_the_fields_is_asked_again_without_them(server_factory):
    srv = server_factory(refuse=True, answer="This customer's message")
    eng = _engine(srv.url)
    pieces = list(eng.stream(classify(TWEETS[0], LABELS), GenParams(max_tokens=4, choices=LABELS)))
    assert pieces[-1].text == "This customer's message"  # unconstrained: the caller must check it
    assert [("guided_choice" in b) for b in srv.bodies] == [True, False]
    eng.generate(classify(TWEETS[1], LABELS), GenParams(max_tokens=4, choices=LABELS))
    assert "guided_choice" not in srv.bodies[-1] and len(srv.bodies) == 3  # not sent again
    # Free text never carried the fields.
    eng.generate(classify(TWEETS[1], LABELS), GenParams(max_tokens=4))
    assert "grammar" not in srv.bodies[-1]


def test_a_second_refusal_is_a_real_error_not_a_loop(server_factory):
    srv = server_factory(refuse=True, answer="x")
    srv.refuse_all = True
    eng = _engine(srv.url)
    with pytest.raises(EngineError, match="HTTP 400"):
        eng.generate(classify(TWEETS[0], LABELS), GenParams(max_tokens=4, choices=LABELS))
    assert len(srv.bodies) == 2 and "guided_choice" not in srv.bodies[1]


# ---- the local engines on the bundled model -------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("engine", ["llama.cpp", "transformers"])
def test_local_engines_answer_only_with_a_choice(engine):
    s = load_settings(env={}, overrides=[f"generation.engine={engine}"])
    eng = get_engine(resolve("smollm2-135m-instruct"), s.generation)
    free = [eng.generate(classify(t, LABELS), GenParams(max_tokens=4)).text for t in TWEETS]
    assert any(a not in LABELS for a in free)  # unconstrained, the bundled model wanders off the labels
    three = ["great", "other", "not sure at all"]  # a multi-token choice fits too
    for t in TWEETS:
        for labels in (LABELS, three):
            g = eng.generate(classify(t, labels), GenParams(max_tokens=4, choices=labels))
            assert g.text in labels, (t, g.text)
            assert g.timings["threads"] >= 1


@pytest.mark.slow
def test_transformers_scores_are_the_choice_likelihoods():
    """The batched, padded scores equal each choice scored alone, token by token."""
    import torch

    s = load_settings(env={}, overrides=["generation.engine=transformers"])
    eng = get_engine(resolve("smollm2-135m-instruct"), s.generation)
    labels = ["great", "other", "not sure at all"]
    msgs = classify(TWEETS[0], labels)
    g = eng.generate(msgs, GenParams(max_tokens=4, choices=labels))
    assert set(g.choice_logprobs) == set(labels) and g.text == max(labels, key=g.choice_logprobs.get)
    prompt = eng.tok(eng.render(msgs), add_special_tokens=False)["input_ids"]
    for label in labels:
        cont = eng.tok(label, add_special_tokens=False)["input_ids"] + [eng.tok.eos_token_id]
        with torch.inference_mode():
            logits = eng.model(input_ids=torch.tensor([prompt + cont])).logits[0]
        logp = torch.log_softmax(logits.float(), -1)
        alone = sum(float(logp[len(prompt) - 1 + j, tok]) for j, tok in enumerate(cont))
        assert g.choice_logprobs[label] == pytest.approx(alone, abs=1e-3)
