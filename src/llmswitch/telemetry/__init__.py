"""Observability subscribers: OpenTelemetry spans and metrics for every call (``llmswitch[otel]``).

Nothing here is imported by ``import llmswitch`` or by the call path: it subscribes through
``llmswitch.hooks`` when switched on, by ``telemetry: {otel: true}`` in the config (the
registry calls ``enable``) or by ``llmswitch.telemetry.enable()`` in code. Logging needs none of
this: the ``llmswitch.calls`` records are written by the call path itself (``llmswitch._observe``)
whenever the application's logging configuration asks for INFO.

What is emitted follows the OpenTelemetry GenAI semantic conventions (checked against the
conventions' spans and metrics pages, semantic-conventions v1.56 line, before they moved to the
``semantic-conventions-genai`` repository) — see ``_otel`` for the attribute list.
"""

from __future__ import annotations

from typing import Any

from .. import _observe

__all__ = ["enable", "disable", "enabled", "set_capture_content"]

_state: dict[str, Any] = {}


def set_capture_content(on: bool) -> None:
    """Whether DEBUG log records and spans may carry prompt and response text (off by default:
    the text is the user's data). Keys are redacted from it either way."""
    _observe.capture_content[:] = [True] if on else []


def enable(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    capture_content: bool | None = None,
    service_name: str | None = None,
) -> None:
    """Emit a client span and the GenAI client metrics for every call from now on.

    ``tracer_provider``/``meter_provider``: where to (default: OpenTelemetry's global ones). When
    the application set no global provider and the OTLP exporter is installed, one is set up
    that exports to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``http://localhost:4318``) under
    ``service_name`` (default ``OTEL_SERVICE_NAME``, else ``llmswitch``). Calling it again
    replaces the earlier setup. ImportError (naming the extra) when OpenTelemetry is missing."""
    try:
        from . import _otel
    except ImportError as exc:  # pragma: no cover - the extra is installed in the test env
        raise ImportError(
            "OpenTelemetry is not installed: pip install 'llmswitch[otel]' (opentelemetry-api and -sdk)"
        ) from exc
    disable()
    if capture_content is not None:
        set_capture_content(capture_content)
    sub = _otel.OtelSubscriber.create(tracer_provider, meter_provider, service_name)
    sub.subscribe()
    _state["otel"] = sub


def disable() -> None:
    """Stop emitting spans and metrics (providers the setup made are flushed, not shut down)."""
    sub = _state.pop("otel", None)
    if sub is not None:
        sub.unsubscribe()


def enabled() -> bool:
    """Whether OpenTelemetry spans and metrics are being emitted."""
    return "otel" in _state
