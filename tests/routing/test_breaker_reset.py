"""``reset()`` forgets everything: the statistics and the failure-rate window (a bug found by the
mutation work, now fixed: a CLOSED breaker's reset kept the window, so failures from before the
reset could still open it)."""

from __future__ import annotations

from llmswitch import errors as E
from llmswitch.routing import CircuitBreaker, CircuitState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(b: CircuitBreaker) -> None:
    b.after_call(E.ProviderUnavailableError("500", provider="svc"), b.before_call())


def test_reset_forgets_the_failure_rate_window() -> None:
    b = CircuitBreaker("svc", clock=Clock(), failure_threshold=100, failure_rate_threshold=0.5, minimum_calls=4, window=60)
    for _ in range(3):
        fail(b)
    b.reset()  # "Close the circuit and forget the statistics."
    fail(b)
    assert b.stats.calls == 1  # the statistics were forgotten ...
    assert b.state is CircuitState.CLOSED  # ... and the window too: 1 failure in 1 call is under minimum_calls
