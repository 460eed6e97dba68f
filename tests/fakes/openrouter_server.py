"""A fake OpenRouter API (aiohttp.web) under ``/api/v1``, following its published docs.

Sources (``/work/shared/reference/wire-protocols.md`` §6 cites them in detail; the docs are
github.com/OpenRouterTeam/docs, the source of https://openrouter.ai/docs):
- Models, https://openrouter.ai/docs/api-reference/list-available-models and
  ``guides/overview/models.mdx`` — ``GET /api/v1/models`` is public; ``pricing`` values are
  decimal strings in USD per token; ``context_length`` and ``top_provider``.
- Key, https://openrouter.ai/docs/api-reference/limits — ``GET /api/v1/key`` → ``{"data":
  {label, limit, limit_remaining, limit_reset, usage, ..., is_free_tier}}``.
- Chat, https://openrouter.ai/docs/api-reference/overview and ``usage-accounting.mdx`` — an
  OpenAI-shaped request/response; usage is always returned, with ``cost`` (credits charged),
  ``is_byok`` and ``cost_details.upstream_inference_cost``; in streams it comes once, in the
  final chunk before ``[DONE]``, with empty ``choices``. Streams carry ``: OPENROUTER
  PROCESSING`` comment lines (``streaming.mdx``).
- Errors, https://openrouter.ai/docs/api-reference/errors (``errors-and-debugging.mdx``;
  wire-protocols.md §6.6) — ``{"error": {code, message, metadata?}}`` with the HTTP status equal
  to ``error.code``; 401 ``Missing Authentication header`` (the OpenAPI example) when no key is
  sent; 402 ``Insufficient credits...`` (the OpenAPI example, no ``Retry-After``); 403
  moderation with ``metadata = {reasons, flagged_input, provider_name, model_slug}``; provider
  errors carry ``metadata.error_type`` (+ ``provider_code``); availability errors carry
  ``error.availability = {code, retryable, retry_after?, requested_models, docs_url}`` with the
  HTTP status the table in §6.6 gives (``model_not_found`` 400, ``no_endpoints`` 404,
  ``capacity_exhausted`` 429, ``temporarily_unavailable`` 503), and ``Retry-After`` (seconds) on
  429 and 503. An error after the stream started is a chunk with top-level ``error`` and
  ``finish_reason: "error"``, then the stream ends.

Models (by name): ``openai/gpt-test`` (plain, cost 0.000123), ``openai/gpt-tools`` (a
``get_weather`` tool call streamed in small argument deltas), ``openai/gpt-byok`` (BYOK: cost
0.00001 + upstream 0.0002), ``openai/gpt-error-stream`` (error chunk mid-stream, code 502),
``openai/gpt-error-body`` (a 200 whose body is a provider error), ``openai/gpt-<code>`` for each
availability code in ``AVAILABILITY`` (e.g. ``openai/gpt-capacity_exhausted``),
``openai/gpt-no-credits`` (402), ``openai/gpt-moderated`` (403 moderation). Any other model: 400
with ``availability.code: "model_not_found"``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

VALID_KEY = "sk-or-v1-test0123456789SECRET"
COST = 0.000123
REPLY = ["Hello", "! How can", " I help?"]
TOOL_ARGS = ['{"ci', 'ty": "Pa', 'ris", ', '"unit"', ': "c"}']
MODELS = [
    {"id": "openai/gpt-test", "canonical_slug": "openai/gpt-test-2025", "name": "OpenAI: GPT Test", "created": 1715558400,
     "context_length": 128000,
     "pricing": {"prompt": "0.0000025", "completion": "0.00001", "request": "0", "image": "0",
                 "input_cache_read": "0.00000125"},
     "top_provider": {"context_length": 128000, "max_completion_tokens": 16384, "is_moderated": True},
     "supported_parameters": ["tools", "tool_choice", "max_tokens"]},
    {"id": "meta-llama/llama-free:free", "name": "Llama (free)", "context_length": 8192,
     "pricing": {"prompt": "0", "completion": "0"}, "top_provider": {"context_length": 8192}},
    {"id": "openrouter/auto", "name": "Auto Router", "context_length": 2000000,
     "pricing": {"prompt": "-1", "completion": "-1"}, "top_provider": {"context_length": None}},
]
CHAT_MODELS = {"openai/gpt-test", "openai/gpt-tools", "openai/gpt-byok", "openai/gpt-error-stream", "openai/gpt-error-body"}
DOCS_URL = "https://openrouter.ai/docs/api-reference/errors"
# availability code -> (HTTP status, retryable, Retry-After seconds or None, message) — §6.6
AVAILABILITY: dict[str, tuple[int, bool, int | None, str]] = {
    "no_endpoints": (404, False, None, "No endpoints found for {model}."),
    "capacity_exhausted": (429, True, 12, "{model} is temporarily rate-limited upstream. Please retry shortly."),
    "temporarily_unavailable": (503, True, 5, "{model} is temporarily unavailable. Please retry shortly."),
}
MODERATION = {"reasons": ["harassment"], "flagged_input": "you are...", "provider_name": "OpenAI", "model_slug": "openai/gpt-moderated"}
KEY_DATA = {"label": "sk-or-v1-tes...RET", "limit": 100, "limit_remaining": 74.5, "limit_reset": "monthly",
            "include_byok_in_limit": False, "usage": 25.5, "usage_daily": 1.5, "usage_weekly": 5.5, "usage_monthly": 25.5,
            "is_free_tier": False, "is_management_key": False}


def _usage(model: str) -> dict[str, Any]:
    u: dict[str, Any] = {
        "prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19,
        "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "cost": COST, "is_byok": False, "cost_details": {"upstream_inference_cost": None},
    }
    if model == "openai/gpt-byok":
        u.update(cost=0.00001, is_byok=True, cost_details={"upstream_inference_cost": 0.0002})
    return u


def error(status: int, message: str, metadata: dict[str, Any] | None = None, *, availability: dict[str, Any] | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    err: dict[str, Any] = {"code": status, "message": message}
    if metadata:
        err["metadata"] = metadata
    if availability:
        err["availability"] = availability
    return web.json_response({"error": err}, status=status, headers=headers)


def availability_error(code: str, model: str) -> web.Response:
    if code == "model_not_found":
        status, retryable, wait, message = 400, False, None, "{model} is not a valid model ID"
    else:
        status, retryable, wait, message = AVAILABILITY[code]
    avail: dict[str, Any] = {"code": code, "retryable": retryable, "requested_models": [model], "docs_url": DOCS_URL}
    if wait is not None:
        avail["retry_after"] = wait
    return error(status, message.format(model=model), availability=avail,
                 headers={"Retry-After": str(wait)} if wait is not None else None)


class FakeOpenRouter:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/models", self.models)
        app.router.add_get("/api/v1/key", self.key)
        app.router.add_post("/api/v1/chat/completions", self.chat)
        return app

    def _denied(self, request: web.Request) -> web.Response | None:
        self.headers.append(dict(request.headers))
        auth = request.headers.get("Authorization")
        if not auth:
            return error(401, "Missing Authentication header")  # the OpenAPI example (§6.6)
        if auth != f"Bearer {VALID_KEY}":
            return error(401, "No auth credentials found")  # the real API does not echo the key
        return None

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"data": MODELS})  # public: no key needed

    async def key(self, request: web.Request) -> web.Response:
        denied = self._denied(request)
        if denied:
            return denied
        return web.json_response({"data": KEY_DATA})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        denied = self._denied(request)
        if denied:
            return denied
        body = await request.json()
        self.requests.append(body)
        model = str(body.get("model"))
        code = model.removeprefix("openai/gpt-")
        if model.startswith("openai/gpt-") and code in AVAILABILITY:
            return availability_error(code, model)
        if model == "openai/gpt-no-credits":
            return error(402, "Insufficient credits. Add more using https://openrouter.ai/credits")
        if model == "openai/gpt-moderated":
            return error(403, f"{model} requires moderation on OpenAI. Your input was flagged for \"harassment\". No credits were charged.",
                         MODERATION)
        if model not in CHAT_MODELS:
            return availability_error("model_not_found", model)
        if model == "openai/gpt-error-body":  # a provider error after routing: HTTP 200, error in the body
            return web.json_response({"error": {"code": 502, "message": "Provider returned error",
                                                "metadata": {"error_type": "provider_unavailable", "provider_name": "OpenAI",
                                                             "provider_code": 502}}})
        if body.get("stream"):
            return await self._stream(request, model)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(REPLY)}
        finish = "stop"
        if model == "openai/gpt-tools":
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_fake01", "type": "function", "function": {"name": "get_weather", "arguments": "".join(TOOL_ARGS)}}]}
            finish = "tool_calls"
        return web.json_response({
            "id": "gen-fake0001", "provider": "OpenAI", "model": model, "object": "chat.completion", "created": 1762179802,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "native_finish_reason": finish, "logprobs": None}],
            "usage": _usage(model),
        })

    async def _stream(self, request: web.Request, model: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            obj = {"id": "gen-fake0001", "provider": "OpenAI", "model": model, "object": "chat.completion.chunk",
                   "created": 1762179802, **extra,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "native_finish_reason": finish,
                                "logprobs": None}]}
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        await resp.write(b": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n")
        if model == "openai/gpt-error-stream":
            await resp.write(chunk({"role": "assistant", "content": "Hel"}))
            await resp.write(chunk({"role": "assistant", "content": ""}, "error",
                                   error={"code": 502, "message": "Provider returned error",
                                          "metadata": {"error_type": "provider_unavailable"}}))
            await resp.write_eof()
            return resp
        if model == "openai/gpt-tools":
            await resp.write(chunk({"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": "call_fake01", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}))
            for part in TOOL_ARGS:
                await resp.write(chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
            await resp.write(chunk({}, "tool_calls"))
        else:
            for part in REPLY:
                await resp.write(chunk({"role": "assistant", "content": part}))
                await resp.write(b": OPENROUTER PROCESSING\n\n")
            await resp.write(chunk({}, "stop"))
        final = {"id": "gen-fake0001", "provider": "OpenAI", "model": model, "object": "chat.completion.chunk",
                 "created": 1762179802, "choices": [], "usage": _usage(model)}
        await resp.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def start() -> tuple[FakeOpenRouter, Any]:
    """Start a server in a background thread: returns (fake, server); the base URL is ``server.url + "/api/v1"``."""
    from ._threaded import ThreadedServer

    fake = FakeOpenRouter()
    return fake, ThreadedServer(fake.app).start()
