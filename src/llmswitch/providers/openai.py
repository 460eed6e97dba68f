"""OpenAI's own API."""

from ..types import ProviderCapabilities, ProviderType
from .openai_compat import OpenAICompatibleProvider

__all__ = ["OpenAIProvider"]


class OpenAIProvider(OpenAICompatibleProvider):
    """OpenAI's own API: a key is required, and it is sent ``max_completion_tokens`` (reasoning models refuse ``max_tokens``)."""

    provider_type = ProviderType.OPENAI
    default_base_url = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    requires_api_key = True
    type_hints = ("gpt-", "gpt4", "chatgpt", "o1-", "o3-", "o4-")
    auto_rank = 1
    default_chat_model = "gpt-4o-mini"
    default_capabilities = ProviderCapabilities(tools=True, vision=True, thinking=True)
    model_capabilities_table = (
        # OpenAI's model pages: o1-mini and o1-preview take neither function calling nor images;
        # o3-mini takes no images; the GPT-3.5/4/4o/4.1/4.5 and ChatGPT models are not reasoning
        # models and answer `reasoning_effort` with a 400; GPT-3.5 takes no images.
        ("o1-mini", ProviderCapabilities(tools=False, vision=False)),
        ("o1-preview", ProviderCapabilities(tools=False, vision=False)),
        ("o3-mini", ProviderCapabilities(vision=False)),
        ("gpt-3.5", ProviderCapabilities(vision=False, thinking=False)),
        ("gpt-4", ProviderCapabilities(thinking=False)),
        ("chatgpt-", ProviderCapabilities(thinking=False)),
    )
    pydantic_ai_kind = "openai"
    genai_prices_id = "openai"
    # max_tokens is deprecated, and reasoning models (o1, o3, gpt-5) reject it with a 400;
    # every current model accepts max_completion_tokens (as the recorded corpus shows).
    max_tokens_field = "max_completion_tokens"
