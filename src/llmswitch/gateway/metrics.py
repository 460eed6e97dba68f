"""The gateway's Prometheus metrics (``GET /metrics``, text format, via ``prometheus-client``).

One ``CollectorRegistry`` per gateway, not the process-wide default: two gateways in one process
(tests, an embedding application) must not share or collide on counters. Label values are the
route, the public model name, the caller's key name and the error class — all bounded by the
config, except the model name, which is only recorded once the model resolved (an unknown name
is a 404 counted under ``model=""``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..types import Response

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    """Counters, histograms and gauges of one gateway."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("llmswitch_gateway_requests", "Requests answered, by route, model, caller and status.",
                                ["route", "model", "caller", "status"], registry=r)
        self.errors = Counter("llmswitch_gateway_errors", "Failed requests by error class.", ["route", "error_class"],
                              registry=r)
        self.latency = Histogram("llmswitch_gateway_request_seconds", "Time from request to last byte.", ["route"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("llmswitch_gateway_time_to_first_token_seconds",
                              "Time from request to the first streamed event.", ["route"], buckets=_LATENCY_BUCKETS,
                              registry=r)
        self.tokens = Counter("llmswitch_gateway_tokens", "Tokens, by direction (input/output), model and caller.",
                              ["direction", "model", "caller"], registry=r)
        self.cost = Counter("llmswitch_gateway_cost_usd", "Priced cost in USD, by model and caller.", ["model", "caller"],
                            registry=r)
        self.in_flight = Gauge("llmswitch_gateway_in_flight", "Requests being served now.", registry=r)
        self.breaker = Gauge("llmswitch_gateway_breaker_state", "Circuit breaker state per provider (0 closed, "
                             "1 half-open, 2 open).", ["provider"], registry=r)

        self._children: dict[tuple[str, str, str, int], tuple[Any, Any, Any, Any, Any]] = {}
        """(route, model, caller, status) → its label children: ``labels()`` costs a lock and a
        tuple build per call, five times per request; looked up once per distinct combination."""

    def _for(self, route: str, model: str, caller: str, status: int) -> tuple[Any, Any, Any, Any, Any]:
        key = (route, model, caller, status)
        hit = self._children.get(key)
        if hit is None:
            hit = (self.requests.labels(route, model, caller, str(status)), self.latency.labels(route),
                   self.tokens.labels("input", model, caller), self.tokens.labels("output", model, caller),
                   self.cost.labels(model, caller))
            if len(self._children) < 100_000:
                self._children[key] = hit
        return hit

    def done(self, route: str, model: str, caller: str, status: int, seconds: float, error: BaseException | None,
             response: Response | None) -> None:
        """Record one finished request."""
        requests, latency, tokens_in, tokens_out, cost = self._for(route, model, caller, status)
        requests.inc()
        latency.observe(seconds)
        if error is not None:
            self.errors.labels(route, type(error).__name__).inc()
        if response is not None:
            u = response.usage
            if u.known:
                tokens_in.inc(u.input_tokens)
                tokens_out.inc(u.output_tokens)
            if u.cost:
                cost.inc(u.cost)

    def render(self, providers: Iterable[tuple[str, Any]]) -> bytes:
        """The text exposition, with breaker states read now (they change without requests)."""
        for name, provider in providers:
            breaker = getattr(provider, "breaker", None)
            if breaker is not None:
                self.breaker.labels(name).set(_STATE_VALUE.get(str(breaker.state), 0))
        return generate_latest(self.registry)
