"""The retry policy: when a failed call is tried again, and how long to wait first.

Why these rules: the official OpenAI and Anthropic SDKs retry twice by default with exponential
backoff, and users moving to llmswitch expect a transient 429/5xx not to reach their code. The
wait is exponential with *full jitter* (uniform in ``[0, min(max_backoff, initial * 2**n)]``) so
that many clients failing together do not retry together. A server's own word wins: a
``RateLimitError``/``ProviderUnavailableError``/``CircuitOpenError`` carries ``retry_after``
(already parsed from ``Retry-After``, ``retry-after-ms`` or ``x-ratelimit-reset-*`` by
``_classify``) and the policy waits exactly that — unless it is longer than ``max_wait``: then
the error is raised at once, because waiting less than the server asked only earns another 429,
and the caller (or a failover chain) can do better with the time.

Only errors whose ``retryable`` is true are retried (never a 400, 401, 404 or a context-window
error). An error whose outcome is unknown — a read timeout, a connection lost after the request
was sent (``outcome_unknown``) — may have been run, and billed, by the server already; it is
retried only while ``retry_on_timeout`` is true.

Time is injected (``sleep``, ``clock``, ``jitter``) so the tests run the whole schedule without
sleeping.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _observe
from .._transport import time_left

if TYPE_CHECKING:
    from .breaker import CircuitBreaker

__all__ = ["RetryPolicy", "DEFAULT_RETRIES", "is_retryable"]

T = TypeVar("T")

DEFAULT_RETRIES = 2
"""As the official SDKs: two retries, three attempts in all."""


def is_retryable(error: BaseException, *, retry_on_timeout: bool = True) -> bool:
    """Whether trying again can help: the error says so (``retryable``), and, when
    ``retry_on_timeout`` is off, the request did not possibly reach the server already."""
    if not getattr(error, "retryable", False):
        return False
    return retry_on_timeout or not getattr(error, "outcome_unknown", False)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a call is retried. ``retries=0`` turns retrying off (one attempt)."""

    retries: int = DEFAULT_RETRIES
    """Retries after the first attempt (attempts = retries + 1)."""
    initial_backoff: float = 0.5
    """The first backoff's upper bound, in seconds; it doubles with each retry."""
    max_backoff: float = 8.0
    """No computed backoff is longer than this."""
    max_wait: float = 60.0
    """The longest server-asked wait (``Retry-After``) honoured; a longer one is raised at once."""
    max_time: float | None = None
    """Seconds for the whole call, attempts and waits together; no retry starts a wait past it.
    A call's ``timeout=`` bounds the same way (its deadline covers every attempt)."""
    retry_on_timeout: bool = True
    """Retry errors whose outcome is unknown (the request may have been run: may bill twice)."""
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False, repr=False)
    """A number in [0, 1): the fraction of the backoff bound to wait (full jitter)."""

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries must be a whole number >= 0 (0 turns retrying off), not {self.retries!r}")
        for name in ("initial_backoff", "max_backoff", "max_wait"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, not {value!r}")
        if self.max_time is not None and (not isinstance(self.max_time, (int, float)) or self.max_time <= 0):
            raise ValueError(f"max_time must be a positive number of seconds or None, not {self.max_time!r}")

    @classmethod
    def from_settings(
        cls,
        retries: int | RetryPolicy | None = None,
        *,
        max_wait: float | None = None,
        max_time: float | None = None,
        on_timeout: bool | None = None,
    ) -> RetryPolicy | None:
        """A provider's policy from its settings (None each: the default); None when
        ``retries=0`` (retrying off, and nothing on the call path)."""
        if isinstance(retries, RetryPolicy):
            return retries if retries.retries else None
        changes: dict[str, Any] = {}
        if max_wait is not None:
            changes["max_wait"] = float(max_wait)
        if max_time is not None:
            changes["max_time"] = float(max_time)
        if on_timeout is not None:
            changes["retry_on_timeout"] = bool(on_timeout)
        policy = cls(retries=DEFAULT_RETRIES if retries is None else retries, **changes)
        return policy if policy.retries else None

    def with_retries(self, retries: int) -> RetryPolicy:
        """The same policy with another retry count (a call's ``retries=``)."""
        return self if retries == self.retries else replace(self, retries=retries)

    def backoff(self, retry: int) -> float:
        """The jittered wait before retry number ``retry`` (0-based) when the server named none."""
        bound = min(self.max_backoff, self.initial_backoff * (2.0 ** min(retry, 62)))
        return self.jitter() * bound

    def wait_before(self, error: BaseException, retry: int, elapsed: float) -> float | None:
        """Seconds to wait before retry number ``retry`` after ``error``, or None: do not retry
        (not retryable, out of retries, the server's wait is over ``max_wait``, or the wait would
        end past ``max_time`` or the call's deadline)."""
        if retry >= self.retries or not is_retryable(error, retry_on_timeout=self.retry_on_timeout):
            return None
        asked = getattr(error, "retry_after", None)
        if asked is not None:
            if asked > self.max_wait:
                return None
            wait = float(asked)
        else:
            wait = self.backoff(retry)
        if self.max_time is not None and elapsed + wait >= self.max_time:
            return None
        left = time_left()
        if left is not None and wait >= left:
            return None
        return wait

    async def run(self, attempt: Callable[[], Awaitable[T]], breaker: CircuitBreaker | None = None) -> T:
        """Await ``attempt()`` until it succeeds or the policy gives up (the last error is raised).
        With a ``breaker``, each attempt asks it first and reports its outcome to it."""
        return await self._attempts(attempt, breaker, self.clock(), None)

    async def run_after(self, first: Exception, started: float, attempt: Callable[[], Awaitable[T]]) -> T:
        """The rest of ``run`` without a breaker, once its first attempt, made by the caller
        (``BaseProvider.complete``), failed with ``first``; ``started`` is ``clock()`` taken before
        that attempt. The common call succeeds at once, and then pays no frame of this policy."""
        wait = self.wait_before(first, 0, self.clock() - started)
        if wait is None:
            raise first
        return await self._attempts(attempt, None, started, (first, wait))

    async def _attempts(self, attempt: Callable[[], Awaitable[T]], breaker: CircuitBreaker | None, started: float,
                        pending: tuple[Exception, float] | None) -> T:
        """The one retry loop of ``run`` and ``run_after``; ``pending``: (an attempt's error, the
        wait before the next one)."""
        retry = 0
        ticket: int | None = None
        last: Exception | None = None
        while True:
            if pending is not None:
                last, wait = pending
                await _observe.note_retry(last, retry, wait)  # the failure path only: counted, logged, hooks
                if wait > 0:
                    await self.sleep(wait)
                retry += 1
            if breaker is not None:
                try:
                    # An open circuit fails fast: this provider's own retries never sit out its
                    # cool-down (a failover chain moves on instead).
                    ticket = breaker.before_call()
                except Exception as rejected:
                    if last is not None:
                        raise rejected from last
                    raise
            try:
                result = await attempt()
            except BaseException as exc:
                if breaker is not None:
                    breaker.after_call(exc, ticket)
                if not isinstance(exc, Exception):
                    raise
                after = self.wait_before(exc, retry, self.clock() - started)
                if after is None:
                    raise
                if breaker is not None and breaker.is_open:
                    after = 0.0  # this failure opened it: fail fast now, not after a backoff
                pending = (exc, after)
            else:
                if breaker is not None:
                    breaker.after_call(None, ticket)
                return result
