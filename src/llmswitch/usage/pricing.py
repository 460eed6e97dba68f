"""Dollar cost of a call from token counts, using the ``genai-prices`` package.

Why genai-prices: it carries dated, per-provider price tables (cache reads and writes priced
separately, tiered prices) that we would otherwise copy and let rot. It is the optional extra
``llmswitch[prices]`` and is imported on the first priced call only.

Importing this module sets ``price_usage`` as the call path's pricer (``llmswitch.hooks``); until
then the package root's stand-in imports it on the first priced call, so every call is priced
without ``providers/`` importing ``usage/``.

Conventions that must line up:
  * our ``Usage.input_tokens`` counts every prompt token, cache reads and writes included;
    genai-prices' ``Usage.input_tokens`` means the same (it subtracts the cache tokens and
    prices them at their own rates), so the counts pass through unchanged.
  * reasoning tokens are part of ``output_tokens`` on every wire we speak and are not passed
    again (that would price them twice).
  * an unknown model or provider is ``None`` — unknown, never $0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .. import hooks
from ..errors import ConfigError
from ..types import Usage

__all__ = ["GENAI_PROVIDER_IDS", "price_usage"]  # noqa: F822 - GENAI_PROVIDER_IDS comes from __getattr__

# What is priced, and under which genai-prices provider id, is declared on the provider classes
# (``genai_prices_id``, and ``price_target`` where the model names the upstream, as LiteLLM's
# ``gemini/...`` does); a type without one is not priced (a self-hosted server is not OpenAI).


@functools.lru_cache(maxsize=64)
def _price_target_of(provider_type: str) -> Callable[[str], tuple[str, str] | None] | None:
    """The provider class's ``price_target`` for a type name (entry-point types included), or None
    for a name that is no provider type. Cached: the call path prices every call."""
    from ..providers import provider_class

    try:
        return provider_class(provider_type).price_target
    except (ConfigError, ImportError):  # an unknown type, or its module cannot be imported: not priced
        return None


def __getattr__(name: str) -> Any:
    """``GENAI_PROVIDER_IDS`` (type → genai-prices id, built-in types), derived from the classes."""
    if name == "GENAI_PROVIDER_IDS":
        from ..providers import PROVIDER_TABLE, provider_class

        out: dict[str, str] = {}
        for t in PROVIDER_TABLE:
            try:
                pid = provider_class(t).genai_prices_id
            except ImportError:  # an entry-point type whose module cannot be imported: not priced
                pid = None
            if pid:
                out[t] = pid
        return out
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=1)
def _genai() -> Any:
    import genai_prices

    return genai_prices


def _target(provider_type: str, model: str) -> tuple[str, str] | None:
    price_target = _price_target_of(provider_type)
    return price_target(model) if price_target is not None else None


@functools.lru_cache(maxsize=1024)
def _known(provider_id: str, model: str) -> bool:
    """Whether genai-prices knows this model; cached because the lookup scans its tables."""
    try:
        _genai().calc_price(_genai().Usage(input_tokens=0), model, provider_id=provider_id)
        return True
    except LookupError:
        return False


def price_usage(provider_type: str, model: str, usage: Usage) -> float | None:
    """USD for one call, or None when the price is unknown (or genai-prices is not installed)."""
    if not model or not usage.known:
        return None
    target = _target(provider_type, model)
    if target is None:
        return None
    try:
        _genai()
    except ImportError:
        return None
    pid, model_ref = target
    if not _known(pid, model_ref):
        return None
    return _calc(pid, model_ref, usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)


@functools.lru_cache(maxsize=4096)
def _calc(pid: str, model_ref: str, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> float | None:
    """Cached because a price look-up costs ~0.1 ms and agents repeat the same shapes often."""
    gp = _genai()
    kw: dict[str, int] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cache_read:
        kw["cache_read_tokens"] = cache_read
    if cache_write:
        kw["cache_write_tokens"] = cache_write
    try:
        result = gp.calc_price(gp.Usage(**kw), model_ref, provider_id=pid)
    except (LookupError, ValueError):
        return None
    return float(result.total_price)


hooks.set_pricer(price_usage)
