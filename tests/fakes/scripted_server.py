"""A fake server that answers every request with exactly the bytes a test scripts.

For the wire layer's faults, which no well-behaved fake produces: a 200 ``application/json``
error body where a stream was asked for, a stream cut in the middle of a line or before its end
marker, a body in pieces of the test's choosing. Each piece is written and drained, then the
response ends (``complete``) or the connection is dropped without ending it (``cut``).
Requests are recorded (path and parsed JSON body) for assertions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ._threaded import ThreadedServer


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

    def start(self) -> "ScriptedServer":
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
