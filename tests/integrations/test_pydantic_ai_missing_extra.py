"""Without pydantic-ai: a clear ImportError naming the extra, and nothing else breaks.

Each case runs in a fresh interpreter where ``sys.modules['pydantic_ai'] = None`` makes every
``import pydantic_ai`` fail, as on a machine without the extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
HINT = "pip install 'llmswitch[pydantic-ai]'"


def run(code: str) -> subprocess.CompletedProcess[str]:
    shim = "import sys\nsys.modules['pydantic_ai'] = None\n"
    env = {**os.environ, "PYTHONPATH": SRC, "OPENAI_API_KEY": "sk-test-key-123456"}
    return subprocess.run(
        [sys.executable, "-c", shim + textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize(
    "call",
    [
        "llmswitch.pydantic_ai_model('openai:gpt-4o-mini', test_connection=False)",
        "create_provider('llamacpp', base_url='http://127.0.0.1:9/v1').create_model('m')",
        "asyncio.run(create_provider('ollama').create_model_async('m', test_connection=False))",
        "__import__('llmswitch.integrations.pydantic_ai', fromlist=['x']).fallback_model(['openai:gpt-4o'])",
    ],
)
def test_missing_pydantic_ai_is_a_clear_import_error(call: str) -> None:
    proc = run(
        f"""
        import asyncio
        import llmswitch
        from llmswitch.providers import create_provider
        try:
            {call}
        except ImportError as exc:
            print("IMPORT-ERROR:", exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "IMPORT-ERROR:" in out and HINT in out, out


def test_llmswitch_works_without_pydantic_ai_and_never_imports_it() -> None:
    proc = run(
        """
        import llmswitch
        from llmswitch.integrations import pydantic_ai as integration  # importable: fails only when used
        import llmswitch.api, llmswitch.providers.openai
        assert sys.modules['pydantic_ai'] is None
        print("ok", callable(llmswitch.pydantic_ai_model))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok True" in proc.stdout


def test_import_llmswitch_does_not_import_pydantic_ai() -> None:
    code = "import sys, llmswitch; print(any(m == 'pydantic_ai' or m.startswith('pydantic_ai.') for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC}, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
