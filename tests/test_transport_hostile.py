"""The transport against a hostile server: redirects, endless bodies, deadlines, dropped requests, TLS."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

import llmswitch as ls
from llmswitch._classify import parse_retry_after
from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.providers.openai_compat import OpenAICompatibleProvider
from tests.fakes._threaded import ThreadedServer
from tests.fakes.hostile_server import state
from tests.fixtures.http_paths import both_http_paths  # noqa: F401  # every test here runs over both paths
from tests.fixtures.servers import HEADER_SECRET, KEY


def _openai(server: ThreadedServer, **kw: object) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        base_url=server.url + "/v1", api_key=KEY, headers={"X-Custom-Auth": HEADER_SECRET}, **kw  # type: ignore[arg-type]
    )


# --- credentials never cross origins ---------------------------------------------------------------

@pytest.mark.parametrize("code", ["302", "307", "308"])
async def test_redirect_to_another_origin_is_refused_and_nothing_reaches_it(
    hostile: ThreadedServer, other_origin: ThreadedServer, code: str
) -> None:
    async with _openai(hostile) as p:
        with pytest.raises(ls.ProviderError) as info:
            await p.complete("the secret prompt", model=f"redirect-{code}-other")
    assert f"127.0.0.1:{other_origin.port}" in str(info.value)
    assert "another origin" in str(info.value) and "base_url" in str(info.value)
    assert state(other_origin).seen == [], "a request (with its key and prompt) reached the other origin"


async def test_anthropic_x_api_key_never_follows_a_cross_origin_redirect(hostile: ThreadedServer, other_origin: ThreadedServer) -> None:
    async with AnthropicProvider(base_url=hostile.url, api_key=KEY) as p:
        with pytest.raises(ls.ProviderError):
            await p.complete("hi", model="redirect-307-other")
    assert state(hostile).seen[-1][2].get("x-api-key") == KEY
    assert state(other_origin).seen == []


async def test_same_origin_307_is_followed_with_method_and_body(hostile: ThreadedServer) -> None:
    async with _openai(hostile) as p:
        resp = await p.complete("hello there", model="redirect-307-same")
    # the redirected request arrives at /moved/... with the same body (and model) as the first
    seen = state(hostile).seen
    assert [s[1] for s in seen] == ["/v1/chat/completions", "/moved/v1/chat/completions"]
    assert seen[0][3] == seen[1][3] and seen[1][0] == "POST"
    assert resp.text == "ok"


async def test_same_origin_302_of_a_post_is_an_error_not_a_silent_get(hostile: ThreadedServer) -> None:
    async with _openai(hostile) as p:
        with pytest.raises(ls.ProviderError) as info:
            await p.complete("hi", model="redirect-302-same")
    assert "drop the request body" in str(info.value)
    assert len(state(hostile).seen) == 1


# --- bounded reads ------------------------------------------------------------------------------------

async def test_endless_200_body_is_refused_at_the_limit(hostile: ThreadedServer) -> None:
    async with _openai(hostile, max_body_bytes=1024 * 1024) as p:
        with pytest.raises(ls.ResponseTooLargeError) as info:
            await p.complete("hi", model="endless-200")
    err = info.value
    assert "max_body_bytes=1048576" in str(err) and not err.retryable


async def test_endless_500_body_still_gives_the_error_with_a_short_message(hostile: ThreadedServer) -> None:
    async with _openai(hostile) as p:
        started = time.perf_counter()
        with pytest.raises(ls.ProviderUnavailableError) as info:
            await p.complete("hi", model="endless-500")
    assert time.perf_counter() - started < 30
    assert len(str(info.value)) < 3000


async def test_a_2mb_html_error_page_gives_a_short_error_and_capped_details(hostile: ThreadedServer) -> None:
    async with _openai(hostile) as p:
        with pytest.raises(ls.ProviderUnavailableError) as info:
            await p.complete("hi", model="html-500")
    assert len(str(info.value)) < 2600
    assert info.value.status_code == 500
    assert len(json.dumps(info.value.details)) < 80 * 1024


def test_endless_body_keeps_memory_bounded_with_default_limits(hostile: ThreadedServer) -> None:
    """In a fresh process (so peak RSS is this call's): an endless 200 body under the default
    64 MiB limit must end in ResponseTooLargeError, with the process well under 1 GB."""
    code = textwrap.dedent(
        f"""
        import asyncio, resource, sys
        import llmswitch as ls
        from llmswitch.providers.openai_compat import OpenAICompatibleProvider
        async def main():
            async with OpenAICompatibleProvider(base_url="{hostile.url}/v1") as p:
                try:
                    await p.complete("hi", model="endless-200")
                except ls.ResponseTooLargeError:
                    pass
                else:
                    sys.exit("no error")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        asyncio.run(main())
        print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert r.returncode == 0, r.stderr
    before_kb, peak_kb = map(int, r.stdout.split())
    assert peak_kb - before_kb < 400 * 1024, f"grew by {(peak_kb - before_kb) // 1024} MiB"


# --- deadlines ------------------------------------------------------------------------------------------

async def test_trickling_stream_ends_at_the_call_deadline(hostile: ThreadedServer) -> None:
    async with _openai(hostile) as p:
        started = time.perf_counter()
        with pytest.raises(ls.ProviderTimeoutError) as info:
            async with p.stream("hi", model="trickle", timeout=1.5) as s:
                async for _ in s:
                    pass
    elapsed = time.perf_counter() - started
    assert 1.3 < elapsed < 4.0
    assert "deadline of 1.5s" in str(info.value)


async def test_provider_timeout_bounds_a_trickling_plain_call(hostile: ThreadedServer) -> None:
    """No per-call timeout: the provider's own ``timeout`` (here 1.5 s) is the deadline of a
    non-streamed call whose body trickles forever (checked by the loop's watchdog, ±1 s)."""
    async with _openai(hostile, timeout=1.5) as p:
        started = time.perf_counter()
        with pytest.raises(ls.ProviderTimeoutError) as info:
            await p.complete("hi", model="trickle")
    assert 1.4 < time.perf_counter() - started < 4.0
    assert "deadline of 1.5s" in str(info.value)


async def test_timeout_bounds_acomplete_and_never_reaches_the_body(hostile: ThreadedServer) -> None:
    p = _openai(hostile, default_model="silent")
    started = time.perf_counter()
    with pytest.raises(ls.ProviderTimeoutError):
        await ls.acomplete(p, "hi", timeout=1.0)
    assert time.perf_counter() - started < 3.0
    sent = json.loads(state(hostile).seen[-1][3])
    assert "timeout" not in sent
    await p.aclose()


def test_sync_complete_and_stream_honour_timeout(hostile: ThreadedServer) -> None:
    started = time.perf_counter()
    with pytest.raises(ls.ProviderTimeoutError):
        ls.complete(_openai(hostile, default_model="silent"), "hi", timeout=1.0)
    assert time.perf_counter() - started < 3.0
    started = time.perf_counter()
    with pytest.raises(ls.ProviderTimeoutError):
        with ls.stream(_openai(hostile, default_model="trickle"), "hi", timeout=1.5) as s:
            for _ in s:
                pass
    assert time.perf_counter() - started < 4.5


async def test_idle_server_ends_at_read_timeout(hostile: ThreadedServer) -> None:
    async with _openai(hostile, read_timeout=1.0, retries=0) as p:  # one attempt: each retry waits its own read_timeout
        started = time.perf_counter()
        with pytest.raises(ls.ProviderTimeoutError) as info:
            await p.complete("hi", model="silent")
    assert time.perf_counter() - started < 3.0
    assert "sent nothing for 1s" in str(info.value)


async def test_health_check_of_a_silent_server_is_bounded(hostile: ThreadedServer) -> None:
    state(hostile).models_mode = "silent"
    async with _openai(hostile, health_timeout=1.0) as p:
        started = time.perf_counter()
        status = await p.health_check()
    assert time.perf_counter() - started < 3.0
    assert not status.connected and "deadline" in (status.error or "")


@pytest.mark.parametrize("bad", [0, -1, "5", True])
async def test_bad_timeout_is_a_clear_value_error(hostile: ThreadedServer, bad: object) -> None:
    async with _openai(hostile) as p:
        with pytest.raises(ValueError, match="timeout must be a positive number"):
            await p.complete("hi", model="ok", timeout=bad)


# --- the request is never sent twice ----------------------------------------------------------------

async def test_a_post_the_server_read_then_dropped_is_not_resent(hostile: ThreadedServer) -> None:
    """The transport never resends it, and neither does the retry policy with
    ``retry_on_timeout=False`` (the outcome is unknown: it may bill twice)."""
    async with _openai(hostile, retry_on_timeout=False) as p:
        with pytest.raises(ls.ProviderConnectionError) as info:
            await p.complete("hi", model="drop-after-read")
    assert len(state(hostile).seen) == 1
    assert info.value.retryable and info.value.outcome_unknown and "bill twice" in str(info.value)


async def test_a_post_the_server_read_then_dropped_is_resent_by_default_retries(hostile: ThreadedServer) -> None:
    async with _openai(hostile, retries=1) as p:
        with pytest.raises(ls.ProviderConnectionError):
            await p.complete("hi", model="drop-after-read")
    assert len(state(hostile).seen) == 2  # README "Resilience": a retry may bill twice


async def test_refused_connection_is_attempted_once() -> None:
    """Nothing listens on the port; a listener that counts connections proves one attempt."""
    attempts = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.transport.abort()  # reset before any byte: the request was never read

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # retries=0: the transport's own single attempt (the retry policy's are tests/routing)
        async with OpenAICompatibleProvider(base_url=f"http://127.0.0.1:{port}/v1", retries=0) as p:
            with pytest.raises(ls.ProviderConnectionError):
                await p.complete("hi", model="m")
    finally:
        server.close()
        await server.wait_closed()
    assert attempts == 1


# --- TLS ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_server(tls_cert):  # type: ignore[no-untyped-def]
    from tests.fakes import hostile_server

    ctx, cert = tls_cert
    server = ThreadedServer(hostile_server.make_app, ssl_context=ctx).start()
    try:
        yield server, str(cert)
    finally:
        server.stop()


async def test_untrusted_certificate_is_named_not_malformed_json(tls_server) -> None:  # type: ignore[no-untyped-def]
    server, cert = tls_server
    url = f"https://127.0.0.1:{server.port}/v1"
    async with OpenAICompatibleProvider(base_url=url) as p:
        with pytest.raises(ls.ProviderConnectionError) as plain:
            await p.complete("hi", model="ok")
        with pytest.raises(ls.ProviderConnectionError) as streamed:
            async with p.stream("hi", model="ok") as s:
                async for _ in s:
                    pass
    for info in (plain, streamed):
        assert "certificate verify failed for 127.0.0.1" in str(info.value)
        assert "ca_bundle" in str(info.value)
    async with OpenAICompatibleProvider(base_url=url, ca_bundle=cert) as p:
        assert (await p.complete("hi", model="ok")).text == "ok"


# --- Retry-After -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "headers,expected",
    [
        ({"retry-after": "inf"}, None),
        ({"retry-after": "1e999"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after-ms": "-2500"}, 0.0),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "999999999"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"x-ratelimit-reset-requests": "1m30s", "x-ratelimit-reset-tokens": "6ms"}, 90.0),
        ({"retry-after-ms": "abc", "retry-after": "3"}, 3.0),
    ],
)
def test_retry_after_is_finite_and_within_a_day(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected
    err = ls.RateLimitError("slow down", retry_after=float("inf"))
    assert err.retry_after is None


def test_retry_after_http_date_in_the_future() -> None:
    import datetime as dt
    from email.utils import format_datetime

    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    got = parse_retry_after({"retry-after": format_datetime(when, usegmt=True)})
    assert got is not None and 25 < got <= 30
