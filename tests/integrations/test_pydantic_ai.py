"""create_model / create_model_async / pydantic_ai_model / fallback_model against fake servers.

Agent runs with a tool go through the real pydantic-ai Agent and its SDK clients to the fakes
(``gpt-agent`` on the OpenAI fake, ``claude-agent`` on the Anthropic fake, the Ollama fake's
``/v1``), which answer the first request with a tool call and the second (carrying the tool
result) with text that quotes it.
"""

from __future__ import annotations

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.openai import OpenAIChatModel

import llmswitch
from llmswitch import errors as E
from llmswitch.integrations.pydantic_ai import create_model, create_model_async, fallback_model, fallback_model_async
from llmswitch.providers import create_provider
from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.providers.openai import OpenAIProvider
from tests.fakes import anthropic_server as afake
from tests.fakes import openai_server as ofake

try:
    from llmswitch.providers.ollama import OllamaProvider
except ImportError:  # branch ollama not merged yet
    OllamaProvider = None  # type: ignore[assignment,misc]

needs_ollama = pytest.mark.skipif(OllamaProvider is None, reason="llmswitch.providers.ollama (branch ollama) is not merged yet")


def _has(cls_name: str) -> bool:
    import importlib

    module = {"OpenAICompatibleProvider": "pydantic_ai.providers.openai_compatible", "VLLMProvider": "pydantic_ai.providers.vllm"}[cls_name]
    try:
        return hasattr(importlib.import_module(module), cls_name)
    except ImportError:
        return False


def weather_tools(calls: list[dict]):
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        calls.append({"city": city})
        return f"Sunny, 21 C in {city}"

    return [get_weather]


# --- which pydantic-ai class for which provider ------------------------------------------------


@pytest.mark.parametrize(
    "ptype, base_url, provider_cls",
    [
        ("openai", "https://api.openai.com/v1", "OpenAIProvider"),
        ("openrouter", "https://openrouter.ai/api/v1", "OpenRouterProvider"),
        ("openrouter", "http://127.0.0.1:9/api/v1", "OpenAICompatibleProvider"),
        ("vllm", "http://127.0.0.1:8000/v1", "VLLMProvider"),
        ("lmstudio", "http://127.0.0.1:1234/v1", "OpenAICompatibleProvider"),
        ("llamacpp", "http://127.0.0.1:8080/v1", "OpenAICompatibleProvider"),
        ("openai-compatible", "http://127.0.0.1:8001/v1", "OpenAICompatibleProvider"),
    ],
)
def test_openai_wire_providers_get_the_chat_model(ptype: str, base_url: str, provider_cls: str) -> None:
    if provider_cls in ("OpenAICompatibleProvider", "VLLMProvider") and not _has(provider_cls):
        provider_cls = "OpenAIProvider"  # older pydantic-ai (2.31) lacks them: OpenAIProvider on the base URL
    provider = create_provider(ptype, base_url=base_url, api_key="sk-test-key-123456")
    model = provider.create_model("vendor/some-model")
    assert type(model) is OpenAIChatModel
    assert model.model_name == "vendor/some-model"
    assert type(model._provider).__name__ == provider_cls
    assert model.base_url.rstrip("/") == base_url
    assert model.client.api_key == "sk-test-key-123456"


def test_pydantic_ai_refusal_is_a_config_error() -> None:
    provider = create_provider("openrouter", api_key="sk-or-test-123456")
    with pytest.raises(E.ConfigError, match="openai/gpt-4o"):
        provider.create_model("gpt-4o")  # OpenRouter names carry the vendor


def test_anthropic_gets_the_anthropic_model() -> None:
    provider = AnthropicProvider(base_url="http://127.0.0.1:9", api_key="sk-ant-test-123456")
    model = provider.create_model("claude-sonnet-4-5")
    assert type(model) is AnthropicModel
    assert model.model_name == "claude-sonnet-4-5"
    assert model.client.api_key == "sk-ant-test-123456"
    assert model.base_url.rstrip("/") == "http://127.0.0.1:9"


@needs_ollama
def test_ollama_gets_the_ollama_model_on_v1() -> None:
    try:
        from pydantic_ai.models.ollama import OllamaModel as expected
    except ImportError:  # older pydantic-ai: the chat model over OllamaProvider
        expected = OpenAIChatModel
    model = OllamaProvider(base_url="http://127.0.0.1:11434").create_model("llama3.2")
    assert type(model) is expected and type(model._provider).__name__ == "OllamaProvider"
    assert model.base_url.rstrip("/") == "http://127.0.0.1:11434/v1"


