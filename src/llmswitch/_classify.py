"""Classification: an HTTP status and an error body (plus provider hints) → the error class.

One module decides, for every wire and provider, what a failure means (rate limit, auth,
context window, model missing, outage...) so retries and failover read ``retryable`` instead of
guessing. ``transport`` maps only connection-level failures; the errors built here pass through
``errors.ProviderError``, the one redaction point.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from . import errors as E

__all__ = ["error_from_response", "parse_retry_after", "extract_error", "MAX_RETRY_AFTER"]

MAX_RETRY_AFTER = E.MAX_RETRY_AFTER
_finite_wait = E.finite_wait


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_GO_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _parse_go_duration(value: str) -> float | None:
    parts = _GO_DURATION.findall(value)
    if not parts:
        return None
    return sum(float(n) * _GO_UNITS[u] for n, u in parts[:8])


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date) or OpenAI's
    ``x-ratelimit-reset-*`` Go-style durations, in that order of precedence."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            wait = _finite_wait(float(ms) / 1000.0)
        except ValueError:
            wait = None
        if wait is not None:
            return wait
    ra = headers.get("retry-after")
    if ra:
        try:
            wait = _finite_wait(float(ra))
        except ValueError:
            try:
                import datetime as _dt

                when = parsedate_to_datetime(ra)
                if when.tzinfo is None:
                    when = when.replace(tzinfo=_dt.UTC)
                wait = _finite_wait((when - _dt.datetime.now(_dt.UTC)).total_seconds())
            except (TypeError, ValueError, OverflowError, IndexError):
                wait = None
        if wait is not None:
            return wait
    resets = [
        d
        for d in (
            _parse_go_duration(headers.get("x-ratelimit-reset-requests", "")),
            _parse_go_duration(headers.get("x-ratelimit-reset-tokens", "")),
        )
        if d is not None
    ]
    if resets:
        return _finite_wait(max(resets))
    return _anthropic_reset(headers)


_ANTHROPIC_LIMITS = ("requests", "tokens", "input-tokens", "output-tokens")


def _anthropic_reset(headers: Mapping[str, str]) -> float | None:
    """Seconds until the latest ``anthropic-ratelimit-*-reset`` (RFC 3339) of a spent limit
    (``-remaining: 0``); every limit's reset when none says it is spent."""
    import datetime as _dt

    def until(name: str) -> float | None:
        value = headers.get(f"anthropic-ratelimit-{name}-reset")
        if not value:
            return None
        try:
            when = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.UTC)
        return (when - _dt.datetime.now(_dt.UTC)).total_seconds()

    spent = [n for n in _ANTHROPIC_LIMITS if headers.get(f"anthropic-ratelimit-{n}-remaining", "").strip() == "0"]
    waits = [w for w in map(until, spent or _ANTHROPIC_LIMITS) if w is not None]
    return _finite_wait(max(waits)) if waits else None


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
            if isinstance(meta, dict) and ("flagged_input" in meta or "reasons" in meta):
                reason = "content_filter"  # OpenRouter moderation (403): the input was flagged
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
# OpenRouter availability codes (§6.6) that mean "this model cannot be used here"
_MODEL_GONE_CODES = {"model_not_found", "no_endpoints", "model_deprecated", "model_unavailable_upstream", "free_variant_ended"}
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
    # the regexes below read only the head: a 2 MB HTML page must not cost a scan of all of it
    message = (message or f"HTTP {status}")[: E.MAX_MESSAGE_CHARS * 4]
    kw: dict[str, Any] = dict(provider=provider, status_code=status, url=url, model=model, details=body, code=code)
    lowered = message.lower()
    if status == 429 or etype == "rate_limit_error":
        return E.RateLimitError(message, retry_after=parse_retry_after(headers), **kw)
    if code == "content_filter":
        return E.ContentFilterError(message, **kw)
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
    if status == 404 or code in _MODEL_GONE_CODES or etype == "not_found_error":
        if code in _MODEL_GONE_CODES or _MODEL_TEXT.search(message):
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
        return E.ProviderUnavailableError(message, hint=hint, retry_after=parse_retry_after(headers), **kw)
    if status == 409:
        return E.ProviderUnavailableError(message, **kw)
    if "does not support" in lowered and any(w in lowered for w in ("tools", "thinking", "image", "vision")):
        return E.CapabilityError(message, **kw)
    return E.InvalidRequestError(message, **kw)


