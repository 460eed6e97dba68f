"""``llmswitch serve --loop``: the worker runs on uvloop when asked (and installed), on asyncio's
own loop when asked, and ``--loop uvloop`` without uvloop is a clear error, not a quietly
slower gateway. Real processes, the official OpenAI SDK as the client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai
import pytest
import yaml

from llmswitch.errors import ConfigError
from llmswitch.gateway import hash_key
from llmswitch.gateway.loop import loop_factory
from tests.fakes import openai_server
from tests.gateway.conftest import ALICE

HI = [{"role": "user", "content": "hi"}]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, base_url: str) -> Path:
    cfg = tmp_path / "llmswitch.yaml"
    cfg.write_text(yaml.safe_dump({
        "providers": {"oai": {"type": "openai", "base_url": base_url, "api_key": openai_server.VALID_KEY}},
        "usage_log": "off",
        "gateway": {"keys": [{"name": "alice", "key_sha256": hash_key(ALICE)}], "shutdown_timeout": 5},
    }))
    return cfg


def _serve(cfg: Path, loop: str, port: int, pythonpath: list[str] | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*(pythonpath or []), str(ROOT / "src")])}
    return subprocess.Popen([sys.executable, "-m", "llmswitch", "serve", "--port", str(port), "--loop", loop,
                             "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _live(port: int, proc: subprocess.Popen[str]) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=5) as r:
                return dict(json.loads(r.read()))
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_serve_answers_on_the_loop_asked_for(tmp_path: Path, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="the gateway extra (uvloop) is not installed")
    fake, server = openai_server.start(["gpt-test"])
    port = _free_port()
    proc = _serve(_config(tmp_path, fake.base_url), loop, port)
    try:
        assert _live(port, proc) == {"status": "ok", "loop": loop}
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=ALICE, max_retries=0)
        answer = client.chat.completions.create(model="oai:gpt-test", messages=HI)
        assert answer.choices[0].message.content
        chunks = [c.choices[0].delta.content for c in client.chat.completions.create(
            model="oai:gpt-test", messages=HI, stream=True) if c.choices and c.choices[0].delta.content]
        assert len(chunks) > 1 and "".join(chunks) == answer.choices[0].message.content
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        server.stop()


def test_loop_uvloop_without_uvloop_is_a_clear_error(tmp_path: Path) -> None:
    hide = tmp_path / "hide"  # a uvloop package that fails to import, first on the path: as if not installed
    (hide / "uvloop").mkdir(parents=True)
    (hide / "uvloop" / "__init__.py").write_text("raise ImportError('No module named uvloop')\n")
    cfg = _config(tmp_path, "http://127.0.0.1:9/v1")
    port = _free_port()
    proc = _serve(cfg, "uvloop", port, [str(hide)])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "uvloop is not installed" in err and "llmswitch[gateway]" in err
    proc = _serve(cfg, "auto", port, [str(hide)])  # auto falls back to asyncio silently
    try:
        assert _live(port, proc) == {"status": "ok", "loop": "asyncio"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_loop_choice_is_checked() -> None:
    assert loop_factory("asyncio") is None
    with pytest.raises(ConfigError, match="--loop must be one of auto, asyncio, uvloop"):
        loop_factory("trio")
