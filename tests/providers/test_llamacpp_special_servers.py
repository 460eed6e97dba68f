"""Servers with special flags: watched while loading, ``--no-slots`` without ``--metrics``,
``--api-key``, and one killed in the middle of a stream."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from llmswitch.errors import AuthenticationError, ProviderConnectionError
from llmswitch.local import LocalRuntime, read_state, state_file
from llmswitch.management.llamacpp import EndpointDisabledError, LlamaCppClient
from llmswitch.providers.llamacpp import LlamaCppProvider
from llmswitch.types import TextDelta
from tests.fixtures.llama_server import CTX, TEST_ALIAS, TEST_MODEL, pid_gone, spawn_server

pytestmark = pytest.mark.integration

KEY = "llmswitch-test-key-0123456789"


async def _watch_health(url: str, proc, limit: float = 120.0) -> list:
    """Health as seen by the provider, polled from the moment of spawning until ok."""
    p = LlamaCppProvider(base_url=url, connect_timeout=1, timeout=5)
    seen = []
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and proc.poll() is None:
            st = await p.health_check()
            seen.append(st)
            if st.healthy:
                break
            await asyncio.sleep(0.02)
    finally:
        await p.aclose()
    return seen


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    """``--no-slots`` and no ``--metrics``; its health is recorded while it loads."""
    srv = spawn_server(tmp_path_factory.mktemp("bare"), "--no-slots")
    try:
        srv.seen = asyncio.run(_watch_health(srv.url, srv.proc))
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def test_health_while_loading_then_ok(bare_server) -> None:
    seen = bare_server.seen
    assert seen and seen[-1].healthy, [s.error for s in seen[-3:]]
    assert seen[-1].model_id == TEST_ALIAS and seen[-1].metadata["status"] == "ok"
    loading = [s for s in seen if s.metadata.get("status") == "loading"]
    assert loading, "never saw llama-server's 503 'Loading model' (test_loading_fake covers the mapping)"
    for s in loading:
        assert s.connected is False and s.model_detected is False and "loading" in s.error
    # before loading: refused (nothing listening yet); never anything else
    assert all(s.metadata.get("status") in (None, "loading") for s in seen[:-1])


async def test_slots_disabled_is_a_clear_error(bare_server) -> None:
    c = LlamaCppClient(bare_server.root)
    try:
        with pytest.raises(EndpointDisabledError) as info:
            await c.get_slots()
        assert info.value.status_code == 501
        assert "/slots is disabled" in str(info.value) and "--slots" in str(info.value)
        with pytest.raises(EndpointDisabledError) as info:
            await c.get_metrics()
        assert info.value.status_code == 501 and "--metrics" in str(info.value)
        assert (await c.get_props())["endpoint_slots"] is False  # the rest still works
    finally:
        await c.aclose()


@pytest.fixture(scope="module")
def keyed_runtime(tmp_path_factory):
    """Started with ``--api-key`` through LocalRuntime, used as a sync context manager."""
    state = tmp_path_factory.mktemp("keyed")
    with LocalRuntime(TEST_MODEL, alias=TEST_ALIAS, ctx_size=CTX, api_key=KEY, state_dir=state) as rt:
        pid = rt.pid
        yield rt
    assert pid_gone(pid), "the sync context manager left llama-server running"


async def test_api_key_required(keyed_runtime, monkeypatch) -> None:
    monkeypatch.delenv("LLAMACPP_API_KEY", raising=False)
    anon = LlamaCppProvider(base_url=keyed_runtime.url)
    wrong = LlamaCppProvider(base_url=keyed_runtime.url, api_key="wrong-key-abcdefgh")
    try:
        with pytest.raises(AuthenticationError) as info:
            await anon.complete("hi", max_tokens=1)
        assert info.value.status_code == 401
        with pytest.raises(AuthenticationError) as info:
            await wrong.complete("hi", max_tokens=1)
        assert "wrong-key-abcdefgh" not in str(info.value) and KEY not in str(info.value)
        status = await anon.health_check()  # /health and /v1/models are public; /props is not
        assert status.healthy is False and status.metadata["status"] == "unauthorized"
        assert "401" in status.error
    finally:
        await anon.aclose()
        await wrong.aclose()


async def test_api_key_accepted(keyed_runtime, monkeypatch) -> None:
    monkeypatch.setenv("LLAMACPP_API_KEY", KEY)
    p = LlamaCppProvider(base_url=keyed_runtime.url)
    c = LlamaCppClient(keyed_runtime.url)
    try:
        assert KEY not in repr(p) and KEY not in repr(c)
        status = await p.health_check()
        assert status.healthy, status.error
        r = await p.complete("hi", max_tokens=2, temperature=0)
        assert r.usage.output_tokens <= 2 and r.usage.input_tokens > 0
        assert (await c.get_props())["model_alias"] == TEST_ALIAS
    finally:
        await p.aclose()
        await c.aclose()
    # the key is in neither the state file nor the server's argv
    st = read_state(keyed_runtime.state_dir)
    assert st.api_key_required is True
    assert KEY not in state_file(keyed_runtime.state_dir).read_text()
    with open(f"/proc/{st.pid}/cmdline", "rb") as f:
        assert KEY.encode() not in f.read()


async def test_server_killed_mid_stream(tmp_path) -> None:
    async with LocalRuntime(TEST_MODEL, alias=TEST_ALIAS, ctx_size=CTX, state_dir=tmp_path) as rt:
        pid = rt.pid
        p = LlamaCppProvider(base_url=rt.url)
        got: list[str] = []
        try:
            with pytest.raises(ProviderConnectionError):
                async with p.stream("Tell me a long story about a dragon.", max_tokens=32, temperature=0) as s:
                    async for ev in s:
                        if isinstance(ev, TextDelta):
                            got.append(ev.text)
                            if len(got) == 1:
                                os.kill(pid, signal.SIGKILL)
        finally:
            await p.aclose()
        assert got, "the stream never produced text before the kill"
    # leaving the context manager reaps the dead server and forgets it
    assert pid_gone(pid)
    assert read_state(tmp_path) is None and not state_file(tmp_path).exists()
