"""The `llmswitch pull|rm|show|ps` commands, run as a real subprocess against the fake server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.fakes.ollama_server import FakeOllama

SRC = str(Path(__file__).resolve().parents[2] / "src")


async def cli(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "120", "NO_COLOR": "1"}
    env.pop("OLLAMA_HOST", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "llmswitch", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_pull_draws_a_bar_per_layer_that_reaches_100(ollama: FakeOllama) -> None:
    code, out, err = await cli("pull", "tinyllama", "--host", f"127.0.0.1:{ollama.port}")
    assert code == 0, err
    bars = [line for line in out.splitlines() if line.startswith("pulling ") and "━" in line]
    assert {b.split()[1] for b in bars} == {"dde5aa3fc5ff", "966de95ca8a6"}  # one bar per layer digest
    assert all("100%" in b for b in bars)
    assert any("3.0/3.0 MB" in b for b in bars) and any("1.5/1.5 kB" in b for b in bars)  # bytes done/total
    assert all("/s" in b for b in bars)  # speed column
    assert "success: tinyllama" in out and "verifying sha256 digest" in out
    assert "tinyllama:latest" in ollama.models


async def test_pull_of_unknown_model_fails_with_the_servers_message(ollama: FakeOllama) -> None:
    code, out, err = await cli("pull", "no-such-model", "--host", ollama.url)
    assert code == 1
    assert "pull model manifest: file does not exist" in err and f"HTTP 200 {ollama.url}/api/pull" in err
    assert "Traceback" not in err


async def test_rm_deletes_then_reports_missing(ollama: FakeOllama) -> None:
    code, out, _ = await cli("rm", "gemma3:270m", "--host", ollama.url + "/v1")
    assert code == 0 and "deleted gemma3:270m" in out and "gemma3:270m" not in ollama.models
    code, _, err = await cli("rm", "gemma3:270m", "--host", ollama.url)
    assert code == 1 and "model 'gemma3:270m' not found" in err and "HTTP 404" in err


async def test_show_and_ps(ollama: FakeOllama) -> None:
    (c1, show, _), (c2, ps, _) = await asyncio.gather(
        cli("show", "qwen3:8b", "--host", ollama.url), cli("ps", "--host", ollama.url)
    )
    assert c1 == 0 and "completion, tools, thinking" in show and "131072 (trained)" in show
    assert c2 == 0 and "qwen3:8b" in ps and "8192" in ps and "1.9 GB" in ps


async def test_help_mentions_host() -> None:
    code, out, _ = await cli("pull", "--help")
    assert code == 0 and "--host" in out and "OLLAMA_HOST" in out
