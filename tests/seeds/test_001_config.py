"""seeds/001 "Configuration Example": the documents' YAML, verbatim, builds the registry they show;
``api_key="${VAR}"`` in code is expanded as in the file."""

from __future__ import annotations

import pytest

from llmswitch import ProviderRegistry
from llmswitch.config import infer_type, parse_config
from llmswitch.errors import ConfigError
from llmswitch.providers.anthropic import AnthropicProvider

DOCUMENTS_YAML = """
providers:
  claude_main:
    type: anthropic
    api_key: ${ANTHROPIC_API_KEY}
    default_model: claude-3-5-sonnet
    max_tokens: 8192

  openai_main:
    type: openai
    api_key: ${OPENAI_API_KEY}
    default_model: gpt-4o
    max_tokens: 8192

  azure_gpt:
    type: litellm
    api_key: ${AZURE_API_KEY}
    default_model: azure/gpt-4
    base_url: https://myorg.openai.azure.com
"""


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-doc-000000000")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-doc-00000000")
    monkeypatch.setenv("AZURE_API_KEY", "azure-doc-key-00000000")


def test_the_documents_yaml_builds_the_registry_they_show(keys: None) -> None:
    config = parse_config(DOCUMENTS_YAML)
    assert config.providers["claude_main"].default_max_tokens == 8192
    registry = ProviderRegistry.from_config(config.providers)
    provider = registry.get("claude_main")
    assert isinstance(provider, AnthropicProvider) and provider.default_max_tokens == 8192
    assert provider.default_model == "claude-3-5-sonnet"
    assert registry.get("openai_main").default_max_tokens == 8192
    assert registry.get("azure_gpt").base_url == "https://myorg.openai.azure.com"


def test_max_tokens_and_default_max_tokens_together_are_an_error(keys: None) -> None:
    with pytest.raises(ConfigError, match="max_tokens and default_max_tokens given both"):
        parse_config("providers:\n  a: {type: openai, max_tokens: 5, default_max_tokens: 6}\n")


def test_the_type_is_inferred_when_the_name_or_model_makes_it_unambiguous(keys: None) -> None:
    config = parse_config(
        "providers:\n"
        "  claude_main: {default_model: claude-3-5-sonnet}\n"
        "  openai_main: {default_model: gpt-4o}\n"
        "  writer: {default_model: claude-haiku-4-5}\n"
    )
    assert {n: p.type for n, p in config.providers.items()} == {
        "claude_main": "anthropic", "openai_main": "openai", "writer": "anthropic",
    }
    assert infer_type("claude_main", "gpt-4o") is None  # two types claim it: not guessed
    assert infer_type("azure_gpt", "azure/gpt-4") is None
    with pytest.raises(ConfigError) as info:
        parse_config("providers:\n  mystery: {default_model: llama3}\n")
    assert "provider 'mystery': 'type' is required (neither the name nor the model tells which; one of " in str(info.value)


def test_a_var_in_a_constructor_api_key_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-123456")
    provider = AnthropicProvider(api_key="${ANTHROPIC_API_KEY}")
    assert provider.api_key is not None and provider.api_key.get_secret_value() == "sk-ant-from-env-123456"
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ConfigError) as info:
        AnthropicProvider(api_key="${ANTHROPIC_API_KEY}")
    assert str(info.value).startswith("api_key names ${ANTHROPIC_API_KEY}, which is not set")
    assert AnthropicProvider(api_key="${NOT_SET_EITHER:-sk-default-key-0000}").api_key.get_secret_value() == "sk-default-key-0000"
