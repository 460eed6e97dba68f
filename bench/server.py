"""A fast fake OpenAI-compatible server: raw asyncio.Protocol HTTP/1.1, precomputed responses.

Run in its own process (``python -m bench.server``; it prints ``PORT <n>`` once listening). It
answers, on keep-alive connections:

- ``POST .../chat/completions`` non-streamed: one short completion with usage.
- the same with ``"stream": true``: N content chunks (N from the model name ``fake-<N>``,
  default 500), a finish chunk, a usage chunk and ``data: [DONE]``, each SSE event in its own
  HTTP/1.1 chunk (``Transfer-Encoding: chunked``), the whole body written at once.
- model ``hold-<N>``: a stream whose first content chunk is sent at once and the rest only
  after ``POST /__release`` (used to hold 1,000 streams open at the same time).
- ``GET .../models``; ``GET /__stats`` (requests served, open connections, process CPU seconds:
  the figures the bench uses to report this server's own ceiling).

Every response is built once per distinct request body and cached, so the server's per-request
work is a dictionary lookup and one ``transport.write``.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

_CREATED = 1700000000


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass


def _http(status: str, body: bytes, ctype: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: " + ctype + b"\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def completion_body(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": _CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
        },
        separators=(",", ":"),
    ).encode()


def _chunk(model: str, delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True) -> bytes:
    obj: dict = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else [],
    }
    if usage is not None:
        obj["usage"] = usage
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def stream_events(model: str, n: int) -> list[bytes]:
    """SSE events: n content chunks, a finish chunk, a usage chunk, [DONE]."""
    events = [_chunk(model, {"role": "assistant", "content": "tok0"})]
    events += [_chunk(model, {"content": f" tok{i}"}) for i in range(1, n)]
    events.append(_chunk(model, {}, finish="stop"))
    events.append(_chunk(model, {}, usage={"prompt_tokens": 9, "completion_tokens": n, "total_tokens": 9 + n}, choices=False))
    events.append(b"data: [DONE]\n\n")
    return events


def _chunked(events: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)


_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
_MODELS = _http(
    "200 OK",
    json.dumps({"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "bench"}]}).encode(),
)
_NOT_FOUND = _http("404 Not Found", b'{"error":{"message":"not found","type":"invalid_request_error"}}')


class Stats:
    requests = 0
    open = 0
    peak_open = 0


_cache: dict[bytes, tuple[bytes, bytes | None]] = {}
_held: list[tuple[asyncio.Transport, bytes]] = []


def _build(body: bytes) -> tuple[bytes, bytes | None]:
    """(bytes to send now, bytes held until /__release)."""
    try:
        req = json.loads(body)
    except ValueError:
        return _http("400 Bad Request", b'{"error":{"message":"bad json"}}'), None
    model = str(req.get("model") or "fake")
    if not req.get("stream"):
        return _http("200 OK", completion_body(model)), None
    name, _, num = model.rpartition("-")
    n = int(num) if num.isdigit() else 500
    events = stream_events(model, n)
    if name == "hold":
        return _STREAM_HEAD + _chunked(events[:1]), _chunked(events[1:]) + b"0\r\n\r\n"
    return _STREAM_HEAD + _chunked(events) + b"0\r\n\r\n", None


class FakeOpenAI(asyncio.Protocol):
    __slots__ = ("t", "buf")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.t = transport
        self.buf = b""
        Stats.open += 1
        if Stats.open > Stats.peak_open:
            Stats.peak_open = Stats.open

    def connection_lost(self, exc: Exception | None) -> None:
        Stats.open -= 1

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while True:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                break
            head = buf[:i]
            lower = head.lower()
            j = lower.find(b"\r\ncontent-length:")
            if j >= 0:
                k = lower.find(b"\r\n", j + 2)
                cl = int(lower[j + 17 : k if k >= 0 else len(lower)])
            else:
                cl = 0
            end = i + 4 + cl
            if len(buf) < end:
                break
            body = buf[i + 4 : end]
            buf = buf[end:]
            self._handle(head, lower, body)
        self.buf = buf

    def _handle(self, head: bytes, lower: bytes, body: bytes) -> None:
        Stats.requests += 1
        line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
        method, _, rest = line.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        t = self.t
        if method == b"POST" and path.endswith(b"/chat/completions"):
            hit = _cache.get(body)
            if hit is None:
                hit = _cache[body] = _build(body)
            t.write(hit[0])
            if hit[1] is not None:
                _held.append((t, hit[1]))
        elif path.endswith(b"/models"):
            t.write(_MODELS)
        elif path == b"/__stats":
            cpu = time.process_time()
            t.write(
                _http(
                    "200 OK",
                    json.dumps(
                        {"requests": Stats.requests, "open": Stats.open, "peak_open": Stats.peak_open,
                         "cpu": cpu, "held": len(_held)}
                    ).encode(),
                )
            )
        elif path == b"/__reset_peak":
            Stats.peak_open = Stats.open
            t.write(_http("200 OK", b"{}"))
        elif path == b"/__release":
            held = list(_held)
            _held.clear()
            for ht, rest in held:
                if not ht.is_closing():
                    ht.write(rest)
            t.write(_http("200 OK", json.dumps({"released": len(held)}).encode()))
        else:
            t.write(_NOT_FOUND)
        if b"\r\nconnection: close" in lower:
            t.close()


async def serve(port: int = 0) -> None:
    _raise_nofile()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FakeOpenAI, "127.0.0.1", port, backlog=4096, reuse_address=True)
    actual = server.sockets[0].getsockname()[1]
    print(f"PORT {actual}", flush=True)
    # Stop when the parent goes away (stdin closes) so no server is ever left behind.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with server:
        await reader.read()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    asyncio.run(serve(port))


if __name__ == "__main__":
    main()
