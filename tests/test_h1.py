"""The lean HTTP/1.1 exchange (``llmswitch._h1``) behind every non-streamed request: what only the
framing shows, against a server that sends exactly the scripted bytes. The transport's other
guarantees (redirects, bounds, deadlines, TLS, dropped requests) are tested on this path by
``test_transport*.py`` and ``test_errors_on_the_wire.py``, which run through it."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pytest

from llmswitch import errors as E
from llmswitch._transport import Timeouts, Transport
from tests.fakes.raw_http_server import RawHTTPServer, Reply, ok


@pytest.fixture
def serve() -> Iterator[list[RawHTTPServer]]:
    started: list[RawHTTPServer] = []
    yield started
    for s in started:
        s.stop()


def _start(started: list[RawHTTPServer], *replies: Reply) -> RawHTTPServer:
    s = RawHTTPServer(*replies).start()
    started.append(s)
    return s


def _transport(server: RawHTTPServer, **kw: object) -> Transport:
    return Transport(server.url + "/v1", provider="raw", headers={"Authorization": "Bearer sk-raw"}, **kw)  # type: ignore[arg-type]


async def test_sequential_requests_reuse_one_connection_on_the_lean_path(serve: list[RawHTTPServer]) -> None:
    s = _start(serve, ok(b'{"n":1}'))
    t = _transport(s)
    try:
        for _ in range(5):
            assert await t.post_json("/chat", {"a": 1}) == {"n": 1}
        assert t._fast is not None  # the lean exchange carried them, not aiohttp's session
        assert not t._sessions
    finally:
        await t.aclose()
    assert s.connections == 1 and len(s.requests) == 5


async def test_the_request_carries_host_key_type_length_and_body(serve: list[RawHTTPServer]) -> None:
    s = _start(serve)
    t = _transport(s)
    try:
        await t.post_json("/chat/completions", {"model": "m", "x": "é"})
    finally:
        await t.aclose()
    head, _, body = s.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions HTTP/1.1"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["host"] == f"127.0.0.1:{s.port}"
    assert headers["authorization"] == "Bearer sk-raw"
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body) == {"model": "m", "x": "é"}


async def test_an_answer_with_connection_close_is_not_reused(serve: list[RawHTTPServer]) -> None:
    closing = ok(b'{"n":2}', extra="Connection: close\r\n")
    closing.close = True
    s = _start(serve, closing)
    t = _transport(s)
    try:
        for _ in range(3):
            assert await t.post_json("/chat", {}) == {"n": 2}
    finally:
        await t.aclose()
    assert s.connections == 3


async def test_chunked_gzip_and_until_close_bodies_are_read_whole(serve: list[RawHTTPServer]) -> None:
    doc = json.dumps({"text": "x" * 5000}).encode()
    zipped = gzip.compress(doc)
    chunked = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    for i in range(0, len(doc), 1000):
        piece = doc[i : i + 1000]
        chunked += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    chunked += b"0\r\n\r\n"
    gz = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(zipped)}\r\n\r\n".encode() + zipped
    )
    until_close = Reply(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + doc, close=True)
    s = _start(serve, Reply(chunked), Reply(gz), until_close)
    t = _transport(s)
    try:
        for _ in range(3):
            assert await t.post_json("/chat", {}) == {"text": "x" * 5000}
    finally:
        await t.aclose()
    assert s.connections == 1  # the body read until close ended the only connection


async def test_a_late_answer_to_an_abandoned_request_is_never_read_as_the_next_answer(
    serve: list[RawHTTPServer],
) -> None:
    s = _start(serve, Reply(ok(b'{"n":"late"}').raw, delay=0.6), ok(b'{"n":"mine"}'))
    t = _transport(s)
    try:
        with pytest.raises(E.ProviderTimeoutError):
            await t.post_json("/chat", {}, timeout=0.2)
        assert await t.post_json("/chat", {}) == {"n": "mine"}
    finally:
        await t.aclose()
    assert s.connections == 2  # the abandoned connection was closed, not pooled


async def test_bytes_after_an_answer_retire_the_connection(serve: list[RawHTTPServer]) -> None:
    s = _start(serve, Reply(ok(b'{"n":1}').raw + b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"n\":9}"), ok(b'{"n":2}'))
    t = _transport(s)
    try:
        assert await t.post_json("/chat", {}) == {"n": 1}
        assert await t.post_json("/chat", {}) == {"n": 2}
    finally:
        await t.aclose()


async def test_an_answer_that_is_not_http_is_a_clear_connection_error(serve: list[RawHTTPServer]) -> None:
    s = _start(serve, Reply(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", close=True))
    t = _transport(s)
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await t.post_json("/chat", {})
    finally:
        await t.aclose()
    assert "not valid HTTP" in str(info.value) and "base URL" in (info.value.hint or "")


async def test_a_silent_server_meets_the_idle_bound_on_the_lean_path(serve: list[RawHTTPServer]) -> None:
    s = _start(serve, Reply(ok().raw, delay=2.0))
    t = _transport(s, timeouts=Timeouts(connect=5, read=0.3, total=30))
    try:
        with pytest.raises(E.ProviderTimeoutError) as info:
            await t.post_json("/chat", {})
    finally:
        await t.aclose()
    assert "sent nothing for 0.3s" in str(info.value)


async def test_llmswitch_http_aiohttp_turns_the_lean_path_off(
    serve: list[RawHTTPServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMSWITCH_HTTP", "aiohttp")
    s = _start(serve, ok(b'{"n":3}'))
    t = _transport(s)
    try:
        assert await t.post_json("/chat", {}) == {"n": 3}
        assert t._fast is None and t._sessions
    finally:
        await t.aclose()


async def test_a_header_value_with_a_line_break_never_reaches_the_wire(serve: list[RawHTTPServer]) -> None:
    s = _start(serve)
    t = Transport(s.url, provider="raw", headers={"X-Evil": "a\r\nX-Injected: 1"})
    try:
        with pytest.raises(ValueError, match="header injection"):  # aiohttp's refusal, as before
            await t.post_json("/chat", {})
    finally:
        await t.aclose()
    assert not any(b"X-Injected" in r for r in s.requests)


async def test_an_interim_103_answer_is_passed_over(serve: list[RawHTTPServer]) -> None:
    s = _start(serve, Reply(b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n" + ok(b'{"n":5}').raw))
    t = _transport(s)
    try:
        assert await t.post_json("/chat", {}) == {"n": 5}
        assert await t.post_json("/chat", {}) == {"n": 5}
    finally:
        await t.aclose()
    assert s.connections == 1


@pytest.mark.parametrize("piece", [1, 3, 17])
async def test_an_answer_in_small_pieces_is_assembled_and_the_connection_reused(
    serve: list[RawHTTPServer], piece: int
) -> None:
    doc = json.dumps({"choices": [{"message": {"content": "é" * 40}}]}).encode()
    chunked = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += f"{len(doc):x}\r\n".encode() + doc + b"\r\n0\r\n\r\n"
    s = _start(serve, Reply(ok(doc).raw, piece=piece), Reply(chunked, piece=piece))
    t = _transport(s)
    try:
        assert await t.post_json("/chat", {}) == json.loads(doc)
        assert await t.post_json("/chat", {}) == json.loads(doc)
    finally:
        await t.aclose()
    assert s.connections == 1


async def test_aclose_closes_the_pooled_connections(serve: list[RawHTTPServer]) -> None:
    import asyncio

    s = _start(serve)
    t = _transport(s)
    await t.post_json("/chat", {})
    assert s.connections == 1 and s.closed_connections == 0
    await t.aclose()
    for _ in range(100):
        if s.closed_connections == 1:
            break
        await asyncio.sleep(0.01)
    assert s.closed_connections == 1  # the server saw it closed: nothing left behind


def test_a_loop_that_is_gone_leaves_no_pool_behind(serve: list[RawHTTPServer]) -> None:
    """``asyncio.run`` in a loop (a script, a notebook cell): each run's pool is let go by the next."""
    import asyncio

    s = _start(serve)
    t = _transport(s)
    for _ in range(5):
        assert asyncio.run(t.post_json("/chat", {})) == {"ok": True}
    assert len(t._pools) == 1  # only the last run's; the four before were forgotten
    asyncio.run(t.aclose())


