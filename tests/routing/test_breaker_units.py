"""The ``CircuitBreaker``'s rules one by one (``llmswitch.routing.breaker``), on an injected clock:
its settings and their messages, the exact edges of its thresholds and windows, what its errors,
statistics, listeners and log say, and that every way of using it (``call``, ``acall``, the
decorators, ``with``/``async with``) reports each outcome against the state the call was admitted in.

Everything is observed through public behaviour — ``state``, ``stats``, listeners, the errors and
their ``retry_after`` — so the tests hold whatever keeps the state underneath."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch.routing import BreakerStats, CircuitBreaker, CircuitState, default_counts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Changes = list[tuple[CircuitState, CircuitState]]


def breaker(clock: Clock, **kw: Any) -> tuple[CircuitBreaker, Changes]:
    changes: Changes = []

    def listener(br: CircuitBreaker, old: CircuitState, new: CircuitState) -> None:
        assert br is b
        changes.append((old, new))

    b = CircuitBreaker("svc", clock=clock, listeners=[listener], **kw)
    return b, changes


def unavailable() -> E.ProviderUnavailableError:
    return E.ProviderUnavailableError("500", provider="svc")


def fail(b: CircuitBreaker, error: BaseException | None = None) -> None:
    b.after_call(error or unavailable(), b.before_call())


def ok(b: CircuitBreaker) -> None:
    b.after_call(None, b.before_call())


C, O, H = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN  # noqa: E741 (the states' initials)


# --- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["failure_threshold", "half_open_max_calls", "success_threshold", "minimum_calls"])
@pytest.mark.parametrize("bad", [0, True, 1.5, "2"])
def test_each_count_setting_is_checked_by_name(name: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a whole number >= 1, not {bad!r}$"):
        CircuitBreaker(**{name: bad})


@pytest.mark.parametrize("name", ["recovery_timeout", "window"])
@pytest.mark.parametrize("bad", [0, -1, True, "5"])
def test_each_time_setting_is_checked_by_name(name: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a positive number of seconds, not {bad!r}$"):
        CircuitBreaker(**{name: bad})


@pytest.mark.parametrize("bad", [0, -0.5, 1.01])
def test_the_failure_rate_is_a_fraction(bad: float) -> None:
    with pytest.raises(ValueError, match=rf"^failure_rate_threshold must be in \(0, 1\], not {bad!r}$"):
        CircuitBreaker(failure_rate_threshold=bad)


def test_the_smallest_valid_settings_are_accepted() -> None:
    b = CircuitBreaker("x", failure_threshold=1, half_open_max_calls=1, success_threshold=1, minimum_calls=1,
                       recovery_timeout=0.5, window=0.5, failure_rate_threshold=1)
    assert (b.failure_threshold, b.half_open_max_calls, b.success_threshold, b.minimum_calls) == (1, 1, 1, 1)
    assert (b.recovery_timeout, b.window, b.failure_rate_threshold) == (0.5, 0.5, 1)
    c = CircuitBreaker(recovery_timeout=2, window=3)
    assert isinstance(c.recovery_timeout, float) and isinstance(c.window, float)
    assert (c.recovery_timeout, c.window) == (2.0, 3.0)


def test_defaults_and_repr() -> None:
    b = CircuitBreaker()
    assert (b.name, b.failure_threshold, b.recovery_timeout, b.half_open_max_calls, b.success_threshold) == (
        "circuit", 5, 30.0, 1, 1)
    assert (b.failure_rate_threshold, b.minimum_calls, b.window, b.counts) == (None, 10, 60.0, default_counts)
    assert repr(b) == "CircuitBreaker(name='circuit', state=closed, failure_threshold=5)"
    b.open()
    assert repr(CircuitBreaker("p", failure_threshold=2)) == "CircuitBreaker(name='p', state=closed, failure_threshold=2)"
    assert repr(b) == "CircuitBreaker(name='circuit', state=open, failure_threshold=5)"


def test_from_settings_true_is_the_defaults_under_the_name() -> None:
    b = CircuitBreaker.from_settings("prov", True)
    assert isinstance(b, CircuitBreaker)
    assert (b.name, b.failure_threshold, b.recovery_timeout) == ("prov", 5, 30.0)


def test_from_settings_shares_a_given_breaker() -> None:
    mine = CircuitBreaker("shared")
    assert CircuitBreaker.from_settings("prov", mine) is mine


def test_from_settings_takes_every_setting_of_a_mapping() -> None:
    values = {"failure_threshold": 2, "recovery_timeout": 9, "half_open_max_calls": 3, "success_threshold": 2,
              "failure_rate_threshold": 0.5, "minimum_calls": 4, "window": 20}
    b = CircuitBreaker.from_settings("prov", values)
    assert b is not None and b.name == "prov"
    assert {k: getattr(b, k) for k in CircuitBreaker.SETTINGS} == values


def test_from_settings_names_every_unknown_key_in_order() -> None:
    with pytest.raises(ValueError) as info:
        CircuitBreaker.from_settings("prov", {"zeta": 1, "failure_threshold": 2, "alpha": 3})
    assert str(info.value) == (
        "unknown breaker setting(s) alpha, zeta; known: failure_threshold, recovery_timeout, half_open_max_calls, "
        "success_threshold, failure_rate_threshold, minimum_calls, window"
    )


@pytest.mark.parametrize("value, kind", [(5, "int"), ("yes", "str"), ([("failure_threshold", 2)], "list")])
def test_from_settings_refuses_anything_else(value: Any, kind: str) -> None:
    with pytest.raises(TypeError) as info:
        CircuitBreaker.from_settings("prov", value)
    assert str(info.value) == (
        "breaker must be a CircuitBreaker, a mapping of failure_threshold, recovery_timeout, half_open_max_calls, "
        f"success_threshold, failure_rate_threshold, minimum_calls, window, True or None; got {kind}"
    )


# --- which errors count ----------------------------------------------------------------------------


def test_default_counts() -> None:
    assert default_counts(unavailable()) and default_counts(ConnectionError("down"))
    assert not default_counts(E.InvalidRequestError("400"))
    assert not default_counts(E.CircuitOpenError("another breaker"))
    assert not default_counts(asyncio.CancelledError())
    assert not default_counts(KeyboardInterrupt())


# --- reading the state ------------------------------------------------------------------------------


def test_is_open_only_during_the_cool_down() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=1, recovery_timeout=10)
    assert not b.is_open
    fail(b)
    assert b.is_open
    clock.now += 10
    assert not b.is_open and b.state is H


def test_stats_carry_the_state_and_are_a_copy() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=1, recovery_timeout=10)
    assert b.stats.state is C
    fail(b)
    snap = b.stats
    assert snap.state is O
    clock.now += 10
    assert b.state is H and b.stats.state is H
    snap.failures = 99
    assert b.stats.failures == 1 and snap.state is O


def test_the_cool_down_ends_exactly_at_recovery_timeout() -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=8)
    fail(b)
    clock.now += 7.75
    with pytest.raises(E.CircuitOpenError) as info:
        b.before_call()
    assert info.value.retry_after == 0.25  # under a second left: said exactly
    clock.now += 0.25
    assert b.state is H
    assert changes == [(C, O), (O, H)]


def test_reading_the_state_announces_the_half_open_change_once() -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=1)
    fail(b)
    clock.now += 1
    assert b.state is H and b.state is H
    assert changes == [(C, O), (O, H)]
    assert b.stats.state_changes == 2


# --- the errors a rejected call gets -----------------------------------------------------------------


HINT = ("the backend failed repeatedly; llmswitch tries it again after the cool-down "
        "(a fallback, if configured, answers meanwhile)")


def test_an_open_circuit_says_how_many_failures_opened_it() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=3, recovery_timeout=30)
    for _ in range(3):
        fail(b)
    with pytest.raises(E.CircuitOpenError) as info:
        b.before_call()
    err = info.value
    assert err.message == "the circuit is open after 3 failures; not calling"
    assert err.provider == "svc" and err.hint == HINT and err.retry_after == 30.0


def test_a_manually_opened_circuit_says_too_many() -> None:
    b, _ = breaker(Clock(), recovery_timeout=12)
    b.open()
    with pytest.raises(E.CircuitOpenError) as info:
        b.before_call()
    assert info.value.message == "the circuit is open after too many failures; not calling"
    assert info.value.retry_after == 12.0


def test_a_busy_half_open_circuit_says_so() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=1, recovery_timeout=1)
    fail(b)
    clock.now += 1
    b.before_call()
    with pytest.raises(E.CircuitOpenError) as info:
        b.before_call()
    err = info.value
    assert err.message == "the circuit is half-open and its trial calls are in flight; not calling"
    assert err.retry_after is None and err.provider == "svc" and err.hint == HINT
    with pytest.raises(E.CircuitOpenError):
        b.before_call()
    assert b.stats.rejections == 2 and b.stats.calls == 2


# --- closed: the count of failures in a row ----------------------------------------------------------


def test_opens_at_exactly_the_threshold() -> None:
    b, changes = breaker(Clock(), failure_threshold=2)
    fail(b)
    assert b.state is C and b.stats.consecutive_failures == 1
    fail(b)
    assert b.state is O and changes == [(C, O)]


def test_ignored_errors_neither_count_nor_break_the_run() -> None:
    b, _ = breaker(Clock(), failure_threshold=2)
    fail(b)
    fail(b, E.InvalidRequestError("400"))
    fail(b, E.ContextWindowExceededError("too long"))
    assert b.state is C and b.stats.consecutive_failures == 1 and b.stats.ignored_errors == 2
    fail(b)
    assert b.state is O


def test_the_last_failure_is_recorded_and_capped() -> None:
    b, _ = breaker(Clock(), failure_threshold=5)
    before = time.time()
    fail(b, ConnectionError("x" * 1000))
    s = b.stats
    assert s.last_failure is not None and s.last_failure.startswith("ConnectionError('xxx") and len(s.last_failure) == 500
    assert s.last_failure_time is not None and before <= s.last_failure_time <= time.time()
    fail(b, TimeoutError("t"))
    assert b.stats.last_failure == "TimeoutError('t')"


def test_opening_records_when() -> None:
    b, _ = breaker(Clock(), failure_threshold=1)
    assert b.stats.opened_at is None
    before = time.time()
    fail(b)
    opened = b.stats.opened_at
    assert opened is not None and before <= opened <= time.time()


# --- closed: the failure rate -------------------------------------------------------------------------


def test_the_rate_opens_at_exactly_the_minimum_number_of_calls() -> None:
    b, _ = breaker(Clock(), failure_threshold=100, failure_rate_threshold=1.0, minimum_calls=3, window=60)
    fail(b)
    fail(b)
    assert b.state is C  # 2 of 2 failed, but fewer than 3 calls
    fail(b)
    assert b.state is O


def test_successes_count_in_the_rate() -> None:
    b, _ = breaker(Clock(), failure_threshold=100, failure_rate_threshold=0.6, minimum_calls=2, window=60)
    ok(b)
    fail(b)
    assert b.state is C  # 1 of 2 is under 60%
    fail(b)
    assert b.state is O  # 2 of 3


def test_an_outcome_exactly_window_old_has_left_it() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=100, failure_rate_threshold=0.5, minimum_calls=2, window=10)
    fail(b)
    clock.now += 10
    ok(b)
    ok(b)
    fail(b)
    assert b.state is C  # 1 of 3 in the window: the first failure has left it
    clock.now += 9
    fail(b)
    assert b.state is O  # 2 of 4


def test_the_rate_starts_afresh_after_the_circuit_closes() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=100, failure_rate_threshold=0.5, minimum_calls=4, window=60,
                   recovery_timeout=1)
    for step in (fail, fail, ok, fail):
        step(b)
    assert b.state is O
    clock.now += 1
    ok(b)  # the trial closes it
    assert b.state is C
    for step in (fail, ok, ok):
        step(b)
    assert b.state is C  # 1 of 3: the window before the outage is gone
    fail(b)
    assert b.state is O


def test_no_rate_unless_asked() -> None:
    b, _ = breaker(Clock(), failure_threshold=3, minimum_calls=1)
    fail(b)
    fail(b)
    assert b.state is C


# --- half-open ---------------------------------------------------------------------------------------


def test_a_finished_trial_frees_its_slot_for_the_next() -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=1, half_open_max_calls=1, success_threshold=3)
    fail(b)
    clock.now += 1
    ok(b)
    t2 = b.before_call()
    with pytest.raises(E.CircuitOpenError):  # one slot, taken by t2
        b.before_call()
    b.after_call(None, t2)
    assert b.state is H
    ok(b)
    assert b.state is C and changes == [(C, O), (O, H), (H, C)]


def test_each_half_open_period_needs_its_own_successes() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=1, recovery_timeout=1, success_threshold=2)
    fail(b)
    clock.now += 1
    ok(b)  # one of two
    fail(b)  # reopens
    clock.now += 1
    ok(b)
    assert b.state is H  # the earlier success does not carry over
    ok(b)
    assert b.state is C


def test_a_closed_circuit_starts_a_fresh_run_of_failures() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=2, recovery_timeout=1)
    fail(b)
    fail(b)
    clock.now += 1
    ok(b)
    assert b.state is C and b.stats.consecutive_failures == 0
    fail(b)
    assert b.state is C  # one failure of two
    fail(b)
    assert b.state is O


def test_an_outcome_without_a_ticket_is_no_trial_when_none_is_in_flight() -> None:
    """A caller that reports without the ticket (an older use of ``after_call``), for a call
    admitted while closed that ends during half-open: it is counted but decides nothing."""
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=1)
    fail(b)
    clock.now += 1
    assert b.state is H
    b.after_call(None)
    assert b.state is H and b.stats.successes == 1
    ok(b)
    assert b.state is C and changes == [(C, O), (O, H), (H, C)]


def test_a_cancelled_trial_counts_as_nothing_even_when_everything_counts() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=1, recovery_timeout=1, counts=lambda e: True)
    fail(b)
    clock.now += 1
    b.after_call(asyncio.CancelledError(), b.before_call())
    s = b.stats
    assert b.state is H and (s.failures, s.successes, s.ignored_errors) == (1, 0, 0)


# --- outcomes of calls admitted in an earlier state ---------------------------------------------------


def _into_half_open_with_a_trial(b: CircuitBreaker, clock: Clock) -> int:
    """Other callers' failures open ``b``; after the cool-down one trial is in flight: its ticket."""
    while b.state is not O:
        fail(b)
    clock.now += b.recovery_timeout
    return b.before_call()


