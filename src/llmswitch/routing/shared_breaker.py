"""One circuit for every process: a ``CircuitBreaker`` kept in step through a shared state backend.

Why: with ``state: {backend: redis}``, ten workers calling one failing backend should not each
spend ``failure_threshold`` failures (and their timeouts) discovering the outage, nor keep calling
it while another worker's circuit is already open. ``SharedBreaker`` wraps a provider's own
``CircuitBreaker`` (which keeps its API, statistics and listeners; this module only adds) and
shares four keys per breaker name (``breaker:NAME:…`` under the backend's prefix):

* ``open`` = 1 while the circuit is open somewhere, expiring when that cool-down ends. Its time to
  live is the rest of the cool-down, so hosts need no synchronised clocks.
* ``failures``: counted failures seen by all processes, expiring ``window`` seconds after the
  first; reset by a success that saw it non-zero, and when the circuit opens.
* ``half_open`` = 1 from an opening until a trial call closes the circuit again (or one more
  cool-down passes), and ``trials``: the trial calls in flight, across all processes.

Per call: ONE read of the three keys (``peek``; one Redis round trip, a Lua script) before the
call — that is the whole cost on the happy path. If ``open`` is set, the local breaker adopts it
(``CircuitBreaker.open(retry_after=…)``) and rejects with ``CircuitOpenError`` carrying the rest
of the cool-down, no request sent. A counted failure adds 1 to ``failures`` (one more round trip,
failures only); reaching ``failure_threshold`` opens the circuit here. When the local breaker
opens, by either count or by a trial failing, the opening is published (``set``s with the rest of
the cool-down as their ttl). After the cool-down the circuit is half-open for ALL processes
together: a call first takes one of ``half_open_max_calls`` trial slots (``take`` on ``trials``;
none free: ``CircuitOpenError`` without a ``retry_after``), then passes its own breaker (which
half-opened by itself when its adopted cool-down ended). A trial that succeeds and closes its
breaker closes the circuit for everyone; one that fails opens it again for everyone.

With ``sync_interval`` (``state: {breaker_sync_interval: …}``) a process reuses an all-clear read
for that many seconds: fewer than one round trip per call, at the price of noticing another
process's opening up to that much later. Any failure here makes the next call read again.

Rate-based opening (``failure_rate_threshold``) is judged by each process on its own calls; what it
opens is shared like any other opening. A stream cut after its first event counts locally (its
breaker may open; that is published when the provider's next call, rejected at once, ends).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from .. import errors as E
from .breaker import CircuitBreaker, CircuitState

if TYPE_CHECKING:
    from ..state import PeekingBackend
    from .retry import RetryPolicy

__all__ = ["SharedBreaker"]

T = TypeVar("T")


class SharedBreaker:
    """``breaker`` kept in step with every other process using ``backend`` (see the module docstring)."""

    def __init__(
        self,
        breaker: CircuitBreaker,
        backend: PeekingBackend,
        *,
        sync_interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(sync_interval, bool) or not isinstance(sync_interval, (int, float)) or sync_interval < 0:
            raise ValueError(f"sync_interval must be a number of seconds >= 0, not {sync_interval!r}")
        self.breaker = breaker
        self.sync_interval = float(sync_interval)
        """Seconds an all-clear read of the shared state is reused (0: read before every call)."""
        self._clear_until = -math.inf  # our clock: until when the last all-clear read is reused
        self.backend = backend
        self.open_key = f"breaker:{breaker.name}:open"
        self.failures_key = f"breaker:{breaker.name}:failures"
        self.probing_key = f"breaker:{breaker.name}:half_open"
        self.trials_key = f"breaker:{breaker.name}:trials"
        self._keys = (self.open_key, self.failures_key, self.probing_key)
        self._clock = clock  # the breaker's own clock, where one is injected (tests)
        self._lock = threading.Lock()
        self._tripped_at: float | None = None  # a local opening not yet published (our clock)
        self._adopting: ContextVar[bool] = ContextVar(f"llmswitch_shared_breaker_{id(self)}", default=False)
        breaker.add_listener(self._on_change)

    @classmethod
    def for_provider(cls, breaker: CircuitBreaker | None, backend: Any) -> SharedBreaker | None:
        """A provider's shared breaker: only when it has a breaker and its backend is shared
        (``redis``); None otherwise, so the call path pays one test for it."""
        if breaker is None or not getattr(backend, "shared", False) or not hasattr(backend, "peek"):
            return None
        return cls(breaker, backend, sync_interval=getattr(backend, "breaker_sync_interval", 0.0))

    def __repr__(self) -> str:
        return f"SharedBreaker({self.breaker!r}, backend={getattr(self.backend, 'name', '?')})"

    # --- the call path ------------------------------------------------------------------------
    async def run(self, policy: RetryPolicy | None, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt`` through the retry policy (if any) and the breaker, with the shared state read
        first and what changed published after."""
        trial = False
        failures = 0.0
        if self._clock() >= self._clear_until:
            (_, left), (failures, _), (probing, _) = await self.backend.peek(self._keys)
            if left is not None and left > 0:  # ``open`` exists (it is only ever set with a ttl)
                self._adopt(left)
            elif probing > 0:  # the cool-down is over: a few trial calls, for all processes together
                if not await self.backend.take(self.trials_key, 1, self.breaker.half_open_max_calls,
                                               ttl=self.breaker.recovery_timeout):
                    raise self._trials_busy()
                trial = True
            elif failures == 0 and self.sync_interval > 0:
                self._clear_until = self._clock() + self.sync_interval
        reopened = [False]
        dirty = [failures > 0]  # a run of failures is on record (seen before the call, or added in it)

        async def observed() -> T:
            try:
                result = await attempt()
            except Exception as exc:
                if self.breaker.counts(exc):
                    if trial:  # a failed trial opens the circuit again, everywhere
                        reopened[0] = True
                        if self.breaker.state is not CircuitState.OPEN:
                            self.breaker.open()
                    else:
                        dirty[0] = True
                        await self._count_failure()
                raise
            if dirty[0]:  # a run of failures elsewhere (or here) ends with this success
                await self.backend.set(self.failures_key, 0, ttl=self.breaker.window)
            return result

        try:
            if policy is not None:
                result = await policy.run(observed, self.breaker)
            else:
                result = await self.breaker.acall(observed)
        except BaseException:
            if trial and not reopened[0]:  # rejected here, a 400, cancelled: the slot is free again
                await self.backend.add(self.trials_key, -1)
            raise
        finally:
            if self._tripped_at is not None:
                await self._publish()
        if trial:
            if self.breaker.state is CircuitState.CLOSED:  # the trial closed it: closed for all
                await self.backend.set(self.probing_key, 0, ttl=self.breaker.recovery_timeout)
                await self.backend.set(self.trials_key, 0, ttl=self.breaker.recovery_timeout)
            else:  # more successes needed here (``success_threshold``): let the next trial in
                await self.backend.add(self.trials_key, -1)
        return result

    def _trials_busy(self) -> Exception:
        return E.CircuitOpenError(
            "the circuit is half-open and its trial calls are in flight (in this or another process); not calling",
            retry_after=None, provider=self.breaker.name,
            hint="the backend failed repeatedly; a few trial calls are testing it now "
            "(a fallback, if configured, answers meanwhile)",
        )

    async def _count_failure(self) -> None:
        self._clear_until = -math.inf  # read again before the next call
        total = await self.backend.add(self.failures_key, 1, ttl=self.breaker.window)
        if total >= self.breaker.failure_threshold and self.breaker.state is CircuitState.CLOSED:
            self.breaker.open()  # enough failures across all processes: a trip like a local one

    def _adopt(self, left: float) -> None:
        token = self._adopting.set(True)
        try:
            self.breaker.open(retry_after=left)
        finally:
            self._adopting.reset(token)

    def _on_change(self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState) -> None:
        if new is CircuitState.OPEN and not self._adopting.get():
            with self._lock:
                self._tripped_at = self._clock()

    async def _publish(self) -> None:
        with self._lock:
            tripped, self._tripped_at = self._tripped_at, None
        if tripped is None or self.breaker.state is CircuitState.CLOSED:
            return  # nothing to publish, or a trial here closed the circuit again before we could
        cool_down = self.breaker.recovery_timeout
        left = cool_down - (self._clock() - tripped)
        if left > 0:
            await self.backend.set(self.open_key, 1, ttl=left)
        await self.backend.set(self.failures_key, 0, ttl=self.breaker.window)
        # after the cool-down: half-open for every process (for one more cool-down at most)
        await self.backend.set(self.trials_key, 0, ttl=max(left, 0.0) + cool_down)
        await self.backend.set(self.probing_key, 1, ttl=max(left, 0.0) + cool_down)

    # --- reading -------------------------------------------------------------------------------
    async def shared_state(self) -> dict[str, Any]:
        """What every process sees: ``{"state": CircuitState, "open": bool, "retry_after": seconds or
        None, "failures": n}`` (for ``llmswitch doctor``)."""
        (_, left), (failures, _), (probing, _) = await self.backend.peek(self._keys)
        is_open = left is not None and left > 0
        state = CircuitState.OPEN if is_open else CircuitState.HALF_OPEN if probing > 0 else CircuitState.CLOSED
        return {"state": state, "open": is_open, "retry_after": left if is_open else None, "failures": int(failures)}
