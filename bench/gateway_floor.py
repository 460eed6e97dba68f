"""The floors for any Python gateway: two HTTP hops with no parsing, no translation and no
accounting — what the hops alone cost in this interpreter, on the same event loop as the gateway
they are compared with. Each reads the body, checks a bearer key, forwards the bytes to the backend
and sends the answer back (streams chunk by chunk).

- ``aiohttp`` (the default): a bare ``aiohttp.web`` handler on the low-level ``web.Server``, one
  reused ``aiohttp.ClientSession`` upstream.
- ``own``: the gateway's own HTTP parts and nothing else: its server (``gateway/ingress.py``) in,
  the lean client exchange (``llmswitch._h1``) out for whole answers, aiohttp's session for streams
  (as the gateway does). What the gateway adds over this one is its own work per call.

``python -m bench.gateway_floor BACKEND_V1 PORT [asyncio|uvloop] [aiohttp|own]`` (the loop; default asyncio)."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from aiohttp import web

KEY = "Bearer sk-bench-caller-0123456789"


async def main(upstream: str, port: int) -> None:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2048))
    url = upstream + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}

    async def chat(request: web.BaseRequest) -> web.StreamResponse:
        if request.headers.get("Authorization") != KEY:
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.read()
        async with session.post(url, data=body, headers=headers) as r:
            if r.content_type != "text/event-stream":
                return web.Response(body=await r.read(), status=r.status, content_type=r.content_type)
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            async for chunk in r.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    async def live(request: web.BaseRequest) -> web.Response:
        return web.Response(text="ok")

    routes = {("POST", "/v1/chat/completions"): chat, ("GET", "/health/live"): live}

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        handler = routes.get((request.method, request.path))
        if handler is None:
            raise web.HTTPNotFound()
        return await handler(request)

    runner = web.ServerRunner(web.Server(handle, access_log=None))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()


async def own(upstream: str, port: int) -> None:
    from yarl import URL

    from llmswitch._h1 import H1Pool
    from llmswitch.gateway.ingress import IngressServer, JSONAnswer, Request, Stream

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2048))
    url = upstream + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    u = URL(url)
    assert u.host is not None and u.port is not None
    pool = H1Pool(asyncio.get_running_loop(), host=u.host, port=u.port, ssl_context=None,
                  head=f"Host: {u.host}:{u.port}\r\nAuthorization: Bearer sk-bench\r\n".encode(), max_open=2048,
                  connect=5.0, read=60.0, keepalive=60.0)
    line = f"POST {u.path} HTTP/1.1\r\n".encode()

    async def chat(request: Request) -> JSONAnswer | Stream | web.Response:
        if request.headers.get("Authorization") != KEY:
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.read()
        if b'"stream": true' not in body:  # the bench's stream requests (json.dumps' spacing); no parsing
            got = await pool.exchange(line, b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                      % (len(body), body), limit=1 << 26, error_limit=1 << 20)
            assert got is not None, "no connection to the backend"
            status, _, answer = got
            if status == 200:
                return JSONAnswer(answer)
            return web.Response(body=answer, status=status, content_type="application/json")
        async with session.post(url, data=body, headers=headers) as r:
            resp = request.open_stream(b"Content-Type: text/event-stream\r\n")
            async for chunk in r.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    async def live(request: Request) -> JSONAnswer:
        return JSONAnswer(b'{"status":"ok"}')

    server = IngressServer({("POST", "/v1/chat/completions"): chat, ("GET", "/health/live"): live},
                           max_body=1 << 20, max_header=8190, body_timeout=60.0)
    await server.start("127.0.0.1", port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    factory = None
    if len(sys.argv) > 3 and sys.argv[3] == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run((own if sys.argv[4:5] == ["own"] else main)(sys.argv[1], int(sys.argv[2])))