def test_local_servers_get_max_tokens_not_max_completion_tokens() -> None:
    model = create_provider("llamacpp", base_url="http://127.0.0.1:8080/v1").create_model("m")
    assert model.profile.get("openai_chat_supports_max_completion_tokens") is False
    openai_model = OpenAIProvider(api_key="sk-test-key-123456").create_model("gpt-4o")
    assert openai_model.profile.get("openai_chat_supports_max_completion_tokens", True) is True


def test_default_max_tokens_become_model_settings() -> None:
    model = create_provider("lmstudio", base_url="http://127.0.0.1:1234/v1", default_max_tokens=77).create_model("m")
    assert model.settings == {"max_tokens": 77}


def test_missing_key_is_our_authentication_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(E.AuthenticationError, match="ANTHROPIC_API_KEY"):
        AnthropicProvider().create_model("claude-sonnet-4-5")


def test_one_model_per_provider_and_model() -> None:
    provider = create_provider("llamacpp", base_url="http://127.0.0.1:8080/v1")
    first = provider.create_model("a")
    assert provider.create_model("a") is first
    assert create_model(provider, "a") is first
    assert provider.create_model("b") is not first
    other = create_provider("llamacpp", base_url="http://127.0.0.1:8080/v1")
    assert other.create_model("a") is not first
    provider.base_url = "http://127.0.0.1:8081/v1"  # a changed URL is a new model, not a stale one
    moved = provider.create_model("a")
    assert moved is not first and moved.base_url.startswith("http://127.0.0.1:8081")


def test_default_model_is_used_without_network() -> None:
    provider = create_provider("llamacpp", base_url="http://127.0.0.1:9/v1", default_model="preset")
    assert provider.create_model().model_name == "preset"


def test_sync_create_model_detects_through_the_bridge(openai_fake) -> None:
    _, url = openai_fake
    provider = OpenAIProvider(base_url=url, api_key=ofake.VALID_KEY)
    assert provider.create_model().model_name == ofake.AGENT_MODEL  # the first model /v1/models lists


# --- agent runs with a tool --------------------------------------------------------------------


async def test_openai_agent_runs_a_tool(openai_fake) -> None:
    fake, url = openai_fake
    fake.loop.tool_results.clear()
    provider = OpenAIProvider(base_url=url, api_key=ofake.VALID_KEY)
    model = await provider.create_model_async(ofake.AGENT_MODEL)
    calls: list[dict] = []
    agent = Agent(model, tools=weather_tools(calls))
    result = await agent.run("What is the weather in Paris?")
    assert calls == [{"city": "Paris"}]
    assert fake.loop.tool_results == ["Sunny, 21 C in Paris"]  # the tool's result reached the model
    assert result.output == "Tool said: Sunny, 21 C in Paris"
    usage = result.usage
    assert usage.requests == 2
    assert usage.input_tokens == 2 * ofake.AGENT_USAGE["prompt_tokens"]
    assert usage.output_tokens == 2 * ofake.AGENT_USAGE["completion_tokens"]
    second = fake.loop.requests[-1]
    assert second["messages"][-1]["role"] == "tool"
    assert second["tools"][0]["function"]["name"] == "get_weather"
    assert fake.headers[-1]["Authorization"] == f"Bearer {ofake.VALID_KEY}"
    await provider.aclose()


async def test_openai_agent_streams_a_tool_run(openai_fake) -> None:
    fake, url = openai_fake
    provider = OpenAIProvider(base_url=url, api_key=ofake.VALID_KEY)
    model = await provider.create_model_async(ofake.AGENT_MODEL, test_connection=False)
    calls: list[dict] = []
    agent = Agent(model, tools=weather_tools(calls))
    async with agent.run_stream("Weather in Paris?") as run:
        pieces = [t async for t in run.stream_output(debounce_by=None)]
    assert calls == [{"city": "Paris"}]
    assert pieces[-1] == "Tool said: Sunny, 21 C in Paris"
    assert fake.loop.requests[-1]["stream"] is True


async def test_anthropic_agent_runs_a_tool(anthropic_fake) -> None:
    fake, url = anthropic_fake
    provider = AnthropicProvider(base_url=url, api_key=afake.VALID_KEY)
    model = await provider.create_model_async(afake.AGENT_MODEL)
    calls: list[dict] = []
    result = await Agent(model, tools=weather_tools(calls)).run("What is the weather in Paris?")
    assert calls == [{"city": "Paris"}]
    assert fake.tool_results == ["Sunny, 21 C in Paris"]
    assert result.output == "Tool said: Sunny, 21 C in Paris"
    assert result.usage.requests == 2
    assert result.usage.input_tokens == 2 * afake.AGENT_USAGE["input_tokens"]
    assert result.usage.output_tokens == 2 * afake.AGENT_USAGE["output_tokens"]
    sent = {k.lower(): v for k, v in fake.headers[-1].items()}
    assert sent["x-api-key"] == afake.VALID_KEY  # the SDK sends an API key as x-api-key, never as Bearer
    assert "authorization" not in sent
    await provider.aclose()


