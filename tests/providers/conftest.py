"""Fake Ollama and LM Studio servers for the provider tests, started per test on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.lmstudio_server import FakeLMStudio
from tests.fakes.ollama_server import ChatScript, FakeOllama


@pytest.fixture(autouse=True)
def _no_ambient_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's OLLAMA_HOST / LMSTUDIO_BASE_URL must not redirect the tests."""
    for var in ("OLLAMA_HOST", "OLLAMA_API_KEY", "LMSTUDIO_BASE_URL", "LMSTUDIO_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
async def ollama() -> AsyncIterator[FakeOllama]:
    """A tool- and thinking-capable model without vision, and a plain one."""
    fake = FakeOllama()
    fake.add_model(
        "qwen3:8b",
        capabilities=["completion", "tools", "thinking"],
        script=ChatScript(chunks=["Let me", " check."], tool_call={"name": "get_weather", "arguments": {"city": "Tokyo"}}),
    )
    fake.add_model("gemma3:270m", capabilities=["completion"])
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def lmstudio() -> AsyncIterator[FakeLMStudio]:
    fake = FakeLMStudio()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
