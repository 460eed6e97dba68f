"""``SharedBreaker``: one circuit for every process that shares a state backend.

Two kinds of test. With a fake clock, two providers in this process stand for two processes: each
has its own ``CircuitBreaker`` and both share one memory backend marked as shared (a test double:
the memory backend with ``shared = True``), so windows and cool-downs pass without sleeping. With
the real Redis (``redis_server``), forked OS processes share it for real, Redis is killed
mid-run, and its command statistics count the round trips a call costs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.routing import CircuitBreaker, CircuitState
from llmswitch.routing.shared_breaker import SharedBreaker
from llmswitch.state import MemoryBackend
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI
from tests.fixtures.forked import CHILD_JOIN_SECONDS, fork_context
from tests.fixtures.redis import RedisServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SharedMemory(MemoryBackend):
    """A memory backend that says it is shared: two providers here stand for two processes."""

    shared = True

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock=clock)
        self.ops: list[str] = []
        self.adds: list[tuple[str, float]] = []

    async def get(self, key: str) -> float:
        self.ops.append("get")
        return await super().get(key)

    async def add(self, key: str, amount: float, *, ttl: float | None = None) -> float:
        self.ops.append("add")
        self.adds.append((key, amount))
        return await super().add(key, amount, ttl=ttl)

    async def set(self, key: str, value: float, *, ttl: float | None = None) -> None:
        self.ops.append("set")
        await super().set(key, value, ttl=ttl)

    async def peek(self, keys: Any) -> list[tuple[float, float | None]]:
        self.ops.append("peek")
        return await super().peek(keys)


def rounded(peeked: list[tuple[float, float | None]]) -> list[tuple[float, float | None]]:
    """Seconds left to 1/100 s: a provider's shared breaker measures its own (real, sub-millisecond) delays."""
    return [(value, None if left is None else round(left, 2)) for value, left in peeked]


def sent(fake: FakeOpenAI) -> int:
    return len(fake.requests)


_built: list[OpenAIProvider] = []


@pytest.fixture(autouse=True)
async def _close_providers() -> AsyncIterator[None]:
    yield
    while _built:
        await _built.pop().aclose()


def provider(fake_url: str, clock: Clock, state: Any, *, changes: list[tuple[str, str]] | None = None,
             retries: int = 0, sync_interval: float = 0.0, **breaker: Any) -> OpenAIProvider:
    """A provider whose breaker and shared breaker run on ``clock`` (the provider builds its shared
    breaker on the real monotonic clock; the one set here measures what it publishes on the fake one)."""
    listeners = [lambda b, old, new: changes.append((old.value, new.value))] if changes is not None else []
    settings = {"failure_threshold": 2, "recovery_timeout": 30.0, **breaker}
    b = CircuitBreaker("svc", clock=clock, listeners=listeners, **settings)
    p = OpenAIProvider(name="svc", base_url=fake_url, api_key=openai_server.VALID_KEY, retries=retries, breaker=b, state=state)
    if p._shared_breaker is not None:
        b.remove_listener(p._shared_breaker._on_change)
        p._shared_breaker = SharedBreaker(b, state, sync_interval=sync_interval, clock=clock)
    _built.append(p)
    return p


async def fails(call: Awaitable[Any], error: type[BaseException] = E.ProviderUnavailableError) -> BaseException:
    with pytest.raises(error) as info:
        await call
    return info.value


# --- two "processes" over one shared backend, fake clock ---------------------------------------------


async def test_one_process_trips_the_breaker_and_the_other_is_rejected_then_both_recover(
    openai_fake: tuple[FakeOpenAI, str],
) -> None:
    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a_changes: list[tuple[str, str]] = []
    b_changes: list[tuple[str, str]] = []
    a = provider(url, clock, state, changes=a_changes)
    b = provider(url, clock, state, changes=b_changes)
    assert (await b.complete("hi", model="gpt-test")).text  # b is fine and closed
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    assert a.breaker is not None and a.breaker.state is CircuitState.OPEN
    before = sent(fake)
    clock.now += 10
    rejected = await fails(b.complete("hi", model="gpt-test"), E.CircuitOpenError)
    assert sent(fake) == before  # b sent nothing
    assert isinstance(rejected, E.CircuitOpenError) and rejected.retry_after == pytest.approx(20.0, abs=0.5)
    await fails(b.stream("hi", model="gpt-test").final(), E.CircuitOpenError)  # a stream too
    assert sent(fake) == before
    assert b.breaker is not None and b.breaker.state is CircuitState.OPEN and b.breaker.stats.rejections == 2
    clock.now += 20.5  # the cool-down is over everywhere
    assert (await b.complete("hi", model="gpt-test")).text  # b's trial call
    assert (await a.complete("hi", model="gpt-test")).text  # and a's
    assert a_changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert b_changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


