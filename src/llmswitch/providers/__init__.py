"""Provider classes by type name, imported only when first used.

Third parties add a type through the ``llmswitch.providers`` entry-point group
(``mytype = "mypkg.module:MyProvider"``).
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

from .base import BaseProvider, LLMProviderProtocol, add_call_observer, remove_call_observer

__all__ = [
    "BaseProvider",
    "LLMProviderProtocol",
    "PROVIDER_TABLE",
    "provider_class",
    "create_provider",
    "known_types",
    "canonical_type",
    "add_call_observer",
    "remove_call_observer",
    "CloudDefault",
    "provider_classes",
    "local_defaults",
    "cloud_defaults",
]

PROVIDER_TABLE: dict[str, str] = {
    "openai": "llmswitch.providers.openai:OpenAIProvider",
    "openrouter": "llmswitch.providers.openrouter:OpenRouterProvider",
    "lmstudio": "llmswitch.providers.lmstudio:LMStudioProvider",
    "vllm": "llmswitch.providers.vllm:VLLMProvider",
    "openai-compatible": "llmswitch.providers.openai_compat:OpenAICompatibleProvider",
    "llamacpp": "llmswitch.providers.llamacpp:LlamaCppProvider",
    "ollama": "llmswitch.providers.ollama:OllamaProvider",
    "anthropic": "llmswitch.providers.anthropic:AnthropicProvider",
    "litellm": "llmswitch.providers.litellm:LiteLLMProvider",
}
_ALIASES = {
    "openai_compatible": "openai-compatible",
    "compatible": "openai-compatible",
    "llama.cpp": "llamacpp",
    "llama-cpp": "llamacpp",
}
_entry_points_loaded = False


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="llmswitch.providers"):
        PROVIDER_TABLE.setdefault(ep.name, ep.value)


def known_types() -> list[str]:
    """Every provider type name, built in or from an entry point, for listings and error messages."""
    _load_entry_points()
    return sorted(PROVIDER_TABLE)


def canonical_type(type_name: str) -> str | None:
    """The provider type a name or alias stands for (``compatible`` → ``openai-compatible``), or
    None: the one alias table, used by ``create_provider`` and the module API alike."""
    key = _ALIASES.get(type_name.lower(), type_name.lower())
    if key not in PROVIDER_TABLE:
        _load_entry_points()
    return key if key in PROVIDER_TABLE else None


def provider_class(type_name: str) -> type[BaseProvider]:
    """The class for a type name or alias, imported only now, so unused providers cost no import."""
    key = _ALIASES.get(type_name.lower(), type_name.lower())
    target = PROVIDER_TABLE.get(key)
    if target is None:
        _load_entry_points()
        target = PROVIDER_TABLE.get(key)
    if target is None:
        from ..errors import ConfigError

        raise ConfigError(f"unknown provider type {type_name!r}; known: {', '.join(known_types())}")
    module, _, attr = target.partition(":")
    cls: type[BaseProvider] = getattr(importlib.import_module(module), attr)
    return cls


def create_provider(type_name: str, **kwargs: Any) -> BaseProvider:
    """A provider of the given type, built with ``kwargs`` (base_url, api_key, default_model, ...)."""
    return provider_class(type_name)(**kwargs)


# --- what the provider classes declare: auto's, doctor's and config init's defaults ----------


class CloudDefault(NamedTuple):
    """A cloud type ``auto`` may pick: its type name, the env var of its key, the model it names."""

    type_name: str
    key_env: str
    model: str | None


def provider_classes() -> list[type[BaseProvider]]:
    """Every provider class that can be imported here (a type whose optional package is missing,
    or whose entry point is broken, is left out rather than breaking detection)."""
    known_types()  # loads the entry points
    out: list[type[BaseProvider]] = []
    for type_name in PROVIDER_TABLE:
        try:
            out.append(provider_class(type_name))
        except Exception:  # noqa: BLE001 - one broken third-party type must not hide the others
            continue
    return out


def local_defaults() -> list[tuple[str, str]]:
    """(type, default base URL) of the local servers ``auto`` probes, in their declared order."""
    ranked = [c for c in provider_classes() if c.is_local and c.auto_rank is not None and c.default_base_url]
    ranked.sort(key=lambda c: c.auto_rank or 0)
    return [(c.provider_type.value, c.default_base_url) for c in ranked]


def cloud_defaults() -> list[CloudDefault]:
    """The cloud types ``auto`` may pick when their key is set, in their declared order."""
    ranked = [c for c in provider_classes() if not c.is_local and c.auto_rank is not None and c.api_key_env]
    ranked.sort(key=lambda c: c.auto_rank or 0)
    return [CloudDefault(c.provider_type.value, c.api_key_env or "", c.default_chat_model) for c in ranked]
