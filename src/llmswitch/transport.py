"""HTTP transport: one pooled aiohttp session per provider instance and event loop.

aiohttp sessions are bound to the loop they were created in, so a provider used from both
``asyncio.run`` code and the sync bridge's loop keeps one session per loop, created lazily
inside that loop and never per call. The connector is sized for hundreds of concurrent
streams. HTTP failures are mapped here, once, to the error hierarchy.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, AsyncIterator, Mapping

import aiohttp

from . import errors as E
from .limits import DEFAULT_LIMITS, Limits

__all__ = ["Timeouts", "Transport", "error_from_response", "parse_retry_after", "extract_error", "close_sessions_on_loop"]

_CONNECTION_LIMIT = 1024
_dumps = json.JSONEncoder(separators=(",", ":")).encode
"""``json.dumps(x, separators=...)`` builds a new JSONEncoder on every call; reuse one (same output)."""
_JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0
    """Seconds to establish the TCP/TLS connection."""
    read: float | None = 600.0
    """Longest silence between two reads; a local model loading on first use can take long."""
    total: float | None = None


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_GO_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _parse_go_duration(value: str) -> float | None:
    parts = _GO_DURATION.findall(value)
    if not parts:
        return None
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date) or OpenAI's
    ``x-ratelimit-reset-*`` Go-style durations, in that order of precedence."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra:
        try:
            return max(0.0, float(ra))
        except ValueError:
            try:
                import datetime as _dt

                when = parsedate_to_datetime(ra)
                return max(0.0, (when - _dt.datetime.now(when.tzinfo)).total_seconds())
            except (TypeError, ValueError):
                pass
    resets = [
        d
        for d in (
            _parse_go_duration(headers.get("x-ratelimit-reset-requests", "")),
            _parse_go_duration(headers.get("x-ratelimit-reset-tokens", "")),
        )
        if d is not None
    ]
    return max(resets) if resets else None


def extract_error(body: Any) -> tuple[str | None, str | None, str | None]:
    """(message, code, type) from every error body shape our servers use:
    OpenAI/llama.cpp/OpenRouter ``{"error": {...}}``, Ollama/LM Studio ``{"error": "..."}``,
    Anthropic ``{"type": "error", "error": {...}}``, vLLM ``{"object": "error", "message": ...}``."""
    if not isinstance(body, dict):
        return (str(body) if body else None), None, None
    err = body.get("error", body)
    if isinstance(err, str):
        return err, None, None
    if isinstance(err, dict):
        msg = err.get("message") or err.get("detail") or body.get("message")
        code = err.get("code")
        if isinstance(code, int):
            # OpenRouter repeats the HTTP status as ``code``; its reason is in
            # ``availability.code`` or ``metadata.error_type`` (e.g. "model_not_found").
            avail, meta = err.get("availability"), err.get("metadata")
            reason = (avail.get("code") if isinstance(avail, dict) else None) or (
                meta.get("error_type") if isinstance(meta, dict) else None
            )
            code = reason or code
        etype = err.get("type")
        return (str(msg) if msg is not None else None), (str(code) if code is not None else None), (
            str(etype) if etype is not None else None
        )
    return str(err), None, None


_CONTEXT_CODES = {"context_length_exceeded", "exceed_context_size_error", "string_above_max_length"}
_CONTEXT_TEXT = re.compile(
    r"context length|context window|context_length|prompt is too long|maximum context|too many tokens|exceeds the context",
    re.I,
)
_TOKENS_RE = re.compile(r"maximum context length is (\d+).*?(?:resulted in|requested) (\d+)", re.I | re.S)
# Prompt size first, then the limit: llama.cpp "request (N tokens) exceeds the available context
# size (M tokens)"; Anthropic "prompt is too long: N tokens > M maximum".
_PROMPT_THEN_LIMIT_RE = re.compile(
    r"request \((\d+) tokens\) exceeds the available context size \((\d+) tokens\)|prompt is too long: (\d+) tokens > (\d+)",
    re.I,
)
_MODEL_TEXT = re.compile(r"\bmodel\b", re.I)


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    provider: str | None = None,
    url: str | None = None,
    model: str | None = None,
) -> E.ProviderError:
    """Map an HTTP status and its parsed error body to our error class."""
    headers = headers or {}
    message, code, etype = extract_error(body)
    message = message or f"HTTP {status}"
    kw: dict[str, Any] = dict(provider=provider, status_code=status, url=url, model=model, details=body, code=code)
    lowered = message.lower()
    if status == 429 or etype == "rate_limit_error":
        return E.RateLimitError(message, retry_after=parse_retry_after(headers), **kw)
    if status in (401, 403) or etype in ("authentication_error", "permission_error"):
        return E.AuthenticationError(message, **kw)
    if status == 402:
        return E.BudgetExceededError(message, hint="the account is out of credits; add credits or raise its limit", **kw)
    if code in _CONTEXT_CODES or etype in _CONTEXT_CODES or (status in (400, 413) and _CONTEXT_TEXT.search(message)):
        m = _TOKENS_RE.search(message)
        limit, prompt = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        if m is None and (m := _PROMPT_THEN_LIMIT_RE.search(message)):
            groups = [g for g in m.groups() if g is not None]
            prompt, limit = int(groups[0]), int(groups[1])
        return E.ContextWindowExceededError(message, prompt_tokens=prompt, limit=limit, **kw)
    if status == 404 or code == "model_not_found" or etype == "not_found_error":
        if code == "model_not_found" or _MODEL_TEXT.search(message):
            return E.ModelNotFoundError(message, **kw)
        return E.InvalidRequestError(message, hint="the endpoint was not found; check the provider's base URL", **kw)
    if code == "content_filter" or "content_filter" in lowered or "content management policy" in lowered:
        return E.ContentFilterError(message, **kw)
    if status == 408:
        return E.ProviderTimeoutError(message, **kw)
    if status == 501:
        return E.CapabilityError(message, **kw)
    if status == 413:
        return E.InvalidRequestError(message, hint="the request is too large; send less", **kw)
    if status >= 500 or etype in ("overloaded_error", "api_error"):
        hint = None
        if status == 503 and "loading" in lowered:
            hint = "the server is still loading its model; retry in a few seconds"
        return E.ProviderUnavailableError(message, hint=hint, **kw)
    if status == 409:
        return E.ProviderUnavailableError(message, **kw)
    if "does not support" in lowered and any(w in lowered for w in ("tools", "thinking", "image", "vision")):
        return E.CapabilityError(message, **kw)
    return E.InvalidRequestError(message, **kw)


def _decode_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace").strip()


_LIVE: "weakref.WeakSet[Transport]" = weakref.WeakSet()


async def close_sessions_on_loop() -> None:
    """Close every transport's session bound to the running loop (the sync bridge at exit)."""
    loop = asyncio.get_running_loop()
    for t in list(_LIVE):
        s = t._sessions.pop(loop, None)
        if t._last is not None and t._last[0] is loop:
            t._last = None
        if s is not None and not s.closed:
            await s.close()


