"""What one server process holds: settings, the pipeline, metrics, locks and worker threads."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ragtune.config import Settings
from ragtune.pipeline import Pipeline
from ragtune.serve.auth import Authenticator, RateLimiter
from ragtune.serve.metrics import Metrics
from ragtune.train.classifier import Classifier


class ServerState:
    """Shared by every request of one app (``request.app.state.ragtune``)."""

    def __init__(self, settings: Settings, generation_threads: int = 32):
        self.settings = settings
        self.pipeline = Pipeline(settings)
        self.metrics = Metrics()
        self.auth = Authenticator(settings.serve)
        self.limiter = RateLimiter(settings.serve.rate_limit_per_minute)
        # Generations wait here for their engine's lock, so they get their own pool: a queue of
        # them must not starve the threads that serve uploads, searches and metadata.
        self.generation_pool = ThreadPoolExecutor(generation_threads, thread_name_prefix="ragtune-gen")
        self._kb_locks: dict[str, threading.Lock] = {}
        self._kb_locks_guard = threading.Lock()
        self.link_secret = secrets.token_bytes(32)  # signs the short-lived links that open reports
        self._classifiers: dict[str, Any] = {}
        self._classifier_lock = threading.Lock()

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    def public_path(self, text: str) -> str:
        """``text`` with the data folder's absolute path made relative, so the API does not show it."""
        root = str(self.data_dir.resolve()) + "/"
        return text.replace(root, "")

    def kb_write_lock(self, kb: str) -> threading.Lock:
        """One writer per knowledge base in this process: uploads and deletes of a KB queue up."""
        with self._kb_locks_guard:
            return self._kb_locks.setdefault(kb, threading.Lock())

    def classifier(self, name: str, root: str) -> tuple[Any, threading.Lock]:
        """A loaded classifier and the lock its calls take, cached: loading is slow, using it is not."""
        with self._classifier_lock:
            entry = self._classifiers.get(name)
            if entry is None:
                entry = self._classifiers[name] = (Classifier.load(root, self.settings), threading.Lock())
            return entry

    def close(self) -> None:
        self.generation_pool.shutdown(wait=False, cancel_futures=True)
