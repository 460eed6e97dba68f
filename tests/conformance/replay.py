"""Replay server: serves one cassette's recorded responses on 127.0.0.1, in order.

A request is answered by the first not-yet-served interaction with the same method and path,
with the recorded status, content type and body (``parsed_body`` as JSON, or ``body.string``
verbatim: raw SSE or plain text). The JSON body the client sent is kept in ``received`` so the
test can compare it with the recorded request. Runs aiohttp.web in its own thread
(``tests/fakes/_threaded.py``), so a client on any loop can use it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from aiohttp import web

from tests.fakes._threaded import ThreadedServer

# Recorded response headers worth passing on: they change what a client does.
_PASS_HEADERS = ("retry-after", "retry-after-ms", "request-id", "x-request-id")


class ReplayServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[tuple[str, str, dict[str, Any]]] = []
        self.received: list[dict[str, Any]] = []
        self.unmatched: list[str] = []
        self._server = ThreadedServer(self._app)

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> ReplayServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def load(self, interactions: list[tuple[str, str, dict[str, Any]]]) -> None:
        """(method, path, recorded interaction) in recorded order; replaces what was loaded."""
        with self._lock:
            self._queue = list(interactions)
            self.received = []
            self.unmatched = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            for i, (method, path, it) in enumerate(self._queue):  # noqa: B007 - `it` is read after the loop
                if method == request.method and path == request.path:
                    del self._queue[i]
                    break
            else:
                self.unmatched.append(f"{request.method} {request.path}")
                return web.json_response(
                    {"error": {"message": f"no recorded interaction left for {request.method} {request.path}", "type": "replay"}},
                    status=599,
                )
            self.received.append({"method": request.method, "path": request.path, "headers": dict(request.headers), "body": body})
        resp = it["response"]
        status = int(resp["status"]["code"])
        rec_headers = {k.lower(): v for k, v in (resp.get("headers") or {}).items()}
        headers = {}
        for name in _PASS_HEADERS:
            if name in rec_headers:
                v = rec_headers[name]
                headers[name] = str(v[0] if isinstance(v, list) else v)
        ctype = rec_headers.get("content-type", ["application/json"])
        ctype = str(ctype[0] if isinstance(ctype, list) else ctype)
        if "parsed_body" in resp:
            payload = json.dumps(resp["parsed_body"]).encode()
        else:
            s = (resp.get("body") or {}).get("string", "")
            payload = s.encode() if isinstance(s, str) else bytes(s)
        headers["Content-Type"] = ctype
        return web.Response(status=status, body=payload, headers=headers)
