"""The benchmark must keep running: a tiny smoke run (aiohttp + llmswitch, this interpreter, no
venv, no llama-server) has to produce the report with sane, positive numbers. No timing
thresholds: the machine is shared and noisy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("aiohttp")


def test_smoke_bench_produces_a_sane_table(tmp_path: Path) -> None:
    out = tmp_path / "latest.md"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "| aiohttp |" in text and "| llmswitch |" in text
    assert "Budget (DESIGN.md)" in text and "Fake server ceiling" in text
    assert "**not measured" not in text

    data = json.loads(out.with_suffix(".json").read_text())
    assert data["errors"] == {}
    for name in ("aiohttp", "llmswitch"):
        runs = data["runs"][name]
        assert len(runs) == 1
        r = runs[0]
        for key in ("us_per_call", "calls_per_s", "us_per_chunk", "ttfc_us", "peak_rss_mb"):
            assert 0 < r[key] < 1e9, (name, key, r[key])
        assert r["us_per_call"] < 1e6  # under a second per local call
        assert 0 < data["imports"][name][0] < 60_000
        assert 0 < data["ready"][name][0] < 60_000
        hold = data["hold"][name]
        assert hold["complete"] == hold["streams"] == hold["held_at_once"]
        assert hold["leaked_tasks"] == 0
        assert hold["server_open_after_close"] == 0
    paired = data["paired"]["llmswitch"][0]
    for key in ("us_per_call", "us_per_chunk", "ttfc_us", "calls_per_s"):
        assert 0 < paired[key] < 1000
    ceiling = data["ceiling"]["call"]
    assert ceiling["server_cpu_us"] > 0 and ceiling["client_per_s"] > 0
