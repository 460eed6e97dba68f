"""A fake OpenAI Chat Completions server, following the published wire format.

Sources (see ../shared/reference/wire-protocols.md §4, which cites them line by line):
- API reference, "Create chat completion" and "The chat completion chunk object":
  https://platform.openai.com/docs/api-reference/chat — request/response/chunk shapes,
  ``stream_options.include_usage`` (final chunk with ``choices: []`` and ``usage``, other chunks
  ``usage: null``), ``data: [DONE]`` terminator.
- Error codes guide https://platform.openai.com/docs/guides/error-codes and the error schema in
  openai-python's ``openapi.transformed.yml`` (``{"error": {message, type, param, code}}``).
- Rate limits guide https://platform.openai.com/docs/guides/rate-limits (``x-ratelimit-*``
  headers with Go-style durations) and ``retry-after`` / ``retry-after-ms`` as openai-python
  reads them (wire-protocols.md §4.2).
- ``finish_reason`` values ``stop | length | tool_calls | content_filter | function_call``
  (deprecated), wire-protocols.md §4.5 (openai-python ``chat_completion.py``).
- The 401 body masks the key the way the real API does (wire-protocols.md §4.1, observed:
  ``Incorrect API key provided: sk-PMafP***...E873.`` — first 8 and last 4 characters).
- List models https://platform.openai.com/docs/api-reference/models/list.

Behaviour is chosen by the model name so one server covers every case:

=====================  ==========================================================
``gpt-test``           plain reply "Hello! How can I help?" (streamed in 3 chunks)
``gpt-tools``          a ``get_weather`` tool call (streamed as many small deltas)
``gpt-missing``        404 ``model_not_found``
``gpt-small-ctx``      400 ``context_length_exceeded``
``gpt-ratelimited``    429 ``rate_limit_exceeded`` with ``retry-after: 2`` (and ``x-ratelimit-*``)
``gpt-ratelimit-<f>``  429 with one rate-limit header form ``<f>`` (``RATE_LIMIT_FORMS``):
                       ``seconds``, ``http-date``, ``ms``, ``reset-requests``, ``reset-tokens``
``gpt-finish-<r>``     finish_reason ``<r>`` (``FINISH_REASONS``), plain and streamed
``gpt-broken``         500 server error
``gpt-cut``            stream cut after two chunks (connection closed, no [DONE])
``gpt-malformed``      a ``data:`` line that is not JSON
``gpt-stream-error``   an ``{"error": ...}`` chunk inside a 200 stream
``gpt-slow``           waits 2 s before answering (timeouts)
``gpt-long``           streams ``n`` chunks given by ``max_tokens``
=====================  ==========================================================

Every request needs ``Authorization: Bearer <VALID_KEY>``, else 401 ``invalid_api_key`` whose
message echoes a masked key, as the real API does.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

VALID_KEY = "sk-test-0123456789abcdefSECRET"
MODELS = ["gpt-test", "gpt-tools", "gpt-long"]
REPLY = ["Hello", "! How can", " I help?"]
TOOL_ARGS = ['{"ci', 'ty": "Pa', 'ris", ', '"unit"', ': "c"}']
FINISH_REASONS = ("stop", "length", "content_filter", "tool_calls", "function_call")
PARTIAL = ["Hello", "! How"]
"""What ``length`` and ``content_filter`` turns carry before they stop."""
RATE_LIMIT_FORMS = ("seconds", "http-date", "ms", "reset-requests", "reset-tokens")
HTTP_DATE_AHEAD = 30
"""``http-date``: the date sent is this many seconds after the request (1 s resolution)."""


def mask_key(key: str) -> str:
    """The key as OpenAI's 401 message shows it (§4.1, observed): first 8 and last 4 characters."""
    return key[:8] + "***..." + key[-4:] if len(key) > 12 else "***"


def rate_limit_headers(form: str) -> dict[str, str]:
    """One rate-limit header form per 429 (§4.2); the wait each one means is in the tests."""
    if form == "seconds":
        return {"retry-after": "3"}
    if form == "http-date":
        from email.utils import formatdate

        return {"retry-after": formatdate(time.time() + HTTP_DATE_AHEAD, usegmt=True)}
    if form == "ms":  # openai-python reads retry-after-ms first; retry-after is the rounded-up twin
        return {"retry-after-ms": "1500", "retry-after": "2"}
    if form == "reset-requests":  # the request budget is spent; tokens are not the limit
        return {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "1m30.5s", "x-ratelimit-limit-tokens": "150000",
                "x-ratelimit-remaining-tokens": "149984", "x-ratelimit-reset-tokens": "6ms"}
    if form == "reset-tokens":
        return {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59",
                "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "150000",
                "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"}
    raise ValueError(form)


