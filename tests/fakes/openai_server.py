"""A fake OpenAI Chat Completions server, following the published wire format.

Sources (see ../shared/reference/wire-protocols.md §4, which cites them line by line):
- API reference, "Create chat completion" and "The chat completion chunk object":
  https://platform.openai.com/docs/api-reference/chat — request/response/chunk shapes,
  ``stream_options.include_usage`` (final chunk with ``choices: []`` and ``usage``, other chunks
  ``usage: null``), ``data: [DONE]`` terminator.
- Error codes guide https://platform.openai.com/docs/guides/error-codes and the error schema in
  openai-python's ``openapi.transformed.yml`` (``{"error": {message, type, param, code}}``).
- Rate limits guide https://platform.openai.com/docs/guides/rate-limits (``x-ratelimit-*``
  headers with Go-style durations) and ``retry-after``.
- List models https://platform.openai.com/docs/api-reference/models/list.

Behaviour is chosen by the model name so one server covers every case:

=====================  ==========================================================
``gpt-test``           plain reply "Hello! How can I help?" (streamed in 3 chunks)
``gpt-tools``          a ``get_weather`` tool call (streamed as many small deltas)
``gpt-missing``        404 ``model_not_found``
``gpt-small-ctx``      400 ``context_length_exceeded``
``gpt-ratelimited``    429 ``rate_limit_exceeded`` with ``retry-after: 2``
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
            masked = (given[:6] + "***" + given[-4:]) if len(given) > 10 else "***"
            return _error(
                401,
                f"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys.",
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
        if model == "gpt-broken":
            return _error(500, "The server had an error while processing your request. Sorry about that!", "server_error", None)
        if model == "gpt-slow":
            await asyncio.sleep(2)
        if model not in MODELS and model not in ("gpt-cut", "gpt-malformed", "gpt-stream-error", "gpt-slow"):
            return _error(404, f"The model `{model}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found")
        if body.get("stream"):
            return await self._stream(request, body)
        return web.json_response(self._completion(body))

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        model = body["model"]
        message: dict[str, Any] = {"role": "assistant", "content": "".join(REPLY), "refusal": None}
        finish = "stop"
        if model == "gpt-tools":
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_abc123", "type": "function", "function": {"name": "get_weather", "arguments": "".join(TOOL_ARGS)}}
                ],
            }
            finish = "tool_calls"
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
        await w(_chunk(cid, model, {"role": "assistant", "content": ""}, with_usage_field=include_usage))
        if model == "gpt-tools":
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
