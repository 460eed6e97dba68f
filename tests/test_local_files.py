"""local.py's files are private: ``llmswitch local start`` writes its state, log and lock files
0600 in a 0700 state dir, and tightens ones an older version left wider.

No llama-server is needed: ``LLMSWITCH_LLAMA_SERVER`` points the CLI at a tiny stand-in that
answers ``/health`` like llama-server does. Its interpreter is reached through a symlink whose
name contains ``llama-server``, so that ``local stop`` (another process) recognises the pid as
a llama-server, exactly as it would the real one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llmswitch.local import log_file, read_state, state_file
from tests.fixtures.forked import mode

_FAKE_SERVER = textwrap.dedent(
    """
    import http.server, sys
    args = sys.argv[1:]
    host, port = args[args.index("--host") + 1], int(args[args.index("--port") + 1])

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"status":"ok"}'
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    print("stand-in llama-server listening", flush=True)
    http.server.HTTPServer((host, port), Health).serve_forever()
    """
)


@pytest.fixture
def fake_llama(tmp_path: Path) -> dict[str, str]:
    if os.name != "posix":
        pytest.skip("POSIX file modes")
    interp = tmp_path / "bin" / "llama-server-python"
    interp.parent.mkdir()
    interp.symlink_to(sys.executable)
    script = tmp_path / "bin" / "llama-server"
    script.write_text(f"#!{interp}\n" + _FAKE_SERVER)
    script.chmod(0o755)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    env = {k: v for k, v in os.environ.items() if k != "LLMSWITCH_STATE_DIR"}
    env.update(
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
        LLMSWITCH_LLAMA_SERVER=str(script),
        LLMSWITCH_LOCAL_MODEL=str(model),
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmswitch", "local", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_local_start_writes_private_state_log_and_lock(fake_llama: dict[str, str], tmp_path: Path) -> None:
    state = tmp_path / "xdg-state" / "llmswitch"
    env = {**fake_llama, "PYTHONUTF8": "1"}
    # umask 022 in the CLI process: what most users have, and what made these 0644 before.
    env_umask = ["sh", "-c", 'umask 022 && exec "$@"', "sh"]
    started = subprocess.run([*env_umask, sys.executable, "-m", "llmswitch", "local", "start", "--timeout", "30"],
                             capture_output=True, text=True, env=env, timeout=60)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        pid = json.loads(state_file(state).read_text())["pid"]
        # the recorded pid is the running stand-in server, not just any positive number
        assert b"llama" in Path(f"/proc/{pid}/cmdline").read_bytes()
        for f in (state_file(state), log_file(state), state / "local-runtime.lock"):
            assert mode(f) == 0o600, f
        assert mode(state) == 0o700 and mode(state.parent) == 0o700
        assert "stand-in llama-server" in log_file(state).read_text()
    finally:
        stopped = _cli(fake_llama, "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not state_file(state).exists()


def test_state_and_log_an_older_version_left_wide_are_tightened(tmp_path: Path) -> None:
    state_file(tmp_path).write_text(json.dumps({
        "pid": 1, "host": "127.0.0.1", "port": 9, "alias": "x", "model_path": "m", "log_path": "l", "started_at": 0,
    }))
    log_file(tmp_path).write_text("old log\n")
    os.chmod(state_file(tmp_path), 0o644)
    os.chmod(log_file(tmp_path), 0o644)
    assert read_state(tmp_path, cleanup=False) is None  # pid 1 is not ours: stale, but still read
    assert mode(state_file(tmp_path)) == 0o600
    assert mode(log_file(tmp_path)) == 0o600


def test_a_state_dir_the_caller_named_is_created_private(tmp_path: Path) -> None:
    named = tmp_path / "a" / "b"
    state_file(named)
    assert mode(named) == 0o700 and mode(named.parent) == 0o700
