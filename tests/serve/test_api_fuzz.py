"""An API fuzz run: schemathesis sends requests generated from the app's own OpenAPI schema to
every operation, in process (ASGI), and no answer may be a 5xx or show the server's insides.

Each operation gets a bounded, derandomized set of examples (the same on every run), so the run
fits in ``make test``. The app serves its own data folder with one small knowledge base
(``fuzz``, ingested from a file inside that folder, so a source path shown in a body is relative
and any absolute path in a body is a leak); requests may create knowledge bases and upload to it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.serve.conftest import CORPUS, ROOT, make_settings

KB = "fuzz"
EXCEPTION_NAME = re.compile(r"\b[A-Z]\w*(?:Error|Exception)\b|\b(?:StopIteration|KeyboardInterrupt|Traceback)\b")
FS_PATH = re.compile(r"(?<![\w.])/(?:tmp|home|root|usr|etc|var|opt|srv|mnt|work|Users|private)/[^\s\"']*")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    from ragtune.kb import KnowledgeBase

    d = tmp_path_factory.mktemp("api-fuzz")
    src = d / "sources" / "superbowl.jsonl"
    src.parent.mkdir()
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines()[:3]]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    KnowledgeBase.create(make_settings(d), KB, "three SQuAD paragraphs").ingest([src], show_progress=False)
    return d


@pytest.fixture
def api_schema(data_dir):
    """A new app each test: schemathesis's pytest plugin ends an ASGI app's lifespan (which shuts
    its generation threads down) when the test that used it ends."""
    from ragtune.serve.app import create_app

    return schemathesis.openapi.from_asgi("/openapi.json", create_app(make_settings(data_dir)))


def operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the app's schema (building the app touches no disk)."""
    from ragtune.serve.app import create_app

    app = create_app(make_settings(Path("/nonexistent/ragtune-api-fuzz")))
    return [(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops]


def leaks(body: str, sent: str, data_dir: Path) -> list[str]:
    """What ``body`` shows of the server's insides: a traceback, an exception class, a file path.

    A path the request itself sent (an echoed URL) is not a leak.
    """
    found = EXCEPTION_NAME.findall(body) + [p for p in FS_PATH.findall(body) if p not in sent]
    roots = {str(data_dir.resolve()), str(ROOT), sys.prefix}
    return found + [r for r in roots if r in body and r not in sent]


OPERATIONS = operations()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_generated_request_gets_a_5xx_or_a_body_with_internals(api_schema, data_dir, method, path):
    """Requests that fit the schema and requests that break it; for a knowledge-base route, also
    ones aimed at the real knowledge base, so they get past the 404."""
    op = api_schema[path][method]
    strategies = [op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)]
    if "{kb}" in path:
        strategies.append(op.as_strategy(GenerationMode.POSITIVE, path_parameters={"kb": KB}))

    @settings(max_examples=25, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def fuzz(case):
        response = case.call()
        sent = f"{case.path} {case.path_parameters} {case.query} {case.body}"
        where = f"{case.method} {case.formatted_path}"
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
        assert not leaks(response.text, sent, data_dir), f"{where}: {response.text}"

    fuzz()


PIPELINES = ["base", "base", *[f"rag:{KB}"] * 4, "rag:nope", "ft:nope", f"ft+rag:nope:{KB}", "classify:nope"]
ROLES = ["system", "user", "user", "assistant", "assistant", "tool"]
MESSAGES = st.lists(st.fixed_dictionaries({"role": st.sampled_from(ROLES),
                                           "content": st.text(max_size=40) | st.none()}), min_size=1, max_size=3)


@st.composite
def aimed(draw, op) -> schemathesis.Case:
    """A request that fits the schema, aimed at a real pipeline with real roles and 4 new tokens at
    most, so the model runs (briefly) and the rest of the request's fields are what gets fuzzed."""
    case = draw(op.as_strategy(GenerationMode.POSITIVE))
    body = {k: v for k, v in case.body.items() if k != "max_completion_tokens"}
    body.update(model=draw(st.sampled_from(PIPELINES)), max_tokens=4)
    if "messages" in body:
        body["messages"] = draw(MESSAGES) + [{"role": "user", "content": draw(st.text(min_size=1, max_size=60))}]
    case.body = body
    return case


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_requests_that_reach_the_model_get_no_5xx_or_internals(api_schema, data_dir, path):
    """The bundled generator answers each one: generation and its error paths, streamed or not."""

    @settings(max_examples=20, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=aimed(api_schema[path]["POST"]))
    def fuzz(case):
        response = case.call()
        sent = f"{case.path} {case.body}"
        where = f"POST {case.path} {json.dumps(case.body)[:300]}"
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
        assert not leaks(response.text, sent, data_dir), f"{where}: {response.text}"

    fuzz()