def test_a_stale_failure_is_counted_but_moves_nothing() -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=5)
    slow = [b.before_call() for _ in range(6)]  # six slow calls admitted while closed
    trial = _into_half_open_with_a_trial(b, clock)
    before = time.time()
    b.after_call(ConnectionError("y" * 600), slow[0])
    s = b.stats
    assert b.state is H and (s.failures, s.consecutive_failures) == (2, 1)
    assert s.last_failure is not None and s.last_failure.startswith("ConnectionError('yy") and len(s.last_failure) == 500
    assert s.last_failure_time is not None and before <= s.last_failure_time <= time.time()
    b.after_call(E.InvalidRequestError("400"), slow[1])
    b.after_call(E.ModelNotFoundError("404"), slow[2])
    b.after_call(asyncio.CancelledError(), slow[3])
    s = b.stats
    assert (s.failures, s.ignored_errors, s.successes) == (2, 2, 0)
    b.after_call(None, slow[4])
    b.after_call(None, slow[5])
    assert b.stats.successes == 2 and b.state is H
    with pytest.raises(E.CircuitOpenError):  # the trial's slot is still taken
        b.before_call()
    b.after_call(None, trial)
    assert b.state is C and changes == [(C, O), (O, H), (H, C)]


def test_stale_outcomes_are_recognised_after_many_changes() -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=1, recovery_timeout=5)
    for _ in range(3):  # several full outages and recoveries first
        b.after_call(None, _into_half_open_with_a_trial(b, clock))
    assert b.state is C and b.stats.state_changes == 9
    slow = b.before_call()
    trial = _into_half_open_with_a_trial(b, clock)
    b.after_call(None, slow)
    assert b.state is H
    b.after_call(unavailable(), slow)
    assert b.state is H
    b.after_call(None, trial)
    assert b.state is C


