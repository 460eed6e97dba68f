"""transport.Transport against a plain fake HTTP server on 127.0.0.1: bounded reads, redirects, deadlines,
sessions, and the one mapping of connection failures (exact class, message and hint).

The fake below is an aiohttp application whose routes each do one thing a server can do (answer
JSON, answer nothing, announce a huge body, redirect, fail with a given status and body, echo the
request). The hostile server in tests/fakes covers the echoing and endless cases; this one gives
exact control over sizes and redirect chains. Connection failures that cannot be produced on
loopback (a connect timeout) are real aiohttp exception objects handed to ``wrap_stream_error``,
the transport's public mapping.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from llmswitch import _transport as T
from llmswitch import errors as E
from llmswitch._limits import Limits
from llmswitch._transport import (
    Timeouts,
    Transport,
    call_deadline,
    reset_call_deadline,
    set_call_deadline,
)
from tests.fakes import hostile_server
from tests.fakes._threaded import ThreadedServer
from tests.fixtures.http_paths import both_http_paths  # noqa: F401  # every test here runs over both paths

# --- the fake -------------------------------------------------------------------------------------------


async def _echo(request: web.Request) -> web.Response:
    raw = await request.read()
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return web.json_response(
        {"method": request.method, "path": request.path, "query": dict(request.query), "headers": dict(request.headers),
         "body": raw.decode("utf-8", "replace"), "peer_port": peer[1] if peer else None}
    )


async def _sized(request: web.Request) -> web.StreamResponse:
    """A JSON string of exactly n bytes (n >= 2), whole or in 10 kB chunks."""
    n = int(request.query["n"])
    if request.query.get("chunked"):
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b'"')
        left = n - 2
        while left:
            step = min(left, 10_000)
            await resp.write(b"7" * step)
            left -= step
        await resp.write(b'"')
        await resp.write_eof()
        return resp
    return web.Response(body=b'"' + b"7" * (n - 2) + b'"', content_type="application/json")


async def _error(request: web.Request) -> web.Response:
    status = int(request.query.get("status", "500"))
    if "retry_after" in request.query:
        return web.Response(status=status, text="slow down", headers={"Retry-After": request.query["retry_after"]})
    if "hex" in request.query:
        return web.Response(status=status, body=bytes.fromhex(request.query["hex"]))
    if "n" in request.query:
        return web.Response(status=status, text="a" * int(request.query["n"]))
    if "json" in request.query:
        return web.Response(status=status, text=request.query["json"], content_type="application/json")
    return web.Response(status=status, text=request.query.get("text", ""))


async def _redirect(request: web.Request) -> web.Response:
    code = int(request.query.get("code", "307"))
    hops = int(request.query.get("hops", "1"))
    if "to" in request.query:
        location = request.query["to"]
    elif hops > 1:
        location = f"/redirect?code={code}&hops={hops - 1}"
    else:
        location = "/echo?moved=1"
    return web.Response(status=code, headers={"Location": location} if location != "-" else {})


_SILENT: set[asyncio.Task[object]] = set()


async def _error_then_stall(request: web.Request) -> web.StreamResponse:
    """An error status, n bytes of body, then silence with the body unfinished."""
    resp = web.StreamResponse(status=500, headers={"Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await resp.write(b"e" * int(request.query["n"]))
    await _silent(request)
    return resp


async def _silent(request: web.Request) -> web.Response:
    task = asyncio.current_task()
    assert task is not None
    _SILENT.add(task)  # type: ignore[arg-type]
    try:
        await asyncio.sleep(30)
    finally:
        _SILENT.discard(task)  # type: ignore[arg-type]
    return web.Response(status=204)


async def _end_silent(app: web.Application) -> None:
    """A silent handler would hold the server's shutdown for 30 s: end them."""
    for task in list(_SILENT):
        task.cancel()


def _fixed(body: bytes):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    return handler


def _make_app() -> web.Application:
    app = web.Application()
    app.on_shutdown.append(_end_silent)
    app.router.add_route("*", "/echo", _echo)
    app.router.add_route("*", "/sized", _sized)
    app.router.add_route("*", "/error", _error)
    app.router.add_route("*", "/redirect", _redirect)
    app.router.add_route("*", "/silent", _silent)
    app.router.add_route("*", "/error-stall", _error_then_stall)
    for path, body in (("/empty", b""), ("/bad-json", b'{"a": 1,,}'), ("/bad-utf8", b"\xff\xfe\xfd"),
                       ("/bad-json-long", b"<html>" + b"0123456789" * 30)):
        app.router.add_get(path, _fixed(body))
    return app


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    s = ThreadedServer(_make_app).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def other() -> Iterator[ThreadedServer]:
    s = ThreadedServer(_make_app).start()
    try:
        yield s
    finally:
        s.stop()


def _t(server: ThreadedServer, **kw: object) -> Transport:
    return Transport(server.url, provider="fake", **kw)  # type: ignore[arg-type]


# --- construction and URLs ------------------------------------------------------------------------------


def test_defaults() -> None:
    t = Transport("http://127.0.0.1:1/v1///", provider="p")
    assert t.base_url == "http://127.0.0.1:1/v1"
    assert t.timeouts == Timeouts(connect=10.0, read=300.0, total=600.0)
    assert t.limits == Limits()
    assert t.headers == {}
    assert t.keepalive_timeout == 15.0
    assert repr(t) == "Transport('http://127.0.0.1:1/v1', provider='p')"


def test_only_trailing_slashes_are_dropped_from_the_base_url() -> None:
    assert Transport("http://127.0.0.1:1/X//", provider="p").base_url == "http://127.0.0.1:1/X"


