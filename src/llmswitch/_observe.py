"""What the call path does for those who watch it: run the call hooks and write the log records.

``providers/base.py`` asks for a ``Call`` only when someone watches — a hook is registered
anywhere (``hooks.tap``) or ``llmswitch.calls`` logs at INFO — so an unwatched call pays one
truthiness test and one ``isEnabledFor``, builds no dict and formats nothing. Everything here runs
on the slow path, and nothing here may break a call: a read-only hook that raises is logged on
``llmswitch.hooks`` and the call goes on. (A transformer that raises fails the call before
anything is sent: it is part of the request — a guard that refuses a request does it that way.)

Log records (no handler is installed; the application configures ``logging``):

* ``llmswitch.calls`` INFO — exactly one per call outcome (success, error, cancellation), with
  the fields of ``record_fields`` in ``extra``;
* ``llmswitch.calls`` DEBUG — the request as sent (provider, model, parameter names, message
  count) and each retry; prompt and response text only with ``capture_content`` on;
* ``llmswitch.hooks`` WARNING — a hook raised.

Keys and headers are never in a record: no field carries them, and every string that comes from
a server or an error goes through ``errors.redact`` with the provider's secrets.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import errors as E
from . import hooks as H
from .types import Response

if TYPE_CHECKING:  # pragma: no cover
    from .providers.base import BaseProvider

__all__ = ["CALLS_LOG", "begin", "finish", "note_retry", "record_fields", "request_of", "status_of", "stream_hooks", "tapped"]

CALLS_LOG = logging.getLogger("llmswitch.calls")
"""One INFO record per call outcome; DEBUG detail. The call path reads its level on every call."""
HOOKS_LOG = logging.getLogger("llmswitch.hooks")
_INFO = logging.INFO
_DEBUG = logging.DEBUG

capture_content: list[bool] = []
"""Non-empty: DEBUG records (and telemetry spans) may carry prompt and response text
(``telemetry: {capture_content: true}``). Off by default: text is the user's data."""

current_call: contextvars.ContextVar[H.Call | None] = contextvars.ContextVar("llmswitch_call", default=None)
"""The call being sent, while its attempts run (set only for a watched call): ``routing.retry``
reports retries to it (``note_retry``)."""

failover_hop: contextvars.ContextVar[tuple[int, str, str] | None] = contextvars.ContextVar(
    "llmswitch_failover_hop", default=None
)
"""Set by ``routing.failover`` while it tries member number N (> 0) of a chain: (N, the member
tried before it, the class of the error that member failed with)."""

_CANCELLED = ("CancelledError", "GeneratorExit", "KeyboardInterrupt")
_MAX_TEXT = 4000


def status_of(error: BaseException | None) -> str:
    """``ok``, ``error`` or ``cancelled`` (as the usage log counts them)."""
    if error is None:
        return "ok"
    return "cancelled" if type(error).__name__ in _CANCELLED else "error"


def _sets_for(provider: BaseProvider) -> tuple[H.HookSet, ...]:
    own: H.HookSet | None = getattr(provider, "hooks", None)
    if own is None:
        return (H.global_hooks,)
    return (H.global_hooks, *own.linked, own)


async def _run(fn: H.Hook, event: str, *args: Any) -> None:
    """Call one read-only hook (awaiting it when it is async); log what it raises, never raise."""
    try:
        res = fn(*args)
        if inspect.isawaitable(res):
            await res
    except Exception:
        HOOKS_LOG.warning("%s hook %s raised; the call goes on", event, getattr(fn, "__qualname__", fn), exc_info=True)


def _freeze(call: H.Call) -> None:
    call.messages = tuple(call.messages)
    if call.tools is not None:
        call.tools = tuple(call.tools)
    call.params = MappingProxyType(dict(call.params))


