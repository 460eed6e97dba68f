"""LiteLLM as the universal fallback: ``litellm:<model>`` goes through ``litellm.acompletion``.

This reaches every backend LiteLLM knows (Bedrock, Vertex, Azure, Cohere, ...) behind our
API. It is the slow path on purpose (LiteLLM costs several times our own transport per call
and per chunk, see DESIGN.md), so it is only for backends llmswitch does not speak natively.

- ``litellm`` is imported on the first call, never by ``import llmswitch``; a missing package
  is an ImportError that names the ``llmswitch[litellm]`` extra.
- LiteLLM's responses are OpenAI-shaped, so they are parsed by ``wire/openai_chat.py`` like
  any compatible server's, and stream chunks go through the same accumulator.
- LiteLLM's exceptions are translated to ours (``_translate``), keeping status codes and
  ``Retry-After``, and never the key.
- ``LITELLM_LOCAL_MODEL_COST_MAP`` is defaulted to true before the import, so importing does
  not reach out to GitHub for a price table (it otherwise blocks for seconds offline).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from .. import errors as E
from .._wire import openai_chat as wire
from ..types import Message, ModelInfo, ProviderCapabilities, ProviderHealthStatus, ProviderType, Response, StreamEvent, Tool
from .base import BaseProvider

__all__ = ["LiteLLMProvider", "import_litellm", "translate_exception"]

_INSTALL_HINT = "LiteLLM is not installed; install the extra: pip install 'llmswitch[litellm]'"


def import_litellm() -> Any:
    """The ``litellm`` module, imported on first use with its network price-map fetch and banners off;
    a missing package is an ImportError that names the extra to install."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
    return litellm


_skip_mcp = False
"""Set once LiteLLM has failed for want of the optional ``mcp`` package (see ``_acompletion``)."""


def _missing_mcp(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ModuleNotFoundError) and (seen.name or "").split(".")[0] == "mcp":
            return True
        seen = seen.__cause__ or seen.__context__
    return "No module named 'mcp'" in str(exc)


async def _acompletion(litellm: Any, kw: dict[str, Any]) -> Any:
    """``litellm.acompletion``, working around LiteLLM releases (seen in 1.106) that import the
    optional ``mcp`` package for any call with tools: our tools are plain functions, so the MCP
    handler is skipped with its own ``_skip_mcp_handler`` flag, used only once that failure has
    been seen so that releases without the flag never receive it."""
    global _skip_mcp
    if _skip_mcp and kw.get("tools"):
        return await litellm.acompletion(**kw, _skip_mcp_handler=True)
    try:
        return await litellm.acompletion(**kw)
    except Exception as exc:
        if not (kw.get("tools") and _missing_mcp(exc)):
            raise
    _skip_mcp = True
    return await litellm.acompletion(**kw, _skip_mcp_handler=True)


_CONNECT_FAILURE = "<connect failure>"