def test_url_joins_paths_and_keeps_absolute_urls() -> None:
    t = Transport("http://127.0.0.1:1/v1/", provider="p")
    assert t.url("/models") == "http://127.0.0.1:1/v1/models"
    assert t.url("http://other/x") == "http://other/x"
    assert t.url("https://other/x") == "https://other/x"
    assert t.url("httpx/y") == "http://127.0.0.1:1/v1httpx/y"


async def test_session_is_reused_on_one_loop_and_replaced_once_closed(server: ThreadedServer) -> None:
    t = _t(server, headers={"X-Fixed": "1"}, timeouts=Timeouts(connect=3.0, read=4.0, total=5.0), keepalive_timeout=2.0)
    s = t.session()
    assert t.session() is s
    assert isinstance(s.connector, aiohttp.TCPConnector)
    assert s.connector.limit == 1024 and s.connector.limit_per_host == 1024
    # the session bounds connect and idle time; a request's total deadline is its own timer
    assert s.timeout == aiohttp.ClientTimeout(total=None, connect=3.0, sock_read=4.0)
    await s.close()
    s2 = t.session()
    assert s2 is not s and not s2.closed
    await t.aclose()
    assert s2.closed


async def test_each_loop_keeps_its_own_session(server: ThreadedServer) -> None:
    t = _t(server)
    other_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=other_loop.run_forever, daemon=True)
    thread.start()
    try:
        here = t.session()
        there = asyncio.run_coroutine_threadsafe(_session_of(t), other_loop).result(10)
        assert there is not here
        assert t.session() is here  # back on this loop: the same session, not a new one
        assert asyncio.run_coroutine_threadsafe(_session_of(t), other_loop).result(10) is there
        await t.aclose()
        assert here.closed and there.closed
    finally:
        other_loop.call_soon_threadsafe(other_loop.stop)
        thread.join(5)
        other_loop.close()


@pytest.mark.parametrize("keepalive,same", [(0.3, False), (30.0, True)])
async def test_an_idle_pooled_connection_is_dropped_after_keepalive_timeout(server: ThreadedServer, keepalive: float, same: bool) -> None:
    t = _t(server, keepalive_timeout=keepalive)
    try:
        first = (await t.get_json("/echo"))["peer_port"]
        await asyncio.sleep(0.9)
        second = (await t.get_json("/echo"))["peer_port"]
    finally:
        await t.aclose()
    assert (first == second) is same


async def test_headers_given_at_construction_are_sent_and_copied(server: ThreadedServer) -> None:
    given = {"X-Fixed": "one"}
    t = _t(server, headers=given)
    given["X-Fixed"] = "changed"
    try:
        got = await t.get_json("/echo")
        assert got["headers"]["X-Fixed"] == "one"
        assert "Content-Type" not in got["headers"]  # a GET without a body says no JSON
    finally:
        await t.aclose()


async def test_post_json_sends_compact_json_and_merges_call_headers(server: ThreadedServer) -> None:
    t = _t(server, headers={"X-Fixed": "one"})
    try:
        got = await t.post_json("/echo", {"a": [1, 2], "b": "é"}, headers={"X-Call": "two"}, params={"q": "1"})
        assert got["method"] == "POST" and got["query"] == {"q": "1"}
        assert got["body"] == '{"a":[1,2],"b":"\\u00e9"}'
        assert got["headers"]["Content-Type"] == "application/json"
        assert got["headers"]["X-Call"] == "two" and got["headers"]["X-Fixed"] == "one"
        got = await t.get_json("/echo", headers={"X-Call": "three"})
        assert got["headers"]["X-Call"] == "three" and got["method"] == "GET"
        assert await t.request("DELETE", "/echo") == (200, {**(await t.request("DELETE", "/echo"))[1]})
    finally:
        await t.aclose()


async def test_request_raw_returns_the_bytes_with_every_option_applied(server: ThreadedServer) -> None:
    t = _t(server, headers={"X-Fixed": "one"})
    try:
        status, raw = await t.request_raw("POST", "/echo", json_body={"a": 1}, params={"q": "1"}, headers={"X-Call": "two"}, timeout=5)
        assert status == 200 and isinstance(raw, bytes)
        got = json.loads(raw)
        assert (got["method"], got["query"], got["body"]) == ("POST", {"q": "1"}, '{"a":1}')
        assert got["headers"]["X-Call"] == "two" and got["headers"]["Content-Type"] == "application/json"
        assert await t.request_raw("GET", "/empty") == (200, b"")
        with pytest.raises(E.ModelNotFoundError) as info:
            await t.request_raw("GET", "/error", params={"status": "404", "text": "model x not found"}, model="x")
        assert (info.value.model, info.value.url) == ("x", server.url + "/error")
        started = time.perf_counter()
        with pytest.raises(E.ProviderTimeoutError, match="deadline of 0.3s"):
            await t.request_raw("GET", "/silent", timeout=0.3)
        assert time.perf_counter() - started < 2
    finally:
        await t.aclose()


async def test_the_providers_own_timeout_ends_a_call_and_spares_one_that_finishes(server: ThreadedServer) -> None:
    """The provider's ``timeout`` (no per-call one given) is checked by a once-a-second watchdog:
    a silent server is cut within about a second of it; a call that finishes in time is not."""
    t = _t(server, timeouts=Timeouts(connect=5.0, read=30.0, total=1.5))
    try:
        started = time.perf_counter()
        with pytest.raises(E.ProviderTimeoutError) as info:
            await t.get_json("/silent")
        assert 1.4 < time.perf_counter() - started < 3.5
        assert info.value.message == "the call did not finish within its deadline of 1.5s"
        both = await asyncio.gather(t.get_json("/echo"), t.get_json("/echo"))
        assert [b["path"] for b in both] == ["/echo", "/echo"]
    finally:
        await t.aclose()


async def test_empty_body_is_none(server: ThreadedServer) -> None:
    t = _t(server)
    try:
        assert await t.request("GET", "/empty") == (200, None)
    finally:
        await t.aclose()


