"""seeds/003 (Ollama provider and OllamaClient): its success criteria and examples.

"Server not running" is a closed loopback port; the running server is the Ollama fake.
"""

from __future__ import annotations

import pytest

import llmswitch
from llmswitch import (
    OllamaClient,
    OllamaSettings,
    ProviderConnectionError,
    ProviderType,
    create_ollama_model,
    create_ollama_model_async,
    detect_ollama_model,
    ollama_health_check,
)
from tests.fakes.ollama_server import FakeOllama


def test_imports_ok() -> None:
    from llmswitch import (  # noqa: F401
        OllamaClient,
        create_ollama_model,
        ollama_health_check,
    )
    from llmswitch.doors.ollama import create_ollama_model_async, detect_ollama_model  # noqa: F401

    assert {"detect_ollama_model", "ollama_health_check", "create_ollama_model", "create_ollama_model_async"} <= set(
        llmswitch.__all__
    )


def test_create_ollama_model_without_a_running_server() -> None:
    """Expected in the document: ``OpenAIModel``; pydantic-ai renamed it (``OpenAIModel`` is now a
    deprecated alias of ``OpenAIChatModel``) and has ``OllamaModel`` for Ollama: a pydantic-ai
    model named ``test``, built without any request."""
    pytest.importorskip("pydantic_ai")
    from pydantic_ai.models import Model

    m = create_ollama_model(model_name="test", settings=OllamaSettings(base_url="http://127.0.0.1:9/v1"))
    assert isinstance(m, Model) and m.model_name == "test"
    assert type(m).__name__ in ("OllamaModel", "OpenAIChatModel", "OpenAIModel")


async def test_health_check_server_not_running(dead_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", dead_root + "/v1")  # ollama_health_check() reads the environment
    h = await ollama_health_check()
    assert f"connected={h.connected}, provider={h.provider_type}" == "connected=False, provider=ollama"
    assert h.model_detected is False and h.error and dead_root.split("//")[1] in h.error


async def test_health_check_with_models(ollama: FakeOllama) -> None:
    h = await ollama_health_check(OllamaSettings(base_url=ollama.url + "/v1"))
    assert (h.connected, h.model_detected, h.model_id, h.provider_type) == (True, True, "llama3.2:latest", ProviderType.OLLAMA)
    assert h.error is None


async def test_health_check_reports_an_empty_server(ollama: FakeOllama) -> None:
    ollama.models.clear()
    h = await ollama_health_check(OllamaSettings(base_url=ollama.url))
    assert h.connected is True and h.model_detected is False and h.model_id is None


async def test_detect_uses_the_native_tags_endpoint(ollama: FakeOllama) -> None:
    assert await detect_ollama_model(ollama.url + "/v1", timeout=5) == "llama3.2:latest"
    assert ("GET", "/api/tags", None) in ollama.requests and not any(p.startswith("/v1") for _, p, _ in ollama.requests)


async def test_detect_on_an_empty_server_is_none(ollama: FakeOllama) -> None:
    ollama.models.clear()
    assert await detect_ollama_model(ollama.url) is None


async def test_detect_server_not_running_raises(dead_root: str) -> None:
    with pytest.raises(ProviderConnectionError) as info:
        await detect_ollama_model(dead_root + "/v1", timeout=2)
    assert dead_root.split("//")[1] in str(info.value)


async def test_create_model_async_detects_the_model(ollama: FakeOllama) -> None:
    pytest.importorskip("pydantic_ai")
    m = await create_ollama_model_async(settings=OllamaSettings(base_url=ollama.url + "/v1"))
    assert m.model_name == "llama3.2:latest"


async def test_create_model_async_on_an_empty_server_says_to_pull(ollama: FakeOllama) -> None:
    pytest.importorskip("pydantic_ai")
    ollama.models.clear()
    with pytest.raises(llmswitch.ModelNotFoundError) as info:
        await create_ollama_model_async(settings=OllamaSettings(base_url=ollama.url))
    assert "pull" in str(info.value)


async def test_create_model_async_server_not_running(dead_root: str) -> None:
    pytest.importorskip("pydantic_ai")
    with pytest.raises(ProviderConnectionError):
        await create_ollama_model_async("llama3.2", settings=OllamaSettings(base_url=dead_root, timeout=2))


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://ollama.internal:11434/v1/")
    monkeypatch.setenv("OLLAMA_MODEL_NAME", "qwen3:8b")
    monkeypatch.setenv("OLLAMA_TIMEOUT", "7")
    s = OllamaSettings()
    assert (s.base_url, s.model_name, s.timeout, s.api_key) == ("http://ollama.internal:11434/v1", "qwen3:8b", 7.0, None)
    assert OllamaSettings(timeout=3).timeout == 3.0  # a keyword wins
    monkeypatch.delenv("OLLAMA_BASE_URL")
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11500")  # Ollama's own variable, as its provider reads it
    assert OllamaSettings().base_url == "http://127.0.0.1:11500"


async def test_client_takes_the_documented_keywords(ollama: FakeOllama) -> None:
    async with OllamaClient(base_url=ollama.url + "/v1", timeout=60) as client:
        assert client.base_url == ollama.url and client.timeout == 60
        assert await client.is_running() is True
        names = [m.id for m in await client.list_models()]
        assert names == ["llama3.2:latest", "codellama:7b"]
        info = await client.get_model_info("llama3.2")
        assert info.family == "llama"
        assert await client.delete_model("codellama:7b") is True
        assert "codellama:7b" not in ollama.models


def test_client_default_timeout_is_the_documents() -> None:
    assert OllamaClient().timeout == 60
    with pytest.raises(ValueError, match="two addresses"):
        OllamaClient("http://a:1", base_url="http://b:2")


async def test_client_is_running_false_when_down(dead_root: str) -> None:
    async with OllamaClient(base_url=dead_root, timeout=2) as client:
        assert await client.is_running() is False
