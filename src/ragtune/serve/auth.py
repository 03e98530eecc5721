"""Who is calling, what they may do, and how often.

Keys come from ``serve.api_keys`` (full access) and ``serve.read_only_keys`` (may ask, search
and read, may not change knowledge bases), in ``ragtune.toml`` or the environment
(``RAGTUNE_SERVE__API_KEYS=sk-a,sk-b``). With no key configured the server is for this machine
only: ``ragtune serve`` binds to 127.0.0.1, and the app itself refuses clients that are not on
loopback, requests for another host name (DNS rebinding) and cross-site writes (a web page
posting a form to localhost), since there is no key to stop them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
import time
from dataclasses import dataclass

from ragtune.config import ServeSettings
from ragtune.serve.errors import APIError

READ, WRITE = "read", "write"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]", "testserver"}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``key_id`` is a short hash, safe to show in logs and metrics."""

    key_id: str
    role: str  # read | write

    @property
    def can_write(self) -> bool:
        return self.role == WRITE


def key_id(key: str) -> str:
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def is_loopback(host: str | None) -> bool:
    """True for a loopback IP; a non-IP peer (the test client, a unix socket) counts as local."""
    if not host:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


class Authenticator:
    """Checks bearer tokens against the configured keys in constant time."""

    def __init__(self, settings: ServeSettings):
        self._keys = [(k.encode(), WRITE) for k in settings.api_keys if k]
        self._keys += [(k.encode(), READ) for k in settings.read_only_keys if k]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def authenticate(self, authorization: str | None, client_host: str | None) -> Principal:
        if not self.enabled:
            if not is_loopback(client_host):
                raise APIError(
                    403,
                    "this server has no API key configured and accepts local clients only; "
                    "set serve.api_keys to open it to the network",
                    "local_only",
                )
            return Principal("local", WRITE)
        if not authorization:
            raise APIError(
                401,
                "missing API key: send the header 'Authorization: Bearer YOUR_KEY'",
                "missing_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise APIError(
                401,
                "malformed Authorization header: use 'Authorization: Bearer YOUR_KEY'",
                "invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        given = token.strip().encode()
        role = None
        for k, r in self._keys:  # compare against every key so timing does not tell which matched
            if hmac.compare_digest(given, k) and role is None:
                role = r
        if role is None:
            raise APIError(
                401,
                "invalid API key; check the key against serve.api_keys / serve.read_only_keys",
                "invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Principal(key_id(token.strip()), role)


def require_write(p: Principal) -> None:
    if not p.can_write:
        raise APIError(
            403,
            "this API key is read-only: changing knowledge bases needs a key from serve.api_keys",
            "read_only_key",
        )


class RateLimiter:
    """A token bucket per caller: ``per_minute`` requests a minute, bursts up to ``per_minute``.

    Zero turns it off. Buckets refill continuously, so a client that waits ``retry_after``
    seconds always gets through.
    """

    def __init__(self, per_minute: int, max_callers: int = 10000):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._max = max_callers

    def check(self, caller: str, now: float | None = None) -> float:
        """0 when the request may go on, else the seconds to wait before trying again."""
        if self.capacity <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                return 0.0
            self._buckets[caller] = (tokens, now)
            if len(self._buckets) > self._max:  # forget the full buckets of callers gone quiet
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.capacity - 1}
            return (1.0 - tokens) / self.rate


def host_is_local(host_header: str | None) -> bool:
    """The Host header names this machine (guards a key-less server against DNS rebinding)."""
    if not host_header:
        return True
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return host in LOCAL_HOSTS or is_loopback(host.strip("[]")) and _is_ip(host.strip("[]"))


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False