# --- faults, each on the lean path (the transport's suites run them over both paths too) ------------


async def test_a_refused_connection_is_tried_once_and_named() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = Transport(f"http://127.0.0.1:{port}/v1", provider="raw")
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await t.post_json("/chat", {})
        assert t._fast is not None and t._fast[1].open == 0  # the failed connect holds no slot
    finally:
        await t.aclose()
    assert info.value.message == f"cannot connect to 127.0.0.1:{port} (connection refused)"


async def test_an_idle_connection_past_keepalive_is_not_reused(serve: list[RawHTTPServer]) -> None:
    import asyncio

    s = _start(serve)
    t = Transport(s.url, provider="raw", keepalive_timeout=0.1)
    try:
        await t.post_json("/chat", {})
        await t.post_json("/chat", {})
        assert s.connections == 1 and t._fast is not None and t._fast[1].open == 1
        await asyncio.sleep(0.25)
        await t.post_json("/chat", {})
        assert s.connections == 2 and t._fast[1].open == 1  # the stale one closed and counted out
    finally:
        await t.aclose()
    assert t._fast is None


async def test_a_body_over_its_bound_is_refused_announced_or_not(serve: list[RawHTTPServer]) -> None:
    from llmswitch._limits import Limits

    big = b'{"x":"' + b"y" * 200 + b'"}'
    chunked = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(big):x}\r\n".encode() + big + b"\r\n0\r\n\r\n"
    )
    s = _start(serve, ok(big), Reply(chunked), ok(b'{"x":"small"}'))
    t = _transport(s, limits=Limits(max_body_bytes=100))
    try:
        with pytest.raises(E.ResponseTooLargeError) as announced:
            await t.post_json("/chat", {})
        with pytest.raises(E.ResponseTooLargeError) as arrived:
            await t.post_json("/chat", {})
        assert await t.post_json("/chat", {}) == {"x": "small"}
    finally:
        await t.aclose()
    assert announced.value.message == f"the body ({len(big)} bytes announced) exceeded max_body_bytes=100 bytes; stopped reading"
    assert arrived.value.message == "the body exceeded max_body_bytes=100 bytes; stopped reading"
    assert s.connections == 3  # a refused body's connection is never reused


