"""providers/base.py's capability check: a call that asks for tools, images or thinking that the
provider or model is known not to take raises ``CapabilityError`` before anything is sent.

Every refusal is checked against a real fake server that counts every HTTP request it gets:
zero after the refusal, for ``complete`` and for ``stream`` (which raises when iterated, as its
other pre-send errors do). Unknown is allowed: the same calls to a server whose capabilities are
not known reach it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from llmswitch import errors as E
from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.providers.base import BaseProvider
from llmswitch.providers.lmstudio import LMStudioProvider
from llmswitch.providers.ollama import OllamaProvider
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.providers.openai_compat import OpenAICompatibleProvider
from llmswitch.types import ImagePart, Message, ProviderCapabilities, TextPart
from tests.fakes import anthropic_server, openai_server
from tests.fakes._threaded import ThreadedServer
from tests.fakes.lmstudio_server import FakeLMStudio
from tests.fakes.ollama_server import FakeOllama

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
WITH_IMAGE = [Message.user([TextPart("What is this?"), ImagePart(data=PNG)])]


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return city


class Counted:
    """A fake's app with a middleware that records every request (method, path), whatever its route."""

    def __init__(self, factory: Callable[[], web.Application]) -> None:
        self.hits: list[tuple[str, str]] = []
        self._factory = factory

    def app(self) -> web.Application:
        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            self.hits.append((request.method, request.path))
            response: web.StreamResponse = await handler(request)
            return response

        app = self._factory()
        app.middlewares.append(count)
        return app


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[tuple[Counted, str]]:
    counted = Counted(openai_server.FakeOpenAI().app)
    with ThreadedServer(counted.app) as server:
        yield counted, server.url + "/v1"


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[tuple[Counted, str]]:
    counted = Counted(anthropic_server.FakeAnthropic().app)
    with ThreadedServer(counted.app) as server:
        yield counted, server.url


async def _refused(provider: BaseProvider, hits: list[Any], feature: str, messages: Any, **kw: Any) -> E.CapabilityError:
    """``complete`` and ``stream`` both refuse, and the server saw nothing."""
    before = len(hits)
    with pytest.raises(E.CapabilityError) as info:
        await provider.complete(messages, **kw)
    stream = provider.stream(messages, **kw)
    with pytest.raises(E.CapabilityError) as streamed:
        async with stream:
            async for _ in stream:
                pass
    with pytest.raises(E.CapabilityError):
        await provider.stream(messages, **kw).final()
    with pytest.raises(E.CapabilityError):
        await provider.complete(messages, timeout=30, **kw)  # the path with a deadline checks too
    assert len(hits) == before, f"the server got {hits[before:]}"
    err = info.value
    assert err.feature == feature == streamed.value.feature
    assert err.status_code is None and err.provider == provider.name and err.model == kw["model"]
    assert isinstance(err, E.InvalidRequestError)  # existing `except InvalidRequestError` still catches it
    assert f"does not take {feature}" in err.message and "nothing was sent" in err.message
    assert "set_model_capabilities" in err.hint
    return err


async def _sent(provider: BaseProvider, hits: list[Any], messages: Any, **kw: Any) -> None:
    """The call reached the server (the fakes answer an unknown model with 404, which is fine here)."""
    before = len(hits)
    try:
        await provider.complete(messages, **kw)
    except E.ModelNotFoundError:
        pass
    assert len(hits) == before + 1


# --- declared per-model data: OpenAI and Anthropic -------------------------------------------


async def test_openai_tools_refused_for_o1_mini(openai_fake: tuple[Counted, str]) -> None:
    counted, url = openai_fake
    async with OpenAIProvider(base_url=url, api_key=openai_server.VALID_KEY) as p:
        err = await _refused(p, counted.hits, "tools", "Weather in Paris?", model="o1-mini", tools=[get_weather])
        assert "drop tools=" in err.hint
        await _sent(p, counted.hits, "Weather in Paris?", model="o1-mini")  # without tools it goes
        await _sent(p, counted.hits, "Weather in Paris?", model="o1", tools=[get_weather])  # a prefix of o1-mini, not refused


async def test_openai_images_refused_for_gpt_35(openai_fake: tuple[Counted, str]) -> None:
    counted, url = openai_fake
    async with OpenAIProvider(base_url=url, api_key=openai_server.VALID_KEY) as p:
        err = await _refused(p, counted.hits, "images", WITH_IMAGE, model="gpt-3.5-turbo")
        assert "send text only" in err.hint
        await _sent(p, counted.hits, "text only", model="gpt-3.5-turbo")
        await _sent(p, counted.hits, WITH_IMAGE, model="gpt-4o-mini")


async def test_openai_thinking_refused_for_non_reasoning_models(openai_fake: tuple[Counted, str]) -> None:
    counted, url = openai_fake
    async with OpenAIProvider(base_url=url, api_key=openai_server.VALID_KEY) as p:
        err = await _refused(p, counted.hits, "thinking", "hi", model="gpt-4o", reasoning_effort="high")
        assert "drop reasoning_effort=" in err.hint
        await _refused(p, counted.hits, "thinking", "hi", model="gpt-4.1-mini", reasoning={"effort": "low"})
        await _sent(p, counted.hits, "hi", model="gpt-4o", reasoning_effort="none")  # asks for no thinking
        await _sent(p, counted.hits, "hi", model="o3", reasoning_effort="high")