async def test_failures_in_different_processes_add_up(openai_fake: tuple[FakeOpenAI, str]) -> None:
    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state, failure_threshold=3)
    b = provider(url, clock, state, failure_threshold=3)
    await fails(a.complete("hi", model="gpt-broken"))
    await fails(b.complete("hi", model="gpt-broken"))
    assert a.breaker is not None and b.breaker is not None
    assert a.breaker.state is CircuitState.CLOSED and b.breaker.state is CircuitState.CLOSED
    await fails(a.complete("hi", model="gpt-broken"))  # the third failure in all: open
    assert a.breaker.state is CircuitState.OPEN
    before = sent(fake)
    await fails(b.complete("hi", model="gpt-test"), E.CircuitOpenError)
    assert sent(fake) == before


async def test_a_success_anywhere_ends_the_run_of_failures(openai_fake: tuple[FakeOpenAI, str]) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    c = provider(url, clock, state, failure_threshold=3)
    d = provider(url, clock, state, failure_threshold=3)
    await fails(c.complete("hi", model="gpt-broken"))
    await fails(d.complete("hi", model="gpt-broken"))
    assert await state.get("breaker:svc:failures") == 2.0
    assert (await d.complete("hi", model="gpt-test")).text  # saw 2 before the call: resets them
    assert await state.get("breaker:svc:failures") == 0.0
    await fails(c.complete("hi", model="gpt-broken"))
    assert c.breaker is not None and c.breaker.state is CircuitState.CLOSED  # 1 after the reset, not 3
    clock.now += 61  # the window (60 s) after the first failure of a run: the run is forgotten
    assert await state.get("breaker:svc:failures") == 0.0


async def test_a_failed_trial_reopens_the_circuit_for_every_process(openai_fake: tuple[FakeOpenAI, str]) -> None:
    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state)
    b = provider(url, clock, state)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    await fails(b.complete("hi", model="gpt-test"), E.CircuitOpenError)
    clock.now += 30
    await fails(a.complete("hi", model="gpt-broken"))  # a's trial fails: open again, for 30 s more
    assert a.breaker is not None and a.breaker.state is CircuitState.OPEN
    before = sent(fake)
    clock.now += 5
    rejected = await fails(b.complete("hi", model="gpt-test"), E.CircuitOpenError)  # b would have half-opened
    assert isinstance(rejected, E.CircuitOpenError) and rejected.retry_after == pytest.approx(25.0, abs=0.5)
    assert sent(fake) == before


async def test_half_open_lets_a_limited_number_of_trials_through_across_processes(
    openai_fake: tuple[FakeOpenAI, str],
) -> None:
    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state)
    b = provider(url, clock, state)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    clock.now += 30  # half-open everywhere
    assert await state.take("breaker:svc:trials", 1, 1)  # another process's trial is in flight
    before = sent(fake)
    busy = await fails(b.complete("hi", model="gpt-test"), E.CircuitOpenError)
    assert isinstance(busy, E.CircuitOpenError) and busy.retry_after is None and "trial" in str(busy)
    await fails(a.complete("hi", model="gpt-test"), E.CircuitOpenError)
    assert sent(fake) == before
    await state.add("breaker:svc:trials", -1)  # that trial ended without a verdict
    assert (await b.complete("hi", model="gpt-test")).text  # b's trial closes the circuit for all
    fresh = provider(url, clock, state)  # a process that never saw the opening
    for p in (a, fresh, fresh):
        assert (await p.complete("hi", model="gpt-test")).text
    assert await state.get("breaker:svc:half_open") == 0.0


