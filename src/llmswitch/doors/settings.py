"""Per-backend settings for the documents' functions, read from ``OLLAMA_*`` / ``LLAMACPP_*``.

The documents pass a settings object (``settings=None`` meaning "the environment's"), with
``base_url`` (with or without ``/v1``), ``api_key``, ``model_name`` and ``timeout``. These are
pydantic-settings models, so ``OllamaSettings()`` reads ``OLLAMA_BASE_URL``, ``OLLAMA_API_KEY``,
``OLLAMA_MODEL_NAME``, ``OLLAMA_TIMEOUT`` (and ``LLAMACPP_…`` likewise) at construction, and
explicit keywords win. ``OLLAMA_HOST`` (Ollama's own variable, which the Ollama provider also
reads) is the fallback for Ollama's address; ``LLAMACPP_BASE_URL`` and ``LLAMACPP_API_KEY`` are
the names the llama.cpp provider reads too, so one environment configures both paths.
"""

from __future__ import annotations

import os

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LlamaCppSettings", "OllamaSettings"]


def _ollama_default_url() -> str:
    """``$OLLAMA_HOST`` as the Ollama provider reads it, else the default local server."""
    from ..management.ollama import resolve_host

    return resolve_host(os.environ.get("OLLAMA_HOST") or None)


class _BackendSettings(BaseSettings):
    """The four fields both documents use; ``timeout`` bounds each call (and each health probe)."""

    base_url: str
    api_key: SecretStr | None = None
    model_name: str | None = None
    timeout: float = Field(default=30.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v:
            raise ValueError("base_url is empty")
        return v

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v


class OllamaSettings(_BackendSettings):
    """Ollama: ``OLLAMA_BASE_URL`` (else ``OLLAMA_HOST``, else ``http://localhost:11434``), with or
    without ``/v1``; ``OLLAMA_API_KEY`` (ollama.com only); ``OLLAMA_MODEL_NAME``; ``OLLAMA_TIMEOUT``."""

    model_config = SettingsConfigDict(env_prefix="OLLAMA_", extra="ignore")

    base_url: str = Field(default_factory=_ollama_default_url)
    timeout: float = Field(default=60.0, gt=0)


class LlamaCppSettings(_BackendSettings):
    """llama-server: ``LLAMACPP_BASE_URL`` (default ``http://localhost:8080/v1``; the root works too),
    ``LLAMACPP_API_KEY`` (servers started with ``--api-key``), ``LLAMACPP_MODEL_NAME``,
    ``LLAMACPP_TIMEOUT``."""

    model_config = SettingsConfigDict(env_prefix="LLAMACPP_", extra="ignore")

    base_url: str = "http://localhost:8080/v1"
