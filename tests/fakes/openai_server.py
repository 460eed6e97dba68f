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
``gpt-flaky-<n>-<s>``  the first ``n`` requests for this exact name answer HTTP ``<s>`` (429 with
                       ``retry-after: 1``, 500, 503, 529 or 400), then the plain reply: an
                       outage that recovers (counted per name in ``flaky_seen``)
``gpt-cut``            stream cut after two chunks (connection closed, no [DONE])
``gpt-malformed``      a ``data:`` line that is not JSON
``gpt-stream-error``   an ``{"error": ...}`` chunk inside a 200 stream
``gpt-slow``           waits 2 s before answering (timeouts)
``gpt-long``           streams ``n`` chunks given by ``max_tokens``
``gpt-agent``          a whole tool loop, decided from the conversation (below)
any name in ``models`` plain reply, like ``gpt-test``
other names            404 ``model_not_found``
=====================  ==========================================================

Every request needs ``Authorization: Bearer <VALID_KEY>``, else 401 ``invalid_api_key`` whose
message echoes a masked key, as the real API does. ``FakeOpenAI(key=None)`` is an
OpenAI-compatible server started without a key (vLLM, LM Studio, llama-server without
``--api-key``, wire-protocols.md §2.3: "with no keys configured, every request is allowed").

Constructor options, for tests that need several distinguishable servers (the registry,
``auto``, usage totals): ``models`` is what ``GET /v1/models`` lists, in order (the first is
the one a client "detects"), and every listed name answers the plain reply; ``usage`` replaces
the ``usage`` object of every answer; ``chunk_delay`` waits between streamed text chunks and
``chunks`` sets how many (``"t0 "``, ``"t1 "``, ...) a listed model streams instead of ``REPLY``.

