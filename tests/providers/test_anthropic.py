"""AnthropicProvider against the fake Messages API server."""

from __future__ import annotations

import base64

import pytest

import llmswitch as ls
from llmswitch import errors as E
from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.types import ImagePart, Message, TextDelta, TextPart, ThinkingDelta, Tool, ToolCall, ToolCallDelta, UsageEvent
from tests.fakes.anthropic_server import SIGNATURE, TOOL_ARGS, VALID_KEY


def get_weather(city: str, unit: str = "c") -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


@pytest.fixture
async def claude(anthropic_fake):
    fake, url = anthropic_fake
    p = AnthropicProvider(base_url=url, api_key=VALID_KEY)
    yield p
    await p.aclose()


async def test_plain_request_shape_and_response(anthropic_fake, claude):
    fake, _ = anthropic_fake
    resp = await claude.complete([Message.system("Be brief."), Message.user("Hi")], model="claude-test")
    assert resp.text == "Hello! How can I help?"
    assert resp.finish_reason == "stop"
    assert resp.id == "msg_fake0001"
    body, headers = fake.requests[-1], fake.headers[-1]
    assert body["system"] == "Be brief."
    assert all(m["role"] != "system" for m in body["messages"])
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert body["max_tokens"] == 4096
    assert headers["x-api-key"] == VALID_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers


async def test_usage_counts_cached_prompt_tokens_in_input(claude):
    resp = await claude.complete("Hi", model="claude-test")
    u = resp.usage
    # 8 uncached + 4 read from cache: input_tokens counts every prompt token
    assert (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens) == (12, 7, 4, 0)
    assert u.known
    assert claude.usage.calls == 1 and claude.usage.input_tokens == 12


async def test_max_tokens_from_config_and_call(anthropic_fake):
    fake, url = anthropic_fake
    async with AnthropicProvider(base_url=url, api_key=VALID_KEY, default_max_tokens=321) as p:
        await p.complete("Hi", model="claude-test")
        assert fake.requests[-1]["max_tokens"] == 321
        await p.complete("Hi", model="claude-test", max_tokens=55, temperature=0.2, stop="END", top_k=5)
        body = fake.requests[-1]
        assert (body["max_tokens"], body["temperature"], body["stop_sequences"], body["top_k"]) == (55, 0.2, ["END"], 5)


async def test_images_base64_and_url(anthropic_fake, claude):
    fake, _ = anthropic_fake
    png = b"\x89PNG\r\n\x1a\nfake"
    await claude.complete(
        [Message.user([TextPart("what is this?"), ImagePart(data=png, media_type="image/png"),
                       ImagePart(url="https://example.com/cat.jpg")])],
        model="claude-test",
    )
    content = fake.requests[-1]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    assert content[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                      "data": base64.b64encode(png).decode()}}
    assert content[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


async def test_tool_use_round_trip_merges_tool_results(anthropic_fake, claude):
    fake, _ = anthropic_fake
    resp = await claude.complete("Weather in Paris?", model="claude-tools", tools=[get_weather], tool_choice="required")
    assert resp.finish_reason == "tool_calls"
    assert resp.text == "Let me check."
    [call] = resp.tool_calls
    assert (call.id, call.name, call.arguments) == ("toolu_fake01", "get_weather", {"city": "Paris", "unit": "c"})
    sent = fake.requests[-1]
    assert sent["tools"][0]["name"] == "get_weather"
    assert sent["tools"][0]["input_schema"]["required"] == ["city"]
    assert sent["tool_choice"] == {"type": "any"}

    # two parallel calls answered by two tool messages -> one user turn with two tool_result blocks
    assistant = Message.assistant("Checking.", [call, ToolCall("toolu_fake02", "get_weather", {"city": "Rome"})])
    history = [
        Message.user("Weather in Paris and Rome?"),
        assistant,
        Message.tool_result("toolu_fake01", "sunny"),
        Message.tool_result("toolu_fake02", "rainy"),
    ]
    resp2 = await claude.complete(history, model="claude-test", tools=[get_weather])
    assert resp2.text == "Hello! How can I help?"  # the fake accepted the history
    msgs = fake.requests[-1]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"][1] == {"type": "tool_use", "id": "toolu_fake01", "name": "get_weather",
                                     "input": {"city": "Paris", "unit": "c"}}
    assert [b["tool_use_id"] for b in msgs[2]["content"]] == ["toolu_fake01", "toolu_fake02"]
    assert msgs[2]["content"][1] == {"type": "tool_result", "tool_use_id": "toolu_fake02", "content": "rainy"}


