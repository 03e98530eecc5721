"""``POST /v1/classify`` with a real (small) classifier: MiniLM embeddings and a linear head."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.train import classify as classify_mod
from tests.serve.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def classifier(settings) -> str:
    rows = [
        json.loads(line) for line in (ROOT / "examples/sentiment/data/train.jsonl").read_text().splitlines()
    ]
    rows = rows[:90]
    out = Path(settings.data_dir) / "models" / "senti"
    classify_mod.train_classifier(
        rows[:75], rows[75:], out, method="embedder", settings=settings, head_steps=60
    )
    return "senti"


def test_classify_lists_and_labels_texts(client, classifier):
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert f"classify:{classifier}" in ids and f"ft:{classifier}" not in ids  # not offered as a chat pipeline
    texts = [
        "@united thank you so much, great flight and lovely crew!",
        "@AmericanAir lost my bag again. Awful.",
    ]
    r = client.post("/v1/classify", json={"model": f"classify:{classifier}", "input": texts})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    labels = set(
        json.loads(
            (
                Path(client.app.state.ragtune.settings.data_dir) / "models" / classifier / "labels.json"
            ).read_text()
        )["labels"]
    )
    assert [d["index"] for d in data] == [0, 1]
    for d in data:
        assert d["label"] in labels and set(d["scores"]) == labels
        assert sum(d["scores"].values()) == pytest.approx(1.0, abs=1e-4)
        assert d["scores"][d["label"]] == max(d["scores"].values())
    one = client.post("/v1/classify", json={"model": classifier, "input": texts[0]}).json()["data"]
    assert one[0]["label"] == data[0]["label"]
    r = client.post(
        "/v1/chat/completions",
        json={"model": f"ft:{classifier}", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code in (400, 404) and "classif" in r.json()["error"]["message"]