The tool loop on ``gpt-agent`` (an agent with a tool sends two requests, the second carrying
the tool's result as a ``role: "tool"`` message; https://platform.openai.com/docs/guides/function-calling),
decided from the conversation alone, so the same request always gets the same answer:

- the last message is ``role: "tool"`` → the text ``"Tool said: <content>"``, so a test sees
  that the result reached the model;
- else, when the request offers tools → a call of the first offered tool, with arguments built
  from its JSON schema (``"Paris"`` for strings, ``1`` for numbers);
- else → ``"Hello! How can I help?"``.

A ``tool`` message whose ``tool_call_id`` no preceding assistant message issued is rejected
with 400, as OpenAI does ("messages with role 'tool' must be a response to a preceding message
with 'tool_calls'"). Streamed like every other answer (§4.3, tool-call deltas §4.4).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

VALID_KEY = "sk-test-0123456789abcdefSECRET"
MODELS = ["gpt-test", "gpt-tools", "gpt-long"]
AGENT_MODEL = "gpt-agent"
AGENT_USAGE = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
"""What every ``gpt-agent`` answer reports, so a two-request run reports twice this."""
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


def _example_args(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        t = prop.get("type")
        out[name] = 1 if t in ("integer", "number") else True if t == "boolean" else "Paris"
    return out


class ToolLoop:
    """The ``gpt-agent`` conversation (module docstring); also served by the Ollama fake's ``/v1``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.tool_results: list[str] = []

    def check(self, body: dict[str, Any]) -> web.Response | None:
        issued: set[str] = set()
        for i, m in enumerate(body.get("messages") or []):
            if m.get("role") == "assistant":
                issued |= {c["id"] for c in m.get("tool_calls") or []}
            if m.get("role") == "tool" and m.get("tool_call_id") not in issued:
                return _error(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                    "invalid_request_error",
                    None,
                    f"messages.[{i}].role",
                )
        return None

    def answer(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """(assistant message, finish_reason) for this conversation."""
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            content = last.get("content")
            if isinstance(content, list):  # content parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            self.tool_results.append(str(content))
            return {"role": "assistant", "content": f"Tool said: {content}"}, "stop"
        tools = body.get("tools") or []
        if tools:
            fn = tools[0]["function"]
            n = sum(1 for m in messages if m.get("role") == "assistant") + 1
            call = {
                "id": f"call_{n:03d}",
                "type": "function",
                "function": {"name": fn["name"], "arguments": json.dumps(_example_args(fn.get("parameters") or {}))},
            }
            return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        return {"role": "assistant", "content": "Hello! How can I help?"}, "stop"

    async def respond(self, request: web.Request, body: dict[str, Any], model: str) -> web.StreamResponse:
        self.requests.append(body)
        bad = self.check(body)
        if bad is not None:
            return bad
        message, finish = self.answer(body)
        if body.get("stream"):
            return await self._stream(request, body, model, message, finish)
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1694268190,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": AGENT_USAGE,
        })

    async def _stream(self, request: web.Request, body: dict[str, Any], model: str, message: dict[str, Any], finish: str) -> web.StreamResponse:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        cid = f"chatcmpl-{len(self.requests)}"
        await resp.write(_chunk(cid, model, {"role": "assistant", "content": ""}, with_usage_field=include_usage))
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            await resp.write(_chunk(cid, model, {"tool_calls": [{"index": 0, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}]}, with_usage_field=include_usage))
            args = call["function"]["arguments"]
            for i in range(0, len(args), 7):
                await resp.write(_chunk(cid, model, {"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 7]}}]}, with_usage_field=include_usage))
        else:
            text = message["content"]
            for i in range(0, len(text), 5):
                await resp.write(_chunk(cid, model, {"content": text[i : i + 5]}, with_usage_field=include_usage))
        await resp.write(_chunk(cid, model, {}, finish, with_usage_field=include_usage))
        if include_usage:
            tail = {"id": cid, "object": "chat.completion.chunk", "created": 1694268190, "model": model, "choices": [], "usage": AGENT_USAGE}
            await resp.write(b"data: " + json.dumps(tail).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


SCRIPTED = ("gpt-cut", "gpt-malformed", "gpt-stream-error", "gpt-slow")
"""Models that answer (badly) without being listed."""


class FakeOpenAI:
    def __init__(self, models: list[str] | None = None, *, key: str | None = VALID_KEY,
                 usage: dict[str, Any] | None = None, chunks: int | None = None, chunk_delay: float = 0.0) -> None:
        self.models = list(MODELS if models is None else models)
        self.key = key
        self.usage = USAGE if usage is None else usage
        self.chunks = chunks
        self.chunk_delay = chunk_delay
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.flaky_seen: dict[str, int] = {}
        self.loop = ToolLoop()
        self.base_url = ""
        """``<server>/v1`` once ``start()`` served it."""
        self.server: Any = None
        """The ``ThreadedServer`` that ``start()`` runs it on (``.stop()`` takes it down mid-test)."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models_handler)
        return app

    def _auth(self, request: web.Request) -> web.Response | None:
        if self.key is None:
            return None
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.key}":
            given = auth.removeprefix("Bearer ")
            return _error(
                401,
                f"Incorrect API key provided: {mask_key(given)}. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        return None

    async def models_handler(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied:
            return denied
        return web.json_response(
            {"object": "list", "data": [{"id": m, "object": "model", "created": 1686935002, "owned_by": "openai"} for m in self.models]}
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
        if model == AGENT_MODEL:
            return await self.loop.respond(request, body, model)
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
        if model.startswith("gpt-flaky-"):
            failing = self._flaky(model)
            if failing is not None:
                return failing
        if model == "gpt-broken":
            return _error(500, "The server had an error while processing your request. Sorry about that!", "server_error", None)
        if model == "gpt-slow":
            await asyncio.sleep(2)
        finishing = model.startswith("gpt-finish-") and model[len("gpt-finish-"):] in FINISH_REASONS
        flaky = model.startswith("gpt-flaky-")
        if model not in self.models and model not in MODELS and model not in SCRIPTED and not finishing and not flaky:
            return _error(404, f"The model `{model}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found")
        if body.get("stream"):
            return await self._stream(request, body)
        return web.json_response(self._completion(body))

    def _flaky(self, model: str) -> web.Response | None:
        """``gpt-flaky-<n>-<status>``: the error while this name has been asked fewer than n times."""
        try:
            n_text, status_text = model[len("gpt-flaky-"):].split("-", 1)
            n, status = int(n_text), int(status_text)
        except ValueError:
            return _error(404, f"The model `{model}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found")
        seen = self.flaky_seen[model] = self.flaky_seen.get(model, 0) + 1
        if seen > n:
            return None
        if status == 429:
            return _error(429, "Rate limit reached for requests. Please try again in 1s.", "requests",
                          "rate_limit_exceeded", headers={"retry-after": "1"})
        if status == 400:
            return _error(400, "Invalid value for 'temperature'.", "invalid_request_error", None, "temperature")
        if status == 529:
            return _error(529, "Overloaded", "overloaded_error", None)
        return _error(status, "The server had an error while processing your request. Sorry about that!", "server_error", None)

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
            "usage": self.usage,
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
        elif self.chunks is not None and model in self.models and model not in MODELS:
            for i in range(self.chunks):
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                await w(_chunk(cid, model, {"content": f"t{i} "}, with_usage_field=include_usage))
            finish = "stop"
        else:
            for i, piece in enumerate(REPLY):
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
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
            usage_chunk = {"id": cid, "object": "chat.completion.chunk", "created": 1694268190, "model": model, "choices": [], "usage": self.usage}
            await w(b"data: " + json.dumps(usage_chunk).encode() + b"\n\n")
        await w(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def start(models: list[str] | None = None, **options: Any) -> tuple[FakeOpenAI, Any]:
    """Start a server in a background thread: returns (fake, server); ``fake.base_url`` is ``server.url + "/v1"``."""
    from ._threaded import ThreadedServer

    fake = FakeOpenAI(models, **options)
    server = ThreadedServer(fake.app).start()
    fake.base_url = server.url + "/v1"
    fake.server = server
    return fake, server