async def test_a_process_that_never_saw_the_opening_is_held_to_the_trial_limit_too(
    openai_fake: tuple[FakeOpenAI, str],
) -> None:
    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    clock.now += 30
    late = provider(url, clock, state)  # its own breaker is closed: the shared trial slot still applies
    await fails(late.complete("hi", model="gpt-broken"))  # its trial fails: open again, everywhere
    assert late.breaker is not None and late.breaker.state is CircuitState.OPEN
    before = sent(fake)
    rejected = await fails(a.complete("hi", model="gpt-test"), E.CircuitOpenError)
    assert isinstance(rejected, E.CircuitOpenError) and rejected.retry_after == pytest.approx(30.0, abs=0.5)
    assert sent(fake) == before


async def test_a_trial_without_a_verdict_frees_its_slot(openai_fake: tuple[FakeOpenAI, str]) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    clock.now += 30
    await fails(a.complete("hi", model="no-such-model"), E.ModelNotFoundError)  # a 404 says nothing
    assert await state.get("breaker:svc:trials") == 0.0
    assert (await a.complete("hi", model="gpt-test")).text  # the next trial gets the slot


async def test_a_trial_that_needs_more_successes_hands_the_slot_on(openai_fake: tuple[FakeOpenAI, str]) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state, success_threshold=2)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    clock.now += 30
    assert (await a.complete("hi", model="gpt-test")).text
    assert a.breaker is not None and a.breaker.state is CircuitState.HALF_OPEN
    assert await state.get("breaker:svc:trials") == 0.0 and await state.get("breaker:svc:half_open") == 1.0
    assert (await a.complete("hi", model="gpt-test")).text
    assert a.breaker.state is CircuitState.CLOSED and await state.get("breaker:svc:half_open") == 0.0


async def test_the_happy_path_costs_one_backend_read_per_call(openai_fake: tuple[FakeOpenAI, str]) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    p = provider(url, clock, state, retries=2)
    for _ in range(5):
        assert (await p.complete("hi", model="gpt-test")).text
    await p.stream("hi", model="gpt-test").final()
    assert state.ops == ["peek"] * 6


async def test_a_sync_interval_reuses_an_all_clear_read(openai_fake: tuple[FakeOpenAI, str]) -> None:
    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    p = provider(url, clock, state, sync_interval=0.5)
    other = provider(url, clock, state)
    for _ in range(5):
        assert (await p.complete("hi", model="gpt-test")).text
    assert state.ops == ["peek"]  # one read for five calls
    for _ in range(2):
        await fails(other.complete("hi", model="gpt-broken"))  # another process opens the circuit
    state.ops.clear()
    assert (await p.complete("hi", model="gpt-test")).text  # not noticed yet: within the interval
    clock.now += 0.5
    await fails(p.complete("hi", model="gpt-test"), E.CircuitOpenError)  # noticed at the next read
    assert state.ops == ["peek"]
    with pytest.raises(ValueError, match="sync_interval"):
        SharedBreaker(CircuitBreaker("x"), state, sync_interval=-1)


async def test_after_a_failure_the_next_call_reads_again(openai_fake: tuple[FakeOpenAI, str]) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    p = provider(url, clock, state, failure_threshold=5, sync_interval=60)
    assert (await p.complete("hi", model="gpt-test")).text
    await fails(p.complete("hi", model="gpt-broken"))
    assert (await p.complete("hi", model="gpt-test")).text  # reads (sees 1 failure) and resets it
    assert state.ops == ["peek", "add", "peek", "set"]


async def test_errors_that_do_not_count_are_not_shared(openai_fake: tuple[FakeOpenAI, str]) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    p = provider(url, clock, state, failure_threshold=1)
    await fails(p.complete("hi", model="no-such-model"), E.ModelNotFoundError)  # a 404 is the request's fault
    assert state.ops == ["peek"]
    assert p.breaker is not None and p.breaker.state is CircuitState.CLOSED


async def test_a_stream_cut_mid_way_opens_the_circuit_and_the_next_call_publishes_it(
    openai_fake: tuple[FakeOpenAI, str],
) -> None:
    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state, failure_threshold=1)
    b = provider(url, clock, state, failure_threshold=1)
    await fails(a.stream("hi", model="gpt-cut").final(), E.ProviderConnectionError)
    assert a.breaker is not None and a.breaker.state is CircuitState.OPEN
    await fails(a.complete("hi", model="gpt-test"), E.CircuitOpenError)  # publishes, then is rejected
    before = sent(fake)
    await fails(b.complete("hi", model="gpt-test"), E.CircuitOpenError)
    assert sent(fake) == before