async def test_thinking_kept_and_sent_back_with_signature(anthropic_fake, claude):
    fake, _ = anthropic_fake
    resp = await claude.complete("Think.", model="claude-thinking", thinking={"type": "enabled", "budget_tokens": 2048})
    assert resp.thinking == "Let me think about this."
    assert resp.thinking_signature == SIGNATURE
    assert fake.requests[-1]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    await claude.complete([Message.user("Think."), resp.to_message(), Message.user("Again")],
                          model="claude-thinking", thinking=8000)
    sent = fake.requests[-1]
    assert sent["messages"][1]["content"][0] == {"type": "thinking", "thinking": "Let me think about this.",
                                                 "signature": SIGNATURE}
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 8000}
    assert sent["max_tokens"] == 8000 + 4096  # the API needs budget_tokens < max_tokens


async def test_unknown_blocks_kept_in_raw(claude):
    resp = await claude.complete("Search", model="claude-server-tools")
    assert resp.text == "Sunny."
    assert resp.tool_calls == []  # server tools are not ours to run
    types = [b["type"] for b in resp.raw["content"]]
    assert types == ["redacted_thinking", "server_tool_use", "web_search_tool_result", "text"]


async def test_stream_unknown_blocks_kept_in_raw(claude):
    async with claude.stream("Search", model="claude-server-tools") as s:
        final = await s.final()
    assert final.text == "Sunny."
    assert final.tool_calls == []
    blocks = final.raw["content"]
    assert [b["type"] for b in blocks] == ["redacted_thinking", "server_tool_use", "web_search_tool_result", "text"]
    assert blocks[1]["input"] == {"query": "weather"}  # assembled from input_json_delta


async def test_refusal_maps_to_content_filter(claude):
    resp = await claude.complete("...", model="claude-refusal")
    assert resp.finish_reason == "content_filter"


async def test_stream_text_and_usage(claude):
    events = []
    async with claude.stream([Message.system("sys"), Message.user("Hi")], model="claude-test") as s:
        async for ev in s:
            events.append(ev)
        final = await s.final()
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", "! How can", " I help?"]
    usage_events = [e for e in events if isinstance(e, UsageEvent)]
    assert usage_events and usage_events[-1].usage.output_tokens == 7
    assert final.text == "Hello! How can I help?"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.cache_read_tokens) == (12, 7, 4)
    assert final.finish_reason == "stop"
    assert claude.usage.calls == 1


async def test_stream_tool_call_from_split_input_json(claude):
    deltas = []
    async with claude.stream("Weather?", model="claude-tools", tools=[get_weather]) as s:
        async for ev in s:
            if isinstance(ev, ToolCallDelta):
                deltas.append(ev)
        final = await s.final()
    assert deltas[0].id == "toolu_fake01" and deltas[0].name == "get_weather"
    assert all(d.index == 0 for d in deltas)
    assert "".join(d.arguments for d in deltas) == '{"city": "Paris", "unit": "c"}'
    # the arguments arrive piece by piece, as the server sent them (its first fragment is "")
    assert [d.arguments for d in deltas if d.arguments] == TOOL_ARGS[1:]
    [call] = final.tool_calls
    assert call.arguments == {"city": "Paris", "unit": "c"}
    assert final.finish_reason == "tool_calls"
    assert final.text == "Let me check."


async def test_stream_thinking_and_signature(claude):
    thinking = []
    async with claude.stream("Think.", model="claude-thinking", thinking=True) as s:
        async for ev in s:
            if isinstance(ev, ThinkingDelta):
                thinking.append(ev)
        final = await s.final()
    assert "".join(t.text for t in thinking) == "Let me think about this."
    assert thinking[-1].signature == SIGNATURE
    assert final.thinking == "Let me think about this." and final.thinking_signature == SIGNATURE
    assert final.text == "Hello! How can I help?"


async def test_stream_error_event_raises_mapped_error(claude):
    seen = []
    with pytest.raises(E.ProviderUnavailableError) as info:
        async with claude.stream("Hi", model="claude-overloaded") as s:
            async for ev in s:
                seen.append(ev)
    assert info.value.retryable
    assert "Overloaded" in str(info.value)
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["Hel"]
    assert claude.usage.errors == 1


async def test_stream_without_message_stop_is_connection_error(claude):
    with pytest.raises(E.ProviderConnectionError, match="message_stop"):
        async with claude.stream("Hi", model="claude-cut") as s:
            await s.final()


@pytest.mark.parametrize(
    "model, cls, status, message",
    [
        ("claude-ratelimited", E.RateLimitError, 429, "Number of request tokens has exceeded your per-minute rate limit"),
        ("claude-overloaded", E.ProviderUnavailableError, 529, "Overloaded"),
        ("claude-small-ctx", E.ContextWindowExceededError, 400, "prompt is too long: 210000 tokens > 200000 maximum"),
        ("claude-forbidden", E.AuthenticationError, 403, "Your API key does not have permission to use the specified resource."),
        ("claude-huge", E.InvalidRequestError, 413, "Request exceeds the maximum allowed number of bytes."),
        ("claude-nope", E.ModelNotFoundError, 404, "model: claude-nope"),
    ],
)
async def test_http_errors(claude, model, cls, status, message):
    with pytest.raises(cls) as info:
        await claude.complete("Hi", model=model)
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.provider == "anthropic"
    assert err.url == claude.base_url + "/v1/messages"
    assert f"] {message} — " in str(err)
    assert err.details["error"]["message"] == message
    assert VALID_KEY not in str(err)


