"""``CircuitBreaker``: stop calling a backend that keeps failing, and try it again later.

The design documents' breaker (seeds/002): three states, ``CLOSED`` → ``OPEN`` → ``HALF_OPEN``,
configurable thresholds, half-open trial calls, statistics and state-change callbacks, safe from
threads and tasks. Why: retries help with a blip, but against an outage they multiply the load
and make every caller wait for its own timeouts; an open circuit answers at once with
``CircuitOpenError`` (alias ``CircuitBreakerError``, ``retry_after`` = the rest of the cool-down),
which a failover chain treats as "next member".

* ``CLOSED``: calls pass. It opens after ``failure_threshold`` counted failures in a row, or —
  when ``failure_rate_threshold`` is set — when at least ``minimum_calls`` calls in the last
  ``window`` seconds failed at that rate or more.
* ``OPEN``: calls are rejected without being made, until ``recovery_timeout`` has passed.
* ``HALF_OPEN``: at most ``half_open_max_calls`` trial calls at a time pass; ``success_threshold``
  successes close the circuit, one counted failure opens it again.

Which errors count is ``counts(error) -> bool``: by default an llmswitch error counts when it is
``retryable`` (timeouts, connection errors, 5xx, 429) and is not a ``CircuitOpenError``; a 400,
401, 404 or a context-window error is the request's fault, not the backend's, and does not count
(nor does it reset the run of failures). Any other exception counts (standalone use wraps any
function). A cancelled call counts as nothing.

State lives in one object guarded by a ``threading.Lock`` held only for a few assignments (never
across an await), which makes it safe from threads and from tasks on any loop. Time comes from
``clock`` (injected by tests).
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

from .. import errors as E

__all__ = ["CircuitBreaker", "CircuitState", "BreakerStats", "default_counts", "StateListener"]

_log = logging.getLogger("llmswitch.circuit")

P = ParamSpec("P")
T = TypeVar("T")


class CircuitState(StrEnum):
    """The design documents' three states; the values are the lower-case names."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


StateListener = Callable[["CircuitBreaker", CircuitState, CircuitState], None]
"""``listener(breaker, old_state, new_state)``, called after each change, in order, outside the lock."""


def default_counts(error: BaseException) -> bool:
    """Whether ``error`` is the backend's failure (see the module docstring)."""
    if isinstance(error, E.CircuitOpenError):
        return False
    if isinstance(error, E.LLMSwitchError):
        return bool(error.retryable)
    return isinstance(error, Exception)


@dataclass(slots=True)
class BreakerStats:
    """What the breaker has seen since it was built (or ``reset()``); a copy, not live."""

    state: CircuitState = CircuitState.CLOSED
    calls: int = 0
    """Calls let through (made)."""
    successes: int = 0
    failures: int = 0
    """Counted failures."""
    ignored_errors: int = 0
    """Errors that did not count (a 400, a context-window error)."""
    rejections: int = 0
    """Calls refused without being made (open circuit, or half-open with every trial slot busy)."""
    state_changes: int = 0
    consecutive_failures: int = 0
    last_failure: str | None = None
    """``repr`` of the last counted failure."""
    last_failure_time: float | None = None
    """When it happened (``time.time()``, seconds since the epoch)."""
    opened_at: float | None = None
    """When the circuit last opened (``time.time()``)."""


