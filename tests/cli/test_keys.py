"""``llmswitch keys``: set, get (masked unless --show), rm, against an in-memory keyring."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.usefixtures("isolated")  # a bare machine: tests/fixtures/env.py

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_keys_set_get_rm(memory_keyring):
    from llmswitch.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["keys", "set", "openai", "--value", "sk-keyring-abcdefgh1234"]).exit_code == 0
    assert memory_keyring.store[("llmswitch", "openai")] == "sk-keyring-abcdefgh1234"
    masked = runner.invoke(app, ["keys", "get", "openai"])
    assert masked.exit_code == 0 and "sk-keyring-abcdefgh1234" not in masked.output and "1234" in masked.output
    shown = runner.invoke(app, ["keys", "get", "openai", "--show"])
    assert shown.output.strip() == "sk-keyring-abcdefgh1234"
    # the module-level API finds it when OPENAI_API_KEY is unset (checked without filling its provider cache)
    from llmswitch.config import implicit_api_key
    from llmswitch.providers import provider_class

    assert implicit_api_key(provider_class("openai")) == "sk-keyring-abcdefgh1234"
    assert implicit_api_key(provider_class("vllm")) is None  # a local server needs no key
    assert runner.invoke(app, ["keys", "rm", "openai"]).exit_code == 0
    assert runner.invoke(app, ["keys", "get", "openai"]).exit_code == 1