def test_a_failure_reported_after_the_stream_opened_counts_once_open() -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=10)
    fail(b)
    clock.now += 4
    b.after_mid_stream(unavailable())  # another stream, cut while the circuit was already open
    s = b.stats
    assert b.state is O and (s.failures, s.state_changes) == (2, 1) and changes == [(C, O)]
    with pytest.raises(E.CircuitOpenError) as info:
        b.before_call()
    assert info.value.retry_after == 6.0  # the cool-down is not restarted


def test_a_mid_stream_failure_opens_a_closed_or_half_open_circuit() -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=2, recovery_timeout=1)
    b.after_mid_stream(unavailable())
    assert b.state is C and b.stats.consecutive_failures == 1
    b.after_mid_stream(ConnectionError("cut"))
    assert b.state is O and b.stats.last_failure == "ConnectionError('cut')"
    clock.now += 1
    assert b.state is H
    b.after_mid_stream(unavailable())
    assert b.state is O and changes == [(C, O), (O, H), (H, O)]


def test_a_mid_stream_error_that_does_not_count_is_nothing() -> None:
    b, _ = breaker(Clock(), failure_threshold=1, counts=lambda e: not isinstance(e, KeyError))
    b.after_mid_stream(KeyError("not the backend's fault"))
    b.after_mid_stream(E.InvalidRequestError("400"))
    assert b.state is O  # the 400 counts under this counts(): the function decides, not the type
    c, _ = breaker(Clock(), failure_threshold=1, counts=lambda e: True)
    c.after_mid_stream(asyncio.CancelledError())
    d, _ = breaker(Clock(), failure_threshold=1)
    d.after_mid_stream(E.InvalidRequestError("400"))
    assert c.state is C and d.state is C
    assert (c.stats.failures, d.stats.failures, d.stats.ignored_errors) == (0, 0, 0)


