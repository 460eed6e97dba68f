"""Run an aiohttp.web application on 127.0.0.1 in a background thread: the one way every fake
under ``tests/fakes/`` is served.

A thread of its own (not the test's loop) lets the same fake serve async tests, the sync
API's bridge loop, LiteLLM's own HTTP client and subprocesses alike, and keeps a slow test from
starving the server. ``start()``/``stop()`` or ``with ThreadedServer(factory) as server:``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Self

from aiohttp import web


class ThreadedServer:
    def __init__(self, app_factory: Callable[[], web.Application], *, shutdown_timeout: float = 5.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._factory = app_factory
        self._ssl = ssl_context
        """Serve HTTPS with this context (``url`` then starts with ``https://``)."""
        self._shutdown_timeout = shutdown_timeout
        """How long ``stop()`` lets a handler still running (a test that gave up on it) finish."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="fake-server")
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.app: web.Application | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self.app = self._factory()
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None,
                                     shutdown_timeout=self._shutdown_timeout)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock, ssl_context=self._ssl)
        await site.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(self._shutdown_timeout + 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