@pytest.mark.parametrize("path,kind", [("/bad-json", "JSONDecodeError"), ("/bad-utf8", "UnicodeDecodeError")])
async def test_malformed_json_is_named_with_the_start_of_the_body(server: ThreadedServer, path: str, kind: str) -> None:
    t = _t(server)
    try:
        with pytest.raises(E.ProviderError) as info:
            await t.get_json(path)
    finally:
        await t.aclose()
    err = info.value
    assert type(err) is E.ProviderError
    assert err.message.startswith(f"the server answered with malformed JSON ({kind}: ")
    raw = b'{"a": 1,,}' if path == "/bad-json" else b"\xff\xfe\xfd"
    assert err.message.endswith(f"; body starts {raw!r}")
    assert (err.provider, err.url, err.status_code) == ("fake", server.url + path, 200)
    assert err.hint == "is the base URL pointing at the right kind of server?"


async def test_malformed_json_shows_only_the_first_200_bytes(server: ThreadedServer) -> None:
    t = _t(server)
    try:
        with pytest.raises(E.ProviderError) as info:
            await t.get_json("/bad-json-long")
    finally:
        await t.aclose()
    start = (b"<html>" + b"0123456789" * 30)[:200]
    assert info.value.message.endswith(f"; body starts {start!r}")


# --- bounded reads ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_at_the_limit_is_read_whole(server: ThreadedServer, chunked: bool) -> None:
    t = _t(server, limits=Limits(max_body_bytes=150_000))
    try:
        status, body = await t.request("GET", f"/sized?n=150000{'&chunked=1' if chunked else ''}")
    finally:
        await t.aclose()
    assert status == 200 and body == "7" * (150_000 - 2)


async def test_an_announced_body_over_the_limit_is_refused_before_reading(server: ThreadedServer) -> None:
    t = _t(server, limits=Limits(max_body_bytes=1000))
    try:
        with pytest.raises(E.ResponseTooLargeError) as info:
            await t.get_json("/sized?n=1001")
    finally:
        await t.aclose()
    err = info.value
    assert err.message == "the body (1001 bytes announced) exceeded max_body_bytes=1000 bytes; stopped reading"
    assert err.hint == "raise max_body_bytes in the provider's config if the server is trusted"
    assert (err.provider, err.url) == ("fake", server.url + "/sized?n=1001")


async def test_a_chunked_body_over_the_limit_is_refused_while_it_arrives(server: ThreadedServer) -> None:
    t = _t(server, limits=Limits(max_body_bytes=150_000))
    try:
        with pytest.raises(E.ResponseTooLargeError) as info:
            await t.get_json("/sized?n=150001&chunked=1")
    finally:
        await t.aclose()
    assert info.value.message == "the body exceeded max_body_bytes=150000 bytes; stopped reading"
    assert info.value.hint == "raise max_body_bytes in the provider's config if the server is trusted"
    assert (info.value.provider, info.value.url) == ("fake", server.url + "/sized?n=150001&chunked=1")


@pytest.mark.parametrize("n,kept", [(200_000, 100_000), (100_000, 100_000), (99_999, 99_999), (70_000, 70_000)])
async def test_an_error_body_is_read_up_to_its_limit(server: ThreadedServer, n: int, kept: int) -> None:
    t = _t(server, limits=Limits(max_error_body_bytes=100_000))
    try:
        with pytest.raises(E.ProviderUnavailableError) as info:
            await t.get_json(f"/error?status=500&n={n}")
    finally:
        await t.aclose()
    # details keep 64 KiB of the text and say how much more was read: exactly the bytes kept
    assert info.value.details == "a" * E.MAX_DETAIL_CHARS + f"… [{kept - E.MAX_DETAIL_CHARS} more characters]"


async def test_an_error_body_stops_being_read_at_its_limit_even_if_more_would_come(server: ThreadedServer) -> None:
    t = _t(server, limits=Limits(max_error_body_bytes=100))
    started = time.perf_counter()
    try:
        with pytest.raises(E.ProviderUnavailableError) as info:
            await t.get_json("/error-stall?n=100", timeout=5)
    finally:
        await t.aclose()
    assert time.perf_counter() - started < 2.5
    assert info.value.message == "e" * 100


async def test_an_error_body_that_stalls_gives_what_arrived(server: ThreadedServer) -> None:
    t = _t(server, timeouts=Timeouts(connect=5.0, read=0.5, total=20.0))
    started = time.perf_counter()
    try:
        with pytest.raises(E.ProviderUnavailableError) as info:
            await t.get_json("/error-stall?n=40")
    finally:
        await t.aclose()
    assert time.perf_counter() - started < 3
    assert info.value.message == "e" * 40 and info.value.status_code == 500


async def test_a_small_error_body_limit_cuts_the_message(server: ThreadedServer) -> None:
    t = _t(server, limits=Limits(max_error_body_bytes=10))
    try:
        with pytest.raises(E.InvalidRequestError) as info:
            await t.get_json("/error?status=400&text=0123456789ABCDEF")
    finally:
        await t.aclose()
    assert info.value.message == "0123456789"


async def test_an_error_body_is_classified_with_status_headers_url_and_model(server: ThreadedServer) -> None:
    t = _t(server)
    body = json.dumps({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})
    try:
        with pytest.raises(E.RateLimitError) as info:
            await t.request("POST", "/error", json_body={}, params={"status": "429", "json": body}, model="gpt-x")
    finally:
        await t.aclose()
    err = info.value
    assert err.message == "Rate limit reached" and err.code == "rate_limit_exceeded"
    assert (err.status_code, err.model, err.provider) == (429, "gpt-x", "fake")
    assert err.url == server.url + "/error"
    assert err.details == json.loads(body)


