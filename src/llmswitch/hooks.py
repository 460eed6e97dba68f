"""The extension points of the call path: defined here, below ``providers/``, filled from above.

``providers/`` runs these on every call and imports nothing that fills them, so the call path
never imports ``usage/`` or ``integrations/`` (imports only point down; ``tests/test_layers.py``):

* call observers — ``usage.log`` adds one while a usage log is enabled; users add their own
  (``llmswitch.add_call_observer``);
* the pricer — ``usage.pricing`` sets ``price_usage`` when imported; it fills
  ``Response.usage.cost`` when the provider did not report one;
* the model factory — ``integrations.pydantic_ai`` sets it when imported;
  ``provider.create_model()`` and ``create_model_async()`` build the pydantic-ai model through it.

The package root (``llmswitch/__init__``, the top layer) sets stand-ins for the last two that
import their module on first use (which then replaces the stand-in), so every program that
imports any part of llmswitch prices its calls and can build models, while ``import llmswitch``
loads neither ``usage/`` nor ``integrations/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .providers.base import BaseProvider
    from .types import Response, Usage

__all__ = [
    "CallObserver",
    "Pricer",
    "add_call_observer",
    "model_factory",
    "remove_call_observer",
    "set_model_factory",
    "set_pricer",
]

CallObserver = Callable[["BaseProvider", str, "Response | None", "BaseException | None", float], None]
"""Called after every call: (provider, model, response or None, error or None, seconds)."""

Pricer = Callable[[str, str, "Usage"], "float | None"]
"""(provider type, model, usage) → USD, or None when the price is unknown."""

call_observers: list[CallObserver] = []
"""Read on every call by ``BaseProvider._record`` (the same list object, bound once)."""

pricer: list[Pricer] = []
"""Zero or one pricer; a list so the call path reads it without a function call."""

_model_factory: list[tuple[Callable[..., Any], Callable[..., Awaitable[Any]]]] = []


def add_call_observer(fn: CallObserver) -> None:
    """Hook for usage logs and metrics; observers must be cheap and must not raise."""
    if fn not in call_observers:
        call_observers.append(fn)


def remove_call_observer(fn: CallObserver) -> None:
    """Stop calling an observer (a closed usage log); removing one not added is not an error."""
    if fn in call_observers:
        call_observers.remove(fn)


def set_pricer(fn: Pricer | None) -> None:
    """The function that prices a call the provider did not price; None turns pricing off."""
    pricer[:] = [fn] if fn is not None else []


def set_model_factory(create_model: Callable[..., Any], create_model_async: Callable[..., Awaitable[Any]]) -> None:
    """What ``BaseProvider.create_model`` / ``create_model_async`` delegate to:
    ``create_model(provider, model_name)`` and
    ``create_model_async(provider, model_name, auto_detect=..., test_connection=...)``."""
    _model_factory[:] = [(create_model, create_model_async)]


def model_factory() -> tuple[Callable[..., Any], Callable[..., Awaitable[Any]]]:
    """The registered ``(create_model, create_model_async)``; ImportError names the module to import when none is."""
    if not _model_factory:
        raise ImportError(
            "no model factory is registered for provider.create_model(): import llmswitch.integrations.pydantic_ai"
        )
    return _model_factory[0]
