"""A fake Anthropic Messages API server (aiohttp.web), following the published wire format.

Sources (``/work/shared/reference/wire-protocols.md`` §5 cites them in detail):
- Messages API, https://docs.anthropic.com/en/api/messages — request (``model``, ``messages``,
  required ``max_tokens``, top-level ``system``, ``tools[].input_schema``, ``tool_choice``,
  ``thinking``), response (``content`` blocks ``text`` / ``thinking`` + ``signature`` /
  ``tool_use``, ``stop_reason``, ``usage`` with ``cache_*_input_tokens``).
- Streaming, https://docs.anthropic.com/en/docs/build-with-claude/streaming — named SSE events
  ``message_start``, ``content_block_start/delta/stop`` (``text_delta``, ``input_json_delta``
  whose first fragment may be ``""``, ``thinking_delta``, ``signature_delta`` just before the
  block stops), ``message_delta`` with cumulative usage, ``message_stop``, ``ping``, and
  ``event: error`` after the 200 status. No ``[DONE]``.
- Errors, https://docs.anthropic.com/en/api/errors — ``{"type": "error", "error": {type,
  message}, "request_id"}``; 401 authentication_error, 403 permission_error, 404
  not_found_error, 413 request_too_large, 429 rate_limit_error, 529 overloaded_error; rate
  limits https://docs.anthropic.com/en/api/rate-limits — ``retry-after`` in seconds, and
  ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` with ``*-reset`` an RFC 3339
  timestamp (wire-protocols.md §5.5).
- ``stop_reason`` ∈ ``end_turn | max_tokens | stop_sequence | tool_use | pause_turn | refusal |
  model_context_window_exceeded`` (wire-protocols.md §5.2, the SDK's ``stop_reason.py``).
- Auth: the key only in ``x-api-key`` (wire-protocols.md §5.1; ``Authorization: Bearer`` is for
  OAuth tokens, which this fake does not issue), which is also what the Anthropic SDK sends for
  an ``api_key`` (``anthropic/_client.py`` ``_api_key_auth``: ``{"X-Api-Key": api_key}``). A key
  sent as ``Authorization: Bearer`` is rejected like a missing one: 401 ``invalid x-api-key``;
  the real API does not echo the key back. ``anthropic-version`` must be a published version
  (``2023-06-01``, which llmswitch and the SDK send, or ``2023-01-01``), else 400.
- Models, https://docs.anthropic.com/en/api/models-list — ``GET /v1/models`` paged with
  ``limit`` / ``after_id``; pages carry ``data``, ``has_more``, ``first_id``, ``last_id``.

Behaviour is chosen by the model name:

========================  ===============================================================
``claude-test``           plain "Hello! How can I help?" (3 text deltas when streamed)
``claude-tools``          text + a ``get_weather`` tool_use; ``input_json_delta`` in 5 parts
``claude-thinking``       thinking (+ signature) then text; needs ``thinking`` in the request
``claude-server-tools``   unmodelled blocks: server_tool_use, web_search_tool_result,
                          redacted_thinking, then text
``claude-refusal``        ``stop_reason: refusal``
``claude-overloaded``     529 overloaded_error (stream: an ``error`` event mid-stream)
``claude-ratelimited``    429 rate_limit_error with ``retry-after: 7`` (plus the
                          ``anthropic-ratelimit-*`` headers every response carries)
``claude-ratelimit-<f>``  429 with the rate-limit header form ``<f>`` (``RATE_LIMIT_FORMS``):
                          ``requests-reset`` / ``tokens-reset`` (RFC 3339, no ``retry-after``)
``claude-stop-<r>``       ``stop_reason: <r>`` (``STOP_REASONS``), plain and streamed
``claude-small-ctx``      400 "prompt is too long: 210000 tokens > 200000 maximum"
``claude-forbidden``      403 permission_error
``claude-huge``           413 request_too_large
``claude-cut``            stream that stops after the first text delta, no message_stop
``claude-agent``          a whole tool loop for agent runs (below), not streamed
========================  ===============================================================

The tool loop on ``claude-agent`` decides from the conversation alone
(https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use):

- the last user turn holds a ``tool_result`` block → text ``"Tool said: <content>"``;
- else, with ``tools`` offered → a ``tool_use`` block calling the first tool
  (``stop_reason: "tool_use"``), arguments from its ``input_schema``;
- else → ``"Hello! How can I help?"``.

Like the real API it checks ``x-api-key`` (401), ``anthropic-version`` (400), a required
``max_tokens``, no ``system`` role inside ``messages``, and that every ``tool_use`` of an
assistant turn is answered by a ``tool_result`` in the very next user turn. Unknown models are
404 not_found_error. Every request body and its headers are kept for the tests to inspect.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

VALID_KEY = "sk-ant-test-0123456789SECRET"
VERSION = "2023-06-01"
VERSIONS = (VERSION, "2023-01-01")
"""The published ``anthropic-version`` values (https://docs.anthropic.com/en/api/versioning)."""
AGENT_MODEL = "claude-agent"
AGENT_USAGE = {"input_tokens": 30, "output_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
"""What every ``claude-agent`` answer reports, so a two-request run reports twice this."""
MODELS: list[dict[str, Any]] = [
    {"type": "model", "id": "claude-test-20250101", "display_name": "Claude Test", "created_at": "2025-01-01T00:00:00Z",
     "max_input_tokens": 200000, "max_tokens": 64000},
    {"type": "model", "id": "claude-tools", "display_name": "Claude Tools", "created_at": "2025-01-02T00:00:00Z"},
    {"type": "model", "id": "claude-thinking", "display_name": "Claude Thinking", "created_at": "2025-01-03T00:00:00Z"},
]
STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn", "model_context_window_exceeded")
RATE_LIMIT_FORMS = ("requests-reset", "tokens-reset")
RESET_AHEAD = {"requests-reset": 20, "tokens-reset": 45}
"""Seconds between the request and the ``*-reset`` timestamp of the spent limit (1 s resolution)."""
KNOWN = {"claude-test", "claude-tools", "claude-thinking", "claude-server-tools", "claude-refusal", "claude-overloaded",
         "claude-ratelimited", "claude-small-ctx", AGENT_MODEL, "claude-forbidden", "claude-huge", "claude-cut",
         *(f"claude-stop-{r}" for r in STOP_REASONS), *(f"claude-ratelimit-{f}" for f in RATE_LIMIT_FORMS)}
REPLY = ["Hello", "! How can", " I help?"]
TOOL_ARGS = ["", '{"ci', 'ty": "Pa', 'ris", "unit"', ': "c"}']
THINKING = ["Let me think", " about this."]
SIGNATURE = "EqQBCgIYAhIMsig-fake-0001"
# Usage normalises to 12 prompt tokens (8 uncached + 4 read from cache) and 7 output tokens.
USAGE = {"input_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4, "output_tokens": 7}


def rfc3339(seconds_ahead: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_ahead)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rate_limit_headers(spent: str | None, requests_ahead: float = 1, tokens_ahead: float = 1) -> dict[str, str]:
    """The ``anthropic-ratelimit-*`` headers (§5.5); ``spent`` ("requests"/"tokens") has 0 remaining."""
    return {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0" if spent == "requests" else "49",
        "anthropic-ratelimit-requests-reset": rfc3339(requests_ahead),
        "anthropic-ratelimit-tokens-limit": "40000",
        "anthropic-ratelimit-tokens-remaining": "0" if spent == "tokens" else "39000",
        "anthropic-ratelimit-tokens-reset": rfc3339(tokens_ahead),
    }


def error(status: int, etype: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": "req_fake0001"}
    return web.json_response(body, status=status, headers={"request-id": "req_fake0001", **(headers or {})})


def _example_args(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        t = prop.get("type")
        out[name] = 1 if t in ("integer", "number") else True if t == "boolean" else "Paris"
    return out


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return str(content)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class FakeAnthropic:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.tool_results: list[str] = []
        """The ``tool_result`` texts that reached ``claude-agent``, in order."""
        self.model_queries: list[dict[str, str]] = []
        self.page_max = 1000
        """Largest page ``/v1/models`` returns (the API allows 1..1000); lower it to test paging."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_get("/v1/models", self.models)
        return app

    def _auth(self, request: web.Request) -> web.Response | None:
        self.headers.append(dict(request.headers))
        if request.headers.get("x-api-key") != VALID_KEY:
            return error(401, "authentication_error", "invalid x-api-key")
        if request.headers.get("anthropic-version") not in VERSIONS:
            return error(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    async def models(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied:
            return denied
        q = dict(request.query)
        self.model_queries.append(q)
        limit = min(int(q.get("limit", 20)), self.page_max)
        start = 0
        if "after_id" in q:
            start = next(i for i, m in enumerate(MODELS) if m["id"] == q["after_id"]) + 1
        page = MODELS[start : start + limit]
        return web.json_response({
            "data": page,
            "has_more": start + limit < len(MODELS),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        })

    def _validate(self, body: dict[str, Any]) -> web.Response | None:
        if not isinstance(body.get("max_tokens"), int):
            return error(400, "invalid_request_error", "max_tokens: Field required")
        pending: set[str] = set()
        for i, m in enumerate(body.get("messages") or []):
            if m.get("role") not in ("user", "assistant"):
                return error(400, "invalid_request_error", f"messages.{i}.role: Input should be 'user' or 'assistant'")
            blocks = m["content"] if isinstance(m["content"], list) else []
            if pending:
                answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
                if m["role"] != "user" or not pending <= answered:
                    return error(400, "invalid_request_error",
                                 f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after")
            pending = {b["id"] for b in blocks if b.get("type") == "tool_use"} if m["role"] == "assistant" else set()
        return None

    async def messages(self, request: web.Request) -> web.StreamResponse:
        denied = self._auth(request)
        if denied:
            return denied
        body = await request.json()
        self.requests.append(body)
        invalid = self._validate(body)
        if invalid:
            return invalid
        model = body.get("model")
        if model not in KNOWN:
            return error(404, "not_found_error", f"model: {model}")
        if model == AGENT_MODEL:
            return self._agent(body)
        if model == "claude-ratelimited":
            return error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
                         {"retry-after": "7", **rate_limit_headers("tokens", tokens_ahead=3)})
        if model == "claude-ratelimit-requests-reset":
            return error(429, "rate_limit_error", "Number of requests has exceeded your per-minute rate limit",
                         rate_limit_headers("requests", requests_ahead=RESET_AHEAD["requests-reset"]))
        if model == "claude-ratelimit-tokens-reset":
            return error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
                         rate_limit_headers("tokens", tokens_ahead=RESET_AHEAD["tokens-reset"]))
        if model == "claude-small-ctx":
            return error(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
        if model == "claude-forbidden":
            return error(403, "permission_error", "Your API key does not have permission to use the specified resource.")
        if model == "claude-huge":
            return error(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
        if model == "claude-overloaded" and not body.get("stream"):
            return error(529, "overloaded_error", "Overloaded")
        if model == "claude-thinking" and not body.get("thinking"):
            return error(400, "invalid_request_error", "this fake model only answers with thinking enabled")
        blocks, stop = self._script(model)
        stop_sequence = "END" if stop == "stop_sequence" else None
        if body.get("stream"):
            return await self._stream(request, model, blocks, stop, stop_sequence)
        return web.json_response({
            "id": "msg_fake0001", "type": "message", "role": "assistant", "model": model, "content": blocks,
            "stop_reason": stop, "stop_sequence": stop_sequence, "usage": USAGE,
        }, headers={"request-id": "req_fake0001", **rate_limit_headers(None)})

    def _agent(self, body: dict[str, Any]) -> web.Response:
        if body.get("stream"):
            return error(400, "invalid_request_error", "this fake answers claude-agent without streaming only")
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        blocks: list[dict[str, Any]] = last["content"] if isinstance(last.get("content"), list) else []
        results = [b for b in blocks if b.get("type") == "tool_result"]
        content: list[dict[str, Any]]
        if results:
            text = _text_of(results[-1].get("content"))
            self.tool_results.append(text)
            content, stop = [{"type": "text", "text": f"Tool said: {text}"}], "end_turn"
        elif body.get("tools"):
            tool = body["tools"][0]
            n = sum(1 for m in messages if m.get("role") == "assistant") + 1
            content = [{"type": "tool_use", "id": f"toolu_{n:02d}", "name": tool["name"],
                        "input": _example_args(tool.get("input_schema") or {})}]
            stop = "tool_use"
        else:
            content, stop = [{"type": "text", "text": "Hello! How can I help?"}], "end_turn"
        return web.json_response({
            "id": f"msg_agent{len(self.requests):04d}", "type": "message", "role": "assistant", "model": AGENT_MODEL,
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": AGENT_USAGE,
        }, headers={"request-id": "req_agent"})

    @staticmethod
    def _script(model: str) -> tuple[list[dict[str, Any]], str]:
        if model.startswith("claude-stop-"):
            reason = model[len("claude-stop-"):]
            if reason == "tool_use":
                return FakeAnthropic._script("claude-tools")
            if reason == "refusal":
                return [], "refusal"
            if reason == "pause_turn":  # a long server-tool turn paused; send it back to continue
                return [{"type": "server_tool_use", "id": "srvtoolu_02", "name": "web_search", "input": {"query": "weather"}}], reason
            if reason in ("max_tokens", "model_context_window_exceeded"):
                return [{"type": "text", "text": "Hello! How"}], reason
            if reason == "stop_sequence":
                return [{"type": "text", "text": "Hello"}], reason
            return [{"type": "text", "text": "".join(REPLY)}], reason
        if model == "claude-tools":
            return [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_fake01", "name": "get_weather", "input": {"city": "Paris", "unit": "c"}},
            ], "tool_use"
        if model == "claude-thinking":
            return [
                {"type": "thinking", "thinking": "".join(THINKING), "signature": SIGNATURE},
                {"type": "text", "text": "".join(REPLY)},
            ], "end_turn"
        if model == "claude-server-tools":
            return [
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "weather"}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01",
                 "content": [{"type": "web_search_result", "url": "https://example.com", "title": "Example"}]},
                {"type": "text", "text": "Sunny."},
            ], "end_turn"
        if model == "claude-refusal":
            return [], "refusal"
        return [{"type": "text", "text": "".join(REPLY)}], "end_turn"

    async def _stream(self, request: web.Request, model: str, blocks: list[dict[str, Any]], stop: str,
                      stop_sequence: str | None = None) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        start_usage = {k: v for k, v in USAGE.items() if k != "output_tokens"} | {"output_tokens": 1}
        await resp.write(_sse("message_start", {"type": "message_start", "message": {
            "id": "msg_fake0001", "type": "message", "role": "assistant", "content": [], "model": model,
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}))
        await resp.write(_sse("ping", {"type": "ping"}))
        if model == "claude-overloaded":
            await resp.write(_sse("content_block_start", {"type": "content_block_start", "index": 0,
                                                          "content_block": {"type": "text", "text": ""}}))
            await resp.write(_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                          "delta": {"type": "text_delta", "text": "Hel"}}))
            await resp.write(_sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
            await resp.write_eof()
            return resp
        for i, block in enumerate(blocks):
            await self._stream_block(resp, i, block)
            if model == "claude-cut":
                await asyncio.sleep(0)
                await resp.write_eof()
                return resp
        await resp.write(_sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": stop_sequence},
                                                "usage": {"output_tokens": USAGE["output_tokens"]}}))
        await resp.write(_sse("message_stop", {"type": "message_stop"}))
        await resp.write_eof()
        return resp

    @staticmethod
    async def _stream_block(resp: web.StreamResponse, i: int, block: dict[str, Any]) -> None:
        btype = block["type"]

        async def delta(d: dict[str, Any]) -> None:
            await resp.write(_sse("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}))

        if btype == "text":
            await resp.write(_sse("content_block_start", {"type": "content_block_start", "index": i,
                                                          "content_block": {"type": "text", "text": ""}}))
            parts = REPLY if block["text"] == "".join(REPLY) else [block["text"]]
            for p in parts:
                await delta({"type": "text_delta", "text": p})
        elif btype == "thinking":
            await resp.write(_sse("content_block_start", {"type": "content_block_start", "index": i,
                                                          "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
            for p in THINKING:
                await delta({"type": "thinking_delta", "thinking": p})
            await delta({"type": "signature_delta", "signature": block["signature"]})
        elif btype in ("tool_use", "server_tool_use"):
            await resp.write(_sse("content_block_start", {"type": "content_block_start", "index": i,
                                                          "content_block": {**block, "input": {}}}))
            parts = TOOL_ARGS if btype == "tool_use" else [json.dumps(block["input"])]
            for p in parts:
                await delta({"type": "input_json_delta", "partial_json": p})
        else:  # whole blocks (web_search_tool_result, redacted_thinking) arrive in the start event
            await resp.write(_sse("content_block_start", {"type": "content_block_start", "index": i, "content_block": block}))
        await resp.write(_sse("content_block_stop", {"type": "content_block_stop", "index": i}))


def start() -> tuple[FakeAnthropic, Any]:
    """Start a server in a background thread: returns (fake, server); the base URL is ``server.url``."""
    from ._threaded import ThreadedServer

    fake = FakeAnthropic()
    return fake, ThreadedServer(fake.app).start()
