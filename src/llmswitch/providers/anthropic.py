"""Anthropic's Messages API over our own aiohttp transport (no SDK on the hot path).

Wire translation lives in ``wire/anthropic.py``; this module holds the defaults (base URL,
env vars, headers), the paged model list and the health check. Reference:
``reference/wire-protocols.md`` §5.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from .._wire import anthropic as wire
from .._wire.assemble import drive
from .._wire.framing import collect_json
from .._wire.openai_chat import sse_decoder
from ..types import Message, ModelInfo, ProviderCapabilities, ProviderHealthStatus, ProviderType, Response, StreamEvent, Tool
from .base import BaseProvider

__all__ = ["AnthropicProvider"]

DEFAULT_MAX_TOKENS = 4096
"""Sent when neither the call nor the config (``default_max_tokens``) gives one: the API
requires ``max_tokens`` and every current model accepts this much output."""

_REQUEST_PARAMS = frozenset(
    {"max_tokens", "temperature", "top_p", "top_k", "stop", "stop_sequences", "tool_choice", "thinking", "extra_body"}
)
_MESSAGES = "/v1/messages"


def _chunks(resp: Any) -> AsyncIterator[bytes]:
    return resp.content.iter_any()  # type: ignore[no-any-return]


class AnthropicProvider(BaseProvider):
    """Anthropic's Messages API: its own wire format, ``x-api-key`` auth and extended thinking."""

    provider_type = ProviderType.ANTHROPIC
    default_base_url = "https://api.anthropic.com"
    api_key_env = "ANTHROPIC_API_KEY"
    base_url_env = "ANTHROPIC_BASE_URL"
    requires_api_key = True
    type_hints = ("claude",)
    auto_rank = 2
    default_chat_model = "claude-haiku-4-5"
    default_capabilities = ProviderCapabilities(tools=True, vision=True, thinking=True, json_mode=False)
    model_capabilities_table = (
        # Extended thinking came with Claude 3.7 Sonnet; the Claude 3 and 3.5 models refuse `thinking`.
        ("claude-3-haiku", ProviderCapabilities(thinking=False)),
        ("claude-3-sonnet", ProviderCapabilities(thinking=False)),
        ("claude-3-opus", ProviderCapabilities(thinking=False)),
        ("claude-3-5-", ProviderCapabilities(thinking=False)),
    )
    wire_format = "anthropic"
    pydantic_ai_kind = "anthropic"
    thinking_params = ("thinking",)
    genai_prices_id = "anthropic"

    @staticmethod
    def _normalize_base_url(url: str) -> str:
        # Accept ".../v1" too (as OpenAI-style configs write it); paths here start with /v1.
        url = url.rstrip("/")
        return url[:-3] if url.endswith("/v1") else url

    def auth_headers(self) -> dict[str, str]:
        """``x-api-key`` plus the ``anthropic-version`` (and optional ``anthropic-beta``) every request needs."""
        headers = {"anthropic-version": str(self.options.get("anthropic_version") or wire.ANTHROPIC_VERSION)}
        beta = self.options.get("anthropic_beta")
        if beta:
            headers["anthropic-beta"] = beta if isinstance(beta, str) else ",".join(beta)
        key = self.api_key.get_secret_value() if self.api_key else None
        if key:
            headers["x-api-key"] = key
        return headers

    def _body(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any], stream: bool
    ) -> dict[str, Any]:
        extra = dict(params.get("extra_body") or {})
        for k in set(params) - _REQUEST_PARAMS:  # provider-specific knobs pass straight through
            extra[k] = params[k]
        max_tokens = params.get("max_tokens") or self.default_max_tokens or DEFAULT_MAX_TOKENS
        return wire.build_request(
            model,
            messages,
            max_tokens=max_tokens,
            tools=tools,
            stream=stream,
            temperature=params.get("temperature"),
            top_p=params.get("top_p"),
            top_k=params.get("top_k"),
            stop=params.get("stop", params.get("stop_sequences")),
            tool_choice=params.get("tool_choice"),
            thinking=params.get("thinking"),
            extra_body=extra or None,
        )

    async def _complete(self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]) -> Response:
        body = self._body(model, messages, tools, params, stream=False)
        started = time.perf_counter()
        data = await self.transport.post_json(_MESSAGES, body, model=model)
        return wire.parse_response(
            data, provider=self.name, latency=time.perf_counter() - started, url=self.transport.url(_MESSAGES), model=model
        )

    def _stream(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]
    ) -> AsyncIterator[StreamEvent | Response]:
        body = self._body(model, messages, tools, params, stream=True)
        t = self.transport
        url = t.url(_MESSAGES)
        acc = wire.MessagesStreamAccumulator(provider=self.name, model=model, url=url)

        async def whole(resp: Any) -> Response | None:
            """A 200 JSON body where an event stream was asked for: an error object (raised as the
            mapped error, not as a stream cut before message_stop) or a whole Message."""
            if resp.content_type != "application/json":
                return None
            data = await collect_json(resp.content.iter_any(), max_bytes=t.limits.max_body_bytes, provider=self.name, url=url)
            return wire.parse_response(data, provider=self.name, url=url, model=model)

        # the shared driver is the one generator per stream; a connection lost mid-body is mapped
        # by ``Transport.stream``, which it enters
        return drive(
            acc, sse_decoder(acc, t.limits), t.stream("POST", _MESSAGES, json_body=body, model=model), _chunks, whole=whole
        )

    async def list_models(self) -> list[ModelInfo]:
        """Every page of ``GET /v1/models`` (``has_more`` / ``last_id`` → ``after_id``)."""
        out: list[ModelInfo] = []
        params: dict[str, str] = {"limit": str(self.options.get("models_page_size") or 1000)}
        for _ in range(1000):  # a server that never stops paging must not hang us
            data = await self.transport.get_json("/v1/models", params=params)
            if not isinstance(data, dict):
                break
            for m in data.get("data") or ():
                if isinstance(m, dict) and m.get("id"):
                    out.append(self._model_info(m))
            last = data.get("last_id")
            if not data.get("has_more") or not last:
                break
            params = {**params, "after_id": str(last)}
        return out

    def _model_info(self, m: dict[str, Any]) -> ModelInfo:
        return ModelInfo(
            id=m["id"],
            provider=self.name,
            name=m.get("display_name"),
            context_length=m.get("max_input_tokens"),
            metadata={k: v for k, v in m.items() if k not in ("id", "type", "display_name")},
        )

    @staticmethod
    def _listed(model: str, ids: list[str]) -> bool:
        # Aliases such as ``claude-sonnet-4-5`` are not always listed; their dated ids are.
        return model in ids or any(i.startswith(model + "-") for i in ids)

    async def _probe_health(self, status: ProviderHealthStatus) -> None:
        """Key accepted (the model list answers) and the configured model listed."""
        models = await self.list_models()
        status.connected = True
        ids = [m.id for m in models]
        status.metadata["models"] = len(ids)
        found = self.default_model if self.default_model and self._listed(self.default_model, ids) else None
        self._settle_model(
            status,
            found,
            ids[0] if ids else None,
            missing=f"model {self.default_model!r} is not offered to this key",
            empty="the key works but no model is listed",
        )
