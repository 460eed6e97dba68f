"""HTTP transport: one pooled aiohttp session per provider instance and event loop.

aiohttp sessions are bound to the loop they were created in, so a provider used from both
``asyncio.run`` code and the sync bridge's loop keeps one session per loop, created lazily
inside that loop and never per call. The connector is sized for hundreds of concurrent
streams.

What this module guarantees for every request, so no caller has to:
- **deadlines**: a total deadline per call (``timeout``), an idle bound between bytes
  (``read_timeout``) and a connect bound; a per-call ``timeout=`` reaches here through
  ``call_deadline`` and is never sent to the server;
- **bounded reads**: a body larger than ``Limits.max_body_bytes`` is refused while it arrives; an
  error body is read up to ``max_error_body_bytes`` and the rest dropped;
- **same-origin credentials**: redirects are followed by hand, only within the same scheme, host
  and port (307/308 keep method and body; a 301/302/303 of a POST is an error, since following it
  would drop the body); a redirect to another origin is an error naming the target, so keys,
  secret headers and prompts never reach a host the user did not configure;
- **no double send**: a POST is resent only when aiohttp proves nothing was written (the pooled
  connection was already closing when the request was written), never after the server may have
  read it;
- **one mapping** of connection-level failures (refused, reset, timeouts, TLS) to llmswitch
  errors. What an HTTP status and body mean is decided in ``classify``.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import ssl
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from . import errors as E
from ._classify import error_from_response, extract_error, parse_retry_after
from ._env import lean_http
from ._h1 import H1Pool, HttpProcessingError, TooLarge
from ._json import loads as _loads
from ._limits import DEFAULT_LIMITS, Limits, check_seconds

__all__ = [
    "Timeouts",
    "Transport",
    "call_deadline",
    "time_left",
    "error_from_response",
    "parse_retry_after",
    "extract_error",
    "close_sessions_on_loop",
]

_CONNECTION_LIMIT = 1024
_ENCODER = json.JSONEncoder(separators=(",", ":"))
"""``json.dumps(x, separators=...)`` builds a new JSONEncoder on every call; reuse one (same output)."""
_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_DEFAULT = _ENCODER.default
_ASCII = json.encoder.encode_basestring_ascii


def _dumps(o: Any) -> str:
    """``_ENCODER.encode(o)`` without its two Python frames and the closure ``iterencode`` makes
    on every call: the same C encoder built with the same settings (circular check, ASCII,
    separators, NaN allowed), so the same text and the same errors."""
    if _C_ENCODER is None or isinstance(o, str):
        return _ENCODER.encode(o)
    return "".join(_C_ENCODER({}, _DEFAULT, _ASCII, None, ":", ",", False, False, True)(o, 0))


_JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class Timeouts:
    """A call's connect, idle-read and total deadlines, from the provider's config."""

    connect: float = 10.0
    """Seconds to establish the TCP/TLS connection (``connect_timeout``)."""
    read: float | None = 300.0
    """Longest silence between two reads (``read_timeout``); a local model loading on first use
    sends nothing for a while, so this is long."""
    total: float | None = 600.0
    """Deadline for a whole call, streamed or not, from request to last byte (``timeout``)."""


_deadline: ContextVar[tuple[float, float] | None] = ContextVar("llmswitch_call_deadline", default=None)
"""(loop time at which the call must end, the seconds the caller gave) for the call in progress."""


@contextmanager
def call_deadline(seconds: float | None) -> Iterator[None]:
    """Bound every request made inside this block to end within ``seconds`` from now (the tighter
    of this and any enclosing deadline). A per-call ``timeout=`` becomes this, never a body field."""
    token = set_call_deadline(seconds)
    try:
        yield
    finally:
        reset_call_deadline(token)


def set_call_deadline(seconds: float | None) -> Any:
    """The token-returning form of ``call_deadline`` for async generators, which must reset it
    themselves before they first yield (a value set in a generator leaks into its consumer)."""
    if seconds is None:
        return None
    check_seconds("timeout", seconds)
    end = asyncio.get_running_loop().time() + seconds
    outer = _deadline.get()
    return _deadline.set(outer if outer is not None and outer[0] <= end else (end, float(seconds)))


def time_left() -> float | None:
    """Seconds until the deadline of the call in progress (``call_deadline``), or None without one:
    the retry loop never sleeps past it."""
    d = _deadline.get()
    return None if d is None else d[0] - asyncio.get_running_loop().time()


def reset_call_deadline(token: Any) -> None:
    if token is not None:
        _deadline.reset(token)


class _Expiry:
    """A request's total deadline given by the caller: one timer that cancels the task running
    the request. A non-streamed request runs in one task from start to end, so cancelling that
    task is exact. (``asyncio.timeout_at`` does the same with more bookkeeping, and aiohttp's
    total timeout guards every read: each costs ~4-6% of a whole non-streamed call.)"""

    __slots__ = ("task", "handle", "fired")

    def __init__(self, when: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.fired = False
        self.handle: asyncio.TimerHandle | None = asyncio.get_running_loop().call_at(when, self.fire)

    def fire(self) -> None:
        self.fired = True
        self.task.cancel()

    def done(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


class _Watched(_Expiry):
    """The provider's default deadline (``timeout``, 600 s unless set): checked by the loop's
    watchdog once a second instead of a timer per request, so the common call pays two set
    operations for its bound. A second late on a ten-minute bound is no loss."""

    __slots__ = ("when", "watchdog")

    def __init__(self, when: float, watchdog: _Watchdog) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.fired = False
        self.handle = None
        self.when = when
        self.watchdog = watchdog
        watchdog.watch(self)

    def done(self) -> None:
        self.watchdog.inflight.discard(self)


class _Watchdog:
    """One per event loop: wakes once a second while default-deadline requests are in flight."""

    __slots__ = ("loop", "inflight", "ticking")
    TICK = 1.0

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.inflight: set[_Watched] = set()
        self.ticking = False

    def watch(self, entry: _Watched) -> None:
        self.inflight.add(entry)
        if not self.ticking:
            self.ticking = True
            self.loop.call_later(self.TICK, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        for entry in [e for e in self.inflight if e.when <= now]:
            self.inflight.discard(entry)
            entry.fire()
        if self.inflight:
            self.loop.call_later(self.TICK, self._tick)
        else:
            self.ticking = False


_WATCHDOGS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watchdog] = weakref.WeakKeyDictionary()


def _watchdog(loop: asyncio.AbstractEventLoop) -> _Watchdog:
    w = _WATCHDOGS.get(loop)
    if w is None:
        w = _WATCHDOGS[loop] = _Watchdog(loop)
    return w


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CLOSING_TRANSPORT = "closing transport"
"""aiohttp's words when a write found the pooled connection already closing: nothing was sent."""


