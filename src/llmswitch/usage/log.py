"""An append-only usage log in SQLite: one row per call, failed and cancelled calls included.

Why a writer thread: an SQLite commit costs tens of microseconds — as much as a whole call to
a fast local server — so the call path only appends a tuple to a deque, and one background thread
writes batches in short transactions. Several processes may share one file: WAL mode lets
readers run beside a writer, ``busy_timeout`` makes writers wait their turn instead of failing,
and each batch is one ``BEGIN IMMEDIATE`` transaction so locks are held for milliseconds.
Rows still queued when the process exits are written by an ``atexit`` hook; a process killed
with SIGKILL loses at most its last unflushed batch.

Fork: a forked child inherits the log object but not its writer thread, so without help its
rows would queue forever. An ``os.register_at_fork`` hook gives every log in the child an empty
queue and no thread (the next row starts a writer of its own, on a connection of its own; rows
the parent had queued stay the parent's to write, so none is written twice). Fork waits (up to
``_FORK_WAIT_SECONDS``) for a batch in progress to commit, because SQLite keeps lock state in
process memory: a child forked in the middle of a transaction would believe it holds the write
lock's twin and see its own writes as busy. Rows are flushed when a child's threads shut down
(``threading._shutdown``, which multiprocessing's children run too, though they end with
``os._exit`` and so skip ``atexit``). A child that calls ``os._exit`` itself skips both: call
``current_usage_log().flush()`` before it, or its last rows are lost.

Files: the log and SQLite's ``-wal``/``-shm`` files are 0600 in a 0700 directory. The database
file is created 0600 before SQLite opens it (SQLite gives ``-wal`` and ``-shm`` the mode of the
database file), and existing wider files are tightened when opened.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import contextvars
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LLMSwitchError

__all__ = [
    "UsageLogVersionError",
    "migrate",
    "UsageLog",
    "UsageRow",
    "enable_usage_log",
    "disable_usage_log",
    "current_usage_log",
    "default_log_path",
    "agent_scope",
    "current_agent",
    "caller_scope",
    "current_caller",
    "query_usage",
    "parse_since",
    "connect",
]

current_agent: contextvars.ContextVar[str | None] = contextvars.ContextVar("llmswitch_agent", default=None)
"""The agent a call is made for; set with ``agent_scope`` (the registry cannot know it)."""
current_caller: contextvars.ContextVar[str | None] = contextvars.ContextVar("llmswitch_caller", default=None)
"""The gateway caller (its key's name) a call is made for; set with ``caller_scope``."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the calls table and its time index. IF NOT EXISTS, so a log written before the schema was
    # versioned (user_version 0, same table) is adopted as version 1 without a change.
    (
        """CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    provider TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    model TEXT,
    agent TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    usage_known INTEGER NOT NULL DEFAULT 1,
    cost REAL,
    latency REAL,
    status TEXT NOT NULL,
    error_class TEXT,
    pid INTEGER
)""",
        "CREATE INDEX IF NOT EXISTS calls_ts ON calls(ts)",
    ),
    # 2: the gateway caller (its key's name) each call was made for (``llmswitch serve``).
    ("ALTER TABLE calls ADD COLUMN caller TEXT",),
)
"""Ordered schema migrations: entry N (1-based) brings a log from version N-1 to N. Append a new
entry for every change (``ALTER TABLE calls ADD COLUMN ...``); never edit a released one."""

SCHEMA_VERSION = len(MIGRATIONS)


class UsageLogVersionError(LLMSwitchError):
    """The log was written by a newer llmswitch: reading or appending could corrupt it."""


def migrate(conn: sqlite3.Connection, migrations: tuple[tuple[str, ...], ...] = MIGRATIONS) -> int:
    """Bring the log to ``len(migrations)`` (``PRAGMA user_version``), each step in the same
    transaction as its version bump, so a crash or a second process never leaves half a step.
    Returns the version the log is at."""
    target = len(migrations)
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > target:
        raise UsageLogVersionError(
            f"the usage log is at schema version {version}, newer than this llmswitch knows ({target}); "
            "upgrade llmswitch, or set usage_log: {path: ...} to another file"
        )
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have moved it
            if version < target:
                for statement in migrations[version]:
                    conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version


_COLUMNS = (
    "ts, provider, provider_type, model, agent, input_tokens, output_tokens, cache_read_tokens, "
    "cache_write_tokens, reasoning_tokens, usage_known, cost, latency, status, error_class, pid, caller"
)
_INSERT = f"INSERT INTO calls ({_COLUMNS}) VALUES ({', '.join('?' * 17)})"
_BUSY_TIMEOUT_MS = 10_000
_COALESCE_SECONDS = 0.2
"""How long the writer lets rows gather before one transaction: every wake-up of the writer costs
the event loop a GIL hand-over, so at most five a second while calls keep coming; ``flush()``
and exit wait at most that long."""
_BATCH = 500
_FORK_WAIT_SECONDS = 2.0
_EXIT_FLUSH_SECONDS = 10.0


