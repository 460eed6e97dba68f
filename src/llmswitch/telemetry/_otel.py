"""OpenTelemetry spans and metrics from the call hooks, by the GenAI semantic conventions.

One CLIENT span per call (per failover member: each member's call is its own span, with
``llmswitch.failover.hop``), named ``"{gen_ai.operation.name} {gen_ai.request.model}"``:

* at start (sampling-relevant): ``gen_ai.operation.name`` (``chat``), ``gen_ai.provider.name``
  (``openai``, ``anthropic``; other backends by their llmswitch type: ``ollama``, ``llamacpp``,
  ``openrouter``, ``vllm``, ``lmstudio``, ``openai-compatible``, ``litellm``),
  ``gen_ai.request.model``, ``server.address``/``server.port``, ``gen_ai.request.stream``, and
  the request parameters given (``gen_ai.request.max_tokens``, ``temperature``, ``top_p``,
  ``top_k``, ``stop_sequences``, ``frequency_penalty``, ``presence_penalty``, ``seed``,
  ``choice.count`` when not 1);
* at the end: ``gen_ai.response.model``, ``gen_ai.response.id``, ``gen_ai.response.finish_reasons``,
  ``gen_ai.usage.input_tokens``/``output_tokens`` (and ``cache_read.input_tokens``,
  ``cache_creation.input_tokens``, ``reasoning.output_tokens`` when reported),
  ``gen_ai.response.time_to_first_chunk`` (streams), ``llmswitch.cost_usd`` (when known),
  ``llmswitch.retries``; on failure ``error.type`` (the llmswitch error class name, e.g.
  ``RateLimitError``, ``ProviderUnavailableError``, ``CancelledError``) and status ERROR;
* an event ``llmswitch.retry`` for each retried attempt (``error.type``, attempt number, wait),
  and on a failover member's span an event ``llmswitch.failover`` (the member tried before it,
  ``error.type`` of its failure);
* opt-in content (``capture_content``): ``gen_ai.input.messages`` and ``gen_ai.output.messages``
  as JSON strings in the conventions' parts format, keys redacted.

Metrics (histograms, with the conventions' bucket boundaries): ``gen_ai.client.operation.duration``
(s), ``gen_ai.client.token.usage`` ({token}, ``gen_ai.token.type`` input/output) and, for
streams, ``gen_ai.client.operation.time_to_first_chunk`` (s).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import _observe
from .. import errors as E
from .. import hooks as H

_log = logging.getLogger(__name__.rpartition(".")[0])  # llmswitch.telemetry

_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]

_PARAMS: tuple[tuple[str, str, type], ...] = (
    ("max_tokens", "gen_ai.request.max_tokens", int),
    ("max_completion_tokens", "gen_ai.request.max_tokens", int),
    ("temperature", "gen_ai.request.temperature", float),
    ("top_p", "gen_ai.request.top_p", float),
    ("top_k", "gen_ai.request.top_k", float),
    ("frequency_penalty", "gen_ai.request.frequency_penalty", float),
    ("presence_penalty", "gen_ai.request.presence_penalty", float),
    ("seed", "gen_ai.request.seed", int),
)

_SPAN = "otel_span"


def _server(provider: Any) -> dict[str, Any]:
    f = _observe.provider_fields(provider)  # cached per provider
    out: dict[str, Any] = {}
    if "server_address" in f:
        out["server.address"] = f["server_address"]
        if "server_port" in f:
            out["server.port"] = f["server_port"]
    return out


def _provider_name(provider: Any) -> str:
    return str(getattr(getattr(provider, "provider_type", None), "value", "") or "unknown")


def _messages_json(call: H.Call) -> str:
    secrets = call.provider.secrets()
    out = []
    for m in call.messages:
        content = getattr(m, "content", None)
        text = content if isinstance(content, str) else "" if content is None else str(content)
        out.append({"role": getattr(m, "role", "user"), "parts": [{"type": "text", "content": E.redact(text, *secrets)}]})
    return json.dumps(out)


class OtelSubscriber:
    """The hooks that turn calls into spans and metric points."""

    def __init__(self, tracer: Any, meter: Any) -> None:
        self.tracer = tracer
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.ttfc = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk in a streaming response.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )

    @classmethod
    def create(cls, tracer_provider: Any, meter_provider: Any, service_name: str | None) -> OtelSubscriber:
        if tracer_provider is None or meter_provider is None:
            auto_t, auto_m = _default_providers(service_name)
            tracer_provider = tracer_provider or auto_t
            meter_provider = meter_provider or auto_m
        version = _version()
        tracer = tracer_provider.get_tracer("llmswitch", version)
        meter = meter_provider.get_meter("llmswitch", version)
        return cls(tracer, meter)

    def subscribe(self) -> None:
        H.global_hooks.add("on_request", self.on_request)
        H.global_hooks.add("on_response", self.on_response)
        H.global_hooks.add("on_error", self.on_error)
        H.global_hooks.add("on_retry", self.on_retry)

    def unsubscribe(self) -> None:
        for event, fn in (("on_request", self.on_request), ("on_response", self.on_response),
                          ("on_error", self.on_error), ("on_retry", self.on_retry)):
            H.global_hooks.remove(event, fn)

    # --- hooks ------------------------------------------------------------------------------
    def on_request(self, call: H.Call) -> None:
        p = call.provider
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": _provider_name(p),
            "gen_ai.request.model": call.model,
            **_server(p),
        }
        if call.stream:
            attrs["gen_ai.request.stream"] = True
        params = call.params
        for key, attr, kind in _PARAMS:
            v = params.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                attrs[attr] = kind(v)
        stop = params.get("stop")
        if isinstance(stop, str):
            attrs["gen_ai.request.stop_sequences"] = [stop]
        elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
            attrs["gen_ai.request.stop_sequences"] = list(stop)
        n = params.get("n")
        if isinstance(n, int) and n != 1:
            attrs["gen_ai.request.choice.count"] = n
        attrs["llmswitch.provider"] = getattr(p, "name", attrs["gen_ai.provider.name"])
        if call.hop:
            attrs["llmswitch.failover.hop"] = call.hop
        if _observe.capture_content:
            attrs["gen_ai.input.messages"] = _messages_json(call)
        span = call.data[_SPAN] = self.tracer.start_span(f"chat {call.model}", kind=SpanKind.CLIENT, attributes=attrs)
        if call.failover_from is not None:
            member, etype = call.failover_from
            span.add_event("llmswitch.failover", {"llmswitch.failover.from": member, "error.type": etype})

    def _metric_attrs(self, call: H.Call, response_model: str | None, error_type: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": _provider_name(call.provider),
            "gen_ai.request.model": call.model,
            **_server(call.provider),
        }
        if response_model:
            out["gen_ai.response.model"] = response_model
        if error_type:
            out["error.type"] = error_type
        return out

    def on_response(self, call: H.Call, response: Any) -> None:
        span = call.data.pop(_SPAN, None)
        # the provider's secrets are registered with the redaction point when it is built
        rmodel = response.model if response.model == call.model else E.redact(response.model) if response.model else None
        u = response.usage
        if span is not None:
            attrs: dict[str, Any] = {"llmswitch.retries": call.retries}
            if rmodel:
                attrs["gen_ai.response.model"] = rmodel
            if response.id:
                attrs["gen_ai.response.id"] = E.redact(response.id)
            if response.finish_reason:
                attrs["gen_ai.response.finish_reasons"] = [str(response.finish_reason)]
            if u.known:
                attrs["gen_ai.usage.input_tokens"] = u.input_tokens
                attrs["gen_ai.usage.output_tokens"] = u.output_tokens
                if u.cache_read_tokens:
                    attrs["gen_ai.usage.cache_read.input_tokens"] = u.cache_read_tokens
                if u.cache_write_tokens:
                    attrs["gen_ai.usage.cache_creation.input_tokens"] = u.cache_write_tokens
                if u.reasoning_tokens:
                    attrs["gen_ai.usage.reasoning.output_tokens"] = u.reasoning_tokens
            if u.cost is not None:
                attrs["llmswitch.cost_usd"] = float(u.cost)
            if call.ttft is not None:
                attrs["gen_ai.response.time_to_first_chunk"] = call.ttft
            if _observe.capture_content:
                attrs["gen_ai.output.messages"] = json.dumps([{
                    "role": "assistant",
                    "parts": [{"type": "text", "content": E.redact(response.text or "", *call.provider.secrets())}],
                    "finish_reason": str(response.finish_reason or "stop"),
                }])
            span.set_attributes(attrs)
            span.end()
        m = self._metric_attrs(call, rmodel, None)
        self.duration.record(call.seconds or 0.0, m)
        if u.known:
            self.tokens.record(u.input_tokens, {**m, "gen_ai.token.type": "input"})
            self.tokens.record(u.output_tokens, {**m, "gen_ai.token.type": "output"})
        if call.ttft is not None:
            self.ttfc.record(call.ttft, m)

    def on_error(self, call: H.Call, error: BaseException) -> None:
        span = call.data.pop(_SPAN, None)
        etype = type(error).__name__
        if span is not None:
            span.set_attributes({"error.type": etype, "llmswitch.retries": call.retries})
            if call.ttft is not None:
                span.set_attribute("gen_ai.response.time_to_first_chunk", call.ttft)
            span.set_status(Status(StatusCode.ERROR, E.redact(str(error), *call.provider.secrets())[:1000]))
            span.end()
        m = self._metric_attrs(call, None, etype)
        self.duration.record(call.seconds or 0.0, m)

    def on_retry(self, call: H.Call, error: BaseException, wait: float) -> None:
        span = call.data.get(_SPAN)
        if span is not None:
            span.add_event(
                "llmswitch.retry",
                {"error.type": type(error).__name__, "llmswitch.retry.attempt": call.retries, "llmswitch.retry.wait_s": wait},
            )


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llmswitch")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return None


def _default_providers(service_name: str | None) -> tuple[Any, Any]:
    """The global providers; when the application set none (the API's proxies) and the SDK and the
    OTLP exporter are installed, SDK providers exporting over OTLP/HTTP are made and set global."""
    tp, mp = trace.get_tracer_provider(), metrics.get_meter_provider()
    unset_t = type(tp).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider")
    unset_m = type(mp).__name__ in ("_ProxyMeterProvider", "NoOpMeterProvider")
    if not (unset_t or unset_m):
        return tp, mp
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        _log.warning(
            "telemetry: otel is on, but no OpenTelemetry provider is configured and the OTLP exporter is not "
            "installed (pip install 'llmswitch[otel]'); spans and metrics go to the global no-op provider"
        )
        return tp, mp
    resource = Resource.create({"service.name": service_name or os.environ.get("OTEL_SERVICE_NAME") or "llmswitch"})
    if unset_t:
        sdk_tp = TracerProvider(resource=resource)
        sdk_tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(sdk_tp)
        tp = sdk_tp
    if unset_m:
        sdk_mp = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
        metrics.set_meter_provider(sdk_mp)
        mp = sdk_mp
    return tp, mp
