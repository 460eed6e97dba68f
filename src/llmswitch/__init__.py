"""llmswitch: one API for every LLM backend, cloud and local.

Importing the package is cheap: types, errors and hooks load at once, everything that pulls in
aiohttp, pydantic or a provider SDK loads on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import hooks as _hooks
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .types import *  # noqa: F401,F403
from .types import __all__ as _types_all

# The package root is the top layer: it plugs stand-ins for the default subscribers into the
# extension points the call path defines (``llmswitch.hooks``), so that providers/ never imports
# usage/ or integrations/ and ``import llmswitch`` stays light. Each stand-in imports its module
# on first use; the module then registers itself, replacing the stand-in.


def _price_usage(provider_type: str, model: str, usage: Any) -> float | None:
    try:
        from .usage.pricing import price_usage  # sets itself as the pricer
    except ImportError:  # pragma: no cover - our own module; kept as before: no price, no error
        _hooks.set_pricer(None)
        return None
    return price_usage(provider_type, model, usage)


def _create_model(provider: Any, model_name: str | None = None) -> Any:
    # the module sets its own create_model/create_model_async as the model factory
    from .integrations.pydantic_ai import create_model

    return create_model(provider, model_name)


async def _create_model_async(provider: Any, model_name: str | None = None, **kwargs: Any) -> Any:
    from .integrations.pydantic_ai import create_model_async

    return await create_model_async(provider, model_name, **kwargs)


_hooks.set_pricer(_price_usage)
_hooks.set_model_factory(_create_model, _create_model_async)

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "complete": "llmswitch.api",
    "acomplete": "llmswitch.api",
    "stream": "llmswitch.api",
    "astream": "llmswitch.api",
    "get_provider": "llmswitch.api",
    "parse_model_ref": "llmswitch.api",
    "ResponseStream": "llmswitch._streaming",
    "AsyncBridge": "llmswitch._bridge",
    "BaseProvider": "llmswitch.providers.base",
    "LLMProviderProtocol": "llmswitch.providers.base",
    "add_call_observer": "llmswitch.hooks",
    "add_hook": "llmswitch.hooks",
    "remove_hook": "llmswitch.hooks",
    "create_provider": "llmswitch.providers",
    "ProviderRegistry": "llmswitch.registry",
    "CircuitBreaker": "llmswitch.routing",
    "CircuitState": "llmswitch.routing",
    "RetryPolicy": "llmswitch.routing",
    "FallbackProvider": "llmswitch.providers.fallback",
    "default_registry": "llmswitch.registry",
    "load_config": "llmswitch.config",
    "LLMSwitchConfig": "llmswitch.config",
    "enable_usage_log": "llmswitch.usage.log",
    "agent_scope": "llmswitch.usage.log",
    "LocalRuntime": "llmswitch.local",
    "OllamaClient": "llmswitch.management.ollama",
    "LlamaCppClient": "llmswitch.management.llamacpp",
    "LMStudioClient": "llmswitch.management.lmstudio",
    "pydantic_ai_model": "llmswitch.integrations.pydantic_ai",
    "pydantic_ai_model_async": "llmswitch.integrations.pydantic_ai",
    "fallback_model": "llmswitch.integrations.pydantic_ai",
    # the design documents' module-level functions and settings (seeds/003, seeds/004)
    "detect_ollama_model": "llmswitch.doors",
    "ollama_health_check": "llmswitch.doors",
    "create_ollama_model": "llmswitch.doors",
    "create_ollama_model_async": "llmswitch.doors",
    "detect_llamacpp_model": "llmswitch.doors",
    "llamacpp_health_check": "llmswitch.doors",
    "create_llamacpp_model": "llmswitch.doors",
    "create_llamacpp_model_async": "llmswitch.doors",
    "OllamaSettings": "llmswitch.doors",
    "LlamaCppSettings": "llmswitch.doors",
}

__all__ = sorted({*_errors_all, *_types_all, *_LAZY, "__version__"})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmswitch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from ._bridge import AsyncBridge  # noqa: F401
    from ._streaming import ResponseStream  # noqa: F401
    from .api import acomplete, astream, complete, get_provider, parse_model_ref, stream  # noqa: F401
    from .doors import (  # noqa: F401
        LlamaCppSettings,
        OllamaSettings,
        create_llamacpp_model,
        create_llamacpp_model_async,
        create_ollama_model,
        create_ollama_model_async,
        detect_llamacpp_model,
        detect_ollama_model,
        llamacpp_health_check,
        ollama_health_check,
    )
    from .hooks import add_call_observer, add_hook, remove_hook  # noqa: F401
    from .providers.base import BaseProvider, LLMProviderProtocol  # noqa: F401
    from .providers.fallback import FallbackProvider  # noqa: F401
    from .routing import CircuitBreaker, CircuitState, RetryPolicy  # noqa: F401