async def test_an_error_body_that_is_not_utf8_is_decoded_with_replacement_characters(server: ThreadedServer) -> None:
    t = _t(server)
    try:
        with pytest.raises(E.ProviderUnavailableError) as info:
            await t.get_json("/error", params={"status": "500", "hex": (b" \xff oops \xfe ").hex()})
    finally:
        await t.aclose()
    assert info.value.message == "\ufffd oops \ufffd"


async def test_retry_after_of_an_http_429_reaches_the_error(server: ThreadedServer) -> None:
    t = _t(server)
    try:
        with pytest.raises(E.RateLimitError) as info:
            await t.get_json("/error", params={"status": "429", "retry_after": "3"})
    finally:
        await t.aclose()
    assert info.value.retry_after == 3.0 and info.value.message == "slow down"


async def test_a_text_error_body_is_stripped_and_redacted_with_the_transports_secrets(server: ThreadedServer) -> None:
    secret = f"own-{uuid.uuid4().hex}"
    t = _t(server, secrets=(secret, ""))
    try:
        with pytest.raises(E.ProviderUnavailableError) as info:
            await t.get_json("/error", params={"status": "502", "text": f"  upstream refused {secret}\n"})
    finally:
        await t.aclose()
    assert info.value.message == "upstream refused ***"
    assert info.value.details == "upstream refused ***"


async def test_a_secret_given_to_a_transport_is_redacted_everywhere(hostile: ThreadedServer) -> None:
    """The provider's own key, echoed back in a JSON error body by a server, never shows: a transport
    registers its secrets with the one redaction point when it is built."""
    secret = f"transport-only-{uuid.uuid4().hex}"
    t = Transport(hostile.url + "/v1", provider="hostile", headers={"X-Custom-Auth": secret}, secrets=(secret,))
    try:
        with pytest.raises(E.InvalidRequestError) as info:
            await t.post_json("/chat/completions", {"model": "echo-400"})
    finally:
        await t.aclose()
    assert hostile_server.state(hostile).seen[-1][2]["X-Custom-Auth"] == secret
    shown = str(info.value) + repr(info.value.details)
    assert secret not in shown and "X-Custom-Auth=***" in shown
    # and anywhere else in this process from now on
    assert E.redact(f"later: {secret}") == "later: ***"


@pytest.fixture(scope="module")
def hostile() -> Iterator[ThreadedServer]:
    s = hostile_server.start()
    try:
        yield s
    finally:
        s.stop()


# --- redirects --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [307, 308])
async def test_same_origin_307_308_keep_method_and_body(server: ThreadedServer, code: int) -> None:
    t = _t(server)
    try:
        got = await t.post_json(f"/redirect?code={code}", {"x": 1})
    finally:
        await t.aclose()
    assert (got["method"], got["path"], got["query"], got["body"]) == ("POST", "/echo", {"moved": "1"}, '{"x":1}')


@pytest.mark.parametrize("code", [301, 302, 303])
async def test_a_moved_get_is_followed(server: ThreadedServer, code: int) -> None:
    t = _t(server)
    try:
        got = await t.get_json(f"/redirect?code={code}")
    finally:
        await t.aclose()
    assert (got["method"], got["path"], got["query"]) == ("GET", "/echo", {"moved": "1"})


@pytest.mark.parametrize("code", [301, 302, 303])
async def test_a_moved_post_is_an_error(server: ThreadedServer, code: int) -> None:
    t = _t(server)
    try:
        with pytest.raises(E.ProviderError) as info:
            await t.post_json(f"/redirect?code={code}", {"x": 1})
    finally:
        await t.aclose()
    err = info.value
    assert type(err) is E.ProviderError and err.status_code == code
    assert err.message == f"the server answered HTTP {code} (moved) to a POST; following it would drop the request body"
    assert err.hint == f"set the provider's base_url to match {server.url}/echo"
    assert err.provider == "fake"
    assert err.url == f"{server.url}/redirect?code={code}"


async def test_a_redirect_to_another_origin_is_refused(server: ThreadedServer, other: ThreadedServer) -> None:
    t = _t(server)
    to = f"{other.url}/echo?token=abc"
    try:
        with pytest.raises(E.ProviderError) as info:
            await t.get_json("/redirect", params={"code": "307", "to": to})
    finally:
        await t.aclose()
    err = info.value
    assert type(err) is E.ProviderError and err.status_code == 307
    assert err.message == (
        f"the server redirected to another origin (http://127.0.0.1:{other.port}); "
        "llmswitch does not follow it, so the key and the prompt stay with the configured server"
    )
    assert err.hint == f"if you trust it, set the provider's base_url to {other.url}/echo"
    assert err.provider == "fake"
    assert err.url.startswith(f"{server.url}/redirect?")


@pytest.mark.parametrize("to", ["https://127.0.0.1:{port}/echo", "http://localhost:{port}/echo"])
async def test_another_scheme_or_host_is_another_origin(server: ThreadedServer, to: str) -> None:
    t = _t(server)
    try:
        with pytest.raises(E.ProviderError, match="another origin"):
            await t.get_json("/redirect", params={"code": "302", "to": to.format(port=server.port)})
    finally:
        await t.aclose()


async def test_a_redirect_without_location_is_an_error(server: ThreadedServer) -> None:
    t = _t(server)
    try:
        with pytest.raises(E.ProviderError) as info:
            await t.get_json("/redirect", params={"code": "302", "to": "-"})
    finally:
        await t.aclose()
    err = info.value
    assert err.message == "the server answered HTTP 302 without a Location" and err.status_code == 302
    assert err.url == f"{server.url}/redirect?code=302&to=-" and err.provider == "fake"


