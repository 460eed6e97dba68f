"""The gateway's own HTTP/1.1 server: ``asyncio.Protocol`` connections on aiohttp's request parser.

Why not ``aiohttp.web.Server``: the gateway does the HTTP work twice per call (caller → gateway,
gateway → backend), and aiohttp's server side — a request object, a response object, a payload
writer, timer contexts, an access-log hook and a handler task per request — was most of what the
gateway added over calling the backend directly. Measured here (``python -m bench.gateway``), a
forwarder on aiohttp's server held 0.49–0.54× the calls/s of the backend called directly, the same
forwarder on this protocol 0.85×: the gap the gateway's throughput target needed. The client side
made the same move (``llmswitch._h1``). ``LLMSWITCH_HTTP=aiohttp`` puts the gateway back on
aiohttp's ``web.Server`` (``Gateway.server``), and ``Gateway.app()`` mounts it in an application.

What it keeps from aiohttp: the request parser (``aiohttp.http.HttpRequestParser``: llhttp in C,
chunked and gzip request bodies, header size limits, malformed requests refused) and its
``StreamReader`` with flow control. What it does itself, and only what seven fixed endpoints need:

- one handler task per request, run in order per connection (pipelined requests wait their turn);
  a caller that disconnects cancels its handler at once, which closes the upstream request;
- keep-alive (HTTP/1.1's default, HTTP/1.0 only when asked), ``Connection: close`` honoured; a
  connection whose request body was not read (a 401, a 413 before the body) is closed after the
  answer, so the unread body is never taken for the next request;
- bounds: header lines and fields (``max_header_bytes``; a 431), the body while it arrives
  (``max_body_bytes``: ``Request.read`` raises aiohttp's 413 exception, as aiohttp's server does), a
  body that stops arriving (``body_timeout``), and a connection idle or sending a request's head
  for longer than ``keepalive`` seconds (closed: a slow trickle of headers holds nothing);
- ``Expect: 100-continue`` answered when the handler starts reading the body, so a refused caller
  never sends it;
- streamed answers chunk-encoded (HTTP/1.0: until close), with the writer waiting while the
  caller's socket buffer is full, so a slow reader slows the upstream read instead of growing memory;
- ``shutdown``: stop accepting, close idle connections, let running requests finish up to a
  deadline (their connections close after the answer), then cancel what still runs.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http import HttpProcessingError, HttpRequestParser
from aiohttp.http_exceptions import LineTooLong
from multidict import CIMultiDictProxy

__all__ = ["Request", "Stream", "JSONAnswer", "IngressServer"]

_log = logging.getLogger(__name__)

_READ_BUFSIZE = 2**16
_MAX_HEADERS = 128

Handler = Callable[[Any], Awaitable[Any]]
"""A route: returns an ``aiohttp.web.Response`` (written here) or the ``Stream`` it wrote itself."""

_REASONS: dict[int, bytes] = {s.value: s.phrase.encode() for s in HTTPStatus}
_REASONS[529] = b"Overloaded"
_OWN_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "date", "server"})


class _Clock:
    """The ``Date`` header (RFC 9110 §6.6.1: an origin server with a clock sends it), formatted once
    a second rather than once a request."""

    second = 0
    value = b""

    @classmethod
    def date(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.second = now
            cls.value = b"Date: " + email.utils.formatdate(now, usegmt=True).encode() + b"\r\nServer: llmswitch\r\n"
        return cls.value


def _head(status: int, headers: bytes, close: bool) -> bytes:
    """Status line and the headers every answer carries; ``headers`` already end in CRLF."""
    return (b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown")) + _Clock.date() + headers
            + (b"Connection: close\r\n\r\n" if close else b"\r\n"))


def _header_block(resp: web.StreamResponse) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in resp.headers.items()
                    if k.lower() not in _OWN_HEADERS)


class JSONAnswer:
    """A whole 200 JSON answer, written without building an ``aiohttp.web.Response`` (the path every
    completed call takes; errors and the other endpoints answer with aiohttp's ``Response``)."""

    __slots__ = ("body",)
    status = 200

    def __init__(self, body: bytes) -> None:
        self.body = body


_JSON_200 = b"HTTP/1.1 200 OK\r\n"
_JSON_TYPE = b"Content-Type: application/json\r\nContent-Length: %d\r\n"


class Request:
    """What the gateway's handlers read of a request: the part of ``aiohttp.web.BaseRequest`` they
    use (``method``, ``path``, ``headers``, ``content_length``, ``read``), so one handler serves both
    servers."""

    __slots__ = ("method", "path", "headers", "version", "_payload", "_conn", "_body")

    def __init__(self, message: Any, payload: Any, conn: _Connection) -> None:
        self.method: str = message.method
        self.path: str = message.url.path
        self.headers: CIMultiDictProxy[str] = message.headers
        self.version: tuple[int, int] = message.version
        self._payload = payload
        self._conn = conn
        self._body: bytes | None = None

    @property
    def content_length(self) -> int | None:
        """The announced body size (the parser refused a malformed one), None when not announced."""
        value = self.headers.get("Content-Length")
        return int(value) if value is not None else None

    async def read(self) -> bytes:
        """The whole body, refused with aiohttp's ``HTTPRequestEntityTooLarge`` as soon as it passes
        ``max_body_bytes`` (announced or not, counted after gzip/deflate is undone), and with
        ``HTTPRequestTimeout`` when it has not all arrived within ``body_timeout``."""
        if self._body is not None:
            return self._body
        payload = self._payload
        server = self._conn.server
        limit = server.max_body
        if not payload.is_eof():
            if self.headers.get("Expect", "").lower() == "100-continue" and self._conn.transport is not None:
                self._conn.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            chunks: list[bytes] = []
            size = 0
            try:
                async with asyncio.timeout(server.body_timeout):
                    while True:
                        chunk = await payload.readany()
                        if not chunk:
                            break
                        size += len(chunk)
                        if size > limit:
                            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
                        chunks.append(chunk)
            except TimeoutError:
                raise web.HTTPRequestTimeout(text=f"the request body stopped arriving ({size} bytes in "
                                                  f"{server.body_timeout:g}s)") from None
            body = b"".join(chunks)
        else:
            body = payload.read_nowait(-1) if payload.total_bytes else b""
            if len(body) > limit:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
        self._body = body
        return body

    def open_stream(self, headers: bytes) -> Stream:
        """A streamed 200 answer with ``headers`` (each line ending in CRLF); sent with its first write."""
        return Stream(self._conn, headers, chunked=self.version >= (1, 1))


class Stream:
    """A streamed answer being written: the head goes out with the first ``write``; each write is one
    chunk; ``write_eof`` ends it. Writing to a caller that left raises ``ConnectionResetError``."""

    __slots__ = ("status", "_conn", "_head", "_chunked")

    def __init__(self, conn: _Connection, headers: bytes, *, chunked: bool) -> None:
        self.status = 200
        self._conn = conn
        if chunked:
            headers += b"Transfer-Encoding: chunked\r\n"
        else:
            conn.close_after = True
        self._head: bytes | None = _head(200, headers, conn.close_after)
        self._chunked = chunked

    async def write(self, data: bytes) -> None:
        """Send ``data`` as one chunk; waits while the caller's socket buffer is full."""
        conn = self._conn
        transport = conn.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the caller closed the connection")
        out = b"%x\r\n%s\r\n" % (len(data), data) if self._chunked else data
        if self._head is not None:
            out = self._head + out
            self._head = None
        transport.write(out)
        if conn.writing_paused:
            await conn.drain()

    async def write_eof(self) -> None:
        """End the answer (the chunked body's terminator)."""
        conn = self._conn
        transport = conn.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the caller closed the connection")
        out = b"0\r\n\r\n" if self._chunked else b""
        if self._head is not None:
            out = self._head + out
            self._head = None
        if out:
            transport.write(out)


class _Connection(BaseProtocol):
    """One caller's connection: parses requests, runs their handlers one at a time, writes answers."""

    __slots__ = ("server", "parser", "queue", "task", "close_after", "idle_since", "timer")

    def __init__(self, server: IngressServer) -> None:
        super().__init__(server.loop)
        self.server = server
        self.parser: Any = HttpRequestParser(
            self, server.loop, _READ_BUFSIZE, max_line_size=server.max_header, max_headers=_MAX_HEADERS,
            max_field_size=server.max_header)
        self._parser = self.parser
        self.queue: deque[tuple[Any, Any]] = deque()
        self.task: asyncio.Task[None] | None = None
        self.close_after = False
        """Close once the current answer is written (``Connection: close``, an unread body, draining)."""
        self.idle_since = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server.connections.add(self)
        self.idle_since = self._loop.time()
        self.timer = self._loop.call_at(self.idle_since + self.server.keepalive, self._check_idle)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self.server.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        try:
            self.parser.feed_eof()
        except HttpProcessingError:
            pass  # a request cut in its body: its handler is cancelled just below
        if self.task is not None:  # the caller went away (an end of input counts: no half-closed callers, as
            self.task.cancel()     # aiohttp's server): its upstream request is closed on the way out

    def data_received(self, data: bytes) -> None:
        try:
            messages, upgraded, _tail = self.parser.feed_data(data)
        except HttpProcessingError as exc:
            self.queue.append((None, exc))
            messages, upgraded = (), False
        if upgraded:  # the gateway speaks no other protocol: answer this request, then close
            self.close_after = True
        if messages:
            self.queue.extend(messages)
        if self.task is None and self.queue:
            self._next()

    async def drain(self) -> None:
        await self._drain_helper()

    # --- requests, one at a time --------------------------------------------------------
    def _next(self) -> None:
        message, payload = self.queue.popleft()
        if message is None:
            self.task = self._loop.create_task(self._refuse(payload))
        else:
            self.task = self._loop.create_task(self._run(message, payload))

    async def _run(self, message: Any, payload: Any) -> None:
        if message.should_close or self.server.draining:
            self.close_after = True
        request = Request(message, payload, self)
        try:
            try:
                answer = await self.server.dispatch(request)
            except web.HTTPException as exc:  # what aiohttp's server would answer for it (a 413 from read)
                answer = exc
            except Exception:
                _log.exception("unhandled error in the gateway handling %s %s", request.method, request.path)
                answer = web.Response(status=500, content_type="application/json",
                                      text=json.dumps({"error": {"message": "internal error in the gateway",
                                                                 "type": "server_error"}}))
            if not payload.is_eof():
                self.close_after = True  # the body was not read: it must not be parsed as the next request
            transport = self.transport
            if type(answer) is JSONAnswer:
                if transport is not None:
                    json_body: bytes = answer.body
                    transport.write(_JSON_200 + _Clock.date() + _JSON_TYPE % len(json_body)
                                    + (b"Connection: close\r\n\r\n" if self.close_after else b"\r\n") + json_body)
            elif not isinstance(answer, Stream) and transport is not None:
                body = answer.body if isinstance(answer, web.Response) else None
                if not isinstance(body, (bytes, bytearray)):
                    body = b"" if body is None else str(body).encode()
                transport.write(_head(answer.status, _header_block(answer) + b"Content-Length: %d\r\n" % len(body),
                                      self.close_after) + body)
        finally:
            self._done()

    async def _refuse(self, exc: HttpProcessingError) -> None:
        """A request that could not be parsed: 431 for a header over its bound, else 400; then close
        (where the next request would start is unknown)."""
        if isinstance(exc, LineTooLong):
            status, message = 431, f"the request line or a header is longer than {self.server.max_header} bytes"
        else:  # the parser's words would quote the request back (its headers, a key among them): not echoed
            status, message = 400, f"malformed HTTP request ({type(exc).__name__})"
        body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
        self.close_after = True
        if self.transport is not None:
            self.transport.write(_head(status, b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body),
                                       True) + body)
        self._done()

    def _done(self) -> None:
        self.task = None
        transport = self.transport
        if transport is None:
            return
        if self.close_after:
            self.queue.clear()
            transport.close()
        elif self.queue:
            self._next()
        else:
            self.idle_since = self._loop.time()

    def _check_idle(self) -> None:
        """Close a connection idle (or sending a request's head) for ``keepalive`` seconds; moved on
        lazily, so a request costs no timer of its own."""
        self.timer = None
        if self.transport is None:
            return
        now = self._loop.time()
        if self.task is not None or self.queue:
            self.timer = self._loop.call_at(now + self.server.keepalive, self._check_idle)
            return
        expires = self.idle_since + self.server.keepalive
        if now >= expires:
            self.transport.close()
            return
        self.timer = self._loop.call_at(expires, self._check_idle)

    def close_if_idle(self) -> None:
        """Draining: an idle connection goes now; a busy one after its answer."""
        self.close_after = True
        if self.task is None and not self.queue and self.transport is not None:
            self.transport.close()


