"""The retry policy's rules one by one (``llmswitch.routing.retry``), on injected time: what a
setting accepts, which waits the schedule gives, where it stops, and how ``run`` talks to a
``CircuitBreaker`` — the details a user notices as a call retried once too often, a wait too long,
or a breaker that lets a slow call decide its state.

No test sleeps: ``sleep`` records, ``clock`` and the breaker's clock are counters moved by hand."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch._transport import call_deadline
from llmswitch.routing import CircuitBreaker, CircuitState, RetryPolicy, is_retryable


class Sleeps(list[float]):
    """A ``sleep`` that records the waits instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Clock:
    """A clock moved by hand (for the policy's ``clock`` and the breaker's)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def unavailable() -> E.ProviderUnavailableError:
    return E.ProviderUnavailableError("503", provider="svc")


def state(b: CircuitBreaker) -> CircuitState:
    """The breaker's state, read afresh (a call, so a type checker does not carry a narrowing over)."""
    return b.state


# --- which errors are retried ---------------------------------------------------------------------


class _Retryable(Exception):
    """A caller's own error that says it is retryable and says nothing about its outcome."""

    retryable = True


def test_an_error_without_outcome_unknown_is_retried_with_retry_on_timeout_off() -> None:
    assert is_retryable(_Retryable(), retry_on_timeout=False)
    assert is_retryable(_Retryable())
    assert not is_retryable(ValueError("says nothing about retrying"))
    assert not is_retryable(ValueError("x"), retry_on_timeout=False)


def test_retry_on_timeout_off_gives_no_wait_for_an_unknown_outcome() -> None:
    p = RetryPolicy(retry_on_timeout=False, jitter=lambda: 0.5)
    assert p.wait_before(E.ProviderTimeoutError("no answer"), 0, 0.0) is None
    assert p.wait_before(E.ProviderConnectionError("refused"), 0, 0.0) == 0.25
    assert RetryPolicy(jitter=lambda: 0.5).wait_before(E.ProviderTimeoutError("no answer"), 0, 0.0) == 0.25


