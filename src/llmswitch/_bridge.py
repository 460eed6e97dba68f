"""Sync calls over one background event loop thread.

``asyncio.run`` per call would build a new loop (and so a new connection pool) every time and
cannot run inside Jupyter's already-running loop. One daemon thread with a long-lived loop
keeps pooled connections warm and works from any thread, with or without a running loop.

Fork safety: ``fork()`` copies only the calling thread, so a child inherits a bridge whose loop
thread does not exist; a call would queue work on a loop nobody runs and wait forever. An
``os.register_at_fork`` hook gives every bridge in the child a fresh start: the next call
creates a new loop and thread (and, because transports key their sessions by loop, new HTTP
sessions and connections). The inherited loop is not closed or run in the child: its selector
(an epoll descriptor shared with the parent), its self-pipe and its pooled sockets are the
parent's too, and closing transports would unregister the parent's sockets from that shared
epoll. It is parked (kept referenced, so garbage collection never finalises it) and forgotten.
An open stream or pending call carried across the fork is not resumable in the child.

Layer: above ``transport`` (``tests/test_layers.py``): the bridge owns its loop, so at shutdown
it closes the pooled sessions that live on that loop (imported then, so importing the bridge
does not load aiohttp); ``transport`` never imports the bridge.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from .errors import ProviderTimeoutError

__all__ = ["AsyncBridge", "BridgeStats", "get_bridge"]

T = TypeVar("T")


_BRIDGES: weakref.WeakSet[AsyncBridge] = weakref.WeakSet()
_PARKED: list[tuple[asyncio.AbstractEventLoop, threading.Thread | None]] = []
"""Loops inherited through fork, kept alive in the child so nothing ever finalises them there."""


@dataclass
class BridgeStats:
    """What a bridge has done, for monitoring (the design documents' "statistics tracking")."""

    calls: int = 0
    """Coroutines run through ``run`` (each item of an ``iterate`` counts as one)."""
    timeouts: int = 0
    """Calls that did not finish within their timeout (``ProviderTimeoutError``)."""
    errors: int = 0
    """Calls that raised anything else (timeouts not included)."""
    in_flight: int = 0
    """Calls waiting for their result right now."""


class AsyncBridge:
    """Run coroutines on one long-lived background loop from any thread (see the module doc).

    ``with AsyncBridge() as bridge:`` shuts its loop down on exit; ``bridge.stats`` counts calls,
    timeouts, errors and calls in flight. ``get_bridge()`` is the one shared instance the sync API
    uses."""

    def __init__(self, name: str = "llmswitch-bridge") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stats = BridgeStats()
        self._stats_lock = threading.Lock()
        _BRIDGES.add(self)

    def __enter__(self) -> AsyncBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def stats(self) -> BridgeStats:
        """A snapshot of the counters (a copy: later calls do not change it)."""
        with self._stats_lock:
            return replace(self._stats)

    def _count(self, field: str, delta: int = 1) -> None:
        with self._stats_lock:
            setattr(self._stats, field, getattr(self._stats, field) + delta)

    def _forget_after_fork(self) -> None:
        """In a forked child: drop the parent's loop without touching it; the next call starts anew."""
        if self._loop is not None:
            _PARKED.append((self._loop, self._thread))
        self._loop = None
        self._thread = None
        self._lock = threading.Lock()  # may have been held by a thread that does not exist here

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The bridge's event loop, started in its own daemon thread on first use (and again after it closed)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            return loop
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the bridge loop and wait for it from this thread."""
        if self._thread is not None and threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("AsyncBridge.run called from inside the bridge loop; await the coroutine instead")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        with self._stats_lock:
            self._stats.calls += 1
            self._stats.in_flight += 1
        try:
            return fut.result(timeout)
        except FutureTimeout:
            fut.cancel()
            self._count("timeouts")
            raise ProviderTimeoutError(f"the call did not finish within {timeout}s", hint="raise the timeout") from None
        except KeyboardInterrupt:
            fut.cancel()
            self._count("errors")
            raise
        except StopAsyncIteration:  # the end of an ``iterate``: not an error
            raise
        except BaseException:
            self._count("errors")
            raise
        finally:
            self._count("in_flight", -1)

    def iterate(self, agen: AsyncIterator[T], timeout: float | None = None) -> Iterator[T]:
        """Drive an async iterator from sync code, one item per round trip to the loop."""
        it = agen.__aiter__()
        try:
            while True:
                try:
                    yield self.run(it.__anext__(), timeout)  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None and self._loop is not None and not self._loop.is_closed():
                try:
                    self.run(aclose(), 5)
                except Exception:
                    pass

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel what still runs and close the loop's HTTP sessions, so interpreter exit leaves no unclosed-session warnings."""
        loop, thread = self._loop, self._thread
        if loop is None or loop.is_closed():
            return

        async def _drain() -> None:
            from ._transport import close_sessions_on_loop

            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await close_sessions_on_loop()

        try:
            asyncio.run_coroutine_threadsafe(_drain(), loop).result(timeout)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout)
        if not loop.is_running():
            loop.close()
        self._loop = None
        self._thread = None


_bridge: AsyncBridge | None = None
_bridge_lock = threading.Lock()


def get_bridge() -> AsyncBridge:
    """The process-wide bridge the sync API uses (after a fork: the same object, reset)."""
    global _bridge
    if _bridge is None:
        with _bridge_lock:
            if _bridge is None:
                _bridge = AsyncBridge()
                atexit.register(_bridge.shutdown)
    return _bridge


def _after_fork_in_child() -> None:
    global _bridge_lock
    _bridge_lock = threading.Lock()
    for b in list(_BRIDGES):
        b._forget_after_fork()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