async def test_five_redirects_are_followed_and_a_sixth_is_refused(server: ThreadedServer) -> None:
    t = _t(server)
    try:
        got = await t.get_json("/redirect?code=302&hops=5")
        assert got["path"] == "/echo"
        with pytest.raises(E.ProviderError) as info:
            await t.get_json("/redirect?code=302&hops=6")
    finally:
        await t.aclose()
    err = info.value
    assert err.message == "more than 5 redirects" and err.hint == "check the base URL"
    assert err.url == f"{server.url}/redirect?code=302&hops=1" and err.provider == "fake"  # the last hop


async def test_query_params_are_not_carried_across_a_redirect(server: ThreadedServer) -> None:
    t = _t(server)
    try:
        got = await t.get_json("/redirect", params={"code": "307", "extra": "1"})
    finally:
        await t.aclose()
    assert got["query"] == {"moved": "1"}


# --- deadlines ------------------------------------------------------------------------------------------------


async def test_a_per_request_timeout_bounds_the_call(server: ThreadedServer) -> None:
    t = _t(server)
    started = time.perf_counter()
    try:
        with pytest.raises(E.ProviderTimeoutError) as info:
            await t.get_json("/silent", timeout=0.5)
    finally:
        await t.aclose()
    assert time.perf_counter() - started < 3
    assert info.value.message == "the call did not finish within its deadline of 0.5s"
    assert (info.value.provider, info.value.url) == ("fake", server.url + "/silent")


async def test_an_explicit_timeout_longer_than_the_call_deadline_does_not_extend_it(server: ThreadedServer) -> None:
    t = _t(server)
    started = time.perf_counter()
    try:
        with call_deadline(0.5):
            with pytest.raises(E.ProviderTimeoutError, match="deadline of 0.5s"):
                await t.get_json("/silent", timeout=10)
    finally:
        await t.aclose()
    assert time.perf_counter() - started < 2.5


@pytest.mark.parametrize("timeout", [None, 10.0])
async def test_cancelling_a_call_is_a_cancellation_not_a_timeout(server: ThreadedServer, timeout: float | None) -> None:
    t = _t(server)
    try:
        task = asyncio.create_task(t.get_json("/silent", timeout=timeout))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await t.aclose()


@pytest.mark.parametrize("timeout", [None, 0.5])
async def test_a_finished_call_leaves_no_deadline_behind(server: ThreadedServer, timeout: float | None) -> None:
    """After a call returns, neither its timer nor the watchdog may cancel the task later on."""
    t = _t(server, timeouts=Timeouts(connect=5.0, read=30.0, total=1.2))
    try:
        assert (await t.get_json("/echo", timeout=timeout))["path"] == "/echo"
        await asyncio.sleep(2.5)  # past the call's deadline and two watchdog ticks: not cancelled
        assert (await t.get_json("/echo"))["path"] == "/echo"
    finally:
        await t.aclose()


async def test_the_watchdog_starts_again_after_it_went_idle(server: ThreadedServer) -> None:
    t = _t(server, timeouts=Timeouts(connect=5.0, read=30.0, total=1.2))
    try:
        await t.get_json("/echo")
        await asyncio.sleep(1.3)  # the watchdog ticked once with nothing in flight and stopped
        started = time.perf_counter()
        with pytest.raises(E.ProviderTimeoutError, match="deadline of 1.2s"):
            await asyncio.wait_for(t.get_json("/silent"), 8)
        assert time.perf_counter() - started < 3.5
    finally:
        await t.aclose()


# --- streams: the same bounds ---------------------------------------------------------------------------


async def _drain(t: Transport, method: str, path: str, json_body: object = None) -> int:
    n = 0
    async with t.stream(method, path, json_body=json_body) as resp:
        async for chunk in resp.content.iter_any():
            n += len(chunk)
    return n


@pytest.mark.parametrize("deadline", [None, 10.0])
async def test_a_stream_is_bounded_by_the_idle_timeout(server: ThreadedServer, deadline: float | None) -> None:
    t = _t(server, timeouts=Timeouts(connect=5.0, read=0.5, total=20.0))
    started = time.perf_counter()
    try:
        with call_deadline(deadline):
            with pytest.raises(E.ProviderTimeoutError) as info:
                await asyncio.wait_for(_drain(t, "GET", "/silent"), 8)
    finally:
        await t.aclose()
    assert time.perf_counter() - started < 2.5
    assert info.value.message == "the server sent nothing for 0.5s"


@pytest.mark.parametrize("deadline", [None, 10.0])
async def test_a_stream_is_bounded_by_the_connect_timeout(unaccepting_port: int, deadline: float | None) -> None:
    t = Transport(f"http://127.0.0.1:{unaccepting_port}", provider="p", timeouts=Timeouts(connect=0.3, read=5.0, total=20.0))
    started = time.perf_counter()
    try:
        with call_deadline(deadline):
            with pytest.raises(E.ProviderTimeoutError) as info:
                await asyncio.wait_for(_drain(t, "GET", "/x"), 8)
    finally:
        await t.aclose()
    assert time.perf_counter() - started < 2.0
    assert info.value.message == "could not connect within 0.3s"


async def test_a_trickling_stream_ends_at_the_providers_timeout(hostile: ThreadedServer) -> None:
    t = Transport(hostile.url + "/v1", provider="h", timeouts=Timeouts(connect=5.0, read=30.0, total=1.0))
    started = time.perf_counter()
    try:
        with pytest.raises(E.ProviderTimeoutError) as info:
            await asyncio.wait_for(_drain(t, "POST", "/chat/completions", {"model": "trickle", "stream": True}), 8)
    finally:
        await t.aclose()
    assert 0.9 < time.perf_counter() - started < 3.0
    assert info.value.message == "the call did not finish within its deadline of 1s"


async def test_a_stream_within_a_short_deadline_is_read_whole(server: ThreadedServer) -> None:
    t = _t(server)
    try:
        with call_deadline(0.8):
            assert await _drain(t, "GET", "/sized?n=5000&chunked=1") == 5000
    finally:
        await t.aclose()


