"""``llmswitch models``, run as a user runs it: a subprocess, output read back."""

from __future__ import annotations

from tests.cli._run import run_cli
from tests.fakes.openai_server import VALID_KEY


def test_models_lists_the_fake(openai_fake) -> None:
    r = run_cli("models", "openai-compatible",
                env_extra={"OPENAI_COMPATIBLE_BASE_URL": openai_fake[1], "OPENAI_COMPATIBLE_API_KEY": VALID_KEY})
    assert r.returncode == 0, r.stderr
    rows = [line.strip("│ ") for line in r.stdout.splitlines() if line.startswith("│")]
    assert rows == ["gpt-test", "gpt-tools", "gpt-long"]  # what the fake lists, in its order
