"""``redis``: counters shared by every process on every host that points at one Redis.

Why each choice (see ``_base`` for the contract every backend follows):

* **Atomic**: every read-modify-write is one Lua script (``add``, ``take``, ``peek``) or one
  native command (``GET``, ``SET``), so two processes never lose an update and ``take`` never
  admits more than ``limit`` in all.
* **Namespaced and expiring**: every key is ``key_prefix + key`` (``llmswitch:`` unless the config
  says otherwise), and a window's counter carries its ``ttl`` as a Redis expiry.
* **Never the reason a call fails**: each Redis call is bounded by short socket timeouts (connect
  and read) and one immediate reconnect on a dropped connection. A Redis that does not answer is
  logged ONCE (``llmswitch.state``, a warning) and the backend answers from a per-process
  ``MemoryBackend`` until a background probe (backing off from ``reprobe_after`` to
  ``reprobe_max`` seconds) finds Redis again; then the shared counters are used again.
* **No secret shown**: the URL's password is given to the one redaction point
  (``errors.register_secret``) and the URL is only ever shown as ``redis://***@host:port/db``.
* **Light**: ``redis`` (the ``llmswitch[redis]`` extra) is imported when a backend is built,
  never by ``import llmswitch``.

redis-py's asyncio client belongs to the event loop it was made on, and the sync API runs calls on
a background loop while async callers use their own; so the backend keeps one client per loop
(and per process: a forked child makes its own).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import errors as E
from .memory import MemoryBackend

__all__ = ["RedisBackend", "DEFAULT_KEY_PREFIX", "safe_url", "url_secrets"]

_log = logging.getLogger(__name__.rpartition(".")[0])  # "llmswitch.state", the layer's logger

DEFAULT_KEY_PREFIX = "llmswitch:"

# ARGV: amount, ttl in ms ('' for none). INCRBYFLOAT answers a bulk string, which Lua returns as
# is (a Lua number would be truncated to an integer on the way back).
_ADD = """
local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
"""

# ARGV: amount, limit, ttl in ms ('' for none); 1 when taken.
_TAKE = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v + tonumber(ARGV[1]) > tonumber(ARGV[2]) then
  return 0
end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if ARGV[3] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

# Each key's value ('' when missing) and its PTTL (-1: no expiry, -2: missing), in key order.
_PEEK = """
local out = {}
for i, k in ipairs(KEYS) do
  out[2 * i - 1] = redis.call('GET', k) or ''
  out[2 * i] = redis.call('PTTL', k)
