"""``llmswitch usage``: the table by provider (a subprocess) and JSON by model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmswitch.usage.log import UsageLog, UsageRow

pytestmark = pytest.mark.usefixtures("isolated")  # a bare machine: tests/fixtures/env.py

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