async def test_anthropic_thinking_refused_for_claude_35(anthropic_fake: tuple[Counted, str]) -> None:
    counted, url = anthropic_fake
    async with AnthropicProvider(base_url=url, api_key=anthropic_server.VALID_KEY) as p:
        thinking = {"type": "enabled", "budget_tokens": 2048}
        err = await _refused(p, counted.hits, "thinking", "hi", model="claude-3-5-haiku-20241022", thinking=thinking)
        assert "drop thinking=" in err.hint
        await _refused(p, counted.hits, "thinking", "hi", model="claude-3-haiku-20240307", thinking=True)
        await _sent(p, counted.hits, "hi", model="claude-3-5-haiku-20241022", thinking={"type": "disabled"})
        await _sent(p, counted.hits, "hi", model="claude-3-7-sonnet-latest", thinking=thinking)  # 3.7 thinks
        reply = await p.complete("hi", model="claude-thinking", thinking=thinking)
        assert reply.thinking


# --- what the server reported: Ollama, LM Studio ----------------------------------------------


@pytest.fixture
async def ollama_provider(ollama_caps: FakeOllama) -> Any:
    async with OllamaProvider(base_url=ollama_caps.url) as p:
        yield p


def _chats(fake: FakeOllama | FakeLMStudio) -> int:
    return sum(1 for _, path, _ in fake.requests if "chat" in path)


async def test_ollama_refuses_what_show_says_a_model_lacks(ollama_caps: FakeOllama, ollama_provider: OllamaProvider) -> None:
    p = ollama_provider
    gemma = await p.model_capabilities("gemma3:270m")
    qwen = await p.model_capabilities("qwen3:8b")
    assert (gemma.tools, gemma.thinking, qwen.vision) == (False, False, False)
    chats = _chats(ollama_caps)
    err = await _refused(p, ollama_caps.requests, "tools", "hi", model="gemma3:270m", tools=[get_weather])
    assert "as recorded for it" in err.message
    await _refused(p, ollama_caps.requests, "thinking", "hi", model="gemma3:270m", think=True)
    await _refused(p, ollama_caps.requests, "images", WITH_IMAGE, model="qwen3:8b")
    assert _chats(ollama_caps) == chats
    reply = await p.complete("Weather in Tokyo?", model="qwen3:8b", tools=[get_weather], think=True)
    assert reply.tool_calls and _chats(ollama_caps) == chats + 1
    await p.complete("hi", model="gemma3:270m", think=False)  # think=False asks for nothing
    assert _chats(ollama_caps) == chats + 2


async def test_ollama_without_show_lets_the_server_answer(ollama_caps: FakeOllama, ollama_provider: OllamaProvider) -> None:
    """Nothing known yet: the request goes, and the server's 400 is the CapabilityError."""
    with pytest.raises(E.CapabilityError) as info:
        await ollama_provider.complete("hi", model="gemma3:270m", tools=[get_weather])
    assert info.value.status_code == 400 and info.value.feature is None
    assert _chats(ollama_caps) == 1


async def test_lmstudio_refuses_images_for_a_text_model_it_reported(lmstudio_caps: FakeLMStudio) -> None:
    p = LMStudioProvider(base_url=lmstudio_caps.url + "/v1")
    try:
        llm = await p.model_capabilities("qwen2.5-7b-instruct")
        assert llm.vision is False and llm.tools is True
        await _refused(p, lmstudio_caps.requests, "images", WITH_IMAGE, model="qwen2.5-7b-instruct")
        assert _chats(lmstudio_caps) == 0
        await p.complete("hi", model="qwen2.5-7b-instruct", tools=[get_weather])
        assert _chats(lmstudio_caps) == 1
    finally:
        await p.aclose()


# --- unknown is allowed; the caller can record what a server lacks ------------------------------


async def test_unknown_server_gets_every_feature_then_what_the_caller_recorded_is_refused(
    openai_fake: tuple[Counted, str],
) -> None:
    counted, url = openai_fake
    async with OpenAICompatibleProvider(base_url=url, api_key=openai_server.VALID_KEY) as p:
        assert (p.capabilities.tools, p.capabilities.vision, p.capabilities.thinking) == (None, None, None)
        await _sent(p, counted.hits, WITH_IMAGE, model="gpt-test")
        await _sent(p, counted.hits, "hi", model="gpt-tools", tools=[get_weather])
        await _sent(p, counted.hits, "hi", model="gpt-test", reasoning_effort="high")
        p.set_model_capabilities("gpt-test", ProviderCapabilities(vision=False))
        err = await _refused(p, counted.hits, "images", WITH_IMAGE, model="gpt-test")
        assert "as recorded for it" in err.message
        await _sent(p, counted.hits, "hi", model="gpt-test", reasoning_effort="high")  # only images were recorded


async def test_recorded_capabilities_override_the_declared_table(openai_fake: tuple[Counted, str]) -> None:
    counted, url = openai_fake
    async with OpenAIProvider(base_url=url, api_key=openai_server.VALID_KEY) as p:
        await _refused(p, counted.hits, "tools", "hi", model="o1-mini", tools=[get_weather])
        p.set_model_capabilities("o1-mini", ProviderCapabilities(tools=True))
        await _sent(p, counted.hits, "hi", model="o1-mini", tools=[get_weather])


def test_capabilities_for_lays_the_model_over_the_provider() -> None:
    p = OpenAIProvider(api_key="sk-x")
    assert p.capabilities_for("o1-mini") == ProviderCapabilities(tools=False, vision=False, thinking=True)
    assert p.capabilities_for("gpt-4o-mini") == ProviderCapabilities(tools=True, vision=True, thinking=False)
    assert p.capabilities_for("o3") == p.capabilities == OpenAIProvider.default_capabilities
    assert not p.capabilities_for("o3").refuses_any and p.capabilities_for("o3-mini").refuses_any


def test_a_capability_error_pickles_with_its_feature() -> None:
    import pickle

    err = E.CapabilityError("no", feature="images", provider="p")
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.feature, str(back)) == (E.CapabilityError, "images", str(err))
