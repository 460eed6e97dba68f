"""seeds/002 "Async/Sync Bridge": statistics, context-manager cleanup, one shared instance."""

from __future__ import annotations

import asyncio

import pytest

from llmswitch import AsyncBridge
from llmswitch._bridge import BridgeStats, get_bridge
from llmswitch.errors import ProviderTimeoutError


async def _ok() -> int:
    return 7


async def _fails() -> None:
    raise ValueError("boom")


async def _slow() -> None:
    await asyncio.sleep(5)


def test_statistics_count_calls_timeouts_errors_and_in_flight() -> None:
    with AsyncBridge(name="test-bridge") as bridge:
        assert bridge.stats == BridgeStats()
        assert bridge.run(_ok()) == 7
        with pytest.raises(ValueError, match="boom"):
            bridge.run(_fails())
        with pytest.raises(ProviderTimeoutError):
            bridge.run(_slow(), 0.05)
        assert list(bridge.iterate(_agen())) == [1, 2]
        stats = bridge.stats
        # 3 runs + 3 round trips of the iteration (two items, then its end) + its aclose
        assert (stats.timeouts, stats.errors, stats.in_flight) == (1, 1, 0)
        assert stats.calls == 7
        snapshot = bridge.stats
        bridge.run(_ok())
        assert snapshot.calls == 7 and bridge.stats.calls == 8  # a snapshot does not move
    assert bridge._loop is None  # the with-block shut its loop down


async def _agen():  # type: ignore[no-untyped-def]
    yield 1
    yield 2


def test_get_bridge_is_one_shared_instance() -> None:
    assert get_bridge() is get_bridge()
