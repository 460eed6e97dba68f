"""Fixtures for the Ollama and LM Studio tests: fake servers on 127.0.0.1, stopped after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.lmstudio_server import FakeLMStudio
from tests.fakes.ollama_server import ChatScript, FakeOllama, PullScript


@pytest.fixture(autouse=True)
def _no_ambient_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's OLLAMA_HOST / LMSTUDIO_BASE_URL must not redirect the tests."""
    for var in ("OLLAMA_HOST", "OLLAMA_API_KEY", "LMSTUDIO_BASE_URL", "LMSTUDIO_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
async def ollama() -> AsyncIterator[FakeOllama]:
    """A fake Ollama with three models: a tool-capable one (loaded), a plain one, an embedder."""
    fake = FakeOllama()
    fake.add_model(
        "qwen3:8b",
        capabilities=["completion", "tools", "thinking"],
        loaded=True,
        context_length=8192,
        family="qwen3",
        params="8.2B",
        script=ChatScript(
            chunks=["Let me", " check."],
            thinking=["The user wants", " the weather."],
            tool_call={"name": "get_weather", "arguments": {"city": "Tokyo"}},
        ),
    )
    fake.add_model("gemma3:270m", capabilities=["completion"], family="gemma3", params="268.10M", quant="Q8_0")
    fake.add_model("nomic-embed-text", capabilities=["embedding"], family="nomic-bert", params="137M", quant="F16")
    fake.add_model("broken:1b", capabilities=["completion"], script=ChatScript(chunks=["one", "two", "three"], error_after=1))
    fake.pullable["tinyllama:latest"] = PullScript()
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
