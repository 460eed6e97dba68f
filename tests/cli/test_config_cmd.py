"""``llmswitch config init|show|path``: a valid file, no overwrite, running local servers found, secrets redacted."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmswitch.config import load_config

pytestmark = pytest.mark.usefixtures("isolated")  # a bare machine: tests/fixtures/env.py

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_config_init_writes_valid_file_and_refuses_overwrite(tmp_path, monkeypatch):
    from llmswitch.cli import app

    monkeypatch.setenv("LLMSWITCH_AUTO_ENDPOINTS", "")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-initkey-123456")
    target = tmp_path / "out.yaml"
    res = CliRunner().invoke(app, ["config", "init", "--path", str(target)])
    assert res.exit_code == 0, res.output
    text = target.read_text()
    assert "api_key: ${OPENAI_API_KEY}" in text and "sk-test-initkey" not in text
    cfg = load_config(target)
    assert list(cfg.providers) == ["openai"] and cfg.agents["default"].provider == "openai"
    again = CliRunner().invoke(app, ["config", "init", "--path", str(target)])
    assert again.exit_code == 1 and "--force" in again.output
    forced = CliRunner().invoke(app, ["config", "init", "--path", str(target), "--force", "--no-probe"])
    assert forced.exit_code == 0


async def test_config_init_includes_running_local_server(tmp_path, monkeypatch, fake_server):
    server = await fake_server(models=["found-model"])
    monkeypatch.setenv("LLMSWITCH_AUTO_ENDPOINTS", f"lmstudio={server.base_url}")
    target = tmp_path / "found.yaml"
    env = {**os.environ, "PYTHONPATH": SRC}
    import asyncio

    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "llmswitch", "config", "init", "--path", str(target),
                                                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    cfg = load_config(target)
    assert cfg.providers["lmstudio"].base_url == server.base_url
    assert "found-model" in target.read_text()


def test_config_show_redacts(tmp_path, monkeypatch):
    from llmswitch.cli import app

    cfg = tmp_path / "c.yaml"
    cfg.write_text("providers:\n  o: {type: openai, api_key: sk-visible-never-12345, headers: {X-Token: tok-secret-999}}\n")
    res = CliRunner().invoke(app, ["config", "show", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "sk-visible-never" not in res.output and "tok-secret-999" not in res.output and "***" in res.output
    monkeypatch.setenv("LLMSWITCH_CONFIG", str(cfg))
    res = CliRunner().invoke(app, ["config", "path"])
    assert res.output.strip() == str(cfg)