async def test_anthropic_fake_takes_the_key_only_as_x_api_key(anthropic_fake) -> None:
    """Like the real API (wire-protocols.md §5.1), the fake refuses an API key sent as Bearer, so
    the agent test above can only pass if the key went out as ``x-api-key``."""
    import aiohttp

    _, url = anthropic_fake
    body = {"model": afake.AGENT_MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/v1/messages", json=body, headers={
            "Authorization": f"Bearer {afake.VALID_KEY}", "anthropic-version": "2023-06-01"}) as bearer:
            assert bearer.status == 401
            assert (await bearer.json())["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
        async with http.post(url + "/v1/messages", json=body, headers={
            "x-api-key": afake.VALID_KEY, "anthropic-version": "2023-06-01"}) as ok:
            assert ok.status == 200
            assert (await ok.json())["content"] == [{"type": "text", "text": "Hello! How can I help?"}]


@needs_ollama
async def test_ollama_agent_runs_a_tool_over_v1_with_a_detected_model(ollama) -> None:
    fake = ollama
    provider = OllamaProvider(base_url=fake.url)
    model = await provider.create_model_async()  # auto_detect: the loaded model
    assert model.model_name == "qwen3:8b"
    calls: list[dict] = []
    result = await Agent(model, tools=weather_tools(calls)).run("What is the weather in Paris?")
    assert calls == [{"city": "Paris"}]
    assert fake.loop.tool_results == ["Sunny, 21 C in Paris"]
    assert result.output == "Tool said: Sunny, 21 C in Paris"
    assert any(p.startswith("/api/") for p in fake.paths)  # health through the native API
    assert fake.paths.count("/v1/chat/completions") == 2  # the agent through /v1
    await provider.aclose()


# --- errors before the agent runs ---------------------------------------------------------------


async def test_server_down_is_a_connection_error_with_the_fix(refused_url: str) -> None:
    provider = create_provider("llamacpp", base_url=refused_url)
    with pytest.raises(E.ProviderConnectionError) as info:
        await provider.create_model_async()
    msg = str(info.value)
    assert "llmswitch local start" in msg and refused_url in msg
    await provider.aclose()


async def test_server_down_for_openai_compatible(refused_url: str) -> None:
    provider = create_provider("openai-compatible", base_url=refused_url)
    with pytest.raises(E.ProviderConnectionError, match="not reachable"):
        await create_model_async(provider, "any-model")
    await provider.aclose()


async def test_unknown_model_on_a_local_server_lists_what_it_has(openai_fake) -> None:
    _, url = openai_fake
    provider = create_provider("lmstudio", base_url=url, api_key=ofake.VALID_KEY)
    with pytest.raises(E.ModelNotFoundError) as info:
        await provider.create_model_async("no-such-model")
    assert ofake.AGENT_MODEL in str(info.value)
    await provider.aclose()


@needs_ollama
async def test_no_model_on_the_server_is_model_not_found(ollama) -> None:
    ollama.models.clear()
    ollama.running.clear()
    provider = OllamaProvider(base_url=ollama.url)
    with pytest.raises(E.ModelNotFoundError, match="pull"):
        await provider.create_model_async()
    await provider.aclose()


async def test_no_model_without_detection_is_model_not_found(openai_fake) -> None:
    _, url = openai_fake
    provider = create_provider("openai-compatible", base_url=url, api_key=ofake.VALID_KEY)
    with pytest.raises(E.ModelNotFoundError, match="auto_detect=False"):
        await provider.create_model_async(auto_detect=False)
    await provider.aclose()


async def test_wrong_key_is_an_authentication_error(openai_fake) -> None:
    _, url = openai_fake
    provider = OpenAIProvider(base_url=url, api_key="sk-wrong-key-0000000")
    with pytest.raises(E.AuthenticationError) as info:
        await provider.create_model_async("gpt-agent")
    assert "sk-wrong-key-0000000" not in str(info.value)
    await provider.aclose()


async def test_test_connection_false_skips_the_health_check(refused_url: str) -> None:
    provider = create_provider("openai-compatible", base_url=refused_url)
    model = await provider.create_model_async("m", test_connection=False)
    assert model.model_name == "m"


# --- the one-line entry point and fallback chains -----------------------------------------------


def test_pydantic_ai_model_is_the_lazy_package_attribute() -> None:
    from llmswitch.integrations import pydantic_ai as integration

    assert llmswitch.pydantic_ai_model is integration.pydantic_ai_model


def test_pydantic_ai_model_sync_with_a_provider(openai_fake) -> None:
    fake, url = openai_fake
    provider = OpenAIProvider(base_url=url, api_key=ofake.VALID_KEY)
    model = llmswitch.pydantic_ai_model(provider)  # health check + detection on the bridge loop
    assert model.model_name == ofake.AGENT_MODEL
    calls: list[dict] = []
    result = Agent(model, tools=weather_tools(calls)).run_sync("Weather in Paris?")
    assert result.output == "Tool said: Sunny, 21 C in Paris"
    assert llmswitch.pydantic_ai_model(provider) is model


def test_pydantic_ai_model_ref_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-123456")
    model = llmswitch.pydantic_ai_model("openai:gpt-4o-mini", test_connection=False)
    assert type(model) is OpenAIChatModel and model.model_name == "gpt-4o-mini"
    model = llmswitch.pydantic_ai_model("ollama:llama3.2:3b", test_connection=False) if OllamaProvider else None
    if model is not None:
        assert model.model_name == "llama3.2:3b"


def test_pydantic_ai_model_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(E.ConfigError, match="unknown provider"):
        llmswitch.pydantic_ai_model("nosuch:model", test_connection=False)


async def test_fallback_model_falls_back_to_the_next_provider(openai_fake, refused_url: str) -> None:
    fake, url = openai_fake
    down = create_provider("openai-compatible", base_url=refused_url, name="down")
    up = OpenAIProvider(base_url=url, api_key=ofake.VALID_KEY)
    model = await fallback_model_async([(down, "m"), (up, ofake.AGENT_MODEL)])
    assert isinstance(model, FallbackModel)
    assert [m.model_name for m in model.models] == ["m", ofake.AGENT_MODEL]
    calls: list[dict] = []
    result = await Agent(model, tools=weather_tools(calls)).run("Weather in Paris?")
    assert result.output == "Tool said: Sunny, 21 C in Paris"
    assert calls == [{"city": "Paris"}]
    await up.aclose()


def test_fallback_model_sync_from_refs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-123456")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-123456")
    model = fallback_model(["anthropic:claude-sonnet-4-5", "openai:gpt-4o-mini"])
    assert [type(m) for m in model.models] == [AnthropicModel, OpenAIChatModel]


