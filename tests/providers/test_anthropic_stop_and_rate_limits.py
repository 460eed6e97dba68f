"""Every documented Anthropic ``stop_reason`` (wire-protocols.md §5.2) and rate-limit header form
(§5.5) from the fake, through llmswitch: the normalised ``finish_reason`` (plain and streamed)
and the exact ``RateLimitError.retry_after``."""

from __future__ import annotations

import pytest

from llmswitch import errors as E
from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.types import Response
from tests.fakes.anthropic_server import RESET_AHEAD, VALID_KEY

# stop_reason -> (llmswitch finish_reason, text, tool calls)
STOP = {
    "end_turn": ("stop", "Hello! How can I help?", 0),
    "max_tokens": ("length", "Hello! How", 0),
    "stop_sequence": ("stop", "Hello", 0),
    "tool_use": ("tool_calls", "Let me check.", 1),
    "refusal": ("content_filter", "", 0),
    "pause_turn": ("stop", "", 0),  # a paused server-tool turn: nothing for the caller to run
    "model_context_window_exceeded": ("length", "Hello! How", 0),
}


@pytest.fixture
async def claude(anthropic_fake):
    _, url = anthropic_fake
    p = AnthropicProvider(base_url=url, api_key=VALID_KEY, retries=0)  # one answer's mapping; retries: tests/routing
    yield p
    await p.aclose()


async def _call(p: AnthropicProvider, model: str, streamed: bool) -> Response:
    if not streamed:
        return await p.complete("Hi", model=model)
    async with p.stream("Hi", model=model) as s:
        return await s.final()


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("reason", list(STOP))
async def test_stop_reason_normalised(claude, reason: str, streamed: bool) -> None:
    expected, text, calls = STOP[reason]
    resp = await _call(claude, f"claude-stop-{reason}", streamed)
    assert resp.finish_reason == expected
    assert resp.text == text
    assert len(resp.tool_calls) == calls
    assert resp.raw["stop_reason"] == reason
    if reason == "stop_sequence":
        assert resp.raw["stop_sequence"] == "END"
    if reason == "pause_turn":
        assert [b["type"] for b in resp.raw["content"]] == ["server_tool_use"]


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_retry_after_wins_over_reset_headers(claude, anthropic_fake, streamed: bool) -> None:
    with pytest.raises(E.RateLimitError) as info:
        await _call(claude, "claude-ratelimited", streamed)
    assert info.value.status_code == 429
    assert info.value.retry_after == 7.0
    assert info.value.message == "Number of request tokens has exceeded your per-minute rate limit"
    assert len(anthropic_fake[0].requests) == 1  # with retries=0 the wait is reported, not slept through


@pytest.mark.parametrize("form", list(RESET_AHEAD))
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_ratelimit_reset_timestamp_without_retry_after(claude, anthropic_fake, form: str, streamed: bool) -> None:
    """No ``retry-after``: the spent limit's ``anthropic-ratelimit-*-reset`` (RFC 3339, whole
    seconds) says when to come back."""
    with pytest.raises(E.RateLimitError) as info:
        await _call(claude, f"claude-ratelimit-{form}", streamed)
    ahead = RESET_AHEAD[form]
    assert info.value.status_code == 429 and info.value.retryable
    assert len(anthropic_fake[0].requests) == 1
    assert info.value.retry_after is not None, "anthropic-ratelimit-*-reset was not read"
    assert ahead - 2 <= info.value.retry_after <= ahead
