"""Login throttling (failed attempts per user and address), and the short memory of who a
session or token belongs to."""

from __future__ import annotations

import time
from collections import deque


class LoginLimiter:
    """Failed logins per (user, address) and per address in a sliding window."""

    def __init__(self, per_user: int = 5, per_address: int = 20, window: float = 60.0) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_in(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = time.monotonic()
        waits = []
        for key, limit in (
            (f"u:{username.lower()}|{address}", self.per_user),
            (f"a:{address}", self.per_address),
        ):
            times = self._recent(key, now)
            if len(times) >= limit:
                waits.append(int(times[0] + self.window - now) + 1)
        return max(waits, default=0)

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        for key in (f"u:{username.lower()}|{address}", f"a:{address}"):
            self._recent(key, now).append(now)
        if len(self._failures) > 10000:  # forget idle keys
            for key in [k for k, v in self._failures.items() if not self._recent(k, now)]:
                del self._failures[key]

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop(f"u:{username.lower()}|{address}", None)


class RecentUsers:
    """Who a session id or API token belonged to, for ``ttl`` seconds: the progress
    polling of many open pages then costs no database read per request. A logout or
    login in this process forgets at once; a change made elsewhere (``token:revoke``,
    another server's logout, an expiry) applies within ``ttl``."""

    def __init__(self, ttl: float = 1.0, size: int = 10000) -> None:
        self.ttl = ttl
        self.size = size
        self._seen: dict[str, tuple[object, float]] = {}

    def get(self, key: str) -> object | None:
        found = self._seen.get(key)
        if found is None:
            return None
        if found[1] < time.monotonic():
            del self._seen[key]
            return None
        return found[0]

    def put(self, key: str, value: object) -> None:
        if len(self._seen) >= self.size:
            self._seen.clear()
        self._seen[key] = (value, time.monotonic() + self.ttl)

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)

    def clear(self) -> None:
        self._seen.clear()
