"""A keep-alive connection the server closed while it sat in the pool must not fail the next call."""

from __future__ import annotations

import asyncio
import socket

import pytest

import llmswitch as ls
from llmswitch.providers.openai_compat import OpenAICompatibleProvider

BODY = b'{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'


async def test_post_not_resent_after_the_server_read_it_and_dropped_the_connection() -> None:
    """Each connection answers one request with keep-alive, then reads the next request on it and
    drops the socket without answering. The server may have acted on that request (a long
    generation is billed), so llmswitch must not send it again: it raises a retryable
    ProviderConnectionError that says the outcome is unknown, and the server saw it exactly once."""
    answered = 0
    dropped = 0

    async def read_request(reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int([ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")][0].split(b":")[1])
        await reader.readexactly(length)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered, dropped
        try:
            await read_request(reader)
            answered += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
            await writer.drain()
            await read_request(reader)  # the next request on this connection is read whole...
            dropped += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()  # ...and never answered

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # retry_on_timeout=False: the retry policy leaves an unknown outcome alone too (README "Resilience")
    provider = OpenAICompatibleProvider(base_url=f"http://127.0.0.1:{port}/v1", retry_on_timeout=False)
    try:
        async with provider:
            assert (await provider.complete("hi", model="m")).text == "ok"
            with pytest.raises(ls.ProviderConnectionError) as info:
                await provider.complete("hi", model="m")
    finally:
        server.close()
        await server.wait_closed()
    assert answered == 1 and dropped == 1, "the dropped POST was sent again"
    assert info.value.retryable
    assert "may have run it" in str(info.value)


async def test_refused_connection_is_not_retried_and_maps() -> None:
    """A refused connection is mapped once and not tried again inside the transport (retrying is
    the retry policy's decision, llmswitch.routing). Connection attempts are counted at the event loop's
    ``sock_connect``, which aiohttp (through aiohappyeyeballs) uses for every TCP connect."""
    loop = asyncio.get_running_loop()
    attempts: list[tuple[str, int]] = []
    real_connect = loop.sock_connect

    with socket.socket() as held:  # bound and never listening: every connect is refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]

        async def counting_connect(sock: socket.socket, address: tuple[str, int]) -> None:
            if address[1] == port:
                attempts.append((address[0], address[1]))
            return await real_connect(sock, address)

        loop.sock_connect = counting_connect  # type: ignore[method-assign]
        # retries=0: the transport's own attempts (the retry policy's are tests/routing)
        provider = OpenAICompatibleProvider(base_url=f"http://127.0.0.1:{port}/v1", retries=0)
        try:
            async with provider:
                with pytest.raises(ls.ProviderConnectionError) as info:
                    await provider.complete("hi", model="m")
        finally:
            del loop.sock_connect  # the instance attribute; the class method is back
    assert attempts == [("127.0.0.1", port)], f"connect attempts: {attempts}"
    assert type(info.value) is ls.ProviderConnectionError
    assert f"cannot connect to 127.0.0.1:{port} (connection refused)" in str(info.value)
    assert info.value.url == f"http://127.0.0.1:{port}/v1/chat/completions"
