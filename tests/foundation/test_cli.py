"""The command line, run as a user runs it: a subprocess, output read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.fakes.openai_server import VALID_KEY


def run_cli(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "LLMSWITCH_NO_LOCAL_RUNTIME": "1"})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "llmswitch", *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_chat_streams_and_reports_usage(fake_openai) -> None:
    url = fake_openai[1]
    r = run_cli("chat", "-p", "openai-compatible:gpt-test", "hi",
                env_extra={"OPENAI_COMPATIBLE_BASE_URL": url, "OPENAI_COMPATIBLE_API_KEY": VALID_KEY})
    assert r.returncode == 0, r.stderr
    assert "Hello! How can I help?" in r.stdout
    assert "12 in / 7 out" in r.stdout


def test_chat_json_prints_final_response(fake_openai) -> None:
    r = run_cli("chat", "--json", "-p", "openai-compatible:gpt-tools", "weather?",
                env_extra={"OPENAI_COMPATIBLE_BASE_URL": fake_openai[1], "OPENAI_COMPATIBLE_API_KEY": VALID_KEY})
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["finish_reason"] == "tool_calls"
    assert data["tool_calls"][0]["arguments"] == {"city": "Paris", "unit": "c"}


def test_chat_wrong_key_one_actionable_line(fake_openai) -> None:
    bad = "sk-badbadbadbadbad-XYZXYZXYZ"
    r = run_cli("chat", "-p", "openai-compatible:gpt-test", "hi",
                env_extra={"OPENAI_COMPATIBLE_BASE_URL": fake_openai[1], "OPENAI_COMPATIBLE_API_KEY": bad})
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "check the API key" in r.stderr
    assert "XYZXYZXYZ" not in r.stderr + r.stdout


def test_chat_wrong_model_and_server_down(fake_openai) -> None:
    env = {"OPENAI_COMPATIBLE_BASE_URL": fake_openai[1], "OPENAI_COMPATIBLE_API_KEY": VALID_KEY}
    r = run_cli("chat", "-p", "openai-compatible:gpt-missing", "hi", env_extra=env)
    assert r.returncode == 1 and "llmswitch models" in r.stderr and "Traceback" not in r.stderr
    env["OPENAI_COMPATIBLE_BASE_URL"] = "http://127.0.0.1:9/v1"
    r = run_cli("chat", "-p", "openai-compatible:gpt-test", "hi", env_extra=env)
    assert r.returncode == 1 and "is the server running" in r.stderr and "Traceback" not in r.stderr


def test_models_lists_the_fake(fake_openai) -> None:
    r = run_cli("models", "openai-compatible",
                env_extra={"OPENAI_COMPATIBLE_BASE_URL": fake_openai[1], "OPENAI_COMPATIBLE_API_KEY": VALID_KEY})
    assert r.returncode == 0, r.stderr
    for m in ("gpt-test", "gpt-tools", "gpt-long"):
        assert m in r.stdout


def test_doctor_reports_a_healthy_openai(fake_openai) -> None:
    r = run_cli("doctor", "--json", env_extra={"OPENAI_BASE_URL": fake_openai[1], "OPENAI_API_KEY": VALID_KEY})
    rows = {row["provider"]: row for row in json.loads(r.stdout)}
    assert r.returncode == 0, r.stderr
    assert rows["openai"]["connected"] and rows["openai"]["model_detected"]
    assert rows["openai"]["model_id"] == "gpt-test"
    assert VALID_KEY not in r.stdout
    r = run_cli("doctor", env_extra={"OPENAI_BASE_URL": fake_openai[1], "OPENAI_API_KEY": VALID_KEY})
    assert "healthy" in r.stdout and "llmswitch doctor" in r.stdout
