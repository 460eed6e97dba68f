"""LiteLLMProvider through the real ``litellm`` package, against a fake OpenAI-compatible server."""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("litellm") is None:  # imported by the provider, which sets its env first
    pytest.skip("litellm is not installed", allow_module_level=True)

from llmswitch import errors as E  # noqa: E402
from llmswitch.providers import create_provider  # noqa: E402
from llmswitch.providers.litellm import LiteLLMProvider, translate_exception  # noqa: E402
from llmswitch.types import Response, TextDelta, ToolCallDelta, Usage  # noqa: E402
from tests.fakes.openai_server import VALID_KEY as OPENAI_KEY  # noqa: E402


def get_weather(city: str, unit: str = "c") -> str:
    """Current weather for a city."""
    return city


@pytest.fixture
def lite(openai_fake):
    _, url = openai_fake
    return LiteLLMProvider(base_url=url, api_key=OPENAI_KEY)


async def test_complete_returns_our_response(openai_fake, lite):
    fake, _ = openai_fake
    resp = await lite.complete("Hi", model="openai/gpt-test", max_tokens=20)
    assert type(resp) is Response
    assert resp.text == "Hello! How can I help?"
    assert resp.finish_reason == "stop"
    assert resp.provider == "litellm"
    assert type(resp.usage) is Usage
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.cache_read_tokens) == (12, 7, 4)
    assert fake.requests[-1]["model"] == "gpt-test" and fake.requests[-1]["max_tokens"] == 20
    assert lite.usage.calls == 1


async def test_tools_and_stream(lite):
    resp = await lite.complete("Weather?", model="openai/gpt-tools", tools=[get_weather])
    assert resp.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in resp.tool_calls] == [("call_abc123", "get_weather", {"city": "Paris", "unit": "c"})]
    events = []
    async with lite.stream("Weather?", model="openai/gpt-tools", tools=[get_weather]) as s:
        async for ev in s:
            events.append(ev)
        final = await s.final()
    args = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert args == '{"city": "Paris", "unit": "c"}'
    assert final.tool_calls[0].arguments == {"city": "Paris", "unit": "c"}
    assert final.usage.input_tokens == 12 and final.usage.output_tokens == 7


async def test_stream_text(lite):
    async with lite.stream("Hi", model="openai/gpt-test") as s:
        text = [e.text async for e in s if isinstance(e, TextDelta)]
    assert "".join(text) == "Hello! How can I help?"


async def test_litellm_401_is_our_authentication_error(openai_fake):
    _, url = openai_fake
    secret = "sk-wrong-litellm-key-ZYXW9876"
    p = LiteLLMProvider(base_url=url, api_key=secret)
    with pytest.raises(E.AuthenticationError) as info:
        await p.complete("Hi", model="openai/gpt-test")
    assert info.value.status_code == 401
    assert secret not in str(info.value) and secret not in repr(p)
    with pytest.raises(E.AuthenticationError):
        async with p.stream("Hi", model="openai/gpt-test") as s:
            await s.final()
    assert p.usage.errors == 2


async def test_litellm_404_is_model_not_found(lite):
    with pytest.raises(E.ModelNotFoundError):
        await lite.complete("Hi", model="openai/gpt-missing")


async def test_refused_connection_is_connection_error():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = LiteLLMProvider(base_url=f"http://127.0.0.1:{port}/v1", api_key=OPENAI_KEY, num_retries=0, max_retries=0)
    with pytest.raises(E.ProviderConnectionError) as info:
        await p.complete("Hi", model="openai/gpt-test", timeout=5)
    assert info.value.retryable


def test_exception_translation_table():
    import httpx
    import litellm

    req = httpx.Request("POST", "http://x")
    rl = litellm.RateLimitError("slow down", "openai", "m", response=httpx.Response(429, headers={"retry-after": "3"}, request=req))
    cases = [
        (litellm.ContextWindowExceededError("too long", "m", "openai"), E.ContextWindowExceededError),
        (litellm.ContentPolicyViolationError("bad", "m", "openai"), E.ContentFilterError),
        (litellm.Timeout("slow", "m", "openai"), E.ProviderTimeoutError),
        (litellm.ServiceUnavailableError("down", "openai", "m"), E.ProviderUnavailableError),
        (litellm.NotFoundError("no", "m", "openai"), E.ModelNotFoundError),
        (litellm.BadRequestError("bad", "m", "openai"), E.InvalidRequestError),
        (rl, E.RateLimitError),
    ]
    for exc, cls in cases:
        ours = translate_exception(exc, provider="litellm", model="m")
        assert type(ours) is cls, (exc, ours)
    assert translate_exception(rl, provider="litellm", model="m").retry_after == 3


async def test_health_without_a_server(lite):
    h = await lite.health_check()
    assert h.connected and not h.model_detected  # no default model configured
    p = create_provider("litellm", default_model="bedrock/anthropic.claude-3-haiku")
    h2 = await p.health_check()
    assert h2.healthy and h2.metadata["litellm_version"]


async def test_list_models_from_price_table(lite):
    models = {m.id: m for m in await lite.list_models()}
    assert len(models) > 100
    priced = [m for m in models.values() if m.input_price_per_token]
    assert priced and all(m.input_price_per_token > 0 for m in priced)


def test_litellm_model_reference_through_the_module_api(openai_fake, monkeypatch):
    import llmswitch as ls
    from llmswitch import api

    fake, url = openai_fake
    monkeypatch.setenv("LITELLM_API_BASE", url)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)  # LiteLLM reads each backend's own key
    api.reset_provider_cache()
    try:
        resp = ls.complete("litellm:openai/gpt-test", "Hi", timeout=60)
        with ls.stream("litellm:openai/gpt-tools", "Weather?", tools=[get_weather], timeout=60) as s:
            final = s.final()
    finally:
        api.reset_provider_cache()  # the cached provider is bound to this fake's URL
    assert resp.text == "Hello! How can I help?" and resp.provider == "litellm"
    assert final.tool_calls[0].arguments == {"city": "Paris", "unit": "c"}
    assert [r["model"] for r in fake.requests] == ["gpt-test", "gpt-tools"]
