"""Prometheus text-format metrics, written by hand (no client library for four metric kinds).

Counters and histograms with labels, kept in memory under one lock; ``render()`` gives the
exposition format (version 0.0.4) that Prometheus scrapes from ``GET /metrics``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096)

Labels = tuple[tuple[str, str], ...]


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in items) + "}" if items else ""


def _num(x: float) -> str:
    if x == float("inf"):
        return "+Inf"
    return str(int(x)) if float(x).is_integer() else repr(float(x))


class Metrics:
    """Every number the server exposes. Thread-safe; cheap enough to call per token if needed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}  # name -> (type, help)
        self._counters: dict[str, dict[Labels, float]] = {}
        self._gauges: dict[str, dict[Labels, float]] = {}
        self._hists: dict[str, tuple[tuple[float, ...], dict[Labels, list[float]]]] = {}
        self.started = time.time()
        self.counter("ragtune_requests_total", "HTTP requests by method, route and status.")
        self.histogram(
            "ragtune_request_duration_seconds", "HTTP request duration (streams: until the last byte)."
        )
        self.counter("ragtune_errors_total", "Error responses by route and error code.")
        self.counter("ragtune_tokens_total", "Tokens processed by generation, by pipeline mode and kind.")
        self.histogram("ragtune_generation_duration_seconds", "Time to answer one chat request, by mode.")
        self.histogram("ragtune_time_to_first_token_seconds", "Time to the first streamed token, by mode.")
        self.counter(
            "ragtune_ingest_total", "Upload/delete operations on knowledge bases, by kb, op and result."
        )
        self.counter(
            "ragtune_ingest_documents_total", "Source files added, updated or removed through the API."
        )
        self.counter("ragtune_ingest_chunks_total", "Chunks added or removed through the API.")
        self.histogram("ragtune_ingest_duration_seconds", "Time to ingest one upload request.")
        self.counter("ragtune_rate_limited_total", "Requests refused by the rate limit.")
        self.gauge("ragtune_requests_in_flight", "Requests being served now.")
        self.gauge("ragtune_generations_in_flight", "Chat requests generating or waiting for the engine now.")

    # ---- declaring ------------------------------------------------------------------------------
    def counter(self, name: str, help_: str) -> None:
        self._help[name] = ("counter", help_)
        self._counters.setdefault(name, {})

    def gauge(self, name: str, help_: str) -> None:
        self._help[name] = ("gauge", help_)
        self._gauges.setdefault(name, {})

    def histogram(self, name: str, help_: str, buckets: Iterable[float] = LATENCY_BUCKETS) -> None:
        self._help[name] = ("histogram", help_)
        self._hists.setdefault(name, (tuple(buckets), {}))

    # ---- recording ------------------------------------------------------------------------------
    @staticmethod
    def _key(labels: dict[str, str] | None) -> Labels:
        return tuple(sorted((k, str(v)) for k, v in (labels or {}).items()))

    def inc(self, name: str, labels: dict[str, str] | None = None, value: float = 1.0) -> None:
        key = self._key(labels)
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + value

    def add(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        """Move a gauge up or down."""
        key = self._key(labels)
        with self._lock:
            series = self._gauges[name]
            series[key] = series.get(key, 0.0) + value

    def observe(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        key = self._key(labels)
        with self._lock:
            buckets, series = self._hists[name]
            row = series.get(key)
            if row is None:
                row = series[key] = [0.0] * (len(buckets) + 2)  # bucket counts, then sum, count
            for i, b in enumerate(buckets):
                if value <= b:
                    row[i] += 1
            row[-2] += value
            row[-1] += 1

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A counter's or gauge's current value (for tests and the health page)."""
        key = self._key(labels)
        with self._lock:
            return self._counters.get(name, self._gauges.get(name, {})).get(key, 0.0)

    # ---- exposition -----------------------------------------------------------------------------
    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            for name, (kind, help_) in self._help.items():
                out.append(f"# HELP {name} {help_}")
                out.append(f"# TYPE {name} {kind}")
                if kind in ("counter", "gauge"):
                    series = self._counters[name] if kind == "counter" else self._gauges[name]
                    for labels, v in sorted(series.items()):
                        out.append(f"{name}{_fmt_labels(labels)} {_num(v)}")
                else:
                    buckets, series = self._hists[name]
                    for labels, row in sorted(series.items()):
                        for i, b in enumerate(buckets):  # row[i] is already cumulative
                            out.append(
                                f"{name}_bucket{_fmt_labels(labels, (('le', _num(b)),))} {_num(row[i])}"
                            )
                        out.append(f"{name}_bucket{_fmt_labels(labels, (('le', '+Inf'),))} {_num(row[-1])}")
                        out.append(f"{name}_sum{_fmt_labels(labels)} {_num(row[-2])}")
                        out.append(f"{name}_count{_fmt_labels(labels)} {_num(row[-1])}")
            out.append("# HELP ragtune_uptime_seconds Seconds since the server started.")
            out.append("# TYPE ragtune_uptime_seconds gauge")
            out.append(f"ragtune_uptime_seconds {time.time() - self.started:.3f}")
        return "\n".join(out) + "\n"
