"""``detect_llamacpp_model``, ``llamacpp_health_check``, ``create_llamacpp_model(_async)`` (document 004).

Each builds a :class:`~llmswitch.providers.llamacpp.LlamaCppProvider` from the settings and
calls its method. The provider's health check reads ``/health`` first (its status — ``ok``,
``loading`` … — lands in ``metadata["status"]``), then ``/v1/models``, as the document asks.
"""

from __future__ import annotations

from typing import Any

from ..providers.llamacpp import LlamaCppProvider
from ..types import ProviderHealthStatus
from .settings import LlamaCppSettings

__all__ = ["create_llamacpp_model", "create_llamacpp_model_async", "detect_llamacpp_model", "llamacpp_health_check"]


def _v1(url: str) -> str:
    """The OpenAI-compatible base URL: the documents' settings may give the server root."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _provider(settings: LlamaCppSettings, model_name: str | None = None) -> LlamaCppProvider:
    return LlamaCppProvider(
        base_url=_v1(settings.base_url),
        api_key=settings.api_key,
        default_model=model_name or settings.model_name,
        timeout=settings.timeout,
        health_timeout=settings.timeout,
    )


async def detect_llamacpp_model(base_url: str, timeout: float = 10) -> str | None:
    """The model llama-server serves (``/v1/models``: its ``--alias``, else the file name), or None.

    Raises ``ProviderConnectionError`` when nothing answers at ``base_url``."""
    async with _provider(LlamaCppSettings(base_url=base_url, timeout=timeout)) as provider:
        return await provider.detect_model()


async def llamacpp_health_check(settings: LlamaCppSettings | None = None) -> ProviderHealthStatus:
    """Connected and model detected, ``/health``'s status in ``metadata["status"]``; never raises."""
    async with _provider(settings or LlamaCppSettings()) as provider:
        return await provider.health_check()


def create_llamacpp_model(model_name: str | None = None, settings: LlamaCppSettings | None = None) -> Any:
    """The pydantic-ai model for llama-server (needs ``llmswitch[pydantic-ai]``); no request when
    a name is given (here or in the settings)."""
    s = settings or LlamaCppSettings()
    return _provider(s, model_name).create_model(model_name)


async def create_llamacpp_model_async(
    model_name: str | None = None,
    settings: LlamaCppSettings | None = None,
    auto_detect: bool = True,
    test_connection: bool = True,
) -> Any:
    """``create_llamacpp_model`` after a health check (``test_connection``) and, without a name,
    model detection (``auto_detect``)."""
    async with _provider(settings or LlamaCppSettings(), model_name) as provider:
        return await provider.create_model_async(model_name, auto_detect=auto_detect, test_connection=test_connection)
