"""bridge.AsyncBridge across fork: the sync API works in a forked child, never hangs, and the
child talks over connections of its own (the parent's pooled ones are neither used nor closed)."""

from __future__ import annotations

import llmswitch as ls
from llmswitch._bridge import AsyncBridge, get_bridge
from llmswitch.api import get_provider
from tests.fixtures.forked import REF, REPLY, Env, run_in_fork


def _child_complete() -> None:
    # No timeout on purpose: before the fork hook, this waited forever on the parent's dead loop.
    reply = ls.complete(REF, "hi")
    assert reply.text == REPLY


def _child_stream() -> None:
    with ls.stream(REF, "hi", timeout=20) as s:
        text = "".join(s.text())
    assert text == REPLY


def test_sync_complete_in_a_child_forked_while_the_bridge_runs(sync_env: Env) -> None:
    assert ls.complete(REF, "hi", timeout=20).text == REPLY  # the parent's bridge loop is running
    assert get_bridge()._thread is not None and get_bridge()._thread.is_alive()
    run_in_fork(_child_complete)
    # The parent is unaffected: its bridge still answers.
    assert ls.complete(REF, "hi", timeout=20).text == REPLY


def test_sync_stream_in_a_forked_child(sync_env: Env) -> None:
    with ls.stream(REF, "hi", timeout=20) as s:
        assert "".join(s.text()) == REPLY
    run_in_fork(_child_stream)


def test_the_child_uses_fresh_connections_and_leaves_the_parents_pool_alone(sync_env: Env) -> None:
    """Transports key their sessions by event loop; the child's fresh bridge loop must therefore
    get a fresh session, never a socket inherited from the parent's pool."""
    ls.complete(REF, "hi", timeout=20)
    parent_port = sync_env.peers[-1]
    run_in_fork(_child_complete)
    child_ports = sync_env.peers[1:]
    assert child_ports and parent_port not in child_ports
    # The parent's pooled connection survived the child (the child closed nothing of it) and is reused.
    ls.complete(REF, "hi", timeout=20)
    assert sync_env.peers[-1] == parent_port


def _child_own_bridge(bridge: AsyncBridge) -> None:
    async def answer() -> int:
        return 42

    assert bridge.run(answer(), timeout=10) == 42


def test_a_user_made_bridge_is_reset_in_the_child_too(sync_env: Env) -> None:
    bridge = AsyncBridge(name="mine")

    async def warm() -> None:
        return None

    bridge.run(warm(), timeout=10)
    try:
        run_in_fork(_child_own_bridge, bridge)
    finally:
        bridge.shutdown()


def _child_closes_the_provider() -> None:
    ls.complete(REF, "hi", timeout=20)
    provider, _ = get_provider(REF)
    # The provider's transport also holds the session of the parent's (parked) bridge loop.
    get_bridge().run(provider.aclose(), timeout=5)


def test_closing_a_provider_in_the_child_does_not_hang(sync_env: Env) -> None:
    ls.complete(REF, "hi", timeout=20)
    run_in_fork(_child_closes_the_provider)
