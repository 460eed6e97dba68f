"""seeds/004 (llama.cpp provider and LlamaCppClient): its success criteria and examples.

The running server is the real llama-server (small bundled model, alias ``ALIAS``).
"""

from __future__ import annotations

import pytest

import llmswitch
from llmswitch import (
    LlamaCppClient,
    LlamaCppSettings,
    ProviderConnectionError,
    ProviderType,
    create_llamacpp_model,
    create_llamacpp_model_async,
    detect_llamacpp_model,
    llamacpp_health_check,
)
from llmswitch.local import LocalRuntime

from .conftest import ALIAS

pytestmark = pytest.mark.integration


def test_imports_ok() -> None:
    assert {"detect_llamacpp_model", "llamacpp_health_check", "create_llamacpp_model", "create_llamacpp_model_async",
            "LlamaCppClient", "LlamaCppSettings"} <= set(llmswitch.__all__)


def test_create_llamacpp_model_without_a_running_server() -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai.models import Model

    m = create_llamacpp_model(model_name="test", settings=LlamaCppSettings(base_url="http://127.0.0.1:9/v1"))
    assert isinstance(m, Model) and m.model_name == "test"
    assert type(m).__name__ in ("OpenAIChatModel", "OpenAIModel")  # OpenAIModel: the deprecated alias


async def test_health_check_server_not_running(dead_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMACPP_BASE_URL", dead_root + "/v1")
    h = await llamacpp_health_check()
    assert f"connected={h.connected}, provider={h.provider_type}" == "connected=False, provider=llamacpp"
    assert h.model_detected is False and "status" not in h.metadata and h.error


async def test_health_check_reads_health_then_models(llama_server: LocalRuntime) -> None:
    for url in (llama_server.url, llama_server.base_url):  # with or without /v1
        h = await llamacpp_health_check(LlamaCppSettings(base_url=url, timeout=10))
        assert (h.connected, h.model_detected, h.model_id) == (True, True, ALIAS)
        assert h.metadata["status"] == "ok" and h.provider_type is ProviderType.LLAMACPP


async def test_detect_uses_v1_models(llama_server: LocalRuntime) -> None:
    assert await detect_llamacpp_model(llama_server.url) == ALIAS


async def test_detect_server_not_running_raises(dead_root: str) -> None:
    with pytest.raises(ProviderConnectionError):
        await detect_llamacpp_model(dead_root + "/v1", timeout=2)


async def test_create_model_async_detects_and_tests(llama_server: LocalRuntime) -> None:
    pytest.importorskip("pydantic_ai")
    m = await create_llamacpp_model_async(settings=LlamaCppSettings(base_url=llama_server.url))
    assert m.model_name == ALIAS


async def test_create_model_async_server_not_running(dead_root: str) -> None:
    pytest.importorskip("pydantic_ai")
    with pytest.raises(ProviderConnectionError):
        await create_llamacpp_model_async(settings=LlamaCppSettings(base_url=dead_root + "/v1", timeout=2))


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LlamaCppSettings().base_url == "http://localhost:8080/v1" and LlamaCppSettings().timeout == 30
    monkeypatch.setenv("LLAMACPP_BASE_URL", "http://gpu-box:8081")
    monkeypatch.setenv("LLAMACPP_API_KEY", "sk-local-test-key")
    s = LlamaCppSettings()
    assert s.base_url == "http://gpu-box:8081" and s.api_key is not None
    assert s.api_key.get_secret_value() == "sk-local-test-key" and "sk-local" not in repr(s)


async def test_client_documented_calls(llama_server: LocalRuntime) -> None:
    async with LlamaCppClient(base_url=llama_server.url, timeout=30) as client:  # a /v1 suffix is tolerated
        assert client.base_url == llama_server.base_url and client.timeout == 30
        assert (await client.health_check())["status"] == "ok"
        assert await client.is_running() is True and await client.is_model_loaded() is True
        props = await client.get_props()
        assert "default_generation_settings" in props
        slots = await client.get_slots()
        assert isinstance(slots, list) and len(slots) == 1
        assert [m.id for m in await client.list_models()] == [ALIAS]


def test_client_default_timeout_is_the_documents() -> None:
    assert LlamaCppClient().timeout == 30


async def test_client_not_running(dead_root: str) -> None:
    async with LlamaCppClient(base_url=dead_root, timeout=2) as client:
        assert await client.is_running() is False and await client.is_model_loaded() is False
