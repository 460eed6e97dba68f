"""The Redis backend beyond the shared contract (``test_contract.py``): key prefixes, two OS
processes sharing one Redis, Redis taken away mid-run (and one that never answers), passwords
kept out of every log line, repr and error, the ``state:`` config and the registry."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch.config import StateConfig
from llmswitch.registry import ProviderRegistry
from llmswitch.state import backend_from_config, default_backend
from tests.fixtures.forked import CHILD_JOIN_SECONDS, fork_context
from tests.fixtures.redis import RedisServer

pytest.importorskip("redis")

from llmswitch.state.redis import RedisBackend, safe_url  # noqa: E402 - after the importorskip

LOADED = 5.0
"""The Redis timeout for tests that burst many calls at once: the suite shares two busy cores, and
a burst's first connections can take longer than the default 0.5 s there (this is not a timeout test)."""

SRC = str(Path(__file__).resolve().parents[2] / "src")


def state_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "llmswitch.state" and r.levelno >= logging.WARNING]


async def raw_keys(url: str) -> list[str]:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    try:
        return sorted(k.decode() for k in await client.keys("*"))
    finally:
        await client.aclose()


# --- keys ---------------------------------------------------------------------------------------


async def test_keys_carry_the_prefix_and_prefixes_keep_deployments_apart(redis_server: RedisServer) -> None:
    a = RedisBackend(redis_server.url, key_prefix="app-a:")
    b = RedisBackend(redis_server.url, key_prefix="app-b:")
    default = RedisBackend(redis_server.url)
    try:
        await a.add("budget:openai:day", 3, ttl=60)
        await b.add("budget:openai:day", 5)
        await default.set("breaker:x:open", 1, ttl=60)
        assert await a.get("budget:openai:day") == 3.0
        assert await b.get("budget:openai:day") == 5.0
        assert await raw_keys(redis_server.url) == ["app-a:budget:openai:day", "app-b:budget:openai:day", "llmswitch:breaker:x:open"]
    finally:
        for backend in (a, b, default):
            await backend.aclose()


async def test_a_window_counter_carries_a_redis_expiry(redis_server: RedisServer) -> None:
    import redis.asyncio

    backend = RedisBackend(redis_server.url)
    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        await backend.add("rpm:x", 1, ttl=60)
        await backend.take("tpm:x", 10, 100, ttl=30)
        await backend.set("open:x", 1, ttl=5)
        assert 59_000 < await client.pttl("llmswitch:rpm:x") <= 60_000
        assert 29_000 < await client.pttl("llmswitch:tpm:x") <= 30_000
        assert 4_000 < await client.pttl("llmswitch:open:x") <= 5_000
    finally:
        await backend.aclose()
        await client.aclose()


async def test_non_finite_amounts_are_refused_before_anything_is_sent(redis_server: RedisServer) -> None:
    backend = RedisBackend(redis_server.url)
    try:
        with pytest.raises(ValueError, match="finite"):
            await backend.add("x", float("nan"))
        with pytest.raises(ValueError, match="finite"):
            await backend.take("x", 1, float("nan"))
        assert await backend.get("x") == 0.0 and not backend.degraded
    finally:
        await backend.aclose()


# --- two OS processes -----------------------------------------------------------------------------


def _child(url: str, backend: RedisBackend | None, queue: Any) -> None:
    async def main() -> tuple[int, bool]:
        b = backend if backend is not None else RedisBackend(url, key_prefix="p:", timeout=LOADED)
        results = await asyncio.gather(
            *(b.take("rl", 1, 37, ttl=60) for _ in range(100)),
            *(b.add("spend", 0.25, ttl=60) for _ in range(100)),
        )
        taken = sum(1 for r in results[:100] if r is True)
        degraded = b.degraded
        await b.aclose()
        return taken, degraded

    queue.put(asyncio.run(main()))