class IngressServer:
    """The listening gateway: ``start`` binds, ``shutdown`` drains (module docstring)."""

    def __init__(self, routes: Mapping[tuple[str, str], Handler], *, max_body: int, max_header: int,
                 body_timeout: float, keepalive: float = 75.0) -> None:
        self.routes = routes
        self._paths: dict[str, list[str]] = {}
        for method, path in routes:
            self._paths.setdefault(path, []).append(method)
        self.max_body = max_body
        self.max_header = max_header
        self.body_timeout = body_timeout
        self.keepalive = keepalive
        self.draining = False
        self.connections: set[_Connection] = set()
        self.loop = asyncio.get_running_loop()
        self._server: asyncio.base_events.Server | None = None

    async def dispatch(self, request: Request) -> Any:
        """Run the request's route; a 404 or a 405 (with ``Allow``) as aiohttp's exceptions."""
        handler = self.routes.get((request.method, request.path))
        if handler is not None:
            return await handler(request)
        allowed = self._paths.get(request.path)
        if allowed is not None:
            raise web.HTTPMethodNotAllowed(request.method, sorted(allowed))
        raise web.HTTPNotFound()

    async def start(self, host: str, port: int, *, reuse_port: bool = False, backlog: int = 1024) -> int:
        """Listen; the port (the real one when ``port`` is 0)."""
        self._server = await self.loop.create_server(lambda: _Connection(self), host, port,
                                                     reuse_port=reuse_port or None, backlog=backlog)
        return int(self._server.sockets[0].getsockname()[1])

    async def shutdown(self, timeout: float) -> None:
        """Stop accepting; running requests get ``timeout`` seconds, then are cancelled."""
        self.draining = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close_if_idle()
        running = {c.task for c in self.connections if c.task is not None}
        if running:
            _, late = await asyncio.wait(running, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5.0)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
