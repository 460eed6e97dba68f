"""vLLM's OpenAI-compatible server (``vllm serve``); its model list carries ``max_model_len``."""

from ..types import ProviderCapabilities, ProviderType
from .openai_compat import OpenAICompatibleProvider

__all__ = ["VLLMProvider"]


class VLLMProvider(OpenAICompatibleProvider):
    """vLLM's local OpenAI-compatible server; what the served model takes is unknown, so all is allowed."""

    provider_type = ProviderType.VLLM
    default_base_url = "http://localhost:8000/v1"
    api_key_env = "VLLM_API_KEY"
    base_url_env = "VLLM_BASE_URL"
    is_local = True
    auto_rank = 4
    default_capabilities = ProviderCapabilities(tools=True, local=True)
    """Images and thinking depend on the served model (unknown, so allowed)."""
    pydantic_ai_kind = "vllm"
    start_hint = "start vLLM (`vllm serve MODEL`) or set VLLM_BASE_URL"
