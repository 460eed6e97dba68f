"""Unit tests of ``llmswitch.routing.budget``, each rule on its own, for mutation testing: calendar
windows at their exact edges (leap years, 30- and 31-day months, the last microsecond of a window),
every setting's message, keys and ttls, the soft warning and its listeners, the refusal a user
reads, the estimate of a call and the per-model price cache.

Counters live on a ``MemoryBackend`` on the fake clock. Every budget has its own scope and every
priced model its own name, so the module's caches (prices per model, the once-per-model note) never
depend on the order the tests run in."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch import hooks
from llmswitch.routing import budget as B
from llmswitch.routing.budget import (
    DEFAULT_OUTPUT_ESTIMATE,
    PERIODS,
    USD_SCALE,
    Budget,
    BudgetStatus,
    add_soft_limit_listener,
    estimate_tokens,
    price_estimate,
    remove_soft_limit_listener,
    warn_unpriced,
    window,
)
from llmswitch.state import MemoryBackend
from llmswitch.types import ImagePart, Message, TextPart, Tool, ToolCall, Usage
from tests.routing.conftest import START, FakeClock

DAY0 = START - 10 - 3 * 3600
"""2026-12-01 00:00:00 UTC."""


def _budget_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """This logger's records only: asyncio may report an unclosed session of another test at any time."""
    return [r for r in caplog.records if r.name == "llmswitch.budget"]


