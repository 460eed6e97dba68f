"""The design documents' module-level functions, as thin doors onto llmswitch's providers.

Code written to the documents in ``seeds/`` (003 Ollama, 004 llama.cpp) calls
``detect_ollama_model``, ``ollama_health_check``, ``create_ollama_model(_async)`` and their
llama.cpp twins with a small per-backend settings object. Each function here builds the
backend's provider (``providers/ollama.py``, ``providers/llamacpp.py``) from those settings
and calls the provider's own method: there is no second implementation of detection, health or
model creation to keep in step. ``llmswitch`` exports every name lazily.
"""

from __future__ import annotations

from .llamacpp import (
    create_llamacpp_model,
    create_llamacpp_model_async,
    detect_llamacpp_model,
    llamacpp_health_check,
)
from .ollama import (
    create_ollama_model,
    create_ollama_model_async,
    detect_ollama_model,
    ollama_health_check,
)
from .settings import LlamaCppSettings, OllamaSettings

__all__ = [
    "LlamaCppSettings",
    "OllamaSettings",
    "create_llamacpp_model",
    "create_llamacpp_model_async",
    "create_ollama_model",
    "create_ollama_model_async",
    "detect_llamacpp_model",
    "detect_ollama_model",
    "llamacpp_health_check",
    "ollama_health_check",
]
