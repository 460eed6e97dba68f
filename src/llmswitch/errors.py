"""The exception hierarchy.

Every provider error names the provider, the URL it called (never a key), the HTTP status
when there was one, and one sentence on what to do next. ``retryable`` tells the routing
layer whether trying again can help, so it never has to guess from class names.
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any

__all__ = [
    "finite_wait",
    "LLMSwitchError",
    "ConfigError",
    "ProviderError",
    "ProviderConnectionError",
    "ProviderTimeoutError",
    "AuthenticationError",
    "RateLimitError",
    "ModelNotFoundError",
    "ModelError",
    "ContextWindowExceededError",
    "TokenLimitError",
    "ContentFilterError",
    "InvalidRequestError",
    "CapabilityError",
    "ProviderUnavailableError",
    "CircuitOpenError",
    "CircuitBreakerError",
    "BudgetExceededError",
    "AllProvidersFailedError",
    "ResponseTooLargeError",
    "redact",
    "redact_details",
    "register_secret",
]

# Shapes that look like credentials: OpenAI/Anthropic/OpenRouter keys and bearer tokens.
_SECRET_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}|sk-ant-[A-Za-z0-9_\-]{6,}|Bearer\s+[A-Za-z0-9_\-\.=+/]{6,}|(?<![A-Za-z])key=[^&\s\"']+)"
)

_MIN_SECRET = 4
"""Shorter values would redact ordinary words; a key that short is no secret anyway."""

_known: set[str] = set()
_known_lock = threading.Lock()
_known_re: list[re.Pattern[str] | None] = [None]


def register_secret(*values: str | None) -> None:
    """Make ``redact`` remove these values wherever they appear, in every error, health status and
    CLI line of this process. Providers register their key, secret header values and URL query
    values when they are built, so a path that never sees the provider still redacts them."""
    added = False
    with _known_lock:
        for v in values:
            if v and len(v) >= _MIN_SECRET and v not in _known:
                _known.add(v)
                added = True
        if added:
            # longest first, so a key that contains another known secret is removed whole
            alts = sorted(_known, key=len, reverse=True)
            _known_re[0] = re.compile("|".join(re.escape(a) for a in alts))


def redact(text: str, *secrets: str | None) -> str:
    """The one redaction point: remove every registered secret, the ``secrets`` given, and anything
    shaped like a key (``sk-…``, ``Bearer …``, ``key=…`` in a URL) from ``text``."""
    if not isinstance(text, str):
        text = str(text)
    for s in secrets:
        if s and len(s) >= _MIN_SECRET:
            text = text.replace(s, "***")
    known = _known_re[0]
    if known is not None:
        text = known.sub("***", text)
    return _SECRET_PATTERNS.sub("***", text)


MAX_RETRY_AFTER = 86400.0
"""A server asking for a wait longer than a day is not giving a usable answer."""


def finite_wait(seconds: float | None) -> float | None:
    """A wait in [0, 1 day], or None for None, inf, nan and absurd values (``Retry-After: 1e999``)."""
    if seconds is None:
        return None
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds) or seconds > MAX_RETRY_AFTER:
        return None
    return max(0.0, seconds)


MAX_MESSAGE_CHARS = 2000
"""``str(error)`` carries at most this much of a server's text; the rest stays in ``.details``."""
MAX_DETAIL_CHARS = 64 * 1024
"""Each string kept in ``.details`` is cut at this length (a 2 MB HTML error page is not kept whole)."""


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [{len(text) - limit} more characters]"


def redact_details(value: Any, *secrets: str | None, _depth: int = 0) -> Any:
    """A copy of a parsed body with every string redacted and capped; structure kept."""
    if isinstance(value, str):
        return _cap(redact(value, *secrets), MAX_DETAIL_CHARS)
    if _depth > 32:
        return "…"
    if isinstance(value, dict):
        return {
            (redact(k, *secrets) if isinstance(k, str) else k): redact_details(v, *secrets, _depth=_depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_details(v, *secrets, _depth=_depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return redact_details(bytes(value).decode("utf-8", "replace"), *secrets, _depth=_depth)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return _cap(redact(repr(value), *secrets), MAX_DETAIL_CHARS)


class LLMSwitchError(Exception):
    """Root of every llmswitch error. Its text is redacted here, so no subclass can leak a key."""

    retryable: bool = False

    def __init__(self, *args: Any) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(LLMSwitchError):
    """The configuration (file, environment or arguments) is wrong; raised before anything is sent."""


class ProviderError(LLMSwitchError):
    """A failure reported by, or on the way to, a provider."""

    default_hint = "check the provider's status and your request"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        url: str | None = None,
        hint: str | None = None,
        details: Any = None,
        code: str | None = None,
    ) -> None:
        # Every provider error passes here: the one place where server text is redacted and capped.
        self.message = _cap(redact(message), MAX_MESSAGE_CHARS)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.url = redact(url) if url else url
        self.hint = redact(hint) if hint is not None else self.default_hint
        self.details = redact_details(details) if details is not None else None
        self.code = code
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.provider:
            where.append(self.provider)
        if self.status_code is not None:
            where.append(f"HTTP {self.status_code}")
        if self.url:
            where.append(self.url)
        prefix = f"[{' '.join(where)}] " if where else ""
        hint = f" — {self.hint}" if self.hint else ""
        return f"{prefix}{self.message}{hint}"

    def __reduce__(self) -> tuple[Any, ...]:  # keep errors picklable across processes
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[ProviderError], state: dict[str, Any]) -> ProviderError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._format())
    return err