@pytest.mark.parametrize("outer,inner,expected", [(0.5, 5.0, 0.5), (5.0, 0.5, 0.5)])
async def test_the_tighter_deadline_wins(server: ThreadedServer, outer: float, inner: float, expected: float) -> None:
    t = _t(server)
    started = time.perf_counter()
    try:
        with call_deadline(outer):
            with call_deadline(inner):
                with pytest.raises(E.ProviderTimeoutError) as info:
                    await t.get_json("/silent")
    finally:
        await t.aclose()
    assert time.perf_counter() - started < expected + 2
    assert info.value.message == f"the call did not finish within its deadline of {expected:g}s"
    assert info.value.hint == "raise timeout= for this call (or `timeout` in the provider's config) if the answer is long"


async def test_set_call_deadline_tokens(server: ThreadedServer) -> None:
    assert set_call_deadline(None) is None
    reset_call_deadline(None)
    t = _t(server)
    try:
        outer = set_call_deadline(0.5)
        inner = set_call_deadline(10)
        started = time.perf_counter()
        with pytest.raises(E.ProviderTimeoutError) as info:
            await t.get_json("/silent")
        assert time.perf_counter() - started < 2.5
        assert info.value.message == "the call did not finish within its deadline of 0.5s"
        reset_call_deadline(inner)
        reset_call_deadline(outer)
        await asyncio.sleep(0.6)  # the old deadline has passed; it must no longer apply
        assert (await t.get_json("/echo"))["path"] == "/echo"
        outer = set_call_deadline(10)
        inner = set_call_deadline(0.5)  # tighter than the enclosing one: it applies
        try:
            with pytest.raises(E.ProviderTimeoutError, match="deadline of 0.5s"):
                await t.get_json("/silent")
        finally:
            reset_call_deadline(inner)
            reset_call_deadline(outer)
        token = set_call_deadline(0.3)
        try:
            await asyncio.sleep(0.4)  # spent before the request starts: refused at once
            with pytest.raises(E.ProviderTimeoutError, match="deadline of 0.3s"):
                await t.get_json("/echo")
        finally:
            reset_call_deadline(token)
        token = set_call_deadline(30)
        try:
            started = time.perf_counter()
            with pytest.raises(E.ProviderTimeoutError, match="deadline of 0.4s"):
                await t.get_json("/silent", timeout=0.4)  # the explicit timeout is the tighter bound
            assert time.perf_counter() - started < 2.5
        finally:
            reset_call_deadline(token)
    finally:
        await t.aclose()


@pytest.mark.parametrize("bad", [0, -1, "5", True, None.__class__])
async def test_a_bad_deadline_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError) as info:
        set_call_deadline(bad)  # type: ignore[arg-type]
    assert str(info.value) == f"timeout must be a positive number of seconds, got {bad!r}"
    with pytest.raises(ValueError) as info:
        with call_deadline(bad):  # type: ignore[arg-type]
            pass
    assert str(info.value) == f"timeout must be a positive number of seconds, got {bad!r}"


async def test_a_deadline_shorter_than_connect_timeout_bounds_the_connect(server: ThreadedServer) -> None:
    t = _t(server, timeouts=Timeouts(connect=0.2, read=1.0, total=5.0))
    try:
        assert (await t.get_json("/echo", timeout=3.0))["path"] == "/echo"
        with pytest.raises(E.ProviderTimeoutError, match="sent nothing for 1s"):
            await t.get_json("/silent", timeout=3.0)  # the idle bound still applies inside a deadline
    finally:
        await t.aclose()


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A listener whose accept queue is full and never drained: a new connect hangs (the kernel
    drops its handshake), as against a host that is up but overloaded."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fill = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fill.append(c)
    time.sleep(0.1)
    try:
        yield port
    finally:
        for c in fill:
            c.close()
        srv.close()


@pytest.mark.parametrize("timeout", [None, 10.0])
async def test_connect_timeout_applies_with_and_without_a_deadline(unaccepting_port: int, timeout: float | None) -> None:
    t = Transport(f"http://127.0.0.1:{unaccepting_port}", provider="p", timeouts=Timeouts(connect=0.3, read=5.0, total=20.0))
    started = time.perf_counter()
    try:
        with pytest.raises(E.ProviderTimeoutError) as info:
            await t.get_json("/x", timeout=timeout)
    finally:
        await t.aclose()
    assert time.perf_counter() - started < 2.0
    assert info.value.message == "could not connect within 0.3s"


# --- the one mapping of connection failures ----------------------------------------------------------------


def _conn_key(host: str = "127.0.0.1", port: int = 9) -> object:
    from aiohttp.client_reqrep import ConnectionKey

    return ConnectionKey(host, port, False, True, None, None, None)


