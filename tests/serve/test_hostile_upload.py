"""Hostile uploads: a deeply nested JSON file is a clear 4xx (or one failed file), never a 500."""

from __future__ import annotations

from tests.serve.conftest import KB
from tests.serve.test_api import assert_openai_error

DEEP_ARRAY = b"[" * 10000 + b"]" * 10000


def test_deep_json_upload_alone_is_a_400_naming_the_limit(client, data_dir):
    before = client.get(f"/v1/kbs/{KB}").json()
    r = client.post(f"/v1/kbs/{KB}/documents", files={"file": ("deep.json", DEEP_ARRAY, "application/json")})
    err = assert_openai_error(r, 400, "ingest_failed")
    assert "deep.json" in err["message"] and "ingest.json_max_depth" in err["message"]
    assert "Recursion" not in err["message"] and str(data_dir) not in err["message"]
    after = client.get(f"/v1/kbs/{KB}").json()
    assert (after["version"], after["chunks"]) == (before["version"], before["chunks"])
    assert not (data_dir / "uploads" / KB / "deep.json").exists()


def test_deep_json_next_to_a_good_file_is_listed_as_failed(client):
    good = b"The Eddystone lighthouse was rebuilt four times between 1698 and 1882."
    r = client.post(
        f"/v1/kbs/{KB}/documents",
        files=[("file", ("deep.jsonl", DEEP_ARRAY + b"\n", "application/x-ndjson")),
               ("file", ("eddystone.txt", good, "text/plain"))],
    )
    assert r.status_code == 200, r.text
    files = {f["name"]: f for f in r.json()["files"]}
    assert files["eddystone.txt"]["status"] == "added"
    deep = files["deep.jsonl"]
    assert deep["status"] == "failed" and "ingest.json_max_depth" in deep["error"]
    assert deep["error"].startswith("deep.jsonl: line 1 nests 10000 levels deep")
    assert client.delete(f"/v1/kbs/{KB}/documents/eddystone.txt").json()["deleted"] is True


def test_an_unexpected_error_is_a_500_without_exception_type_or_path(settings):
    from fastapi.testclient import TestClient

    from ragtune.serve.app import create_app

    app = create_app(settings)

    def broken():  # a bug anywhere in a route: here, a missing file named by its absolute path
        open(f"{settings.data_dir}/no/such/file.txt")

    app.add_api_route("/v1/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/v1/broken")
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["type"] == "server_error" and err["code"] == "internal_error"
    assert err["message"].startswith("internal error (incident ") and "bug in ragtune" in err["message"]
    assert "FileNotFoundError" not in r.text and "/" not in err["message"] and "file.txt" not in r.text