# --- the ways to use it: each reports against the state its call was admitted in ----------------------


def _while_running(b: CircuitBreaker, clock: Clock, trial: list[int]) -> None:
    """What other callers do while one slow call runs: open the circuit, wait out the cool-down,
    start the half-open trial."""
    trial.append(_into_half_open_with_a_trial(b, clock))


def _after_slow_call(b: CircuitBreaker, trial: list[int]) -> None:
    assert b.state is H  # the slow call's outcome decided nothing
    with pytest.raises(E.CircuitOpenError):  # nor did it take or free the trial's slot
        b.before_call()
    b.after_call(None, trial[0])
    assert b.state is C


SyncWay = Callable[[CircuitBreaker, Callable[[], str]], str]


def _via_call(b: CircuitBreaker, fn: Callable[[], str]) -> str:
    return b.call(fn)


def _via_decorator(b: CircuitBreaker, fn: Callable[[], str]) -> str:
    return b(fn)()


def _via_with(b: CircuitBreaker, fn: Callable[[], str]) -> str:
    with b:
        return fn()


@pytest.mark.parametrize("way", [_via_call, _via_decorator, _via_with])
@pytest.mark.parametrize("outcome", ["succeeds", "fails"])
def test_a_slow_sync_call_reports_against_the_state_it_was_admitted_in(way: SyncWay, outcome: str) -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=2, recovery_timeout=5)
    trial: list[int] = []

    def slow() -> str:
        _while_running(b, clock, trial)
        if outcome == "fails":
            raise ConnectionError("late failure")
        return "late answer"

    if outcome == "fails":
        with pytest.raises(ConnectionError):
            way(b, slow)
    else:
        assert way(b, slow) == "late answer"
    _after_slow_call(b, trial)


