"""Ollama through its native API: ``/api/chat`` for inference, ``/api/tags``/``ps``/``show`` for models.

Native rather than ``/v1`` because the OpenAI layer drops ``num_ctx``, ``think`` and
``keep_alive`` (reference §1.10). Pass them as call parameters:
``await p.complete(msgs, num_ctx=8192, think=True, keep_alive="10m")``. The base URL accepts
``http://host:11434``, the same with ``/v1`` or ``/api``, and ``OLLAMA_HOST`` forms such as a
bare ``host:port``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from .. import errors as E
from .._wire import ollama as wire
from .._wire.assemble import drive
from .._wire.framing import collect_json
from ..management.ollama import DEFAULT_HOST, OllamaClient, OllamaModelDetails, normalize_host, same_model
from ..types import Message, ModelInfo, ProviderCapabilities, ProviderHealthStatus, ProviderType, Response, StreamEvent, Tool
from .base import BaseProvider

__all__ = ["OllamaProvider"]

_CHAT = "/api/chat"


def _chunks(resp: Any) -> AsyncIterator[bytes]:
    return resp.content.iter_any()  # type: ignore[no-any-return]


class OllamaProvider(BaseProvider):
    """Ollama over its native ``/api/chat``, which keeps ``num_ctx``, ``think`` and ``keep_alive`` (its ``/v1`` drops them)."""

    provider_type = ProviderType.OLLAMA
    default_base_url = DEFAULT_HOST
    base_url_env = "OLLAMA_HOST"
    api_key_env = "OLLAMA_API_KEY"
    is_local = True
    auto_rank = 2
    default_capabilities = ProviderCapabilities(
        tools=True, vision=True, thinking=True, json_mode=True, model_management=True, local=True
    )
    """Per model from ``/api/show`` (``model_capabilities``), which records what a model lacks."""
    wire_format = "ollama"
    pydantic_ai_kind = "ollama"
    thinking_params = ("think",)
    start_hint = "start Ollama (`ollama serve`) or set OLLAMA_HOST / the provider's base_url"
    no_model_hint = "pull one (`llmswitch pull llama3.2` or `ollama pull llama3.2`) or pass model_name"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client: OllamaClient | None = None
        self._details: dict[str, OllamaModelDetails] = {}

    @staticmethod
    def _normalize_base_url(url: str) -> str:
        return normalize_host(url)

    @property
    def client(self) -> OllamaClient:
        """The management client for the same server (pull, show, ps, delete)."""
        if self._client is None:
            self._client = OllamaClient(
                self.base_url,
                api_key=self.api_key,
                name=self.name,
                connect_timeout=self._timeouts.connect,
                timeout=min(30.0, self._timeouts.read or 30.0),  # short calls; a probe's short timeout holds
                limits=self._limits,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the inference connections and the management client's own."""
        await super().aclose()
        if self._client is not None:
            await self._client.aclose()

    # --- inference -------------------------------------------------------------------------
    def _body(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any], stream: bool
    ) -> dict[str, Any]:
        return wire.build_request(
            model, messages, tools=tools, stream=stream, params=params, default_max_tokens=self.default_max_tokens
        )

    async def _complete(self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]) -> Response:
        body = self._body(model, messages, tools, params, stream=False)
        acc = wire.OllamaChatAccumulator(provider=self.name, model=model, url=self.transport.url(_CHAT))
        started = time.perf_counter()
        try:
            data = await self.transport.post_json(_CHAT, body, model=model)
            resp = self._whole(acc, data)
        except E.ProviderError as err:
            raise wire.refine_error(err, model) from None
        resp.latency = time.perf_counter() - started
        return resp

    @staticmethod
    def _whole(acc: wire.OllamaChatAccumulator, data: Any) -> Response:
        """The Response for one whole (non-streamed) ``/api/chat`` object."""
        acc.feed(data)
        acc.done = True  # the non-streamed answer is the whole reply, even from servers that omit `done`
        return acc.result()

    def _stream(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]
    ) -> AsyncIterator[StreamEvent | Response]:
        body = self._body(model, messages, tools, params, stream=True)
        t = self.transport
        url = t.url(_CHAT)
        acc = wire.OllamaChatAccumulator(provider=self.name, model=model, url=url)

        async def whole(resp: Any) -> Response | None:
            """One JSON object where NDJSON was asked for: an error (mapped), or a server that
            ignored ``stream`` and sent the whole answer."""
            if resp.content_type != "application/json":
                return None
            data = await collect_json(resp.content.iter_any(), max_bytes=t.limits.max_body_bytes, provider=self.name, url=url)
            return self._whole(acc, data)

        # the shared driver is the one generator per stream; a connection lost mid-body is mapped
        # by ``Transport.stream``, which it enters
        return drive(
            acc,
            wire.ndjson_decoder(acc, t.limits),
            t.stream("POST", _CHAT, json_body=body, model=model),
            _chunks,
            whole=whole,
            refine=lambda err: wire.refine_error(err, model),
        )

    async def resolve_model(self, model: str | None) -> str:
        """As ``BaseProvider.resolve_model``, but a server with nothing pulled says to pull a model."""
        try:
            return await super().resolve_model(model)
        except E.ModelNotFoundError as err:
            if err.status_code is not None:
                raise
            raise E.ModelNotFoundError(
                "no model given and the Ollama server has none pulled",
                provider=self.name,
                url=self.base_url,
                hint="pull one (`llmswitch pull llama3.2`) or pass 'ollama:MODEL'",
            ) from None

    # --- models ------------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        """``/api/tags`` with ``loaded`` (and the loaded context length) from ``/api/ps``.

        ``/api/ps`` is one cheap local call made concurrently; if it fails, ``loaded`` stays unknown."""
        tags, running = await asyncio.gather(self.client.list_models(), self.client.list_running(), return_exceptions=True)
        if isinstance(tags, BaseException):
            raise tags
        if isinstance(running, BaseException):
            return tags
        by_name = {m.id: m for m in running}
        for m in tags:
            r = next((x for n, x in by_name.items() if same_model(n, m.id)), None)
            m.loaded = r is not None
            if r is not None:
                m.context_length = r.context_length or m.context_length
                m.metadata.update({k: v for k, v in r.metadata.items() if k in ("expires_at", "size_vram")})
        return tags

    async def detect_model(self) -> str | None:
        """The configured default if pulled, else a loaded chat model, else the first chat model."""
        models = await self.list_models()
        return self._pick(models)

    def _pick(self, models: list[ModelInfo]) -> str | None:
        if not models:
            return None
        if self.default_model:
            for m in models:
                if same_model(m.id, self.default_model):
                    return m.id
        chat = [m for m in models if m.type != "embedding"] or models
        loaded = [m for m in chat if m.loaded]
        return (loaded or chat)[0].id

    async def model_details(self, model: str) -> OllamaModelDetails:
        """``/api/show`` for one model, cached for the provider's life (a pulled model does not change)."""
        key = model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"
        info = self._details.get(key)
        if info is None:
            info = self._details[key] = await self.client.get_model_info(model)
            if info.capabilities is not None:  # what the server says this model lacks is checked before sending
                caps = info.to_capabilities(self.default_capabilities)
                for name in {model, key}:
                    self.set_model_capabilities(name, caps)
        return info

    async def model_capabilities(self, model: str | None = None) -> ProviderCapabilities:
        """What this model can do (tools, vision, thinking), from ``/api/show``'s ``capabilities``.

        Ask before sending tools: a model without ``tools`` answers 400 ``does not support tools``."""
        name = await self.resolve_model(model)
        return (await self.model_details(name)).to_capabilities(self.default_capabilities)

    # --- health --------------------------------------------------------------------------------
    async def _probe_health(self, status: ProviderHealthStatus) -> None:
        """``/api/version`` answers and a model is pulled (the configured one, if any)."""
        status.metadata["version"] = await self.client.version()
        status.connected = True
        models = await self.list_models()
        status.metadata["models"] = len(models)
        status.metadata["loaded"] = [m.id for m in models if m.loaded]
        picked = self._pick(models)
        self._settle_model(
            status,
            picked if picked and self.default_model and same_model(picked, self.default_model) else None,
            picked,
            missing=f"model {self.default_model!r} is not pulled; run `llmswitch pull {self.default_model}`",
            empty="Ollama is running but has no model; run `llmswitch pull llama3.2` (or any model)",
        )