class CircuitBreaker:
    """A circuit breaker; see the module docstring. ``name`` appears in its errors (the provider's
    name when a provider builds it)."""

    def __init__(
        self,
        name: str = "circuit",
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        failure_rate_threshold: float | None = None,
        minimum_calls: int = 10,
        window: float = 60.0,
        counts: Callable[[BaseException], bool] = default_counts,
        listeners: list[StateListener] | tuple[StateListener, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for label, value in (("failure_threshold", failure_threshold), ("half_open_max_calls", half_open_max_calls),
                             ("success_threshold", success_threshold), ("minimum_calls", minimum_calls)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a whole number >= 1, not {value!r}")
        for label, seconds in (("recovery_timeout", recovery_timeout), ("window", window)):
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
                raise ValueError(f"{label} must be a positive number of seconds, not {seconds!r}")
        if failure_rate_threshold is not None and not 0 < failure_rate_threshold <= 1:
            raise ValueError(f"failure_rate_threshold must be in (0, 1], not {failure_rate_threshold!r}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = float(recovery_timeout)
        self.half_open_max_calls = half_open_max_calls
        self.success_threshold = success_threshold
        self.failure_rate_threshold = failure_rate_threshold
        self.minimum_calls = minimum_calls
        self.window = float(window)
        self.counts = counts
        self._listeners: list[StateListener] = list(listeners)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._opened_mono = 0.0
        self._trials = 0  # half-open calls in flight
        self._epoch = 0  # bumped on every state change; before_call's ticket
        self._trial_successes = 0
        self._outcomes: deque[tuple[float, bool]] = deque()  # (clock, failed) in the window
        self._stats = BreakerStats()
        self._tickets: ContextVar[tuple[int, ...]] = ContextVar(f"llmswitch_breaker_{id(self)}", default=())

    SETTINGS = ("failure_threshold", "recovery_timeout", "half_open_max_calls", "success_threshold",
                "failure_rate_threshold", "minimum_calls", "window")
    """The keys a ``breaker:`` mapping in the config (or ``breaker={...}``) may hold."""

    @classmethod
    def from_settings(cls, name: str, value: CircuitBreaker | Mapping[str, Any] | bool | None) -> CircuitBreaker | None:
        """A provider's breaker from its ``breaker`` setting: an instance (shared as given), a
        mapping of ``SETTINGS``, ``True`` (the defaults), or None/False (no breaker)."""
        if value is None or value is False:
            return None
        if isinstance(value, CircuitBreaker):
            return value
        if value is True:
            return cls(name)
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(cls.SETTINGS))
            if unknown:
                raise ValueError(f"unknown breaker setting(s) {', '.join(unknown)}; known: {', '.join(cls.SETTINGS)}")
            return cls(name, **dict(value))
        raise TypeError(
            f"breaker must be a CircuitBreaker, a mapping of {', '.join(cls.SETTINGS)}, True or None; "
            f"got {type(value).__name__}"
        )

    # --- reading ------------------------------------------------------------------------------
    @property
    def state(self) -> CircuitState:
        """The state now (an open circuit whose cool-down is over reads ``HALF_OPEN``)."""
        with self._lock:
            changes = self._advance()
        self._notify(changes)
        return self._state

    @property
    def is_open(self) -> bool:
        """Whether a call now would be rejected for the cool-down (``OPEN``, not yet over)."""
        return self.state is CircuitState.OPEN

    @property
    def stats(self) -> BreakerStats:
        """A snapshot of the statistics (``BreakerStats``)."""
        with self._lock:
            return replace(self._stats, state=self._state)

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self._state.value}, failure_threshold={self.failure_threshold})"

    def add_listener(self, listener: StateListener) -> None:
        """Call ``listener(breaker, old, new)`` after every state change."""
        self._listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    # --- the protocol a caller follows: before_call, then after_call ------------------------------
    def before_call(self) -> int:
        """Let a call through or raise ``CircuitOpenError``; a call let through must be followed by
        ``after_call`` (with its error, or None, and the ticket returned here), also when it is
        cancelled. The ticket names the state the call was admitted in: an outcome that arrives
        after the state changed (a slow call admitted while ``CLOSED`` that ends during
        ``HALF_OPEN``) is counted in the statistics but does not move the state."""
        with self._lock:
            changes = self._advance()
            state = self._state
            if state is CircuitState.CLOSED or (
                state is CircuitState.HALF_OPEN and self._trials < self.half_open_max_calls
            ):
                if state is CircuitState.HALF_OPEN:
                    self._trials += 1
                self._stats.calls += 1
                rejected = None
                ticket = self._epoch
            else:
                self._stats.rejections += 1
                if state is CircuitState.OPEN:
                    left: float | None = max(0.0, self._opened_mono + self.recovery_timeout - self._clock())
                    why = f"the circuit is open after {self._stats.consecutive_failures or 'too many'} failures"
                else:
                    left = None
                    why = "the circuit is half-open and its trial calls are in flight"
                rejected = E.CircuitOpenError(
                    f"{why}; not calling", retry_after=left, provider=self.name,
                    hint="the backend failed repeatedly; llmswitch tries it again after the cool-down "
                    "(a fallback, if configured, answers meanwhile)",
                )
        self._notify(changes)
        if rejected is not None:
            raise rejected
        return ticket

    def after_call(self, error: BaseException | None, ticket: int | None = None) -> None:
        """Record the outcome of a call ``before_call`` let through (``ticket``: what it returned)."""
        with self._lock:
            changes: list[tuple[CircuitState, CircuitState]] = []
            if ticket is not None and ticket != self._epoch:  # admitted in an earlier state
                self._count_stale(error)
                return
            trial = self._state is CircuitState.HALF_OPEN and self._trials > 0
            if trial:
                self._trials -= 1
            if error is None:
                self._stats.successes += 1
                self._stats.consecutive_failures = 0
                if trial:
                    self._trial_successes += 1
                    if self._trial_successes >= self.success_threshold:
                        changes.append(self._to(CircuitState.CLOSED))
                elif self._state is CircuitState.CLOSED:
                    self._note(False)
            elif not isinstance(error, Exception):
                pass  # cancelled (or interrupted): neither success nor failure; the trial slot is freed
            elif not self.counts(error):
                self._stats.ignored_errors += 1
            else:
                self._fail(error, changes)
        self._notify(changes)

    def _count_stale(self, error: BaseException | None) -> None:
        if error is None:
            self._stats.successes += 1
        elif isinstance(error, Exception):
            if self.counts(error):
                self._stats.failures += 1
                self._stats.last_failure = repr(error)[:500]
                self._stats.last_failure_time = time.time()
            else:
                self._stats.ignored_errors += 1

    def _fail(self, error: BaseException, changes: list[tuple[CircuitState, CircuitState]]) -> None:
        s = self._stats
        s.failures += 1
        s.consecutive_failures += 1
        s.last_failure = repr(error)[:500]
        s.last_failure_time = time.time()
        if self._state is CircuitState.HALF_OPEN:
            changes.append(self._to(CircuitState.OPEN))
        elif self._state is CircuitState.CLOSED:
            self._note(True)
            if s.consecutive_failures >= self.failure_threshold or self._rate_exceeded():
                changes.append(self._to(CircuitState.OPEN))

    def after_mid_stream(self, error: BaseException) -> None:
        """Record a stream that failed after its first event (its opening already counted as a
        success): a counted error is a failure like any other; a cancellation is nothing."""
        if not isinstance(error, Exception) or not self.counts(error):
            return
        with self._lock:
            changes: list[tuple[CircuitState, CircuitState]] = []
            self._fail(error, changes)
        self._notify(changes)

    # --- the ways to use it -------------------------------------------------------------------
    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` through the breaker (a sync function; ``acall`` for async)."""
        ticket = self.before_call()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self.after_call(exc, ticket)
            raise
        self.after_call(None, ticket)
        return result

    async def acall(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """``await fn(*args, **kwargs)`` through the breaker."""
        ticket = self.before_call()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self.after_call(exc, ticket)
            raise
        self.after_call(None, ticket)
        return result

    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]:
        """As a decorator, on a sync or an async function."""
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(fn, *args, **kwargs)

            return guarded_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            return self.call(fn, *args, **kwargs)

        return guarded

    # ``with``/``async with``: the ticket travels in a context variable (per task and per thread),
    # as a stack, so nested and concurrent blocks on one breaker each settle their own call.
    def __enter__(self) -> CircuitBreaker:
        self._push(self.before_call())
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.after_call(exc, self._pop())

    async def __aenter__(self) -> CircuitBreaker:
        self._push(self.before_call())
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.after_call(exc, self._pop())

    def _push(self, ticket: int) -> None:
        self._tickets.set((*self._tickets.get(), ticket))

    def _pop(self) -> int | None:
        stack = self._tickets.get()
        if not stack:
            return None
        self._tickets.set(stack[:-1])
        return stack[-1]

    # --- control ------------------------------------------------------------------------------
    def open(self, retry_after: float | None = None) -> None:
        """Open the circuit now (an operator's switch); it half-opens after the cool-down — or,
        given ``retry_after``, that many seconds from now (``shared_breaker`` adopting a circuit
        another process opened, with the rest of that one's cool-down)."""
        with self._lock:
            changes = [self._to(CircuitState.OPEN)] if self._state is not CircuitState.OPEN else []
            if retry_after is not None:
                self._opened_mono = self._clock() + max(0.0, retry_after) - self.recovery_timeout
        self._notify(changes)

    def reset(self) -> None:
        """Close the circuit and forget the statistics (the failure-rate window too)."""
        with self._lock:
            changes = [self._to(CircuitState.CLOSED)] if self._state is not CircuitState.CLOSED else []
            self._stats = BreakerStats()
            self._outcomes.clear()
        self._notify(changes)

    # --- internals (called with the lock held) --------------------------------------------------
    def _advance(self) -> list[tuple[CircuitState, CircuitState]]:
        if self._state is CircuitState.OPEN and self._clock() >= self._opened_mono + self.recovery_timeout:
            return [self._to(CircuitState.HALF_OPEN)]
        return []

    def _to(self, new: CircuitState) -> tuple[CircuitState, CircuitState]:
        old, self._state = self._state, new
        self._epoch += 1
        self._stats.state_changes += 1
        self._trials = 0
        self._trial_successes = 0
        if new is CircuitState.OPEN:
            self._opened_mono = self._clock()
            self._stats.opened_at = time.time()
        if new is CircuitState.CLOSED:
            self._stats.consecutive_failures = 0
        self._outcomes.clear()
        return (old, new)

    def _note(self, failed: bool) -> None:
        if self.failure_rate_threshold is None:
            return
        now = self._clock()
        out = self._outcomes
        out.append((now, failed))
        while out and out[0][0] <= now - self.window:
            out.popleft()

    def _rate_exceeded(self) -> bool:
        if self.failure_rate_threshold is None or len(self._outcomes) < self.minimum_calls:
            return False
        failed = sum(1 for _, f in self._outcomes if f)
        return failed / len(self._outcomes) >= self.failure_rate_threshold

    def _notify(self, changes: list[tuple[CircuitState, CircuitState]]) -> None:
        for old, new in changes:
            if new is CircuitState.OPEN:
                _log.warning("circuit %r opened after %s; calls are rejected for %gs",
                             self.name, self._stats.last_failure or "a manual open", self.recovery_timeout)
            for listener in list(self._listeners):
                try:
                    listener(self, old, new)
                except Exception:  # a listener must never break a call
                    _log.exception("circuit %r: state listener %r failed", self.name, listener)
