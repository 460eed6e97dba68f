"""OpenAI's own API."""

from ..types import ProviderCapabilities, ProviderType
from .openai_compat import OpenAICompatibleProvider


class OpenAIProvider(OpenAICompatibleProvider):
    provider_type = ProviderType.OPENAI
    default_base_url = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    requires_api_key = True
    auto_rank = 1
    default_chat_model = "gpt-4o-mini"
    default_capabilities = ProviderCapabilities(tools=True, vision=True, thinking=True)
    # max_tokens is deprecated, and reasoning models (o1, o3, gpt-5) reject it with a 400;
    # every current model accepts max_completion_tokens (as the recorded corpus shows).
    max_tokens_field = "max_completion_tokens"
