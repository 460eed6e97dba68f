"""``llmswitch doctor`` shows each provider's breaker state and budget use; ``llmswitch usage``
shows spend against every configured budget — run as a user runs them (a subprocess), the spend
read from the usage log (the memory backend of a fresh process knows none)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from llmswitch.usage.log import UsageLog, UsageRow
from tests.cli._run import run_cli
from tests.fakes.openai_server import VALID_KEY

pytestmark = pytest.mark.usefixtures("isolated")


def config(tmp_path: Path, base_url: str, log: Path) -> Path:
    path = tmp_path / "llmswitch.yaml"
    path.write_text(f"""
providers:
  main:
    type: openai
    base_url: "{base_url}"
    api_key: "{VALID_KEY}"
    breaker: {{failure_threshold: 3}}
    budget: [{{usd: 0.02, per: day, soft: 0.01}}, {{tokens: 100000, per: month}}]
  spare:
    type: openai
    base_url: "{base_url}"
    api_key: "{VALID_KEY}"
agents:
  coder: {{provider: main, fallbacks: [spare], budget: {{tokens: 2000, per: hour}}}}
budgets:
  - {{usd: 0.0135, per: month}}
usage_log: {{path: "{log}"}}
""", encoding="utf-8")
    return path


@pytest.fixture
def usage_log(tmp_path: Path) -> Path:
    log = UsageLog(tmp_path / "usage.sqlite3")
    now = time.time()
    for i in range(3):
        log.record(UsageRow(ts=now - i, provider="main", provider_type="openai", model="gpt-4o", agent="coder",
                            input_tokens=1000, output_tokens=100, cost=0.0045))
    log.record(UsageRow(ts=now - 40 * 86400, provider="main", provider_type="openai", model="gpt-4o", cost=5.0))
    log.record(UsageRow(ts=now, provider="spare", provider_type="openai", model="gpt-4o", input_tokens=10, cost=None))
    log.close()
    return log.path


def test_usage_shows_spend_against_every_budget(tmp_path: Path, usage_log: Path, openai_fake) -> None:
    cfg = config(tmp_path, openai_fake[1], usage_log)
    r = run_cli("usage", "--json", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    budgets = {(b["scope"], b["unit"], b["per"]): b for b in json.loads(r.stdout)["budgets"]}
    assert budgets[("provider:main", "usd", "day")]["spent"] == pytest.approx(0.0135)  # not last month's $5
    assert budgets[("provider:main", "usd", "day")]["limit"] == 0.02 and budgets[("provider:main", "usd", "day")]["soft"] == 0.01
    assert budgets[("provider:main", "tokens", "month")]["spent"] == 3300
    assert budgets[("agent:coder", "tokens", "hour")]["spent"] == 3300
    assert budgets[("total", "usd", "month")]["spent"] == pytest.approx(0.0135)
    assert {b["source"] for b in budgets.values()} == {"usage log"}
    r = run_cli("usage", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "budgets — current window" in r.stdout
    rows = {line.split("│")[1].strip() + "/" + line.split("│")[2].strip(): line
            for line in r.stdout.splitlines() if line.count("│") >= 8}
    assert "$0.0135 soft limit reached" in rows["provider:main/day"] and "$0.0200" in rows["provider:main/day"]
    assert "3,300 tokens" in rows["agent:coder/hour"] and "2,000 tokens" in rows["agent:coder/hour"]
    assert "$0.0135 spent" in rows["total/month"]
    assert VALID_KEY not in r.stdout


def test_usage_without_budgets_shows_none(usage_log: Path) -> None:
    r = run_cli("usage", "--json", "--log", str(usage_log))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["budgets"] == []


def test_doctor_shows_breaker_state_and_budget_use(tmp_path: Path, usage_log: Path, openai_fake) -> None:
    cfg = config(tmp_path, openai_fake[1], usage_log)
    r = run_cli("doctor", "--json", env_extra={"LLMSWITCH_CONFIG": str(cfg)})
    rows = {row["provider"]: row for row in json.loads(r.stdout)}
    assert r.returncode == 0, r.stderr
    assert rows["main"]["breaker"] == "closed" and rows["spare"]["breaker"] == "off"
    main = {(b["scope"], b["unit"]): b["spent"] for b in rows["main"]["budgets"]}
    assert main[("provider:main", "usd")] == pytest.approx(0.0135) and main[("provider:main", "tokens")] == 3300
    assert main[("total", "usd")] == pytest.approx(0.0135)
    assert [b["scope"] for b in rows["spare"]["budgets"]] == ["total"]
    r = run_cli("doctor", env_extra={"LLMSWITCH_CONFIG": str(cfg)})
    assert r.returncode == 0, r.stderr
    assert "breaker" in r.stdout and "budget" in r.stdout
    assert "provider:main: $0.0135 of $0.0200 (day" in r.stdout and "soft limit reached" in r.stdout
    assert VALID_KEY not in r.stdout
