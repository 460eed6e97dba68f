"""Fixtures for the routing tests: an injected clock and the state backend budgets and rate limits
keep their counters on (memory and the real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from llmswitch.state import MemoryBackend, StateBackend

START = 1_796_083_200.0 + 3 * 3600 + 10
"""2026-12-01 03:00:10 UTC: ten seconds into a minute and an hour, in a fresh day and month."""


class FakeClock:
    """Epoch seconds that move only when told (``advance``) or when something ``sleep``\\ s: a
    sleeper wakes at the time it asked for (the clock jumps there unless it is already later), so
    many tasks waiting for one window all wake at its start, without real waiting."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake = self.now + seconds
        await asyncio.sleep(0)  # let every other task that waits for this window ask first
        self.now = max(self.now, wake)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
async def state_backend(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[StateBackend]:
    """A fresh backend per test: memory (counter expiry on the same fake clock), and the real
    Redis (``tests/fixtures/redis.py``), so every budget and rate-limit rule holds on both."""
    if request.param == "memory":
        backend: StateBackend = MemoryBackend(clock=clock)
    else:
        pytest.importorskip("redis")
        from llmswitch.state.redis import RedisBackend

        server = request.getfixturevalue("redis_server")
        backend = RedisBackend(server.url, key_prefix="routing-test:", timeout=5.0)
    yield backend
    await backend.aclose()
