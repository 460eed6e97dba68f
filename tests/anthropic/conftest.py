"""Fixtures: the Anthropic, OpenRouter and a minimal OpenAI fake, each on 127.0.0.1:0.

Servers run on their own event loop in a background thread, so one fake serves async tests,
the sync API's bridge loop and LiteLLM's own HTTP client alike; fixtures stop them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import mask_key
from tests.fakes.openrouter_server import FakeOpenRouter

OPENAI_KEY = "sk-openai-test-0123456789SECRET"


class ThreadedApp:
    def __init__(self, factory: Callable[[], web.Application]) -> None:
        self._factory = factory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="fake-server")
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        self._runner = web.AppRunner(self._factory(), handle_signals=False, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    def __enter__(self) -> ThreadedApp:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


# --- a minimal OpenAI Chat Completions fake (platform.openai.com/docs/api-reference/chat) ----


class FakeOpenAI:
    """``gpt-test`` answers text, ``gpt-tools`` calls ``get_weather``; same usage as the other
    fakes (12 prompt tokens, 4 of them cached, 7 completion). Bad key → 401 invalid_api_key, the
    key masked in the message as OpenAI masks it (wire-protocols.md §4.1)."""

    TOOL_ARGS = ['{"ci', 'ty": "Pa', 'ris", ', '"unit"', ': "c"}']

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        return app

    @staticmethod
    def _usage() -> dict[str, Any]:
        return {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19,
                "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 0}}

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "gpt-test", "object": "model", "owned_by": "me"}]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {OPENAI_KEY}":
            got = request.headers.get("Authorization", "")[7:]  # masked as the real API does (§4.1)
            return web.json_response({"error": {"message": f"Incorrect API key provided: {mask_key(got)}.",
                                                "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}},
                                     status=401)
        body = await request.json()
        self.requests.append(body)
        model = body["model"]
        if model not in ("gpt-test", "gpt-tools"):
            return web.json_response({"error": {"message": f"The model `{model}` does not exist", "type": "invalid_request_error",
                                                "param": None, "code": "model_not_found"}}, status=404)
        tools = model == "gpt-tools"
        if not body.get("stream"):
            msg: dict[str, Any] = {"role": "assistant", "content": "Hello! How can I help?"}
            if tools:
                msg = {"role": "assistant", "content": None, "tool_calls": [{"id": "call_fake01", "type": "function",
                       "function": {"name": "get_weather", "arguments": "".join(self.TOOL_ARGS)}}]}
            return web.json_response({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                                      "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls" if tools else "stop"}],
                                      "usage": self._usage()})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        include_usage = (body.get("stream_options") or {}).get("include_usage")

        async def send(choices: list[Any], usage: Any = None) -> None:
            obj = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": choices}
            if include_usage:
                obj["usage"] = usage
            await resp.write(b"data: " + json.dumps(obj).encode() + b"\n\n")

        if tools:
            await send([{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_fake01",
                        "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}, "finish_reason": None}])
            for part in self.TOOL_ARGS:
                await send([{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": part}}]},
                             "finish_reason": None}])
        else:
            for part in ("Hello", "! How can", " I help?"):
                await send([{"index": 0, "delta": {"content": part}, "finish_reason": None}])
        await send([{"index": 0, "delta": {}, "finish_reason": "tool_calls" if tools else "stop"}])
        if include_usage:
            await send([], self._usage())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


@pytest.fixture
def anthropic_fake() -> Iterator[tuple[FakeAnthropic, str]]:
    fake = FakeAnthropic()
    with ThreadedApp(fake.app) as server:
        yield fake, server.url


@pytest.fixture
def openrouter_fake() -> Iterator[tuple[FakeOpenRouter, str]]:
    fake = FakeOpenRouter()
    with ThreadedApp(fake.app) as server:
        yield fake, server.url + "/api/v1"


@pytest.fixture
def openai_fake() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with ThreadedApp(fake.app) as server:
        yield fake, server.url + "/v1"
