"""The API without generation: listing, errors in OpenAI's shape, auth, limits, uploads, reports, metrics."""

from __future__ import annotations

import json

import pytest

from tests.serve.conftest import KB, app_client


def assert_openai_error(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    if code:
        assert err["code"] == code
    return err


def test_health_and_models(client):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["auth"] is False and h["knowledge_bases"] >= 1
    models = client.get("/v1/models").json()
    assert models["object"] == "list"
    ids = {m["id"] for m in models["data"]}
    assert {"base", f"rag:{KB}"} <= ids
    one = client.get(f"/v1/models/rag:{KB}").json()
    assert one["object"] == "model" and one["ragtune"] == {
        "mode": "rag",
        "model": None,
        "kb": KB,
        "task": "chat",
    }


def test_malformed_json_is_400_in_openai_shape(client):
    r = client.post(
        "/v1/chat/completions",
        content=b'{"model": "base", "messages": [',
        headers={"Content-Type": "application/json"},
    )
    err = assert_openai_error(r, 400)
    assert err["type"] == "invalid_request_error" and "not valid JSON" in err["message"]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "base", "messages": []}, "messages"),
        ({"model": "base", "messages": [{"role": "system", "content": "be brief"}]}, "messages"),
        ({"model": "base", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
        ({"model": "base", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n"),
    ],
)
def test_invalid_requests_name_the_field(client, body, param):
    err = assert_openai_error(client.post("/v1/chat/completions", json=body), 400)
    assert err["param"] == param


@pytest.mark.parametrize(
    "model, needle",
    [
        ("gpt-4o", "name a pipeline"),
        ("rag:no-such-kb", "no knowledge base 'no-such-kb'"),
        ("ft:no-such-model", "no trained model 'no-such-model'"),
        ("ft+rag:no-such-model:facts", "no trained model"),
        ("base:/etc/passwd", "name a pipeline"),
        ("base:not-a-registry-model", "not a generator in the registry"),
    ],
)
def test_unknown_model_is_404_in_openai_shape(client, model, needle):
    r = client.post(
        "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]}
    )
    err = assert_openai_error(r, 404, "model_not_found")
    assert err["type"] == "not_found_error" and err["param"] == "model" and needle in err["message"]
    assert_openai_error(client.get(f"/v1/models/{model}"), 404, "model_not_found")


def test_unknown_route_and_method(client):
    assert_openai_error(client.get("/v1/nothing-here"), 404)
    assert_openai_error(client.delete("/v1/models"), 405)


def test_request_size_limit_413(settings):
    with app_client(settings, "serve.max_request_mb=0.001") as c:  # about 1 KB
        big = {"model": "base", "messages": [{"role": "user", "content": "x" * 5000}]}
        err = assert_openai_error(c.post("/v1/chat/completions", json=big), 413, "request_too_large")
        assert "serve.max_request_mb" in err["message"]

        def chunked():  # no Content-Length: the limit is counted as the body arrives
            for _ in range(10):
                yield b"x" * 500

        r = c.post("/v1/kbs/facts/search", content=chunked(), headers={"Content-Type": "application/json"})
        assert_openai_error(r, 413, "request_too_large")


def test_upload_size_limit_413(settings):
    with app_client(settings, "serve.max_upload_mb=0.01") as c:
        r = c.post(f"/v1/kbs/{KB}/documents", files={"file": ("big.txt", b"word " * 5000, "text/plain")})
        err = assert_openai_error(r, 413, "request_too_large")
        assert "serve.max_upload_mb" in err["message"]
        assert "big.txt" not in [d["name"] for d in c.get(f"/v1/kbs/{KB}/documents").json()["data"]]


def test_auth_missing_wrong_and_read_only_keys(settings):
    with app_client(settings, 'serve.api_keys=["sk-rw"]', 'serve.read_only_keys=["sk-ro"]') as c:
        assert c.get("/health").status_code == 200  # health and the page stay public
        assert c.get("/").status_code == 200
        err = assert_openai_error(c.get("/v1/models"), 401, "missing_api_key")
        assert "Authorization: Bearer" in err["message"]
        assert_openai_error(
            c.get("/v1/models", headers={"Authorization": "Bearer sk-nope"}), 401, "invalid_api_key"
        )
        assert_openai_error(c.get("/v1/models", headers={"Authorization": "sk-rw"}), 401, "invalid_api_key")
        assert_openai_error(c.get("/metrics"), 401)
        ro = {"Authorization": "Bearer sk-ro"}
        assert c.get("/v1/models", headers=ro).status_code == 200
        assert c.get(f"/v1/kbs/{KB}", headers=ro).status_code == 200
        assert c.post(f"/v1/kbs/{KB}/search", json={"query": "Super Bowl"}, headers=ro).status_code == 200
        r = c.post(
            f"/v1/kbs/{KB}/documents", headers=ro, files={"file": ("a.txt", b"some text", "text/plain")}
        )
        assert_openai_error(r, 403, "read_only_key")
        assert_openai_error(c.delete(f"/v1/kbs/{KB}/documents/anything", headers=ro), 403, "read_only_key")
        assert_openai_error(c.post("/v1/kbs", json={"name": "ro-made"}, headers=ro), 403, "read_only_key")
        rw = {"Authorization": "Bearer sk-rw"}
        r = c.post("/v1/kbs", json={"name": "rw-made", "description": "made in a test"}, headers=rw)
        assert r.status_code == 201 and r.json()["name"] == "rw-made" and r.json()["chunks"] == 0
        assert_openai_error(c.post("/v1/kbs", json={"name": "rw-made"}, headers=rw), 409, "kb_exists")
        assert_openai_error(c.post("/v1/kbs", json={"name": "../up"}, headers=rw), 400, "invalid_kb_name")


def test_rate_limit_per_key_429(settings):
    with app_client(settings, 'serve.api_keys=["sk-a", "sk-b"]', "serve.rate_limit_per_minute=2") as c:
        a, b = {"Authorization": "Bearer sk-a"}, {"Authorization": "Bearer sk-b"}
        assert c.get("/v1/models", headers=a).status_code == 200
        assert c.get("/v1/models", headers=a).status_code == 200
        r = c.get("/v1/models", headers=a)
        assert_openai_error(r, 429, "rate_limit_exceeded")
        assert int(r.headers["Retry-After"]) >= 1
        assert c.get("/v1/models", headers=b).status_code == 200  # each key has its own bucket
        assert "ragtune_rate_limited_total 1" in c.get("/metrics", headers=b).text
        wrong = {"Authorization": "Bearer sk-guess"}
        codes = [c.get("/v1/models", headers=wrong).status_code for _ in range(3)]
        assert codes == [401, 401, 429]  # wrong keys spend the address's bucket too


def test_rate_limiter_refills_over_time():
    from ragtune.serve.auth import RateLimiter

    rl = RateLimiter(per_minute=60)  # one a second, bursts of 60
    assert all(rl.check("k", now=100.0) == 0 for _ in range(60))
    wait = rl.check("k", now=100.0)
    assert wait == pytest.approx(1.0)
    assert rl.check("k", now=100.5) > 0
    assert rl.check("k", now=101.01) == 0
    assert RateLimiter(0).check("k") == 0  # zero turns it off


def test_keyless_server_refuses_foreign_hosts_and_cross_site_writes(client):
    err = assert_openai_error(client.get("/v1/models", headers={"Host": "evil.example"}), 403, "local_only")
    assert "serve.api_keys" in err["message"]
    r = client.post(
        f"/v1/kbs/{KB}/documents",
        headers={"Origin": "https://evil.example"},
        files={"file": ("x.txt", b"text", "text/plain")},
    )
    assert_openai_error(r, 403, "cross_site")
    ok = client.post(
        f"/v1/kbs/{KB}/search", headers={"Origin": "http://testserver"}, json={"query": "Super Bowl"}
    )
    assert ok.status_code == 200


def test_cors_off_unless_configured(client, settings):
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    r = client.options("/v1/chat/completions", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    with app_client(settings, 'serve.cors_origins=["https://app.example"]') as c:
        r = c.options(
            "/v1/chat/completions", headers={**pre, "Access-Control-Request-Headers": "authorization"}
        )
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"


def test_upload_names_are_sanitised_and_types_checked(client, settings, data_dir):
    from ragtune.serve.uploads import safe_name

    exts = settings.ingest.extensions
    assert safe_name("../../etc/My Notes.MD", None, exts) == "My_Notes.md"
    assert safe_name("..\\..\\win.txt", None, exts) == "win.txt"
    assert safe_name("résumé.txt", None, exts) == "resume.txt"
    assert safe_name("notes", "text/markdown; charset=utf-8", exts) == "notes.md"
    assert safe_name("....txt", None, exts).startswith("upload-")
    r = client.post(
        f"/v1/kbs/{KB}/documents", files={"file": ("tool.exe", b"MZ...", "application/octet-stream")}
    )
    assert_openai_error(r, 415, "unsupported_file_type")
    r = client.post(
        f"/v1/kbs/{KB}/documents",
        files={
            "file": ("../../../../outside.md", b"# Outside\n\nA note about lighthouses.", "text/markdown")
        },
    )
    assert r.status_code == 200, r.text
    f = r.json()["files"][0]
    assert f["name"] == "outside.md" and f["status"] == "added"
    assert (data_dir / "uploads" / KB / "outside.md").exists()
    assert not (data_dir.parent / "outside.md").exists()
    docs = client.get(f"/v1/kbs/{KB}/documents").json()["data"]
    assert any(d["source"] == f"uploads/{KB}/outside.md" and d["id"] == f["id"] for d in docs)
    r = client.delete(f"/v1/kbs/{KB}/documents/{f['id']}")
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert not (data_dir / "uploads" / KB / "outside.md").exists()
    assert_openai_error(client.delete(f"/v1/kbs/{KB}/documents/{f['id']}"), 404, "document_not_found")


def test_failed_upload_leaves_kb_and_files_as_they_were(client, data_dir):
    up = data_dir / "uploads" / KB
    before = client.get(f"/v1/kbs/{KB}").json()
    r = client.post(f"/v1/kbs/{KB}/documents", files={"file": ("empty.txt", b"   \n", "text/plain")})
    err = assert_openai_error(r, 400, "ingest_failed")
    assert "empty.txt" in err["message"] and str(data_dir) not in err["message"]
    after = client.get(f"/v1/kbs/{KB}").json()
    assert (after["version"], after["chunks"]) == (before["version"], before["chunks"])
    assert not (up / "empty.txt").exists()
    # a failed update keeps the earlier file and its chunks
    good = b"Lighthouse keepers in Nantucket trimmed the wicks every four hours."
    r = client.post(f"/v1/kbs/{KB}/documents", files={"file": ("keeper.txt", good, "text/plain")})
    assert r.json()["files"][0]["status"] == "added"
    version = r.json()["version"]
    r = client.post(f"/v1/kbs/{KB}/documents", files={"file": ("keeper.txt", b"\n\n", "text/plain")})
    assert_openai_error(r, 400, "ingest_failed")
    assert (up / "keeper.txt").read_bytes() == good
    assert client.get(f"/v1/kbs/{KB}").json()["version"] == version
    assert [p.name for p in up.iterdir() if p.name.startswith(".")] == []  # no temporary files left
    assert client.delete(f"/v1/kbs/{KB}/documents/keeper.txt").json()["deleted"] is True


def test_kb_info_search_and_missing_kb(client):
    info = client.get(f"/v1/kbs/{KB}").json()
    assert info["name"] == KB and info["chunks"] >= 3 and "path" not in info
    assert info["versions_list"][0]["version"] == info["version"]
    assert any(d["name"] == "superbowl.jsonl" for d in info["documents_list"])
    r = client.post(f"/v1/kbs/{KB}/search", json={"query": "Which team won Super Bowl 50?", "top_k": 2})
    hits = r.json()["data"]
    assert len(hits) == 2 and hits[0]["rank"] == 1 and "Super Bowl" in hits[0]["text"]
    assert_openai_error(client.get("/v1/kbs/nope"), 404, "kb_not_found")
    assert_openai_error(
        client.post(f"/v1/kbs/{KB}/search", json={"query": "x", "filters": {"bad": "1"}}), 400
    )
    listed = client.get("/v1/kbs").json()["data"]
    assert KB in [k["name"] for k in listed]


def test_reports_are_listed_and_served_sandboxed(client, data_dir):
    run = data_dir / "reports" / "run-2024-01"
    run.mkdir(parents=True)
    (run / "report.html").write_text("<!doctype html><title>r</title><h1>Key differences</h1>")
    (run / "results.json").write_text('{"title": "squad: rag vs ft", "task": "qa", "modes": ["rag", "ft"]}')
    (data_dir / "reports" / "unfinished").mkdir()
    rows = client.get("/v1/reports").json()["data"]
    assert [r["id"] for r in rows] == ["run-2024-01"]
    assert rows[0]["title"] == "squad: rag vs ft" and rows[0]["modes"] == ["rag", "ft"]
    r = client.get("/v1/reports/run-2024-01")
    assert r.status_code == 200 and "Key differences" in r.text
    assert r.headers["content-security-policy"].startswith("sandbox")
    assert client.get("/v1/reports/run-2024-01/results.json").json()["task"] == "qa"
    assert_openai_error(client.get("/v1/reports/run-2024-01/secret.txt"), 404)
    assert_openai_error(client.get("/v1/reports/..%2F..%2Fetc"), 404)
    link = client.post("/v1/reports/run-2024-01/link").json()["url"]
    assert client.get(link).status_code == 200
    assert_openai_error(client.get(link.replace("sig=", "sig=0")), 403, "invalid_link")


def test_reports_list_mode_names_of_a_real_results_file(client, data_dir):
    """results.json as ``ragtune compare`` writes it holds each mode as a dict; the list shows the names."""
    from ragtune.evaluate.results import ComparisonResults, ModeInfo

    res = ComparisonResults.new("tour", task="qa", run_id="run-modes-dicts")
    res.modes = [ModeInfo(name="base", model="tiny"), ModeInfo(name="ft+rag", adapter=None, kb="docs")]
    run = data_dir / "reports" / res.run_id
    run.mkdir(parents=True)
    (run / "report.html").write_text("<!doctype html><title>r</title>")
    (run / "results.json").write_text(json.dumps(res.to_dict()))
    row = next(r for r in client.get("/v1/reports").json()["data"] if r["id"] == res.run_id)
    assert row["modes"] == ["base", "ft+rag"]


def test_page_and_assets_are_served_offline(client):
    r = client.get("/")
    assert r.status_code == 200 and "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assert "/static/app.js" in html and "/static/app.css" in html
    assert "http://" not in html and "https://" not in html  # nothing from outside
    for asset in ("/static/app.js", "/static/app.css"):
        a = client.get(asset)
        assert a.status_code == 200 and "https://" not in a.text


def test_metrics_prometheus_text(client):
    client.get("/v1/models")
    text = client.get("/metrics").text
    assert text.endswith("\n")
    assert "# TYPE ragtune_requests_total counter" in text
    assert 'ragtune_requests_total{method="GET",route="/v1/models",status="200"}' in text
    for line in text.splitlines():  # every sample line is "name{labels} number"
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)
            assert name.startswith("ragtune_")


def _families(client) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}


def _sample(family, name: str, **labels) -> float:
    values = [s.value for s in family.samples
              if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(values) <= 1, values
    return values[0] if values else 0.0


def test_metrics_parse_with_prometheus_client(client):
    """What Prometheus itself would read: the metric families, their types and labelled samples."""
    models = {"method": "GET", "route": "/v1/models"}
    before = _families(client)
    client.get("/v1/models")
    client.get("/v1/models")
    after = _families(client)
    assert after["ragtune_requests"].type == "counter"
    assert after["ragtune_request_duration_seconds"].type == "histogram"
    assert after["ragtune_requests_in_flight"].type == "gauge"
    assert after["ragtune_uptime_seconds"].samples[0].value >= 0
    for fam, name, labels in (("ragtune_requests", "ragtune_requests_total", {**models, "status": "200"}),
                              ("ragtune_request_duration_seconds", "ragtune_request_duration_seconds_bucket",
                               {**models, "le": "+Inf"}),
                              ("ragtune_request_duration_seconds", "ragtune_request_duration_seconds_count", models)):
        grew = _sample(after[fam], name, **labels) - _sample(before[fam], name, **labels)
        assert grew == 2.0, (name, grew)
    # the request being answered is in flight while the page is rendered, and only that one
    assert after["ragtune_requests_in_flight"].samples[0].value == 1.0


def test_pipeline_names_parse():
    from ragtune.serve.errors import APIError
    from ragtune.serve.pipelines import parse

    assert parse("base").mode == "base"
    assert parse("rag:kb1").kb == "kb1"
    r = parse("ft+rag:m1:kb1")
    assert (r.mode, r.model, r.kb) == ("ft+rag", "m1", "kb1")
    assert parse("raft:m1:kb1").mode == "raft"
    for bad in ("rag", "rag:a:b", "ft", "raft:m1", "base:../x", "rag:", "x:y"):
        with pytest.raises(APIError):
            parse(bad)


def test_classify_unknown_model_404(client):
    r = client.post("/v1/classify", json={"model": "classify:nothing", "input": "great phone"})
    assert_openai_error(r, 404, "model_not_found")
    assert_openai_error(client.post("/v1/classify", json={"model": "x", "input": []}), 400)


def test_serve_binds_localhost_without_keys(settings, data_dir):
    from ragtune.cli.serve import bind_host
    from tests.serve.conftest import make_settings

    host, notice = bind_host(make_settings(data_dir, "serve.host=0.0.0.0"))
    assert host == "127.0.0.1" and "no API key" in notice and "0.0.0.0" in notice
    host, notice = bind_host(make_settings(data_dir, "serve.host=::1"))
    assert host == "::1" and "this machine only" in notice
    host, notice = bind_host(make_settings(data_dir, "serve.host=0.0.0.0", 'serve.api_keys=["sk-x"]'))
    assert host == "0.0.0.0" and notice is None


def test_keys_from_the_environment_as_a_comma_list(data_dir):
    from ragtune.config import load_settings

    s = load_settings(
        env={
            "RAGTUNE_SERVE__API_KEYS": "sk-a, sk-b",
            "RAGTUNE_SERVE__READ_ONLY_KEYS": "sk-r",
            "RAGTUNE_CONFIG": str(data_dir / "none.toml"),
        }
    )
    assert s.serve.api_keys == ["sk-a", "sk-b"] and s.serve.read_only_keys == ["sk-r"]