def _error(status: int, message: str, etype: str, code: str | None, param: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": etype, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None, usage: Any = None, with_usage_field: bool = False) -> bytes:
    obj: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": model,
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if with_usage_field:
        obj["usage"] = usage
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 7,
    "total_tokens": 19,
    "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        return app

    def _auth(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {VALID_KEY}":
            given = auth.removeprefix("Bearer ")
            return _error(
                401,
                f"Incorrect API key provided: {mask_key(given)}. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        return None

    async def models(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied:
            return denied
        return web.json_response(
            {"object": "list", "data": [{"id": m, "object": "model", "created": 1686935002, "owned_by": "openai"} for m in MODELS]}
        )

    async def chat(self, request: web.Request) -> web.StreamResponse:
        denied = self._auth(request)
        if denied:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error", None)
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        model = body.get("model")
        if model == "gpt-missing":
            return _error(404, f"The model `{model}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found")
        if model == "gpt-small-ctx":
            return _error(
                400,
                "This model's maximum context length is 4097 tokens. However, your messages resulted in 4294 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                "context_length_exceeded",
                "messages",
            )
        if model == "gpt-ratelimited":
            return _error(
                429,
                "Rate limit reached for requests in organization org-test on requests per min. Limit: 3 / min. Please try again in 2s.",
                "requests",
                "rate_limit_exceeded",
                headers={
                    "retry-after": "2",
                    "x-ratelimit-limit-requests": "3",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "2s",
                },
            )
        if model.startswith("gpt-ratelimit-") and model[len("gpt-ratelimit-"):] in RATE_LIMIT_FORMS:
            return _error(
                429,
                "Rate limit reached for requests in organization org-test on requests per min. Limit: 60 / min.",
                "requests",
                "rate_limit_exceeded",
                headers=rate_limit_headers(model[len("gpt-ratelimit-"):]),
            )
        if model == "gpt-broken":
            return _error(500, "The server had an error while processing your request. Sorry about that!", "server_error", None)
        if model == "gpt-slow":
            await asyncio.sleep(2)
        finishing = model.startswith("gpt-finish-") and model[len("gpt-finish-"):] in FINISH_REASONS
        if model not in MODELS and model not in ("gpt-cut", "gpt-malformed", "gpt-stream-error", "gpt-slow") and not finishing:
            return _error(404, f"The model `{model}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found")
        if body.get("stream"):
            return await self._stream(request, body)
        return web.json_response(self._completion(body))

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        model = body["model"]
        message: dict[str, Any] = {"role": "assistant", "content": "".join(REPLY), "refusal": None}
        finish = "stop"
        reason = model[len("gpt-finish-"):] if model.startswith("gpt-finish-") else None
        if model == "gpt-tools" or reason == "tool_calls":
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_abc123", "type": "function", "function": {"name": "get_weather", "arguments": "".join(TOOL_ARGS)}}
                ],
            }
            finish = "tool_calls"
        elif reason == "function_call":  # the deprecated single call (answers a request with ``functions``)
            message = {"role": "assistant", "content": None,
                       "function_call": {"name": "get_weather", "arguments": "".join(TOOL_ARGS)}}
            finish = "function_call"
        elif reason in ("length", "content_filter"):
            message["content"] = "".join(PARTIAL)
            finish = reason
        elif body.get("max_completion_tokens", body.get("max_tokens")) == 1:  # max_tokens is the deprecated spelling
            message["content"] = "Hello"
            finish = "length"
        return {
            "id": "chatcmpl-123",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model + "-2024-07-18" if model == "gpt-test" else model,
            "system_fingerprint": "fp_44709d6fcb",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": USAGE,
            "service_tier": "default",
        }

    async def _stream(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        model = body["model"]
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        cid = "chatcmpl-123"
        w = resp.write
        reason = model[len("gpt-finish-"):] if model.startswith("gpt-finish-") else None
        await w(_chunk(cid, model, {"role": "assistant", "content": ""}, with_usage_field=include_usage))
        if reason == "function_call":
            await w(_chunk(cid, model, {"function_call": {"name": "get_weather", "arguments": ""}}, with_usage_field=include_usage))
            for frag in TOOL_ARGS:
                await w(_chunk(cid, model, {"function_call": {"arguments": frag}}, with_usage_field=include_usage))
            finish = "function_call"
        elif reason in ("length", "content_filter"):
            for piece in PARTIAL:
                await w(_chunk(cid, model, {"content": piece}, with_usage_field=include_usage))
            finish = reason
        elif model == "gpt-tools" or reason == "tool_calls":
            await w(_chunk(cid, model, {"tool_calls": [{"index": 0, "id": "call_abc123", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}, with_usage_field=include_usage))
            for frag in TOOL_ARGS:
                # Some servers repeat id/name on every delta; clients must not concatenate them.
                await w(_chunk(cid, model, {"tool_calls": [{"index": 0, "id": "call_abc123", "function": {"name": "get_weather", "arguments": frag}}]}, with_usage_field=include_usage))
            finish = "tool_calls"
        elif model == "gpt-long":
            n = int(body.get("max_completion_tokens") or body.get("max_tokens") or 10)
            for i in range(n):
                await w(_chunk(cid, model, {"content": f"t{i} "}, with_usage_field=include_usage))
            finish = "length"
        else:
            for i, piece in enumerate(REPLY):
                if model == "gpt-cut" and i == 2:
                    await asyncio.sleep(0.05)
                    assert request.transport is not None
                    request.transport.close()  # the connection dies mid-answer
                    return resp
                if model == "gpt-malformed" and i == 1:
                    await w(b'data: {"id": "chatcmpl-123", "choices": [{"delta": {"content": "oops"\n\n')
                    continue
                if model == "gpt-stream-error" and i == 1:
                    await w(b'data: {"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}\n\n')
                    await resp.write_eof()
                    return resp
                await w(_chunk(cid, model, {"content": piece}, with_usage_field=include_usage))
            finish = "stop"
        await w(_chunk(cid, model, {}, finish, with_usage_field=include_usage))
        if include_usage:
            usage_chunk = {"id": cid, "object": "chat.completion.chunk", "created": 1694268190, "model": model, "choices": [], "usage": USAGE}
            await w(b"data: " + json.dumps(usage_chunk).encode() + b"\n\n")
        await w(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def start() -> tuple["FakeOpenAI", Any]:
    """Start a server in a background thread: returns (fake, server) — ``server.url`` + ``/v1``."""
    from ._threaded import ThreadedServer

    fake = FakeOpenAI()
    server = ThreadedServer(fake.app).start()
    return fake, server
