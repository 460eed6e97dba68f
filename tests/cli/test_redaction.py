"""``llmswitch chat``/``chat --json``/``doctor``/``doctor --json`` against servers that echo the
caller's key and send rich markup: no key is printed, nothing crashes, doctor is bounded.

Commands run as a user runs them (a subprocess) against ``tests/fakes/hostile_server.py``;
the key is not key-shaped, so only the CLI's own redaction (registered secrets) can remove it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.hostile_server import EchoingOpenAI, serve

SRC = str(Path(__file__).resolve().parents[2] / "src")
SECRET = "hostile-key-0123456789abcdef"  # not key-shaped: only registration can redact it


def run_cli(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k not in ("LLMSWITCH_CONFIG", "OLLAMA_HOST")}
    env.update({"PYTHONPATH": SRC, "COLUMNS": "200", "NO_COLOR": "1", "LLMSWITCH_NO_LOCAL_RUNTIME": "1",
                "LLMSWITCH_AUTO_ENDPOINTS": "", "LLMSWITCH_USAGE_LOG": "off"})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "llmswitch", *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def echoing() -> Iterator[str]:
    server = serve(EchoingOpenAI(SECRET))
    try:
        yield server.url + "/v1"
    finally:
        server.stop()


# --- llmswitch chat -----------------------------------------------------------------------------


def test_chat_never_prints_an_echoed_key(echoing: str) -> None:
    r = run_cli("chat", "-p", "openai-compatible:m", "hi",
                env_extra={"OPENAI_COMPATIBLE_BASE_URL": echoing, "OPENAI_COMPATIBLE_API_KEY": SECRET})
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr
    assert SECRET[:14] not in r.stdout  # the key arrived split in two chunks: neither half is shown
    assert "Your key is *** [/] and" in r.stdout
    assert "\x1b[2J" not in r.stdout  # the clear-screen sequence the server sent
    assert "3 in / 4 out" in r.stdout and "m-***[/]" in r.stdout  # the footer, markup escaped


def test_chat_json_never_prints_an_echoed_key(echoing: str) -> None:
    r = run_cli("chat", "--json", "-p", "openai-compatible:m", "hi",
                env_extra={"OPENAI_COMPATIBLE_BASE_URL": echoing, "OPENAI_COMPATIBLE_API_KEY": SECRET})
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert "raw" not in data
    assert data["text"].startswith("Your key is *** [/]")
    assert data["model"] == "m-***[/]" and data["id"] == "chatcmpl-***"


# --- llmswitch doctor ---------------------------------------------------------------------------


def test_doctor_and_doctor_json_never_print_an_echoed_key(echoing: str) -> None:
    env = {"LLMSWITCH_AUTO_ENDPOINTS": f"openai-compatible={echoing}", "OPENAI_COMPATIBLE_API_KEY": SECRET}
    r = run_cli("doctor", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and SECRET not in r.stdout + r.stderr
    assert "echo-***-[/]" in r.stdout and "healthy" in r.stdout
    r = run_cli("doctor", "--json", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr
    (row,) = json.loads(r.stdout)
    assert row["model_id"] == "echo-***-[/]"


def test_doctor_redacts_a_key_written_in_the_config_file(tmp_path: Path) -> None:
    literal = "literal-config-key-8675309"  # in no environment variable: the provider's own key
    cfg = tmp_path / "llmswitch.yaml"
    server = serve(EchoingOpenAI(literal))
    try:
        cfg.write_text(f"providers:\n  hostile: {{type: openai-compatible, base_url: '{server.url}/v1', api_key: {literal}}}\n")
        r = run_cli("doctor", "--json", env_extra={"LLMSWITCH_CONFIG": str(cfg)})
    finally:
        server.stop()
    assert literal not in r.stdout + r.stderr
    rows = {row["provider"]: row for row in json.loads(r.stdout)}
    assert rows["hostile"]["model_id"] == "echo-***-[/]"


def test_doctor_is_bounded_by_its_timeout() -> None:
    fake = EchoingOpenAI(SECRET, silent=True)
    server = serve(fake)
    try:
        started = time.monotonic()
        r = run_cli("doctor", "--json", "--timeout", "1", timeout=45,
                    env_extra={"LLMSWITCH_AUTO_ENDPOINTS": f"openai-compatible={server.url}/v1"})
        elapsed = time.monotonic() - started
    finally:
        fake.silent = False
        server.stop()
    assert r.returncode == 1  # nothing healthy
    (row,) = json.loads(r.stdout)
    assert row["connected"] is False and "no answer within 1s" in row["error"]
    assert elapsed < 40


def test_doctor_reports_a_broken_config_and_goes_on(tmp_path: Path) -> None:
    cfg = tmp_path / "llmswitch.yaml"
    cfg.write_text("providers: " + "[" * 3000 + "]" * 3000 + "\n")
    r = run_cli("doctor", "--json", env_extra={"LLMSWITCH_CONFIG": str(cfg)})
    assert "Traceback" not in r.stderr
    assert "config:" in r.stderr and "more than 100 levels deep" in r.stderr
    assert json.loads(r.stdout) == []


