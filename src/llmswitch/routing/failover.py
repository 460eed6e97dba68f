"""Failover: try a chain of providers in order until one answers.

Why these rules: a chain exists so that an outage of one backend costs the application no failed
call. The next member is tried when the error says another attempt can help (``retryable``: a
connection error, a timeout, 5xx, 429, an open circuit) and on ``ContextWindowExceededError``
(a later member may have a larger window); on a content-filter refusal only when asked
(``on_content_filter``: another provider's filter may differ, which is a policy choice). Any
other error (a 400, a wrong key, a missing model) is the request's or the configuration's fault
and is raised at once: sending it elsewhere would hide it.

Each member applies its own retries and breaker first (``BaseProvider.complete``), so a member
that is down costs its retries once, and nothing at all while its circuit is open.

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

__all__ = ["ChainMember", "should_fail_over", "complete_chain", "stream_chain"]

_log = logging.getLogger("llmswitch.failover")


class ChainMember(Protocol):
    """What a chain member offers: a provider, usually."""

    name: str

    async def complete(self, messages: Any, **params: Any) -> Response:
        """Answer ``messages``."""
        ...

    def stream(self, messages: Any, **params: Any) -> ResponseStream:
        """Stream the answer to ``messages``."""
        ...


def should_fail_over(error: BaseException, *, on_content_filter: bool = False) -> bool:
    """Whether the next member of a chain should be tried after ``error`` (module docstring)."""
    if isinstance(error, E.ContextWindowExceededError):
        return True
    if isinstance(error, E.ContentFilterError):
        return on_content_filter
    return isinstance(error, Exception) and bool(getattr(error, "retryable", False))


def _note(name: str, error: BaseException, left: int) -> None:
    if left:
        _log.warning("%s failed (%s); failing over to the next of %d member(s)", name, type(error).__name__, left)


async def complete_chain(
    members: Sequence[ChainMember],
    messages: Any,
    *,
    names: Sequence[str] | None = None,
    on_content_filter: bool = False,
    **params: Any,
) -> Response:
    """The first member's answer that succeeds (``Response.provider`` names it). ``names``: what
    to call each member in the attempts (default: its ``name``)."""
    if not members:
        raise E.ConfigError("the fallback chain is empty; name at least one provider")
    attempts: list[tuple[str, BaseException]] = []
    seconds: list[float] = []
    for i, member in enumerate(members):
        started = time.perf_counter()
        # the member's call records its place in the chain and what failed before it
        hop = _observe.failover_hop.set((i, attempts[-1][0], type(attempts[-1][1]).__name__)) if i else None
        try:
            return await member.complete(messages, **params)
        except Exception as exc:
            if not should_fail_over(exc, on_content_filter=on_content_filter):
                raise
            seconds.append(time.perf_counter() - started)
            attempts.append((names[i] if names else member.name, exc))
            _note(names[i] if names else member.name, exc, len(members) - i - 1)
        finally:
            if hop is not None:
                _observe.failover_hop.reset(hop)
    raise E.AllProvidersFailedError(attempts, seconds)


def stream_chain(
    members: Sequence[ChainMember],
    messages: Any,
    *,
    names: Sequence[str] | None = None,
    on_content_filter: bool = False,
    **params: Any,
) -> ResponseStream:
    """A stream from the first member that yields a first event (module docstring)."""
    if not members:
        raise E.ConfigError("the fallback chain is empty; name at least one provider")

    async def source() -> AsyncIterator[StreamEvent | Response]:
        attempts: list[tuple[str, BaseException]] = []
        seconds: list[float] = []
        for i, member in enumerate(members):
            started = time.perf_counter()
            stream = member.stream(messages, **params)
            events = stream.__aiter__()
            # reset before this generator yields
            hop = _observe.failover_hop.set((i, attempts[-1][0], type(attempts[-1][1]).__name__)) if i else None
            try:
                first: StreamEvent | None = await events.__anext__()
            except StopAsyncIteration:
                first = None
            except Exception as exc:
                await stream.aclose(exc)
                if not should_fail_over(exc, on_content_filter=on_content_filter):
                    raise
                seconds.append(time.perf_counter() - started)
                attempts.append((names[i] if names else member.name, exc))
                _note(names[i] if names else member.name, exc, len(members) - i - 1)
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
        raise E.AllProvidersFailedError(attempts, seconds)

    return ResponseStream(source())
