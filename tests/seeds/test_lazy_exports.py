"""The documents' names come from ``llmswitch`` without making ``import llmswitch`` heavier."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")

HEAVY = ("llmswitch.doors", "llmswitch.providers", "llmswitch.local", "llmswitch._bundled", "pydantic_settings",
         "aiohttp", "pydantic_ai")


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_llmswitch_loads_none_of_the_doors() -> None:
    assert _run(f"import sys, llmswitch; print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))") == "[]"


def test_a_door_loads_on_first_use() -> None:
    out = _run(
        "import sys, llmswitch; f = llmswitch.detect_llamacpp_model; "
        "print(f.__module__, 'llmswitch.doors' in sys.modules, 'pydantic_ai' in sys.modules)"
    )
    assert out == "llmswitch.doors.llamacpp True False"
