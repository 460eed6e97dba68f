"""The OpenAI-compatible provider against the fake Chat Completions server: every case maps
to the right Response or error, and the key never leaks."""

from __future__ import annotations

import logging

import pytest

import llmswitch as ls
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.types import TextDelta, ToolCallDelta, UsageEvent
from tests.fakes.openai_server import VALID_KEY


def get_weather(city: str, unit: str = "c") -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


async def test_plain_completion(openai_provider: OpenAIProvider, openai_fake) -> None:
    async with openai_provider:
        resp = await openai_provider.complete("hi", model="gpt-test")
    assert resp.text == "Hello! How can I help?"
    assert resp.finish_reason == "stop"
    assert resp.model == "gpt-test-2024-07-18"
    assert resp.provider == "openai"
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.cache_read_tokens) == (12, 7, 4)
    assert resp.latency > 0
    sent = openai_fake[0].requests[-1]
    assert sent["messages"] == [{"role": "user", "content": "hi"}]
    assert "stream" not in sent


async def test_streamed_reply_with_usage_chunk(openai_provider: OpenAIProvider, openai_fake) -> None:
    async with openai_provider:
        async with openai_provider.stream("hi", model="gpt-test") as stream:
            texts = [t async for t in stream.text()]
            final = await stream.final()
    assert texts == ["Hello", "! How can", " I help?"]
    assert final.text == "Hello! How can I help?"
    assert final.usage.known and final.usage.output_tokens == 7
    assert openai_fake[0].requests[-1]["stream_options"] == {"include_usage": True}


async def test_streamed_tool_calls_assembled(openai_provider: OpenAIProvider, openai_fake) -> None:
    events = []
    async with openai_provider:
        stream = openai_provider.stream("weather in Paris?", model="gpt-tools", tools=[get_weather])
        async for ev in stream:
            events.append(ev)
        final = await stream.final()
    assert sum(isinstance(e, ToolCallDelta) for e in events) == 6
    assert any(isinstance(e, UsageEvent) for e in events)
    assert final.finish_reason == "tool_calls"
    [call] = final.tool_calls
    # the server repeated id and name on every delta: they must not be concatenated
    assert (call.id, call.name) == ("call_abc123", "get_weather")
    assert call.arguments == {"city": "Paris", "unit": "c"}
    sent_tool = openai_fake[0].requests[-1]["tools"][0]
    assert sent_tool["function"]["name"] == "get_weather"
    assert sent_tool["function"]["parameters"]["required"] == ["city"]


async def test_non_streamed_tool_call_and_round_trip(openai_provider: OpenAIProvider, openai_fake) -> None:
    async with openai_provider:
        resp = await openai_provider.complete("weather?", model="gpt-tools", tools=[get_weather])
        call = resp.tool_calls[0]
        history = [ls.Message.user("weather?"), resp.to_message(), ls.Message.tool_result(call.id, get_weather(**call.arguments))]
        again = await openai_provider.complete(history, model="gpt-test")
    assert again.text == "Hello! How can I help?"
    sent = openai_fake[0].requests[-1]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_abc123"
    assert sent[2] == {"role": "tool", "content": "sunny in Paris", "tool_call_id": "call_abc123"}


async def test_image_part_sent_as_data_url(openai_provider: OpenAIProvider, openai_fake) -> None:
    msg = ls.Message.user([ls.TextPart("what is this?"), ls.ImagePart(data=b"\x89PNG", media_type="image/png")])
    async with openai_provider:
        await openai_provider.complete([msg], model="gpt-test")
    content = openai_fake[0].requests[-1]["messages"][0]["content"]
    assert content[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}


async def test_max_tokens_length_finish(openai_provider: OpenAIProvider, openai_fake) -> None:
    async with openai_provider:
        resp = await openai_provider.complete("hi", model="gpt-test", max_tokens=1)
    assert resp.finish_reason == "length"
    assert resp.text == "Hello"
    sent = openai_fake[0].requests[-1]
    # OpenAI itself: max_tokens is deprecated and reasoning models reject it (400)
    assert sent["max_completion_tokens"] == 1
    assert "max_tokens" not in sent