@pytest.mark.parametrize(
    "exc,cls,message,hint",
    [
        (aiohttp.ConnectionTimeoutError(), E.ProviderTimeoutError, "could not connect within 2.5s",
         "is the server up? raise connect_timeout if it is slow to accept"),
        (aiohttp.SocketTimeoutError(), E.ProviderTimeoutError, "the server sent nothing for 7s",
         "the server stalled; raise read_timeout if it is loading a large model"),
        (TimeoutError(), E.ProviderTimeoutError, "the call did not finish within its deadline of 42s",
         "raise timeout= for this call (or `timeout` in the provider's config) if the answer is long"),
        (aiohttp.ServerTimeoutError(), E.ProviderTimeoutError, "the call did not finish within its deadline of 42s",
         "raise timeout= for this call (or `timeout` in the provider's config) if the answer is long"),
        (aiohttp.ServerDisconnectedError(), E.ProviderConnectionError, "connection lost: Server disconnected",
         "the server closed the connection after the request was sent; it may have run it (retrying may bill twice)"),
        (aiohttp.ClientPayloadError("Response payload is not completed"), E.ProviderConnectionError,
         "connection lost: Response payload is not completed",
         "the server closed the connection after the request was sent; it may have run it (retrying may bill twice)"),
        (ConnectionResetError(104, "Connection reset by peer"), E.ProviderConnectionError,
         "connection lost: [Errno 104] Connection reset by peer",
         "the server closed the connection after the request was sent; it may have run it (retrying may bill twice)"),
        (OSError("boom"), E.ProviderConnectionError, "OSError: boom", E.ProviderConnectionError.default_hint),
        (OSError(), E.ProviderConnectionError, "OSError: OSError", E.ProviderConnectionError.default_hint),
        (aiohttp.ClientConnectorError(_conn_key(), ConnectionRefusedError(111, "Connect call failed")),  # type: ignore[arg-type]
         E.ProviderConnectionError, "cannot connect to 127.0.0.1:9 (connection refused)", E.ProviderConnectionError.default_hint),
        (aiohttp.ClientConnectorError(_conn_key("h.invalid", 443), OSError("Name does not resolve")),  # type: ignore[arg-type]
         E.ProviderConnectionError, "cannot connect to h.invalid:443 (Cannot connect to host h.invalid:443 ssl:default [None])",
         E.ProviderConnectionError.default_hint),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), E.ProviderConnectionError,
         "TLS handshake with 127.0.0.1 failed: [SSL: WRONG_VERSION_NUMBER] wrong version number",
         "check that the base URL's scheme (http/https) and port match the server"),
    ],
)
def test_connection_failures_map_to_one_class_message_and_hint(exc: BaseException, cls: type, message: str, hint: str) -> None:
    t = Transport("https://127.0.0.1:1/v1", provider="p", timeouts=Timeouts(connect=2.5, read=7.0, total=42.0))
    err = t.wrap_stream_error(exc, "/chat/completions")
    assert type(err) is cls
    assert (err.message, err.hint) == (message, hint)
    assert (err.provider, err.url) == ("p", "https://127.0.0.1:1/v1/chat/completions")
    # whether the request may have reached the server (a retry may then run it twice)
    sent = message.startswith(("the server sent nothing", "the call did not finish", "connection lost"))
    assert err.outcome_unknown is sent


async def test_time_left_is_the_calls_remaining_deadline() -> None:
    from llmswitch._transport import call_deadline, time_left

    assert time_left() is None
    with call_deadline(5.0):
        left = time_left()
        assert left is not None and 4.0 < left <= 5.0
    assert time_left() is None


def test_a_certificate_error_without_a_verify_message_gives_its_text() -> None:
    t = Transport("https://127.0.0.1:1", provider="p")
    exc = aiohttp.ClientConnectorCertificateError(_conn_key("cert.host", 443), ValueError("custom reason"))  # type: ignore[arg-type]
    err = t.wrap_stream_error(exc, "/x")
    assert type(err) is E.ProviderConnectionError
    assert err.message == "certificate verify failed for cert.host (custom reason)"
    assert (err.provider, err.url) == ("p", "https://127.0.0.1:1/x")


def test_a_tls_failure_names_the_host_aiohttp_reports() -> None:
    t = Transport("https://127.0.0.1:1", provider="p")
    exc = aiohttp.ClientConnectorSSLError(_conn_key("tls.host", 443), ssl.SSLError(1, "handshake failure"))  # type: ignore[arg-type]
    err = t.wrap_stream_error(exc, "/x")
    assert err.message.startswith("TLS handshake with tls.host failed: ")


def test_a_deadline_passed_in_names_the_callers_seconds() -> None:
    t = Transport("http://127.0.0.1:1", provider="p")
    err = t._conn_error(TimeoutError(), "http://127.0.0.1:1/x", 1.5)
    assert err.message == "the call did not finish within its deadline of 1.5s"


def test_the_transports_secrets_are_redacted_from_a_connection_failure() -> None:
    secret = f"conn-{uuid.uuid4().hex}"
    t = Transport("http://127.0.0.1:1", provider="p", secrets=(secret,))
    err = t.wrap_stream_error(OSError(f"proxy said {secret}"), "/x")
    assert err.message == "OSError: proxy said ***"
    err = t.wrap_stream_error(ssl.SSLError(1, f"bad {secret}"), "/x")
    assert err.message == "TLS handshake with 127.0.0.1 failed: bad ***"


