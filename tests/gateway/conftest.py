"""The gateway under test: ``llmswitch.gateway.serve`` on 127.0.0.1 (a free port) in a thread of
its own, in front of the fake OpenAI and Anthropic servers (``tests/fakes``), driven by the
official ``openai`` and ``anthropic`` SDKs as real clients.

Callers: ``alice`` (every model) and ``bob`` (only ``fast`` and ``oai:*``, two at a time).
Providers: ``oai`` (the OpenAI fake, Chat Completions wire) and ``claude`` (the Anthropic fake,
Messages wire), both without retries so an error reaches the caller as the backend sent it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from llmswitch.config import LLMSwitchConfig
from llmswitch.gateway import hash_key, serve
from llmswitch.gateway.loop import loop_factory
from tests.fakes import anthropic_server, openai_server
from tests.fakes._threaded import ThreadedServer
from tests.fakes.openai_server import FakeOpenAI

ALICE = "gw-alice-key-0123456789"
BOB = "gw-bob-key-9876543210"


@dataclass
class RunningGateway:
    url: str
    port: int
    stop_event: asyncio.Event
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    error: list[BaseException]

    def stop(self, timeout: float = 30.0) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop_event.set)
            self.thread.join(timeout)


def start_gateway(config: LLMSwitchConfig, host: str = "127.0.0.1") -> RunningGateway:
    """``serve()`` in a thread on a free port; returns once it listens (or raises what stopped it).
    On the loop ``llmswitch serve`` takes by default (``--loop auto``: uvloop when installed), so the
    SDK tests run on what ships; ``test_loop.py`` runs asyncio's loop too."""
    factory = loop_factory("auto")
    loop = factory() if factory is not None else asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []
    errors: list[BaseException] = []
    stop_holder: list[asyncio.Event] = []

    async def main() -> None:
        stop = asyncio.Event()
        stop_holder.append(stop)
        await serve(config, host, 0, ready=lambda p: (port.append(p), ready.set()), stop=stop)

    def target() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=target, daemon=True, name="gateway")
    thread.start()
    assert ready.wait(20), "gateway did not start"
    if errors:
        raise errors[0]
    return RunningGateway(f"http://127.0.0.1:{port[0]}", port[0], stop_holder[0], loop, thread, errors)


class WatchedOpenAI(FakeOpenAI):
    """The OpenAI fake, noting when a caller went away in the middle of a stream it was writing."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.cut = threading.Event()

    async def chat(self, request: web.Request) -> web.StreamResponse:
        try:
            return await super().chat(request)
        except (ConnectionResetError, asyncio.CancelledError):
            self.cut.set()
            raise


@dataclass
class Backends:
    openai: WatchedOpenAI
    anthropic: anthropic_server.FakeAnthropic
    anthropic_url: str


@pytest.fixture
def backends() -> Iterator[Backends]:
    fake = WatchedOpenAI(["gpt-test", "gpt-tools", "gpt-long", "gpt-slowstream"], chunks=200, chunk_delay=0.02)
    oai = ThreadedServer(fake.app).start()
    fake.base_url = oai.url + "/v1"
    ant, ant_server = anthropic_server.start()
    try:
        yield Backends(fake, ant, ant_server.url)
    finally:
        oai.stop()
        ant_server.stop()


def gateway_config(b: Backends, **gateway: Any) -> LLMSwitchConfig:
    gw: dict[str, Any] = {
        "keys": [
            {"name": "alice", "key_sha256": hash_key(ALICE)},
            {"name": "bob", "key_sha256": hash_key(BOB), "models": ["fast", "oai:*"], "max_concurrency": 2},
        ],
        "models": {"fast": "oai:gpt-test", "claude-fast": "claude:claude-test", "chain": ["oai:gpt-broken", "claude:claude-test"]},
    }
    gw.update(gateway)
    return LLMSwitchConfig(
        providers={
            "oai": {"type": "openai", "base_url": b.openai.base_url, "api_key": openai_server.VALID_KEY, "retries": 0},
            "claude": {"type": "anthropic", "base_url": b.anthropic_url, "api_key": anthropic_server.VALID_KEY, "retries": 0},
        },
        gateway=gw,
    )


@pytest.fixture
def gateway(backends: Backends) -> Iterator[RunningGateway]:
    gw = start_gateway(gateway_config(backends))
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def oai_client(gateway: RunningGateway) -> Any:
    import openai

    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=ALICE, max_retries=0, timeout=20)


@pytest.fixture
def ant_client(gateway: RunningGateway) -> Any:
    import anthropic

    return anthropic.Anthropic(base_url=gateway.url, api_key=ALICE, max_retries=0, timeout=20)