@dataclass(slots=True)
class UsageRow:
    """One call as stored in the log: who, which model, tokens, cost, latency and outcome."""

    ts: float
    provider: str
    provider_type: str
    model: str | None
    agent: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    usage_known: bool = True
    cost: float | None = None
    latency: float | None = None
    status: str = "ok"
    """``ok``, ``error`` or ``cancelled``."""
    error_class: str | None = None
    caller: str | None = None
    """The gateway caller's key name (``llmswitch serve``); None for calls made in-process."""

    def as_tuple(self) -> tuple[Any, ...]:
        """The row's values in the table's column order, then this process's pid and the gateway caller."""
        return (
            self.ts, self.provider, self.provider_type, self.model, self.agent, self.input_tokens,
            self.output_tokens, self.cache_read_tokens, self.cache_write_tokens, self.reasoning_tokens,
            int(self.usage_known), self.cost, self.latency, self.status, self.error_class, os.getpid(),
            self.caller,
        )


def default_log_path() -> Path:
    """``usage.sqlite3`` in the user data dir, where the log lives unless the config says otherwise."""
    from .._paths import data_dir

    return data_dir() / "usage.sqlite3"


def _private_files(p: Path, *, create: bool) -> None:
    """Create the database file 0600 (``create``) and tighten it and SQLite's side files."""
    from .._paths import open_private, tighten

    if create:
        os.close(open_private(p, os.O_RDWR | os.O_CREAT))
    else:
        tighten(p)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(f"{p}{suffix}")


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open (and create if needed) a usage log with WAL and a generous busy timeout.

    The file is created 0600 here, before SQLite opens it, so that the ``-wal`` and ``-shm``
    files SQLite creates beside it get 0600 too (they copy the database file's mode)."""
    from .._paths import make_private_dir

    p = Path(path)
    make_private_dir(p.parent)
    _private_files(p, create=True)
    conn = sqlite3.connect(str(p), timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    # Switching to WAL and creating the schema can meet SQLITE_BUSY without the busy handler
    # being consulted when two processes open a new log at the same moment: retry, bounded.
    for attempt in range(50):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn)
            return conn
        except UsageLogVersionError:
            conn.close()
            raise
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == 49:
                conn.close()
                raise
            time.sleep(0.02 * (attempt + 1))
    return conn


_CANCELLED = ("CancelledError", "GeneratorExit", "KeyboardInterrupt")


def _values_for_call(provider: Any, model: str, response: Any, error: BaseException | None, seconds: float) -> tuple[Any, ...]:
    """What an observed call becomes in the log: the row's values in ``_INSERT``'s column order,
    built straight into the tuple the writer inserts (no ``UsageRow`` on the call path)."""
    pt = getattr(provider, "provider_type", None)
    ptype = getattr(pt, "value", None) or str(pt or "")
    name = getattr(provider, "name", ptype)
    if response is not None:
        u = response.usage
        return (
            time.time(), name, ptype, response.model or model or None, current_agent.get(), u.input_tokens,
            u.output_tokens, u.cache_read_tokens, u.cache_write_tokens, u.reasoning_tokens, int(u.known), u.cost,
            seconds, "ok", None, _PID[0], current_caller.get(),
        )
    cls = type(error).__name__ if error is not None else "UnknownError"
    return (
        time.time(), name, ptype, model or None, current_agent.get(), 0, 0, 0, 0, 0, 0, None, seconds,
        "cancelled" if cls in _CANCELLED else "error", cls, _PID[0], current_caller.get(),
    )


_PID = [os.getpid()]
"""This process's pid, for every row (kept current in a forked child)."""


class UsageLog:
    """A usage log file plus its writer thread. ``record`` never blocks and never raises."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_log_path()
        conn = connect(self.path)  # fail early (bad path, read-only dir) rather than in the thread
        conn.close()
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._idle = True
        """True while the writer waits for rows: only then does ``record`` pay for waking it (a
        ``put`` on a queue with a waiting reader hands the GIL over on every call)."""
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        """Held by the writer while it has the database open mid-operation; see the module doc."""
        self._closed = False
        self.rows_written = 0
        self.write_errors = 0
        self.last_error: str | None = None
        _LOGS.add(self)

    def __repr__(self) -> str:
        return f"UsageLog({str(self.path)!r}, rows_written={self.rows_written})"

    # --- writing --------------------------------------------------------------------------
    def record(self, row: UsageRow) -> None:
        """Queue a row for the writer thread; never blocks on the database, and does nothing once closed."""
        self._enqueue(row.as_tuple())

    def _enqueue(self, values: tuple[Any, ...]) -> None:
        if self._closed:
            return
        self._queue.append(values)
        if self._idle:
            self._idle = False
            self._wake.set()
            if self._thread is None:
                self._start()

    def _put(self, item: Any) -> None:
        """A marker (flush event, close sentinel): always wakes the writer."""
        self._queue.append(item)
        self._idle = False
        self._wake.set()

    def observe(self, provider: Any, model: str, response: Any, error: BaseException | None, seconds: float) -> None:
        """The call observer (``providers.base.add_call_observer``)."""
        self._enqueue(_values_for_call(provider, model, response, error, seconds))

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                t = threading.Thread(target=self._run, name="llmswitch-usage-log", daemon=True)
                t.start()
                self._thread = t

    def _run(self) -> None:
        with self._io_lock:
            conn = connect(self.path)
        pending = self._queue
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                # Let a burst gather: one transaction per window instead of one per call keeps
                # this thread (and its share of the GIL) off a busy event loop's back.
                if pending and pending[0] is not None and not isinstance(pending[0], threading.Event):
                    time.sleep(_COALESCE_SECONDS)
                if self._drain(conn, pending):
                    return
                # idle from here: the next ``record`` wakes us; a row appended between the drain
                # and the flag is seen by the re-check (deque append/popleft are atomic)
                self._idle = True
                if pending:
                    self._idle = False
                    self._wake.set()
        finally:
            with self._io_lock:  # closing may checkpoint and take locks, like a write
                conn.close()

    def _drain(self, conn: sqlite3.Connection, pending: collections.deque[Any]) -> bool:
        """Write everything queued, in batches; True when the close sentinel was reached."""
        while pending:
            batch: list[tuple[Any, ...]] = []
            markers: list[threading.Event] = []
            stop = False
            while pending and len(batch) < _BATCH:
                item = pending.popleft()
                if item is None:
                    stop = True
                    break
                if isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    batch.append(item)
            if batch:
                self._write(conn, batch)
            for m in markers:
                m.set()
            if stop:
                return True
        return False

    def _write(self, conn: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
        for attempt in range(5):
            try:
                with self._io_lock:  # released between attempts: fork waits one attempt at most
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                        conn.executemany(_INSERT, batch)
                        conn.execute("COMMIT")
                    except sqlite3.Error:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                        raise
                self.rows_written += len(batch)
                return
            except sqlite3.OperationalError as exc:  # locked beyond busy_timeout: back off, retry
                self.last_error = str(exc)
                time.sleep(0.05 * (attempt + 1))
            except sqlite3.Error as exc:
                self.last_error = str(exc)
                break
        self.write_errors += len(batch)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row recorded so far is on disk. True if it finished in time."""
        if self._thread is None or not self._thread.is_alive():
            return True
        done = threading.Event()
        self._put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            t = self._thread
        if t is not None and t.is_alive():
            self._put(None)
            t.join(timeout)

    def _reset_after_fork(self) -> None:
        """In a forked child: forget the parent's writer and its queued rows (see the module doc)."""
        self._queue = collections.deque()
        self._wake = threading.Event()
        self._idle = True
        self._thread = None
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self.rows_written = 0
        self.write_errors = 0
        self.last_error = None


# --- fork -------------------------------------------------------------------------------------

_LOGS: weakref.WeakSet[UsageLog] = weakref.WeakSet()
_held_for_fork: list[threading.Lock] = []


def _before_fork() -> None:
    """Let a batch in progress commit before fork copies SQLite's in-memory lock state (bounded)."""
    deadline = time.monotonic() + _FORK_WAIT_SECONDS
    for log in list(_LOGS):
        t = log._thread
        if t is None or not t.is_alive():
            continue
        lock = log._io_lock
        if lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            _held_for_fork.append(lock)


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop().release()


def _after_fork_in_child() -> None:
    _held_for_fork.clear()
    _PID[0] = os.getpid()
    global _active_lock
    _active_lock = threading.Lock()
    for log in list(_LOGS):
        log._reset_after_fork()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


# --- the process-wide log ---------------------------------------------------------------------

_active: UsageLog | None = None
_active_lock = threading.Lock()


def _observe(provider: Any, model: str, response: Any, error: BaseException | None, seconds: float) -> None:
    log = _active
    if log is not None:
        log.observe(provider, model, response, error, seconds)


def enable_usage_log(path: str | os.PathLike[str] | None = None) -> UsageLog:
    """Log every call of every provider in this process to ``path`` (default: the user data dir).

    One process has one usage log: enabling another path replaces the previous one (which is
    flushed and closed), so two registries never write every call twice.
    """
    global _active
    from ..hooks import add_call_observer

    target = Path(path) if path is not None else default_log_path()
    with _active_lock:
        if _active is not None and _active.path == target and not _active._closed:
            return _active
        old, _active = _active, UsageLog(target)
        add_call_observer(_observe)
    if old is not None:
        old.close()
    return _active


def disable_usage_log() -> None:
    """Stop logging calls in this process; what was queued is written first."""
    global _active
    from ..hooks import remove_call_observer

    with _active_lock:
        old, _active = _active, None
        remove_call_observer(_observe)
    if old is not None:
        old.close()


def current_usage_log() -> UsageLog | None:
    """The process's active usage log, or None when logging is off."""
    return _active


@atexit.register
def _close_at_exit() -> None:
    """Write what every open log has queued and stop its writer (the process-wide one first)."""
    logs = [_active] if _active is not None else []
    logs += [log for log in list(_LOGS) if log is not _active]
    for log in logs:
        if log is not None:
            log.close()


def _flush_at_thread_shutdown() -> None:
    """Write queued rows when the main thread finishes, before threads are joined.

    ``threading._shutdown`` runs at every normal interpreter exit and also at the end of a
    multiprocessing child, which then leaves with ``os._exit`` and never reaches ``atexit``."""
    deadline = time.monotonic() + _EXIT_FLUSH_SECONDS
    for log in list(_LOGS):
        if not log._closed:
            log.flush(max(0.1, deadline - time.monotonic()))


# CPython's hook for "before threads are joined" (what concurrent.futures uses); registered once,
# at import, and inherited by forked children. Without it, atexit alone covers plain processes.
with contextlib.suppress(AttributeError, RuntimeError):
    threading._register_atexit(_flush_at_thread_shutdown)  # type: ignore[attr-defined]


@contextlib.contextmanager
def agent_scope(agent: str | None) -> Iterator[None]:
    """Attribute the calls made inside this block (and tasks it starts) to ``agent``."""
    token = current_agent.set(agent)
    try:
        yield
    finally:
        current_agent.reset(token)


@contextlib.contextmanager
def caller_scope(caller: str | None) -> Iterator[None]:
    """Attribute the calls made inside this block (and tasks it starts) to the gateway caller ``caller``."""
    token = current_caller.set(caller)
    try:
        yield
    finally:
        current_caller.reset(token)


# --- reading ---------------------------------------------------------------------------------

_GROUPS = {
    "provider": "provider",
    "model": "COALESCE(model, '?')",
    "agent": "COALESCE(agent, '-')",
    "caller": "COALESCE(caller, '-')",
    "day": "date(ts, 'unixepoch', 'localtime')",
    "type": "provider_type",
}


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """``7d``, ``24h``, ``30m``, ``90s``, ``2w``, an ISO date/time, or ``all`` → a unix time."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    now = time.time() if now is None else now
    t = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    if t[-1:] in units:
        try:
            return now - float(t[:-1]) * units[t[-1]]
        except ValueError:
            pass
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a time: use 7d, 24h, 30m, all, or a date like 2025-01-31") from None


def query_usage(path: str | os.PathLike[str], *, since: float | None = None, by: str = "provider") -> list[dict[str, Any]]:
    """Totals grouped ``by`` provider, model, agent, day or type, newest day / biggest cost first.

    ``cost`` sums the priced calls; ``unpriced`` counts successful calls whose price is unknown,
    so a display can say "unknown" rather than pretend they were free.
    """
    if by not in _GROUPS:
        raise ValueError(f"--by must be one of {', '.join(_GROUPS)}")
    p = Path(path)
    if not p.exists():
        return []
    _private_files(p, create=False)  # a log an older version left 0644: tighten it now
    conn = sqlite3.connect(str(p), timeout=_BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        key = _GROUPS[by]
        sql = f"""
            SELECT {key} AS k,
                   COUNT(*) AS calls,
                   SUM(status = 'error') AS errors,
                   SUM(status = 'cancelled') AS cancelled,
                   SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
                   SUM(cost), SUM(status = 'ok' AND cost IS NULL), AVG(latency)
            FROM calls {"WHERE ts >= ?" if since is not None else ""}
            GROUP BY k ORDER BY {"k DESC" if by == "day" else "COALESCE(SUM(cost), 0) DESC, calls DESC"}
        """
        rows = conn.execute(sql, (since,) if since is not None else ()).fetchall()
    finally:
        conn.close()
    names = ("calls", "errors", "cancelled", "input_tokens", "output_tokens", "cache_read_tokens",
             "cache_write_tokens", "cost", "unpriced", "avg_latency")
    out = []
    for r in rows:
        d: dict[str, Any] = {by: r[0]}
        d.update({
            n: (v if v is not None else (None if n in ("cost", "avg_latency") else 0))
            for n, v in zip(names, r[1:], strict=True)
        })
        out.append(d)
    return out
