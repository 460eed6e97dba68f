"""The module-level API: one call for any backend, named by a model reference.

What a reference means (``"ollama:llama3.2:3b"``, a configured name, an alias, ``auto``) is the
resolver's business (``llmswitch.resolve``); this module only turns its answer into a call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ._bridge import get_bridge
from ._streaming import ResponseStream
from .errors import AuthenticationError
from .resolve import ModelRef, aclose_cached_providers, aresolve, forget, is_auto, parse_model_ref, reset_provider_cache, resolve
from .types import Message, Response, StreamEvent, TextDelta, Tool

__all__ = [
    "parse_model_ref", "get_provider", "reset_provider_cache", "aclose_cached_providers",
    "acomplete", "astream", "complete", "stream", "SyncResponseStream",
]

MessagesArg = str | Message | Iterable[Message | dict[str, Any]]

get_provider = resolve
"""``get_provider(ref)`` → (provider, model): the resolver's ``resolve`` under its older name."""


async def acomplete(
    model: ModelRef,
    messages: MessagesArg,
    *,
    tools: Sequence[Tool | Callable[..., Any]] | None = None,
    **params: Any,
) -> Response:
    # the common reference resolves without an extra coroutine; only ``auto`` may need to probe
    """One call by model reference (``"provider:model"``, ``auto``); a refused key is looked up again next time."""
    provider, model_name = await aresolve(model) if is_auto(model) else resolve(model)
    try:
        return await provider.complete(messages, model=model_name, tools=tools, **params)
    except AuthenticationError:
        forget(provider)  # a key refused (or missing) is looked up again on the next call
        raise


def astream(
    model: ModelRef,
    messages: MessagesArg,
    *,
    tools: Sequence[Tool | Callable[..., Any]] | None = None,
    **params: Any,
) -> ResponseStream:
    """``async with astream(...) as s: async for text in s.text(): ...; final = await s.final()``."""
    if not is_auto(model):
        provider, model_name = resolve(model)
        return provider.stream(messages, model=model_name, tools=tools, **params)

    async def opener() -> ResponseStream:
        provider, model_name = await aresolve(model)
        return provider.stream(messages, model=model_name, tools=tools, **params)

    return ResponseStream.deferred(opener)


def complete(
    model: ModelRef,
    messages: MessagesArg,
    *,
    tools: Sequence[Tool | Callable[..., Any]] | None = None,
    timeout: float | None = None,
    **params: Any,
) -> Response:
    """Blocking ``acomplete``; safe from plain scripts, threads and inside Jupyter's running loop.
    ``timeout`` is the call's total deadline, exactly as for ``acomplete``."""
    if timeout is not None:
        params["timeout"] = timeout
    return get_bridge().run(acomplete(model, messages, tools=tools, **params), _backstop(timeout))


_GRACE = 1.0
"""Seconds the bridge waits past a call's own deadline: the deadline inside the call raises a
ProviderTimeoutError naming the provider; the bridge's wait is only a backstop."""


def _backstop(timeout: float | None) -> float | None:
    return None if timeout is None else timeout + _GRACE


class SyncResponseStream:
    """The blocking twin of ResponseStream: iterate events, ``.text()``, ``.final()``."""

    def __init__(self, inner: ResponseStream, timeout: float | None) -> None:
        self._inner = inner
        # the deadline itself travels inside the call; each wait here is only a backstop
        self._timeout = _backstop(timeout)
        self._iter: Iterator[StreamEvent] | None = None

    def __enter__(self) -> SyncResponseStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._iter is None:
            self._iter = get_bridge().iterate(self._inner.__aiter__(), self._timeout)
        return self._iter

    def text(self) -> Iterator[str]:
        """Only the text pieces, for callers that print as the answer arrives."""
        for ev in self:
            if type(ev) is TextDelta:
                yield ev.text

    def final(self) -> Response:
        """Read the rest of the stream and return the whole answer (text, tool calls, usage)."""
        for _ in self:
            pass
        return get_bridge().run(self._inner.final(), self._timeout)

    def close(self) -> None:
        """Release the connection early: a stream left half-read would otherwise hold it until collected."""
        if self._iter is not None:
            self._iter.close()  # type: ignore[attr-defined]
        get_bridge().run(self._inner.aclose(), 10)


def stream(
    model: ModelRef,
    messages: MessagesArg,
    *,
    tools: Sequence[Tool | Callable[..., Any]] | None = None,
    timeout: float | None = None,
    **params: Any,
) -> SyncResponseStream:
    """Blocking ``astream``; ``timeout`` is the whole stream's deadline (first byte to last)."""
    if timeout is not None:
        params["timeout"] = timeout
    return SyncResponseStream(astream(model, messages, tools=tools, **params), timeout)
