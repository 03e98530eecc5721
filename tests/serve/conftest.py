"""A small knowledge base in a temporary data folder, and the server over it (test client and real uvicorn).

Three paragraphs of the SQuAD subset in ``examples/knowledge`` make the knowledge base ``facts``;
generation uses the bundled model with short answers (``max_tokens`` 24 or less) and two
passages per prompt, so each answer takes a second or two on a laptop CPU.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragtune.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "knowledge" / "data" / "corpus.jsonl"
KB = "facts"


def make_settings(data_dir: Path, *overrides: str) -> Settings:
    """Settings that ignore any ragtune.toml and RAGTUNE_* variables of the machine running the tests."""
    return load_settings(
        overrides=[
            "retrieval.top_k=2",
            "generation.max_tokens=24",
            "serve.rate_limit_per_minute=0",
            *overrides,
        ],
        env={"RAGTUNE_CONFIG": str(data_dir / "no-such-config.toml")},
        data_dir=str(data_dir),
    )


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    from ragtune.kb import KnowledgeBase

    d = tmp_path_factory.mktemp("serve-data")
    src = d.parent / "serve-sources"
    src.mkdir(exist_ok=True)
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines()[:3]]
    (src / "superbowl.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    kb = KnowledgeBase.create(make_settings(d), KB, "three SQuAD paragraphs")
    rep = kb.ingest([src / "superbowl.jsonl"], show_progress=False)
    assert rep.chunks_added >= 3
    return d


@pytest.fixture(scope="session")
def settings(data_dir) -> Settings:
    return make_settings(data_dir)


@pytest.fixture(scope="session")
def client(settings):
    """A test client on a key-less app (this machine only), shared by the session."""
    from fastapi.testclient import TestClient

    from ragtune.serve.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c


def app_client(settings: Settings, *overrides: str):
    """A test client on an app with other serve settings, for auth, limits and rate tests."""
    from fastapi.testclient import TestClient

    from ragtune.serve.app import create_app

    return TestClient(create_app(make_settings(Path(settings.data_dir), *overrides)))


class LiveServer:
    """uvicorn on 127.0.0.1 with a port the OS picked, in a thread of this process."""

    def __init__(self, settings: Settings):
        import uvicorn

        from ragtune.serve.app import UVICORN_OPTIONS, create_app

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", **UVICORN_OPTIONS)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture(scope="session")
def live_server(settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as srv:
        yield srv


@pytest.fixture(scope="session")
def keyed_server(settings) -> Iterator[LiveServer]:
    """A real server with a read-write key ``sk-test-rw`` and a read-only key ``sk-test-ro``."""
    s = make_settings(
        Path(settings.data_dir), 'serve.api_keys=["sk-test-rw"]', 'serve.read_only_keys=["sk-test-ro"]'
    )
    with LiveServer(s) as srv:
        yield srv
