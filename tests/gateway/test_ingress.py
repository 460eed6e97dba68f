"""The gateway's own HTTP/1.1 server (``llmswitch.gateway.ingress``) on its own, with routes of the
test's, driven by raw sockets so the framing itself is what is checked: keep-alive, pipelining,
HTTP/1.0, bounds, ``Expect: 100-continue``, malformed requests, disconnects, idle connections,
flow control of a streamed answer and the drain. The gateway's endpoints run on this server in
every other test of ``tests/gateway``."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from llmswitch.gateway.ingress import IngressServer, JSONAnswer, Request

pytestmark = pytest.mark.timeout(60)


class _Routes:
    """Handlers that note what happened to them."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.written = 0
        self.seen: list[str] = []

    async def echo(self, request: Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(body.decode(errors="replace")[:40])
        return web.json_response({"len": len(body), "path": request.path})

    async def refuse(self, request: Request) -> web.StreamResponse:
        return web.json_response({"error": "no"}, status=401)

    async def wait(self, request: Request) -> web.StreamResponse:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return web.json_response({"waited": True})

    async def stream(self, request: Request) -> Any:
        out = request.open_stream(b"Content-Type: text/event-stream\r\n")
        for i in range(3):
            await out.write(b"data: %d\n\n" % i)
        await out.write_eof()
        return out

    async def flood(self, request: Request) -> Any:
        out = request.open_stream(b"Content-Type: application/octet-stream\r\n")
        piece = b"x" * 65536
        for _ in range(400):  # 25 MiB: far more than the socket buffers hold
            await out.write(piece)
            self.written += len(piece)
        await out.write_eof()
        return out

    async def boom(self, request: Request) -> web.StreamResponse:
        raise RuntimeError("a bug")

    def table(self) -> dict[tuple[str, str], Any]:
        return {("POST", "/echo"): self.echo, ("POST", "/refuse"): self.refuse, ("GET", "/wait"): self.wait,
                ("GET", "/stream"): self.stream, ("GET", "/flood"): self.flood, ("GET", "/boom"): self.boom}


class _Running:
    def __init__(self, server: IngressServer, port: int, routes: Any) -> None:
        self.server, self.port, self.routes = server, port, routes

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@contextlib.asynccontextmanager
async def _serving(routes: _Routes, *, max_body: int = 1000, body_timeout: float,
                   keepalive: float) -> AsyncIterator[_Running]:
    """A server on a free loopback port with ``routes``; drained (waiting handlers released) after."""
    server = IngressServer(routes.table(), max_body=max_body, max_header=2048, body_timeout=body_timeout,
                           keepalive=keepalive)
    port = await server.start("127.0.0.1", 0)
    try:
        yield _Running(server, port, routes)
    finally:
        routes.release.set()
        await server.shutdown(1.0)


@pytest.fixture
async def running() -> AsyncIterator[_Running]:
    async with _serving(_Routes(), body_timeout=0.5, keepalive=0.5) as running:
        yield running


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One whole answer (Content-Length or chunked) off the connection."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    body = b""
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += data[:-2]
        return status, headers, body
    return status, headers, await reader.read()


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


async def _closed(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(), 5) == b""


async def test_keep_alive_answers_many_requests_on_one_connection(running: _Running) -> None:
    r, w = await running.connect()
    for i in range(5):
        w.write(_post("/echo", b"x" * i))
        status, headers, body = await _answer(r)
        assert status == 200 and json.loads(body) == {"len": i, "path": "/echo"}
        assert headers["content-type"].startswith("application/json") and headers["date"].endswith("GMT")
        assert "connection" not in headers
    assert len(running.server.connections) == 1
    w.close()


async def test_connection_close_is_honoured(running: _Running) -> None:
    r, w = await running.connect()
    w.write(_post("/echo", b"abc", "Connection: close\r\n"))
    status, headers, _ = await _answer(r)
    assert status == 200 and headers["connection"] == "close"
    assert await _closed(r)


async def test_pipelined_requests_are_answered_in_order(running: _Running) -> None:
    r, w = await running.connect()
    w.write(b"".join(_post("/echo", str(i).encode() * (i + 1)) for i in range(4)))
    lengths = [json.loads((await _answer(r))[2])["len"] for _ in range(4)]
    assert lengths == [1, 2, 3, 4] and running.routes.seen == ["0", "11", "222", "3333"]
    w.close()


async def test_http_1_0_is_answered_then_closed_and_its_stream_is_not_chunked(running: _Running) -> None:
    r, w = await running.connect()
    w.write(b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
    status, headers, body = await _answer(r)
    assert status == 200 and json.loads(body)["len"] == 2 and headers["connection"] == "close"
    assert await _closed(r)
    r, w = await running.connect()
    w.write(b"GET /stream HTTP/1.0\r\n\r\n")
    status, headers, body = await _answer(r)
    assert status == 200 and "transfer-encoding" not in headers
    assert body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


async def test_a_streamed_answer_is_chunked(running: _Running) -> None:
    r, w = await running.connect()
    for _ in range(2):  # and the connection is kept for the next request
        w.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = await _answer(r)
        assert status == 200 and headers["transfer-encoding"] == "chunked"
        assert headers["content-type"] == "text/event-stream" and body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    w.close()


async def test_a_body_over_its_bound_is_413_announced_or_not(running: _Running) -> None:
    r, w = await running.connect()
    w.write(_post("/echo", b"x" * 1001))  # all of it arrived: read to its end, so the connection stays usable
    assert (await _answer(r))[0] == 413
    w.write(_post("/echo", b"ok"))
    assert (await _answer(r))[0] == 200
    r, w = await running.connect()  # announced, still arriving: refused at the bound, and the rest never parsed
    w.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"z" * 2000)
    status, headers, _ = await _answer(r)
    assert status == 413 and headers["connection"] == "close"
    assert await _closed(r)
    r, w = await running.connect()  # chunked: no length announced, counted while it arrives
    w.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(3):
        w.write(b"200\r\n" + b"y" * 512 + b"\r\n")
    status, _, _ = await _answer(r)
    assert status == 413 and await _closed(r)
    assert running.routes.seen == ["ok"]


async def test_a_gzip_bomb_is_measured_after_decompression(running: _Running) -> None:
    bomb = gzip.compress(b"\0" * 100_000)
    assert len(bomb) < 1000
    r, w = await running.connect()
    w.write(_post("/echo", bomb, "Content-Encoding: gzip\r\n"))
    status, _, _ = await _answer(r)
    assert status == 413 and running.routes.seen == []
    small = gzip.compress(b"z" * 500)
    r, w = await running.connect()
    w.write(_post("/echo", small, "Content-Encoding: gzip\r\n"))
    status, _, body = await _answer(r)
    assert status == 200 and json.loads(body)["len"] == 500
    w.close()


async def test_an_unread_body_is_not_taken_for_the_next_request(running: _Running) -> None:
    r, w = await running.connect()
    smuggled = _post("/echo", b"SMUGGLED")
    w.write(_post("/refuse", smuggled))  # all of it arrived, unread: it was a body, the connection stays usable
    assert (await _answer(r))[0] == 401
    w.write(_post("/echo", b"next"))
    assert (await _answer(r))[0] == 200
    r, w = await running.connect()  # still arriving when the handler answered without reading it
    w.write(f"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: {len(smuggled) + 50}\r\n\r\n".encode())
    status, headers, _ = await _answer(r)
    assert status == 401 and headers["connection"] == "close"
    w.write(smuggled)
    assert await _closed(r)
    assert running.routes.seen == ["next"]


async def test_expect_100_continue_is_answered_only_when_the_body_is_read(running: _Running) -> None:
    r, w = await running.connect()
    w.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    interim = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    w.write(b"hello")
    status, _, body = await _answer(r)
    assert status == 200 and json.loads(body)["len"] == 5
    r, w = await running.connect()
    w.write(b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    status, _, _ = await _answer(r)  # the refusal comes first: no 100 before it
    assert status == 401 and await _closed(r)


@pytest.mark.parametrize("raw, status", [
    (b"NOT HTTP AT ALL\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nAuthorization: Bearer sk-secret-0\r\nContent-Length: nope\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n", 431),
    (b"GET /" + b"p" * 4096 + b" HTTP/1.1\r\n\r\n", 431),
    # request smuggling: both framings, or a bare LF between headers
    (b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nContent-Length: 1\nX: y\r\n\r\nz", 400),
])
async def test_a_malformed_request_is_refused_and_the_connection_closed(running: _Running, raw: bytes, status: int) -> None:
    r, w = await running.connect()
    w.write(raw)
    got, headers, body = await _answer(r)
    assert got == status and headers["connection"] == "close"
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    for echoed in (b"aaaa", b"pppp", b"NOT HTTP", b"sk-secret"):  # the request is not quoted back
        assert echoed not in body
    assert await _closed(r)


async def test_unknown_path_is_404_wrong_method_405_and_a_bug_500_on_a_kept_connection(running: _Running) -> None:
    r, w = await running.connect()
    w.write(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await _answer(r))[0] == 404
    w.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = await _answer(r)
    assert status == 405 and headers["allow"] == "POST"
    w.write(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = await _answer(r)
    assert status == 500 and "a bug" not in body.decode()  # no internals to the caller
    w.write(_post("/echo", b"ok"))
    assert (await _answer(r))[0] == 200
    w.close()


async def test_a_caller_that_disconnects_cancels_its_handler(running: _Running) -> None:
    r, w = await running.connect()
    w.write(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(running.routes.started.wait(), 5)
    w.close()
    await asyncio.wait_for(running.routes.cancelled.wait(), 2)


async def test_idle_connections_and_a_trickled_head_are_closed(running: _Running) -> None:
    r, w = await running.connect()
    w.write(_post("/echo", b"1"))
    assert (await _answer(r))[0] == 200
    assert await _closed(r)  # idle past keepalive (0.5 s)
    r, w = await running.connect()
    w.write(b"GET /echo HTTP/1.1\r\nX-Slow: ")
    for _ in range(3):  # a head that never ends, a byte at a time
        w.write(b"s")
        await asyncio.sleep(0.3)
    assert await _closed(r)


async def test_a_body_that_stops_arriving_is_408(running: _Running) -> None:
    r, w = await running.connect()
    w.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    status, headers, _ = await asyncio.wait_for(_answer(r), 5)
    assert status == 408 and headers["connection"] == "close"


async def test_a_slow_reader_holds_the_writer_back(running: _Running) -> None:
    r, w = await running.connect()
    w.write(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.5)
    held = running.routes.written
    assert held < 400 * 65536 // 2, held  # the handler waits for the caller instead of buffering 25 MiB
    status, _, body = await _answer(r)
    assert status == 200 and len(body) == 400 * 65536 and running.routes.written == len(body)
    w.close()


async def test_shutdown_stops_accepting_closes_idle_and_lets_a_running_request_finish(running: _Running) -> None:
    idle_r, idle_w = await running.connect()
    idle_w.write(_post("/echo", b"1"))
    assert (await _answer(idle_r))[0] == 200
    r, w = await running.connect()
    w.write(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(running.routes.started.wait(), 5)
    drain = asyncio.create_task(running.server.shutdown(5.0))
    await asyncio.sleep(0.1)
    assert await _closed(idle_r)
    with pytest.raises(OSError):
        await running.connect()
    running.routes.release.set()
    status, headers, body = await _answer(r)
    assert status == 200 and json.loads(body) == {"waited": True} and headers["connection"] == "close"
    await asyncio.wait_for(drain, 5)


async def test_shutdown_cancels_what_outlives_its_deadline(running: _Running) -> None:
    r, w = await running.connect()
    w.write(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(running.routes.started.wait(), 5)
    await asyncio.wait_for(running.server.shutdown(0.2), 5)
    assert running.routes.cancelled.is_set()
    assert await _closed(r)


async def test_a_large_body_arrives_whole_through_flow_control() -> None:
    """Bodies past the parser's buffer pause and resume reading the socket (aiohttp's flow control)."""
    routes = _Routes()
    server = IngressServer(routes.table(), max_body=8 * 2**20, max_header=2048, body_timeout=10, keepalive=5)
    port = await server.start("127.0.0.1", 0)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        body = bytes(range(256)) * (5 * 2**20 // 256)
        w.write(_post("/echo", body))
        status, _, got = await _answer(r)
        assert status == 200 and json.loads(got)["len"] == len(body)
        w.write(_post("/echo", b"after"))  # and the connection goes on
        status, _, got = await _answer(r)
        assert status == 200 and json.loads(got)["len"] == 5
        w.close()
    finally:
        await server.shutdown(1.0)


def test_the_gateway_answers_a_stalled_body_with_408_in_the_callers_format(backends: Any) -> None:
    """End to end through ``llmswitch serve``'s server: the body bound is ``request_timeout``."""
    import socket

    from tests.gateway.conftest import ALICE, gateway_config, start_gateway

    gw = start_gateway(gateway_config(backends, request_timeout=0.5))
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
            s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":".encode())
            got = b""
            while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
                data = s.recv(65536)
                assert data, got
                got += data
        head, _, body = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408") and b"Connection: close" in head
        assert json.loads(body)["error"]["type"] == "timeout" and "stopped arriving" in json.loads(body)["error"]["message"]
    finally:
        gw.stop()


# --- the exact bytes, the edges of each bound, and the paths a handler rarely takes -----------------
class _Edges(_Routes):
    """More routes: the answer kinds the server writes itself, and handlers that outlive their caller."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []
        self.stream_status: list[int] = []

    async def whole(self, request: Request) -> JSONAnswer:
        return JSONAnswer(b'{"ok":true}')

    async def odd(self, request: Request) -> web.StreamResponse:
        return web.Response(status=299, body=b"abc", headers={"X-Own": "1", "Server": "other", "Date": "never"})

    async def empty(self, request: Request) -> web.StreamResponse:
        return web.Response(status=202)

    async def twice(self, request: Request) -> web.StreamResponse:
        first, second = await request.read(), await request.read()
        return web.json_response({"first": len(first), "second": len(second)})

    async def unwritten(self, request: Request) -> Any:
        out = request.open_stream(b"Content-Type: text/event-stream\r\n")
        self.stream_status.append(out.status)
        await out.write_eof()  # no event at all: the head goes out with the terminator
        return out

    async def orphan(self, request: Request) -> Any:
        out = request.open_stream(b"Content-Type: text/event-stream\r\n")
        await out.write(b"data: 0\n\n")
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:  # the caller left: a write now says so, whichever write it is
            for data in (b"data: 1\n\n", None):
                try:
                    await (out.write(data) if data is not None else out.write_eof())
                except ConnectionResetError as exc:
                    self.errors.append(str(exc))
            raise
        return out

    def table(self) -> dict[tuple[str, str], Any]:
        return {**super().table(), ("GET", "/whole"): self.whole, ("GET", "/odd"): self.odd,
                ("GET", "/empty"): self.empty, ("POST", "/twice"): self.twice, ("GET", "/unwritten"): self.unwritten,
                ("GET", "/orphan"): self.orphan}


@pytest.fixture
async def edges() -> AsyncIterator[_Running]:
    """Keep-alive long (30 s), so a connection closed in a test was closed by the rule under test,
    not by the idle bound."""
    async with _serving(_Edges(), body_timeout=2.0, keepalive=30.0) as running:
        yield running


async def _raw_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head with its final CRLFCRLF, body) of a Content-Length answer, bytes as sent."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return head, await asyncio.wait_for(reader.readexactly(length), 10)


async def test_a_whole_json_answer_is_written_exactly_with_date_and_server(edges: _Running) -> None:
    r, w = await edges.connect()
    w.write(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body = await _raw_answer(r)
    assert head.startswith(b"HTTP/1.1 200 OK\r\nDate: ") and body == b'{"ok":true}'
    assert head.endswith(b"\r\nServer: llmswitch\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n")
    date = email.utils.parsedate_to_datetime(head.split(b"Date: ")[1].split(b"\r\n")[0].decode())
    assert abs(date.timestamp() - time.time()) < 5 and date.tzname() == "UTC"
    w.write(b"GET /whole HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, body = await _raw_answer(r)
    assert head.endswith(b"\r\nContent-Length: 11\r\nConnection: close\r\n\r\n") and body == b'{"ok":true}'
    assert await _closed(r)


async def test_an_aiohttp_answer_keeps_its_own_headers_and_the_server_owns_the_framing(edges: _Running) -> None:
    r, w = await edges.connect()
    w.write(b"GET /odd HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body = await _raw_answer(r)
    assert head.startswith(b"HTTP/1.1 299 Unknown\r\n") and body == b"abc"  # a status without a reason phrase
    assert b"\r\nX-Own: 1\r\n" in head and b"\r\nContent-Length: 3\r\n" in head
    assert head.count(b"Server: ") == 1 and b"Server: llmswitch\r\n" in head  # the route's Server and Date are dropped
    assert head.count(b"Date: ") == 1 and b"never" not in head
    w.write(b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body = await _raw_answer(r)
    assert head.startswith(b"HTTP/1.1 202 Accepted\r\n") and b"\r\nContent-Length: 0\r\n" in head and body == b""
    w.write(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\n")  # and the connection goes on
    assert (await _raw_answer(r))[1] == b'{"ok":true}'
    w.close()


async def test_a_handler_bug_is_a_json_500_and_is_logged_with_the_route(edges: _Running,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    r, w = await edges.connect()
    with caplog.at_level(logging.ERROR, logger="llmswitch.gateway.ingress"):
        w.write(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = await _raw_answer(r)
    assert head.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"\r\nContent-Type: application/json; charset=utf-8\r\n" in head
    assert json.loads(body) == {"error": {"message": "internal error in the gateway", "type": "server_error"}}
    logged = [rec for rec in caplog.records if rec.name == "llmswitch.gateway.ingress"]
    assert [rec.getMessage() for rec in logged] == ["unhandled error in the gateway handling GET /boom"]
    assert logged[0].exc_info is not None and isinstance(logged[0].exc_info[1], RuntimeError)
    w.close()


@pytest.mark.parametrize(("raw", "status", "says"), [
    (b"NOT HTTP\r\n\r\n", 400, "malformed HTTP request (Bad"),
    (b"GET /echo HTTP/1.1\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n", 431, "longer than 2048 bytes"),
])
async def test_a_refused_request_says_why_and_the_connection_is_closed_at_once(edges: _Running, raw: bytes, status: int,
                                                                               says: str) -> None:
    r, w = await edges.connect()
    w.write(raw)
    head, body = await _raw_answer(r)
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert b"\r\nContent-Type: application/json\r\n" in head and head.endswith(b"Connection: close\r\n\r\n")
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and says in error["message"]
    assert "NoneType" not in error["message"]
    assert await _closed(r)  # now, not after the idle bound (30 s here)


async def test_an_upgrade_request_is_answered_then_the_connection_closed(edges: _Running) -> None:
    r, w = await edges.connect()
    w.write(b"GET /whole HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    assert (await _raw_answer(r))[1] == b'{"ok":true}'
    assert await _closed(r)  # the gateway speaks no other protocol


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_of_exactly_the_bound_passes_and_one_byte_more_is_413(edges: _Running, chunked: bool) -> None:
    """Announced (whole in one read) or chunked in many small pieces (counted across them)."""
    def request(size: int) -> bytes:
        if not chunked:
            return _post("/echo", b"b" * size)
        pieces = b"".join(b"a\r\n" + b"c" * 10 + b"\r\n" for _ in range(size // 10)) + (
            b"%x\r\n%s\r\n" % (size % 10, b"d" * (size % 10)) if size % 10 else b"")
        return b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + pieces + b"0\r\n\r\n"

    r, w = await edges.connect()
    w.write(request(1000))
    status, _, body = await _answer(r)
    assert status == 200 and json.loads(body)["len"] == 1000
    w.write(request(1001))
    status, _, body = await _answer(r)
    assert status == 413 and b"size 1000 exceeded" in body  # the bound it passed
    w.close()


async def test_a_body_read_twice_is_the_same_body(edges: _Running) -> None:
    r, w = await edges.connect()
    w.write(_post("/twice", b"x" * 7))
    status, _, body = await _answer(r)
    assert status == 200 and json.loads(body) == {"first": 7, "second": 7}
    w.close()


async def test_a_stream_ended_before_any_event_still_sends_its_head(edges: _Running) -> None:
    r, w = await edges.connect()
    w.write(b"GET /unwritten HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nTransfer-Encoding: chunked\r\n" in head
    assert await asyncio.wait_for(r.readexactly(5), 10) == b"0\r\n\r\n"
    assert edges.routes.stream_status == [200]
    w.write(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\n")  # the chunked answer ended cleanly: the connection goes on
    assert (await _raw_answer(r))[1] == b'{"ok":true}'
    w.close()


async def test_an_http_1_0_stream_ends_by_closing_the_connection(edges: _Running) -> None:
    r, w = await edges.connect()
    w.write(b"GET /stream HTTP/1.0\r\n\r\n")
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
    assert head.endswith(b"Connection: close\r\n\r\n") and b"Transfer-Encoding" not in head
    assert await asyncio.wait_for(r.read(), 5) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"  # then EOF: closed at once


async def test_writing_to_a_caller_that_left_raises_connection_reset(edges: _Running) -> None:
    r, w = await edges.connect()
    w.write(b"GET /orphan HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(edges.routes.started.wait(), 5)
    w.close()
    for _ in range(100):
        if len(edges.routes.errors) == 2:
            break
        await asyncio.sleep(0.02)
    assert edges.routes.errors == ["the caller closed the connection"] * 2


async def test_a_connection_is_forgotten_once_its_caller_leaves(edges: _Running) -> None:
    r, w = await edges.connect()
    w.write(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\n")
    await _raw_answer(r)
    assert len(edges.server.connections) == 1
    w.close()
    for _ in range(100):
        if not edges.server.connections:
            break
        await asyncio.sleep(0.02)
    assert not edges.server.connections


async def test_the_idle_bound_counts_from_the_last_answer_not_from_the_connection() -> None:
    """Requests 0.4 s apart on a 1 s bound keep a connection for longer than the bound; idle, it closes."""
    async with _serving(_Edges(), body_timeout=2.0, keepalive=1.0) as running:
        r, w = await running.connect()
        for _ in range(4):  # 1.6 s in all
            await asyncio.sleep(0.4)
            w.write(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await _raw_answer(r))[1] == b'{"ok":true}'
        assert await _closed(r)