def _release_orphaned_sessions() -> None:
    """At exit, release sockets of sessions whose loop is gone (``asyncio.run`` has returned), so
    providers cached by the module API do not end the program with "Unclosed client session"."""
    for t in list(_LIVE):
        for loop, s in list(t._sessions.items()):
            if not s.closed and (loop.is_closed() or not loop.is_running()):
                connector = s.connector
                if connector is not None:
                    connector._close()  # type: ignore[attr-defined]


atexit.register(_release_orphaned_sessions)


class Transport:
    """Connection pool and error mapping for one provider instance."""

    __slots__ = ("base_url", "provider", "headers", "timeouts", "limits", "_secrets", "_sessions", "_last", "_timeout_obj", "__weakref__")

    def __init__(
        self,
        base_url: str,
        *,
        provider: str,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        secrets: tuple[str, ...] = (),
        limits: Limits | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limits = limits or DEFAULT_LIMITS
        self.provider = provider
        self.headers = dict(headers or {})
        self.timeouts = timeouts or Timeouts()
        self._secrets = secrets
        self._sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]" = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[Any, aiohttp.ClientSession] | None = None
        self._timeout_obj = aiohttp.ClientTimeout(
            total=self.timeouts.total, connect=self.timeouts.connect, sock_read=self.timeouts.read
        )
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r}, provider={self.provider!r})"

    def url(self, path: str) -> str:
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
            connector = aiohttp.TCPConnector(limit=_CONNECTION_LIMIT, limit_per_host=_CONNECTION_LIMIT, ttl_dns_cache=300)
            s = aiohttp.ClientSession(
                headers=self.headers, timeout=self._timeout_obj, connector=connector, raise_for_status=False
            )
            self._sessions[loop] = s
        self._last = (loop, s)
        return s

    async def aclose(self) -> None:
        """Close every session this transport opened; those of other live loops are closed on their loop."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        sessions = list(self._sessions.items())
        self._sessions.clear()
        self._last = None
        for loop, s in sessions:
            if s.closed:
                continue
            if loop is current:
                await s.close()
            elif loop.is_running() and not loop.is_closed():
                fut = asyncio.run_coroutine_threadsafe(s.close(), loop)
                await asyncio.wrap_future(fut)
            elif not loop.is_closed():
                loop.run_until_complete(s.close())
            else:
                # The loop is gone; release sockets without awaiting.
                connector = s.connector
                if connector is not None:
                    s._connector = None  # type: ignore[attr-defined]
                    connector._close()  # type: ignore[attr-defined]

    # --- error mapping -------------------------------------------------------------
    def _conn_error(self, exc: BaseException, url: str) -> E.ProviderError:
        msg = E.redact(str(exc) or type(exc).__name__, *self._secrets)
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            return E.ProviderTimeoutError(f"timed out: {msg}", provider=self.provider, url=url)
        if isinstance(exc, aiohttp.ClientConnectorError):
            errno = getattr(exc.os_error, "errno", None)
            reason = os.strerror(errno).lower() if errno else msg
            return E.ProviderConnectionError(
                f"cannot connect to {exc.host}:{exc.port} ({reason})", provider=self.provider, url=url
            )
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
            return E.ProviderConnectionError(f"connection lost: {msg}", provider=self.provider, url=url)
        return E.ProviderConnectionError(f"{type(exc).__name__}: {msg}", provider=self.provider, url=url)

    def error_for(self, status: int, raw: bytes, headers: Mapping[str, str], url: str, model: str | None = None) -> E.ProviderError:
        body = _decode_body(raw)
        if isinstance(body, str):
            body = E.redact(body, *self._secrets)
        err = error_from_response(status, body, headers, provider=self.provider, url=url, model=model)
        if self._secrets:
            err.message = E.redact(err.message, *self._secrets)
            err.args = (E.redact(str(err), *self._secrets),)
        return err

    # --- requests ------------------------------------------------------------------
    async def _send(self, method: str, url: str, **kw: Any) -> aiohttp.ClientResponse:
        """Send once, and once more if a pooled keep-alive connection turns out to have been closed
        by the server (llama-server closes some after a stream): aiohttp retries only idempotent
        methods, and every chat call is a POST. A refused connection is not retried."""
        try:
            return await self.session().request(method, url, **kw)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            if isinstance(exc, aiohttp.ClientConnectorError):
                raise
            return await self.session().request(method, url, **kw)

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
        data = None if json_body is None else _dumps(json_body)
        req_headers = _JSON_HEADERS if data is not None else None
        if headers:
            req_headers = {**(req_headers or {}), **headers}
        kw: dict[str, Any] = {}
        if timeout is not None:
            kw["timeout"] = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, self.timeouts.connect))
        try:
            async with await self._send(method, url, data=data, params=params, headers=req_headers, **kw) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise self.error_for(resp.status, raw, resp.headers, url, model)
                return resp.status, (json.loads(raw) if raw else None)
        except E.ProviderError:
            raise
        except ValueError as exc:
            raise E.ProviderError(
                f"the server answered with malformed JSON: {exc}",
                provider=self.provider,
                url=url,
                hint="is the base URL pointing at the right kind of server?",
            ) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise self._conn_error(exc, url) from None

    async def get_json(self, path: str, **kw: Any) -> Any:
        return (await self.request("GET", path, **kw))[1]

    async def post_json(self, path: str, body: Any, **kw: Any) -> Any:
        return (await self.request("POST", path, json_body=body, **kw))[1]

    @asynccontextmanager
    async def stream(
        self, method: str, path: str, *, json_body: Any = None, model: str | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a streamed response; a non-2xx status raises before any byte is yielded."""
        url = self.url(path)
        data = None if json_body is None else _dumps(json_body)
        try:
            resp = await self._send(method, url, data=data, headers=_JSON_HEADERS if data is not None else None)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise self._conn_error(exc, url) from None
        try:
            if resp.status >= 400:
                try:
                    raw = await resp.read()
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                    raw = b""
                raise self.error_for(resp.status, raw, resp.headers, url, model)
            yield resp
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise self._conn_error(exc, url) from None
        finally:
            # A fully read body returns its connection to the pool; an abandoned one is closed
            # so a half-read stream is never handed to the next request.
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

    def wrap_stream_error(self, exc: BaseException, path: str) -> E.ProviderError:
        return self._conn_error(exc, self.url(path))

