"""Hostile servers: the faults a production user meets, on purpose. Three kinds live here:

1. ``make_app``/``start``: a mode-driven OpenAI-compatible / Anthropic server (below);
2. ``EchoingOpenAI`` and ``HostilePull``: well-formed framing whose *values* are hostile, for the
   command line (rich markup, terminal escapes, the caller's key echoed, wrong-typed numbers);
3. ``ScriptedServer``: exactly the bytes a test scripts, for wire faults no well-behaved fake
   produces.

1. The mode-driven server.

It follows the same wire formats as the honest fakes (OpenAI Chat Completions: API reference
"Create chat completion" / "The chat completion chunk object", https://platform.openai.com/docs/api-reference/chat;
Anthropic Messages: https://docs.anthropic.com/en/api/messages and .../messages-streaming; error
bodies as in ../shared/reference/wire-protocols.md §4.1 and §5.4, streams as in §4.3 and §5.3),
and then misbehaves the way real servers and
proxies do: it echoes the credentials it received into error bodies and stream events, redirects
to another origin, never stops sending, trickles, stays silent, reads a request and drops the
connection, and sends a 2 MB HTML error page.

The behaviour is chosen by the request's ``model`` (or, for ``GET /v1/models``, by
``State.models_mode``). Every request is recorded in ``State.seen`` as (method, path, headers,
body) so tests can assert what reached the server — and, with a second instance as the redirect
target, what reached a host the user never configured.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ._threaded import ThreadedServer


class State:
    """What the tests steer and read; one mutable object, so the running app is never re-keyed."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.models_mode = "ok"
        self.other_url = ""
        self.handlers: set[asyncio.Task[Any]] = set()


STATE = web.AppKey("state", State)


def state(server: ThreadedServer) -> State:
    assert server.app is not None
    return server.app[STATE]

_CHUNK = 64 * 1024


