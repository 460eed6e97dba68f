"""Two gateway worker processes (``llmswitch serve --workers 2``) on one real Redis share a
caller's budget and rate limit exactly (issue 18): the counters live in Redis, so which worker
the kernel hands a connection to makes no difference."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from llmswitch.gateway import hash_key
from tests.fakes import openai_server
from tests.fixtures.redis import RedisServer
from tests.gateway.conftest import ALICE

pytest.importorskip("redis")

ROOT = Path(__file__).resolve().parents[2]
CALL_TOKENS = openai_server.USAGE["total_tokens"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp_path: Path, redis_url: str, fake_url: str, alice: dict[str, Any]) -> tuple[subprocess.Popen[bytes], int, Path]:
    log = tmp_path / "usage.sqlite3"
    cfg = tmp_path / "llmswitch.yaml"
    cfg.write_text(yaml.safe_dump({
        "providers": {"oai": {"type": "openai", "base_url": fake_url, "api_key": openai_server.VALID_KEY, "retries": 0}},
        "state": {"backend": "redis", "url": redis_url, "key_prefix": "gw-test:", "timeout": 5},
        "usage_log": {"path": str(log)},
        "gateway": {"keys": [{"name": "alice", "key_sha256": hash_key(ALICE), **alice}], "shutdown_timeout": 5,
                    "request_timeout": 3},
    }))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "llmswitch", "serve", "--port", str(port), "--workers", "2",
                             "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    return proc, port, log


def _calls(port: int, proc: subprocess.Popen[bytes], n: int, content: str) -> dict[str, int]:
    """``n`` calls, each on a new connection (spread over the workers); outcomes by kind."""
    out = {"ok": 0, "refused": 0}
    deadline = time.monotonic() + 90
    while sum(out.values()) < n:
        assert time.monotonic() < deadline and proc.poll() is None, "the workers did not answer"
        try:
            with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=ALICE, max_retries=0, timeout=20) as c:
                c.chat.completions.create(model="oai:gpt-test", messages=[{"role": "user", "content": content}],
                                          max_tokens=10)
            out["ok"] += 1
        except openai.RateLimitError:
            out["refused"] += 1
        except openai.APIConnectionError:
            time.sleep(0.1)  # not listening yet
    return out


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _pids(log: Path) -> set[int]:
    return {pid for (pid,) in sqlite3.connect(str(log)).execute("SELECT DISTINCT pid FROM calls WHERE status = 'ok'")}


def test_two_workers_share_a_callers_budget_exactly(tmp_path: Path, redis_server: RedisServer) -> None:
    """A daily token budget with room for exactly 12 calls (each reserves 3 + 4 + 10 = 17 tokens
    estimated, settles at 19 real): across both workers 12 calls are sent, the rest refused."""
    fake, server = openai_server.start(["gpt-test"])
    proc, port, log = _serve(tmp_path, redis_server.url, fake.base_url, {"budget": {"tokens": 12 * CALL_TOKENS, "per": "day"}})
    try:
        out = _calls(port, proc, 30, "hi")
        assert out == {"ok": 12, "refused": 18}
        assert len(fake.requests) == 12
    finally:
        _stop(proc)
        server.stop()
    assert len(_pids(log)) == 2  # both workers answered some of them


def test_two_workers_share_a_callers_rate_limit_exactly(tmp_path: Path, redis_server: RedisServer) -> None:
    into_minute = time.time() % 60
    if into_minute > 30:  # the calls must fall in one minute window
        time.sleep(60 - into_minute + 0.2)
    fake, server = openai_server.start(["gpt-test"])
    proc, port, log = _serve(tmp_path, redis_server.url, fake.base_url, {"rate_limit": {"rpm": 9}})
    try:
        out = _calls(port, proc, 24, "hi")
        assert out == {"ok": 9, "refused": 15} and len(fake.requests) == 9
    finally:
        _stop(proc)
        server.stop()