async def begin(
    provider: BaseProvider, model: str, messages: list[Any], tools: list[Any] | None, params: dict[str, Any], stream: bool
) -> H.Call:
    """The call object, after the transformers (which may change the request) and the
    ``on_request`` hooks ran; the caller sends what ``request_of(call)`` gives back."""
    call = H.Call(provider, model, messages, tools, params, stream, time.perf_counter())
    hop = failover_hop.get()
    if hop is not None:
        call.hop, call.failover_from = hop[0], (hop[1], hop[2])
    if not H.tap:  # logging only: no hook sees the request, nothing to freeze
        if CALLS_LOG.isEnabledFor(_DEBUG):
            _log_request(call)
        return call
    sets = call.hook_sets = _sets_for(provider)
    for s in sets:
        for fn in s.transformers:
            res = fn(call)  # a transformer's error is the call's error (module docstring)
            if inspect.isawaitable(res):
                await res
    live = (list(call.messages), None if call.tools is None else list(call.tools), dict(call.params))
    _freeze(call)
    if CALLS_LOG.isEnabledFor(_DEBUG):
        _log_request(call)
    for s in sets:
        for fn in s.on_request:
            await _run(fn, "on_request", call)
    call.data["live"] = live
    return call


def request_of(call: H.Call) -> tuple[list[Any], list[Any] | None, dict[str, Any]]:
    """The request to send (after transformers): the live lists the hooks saw frozen."""
    live: tuple[list[Any], list[Any] | None, dict[str, Any]] | None = call.data.pop("live", None)
    return live if live is not None else (call.messages, call.tools, call.params)


def stream_hooks(call: H.Call) -> bool:
    """Whether any ``on_stream_event`` hook applies to this call (else events are not wrapped)."""
    return any(s.on_stream_event for s in call.hook_sets)


