"""The ``CircuitBreaker`` (``llmswitch.routing.breaker``): the state machine with an injected
clock, the ways to use it standalone, safety from threads and tasks, and a provider's breaker
against the OpenAI fake (whose ``requests`` list shows which calls were really made)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.routing import BreakerStats, CircuitBreaker, CircuitState
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, **kw: Any) -> tuple[CircuitBreaker, list[tuple[str, str]]]:
    changes: list[tuple[str, str]] = []
    b = CircuitBreaker("svc", clock=clock, listeners=[lambda br, old, new: changes.append((old.value, new.value))], **kw)
    return b, changes


def fail(b: CircuitBreaker, error: BaseException | None = None) -> None:
    b.before_call()
    b.after_call(error or E.ProviderUnavailableError("500", provider="svc"))


def ok(b: CircuitBreaker) -> None:
    b.before_call()
    b.after_call(None)


def test_the_alias_and_the_states() -> None:
    assert E.CircuitBreakerError is E.CircuitOpenError
    assert [s.name for s in CircuitState] == ["CLOSED", "OPEN", "HALF_OPEN"]
    assert CircuitBreaker().state is CircuitState.CLOSED


def test_opens_after_n_consecutive_failures_and_rejects_at_once() -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=3, recovery_timeout=30)
    fail(b)
    fail(b)
    ok(b)  # a success breaks the run
    fail(b)
    fail(b)
    assert b.state is CircuitState.CLOSED
    fail(b)
    assert b.state is CircuitState.OPEN and changes == [("closed", "open")]
    clock.now += 10
    with pytest.raises(E.CircuitBreakerError) as info:
        b.before_call()
    assert info.value.retry_after == pytest.approx(20.0)
    assert info.value.retryable and info.value.provider == "svc"
    s = b.stats
    assert (s.calls, s.successes, s.failures, s.rejections, s.state_changes) == (6, 1, 5, 1, 1)
    assert s.consecutive_failures == 3 and s.last_failure is not None and "ProviderUnavailableError" in s.last_failure
    assert s.last_failure_time is not None and s.opened_at is not None


@pytest.mark.parametrize(
    "error",
    [E.InvalidRequestError("400"), E.ContextWindowExceededError("ctx"), E.AuthenticationError("401"),
     E.ModelNotFoundError("404"), E.CircuitOpenError("other breaker")],
)
def test_request_faults_do_not_count(error: Exception) -> None:
    b, _ = breaker(Clock(), failure_threshold=1)
    fail(b, error)
    assert b.state is CircuitState.CLOSED and b.stats.failures == 0 and b.stats.ignored_errors == 1


@pytest.mark.parametrize(
    "error",
    [E.ProviderTimeoutError("t"), E.ProviderConnectionError("c"), E.ProviderUnavailableError("5xx"),
     E.RateLimitError("429"), OSError("a plain exception counts in standalone use")],
)
def test_backend_faults_count(error: Exception) -> None:
    b, _ = breaker(Clock(), failure_threshold=1)
    fail(b, error)
    assert b.state is CircuitState.OPEN


def test_which_errors_count_is_configurable() -> None:
    b, _ = breaker(Clock(), failure_threshold=1, counts=lambda e: isinstance(e, KeyError))
    fail(b, E.ProviderUnavailableError("500"))
    assert b.state is CircuitState.CLOSED
    fail(b, KeyError("x"))
    assert b.state is CircuitState.OPEN


def test_half_open_lets_limited_trials_through_then_closes() -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=5, half_open_max_calls=2, success_threshold=2)
    fail(b)
    clock.now += 4.9
    assert b.state is CircuitState.OPEN
    clock.now += 0.1
    assert b.state is CircuitState.HALF_OPEN
    b.before_call()
    b.before_call()
    with pytest.raises(E.CircuitOpenError) as info:  # both trial slots are taken
        b.before_call()
    assert info.value.retry_after is None
    b.after_call(None)
    assert b.state is CircuitState.HALF_OPEN  # one success of the two needed
    b.after_call(None)
    assert b.state is CircuitState.CLOSED
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    ok(b)


def test_a_failed_trial_opens_again_for_a_fresh_cool_down() -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=5)
    fail(b)
    clock.now += 5
    fail(b)
    assert b.state is CircuitState.OPEN
    with pytest.raises(E.CircuitOpenError) as info:
        b.before_call()
    assert info.value.retry_after == pytest.approx(5.0)
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "open")]


def test_a_cancelled_trial_frees_its_slot_without_counting() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=1, recovery_timeout=1)
    fail(b)
    clock.now += 1
    b.before_call()
    b.after_call(asyncio.CancelledError())
    assert b.state is CircuitState.HALF_OPEN and b.stats.failures == 1
    ok(b)
    assert b.state is CircuitState.CLOSED


def test_failure_rate_over_a_window() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=100, failure_rate_threshold=0.5, minimum_calls=4, window=10)
    for step in (ok, fail, ok):
        step(b)
        clock.now += 1
    assert b.state is CircuitState.CLOSED  # 1 of 3: under the minimum number of calls
    fail(b)
    assert b.state is CircuitState.OPEN  # 2 of 4 = 50%


def test_failure_rate_forgets_what_left_the_window() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=100, failure_rate_threshold=0.5, minimum_calls=4, window=10)
    fail(b)
    fail(b)
    clock.now += 11  # both failures are out of the window now
    for _ in range(3):
        ok(b)
    fail(b)
    assert b.state is CircuitState.CLOSED  # 1 of 4 in the window


def test_settings_are_checked() -> None:
    for bad in ({"failure_threshold": 0}, {"recovery_timeout": -1}, {"failure_rate_threshold": 1.5}, {"half_open_max_calls": 1.5}):
        with pytest.raises(ValueError):
            CircuitBreaker(**bad)
    assert CircuitBreaker.from_settings("p", None) is None and CircuitBreaker.from_settings("p", False) is None
    b = CircuitBreaker.from_settings("p", {"failure_threshold": 2, "recovery_timeout": 9})
    assert b is not None and (b.name, b.failure_threshold, b.recovery_timeout) == ("p", 2, 9.0)
    with pytest.raises(ValueError, match="failure_treshold"):
        CircuitBreaker.from_settings("p", {"failure_treshold": 2})


def test_call_decorator_and_context_managers() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=2)
    assert b.call(lambda x, y: x + y, 1, y=2) == 3

    @b
    def boom() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        boom()
    with pytest.raises(ConnectionError), b:
        raise ConnectionError("down")
    with pytest.raises(E.CircuitOpenError):
        b.call(lambda: 1)
    assert boom.__name__ == "boom"
    assert b.stats.rejections == 1


async def test_acall_async_decorator_and_async_with() -> None:
    b, changes = breaker(Clock(), failure_threshold=2)

    @b
    async def answer(x: int) -> int:
        return x * 2

    assert await answer(21) == 42
    assert await b.acall(answer, 1) == 2
    for _ in range(2):
        with pytest.raises(TimeoutError):
            async with b:
                raise TimeoutError
    with pytest.raises(E.CircuitOpenError):
        async with b:
            pytest.fail("an open circuit never runs the block")
    assert changes == [("closed", "open")]


def test_a_failing_listener_never_breaks_a_call(caplog: pytest.LogCaptureFixture) -> None:
    b = CircuitBreaker("svc", failure_threshold=1)
    seen: list[CircuitState] = []
    b.add_listener(lambda *_: 1 / 0)
    b.add_listener(lambda br, old, new: seen.append(new))
    fail(b)
    assert seen == [CircuitState.OPEN]
    assert "listener" in caplog.text and "opened" in caplog.text


def test_manual_open_and_reset() -> None:
    b, changes = breaker(Clock())
    b.open()
    assert b.state is CircuitState.OPEN
    b.reset()
    assert b.state is CircuitState.CLOSED and b.stats == BreakerStats()
    assert changes == [("closed", "open"), ("open", "closed")]


def test_safe_from_threads() -> None:
    b = CircuitBreaker("svc", failure_threshold=10**9)
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        for n in range(2000):
            try:
                b.call(_maybe_fail, (i + n) % 2 == 0)
            except ConnectionError:
                pass

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = b.stats
    assert (s.calls, s.successes, s.failures) == (16000, 8000, 8000)


def _maybe_fail(fail_now: bool) -> None:
    if fail_now:
        raise ConnectionError("down")


async def test_half_open_admits_exactly_its_trials_from_many_tasks() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=1, recovery_timeout=1, half_open_max_calls=3)
    fail(b)
    clock.now += 1
    gate = asyncio.Event()
    made: list[int] = []

    async def trial(i: int) -> None:
        async with b:
            made.append(i)
            await gate.wait()

    tasks = [asyncio.create_task(trial(i)) for i in range(50)]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert len(made) == 3
    assert sum(isinstance(r, E.CircuitOpenError) for r in results) == 47
    assert b.state is CircuitState.CLOSED


# --- a provider's breaker, against the fake ----------------------------------------------------


def sent(fake: FakeOpenAI) -> int:
    return len(fake.requests)


async def test_a_providers_breaker_opens_rejects_fast_half_opens_and_closes(openai_fake: tuple[FakeOpenAI, str]) -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=2, recovery_timeout=30)
    p = OpenAIProvider(base_url=openai_fake[1], api_key=openai_server.VALID_KEY, retries=0, breaker=b)
    assert p.breaker is b
    for _ in range(2):
        with pytest.raises(E.ProviderUnavailableError):
            await p.complete("hi", model="gpt-broken")
    assert sent(openai_fake[0]) == 2 and b.state is CircuitState.OPEN
    with pytest.raises(E.CircuitOpenError) as info:
        await p.complete("hi", model="gpt-test")
    assert sent(openai_fake[0]) == 2  # rejected without a request
    assert info.value.retry_after == pytest.approx(30.0)
    with pytest.raises(E.CircuitOpenError):  # a stream is rejected the same way
        await p.stream("hi", model="gpt-test").final()
    assert sent(openai_fake[0]) == 2
    clock.now += 30
    assert (await p.complete("hi", model="gpt-test")).text  # the trial call
    assert b.state is CircuitState.CLOSED
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert p.usage.errors == 4 and p.usage.calls == 1


async def test_an_open_circuit_is_not_waited_out_by_the_providers_own_retries(openai_fake: tuple[FakeOpenAI, str]) -> None:
    sleeps: list[float] = []

    async def record(s: float) -> None:
        sleeps.append(s)

    from llmswitch.routing import RetryPolicy

    p = OpenAIProvider(base_url=openai_fake[1], api_key=openai_server.VALID_KEY,
                       retries=RetryPolicy(retries=5, sleep=record, jitter=lambda: 0.5),
                       breaker={"failure_threshold": 2, "recovery_timeout": 30})
    with pytest.raises(E.CircuitOpenError) as info:
        await p.complete("hi", model="gpt-broken")
    assert sent(openai_fake[0]) == 2 and sleeps == [0.25]  # two attempts, then the circuit opened
    assert isinstance(info.value.__cause__, E.ProviderUnavailableError)


async def test_a_stream_cut_after_its_first_event_counts_as_a_failure(openai_fake: tuple[FakeOpenAI, str]) -> None:
    p = OpenAIProvider(base_url=openai_fake[1], api_key=openai_server.VALID_KEY, retries=0, breaker={"failure_threshold": 1})
    with pytest.raises(E.ProviderConnectionError):
        await p.stream("hi", model="gpt-cut").final()
    assert p.breaker is not None and p.breaker.state is CircuitState.OPEN


async def test_a_stream_that_fails_to_open_counts_once(openai_fake: tuple[FakeOpenAI, str]) -> None:
    p = OpenAIProvider(base_url=openai_fake[1], api_key=openai_server.VALID_KEY, retries=0, breaker={"failure_threshold": 3})
    with pytest.raises(E.ProviderUnavailableError):
        await p.stream("hi", model="gpt-broken").final()
    assert p.breaker is not None
    s = p.breaker.stats
    assert (s.calls, s.failures, s.successes) == (1, 1, 0)
    assert (await p.stream("hi", model="gpt-test").final()).text
    s = p.breaker.stats
    assert (s.calls, s.failures, s.successes, s.consecutive_failures) == (2, 1, 1, 0)


def test_an_outcome_from_an_earlier_state_does_not_move_the_state() -> None:
    """A slow call admitted while CLOSED that ends during HALF_OPEN is no trial: it neither closes
    the circuit nor takes a trial slot; the statistics still count it."""
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=5)
    slow = b.before_call()  # admitted while closed
    fail(b)  # the circuit opens
    clock.now += 5
    assert b.state is CircuitState.HALF_OPEN
    b.after_call(None, slow)
    assert b.state is CircuitState.HALF_OPEN and b.stats.successes == 1
    trial = b.before_call()
    b.after_call(E.ProviderConnectionError("still down"), trial)
    assert b.state is CircuitState.OPEN
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "open")]
