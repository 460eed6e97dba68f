"""A hostile OpenAI-compatible / Anthropic server: the faults a production user meets, on purpose.

It follows the same wire formats as the honest fakes (OpenAI Chat Completions: API reference
"Create chat completion" / "The chat completion chunk object", https://platform.openai.com/docs/api-reference/chat;
Anthropic Messages: https://docs.anthropic.com/en/api/messages and .../messages-streaming; error
bodies as in ../shared/reference/wire-protocols.md), and then misbehaves the way real servers and
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