async def test_over_a_per_process_backend_breakers_are_not_shared(openai_fake: tuple[FakeOpenAI, str]) -> None:
    """The default (memory, not shared): each provider's breaker is its own, as before."""
    _, url = openai_fake
    clock = Clock()
    state = MemoryBackend(clock=clock)
    a = provider(url, clock, state)
    b = provider(url, clock, state)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    assert (await b.complete("hi", model="gpt-test")).text
    assert SharedBreaker.for_provider(a.breaker, state) is None
    assert SharedBreaker.for_provider(None, SharedMemory(clock)) is None


async def test_shared_state_reads_what_every_process_sees(openai_fake: tuple[FakeOpenAI, str]) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state, failure_threshold=3)
    shared = SharedBreaker(CircuitBreaker("svc", clock=clock), state)
    closed = CircuitState.CLOSED
    assert await shared.shared_state() == {"state": closed, "open": False, "retry_after": None, "failures": 0}
    await fails(a.complete("hi", model="gpt-broken"))
    assert await shared.shared_state() == {"state": closed, "open": False, "retry_after": None, "failures": 1}
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    view = await shared.shared_state()
    assert view["state"] is CircuitState.OPEN and view["open"] is True
    assert view["retry_after"] == pytest.approx(30.0, abs=0.5) and view["failures"] == 0
    clock.now += 30
    assert (await shared.shared_state())["state"] is CircuitState.HALF_OPEN
    assert (await a.complete("hi", model="gpt-test")).text
    assert (await shared.shared_state())["state"] is CircuitState.CLOSED


async def test_what_is_published_and_how_long_it_lives(openai_fake: tuple[FakeOpenAI, str]) -> None:
    """The keys, their values and their expiry (read with ``peek``, as another process reads them)."""
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state, failure_threshold=3, window=50.0)
    assert a._shared_breaker is not None and a._shared_breaker.open_key == "breaker:svc:open"
    keys = ["breaker:svc:open", "breaker:svc:failures", "breaker:svc:half_open", "breaker:svc:trials"]
    await fails(a.complete("hi", model="gpt-broken"))
    assert (rounded(await state.peek(keys)))[1] == (1.0, 50.0)  # a failure, for one window
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    assert rounded(await state.peek(keys)) == [(1.0, 30.0), (0.0, 50.0), (1.0, 60.0), (0.0, 60.0)]  # opened
    clock.now += 30
    assert (await a.complete("hi", model="gpt-test")).text  # the trial closes it
    assert rounded(await state.peek(keys)) == [(0.0, None), (0.0, 20.0), (0.0, 30.0), (0.0, 30.0)]
    clock.now += 20
    await fails(a.complete("hi", model="gpt-broken"))
    clock.now += 1
    assert (await a.complete("hi", model="gpt-test")).text  # a success ends the run, for a window
    assert (rounded(await state.peek(keys)))[1] == (0.0, 50.0)


async def test_an_abandoned_trial_slot_expires_after_one_cool_down(openai_fake: tuple[FakeOpenAI, str]) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    clock.now += 30
    assert await state.take("breaker:svc:trials", 1, 1, ttl=None) is True  # a process that died mid-trial...
    await fails(a.complete("hi", model="gpt-test"), E.CircuitOpenError)
    await state.set("breaker:svc:trials", 1, ttl=30)  # ... as the slot it took would be: with a ttl
    clock.now += 29
    await fails(a.complete("hi", model="gpt-test"), E.CircuitOpenError)
    clock.now += 1
    assert (await a.complete("hi", model="gpt-test")).text


async def test_a_trial_slot_taken_here_expires_too(openai_fake: tuple[FakeOpenAI, str]) -> None:
    """The slot a call takes carries the cool-down as its ttl (a process killed mid-trial frees it)."""
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state, success_threshold=2)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    clock.now += 30
    await state.set("breaker:svc:trials", 0)  # no ttl of its own: only the one a take sets would expire it
    assert (await a.complete("hi", model="gpt-test")).text  # one trial success of two: still half-open
    assert rounded(await state.peek(["breaker:svc:trials"])) == [(0.0, 30.0)]


