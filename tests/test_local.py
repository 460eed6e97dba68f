"""LocalRuntime: start, state file, refusal to start twice, failure reporting, ensure_local_runtime."""

from __future__ import annotations

import json
import subprocess

import pytest

from llmswitch.errors import ConfigError
from llmswitch.local import (
    LocalRuntime,
    LocalRuntimeError,
    ensure_local_runtime,
    probe_health,
    read_state,
    runtime_installed,
    state_file,
    stop_runtime,
)
from tests.fixtures.llama_server import CTX, TEST_ALIAS, pid_gone

pytestmark = pytest.mark.integration


def test_runtime_is_installed() -> None:
    assert runtime_installed() is True


def test_started_runtime_is_recorded_and_healthy(runtime) -> None:
    st = read_state(runtime.state_dir)
    assert st is not None
    assert st.pid == runtime.runtime.pid
    assert st.host == "127.0.0.1"
    assert st.alias == TEST_ALIAS
    assert st.url == f"http://127.0.0.1:{st.port}/v1"
    raw = json.loads(state_file(runtime.state_dir).read_text())
    assert raw["port"] == st.port and raw["api_key_required"] is False
    assert probe_health(st.host, st.port)[0] == 200
    assert runtime.runtime.health() == "ok"
    assert runtime.runtime.startup_seconds is not None and runtime.runtime.startup_seconds > 0


def test_starting_twice_is_refused(runtime) -> None:
    second = LocalRuntime(alias="other", ctx_size=CTX, state_dir=runtime.state_dir)
    with pytest.raises(LocalRuntimeError, match="already running") as info:
        second.start()
    assert str(runtime.runtime.pid) in str(info.value)
    assert second.state is None
    # the first one is untouched
    assert read_state(runtime.state_dir).pid == runtime.runtime.pid
    assert runtime.runtime.health() == "ok"


async def test_ensure_reuses_the_running_runtime(runtime_env, capsys) -> None:
    url, alias = await ensure_local_runtime()
    assert (url, alias) == (runtime_env.url, TEST_ALIAS)
    assert capsys.readouterr().err == ""  # nothing started, nothing said
    assert read_state().pid == runtime_env.runtime.pid


async def test_ensure_can_be_disabled(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LLMSWITCH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("LLMSWITCH_NO_LOCAL_RUNTIME", "1")
    with pytest.raises(ConfigError, match="disabled"):
        await ensure_local_runtime()
    assert read_state(tmp_path) is None


async def test_ensure_starts_on_demand_and_says_so(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LLMSWITCH_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("LLMSWITCH_NO_LOCAL_RUNTIME", raising=False)
    try:
        url, alias = await ensure_local_runtime()
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "starting" in err and "llmswitch local stop" in err
        st = read_state(tmp_path)
        assert st is not None and url == st.url and alias == st.alias
        assert probe_health(st.host, st.port)[0] == 200
        # a second call reuses it silently
        assert await ensure_local_runtime() == (url, alias)
        assert capsys.readouterr().err == ""
    finally:
        stopped = stop_runtime(tmp_path)
    assert stopped is not None
    assert read_state(tmp_path) is None and not state_file(tmp_path).exists()
    assert probe_health(stopped.host, stopped.port)[0] is None


def test_server_that_dies_while_starting_shows_its_log(tmp_path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not a gguf file" * 10)
    rt = LocalRuntime(bogus, state_dir=tmp_path, startup_timeout=60)
    with pytest.raises(LocalRuntimeError) as info:
        rt.start()
    msg = str(info.value)
    assert "exited with code" in msg
    assert "last lines of" in msg and len(msg.splitlines()) > 2  # the log tail is in the error
    assert read_state(tmp_path) is None and not state_file(tmp_path).exists()


def test_port_in_use_is_refused_before_spawning(tmp_path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LocalRuntimeError, match=f"port {port}"):
            LocalRuntime(port=port, state_dir=tmp_path).start()
    assert not state_file(tmp_path).exists()


def test_stop_without_runtime_is_a_no_op(tmp_path) -> None:
    assert stop_runtime(tmp_path) is None
    assert LocalRuntime(state_dir=tmp_path).stop() is False


def test_stale_state_is_cleaned(tmp_path) -> None:
    # a state whose pid is not a llama-server (pid 1 is never ours) is stale
    state_file(tmp_path).write_text(json.dumps({
        "pid": 1, "host": "127.0.0.1", "port": 9, "alias": "x", "model_path": "m", "log_path": "l", "started_at": 0,
    }))
    assert read_state(tmp_path) is None
    assert not state_file(tmp_path).exists()
    # a stale state handed to stop: the process it names is not ours, so it is left alone (a live
    # `sleep` of this test stands in for it, so a wrong stop would kill nothing that matters)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        state_file(tmp_path).write_text(json.dumps({
            "pid": bystander.pid, "host": "127.0.0.1", "port": 9, "alias": "x", "model_path": "m", "log_path": "l", "started_at": 0,
        }))
        assert stop_runtime(tmp_path) is None
        assert not state_file(tmp_path).exists()
        assert bystander.poll() is None, "stop_runtime signalled a process that is not a llama-server"
        assert not pid_gone(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait(5)
