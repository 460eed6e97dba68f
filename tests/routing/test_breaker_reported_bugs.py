"""Known bugs in ``llmswitch.routing.breaker``, each pinned by a test marked ``xfail(strict=True)``:
the test states the behaviour the documentation promises, fails today, and turns the suite red
(XPASS) once the bug is fixed, so the marker is removed together with the bug.

Kept out of the mutation selection (scripts/mutation): a strict xfail "kills" any mutant that
happens to make it pass, which would credit mutants to a test that asserts a bug."""

from __future__ import annotations

import pytest

from llmswitch import errors as E
from llmswitch.routing import CircuitBreaker, CircuitState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(b: CircuitBreaker) -> None:
    b.after_call(E.ProviderUnavailableError("500", provider="svc"), b.before_call())


@pytest.mark.xfail(
    strict=True,
    reason="BUG: reset() of a CLOSED circuit keeps the failure-rate window (_outcomes is cleared only by a state "
    "change), so failures from before the reset still open it",
)
def test_reset_forgets_the_failure_rate_window() -> None:
    b = CircuitBreaker("svc", clock=Clock(), failure_threshold=100, failure_rate_threshold=0.5, minimum_calls=4, window=60)
    for _ in range(3):
        fail(b)
    b.reset()  # "Close the circuit and forget the statistics."
    fail(b)
    assert b.stats.calls == 1  # the statistics were forgotten ...
    assert b.state is CircuitState.CLOSED  # ... but the window was not: 4 of 4 "recent" calls failed, and it opens
