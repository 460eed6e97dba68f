"""Suite-wide fixtures. Shared fixtures live in ``tests/fixtures/`` and are loaded here for every
test: the fake servers (``servers``), a bare environment and a memory keyring (``env``), the real
llama-server, started once per session (``llama_server``), the fork helpers (``forked``) and the real Redis
(``redis``)."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fixtures.env",
    "tests.fixtures.forked",
    "tests.fixtures.llama_server",
    "tests.fixtures.redis",
    "tests.fixtures.servers",
]


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the developer's real config, usage log or runtime state."""
    base = tmp_path_factory.getbasetemp()
    for var, sub in (("LLMSWITCH_CONFIG_DIR", "config"), ("LLMSWITCH_DATA_DIR", "data"), ("LLMSWITCH_STATE_DIR", "state")):
        if var not in os.environ:
            monkeypatch.setenv(var, str(base / sub))
    monkeypatch.delenv("LLMSWITCH_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def _no_ambient_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's OLLAMA_HOST / LMSTUDIO_BASE_URL must not redirect the tests to a real server."""
    for var in ("OLLAMA_HOST", "OLLAMA_API_KEY", "LMSTUDIO_BASE_URL", "LMSTUDIO_API_KEY"):
        monkeypatch.delenv(var, raising=False)
