"""Fake Ollama and LM Studio servers shaped for the capability tests (named apart from the suite-wide
``ollama``/``lmstudio`` fixtures in tests/fixtures/servers.py, which the other provider tests use)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.lmstudio_server import FakeLMStudio
from tests.fakes.ollama_server import ChatScript, FakeOllama


@pytest.fixture
async def ollama_caps() -> AsyncIterator[FakeOllama]:
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
async def lmstudio_caps() -> AsyncIterator[FakeLMStudio]:
    fake = FakeLMStudio()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