def _decode_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace").strip()


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    return (url.scheme, url.host, url.port)


def _too_large(what: str, setting: str, limit: int, provider: str, url: str) -> E.ResponseTooLargeError:
    return E.ResponseTooLargeError(
        f"{what} exceeded {setting}={limit} bytes; stopped reading",
        provider=provider,
        url=url,
        hint=f"raise {setting} in the provider's config if the server is trusted",
    )


_HEADER_UNSAFE = frozenset("\r\n\0")
_MAX_TARGETS = 256


def _safe_header(name: str, value: str) -> bool:
    return isinstance(value, str) and name.isascii() and not _HEADER_UNSAFE.intersection(name + value)


@dataclass(slots=True)
class _H1Spec:
    """What the lean exchange (``_h1``) needs to know of a transport's origin, worked out once."""

    host: str
    port: int
    tls: bool
    head: bytes
    """Host, User-Agent, the key and the custom headers, as the request's header lines."""
    origin: str
    targets: dict[str, bytes | None]
    """url → request line path (None: not this origin, or not plain ASCII: the aiohttp path)."""

    @classmethod
    def of(cls, base_url: str, headers: Mapping[str, str]) -> _H1Spec | None:
        """None where the lean exchange does not apply: a scheme other than http(s), a host that is
        not plain ASCII, or a header value aiohttp would refuse (it then says why)."""
        u = URL(base_url)
        host = u.raw_host
        if u.scheme not in ("http", "https") or not host or not host.isascii() or u.port is None or u.user:
            return None
        if not all(_safe_header(k, v) for k, v in headers.items()):
            return None
        authority = f"[{host}]" if ":" in host else host
        if u.explicit_port is not None and u.explicit_port != (443 if u.scheme == "https" else 80):
            authority += f":{u.port}"
        lines = [f"Host: {authority}", "Accept: */*", "Accept-Encoding: gzip, deflate"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if not all(line.isascii() for line in lines):
            return None
        head = ("\r\n".join(lines) + "\r\n").encode("ascii")
        origin = f"{u.scheme}://{u.raw_authority}"
        return cls(host=host, port=u.port, tls=u.scheme == "https", head=head, origin=origin, targets={})

    def target(self, url: str) -> bytes | None:
        """The request target of ``url`` when it is on this origin and plain ASCII."""
        t = self.targets.get(url, b"")
        if t != b"":
            return t
        path = url[len(self.origin):] if url.startswith(self.origin) else ""
        ok = path.startswith("/") and path.isascii() and path.isprintable() and " " not in path and "#" not in path
        if len(self.targets) >= _MAX_TARGETS:
            self.targets.clear()
        t = self.targets[url] = path.encode("ascii") if ok else None
        return t


@dataclass(slots=True)
class _Answered:
    """A redirect the lean exchange received, in the shape ``Transport._follow`` reads."""

    status: int
    headers: Mapping[str, str]
    url: URL

    def release(self) -> None:
        """Nothing to release: the body was read whole."""


_SSL_DEFAULT: list[ssl.SSLContext] = []


def _default_ssl() -> ssl.SSLContext:
    """The verifying context for https without a ``ca_bundle`` (made once: loading the CA store is slow)."""
    if not _SSL_DEFAULT:
        _SSL_DEFAULT.append(ssl.create_default_context())
    return _SSL_DEFAULT[0]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_LIVE: weakref.WeakSet[Transport] = weakref.WeakSet()


async def close_sessions_on_loop() -> None:
    """Close every transport's session bound to the running loop (the sync bridge at exit)."""
    loop = asyncio.get_running_loop()
    for t in list(_LIVE):
        s = t._sessions.pop(loop, None)
        if t._last is not None and t._last[0] is loop:
            t._last = None
        pool = t._pools.pop(loop, None)
        if t._fast is not None and t._fast[0] is loop:
            t._fast = None
        if pool is not None:
            pool.close()
        if s is not None and not s.closed:
            await s.close()


def _release_orphaned_sessions() -> None:
    """At exit, release sockets of sessions whose loop is gone (``asyncio.run`` has returned), so
    providers cached by the module API do not end the program with "Unclosed client session"."""
    for t in list(_LIVE):
        for pool in list(t._pools.values()):
            pool.close()
        for loop, s in list(t._sessions.items()):
            if not s.closed and (loop.is_closed() or not loop.is_running()):
                connector = s.connector
                if connector is not None:
                    connector._close()  # type: ignore[attr-defined, unused-ignore]  # private; typed in aiohttp >= 3.14 only


atexit.register(_release_orphaned_sessions)

_INHERITED: list[aiohttp.ClientSession | H1Pool] = []
"""Sessions a forked child inherited. Kept referenced and never closed: closing one in the child
would take the parent's sockets out of the epoll set the two processes share."""


def _forget_sessions_after_fork() -> None:
    for t in list(_LIVE):
        _INHERITED.extend(t._sessions.values())
        _INHERITED.extend(t._pools.values())
        t._sessions.clear()
        t._pools.clear()
        t._last = t._fast = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_sessions_after_fork)


