"""A server that answers with exactly the bytes a test scripts, one reply per request, and counts
the connections it accepted: for what only the HTTP/1.1 framing shows (keep-alive reuse,
``Connection: close``, chunked and gzip bodies, a body read until close, a late answer to a
request its caller gave up on, malformed status lines).

The replies follow RFC 9112 (HTTP/1.1 message syntax): a status line, header lines, an empty
line, then a body framed by Content-Length, by chunked transfer coding, or by closing the
connection.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass


@dataclass
class Reply:
    raw: bytes
    delay: float = 0.0
    close: bool = False
    """Close the connection after writing ``raw``."""
    piece: int = 0
    """Write ``raw`` in pieces of this many bytes, each sent on its own (0: all at once)."""


def ok(body: bytes = b'{"ok":true}', *, extra: str = "") -> Reply:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return Reply(head.encode() + body)


class RawHTTPServer:
    """On 127.0.0.1, a free port, in its own thread; ``replies`` are used in order, the last one repeats."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies) or [ok()]
        self.connections = 0
        self.closed_connections = 0
        self.requests: list[bytes] = []
        self._served = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RawHTTPServer:
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                reply = self.replies[min(self._served, len(self.replies) - 1)]
                self._served += 1
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                step = reply.piece or len(reply.raw)
                for i in range(0, len(reply.raw), step):
                    writer.write(reply.raw[i : i + step])
                    await writer.drain()
                    if reply.piece:
                        await asyncio.sleep(0.001)
                if reply.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed_connections += 1
            writer.close()
