"""Failover: try a chain of providers in order until one answers.

Why these rules: a chain exists so that an outage of one backend costs the application no failed
call. The next member is tried when the error says another attempt can help (``retryable``: a
connection error, a timeout, 5xx, 429, an open circuit) and on ``ContextWindowExceededError``
(a later member may have a larger window) and on ``CapabilityError`` (raised before anything was
sent: this member cannot take tools, images or thinking; a later one may) and on
``BudgetExceededError`` when it is this member's own (its provider's budget is spent, or its
account is out of credits: a local model or another account may still answer) — an agent's or
the total budget, a caller's or the call's own binds every member alike, so it is raised at once; on a content-filter
refusal only when asked
(``on_content_filter``: another provider's filter may differ, which is a policy choice). Any
other error (a 400, a wrong key, a missing model) is the request's or the configuration's fault
and is raised at once: sending it elsewhere would hide it.

Each member applies its own retries and breaker first (``BaseProvider.complete``), so a member
that is down costs its retries once, and nothing at all while its circuit is open.

Context windows: a member whose known window (``context_window()``, from its declared or
recorded capabilities) is smaller than the prompt is skipped without a request — the prompt's
size is estimated as characters / 4, a deliberately low guess for code and non-English text, so
a member is skipped only when the prompt clearly does not fit. After a member answered
``ContextWindowExceededError``, every later member whose known window is not larger is skipped
too. Skipped members appear in the attempts with the reason.

``deadline`` (``time.monotonic()`` seconds) bounds the whole chain: each member is called with
``timeout=`` what is left, and a member that would start after it is not tried.

A stream fails over only before its first event reaches the caller; after that, an error is
raised (what the caller saw is never replayed from another model).

``AllProvidersFailedError.attempts`` lists ``(member name, error)`` for every member tried, in
order, and ``.seconds`` how long each took. Members are any objects with ``name`` and
``complete``/``stream`` (providers, usually): this module imports no provider.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from .. import _observe
from .. import errors as E
from .._streaming import ResponseStream
from ..types import Response, StreamEvent
from .budget import estimate_tokens as _budget_estimate

__all__ = ["ChainMember", "should_fail_over", "complete_chain", "stream_chain", "estimate_tokens"]

_log = logging.getLogger("llmswitch.failover")


class ChainMember(Protocol):
    """What a chain member offers: a provider bound to its model, usually
    (``providers.fallback``); ``context_window()`` is optional."""

    name: str

    async def complete(self, messages: Any, **params: Any) -> Response:
        """Answer ``messages``."""
        ...

    def stream(self, messages: Any, **params: Any) -> ResponseStream:
        """Stream the answer to ``messages``."""
        ...


def should_fail_over(error: BaseException, *, on_content_filter: bool = False) -> bool:
    """Whether the next member of a chain should be tried after ``error`` (module docstring)."""
    if isinstance(error, (E.ContextWindowExceededError, E.CapabilityError)):
        return True
    if isinstance(error, E.BudgetExceededError):  # a member's own budget or credits; not one they all share
        return str(getattr(error, "budget", "provider:")).startswith("provider:")
    if isinstance(error, E.ContentFilterError):
        return on_content_filter
    return isinstance(error, Exception) and bool(getattr(error, "retryable", False))


def estimate_tokens(messages: Any) -> int:
    """A prompt's tokens as the budgets estimate them (``routing.budget.estimate_tokens``: its
    characters / 4, plus a few per message); a bare string is its characters / 4."""
    if isinstance(messages, str):
        return len(messages) // 4
    return _budget_estimate(messages if isinstance(messages, (list, tuple)) else [messages], None, None, None)[0]


def _note(name: str, error: BaseException, left: int) -> None:
    if left:
        _log.warning("%s failed (%s); failing over to the next of %d member(s)", name, type(error).__name__, left)


class _Chain:
    """The bookkeeping one chain run shares between ``complete_chain`` and ``stream_chain``:
    attempts, their durations, the context-window rule and the deadline."""

    def __init__(self, members: Sequence[ChainMember], names: Sequence[str] | None, messages: Any,
                 deadline: float | None, on_content_filter: bool) -> None:
        if not members:
            raise E.ConfigError("the fallback chain is empty; name at least one provider")
        self.members = members
        self.names = names
        self.messages = messages
        self.deadline = deadline
        self.on_content_filter = on_content_filter
        self.attempts: list[tuple[str, BaseException]] = []
        self.seconds: list[float] = []
        self._needed: int | None = None
        self._exceeded: int | None = None  # the largest known window the prompt already exceeded

    def name(self, i: int) -> str:
        return self.names[i] if self.names else self.members[i].name

    def _window(self, member: ChainMember) -> int | None:
        known = getattr(member, "context_window", None)
        return known() if callable(known) else None

    def skip(self, i: int) -> bool:
        """Whether member ``i`` is skipped (recorded as an attempt): its window is too small, or
        the chain's deadline has passed."""
        member = self.members[i]
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.attempts.append((self.name(i), E.ProviderTimeoutError(
                "not tried: the chain's deadline had passed", provider=self.name(i),
                hint="raise timeout= for this call, or put the faster members first")))
            self.seconds.append(0.0)
            return True
        window = self._window(member)
        if window is None:
            return False
        if self._exceeded is not None and window <= self._exceeded:
            why = f"its context window ({window} tokens) is not larger than one the prompt already exceeded ({self._exceeded})"
        else:
            if self._needed is None:
                self._needed = estimate_tokens(self.messages)
            if self._needed <= window:
                return False
            why = f"its context window ({window} tokens) is smaller than the prompt (about {self._needed} tokens)"
        self.attempts.append((self.name(i), E.ContextWindowExceededError(f"skipped: {why}", provider=self.name(i))))
        self.seconds.append(0.0)
        return True

    def params(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.deadline is None:
            return params
        return {**params, "timeout": max(self.deadline - time.monotonic(), 0.001)}

    def failed(self, i: int, exc: BaseException, started: float) -> None:
        """Record a failure, or re-raise it when it is not a reason to fail over."""
        if not should_fail_over(exc, on_content_filter=self.on_content_filter):
            raise exc
        if isinstance(exc, E.ContextWindowExceededError):
            window = self._window(self.members[i])
            if window is not None:
                self._exceeded = max(window, self._exceeded or 0)
        self.seconds.append(time.perf_counter() - started)
        self.attempts.append((self.name(i), exc))
        _note(self.name(i), exc, len(self.members) - i - 1)

    def hop(self, i: int) -> Any:
        """Tell the telemetry that member ``i`` runs after a failure (its place, the member before
        it and that member's error); a token to reset, or None for the first member."""
        if not i or not self.attempts:
            return None
        name, error = self.attempts[-1]
        return _observe.failover_hop.set((i, name, type(error).__name__))

    def all_failed(self) -> BaseException:
        """What a failed chain raises: a chain of one is transparent (its member's own error);
        otherwise ``AllProvidersFailedError`` with every attempt."""
        if len(self.members) == 1 and len(self.attempts) == 1:
            return self.attempts[0][1]
        return E.AllProvidersFailedError(self.attempts, self.seconds)


async def complete_chain(
    members: Sequence[ChainMember],
    messages: Any,
    *,
    names: Sequence[str] | None = None,
    on_content_filter: bool = False,
    deadline: float | None = None,
    **params: Any,
) -> Response:
    """The first member's answer that succeeds (``Response.provider`` names it). ``names``: what
    to call each member in the attempts (default: its ``name``)."""
    chain = _Chain(members, names, messages, deadline, on_content_filter)
    for i, member in enumerate(members):
        if chain.skip(i):
            continue
        started = time.perf_counter()
        # the member's call records its place in the chain and what failed before it
        hop = chain.hop(i)
        try:
            return await member.complete(messages, **chain.params(params))
        except Exception as exc:
            chain.failed(i, exc, started)
        finally:
            if hop is not None:
                _observe.failover_hop.reset(hop)
    raise chain.all_failed()


def stream_chain(
    members: Sequence[ChainMember],
    messages: Any,
    *,
    names: Sequence[str] | None = None,
    on_content_filter: bool = False,
    deadline: float | None = None,
    **params: Any,
) -> ResponseStream:
    """A stream from the first member that yields a first event (module docstring)."""
    chain = _Chain(members, names, messages, deadline, on_content_filter)

    async def source() -> AsyncIterator[StreamEvent | Response]:
        for i, member in enumerate(members):
            if chain.skip(i):
                continue
            started = time.perf_counter()
            stream = member.stream(messages, **chain.params(params))
            events = stream.__aiter__()
            # reset before this generator yields
            hop = chain.hop(i)
            try:
                first: StreamEvent | None = await events.__anext__()
            except StopAsyncIteration:
                first = None
            except Exception as exc:
                await stream.aclose(exc)
                chain.failed(i, exc, started)
                continue
            finally:
                if hop is not None:
                    _observe.failover_hop.reset(hop)
            try:
                if first is not None:
                    yield first
                    async for event in events:
                        yield event
                yield await stream.final()
            except BaseException as exc:  # the caller stopped early, or the stream broke after its first event
                await stream.aclose(exc)
                raise
            return
        raise chain.all_failed()

    return ResponseStream(source())
