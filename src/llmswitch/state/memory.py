"""``memory``: the per-process backend, the default (see ``_base`` for the contract).

Every operation runs without an ``await`` between reading and writing, so it is atomic among the
tasks of one loop; a ``threading.Lock`` makes it atomic among threads too (the sync API runs its
calls on a background loop thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Counters in a dict, with expiry; ``clock`` is injected by tests."""

    name = "memory"
    shared = False
    """Counters live in this process only (a breaker over it needs no syncing)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, tuple[float, float | None]] = {}  # key -> (value, expires at)
        self._lock = threading.Lock()

    def _read(self, key: str) -> tuple[float, float | None]:
        entry = self._values.get(key)
        if entry is None:
            return 0.0, None
        if entry[1] is not None and self._clock() >= entry[1]:
            del self._values[key]
            return 0.0, None
        return entry

    def _expiry(self, current: float | None, ttl: float | None) -> float | None:
        if current is not None:
            return current
        return None if ttl is None else self._clock() + ttl

    async def get(self, key: str) -> float:
        """See ``StateBackend.get``."""
        with self._lock:
            return self._read(key)[0]

    async def add(self, key: str, amount: float, *, ttl: float | None = None) -> float:
        """See ``StateBackend.add``."""
        with self._lock:
            value, expires = self._read(key)
            value += amount
            self._values[key] = (value, self._expiry(expires, ttl))
            return value

    async def take(self, key: str, amount: float, limit: float, *, ttl: float | None = None) -> bool:
        """See ``StateBackend.take``."""
        with self._lock:
            value, expires = self._read(key)
            if value + amount > limit:
                return False
            self._values[key] = (value + amount, self._expiry(expires, ttl))
            return True

    async def set(self, key: str, value: float, *, ttl: float | None = None) -> None:
        """See ``StateBackend.set``."""
        with self._lock:
            self._values[key] = (value, None if ttl is None else self._clock() + ttl)

    async def peek(self, keys: Sequence[str]) -> list[tuple[float, float | None]]:
        """Several counters' values and seconds left (None: no expiry); an addition to the
        protocol that the Redis backend answers in one round trip."""
        with self._lock:
            now = self._clock()
            out: list[tuple[float, float | None]] = []
            for key in keys:
                value, expires = self._read(key)
                out.append((value, None if expires is None else max(0.0, expires - now)))
            return out

    async def aclose(self) -> None:
        """Nothing to release."""
        self._values.clear()