async def tapped(call: H.Call, first: Any, items: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """The stream's items with ``on_stream_event`` run for each event before the caller sees it.
    Closing it closes ``items`` (the response) at once, not when the collector gets to it."""
    handlers = [fn for s in call.hook_sets for fn in s.on_stream_event]
    try:
        if type(first) is not Response:
            for fn in handlers:
                await _run(fn, "on_stream_event", call, first)
        yield first
        async for item in items:
            if type(item) is not Response:
                for fn in handlers:
                    await _run(fn, "on_stream_event", call, item)
            yield item
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


async def note_retry(error: BaseException, retry: int, wait: float) -> None:
    """An attempt failed and is tried again after ``wait`` s (``routing.retry``): counted on the
    current call, logged at DEBUG, and handed to the ``on_retry`` hooks."""
    call = current_call.get()
    if call is not None:
        call.retries += 1
    if CALLS_LOG.isEnabledFor(_DEBUG):
        secrets = call.provider.secrets() if call is not None else ()
        CALLS_LOG.debug(
            "retry %d after %s, waiting %.3f s",
            retry + 1,
            type(error).__name__,
            wait,
            extra={
                "event": "retry",
                "retry": retry + 1,
                "error_type": type(error).__name__,
                "error": E.redact(str(error), *secrets)[:_MAX_TEXT],
                "wait_s": wait,
                **(_where(call) if call is not None else {}),
            },
        )
    if call is not None:
        for s in call.hook_sets:
            for fn in s.on_retry:
                await _run(fn, "on_retry", call, error, wait)


async def finish(call: H.Call, response: Response | None, error: BaseException | None, seconds: float) -> None:
    """The call ended: the INFO record, then ``on_response`` or ``on_error`` hooks."""
    call.response, call.error, call.seconds = response, error, seconds
    if CALLS_LOG.isEnabledFor(_INFO):
        _log_outcome(call)
    if error is None and response is not None:
        for s in call.hook_sets:
            for fn in s.on_response:
                await _run(fn, "on_response", call, response)
    else:
        err = error if error is not None else RuntimeError("the stream was closed before it completed")
        for s in call.hook_sets:
            for fn in s.on_error:
                await _run(fn, "on_error", call, err)


# --- the records ------------------------------------------------------------------------------


_WHERE: dict[tuple[int, str, str], dict[str, Any]] = {}


def provider_fields(provider: Any) -> dict[str, Any]:
    """``provider``, ``provider_type``, ``server_address``, ``server_port`` of a provider (cached:
    parsing its URL on every call would cost more than the record). Do not mutate the result."""
    name, url = getattr(provider, "name", ""), getattr(provider, "base_url", "") or ""
    key = (id(provider), name, url)
    out = _WHERE.get(key)
    if out is None:
        ptype = getattr(getattr(provider, "provider_type", None), "value", "")
        out = {"provider": name or ptype, "provider_type": ptype}
        parts = urlsplit(url)
        if parts.hostname:
            out["server_address"] = parts.hostname
            port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
            if port:
                out["server_port"] = port
        if len(_WHERE) >= 1024:
            _WHERE.clear()
        _WHERE[key] = out
    return out


def _where(call: H.Call) -> dict[str, Any]:
    return {**provider_fields(call.provider), "model": call.model}


def record_fields(call: H.Call) -> dict[str, Any]:
    """The ``extra`` of the INFO record: provider, provider_type, model, server_address/_port,
    stream, status (ok | error | cancelled), duration_ms, ttft_ms (streams), retries,
    failover_hop (and, past the first member, failover_from and failover_reason: the member
    tried before and its error class); on success response_model, response_id, finish_reason, input_tokens,
    output_tokens, cost (USD, None when unknown); on failure error_type and error (redacted)."""
    out = _where(call)
    seconds = call.seconds or 0.0
    status = status_of(call.error) if call.error is not None or call.response is not None else "cancelled"
    out["stream"] = call.stream
    out["status"] = status
    out["duration_ms"] = round(seconds * 1000.0, 3)
    ttft = call.ttft
    out["ttft_ms"] = None if ttft is None else round(ttft * 1000.0, 3)
    out["retries"] = call.retries
    out["failover_hop"] = call.hop
    if call.failover_from is not None:
        out["failover_from"], out["failover_reason"] = call.failover_from
    r = call.response
    # the provider's secrets are registered with the redaction point when it is built, so the
    # strings a server sent are redacted without asking it for them again (the hot path's cost)
    if r is not None and call.error is None:
        u = r.usage
        out["response_model"] = r.model if r.model == call.model else E.redact(r.model) if r.model else None
        out["response_id"] = E.redact(r.id) if r.id else None
        out["finish_reason"] = r.finish_reason
        out["input_tokens"] = u.input_tokens if u.known else None
        out["output_tokens"] = u.output_tokens if u.known else None
        out["cost"] = u.cost
    else:
        err = call.error
        out["error_type"] = type(err).__name__ if err is not None else "CancelledError"
        out["error"] = (
            E.redact(str(err), *call.provider.secrets())[:_MAX_TEXT] if err is not None else "the stream was closed early"
        )
    return out


def _log_outcome(call: H.Call) -> None:
    f = record_fields(call)
    if f["status"] == "ok":
        cost = "cost unknown" if f["cost"] is None else f"${f['cost']:.6f}"
        CALLS_LOG.info(
            "%s:%s ok in %.1f ms (%s in / %s out, %s, %d retries)",
            f["provider"], f["model"], f["duration_ms"], f["input_tokens"], f["output_tokens"], cost, f["retries"],
            extra=f,
        )
    else:
        CALLS_LOG.info(
            "%s:%s %s in %.1f ms: %s (%d retries)",
            f["provider"], f["model"], f["status"], f["duration_ms"], f["error_type"], f["retries"], extra=f,
        )
    if capture_content and call.response is not None and CALLS_LOG.isEnabledFor(_DEBUG):
        CALLS_LOG.debug(
            "response text of %s:%s", f["provider"], f["model"],
            extra={**_where(call), "event": "response", "text": E.redact(call.response.text or "", *call.provider.secrets())},
        )


def _log_request(call: H.Call) -> None:
    extra: dict[str, Any] = {
        **_where(call), "event": "request", "stream": call.stream, "messages_count": len(call.messages),
        "params": sorted(call.params), "tools_count": len(call.tools or ()), "failover_hop": call.hop,
    }
    if capture_content:
        secrets = call.provider.secrets()
        extra["messages"] = [
            {"role": getattr(m, "role", "?"), "content": E.redact(str(getattr(m, "content", "")), *secrets)}
            for m in call.messages
        ]
    CALLS_LOG.debug(
        "request %s:%s (%s, %d messages)", extra["provider"], call.model, "stream" if call.stream else "complete",
        len(call.messages), extra=extra,
    )
