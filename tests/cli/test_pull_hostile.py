"""``llmswitch pull`` against a hostile Ollama: rich markup, terminal escapes and wrong-typed byte
counts never crash the pull or reach the screen as such.

Run as a user runs it (a subprocess) against ``HostilePull`` in ``tests/fakes/hostile_server.py``;
the helpers of ``cli/_common.py`` are tested in ``test_common.py``, ``PullProgress`` in
``tests/management/test_ollama_pull_progress.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.hostile_server import HostilePull, serve

SRC = str(Path(__file__).resolve().parents[2] / "src")


def run_cli(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k not in ("LLMSWITCH_CONFIG", "OLLAMA_HOST")}
    env.update({"PYTHONPATH": SRC, "COLUMNS": "200", "NO_COLOR": "1", "LLMSWITCH_NO_LOCAL_RUNTIME": "1",
                "LLMSWITCH_AUTO_ENDPOINTS": "", "LLMSWITCH_USAGE_LOG": "off"})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "llmswitch", *args], capture_output=True, text=True, env=env, timeout=timeout)


# --- llmswitch pull ---------------------------------------------------------------------------


def test_pull_survives_markup_and_bad_byte_counts() -> None:
    server = serve(HostilePull())
    try:
        r = run_cli("pull", "tinyllama", "--host", server.url)
    finally:
        server.stop()
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert "pulling manifest [/] [bold]not bold[/bold] [link=http://evil.example]click[/link]" in r.stdout  # literally
    bars = [line for line in r.stdout.splitlines() if line.startswith("pulling dde5aa3fc5ff")]
    assert bars and "100%" in bars[-1] and "3.0/3.0 MB" in bars[-1]
    assert "verifying sha256 digest [/]" in r.stdout and "success: tinyllama" in r.stdout
    assert "\x1b]0;pwned" not in r.stdout and "writing manifest ]0;pwned" in r.stdout  # ESC and BEL removed
