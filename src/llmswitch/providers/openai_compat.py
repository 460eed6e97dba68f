"""Any server that speaks OpenAI Chat Completions under a ``/v1``-style base URL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from .._wire import openai_chat as wire
from .._wire.assemble import drive
from .._wire.framing import collect_json
from ..types import Message, ModelInfo, ProviderCapabilities, ProviderType, Response, StreamEvent, Tool
from .base import BaseProvider

__all__ = ["OpenAICompatibleProvider"]

_CHAT = "/chat/completions"
_REQUEST_PARAMS = frozenset(
    {"max_tokens", "temperature", "top_p", "stop", "tool_choice", "response_format", "extra_body"}
)

_READ_SIZE = 4096
"""Bytes per body read when streaming. ``iter_any()`` hands over everything buffered at once, and
aiohttp joins a burst of N buffered HTTP chunks in a Python loop before the first event can be
decoded (~330 µs for 500 events); 4 KiB reads keep the first event quick for ~5% more per chunk."""


def _chunks(resp: Any) -> AsyncIterator[bytes]:
    return resp.content.iter_chunked(_READ_SIZE)  # type: ignore[no-any-return]


class OpenAICompatibleProvider(BaseProvider):
    """Any OpenAI Chat Completions server, and the base of the typed ones (OpenAI, vLLM, llama.cpp, ...)."""

    provider_type = ProviderType.OPENAI_COMPATIBLE
    default_base_url = "http://localhost:8000/v1"
    api_key_env = "OPENAI_COMPATIBLE_API_KEY"
    base_url_env = "OPENAI_COMPATIBLE_BASE_URL"
    default_capabilities = ProviderCapabilities()
    """Any server: whether it takes tools, images or thinking is unknown, so all are allowed."""
    wire_format = "openai-chat"
    pydantic_ai_kind: ClassVar[str | None] = "openai-compatible"
    thinking_params = ("reasoning_effort", "reasoning")
    include_usage: ClassVar[bool] = True
    """Ask for the usage chunk in streams (``stream_options.include_usage``)."""
    max_tokens_field: ClassVar[str] = "max_tokens"

    def _body(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any], stream: bool
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if params:  # the common call passes none: skip the set and dict work
            unknown = set(params) - _REQUEST_PARAMS
            extra = dict(params.get("extra_body") or {})
            for k in unknown:  # provider-specific knobs pass straight through
                extra[k] = params[k]
        max_tokens = params.get("max_tokens", self.default_max_tokens)
        return wire.build_request(
            model,
            messages,
            tools=tools,
            stream=stream,
            include_usage=self.include_usage,
            max_tokens=max_tokens,
            temperature=params.get("temperature"),
            top_p=params.get("top_p"),
            stop=params.get("stop"),
            tool_choice=params.get("tool_choice"),
            response_format=params.get("response_format"),
            extra_body=extra or None,
            max_tokens_field=self.max_tokens_field,
        )

    def _body_error(self, data: Any, url: str, model: str) -> Exception:
        """The error for an HTTP 200 whose body is ``{"error": ...}``; providers refine the hint."""
        from .._classify import error_from_response

        err = data.get("error") if isinstance(data, dict) else data
        return error_from_response(wire.body_error_status(err), data, provider=self.name, url=url, model=model)

    async def _complete(self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]) -> Response:
        body = self._body(model, messages, tools, params, stream=False)
        t = self.transport
        url = t.url(_CHAT)
        started = time.perf_counter()
        # ``t.post_json(_CHAT, body, model=model)`` without its frame (paid on every resume of the call)
        status, raw = await t._exchange("POST", url, body, None, model, None, None)
        data = t._decoded(status, raw, url)
        if isinstance(data, dict) and data.get("error") is not None:
            raise self._body_error(data, url, model)
        resp = wire.parse_response(data, provider=self.name, latency=time.perf_counter() - started, url=url, model=model)
        return self._postprocess(resp)

    def _postprocess(self, resp: Response) -> Response:
        """Hook for provider quirks (llama.cpp timings, OpenRouter cost)."""
        return resp

    def _stream(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]
    ) -> AsyncIterator[StreamEvent | Response]:
        body = self._body(model, messages, tools, params, stream=True)
        t = self.transport
        url = t.url(_CHAT)
        acc = wire.ChatStreamAccumulator(provider=self.name, model=model, url=url, expect_usage=wire.asks_for_usage(body))

        async def whole(resp: Any) -> Response | None:
            """A 200 JSON body where an event stream was asked for: an error object (LM Studio's
            answer to a wrong path) or a server that ignores ``stream``; never a silent empty reply."""
            if resp.content_type != "application/json":
                return None
            data = await collect_json(
                resp.content.iter_chunked(_READ_SIZE), max_bytes=t.limits.max_body_bytes, provider=self.name, url=url
            )
            if not isinstance(data, dict) or data.get("error") is not None:
                raise self._body_error(data if isinstance(data, dict) else {"error": data}, url, model)
            return self._postprocess(wire.parse_response(data, provider=self.name, url=url, model=model))

        # the shared driver is the one generator per stream; a connection lost mid-body is mapped
        # by ``Transport.stream``, which it enters
        return drive(
            acc,
            wire.sse_decoder(acc, t.limits),
            t.stream("POST", _CHAT, json_body=body, model=model),
            _chunks,
            whole=whole,
            finish=self._postprocess,
        )

    async def list_models(self) -> list[ModelInfo]:
        """``GET /models``; an ``{"error": ...}`` body with status 200 (LM Studio) is raised, not read as no models."""
        data = await self.transport.get_json("/models")
        if isinstance(data, dict) and data.get("error") is not None:
            from .._classify import error_from_response

            raise error_from_response(404, data, provider=self.name, url=self.transport.url("/models"))
        items = data.get("data", []) if isinstance(data, dict) else []
        return [self._model_info(m) for m in items if isinstance(m, dict) and m.get("id")]

    def _model_info(self, m: dict[str, Any]) -> ModelInfo:
        return ModelInfo(
            id=m["id"],
            provider=self.name,
            context_length=m.get("context_length") or m.get("max_model_len"),
            metadata={k: v for k, v in m.items() if k not in ("id", "object")},
        )
