"""Hostile servers for the command line: well-formed wire framing carrying text meant to break a
terminal UI or leak a key (rich markup such as ``[/]``, the caller's API key echoed back, terminal
escape sequences) and numbers of the wrong type.

Shapes follow the published formats, so only the *values* are hostile:

- Ollama ``POST /api/pull`` (docs/api.md §Pull a Model,
  https://github.com/ollama/ollama/blob/main/docs/api.md#pull-a-model): an NDJSON stream of
  ``{"status": "pulling manifest"}``, then per layer ``{"status": "pulling <digest>",
  "digest": "<digest>", "total": <bytes>, "completed": <bytes>}`` (``completed`` absent until
  the first bytes arrive), then ``{"status": "verifying sha256 digest"}``,
  ``{"status": "writing manifest"}`` and ``{"status": "success"}``.
- OpenAI ``GET /v1/models`` and streamed ``POST /v1/chat/completions`` (API reference,
  https://platform.openai.com/docs/api-reference/chat/streaming): ``data: {chunk}`` SSE events,
  a final chunk with ``finish_reason`` and, with ``stream_options.include_usage``, a usage chunk
  with ``choices: []``, then ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from ._threaded import ThreadedServer

PULL_DIGEST = "sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff"


def hostile_pull_lines(digest: str = PULL_DIGEST) -> list[dict[str, Any]]:
    """A pull whose statuses carry markup and whose byte counts are strings, negative, null or
    missing before they become sane; it still ends in ``success``."""
    status = f"pulling {digest[7:19]}"
    return [
        {"status": "pulling manifest [/] [bold]not bold[/bold] [link=http://evil.example]click[/link]"},
        {"status": status, "digest": digest, "total": "3000000"},  # a string
        {"status": status, "digest": digest, "total": -5, "completed": -1},  # negative
        {"status": status, "digest": digest, "total": None, "completed": "1000"},  # null / string
        {"status": status, "digest": digest, "completed": 1_000_000},  # no total yet: bar keeps going
        {"status": status, "digest": digest, "total": 3_000_000, "completed": 2_000_000},
        {"status": status, "digest": digest, "total": 3_000_000, "completed": 9_000_000},  # more than total
        {"status": status, "digest": digest, "total": 3_000_000, "completed": 3_000_000},
        {"status": "pulling [/]", "digest": ["not", "a", "string"], "total": {"x": 1}},
        {"status": "verifying sha256 digest [/]"},
        {"status": "writing manifest \x1b]0;pwned\x07"},
        {"status": "success"},
    ]


class HostilePull:
    """``POST /api/pull`` answering with ``lines``, one NDJSON line each."""

    def __init__(self, lines: list[dict[str, Any]] | None = None) -> None:
        self.lines = hostile_pull_lines() if lines is None else lines

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/pull", self.h_pull)
        return app

    async def h_pull(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        for line in self.lines:
            await resp.write(json.dumps(line).encode() + b"\n")
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp


class EchoingOpenAI:
    """An OpenAI-compatible server that echoes ``secret`` back in everything it says: the model
    list, every field of the streamed answer (the key split across two chunks), and a trailing
    ``[/]`` so that any unescaped rich markup crashes. ``silent`` makes ``/v1/models`` not
    answer until it is set back to False (for ``doctor --timeout``)."""

    def __init__(self, secret: str, *, silent: bool = False) -> None:
        self.secret = secret
        self.silent = silent

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self.h_models)
        app.router.add_post("/v1/chat/completions", self.h_chat)
        return app

    async def h_models(self, request: web.Request) -> web.Response:
        while self.silent:  # until the test lets go (a plain long sleep would hold up shutdown)
            await asyncio.sleep(0.05)
        data = [{"id": f"echo-{self.secret}-[/]", "object": "model", "created": 1686935002, "owned_by": "[link=http://evil.example]x"}]
        return web.json_response({"object": "list", "data": data})

    async def h_chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        model = f"{body.get('model')}-{self.secret}[/]"
        cid = f"chatcmpl-{self.secret}"
        half = len(self.secret) // 2
        pieces = ["Your key is ", self.secret[:half], self.secret[half:], " [/] and \x1b[2Jgone."]
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def event(choices: list[dict[str, Any]], usage: Any = None) -> None:
            chunk = {"id": cid, "object": "chat.completion.chunk", "created": 1694268190, "model": model,
                     "choices": choices, "usage": usage}
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        await event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for piece in pieces:
            await event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        await event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        await event([], {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def start(fake: Any) -> ThreadedServer:
    """Run ``fake.app`` on 127.0.0.1 in a background thread (subprocess CLIs can reach it)."""
    return ThreadedServer(fake.app).start()
