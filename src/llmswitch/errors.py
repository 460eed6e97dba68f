"""The exception hierarchy.

Every provider error names the provider, the URL it called (never a key), the HTTP status
when there was one, and one sentence on what to do next. ``retryable`` tells the routing
layer whether trying again can help, so it never has to guess from class names.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
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
    "redact",
]

# Shapes that look like credentials: OpenAI/Anthropic/OpenRouter keys and bearer tokens.
_SECRET_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}|sk-ant-[A-Za-z0-9_\-]{6,}|Bearer\s+[A-Za-z0-9_\-\.]{6,}|key=[^&\s]+)"
)


def redact(text: str, *secrets: str | None) -> str:
    """Remove known secrets and anything shaped like a key from ``text``."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return _SECRET_PATTERNS.sub("***", text)


class LLMSwitchError(Exception):
    retryable: bool = False


class ConfigError(LLMSwitchError):
    pass


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
        self.message = redact(message)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.url = redact(url) if url else url
        self.hint = hint if hint is not None else self.default_hint
        self.details = details
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

    def __reduce__(self):  # keep errors picklable across processes
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type, state: dict[str, Any]) -> ProviderError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._format())
    return err


class ProviderConnectionError(ProviderError):
    default_hint = "is the server running and the base URL right? (`llmswitch doctor` checks every endpoint)"
    retryable = True


class ProviderTimeoutError(ProviderConnectionError):
    default_hint = "the server did not answer in time; raise the timeout or check the server's load"


class AuthenticationError(ProviderError):
    default_hint = "check the API key (env var or `llmswitch keys set NAME`) and that it may use this model"


class RateLimitError(ProviderError):
    default_hint = "slow down or wait; llmswitch's retry honours Retry-After"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)

    def _format(self) -> str:
        base = super()._format()
        return f"{base} (retry after {self.retry_after:g}s)" if self.retry_after is not None else base


class ModelNotFoundError(ProviderError):
    default_hint = "check the model name (`llmswitch models PROVIDER` lists what is available)"


ModelError = ModelNotFoundError


class ContextWindowExceededError(ProviderError):
    default_hint = "shorten the conversation or choose a model with a larger context window"

    def __init__(self, message: str, *, prompt_tokens: int | None = None, limit: int | None = None, **kw: Any) -> None:
        self.prompt_tokens = prompt_tokens
        self.limit = limit
        super().__init__(message, **kw)


TokenLimitError = ContextWindowExceededError


class ContentFilterError(ProviderError):
    default_hint = "the provider's content filter refused this request; rephrase it"


class InvalidRequestError(ProviderError):
    default_hint = "the provider rejected the request as malformed; see the message for the field"


class CapabilityError(InvalidRequestError):
    """The model cannot do what was asked (tools, thinking, images)."""

    default_hint = "choose a model that supports this feature, or drop it from the request"


class ProviderUnavailableError(ProviderError):
    default_hint = "the server is overloaded, failing or still loading a model; retry shortly"
    retryable = True


class CircuitOpenError(ProviderError):
    default_hint = "too many recent failures; the circuit breaker will try again after the cool-down"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


CircuitBreakerError = CircuitOpenError


class BudgetExceededError(ProviderError):
    default_hint = "raise the budget or wait for its window to reset"


class AllProvidersFailedError(LLMSwitchError):
    def __init__(self, attempts: list[tuple[str, BaseException]]) -> None:
        self.attempts = attempts
        lines = [f"  - {name}: {err}" for name, err in attempts]
        super().__init__("every provider failed:\n" + "\n".join(lines))

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return any(getattr(e, "retryable", False) for _, e in self.attempts)