def _echo(request: web.Request) -> str:
    """Every credential-bearing header value the request carried, as a careless server echoes it."""
    names = ("Authorization", "x-api-key", "X-Custom-Auth")
    return " ".join(f"{n}={request.headers[n]}" for n in names if n in request.headers)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    obj = {
        "id": "chatcmpl-h",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _completion(text: str = "ok") -> dict[str, Any]:
    return {
        "id": "chatcmpl-h",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


async def _sse(request: web.Request, status: int = 200) -> web.StreamResponse:
    resp = web.StreamResponse(status=status, headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    return resp


async def _endless(request: web.Request, status: int, prefix: bytes = b"", content_type: str = "application/json") -> web.StreamResponse:
    resp = web.StreamResponse(status=status, headers={"Content-Type": content_type})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    if prefix:
        await resp.write(prefix)
    block = b"x" * _CHUNK
    try:
        for _ in range(1_000_000):  # 64 GB: endless for any test, still a bounded loop
            await resp.write(block)
    except (ConnectionError, RuntimeError):
        pass
    return resp


async def _behave(request: web.Request, mode: str, body: Any) -> web.StreamResponse:
    st = request.app[STATE]
    echo = _echo(request)
    anthropic = request.path.endswith("/messages")
    if mode == "ok":
        if anthropic:
            return web.json_response(
                {"id": "msg_h", "type": "message", "role": "assistant", "model": "m",
                 "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                 "usage": {"input_tokens": 1, "output_tokens": 1}}
            )
        if isinstance(body, dict) and body.get("stream"):
            resp = await _sse(request)
            await resp.write(_chunk({"role": "assistant", "content": "ok"}))
            await resp.write(_chunk({}, "stop"))
            await resp.write(b"data: [DONE]\n\n")
            return resp
        return web.json_response(_completion())
    if mode == "echo-200":
        if anthropic:
            return web.json_response({"type": "error", "error": {"type": "authentication_error", "message": f"bad credentials: {echo}"}})
        return web.json_response({"error": {"message": f"bad credentials: {echo}", "type": "invalid_request_error", "code": 401}})
    if mode == "echo-400":
        if anthropic:
            return web.json_response({"type": "error", "error": {"type": "invalid_request_error", "message": f"rejected: {echo}"}}, status=400)
        return web.json_response({"error": {"message": f"rejected: {echo}", "type": "invalid_request_error", "code": None}}, status=400)
    if mode == "echo-text-500":
        return web.Response(status=500, text=f"upstream failed for {echo}")
    if mode == "echo-stream":
        resp = await _sse(request)
        if anthropic:
            await resp.write(b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_h","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":1,"output_tokens":0}}}\n\n')
            err = {"type": "error", "error": {"type": "overloaded_error", "message": f"overloaded for {echo}"}}
            await resp.write(b"event: error\ndata: " + json.dumps(err).encode() + b"\n\n")
        else:
            await resp.write(_chunk({"role": "assistant", "content": "Hel"}))
            await resp.write(b"data: " + json.dumps({"error": {"message": f"stream failed for {echo}", "code": 500}}).encode() + b"\n\n")
        return resp
    if mode.startswith("redirect-"):
        _, code, where = mode.split("-")
        base = st.other_url if where == "other" else f"http://{request.host}"
        target = f"{base}/moved{request.path}"
        raise {"301": web.HTTPMovedPermanently, "302": web.HTTPFound, "303": web.HTTPSeeOther,
               "307": web.HTTPTemporaryRedirect, "308": web.HTTPPermanentRedirect}[code](location=target)
    if mode == "endless-200":
        return await _endless(request, 200, b'{"choices": "')
    if mode == "endless-500":
        return await _endless(request, 500, b'{"error": {"message": "')
    if mode == "endless-line":
        return await _endless(request, 200, b"data: ", "text/event-stream")
    if mode == "html-500":
        page = "<html><body>" + "<p>Internal Server Error</p>" * 80_000 + "</body></html>"
        return web.Response(status=500, text=page, content_type="text/html")
    if mode == "trickle":
        # one byte of an SSE comment at a time: the idle timeout never fires, only a deadline can end it
        resp = await _sse(request)
        await resp.write(_chunk({"role": "assistant", "content": "a"}))
        for _ in range(100_000):
            await resp.write(b":")
            await asyncio.sleep(0.1)
        return resp
    if mode == "silent":
        await asyncio.sleep(3600)
        return web.Response(status=204)
    if mode == "drop-after-read":
        # the request was read whole: the server may have acted on it, then the connection dies
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0.5)
        return web.Response(status=204)
    raise web.HTTPBadRequest(text=f"unknown hostile mode {mode!r}")


async def _handle(request: web.Request) -> web.StreamResponse:
    task = asyncio.current_task()
    assert task is not None
    handlers = request.app[STATE].handlers
    handlers.add(task)
    try:
        return await _dispatch(request)
    finally:
        handlers.discard(task)


async def _stop_handlers(app: web.Application) -> None:
    """Silent and endless handlers would hold the server's shutdown for a minute: end them."""
    for task in list(app[STATE].handlers):
        task.cancel()


async def _dispatch(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    request.app[STATE].seen.append((request.method, request.path, dict(request.headers), raw))
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if request.method == "GET":
        mode = request.app[STATE].models_mode
        if mode == "ok":
            return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})
        return await _behave(request, mode, body)
    if request.path.startswith("/moved/"):  # where the same-origin redirects land
        return await _behave(request, "ok", body)
    model = body.get("model") if isinstance(body, dict) else None
    return await _behave(request, str(model or "ok"), body)


def make_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = State()
    app.on_shutdown.append(_stop_handlers)
    app.router.add_route("*", "/{tail:.*}", _handle)
    return app


def start() -> ThreadedServer:
    return ThreadedServer(make_app).start()


# --- 2. hostile values for the command line ---------------------------------------------------
# Hostile servers for the command line: well-formed wire framing carrying text meant to break a
# terminal UI or leak a key (rich markup such as ``[/]``, the caller's API key echoed back, terminal
# escape sequences) and numbers of the wrong type.
#
# Shapes follow the published formats, so only the *values* are hostile:
#
# - Ollama ``POST /api/pull`` (wire-protocols.md §1.6; docs/api.md §Pull a Model,
#   https://github.com/ollama/ollama/blob/main/docs/api.md#pull-a-model): an NDJSON stream of
#   ``{"status": "pulling manifest"}``, then per layer ``{"status": "pulling <digest>",
#   "digest": "<digest>", "total": <bytes>, "completed": <bytes>}`` (``completed`` absent until
#   the first bytes arrive), then ``{"status": "verifying sha256 digest"}``,
#   ``{"status": "writing manifest"}`` and ``{"status": "success"}``.
# - OpenAI ``GET /v1/models`` and streamed ``POST /v1/chat/completions`` (wire-protocols.md §4.3, §4.6; API reference,
#   https://platform.openai.com/docs/api-reference/chat/streaming): ``data: {chunk}`` SSE events,
#   a final chunk with ``finish_reason`` and, with ``stream_options.include_usage``, a usage chunk
#   with ``choices: []``, then ``data: [DONE]``.


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


def serve(fake: EchoingOpenAI | HostilePull) -> ThreadedServer:
    """Run ``fake.app`` on 127.0.0.1 in a background thread (subprocess CLIs can reach it)."""
    return ThreadedServer(fake.app).start()


# --- 3. scripted bytes -----------------------------------------------------------------------
# A fake server that answers every request with exactly the bytes a test scripts.
#
# For the wire layer's faults, which no well-behaved fake produces: a 200 ``application/json``
# error body where a stream was asked for, a stream cut in the middle of a line or before its end
# marker, a body in pieces of the test's choosing. Each piece is written and drained, then the
# response ends (``complete``) or the connection is dropped without ending it (``cut``).
# Requests are recorded (path and parsed JSON body) for assertions.


@dataclass
class Script:
    status: int = 200
    content_type: str = "text/event-stream"
    pieces: list[bytes] = field(default_factory=list)
    cut: bool = False
    """Drop the connection after the last piece instead of ending the chunked body."""


class ScriptedServer:
    def __init__(self) -> None:
        self.script = Script()
        self.requests: list[tuple[str, Any]] = []
        self._server = ThreadedServer(self._app)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> ScriptedServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def serve(self, pieces: list[bytes] | bytes, *, content_type: str = "text/event-stream", status: int = 200, cut: bool = False) -> None:
        self.script = Script(status, content_type, [pieces] if isinstance(pieces, bytes) else list(pieces), cut)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append((request.path, json.loads(raw) if raw else None))
        s = self.script
        resp = web.StreamResponse(status=s.status, headers={"Content-Type": s.content_type})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for piece in s.pieces:
            await resp.write(piece)
        if s.cut:
            assert request.transport is not None
            request.transport.close()  # the chunked body never gets its terminating chunk
            return resp
        await resp.write_eof()
        return resp
