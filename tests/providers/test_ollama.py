"""OllamaProvider against the fake server: inference over /api/chat, models, health, capabilities."""

from __future__ import annotations

import socket

import pytest

from llmswitch import errors as E
from llmswitch.providers import create_provider
from llmswitch.providers.ollama import OllamaProvider
from llmswitch.types import ImagePart, Message, TextDelta, TextPart, ThinkingDelta, Tool, ToolCallDelta, UsageEvent
from tests.fakes.ollama_server import ChatScript, FakeOllama

WEATHER = Tool("get_weather", "Current weather", {"type": "object", "properties": {"city": {"type": "string"}}})


@pytest.fixture
async def provider(ollama: FakeOllama):
    p = OllamaProvider(base_url=ollama.url)
    yield p
    await p.aclose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_stream_with_thinking_tool_call_and_final_counters(provider: OllamaProvider, ollama: FakeOllama) -> None:
    events = []
    async with provider.stream("weather in Tokyo?", model="qwen3:8b", tools=[WEATHER], think=True) as s:
        async for ev in s:
            events.append(ev)
        final = await s.final()
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "The user wants the weather."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me check."
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(calls) == 1 and calls[0].name == "get_weather" and calls[0].id
    assert final.tool_calls[0].id == calls[0].id  # the generated id is the same in delta and Response
    assert final.tool_calls[0].arguments == {"city": "Tokyo"}
    assert final.finish_reason == "tool_calls" and final.thinking == "The user wants the weather."
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.known) == (26, 15, True)
    assert final.tokens_per_second == pytest.approx(30.0)  # 15 tokens in 0.5 s
    assert final.usage.cost == 0.0  # local: free, not unknown
    usage_events = [e for e in events if isinstance(e, UsageEvent)]
    assert [(u.usage.input_tokens, u.usage.output_tokens) for u in usage_events] == [(26, 15)]  # once, from the done line
    assert provider.usage.input_tokens == 26 and provider.usage.calls == 1


async def test_native_options_reach_the_server(provider: OllamaProvider, ollama: FakeOllama) -> None:
    await provider.complete("hi", model="gemma3:270m", num_ctx=8192, keep_alive="30m", temperature=0.1, max_tokens=5)
    body = ollama.last("/api/chat")
    assert body["options"] == {"num_ctx": 8192, "temperature": 0.1, "num_predict": 5}
    assert body["keep_alive"] == "30m" and body["stream"] is False and "think" not in body


async def test_complete_reads_text_and_counters(provider: OllamaProvider) -> None:
    r = await provider.complete("hi", model="gemma3:270m")
    assert r.text == "The sky is blue." and r.finish_reason == "stop"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (26, 15)


async def test_images_are_sent_base64(provider: OllamaProvider, ollama: FakeOllama) -> None:
    await provider.complete([Message.user([TextPart("describe"), ImagePart(data=b"abc")])], model="gemma3:270m")
    assert ollama.last("/api/chat")["messages"][0]["images"] == ["YWJj"]


async def test_error_line_inside_200_stream_raises(provider: OllamaProvider) -> None:
    texts = []
    with pytest.raises(E.ProviderUnavailableError, match="error was encountered while running the model") as info:
        async with provider.stream("count", model="broken:1b") as s:
            async for t in s.text():
                texts.append(t)
    assert texts == ["one"]  # what came before the error was delivered, then it raised
    assert info.value.status_code == 200 and provider.usage.errors == 1


async def test_stream_cut_before_done_is_an_error(provider: OllamaProvider, ollama: FakeOllama) -> None:
    ollama.scripts["gemma3:270m"] = ChatScript(done=False)
    with pytest.raises(E.ProviderConnectionError, match="done"):
        await provider.stream("hi", model="gemma3:270m").final()


async def test_model_not_pulled_says_how_to_pull(provider: OllamaProvider) -> None:
    with pytest.raises(E.ModelNotFoundError) as info:
        await provider.complete("hi", model="mistral:7b")
    assert info.value.status_code == 404
    assert info.value.message == 'model "mistral:7b" not found, try pulling it first'
    assert "llmswitch pull mistral:7b" in str(info.value)
    with pytest.raises(E.ModelNotFoundError, match="llmswitch pull mistral"):
        await provider.stream("hi", model="mistral").final()


