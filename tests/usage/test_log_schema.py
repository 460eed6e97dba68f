"""The usage log's schema is versioned (PRAGMA user_version) and upgraded by ordered migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llmswitch.usage.log import MIGRATIONS, SCHEMA_VERSION, UsageLogVersionError, connect, migrate

_UNVERSIONED = MIGRATIONS[0]  # what logs written before versioning contain


def _version(path: Path) -> int:
    with sqlite3.connect(path) as c:
        return int(c.execute("PRAGMA user_version").fetchone()[0])


def test_a_new_log_is_at_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    connect(path).close()
    assert _version(path) == SCHEMA_VERSION >= 1


def test_a_log_from_before_versioning_is_adopted_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as c:
        for statement in _UNVERSIONED:
            c.execute(statement)
        c.execute("INSERT INTO calls (ts, provider, provider_type, status) VALUES (1.0, 'p', 'openai', 'ok')")
    assert _version(path) == 0
    conn = connect(path)
    try:
        assert conn.execute("SELECT provider, status FROM calls").fetchall() == [("p", "ok")]
    finally:
        conn.close()
    assert _version(path) == SCHEMA_VERSION


def test_migrations_run_in_order_once_each(tmp_path: Path) -> None:
    """A later column change (version 2 here) upgrades a version-1 log, keeps its rows, and
    running the migrations again changes nothing."""
    steps = MIGRATIONS + (("ALTER TABLE calls ADD COLUMN region TEXT",),)
    path = tmp_path / "usage.db"
    connect(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("INSERT INTO calls (ts, provider, provider_type, status) VALUES (1.0, 'p', 'openai', 'ok')")
        assert migrate(conn, steps) == len(steps)
        assert migrate(conn, steps) == len(steps)  # idempotent: ALTER would fail if run twice
        assert conn.execute("SELECT provider, region FROM calls").fetchall() == [("p", None)]
    finally:
        conn.close()
    assert _version(path) == len(steps)


def test_a_failed_step_leaves_the_log_at_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    connect(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        broken = MIGRATIONS + (("ALTER TABLE calls ADD COLUMN ok TEXT", "ALTER TABLE nowhere ADD COLUMN x TEXT"),)
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn, broken)
        columns = [r[1] for r in conn.execute("PRAGMA table_info(calls)")]
        assert "ok" not in columns  # the step's first statement was rolled back with it
    finally:
        conn.close()
    assert _version(path) == SCHEMA_VERSION


def test_a_log_from_a_newer_llmswitch_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as c:
        c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    with pytest.raises(UsageLogVersionError, match=r"schema version \d+, newer than this llmswitch knows"):
        connect(path)
