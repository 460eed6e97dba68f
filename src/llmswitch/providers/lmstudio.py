"""LM Studio's OpenAI-compatible server (native model listing comes with the LM Studio issue)."""

from ..types import ProviderCapabilities, ProviderType
from .openai_compat import OpenAICompatibleProvider


class LMStudioProvider(OpenAICompatibleProvider):
    provider_type = ProviderType.LMSTUDIO
    default_base_url = "http://localhost:1234/v1"
    api_key_env = "LMSTUDIO_API_KEY"
    base_url_env = "LMSTUDIO_BASE_URL"
    is_local = True
    default_capabilities = ProviderCapabilities(tools=True, vision=False, local=True, model_management=True)
