"""Every documented ``finish_reason`` (wire-protocols.md §4.5) and every rate-limit header form
(§4.2) from the OpenAI fake, through llmswitch: the normalised ``finish_reason`` (plain and
streamed) and the exact ``RateLimitError.retry_after``."""

from __future__ import annotations

import pytest

import llmswitch as ls
from llmswitch.providers.openai import OpenAIProvider
from tests.fakes.openai_server import HTTP_DATE_AHEAD

# finish_reason on the wire -> (llmswitch finish_reason, text, tool calls)
FINISH = {
    "stop": ("stop", "Hello! How can I help?", 0),
    "length": ("length", "Hello! How", 0),
    "content_filter": ("content_filter", "Hello! How", 0),
    "tool_calls": ("tool_calls", "", 1),
    "function_call": ("tool_calls", "", 0),  # the deprecated single call is not a ToolCall; kept in raw
}


async def _call(p: OpenAIProvider, model: str, streamed: bool) -> ls.Response:
    # retries=0: one answer's mapping (waiting out Retry-After is tests/routing/test_retry.py)
    if not streamed:
        return await p.complete("hi", model=model, retries=0)
    async with p.stream("hi", model=model, retries=0) as s:
        return await s.final()


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("reason", list(FINISH))
async def test_finish_reason_normalised(openai_provider: OpenAIProvider, reason: str, streamed: bool) -> None:
    expected, text, calls = FINISH[reason]
    async with openai_provider:
        resp = await _call(openai_provider, f"gpt-finish-{reason}", streamed)
    assert resp.finish_reason == expected
    assert resp.text == text
    assert len(resp.tool_calls) == calls
    if reason == "tool_calls":
        assert resp.tool_calls[0].arguments == {"city": "Paris", "unit": "c"}


async def test_function_call_kept_in_raw(openai_provider: OpenAIProvider) -> None:
    async with openai_provider:
        resp = await openai_provider.complete("hi", model="gpt-finish-function_call")
    assert resp.raw["choices"][0]["message"]["function_call"] == {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}


@pytest.mark.parametrize(
    "form, expected",
    [
        ("seconds", 3.0),  # retry-after: 3
        ("ms", 1.5),  # retry-after-ms: 1500 wins over retry-after: 2
        ("reset-requests", 90.5),  # x-ratelimit-reset-requests: 1m30.5s (the spent budget)
        ("reset-tokens", 360.0),  # x-ratelimit-reset-tokens: 6m0s
    ],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_rate_limit_header_forms(openai_provider: OpenAIProvider, openai_fake, form: str, expected: float, streamed: bool) -> None:
    async with openai_provider:
        with pytest.raises(ls.RateLimitError) as info:
            await _call(openai_provider, f"gpt-ratelimit-{form}", streamed)
    assert info.value.status_code == 429
    assert info.value.retry_after == pytest.approx(expected, abs=1e-9)
    assert info.value.retryable is True
    assert info.value.message == "Rate limit reached for requests in organization org-test on requests per min. Limit: 60 / min."
    assert len(openai_fake[0].requests) == 1  # the wait is reported, not slept through and retried


async def test_rate_limit_http_date(openai_provider: OpenAIProvider, openai_fake) -> None:
    """``retry-after`` as an HTTP date, 30 s ahead when sent (whole seconds: allow 2 s)."""
    async with openai_provider:
        with pytest.raises(ls.RateLimitError) as info:
            await openai_provider.complete("hi", model="gpt-ratelimit-http-date", retries=0)
    assert info.value.status_code == 429
    assert len(openai_fake[0].requests) == 1
    assert info.value.retry_after is not None
    assert HTTP_DATE_AHEAD - 2 <= info.value.retry_after <= HTTP_DATE_AHEAD
