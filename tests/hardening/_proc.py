"""Shared helpers for the fork and file-mode tests: a fake OpenAI-compatible server that also
records which client connection (peer port) carried each request, and an environment in which
the module-level sync API talks to it and logs usage under a temp XDG data dir."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.fakes import openai_server
from tests.fakes._threaded import ThreadedServer

REF = "openai-compatible:gpt-test"
REPLY = "Hello! How can I help?"
CHILD_JOIN_SECONDS = 30.0


@dataclass
class Env:
    url: str
    fake: openai_server.FakeOpenAI
    peers: list[int | None] = field(default_factory=list)
    """Client port of the TCP connection each request arrived on, in order."""
    tmp: Path = Path()

    @property
    def data_dir(self) -> Path:
        return self.tmp / "xdg-data" / "llmswitch"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "usage.sqlite3"


def _reset_module_state() -> None:
    from llmswitch import api
    from llmswitch.registry import reset_default_registry
    from llmswitch.usage.log import disable_usage_log

    api.reset_provider_cache()
    reset_default_registry()
    disable_usage_log()


@pytest.fixture
def sync_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The module API pointed at a fresh fake through env vars; usage log on at its default path."""
    fake = openai_server.FakeOpenAI()
    env = Env(url="", fake=fake, tmp=tmp_path)

    def factory() -> web.Application:
        app = fake.app()

        @web.middleware
        async def record_peer(request: web.Request, handler: Callable[[web.Request], Any]) -> Any:
            peer = request.transport.get_extra_info("peername") if request.transport is not None else None
            env.peers.append(peer[1] if peer else None)
            return await handler(request)

        app.middlewares.append(record_peer)
        return app

    server = ThreadedServer(factory).start()
    env.url = server.url + "/v1"
    for var in ("LLMSWITCH_DATA_DIR", "LLMSWITCH_CONFIG", "LLMSWITCH_USAGE_LOG", "LLMSWITCH_PROVIDERS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("LLMSWITCH_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", env.url)
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", openai_server.VALID_KEY)
    monkeypatch.chdir(tmp_path)
    _reset_module_state()
    try:
        yield env
    finally:
        from llmswitch.bridge import get_bridge
        from llmswitch.transport import close_sessions_on_loop

        get_bridge().run(close_sessions_on_loop(), 10)  # the providers dropped below own bridge-loop sessions
        _reset_module_state()
        server.stop()


def fork_context() -> Any:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    return multiprocessing.get_context("fork")


def run_in_fork(target: Callable[..., Any], *args: Any) -> int:
    """Run ``target`` in a forked child (multiprocessing 'fork'), bounded; its pid if it exited 0.

    A child that hangs is killed, and the test fails on its exit code instead of hanging too."""
    p = fork_context().Process(target=target, args=args)
    p.start()
    try:
        p.join(CHILD_JOIN_SECONDS)
        assert p.exitcode is not None, f"the forked child did not finish within {CHILD_JOIN_SECONDS:g}s (hung)"
        assert p.exitcode == 0, f"the forked child failed with exit code {p.exitcode}"
        assert p.pid is not None
        return p.pid
    finally:
        if p.is_alive():
            p.kill()
            p.join(5)


def rows_by_pid(path: Path) -> dict[int, int]:
    """{pid: number of rows} in a usage log, read the way another process reads it."""
    conn = sqlite3.connect(str(path), timeout=10)
    try:
        return dict(conn.execute("SELECT pid, COUNT(*) FROM calls GROUP BY pid").fetchall())
    finally:
        conn.close()


def mode(path: str | os.PathLike[str]) -> int:
    return os.stat(path).st_mode & 0o777