async def test_tools_on_a_model_without_them_is_a_capability_error(provider: OllamaProvider) -> None:
    with pytest.raises(E.CapabilityError) as info:
        await provider.complete("hi", model="gemma3:270m", tools=[WEATHER])
    assert info.value.status_code == 400
    assert info.value.message == "registry.ollama.ai/library/gemma3:270m does not support tools"
    assert "tools" in info.value.hint and "llmswitch show gemma3:270m" in info.value.hint
    with pytest.raises(E.CapabilityError, match="does not support thinking"):
        await provider.stream("hi", model="gemma3:270m", think=True).final()


async def test_model_capabilities_come_from_show(provider: OllamaProvider, ollama: FakeOllama) -> None:
    qwen = await provider.model_capabilities("qwen3:8b")
    gemma = await provider.model_capabilities("gemma3:270m")
    assert (qwen.tools, qwen.thinking, qwen.vision) == (True, True, False)
    assert (gemma.tools, gemma.thinking) == (False, False)
    shows = sum(1 for _, p, _ in ollama.requests if p == "/api/show")
    await provider.model_capabilities("qwen3:8b")
    assert sum(1 for _, p, _ in ollama.requests if p == "/api/show") == shows  # cached


async def test_list_models_has_details_and_loaded_state(provider: OllamaProvider) -> None:
    models = {m.id: m for m in await provider.list_models()}
    assert set(models) == {"qwen3:8b", "gemma3:270m", "nomic-embed-text:latest", "broken:1b"}
    q = models["qwen3:8b"]
    assert q.loaded is True and q.context_length == 8192 and q.family == "qwen3" and q.parameter_size == "8.2B"
    assert q.quantization == "Q4_K_M" and q.size_bytes == 2019393189 and len(q.digest or "") == 64 and q.modified_at
    assert models["gemma3:270m"].loaded is False and models["gemma3:270m"].quantization == "Q8_0"


async def test_detect_prefers_loaded_then_default(ollama: FakeOllama) -> None:
    async with OllamaProvider(base_url=ollama.url) as p:
        assert await p.detect_model() == "qwen3:8b"
    async with OllamaProvider(base_url=ollama.url, default_model="gemma3:270m") as p:
        assert await p.detect_model() == "gemma3:270m"


async def test_health_ok_with_version_and_loaded(provider: OllamaProvider) -> None:
    h = await provider.health_check()
    assert h.healthy and h.model_id == "qwen3:8b"
    assert h.metadata["version"] == "0.12.10" and h.metadata["loaded"] == ["qwen3:8b"]


async def test_health_accepts_untagged_default_and_flags_missing(ollama: FakeOllama) -> None:
    async with OllamaProvider(base_url=ollama.url, default_model="nomic-embed-text") as p:
        h = await p.health_check()
        assert h.healthy and h.model_id == "nomic-embed-text:latest"
    async with OllamaProvider(base_url=ollama.url, default_model="llama3.2") as p:
        h = await p.health_check()
        assert h.connected and not h.model_detected and "llmswitch pull llama3.2" in (h.error or "")


async def test_health_with_no_models_and_when_down(ollama: FakeOllama) -> None:
    ollama.models.clear()
    ollama.running.clear()
    async with OllamaProvider(base_url=ollama.url) as p:
        h = await p.health_check()
        assert h.connected and not h.model_detected and "pull" in (h.error or "")
        with pytest.raises(E.ModelNotFoundError, match="llmswitch pull"):
            await p.complete("hi")
    async with OllamaProvider(base_url=f"http://127.0.0.1:{_free_port()}") as p:
        h = await p.health_check()
        assert not h.connected and "cannot connect" in (h.error or "")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:11500", "http://127.0.0.1:11500"),
        ("myhost", "http://myhost:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("http://box:11434/v1/", "http://box:11434"),
        ("https://ollama.example.com/api", "https://ollama.example.com"),
        ("http://[::1]:9999", "http://[::1]:9999"),
    ],
)
def test_base_url_forms(given: str, expected: str) -> None:
    assert OllamaProvider(base_url=given).base_url == expected


def test_ollama_host_env_and_table_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "10.1.2.3:4321")
    p = create_provider("ollama")
    assert isinstance(p, OllamaProvider) and p.base_url == "http://10.1.2.3:4321"
    assert p.is_local and p.capabilities.model_management
    monkeypatch.delenv("OLLAMA_HOST")
    assert create_provider("ollama").base_url == "http://localhost:11434"


async def test_ollama_host_env_reaches_the_fake(monkeypatch: pytest.MonkeyPatch, ollama: FakeOllama) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{ollama.port}")
    async with OllamaProvider() as p:
        r = await p.complete("hi", model="gemma3:270m")
    assert r.text == "The sky is blue."