def read(url: str, prefix: str, *keys: str) -> list[float]:
    """Counters as another process reads them (its own backend, closed after)."""

    async def main() -> list[float]:
        b = RedisBackend(url, key_prefix=prefix)
        try:
            return [await b.get(k) for k in keys]
        finally:
            await b.aclose()

    return asyncio.run(main())


def _run_two_children(url: str, backend: RedisBackend | None) -> list[tuple[int, bool]]:
    ctx = fork_context()
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(url, backend, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(CHILD_JOIN_SECONDS)
            assert p.exitcode == 0, f"child exited with {p.exitcode}"
        return [queue.get(timeout=5) for _ in procs]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()


def test_two_processes_add_up_exactly_and_take_admits_exactly_the_limit(redis_server: RedisServer) -> None:
    results = _run_two_children(redis_server.url, None)
    assert [degraded for _, degraded in results] == [False, False]
    assert sum(taken for taken, _ in results) == 37  # 200 attempts across both, 37 admitted
    assert read(redis_server.url, "p:", "spend", "rl") == [50.0, 37.0]  # 2 × 100 × 0.25; the limit


def test_a_backend_used_before_a_fork_works_in_the_children(redis_server: RedisServer) -> None:
    """The parent's client (and its pooled connections) belong to the parent: each child makes its own."""
    backend = RedisBackend(redis_server.url, key_prefix="p:", timeout=LOADED)
    asyncio.run(backend.set("spend", 1))  # the parent has a client and a connection now
    results = _run_two_children(redis_server.url, backend)
    assert [degraded for _, degraded in results] == [False, False]
    assert sum(taken for taken, _ in results) == 37
    assert read(redis_server.url, "p:", "spend") == [51.0]
    asyncio.run(backend.aclose())


# --- Redis goes away ------------------------------------------------------------------------------


async def test_redis_killed_mid_run_fails_no_call_warns_once_and_comes_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llmswitch.state")
    backend = RedisBackend(redis_server.url, reprobe_after=0.05, reprobe_max=0.2)
    elsewhere = RedisBackend(redis_server.url)  # another process's view of the same Redis
    try:
        assert await backend.add("n", 1) == 1.0
        assert state_warnings(caplog) == []
        redis_server.kill()
        started = time.monotonic()
        for i in range(30):  # every operation keeps answering, from memory now
            assert await backend.add("n", 1) == i + 1
            assert await backend.take("slot", 1, 10) is (i < 10)
            await backend.set("s", i)
            assert await backend.get("s") == i
            assert (await backend.peek(["s"]))[0][0] == i
            await asyncio.sleep(0.01)
        assert time.monotonic() - started < 5
        assert backend.degraded and backend.outages == 1
        warnings = state_warnings(caplog)
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "fall back to this process's memory" in warnings[0].getMessage()
        assert str(redis_server.port) in warnings[0].getMessage()

        redis_server.start()  # same port, empty (no persistence)
        await elsewhere.set("shared", 42)
        deadline = time.monotonic() + 5
        while backend.degraded and time.monotonic() < deadline:
            await backend.get("x")  # calls start the (background) probe
            await asyncio.sleep(0.02)
        assert not backend.degraded
        assert await backend.get("shared") == 42.0  # the shared counters again, not memory's
        assert await backend.get("n") == 0.0  # what memory counted meanwhile is not carried over
        assert any("is back" in r.getMessage() for r in caplog.records if r.name == "llmswitch.state")
        assert len(state_warnings(caplog)) == 1
    finally:
        await backend.aclose()
        await elsewhere.aclose()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung Redis)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(5)
        for c in held:
            c.close()
        srv.close()