def test_fallback_model_needs_a_chain_or_an_agent() -> None:
    with pytest.raises(TypeError):
        fallback_model()
    with pytest.raises(E.ConfigError):
        fallback_model([])


def test_fallback_members_fail_over_instead_of_retrying(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-123456")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-123456")
    model = fallback_model(["openai:gpt-4o-mini", "anthropic:claude-sonnet-4-5"])
    assert [m.client.max_retries for m in model.models] == [0, 2]  # the last keeps the SDK default
    single = llmswitch.pydantic_ai_model("openai:gpt-4o-mini", test_connection=False)
    assert single is not model.models[0] and single.client.max_retries == 2  # not shared with plain use


@pytest.fixture
def coder_config(tmp_path, monkeypatch: pytest.MonkeyPatch, openai_fake, refused_url: str):
    from llmswitch.registry import reset_default_registry

    _, url = openai_fake
    cfg = tmp_path / "llmswitch.yaml"
    cfg.write_text(
        "providers:\n"
        f"  down: {{type: openai-compatible, base_url: '{refused_url}', default_model: m}}\n"
        f"  up:   {{type: openai, base_url: '{url}', api_key: '${{FAKE_KEY}}', default_model: {ofake.AGENT_MODEL}}}\n"
        "agents:\n"
        "  coder: {provider: down, fallbacks: [up]}\n"
    )
    monkeypatch.setenv("FAKE_KEY", ofake.VALID_KEY)
    monkeypatch.setenv("LLMSWITCH_CONFIG", str(cfg))
    monkeypatch.setenv("LLMSWITCH_USAGE_LOG", "off")
    reset_default_registry()
    yield cfg
    reset_default_registry()


def test_fallback_model_for_a_configured_agent(coder_config) -> None:
    model = fallback_model(agent="coder")
    assert [m.model_name for m in model.models] == ["m", ofake.AGENT_MODEL]
    calls: list[dict] = []
    result = Agent(model, tools=weather_tools(calls)).run_sync("Weather in Paris?")
    assert result.output == "Tool said: Sunny, 21 C in Paris"
    assert calls == [{"city": "Paris"}]


def test_pydantic_ai_model_by_config_name(coder_config) -> None:
    model = llmswitch.pydantic_ai_model("up")  # a provider name from llmswitch.yaml, checked against its server
    assert model.model_name == ofake.AGENT_MODEL
    with pytest.raises(E.ProviderConnectionError):
        llmswitch.pydantic_ai_model("down")


def test_in_process_litellm_has_no_pydantic_ai_model() -> None:
    provider = create_provider("litellm")
    with pytest.raises(E.ConfigError, match="LiteLLM proxy"):
        provider.create_model("bedrock/anthropic.claude-3")
