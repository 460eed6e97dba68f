"""What a failed request becomes on the wire: one status per llmswitch error class, then one
body per ingress format (``openai_error``, ``anthropic_error``).

Why a shared table and two renderers: the status a caller sees must not depend on which SDK it
uses (a 429 is a 429 for both), but each SDK reads only its own error body and maps the status
to its own exception class, so the body and a few statuses (Anthropic's 529 "overloaded") differ.

Provider keys never appear: every ``ProviderError`` message is already redacted by
``llmswitch.errors``, and a provider's 401/403 (the *gateway's* credentials refused) becomes a
502, so a caller never takes it for a problem with its own key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from aiohttp import web

from .. import errors as E
from .._wire.anthropic import error_type as anthropic_error_type

__all__ = ["GatewayError", "Failure", "failure_of", "openai_body", "openai_error", "anthropic_body", "anthropic_status",
           "anthropic_error"]


class GatewayError(Exception):
    """A refusal by the gateway itself (auth, limits, an unknown model, a field it cannot send)."""

    def __init__(self, status: int, message: str, *, kind: str | None = None, retry_after: float | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.retry_after = retry_after
        self.param = param


@dataclass(slots=True)
class Failure:
    """An error reduced to what both formats need: status, message, a kind and the wait."""

    status: int
    message: str
    kind: str
    """``invalid_request``, ``authentication``, ``permission``, ``not_found``, ``too_large``,
    ``rate_limit``, ``budget``, ``overloaded``, ``timeout``, ``upstream`` or ``internal``."""
    retry_after: float | None = None
    param: str | None = None


_KIND_OF_STATUS = {400: "invalid_request", 401: "authentication", 403: "permission", 404: "not_found",
                   413: "too_large", 429: "rate_limit", 503: "overloaded", 504: "timeout"}


def _provider_failure(exc: BaseException) -> Failure:
    """The caller's view of one llmswitch error (the table in README "Gateway")."""
    msg = str(exc)
    if isinstance(exc, E.CircuitOpenError):
        return Failure(503, msg, "overloaded", exc.retry_after if exc.retry_after is not None else 1.0)
    if isinstance(exc, E.RateLimitError):
        return Failure(429, msg, "rate_limit", exc.retry_after if exc.retry_after is not None else 1.0)
    if isinstance(exc, E.BudgetExceededError):  # a budget of llmswitch's says when its window resets
        return Failure(429, msg, "budget", getattr(exc, "retry_after", None))
    if isinstance(exc, E.ProviderTimeoutError):
        return Failure(504, msg, "timeout")
    if isinstance(exc, E.ProviderUnavailableError):
        return Failure(503, msg, "overloaded", exc.retry_after if exc.retry_after is not None else 1.0)
    if isinstance(exc, (E.ProviderConnectionError, E.ResponseTooLargeError)):
        return Failure(502, msg, "upstream")
    if isinstance(exc, E.AuthenticationError):
        return Failure(502, f"the gateway's credentials were refused by the backend: {msg}", "upstream")
    if isinstance(exc, E.ModelNotFoundError):
        return Failure(404, msg, "not_found")
    if isinstance(exc, E.InvalidRequestError | E.ContextWindowExceededError | E.ContentFilterError):
        return Failure(400, getattr(exc, "message", msg), "invalid_request")
    if isinstance(exc, E.ProviderError):
        status = exc.status_code if exc.status_code is not None and 400 <= exc.status_code < 500 else 502
        return Failure(status, msg, _KIND_OF_STATUS.get(status, "upstream"))
    if isinstance(exc, E.ConfigError):
        return Failure(500, msg, "internal")
    return Failure(500, "internal error in the gateway", "internal")


def failure_of(exc: BaseException) -> Failure:
    """``GatewayError`` and every llmswitch error → a ``Failure``. A failed chain answers as its
    last member did, with every attempt in the message; the shortest wait any member asked for."""
    if isinstance(exc, GatewayError):
        return Failure(exc.status, exc.message, exc.kind or _KIND_OF_STATUS.get(exc.status, "invalid_request"),
                       exc.retry_after, exc.param)
    if isinstance(exc, E.AllProvidersFailedError) and exc.attempts:
        last = _provider_failure(exc.attempts[-1][1])
        waits = [w for _, e in exc.attempts if (w := getattr(e, "retry_after", None)) is not None]
        last.message = str(exc)
        if waits and last.retry_after is not None:
            last.retry_after = min(waits)
        return last
    return _provider_failure(exc)


def _headers(f: Failure) -> dict[str, str]:
    if f.retry_after is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(f.retry_after)))}


_OPENAI_TYPE = {"invalid_request": "invalid_request_error", "not_found": "invalid_request_error",
                "too_large": "invalid_request_error", "authentication": "authentication_error",
                "permission": "permission_error", "rate_limit": "rate_limit_error", "budget": "insufficient_quota",
                "overloaded": "server_error", "timeout": "timeout", "upstream": "server_error", "internal": "server_error"}
_OPENAI_CODE = {"not_found": "model_not_found", "authentication": "invalid_api_key", "rate_limit": "rate_limit_exceeded",
                "budget": "insufficient_quota", "too_large": "request_too_large"}


def openai_body(f: Failure) -> dict[str, object]:
    """The ``{"error": {message, type, param, code}}`` object OpenAI's API and SDK use (also inside a stream)."""
    return {"error": {"message": f.message, "type": _OPENAI_TYPE.get(f.kind, "server_error"), "param": f.param,
                      "code": _OPENAI_CODE.get(f.kind)}}


def openai_error(exc: BaseException) -> web.Response:
    """The OpenAI-format answer to ``exc``."""
    f = failure_of(exc)
    return web.Response(status=f.status, text=json.dumps(openai_body(f)), content_type="application/json",
                        headers=_headers(f))


def anthropic_status(f: Failure) -> int:
    """Anthropic's status for a failure: an overloaded backend or an open breaker is 529, as the API sends it."""
    return 529 if f.kind == "overloaded" else 402 if f.kind == "budget" else f.status


def anthropic_body(f: Failure) -> dict[str, object]:
    """``{"type": "error", "error": {type, message}}`` (also the data of a stream's ``error`` event)."""
    status = anthropic_status(f)
    return {"type": "error", "error": {"type": anthropic_error_type(status), "message": f.message}}


def anthropic_error(exc: BaseException) -> web.Response:
    """The Anthropic-format answer to ``exc``."""
    f = failure_of(exc)
    return web.Response(status=anthropic_status(f), text=json.dumps(anthropic_body(f)), content_type="application/json",
                        headers=_headers(f))
