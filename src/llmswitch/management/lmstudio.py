"""``LMStudioClient``: which models LM Studio has, which are loaded, of what type and context.

The OpenAI ``/v1/models`` list cannot tell loaded from merely downloaded (with JIT loading on
it lists everything), so the native REST ``GET /api/v0/models`` (LM Studio 0.3.6+;
``lmstudio-docs:1_developer/2_rest/endpoints.mdx``, reference §3.3) is asked first, and
``/v1/models`` only on older versions. Older versions answer an unknown path with HTTP 200 and
``{"error": "Unexpected endpoint or method..."}`` (§3.6), so such a body is an error here,
never an empty list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from .. import errors as E
from .._transport import Timeouts, Transport, extract_error
from ..types import ModelInfo

__all__ = ["DEFAULT_BASE_URL", "root_url", "body_error", "model_info_from_v0", "LMStudioClient", "LLM_TYPES"]

DEFAULT_BASE_URL = "http://localhost:1234/v1"
LLM_TYPES = frozenset({"llm", "vlm"})
"""v0 ``type`` values that chat; ``embeddings`` does not."""


def root_url(base_url: str) -> str:
    """``http://h:1234/v1`` (or ``/api/v0``) → ``http://h:1234``: the native API lives at the root."""
    url = base_url.rstrip("/")
    for suffix in ("/v1", "/api/v0", "/api/v1"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def body_error(body: Any, *, provider: str, url: str | None, model: str | None = None) -> E.ProviderError:
    """An HTTP 200 whose body is ``{"error": ...}``: LM Studio's way of saying no."""
    message = extract_error(body)[0] or "error body without a message"
    lowered = message.lower()
    kw: dict[str, Any] = dict(provider=provider, url=url, model=model, status_code=200, details=body)
    if "unexpected endpoint" in lowered:
        return E.InvalidRequestError(
            message, hint="LM Studio does not serve this path; the base URL should end in /v1 (http://localhost:1234/v1)", **kw
        )
    if "model" in lowered and any(w in lowered for w in ("not found", "no models loaded", "not loaded", "does not exist")):
        return E.ModelNotFoundError(
            message, hint="load the model in LM Studio (or `lms load MODEL`); `llmswitch models lmstudio` lists them", **kw
        )
    from .._classify import error_from_response

    return error_from_response(200, body, provider=provider, url=url, model=model)


def _is_error_body(body: Any) -> bool:
    return isinstance(body, Mapping) and body.get("error") is not None


def model_info_from_v0(m: Mapping[str, Any], *, provider: str = "lmstudio") -> ModelInfo:
    """A model entry of LM Studio's ``/api/v0/models`` (context length, loaded state) as a ``ModelInfo``."""
    state = m.get("state")
    return ModelInfo(
        id=m["id"],
        provider=provider,
        context_length=m.get("max_context_length"),
        loaded=state == "loaded" if state is not None else None,  # anything but "loaded" is not loaded
        type=m.get("type"),
        family=m.get("arch"),
        quantization=m.get("quantization"),
        metadata={
            k: m[k] for k in ("publisher", "compatibility_type", "capabilities", "state") if m.get(k) is not None
        },
    )


class LMStudioClient:
    """Native model listing for one LM Studio server. Pass ``transport`` to share a provider's pool."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        transport: Transport | None = None,
        api_key: str | SecretStr | None = None,
        timeout: float = 10.0,
        name: str = "lmstudio",
    ) -> None:
        self.root = root_url(base_url or DEFAULT_BASE_URL)
        self.name = name
        self.timeout = timeout
        self._owns_transport = transport is None
        if transport is None:
            key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
            headers = {"User-Agent": "llmswitch/0.1", **({"Authorization": f"Bearer {key}"} if key else {})}
            transport = Transport(self.root, provider=name, headers=headers, timeouts=Timeouts(connect=5.0, read=timeout),
                                  secrets=(key,) if key else ())
        self.transport = transport

    async def aclose(self) -> None:
        """Close the connection pool, if this client created it (a transport passed in belongs to the caller)."""
        if self._owns_transport:
            await self.transport.aclose()

    async def __aenter__(self) -> LMStudioClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def _get(self, path: str) -> Any:
        url = self.root + path
        data = await self.transport.get_json(url, timeout=self.timeout)
        if _is_error_body(data):
            raise body_error(data, provider=self.name, url=url)
        return data

    async def list_models(self) -> list[ModelInfo]:
        """Native ``/api/v0/models`` (state, type, context, quantization); ``/v1/models`` on
        versions before 0.3.6, where ``loaded`` cannot be known and stays None."""
        try:
            data = await self._get("/api/v0/models")
        except (E.InvalidRequestError, E.ModelNotFoundError) as err:
            if err.status_code not in (200, 404):
                raise
            data = await self._get("/v1/models")
            return [
                ModelInfo(id=m["id"], provider=self.name, metadata={k: v for k, v in m.items() if k not in ("id", "object")})
                for m in (data or {}).get("data") or ()
                if isinstance(m, dict) and m.get("id")
            ]
        return [
            model_info_from_v0(m, provider=self.name)
            for m in (data or {}).get("data") or ()
            if isinstance(m, dict) and m.get("id")
        ]

    async def loaded_models(self) -> list[ModelInfo]:
        """The models LM Studio has in memory, the ones a call can use without a load."""
        return [m for m in await self.list_models() if m.loaded]

    async def is_running(self) -> bool:
        """True if the server answers; never raises, for probes and ``doctor``."""
        try:
            await self._get("/v1/models")
        except E.LLMSwitchError:
            return False
        return True