async def test_an_error_body_is_cut_at_its_bound_and_its_connection_retired(serve: list[RawHTTPServer]) -> None:
    from llmswitch._limits import Limits

    text = b"0123456789" * 5
    s = _start(
        serve,
        # in pieces, so the bound is met before the body's end: the rest is never read
        Reply(f"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {len(text)}\r\n\r\n".encode() + text,
              piece=20),
        Reply(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nshort"),
        ok(b'{"n":1}'),
    )
    t = _transport(s, limits=Limits(max_error_body_bytes=12))
    try:
        with pytest.raises(E.InvalidRequestError) as cut:
            await t.post_json("/chat", {})
        with pytest.raises(E.InvalidRequestError) as whole:
            await t.post_json("/chat", {})
        assert await t.post_json("/chat", {}) == {"n": 1}
    finally:
        await t.aclose()
    assert cut.value.message == "012345678901" and cut.value.status_code == 400
    assert whole.value.message == "short"
    assert s.connections == 2  # the cut one was closed (its rest unread); the whole one was reused


@pytest.mark.parametrize("ending", ["stall", "drop"])
async def test_an_error_body_that_stalls_or_drops_gives_what_arrived(serve: list[RawHTTPServer], ending: str) -> None:
    head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nloading"
    # the rest never comes: the server closes the connection, or keeps it open and silent
    s = _start(serve, Reply(head, close=ending == "drop"))
    t = _transport(s, timeouts=Timeouts(connect=5, read=0.3, total=30))
    try:
        with pytest.raises(E.ProviderError) as info:
            await t.post_json("/chat", {})
    finally:
        await t.aclose()
    assert info.value.status_code == 503 and info.value.message == "loading"


@pytest.mark.parametrize("sent", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"half\":"])
async def test_a_connection_dropped_after_the_request_is_lost_not_resent(serve: list[RawHTTPServer], sent: bytes) -> None:
    s = _start(serve, Reply(sent, close=True))
    t = _transport(s)
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await t.post_json("/chat", {})
    finally:
        await t.aclose()
    assert len(s.requests) == 1  # written once, never again
    assert info.value.outcome_unknown is True
    assert info.value.message.startswith("connection lost")


async def test_a_trickling_answer_keeps_the_idle_bound_moving(serve: list[RawHTTPServer]) -> None:
    doc = json.dumps({"t": "z" * 300}).encode()
    s = _start(serve, Reply(ok(doc).raw, piece=2))  # ~180 pieces 1 ms apart: longer than the idle bound
    t = _transport(s, timeouts=Timeouts(connect=5, read=0.15, total=30))
    try:
        assert await t.post_json("/chat", {}) == json.loads(doc)
    finally:
        await t.aclose()


async def test_no_content_is_none(serve: list[RawHTTPServer]) -> None:
    s = _start(serve, Reply(b"HTTP/1.1 204 No Content\r\n\r\n"))
    t = _transport(s)
    try:
        assert await t.request("DELETE", "/thing") == (204, None)
        assert await t.request("DELETE", "/thing") == (204, None)
    finally:
        await t.aclose()
    assert s.connections == 1


async def test_a_body_of_exactly_its_bound_is_read_announced_or_chunked(serve: list[RawHTTPServer]) -> None:
    from llmswitch._limits import Limits

    doc = b'{"x":"' + b"y" * 92 + b'"}'  # 100 bytes
    chunked = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(doc):x}\r\n".encode() + doc + b"\r\n0\r\n\r\n"
    )
    s = _start(serve, ok(doc), Reply(chunked, piece=7))
    t = _transport(s, limits=Limits(max_body_bytes=len(doc)))
    try:
        assert await t.post_json("/chat", {}) == json.loads(doc)
        assert await t.post_json("/chat", {}) == json.loads(doc)
    finally:
        await t.aclose()
    assert s.connections == 1