async def test_a_redis_that_never_answers_costs_one_timeout_then_memory(
    silent_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{silent_server}/0", timeout=0.2, reprobe_after=30)
    try:
        started = time.monotonic()
        assert await backend.add("n", 2) == 2.0
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            await backend.add("n", 1)
        rest = time.monotonic() - started
        assert 0.15 < first < 3.0  # bounded by the socket timeout (0.2 s; connect: 1 s at least)
        assert rest < 1.0  # degraded: memory answers; 20 waits on the dead socket would take >= 4 s
        assert await backend.get("n") == 22.0
        assert len(state_warnings(caplog)) == 1
    finally:
        await backend.aclose()


# --- secrets ------------------------------------------------------------------------------------


async def test_the_password_works_and_is_never_shown(
    redis_server_with_password: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = redis_server_with_password
    password = server.password
    assert password
    backend = RedisBackend(server.url)
    try:
        assert await backend.add("n", 1) == 1.0
        assert not backend.degraded
        assert password not in repr(backend) and "***@127.0.0.1" in repr(backend)
        assert password not in backend.url
        assert E.redact(f"boom {server.url}") == f"boom redis://:***@127.0.0.1:{server.port}/0"
    finally:
        await backend.aclose()
    wrong = "wrong-pw-0815-zz"
    bad = RedisBackend(server.url.replace(password, wrong))
    try:
        assert await bad.add("n", 1) == 1.0  # refused by Redis: memory answers
        assert bad.degraded
        text = caplog.text + repr(bad)
        assert wrong not in text and password not in text
        assert len(state_warnings(caplog)) == 1
    finally:
        await bad.aclose()


def test_safe_url_hides_user_info_and_password_parameters() -> None:
    assert safe_url("redis://user:pw-123@cache:6379/2") == "redis://***@cache:6379/2"
    assert safe_url("rediss://:pw-123@cache/0") == "rediss://***@cache/0"
    assert safe_url("unix:///run/redis.sock?db=1&password=pw-123") == "unix:///run/redis.sock?db=1&password=***"
    assert safe_url("redis://cache:6379/0") == "redis://cache:6379/0"


def test_the_state_config_hides_the_password_in_its_repr() -> None:
    cfg = StateConfig(backend="redis", url="redis://:cfg-secret-991@cache:6379/0")
    assert "cfg-secret-991" not in repr(cfg) and "cfg-secret-991" not in str(cfg)
    assert "cfg-secret-991" not in E.redact("connecting to redis://:cfg-secret-991@cache:6379/0")


# --- config and the registry --------------------------------------------------------------------


def test_memory_is_the_process_backend() -> None:
    assert backend_from_config(StateConfig()) is default_backend()


def test_redis_without_a_url_is_a_config_error() -> None:
    with pytest.raises(E.ConfigError, match="needs a url"):
        backend_from_config(StateConfig(backend="redis"))


def test_redis_config_builds_a_backend_with_its_prefix_and_timeout() -> None:
    backend = backend_from_config(StateConfig(backend="redis", url="redis://127.0.0.1:1/0", key_prefix="prod:", timeout=0.3))
    assert isinstance(backend, RedisBackend)
    assert backend.key_prefix == "prod:" and backend.timeout == 0.3 and backend.name == "redis"
    synced = backend_from_config(StateConfig(backend="redis", url="redis://127.0.0.1:1/0", breaker_sync_interval=0.2))
    assert isinstance(synced, RedisBackend) and synced.breaker_sync_interval == 0.2
    from llmswitch.providers.openai import OpenAIProvider

    p = OpenAIProvider(base_url="http://127.0.0.1:9/v1", breaker=True, state=synced)
    assert p._shared_breaker is not None and p._shared_breaker.sync_interval == 0.2
    default = backend_from_config(StateConfig(backend="redis", url="redis://127.0.0.1:1/0"))
    assert isinstance(default, RedisBackend) and default.key_prefix == "llmswitch:" and default.timeout == 0.5


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=60)


def test_redis_without_the_package_says_how_to_install_it() -> None:
    proc = run_python(
        """
        import sys
        sys.modules["redis"] = None  # as if the extra were not installed
        from llmswitch.config import StateConfig
        from llmswitch.errors import ConfigError
        from llmswitch.state import backend_from_config
        try:
            backend_from_config(StateConfig(backend="redis", url="redis://localhost:6379/0"))
        except ConfigError as exc:
            print(exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'llmswitch[redis]'" in proc.stdout


def test_import_llmswitch_and_a_memory_registry_never_import_redis() -> None:
    proc = run_python(
        """
        import sys, llmswitch
        reg = llmswitch.ProviderRegistry.from_config(
            {"providers": {"p": {"type": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"}}}, enable_log=False)
        print(sorted(m for m in sys.modules if m == "redis" or m.startswith("redis.")))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_registry_gives_every_provider_the_configured_backend() -> None:
    reg = ProviderRegistry.from_config(
        {
            "providers": {
                "a": {"type": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"},
                "b": {"type": "ollama", "base_url": "http://127.0.0.1:9"},
            },
            "state": {"backend": "redis", "url": "redis://:reg-secret-55@127.0.0.1:1/0", "key_prefix": "r:"},
        },
        enable_log=False,
    )
    a, b = reg.get("a"), reg.get("b")
    assert isinstance(a.state, RedisBackend) and a.state is b.state
    assert a.state.key_prefix == "r:" and a.state.breaker_sync_interval == 0.0
    assert "reg-secret-55" not in repr(a.state) and "reg-secret-55" not in repr(reg.config)


def test_a_memory_registry_uses_the_process_backend() -> None:
    reg = ProviderRegistry.from_config({"providers": {"a": {"type": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"}}}, enable_log=False)
    assert reg.get("a").state is default_backend()


def _child_after_outage(backend: RedisBackend, queue: Any) -> None:
    async def main() -> tuple[float, bool]:
        deadline = time.monotonic() + 5
        while backend.degraded and time.monotonic() < deadline:
            await backend.get("x")  # starts this process's own probe
            await asyncio.sleep(0.02)
        return await backend.get("shared"), backend.degraded

    queue.put(asyncio.run(main()))


def test_a_child_forked_during_an_outage_finds_redis_again(redis_server: RedisServer) -> None:
    """The parent's probe (a task on the parent's loop) does not exist in the child: the child probes itself."""
    backend = RedisBackend(redis_server.url, reprobe_after=30, reprobe_max=30)  # the parent would wait 30 s
    redis_server.kill()
    assert asyncio.run(backend.add("x", 1)) == 1.0
    assert backend.degraded
    redis_server.start()

    async def publish() -> None:
        other = RedisBackend(redis_server.url)
        await other.set("shared", 7)
        await other.aclose()

    asyncio.run(publish())
    ctx = fork_context()
    queue = ctx.Queue()
    p = ctx.Process(target=_child_after_outage, args=(backend, queue))
    p.start()
    p.join(CHILD_JOIN_SECONDS)
    assert p.exitcode == 0
    assert queue.get(timeout=5) == (7.0, False)
    assert backend.degraded  # the parent still waits for its own probe


def test_a_probe_whose_loop_was_closed_is_started_again(redis_server: RedisServer) -> None:
    """Sync code that runs each call on a loop of its own may close a loop with the probe unfinished."""
    backend = RedisBackend(redis_server.url, reprobe_after=0.01, reprobe_max=0.01)
    redis_server.kill()
    assert asyncio.run(backend.add("x", 1)) == 1.0
    assert backend.degraded
    time.sleep(0.02)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(backend.get("x"))  # answers from memory and starts a probe ...
    finally:
        loop.close()  # ... whose loop is gone before it finished
    redis_server.start()

    async def until_back() -> bool:
        deadline = time.monotonic() + 5
        while backend.degraded and time.monotonic() < deadline:
            await backend.get("x")
            await asyncio.sleep(0.02)
        degraded = backend.degraded
        await backend.aclose()
        return degraded

    assert asyncio.run(until_back()) is False


def test_the_package_names_the_redis_backend_lazily() -> None:
    import llmswitch.state as state

    assert state.RedisBackend is RedisBackend
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = state.Nope  # type: ignore[attr-defined]
    with pytest.raises(E.ConfigError, match="memory or redis"):
        backend_from_config(type("Cfg", (), {"backend": "etcd"})())
