"""A RAG follow-up whose retrieval needs the earlier turn, with the official ``openai`` client on a real
uvicorn server over a knowledge base of the 99 SQuAD paragraphs in ``examples/knowledge`` (Super
Bowl 50 and the Normans).

"What stadium did it take place in?" alone does not retrieve the paragraph that answers it
(``squad:Super_Bowl_50:0``); after "Tell me about Super Bowl 50." the server searches with the
bundled model's standalone rewrite ("What stadium did Super Bowl 50 take place in?"), which does.
The rewrite of the 135M model is right for this follow-up, not for every one: over 60 SQuAD dev
follow-ups it found the gold paragraph in the top 3 for 43, the follow-up as asked for 41
(benchmarks/RESULTS.md, "Conversational follow-ups").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import squad_paragraphs
from tests.serve.conftest import LiveServer, make_settings

pytestmark = pytest.mark.slow

FIRST = "Tell me about Super Bowl 50."
FOLLOW_UP = "What stadium did it take place in?"
GOLD = "squad:Super_Bowl_50:0"


@pytest.fixture(scope="module")
def squad_server(tmp_path_factory) -> Iterator[LiveServer]:
    from ragtune.kb import KnowledgeBase

    d = tmp_path_factory.mktemp("followup")
    rows = squad_paragraphs()
    assert {r["title"] for r in rows} == {"Super Bowl 50", "Normans"} and len(rows) == 99
    (d / "paragraphs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = make_settings(d / "data")
    kb = KnowledgeBase.create(s, "squad", "the SQuAD paragraphs of examples/knowledge")
    assert kb.ingest([d / "paragraphs.jsonl"], show_progress=False).chunks_added >= 99
    with LiveServer(s) as srv:
        yield srv


def ask(server: LiveServer, messages: list[dict]) -> tuple[str, str, list[str]]:
    """The answer, the query the server searched with, and the paragraph ids of the top 3 passages."""
    c = openai.OpenAI(base_url=server.url + "/v1", api_key="no-key-needed", max_retries=0, timeout=120)
    out = c.chat.completions.create(model="rag:squad", max_tokens=24, messages=messages, extra_body={"top_k": 3})
    extra = out.model_extra
    return (out.choices[0].message.content, extra["ragtune"]["search_query"],
            [cit["doc_id"].split("#")[-1] for cit in extra["citations"]])


def test_a_follow_up_is_searched_with_its_standalone_rewrite(squad_server):
    answer, query, _ = ask(squad_server, [{"role": "user", "content": FIRST}])
    assert query == FIRST  # a first question is searched as asked
    alone_query, alone_top3 = ask(squad_server, [{"role": "user", "content": FOLLOW_UP}])[1:]
    assert alone_query == FOLLOW_UP and GOLD not in alone_top3  # the follow-up alone misses the paragraph
    _, rewrite, top3 = ask(squad_server, [{"role": "user", "content": FIRST},
                                          {"role": "assistant", "content": answer},
                                          {"role": "user", "content": FOLLOW_UP}])
    assert rewrite != FOLLOW_UP and "Super Bowl 50" in rewrite
    assert len(top3) == 3 and GOLD in top3


def test_without_rewrite_the_follow_up_is_searched_as_asked(squad_server):
    """``serve.query_rewrite = "none"``: the conversation still reaches the model, the search does not use it."""
    s = make_settings(Path(squad_server.app.state.ragtune.settings.data_dir), "serve.query_rewrite=none")
    with LiveServer(s) as srv:
        _, query, top3 = ask(srv, [{"role": "user", "content": FIRST}, {"role": "assistant", "content": "Sure."},
                                   {"role": "user", "content": FOLLOW_UP}])
    assert query == FOLLOW_UP and GOLD not in top3
