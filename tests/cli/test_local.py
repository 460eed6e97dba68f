"""``llmswitch local start|status|logs|stop`` run as a user runs them: subprocesses."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmswitch.local import probe_health
from tests.fixtures.llama_server import CTX, TEST_MODEL, free_port, pid_gone

pytestmark = pytest.mark.integration

SRC = Path(__file__).resolve().parents[2] / "src"


def run_cli(state: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMACPP_")}
    env.update({"PYTHONPATH": os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]),
                "LLMSWITCH_STATE_DIR": str(state), "COLUMNS": "200", "NO_COLOR": "1",
                "LLMSWITCH_LOCAL_MODEL": TEST_MODEL})
    return subprocess.run([sys.executable, "-m", "llmswitch", "local", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def _become_subreaper() -> bool:
    """The server outlives the CLI that started it; as its subreaper we can reap it, so 'gone'
    means gone (without one it would linger as a zombie of whatever PID 1 is)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _stop_being_subreaper() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # not our child (no subreaper): nothing to reap
        if done:
            return
        time.sleep(0.05)


def test_local_start_status_logs_stop(tmp_path: Path) -> None:
    subreaper = _become_subreaper()
    port = free_port()
    r = run_cli(tmp_path, "start", "--port", str(port), "--alias", "cli-model", "-c", str(CTX))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"http://127.0.0.1:{port}/v1" in r.stdout and "cli-model" in r.stdout
    state = json.loads((tmp_path / "local-runtime.json").read_text())
    pid = state["pid"]
    try:
        assert state["port"] == port
        assert probe_health("127.0.0.1", port)[0] == 200  # still running after the CLI exited

        r = run_cli(tmp_path, "status", "--json")
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        assert st == {**st, "running": True, "pid": pid, "port": port, "model": "cli-model", "health": "ok",
                      "url": f"http://127.0.0.1:{port}/v1"}

        r = run_cli(tmp_path, "status")
        assert r.returncode == 0 and str(pid) in r.stdout and "ok" in r.stdout and "cli-model" in r.stdout

        r = run_cli(tmp_path, "start", "-c", str(CTX))
        assert r.returncode == 1 and "already running" in r.stderr and str(pid) in r.stderr

        r = run_cli(tmp_path, "logs", "-n", "5")
        assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 5
    finally:
        r = run_cli(tmp_path, "stop")
    assert r.returncode == 0 and f"stopped llama-server pid {pid}" in r.stdout
    if subreaper:
        _reap(pid)
        _stop_being_subreaper()
        assert pid_gone(pid), "llama-server is still there after `local stop`"
    else:
        assert not Path(f"/proc/{pid}/cmdline").exists() or Path(f"/proc/{pid}/cmdline").read_bytes() == b""
    assert probe_health("127.0.0.1", port)[0] is None
    assert not (tmp_path / "local-runtime.json").exists()

    r = run_cli(tmp_path, "status")
    assert r.returncode == 1 and "not running" in r.stdout
    r = run_cli(tmp_path, "stop")
    assert r.returncode == 0 and "not running" in r.stdout
