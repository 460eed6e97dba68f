"""The object ``astream``/``provider.stream`` hand out: events as they come, the whole Response at the end.

A provider's event source is an async iterator that yields stream events and, last, the
assembled ``Response``; this wrapper keeps that final item aside so callers iterate events
only and ask for ``await stream.final()`` when they want the whole answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType

from .types import Response, StreamEvent, TextDelta

__all__ = ["ResponseStream"]


class ResponseStream:
    __slots__ = ("_source", "_final", "_on_done", "_closed", "_consumed", "_error", "_opener")

    def __init__(
        self,
        source: AsyncIterator[StreamEvent | Response] | None,
        on_done: Callable[[Response | None, BaseException | None], Awaitable[None] | None] | None = None,
        *,
        opener: Callable[[], Awaitable[ResponseStream]] | None = None,
    ) -> None:
        self._opener = opener
        self._source = source
        self._final: Response | None = None
        self._on_done = on_done
        self._closed = False
        self._consumed = False
        self._error: BaseException | None = None

    @classmethod
    def deferred(cls, opener: Callable[[], Awaitable[ResponseStream]]) -> ResponseStream:
        """A stream whose provider is known only once awaited (``auto`` probes first): on first
        iteration it awaits ``opener`` and then reads that stream's own source, so each chunk
        crosses one wrapper, not two."""
        return cls(None, opener=opener)

    async def __aenter__(self) -> ResponseStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose(exc)

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        if self._consumed:
            raise RuntimeError("this stream has already been consumed")
        self._consumed = True
        try:
            if self._opener is not None:
                inner = await self._opener()
                self._opener = None
                self._source, self._on_done = inner._source, inner._on_done
            assert self._source is not None
            async for item in self._source:
                if type(item) is Response:
                    self._final = item
                else:
                    yield item  # type: ignore[misc]
        except BaseException as exc:
            self._error = exc
            await self._finish(exc)
            raise
        await self._finish(None)

    async def text(self) -> AsyncIterator[str]:
        """Only the answer's text, chunk by chunk."""
        async for ev in self:
            if type(ev) is TextDelta:
                yield ev.text

    async def final(self) -> Response:
        """Drain what is left and return the whole Response (text, tool calls, usage, cost)."""
        if not self._consumed:
            async for _ in self:
                pass
        if self._final is None:
            if self._error is not None:
                raise self._error
            raise RuntimeError("the stream was closed before it completed")
        return self._final

    async def _finish(self, error: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        if self._on_done is not None:
            res = self._on_done(self._final, error)
            if res is not None:
                await res

    async def aclose(self, exc: BaseException | None = None) -> None:
        """Stop early: the connection is closed and the call still counted (as cancelled)."""
        self._opener = None  # never opened: nothing was sent
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()
        if not self._closed:
            import asyncio

            await self._finish(exc or asyncio.CancelledError("stream closed before completion"))