async def _via_acall(b: CircuitBreaker, fn: Callable[[], Any]) -> str:
    result: str = await b.acall(fn)
    return result


async def _via_async_decorator(b: CircuitBreaker, fn: Callable[[], Any]) -> str:
    result: str = await b(fn)()
    return result


async def _via_async_with(b: CircuitBreaker, fn: Callable[[], Any]) -> str:
    async with b:
        result: str = await fn()
        return result


@pytest.mark.parametrize("way", [_via_acall, _via_async_decorator, _via_async_with])
@pytest.mark.parametrize("outcome", ["succeeds", "fails"])
async def test_a_slow_async_call_reports_against_the_state_it_was_admitted_in(way: Any, outcome: str) -> None:
    clock = Clock()
    b, _ = breaker(clock, failure_threshold=2, recovery_timeout=5)
    trial: list[int] = []

    async def slow() -> str:
        await asyncio.sleep(0)
        _while_running(b, clock, trial)
        if outcome == "fails":
            raise ConnectionError("late failure")
        return "late answer"

    if outcome == "fails":
        with pytest.raises(ConnectionError):
            await way(b, slow)
    else:
        assert await way(b, slow) == "late answer"
    _after_slow_call(b, trial)


def test_wrappers_pass_every_argument_and_keep_the_name() -> None:
    b, _ = breaker(Clock())

    def join(a: str, b_: str, *, sep: str) -> str:
        """Join two strings."""
        return a + sep + b_

    guarded = b(join)
    assert guarded("a", "b", sep="-") == "a-b" and b.call(join, "c", "d", sep="+") == "c+d"
    assert (guarded.__name__, guarded.__doc__) == ("join", "Join two strings.")
    assert b.stats.calls == 2 and b.stats.successes == 2