async def test_adopting_keeps_the_rest_of_the_cool_down_however_short(openai_fake: tuple[FakeOpenAI, str]) -> None:
    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state)
    b = provider(url, clock, state)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    clock.now += 29.5
    before = sent(fake)
    rejected = await fails(b.complete("hi", model="gpt-test"), E.CircuitOpenError)
    assert isinstance(rejected, E.CircuitOpenError) and rejected.retry_after == pytest.approx(0.5, abs=0.01)
    assert sent(fake) == before
    shared = b._shared_breaker
    assert shared is not None
    view = await shared.shared_state()
    assert view["open"] is True and view["retry_after"] == pytest.approx(0.5, abs=0.01)


async def test_retries_stop_when_the_shared_count_opens_the_circuit(openai_fake: tuple[FakeOpenAI, str]) -> None:
    from llmswitch.routing import RetryPolicy

    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    other = provider(url, clock, state, failure_threshold=3)
    await fails(other.complete("hi", model="gpt-broken"))  # one failure elsewhere

    async def no_wait(seconds: float) -> None:
        pass

    b = CircuitBreaker("svc", clock=clock, failure_threshold=3)
    p = OpenAIProvider(name="svc", base_url=url, api_key=openai_server.VALID_KEY, breaker=b, state=state,
                       retries=RetryPolicy(retries=5, sleep=no_wait))
    _built.append(p)
    before = sent(fake)
    with pytest.raises(E.CircuitOpenError):
        await p.complete("hi", model="gpt-broken")
    assert sent(fake) - before == 2  # 1 + 2 = 3 failures in all: open, no third attempt here


async def test_a_run_of_failures_seen_before_keeps_the_next_read(openai_fake: tuple[FakeOpenAI, str]) -> None:
    """With a sync interval, only an all-clear read is reused: one that saw failures is not."""
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    p = provider(url, clock, state, failure_threshold=5, sync_interval=60)
    other = provider(url, clock, state, failure_threshold=5)
    await fails(other.complete("hi", model="gpt-broken"))
    state.ops.clear()
    assert (await p.complete("hi", model="gpt-test")).text  # sees the failure, resets it
    assert (await p.complete("hi", model="gpt-test")).text  # reads again: that read was not all-clear
    assert (await p.complete("hi", model="gpt-test")).text  # the second read was: reused now
    assert state.ops == ["peek", "set", "peek"]


def test_a_shared_breaker_needs_a_shared_backend_that_can_peek() -> None:
    clock = Clock()
    b = CircuitBreaker("svc", clock=clock)

    class Plain:
        async def peek(self, keys: Any) -> list[tuple[float, float | None]]:
            return []

    assert SharedBreaker.for_provider(b, Plain()) is None  # says nothing about being shared: not shared
    synced = SharedMemory(clock)
    synced.breaker_sync_interval = 0.25  # type: ignore[attr-defined]
    made = SharedBreaker.for_provider(b, synced)
    assert made is not None and made.sync_interval == 0.25 and made.breaker is b
    assert SharedBreaker(b, SharedMemory(clock)).sync_interval == 0.0
    for bad in (True, "1", -0.5):
        with pytest.raises(ValueError, match="sync_interval"):
            SharedBreaker(b, SharedMemory(clock), sync_interval=bad)  # type: ignore[arg-type]


async def test_a_busy_half_open_circuit_says_so(openai_fake: tuple[FakeOpenAI, str]) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    clock.now += 30
    await state.take("breaker:svc:trials", 1, 1)
    busy = await fails(a.complete("hi", model="gpt-test"), E.CircuitOpenError)
    assert isinstance(busy, E.CircuitOpenError) and busy.provider == "svc" and busy.retry_after is None
    text = str(busy)
    assert text.startswith("[svc] the circuit is half-open and its trial calls are in flight (in this or another process)")
    assert "; not calling — the backend failed repeatedly; a few trial calls are testing it now (a fallback" in text
    assert text.endswith("(a fallback, if configured, answers meanwhile)")
    assert repr(a._shared_breaker) == f"SharedBreaker({a.breaker!r}, backend=memory)"


