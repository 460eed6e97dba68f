"""OpenRouter: OpenAI-compatible, always reports usage (and its cost) in the last chunk."""

from __future__ import annotations

from typing import Any

from ..types import ProviderCapabilities, ProviderType, Response
from .openai_compat import OpenAICompatibleProvider


class OpenRouterProvider(OpenAICompatibleProvider):
    provider_type = ProviderType.OPENROUTER
    default_base_url = "https://openrouter.ai/api/v1"
    api_key_env = "OPENROUTER_API_KEY"
    base_url_env = "OPENROUTER_BASE_URL"
    requires_api_key = True
    default_capabilities = ProviderCapabilities(tools=True, vision=True, thinking=True)

    def auth_headers(self) -> dict[str, str]:
        headers = super().auth_headers()
        referer = self.options.get("http_referer") or self.options.get("site_url")
        title = self.options.get("x_title") or self.options.get("app_name")
        if referer:
            headers["HTTP-Referer"] = str(referer)
        if title:
            headers["X-Title"] = str(title)
        return headers

    def _model_info(self, m: dict[str, Any]):  # type: ignore[override]
        info = super()._model_info(m)
        pricing = m.get("pricing") or {}
        try:
            info.input_price_per_token = float(pricing["prompt"]) if "prompt" in pricing else None
            info.output_price_per_token = float(pricing["completion"]) if "completion" in pricing else None
        except (TypeError, ValueError):
            pass
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