def _connect_failure(exc: BaseException) -> bool:
    """True if the cause chain holds a failure to connect (refused, unreachable, DNS)."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ConnectionError) or type(seen).__name__ in ("ConnectError", "ClientConnectorError"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def _retry_after(exc: BaseException) -> float | None:
    from .._classify import parse_retry_after

    headers: Any = getattr(exc, "headers", None)
    if not headers:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        return parse_retry_after({str(k).lower(): str(v) for k, v in dict(headers).items()})
    except Exception:
        return None


def translate_exception(
    exc: BaseException, *, provider: str, model: str | None, secrets: tuple[str, ...] = ()
) -> E.ProviderError:
    """LiteLLM exception → ours. The most specific LiteLLM classes are tested first (its
    ContextWindowExceededError and ContentPolicyViolationError are BadRequestErrors, its
    Timeout is an APIConnectionError)."""
    import litellm

    message = E.redact(getattr(exc, "message", None) or str(exc) or type(exc).__name__, *secrets)
    kw: dict[str, Any] = dict(provider=provider, model=model, status_code=_status(exc), details=type(exc).__name__)
    checks: list[tuple[str, Callable[[], E.ProviderError]]] = [
        ("ContextWindowExceededError", lambda: E.ContextWindowExceededError(message, **kw)),
        ("ContentPolicyViolationError", lambda: E.ContentFilterError(message, **kw)),
        ("AuthenticationError", lambda: E.AuthenticationError(message, **kw)),
        ("PermissionDeniedError", lambda: E.AuthenticationError(message, **kw)),
        ("RateLimitError", lambda: E.RateLimitError(message, retry_after=_retry_after(exc), **kw)),
        ("NotFoundError", lambda: E.ModelNotFoundError(message, **kw)),
        ("Timeout", lambda: E.ProviderTimeoutError(message, **kw)),
        ("APIConnectionError", lambda: E.ProviderConnectionError(message, **kw)),
        # LiteLLM reports a refused connection as InternalServerError(500): look underneath.
        (_CONNECT_FAILURE, lambda: E.ProviderConnectionError(message, **{**kw, "status_code": None})),
        ("ServiceUnavailableError", lambda: E.ProviderUnavailableError(message, **kw)),
        ("InternalServerError", lambda: E.ProviderUnavailableError(message, **kw)),
        ("BadGatewayError", lambda: E.ProviderUnavailableError(message, **kw)),
        ("BudgetExceededError", lambda: E.BudgetExceededError(message, **kw)),
        ("UnsupportedParamsError", lambda: E.CapabilityError(message, **kw)),
        ("BadRequestError", lambda: E.InvalidRequestError(message, **kw)),
        ("UnprocessableEntityError", lambda: E.InvalidRequestError(message, **kw)),
    ]
    for name, make in checks:
        if name is _CONNECT_FAILURE:
            if _connect_failure(exc):
                return make()
            continue
        cls = getattr(litellm, name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return make()
    status = kw["status_code"]
    if status is not None and status >= 400:
        from .._classify import error_from_response

        err = error_from_response(status, {"error": {"message": message}}, provider=provider, model=model)
        err.details = type(exc).__name__
        return err
    return E.ProviderError(message, **kw)


class LiteLLMProvider(BaseProvider):
    """``model`` is LiteLLM's own model string (``bedrock/...``, ``vertex_ai/...``,
    ``azure/...``, ``openai/...``). ``base_url`` and ``api_key``, when set, are passed as
    ``api_base``/``api_key``; otherwise LiteLLM reads each backend's own env vars. Extra
    options given at construction (e.g. ``aws_region_name``) go to every call."""

    provider_type = ProviderType.LITELLM
    default_base_url = ""
    base_url_env = "LITELLM_API_BASE"
    default_capabilities = ProviderCapabilities(tools=True, vision=True, thinking=True)
    wire_format = "litellm"
    thinking_params = ("reasoning_effort", "thinking")
    pydantic_ai_hint = (
        "it calls LiteLLM in-process, which pydantic-ai cannot drive; run a LiteLLM proxy and configure it "
        "as type 'openai-compatible' with the proxy's base_url, or use pydantic-ai's own model for that backend"
    )
    upstream_price_ids: ClassVar[dict[str, str]] = {
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
    """LiteLLM's model prefix → genai-prices provider id (the prefix names the upstream)."""

    @classmethod
    def price_target(cls, model: str) -> tuple[str, str] | None:
        """``gemini/gemini-2.0-flash`` is priced as ``google``'s ``gemini-2.0-flash``; a model
        without a known upstream prefix is not priced (unknown, never $0)."""
        prefix, sep, rest = model.partition("/")
        pid = cls.upstream_price_ids.get(prefix) if sep else None
        return (pid, rest) if pid else None

    def _secrets(self) -> tuple[str, ...]:
        return (self.api_key.get_secret_value(),) if self.api_key else ()

    def _kwargs(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any], stream: bool
    ) -> dict[str, Any]:
        kw: dict[str, Any] = {**self.options, "model": model, "messages": wire.messages_to_wire(messages)}
        extra = params.pop("extra_body", None) if "extra_body" in params else None
        kw.update(params)
        if extra:
            kw.update(extra)
        if tools:
            kw["tools"] = [wire.tool_to_wire(t) for t in tools]
        if "max_tokens" not in kw and self.default_max_tokens:
            kw["max_tokens"] = self.default_max_tokens
        if self.base_url:
            kw["api_base"] = self.base_url
        if self.api_key:
            kw["api_key"] = self.api_key.get_secret_value()
        if self._extra_headers:
            kw["extra_headers"] = {**self._extra_headers, **(kw.get("extra_headers") or {})}
        if stream:
            kw["stream"] = True
            kw.setdefault("stream_options", {"include_usage": True})
        return kw

    @staticmethod
    def _cost(litellm: Any, response: Any) -> float | None:
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
        if isinstance(cost, (int, float)):
            return float(cost)
        try:
            cost = litellm.completion_cost(completion_response=response)
        except Exception:  # unpriced model: unknown, not free
            return None
        return float(cost) if isinstance(cost, (int, float)) and cost > 0 else None

    async def _complete(self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]) -> Response:
        litellm = import_litellm()
        kw = self._kwargs(model, messages, tools, dict(params), stream=False)
        started = time.perf_counter()
        try:
            result = await _acompletion(litellm, kw)
        except Exception as exc:
            raise translate_exception(exc, provider=self.name, model=model, secrets=self._secrets()) from None
        body = result.model_dump() if hasattr(result, "model_dump") else dict(result)
        resp = wire.parse_response(body, provider=self.name, latency=time.perf_counter() - started, model=model)
        if resp.usage.cost is None:
            resp.usage.cost = self._cost(litellm, result)
        return resp

    async def _stream(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]
    ) -> AsyncIterator[StreamEvent | Response]:
        litellm = import_litellm()
        kw = self._kwargs(model, messages, tools, dict(params), stream=True)
        acc = wire.ChatStreamAccumulator(provider=self.name, model=model)
        try:
            stream = await _acompletion(litellm, kw)
            async for chunk in stream:
                data = chunk.model_dump() if hasattr(chunk, "model_dump") else dict(chunk)
                for ev in acc.feed(data):
                    yield ev
        except E.LLMSwitchError:
            raise
        except Exception as exc:
            raise translate_exception(exc, provider=self.name, model=model, secrets=self._secrets()) from None
        if acc.finish is None:
            raise E.ProviderConnectionError(
                "the stream ended before a finish reason", provider=self.name, model=model, hint="retry"
            )
        yield acc.result()

    async def list_models(self) -> list[ModelInfo]:
        """LiteLLM's price table: every model it can price, with per-token prices and context."""
        litellm = import_litellm()
        out: list[ModelInfo] = []
        for mid, info in (getattr(litellm, "model_cost", None) or {}).items():
            if not isinstance(info, dict) or mid == "sample_spec":
                continue
            out.append(
                ModelInfo(
                    id=mid,
                    provider=self.name,
                    context_length=info.get("max_input_tokens") or info.get("max_tokens"),
                    type=info.get("mode"),
                    family=info.get("litellm_provider"),
                    input_price_per_token=info.get("input_cost_per_token"),
                    output_price_per_token=info.get("output_cost_per_token"),
                )
            )
        return out

    async def detect_model(self) -> str | None:
        """The configured model: LiteLLM is a library, with no server to ask what it serves."""
        return self.default_model

    async def health_check(self) -> ProviderHealthStatus:
        """LiteLLM is a library, not a server: healthy means importable with a model configured.
        No request is sent (the backend behind it is unknown and a call may cost money)."""
        status = ProviderHealthStatus(
            connected=False,
            model_detected=False,
            model_id=self.default_model,
            base_url=self.base_url,
            provider_type=self.provider_type,
        )
        try:
            litellm = import_litellm()
        except ImportError as exc:
            status.error = str(exc)
            return status
        status.connected = True
        status.metadata["litellm_version"] = getattr(litellm, "__version__", None) or _dist_version()
        if self.default_model:
            status.model_detected = True
        else:
            status.error = "no default_model configured; use 'litellm:<provider>/<model>'"
        return status


def _dist_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("litellm")
    except Exception:
        return None
