"""seeds/001 (the provider layer's summary): its usage examples and the names it lists.

The provider is ``OllamaProvider`` on the Ollama fake; the registry is built the ways the
document builds it.
"""

from __future__ import annotations

import pytest

from llmswitch import LLMMessage, ProviderRegistry, TokenUsage
from llmswitch.errors import ConfigError
from llmswitch.providers.ollama import OllamaProvider
from tests.fakes.ollama_server import FakeOllama


async def test_basic_completion_content_is_the_text(ollama: FakeOllama) -> None:
    async with OllamaProvider(base_url=ollama.url, default_model="llama3.2") as provider:
        response = await provider.complete([LLMMessage(role="user", content="Hello!")])
    assert response.content == response.text == "The sky is blue because of Rayleigh scattering."


async def test_streaming_loop_prints_the_text(ollama: FakeOllama, capsys: pytest.CaptureFixture[str]) -> None:
    """``async for chunk in provider.stream([message]): print(chunk, end="")`` prints the answer:
    stream events stay events (usage, tool calls, thinking), and ``str()`` of each is its text."""
    message = LLMMessage(role="user", content="Why is the sky blue?")
    async with OllamaProvider(base_url=ollama.url, default_model="llama3.2") as provider:
        async for chunk in provider.stream([message]):
            print(chunk, end="", flush=True)
        assert capsys.readouterr().out == "The sky is blue because of Rayleigh scattering."
        texts = [t async for t in provider.stream([message]).text()]  # the explicit way, same text
    assert "".join(texts) == "The sky is blue because of Rayleigh scattering."


async def test_capability_methods(ollama: FakeOllama) -> None:
    provider = OllamaProvider(base_url=ollama.url)
    caps = provider.capabilities
    assert provider.supports_tools() is caps.tools is True
    assert provider.supports_thinking() is caps.thinking is True
    assert provider.supports_code_execution() is False


async def test_usage_tracking(ollama: FakeOllama) -> None:
    registry = ProviderRegistry()
    async with OllamaProvider(base_url=ollama.url, default_model="llama3.2") as provider:
        registry.register("local", provider)
        await provider.complete("hi")
        usage = provider.get_usage()
        assert isinstance(usage, TokenUsage) and usage.calls == 1 and usage.input_tokens == 26 and usage.output_tokens == 15
        await provider.complete("again")
        assert usage.calls == 1 and provider.get_usage().calls == 2  # get_usage() is a snapshot
        summary = registry.get_usage_summary()
        assert summary["local"]["cost_usd"] == 0.0 and summary["local"]["calls"] == 2
        assert f"Total cost: ${summary['total']['cost_usd']:.2f}" == "Total cost: $0.00"
        assert summary["total"]["calls"] == 2 and summary["total"]["input_tokens"] == 52
        provider.reset_usage()
        assert provider.get_usage() == TokenUsage() and registry.get_usage_summary()["total"]["calls"] == 0


def test_from_config_takes_a_plain_dict_of_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEED_TEST_OPENAI_KEY", "sk-seed-test-0123456789")
    registry = ProviderRegistry.from_config(
        {"openai_main": {"type": "openai", "api_key": "${SEED_TEST_OPENAI_KEY}", "default_model": "gpt-4o"},
         "local": {"type": "ollama", "base_url": "http://127.0.0.1:9"}},
        enable_log=False,
    )
    assert registry.list_providers() == ["openai_main", "local"] and len(registry) == 2 and "local" in registry
    key = registry.get("openai_main").api_key
    assert key is not None and key.get_secret_value() == "sk-seed-test-0123456789"  # ${VAR} expanded


def test_from_config_takes_a_whole_config_dict_and_config_objects() -> None:
    whole = {"providers": {"local": {"type": "ollama"}}, "agents": {"coder": {"provider": "local"}}}
    registry = ProviderRegistry.from_config(whole, enable_log=False)
    assert type(registry.get_for_agent("coder")).__name__ == "OllamaProvider"
    # the providers of a parsed config (ProviderConfig objects), as the document passes config.providers
    again = ProviderRegistry.from_config(registry.config.providers, enable_log=False)  # type: ignore[union-attr]
    assert again.list_providers() == ["local"]


def test_from_config_dict_errors_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEED_TEST_MISSING", raising=False)
    with pytest.raises(ConfigError, match="SEED_TEST_MISSING"):
        ProviderRegistry.from_config({"x": {"type": "openai", "api_key": "${SEED_TEST_MISSING}"}}, enable_log=False)


def test_get_for_agent_with_an_agents_config() -> None:
    registry = ProviderRegistry.from_config(
        {"a": {"type": "ollama"}, "b": {"type": "lmstudio"}}, enable_log=False
    )
    agents_config = {"coder": {"provider": "b", "model": "x"}, "reviewer": "a"}
    assert registry.get_for_agent("coder", agents_config) is registry.get("b")
    assert registry.get_for_agent("reviewer", agents_config) is registry.get("a")
    with pytest.raises(KeyError, match="no agent named 'writer'"):
        registry.get_for_agent("writer", agents_config)
    with pytest.raises(KeyError, match="no provider named 'zzz'"):
        registry.get_for_agent("coder", {"coder": {"provider": "zzz"}})


def test_register_rejects_what_is_not_a_provider() -> None:
    registry = ProviderRegistry()
    with pytest.raises(TypeError, match="needs a provider .* not dict"):
        registry.register("claude_main", {"type": "anthropic"})  # type: ignore[arg-type]
    assert len(registry) == 0