end
return out
"""


def url_secrets(url: str) -> tuple[str, ...]:
    """The secrets a Redis URL carries: the user-info password and a ``?password=`` value."""
    parts = urlsplit(url)
    out = [parts.password or ""]
    out.extend(v for k, v in parse_qsl(parts.query) if k.lower() == "password")
    return tuple(v for v in out if v)


def safe_url(url: str) -> str:
    """The URL to show in logs, errors and reprs: user info and ``?password=`` replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(
        f"{k}=***" if k.lower() == "password" else f"{k}={v}" for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    # by hand, not urlunsplit: ``unix:///path`` (an empty host) must keep its slashes
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _num(value: float) -> str:
    """A float as Redis reads it back exactly (``repr`` is the shortest round-tripping form)."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"a state counter takes finite numbers, not {value!r}")
    return repr(value)


def _ms(ttl: float | None) -> str:
    """A ttl in whole milliseconds for PEXPIRE ('' for none); at least 1 ms."""
    if ttl is None:
        return ""
    return str(max(1, math.ceil(float(ttl) * 1000)))


def _float(raw: Any) -> float:
    if raw is None or raw == b"" or raw == "":
        return 0.0
    return float(raw)


class RedisBackend:
    """Counters in Redis (see the module docstring); ``clock`` is injected by tests."""

    name = "redis"
    shared = True
    """Counters are seen by every process using this Redis (a breaker over it is shared)."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        timeout: float = 0.5,
        max_connections: int = 16,
        breaker_sync_interval: float = 0.0,
        reprobe_after: float = 1.0,
        reprobe_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis.asyncio  # the optional extra; state.backend_from_config says how to install it
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import NoScriptError, RedisError

        if not isinstance(url, str) or not url:
            raise E.ConfigError("the redis state backend needs a url (redis://HOST:6379/0)")
        for label, seconds in (("timeout", timeout), ("reprobe_after", reprobe_after), ("reprobe_max", reprobe_max)):
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
                raise ValueError(f"{label} must be a positive number of seconds, not {seconds!r}")
        E.register_secret(*url_secrets(url))
        self.url = safe_url(url)
        """The URL as it may be shown (no password)."""
        self.key_prefix = key_prefix
        self.timeout = float(timeout)
        self.max_connections = max_connections
        self.breaker_sync_interval = float(breaker_sync_interval)
        """Handed to shared breakers (``routing.shared_breaker``): how long an all-clear read is reused."""
        self._url = url
        self._redis = redis.asyncio
        # one immediate reconnect when a pooled connection turns out dead (a restarted Redis);
        # never on a timeout, whose command may have run
        self._retry_parts: tuple[Any, Any, Any] = (Retry, NoBackoff, RedisConnectionError)
        self._no_script = NoScriptError
        self._failures: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self._clock = clock
        self._reprobe_after = float(reprobe_after)
        self._reprobe_max = float(reprobe_max)
        self._memory = MemoryBackend(clock=clock)
        self._clients: dict[int, tuple[weakref.ReferenceType[asyncio.AbstractEventLoop], Any]] = {}
        self._pid = os.getpid()
        self._lock = threading.Lock()  # the up/down bookkeeping, from any loop's thread
        self._down = False
        self._backoff = self._reprobe_after
        self._next_probe = 0.0
        self._probing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._probe_task: asyncio.Task[None] | None = None
        self._shas: dict[str, str] = {}
        self.outages = 0
        """How many times Redis went away (each logged once)."""

    def __repr__(self) -> str:
        return (
            f"RedisBackend(url={self.url!r}, key_prefix={self.key_prefix!r}, "
            f"state={'degraded to memory' if self._down else 'up'})"
        )

    @property
    def degraded(self) -> bool:
        """Whether Redis is away and this process answers from memory meanwhile."""
        return self._down

    # --- clients, one per event loop ------------------------------------------------------------
    def _client(self) -> Any:
        """This loop's client, or None while Redis is away (then a probe may be started)."""
        if self._pid != os.getpid():
            self._forked()
        if self._down:
            self._maybe_probe()
            return None
        return self._client_for(asyncio.get_running_loop())

    def _client_for(self, loop: asyncio.AbstractEventLoop) -> Any:
        entry = self._clients.get(id(loop))
        if entry is not None and entry[0]() is loop:
            return entry[1]
        return self._new_client(loop)

    def _forked(self) -> None:
        """In a forked child: the parent's clients, connections and probe are not ours; a parent's
        outage is (the child probes for itself, at once)."""
        self._lock = threading.Lock()  # a parent's thread may have held the old one at the fork
        self._pid = os.getpid()
        self._clients = {}
        self._tasks = set()
        self._probe_task = None
        self._probing = False
        self._next_probe = 0.0

    def _new_client(self, loop: asyncio.AbstractEventLoop) -> Any:
        with self._lock:
            for key, (ref, _) in list(self._clients.items()):
                gone = ref()
                if gone is None or gone.is_closed():
                    del self._clients[key]
            # a bounded pool that waits (briefly) for a free connection under a burst, instead of
            # failing the 101st concurrent call as the default pool does
            pool = self._redis.BlockingConnectionPool.from_url(
                self._url,
                max_connections=self.max_connections,
                timeout=max(1.0, 2 * self.timeout),
                socket_timeout=self.timeout,
                # a connect also says HELLO and names the client: a few round trips, so a little more
                socket_connect_timeout=max(self.timeout, 1.0),
                retry=self._new_retry(),
                health_check_interval=0,
            )
            client = self._redis.Redis(connection_pool=pool)
            self._clients[id(loop)] = (weakref.ref(loop), client)
            return client

    def _new_retry(self) -> Any:
        retry, no_backoff, connection_error = self._retry_parts
        return retry(no_backoff(), 1, supported_errors=(connection_error,))

    async def _eval(self, client: Any, script: str, keys: Sequence[str], *args: str) -> Any:
        sha = self._shas.get(script)
        if sha is not None:
            try:
                return await client.evalsha(sha, len(keys), *keys, *args)
            except self._no_script:  # a restarted (or another) Redis: load it again
                pass
        self._shas[script] = await client.script_load(script)
        return await client.evalsha(self._shas[script], len(keys), *keys, *args)

    # --- up and down ----------------------------------------------------------------------------
    async def _went_down(self, client: Any, exc: BaseException) -> None:
        with self._lock:
            first = not self._down
            if first:
                self._down = True
                self.outages += 1
                self._backoff = self._reprobe_after
                self._next_probe = self._clock() + self._backoff
        if first:
            _log.warning(
                "redis state backend at %s is not answering (%s); shared counters (breakers, budgets, "
                "rate limits) fall back to this process's memory until it is back",
                self.url, E.redact(f"{type(exc).__name__}: {exc}", *url_secrets(self._url))[:300],
            )
        try:  # drop every pooled connection: after a restart they are all dead
            await client.connection_pool.disconnect()
        except Exception:  # closing what is already broken may fail too; nothing to do
            pass

    def _maybe_probe(self) -> None:
        with self._lock:
            stale = self._probe_task
            if self._probing and stale is not None and (stale.done() or stale.get_loop().is_closed()):
                self._probing = False  # its loop went away before it could finish
            if self._probing or self._clock() < self._next_probe:
                return
            self._probing = True
            loop = asyncio.get_running_loop()
            task = self._probe_task = loop.create_task(self._probe(loop))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe(self, loop: asyncio.AbstractEventLoop) -> None:
        ok = False
        client: Any = None
        try:
            client = self._client_for(loop)
            ok = bool(await client.ping())
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # any failure is "still away"
            try:
                if client is not None:
                    await client.connection_pool.disconnect()
            except Exception:  # closing what is already broken may fail too
                pass
            _log.debug("redis state backend at %s still away: %s", self.url, E.redact(repr(exc))[:200])
        with self._lock:
            self._probing = False
            if ok:
                self._down = False
                self._memory = MemoryBackend(clock=self._clock)  # outage-time counters are not carried over
            else:
                self._backoff = min(self._backoff * 2, self._reprobe_max)
                self._next_probe = self._clock() + self._backoff
        if ok:
            _log.info("redis state backend at %s is back; shared counters are used again", self.url)

    # --- the contract -------------------------------------------------------------------------
    async def get(self, key: str) -> float:
        """See ``StateBackend.get``."""
        client = self._client()
        if client is not None:
            try:
                return _float(await client.get(self.key_prefix + key))
            except self._failures as exc:
                await self._went_down(client, exc)
        return await self._memory.get(key)

    async def add(self, key: str, amount: float, *, ttl: float | None = None) -> float:
        """See ``StateBackend.add``."""
        client = self._client()
        if client is not None:
            try:
                return _float(await self._eval(client, _ADD, (self.key_prefix + key,), _num(amount), _ms(ttl)))
            except self._failures as exc:
                await self._went_down(client, exc)
        return await self._memory.add(key, amount, ttl=ttl)

    async def take(self, key: str, amount: float, limit: float, *, ttl: float | None = None) -> bool:
        """See ``StateBackend.take``."""
        if math.isinf(limit):  # no limit / nothing fits, as the memory backend has it
            if limit < 0:
                return False
            await self.add(key, amount, ttl=ttl)
            return True
        client = self._client()
        if client is not None:
            try:
                return bool(await self._eval(client, _TAKE, (self.key_prefix + key,), _num(amount), _num(limit), _ms(ttl)))
            except self._failures as exc:
                await self._went_down(client, exc)
        return await self._memory.take(key, amount, limit, ttl=ttl)

    async def set(self, key: str, value: float, *, ttl: float | None = None) -> None:
        """See ``StateBackend.set``."""
        client = self._client()
        if client is not None:
            try:
                await client.set(self.key_prefix + key, _num(value), px=None if ttl is None else int(_ms(ttl)))
                return
            except self._failures as exc:
                await self._went_down(client, exc)
        await self._memory.set(key, value, ttl=ttl)

    async def peek(self, keys: Sequence[str]) -> list[tuple[float, float | None]]:
        """Several counters' values and seconds left (None: no expiry) in ONE round trip (an
        addition to the protocol, used by the shared breaker on every call)."""
        client = self._client()
        if client is not None:
            try:
                raw = await self._eval(client, _PEEK, [self.key_prefix + k for k in keys])
            except self._failures as exc:
                await self._went_down(client, exc)
            else:
                out: list[tuple[float, float | None]] = []
                for i in range(0, len(raw), 2):
                    pttl = int(raw[i + 1])
                    out.append((_float(raw[i]), pttl / 1000 if pttl >= 0 else None))
                return out
        return await self._memory.peek(keys)

    async def aclose(self) -> None:
        """Close this loop's connections; clients made on other loops are dropped."""
        for task in list(self._tasks):
            if not task.get_loop().is_closed():
                task.cancel()
        self._tasks.clear()
        clients, self._clients = self._clients, {}
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for ref, client in clients.values():
            if ref() is loop:
                try:
                    await client.aclose(close_connection_pool=True)
                except self._failures:
                    pass
        await self._memory.aclose()
