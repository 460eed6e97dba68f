"""A lean HTTP/1.1 keep-alive exchange for the hot path: one request, one whole response.

Why it exists: ``aiohttp.ClientSession.request`` builds a request object, a response object,
timer contexts, trace hooks, cookie handling and a writer task for every call; measured here that
is ~467k instructions per round trip against ~160k for this module doing the same exchange. A
non-streamed call (``Transport._exchange``: completions, model lists, health) spends most of its
client-side time there, so this module is what lets a call through llmswitch cost less than a bare
reused ``ClientSession`` (README "Performance").

What it keeps from aiohttp: the response parser (``aiohttp.http.HttpResponseParser``: llhttp in C,
chunked bodies, gzip/deflate, header size limits, malformed input refused) and its
``StreamReader``; TLS and sockets are asyncio's. What it does not do, and leaves to the aiohttp
path in ``_transport``: streams, query ``params``, per-request header overrides, redirects after
the first answer, other origins, and every connection failure's message (a new connection that
cannot be opened is handed to the aiohttp path, which maps its error; nothing was sent).

Guarantees, the same as the aiohttp path's: the idle bound between bytes (``read``), a connect
bound, bodies bounded while they arrive (an error body is cut at its own smaller bound), a
connection lost after the request was written is never resent (``ServerDisconnectedError``), and
a pooled connection is reused only when the server left it open and it has been idle less than
``keepalive`` seconds.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
from aiohttp.base_protocol import BaseProtocol
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.http import HttpProcessingError, HttpResponseParser
from multidict import CIMultiDictProxy

__all__ = ["H1Pool", "TooLarge", "HttpProcessingError"]

_MAX_LINE = 8190
_MAX_FIELD = 8190
_MAX_HEADERS = 128
_READ_BUFSIZE = 2**16


class TooLarge(Exception):
    """The body passed its bound: ``announced`` is its Content-Length when that said so."""

    def __init__(self, announced: int | None) -> None:
        super().__init__(announced)
        self.announced = announced


class _Conn(BaseProtocol):
    """One keep-alive connection; at most one exchange at a time."""

    __slots__ = ("parser", "waiter", "message", "payload", "limit", "error_limit", "cut", "last_read", "idle_since",
                 "lost", "timer", "read")

    def __init__(self, loop: asyncio.AbstractEventLoop, read: float | None) -> None:
        super().__init__(loop)
        self.parser: Any = HttpResponseParser(
            self, loop, _READ_BUFSIZE, max_line_size=_MAX_LINE, max_headers=_MAX_HEADERS, max_field_size=_MAX_FIELD,
            payload_exception=aiohttp.ClientPayloadError, read_until_eof=True, auto_decompress=True,
        )
        self.waiter: asyncio.Future[None] | None = None
        self.message: Any = None
        self.payload: Any = None
        self.limit = 0
        self.error_limit = 0
        self.cut = False
        self.last_read = 0.0
        self.idle_since = 0.0
        self.lost = False
        self.timer: asyncio.TimerHandle | None = None
        self.read = read

    # --- asyncio.Protocol --------------------------------------------------------------
    def pause_reading(self) -> None:
        """Never paused: nobody reads the body until it is whole, and its bound caps the buffer."""

    def resume_reading(self, resume_parser: bool = True) -> None:
        """See ``pause_reading``."""

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: the connection is not reusable
            self.lost = True
            if self.transport is not None:
                self.transport.close()
            return
        self.last_read = self._loop.time()
        try:
            messages, _upgraded, _tail = self.parser.feed_data(data)
        except BaseException as exc:
            self._fail(exc if isinstance(exc, Exception) else HttpProcessingError(message=str(exc)))
            return
        for message, payload in messages:
            if 100 <= message.code < 200:  # an interim answer (103 Early Hints): the real one follows
                continue
            if self.message is not None:  # a second answer to one request: never reuse this connection
                self.lost = True
                break
            self.message, self.payload = message, payload
            length = message.headers.get("Content-Length")
            if message.code < 400 and length is not None and length.isdigit() and int(length) > self.limit:
                self._fail(TooLarge(int(length)))
                return
        payload = self.payload
        if payload is None:
            return
        if self.message.code < 400:
            if payload.total_bytes > self.limit:
                self._fail(TooLarge(None))
            elif payload.is_eof():
                self._done()
        elif payload.is_eof() or payload.total_bytes >= self.error_limit:
            self._error_body_done()

    def _error_body_done(self) -> None:
        """An error body ends at its bound, or where the server stalled or dropped it: the status
        is what matters, so what arrived is the answer (as the aiohttp path's ``read_error_body``)."""
        self.cut = not self.payload.is_eof()  # the rest is never read: the connection is not reusable
        self._done()

    def _in_error_body(self) -> bool:
        return self.payload is not None and self.message is not None and self.message.code >= 400

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self.lost = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.payload is not None:
            try:
                self.parser.feed_eof()  # a body read until the server closes ends here
            except Exception as err:
                if self._in_error_body():
                    self._error_body_done()
                else:
                    self._fail(aiohttp.ClientPayloadError(f"response payload is not completed: {err}"))
                return
            if self.payload.is_eof() or self._in_error_body():
                self._done()
                return
        self._fail(aiohttp.ServerDisconnectedError() if exc is None else aiohttp.ClientOSError(*_errno(exc)))

    # --- the exchange ----------------------------------------------------------------------
    def _done(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self._stop_timer()
        self.lost = True
        if self.transport is not None:
            self.transport.close()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _idle_check(self) -> None:
        """The idle bound: one timer per connection, armed by the first exchange and moved on when
        bytes arrived since it was set; between exchanges it lapses (no timer per exchange)."""
        assert self.read is not None
        waiter = self.waiter
        if waiter is None or waiter.done():  # no exchange running: nothing to bound
            self.timer = None
            return
        due = self.last_read + self.read
        if self._loop.time() >= due:
            self.timer = None
            if self._in_error_body():
                self._error_body_done()
                return
            self._fail(aiohttp.SocketTimeoutError(f"Timeout on reading data from socket after {self.read:g}s"))
        else:
            self.timer = self._loop.call_at(due, self._idle_check)

    def start(self, request: bytes, limit: int, error_limit: int) -> asyncio.Future[None]:
        self.message = self.payload = None
        self.limit, self.error_limit, self.cut = limit, error_limit, False
        loop = self._loop
        self.waiter = waiter = loop.create_future()
        self.last_read = now = loop.time()
        if self.read is not None and self.timer is None:  # else the running one moves itself on
            self.timer = loop.call_at(now + self.read, self._idle_check)
        assert self.transport is not None
        self.transport.write(request)
        return waiter


def _errno(exc: BaseException) -> tuple[Any, ...]:
    return (exc.errno, exc.strerror) if isinstance(exc, OSError) and exc.errno is not None else (str(exc),)


class H1Pool:
    """Keep-alive connections to one origin on one event loop."""

    __slots__ = ("loop", "host", "port", "ssl", "server_hostname", "head", "idle", "open", "max_open", "connect",
                 "read", "keepalive", "closed")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, host: str, port: int, ssl_context: ssl.SSLContext | None,
        head: bytes, max_open: int, connect: float, read: float | None, keepalive: float,
    ) -> None:
        self.loop = loop
        self.host, self.port = host, port
        self.ssl = ssl_context
        self.server_hostname = host if ssl_context is not None else None
        self.head = head
        """The header lines every request carries (Host, User-Agent, the key), CRLF-terminated."""
        self.idle: list[_Conn] = []
        self.open = 0
        self.max_open = max_open
        self.connect = connect
        self.read = read
        self.keepalive = keepalive
        self.closed = False

    def _take(self) -> _Conn | None:
        """A pooled connection the server has not closed and that has not idled past ``keepalive``."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            t = conn.transport
            if conn.lost or t is None or t.is_closing() or self.loop.time() - conn.idle_since > self.keepalive:
                self._discard(conn)
                continue
            return conn
        return None

    def _discard(self, conn: _Conn) -> None:
        self.open -= 1
        conn._stop_timer()
        if conn.transport is not None:
            try:
                conn.transport.close()
            except RuntimeError:  # its loop is closed (at exit): the process is releasing it anyway
                pass

    async def new_conn(self) -> _Conn | None:
        """A new connection, or None when the pool is full (the caller then takes the aiohttp
        path, which waits for a slot). A connect that fails raises what aiohttp would."""
        if self.open >= self.max_open or self.closed:
            return None
        self.open += 1
        try:
            async with asyncio.timeout(self.connect):
                _, conn = await self.loop.create_connection(
                    lambda: _Conn(self.loop, self.read), self.host, self.port, ssl=self.ssl,
                    server_hostname=self.server_hostname,
                )
        except BaseException as exc:
            self.open -= 1
            mapped = self._connect_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
        return conn

    def _connect_error(self, exc: BaseException) -> Exception | None:
        """A failed connect as the exception aiohttp's connector raises for it, so the transport's
        one mapping (``Transport._conn_error``) words it the same whichever path met it."""
        if isinstance(exc, TimeoutError):
            return aiohttp.ConnectionTimeoutError(f"Connection timeout to host {self.host}:{self.port}")
        key = ConnectionKey(self.host, self.port, self.ssl is not None, self.ssl or True, None, None, None,
                            self.server_hostname)
        if isinstance(exc, ssl.CertificateError):
            return aiohttp.ClientConnectorCertificateError(key, exc)
        if isinstance(exc, ssl.SSLError):
            return aiohttp.ClientConnectorSSLError(key, exc)
        if isinstance(exc, OSError):
            return aiohttp.ClientConnectorError(key, exc)
        return None  # cancelled, or not a connect failure: raised as it is

    async def exchange(
        self, request_line: bytes, rest: bytes, *, limit: int, error_limit: int
    ) -> tuple[int, CIMultiDictProxy[str], bytes] | None:
        """(status, headers, body) for one request; None: not sent, take the aiohttp path. An error
        body is given up to ``error_limit``."""
        conn = self.send(request_line, rest, limit, error_limit)
        if conn is None:
            conn = await self.new_conn()
            if conn is None:
                return None
            self._start(conn, request_line, rest, limit, error_limit)
        assert conn.waiter is not None
        try:
            await conn.waiter
        except BaseException:
            self.abandon(conn)
            raise
        return self.finish(conn, error_limit)

    # ``exchange`` in steps, for a caller that awaits the answer itself (``Transport._exchange``):
    # one coroutine frame less for every resume of a call.
    def send(self, request_line: bytes, rest: bytes, limit: int, error_limit: int) -> _Conn | None:
        """Write the request on an idle pooled connection; its ``waiter`` ends when the answer is
        whole (then ``finish``; ``abandon`` if the wait fails). None: no idle connection, nothing
        was sent (``exchange`` opens one)."""
        conn = self._take()
        if conn is not None:
            self._start(conn, request_line, rest, limit, error_limit)
        return conn

    def _start(self, conn: _Conn, request_line: bytes, rest: bytes, limit: int, error_limit: int) -> None:
        try:
            conn.start(request_line + self.head + rest, limit, error_limit)
        except BaseException:
            self.abandon(conn)
            raise

    def abandon(self, conn: _Conn) -> None:
        """An exchange cancelled or failed midway: its connection is never reused (``_discard``
        stops its idle timer)."""
        self._discard(conn)

    def finish(self, conn: _Conn, error_limit: int) -> tuple[int, CIMultiDictProxy[str], bytes]:
        """(status, headers, body) of the answer ``conn.waiter`` announced; the connection goes
        back to the pool when it may be reused. An error body is given up to ``error_limit``."""
        message, payload = conn.message, conn.payload
        body = payload.read_nowait(-1) if payload.total_bytes else b""
        if conn.cut or conn.lost or message.should_close or self.closed:
            self._discard(conn)
        else:
            conn.waiter = None
            conn.idle_since = self.loop.time()
            self.idle.append(conn)
        if message.code >= 400:
            body = body[:error_limit]
        return message.code, message.headers, body

    def close(self) -> None:
        """Close the idle connections; those in use close when their exchange ends."""
        self.closed = True
        while self.idle:
            self._discard(self.idle.pop())