async def test_an_opening_published_late_keeps_only_the_rest_of_the_cool_down(openai_fake: tuple[FakeOpenAI, str]) -> None:
    """A stream cut opens the circuit here; the opening is published when the next call ends."""
    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state, failure_threshold=1)
    b = provider(url, clock, state, failure_threshold=1)
    await fails(a.stream("hi", model="gpt-cut").final(), E.ProviderConnectionError)
    clock.now += 29.5
    await fails(a.complete("hi", model="gpt-test"), E.CircuitOpenError)  # rejected here; publishes
    keys = ["breaker:svc:open", "breaker:svc:half_open"]
    assert rounded(await state.peek(keys)) == [(1.0, 0.5), (1.0, 30.5)]
    rejected = await fails(b.complete("hi", model="gpt-test"), E.CircuitOpenError)
    assert isinstance(rejected, E.CircuitOpenError) and rejected.retry_after == pytest.approx(0.5, abs=0.01)


async def test_an_opening_published_after_its_cool_down_opens_nothing(openai_fake: tuple[FakeOpenAI, str]) -> None:
    fake, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state, failure_threshold=1)
    await fails(a.stream("hi", model="gpt-cut").final(), E.ProviderConnectionError)
    clock.now += 31
    await fails(a.complete("hi", model="gpt-broken"))  # its own half-open trial fails: open again
    keys = ["breaker:svc:open", "breaker:svc:half_open"]
    assert rounded(await state.peek(keys)) == [(1.0, 30.0), (1.0, 60.0)]  # the new opening only


async def test_an_opening_closed_again_before_it_was_published_is_not_published(
    openai_fake: tuple[FakeOpenAI, str],
) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state, failure_threshold=1)
    await fails(a.stream("hi", model="gpt-cut").final(), E.ProviderConnectionError)
    clock.now += 31
    assert (await a.complete("hi", model="gpt-test")).text  # its trial closes it first
    assert await state.peek(["breaker:svc:open", "breaker:svc:half_open"]) == [(0.0, None), (0.0, None)]


async def test_a_failed_trial_does_not_hand_its_slot_on(openai_fake: tuple[FakeOpenAI, str]) -> None:
    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)
    a = provider(url, clock, state)
    for _ in range(2):
        await fails(a.complete("hi", model="gpt-broken"))
    clock.now += 30
    state.adds.clear()
    await fails(a.complete("hi", model="gpt-broken"))  # the trial fails: reopened, no slot freed
    assert ("breaker:svc:trials", -1) not in state.adds


async def test_a_failure_and_a_success_within_one_call_leave_no_run(openai_fake: tuple[FakeOpenAI, str]) -> None:
    from llmswitch.routing import RetryPolicy

    _, url = openai_fake
    clock = Clock()
    state = SharedMemory(clock)

    async def no_wait(seconds: float) -> None:
        pass

    p = OpenAIProvider(name="svc", base_url=url, api_key=openai_server.VALID_KEY, state=state,
                       breaker=CircuitBreaker("svc", clock=clock, failure_threshold=3),
                       retries=RetryPolicy(retries=2, sleep=no_wait))
    _built.append(p)
    assert (await p.complete("hi", model="gpt-flaky-1-500")).text  # fails once, then answers
    assert state.adds == [("breaker:svc:failures", 1)]
    assert await state.get("breaker:svc:failures") == 0.0


# --- the hook SharedBreaker uses: CircuitBreaker.open(retry_after=...) ------------------------------


def test_open_with_retry_after_ends_the_cool_down_then() -> None:
    clock = Clock()
    changes: list[tuple[str, str]] = []
    b = CircuitBreaker("svc", recovery_timeout=30, clock=clock, listeners=[lambda br, o, n: changes.append((o.value, n.value))])
    b.open(retry_after=5)
    with pytest.raises(E.CircuitOpenError) as info:
        b.before_call()
    assert info.value.retry_after == pytest.approx(5.0)
    b.open(retry_after=12)  # already open: the deadline moves, no new state change
    clock.now += 6
    assert b.state is CircuitState.OPEN
    clock.now += 6
    assert b.state is CircuitState.HALF_OPEN
    b.open(retry_after=-3)  # a negative rest is none: open, half-open at once
    assert b.state is CircuitState.HALF_OPEN
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "open"), ("open", "half_open")]
    b2 = CircuitBreaker("svc", recovery_timeout=30, clock=clock)
    b2.open()  # without retry_after: the whole cool-down, as before
    clock.now += 29.9
    assert b2.state is CircuitState.OPEN