# --- what the settings accept --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["initial_backoff", "max_backoff", "max_wait"])
@pytest.mark.parametrize("bad", [-0.1, "1", None])
def test_each_wait_setting_is_checked_by_name(name: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a number of seconds >= 0, not {bad!r}$"):
        RetryPolicy(**{name: bad})


def test_zero_and_fractions_are_valid_waits() -> None:
    p = RetryPolicy(retries=0, initial_backoff=0, max_backoff=0.5, max_wait=0, max_time=0.5)
    assert (p.retries, p.initial_backoff, p.max_backoff, p.max_wait, p.max_time) == (0, 0, 0.5, 0, 0.5)
    assert RetryPolicy(initial_backoff=0.5, max_wait=0.5).max_wait == 0.5


@pytest.mark.parametrize("bad", [0, -1, "5"])
def test_max_time_must_be_positive(bad: Any) -> None:
    with pytest.raises(ValueError, match=f"^max_time must be a positive number of seconds or None, not {bad!r}$"):
        RetryPolicy(max_time=bad)


def test_the_retries_message_names_the_value() -> None:
    with pytest.raises(ValueError, match=r"^retries must be a whole number >= 0 \(0 turns retrying off\), not -1$"):
        RetryPolicy(retries=-1)


# --- from_settings and with_retries --------------------------------------------------------------


def test_from_settings_applies_each_setting() -> None:
    p = RetryPolicy.from_settings(4, max_wait=5, max_time=9, on_timeout=False)
    assert p is not None
    assert (p.retries, p.max_wait, p.max_time, p.retry_on_timeout) == (4, 5.0, 9.0, False)
    assert isinstance(p.max_wait, float) and isinstance(p.max_time, float)
    assert RetryPolicy.from_settings(1, on_timeout=False) == RetryPolicy(retries=1, retry_on_timeout=False)
    assert RetryPolicy.from_settings(1, on_timeout=True) == RetryPolicy(retries=1, retry_on_timeout=True)
    assert RetryPolicy.from_settings(None, max_wait=7) == RetryPolicy(retries=2, max_wait=7.0)


def test_from_settings_keeps_defaults_for_what_is_not_given() -> None:
    p = RetryPolicy.from_settings(3)
    assert p == RetryPolicy(retries=3)
    assert p is not None and (p.max_wait, p.max_time, p.retry_on_timeout) == (60.0, None, True)


def test_from_settings_takes_a_policy_as_given_unless_it_is_off() -> None:
    mine = RetryPolicy(retries=5, max_wait=1)
    assert RetryPolicy.from_settings(mine) is mine
    assert RetryPolicy.from_settings(RetryPolicy(retries=0)) is None
    assert RetryPolicy.from_settings(0, max_wait=5) is None


def test_with_retries_changes_only_the_count() -> None:
    p = RetryPolicy(retries=2, max_wait=3)
    assert p.with_retries(2) == p
    q = p.with_retries(5)
    assert q.retries == 5 and q.max_wait == 3 and p.retries == 2
    assert p.with_retries(0).retries == 0


# --- the schedule --------------------------------------------------------------------------------


def test_without_a_cap_the_bound_stops_doubling_instead_of_overflowing() -> None:
    p = RetryPolicy(initial_backoff=1, max_backoff=math.inf, jitter=lambda: 1.0)
    assert p.backoff(10) == 1024.0
    assert p.backoff(10_000) == 2.0**62  # finite: 2.0 ** 10_000 would raise OverflowError
    assert RetryPolicy(jitter=lambda: 1.0).backoff(10_000) == 8.0


def test_a_wait_exactly_max_wait_is_honoured() -> None:
    p = RetryPolicy(max_wait=10)
    assert p.wait_before(E.RateLimitError("429", retry_after=10), 0, 0.0) == 10.0
    assert p.wait_before(E.RateLimitError("429", retry_after=0), 0, 0.0) == 0.0


def test_a_wait_that_ends_exactly_at_max_time_is_not_started() -> None:
    p = RetryPolicy(max_time=5)
    assert p.wait_before(E.RateLimitError("429", retry_after=2), 0, 3.0) is None
    assert p.wait_before(E.RateLimitError("429", retry_after=2), 0, 2.9) == 2.0


async def test_the_calls_deadline_bounds_each_wait() -> None:
    p = RetryPolicy(jitter=lambda: 0.5)
    with call_deadline(10.0):
        assert p.wait_before(unavailable(), 0, 0.0) == 0.25
        assert p.wait_before(E.RateLimitError("429", retry_after=5), 0, 0.0) == 5.0
        assert p.wait_before(E.RateLimitError("429", retry_after=11), 0, 0.0) is None
    assert p.wait_before(E.RateLimitError("429", retry_after=11), 0, 0.0) == 11.0


async def test_each_retry_doubles_the_bound_and_the_count_ends_the_call() -> None:
    sleeps = Sleeps()
    calls: list[int] = []

    async def failing() -> None:
        calls.append(1)
        raise unavailable()

    p = RetryPolicy(retries=4, sleep=sleeps, jitter=lambda: 0.5)
    with pytest.raises(E.ProviderUnavailableError):
        await p.run(failing)
    assert len(calls) == 5 and sleeps == [0.25, 0.5, 1.0, 2.0]


async def test_a_zero_wait_does_not_sleep() -> None:
    sleeps = Sleeps()
    seen: list[int] = []

    async def twice() -> str:
        seen.append(1)
        if len(seen) < 3:
            raise E.RateLimitError("429", retry_after=0)
        return "ok"

    assert await RetryPolicy(sleep=sleeps).run(twice) == "ok"
    assert sleeps == [] and len(seen) == 3


async def test_a_short_wait_is_slept() -> None:
    sleeps = Sleeps()
    seen: list[int] = []

    async def once() -> str:
        seen.append(1)
        if len(seen) < 2:
            raise E.RateLimitError("429", retry_after=0.5)
        return "ok"

    assert await RetryPolicy(sleep=sleeps).run(once) == "ok"
    assert sleeps == [0.5]


async def test_max_time_counts_from_the_start_of_the_call() -> None:
    clock = Clock()
    clock.now = 1000.0  # a clock far from zero: elapsed is now - start, not now
    sleeps = Sleeps()
    calls: list[int] = []

    async def slow_failure() -> None:
        calls.append(1)
        clock.now += 1.0
        raise unavailable()

    p = RetryPolicy(retries=3, max_time=4, sleep=sleeps, clock=clock, jitter=lambda: 0.5)
    with pytest.raises(E.ProviderUnavailableError):
        await p.run(slow_failure)
    # elapsed 1 + 0.25, then 2 + 0.5 are under 4; at 3 s the 1.0 s wait would end at 4: stop
    assert len(calls) == 3 and sleeps == [0.25, 0.5]


async def test_a_cancelled_attempt_is_not_retried() -> None:
    sleeps = Sleeps()
    calls: list[int] = []

    async def cancelled() -> None:
        calls.append(1)
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await RetryPolicy(sleep=sleeps).run(cancelled)
    assert calls == [1] and sleeps == []


async def test_a_request_error_is_raised_from_the_first_attempt() -> None:
    sleeps = Sleeps()
    calls: list[int] = []

    async def bad_request() -> None:
        calls.append(1)
        raise E.InvalidRequestError("400")

    with pytest.raises(E.InvalidRequestError):
        await RetryPolicy(sleep=sleeps).run(bad_request)
    assert calls == [1] and sleeps == []


# --- with a breaker ------------------------------------------------------------------------------


async def test_an_open_breaker_rejects_before_the_first_attempt() -> None:
    clock = Clock()
    b = CircuitBreaker("svc", failure_threshold=1, recovery_timeout=30, clock=clock)
    b.open()
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        return "ok"

    with pytest.raises(E.CircuitOpenError) as info:
        await RetryPolicy(sleep=Sleeps()).run(attempt, b)
    assert calls == [] and info.value.__cause__ is None and info.value.retry_after == 30.0
    assert b.stats.rejections == 1 and b.stats.calls == 0


async def test_each_attempt_reports_to_the_breaker() -> None:
    clock = Clock()
    b = CircuitBreaker("svc", failure_threshold=5, clock=clock)
    sleeps = Sleeps()
    seen: list[int] = []

    async def flaky() -> str:
        seen.append(1)
        if len(seen) < 3:
            raise unavailable()
        return "ok"

    assert await RetryPolicy(sleep=sleeps, jitter=lambda: 0.5).run(flaky, b) == "ok"
    s = b.stats
    assert (s.calls, s.failures, s.successes, s.consecutive_failures) == (3, 2, 1, 0)
    assert sleeps == [0.25, 0.5] and b.state is CircuitState.CLOSED


async def test_a_failure_that_opens_the_breaker_is_not_waited_out() -> None:
    clock = Clock()
    b = CircuitBreaker("svc", failure_threshold=2, recovery_timeout=30, clock=clock)
    sleeps = Sleeps()
    calls: list[int] = []

    async def failing() -> None:
        calls.append(1)
        raise E.RateLimitError("429", retry_after=1.5)

    with pytest.raises(E.CircuitOpenError) as info:
        await RetryPolicy(retries=5, sleep=sleeps).run(failing, b)
    assert calls == [1, 1] and sleeps == [1.5]  # no sleep at all once it opened
    assert isinstance(info.value.__cause__, E.RateLimitError)
    assert b.stats.rejections == 1


async def test_a_cancelled_attempt_frees_its_trial_slot() -> None:
    clock = Clock()
    b = CircuitBreaker("svc", failure_threshold=1, recovery_timeout=5, clock=clock)
    b.open()
    clock.now += 5

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await RetryPolicy(sleep=Sleeps()).run(cancelled, b)
    assert state(b) is CircuitState.HALF_OPEN and b.stats.failures == 0
    b.after_call(None, b.before_call())  # the slot is free again: the next trial closes it
    assert state(b) is CircuitState.CLOSED


@pytest.mark.parametrize("outcome", ["fails", "succeeds"])
async def test_an_attempt_admitted_before_the_breaker_changed_does_not_decide_its_trial(outcome: str) -> None:
    """While one slow attempt runs, other callers open the circuit and, after the cool-down, start
    the half-open trial. The slow attempt's outcome belongs to the closed circuit it was admitted
    in: its failure must not reopen the circuit, its success must not close it."""
    clock = Clock()
    b = CircuitBreaker("svc", failure_threshold=1, recovery_timeout=5, clock=clock)
    sleeps = Sleeps()
    trial: list[int] = []

    async def slow() -> str:
        b.after_call(unavailable(), b.before_call())  # another caller's failure opens it
        clock.now += 5
        trial.append(b.before_call())  # another caller's trial is now in flight
        if outcome == "fails":
            raise unavailable()
        return "late"

    if outcome == "fails":
        with pytest.raises(E.CircuitOpenError) as info:  # the retry meets the busy trial slot
            await RetryPolicy(sleep=sleeps, jitter=lambda: 0.5).run(slow, b)
        assert isinstance(info.value.__cause__, E.ProviderUnavailableError)
        assert info.value.retry_after is None and sleeps == [0.25]
    else:
        assert await RetryPolicy(sleep=sleeps).run(slow, b) == "late"
    assert state(b) is CircuitState.HALF_OPEN
    b.after_call(None, trial[0])  # the real trial decides
    assert state(b) is CircuitState.CLOSED


# --- what a retry tells the telemetry -------------------------------------------------------------


def test_each_retry_is_logged_at_debug_with_its_number_error_and_wait(caplog: pytest.LogCaptureFixture) -> None:
    """``llmswitch.calls`` at DEBUG gets one record per retry: which retry, after which error,
    and the wait before it (README "Observability")."""
    import logging

    sleeps = Sleeps()
    policy = RetryPolicy(retries=2, sleep=sleeps, jitter=lambda: 0.5)
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise unavailable()
        return "ok"

    with caplog.at_level(logging.DEBUG, logger="llmswitch.calls"):
        assert asyncio.run(policy.run(flaky)) == "ok"
    records = [r for r in caplog.records if getattr(r, "event", None) == "retry"]
    assert [r.retry for r in records] == [1, 2]  # type: ignore[attr-defined]
    assert [r.error_type for r in records] == ["ProviderUnavailableError"] * 2  # type: ignore[attr-defined]
    assert [r.wait_s for r in records] == list(sleeps)  # type: ignore[attr-defined]
    assert records[0].getMessage() == f"retry 1 after ProviderUnavailableError, waiting {sleeps[0]:.3f} s"