async def test_refused_connection_maps_and_is_attempted_once() -> None:
    """A port that refuses: mapped to a retryable connection error, with exactly one connection attempt."""
    attempts = 0
    lock = threading.Lock()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: connecting is refused

    t = Transport(f"http://127.0.0.1:{port}", provider="p")
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await t.post_json("/x", {"a": 1})
    finally:
        await t.aclose()
    assert type(info.value) is E.ProviderConnectionError and info.value.retryable
    assert info.value.message == f"cannot connect to 127.0.0.1:{port} (connection refused)"
    assert (info.value.provider, info.value.url) == ("p", f"http://127.0.0.1:{port}/x")

    # the same against a listener that resets every connection: the POST is made once
    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        with lock:
            attempts += 1
        writer.transport.abort()

    srv = await asyncio.start_server(count, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    t = Transport(f"http://127.0.0.1:{port}", provider="p")
    try:
        with pytest.raises(E.ProviderConnectionError):
            await t.post_json("/x", {"a": 1})
    finally:
        await t.aclose()
        srv.close()
        await srv.wait_closed()
    assert attempts == 1


# --- TLS ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tls_cert: tuple[ssl.SSLContext, Path]) -> Iterator[tuple[ThreadedServer, str]]:
    ctx, cert = tls_cert
    s = ThreadedServer(_make_app, ssl_context=ctx).start()
    try:
        yield s, str(cert)
    finally:
        s.stop()


async def test_an_untrusted_certificate_is_named_and_a_ca_bundle_trusts_it(tls: tuple[ThreadedServer, str]) -> None:
    server, cert = tls
    url = f"https://127.0.0.1:{server.port}"
    t = Transport(url, provider="p")
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await t.get_json("/echo")
    finally:
        await t.aclose()
    assert type(info.value) is E.ProviderConnectionError
    assert info.value.message.startswith("certificate verify failed for 127.0.0.1 (self")
    assert (info.value.provider, info.value.url) == ("p", url + "/echo")
    assert info.value.hint == (
        "if the server uses a private CA, point ca_bundle in the provider's config (or SSL_CERT_FILE) at its PEM file; "
        "verification stays on"
    )
    t = Transport(url, provider="p", ca_bundle=cert)
    try:
        assert (await t.get_json("/echo"))["path"] == "/echo"
    finally:
        await t.aclose()


async def test_https_to_a_plain_http_server_is_a_tls_failure(server: ThreadedServer) -> None:
    t = Transport(f"https://127.0.0.1:{server.port}", provider="p")
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await t.get_json("/echo")
    finally:
        await t.aclose()
    assert info.value.message.startswith("TLS handshake with 127.0.0.1 failed: ")
    assert info.value.hint == "check that the base URL's scheme (http/https) and port match the server"


# --- sessions across loops --------------------------------------------------------------------------------------


async def test_close_sessions_on_loop_closes_only_this_loops_sessions(server: ThreadedServer) -> None:
    a, b = _t(server), _t(server)
    unused = _t(server)  # never sent anything: no session on any loop
    assert (await a.get_json("/echo"))["path"] == "/echo"
    sa, sb = a.session(), b.session()
    await T.close_sessions_on_loop()
    assert unused._last is None
    assert sa.closed and sb.closed
    fresh = a.session()
    assert fresh is not sa and not fresh.closed
    assert (await a.get_json("/echo"))["path"] == "/echo"
    await a.aclose()
    await b.aclose()


def test_aclose_closes_sessions_of_another_running_loop_and_releases_dead_ones(server: ThreadedServer) -> None:
    t = _t(server)
    # a session on a loop that has ended: its sockets are released without awaiting
    dead: list[aiohttp.ClientSession] = []

    async def use() -> None:
        await t.get_json("/echo")
        dead.append(t.session())

    asyncio.run(use())
    connector = dead[0].connector
    assert connector is not None and not connector.closed
    # a session on a loop running in another thread
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(t.get_json("/echo"), loop).result(10)
        live = asyncio.run_coroutine_threadsafe(_session_of(t), loop).result(10)
        assert not live.closed
        asyncio.run(t.aclose())
        assert live.closed
        assert connector.closed and dead[0].connector is None
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def test_aclose_skips_closed_sessions_and_closes_the_rest(server: ThreadedServer) -> None:
    t = _t(server)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(t.get_json("/echo"), loop).result(10)
        first = asyncio.run_coroutine_threadsafe(_session_of(t), loop).result(10)
        asyncio.run_coroutine_threadsafe(first.close(), loop).result(10)  # closed before aclose
        await t.get_json("/echo")
        second = t.session()
        await t.aclose()
        assert first.closed and second.closed
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_aclose_releases_a_session_of_a_stopped_but_open_loop(server: ThreadedServer) -> None:
    t = _t(server)
    loop = asyncio.new_event_loop()  # stopped, not closed: the user drove a call with run_until_complete
    try:
        loop.run_until_complete(t.get_json("/echo"))
        held = loop.run_until_complete(_session_of(t))
        connector = held.connector
        asyncio.run(asyncio.wait_for(t.aclose(), 5))
        assert connector is not None and connector.closed and held.connector is None
    finally:
        loop.close()


async def _session_of(t: Transport) -> aiohttp.ClientSession:
    return t.session()


def test_sessions_of_stopped_loops_are_released_at_exit_and_of_running_ones_kept(server: ThreadedServer) -> None:
    stopped, running = _t(server), _t(server)
    loop = asyncio.new_event_loop()  # not running, not closed
    try:
        assert loop.run_until_complete(stopped.get_json("/echo"))["path"] == "/echo"
        held = loop.run_until_complete(_session_of(stopped))
        assert held.connector is not None and not held.connector.closed

        async def while_running() -> None:
            await running.get_json("/echo")
            live = running.session()
            T._release_orphaned_sessions()
            assert live.connector is not None and not live.connector.closed  # its loop is running: kept
            assert held.connector is not None and held.connector.closed
            await running.aclose()

        asyncio.run(while_running())
    finally:
        loop.close()


def test_sessions_of_finished_loops_are_released_at_exit(server: ThreadedServer) -> None:
    t = _t(server)
    held: list[aiohttp.ClientSession] = []

    async def use() -> None:
        await t.get_json("/echo")
        held.append(t.session())

    asyncio.run(use())
    connector = held[0].connector
    assert connector is not None and not connector.closed
    T._release_orphaned_sessions()
    assert connector.closed


def test_a_forked_child_starts_with_no_sessions(server: ThreadedServer, both_http_paths: str) -> None:
    t = _t(server)

    async def use() -> aiohttp.ClientSession:
        await t.get_json("/echo")
        return t.session()

    parent_session = asyncio.run(use())
    parent_pools = list(t._pools.values())  # the lean exchange's connections, when it carried the call
    assert len(parent_pools) == (1 if both_http_paths == "lean" else 0)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no inherited session or pooled connection may be used or closed here
        try:
            ok = not t._sessions and t._last is None and parent_session in T._INHERITED
            ok = ok and not t._pools and t._fast is None and all(p in T._INHERITED for p in parent_pools)
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert got == b"1"
    asyncio.run(t.aclose())
