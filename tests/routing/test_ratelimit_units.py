"""``RateLimit``'s rules one by one (``llmswitch.routing.ratelimit``), directly on a state backend
(memory on the fake clock, and the real Redis): the exact edges of rpm/tpm, the window's key and
expiry, giving a request slot back, and what each refusal says."""

from __future__ import annotations

from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch.routing import RateLimit
from llmswitch.state import MemoryBackend, StateBackend
from tests.routing.conftest import FakeClock

MINUTE_START = 1_796_083_200.0 + 3 * 3600  # 2026-12-01 03:00:00 UTC


def limit(clock: FakeClock, **kw: Any) -> RateLimit:
    return RateLimit(name=kw.pop("name", "p"), clock=clock, sleep=clock.sleep, **kw)


def minute(clock: FakeClock) -> int:
    return int(clock() // 60)


# --- settings -------------------------------------------------------------------------------------


def test_defaults() -> None:
    r = RateLimit(rpm=5)
    assert (r.rpm, r.tpm, r.name, r.waits) == (5, None, "rate", 0)
    assert repr(r) == "RateLimit(rpm=5, tpm=None, name='rate')"


def test_a_limit_needs_rpm_or_tpm() -> None:
    with pytest.raises(ValueError) as info:
        RateLimit()
    assert str(info.value) == "a rate limit needs rpm= (requests per minute), tpm= (tokens per minute) or both"


def test_from_settings_refuses_what_it_cannot_read() -> None:
    assert RateLimit.from_settings("p", None) is None and RateLimit.from_settings("p", False) is None
    with pytest.raises(TypeError) as info:
        RateLimit.from_settings("p", True)
    assert str(info.value) == "rate_limit must be a RateLimit or a mapping of rpm, tpm; got bool"
    with pytest.raises(ValueError) as bad:
        RateLimit.from_settings("p", {"rpm": 1, "rps": 2, "burst": 3})
    assert str(bad.value) == "unknown rate_limit setting(s) burst, rps; known: rpm, tpm"
    built = RateLimit.from_settings("openai", {"rpm": 3, "tpm": None})
    assert built is not None and (built.name, built.rpm, built.tpm) == ("openai", 3, None)


# --- counting -------------------------------------------------------------------------------------


async def test_a_call_of_exactly_tpm_tokens_is_admitted_one_more_is_not(state_backend: StateBackend, clock: FakeClock) -> None:
    r = limit(clock, tpm=100)
    await r.acquire(state_backend, 100)
    assert await r.used(state_backend) == (0.0, 100.0)
    with pytest.raises(E.RateLimitError) as info:
        await limit(clock, tpm=100, name="q").acquire(state_backend, 101, provider="openai")
    err = info.value
    assert err.provider == "openai" and err.retry_after is None
    assert "client-side rate limit: this call is estimated at 101 tokens, more than the 100 tokens per minute allowed; " \
           "nothing was sent" in str(err)
    assert err.hint == "raise rate_limit.tpm for this provider, or lower max_tokens / shorten the prompt"


async def test_the_refusal_names_the_limit_when_no_provider_is_given(state_backend: StateBackend, clock: FakeClock) -> None:
    with pytest.raises(E.RateLimitError) as info:
        await limit(clock, tpm=10, name="mine").acquire(state_backend, 11)
    assert info.value.provider == "mine"


async def test_a_call_without_tokens_takes_no_tokens(state_backend: StateBackend, clock: FakeClock) -> None:
    r = limit(clock, rpm=5, tpm=1)
    await r.acquire(state_backend)  # tokens default to 0: only the request counts
    await r.acquire(state_backend, 0)
    assert await r.used(state_backend) == (2.0, 0.0)
    await r.acquire(state_backend, 1)
    assert await r.used(state_backend) == (3.0, 1.0)


async def test_no_room_for_tokens_gives_the_request_slot_back(state_backend: StateBackend, clock: FakeClock) -> None:
    r = limit(clock, rpm=10, tpm=100)
    await r.acquire(state_backend, 90)
    with pytest.raises(E.RateLimitError):
        await r.acquire(state_backend, 20, deadline=1)  # the tokens do not fit this minute
    assert await r.used(state_backend) == (1.0, 90.0)  # the second request's slot was returned, exactly


async def test_the_windows_counters_carry_its_expiry(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    r = limit(clock, rpm=1, tpm=50)
    await r.acquire(state, 10)
    clock.advance(60 + 4.9)  # the counters outlive their minute by 5 s ...
    key = f"rate:p:rpm:{minute(clock) - 1}"
    assert await state.get(key) == 1 and await state.get(f"rate:p:tpm:{minute(clock) - 1}") == 10
    clock.advance(0.2)  # ... and no longer
    assert await state.get(key) == 0 and await state.get(f"rate:p:tpm:{minute(clock) - 1}") == 0


async def test_a_slot_given_back_keeps_the_windows_expiry(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    r = limit(clock, rpm=10, tpm=10)
    with pytest.raises(E.RateLimitError):
        await r.acquire(state, 11)  # over tpm at once: nothing taken
    await r.acquire(state, 10)
    with pytest.raises(E.RateLimitError):
        await r.acquire(state, 1, deadline=1)  # its request slot is taken, then given back
    key = f"rate:p:rpm:{minute(clock)}"
    assert await state.get(key) == 1
    clock.advance(65.1)
    assert await state.get(key) == 0  # expired with its window


# --- waiting and its bound ------------------------------------------------------------------------


async def test_a_wait_of_exactly_the_deadline_is_taken(state_backend: StateBackend, clock: FakeClock) -> None:
    r = limit(clock, rpm=1)
    await r.acquire(state_backend)
    left = 60 - clock() % 60  # to the next window
    await r.acquire(state_backend, deadline=left)
    assert r.waits == 1 and clock.sleeps == [pytest.approx(left)]


async def test_a_full_minute_of_requests_is_named_as_such(state_backend: StateBackend, clock: FakeClock) -> None:
    r = limit(clock, rpm=1, tpm=1000)
    await r.acquire(state_backend, 1)
    with pytest.raises(E.RateLimitError) as info:
        await r.acquire(state_backend, 1, deadline=1, provider="openai")
    err = info.value
    left = 60 - clock() % 60
    assert err.retry_after == pytest.approx(left) and err.provider == "openai"
    assert f"client-side rate limit: this minute's 1 requests for p are taken, and the next minute starts in {left:.1f}s, " \
           "after this call's deadline of 1s; nothing was sent" in str(err)
    assert err.hint == ("llmswitch holds calls to the configured rate_limit (rpm/tpm); raise it, or give the call a "
                        "longer timeout= to wait its turn")


async def test_full_tokens_are_named_as_such(state_backend: StateBackend, clock: FakeClock) -> None:
    r = limit(clock, rpm=100, tpm=10, name="t")
    await r.acquire(state_backend, 10)
    with pytest.raises(E.RateLimitError) as info:
        await r.acquire(state_backend, 5, deadline=2.5)
    assert "this minute's 10 tokens for t are taken" in str(info.value) and "deadline of 2.5s" in str(info.value)
    assert info.value.provider == "t"


async def test_only_tokens_limited_names_tokens(state_backend: StateBackend, clock: FakeClock) -> None:
    r = limit(clock, tpm=10, name="t")
    await r.acquire(state_backend, 10)
    with pytest.raises(E.RateLimitError, match="this minute's 10 tokens for t are taken"):
        await r.acquire(state_backend, 1, deadline=1)
