"""Fakes that play a whole tool loop, for pydantic-ai agent runs: OpenAI, and Ollama.

An agent with a tool sends two requests: the first offers ``tools`` and gets a tool call back;
the second carries the tool's result as a ``role: "tool"`` message and gets text. The base
fakes answer by model name only, so these decide from the conversation instead (no hidden
state: the same request always gets the same answer):

- the last message is ``role: "tool"`` → a text reply that quotes the tool result:
  ``"Tool said: <content>"`` — so a test sees that the result reached the model;
- else, when the request offers tools → a call of the first offered tool, with arguments
  built from its JSON schema (``"Paris"`` for strings, ``1`` for numbers);
- else → ``"Hello! How can I help?"``.

A ``tool`` message whose ``tool_call_id`` no preceding assistant message issued is rejected
with 400, as OpenAI does ("messages with role 'tool' must be a response to a preceding
message with 'tool_calls'"). Wire shapes as in ``openai_server.py`` (its docstring cites the
OpenAI API reference and ../shared/reference/wire-protocols.md §4); streaming follows the same
chunk format (§4.3, tool-call deltas §4.4); a wrong key is the same 401 with the key masked as
the real API masks it (§4.1).

``FakeOllamaPydanticAI`` serves what pydantic-ai's ``OllamaProvider`` uses — Ollama's
OpenAI-compatible layer under ``/v1`` (wire-protocols.md §1.10;
https://docs.ollama.com/api/openai-compatibility: no
auth, ``/v1/chat/completions``, ``/v1/models``; an unknown model is 404 ``model "x" not
found, try pulling it first``) — plus the native listing endpoints a health check reads
(https://docs.ollama.com/api: ``GET /api/version``, ``GET /api/tags``, ``GET /api/ps``).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .openai_server import VALID_KEY, FakeOpenAI, _chunk, _error

AGENT_MODEL = "gpt-agent"
OLLAMA_MODEL = "llama3.2:latest"
USAGE = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}

__all__ = ["AGENT_MODEL", "OLLAMA_MODEL", "USAGE", "VALID_KEY", "ToolLoop", "FakeOpenAIPydanticAI", "FakeOllamaPydanticAI", "start_openai", "start_ollama"]


def _example_args(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        t = prop.get("type")
        out[name] = 1 if t in ("integer", "number") else True if t == "boolean" else "Paris"
    return out


class ToolLoop:
    """The conversation logic shared by the OpenAI and Ollama fakes."""

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
            "usage": USAGE,
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
            tail = {"id": cid, "object": "chat.completion.chunk", "created": 1694268190, "model": model, "choices": [], "usage": USAGE}
            await resp.write(b"data: " + json.dumps(tail).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


class FakeOpenAIPydanticAI(FakeOpenAI):
    """The OpenAI fake (auth, error models, ``/v1/models``) plus the tool loop on ``gpt-agent``."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = ToolLoop()

    async def models(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied:
            return denied
        ids = [AGENT_MODEL, "gpt-test"]
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model", "created": 1686935002, "owned_by": "openai"} for m in ids]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        denied = self._auth(request)
        if denied:
            return denied
        body = await request.json()
        if body.get("model") == AGENT_MODEL:
            self.headers.append(dict(request.headers))
            return await self.loop.respond(request, body, AGENT_MODEL)
        return await super().chat(request)


class FakeOllamaPydanticAI:
    """Ollama: native ``/api/version|tags|ps`` and the OpenAI-compatible ``/v1`` with the tool loop."""

    def __init__(self, models: list[str] | None = None) -> None:
        self.models = [OLLAMA_MODEL] if models is None else models
        self.loop = ToolLoop()
        self.paths: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.root)
        app.router.add_get("/api/version", self.version)
        app.router.add_get("/api/tags", self.tags)
        app.router.add_get("/api/ps", self.ps)
        app.router.add_get("/v1/models", self.v1_models)
        app.router.add_post("/v1/chat/completions", self.chat)
        return app

    @staticmethod
    def _entry(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": "2025-05-04T17:37:44.706015396-07:00",
            "size": 2019393189,
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                        "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
        }

    async def root(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        return web.Response(text="Ollama is running")

    async def version(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        return web.json_response({"version": "0.12.6"})

    async def tags(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        return web.json_response({"models": [self._entry(m) for m in self.models]})

    async def ps(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        return web.json_response({"models": [
            {**self._entry(m), "expires_at": "2099-01-01T00:00:00Z", "size_vram": 0, "context_length": 4096} for m in self.models[:1]
        ]})

    async def v1_models(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1746405464, "owned_by": "library"} for m in self.models
        ]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        body = await request.json()
        model = body.get("model")
        known = set(self.models) | {m.removesuffix(":latest") for m in self.models}
        if model not in known:
            return web.json_response(
                {"error": {"message": f'model "{model}" not found, try pulling it first', "type": "api_error", "param": None, "code": None}},
                status=404,
            )
        return await self.loop.respond(request, body, model)


def start_openai() -> tuple[FakeOpenAIPydanticAI, Any]:
    from ._threaded import ThreadedServer

    fake = FakeOpenAIPydanticAI()
    return fake, ThreadedServer(fake.app).start()


def start_ollama(models: list[str] | None = None) -> tuple[FakeOllamaPydanticAI, Any]:
    from ._threaded import ThreadedServer

    fake = FakeOllamaPydanticAI(models)
    return fake, ThreadedServer(fake.app).start()
