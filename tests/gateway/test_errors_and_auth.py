"""Errors reach each SDK as its own exception class, with the right status and Retry-After;
caller keys (Bearer and x-api-key), allowed models, per-key concurrency and body limits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from llmswitch.config import BreakerConfig
from tests.fixtures.http_paths import both_http_paths  # noqa: F401  # every test here runs on both servers
from tests.gateway.conftest import ALICE, BOB, RunningGateway, gateway_config, start_gateway

HI = [{"role": "user", "content": "hi"}]


# --- OpenAI format --------------------------------------------------------------------------

def test_openai_not_found_bad_request_and_rate_limit(oai_client: Any) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        oai_client.chat.completions.create(model="no-such-alias", messages=HI)
    assert "no-such-alias" in nf.value.message and nf.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        oai_client.chat.completions.create(model="oai:gpt-missing", messages=HI)
    with pytest.raises(openai.BadRequestError) as bad:
        oai_client.chat.completions.create(model="oai:gpt-small-ctx", messages=HI)
    assert "maximum context length is 4097 tokens" in bad.value.message  # the provider's own message
    with pytest.raises(openai.RateLimitError) as rl:
        oai_client.chat.completions.create(model="oai:gpt-ratelimited", messages=HI)
    assert rl.value.response.headers["retry-after"] == "2"


def test_openai_stream_error_before_and_after_the_first_event(oai_client: Any) -> None:
    with pytest.raises(openai.RateLimitError):  # before the first event: a real status
        oai_client.chat.completions.create(model="oai:gpt-ratelimited", messages=HI, stream=True)
    stream = oai_client.chat.completions.create(model="oai:gpt-stream-error", messages=HI, stream=True)
    with pytest.raises(openai.APIError) as err:  # after it: in the stream, as OpenAI sends it
        for _ in stream:
            pass
    assert "server had an error" in str(err.value)


def test_openai_wrong_key_missing_key_and_forbidden_model(gateway: RunningGateway) -> None:
    wrong = openai.OpenAI(base_url=gateway.url + "/v1", api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as auth:
        wrong.chat.completions.create(model="fast", messages=HI)
    assert "not-a-key" not in auth.value.response.text
    bob = openai.OpenAI(base_url=gateway.url + "/v1", api_key=BOB, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        bob.chat.completions.create(model="claude-fast", messages=HI)
    assert bob.chat.completions.create(model="oai:gpt-test", messages=HI).choices[0].message.content  # oai:* allowed

    async def no_key() -> int:
        async with aiohttp.ClientSession() as s:
            async with s.post(gateway.url + "/v1/chat/completions", json={"model": "fast", "messages": HI}) as r:
                return r.status
    import asyncio

    assert asyncio.run(no_key()) == 401


# --- Anthropic format -----------------------------------------------------------------------

def test_anthropic_errors(ant_client: Any) -> None:
    with pytest.raises(anthropic.NotFoundError) as nf:
        ant_client.messages.create(model="nope", max_tokens=8, messages=HI)
    assert nf.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        ant_client.messages.create(model="claude:claude-small-ctx", max_tokens=8, messages=HI)
    assert "prompt is too long" in str(bad.value)
    with pytest.raises(anthropic.RateLimitError) as rl:
        ant_client.messages.create(model="claude:claude-ratelimited", max_tokens=8, messages=HI)
    assert rl.value.response.headers["retry-after"] == "7"
    with pytest.raises(anthropic.BadRequestError):  # the gateway's own check, in Anthropic's words
        ant_client.messages.create(model="claude-fast", max_tokens=8, messages=[{"role": "system", "content": "x"}])


def test_anthropic_keys_in_both_headers(gateway: RunningGateway) -> None:
    x_api_key = anthropic.Anthropic(base_url=gateway.url, api_key=ALICE, max_retries=0)
    assert x_api_key.messages.create(model="claude-fast", max_tokens=8, messages=HI).content[0].text
    bearer = anthropic.Anthropic(base_url=gateway.url, auth_token=ALICE, max_retries=0)
    assert bearer.messages.create(model="claude-fast", max_tokens=8, messages=HI).content[0].text
    with pytest.raises(anthropic.AuthenticationError) as auth:
        anthropic.Anthropic(base_url=gateway.url, api_key="wrong-key-123", max_retries=0).messages.create(
            model="claude-fast", max_tokens=8, messages=HI)
    assert auth.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.PermissionDeniedError):
        anthropic.Anthropic(base_url=gateway.url, api_key=BOB, max_retries=0).messages.create(
            model="claude-fast", max_tokens=8, messages=HI)


# --- breaker, deadline, body size, concurrency ------------------------------------------------

@pytest.fixture
def strict_gateway(backends: Any) -> Iterator[RunningGateway]:
    cfg = gateway_config(backends, request_timeout=0.5, max_body_bytes=4096)
    cfg.providers["oai"].breaker = BreakerConfig(failure_threshold=1, recovery_timeout=30)
    gw = start_gateway(cfg)
    try:
        yield gw
    finally:
        gw.stop()


def test_open_breaker_is_503_for_openai_and_529_for_anthropic(strict_gateway: RunningGateway) -> None:
    oai = openai.OpenAI(base_url=strict_gateway.url + "/v1", api_key=ALICE, max_retries=0)
    with pytest.raises(openai.InternalServerError) as first:  # the backend's 500 opens the breaker
        oai.chat.completions.create(model="oai:gpt-broken", messages=HI)
    assert first.value.status_code == 503
    with pytest.raises(openai.InternalServerError) as opened:
        oai.chat.completions.create(model="oai:gpt-test", messages=HI)
    assert opened.value.status_code == 503 and int(opened.value.response.headers["retry-after"]) >= 1
    assert "circuit" in opened.value.message.lower()
    ant = anthropic.Anthropic(base_url=strict_gateway.url, api_key=ALICE, max_retries=0)
    with pytest.raises(anthropic.OverloadedError) as over:
        ant.messages.create(model="oai:gpt-test", max_tokens=8, messages=HI)
    assert over.value.status_code == 529 and int(over.value.response.headers["retry-after"]) >= 1
    import urllib.request

    metrics = urllib.request.urlopen(strict_gateway.url + "/metrics", timeout=10).read().decode()
    assert 'llmswitch_gateway_breaker_state{provider="oai"} 2.0' in metrics
    assert 'llmswitch_gateway_errors_total{error_class="CircuitOpenError",route="messages"} 1.0' in metrics


def test_deadline_is_504(strict_gateway: RunningGateway) -> None:
    oai = openai.OpenAI(base_url=strict_gateway.url + "/v1", api_key=ALICE, max_retries=0)
    with pytest.raises(openai.APIStatusError) as err:
        oai.chat.completions.create(model="oai:gpt-slow", messages=HI)
    assert err.value.status_code == 504 and err.value.body["type"] == "timeout"


def test_body_too_large_is_413_in_each_format(strict_gateway: RunningGateway, backends: Any) -> None:
    big = [{"role": "user", "content": "x" * 10_000}]
    before = len(backends.openai.requests)
    with pytest.raises(openai.APIStatusError) as err:
        openai.OpenAI(base_url=strict_gateway.url + "/v1", api_key=ALICE, max_retries=0).chat.completions.create(
            model="fast", messages=big)
    assert err.value.status_code == 413 and err.value.code == "request_too_large"
    with pytest.raises(anthropic.RequestTooLargeError):
        anthropic.Anthropic(base_url=strict_gateway.url, api_key=ALICE, max_retries=0).messages.create(
            model="fast", max_tokens=8, messages=big)
    assert len(backends.openai.requests) == before


def test_per_key_concurrency_is_bounded(gateway: RunningGateway, backends: Any) -> None:
    bob = openai.OpenAI(base_url=gateway.url + "/v1", api_key=BOB, max_retries=0)
    started = threading.Barrier(3)
    streams: list[Any] = []

    def hold() -> None:
        s = bob.chat.completions.create(model="oai:gpt-slowstream", messages=HI, stream=True)
        next(iter(s))
        streams.append(s)
        started.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait(10)  # bob now has two streams open: its limit
    with pytest.raises(openai.RateLimitError) as err:
        bob.chat.completions.create(model="fast", messages=HI)
    assert "concurrent" in err.value.message and err.value.response.headers["retry-after"] == "1"
    alice = openai.OpenAI(base_url=gateway.url + "/v1", api_key=ALICE, max_retries=0)
    assert alice.chat.completions.create(model="fast", messages=HI).choices[0].message.content  # other keys unaffected
    for s in streams:
        s.close()
    for t in threads:
        t.join(10)


def test_anthropic_stream_error_reaches_the_sdk(ant_client: Any) -> None:
    with pytest.raises(anthropic.APIStatusError) as err:
        with ant_client.messages.stream(model="claude:claude-overloaded", max_tokens=8, messages=HI) as s:
            for _ in s.text_stream:
                pass
    assert "verloaded" in str(err.value)


def test_openai_stream_cut_upstream_is_an_error_in_the_stream(oai_client: Any) -> None:
    stream = oai_client.chat.completions.create(model="oai:gpt-cut", messages=HI, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_oversized_header_is_refused_before_the_handler(gateway: RunningGateway, backends: Any) -> None:
    import asyncio

    async def send(size: int) -> int:
        async with aiohttp.ClientSession() as s:
            headers = {"Authorization": f"Bearer {ALICE}", "X-Padding": "p" * size}
            async with s.post(gateway.url + "/v1/chat/completions", json={"model": "fast", "messages": HI},
                              headers=headers) as r:
                return r.status

    before = len(backends.openai.requests)
    assert asyncio.run(send(64 * 1024)) in (400, 431)  # gateway.max_header_bytes is 16 KiB
    assert len(backends.openai.requests) == before
    assert asyncio.run(send(100)) == 200
