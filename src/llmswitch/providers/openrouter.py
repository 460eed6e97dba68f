"""OpenRouter: OpenAI-compatible, always reports usage (and its cost) in the last chunk.

What differs from a plain compatible server (``reference/wire-protocols.md`` §6):
- attribution headers ``HTTP-Referer`` and ``X-Title`` / ``X-OpenRouter-Title`` from the
  config options ``http_referer`` (or ``site_url``) and ``x_title`` (or ``app_name``);
- ``/models`` carries per-token prices (decimal strings, USD) and context lengths;
- ``usage.cost`` is what OpenRouter charged, so it is the call's cost (no price table needed);
  with a bring-your-own-key call the provider's own bill is in
  ``cost_details.upstream_inference_cost`` and is added;
- ``/key`` reports the key's credit limit and spend, shown in the health metadata; the
  model list is public, so the key is checked there;
- a 200 stream chunk with a top-level ``error`` raises (handled in ``wire/openai_chat.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..types import ModelInfo, ProviderCapabilities, ProviderHealthStatus, ProviderType, Response
from .openai_compat import OpenAICompatibleProvider

__all__ = ["OpenRouterProvider"]

_KEY_FIELDS = ("label", "limit", "limit_remaining", "limit_reset", "usage", "usage_daily", "usage_monthly", "is_free_tier")


def _price(value: Any) -> float | None:
    """Per-token USD from a decimal string; negative (the ``openrouter/auto`` router's "-1")
    means "varies", which is unknown, not free."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        return None
    return p if p >= 0 else None


class OpenRouterProvider(OpenAICompatibleProvider):
    """OpenRouter: OpenAI-compatible, with attribution headers, prices in its model list and the charged cost in usage."""

    provider_type = ProviderType.OPENROUTER
    default_base_url = "https://openrouter.ai/api/v1"
    api_key_env = "OPENROUTER_API_KEY"
    base_url_env = "OPENROUTER_BASE_URL"
    requires_api_key = True
    auto_rank = 3
    default_chat_model = "openrouter/auto"
    include_usage = False  # always sent; the flag is deprecated and ignored
    default_capabilities = ProviderCapabilities(tools=True, vision=True, thinking=True)
    pydantic_ai_kind = "openrouter"
    genai_prices_id = "openrouter"
    option_names: ClassVar[frozenset[str]] = frozenset({"http_referer", "x_title", "site_url", "app_name"})
    """The options a config file may give (``config.ProviderConfig`` checks them)."""

    def auth_headers(self) -> dict[str, str]:
        """The bearer key plus OpenRouter's optional attribution headers (``HTTP-Referer``, ``X-Title``)."""
        headers = super().auth_headers()
        referer = self.options.get("http_referer") or self.options.get("site_url")
        title = self.options.get("x_title") or self.options.get("app_name")
        if referer:
            headers["HTTP-Referer"] = str(referer)
        if title:
            # X-Title is the name older deployments know; X-OpenRouter-Title the current one.
            headers["X-Title"] = str(title)
            headers["X-OpenRouter-Title"] = str(title)
        return headers

    def _model_info(self, m: dict[str, Any]) -> ModelInfo:
        info = super()._model_info(m)
        pricing = m.get("pricing") or {}
        info.input_price_per_token = _price(pricing.get("prompt"))
        info.output_price_per_token = _price(pricing.get("completion"))
        top = m.get("top_provider") or {}
        info.context_length = m.get("context_length") or top.get("context_length")
        info.name = m.get("name")
        return info

    def _postprocess(self, resp: Response) -> Response:
        raw = resp.raw if isinstance(resp.raw, dict) else {}
        usage = raw.get("usage") if isinstance(raw.get("usage"), dict) else None
        if usage and usage.get("is_byok") and resp.usage.cost is not None:
            upstream = (usage.get("cost_details") or {}).get("upstream_inference_cost")
            if isinstance(upstream, (int, float)):
                resp.usage.cost += float(upstream)
        return resp

    async def key_info(self) -> dict[str, Any]:
        """``GET /key``: credit limit, remaining credit and spend for the configured key."""
        data = await self.transport.get_json("/key")
        info = data.get("data") if isinstance(data, dict) else None
        return dict(info) if isinstance(info, dict) else {}

    async def _probe_health(self, status: ProviderHealthStatus) -> None:
        """The key is checked on ``/key`` (``/models`` answers without one); its credit goes in
        ``metadata["key"]``; then the model list as for any compatible server."""
        key = await self.key_info()
        await super()._probe_health(status)
        status.metadata["key"] = {k: key.get(k) for k in _KEY_FIELDS if k in key}
        remaining = key.get("limit_remaining")
        if isinstance(remaining, (int, float)) and remaining <= 0 and status.error is None:
            status.error = "the key's credit limit is used up"
