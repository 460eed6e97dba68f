"""``detect_ollama_model``, ``ollama_health_check``, ``create_ollama_model(_async)`` (document 003).

Each builds an :class:`~llmswitch.providers.ollama.OllamaProvider` from the settings and calls
its method; errors are llmswitch's (``ProviderConnectionError`` when nothing answers,
``ModelNotFoundError`` when there is no model), each naming the URL and the fix.
"""

from __future__ import annotations

from typing import Any

from ..providers.ollama import OllamaProvider
from ..types import ProviderHealthStatus
from .settings import OllamaSettings

__all__ = ["create_ollama_model", "create_ollama_model_async", "detect_ollama_model", "ollama_health_check"]


def _provider(settings: OllamaSettings, model_name: str | None = None) -> OllamaProvider:
    return OllamaProvider(
        base_url=settings.base_url,  # `/v1` or not: the provider normalises Ollama addresses
        api_key=settings.api_key,
        default_model=model_name or settings.model_name,
        timeout=settings.timeout,
        health_timeout=settings.timeout,
    )


async def detect_ollama_model(base_url: str, timeout: float = 10) -> str | None:
    """The model Ollama offers (native ``/api/tags``; a loaded one first), or None when it has none.

    Raises ``ProviderConnectionError`` when nothing answers at ``base_url``."""
    async with _provider(OllamaSettings(base_url=base_url, timeout=timeout)) as provider:
        return await provider.detect_model()


async def ollama_health_check(settings: OllamaSettings | None = None) -> ProviderHealthStatus:
    """Connected and model detected; never raises (a failure is in ``error``)."""
    async with _provider(settings or OllamaSettings()) as provider:
        return await provider.health_check()


def create_ollama_model(model_name: str | None = None, settings: OllamaSettings | None = None) -> Any:
    """The pydantic-ai model for Ollama (needs ``llmswitch[pydantic-ai]``); no request when a
    name is given (here or in the settings)."""
    s = settings or OllamaSettings()
    return _provider(s, model_name).create_model(model_name)


async def create_ollama_model_async(
    model_name: str | None = None,
    settings: OllamaSettings | None = None,
    auto_detect: bool = True,
    test_connection: bool = True,
) -> Any:
    """``create_ollama_model`` after a health check (``test_connection``) and, without a name,
    model detection (``auto_detect``)."""
    async with _provider(settings or OllamaSettings(), model_name) as provider:
        return await provider.create_model_async(model_name, auto_detect=auto_detect, test_connection=test_connection)