async def test_async_wrappers_pass_every_argument_and_keep_the_name() -> None:
    b, _ = breaker(Clock())

    async def join(a: str, b_: str, *, sep: str) -> str:
        """Join two strings, later."""
        await asyncio.sleep(0)
        return a + sep + b_

    guarded = b(join)
    assert inspect.iscoroutinefunction(guarded)
    assert await guarded("a", "b", sep="-") == "a-b" and await b.acall(join, "c", "d", sep="+") == "c+d"
    assert (guarded.__name__, guarded.__doc__) == ("join", "Join two strings, later.")
    assert b.stats.calls == 2 and b.stats.successes == 2


async def test_an_async_decorated_failure_counts_when_awaited() -> None:
    b, _ = breaker(Clock(), failure_threshold=1)

    @b
    async def down() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await down()
    assert b.state is O and b.stats.failures == 1 and b.stats.successes == 0


def test_with_gives_the_breaker() -> None:
    b, _ = breaker(Clock())
    with b as inside:
        assert inside is b


async def test_async_with_gives_the_breaker() -> None:
    b, _ = breaker(Clock())
    async with b as inside:
        assert inside is b


def test_nested_blocks_each_settle_their_own_call() -> None:
    """Three blocks on one breaker, nested: the outer one admitted while closed, the two inner
    ones as half-open trials. Each exit settles its own admission, innermost first."""
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=5, half_open_max_calls=2, success_threshold=2)
    with pytest.raises(ConnectionError), b:  # outer: admitted while closed
        fail(b)
        clock.now += 5
        with b:  # trial 1
            with b:  # trial 2
                pass
            assert b.state is H  # one trial success of two
        assert b.state is C  # the second closes it
        raise ConnectionError("the outer call fails late")
    assert b.state is C and changes == [(C, O), (O, H), (H, C)]  # the late failure moved nothing
    assert b.stats.failures == 2


def test_a_block_exited_without_entering_counts_as_unticketed() -> None:
    b, _ = breaker(Clock(), failure_threshold=1)
    b.__exit__(ConnectionError, ConnectionError("down"), None)
    assert b.state is O


# --- control ------------------------------------------------------------------------------------------


def test_opening_an_open_circuit_changes_nothing() -> None:
    clock = Clock()
    b, changes = breaker(clock, recovery_timeout=10)
    b.open()
    clock.now += 4
    b.open()
    assert changes == [(C, O)] and b.stats.state_changes == 1
    with pytest.raises(E.CircuitOpenError) as info:
        b.before_call()
    assert info.value.retry_after == 6.0


def test_resetting_a_closed_circuit_announces_nothing() -> None:
    b, changes = breaker(Clock(), failure_threshold=3)
    fail(b)
    b.reset()
    assert changes == [] and b.stats == BreakerStats()
    fail(b)
    fail(b)
    assert b.state is C  # the run started again


def test_reset_from_open_or_half_open() -> None:
    clock = Clock()
    b, changes = breaker(clock, failure_threshold=1, recovery_timeout=1)
    fail(b)
    b.reset()
    fail(b)
    clock.now += 1
    assert b.state is H
    b.reset()
    assert b.state is C and b.stats == BreakerStats()
    assert changes == [(C, O), (O, C), (C, O), (O, H), (H, C)]