# --- the real Redis: two OS processes ------------------------------------------------------------


def _trip_in_child(url: str, redis_url: str) -> None:
    from llmswitch.state.redis import RedisBackend

    async def main() -> None:
        p = OpenAIProvider(name="svc", base_url=url, api_key=openai_server.VALID_KEY, retries=0,
                           breaker={"failure_threshold": 2, "recovery_timeout": 2.0}, state=RedisBackend(redis_url))
        for _ in range(2):
            try:
                await p.complete("hi", model="gpt-broken")
            except E.ProviderUnavailableError:
                pass
        assert p.breaker is not None and p.breaker.state is CircuitState.OPEN
        assert p.state.degraded is False  # type: ignore[attr-defined]
        await p.aclose()
        await p.state.aclose()

    asyncio.run(main())


def test_two_processes_sharing_redis_one_trips_the_breaker_and_the_other_is_rejected(
    openai_fake: tuple[FakeOpenAI, str], redis_server: RedisServer
) -> None:
    pytest.importorskip("redis")
    from llmswitch.state.redis import RedisBackend

    fake, url = openai_fake
    p = fork_context().Process(target=_trip_in_child, args=(url, redis_server.url))
    p.start()
    p.join(CHILD_JOIN_SECONDS)
    assert p.exitcode == 0, f"the child failed with exit code {p.exitcode}"
    assert sent(fake) == 2

    async def here() -> None:
        state = RedisBackend(redis_server.url)
        me = OpenAIProvider(name="svc", base_url=url, api_key=openai_server.VALID_KEY, retries=0,
                            breaker={"failure_threshold": 2, "recovery_timeout": 2.0}, state=state)
        rejected = await fails(me.complete("hi", model="gpt-test"), E.CircuitOpenError)
        assert isinstance(rejected, E.CircuitOpenError) and rejected.retry_after is not None
        assert 0 < rejected.retry_after <= 2.0
        assert sent(fake) == 2  # rejected here without a request
        await asyncio.sleep(rejected.retry_after + 0.1)  # the cool-down, in real time
        assert (await me.complete("hi", model="gpt-test")).text  # half-open trial, then closed
        assert me.breaker is not None and me.breaker.state is CircuitState.CLOSED
        assert not state.degraded
        await me.aclose()
        await state.aclose()

    asyncio.run(here())


