"""usage.log across fork and on disk: a call made in a forked child is in the log the parent
reads, and the log and SQLite's side files are private (0600 in a 0700 directory)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import llmswitch as ls
from llmswitch.usage.log import UsageLog, UsageRow, current_usage_log
from tests.fixtures.forked import REF, REPLY, Env, mode, rows_by_pid, run_in_fork


def _parent_log_path() -> Path:
    log = current_usage_log()
    assert log is not None
    return log.path


def _child_sync_call() -> None:
    assert ls.complete(REF, "hi", timeout=20).text == REPLY


def _child_async_call() -> None:
    # The async API does not use the bridge: this isolates the usage-log writer's fork handling.
    assert asyncio.run(ls.acomplete(REF, "hi")).text == REPLY


@pytest.mark.parametrize("child", [_child_sync_call, _child_async_call], ids=["sync", "async"])
def test_a_call_in_a_forked_child_is_in_the_parents_log(sync_env: Env, child) -> None:
    ls.complete(REF, "hi", timeout=20)  # the parent's writer thread now runs, with rows behind it
    log = current_usage_log()
    assert log is not None and log.flush(10)
    child_pid = run_in_fork(child)  # returns normally: multiprocessing then leaves with os._exit
    assert log.flush(10)
    counts = rows_by_pid(log.path)
    assert counts.get(child_pid) == 1, counts
    assert counts.get(os.getpid()) == 1, counts
    # The parent's rows queued before the fork were not written a second time by the child.
    assert sum(counts.values()) == 2


def _child_records_directly(path: str, n: int) -> None:
    log = UsageLog(path)
    for _ in range(n):
        log.record(UsageRow(ts=time.time(), provider="child", provider_type="test", model="m"))


def test_forking_while_the_parent_writes_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """The parent writes batches continuously while it forks; every child's rows land once."""
    path = tmp_path / "busy.sqlite3"
    log = UsageLog(path)
    stop = False

    import threading

    def hammer() -> None:
        while not stop:
            log.record(UsageRow(ts=time.time(), provider="parent", provider_type="test", model="m"))
            time.sleep(0.0005)

    t = threading.Thread(target=hammer, daemon=True)
    t.start()
    try:
        pids = [run_in_fork(_child_records_directly, str(path), 3) for _ in range(4)]
    finally:
        stop = True
        t.join(5)
        log.close()
    counts = rows_by_pid(path)
    for pid in pids:
        assert counts.get(pid) == 3, counts
    assert counts.get(os.getpid(), 0) == log.rows_written and log.write_errors == 0


_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import llmswitch as ls
    from llmswitch.usage.log import current_usage_log

    ls.complete("{ref}", "hi", timeout=20)
    pid = os.fork()
    if pid == 0:
        ls.complete("{ref}", "hi", timeout=20)
        if sys.argv[1] == "os._exit":
            current_usage_log().flush()  # what a child that leaves with os._exit must do itself
            os._exit(0)
        sys.exit(0)  # normal interpreter exit: threading shutdown and atexit flush the rows
    _, status = os.waitpid(pid, 0)
    print(pid, os.waitstatus_to_exitcode(status))
    """
)


@pytest.mark.parametrize("how", ["sys.exit", "os._exit"])
def test_plain_os_fork_child_rows_reach_the_log(sync_env: Env, how: str) -> None:
    script = _SCRIPT.format(ref=REF)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script, how], capture_output=True, text=True, env=env, timeout=60,
                         cwd=sync_env.tmp)
    assert out.returncode == 0, out.stderr
    child_pid, child_code = map(int, out.stdout.split())
    assert child_code == 0
    counts = rows_by_pid(sync_env.log_path)
    assert counts.get(child_pid) == 1 and sum(counts.values()) == 2, counts


# --- file modes ------------------------------------------------------------------------------


def test_usage_log_files_are_private_after_a_real_call(sync_env: Env) -> None:
    old = os.umask(0o022)  # the common default, under which files would be 0644 and dirs 0755
    try:
        ls.complete(REF, "hi", timeout=20)
        path = _parent_log_path()
        assert current_usage_log().flush(10)  # type: ignore[union-attr]
    finally:
        os.umask(old)
    assert path == sync_env.log_path
    # The writer keeps its connection open, so SQLite's WAL side files exist now.
    assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
    for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert mode(f) == 0o600, f
    # Every directory llmswitch created on the way (XDG_DATA_HOME did not exist either) is 0700.
    assert mode(sync_env.data_dir) == 0o700
    assert mode(sync_env.data_dir.parent) == 0o700


def test_a_log_an_older_version_left_wide_open_is_tightened(sync_env: Env) -> None:
    d = sync_env.data_dir
    d.mkdir(parents=True)
    os.chmod(d, 0o755)
    path = sync_env.log_path
    # A log left by an older version with a reader still attached, so -wal and -shm persist.
    reader = sqlite3.connect(str(path))
    try:
        reader.execute("PRAGMA journal_mode=WAL")
        reader.execute("CREATE TABLE IF NOT EXISTS t(x)")
        reader.execute("INSERT INTO t VALUES (1)")
        reader.commit()
        for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            os.chmod(f, 0o644)
        ls.complete(REF, "hi", timeout=20)
        assert current_usage_log().flush(10)  # type: ignore[union-attr]
        for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert mode(f) == 0o600, f
        assert mode(d) == 0o700
    finally:
        reader.close()


def test_reading_the_log_tightens_it_too(tmp_path: Path) -> None:
    from llmswitch.usage.log import query_usage

    path = tmp_path / "old.sqlite3"
    UsageLog(path).close()
    os.chmod(path, 0o644)
    assert query_usage(path) == []
    assert mode(path) == 0o600


def test_a_log_at_a_path_the_user_named_keeps_the_users_directory_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    UsageLog(shared / "u.sqlite3").close()
    assert mode(shared) == 0o755  # not ours to tighten
    assert mode(shared / "u.sqlite3") == 0o600
    nested = tmp_path / "new" / "deeper"
    UsageLog(nested / "u.sqlite3").close()
    assert mode(nested) == 0o700 and mode(nested.parent) == 0o700  # ours: we created them