def test_listeners_can_be_removed_and_each_is_called_in_order() -> None:
    b, _ = breaker(Clock(), failure_threshold=1)
    seen: list[str] = []

    def first(br: CircuitBreaker, old: CircuitState, new: CircuitState) -> None:
        seen.append(f"first {old.value}->{new.value}")

    def second(br: CircuitBreaker, old: CircuitState, new: CircuitState) -> None:
        seen.append(f"second {old.value}->{new.value}")

    b.add_listener(first)
    b.add_listener(second)
    b.open()
    b.remove_listener(first)
    b.reset()
    assert seen == ["first closed->open", "second closed->open", "second open->closed"]


# --- what it logs ---------------------------------------------------------------------------------------


def test_opening_logs_a_warning_naming_the_cause(caplog: pytest.LogCaptureFixture) -> None:
    b, _ = breaker(Clock(), failure_threshold=1, recovery_timeout=30)
    with caplog.at_level(logging.WARNING, logger="llmswitch.circuit"):
        fail(b, TimeoutError("t"))
    [rec] = [r for r in caplog.records if r.name == "llmswitch.circuit"]
    assert rec.levelno == logging.WARNING
    assert rec.getMessage() == "circuit 'svc' opened after TimeoutError('t'); calls are rejected for 30s"


def test_a_manual_open_logs_as_such(caplog: pytest.LogCaptureFixture) -> None:
    b, _ = breaker(Clock(), recovery_timeout=2.5)
    with caplog.at_level(logging.WARNING, logger="llmswitch.circuit"):
        b.open()
        b.reset()  # closing logs nothing
    assert [r.getMessage() for r in caplog.records if r.name == "llmswitch.circuit"] == [
        "circuit 'svc' opened after a manual open; calls are rejected for 2.5s"]


def test_a_failing_listener_is_logged_and_the_next_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    b = CircuitBreaker("svc", failure_threshold=1)

    def broken(*_: Any) -> None:
        raise RuntimeError("listener bug")

    seen: list[CircuitState] = []
    b.add_listener(broken)
    b.add_listener(lambda br, old, new: seen.append(new))
    with caplog.at_level(logging.WARNING, logger="llmswitch.circuit"):
        b.open()
    [rec] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert rec.getMessage() == f"circuit 'svc': state listener {broken!r} failed"
    assert rec.exc_info is not None and isinstance(rec.exc_info[1], RuntimeError)
    assert seen == [O]


# --- open(retry_after=): adopting a circuit another process opened (routing.shared_breaker) ---------


def test_open_with_retry_after_rejects_for_exactly_that_long() -> None:
    clock = Clock()
    b, changes = breaker(clock, recovery_timeout=30)
    b.open(retry_after=5)
    assert b.state is CircuitState.OPEN and changes == [(CircuitState.CLOSED, CircuitState.OPEN)]
    with pytest.raises(E.CircuitOpenError) as info:
        b.before_call()
    assert info.value.retry_after == pytest.approx(5)  # the rest of the other process's cool-down, not 30
    clock.now += 4.9
    assert b.state is CircuitState.OPEN
    clock.now += 0.1
    assert b.state is CircuitState.HALF_OPEN


def test_open_again_with_retry_after_moves_the_cool_down_without_a_second_change() -> None:
    clock = Clock()
    b, changes = breaker(clock, recovery_timeout=30)
    b.open()
    b.open(retry_after=2)  # already open: the cool-down now ends 2 s from here
    assert changes == [(CircuitState.CLOSED, CircuitState.OPEN)]
    clock.now += 2
    assert b.state is CircuitState.HALF_OPEN


def test_open_with_a_negative_retry_after_half_opens_at_once() -> None:
    clock = Clock()
    b, _ = breaker(clock, recovery_timeout=30)
    b.open(retry_after=-3)
    assert b.state is CircuitState.HALF_OPEN


def test_open_without_retry_after_keeps_the_full_cool_down() -> None:
    clock = Clock()
    b, _ = breaker(clock, recovery_timeout=30)
    b.open()
    clock.now += 29.9
    assert b.state is CircuitState.OPEN
    clock.now += 0.1
    assert b.state is CircuitState.HALF_OPEN