async def test_redis_killed_mid_run_fails_no_call_and_shared_state_returns(
    openai_fake: tuple[FakeOpenAI, str], redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    from llmswitch.state.redis import RedisBackend

    fake, url = openai_fake
    state = RedisBackend(redis_server.url, reprobe_after=0.05, reprobe_max=0.2)
    p = OpenAIProvider(name="svc", base_url=url, api_key=openai_server.VALID_KEY, retries=0,
                       breaker={"failure_threshold": 3, "recovery_timeout": 30.0}, state=state)
    try:
        for i in range(20):
            if i == 5:
                redis_server.kill()
            assert (await p.complete("hi", model="gpt-test")).text  # not one call fails
        assert state.degraded
        warnings = [r for r in caplog.records if r.name == "llmswitch.state" and r.levelno >= logging.WARNING]
        assert len(warnings) == 1
        redis_server.start()
        deadline = time.monotonic() + 5
        while state.degraded and time.monotonic() < deadline:
            assert (await p.complete("hi", model="gpt-test")).text
            await asyncio.sleep(0.02)
        assert not state.degraded
        other = RedisBackend(redis_server.url)  # another process opens the circuit
        await other.set("breaker:svc:open", 1, ttl=30)
        before = sent(fake)
        await fails(p.complete("hi", model="gpt-test"), E.CircuitOpenError)
        assert sent(fake) == before
        await other.aclose()
    finally:
        await p.aclose()
        await state.aclose()


async def test_a_registry_with_redis_state_shares_its_providers_breakers(
    openai_fake: tuple[FakeOpenAI, str], redis_server: RedisServer
) -> None:
    """Two registries from one config stand for two processes (each its own backend and breaker)."""
    from llmswitch.registry import ProviderRegistry

    fake, url = openai_fake
    config = {
        "providers": {"svc": {"type": "openai-compatible", "base_url": url, "api_key": openai_server.VALID_KEY,
                              "retries": 0, "breaker": {"failure_threshold": 2, "recovery_timeout": 30}}},
        "state": {"backend": "redis", "url": redis_server.url, "key_prefix": "reg:"},
    }
    one = ProviderRegistry.from_config(config, enable_log=False)
    two = ProviderRegistry.from_config(config, enable_log=False)
    a, b = one.get("svc"), two.get("svc")
    assert a.state is not b.state
    try:
        for _ in range(2):
            await fails(a.complete("hi", model="gpt-broken"))
        before = sent(fake)
        await fails(b.complete("hi", model="gpt-test"), E.CircuitOpenError)
        assert sent(fake) == before
    finally:
        for prov in (a, b):
            await prov.aclose()
            await prov.state.aclose()


async def test_the_happy_path_costs_one_redis_round_trip_per_call(
    openai_fake: tuple[FakeOpenAI, str], redis_server: RedisServer
) -> None:
    """Counted by Redis itself: INFO commandstats after CONFIG RESETSTAT. The one command is the
    peek script (EVALSHA); the GET and PTTL it runs inside are not round trips."""
    import redis.asyncio

    from llmswitch.state.redis import RedisBackend

    _, url = openai_fake
    state = RedisBackend(redis_server.url)
    p = OpenAIProvider(name="svc", base_url=url, api_key=openai_server.VALID_KEY,
                       breaker={"failure_threshold": 5}, state=state)
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        assert (await p.complete("hi", model="gpt-test")).text  # connects and loads the script
        await admin.config_resetstat()
        for _ in range(10):
            assert (await p.complete("hi", model="gpt-test")).text
        await p.stream("hi", model="gpt-test").final()
        stats = await admin.info("commandstats")
        top_level = {k: v["calls"] for k, v in stats.items() if k not in ("cmdstat_get", "cmdstat_pttl", "cmdstat_info", "cmdstat_config|resetstat")}
        assert top_level == {"cmdstat_evalsha": 11}
        assert stats["cmdstat_get"]["calls"] == 33 and stats["cmdstat_pttl"]["calls"] == 33  # 3 keys, inside the script
    finally:
        await admin.aclose()
        await p.aclose()
        await state.aclose()


def test_an_agents_chain_over_shared_redis_from_sync_code_fails_no_call(
    openai_fake: tuple[FakeOpenAI, str], redis_server: RedisServer
) -> None:
    """The scripted outage, two registries standing for two processes, through the sync API (the
    background loop's own Redis client): the first registry's primary fails until its circuit
    opens, the fallback answers every call; the second registry never sends its primary a request."""
    from llmswitch.registry import ProviderRegistry

    fake, url = openai_fake
    member = {"type": "openai-compatible", "base_url": url, "api_key": openai_server.VALID_KEY, "retries": 0}
    config = {
        "providers": {
            "primary": {**member, "default_model": "gpt-broken", "breaker": {"failure_threshold": 2, "recovery_timeout": 30}},
            "backup": {**member, "default_model": "gpt-test"},
        },
        "agents": {"coder": {"provider": "primary", "fallbacks": ["backup"]}},
        "state": {"backend": "redis", "url": redis_server.url},
    }
    one = ProviderRegistry.from_config(config, enable_log=False)
    two = ProviderRegistry.from_config(config, enable_log=False)

    def to_primary() -> int:
        return sum(1 for body in fake.requests if body.get("model") == "gpt-broken")

    for _ in range(3):
        reply = one.complete_for_agent("coder", "hi")
        assert reply.text and reply.provider == "backup"
    assert to_primary() == 2  # two failures opened the circuit; the third call did not try it
    for _ in range(3):
        reply = two.complete_for_agent("coder", "hi")
        assert reply.text and reply.provider == "backup"
    assert to_primary() == 2  # the other "process" never called the failing primary
    state = two.get("primary").state
    assert state.name == "redis" and not state.degraded  # type: ignore[attr-defined]
