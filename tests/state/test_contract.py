"""The ``StateBackend`` contract, run against BOTH backends: ``memory`` (with a fake clock) and
``redis`` (the real ``redis-server`` from the ``redis_server`` fixture, whose expiry is real time,
so its windows are a few tens of milliseconds long)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from llmswitch.state import MemoryBackend, PeekingBackend, StateBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    backend: Any
    advance: Callable[[float], Awaitable[None]]
    """Let this much time pass for the backend's expiry (fake for memory, real for Redis)."""


@pytest.fixture(params=["memory", "redis"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        clock = Clock()

        async def tick(seconds: float) -> None:
            clock.now += seconds

        backend: Any = MemoryBackend(clock=clock)
        yield Harness(backend, tick)
        await backend.aclose()
        return
    pytest.importorskip("redis")
    server = request.getfixturevalue("redis_server")
    from llmswitch.state.redis import RedisBackend

    backend = RedisBackend(server.url, key_prefix="t:", timeout=5.0)  # the suite's cores are busy

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)

    yield Harness(backend, sleep)
    assert not backend.degraded, "Redis was there all along: nothing should have fallen back to memory"
    await backend.aclose()


TTL = 0.15
"""A window short enough for real time: Redis counts expiry in milliseconds."""


async def test_follows_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.backend, StateBackend)
    assert isinstance(harness.backend, PeekingBackend)
    assert harness.backend.name in ("memory", "redis")
    assert harness.backend.shared is (harness.backend.name == "redis")


async def test_a_missing_counter_reads_zero(harness: Harness) -> None:
    assert await harness.backend.get("nothing-here") == 0.0


async def test_add_returns_the_new_value(harness: Harness) -> None:
    b = harness.backend
    assert await b.add("c", 2) == 2.0
    assert await b.add("c", 3.5) == 5.5
    assert await b.add("c", -1.25) == 4.25
    assert await b.get("c") == 4.25
    assert await b.get("other") == 0.0


async def test_fractions_add_up_like_python_floats(harness: Harness) -> None:
    b = harness.backend
    total = 0.0
    for amount in (0.1, 0.2, 0.000123, 12.5):
        total += amount
        assert await b.add("dollars", amount) == pytest.approx(total, rel=1e-12)


async def test_add_with_ttl_expires_and_the_ttl_is_set_once(harness: Harness) -> None:
    b = harness.backend
    await b.add("win", 1, ttl=TTL)
    await harness.advance(TTL / 3)
    await b.add("win", 1, ttl=100)  # a later ttl does not extend the window
    assert await b.get("win") == 2.0
    await harness.advance(TTL)
    assert await b.get("win") == 0.0
    assert await b.add("win", 1, ttl=TTL) == 1.0  # a new window starts from nothing


async def test_add_without_ttl_never_expires(harness: Harness) -> None:
    b = harness.backend
    await b.add("forever", 3)
    await harness.advance(TTL * 2)
    assert await b.get("forever") == 3.0


async def test_take_admits_up_to_the_limit_and_no_further(harness: Harness) -> None:
    b = harness.backend
    assert await b.take("slots", 1, 3) is True
    assert await b.take("slots", 2, 3) is True  # exactly the limit
    assert await b.take("slots", 1, 3) is False
    assert await b.get("slots") == 3.0  # a refused take changes nothing
    assert await b.take("slots", 0.5, 3.5) is True
    assert await b.get("slots") == 3.5


async def test_an_infinite_limit_admits_everything_and_a_negative_one_nothing(harness: Harness) -> None:
    b = harness.backend
    assert await b.take("inf", 5, float("inf")) is True
    assert await b.take("inf", 1e9, float("inf")) is True
    assert await b.get("inf") == 5 + 1e9
    assert await b.take("inf", 1, float("-inf")) is False


async def test_take_more_than_the_limit_at_once_is_refused(harness: Harness) -> None:
    assert await harness.backend.take("big", 5, 4) is False
    assert await harness.backend.get("big") == 0.0


async def test_take_with_ttl_opens_a_new_window(harness: Harness) -> None:
    b = harness.backend
    assert await b.take("rpm", 1, 1, ttl=TTL) is True
    assert await b.take("rpm", 1, 1, ttl=TTL) is False
    await harness.advance(TTL * 1.5)
    assert await b.take("rpm", 1, 1, ttl=TTL) is True


async def test_set_overwrites_and_its_ttl_replaces_the_old_one(harness: Harness) -> None:
    b = harness.backend
    await b.add("s", 10, ttl=TTL)
    await b.set("s", 4)  # no ttl: no expiry any more
    await harness.advance(TTL * 1.5)
    assert await b.get("s") == 4.0
    await b.set("s", 7, ttl=TTL)
    assert await b.get("s") == 7.0
    await harness.advance(TTL * 1.5)
    assert await b.get("s") == 0.0


async def test_peek_reads_values_and_time_left(harness: Harness) -> None:
    b = harness.backend
    await b.set("open", 1, ttl=10)
    await b.add("fails", 2)
    (open_value, open_left), (fails, fails_left), (missing, missing_left) = await b.peek(["open", "fails", "none"])
    assert open_value == 1.0 and open_left is not None and 9.0 < open_left <= 10.0
    assert fails == 2.0 and fails_left is None
    assert missing == 0.0 and missing_left is None
    assert await b.peek([]) == []


async def test_concurrent_adds_from_many_tasks_add_up_exactly(harness: Harness) -> None:
    b = harness.backend
    await asyncio.gather(*(b.add("hits", 1, ttl=60) for _ in range(200)))
    assert await b.get("hits") == 200.0
    await asyncio.gather(*(b.add("cents", 0.25) for _ in range(200)))
    assert await b.get("cents") == 50.0


async def test_concurrent_takes_from_many_tasks_admit_exactly_the_limit(harness: Harness) -> None:
    b = harness.backend
    results = await asyncio.gather(*(b.take("limit", 1, 37, ttl=60) for _ in range(200)))
    assert sum(results) == 37
    assert await b.get("limit") == 37.0


def test_memory_is_atomic_across_threads() -> None:
    """The sync API runs calls on a background loop thread: the memory backend's lock holds there too."""
    import threading

    b = MemoryBackend()
    taken: list[bool] = []

    def worker() -> None:
        async def run() -> None:
            for _ in range(100):
                await b.add("n", 1)
                taken.append(await b.take("t", 1, 150))

        asyncio.run(run())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert asyncio.run(b.get("n")) == 400.0
    assert sum(taken) == 150


def test_the_default_backend_is_one_per_process() -> None:
    from llmswitch.state import backend_from_config, default_backend

    assert default_backend() is default_backend()
    assert backend_from_config(None) is default_backend()
    assert time.monotonic() > 0  # (the default clock is monotonic: windows survive wall-clock jumps)