class ProviderConnectionError(ProviderError):
    """The server could not be reached or the connection broke; worth a retry."""

    default_hint = "is the server running and the base URL right? (`llmswitch doctor` checks every endpoint)"
    retryable = True
    outcome_unknown: bool = False
    """True when the request may have reached the server (a read timeout, a connection lost after
    sending): a retry may run, and bill, it twice. ``retry_on_timeout=False`` skips these."""


class ProviderTimeoutError(ProviderConnectionError):
    """No answer within a connect, read or total deadline; a connection error, so retried too."""

    default_hint = "the server did not answer in time; raise the timeout or check the server's load"
    outcome_unknown = True  # a connect timeout sets it False: nothing was sent


class AuthenticationError(ProviderError):
    """The key was missing, wrong, or not allowed this model (HTTP 401/403); a retry cannot help."""

    default_hint = "check the API key (env var or `llmswitch keys set NAME`) and that it may use this model"


class RateLimitError(ProviderError):
    """The provider asked to slow down (HTTP 429); ``retry_after`` says how long, when it said."""

    default_hint = "slow down or wait; llmswitch's retry honours Retry-After"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = finite_wait(retry_after)
        super().__init__(message, **kw)

    def _format(self) -> str:
        base = super()._format()
        return f"{base} (retry after {self.retry_after:g}s)" if self.retry_after is not None else base


class ResponseTooLargeError(ProviderError):
    """A body, line or event exceeded a read limit: the server is broken or hostile, and reading on
    would grow memory without bound. Not retryable; the message names the limit and its setting."""

    default_hint = "raise the limit in the provider's config if the server is trusted"


class ModelNotFoundError(ProviderError):
    """The model name is not one the provider serves (or has loaded)."""

    default_hint = "check the model name (`llmswitch models PROVIDER` lists what is available)"


ModelError = ModelNotFoundError


class ContextWindowExceededError(ProviderError):
    """The prompt does not fit the model's context; ``prompt_tokens`` and ``limit`` when the server said them."""

    default_hint = "shorten the conversation or choose a model with a larger context window"

    def __init__(self, message: str, *, prompt_tokens: int | None = None, limit: int | None = None, **kw: Any) -> None:
        self.prompt_tokens = prompt_tokens
        self.limit = limit
        super().__init__(message, **kw)


TokenLimitError = ContextWindowExceededError


class ContentFilterError(ProviderError):
    """The provider's content filter refused the request or cut the answer."""

    default_hint = "the provider's content filter refused this request; rephrase it"


class InvalidRequestError(ProviderError):
    """The provider rejected the request itself (HTTP 400 and other 4xx); sending it again gives the same answer."""

    default_hint = "the provider rejected the request as malformed; see the message for the field"


class CapabilityError(InvalidRequestError):
    """The model cannot do what was asked (tools, thinking, images).

    Raised from the server's answer (HTTP 400 "does not support tools", 501), or by llmswitch
    before anything is sent when the provider or model is known not to take it: then
    ``feature`` names what was asked (``"tools"``, ``"images"``, ``"thinking"``) and
    ``status_code`` is None. A subclass of ``InvalidRequestError``, so existing handlers catch it."""

    default_hint = "choose a model that supports this feature, or drop it from the request"

    def __init__(self, message: str, *, feature: str | None = None, **kw: Any) -> None:
        self.feature = feature
        super().__init__(message, **kw)


class ProviderUnavailableError(ProviderError):
    """The server is overloaded, failing or still loading a model (HTTP 5xx, 409); worth a retry."""

    default_hint = "the server is overloaded, failing or still loading a model; retry shortly"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = finite_wait(retry_after)
        """A 503/529's ``Retry-After``, when the server gave one (finite, within a day)."""
        super().__init__(message, **kw)


class CircuitOpenError(ProviderError):
    """A circuit breaker refused the call after repeated failures; ``retry_after`` says when to try again."""

    default_hint = "too many recent failures; the circuit breaker will try again after the cool-down"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = finite_wait(retry_after)
        super().__init__(message, **kw)


CircuitBreakerError = CircuitOpenError


class BudgetExceededError(ProviderError):
    """Out of credits (HTTP 402) or over a spending budget; retrying does not help until it is raised."""

    default_hint = "raise the budget or wait for its window to reset"


class AllProvidersFailedError(LLMSwitchError):
    """Every provider of a fallback chain failed; ``attempts`` holds each name with its error, and
    ``seconds`` (when the chain measured it) how long each attempt took, in the same order."""

    def __init__(self, attempts: list[tuple[str, BaseException]], seconds: list[float] | None = None) -> None:
        self.attempts = attempts
        self.seconds = list(seconds) if seconds is not None and len(seconds) == len(attempts) else None
        took = [f" ({s:.2f}s)" for s in self.seconds] if self.seconds else [""] * len(attempts)
        lines = [f"  - {name}{t}: {err}" for (name, err), t in zip(attempts, took, strict=True)]
        super().__init__("every provider failed:\n" + "\n".join(lines))

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """Worth a retry when any attempt's failure was (a chain of permanent failures is not)."""
        return any(getattr(e, "retryable", False) for _, e in self.attempts)
