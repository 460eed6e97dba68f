"""Run the command line as a user runs it: ``python -m llmswitch ...`` in a subprocess, no
ambient API keys, no local-runtime fallback, output read back."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "LLMSWITCH_NO_LOCAL_RUNTIME": "1"})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "llmswitch", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)
