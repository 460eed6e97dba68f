"""The floor for any Python gateway: a bare ``aiohttp.web`` handler (on the low-level ``web.Server``,
as ``llmswitch serve`` runs) that reads the body, checks a bearer key, forwards the bytes to the
backend with one reused ``aiohttp.ClientSession`` and sends the answer back (streams chunk by
chunk). No parsing, no translation, no accounting: what the two HTTP hops alone cost in this
interpreter, on the same event loop as the gateway it is compared with.
``python -m bench.gateway_floor BACKEND_V1 PORT [asyncio|uvloop]`` (the loop; default asyncio)."""

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


if __name__ == "__main__":
    factory = None
    if len(sys.argv) > 3 and sys.argv[3] == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main(sys.argv[1], int(sys.argv[2])))
