"""Unit tests of ``llmswitch.routing.shared_breaker`` beside the two-"process" tests in
``test_shared_breaker.py``: how a provider's shared breaker is chosen, how it names itself, and
what it publishes when its opening is published only after the cool-down has already passed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch.routing import CircuitBreaker, CircuitState
from llmswitch.routing.shared_breaker import SharedBreaker
from llmswitch.state import MemoryBackend
from tests.routing.conftest import FakeClock


class Shared(MemoryBackend):
    """A memory backend that says it is shared (as Redis does), with or without a sync interval."""

    shared = True


class Nameless:
    """A shared backend without a ``name`` (a third-party ``PeekingBackend``): only what the
    shared breaker calls, delegated to a memory backend."""

    shared = True

    def __init__(self, clock: Callable[[], float]) -> None:
        self._m = MemoryBackend(clock=clock)

    async def peek(self, keys: Any) -> list[tuple[float, float | None]]:
        return await self._m.peek(keys)


def test_a_shared_backend_without_a_sync_interval_reads_before_every_call(clock: FakeClock) -> None:
    sb = SharedBreaker.for_provider(CircuitBreaker("svc"), Shared(clock=clock))
    assert sb is not None and sb.sync_interval == 0.0


def test_a_backends_sync_interval_is_used(clock: FakeClock) -> None:
    backend = Shared(clock=clock)
    backend.breaker_sync_interval = 2.5  # type: ignore[attr-defined]
    sb = SharedBreaker.for_provider(CircuitBreaker("svc"), backend)
    assert sb is not None and sb.sync_interval == 2.5


def test_no_shared_breaker_without_a_breaker_a_shared_backend_or_peek(clock: FakeClock) -> None:
    assert SharedBreaker.for_provider(None, Shared(clock=clock)) is None
    assert SharedBreaker.for_provider(CircuitBreaker("svc"), MemoryBackend(clock=clock)) is None

    class NoPeek:
        shared = True

    assert SharedBreaker.for_provider(CircuitBreaker("svc"), NoPeek()) is None


def test_the_repr_names_the_breaker_and_the_backend(clock: FakeClock) -> None:
    b = CircuitBreaker("svc")
    assert repr(SharedBreaker(b, Shared(clock=clock))) == f"SharedBreaker({b!r}, backend=memory)"
    assert repr(SharedBreaker(b, Nameless(clock))) == f"SharedBreaker({b!r}, backend=?)"  # type: ignore[arg-type]


@pytest.mark.parametrize("late", [5.0, 0.0])
async def test_an_opening_published_after_its_cool_down_goes_straight_to_half_open(clock: FakeClock, late: float) -> None:
    """The publishing call ends ``late`` seconds after the cool-down of the opening it publishes:
    no ``open`` key, and the half-open keys last exactly one more cool-down."""
    b = CircuitBreaker("svc", failure_threshold=1, recovery_timeout=30.0, clock=clock)
    backend = Shared(clock=clock)
    sb = SharedBreaker(b, backend, clock=clock)

    def slow(_: CircuitBreaker, old: CircuitState, new: CircuitState) -> None:
        if new is CircuitState.OPEN:
            clock.advance(30.0 + late)

    b.add_listener(slow)

    async def boom() -> None:
        raise E.ProviderUnavailableError("down", provider="svc")

    with pytest.raises(E.ProviderUnavailableError):
        await sb.run(None, boom)
    peeked = await backend.peek([sb.open_key, sb.failures_key, sb.probing_key, sb.trials_key])
    assert peeked == [(0.0, None), (0.0, 60.0), (1.0, 30.0), (0.0, 30.0)]
    state = await sb.shared_state()
    assert state == {"state": CircuitState.HALF_OPEN, "open": False, "retry_after": None, "failures": 0}
