"""The gateway benchmark must keep running: a smoke run (no LiteLLM) has to produce its table with
every target — the backend direct, both floors (aiohttp's and the gateway's own HTTP parts), the
gateway — and sane, positive figures. No timing thresholds: the machine is shared and noisy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("direct", "floor", "hop", "gateway")


def test_gateway_smoke_bench_measures_every_target(tmp_path: Path) -> None:
    out = tmp_path / "gateway.md"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    proc = subprocess.run(
        [sys.executable, "-m", "bench.gateway", "--profile", "smoke", "--litellm-python", "", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "| figure | direct | floor | hop | gateway |" in text
    assert "the gateway's own work per call" in text

    r = json.loads(out.with_suffix(".json").read_text())
    for name in TARGETS:
        assert r[f"{name}_p50_us"] > 0 and r[f"{name}_calls_per_s"] > 0, name
        assert r[f"{name}_us_per_chunk"] > 0 and r[f"{name}_ttfc_us"] > 0, name
    for name in TARGETS[1:]:
        assert r[f"{name}_cpu_us_per_call"] > 0 and r[f"{name}_rss_mb"] > 0, name
        assert r[f"{name}_start_s"] > 0, name
    assert r["hold"]["completed"] == r["hold"]["streams"] == 50
