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
from typing import Any

from .. import hooks
from ..types import Usage

__all__ = ["price_usage", "GENAI_PROVIDER_IDS"]

# Our provider type → genai-prices provider id. Types that are absent are not priced (a
# self-hosted OpenAI-compatible server is not OpenAI); LiteLLM names the upstream in the model.
GENAI_PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "openrouter": "openrouter",
}
_LITELLM_PREFIXES: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "openrouter": "openrouter",
    "gemini": "google",
    "vertex_ai": "google",
    "groq": "groq",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "together_ai": "together",
    "bedrock": "aws",
    "azure": "azure",
    "x-ai": "x-ai",
    "xai": "x-ai",
}


@functools.lru_cache(maxsize=1)
def _genai() -> Any:
    import genai_prices

    return genai_prices


def _target(provider_type: str, model: str) -> tuple[str, str] | None:
    if provider_type == "litellm":
        prefix, sep, rest = model.partition("/")
        if sep and prefix in _LITELLM_PREFIXES:
            return _LITELLM_PREFIXES[prefix], rest
        return None
    pid = GENAI_PROVIDER_IDS.get(provider_type)
    return (pid, model) if pid else None


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