@pytest.mark.parametrize(
    "model, error_class, retryable, status, message",
    [
        ("gpt-missing", ls.ModelNotFoundError, False, 404, "The model `gpt-missing` does not exist or you do not have access to it."),
        ("gpt-small-ctx", ls.ContextWindowExceededError, False, 400,
         ("This model's maximum context length is 4097 tokens. However, your messages resulted in 4294 tokens. "
         "Please reduce the length of the messages.")),
        ("gpt-ratelimited", ls.RateLimitError, True, 429,
         "Rate limit reached for requests in organization org-test on requests per min. Limit: 3 / min. Please try again in 2s."),
        ("gpt-broken", ls.ProviderUnavailableError, True, 500, "The server had an error while processing your request. Sorry about that!"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
async def test_http_errors_map_to_classes(
    openai_provider: OpenAIProvider, openai_fake, model: str, error_class: type, retryable: bool, status: int, message: str, streamed: bool
) -> None:
    async with openai_provider:
        with pytest.raises(error_class) as info:
            if streamed:
                async with openai_provider.stream("hi", model=model, retries=0) as s:
                    await s.final()
            else:
                await openai_provider.complete("hi", model=model, retries=0)
    err = info.value
    assert type(err) is error_class
    assert err.retryable is retryable
    assert err.provider == "openai"
    assert err.url == openai_provider.base_url + "/chat/completions"
    assert err.status_code == status
    # the server's own text, whole, then a hint on what to do
    assert f"] {message} — " in str(err)
    assert [r["model"] for r in openai_fake[0].requests] == [model]  # sent once with retries=0 (retries: tests/routing)


async def test_context_error_parses_token_counts(openai_provider: OpenAIProvider) -> None:
    async with openai_provider:
        with pytest.raises(ls.ContextWindowExceededError) as info:
            await openai_provider.complete("hi", model="gpt-small-ctx")
    assert (info.value.limit, info.value.prompt_tokens) == (4097, 4294)


async def test_rate_limit_carries_retry_after(openai_provider: OpenAIProvider) -> None:
    async with openai_provider:
        with pytest.raises(ls.RateLimitError) as info:
            await openai_provider.complete("hi", model="gpt-ratelimited")
    assert info.value.retry_after == 2.0
    assert "retry after 2s" in str(info.value)


async def test_wrong_key_is_authentication_error_without_the_key(openai_fake, caplog: pytest.LogCaptureFixture) -> None:
    _, url = openai_fake
    wrong = "sk-wrongwrongwrong-ABCDEFGHIJKLMN"
    provider = OpenAIProvider(base_url=url, api_key=wrong)
    caplog.set_level(logging.DEBUG)
    async with provider:
        with pytest.raises(ls.AuthenticationError) as info:
            await provider.complete("hi", model="gpt-test")
        status = await provider.health_check()
    text = str(info.value) + repr(info.value) + repr(provider) + caplog.text + str(status) + repr(info.value.details)
    assert wrong not in text and wrong[8:-4] not in text
    assert "ABCDEFGHIJKLMN" not in text
    assert info.value.status_code == 401
    # the server echoed the key masked, as OpenAI does (first 8, last 4): that much may show
    assert "Incorrect API key provided: sk-wrong***...KLMN." in str(info.value)
    assert "check the API key" in str(info.value)
    assert status.connected is False
    assert status.error is not None and "HTTP 401" in status.error and "Incorrect API key provided" in status.error


def test_valid_key_not_in_repr_or_transport_repr(openai_fake) -> None:
    provider = OpenAIProvider(base_url=openai_fake[1], api_key=VALID_KEY)
    assert VALID_KEY not in repr(provider)
    assert VALID_KEY not in repr(provider.transport)
    assert VALID_KEY not in repr(provider.api_key)


async def test_missing_key_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    provider = OpenAIProvider(base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ls.AuthenticationError, match="OPENAI_API_KEY"):
        await provider.complete("hi", model="gpt-test")


async def test_stream_cut_mid_way_is_connection_error(openai_provider: OpenAIProvider) -> None:
    received: list[str] = []
    async with openai_provider:
        with pytest.raises(ls.ProviderConnectionError):
            async with openai_provider.stream("hi", model="gpt-cut") as s:
                async for t in s.text():
                    received.append(t)
    assert received == ["Hello", "! How can"]  # what arrived before the cut was delivered
    assert openai_provider.usage.errors == 1


async def test_malformed_sse_line_is_an_error(openai_provider: OpenAIProvider) -> None:
    async with openai_provider:
        with pytest.raises(ls.ProviderError, match="malformed stream chunk"):
            async with openai_provider.stream("hi", model="gpt-malformed") as s:
                await s.final()


async def test_error_object_inside_200_stream(openai_provider: OpenAIProvider) -> None:
    async with openai_provider:
        with pytest.raises(ls.ProviderUnavailableError, match="server had an error"):
            async with openai_provider.stream("hi", model="gpt-stream-error") as s:
                await s.final()


async def test_connection_refused() -> None:
    import socket

    with socket.socket() as held:  # bound and never listening: every connect is refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        provider = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-abcdefghijklmnop")
        async with provider:
            with pytest.raises(ls.ProviderConnectionError) as info:
                await provider.complete("hi", model="gpt-test")
            status = await provider.health_check()
    assert type(info.value) is ls.ProviderConnectionError
    assert info.value.retryable
    assert f"cannot connect to 127.0.0.1:{port} (connection refused)" in str(info.value)
    assert "is the server running" in str(info.value)
    assert not status.connected and not status.model_detected
    assert status.error is not None and f"cannot connect to 127.0.0.1:{port} (connection refused)" in status.error


async def test_read_timeout(openai_fake) -> None:
    provider = OpenAIProvider(base_url=openai_fake[1], api_key=VALID_KEY, timeout=0.3)
    async with provider:
        with pytest.raises(ls.ProviderTimeoutError):
            await provider.complete("hi", model="gpt-slow")
    assert [r["model"] for r in openai_fake[0].requests] == ["gpt-slow"]  # not sent again after the timeout


async def test_health_check_and_models(openai_provider: OpenAIProvider) -> None:
    async with openai_provider:
        status = await openai_provider.health_check()
        models = await openai_provider.list_models()
        detected = await openai_provider.detect_model()
    assert status.connected and status.model_detected and status.model_id == "gpt-test"
    assert status.provider_type is ls.ProviderType.OPENAI
    assert [m.id for m in models] == ["gpt-test", "gpt-tools", "gpt-long"]
    assert detected == "gpt-test"


async def test_health_reports_missing_default_model(openai_fake) -> None:
    provider = OpenAIProvider(base_url=openai_fake[1], api_key=VALID_KEY, default_model="gpt-nope")
    async with provider:
        status = await provider.health_check()
    assert status.connected and not status.model_detected
    assert "gpt-nope" in (status.error or "")


async def test_usage_totals_accumulate(openai_provider: OpenAIProvider) -> None:
    async with openai_provider:
        await openai_provider.complete("a", model="gpt-test")
        async with openai_provider.stream("b", model="gpt-test") as s:
            await s.final()
        with pytest.raises(ls.ModelNotFoundError):
            await openai_provider.complete("c", model="gpt-missing")
    u = openai_provider.usage
    assert (u.calls, u.errors, u.input_tokens, u.output_tokens) == (2, 1, 24, 14)


async def test_one_session_per_loop_reused(openai_provider: OpenAIProvider) -> None:
    async with openai_provider:
        await openai_provider.complete("a", model="gpt-test")
        first = openai_provider.transport.session()
        await openai_provider.complete("b", model="gpt-test")
        assert openai_provider.transport.session() is first
    assert first.closed  # aclose() closed it


async def test_leaving_a_stream_early_counts_the_call_and_frees_the_connection(openai_provider: OpenAIProvider) -> None:
    async with openai_provider:
        async with openai_provider.stream("hi", model="gpt-long", max_tokens=20000) as s:
            async for ev in s:
                if isinstance(ev, TextDelta):
                    break
        assert openai_provider.usage.errors == 1  # cancelled calls are recorded, not lost
        connector = openai_provider.transport.session().connector
        assert connector is not None
        # the half-read connection was closed rather than returned to the pool
        assert sum(len(v) for v in connector._conns.values()) == 0
        resp = await openai_provider.complete("again", model="gpt-test")
        assert resp.text == "Hello! How can I help?"
