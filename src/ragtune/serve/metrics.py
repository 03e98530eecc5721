"""The server's Prometheus metrics, kept by ``prometheus_client`` in one registry per server.

Counters, gauges and histograms are declared by name with their label names; the routes
record through :meth:`Metrics.inc` / :meth:`Metrics.add` / :meth:`Metrics.observe` with a dict
of labels, and ``render()`` gives the text exposition format that Prometheus scrapes from
``GET /metrics``. A registry per instance keeps two servers (or two tests) in one process apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096)


class Metrics:
    """Every number the server exposes. Thread-safe (``prometheus_client`` locks each series)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._metrics: dict[str, Counter | Gauge | Histogram] = {}
        self.started = time.time()
        self.counter("ragtune_requests_total", "HTTP requests by method, route and status.",
                     ("method", "route", "status"))
        self.histogram("ragtune_request_duration_seconds", "HTTP request duration (streams: until the last byte).",
                       ("method", "route"))
        self.counter("ragtune_errors_total", "Error responses by route and error code.", ("route", "status"))
        self.counter("ragtune_tokens_total", "Tokens processed by generation, by pipeline mode and kind.",
                     ("kind", "mode"))
        self.histogram("ragtune_generation_duration_seconds", "Time to answer one chat request, by mode.", ("mode",))
        self.histogram("ragtune_time_to_first_token_seconds", "Time to the first streamed token, by mode.", ("mode",))
        self.counter("ragtune_ingest_total", "Upload/delete operations on knowledge bases, by kb, op and result.",
                     ("kb", "op", "result"))
        self.counter("ragtune_ingest_documents_total", "Source files added, updated or removed through the API.",
                     ("change", "kb"))
        self.counter("ragtune_ingest_chunks_total", "Chunks added or removed through the API.", ("change", "kb"))
        self.histogram("ragtune_ingest_duration_seconds", "Time to ingest one upload request.", ("kb",))
        self.counter("ragtune_rate_limited_total", "Requests refused by the rate limit.")
        self.gauge("ragtune_requests_in_flight", "Requests being served now.")
        self.gauge("ragtune_generations_in_flight", "Chat requests generating or waiting for the engine now.")
        uptime = Gauge("ragtune_uptime_seconds", "Seconds since the server started.", registry=self.registry)
        uptime.set_function(lambda: time.time() - self.started)

    # ---- declaring ------------------------------------------------------------------------------
    def counter(self, name: str, help_: str, labels: tuple[str, ...] = ()) -> None:
        self._metrics[name] = Counter(name, help_, labels, registry=self.registry)

    def gauge(self, name: str, help_: str, labels: tuple[str, ...] = ()) -> None:
        self._metrics[name] = Gauge(name, help_, labels, registry=self.registry)

    def histogram(self, name: str, help_: str, labels: tuple[str, ...] = (),
                  buckets: Iterable[float] = LATENCY_BUCKETS) -> None:
        self._metrics[name] = Histogram(name, help_, labels, registry=self.registry, buckets=tuple(buckets))

    # ---- recording ------------------------------------------------------------------------------
    def _series(self, name: str, labels: dict[str, str] | None):
        metric = self._metrics[name]
        return metric.labels(**{k: str(v) for k, v in labels.items()}) if labels else metric

    def inc(self, name: str, labels: dict[str, str] | None = None, value: float = 1.0) -> None:
        self._series(name, labels).inc(value)

    def add(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        """Move a gauge up or down."""
        self._series(name, labels).inc(value)

    def observe(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        self._series(name, labels).observe(value)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A counter's or gauge's current value (for tests and the health page)."""
        v = self.registry.get_sample_value(name, {k: str(x) for k, x in (labels or {}).items()})
        return 0.0 if v is None else v

    # ---- exposition -----------------------------------------------------------------------------
    def render(self) -> str:
        return generate_latest(self.registry).decode()
