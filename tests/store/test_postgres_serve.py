"""``ragtune serve`` over a knowledge base on PostgreSQL: the same routes, nothing of the server leaks."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from tests.conftest import squad_paragraphs
from tests.serve.conftest import make_settings

from ragtune.kb import KnowledgeBase

pytest.importorskip("fastapi", reason="the serve tests need the serve extra")


def test_the_api_searches_and_updates_a_postgres_kb(tmp_path, pg_url):
    from fastapi.testclient import TestClient

    from ragtune.serve.app import create_app

    src = tmp_path / "src"
    src.mkdir()
    (src / "superbowl.jsonl").write_text("".join(json.dumps(r) + "\n" for r in squad_paragraphs(3)))
    settings = make_settings(tmp_path / "data", f"store.url={pg_url}")
    kb = KnowledgeBase.create(settings, "facts")
    assert kb.ingest([src / "superbowl.jsonl"], show_progress=False).version == 1
    with TestClient(create_app(settings)) as client:
        info = client.get("/v1/kbs/facts").json()
        assert info["store"] == "postgres" and info["version"] == 1 and info["chunks"] >= 3
        shown = json.dumps(info)  # neither the server's address nor the database name is shown
        assert "postgresql://" not in shown and urlsplit(pg_url).path.strip("/") not in shown
        r = client.post("/v1/kbs/facts/search", json={"query": "Which team won Super Bowl 50?", "top_k": 2})
        hits = r.json()["data"]
        assert r.status_code == 200 and len(hits) == 2 and "Super Bowl" in hits[0]["text"]
        r = client.post("/v1/kbs/facts/documents", files={"file": ("moon.txt", b"The moon base Zephyr-9 was "
                                                                                b"founded by Captain Ilse Marrow.")})
        assert r.status_code < 300, r.text
        r = client.post("/v1/kbs/facts/search", json={"query": "Who founded the moon base Zephyr-9?", "top_k": 1})
        assert "Ilse Marrow" in r.json()["data"][0]["text"]
        assert client.get("/v1/kbs/facts").json()["version"] == 2
