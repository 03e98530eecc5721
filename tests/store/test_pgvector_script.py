"""scripts/pgvector_for_this_cpu.py: it builds only the source whose SHA-256 it pins, and its probe agrees
with the server the PostgreSQL tests use."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest
from tests.store.conftest import pgvector_script


@pytest.fixture(scope="module")
def script():
    return pgvector_script()


@pytest.fixture
def pool(tmp_path):
    """A real HTTP server on loopback serving the folder it returns (the role of Debian's pool)."""
    root = tmp_path / "pool"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_tarball_whose_sha256_is_not_the_pinned_one_is_refused_before_anything_is_built(script, pool, tmp_path,
                                                                                           monkeypatch):
    root, url = pool
    data = b"not pgvector at all"
    (root / "pgvector_0.8.2.orig.tar.gz").write_bytes(data)
    monkeypatch.setattr(script, "POOL", url)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ValueError, match=hashlib.sha256(data).hexdigest()):
        script.build(tmp_path / "pginstall", "0.8.2", work)
    assert list(work.iterdir()) == []  # nothing written, nothing extracted or compiled


def test_an_unreachable_pool_is_an_error_the_script_reports_as_one_warning(script, pool, tmp_path, monkeypatch):
    _, url = pool
    monkeypatch.setattr(script, "POOL", url + "/missing")
    with pytest.raises(OSError):  # urllib's HTTPError (404) is an OSError, which main() turns into a warning
        script.build(tmp_path, "0.8.2", tmp_path)


def test_the_probe_agrees_with_the_test_server(script, pg_server):
    import pgserver

    assert script.probe(pgserver)  # pg_server is running, so this CPU's pgvector computes a distance
