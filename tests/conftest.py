"""Suite-wide fixtures. Areas keep their own fixtures in their folder's conftest.py."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the developer's real config, usage log or runtime state."""
    base = tmp_path_factory.getbasetemp()
    for var, sub in (("LLMSWITCH_CONFIG_DIR", "config"), ("LLMSWITCH_DATA_DIR", "data"), ("LLMSWITCH_STATE_DIR", "state")):
        if var not in os.environ:
            monkeypatch.setenv(var, str(base / sub))
    monkeypatch.delenv("LLMSWITCH_CONFIG", raising=False)
