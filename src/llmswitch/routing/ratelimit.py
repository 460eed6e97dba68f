"""Client-side rate limits: requests (``rpm``) and tokens (``tpm``) per minute for one provider.

Why: a burst of calls that the provider would answer with 429s should instead wait for its turn
here, where waiting costs no request, no retry and no backoff. The limit is kept in fixed
one-minute windows (UTC minute boundaries) on the ``StateBackend``: each call ``take``\\ s one
request and its estimated tokens from the current window's counters, atomically, so exactly
``rpm`` calls are admitted per window across every task and every process sharing the backend.

A call that finds no room waits until the next window begins and tries again. The wait is
bounded by the call's deadline (``timeout=``, else the provider's ``timeout``): when the next
window starts after it, ``RateLimitError`` is raised at once — a *client-side* one, which says so,
with ``retry_after`` the seconds until the window turns. Tokens are counted as estimated before
the call (the prompt's characters / 4 plus ``max_tokens``, as ``routing.budget`` estimates them —
the way OpenAI's own limiter counts ``max_tokens``), not settled afterwards.

Fixed windows allow up to ``2 × rpm`` calls around a window's turn (the end of one window and the
start of the next); that is the price of one atomic counter per window, which is what lets many
processes share the limit through Redis with one round trip.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .. import errors as E
from ..state import StateBackend

__all__ = ["RateLimit"]

_WINDOW = 60.0
_GRACE = 5.0
"""Seconds a minute's counter outlives its minute (hosts with slightly different clocks)."""


class RateLimit:
    """``RateLimit(rpm=60, tpm=100_000)``: at most ``rpm`` requests and ``tpm`` (estimated) tokens
    per minute; either may be None. ``name`` keys the counters (the provider's name: providers
    sharing a name share the limit). ``clock`` (epoch seconds) and ``sleep`` are injected by tests."""

    SETTINGS = ("rpm", "tpm")
    """The keys a ``rate_limit:`` mapping in the config (or ``rate_limit={...}``) may hold."""

    def __init__(
        self,
        rpm: int | None = None,
        tpm: int | None = None,
        *,
        name: str = "rate",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        for label, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{label} must be a whole number >= 1 (or None: no limit), not {value!r}")
        if rpm is None and tpm is None:
            raise ValueError("a rate limit needs rpm= (requests per minute), tpm= (tokens per minute) or both")
        self.rpm = rpm
        self.tpm = tpm
        self.name = name
        self.clock = clock
        self.sleep = sleep
        self.waits = 0
        """Calls that had to wait for a later window (for ``doctor`` and tests)."""

    @classmethod
    def from_settings(cls, name: str, value: RateLimit | Mapping[str, Any] | bool | None) -> RateLimit | None:
        """A provider's limit from its ``rate_limit`` setting: an instance (as given), a mapping of
        ``SETTINGS``, or None (no limit)."""
        if value is None or value is False:
            return None
        if isinstance(value, RateLimit):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(cls.SETTINGS))
            if unknown:
                raise ValueError(f"unknown rate_limit setting(s) {', '.join(unknown)}; known: rpm, tpm")
            return cls(name=name, **{k: v for k, v in value.items() if v is not None})
        raise TypeError(f"rate_limit must be a RateLimit or a mapping of rpm, tpm; got {type(value).__name__}")

    def __repr__(self) -> str:
        return f"RateLimit(rpm={self.rpm}, tpm={self.tpm}, name={self.name!r})"

    async def acquire(self, state: StateBackend, tokens: int = 0, *, deadline: float | None = None,
                      provider: str | None = None) -> None:
        """Wait for room for one request of ``tokens`` tokens, at most ``deadline`` seconds (None:
        no bound); ``RateLimitError`` (client-side) when the room comes later than that."""
        if self.tpm is not None and tokens > self.tpm:
            raise E.RateLimitError(
                f"client-side rate limit: this call is estimated at {tokens:,} tokens, more than the "
                f"{self.tpm:,} tokens per minute allowed; nothing was sent",
                provider=provider or self.name,
                hint="raise rate_limit.tpm for this provider, or lower max_tokens / shorten the prompt",
            )
        started = self.clock()
        while True:
            now = self.clock()
            minute = math.floor(now / _WINDOW)
            if await self._take(state, minute, tokens):
                return
            wait = (minute + 1) * _WINDOW - now
            if deadline is not None and (now - started) + wait > deadline:
                which = "requests" if self.rpm is not None and await self._full(state, minute) else "tokens"
                limit = self.rpm if which == "requests" else self.tpm
                raise E.RateLimitError(
                    f"client-side rate limit: this minute's {limit:,} {which} for {self.name} are taken, and "
                    f"the next minute starts in {wait:.1f}s, after this call's deadline of {deadline:.3g}s; "
                    "nothing was sent",
                    retry_after=wait,
                    provider=provider or self.name,
                    hint="llmswitch holds calls to the configured rate_limit (rpm/tpm); raise it, or give the "
                    "call a longer timeout= to wait its turn",
                )
            self.waits += 1
            await self.sleep(wait)

    async def _take(self, state: StateBackend, minute: int, tokens: int) -> bool:
        ttl = _WINDOW + _GRACE
        if self.rpm is not None and not await state.take(f"rate:{self.name}:rpm:{minute}", 1, self.rpm, ttl=ttl):
            return False
        if self.tpm is not None and tokens > 0 and not await state.take(
            f"rate:{self.name}:tpm:{minute}", tokens, self.tpm, ttl=ttl
        ):
            if self.rpm is not None:  # give the request slot back: this call is not admitted
                await state.add(f"rate:{self.name}:rpm:{minute}", -1, ttl=ttl)
            return False
        return True

    async def _full(self, state: StateBackend, minute: int) -> bool:
        return self.rpm is not None and await state.get(f"rate:{self.name}:rpm:{minute}") >= self.rpm

    async def used(self, state: StateBackend) -> tuple[float, float]:
        """(requests, tokens) taken in the current minute."""
        minute = math.floor(self.clock() / _WINDOW)
        return (await state.get(f"rate:{self.name}:rpm:{minute}"), await state.get(f"rate:{self.name}:tpm:{minute}"))