async def test_error_details(claude):
    with pytest.raises(E.RateLimitError) as rl:
        await claude.complete("Hi", model="claude-ratelimited")
    assert rl.value.retry_after == 7 and rl.value.status_code == 429 and rl.value.retryable
    with pytest.raises(E.ProviderUnavailableError) as ov:
        await claude.complete("Hi", model="claude-overloaded")
    assert ov.value.status_code == 529 and ov.value.retryable
    with pytest.raises(E.ContextWindowExceededError) as ctx:
        await claude.complete("Hi", model="claude-small-ctx")
    assert (ctx.value.prompt_tokens, ctx.value.limit) == (210000, 200000)
    assert not ctx.value.retryable


async def test_bad_key_is_authentication_error_without_the_key(anthropic_fake):
    _, url = anthropic_fake
    secret = "sk-ant-wrong-key-ABCDEF123456"
    async with AnthropicProvider(base_url=url, api_key=secret) as p:
        with pytest.raises(E.AuthenticationError) as info:
            await p.complete("Hi", model="claude-test")
        assert info.value.status_code == 401
        assert "] invalid x-api-key — " in str(info.value)
        assert secret not in str(info.value) and secret not in repr(p)
        health = await p.health_check()
    assert not health.connected and not health.healthy
    assert secret not in (health.error or "")


async def test_missing_key_fails_before_sending(anthropic_fake, monkeypatch):
    fake, url = anthropic_fake
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    async with AnthropicProvider(base_url=url) as p:
        with pytest.raises(E.AuthenticationError, match="ANTHROPIC_API_KEY"):
            await p.complete("Hi", model="claude-test")
    assert fake.requests == []


async def test_env_vars_and_v1_suffix(anthropic_fake, monkeypatch):
    fake, url = anthropic_fake
    monkeypatch.setenv("ANTHROPIC_API_KEY", VALID_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url + "/v1/")
    p = AnthropicProvider()
    assert p.base_url == url
    assert VALID_KEY not in repr(p)
    try:
        assert (await p.complete("Hi", model="claude-test")).text == "Hello! How can I help?"
    finally:
        await p.aclose()


async def test_list_models_follows_pages(anthropic_fake, claude):
    fake, _ = anthropic_fake
    fake.page_max = 2
    models = await claude.list_models()
    assert [m.id for m in models] == ["claude-test-20250101", "claude-tools", "claude-thinking"]
    assert fake.model_queries[1]["after_id"] == "claude-tools"
    assert models[0].name == "Claude Test" and models[0].context_length == 200000


async def test_health_key_accepted_and_model_listed(anthropic_fake):
    _, url = anthropic_fake
    async with AnthropicProvider(base_url=url, api_key=VALID_KEY, default_model="claude-test") as p:
        ok = await p.health_check()  # alias of the listed dated id claude-test-20250101
    assert ok.healthy and ok.model_id == "claude-test" and ok.metadata["models"] == 3
    async with AnthropicProvider(base_url=url, api_key=VALID_KEY, default_model="claude-gone") as p:
        missing = await p.health_check()
    assert missing.connected and not missing.model_detected and "claude-gone" in missing.error


def test_module_api_with_provider_instance(anthropic_fake):
    _, url = anthropic_fake
    p = AnthropicProvider(base_url=url, api_key=VALID_KEY, default_model="claude-tools")
    resp = ls.complete(p, "Weather?", tools=[Tool.from_function(get_weather)])
    assert resp.tool_calls[0].arguments == {"city": "Paris", "unit": "c"}
    with ls.stream(p, "Hi") as s:
        assert "".join(s.text()) == "Let me check."


def test_failed_tool_result_is_flagged_for_anthropic() -> None:
    from llmswitch._wire import anthropic as wire
    from llmswitch.types import Message, ToolCall

    body = wire.build_request(
        "claude-test",
        [
            Message.user("weather?"),
            Message.assistant(None, [ToolCall("toolu_1", "get_weather", {"city": "Paris"})]),
            Message.tool_result("toolu_1", "service down", is_error=True),
            Message.tool_result("toolu_2", "ok"),
        ],
        max_tokens=16,
    )
    blocks = body["messages"][-1]["content"]
    assert blocks[0] == {"type": "tool_result", "tool_use_id": "toolu_1", "content": "service down", "is_error": True}
    assert "is_error" not in blocks[1]