class Transport:
    """Connection pool, deadlines, bounded reads and connection-error mapping for one provider."""

    __slots__ = (
        "base_url", "provider", "headers", "timeouts", "limits", "_secrets", "_sessions", "_last",
        "_timeout_obj", "_stream_timeout_obj", "_ssl", "keepalive_timeout", "_pools", "_fast", "_h1",
        "__weakref__",
    )

    def __init__(
        self,
        base_url: str,
        *,
        provider: str,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        secrets: tuple[str, ...] = (),
        limits: Limits | None = None,
        ca_bundle: str | None = None,
        keepalive_timeout: float = 15.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limits = limits or DEFAULT_LIMITS
        self.provider = provider
        self.headers = dict(headers or {})
        self.timeouts = timeouts or Timeouts()
        self._secrets = tuple(s for s in secrets if s)
        E.register_secret(*self._secrets)
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[Any, aiohttp.ClientSession] | None = None
        # The session bounds connect and idle time only. A plain request's total deadline is one
        # timer (``_Expiry``); a stream's is aiohttp's total timeout, which guards every read of
        # the body wherever the stream is iterated.
        self._timeout_obj = aiohttp.ClientTimeout(total=None, connect=self.timeouts.connect, sock_read=self.timeouts.read)
        self._stream_timeout_obj = aiohttp.ClientTimeout(
            total=self.timeouts.total, connect=self.timeouts.connect, sock_read=self.timeouts.read
        )
        # TLS verification stays on; a private CA is trusted by adding it, never by switching checks off
        self._ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        self.keepalive_timeout = keepalive_timeout
        # the lean exchange for plain requests (``_h1``): one pool per loop, like the sessions
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, H1Pool] = weakref.WeakKeyDictionary()
        self._fast: tuple[Any, H1Pool] | None = None
        self._h1: _H1Spec | None | bool = None if lean_http() else False
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r}, provider={self.provider!r})"

    def url(self, path: str) -> str:
        """A path joined to the base URL; an absolute URL (a redirect, a pagination link) is kept as is."""
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.base_url + path

    def session(self) -> aiohttp.ClientSession:
        """The session for the running loop; created on first use inside that loop."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop and not last[1].closed:
            return last[1]
        s = self._sessions.get(loop)
        if s is None or s.closed:
            connector = aiohttp.TCPConnector(
                limit=_CONNECTION_LIMIT,
                limit_per_host=_CONNECTION_LIMIT,
                ttl_dns_cache=300,
                ssl=self._ssl,
                keepalive_timeout=self.keepalive_timeout,
            )
            s = aiohttp.ClientSession(
                headers=self.headers, timeout=self._timeout_obj, connector=connector, raise_for_status=False
            )
            self._sessions[loop] = s
        self._last = (loop, s)
        return s

    def _pool(self) -> H1Pool | None:
        """The lean exchange's pool for the running loop, or None where that path does not apply
        (see ``_H1Spec.of``): the aiohttp session then does the request."""
        loop = asyncio.get_running_loop()
        fast = self._fast
        if fast is not None and fast[0] is loop and not fast[1].closed:
            return fast[1]
        spec = self._h1
        if spec is None:
            spec = self._h1 = _H1Spec.of(self.base_url, self.headers) or False
        if spec is False:
            return None
        assert isinstance(spec, _H1Spec)
        pool = self._pools.get(loop)
        if pool is None or pool.closed:
            # a pool holds its loop, so the entry of a loop that is gone (asyncio.run returned) would
            # stay forever: forget those here, and their idle sockets close when collected
            for gone in [lp for lp in self._pools if lp.is_closed()]:
                del self._pools[gone]
            pool = self._pools[loop] = H1Pool(
                loop, host=spec.host, port=spec.port,
                ssl_context=(self._ssl if isinstance(self._ssl, ssl.SSLContext) else _default_ssl()) if spec.tls else None,
                head=spec.head, max_open=_CONNECTION_LIMIT, connect=self.timeouts.connect, read=self.timeouts.read,
                keepalive=self.keepalive_timeout,
            )
        self._fast = (loop, pool)
        return pool

    async def aclose(self) -> None:
        """Close every session this transport opened; those of other live loops are closed on their loop."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        sessions = list(self._sessions.items())
        self._sessions.clear()
        self._last = None
        self._close_pools()
        for loop, s in sessions:
            if s.closed:
                continue
            if loop is current:
                await s.close()
            elif loop.is_running() and not loop.is_closed():
                fut = asyncio.run_coroutine_threadsafe(s.close(), loop)
                await asyncio.wrap_future(fut)
            elif not loop.is_closed() and current is None:
                loop.run_until_complete(s.close())
            else:
                # The loop is gone, or stopped while another one runs here (it cannot be run from
                # inside a running loop): release its sockets without awaiting.
                connector = s.connector
                if connector is not None:
                    s._connector = None  # type: ignore[attr-defined, unused-ignore]  # private; typed in aiohttp >= 3.14 only
                    connector._close()  # type: ignore[attr-defined, unused-ignore]

    def _close_pools(self) -> None:
        """Close the lean exchange's pools (their sockets are plain asyncio transports: closing
        one needs no await, from any thread its loop is not running in)."""
        pools = list(self._pools.values())
        self._pools.clear()
        self._fast = None
        for pool in pools:
            if pool.loop.is_closed():
                continue
            if pool.loop.is_running() and pool.loop is not _running_loop():
                pool.loop.call_soon_threadsafe(pool.close)
            else:
                pool.close()

    # --- error mapping -------------------------------------------------------------
    def _conn_error(self, exc: BaseException, url: str, seconds: float | None = None) -> E.ProviderError:
        """The one mapping of connection-level failures; the text is redacted by ProviderError.
        ``seconds`` is the deadline the request had, captured when it was opened (a stream is read
        after the caller's deadline context has ended)."""
        msg = E.redact(str(exc) or type(exc).__name__, *self._secrets)
        kw: dict[str, Any] = dict(provider=self.provider, url=url)
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            never_sent = E.ProviderTimeoutError(
                f"could not connect within {self.timeouts.connect:g}s",
                hint="is the server up? raise connect_timeout if it is slow to accept",
                **kw,
            )
            never_sent.outcome_unknown = False  # no connection, so no request: safe to retry
            return never_sent
        if isinstance(exc, aiohttp.SocketTimeoutError):
            return E.ProviderTimeoutError(
                f"the server sent nothing for {self.timeouts.read:g}s",
                hint="the server stalled; raise read_timeout if it is loading a large model",
                **kw,
            )
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            if seconds is None:
                d = _deadline.get()
                seconds = d[1] if d is not None else self.timeouts.total
            return E.ProviderTimeoutError(
                f"the call did not finish within its deadline of {seconds:g}s",
                hint="raise timeout= for this call (or `timeout` in the provider's config) if the answer is long",
                **kw,
            )
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            host: str | None = exc.host
            reason = getattr(exc.certificate_error, "verify_message", None) or str(exc.certificate_error)
            return E.ProviderConnectionError(
                f"certificate verify failed for {host} ({reason})",
                # one literal on purpose: split in two, it would renumber the mutants scripts/mutation names
                hint="if the server uses a private CA, point ca_bundle in the provider's config (or SSL_CERT_FILE) at its PEM file; verification stays on",  # noqa: E501
                **kw,
            )
        if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)):
            host = getattr(exc, "host", None) or URL(url).host
            return E.ProviderConnectionError(
                f"TLS handshake with {host} failed: {msg}",
                hint="check that the base URL's scheme (http/https) and port match the server",
                **kw,
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            errno = getattr(exc.os_error, "errno", None)
            reason = os.strerror(errno).lower() if errno else msg
            return E.ProviderConnectionError(f"cannot connect to {exc.host}:{exc.port} ({reason})", **kw)
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, ConnectionResetError)):
            lost = E.ProviderConnectionError(
                f"connection lost: {msg}",
                hint="the server closed the connection after the request was sent; it may have run it (retrying may bill twice)",
                **kw,
            )
            lost.outcome_unknown = True
            return lost
        if isinstance(exc, HttpProcessingError):
            return E.ProviderConnectionError(
                f"the server's answer is not valid HTTP ({msg})",
                hint="is the base URL pointing at an HTTP server (and http vs https right)?",
                **kw,
            )
        return E.ProviderConnectionError(f"{type(exc).__name__}: {msg}", **kw)

    def error_for(
        self, status: int, raw: bytes, headers: Mapping[str, str], url: str, model: str | None = None
    ) -> E.ProviderError:
        """The error for an HTTP status and its (bounded) body; classification lives in ``classify``."""
        body = _decode_body(raw)
        if isinstance(body, str):
            body = E.redact(body, *self._secrets)
        return error_from_response(status, body, headers, provider=self.provider, url=url, model=model)

    # --- bounded reads -----------------------------------------------------------------
    async def read_body(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        """The whole body, refused as soon as it grows past ``max_body_bytes``."""
        limit = self.limits.max_body_bytes
        length = resp.content_length
        if length is not None and length <= limit:
            return await resp.read()
        if length is not None:
            raise _too_large(f"the body ({length} bytes announced)", "max_body_bytes", limit, self.provider, url)
        parts: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise _too_large("the body", "max_body_bytes", limit, self.provider, url)
            parts.append(chunk)
        return b"".join(parts)

    async def read_error_body(self, resp: aiohttp.ClientResponse) -> bytes:
        """At most ``max_error_body_bytes`` of an error body; a failure to read it is no reason to
        hide the status, so it gives what arrived."""
        limit = self.limits.max_error_body_bytes
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in resp.content.iter_chunked(64 * 1024):
                parts.append(chunk[: limit - size])
                size += len(parts[-1])
                if size >= limit:
                    break
        except (TimeoutError, aiohttp.ClientError, OSError):
            pass
        return b"".join(parts)

    # --- requests ------------------------------------------------------------------
    def _expiry(self, timeout: float | None) -> tuple[_Expiry | None, float | None]:
        """The total deadline of this request and the seconds it stands for: the call's deadline
        or an explicit per-request ``timeout`` (a precise timer), else the provider's ``timeout``
        (the watchdog)."""
        d = _deadline.get()
        loop = asyncio.get_running_loop()
        if d is None and timeout is None:
            total = self.timeouts.total
            if total is None:
                return None, None
            return _Watched(loop.time() + total, _watchdog(loop)), total
        now = loop.time()
        end, seconds = (d[0], d[1]) if d is not None else (None, None)
        if timeout is not None and (end is None or now + timeout < end):
            end, seconds = now + timeout, timeout
        assert end is not None
        if end <= now:
            raise TimeoutError()
        return _Expiry(end), seconds

    def _stream_timeout(self) -> tuple[aiohttp.ClientTimeout, float | None]:
        d = _deadline.get()
        if d is None:
            return self._stream_timeout_obj, self.timeouts.total
        left = d[0] - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError()
        return aiohttp.ClientTimeout(total=left, connect=min(left, self.timeouts.connect), sock_read=self.timeouts.read), d[1]

    async def _send(
        self, method: str, url: str, *, data: bytes | str | None, headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None = None, timeout: aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        """Send once; once more only if aiohttp proves the request was never written (the pooled
        keep-alive connection was already closing). aiohttp resends idempotent methods itself and
        never a POST; a POST that reached a server which then dropped the connection is NOT resent:
        the server may have run it, and a long generation would be billed twice. A redirect is
        handed to ``_follow`` (same origin only)."""
        kw: dict[str, Any] = {"data": data, "headers": headers, "allow_redirects": False}
        if params is not None:
            kw["params"] = params
        if timeout is not None:
            kw["timeout"] = timeout
        session = self.session()
        try:
            resp = await session.request(method, url, **kw)
        except aiohttp.ClientConnectionResetError as exc:
            if _CLOSING_TRANSPORT not in str(exc):
                raise
            resp = await session.request(method, url, **kw)
        if resp.status in _REDIRECTS:
            return await self._follow(method, resp, kw)
        return resp

    async def _follow(
        self, method: str, resp: aiohttp.ClientResponse | _Answered, kw: dict[str, Any]
    ) -> aiohttp.ClientResponse:
        """Follow redirects within the same scheme, host and port (see the module docstring)."""
        kw.pop("params", None)  # each Location carries its own query
        for _ in range(_MAX_REDIRECTS):
            location = resp.headers.get("Location")
            here = resp.url
            resp.release()
            if not location:
                raise E.ProviderError(
                    f"the server answered HTTP {resp.status} without a Location",
                    provider=self.provider, url=str(here), status_code=resp.status,
                )
            nxt = here.join(URL(location))
            if _origin(nxt) != _origin(here):
                raise E.ProviderError(
                    f"the server redirected to another origin ({nxt.scheme}://{nxt.host}:{nxt.port}); "
                    "llmswitch does not follow it, so the key and the prompt stay with the configured server",
                    provider=self.provider,
                    url=str(here),
                    status_code=resp.status,
                    hint=f"if you trust it, set the provider's base_url to {nxt.with_query(None)}",
                )
            if resp.status in (301, 302, 303) and method != "GET":
                raise E.ProviderError(
                    f"the server answered HTTP {resp.status} (moved) to a {method}; following it would drop the request body",
                    provider=self.provider,
                    url=str(here),
                    status_code=resp.status,
                    hint=f"set the provider's base_url to match {nxt.with_query(None)}",
                )
            resp = await self.session().request(method, nxt, **kw)
            if resp.status not in _REDIRECTS:
                return resp
        resp.release()
        raise E.ProviderError(
            f"more than {_MAX_REDIRECTS} redirects", provider=self.provider, url=str(resp.url), hint="check the base URL"
        )

    async def _exchange(
        self, method: str, url: str, json_body: Any, params: Mapping[str, str] | None, model: str | None,
        timeout: float | None, headers: Mapping[str, str] | None,
    ) -> tuple[int, bytes]:
        """One request, every guarantee of this module (deadline, bounded read, same-origin
        redirects); non-2xx raises the mapped error."""
        data = None if json_body is None else _dumps(json_body)
        req_headers = _JSON_HEADERS if data is not None else None
        if headers:
            req_headers = {**(req_headers or {}), **headers}
        seconds = expiry = None
        try:
            expiry, seconds = self._expiry(timeout)
            pool = self._pool() if params is None and not headers else None
            # the lean exchange (``_h1``), inline: every frame here is paid on each resume of a call
            sent = self._h1_request(method, url, data) if pool is not None else None
            if sent is not None:
                assert pool is not None
                limits = self.limits
                try:
                    conn = pool.send(sent[0], sent[1], limits.max_body_bytes, limits.max_error_body_bytes)
                    if conn is None:  # no idle connection: the pool opens one (None: full, the aiohttp path)
                        got = await pool.exchange(
                            sent[0], sent[1], limit=limits.max_body_bytes, error_limit=limits.max_error_body_bytes
                        )
                    else:
                        waiter = conn.waiter
                        assert waiter is not None
                        try:
                            await waiter
                        except BaseException:
                            pool.abandon(conn)
                            raise
                        got = pool.finish(conn, limits.max_error_body_bytes)
                except TooLarge as big:
                    what = "the body" if big.announced is None else f"the body ({big.announced} bytes announced)"
                    raise _too_large(what, "max_body_bytes", limits.max_body_bytes, self.provider, url) from None
                if got is not None:
                    status, answered, raw = got
                    if status in _REDIRECTS:
                        return await self._h1_redirect(method, url, data, req_headers, model, status, answered)
                    if status >= 400:
                        raise self.error_for(status, raw, answered, url, model)
                    return status, raw
            async with await self._send(method, url, data=data, params=params, headers=req_headers) as resp:
                return await self._read_answer(resp, url, model)
        except E.LLMSwitchError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError, HttpProcessingError) as exc:
            raise self._conn_error(exc, url, seconds) from None
        except asyncio.CancelledError:
            if expiry is not None and expiry.fired:
                expiry.task.uncancel()
                raise self._conn_error(TimeoutError(), url, seconds) from None
            raise
        finally:
            if expiry is not None:
                expiry.done()

    async def _read_answer(self, resp: aiohttp.ClientResponse, url: str, model: str | None) -> tuple[int, bytes]:
        """(status, body) of an aiohttp answer, bounded; non-2xx raises the mapped error."""
        if resp.status >= 400:
            raise self.error_for(resp.status, await self.read_error_body(resp), resp.headers, url, model)
        return resp.status, await self.read_body(resp, url)

    def _h1_request(self, method: str, url: str, data: str | None) -> tuple[bytes, bytes] | None:
        """(request line, the bytes after the pool's header lines) for the lean exchange (``_h1``);
        None: not for it (another origin, a target that is not plain ASCII): the aiohttp path."""
        assert self._h1 is not None and not isinstance(self._h1, bool)
        target = self._h1.target(url)
        if target is None:
            return None
        body = b"" if data is None else data.encode()
        request_line = f"{method} ".encode() + target + b" HTTP/1.1\r\n"
        rest = (
            b"\r\n" if data is None and method == "GET"
            else b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        return request_line, rest

    async def _h1_redirect(
        self, method: str, url: str, data: str | None, headers: Mapping[str, str] | None, model: str | None,
        status: int, answered: Mapping[str, str],
    ) -> tuple[int, bytes]:
        """A redirect the lean exchange received, followed by the aiohttp path's ``_follow`` with the same checks."""
        kw: dict[str, Any] = {"data": data, "headers": headers, "allow_redirects": False}
        async with await self._follow(method, _Answered(status, answered, URL(url)), kw) as resp:
            return await self._read_answer(resp, url, model)

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        model: str | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """(status, body bytes), for answers that are not JSON (llama-server's /metrics)."""
        return await self._exchange(method, self.url(path), json_body, params, model, timeout, headers)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        model: str | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send a request and return (status, parsed JSON). Non-2xx raises the mapped error."""
        url = self.url(path)
        status, raw = await self._exchange(method, url, json_body, params, model, timeout, headers)
        return status, self._decoded(status, raw, url)

    def _decoded(self, status: int, raw: bytes, url: str) -> Any:
        """The JSON of an answer's body (None for an empty one); malformed JSON is a ProviderError."""
        if not raw:
            return None
        try:
            return _loads(raw)
        except (ValueError, RecursionError) as exc:  # invalid UTF-8, and JSON nested past the parser's depth
            raise E.ProviderError(
                f"the server answered with malformed JSON ({type(exc).__name__}: {exc}); body starts {raw[:200]!r}",
                provider=self.provider,
                url=url,
                status_code=status,
                hint="is the base URL pointing at the right kind of server?",
            ) from None

    async def get_json(self, path: str, **kw: Any) -> Any:
        """GET a JSON body, with this transport's deadlines, limits and error mapping."""
        return (await self.request("GET", path, **kw))[1]

    async def post_json(
        self,
        path: str,
        body: Any,
        *,
        params: Mapping[str, str] | None = None,
        model: str | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """POST a JSON body and return the decoded answer, with the same deadlines, limits and error
        mapping. ``request`` without its frame: every completion comes through here."""
        url = self.url(path)
        status, raw = await self._exchange("POST", url, body, params, model, timeout, headers)
        return self._decoded(status, raw, url)

    @asynccontextmanager
    async def stream(
        self, method: str, path: str, *, json_body: Any = None, model: str | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a streamed response; a non-2xx status raises before any byte is yielded. The call's
        deadline covers the whole body (aiohttp's total timeout guards every read, at no per-chunk
        cost); the idle bound applies between reads. A connection lost or timing out mid-body is
        mapped here, around the caller's reading."""
        url = self.url(path)
        data = None if json_body is None else _dumps(json_body)
        seconds = None
        try:
            req_timeout, seconds = self._stream_timeout()
            resp = await self._send(
                method, url, data=data, headers=_JSON_HEADERS if data is not None else None, timeout=req_timeout
            )
        except E.LLMSwitchError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._conn_error(exc, url, seconds) from None
        try:
            if resp.status >= 400:
                raise self.error_for(resp.status, await self.read_error_body(resp), resp.headers, url, model)
            yield resp
        except E.LLMSwitchError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._conn_error(exc, url, seconds) from None
        finally:
            # A fully read body returns its connection to the pool; an abandoned one is closed
            # so a half-read stream is never handed to the next request.
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

    def wrap_stream_error(self, exc: BaseException, path: str) -> E.ProviderError:
        """For a caller reading a stream body itself: the provider error for a failure mid-read."""
        return self._conn_error(exc, self.url(path))