def uniq(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def scope() -> str:
    return uniq("provider:p")


@pytest.fixture(autouse=True)
def _no_pricer() -> Iterator[None]:
    saved = list(hooks.pricer)
    yield
    hooks.pricer[:] = saved


# --- windows ------------------------------------------------------------------------------------


def test_constants() -> None:
    assert PERIODS == ("hour", "day", "month")
    assert USD_SCALE == 1_000_000_000
    assert DEFAULT_OUTPUT_ESTIMATE == 1024
    assert B._GRACE == 300.0


def test_an_hour_window_starts_at_the_hour_even_a_microsecond_before_its_end() -> None:
    last = DAY0 + 5 * 3600 + 3599.999999
    assert window("hour", last) == ("2026120105", DAY0 + 5 * 3600, DAY0 + 6 * 3600)
    assert window("hour", DAY0 + 6 * 3600) == ("2026120106", DAY0 + 6 * 3600, DAY0 + 7 * 3600)


def test_a_day_window_starts_at_midnight_utc() -> None:
    last = DAY0 + 86399.999999
    assert window("day", last) == ("20261201", DAY0, DAY0 + 86400)
    assert window("day", DAY0 + 86400) == ("20261202", DAY0 + 86400, DAY0 + 2 * 86400)


def test_month_windows_have_their_calendar_lengths() -> None:
    jan2028 = 1_830_297_600.0  # 2028-01-01 00:00 UTC
    feb2028 = jan2028 + 31 * 86400
    assert window("month", feb2028 + 28 * 86400 + 86399.999999) == ("202802", feb2028, feb2028 + 29 * 86400)  # leap
    mar2028 = feb2028 + 29 * 86400
    apr2028 = mar2028 + 31 * 86400
    assert window("month", apr2028 + 17 * 3600 + 1.5) == ("202804", apr2028, apr2028 + 30 * 86400)
    assert window("month", DAY0 + 30 * 86400 + 86399.5) == ("202612", DAY0, DAY0 + 31 * 86400)


def test_an_unknown_period_is_refused_by_name() -> None:
    with pytest.raises(ValueError) as ei:
        window("week", START)
    assert str(ei.value) == "per must be one of hour, day, month, not 'week'"


# --- BudgetStatus and formatting ---------------------------------------------------------------


def test_a_status_describes_spend_against_its_limit_or_soft_limit() -> None:
    end = DAY0 + 86400
    st = BudgetStatus("total", "usd", "day", 4.2, 10.0, 8.0, DAY0, end)
    assert st.describe() == "$4.2000 of $10.0000 (day, resets 2026-12-02 00:00 UTC)"
    soft_only = BudgetStatus("total", "tokens", "hour", 1234.0, None, 5000.0, DAY0, DAY0 + 3600 + 59 * 60 + 59.9)
    assert soft_only.describe() == "1,234 tokens of 5,000 tokens (hour, resets 2026-12-01 01:59 UTC)"
    neither = BudgetStatus("total", "usd", "month", 1234.5, None, None, DAY0, end)
    assert neither.describe() == "$1,234.5000 (month, resets 2026-12-02 00:00 UTC)"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "0m 0s"), (0, "0m 0s"), (59.9, "0m 59s"), (61, "1m 1s"), (3599, "59m 59s"), (3600, "1h 0m"),
     (3600 + 61 * 60, "2h 1m"), (86399, "23h 59m"), (86400, "1d 0h"), (86400 + 3600, "1d 1h"), (2 * 86400 + 7200 + 59, "2d 2h")],
)
def test_spans_read_in_the_two_largest_units(seconds: float, text: str) -> None:
    assert B._span(seconds) == text


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({}, "a budget needs exactly one of usd= (dollars) or tokens="),
        ({"usd": 1, "tokens": 5}, "a budget needs exactly one of usd= (dollars) or tokens="),
        ({"usd": 0}, "a budget's usd must be a positive number, not 0"),
        ({"usd": -1.5}, "a budget's usd must be a positive number, not -1.5"),
        ({"tokens": True}, "a budget's tokens must be a positive number, not True"),
        ({"tokens": "5"}, "a budget's tokens must be a positive number, not '5'"),
        ({"usd": 5, "per": "week"}, "per must be one of hour, day, month, not 'week'"),
        ({"usd": 5, "soft": 0}, "soft must be a positive number, not 0"),
        ({"usd": 5, "soft": -1}, "soft must be a positive number, not -1"),
        ({"usd": 5, "soft": True}, "soft must be a positive number, not True"),
        ({"usd": 5, "soft": "4"}, "soft must be a positive number, not '4'"),
        ({"usd": 5, "soft": 6}, "soft (6) is above the hard limit (5); it would never warn"),
        ({"usd": 5.5, "soft": 5.75}, "soft (5.75) is above the hard limit (5.5); it would never warn"),
    ],
)
def test_bad_budgets_say_exactly_what_is_wrong(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as ei:
        Budget(**kw)
    assert str(ei.value) == message


def test_a_budget_keeps_its_settings() -> None:
    seen: list[BudgetStatus] = []
    b = Budget(usd=5, per="hour", soft=5, scope="total", on_soft=seen.append)
    assert (b.unit, b.amount, b.per, b.hard, b.limit, b.soft, b.scope, b.on_soft) == (
        "usd", 5.0, "hour", True, 5.0, 5.0, "total", seen.append)
    assert type(b.amount) is float and type(b.soft) is float
    assert (b._scale, b._limit_units, b._soft_units) == (USD_SCALE, 5 * USD_SCALE, 5 * USD_SCALE)
    t = Budget(tokens=7, hard=False, soft=9)
    assert (t.unit, t.amount, t.per, t.hard, t.limit, t.soft, t.scope) == ("tokens", 7.0, "day", False, None, 9.0, None)
    assert (t._scale, t._limit_units, t._soft_units) == (1, None, 9)
    assert t.hard is False and Budget(tokens=7, hard=0).hard is False  # type: ignore[arg-type]
    warn_only = Budget(usd=3, hard=False)
    assert (warn_only.limit, warn_only.soft, warn_only._soft_units) == (None, 3.0, 3 * USD_SCALE)
    hard_only = Budget(usd=0.1)
    assert (hard_only.soft, hard_only._soft_units, hard_only._limit_units) == (None, None, 100_000_000)
    assert Budget(usd=2e-9)._limit_units == 2  # rounded, not truncated
    assert b.clock is not None and Budget(tokens=1, clock=lambda: 5.0).clock() == 5.0


def test_a_budgets_repr_shows_what_was_set() -> None:
    assert repr(Budget(usd=5, per="hour", soft=4, scope="total")) == "Budget(usd=5, per='hour', soft=4, scope='total')"
    assert repr(Budget(tokens=1000, hard=False)) == "Budget(tokens=1000, per='day', soft=1000, hard=False, scope=None)"
    assert repr(Budget(usd=0.5)) == "Budget(usd=0.5, per='day', scope=None)"


def test_from_settings_reads_none_false_mappings_lists_tuples_and_budgets(clock: FakeClock) -> None:
    assert Budget.from_settings("total", None) == ()
    assert Budget.from_settings("total", False) == ()
    (one,) = Budget.from_settings("provider:x", {"usd": 5, "per": "hour", "soft": None}, clock=clock)
    assert (one.unit, one.limit, one.soft, one.per, one.scope, one.clock) == ("usd", 5.0, None, "hour", "provider:x", clock)
    (dflt,) = Budget.from_settings("total", {"tokens": 10})
    assert dflt.clock is Budget(tokens=1).clock
    kept = Budget(usd=1, scope="agent:b", clock=clock)
    loose = Budget(tokens=9, clock=clock)
    assert loose.current()[0].startswith("budget:call:")
    both = Budget.from_settings("agent:a", (kept, loose))
    assert both == (kept, loose) and [b.scope for b in both] == ["agent:b", "agent:a"]
    assert loose.current()[0] == "budget:agent:a:tokens:day:20261201"  # the window was computed again
    assert kept.current()[0] == "budget:agent:b:usd:day:20261201"


def test_from_settings_names_unknown_keys_and_wrong_types() -> None:
    with pytest.raises(ValueError) as ei:
        Budget.from_settings("total", {"usd": 5, "dollars": 5, "cents": 1})
    assert str(ei.value) == "unknown budget setting(s) cents, dollars; known: usd, tokens, per, soft, hard"
    with pytest.raises(TypeError) as te:
        Budget.from_settings("total", [{"usd": 1}, 5])
    assert str(te.value) == "budget must be a Budget, a mapping of usd, tokens, per, soft, hard, or a list of them; got int"


def test_a_budgets_label_is_its_scope_or_call() -> None:
    assert Budget(usd=1).label == "call"
    assert Budget(usd=1, scope="total").label == "total"


# --- the counter -------------------------------------------------------------------------------


def test_current_gives_the_key_window_and_ttl_and_follows_the_clock(clock: FakeClock) -> None:
    b = Budget(usd=1, per="hour", scope="total", clock=clock)
    assert b.current() == ("budget:total:usd:hour:2026120103", DAY0 + 3 * 3600, DAY0 + 4 * 3600, 3590.0 + 300)
    clock.now = DAY0 + 4 * 3600 - 0.5
    assert b.current() == ("budget:total:usd:hour:2026120103", DAY0 + 3 * 3600, DAY0 + 4 * 3600, 0.5 + 300)
    clock.now = DAY0 + 4 * 3600  # the first instant of the next hour
    assert b.current() == ("budget:total:usd:hour:2026120104", DAY0 + 4 * 3600, DAY0 + 5 * 3600, 3600.0 + 300)
    clock.now = DAY0 + 3 * 3600  # back (another host's clock): the earlier window again
    assert b.current()[0] == "budget:total:usd:hour:2026120103"
    clock.now = DAY0 + 3 * 3600 - 1
    assert b.current()[0] == "budget:total:usd:hour:2026120102"


def test_units_are_rounded_and_never_negative() -> None:
    usd, tok = Budget(usd=1), Budget(tokens=1)
    assert usd.units(1.5e-9) == 2 and usd.units(1.4e-9) == 1 and usd.units(0.25) == 250_000_000
    assert usd.units(-1.0) == 0 and tok.units(-3) == 0 and tok.units(7) == 7 and tok.units(0) == 0


async def test_status_reads_the_spend_in_the_windows_unit(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    b = Budget(usd=2, per="day", soft=1, scope=scope(), clock=clock)
    await state.add(b.current()[0], USD_SCALE // 4)
    assert await b.status(state) == BudgetStatus(b.label, "usd", "day", 0.25, 2.0, 1.0, DAY0, DAY0 + 86400)


async def test_reserve_takes_within_a_hard_limit_and_adds_without_one(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    ttl = 86400 - 3 * 3600 - 10 + 300
    hard = Budget(tokens=10, scope=scope(), clock=clock)
    key = hard.current()[0]
    assert await hard.reserve(state, 4) == (key, 4, ttl)
    assert await hard.reserve(state, 6) == (key, 6, ttl)  # exactly to the limit
    assert await hard.reserve(state, 0) is None  # exactly spent: even nothing does not fit
    assert await state.peek([key]) == [(10.0, ttl)]
    free = Budget(tokens=10, scope=scope(), clock=clock)
    assert await free.reserve(state, 0) == (free.current()[0], 1, ttl)  # at least one unit
    soft = Budget(tokens=10, hard=False, scope=scope(), clock=clock)
    assert await soft.reserve(state, 25) == (soft.current()[0], 25, ttl)
    assert await soft.reserve(state, 0) == (soft.current()[0], 0, ttl)
    assert await state.peek([soft.current()[0]]) == [(25.0, ttl)]


async def test_adjust_adds_the_difference_with_the_ttl_given(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    b = Budget(tokens=100, scope=scope(), clock=clock)
    key = b.current()[0]
    await b.adjust(state, key, 7, ttl=50.0)
    await b.adjust(state, key, -2, ttl=999.0)  # an existing counter keeps its expiry
    assert await state.peek([key]) == [(5.0, 50.0)]
    await b.adjust(state, key + "x", 3)
    assert await state.peek([key + "x"]) == [(3.0, None)]


async def test_the_soft_warning_is_given_once_at_the_exact_soft_limit(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    state = MemoryBackend(clock=clock)
    seen: list[BudgetStatus] = []
    everywhere: list[BudgetStatus] = []
    add_soft_limit_listener(everywhere.append)
    try:
        b = Budget(usd=10, per="day", soft=4, scope=scope(), on_soft=seen.append, clock=clock)
        key = b.current()[0]
        with caplog.at_level(logging.WARNING, logger="llmswitch.budget"):
            await b.adjust(state, key, 4 * USD_SCALE - 1)
            assert seen == [] and b._soft_seen == ""
            await b.adjust(state, key, 1)
            await b.adjust(state, key, USD_SCALE)
        status = BudgetStatus(b.label, "usd", "day", 4.0, 10.0, 4.0, DAY0, DAY0 + 86400)
        assert seen == [status]
        assert status in everywhere
        assert b._soft_seen == key
        assert [r.getMessage() for r in _budget_log(caplog)] == [
            f"budget {b.label} reached its soft limit: $4.0000 spent of $4.0000 soft, $10.0000 hard "
            "(day window, resets 2026-12-02 00:00 UTC)"
        ]
        assert _budget_log(caplog)[0].levelno == logging.WARNING
        # the flag that says it was given lives as long as the counter plus an hour
        assert await state.peek([key + ":soft"]) == [(1.0, 86400 - 3 * 3600 - 10 + 300 + 3600)]
    finally:
        remove_soft_limit_listener(everywhere.append)


async def test_another_process_that_reaches_the_soft_limit_stays_quiet(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    state = MemoryBackend(clock=clock)
    name = scope()
    first_seen: list[BudgetStatus] = []
    other_seen: list[BudgetStatus] = []
    first = Budget(tokens=100, hard=False, scope=name, on_soft=first_seen.append, clock=clock)
    other = Budget(tokens=100, hard=False, scope=name, on_soft=other_seen.append, clock=clock)
    key = first.current()[0]
    with caplog.at_level(logging.WARNING, logger="llmswitch.budget"):
        await first.adjust(state, key, 100)
        await other.adjust(state, key, 1)
    assert [s.spent for s in first_seen] == [100.0] and other_seen == []
    assert other._soft_seen == key  # it knows now, and does not ask again
    assert [r.getMessage() for r in _budget_log(caplog)] == [
        f"budget {name} reached its soft limit: 100 tokens spent of 100 tokens soft (day window, resets 2026-12-02 00:00 UTC)"
    ]


async def test_a_listener_that_raises_is_logged_and_the_others_still_run(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    state = MemoryBackend(clock=clock)
    after: list[float] = []

    def broken(status: BudgetStatus) -> None:
        raise RuntimeError("listener bug")

    add_soft_limit_listener(after.append)  # type: ignore[arg-type]
    add_soft_limit_listener(after.append)  # type: ignore[arg-type]  # added once only
    try:
        b = Budget(tokens=10, soft=5, scope=scope(), on_soft=broken, clock=clock)
        with caplog.at_level(logging.WARNING, logger="llmswitch.budget"):
            await b.adjust(state, b.current()[0], 6)
        assert len(after) == 1
        # only this logger's: a session another test left unclosed may be reported by asyncio meanwhile
        errors = [r for r in _budget_log(caplog) if r.levelno == logging.ERROR and r.name == "llmswitch.budget"]
        assert [r.getMessage() for r in errors] == [f"budget {b.label}: a soft-limit listener raised"]
        assert errors[0].exc_info is not None
    finally:
        remove_soft_limit_listener(after.append)  # type: ignore[arg-type]
    remove_soft_limit_listener(after.append)  # type: ignore[arg-type]  # not there: no error
    b2 = Budget(tokens=10, soft=5, scope=scope(), clock=clock)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="llmswitch.budget"):
        await b2.adjust(state, b2.current()[0], 6)
    assert len(after) == 1
    assert [r.levelno for r in _budget_log(caplog)] == [logging.WARNING]  # no on_soft: nothing to call, nothing raised


# --- the refusal -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "where"),
    [("total", "top-level budgets:"), ("provider:p", "budget: under provider p"),
     ("agent:a:b", "budget: under agent a:b"), (None, "budget=")],
)
async def test_the_refusal_says_which_budget_where_to_raise_it_and_when_it_resets(
    clock: FakeClock, label: str | None, where: str
) -> None:
    state = MemoryBackend(clock=clock)
    b = Budget(tokens=1000, per="day", scope=label, clock=clock)
    name = b.label
    await state.add(b.current()[0], 990)
    clock.advance(59)  # 03:01:09
    err = await b.exceeded(state, 25, provider="p", model="m")
    assert isinstance(err, E.BudgetExceededError)
    assert err.message == (
        f"the daily tokens budget of {name} is spent: 990 tokens of 1,000 tokens this day "
        "(since 2026-12-01 00:00 UTC), and this call may need up to 25 tokens; nothing was sent"
    )
    assert err.hint == (
        f"the budget resets at 2026-12-02 00:00 UTC (in 20h 58m); to go on now, raise tokens in {where} "
        "in llmswitch.yaml (or pass a larger Budget)"
    )
    assert (err.provider, err.model) == ("p", "m")
    assert err.budget == name  # type: ignore[attr-defined]
    assert err.status == await b.status(state)  # type: ignore[attr-defined]
    assert err.retry_after == 86400 - 3 * 3600 - 69  # type: ignore[attr-defined]


async def test_hourly_and_monthly_refusals_in_dollars(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    hourly = Budget(usd=1, per="hour", scope="total", clock=clock)
    err = await hourly.exceeded(state, USD_SCALE * 3 // 2, provider=None, model=None)
    assert err.message.startswith("the hourly usd budget of total is spent: $0.0000 of $1.0000 this hour "
                                  "(since 2026-12-01 03:00 UTC), and this call may need up to $1.5000")
    assert "(in 59m 50s)" in (err.hint or "")
    assert err.provider is None and err.model is None
    monthly = Budget(usd=1, per="month", scope="total", clock=clock)
    err = await monthly.exceeded(state, 1, provider=None, model=None)
    assert err.message.startswith("the monthly usd budget of total is spent:")
    assert "resets at 2027-01-01 00:00 UTC (in 30d 20h)" in (err.hint or "")


async def test_a_refusal_after_the_window_turned_reports_no_wait(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    b = Budget(tokens=10, hard=False, scope=scope(), clock=clock)
    err = await b.exceeded(state, 1, provider="p", model="m")
    assert "0 tokens of 0 tokens this day" in err.message  # a soft-only budget has no hard amount


async def test_a_refusal_in_the_last_second_of_a_window_waits_that_fraction(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    b = Budget(tokens=10, per="hour", scope=scope(), clock=clock)
    clock.now = DAY0 + 4 * 3600 - 0.25
    err = await b.exceeded(state, 11, provider="p", model="m")
    assert err.retry_after == 0.25  # type: ignore[attr-defined]
    assert "(in 0m 0s)" in (err.hint or "")


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """The process's local time zone 5 h 30 min east of UTC: windows and times stay in UTC."""
    import os
    import time

    saved = os.environ.get("TZ")
    os.environ["TZ"] = "XST-5:30"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_windows_and_reset_times_are_utc_whatever_the_local_zone(far_from_utc: None) -> None:
    assert window("hour", START) == ("2026120103", DAY0 + 3 * 3600, DAY0 + 4 * 3600)
    assert window("day", START) == ("20261201", DAY0, DAY0 + 86400)
    st = BudgetStatus("total", "usd", "day", 0.0, 1.0, None, DAY0, DAY0 + 86400)
    assert st.describe() == "$0.0000 of $1.0000 (day, resets 2026-12-02 00:00 UTC)"


# --- estimating a call ---------------------------------------------------------------------------


def test_the_estimate_counts_text_parts_images_tool_calls_and_tools() -> None:
    msgs = [
        Message.system("s" * 40),
        Message.user([TextPart("t" * 100), ImagePart(url="https://example.test/a.png")]),
        Message.assistant(None, tool_calls=[ToolCall(id="c1", name="f", arguments={"a": 1})]),
        Message(role="user", content=""),
    ]
    chars = 40 + 100 + 1000 + len(str({"a": 1})) + 16
    assert estimate_tokens(msgs, None, None, None) == (chars // 4 + 16, 1024)
    tools = [Tool(name="lookup", description="find it", parameters={"type": "object"}),
             Tool(name="x", parameters={})]
    tchars = 6 + 7 + len(str({"type": "object"})) + 1 + 0 + 2
    assert estimate_tokens(msgs, tools, None, None) == ((chars + tchars) // 4 + 16, 1024)


def test_the_estimate_rounds_characters_down_exactly() -> None:
    assert estimate_tokens([Message.user("abc")], None, None, None) == (0 + 4, 1024)
    assert estimate_tokens([Message.user("abcd")], None, None, None) == (1 + 4, 1024)
    image = Message.user([TextPart("abc"), ImagePart(url="https://example.test/a.png")])
    assert estimate_tokens([image], None, None, None) == (1003 // 4 + 4, 1024)
    call = Message.assistant(None, tool_calls=[ToolCall(id="c", name="f", arguments={"abcde": 1})])
    assert len(str({"abcde": 1})) + 16 == 28
    assert estimate_tokens([call, Message.user("abc")], None, None, None) == (31 // 4 + 8, 1024)


class _Described:
    name = "n"
    description = None
    parameters = "p" * 8


def test_a_tool_without_a_description_counts_its_name_and_parameters() -> None:
    assert estimate_tokens([], [_Described()], None, None) == (9 // 4, 1024)


@pytest.mark.parametrize(
    ("params", "default", "out"),
    [
        ({"max_tokens": 50}, 300, 50),
        ({"max_completion_tokens": 60}, 300, 60),
        ({"max_tokens": 50, "max_completion_tokens": 60}, None, 50),
        ({"max_tokens": None, "max_completion_tokens": 60}, None, 60),
        ({"max_tokens": 0}, 300, 300),
        ({"max_tokens": 0, "max_completion_tokens": 0}, 300, 300),
        ({"max_tokens": -5}, None, 1024),
        ({"max_tokens": 1}, None, 1),
        ({"max_tokens": 50.0}, 300, 300),
        ({"max_tokens": True}, 300, 300),
        ({"max_tokens": "50"}, None, 1024),
        ({}, 300, 300),
        (None, 0, 1024),
    ],
)
def test_the_output_estimate(params: dict[str, Any] | None, default: int | None, out: int) -> None:
    assert estimate_tokens([Message.user("abcd")], None, params, default) == (1 + 4, out)
    assert type(estimate_tokens([], None, params, default)[1]) is int


# --- prices --------------------------------------------------------------------------------------


def test_no_pricer_no_price() -> None:
    hooks.set_pricer(None)
    assert price_estimate("openai", uniq(), 10, 10) is None


def test_the_price_of_an_estimate_is_asked_once_per_model_and_pricer() -> None:
    asked: list[tuple[str, str, int, int]] = []

    def pricer(provider_type: str, model: str, usage: Usage) -> float | None:
        asked.append((provider_type, model, usage.input_tokens, usage.output_tokens))
        return usage.input_tokens * 2e-6 + usage.output_tokens * 1e-5

    hooks.set_pricer(pricer)
    model = uniq()
    assert price_estimate("openai", model, 1000, 100) == pytest.approx(0.002 + 0.001)
    assert asked == [("openai", model, 1_000_000, 0), ("openai", model, 0, 1_000_000)]
    assert price_estimate("openai", model, 10, 0) == pytest.approx(2e-5)
    assert len(asked) == 2  # cached per model
    assert price_estimate("anthropic", model, 10, 0) == pytest.approx(2e-5)
    assert len(asked) == 4  # another provider type: asked again

    def other(provider_type: str, model: str, usage: Usage) -> float | None:
        return usage.input_tokens * 1e-6 + usage.output_tokens * 1e-6

    hooks.set_pricer(other)  # another pricer: asked again
    assert price_estimate("openai", model, 10, 10) == pytest.approx(2e-5)


@pytest.mark.parametrize("unpriced", ["input", "output"])
def test_a_model_priced_for_one_direction_only_has_no_price(unpriced: str) -> None:
    def half(provider_type: str, model: str, usage: Usage) -> float | None:
        if (usage.input_tokens if unpriced == "input" else usage.output_tokens):
            return None
        return 1.0

    hooks.set_pricer(half)
    assert price_estimate("openai", uniq(), 10, 10) is None


def test_a_stand_in_pricer_that_replaces_itself_is_cached_as_its_replacement() -> None:
    calls: list[str] = []

    def real(provider_type: str, model: str, usage: Usage) -> float | None:
        calls.append("real")
        return usage.input_tokens * 1e-6

    def stand_in(provider_type: str, model: str, usage: Usage) -> float | None:
        hooks.set_pricer(real)
        return real(provider_type, model, usage)

    hooks.set_pricer(stand_in)
    model = uniq()
    assert price_estimate("openai", model, 5, 0) == pytest.approx(5e-6)
    assert price_estimate("openai", model, 7, 0) == pytest.approx(7e-6)
    assert calls == ["real", "real"]  # the second estimate came from the cache


def test_the_price_cache_is_bounded() -> None:
    n: list[int] = [0]

    def pricer(provider_type: str, model: str, usage: Usage) -> float | None:
        n[0] += 1
        return 1e-6 * usage.input_tokens

    hooks.set_pricer(pricer)
    models = [uniq() for _ in range(4100)]
    for m in models:
        price_estimate("openai", m, 1, 0)
    assert len(B._per_token) <= 4097
    first = models[0]
    before = n[0]
    price_estimate("openai", first, 1, 0)  # cleared when the cache grew past 4096: asked again
    assert n[0] == before + 2


def test_the_price_cache_is_cleared_only_when_it_grew_past_4096_models() -> None:
    hooks.set_pricer(lambda t, m, u: 1e-6 * u.input_tokens)
    while len(B._per_token) != 4096:  # wherever other tests left it: fill (or clear, then fill) to 4096
        price_estimate("openai", uniq(), 1, 0)
    price_estimate("openai", uniq(), 1, 0)
    assert len(B._per_token) == 4097
    price_estimate("openai", uniq(), 1, 0)
    assert len(B._per_token) == 1


def test_a_pricer_that_turns_pricing_off_while_asked_still_answers_that_once() -> None:
    def once(provider_type: str, model: str, usage: Usage) -> float | None:
        hooks.set_pricer(None)
        return 1e-6 * usage.input_tokens

    hooks.set_pricer(once)
    assert price_estimate("openai", uniq(), 3, 0) == pytest.approx(3e-6)


def test_an_unpriced_model_is_noted_once_per_provider_and_model(caplog: pytest.LogCaptureFixture) -> None:
    model = uniq("unpriced")
    with caplog.at_level(logging.WARNING, logger="llmswitch.budget"):
        warn_unpriced("p1", model)
        warn_unpriced("p1", model)
        warn_unpriced("p2", model)
    assert [r.getMessage() for r in _budget_log(caplog)] == [
        f"p1: model {model!r} has no known price; dollar budgets cannot count its calls (token budgets still do)",
        f"p2: model {model!r} has no known price; dollar budgets cannot count its calls (token budgets still do)",
    ]
    assert all(r.name == "llmswitch.budget" and r.levelno == logging.WARNING for r in _budget_log(caplog))
