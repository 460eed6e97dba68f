"""``llmswitch chat``, run as a user runs it: a subprocess, output read back."""

from __future__ import annotations

import json

from tests.cli._run import run_cli
from tests.fakes.openai_server import VALID_KEY


def test_chat_streams_and_reports_usage(openai_fake) -> None:
    url = openai_fake[1]
    r = run_cli("chat", "-p", "openai-compatible:gpt-test", "hi",
                env_extra={"OPENAI_COMPATIBLE_BASE_URL": url, "OPENAI_COMPATIBLE_API_KEY": VALID_KEY})
    assert r.returncode == 0, r.stderr
    reply, footer = r.stdout.splitlines()  # the fake's three chunks, then one footer line
    assert reply == "Hello! How can I help?"
    assert footer.startswith("openai-compatible · gpt-test · 12 in / 7 out · ")
    assert r.stderr == ""


def test_chat_json_prints_final_response(openai_fake) -> None:
    r = run_cli("chat", "--json", "-p", "openai-compatible:gpt-tools", "weather?",
                env_extra={"OPENAI_COMPATIBLE_BASE_URL": openai_fake[1], "OPENAI_COMPATIBLE_API_KEY": VALID_KEY})
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["finish_reason"] == "tool_calls"
    assert data["tool_calls"][0]["arguments"] == {"city": "Paris", "unit": "c"}


def test_chat_wrong_key_one_actionable_line(openai_fake) -> None:
    bad = "sk-badbadbadbadbad-XYZXYZXYZ"
    r = run_cli("chat", "-p", "openai-compatible:gpt-test", "hi",
                env_extra={"OPENAI_COMPATIBLE_BASE_URL": openai_fake[1], "OPENAI_COMPATIBLE_API_KEY": bad})
    assert r.returncode == 1
    assert len(r.stderr.splitlines()) == 1, r.stderr  # one line, no traceback
    assert r.stderr.startswith("error: [openai-compatible HTTP 401 ") and "check the API key" in r.stderr
    assert "] Incorrect API key provided: " in r.stderr  # the fake's message, as the real API words it
    assert "XYZXYZXYZ" not in r.stderr + r.stdout


def test_chat_wrong_model_and_server_down(openai_fake) -> None:
    env = {"OPENAI_COMPATIBLE_BASE_URL": openai_fake[1], "OPENAI_COMPATIBLE_API_KEY": VALID_KEY}
    r = run_cli("chat", "-p", "openai-compatible:gpt-missing", "hi", env_extra=env)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error: [openai-compatible HTTP 404 ")
    assert "The model `gpt-missing` does not exist or you do not have access to it." in r.stderr  # the fake's text
    assert "llmswitch models" in r.stderr
    env["OPENAI_COMPATIBLE_BASE_URL"] = "http://127.0.0.1:9/v1"
    r = run_cli("chat", "-p", "openai-compatible:gpt-test", "hi", env_extra=env)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "is the server running" in r.stderr
