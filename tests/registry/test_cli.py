"""CLI: usage table, config init/show, keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmswitch.config import load_config
from llmswitch.usage.log import UsageLog, UsageRow

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def usage_db(tmp_path) -> Path:
    import time

    log = UsageLog(tmp_path / "usage.sqlite3")
    now = time.time()
    for i in range(3):
        log.record(UsageRow(ts=now - i, provider="claude_main", provider_type="anthropic", model="claude-sonnet-4-5",
                            input_tokens=1000, output_tokens=100, cost=0.0045))
    log.record(UsageRow(ts=now, provider="claude_main", provider_type="anthropic", model="x", status="error", error_class="RateLimitError"))
    log.record(UsageRow(ts=now, provider="mystery_cloud", provider_type="openai-compatible", model="m", input_tokens=7, output_tokens=3, cost=None))
    log.record(UsageRow(ts=now - 30 * 86400, provider="old", provider_type="openai", model="gpt-4o", cost=1.0))
    log.close()
    return log.path


def test_usage_by_provider_subprocess(usage_db):
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "llmswitch", "usage", "--by", "provider", "--log", str(usage_db)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
             for line in out.stdout.splitlines() if line.count("│") >= 7}
    assert lines["claude_main"][:4] == ["4", "1", "3,000", "300"] and lines["claude_main"][-1] == "$0.0135"
    assert lines["mystery_cloud"][-1] == "unknown"
    assert "old" not in lines  # older than the default 7 days
    assert lines["total"][0] == "5" and "1 unpriced" in lines["total"][-1]


def test_usage_json_and_since_all(usage_db):
    from llmswitch.cli import app

    res = CliRunner().invoke(app, ["usage", "--by", "model", "--since", "all", "--json", "--log", str(usage_db)])
    assert res.exit_code == 0, res.output
    rows = {r["model"]: r for r in json.loads(res.stdout)["rows"]}
    assert rows["gpt-4o"]["cost"] == 1.0 and rows["claude-sonnet-4-5"]["calls"] == 3 and rows["m"]["cost"] is None
    bad = CliRunner().invoke(app, ["usage", "--since", "yesterday-ish", "--log", str(usage_db)])
    assert bad.exit_code == 1


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


def test_keys_set_get_rm(memory_keyring):
    from llmswitch.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["keys", "set", "openai", "--value", "sk-keyring-abcdefgh1234"]).exit_code == 0
    assert memory_keyring.store[("llmswitch", "openai")] == "sk-keyring-abcdefgh1234"
    masked = runner.invoke(app, ["keys", "get", "openai"])
    assert masked.exit_code == 0 and "sk-keyring-abcdefgh1234" not in masked.output and "1234" in masked.output
    shown = runner.invoke(app, ["keys", "get", "openai", "--show"])
    assert shown.output.strip() == "sk-keyring-abcdefgh1234"
    # the module-level API finds it when OPENAI_API_KEY is unset (checked without filling its provider cache)
    from llmswitch.config import implicit_api_key
    from llmswitch.providers import provider_class

    assert implicit_api_key(provider_class("openai")) == "sk-keyring-abcdefgh1234"
    assert implicit_api_key(provider_class("vllm")) is None  # a local server needs no key
    assert runner.invoke(app, ["keys", "rm", "openai"]).exit_code == 0
    assert runner.invoke(app, ["keys", "get", "openai"]).exit_code == 1
