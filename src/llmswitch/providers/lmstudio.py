"""LM Studio: inference over its OpenAI-compatible ``/v1``, models from its native REST API.

Two LM Studio habits shape this module (reference §3): a wrong path is answered with HTTP 200
and ``{"error": ...}``, which must be an error and never an empty reply; and versions before
0.3.18 ignore ``stream_options.include_usage``, so a stream can end without usage, which is then
reported as unknown (``Usage(known=False)``), never as zero tokens.
"""

from __future__ import annotations

from typing import Any

from ..management.lmstudio import LLM_TYPES, LMStudioClient, body_error
from ..types import ModelInfo, ProviderCapabilities, ProviderHealthStatus, ProviderType
from .openai_compat import OpenAICompatibleProvider

__all__ = ["LMStudioProvider"]


class LMStudioProvider(OpenAICompatibleProvider):
    """LM Studio: chat over its ``/v1``, model state and type (``vlm`` takes images) from its native API."""

    provider_type = ProviderType.LMSTUDIO
    default_base_url = "http://localhost:1234/v1"
    api_key_env = "LMSTUDIO_API_KEY"
    base_url_env = "LMSTUDIO_BASE_URL"
    is_local = True
    auto_rank = 1
    default_capabilities = ProviderCapabilities(tools=True, local=True, model_management=True)
    """Images depend on the loaded model (``type == "vlm"``, see ``model_capabilities``)."""
    start_hint = "start LM Studio's server (Developer tab, or `lms server start`) and load a model"
    no_model_hint = "load a model in LM Studio (`lms load MODEL`) or pass model_name"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client: LMStudioClient | None = None

    @staticmethod
    def _normalize_base_url(url: str) -> str:
        """``http://host:1234`` → ``http://host:1234/v1``: a bare server address means its OpenAI API."""
        url = url.rstrip("/")
        rest = url.split("://", 1)[-1]
        return url + "/v1" if "/" not in rest else url

    @property
    def client(self) -> LMStudioClient:
        """The native REST client on the same transport (model list with load state, load/unload)."""
        if self._client is None:
            self._client = LMStudioClient(self.base_url, transport=self.transport, name=self.name)
        return self._client

    # --- inference ---------------------------------------------------------------------------
    def _body_error(self, data: Any, url: str, model: str) -> Exception:
        """LM Studio answers a wrong path or a missing model with HTTP 200 ``{"error": ...}``."""
        return body_error(data, provider=self.name, url=url, model=model)

    # --- models ------------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        """State (loaded / not loaded), type (llm, vlm, embeddings), max context and quantization
        from ``/api/v0/models``; the plain ``/v1/models`` list on versions before 0.3.6."""
        return await self.client.list_models()

    def _pick(self, models: list[ModelInfo]) -> str | None:
        """The configured default if offered, else a loaded LLM, else any LLM; never an embedder."""
        if not models:
            return None
        ids = [m.id for m in models]
        if self.default_model and self.default_model in ids:
            return self.default_model
        chat = [m for m in models if m.type is None or m.type in LLM_TYPES]
        loaded = [m for m in chat if m.loaded]
        pool = loaded or chat
        return pool[0].id if pool else None

    async def detect_model(self) -> str | None:
        """The configured model if offered, else a loaded chat model; never an embedding model."""
        return self._pick(await self.list_models())

    async def model_capabilities(self, model: str | None = None) -> ProviderCapabilities:
        """Vision from ``type == "vlm"``, tools from ``capabilities`` (0.3.16+) where the server says."""
        name = await self.resolve_model(model)
        info = next((m for m in await self.list_models() if m.id == name), None)
        base = self.default_capabilities
        if info is None or info.type is None:
            return base
        caps = info.metadata.get("capabilities")
        found = ProviderCapabilities(
            streaming=base.streaming,
            # a model without "tool_use" still takes tools (LM Studio's default prompt format): not a refusal
            tools=True if isinstance(caps, list) and "tool_use" in caps else base.tools,
            vision=info.type == "vlm",
            thinking=base.thinking,
            json_mode=base.json_mode,
            model_management=base.model_management,
            local=base.local,
        )
        self.set_model_capabilities(name, found)  # images to a non-"vlm" model are refused before sending
        return found

    async def _probe_health(self, status: ProviderHealthStatus) -> None:
        """Reachable and offering a model; ``metadata["loaded_model"]`` names the loaded LLM (or None)."""
        models = await self.list_models()
        status.connected = True
        loaded = [m.id for m in models if m.loaded and (m.type is None or m.type in LLM_TYPES)]
        status.metadata.update(
            models=len(models),
            loaded_model=loaded[0] if loaded else None,
            loaded_models=[m.id for m in models if m.loaded],
            native_api=any(m.loaded is not None for m in models),
        )
        picked = self._pick(models)
        self._settle_model(
            status,
            picked if picked is not None and picked == self.default_model else None,
            picked,
            missing=f"model {self.default_model!r} is not offered by LM Studio",
            empty="LM Studio is up but offers no chat model; download or load one",
        )
