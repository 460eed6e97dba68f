"""The stream writer: events produced without a pause go out in one write; a token that arrives
alone goes out at once; a long burst goes out in pieces; a failed write surfaces."""

from __future__ import annotations

import asyncio

import pytest

from llmswitch.gateway.coalesce import Coalescer


def test_a_burst_is_one_write_and_a_lone_event_is_not_held() -> None:
    writes: list[bytes] = []

    async def write(data: bytes) -> None:
        writes.append(data)

    async def main() -> None:
        out = Coalescer(write)
        for i in range(5):  # no suspension between them: one burst
            await out.add(b"e%d;" % i)
        assert writes == []
        await asyncio.sleep(0)  # the handler waits on the network: the burst is written
        await asyncio.sleep(0)
        assert writes == [b"e0;e1;e2;e3;e4;"]
        await out.add(b"alone;")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert writes[-1] == b"alone;"
        await out.add(b"last;")
        await out.flush()
        assert writes == [b"e0;e1;e2;e3;e4;", b"alone;", b"last;"]

    asyncio.run(main())


def test_a_long_burst_goes_out_in_pieces_in_order() -> None:
    writes: list[bytes] = []

    async def write(data: bytes) -> None:
        await asyncio.sleep(0)
        writes.append(data)

    async def main() -> None:
        out = Coalescer(write, limit=100)
        for i in range(50):
            await out.add(b"%02d-------;" % i)  # 11 bytes each
        await out.flush()
        assert b"".join(writes) == b"".join(b"%02d-------;" % i for i in range(50))
        assert len(writes) >= 5 and max(map(len, writes)) <= 111

    asyncio.run(main())


def test_a_failed_write_is_raised_to_the_producer() -> None:
    async def write(data: bytes) -> None:
        raise ConnectionResetError("the caller went away")

    async def main() -> None:
        out = Coalescer(write)
        await out.add(b"x")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        with pytest.raises(ConnectionResetError):
            await out.add(b"y")

    asyncio.run(main())


def test_push_says_when_the_producer_must_flush() -> None:
    writes: list[bytes] = []

    async def write(data: bytes) -> None:
        writes.append(data)

    async def main() -> None:
        out = Coalescer(write, limit=20)
        assert out.push(b"0123456789") is False  # 10 bytes gathered: keep going without awaiting
        assert out.push(b"0123456789") is False  # 20: not more than the limit yet
        assert out.push(b"x") is True  # 21: the producer awaits flush() now
        assert writes == []
        await out.flush()
        assert writes == [b"0123456789" * 2 + b"x"]

    asyncio.run(main())
