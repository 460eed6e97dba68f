"""``llmswitch doctor``, run as a user runs it: a subprocess, output read back."""

from __future__ import annotations

import json

from tests.cli._run import run_cli
from tests.fakes.openai_server import VALID_KEY


def test_doctor_reports_a_healthy_openai(openai_fake) -> None:
    r = run_cli("doctor", "--json", env_extra={"OPENAI_BASE_URL": openai_fake[1], "OPENAI_API_KEY": VALID_KEY})
    rows = {row["provider"]: row for row in json.loads(r.stdout)}
    assert r.returncode == 0, r.stderr
    assert rows["openai"]["connected"] and rows["openai"]["model_detected"]
    assert rows["openai"]["model_id"] == "gpt-test"
    assert VALID_KEY not in r.stdout
    r = run_cli("doctor", env_extra={"OPENAI_BASE_URL": openai_fake[1], "OPENAI_API_KEY": VALID_KEY})
    assert r.returncode == 0, r.stderr
    assert "llmswitch doctor" in r.stdout
    row = next(line for line in r.stdout.splitlines() if line.startswith("│ openai "))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[:5] == ["openai", "openai", openai_fake[1], "healthy", "gpt-test"]
    assert cells[6] == "models=3"  # the fake lists three
    assert VALID_KEY not in r.stdout
